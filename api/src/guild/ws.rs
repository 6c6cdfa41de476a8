//! `GET /ws/guilds/:guildId/roblox?placeId=&serverId=&universeId=`: a game server's live channel.
//!
//! Authenticated like every guild endpoint (the key in `X-Api-Key` or `Authorization: Bearer`;
//! `?api_key=` is accepted too, for clients that cannot set headers on an upgrade). While
//! connected the server counts as live. Frames sent: `{"type": "command", "data": {…}}` for each
//! queued command (taken from the same queue as the HTTP long-poll, so a command goes out once
//! whichever way), and `{"type": "moderation.ban" | "moderation.unban" | "moderation.mute" |
//! "moderation.unmute", "data": {…}}` for moderation in the guild. Frames accepted:
//! `{"type": "ack", "id": "cmd_42"}` and `{"type": "heartbeat", "player_count": n}`.

use futures::{SinkExt, StreamExt};
use roster_core::ids::GuildId;
use roster_core::servers::{self, Push};
use serde_json::{Value, json};
use warp::filters::ws::{Message, WebSocket};

use super::{GuildError, authenticate};
use crate::http::Request;
use crate::state::AppState;

/// What the upgrade needs, checked before upgrading.
#[derive(Debug, Clone)]
pub struct Session {
    guild: GuildId,
    server: String,
    place: Option<u64>,
    universe: Option<u64>,
}

/// Authorises an upgrade request (`req` carries the path, query and headers).
pub fn authorize(state: &AppState, req: &mut Request, guild: &str) -> Result<Session, GuildError> {
    if req.header("x-api-key").is_none()
        && req.header("authorization").is_none()
        && let Some(k) = req.query.get("api_key").cloned()
        && let Ok(v) = warp::http::HeaderValue::from_str(&k)
    {
        req.headers.insert("x-api-key", v);
    }
    let caller = authenticate(state, req, Some(guild))?;
    let q = |names: &[&str]| names.iter().find_map(|n| req.query.get(*n).cloned());
    let server =
        q(&["serverId", "server_id"]).ok_or_else(|| GuildError::bad("`serverId` is required"))?;
    servers::validate_server_id(&server)?;
    let num = |names: &[&str], field: &str| -> Result<Option<u64>, GuildError> {
        match q(names) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| GuildError::bad(format!("`{field}` must be a positive integer"))),
        }
    };
    Ok(Session {
        guild: caller.guild,
        server,
        place: num(&["placeId", "place_id"], "placeId")?,
        universe: num(&["universeId", "universe_id"], "universeId")?,
    })
}

async fn send_commands(
    state: &AppState,
    s: &Session,
    tx: &mut futures::stream::SplitSink<WebSocket, Message>,
) -> bool {
    let taken = match servers::take(&state.ctx, s.guild, &s.server, 100) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a server's command queue");
            return true;
        }
    };
    for c in taken {
        let frame = json!({"type": "command", "data": c.wire()});
        if tx.send(Message::text(frame.to_string())).await.is_err() {
            return false;
        }
    }
    true
}

/// Runs an upgraded connection until either side closes it.
pub async fn run(state: AppState, s: Session, socket: WebSocket) {
    let _ = servers::heartbeat(&state.ctx, s.guild, &s.server, s.place, s.universe, None);
    let mut pushes = state.ctx.servers.connect(s.guild, &s.server);
    metrics::gauge!("roster_websockets_connected").increment(1.0);
    let (mut tx, mut rx) = socket.split();
    let mut open = send_commands(&state, &s, &mut tx).await;
    let mut keepalive = tokio::time::interval(std::time::Duration::from_secs(20));
    keepalive.tick().await;
    while open {
        tokio::select! {
            push = pushes.recv() => match push {
                Some(Push::Commands) => open = send_commands(&state, &s, &mut tx).await,
                Some(Push::Event(frame)) => open = tx.send(Message::text(frame.to_string())).await.is_ok(),
                None => open = false,
            },
            msg = rx.next() => match msg {
                Some(Ok(m)) if m.is_text() => {
                    let v: Value = serde_json::from_str(m.to_str().unwrap_or_default()).unwrap_or(Value::Null);
                    match v.get("type").and_then(Value::as_str) {
                        Some("ack") => {
                            if let Some(id) = v.get("id").and_then(Value::as_str) {
                                let _ = servers::ack(&state.ctx, s.guild, &s.server, id);
                            }
                        }
                        Some("heartbeat") => {
                            let players = v.get("player_count").and_then(Value::as_u64).map(|n| n.min(10_000) as u32);
                            let _ = servers::heartbeat(&state.ctx, s.guild, &s.server, s.place, s.universe, players);
                        }
                        _ => {
                            let err = json!({"type": "error", "data": {"message": "expected {\"type\": \"ack\", \"id\": …} or {\"type\": \"heartbeat\"}"}});
                            open = tx.send(Message::text(err.to_string())).await.is_ok();
                        }
                    }
                }
                Some(Ok(m)) if m.is_close() => open = false,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => open = false,
            },
            _ = keepalive.tick() => {
                let _ = servers::heartbeat(&state.ctx, s.guild, &s.server, s.place, s.universe, None);
                open = tx.send(Message::ping(Vec::new())).await.is_ok();
            }
        }
    }
    state.ctx.servers.disconnect(s.guild, &s.server);
    metrics::gauge!("roster_websockets_connected").decrement(1.0);
}
