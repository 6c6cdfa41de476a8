//! Admin routes for guilds (the dashboard side): guilds and their keys, moderation, game servers
//! and commands, Shield. Mounted under `/admin/v1` by [`crate::admin`].

use roster_core::apikeys::{self, KeyScope};
use roster_core::audit::{self, Tenant};
use roster_core::guilds::{self, GuildPatch, GuildRecord};
use roster_core::ids::{GroupId, GuildId};
use roster_core::moderation::{self, Identifier, ModKind, ModRecord, NewRecord, Source};
use roster_core::secrets::Secret;
use roster_core::servers::{self, Audience, CommandSpec};
use roster_core::shield;
use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::admin::{AdminError, key_view, limit_param, ok, reject_unknown};
use crate::http::{self, Request};
use crate::state::AppState;

type Result<T> = std::result::Result<T, AdminError>;

pub(crate) fn guild_id(raw: &str) -> Result<GuildId> {
    raw.parse()
        .map_err(|e: roster_core::ids::IdError| AdminError::bad(e.to_string()))
}

fn body(req: &Request) -> Result<Map<String, Value>> {
    http::json_object(req).map_err(|e| AdminError::bad(e.0))
}

pub(crate) fn created(v: Value) -> Response {
    http::json(StatusCode::CREATED, &v)
}

/// The admin view of a guild (never the Open Cloud key).
pub fn guild_view(g: &GuildRecord) -> Value {
    json!({
        "guildId": g.id.to_string(),
        "name": g.name,
        "linkedGroups": g.linked_groups.iter().map(|x| x.get()).collect::<Vec<_>>(),
        "robloxUniverses": g.moderation.roblox_universes,
        "openCloudKey": {"configured": g.moderation.open_cloud_key.is_some(), "hint": g.moderation.open_cloud_key_hint},
        "shieldWriter": g.shield_writer,
        "discord": {
            "botToken": {"configured": g.discord.bot_token.is_some(), "hint": g.discord.bot_token_hint},
            "mainGroup": g.discord.main_group.map(|m| m.get()),
            "nicknameTemplate": g.discord.nickname_template,
            "verifiedRole": g.discord.verified_role.map(|r| r.to_string()),
            "unverifiedRole": g.discord.unverified_role.map(|r| r.to_string()),
            "keepRoles": g.discord.keep_roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "banInDiscord": g.discord.ban_in_discord,
            "roleBridgeKey": {"configured": g.discord.role_bridge_key_hash.is_some(), "hint": g.discord.role_bridge_key_hint},
        },
        "createdAt": g.created_at,
        "updatedAt": g.updated_at,
    })
}

fn patch_from(b: &Map<String, Value>) -> Result<GuildPatch> {
    let ids = |field: &str| -> Result<Option<Vec<u64>>> {
        match b.get(field) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    http::parse_id_value(v).ok_or_else(|| {
                        AdminError::bad(format!("`{field}` must hold positive integers"))
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(AdminError::bad(format!("`{field}` must be an array"))),
        }
    };
    let linked_groups = ids("linkedGroups")?
        .map(|v| {
            v.into_iter()
                .map(GroupId::new)
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| AdminError::bad(e.to_string()))?;
    Ok(GuildPatch {
        name: match b.get("name") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AdminError::bad("`name` must be a string")),
        },
        linked_groups,
        roblox_universes: ids("robloxUniverses")?,
        open_cloud_key: match b.get("openCloudKey") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(Secret::new(s.clone()))),
            Some(_) => return Err(AdminError::bad("`openCloudKey` must be a string or null")),
        },
        shield_writer: match b.get("shieldWriter") {
            None => None,
            Some(Value::Bool(x)) => Some(*x),
            Some(_) => return Err(AdminError::bad("`shieldWriter` must be true or false")),
        },
        bot_token: match b.get("botToken") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(Secret::new(
                s.trim().trim_start_matches("Bot ").to_owned(),
            ))),
            Some(_) => return Err(AdminError::bad("`botToken` must be a string or null")),
        },
        main_group: match b.get("mainGroup") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(
                http::parse_id_value(v)
                    .and_then(|id| GroupId::new(id).ok())
                    .ok_or_else(|| AdminError::bad("`mainGroup` must be a Roblox group id"))?,
            )),
        },
        nickname_template: match b.get("nicknameTemplate") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            Some(_) => {
                return Err(AdminError::bad(
                    "`nicknameTemplate` must be a string or null",
                ));
            }
        },
        verified_role: opt_role(b, "verifiedRole")?,
        unverified_role: opt_role(b, "unverifiedRole")?,
        keep_roles: ids("keepRoles")?,
        ban_in_discord: match b.get("banInDiscord") {
            None => None,
            Some(Value::Bool(x)) => Some(*x),
            Some(_) => return Err(AdminError::bad("`banInDiscord` must be true or false")),
        },
        role_bridge_key: None,
    })
}

