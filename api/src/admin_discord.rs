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
//! | POST, GET, DELETE | `/guilds/{g}/sync-all` | start (no interval limit), progress, cancel |

use chrono::{DateTime, Utc};
use roster_core::guilds::{self, GuildPatch};
use roster_core::links::{self, AccountLink};
use roster_core::syncs::{self, StartError};
use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::admin::{AdminError, limit_param, ok};
use crate::admin_guilds::{created, guild_id, load};
use crate::http::{self, Request};
use crate::state::AppState;

type Result<T> = std::result::Result<T, AdminError>;

fn link_view(l: &AccountLink) -> Value {
    json!({
        "discordId": l.discord_id.to_string(),
        "robloxId": l.roblox_id,
        "robloxUsername": l.roblox_username,
        "robloxDisplayName": l.roblox_display_name,
        "verifiedAt": l.verified_at,
    })
}

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
    Ok(ok(json!({
        "links": page.iter().map(link_view).collect::<Vec<_>>(),
        "total": total,
    })))
}

/// Reads one field under its camelCase or snake_case name.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn parse_time(raw: &str, at: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| AdminError::bad(format!("{at}: `verifiedAt` must be an RFC 3339 time")))
}

fn link_from_json(o: &Map<String, Value>, at: &str, now: DateTime<Utc>) -> Result<AccountLink> {
    let id = |camel: &str, snake: &str| -> Result<u64> {
        field(o, camel, snake)
            .and_then(http::parse_id_value)
            .ok_or_else(|| {
                AdminError::bad(format!("{at}: `{camel}` must be a positive integer id"))
            })
    };
    let text = |camel: &str, snake: &str| -> Result<Option<String>> {
        match field(o, camel, snake) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(AdminError::bad(format!("{at}: `{camel}` must be a string"))),
        }
    };
    Ok(AccountLink {
        discord_id: id("discordId", "discord_id")?,
        roblox_id: id("robloxId", "roblox_id")?,
        roblox_username: text("robloxUsername", "roblox_username")?
            .ok_or_else(|| AdminError::bad(format!("{at}: `robloxUsername` is required")))?,
        roblox_display_name: text("robloxDisplayName", "roblox_display_name")?,
        verified_at: match text("verifiedAt", "verified_at")? {
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
            link_from_json(&o, &at, now)
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
        let v: Value = serde_json::from_slice(&req.body)
            .map_err(|e| AdminError::bad(format!("the body is not JSON: {e}")))?;
        let items: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("links") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(AdminError::bad("`links` must be an array")),
                None => vec![Value::Object(o)],
            },
            _ => {
                return Err(AdminError::bad(
                    "send a link object, an array of them, or CSV",
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(o) => link_from_json(o, &format!("links[{i}]"), now),
                _ => Err(AdminError::bad(format!("links[{i}] must be an object"))),
            })
            .collect::<Result<Vec<_>>>()?
    };
    if rows.is_empty() {
        return Err(AdminError::bad("no links to import"));
    }
    let report = links::import(&state.ctx, g.id, &rows, Some("admin".into())).await?;
    Ok(created(json!({
        "rows": rows.len(),
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
    })))
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
    Ok(ok(link_view(&l)))
}

pub(crate) async fn remove_link(state: &AppState, g: &str, d: &str) -> Result<Response> {
    let g = load(state, g)?;
    let id = discord_id(d)?;
    if !links::remove(&state.ctx, g.id, id, Some("admin".into())).await? {
        return Err(AdminError::not_found(format!(
            "no link for Discord user {id}"
        )));
    }
    Ok(ok(json!({"removed": true})))
}

pub(crate) async fn issue_bridge_key(state: &AppState, g: &str) -> Result<Response> {
    let id = guild_id(g)?;
    let (g, key) = guilds::issue_role_bridge_key(&state.ctx, id).await?;
    Ok(created(json!({
        "guildId": g.id.to_string(),
        "key": key,
        "hint": g.discord.role_bridge_key_hint,
        "notice": "give this key to the website now: Roster keeps only its hash and cannot show it again",
    })))
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
    Ok(ok(json!({"removed": true})))
}

fn run_view(run: &syncs::SyncRun, now: DateTime<Utc>) -> Value {
    json!({
        "runId": run.id.to_string(),
        "status": run.status,
        "total": run.total(),
        "done": run.done,
        "changed": run.changed,
        "failed": run.failed,
        "notApplied": run.not_applied,
        "listed": run.listed,
        "bots": run.bots,
        "pages": run.pages,
        "listingDone": run.listing_done,
        "inFlight": run.in_flight,
        "queuedBatches": run.queue_tail - run.queue_head,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "etaSeconds": run.eta_seconds(now),
        "membersPerMinute": run.members_per_minute(now),
        "requestedBy": run.requested_by,
        "errors": run.errors,
        "error": run.error,
    })
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
