//! The server manager, game-server side: register a game, heartbeat, fetch commands (optionally
//! long-polling up to `servers.max_wait`), acknowledge them.

use std::time::Duration;

use roster_core::servers;
use serde_json::{Value, json};

use super::{
    GuildError, GuildResult, authenticate, body, body_guild, ok, ok_msg, opt_id, opt_str, req_id,
};
use crate::http::Request;
use crate::state::AppState;

/// `POST /roblox/games/register`
pub(crate) async fn register(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let named = body_guild(&b)?;
    let caller = authenticate(state, req, named.as_deref())?;
    let place = req_id(&b, "place_id")?;
    let universe = req_id(&b, "universe_id")?;
    let name = opt_str(&b, "name", 100)?.unwrap_or_default();
    servers::register_game(&state.ctx, caller.guild, place, universe, &name).await?;
    Ok(ok(json!({"registered": true})))
}

/// `POST /roblox/servers/heartbeat`
pub(crate) fn heartbeat(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let named = body_guild(&b)?;
    let caller = authenticate(state, req, named.as_deref())?;
    let server_id =
        opt_str(&b, "server_id", 100)?.ok_or_else(|| GuildError::bad("`server_id` is required"))?;
    let players = match b.get("player_count") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n <= 10_000).ok_or_else(|| {
            GuildError::bad("`player_count` must be a whole number from 0 to 10000")
        })? as u32),
    };
    servers::heartbeat(
        &state.ctx,
        caller.guild,
        &server_id,
        opt_id(&b, "place_id")?,
        opt_id(&b, "universe_id")?,
        players,
    )?;
    Ok(ok(json!({"ok": true})))
}

/// `GET /roblox/servers/:serverId/commands[?wait=N]`
pub(crate) async fn commands(state: &AppState, req: &Request, server: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    servers::validate_server_id(server)?;
    let max_wait = state.ctx.config.servers.max_wait;
    let wait = match req.query.get("wait") {
        None => Duration::ZERO,
        Some(w) => {
            let secs: f64 = w
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| GuildError::bad("`wait` must be a number of seconds"))?;
            if secs > max_wait.as_secs_f64() {
                return Err(GuildError::bad(format!(
                    "`wait` must be at most {} seconds",
                    max_wait.as_secs()
                )));
            }
            Duration::from_secs_f64(secs)
        }
    };
    let ctx = &state.ctx;
    let notify = ctx.servers.notify_handle(caller.guild, server);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let taken = servers::take(ctx, caller.guild, server, 100)?;
        if !taken.is_empty() || tokio::time::Instant::now() >= deadline {
            let list: Vec<Value> = taken.iter().map(servers::Command::wire).collect();
            return Ok(ok(json!({ "commands": list })));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// `POST /roblox/servers/:serverId/commands/:commandId/ack`
pub(crate) fn ack(state: &AppState, req: &Request, server: &str, command: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    servers::validate_server_id(server)?;
    if !req.body.is_empty() {
        // `{"status": "ok"}` is optional; when present it must be an object.
        body(req)?;
    }
    if servers::ack(&state.ctx, caller.guild, server, command)? {
        Ok(ok(json!({"acked": true})))
    } else {
        Ok(ok_msg(
            "No pending command with that id (already acknowledged, expired, or for another server)",
            Some(json!({"acked": false})),
        ))
    }
}