fn opt_role(b: &Map<String, Value>, field: &str) -> Result<Option<Option<u64>>> {
    match b.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => http::parse_id_value(v)
            .map(|r| Some(Some(r)))
            .ok_or_else(|| AdminError::bad(format!("`{field}` must be a Discord role id or null"))),
    }
}

/// Fields a guild create or update may carry.
const GUILD_FIELDS: &[&str] = &[
    "name",
    "linkedGroups",
    "robloxUniverses",
    "openCloudKey",
    "shieldWriter",
    "botToken",
    "mainGroup",
    "nicknameTemplate",
    "verifiedRole",
    "unverifiedRole",
    "keepRoles",
    "banInDiscord",
];

fn mod_view(r: &ModRecord) -> Value {
    json!({
        "id": r.id, "kind": r.kind, "identifier": r.identifier.to_string(), "reason": r.reason,
        "moderatorId": r.moderator_id, "createdAt": r.created_at, "expiresAt": r.expires_at,
        "placeId": r.place_id, "source": r.source, "endedAt": r.ended_at, "endedBy": r.ended_by,
    })
}

pub(crate) fn list_guilds(state: &AppState, req: &Request) -> Result<Response> {
    let limit = limit_param(req, 100, 1000)?;
    let after = req.query.get("after").map(|a| guild_id(a)).transpose()?;
    let gs = guilds::list(&state.ctx, after, limit)?;
    Ok(ok(
        json!({"guilds": gs.iter().map(guild_view).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn create_guild(state: &AppState, req: &Request) -> Result<Response> {
    let b = body(req)?;
    let mut allowed = GUILD_FIELDS.to_vec();
    allowed.push("guildId");
    reject_unknown(&b, &allowed)?;
    let id = match b.get("guildId") {
        Some(Value::String(s)) => guild_id(s)?,
        Some(Value::Number(n)) => guild_id(&n.to_string())?,
        _ => {
            return Err(AdminError::bad(
                "`guildId` (a Discord guild id) is required",
            ));
        }
    };
    let name = match b.get("name") {
        Some(Value::String(s)) => s.clone(),
        None => format!("Guild {id}"),
        Some(_) => return Err(AdminError::bad("`name` must be a string")),
    };
    let mut patch = patch_from(&b)?;
    patch.name = None;
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
    let b = body(req)?;
    reject_unknown(&b, GUILD_FIELDS)?;
    let g = guilds::update(&state.ctx, id, patch_from(&b)?).await?;
    Ok(ok(guild_view(&g)))
}

pub(crate) fn list_keys(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let keys = apikeys::list(&state.ctx, KeyScope::Guild(g.id))?;
    Ok(ok(
        json!({"keys": keys.iter().map(key_view).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn issue_key(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let b = if req.body.is_empty() {
        Map::new()
    } else {
        body(req)?
    };
    reject_unknown(&b, &["label"])?;
    let label = b.get("label").and_then(Value::as_str).unwrap_or_default();
    let (rec, token) = apikeys::issue(&state.ctx, KeyScope::Guild(id), label).await?;
    let mut v = key_view(&rec);
    v["key"] = json!(token);
    v["notice"] = json!("store this key now: Roster keeps only its hash and cannot show it again");
    Ok(created(v))
}

pub(crate) fn active(state: &AppState, g: &str, kind: ModKind) -> Result<Response> {
    let g = load(state, g)?;
    let now = state.ctx.clock.now();
    let items: Vec<Value> = state
        .ctx
        .moderation
        .active(g.id, kind, now)
        .iter()
        .map(|r| mod_view(r))
        .collect();
    Ok(ok(json!({ "records": items })))
}

pub(crate) async fn create_mod(
    state: &AppState,
    req: &Request,
    g: &str,
    kind: ModKind,
) -> Result<Response> {
    let id = guild_id(g)?;
    let b = body(req)?;
    reject_unknown(
        &b,
        &[
            "identifier",
            "reason",
            "moderatorId",
            "durationSeconds",
            "placeId",
        ],
    )?;
    let identifier = Identifier::from_json(b.get("identifier").unwrap_or(&Value::Null))?;
    let duration = match b.get("durationSeconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(std::time::Duration::from_secs(
            v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                AdminError::bad("`durationSeconds` must be a positive integer or null")
            })?,
        )),
    };
    let r = moderation::create(
        &state.ctx,
        NewRecord {
            guild: id,
            kind,
            identifier,
            reason: b
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            moderator_id: b
                .get("moderatorId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            duration,
            place_id: match b.get("placeId") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    http::parse_id_value(v)
                        .ok_or_else(|| AdminError::bad("`placeId` must be a positive integer"))?,
                ),
            },
            source: Source::Admin,
        },
    )
    .await?;
    Ok(created(mod_view(&r)))
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
    Ok(ok(
        json!({"ended": ended.iter().map(mod_view).collect::<Vec<_>>()}),
    ))
}

pub(crate) fn live_servers(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let dead = chrono::Duration::from_std(state.ctx.config.servers.dead_after)
        .unwrap_or(chrono::Duration::seconds(90));
    let live = state
        .ctx
        .servers
        .live(g.id, Audience::Guild, state.ctx.clock.now(), dead);
    Ok(ok(json!({"servers": live})))
}

pub(crate) fn games(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    Ok(ok(json!({"games": servers::games(&state.ctx, g.id)?})))
}

pub(crate) fn pending(state: &AppState, g: &str, s: &str) -> Result<Response> {
    let g = load(state, g)?;
    let cmds = servers::pending(&state.ctx, g.id, s)?;
    Ok(ok(json!({"commands": cmds})))
}

pub(crate) async fn enqueue(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let b = body(req)?;
    reject_unknown(
        &b,
        &[
            "type",
            "targetId",
            "reason",
            "data",
            "ttlSeconds",
            "serverId",
            "placeId",
            "universeId",
            "all",
        ],
    )?;
    let str_field = |f: &str| -> Result<Option<String>> {
        match b.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(AdminError::bad(format!("`{f}` must be a string"))),
        }
    };
    let num = |f: &str| -> Result<Option<u64>> {
        match b.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => http::parse_id_value(v)
                .map(Some)
                .ok_or_else(|| AdminError::bad(format!("`{f}` must be a positive integer"))),
        }
    };
    let server = str_field("serverId")?;
    let all = b.get("all").and_then(Value::as_bool).unwrap_or(false);
    let (place, universe) = (num("placeId")?, num("universeId")?);
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
        kind: str_field("type")?
            .ok_or_else(|| AdminError::bad("`type` is required, e.g. \"kick\""))?,
        target_id: str_field("targetId")?,
        reason: str_field("reason")?,
        data: b.get("data").cloned().filter(|d| !d.is_null()),
        ttl: num("ttlSeconds")?.map(std::time::Duration::from_secs),
    };
    let cmds = servers::enqueue(&state.ctx, g.id, audience, spec).await?;
    Ok(created(json!({
        "commands": cmds.iter().map(|c| json!({"serverId": c.server_id, "id": c.id, "expiresAt": c.expires_at})).collect::<Vec<_>>(),
    })))
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
    Ok(ok(json!({"entries": entries, "nextCursor": next})))
}

fn roblox_id(raw: &str) -> Result<u64> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| AdminError::bad("the Roblox id must be a positive integer"))
}

pub(crate) async fn flag(state: &AppState, req: &Request) -> Result<Response> {
    let b = body(req)?;
    reject_unknown(&b, &["robloxId", "reason", "robloxUsername"])?;
    let id = b
        .get("robloxId")
        .and_then(http::parse_id_value)
        .ok_or_else(|| AdminError::bad("`robloxId` (a positive integer) is required"))?;
    let reason = b
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let username = b
        .get("robloxUsername")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let f = shield::flag(&state.ctx, id, reason, username).await?;
    Ok(created(serde_json::to_value(f).unwrap_or(Value::Null)))
}

pub(crate) fn get_flag(state: &AppState, raw: &str) -> Result<Response> {
    let id = roblox_id(raw)?;
    let f = shield::check(&state.ctx, id)?
        .ok_or_else(|| AdminError::not_found(format!("user {id} is not flagged")))?;
    Ok(ok(serde_json::to_value(f).unwrap_or(Value::Null)))
}

pub(crate) async fn unflag(state: &AppState, raw: &str) -> Result<Response> {
    let id = roblox_id(raw)?;
    if !shield::unflag(&state.ctx, id).await? {
        return Err(AdminError::not_found(format!("user {id} is not flagged")));
    }
    Ok(ok(json!({"removed": true})))
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
