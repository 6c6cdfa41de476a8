//! Admin routes for guilds (the dashboard side): guilds and their keys, moderation, game servers
//! and commands, Shield. Mounted under `/admin/v1` by [`crate::admin`].

use roster_core::apikeys::{self, KeyScope};
use roster_core::audit::{self, Tenant};
use roster_core::guilds::{self, GuildPatch, GuildRecord};
use roster_core::ids::{GroupId, GuildId};
use roster_core::moderation::{self, Identifier, ModKind, NewRecord, Source};
use roster_core::secrets::Secret;
use roster_core::servers::{self, Audience, CommandSpec};
use roster_core::shield;
use warp::reply::Response;

use crate::admin::{AdminError, audit_page, body, body_or_empty, limit_param, ok};
use crate::http::Request;
use crate::state::AppState;
use crate::wire::admin::{
    CommandBody, CommandsQueued, CreateGuildBody, DiscordView, FlagBody, GameView, GamesList,
    GuildBody, GuildView, GuildsList, IssueKeyBody, IssuedKey, KeyView, KeysList, LiveServerView,
    LiveServers, ModBody, ModEnded, ModRecordView, ModRecords, PendingCommand, PendingCommands,
    QueuedCommand, Removed, SecretView, ShieldFlagView,
};

pub(crate) use crate::admin::created;

type Result<T> = std::result::Result<T, AdminError>;

pub(crate) fn guild_id(raw: &str) -> Result<GuildId> {
    raw.parse()
        .map_err(|e: roster_core::ids::IdError| AdminError::bad(e.to_string()))
}

