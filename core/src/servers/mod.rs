//! The server manager: registered games, the live-server registry (fed by heartbeats and
//! websocket connections), and per-server command queues.
//!
//! A command is queued durably (sled) for one server. A game server fetches it by long-polling
//! `GET /roblox/servers/{id}/commands?wait=N` or receives it on its websocket; either way, taking a
//! command makes it invisible for `servers.command_visibility`, so it goes out once per server.
//! If the server does not acknowledge it in that time it is delivered again; a command older than
//! `servers.command_ttl` expires (and is logged in the audit log). Taking and acknowledging are
//! not flushed before answering: losing them in a crash only means the command is delivered again,
//! which the at-least-once contract allows.
//!
//! The live registry is in memory: after a restart servers reappear with their next heartbeat.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::audit::{self, AuditEntry, Tenant};
use crate::clock::WholeSeconds;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::store::{StoreExt, Tree, TxnExt, keys};

mod commands;

pub use commands::{
    Audience, Command, CommandSpec, ack, enqueue, enqueue_in, pending, resolve, take, validate_spec,
};

/// A registered game (universe and place).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Game {
    /// Place id.
    pub place_id: u64,
    /// Universe id.
    pub universe_id: u64,
    /// Name.
    pub name: String,
    /// First registration.
    pub registered_at: DateTime<Utc>,
}

/// A server that has sent a heartbeat (or holds a websocket) recently.
#[derive(Debug, Clone, Serialize)]
pub struct LiveServer {
    /// Roblox's `game.JobId`.
    pub server_id: String,
    /// Place.
    pub place_id: Option<u64>,
    /// Universe.
    pub universe_id: Option<u64>,
    /// Players, as last reported.
    pub player_count: Option<u32>,
    /// Last heartbeat.
    pub last_seen: DateTime<Utc>,
    /// Connected by websocket now.
    pub websocket: bool,
}

#[derive(Debug, Clone)]
pub enum Push {
    /// Look at the command queue now.
    Commands,
    /// A moderation event, as a ready JSON frame.
    Event(serde_json::Value),
}

type ServerKey = (GuildId, String);

/// In-memory side of the server manager.
#[derive(Debug, Default)]
pub struct ServerHub {
    live: RwLock<HashMap<ServerKey, LiveServer>>,
    notifies: Mutex<HashMap<ServerKey, Arc<Notify>>>,
    sockets: RwLock<HashMap<ServerKey, tokio::sync::mpsc::UnboundedSender<Push>>>,
}

