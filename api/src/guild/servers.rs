//! The server manager, game-server side: register a game, heartbeat, fetch commands (optionally
//! long-polling up to `servers.max_wait`), acknowledge them.

use std::time::Duration;

use roster_core::clock::WholeSeconds;
use roster_core::servers;

use super::{GuildError, GuildResult, authenticate, body, body_guild, ok, ok_msg};
use crate::http::Request;
use crate::state::AppState;
use crate::wire;
use crate::wire::guild::{
    Acked, Command, Commands, HeartbeatBody, HeartbeatOk, RegisterBody, Registered,
};

/// `POST /roblox/games/register`
pub(crate) async fn register(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let named = body_guild(&b)?;
    let caller = authenticate(state, req, named.as_deref())?;
    let body: RegisterBody = wire::typed(&b).map_err(|e| GuildError::bad(e.0))?;
    let name = body.name.map(|t| t.0).unwrap_or_default();
    servers::register_game(
        &state.ctx,
        caller.guild,
        body.place_id.0,
        body.universe_id.0,
        &name,
    )
    .await?;
    Ok(ok(Registered { registered: true }))
}

/// `POST /roblox/servers/heartbeat`
pub(crate) fn heartbeat(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let named = body_guild(&b)?;
    let caller = authenticate(state, req, named.as_deref())?;
    let body: HeartbeatBody = wire::typed(&b).map_err(|e| GuildError::bad(e.0))?;
    servers::heartbeat(
        &state.ctx,
        caller.guild,
        &body.server_id.0,
        body.place_id.map(|p| p.0),
        body.universe_id.map(|u| u.0),
        body.player_count.map(|p| p.0),
    )?;
    Ok(ok(HeartbeatOk { ok: true }))
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
            let commands = taken
                .into_iter()
                .map(|c| Command {
                    id: c.id,
                    kind: c.kind,
                    target_id: c.target_id,
                    reason: c.reason,
                    issued_at: WholeSeconds(c.issued_at),
                    data: c.data,
                })
                .collect();
            return Ok(ok(Commands { commands }));
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
        Ok(ok(Acked { acked: true }))
    } else {
        Ok(ok_msg(
            "No pending command with that id (already acknowledged, expired, or for another server)",
            Some(Acked { acked: false }),
        ))
    }
}