/// The admin view of a guild (never its secrets).
pub fn guild_view(g: &GuildRecord) -> GuildView {
    let d = &g.discord;
    GuildView {
        guild_id: g.id.to_string(),
        name: g.name.clone(),
        linked_groups: g.linked_groups.iter().map(|x| x.get()).collect(),
        roblox_universes: g.moderation.roblox_universes.clone(),
        open_cloud_key: SecretView {
            configured: g.moderation.open_cloud_key.is_some(),
            hint: g.moderation.open_cloud_key_hint.clone(),
        },
        shield_writer: g.shield_writer,
        discord: DiscordView {
            bot_token: SecretView {
                configured: d.bot_token.is_some(),
                hint: d.bot_token_hint.clone(),
            },
            main_group: d.main_group.map(|m| m.get()),
            nickname_template: d.nickname_template.clone(),
            verified_role: d.verified_role.map(|r| r.to_string()),
            unverified_role: d.unverified_role.map(|r| r.to_string()),
            keep_roles: d.keep_roles.iter().map(u64::to_string).collect(),
            ban_in_discord: d.ban_in_discord,
            role_bridge_key: SecretView {
                configured: d.role_bridge_key_hash.is_some(),
                hint: d.role_bridge_key_hint.clone(),
            },
            role_bridge_website: d.role_bridge_site.as_ref().map(website_view),
        },
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

/// A linked website as answers show it.
pub(crate) fn website_view(s: &guilds::site::RoleBridgeSite) -> crate::wire::admin::WebsiteView {
    crate::wire::admin::WebsiteView {
        api_url: s.api_url.clone(),
        bridge_url: s.bridge_url.clone(),
        linked_at: s.linked_at,
        roles_pushed: s.roles_pushed.is_some(),
        push_pending: s.push_staged,
    }
}

fn patch_from(b: GuildBody) -> Result<GuildPatch> {
    let ids =
        |v: Option<Vec<crate::wire::IdInput>>| v.map(|v| v.into_iter().map(|i| i.0).collect());
    let linked_groups = b
        .linked_groups
        .map(|v| {
            v.into_iter()
                .map(|i| GroupId::new(i.0))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| AdminError::bad(e.to_string()))?;
    let main_group = match b.main_group {
        None => None,
        Some(None) => Some(None),
        Some(Some(g)) => {
            Some(Some(GroupId::new(g.0).map_err(|_| {
                AdminError::bad("`mainGroup` must be a Roblox group id")
            })?))
        }
    };
    Ok(GuildPatch {
        name: b.name,
        linked_groups,
        roblox_universes: ids(b.roblox_universes),
        open_cloud_key: b.open_cloud_key.map(|k| k.map(Secret::new)),
        shield_writer: b.shield_writer,
        bot_token: b
            .bot_token
            .map(|t| t.map(|t| Secret::new(t.trim().trim_start_matches("Bot ").to_owned()))),
        main_group,
        nickname_template: b
            .nickname_template
            .map(|t| t.filter(|t| !t.trim().is_empty())),
        verified_role: b.verified_role.map(|r| r.map(|r| r.0)),
        unverified_role: b.unverified_role.map(|r| r.map(|r| r.0)),
        keep_roles: ids(b.keep_roles),
        ban_in_discord: b.ban_in_discord,
        role_bridge_key: None,
    })
}

pub(crate) fn list_guilds(state: &AppState, req: &Request) -> Result<Response> {
    let limit = limit_param(req, 100, 1000)?;
    let after = req.query.get("after").map(|a| guild_id(a)).transpose()?;
    let gs = guilds::list(&state.ctx, after, limit)?;
    Ok(ok(GuildsList {
        guilds: gs.iter().map(guild_view).collect(),
    }))
}

pub(crate) async fn create_guild(state: &AppState, req: &Request) -> Result<Response> {
    let b: CreateGuildBody = body(req)?;
    let (id, mut settings) = b.split();
    let id = GuildId::new(id.0).map_err(|e| AdminError::bad(e.to_string()))?;
    let name = settings
        .name
        .take()
        .unwrap_or_else(|| format!("Guild {id}"));
    let patch = patch_from(settings)?;
    let g = guilds::create(&state.ctx, id, name, patch).await?;
    Ok(created(guild_view(&g)))
}

pub(crate) fn load(state: &AppState, g: &str) -> Result<GuildRecord> {
    let id = guild_id(g)?;
    guilds::get(&state.ctx, id)?
        .ok_or_else(|| AdminError::not_found(format!("guild {id} not found")))
}

pub(crate) fn get_guild(state: &AppState, g: &str) -> Result<Response> {
    Ok(ok(guild_view(&load(state, g)?)))
}

pub(crate) async fn update_guild(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let b: GuildBody = body(req)?;
    let g = guilds::update(&state.ctx, id, patch_from(b)?).await?;
    Ok(ok(guild_view(&g)))
}

pub(crate) fn list_keys(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let keys = apikeys::list(&state.ctx, KeyScope::Guild(g.id))?;
    Ok(ok(KeysList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

pub(crate) async fn issue_key(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let b: IssueKeyBody = body_or_empty(req)?;
    let label = b.label.unwrap_or_default();
    let (rec, token) = apikeys::issue(&state.ctx, KeyScope::Guild(id), &label).await?;
    Ok(created(IssuedKey::new(&rec, token)))
}

pub(crate) fn active(state: &AppState, g: &str, kind: ModKind) -> Result<Response> {
    let g = load(state, g)?;
    let now = state.ctx.clock.now();
    let records: Vec<ModRecordView> = state
        .ctx
        .moderation
        .active(g.id, kind, now)
        .iter()
        .map(|r| ModRecordView::from(&**r))
        .collect();
    Ok(ok(ModRecords { records }))
}

pub(crate) async fn create_mod(
    state: &AppState,
    req: &Request,
    g: &str,
    kind: ModKind,
) -> Result<Response> {
    let id = guild_id(g)?;
    let b: ModBody = body(req)?;
    let identifier = Identifier::from_json(&b.identifier.0)?;
    let r = moderation::create(
        &state.ctx,
        NewRecord {
            guild: id,
            kind,
            identifier,
            reason: b.reason.unwrap_or_default(),
            moderator_id: b.moderator_id,
            duration: b
                .duration_seconds
                .map(|d| std::time::Duration::from_secs(d.0)),
            place_id: b.place_id.map(|p| p.0),
            source: Source::Admin,
        },
    )
    .await?;
    Ok(created(ModRecordView::from(&r)))
}

pub(crate) async fn revoke_mod(
    state: &AppState,
    req: &Request,
    g: &str,
    raw: &str,
    kind: ModKind,
) -> Result<Response> {
    let id = guild_id(g)?;
    let identifier = Identifier::parse(raw)?;
    let place = req
        .query
        .get("placeId")
        .map(|p| {
            p.parse::<u64>()
                .map_err(|_| AdminError::bad("`placeId` must be a positive integer"))
        })
        .transpose()?;
    let moderator = req.query.get("moderatorId").cloned();
    let ended = moderation::revoke(
        &state.ctx,
        id,
        kind,
        identifier,
        place,
        moderator,
        Source::Admin,
    )
    .await?;
    if ended.is_empty() {
        return Err(AdminError::not_found(format!(
            "no active {} for {identifier}",
            kind.as_str()
        )));
    }
    Ok(ok(ModEnded {
        ended: ended.iter().map(ModRecordView::from).collect(),
    }))
}

pub(crate) fn live_servers(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let dead = chrono::Duration::from_std(state.ctx.config.servers.dead_after)
        .unwrap_or(chrono::Duration::seconds(90));
    let live = state
        .ctx
        .servers
        .live(g.id, Audience::Guild, state.ctx.clock.now(), dead);
    Ok(ok(LiveServers {
        servers: live.into_iter().map(LiveServerView::from).collect(),
    }))
}

pub(crate) fn games(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    Ok(ok(GamesList {
        games: servers::games(&state.ctx, g.id)?
            .into_iter()
            .map(GameView::from)
            .collect(),
    }))
}

pub(crate) fn pending(state: &AppState, g: &str, s: &str) -> Result<Response> {
    let g = load(state, g)?;
    let cmds = servers::pending(&state.ctx, g.id, s)?;
    Ok(ok(PendingCommands {
        commands: cmds.into_iter().map(PendingCommand::from).collect(),
    }))
}

pub(crate) async fn enqueue(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let b: CommandBody = body(req)?;
    let server = b.server_id.map(|s| s.0);
    let all = b.all.unwrap_or(false);
    let (place, universe) = (b.place_id.map(|p| p.0), b.universe_id.map(|u| u.0));
    let chosen = [server.is_some(), place.is_some(), universe.is_some(), all]
        .iter()
        .filter(|x| **x)
        .count();
    if chosen != 1 {
        return Err(AdminError::bad(
            "give exactly one of `serverId`, `placeId`, `universeId` or `all: true`",
        ));
    }
    let audience = match (&server, place, universe) {
        (Some(s), _, _) => Audience::Server(s.as_str()),
        (_, Some(p), _) => Audience::Place(p),
        (_, _, Some(u)) => Audience::Universe(u),
        _ => Audience::Guild,
    };
    let spec = CommandSpec {
        kind: b.kind.0,
        target_id: b.target_id.map(|t| t.0),
        reason: b.reason.map(|r| r.0),
        data: b.data.filter(|d| !d.is_null()),
        ttl: b.ttl_seconds.map(|t| std::time::Duration::from_secs(t.0)),
    };
    let cmds = servers::enqueue(&state.ctx, g.id, audience, spec).await?;
    Ok(created(CommandsQueued {
        commands: cmds
            .into_iter()
            .map(|c| QueuedCommand {
                server_id: c.server_id,
                id: c.id,
                expires_at: c.expires_at,
            })
            .collect(),
    }))
}

pub(crate) fn guild_audit(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let limit = limit_param(req, 50, 500)?;
    let cursor = req
        .query
        .get("cursor")
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| AdminError::bad("`cursor` must be an entry id"))
        })
        .transpose()?;
    let action = req.query.get("action").map(String::as_str);
    let (entries, next) = audit::list(&state.ctx, Tenant::Guild(g.id), limit, cursor, action)?;
    Ok(ok(audit_page(entries, next)))
}

fn roblox_id(raw: &str) -> Result<u64> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| AdminError::bad("the Roblox id must be a positive integer"))
}

pub(crate) async fn flag(state: &AppState, req: &Request) -> Result<Response> {
    let b: FlagBody = body(req)?;
    let reason = b.reason.unwrap_or_default();
    let f = shield::flag(&state.ctx, b.roblox_id.0, reason, b.roblox_username).await?;
    Ok(created(ShieldFlagView::from(f)))
}

pub(crate) fn get_flag(state: &AppState, raw: &str) -> Result<Response> {
    let id = roblox_id(raw)?;
    let f = shield::check(&state.ctx, id)?
        .ok_or_else(|| AdminError::not_found(format!("user {id} is not flagged")))?;
    Ok(ok(ShieldFlagView::from(f)))
}

pub(crate) async fn unflag(state: &AppState, raw: &str) -> Result<Response> {
    let id = roblox_id(raw)?;
    if !shield::unflag(&state.ctx, id).await? {
        return Err(AdminError::not_found(format!("user {id} is not flagged")));
    }
    Ok(ok(Removed::YES))
}

pub(crate) async fn allowlist(state: &AppState, g: &str, on: bool) -> Result<Response> {
    let id = guild_id(g)?;
    let g = guilds::update(
        &state.ctx,
        id,
        GuildPatch {
            shield_writer: Some(on),
            ..Default::default()
        },
    )
    .await?;
    Ok(ok(guild_view(&g)))
}

/// `GET /admin/v1/guilds/{guildId}/community`
pub(crate) fn get_community(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let s = roster_core::community::settings(&state.ctx, g.id)?;
    Ok(ok(crate::wire::community::CommunitySettingsWire::from(s)))
}

/// `PUT /admin/v1/guilds/{guildId}/community`
pub(crate) async fn put_community(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let b: crate::wire::community::CommunitySettingsWire = body(req)?;
    let s = roster_core::community::set_settings(&state.ctx, g.id, b.into()).await?;
    Ok(ok(crate::wire::community::CommunitySettingsWire::from(s)))
}

/// `GET /admin/v1/guilds/{guildId}/staff`
pub(crate) fn get_staff(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let s = roster_core::staff::members::settings(&state.ctx, g.id)
        .map_err(roster_core::CoreError::from)?;
    Ok(ok(crate::wire::staff::StaffSettingsWire::from(s)))
}

/// `PUT /admin/v1/guilds/{guildId}/staff`
pub(crate) async fn put_staff(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let b: crate::wire::staff::StaffSettingsWire = body(req)?;
    let s = roster_core::staff::members::set_settings(&state.ctx, g.id, b.into_core()?, "admin")
        .await?;
    Ok(ok(crate::wire::staff::StaffSettingsWire::from(s)))
}
