//! Shield: any guild key reads the cross-guild flagged-user list; allowlisted guilds import.

use roster_core::clock::WholeSeconds;
use roster_core::shield::{self, ImportRow, MAX_BATCH, ShieldFlag};
use serde_json::Value;

use super::{Caller, GuildError, GuildResult, authenticate, body, guild_record, ok};
use crate::http::{self, Request};
use crate::state::AppState;
use crate::wire::guild::{BatchFlag, Flag, Imported, ShieldBatch, ShieldVerdict};

fn flag_view(f: &ShieldFlag) -> Flag<'_> {
    Flag {
        roblox_id: &f.roblox_id,
        roblox_username: f.roblox_username.as_deref(),
        reason: &f.reason,
        flagged_by: &f.flagged_by,
        source: &f.source,
        flagged_at: WholeSeconds(f.flagged_at),
    }
}

/// Asks, in the background, for the names of flags recorded without one (see
/// [`crate::shield_names`]); this answer carries `null`, a later one the name.
fn ask_names(state: &AppState, caller: &Caller, flags: &[ShieldFlag]) {
    for f in flags.iter().filter(|f| f.roblox_username.is_none()) {
        if let Ok(user) = f.roblox_id.parse() {
            state.shield_names.request(user, caller.guild);
        }
    }
}

/// `GET /shield/check/:robloxId`
pub(crate) fn check(state: &AppState, req: &Request, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    let id = raw
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| GuildError::bad("the Roblox id in the path must be a positive integer"))?;
    Ok(match shield::check(&state.ctx, id)? {
        Some(f) => {
            ask_names(state, &caller, std::slice::from_ref(&f));
            ok(ShieldVerdict {
                flagged: true,
                flag: Some(flag_view(&f)),
            })
        }
        None => ok(ShieldVerdict {
            flagged: false,
            flag: None,
        }),
    })
}

/// `POST /shield/batch`
pub(crate) fn batch(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, None)?;
    let Some(Value::Array(raw)) = b.get("roblox_ids") else {
        return Err(GuildError::bad(
            "`roblox_ids` (an array of Roblox user ids) is required",
        ));
    };
    if raw.len() > MAX_BATCH {
        return Err(GuildError::bad(format!(
            "`roblox_ids` holds {} ids; a batch checks at most {MAX_BATCH}: split it into several calls",
            raw.len()
        )));
    }
    let ids = raw
        .iter()
        .enumerate()
        .map(|(i, v)| {
            http::parse_id_value(v).ok_or_else(|| {
                GuildError::bad(format!("`roblox_ids[{i}]` must be a positive integer"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let found = shield::batch(&state.ctx, &ids)?;
    ask_names(state, &caller, &found);
    let flagged = found
        .into_iter()
        .map(|f| BatchFlag {
            roblox_id: f.roblox_id,
            roblox_username: f.roblox_username,
            reason: f.reason,
            source: f.source,
        })
        .collect();
    Ok(ok(ShieldBatch { flagged }))
}

/// `POST /shield/import` (allowlisted guilds only)
pub(crate) async fn import(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, None)?;
    let guild = guild_record(state, &caller)?;
    if !guild.shield_writer {
        return Err(GuildError::new(
            warp::http::StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this guild is not allowlisted to write to Shield; ask the operator to allowlist it",
        ));
    }
    let Some(Value::Array(users)) = b.get("users") else {
        return Err(GuildError::bad(
            "`users` (an array of {roblox_id, reason}) is required",
        ));
    };
    let mut rows = Vec::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        let Value::Object(o) = u else {
            return Err(GuildError::bad(format!("`users[{i}]` must be an object")));
        };
        let roblox_id = o
            .get("roblox_id")
            .and_then(http::parse_id_value)
            .ok_or_else(|| {
                GuildError::bad(format!("`users[{i}].roblox_id` must be a positive integer"))
            })?;
        let reason = match o.get("reason") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(GuildError::bad(format!("`users[{i}].reason` is required"))),
        };
        let roblox_username = o
            .get("roblox_username")
            .and_then(Value::as_str)
            .map(str::to_owned);
        rows.push(ImportRow {
            roblox_id,
            reason,
            roblox_username,
        });
    }
    let unnamed: Vec<u64> = rows
        .iter()
        .filter(|r| r.roblox_username.is_none())
        .map(|r| r.roblox_id)
        .collect();
    let (imported, skipped) = shield::import(&state.ctx, &guild, rows).await?;
    for user in unnamed {
        state.shield_names.request(user, caller.guild);
    }
    Ok(ok(Imported { imported, skipped }))
}
