//! The guild audit log: rank changes of linked groups, moderation, command expiries, and custom
//! entries written by integrations.

use roster_core::audit::{self, AuditEntry, Tenant};
use roster_core::clock::WholeSeconds;
use roster_core::store::StoreExt as _;
use serde_json::{Value, json};

use super::{GuildError, GuildResult, authenticate, body, ok};
use crate::http::Request;
use crate::state::AppState;
use crate::wire;

fn entry_view(e: &AuditEntry) -> wire::guild::AuditEntry<'_> {
    wire::guild::AuditEntry {
        id: e.id,
        action: &e.action,
        actor_id: e.actor_id.as_deref(),
        target_id: e.target_id.as_deref(),
        metadata: &e.metadata,
        created_at: WholeSeconds(e.created_at),
    }
}

/// `GET /guilds/:guildId/audit-logs`
pub(crate) fn list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild))?;
    let limit = match req.query.get("limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| GuildError::bad("`limit` must be an integer from 1 to 200"))?,
    };
    let cursor = match req.query.get("cursor") {
        None => None,
        Some(c) if c.is_empty() => None,
        Some(c) => Some(
            c.parse::<u64>()
                .map_err(|_| GuildError::bad("`cursor` must be an entry id from next_cursor"))?,
        ),
    };
    let action = req
        .query
        .get("action")
        .map(String::as_str)
        .filter(|a| !a.is_empty());
    let (entries, next) = audit::list(
        &state.ctx,
        Tenant::Guild(caller.guild),
        limit,
        cursor,
        action,
    )?;
    Ok(ok(wire::guild::AuditPage {
        entries: entries.iter().map(entry_view).collect(),
        next_cursor: next,
    }))
}

fn valid_action(a: &str) -> bool {
    a.len() <= 64
        && a.starts_with("custom.")
        && a.len() > "custom.".len()
        && a.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// `POST /guilds/:guildId/audit-logs`
pub(crate) async fn create(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, Some(guild))?;
    let action = match b.get("action") {
        Some(Value::String(a)) if valid_action(a) => a.clone(),
        Some(Value::String(_)) => {
            return Err(GuildError::bad(
                "`action` must start with `custom.` and use lowercase letters, digits, `.`, `_` or `-` (at most 64 characters); Roster's own actions cannot be written",
            ));
        }
        _ => {
            return Err(GuildError::bad(
                "`action` is required, e.g. \"custom.deploy\"",
            ));
        }
    };
    let metadata = match b.get("metadata") {
        None | Some(Value::Null) => json!({}),
        Some(m @ Value::Object(_)) if m.to_string().len() <= 8192 => m.clone(),
        Some(Value::Object(_)) => {
            return Err(GuildError::bad("`metadata` must be at most 8 KiB of JSON"));
        }
        Some(_) => return Err(GuildError::bad("`metadata` must be an object")),
    };
    let target_id = match b.get("target_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 64 => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(GuildError::bad(
                "`target_id` must be a string of at most 64 characters",
            ));
        }
    };
    let ctx = &state.ctx;
    let id = ctx.store.next_id().map_err(roster_core::CoreError::from)?;
    let entry = AuditEntry {
        id,
        action,
        actor_id: Some(caller.key.id.clone()),
        target_id,
        metadata,
        created_at: ctx.clock.now(),
    };
    ctx.store
        .transact(|tx| audit::append_in(tx, Tenant::Guild(caller.guild), &entry))
        .map_err(roster_core::CoreError::from)?;
    ctx.store
        .durable()
        .await
        .map_err(roster_core::CoreError::from)?;
    Ok(ok(wire::guild::Created { id }))
}
