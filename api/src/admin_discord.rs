//! Admin routes for a guild's Discord side: account links (single and bulk import, JSON or
//! CSV), the role-bridge key, and sync-all runs started by an operator (which skip the
//! once-an-hour limit). Mounted under `/admin/v1/guilds/{guildId}/…` through
//! [`crate::admin_guilds`].
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/guilds/{g}/links?after=&limit=` | links in Discord-id order |
//! | POST | `/guilds/{g}/links` | create or replace links: one JSON object, a JSON array, `{"links": [...]}`, or CSV (`Content-Type: text/csv`) |
//! | GET, DELETE | `/guilds/{g}/links/{discordId}` | one link |
//! | POST, DELETE | `/guilds/{g}/role-bridge-key` | issue (shown once) or remove the role-bridge key |
//! | POST, DELETE | `/guilds/{g}/role-bridge/link` | link a NamelessMC website with its own key, or unlink it |
//! | POST, GET, DELETE | `/guilds/{g}/sync-all` | start (no interval limit), progress, cancel |

use chrono::{DateTime, Utc};
use roster_core::guilds::{self, GuildPatch, site};
use roster_core::jobs::facade::ops;
use roster_core::links::{self, AccountLink};
use roster_core::secrets::Secret;
use roster_core::syncs::{self, StartError};
use roster_upstream::UpstreamError;
use roster_upstream::nameless;
use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::admin::{AdminError, body, limit_param, ok};
use crate::admin_guilds::{created, guild_id, load};
use crate::http::{self, Request};
use crate::state::AppState;
use crate::wire::admin::{
    BridgeKeyIssued, LinkInput, LinkView, LinksImport, LinksImported, LinksPage, Removed,
    SyncRunView, WebsiteLinkBody, WebsiteLinked,
};

type Result<T> = std::result::Result<T, AdminError>;

pub(crate) fn list_links(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let limit = limit_param(req, 100, 1000)?;
    let after = match req.query.get("after") {
        None => None,
        Some(a) => Some(
            http::parse_id_value(&Value::String(a.clone()))
                .ok_or_else(|| AdminError::bad("`after` must be a Discord id"))?,
        ),
    };
    let store = state.ctx.store.as_ref();
    let page = links::list(store, g.id, after, limit).map_err(roster_core::CoreError::from)?;
    let total = links::count(store, g.id).map_err(roster_core::CoreError::from)?;
    Ok(ok(LinksPage {
        links: page.iter().map(LinkView::from).collect(),
        total,
    }))
}

fn parse_time(raw: &str, at: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AdminError::bad(format!("{at}: `verifiedAt` must be an RFC 3339 time")))
}

/// A link read from the body (JSON or a CSV line at `at`).
fn link_from(l: LinkInput, at: &str, now: DateTime<Utc>) -> Result<AccountLink> {
    Ok(AccountLink {
        discord_id: l.discord_id.0,
        roblox_id: l.roblox_id.0,
        roblox_username: l.roblox_username.trim().to_owned(),
        roblox_display_name: l.roblox_display_name.map(|d| d.trim().to_owned()),
        verified_at: match l.verified_at {
            None => now,
            Some(t) => parse_time(&t, at)?,
        },
    })
}

/// Splits one CSV line (RFC 4180 quoting: `"a,b"`, `""` inside quotes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_owned()).collect()
}

fn links_from_csv(text: &str, now: DateTime<Utc>) -> Result<Vec<AccountLink>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| AdminError::bad("the CSV is empty; the first line names the columns"))?;
    let cols: Vec<String> = csv_fields(header.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|c| c.to_ascii_lowercase().replace(['_', '-', ' '], ""))
        .collect();
    let pos = |name: &str| cols.iter().position(|c| c == name);
    let (Some(d), Some(r), Some(u)) = (pos("discordid"), pos("robloxid"), pos("robloxusername"))
    else {
        return Err(AdminError::bad(
            "the CSV header must name discord_id, roblox_id and roblox_username (optional: roblox_display_name, verified_at)",
        ));
    };
    let (dn, va) = (pos("robloxdisplayname"), pos("verifiedat"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let at = format!("line {}", i + 2);
            let f = csv_fields(line);
            let get = |p: usize| f.get(p).map(String::as_str).unwrap_or("");
            let mut o = Map::new();
            o.insert("discordId".into(), get(d).into());
            o.insert("robloxId".into(), get(r).into());
            o.insert("robloxUsername".into(), get(u).into());
            if let Some(p) = dn.filter(|p| !get(*p).is_empty()) {
                o.insert("robloxDisplayName".into(), get(p).into());
            }
            if let Some(p) = va.filter(|p| !get(*p).is_empty()) {
                o.insert("verifiedAt".into(), get(p).into());
            }
            let l = LinkInput::read(&o, &at).map_err(|e| AdminError::bad(e.0))?;
            link_from(l, &at, now)
        })
        .collect()
}

pub(crate) async fn import_links(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let now = state.ctx.clock.now();
    let is_csv = req
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/csv"));
    let rows = if is_csv {
        let text =
            std::str::from_utf8(&req.body).map_err(|_| AdminError::bad("the CSV must be UTF-8"))?;
        links_from_csv(text, now)?
    } else {
        LinksImport::read(&req.body)
            .map_err(|e| AdminError::bad(e.0))?
            .into_iter()
            .enumerate()
            .map(|(i, l)| link_from(l, &format!("links[{i}]"), now))
            .collect::<Result<Vec<_>>>()?
    };
    if rows.is_empty() {
        return Err(AdminError::bad("no links to import"));
    }
    let report = links::import(&state.ctx, g.id, &rows, Some("admin".into())).await?;
    Ok(created(LinksImported {
        rows: rows.len(),
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
    }))
}

fn discord_id(raw: &str) -> Result<u64> {
    http::parse_id_value(&Value::String(raw.to_owned()))
        .ok_or_else(|| AdminError::bad(format!("{raw:?} is not a Discord id")))
}

pub(crate) fn get_link(state: &AppState, g: &str, d: &str) -> Result<Response> {
    let g = load(state, g)?;
    let id = discord_id(d)?;
    let l = links::by_discord(state.ctx.store.as_ref(), g.id, id)
        .map_err(roster_core::CoreError::from)?
        .ok_or_else(|| AdminError::not_found(format!("no link for Discord user {id}")))?;
    Ok(ok(LinkView::from(&l)))
}

pub(crate) async fn remove_link(state: &AppState, g: &str, d: &str) -> Result<Response> {
    let g = load(state, g)?;
    let id = discord_id(d)?;
    if !links::remove(&state.ctx, g.id, id, Some("admin".into())).await? {
        return Err(AdminError::not_found(format!(
            "no link for Discord user {id}"
        )));
    }
    Ok(ok(Removed::YES))
}

pub(crate) async fn issue_bridge_key(state: &AppState, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let (g, key) = guilds::issue_role_bridge_key(&state.ctx, id).await?;
    Ok(created(BridgeKeyIssued {
        guild_id: g.id.to_string(),
        key,
        hint: g.discord.role_bridge_key_hint,
        notice:
            "give this key to the website now: Roster keeps only its hash and cannot show it again"
                .into(),
    }))
}

pub(crate) async fn remove_bridge_key(state: &AppState, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    guilds::update(
        &state.ctx,
        id,
        GuildPatch {
            role_bridge_key: Some(None),
            ..GuildPatch::default()
        },
    )
    .await?;
    Ok(ok(Removed::YES))
}

/// What a website's refusal or silence means for `link`.
fn website_error(e: UpstreamError) -> AdminError {
    let message = nameless::explain(&e);
    let code = match &e {
        UpstreamError::Permanent { code, .. } => match code.as_str() {
            nameless::codes::INVALID_API_KEY | nameless::codes::MISSING_API_KEY => {
                "WEBSITE_KEY_REJECTED"
            }
            nameless::codes::API_DISABLED => "WEBSITE_API_DISABLED",
            // `info` exists on every NamelessMC v2 site.
            nameless::codes::INVALID_API_METHOD | nameless::NOT_NAMELESS => {
                return AdminError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "WEBSITE_NOT_NAMELESS",
                    format!(
                        "{message} (Roster expects a NamelessMC 2 site: give its API URL, as StaffCP → Configuration → API shows it)"
                    ),
                );
            }
            _ => "WEBSITE_REFUSED",
        },
        UpstreamError::RateLimited { .. } | UpstreamError::Transient { .. } => {
            return AdminError::new(StatusCode::BAD_GATEWAY, "WEBSITE_UNREACHABLE", message);
        }
    };
    AdminError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn bridge_url(raw: &str, field: &str) -> Result<String> {
    nameless::bridge_url(raw).map_err(|e| AdminError::bad(format!("`{field}` {e}")))
}

/// `POST /admin/v1/guilds/{g}/role-bridge/link`: checks the website (its URL, its key, its
/// API and its Discord module) with `GET info`, then links it and stages the push of the bot's
/// settings and the guild's roles, waiting up to `server.sync_wait` for it.
pub(crate) async fn link_website(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let b: WebsiteLinkBody = body(req)?;
    let api =
        nameless::api_url(&b.site_url).map_err(|e| AdminError::bad(format!("`siteUrl` {e}")))?;
    let key = b.site_key.trim();
    if key.is_empty()
        || key.chars().count() > 200
        || key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AdminError::bad(
            "`siteKey` must be the website's API key (1 to 200 characters, no spaces)",
        ));
    }
    let bridge = match (&b.bridge_url, &state.ctx.config.server.public_url) {
        (Some(u), _) => bridge_url(u, "bridgeUrl")?,
        (None, Some(u)) => bridge_url(u, "server.public_url")?,
        (None, None) => {
            return Err(AdminError::new(
                StatusCode::BAD_REQUEST,
                "BRIDGE_URL_REQUIRED",
                "give `bridgeUrl` (where the website reaches Roster) or set server.public_url",
            ));
        }
    };
    if g.discord.bot_token.is_none() && state.discord_token.is_none() {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "DISCORD_NOT_CONFIGURED",
            "the guild has no bot: give it a botToken or set discord.bot_token first",
        ));
    }
    let info = state
        .nameless
        .info(&api, key)
        .await
        .map_err(website_error)?;
    if !info.modules.iter().any(|m| m == nameless::DISCORD_MODULE) {
        return Err(AdminError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "WEBSITE_NO_DISCORD_MODULE",
            "the website's Discord Integration module is not enabled: enable it in StaffCP → Modules",
        ));
    }
    let (g, job) = site::link(&state.ctx, g.id, api, &Secret::new(key), bridge).await?;
    // Watched before looking, so an outcome recorded in between is not missed.
    let done = state.ctx.jobs.hub().watch(job);
    if !ops::get(&state.ctx, job)?.is_some_and(|r| r.status.is_final()) {
        let _ = tokio::time::timeout(state.ctx.config.server.sync_wait, done).await;
    }
    let rec = ops::get(&state.ctx, job)?
        .ok_or_else(|| AdminError::not_found(format!("job {job} not found")))?;
    let website = g
        .discord
        .role_bridge_site
        .as_ref()
        .map(crate::admin_guilds::website_view)
        .ok_or_else(|| AdminError::not_found("the website was unlinked meanwhile"))?;
    Ok(created(WebsiteLinked {
        guild_id: g.id.to_string(),
        website,
        nameless_version: info.nameless_version,
        key_hint: g.discord.role_bridge_key_hint.clone(),
        push: crate::ranking::job_view(state, &rec).await,
    }))
}

/// `DELETE /admin/v1/guilds/{g}/role-bridge/link`.
pub(crate) async fn unlink_website(state: &AppState, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let (_, was) = site::unlink(&state.ctx, id).await?;
    if !was {
        return Err(AdminError::not_found(format!(
            "guild {id} has no linked website"
        )));
    }
    Ok(ok(Removed::YES))
}

fn run_view(run: &syncs::SyncRun, now: DateTime<Utc>) -> SyncRunView {
    SyncRunView::new(run, now)
}

pub(crate) async fn start_sync(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    match syncs::start(&state.ctx, &g, Some("admin".into()), true).await {
        Ok(run) => Ok(created(run_view(&run, state.ctx.clock.now()))),
        Err(StartError::InProgress(run)) => Err(AdminError::new(
            StatusCode::CONFLICT,
            "SYNC_IN_PROGRESS",
            format!("run {} is still going; cancel it first", run.id),
        )),
        Err(StartError::TooSoon(_)) => Err(AdminError::new(
            StatusCode::CONFLICT,
            "SYNC_TOO_SOON",
            "unexpected interval limit for an operator run",
        )),
        Err(StartError::Core(e)) => Err(e.into()),
    }
}

pub(crate) fn sync_progress(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    let run = syncs::latest(&state.ctx, g.id)?
        .ok_or_else(|| AdminError::not_found("no sync-all has run in this guild"))?;
    Ok(ok(run_view(&run, state.ctx.clock.now())))
}

pub(crate) async fn cancel_sync(state: &AppState, g: &str) -> Result<Response> {
    let g = load(state, g)?;
    match syncs::cancel(&state.ctx, g.id, Some("admin".into())).await? {
        Some(run) => Ok(ok(run_view(&run, state.ctx.clock.now()))),
        None => Err(AdminError::new(
            StatusCode::CONFLICT,
            "NO_SYNC_RUNNING",
            "no sync-all is running in this guild",
        )),
    }
}