impl ServerHub {
    /// The wake-up for one server's queue (long-polls wait on it).
    pub fn notify_handle(&self, guild: GuildId, server: &str) -> Arc<Notify> {
        let mut n = self.notifies.lock();
        if n.len() > 50_000 {
            n.retain(|_, v| Arc::strong_count(v) > 1);
        }
        n.entry((guild, server.to_owned()))
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Wakes whoever waits on a server's queue (long-poll or websocket).
    pub fn wake(&self, guild: GuildId, server: &str) {
        let key = (guild, server.to_owned());
        if let Some(n) = self.notifies.lock().get(&key) {
            n.notify_waiters();
            n.notify_one();
        }
        if let Some(tx) = self.sockets.read().get(&key) {
            let _ = tx.send(Push::Commands);
        }
    }

    /// Registers a websocket for a server; returns the receiver of pushes.
    pub fn connect(
        &self,
        guild: GuildId,
        server: &str,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Push> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.sockets.write().insert((guild, server.to_owned()), tx);
        if let Some(s) = self.live.write().get_mut(&(guild, server.to_owned())) {
            s.websocket = true;
        }
        rx
    }

    /// Removes a websocket.
    pub fn disconnect(&self, guild: GuildId, server: &str) {
        let key = (guild, server.to_owned());
        let mut sockets = self.sockets.write();
        if sockets.get(&key).is_some_and(|tx| tx.is_closed()) || sockets.contains_key(&key) {
            sockets.remove(&key);
        }
        if let Some(s) = self.live.write().get_mut(&key) {
            s.websocket = false;
        }
    }

    /// Sends a moderation event to every connected server of a guild.
    pub fn broadcast(&self, guild: GuildId, frame: serde_json::Value) {
        for ((g, _), tx) in self.sockets.read().iter() {
            if *g == guild {
                let _ = tx.send(Push::Event(frame.clone()));
            }
        }
    }

    /// Live servers of a guild matching `audience`, as of `now`.
    pub fn live(
        &self,
        guild: GuildId,
        audience: Audience<'_>,
        now: DateTime<Utc>,
        dead_after: chrono::Duration,
    ) -> Vec<LiveServer> {
        let sockets = self.sockets.read();
        self.live
            .read()
            .iter()
            .filter(|((g, id), s)| {
                *g == guild
                    && (now - s.last_seen < dead_after || sockets.contains_key(&(*g, id.clone())))
                    && match audience {
                        Audience::Server(x) => s.server_id == x,
                        Audience::Place(p) => s.place_id == Some(p),
                        Audience::Universe(u) => s.universe_id == Some(u),
                        Audience::Guild => true,
                    }
            })
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Number of live servers (for metrics).
    pub fn live_count(&self) -> usize {
        self.live.read().len()
    }
}

fn dead_after(ctx: &Ctx) -> chrono::Duration {
    chrono::Duration::from_std(ctx.config.servers.dead_after)
        .unwrap_or(chrono::Duration::seconds(90))
}

/// Checks a server id: 1–100 printable characters.
pub fn validate_server_id(id: &str) -> Result<(), CoreError> {
    if id.is_empty() || id.len() > 100 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(CoreError::invalid(
            "server_id",
            "must be 1 to 100 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Records a heartbeat.
pub fn heartbeat(
    ctx: &Ctx,
    guild: GuildId,
    server_id: &str,
    place_id: Option<u64>,
    universe_id: Option<u64>,
    player_count: Option<u32>,
) -> Result<(), CoreError> {
    validate_server_id(server_id)?;
    let now = ctx.clock.now();
    let key = (guild, server_id.to_owned());
    let websocket = ctx.servers.sockets.read().contains_key(&key);
    let mut live = ctx.servers.live.write();
    let entry = live.entry(key).or_insert_with(|| LiveServer {
        server_id: server_id.to_owned(),
        place_id,
        universe_id,
        player_count,
        last_seen: now,
        websocket,
    });
    entry.last_seen = now;
    entry.websocket = websocket;
    if place_id.is_some() {
        entry.place_id = place_id;
    }
    if universe_id.is_some() {
        entry.universe_id = universe_id;
    }
    if player_count.is_some() {
        entry.player_count = player_count;
    }
    metrics::gauge!("roster_live_game_servers").set(live.len() as f64);
    Ok(())
}

/// Registers (or renames) a game.
pub async fn register_game(
    ctx: &Ctx,
    guild: GuildId,
    place_id: u64,
    universe_id: u64,
    name: &str,
) -> Result<Game, CoreError> {
    if name.chars().count() > 100 {
        return Err(CoreError::invalid("name", "must be at most 100 characters"));
    }
    let k = keys::cat(
        &keys::pair(guild.get(), universe_id),
        &place_id.to_be_bytes(),
    );
    let now = ctx.clock.now();
    let game = ctx.store.transact(|tx| {
        let existing: Option<Game> = tx.get_json(Tree::Games, &k)?;
        let game = Game {
            place_id,
            universe_id,
            name: name.to_owned(),
            registered_at: existing.map(|g| g.registered_at).unwrap_or(now),
        };
        tx.put_json(Tree::Games, &k, &game)?;
        Ok(game)
    })?;
    ctx.store.durable().await?;
    Ok(game)
}

/// A guild's registered games.
pub fn games(ctx: &Ctx, guild: GuildId) -> Result<Vec<Game>, CoreError> {
    Ok(ctx
        .store
        .scan_json::<Game>(Tree::Games, &guild.to_be_bytes(), None, 10_000, false)?
        .into_iter()
        .map(|(_, g)| g)
        .collect())
}

/// What the servers sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerSweep {
    /// Live servers dropped after `servers.dead_after` without a heartbeat.
    pub dropped_servers: u64,
    /// Commands expired unacknowledged.
    pub expired_commands: u64,
    /// Servers woken because a command became visible again.
    pub redelivered: u64,
}

/// Drops dead servers, expires old commands (with an audit entry each), and wakes servers whose
/// commands became visible again. Idempotent.
pub async fn sweep(ctx: &Ctx) -> Result<ServerSweep, CoreError> {
    let now = ctx.clock.now();
    let mut report = ServerSweep::default();
    {
        let dead = dead_after(ctx);
        let sockets = ctx.servers.sockets.read();
        let mut live = ctx.servers.live.write();
        let before = live.len();
        live.retain(|k, s| now - s.last_seen < dead || sockets.contains_key(k));
        report.dropped_servers = (before - live.len()) as u64;
        metrics::gauge!("roster_live_game_servers").set(live.len() as f64);
    }
    let mut after: Option<Vec<u8>> = None;
    loop {
        let batch =
            ctx.store
                .scan_json::<Command>(Tree::Commands, &[], after.as_deref(), 1000, false)?;
        if batch.is_empty() {
            break;
        }
        for (k, c) in &batch {
            let guild_raw: [u8; 8] = k[..8]
                .try_into()
                .expect("command keys start with the guild");
            let guild = GuildId::new(u64::from_be_bytes(guild_raw))
                .map_err(|e| CoreError::invalid("guild", e.to_string()))?;
            if c.expires_at <= now {
                let id = ctx.store.next_id()?;
                let k = k.clone();
                let c = c.clone();
                ctx.store.transact(|tx| {
                    if tx.get(Tree::Commands, &k)?.is_none() {
                        return Ok(());
                    }
                    tx.remove(Tree::Commands, &k)?;
                    audit::append_in(
                        tx,
                        Tenant::Guild(guild),
                        &AuditEntry {
                            id,
                            action: "command.expired".into(),
                            actor_id: None,
                            target_id: c.target_id.clone(),
                            metadata: serde_json::json!({
                                "command_id": c.id, "type": c.kind, "server_id": c.server_id,
                                "deliveries": c.deliveries, "issued_at": WholeSeconds(c.issued_at),
                            }),
                            created_at: now,
                        },
                    )
                })?;
                tracing::info!(guild = %guild, command = %c.id, server = %c.server_id, deliveries = c.deliveries, "command expired unacknowledged");
                metrics::counter!("roster_commands_expired_total").increment(1);
                report.expired_commands += 1;
            } else if c.invisible_until.is_some_and(|t| t <= now) {
                ctx.servers.wake(guild, &c.server_id);
                report.redelivered += 1;
            }
        }
        after = batch.last().map(|(k, _)| k.clone());
    }
    if report.expired_commands > 0 {
        ctx.store.durable().await?;
    }
    Ok(report)
}
