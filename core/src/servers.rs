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
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::audit::{self, AuditEntry, Tenant};
use crate::clock::WholeSeconds;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

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

/// A queued command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Command {
    /// `cmd_<n>`.
    pub id: String,
    /// Sequence (orders a server's queue).
    pub seq: u64,
    /// The server it is for.
    pub server_id: String,
    /// What to do: `kick`, `mute`, `unmute`, `announce`, `shutdown`, or anything an integration
    /// defines.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whom it concerns.
    pub target_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Extra data for the game script.
    pub data: Option<serde_json::Value>,
    /// Queued.
    pub issued_at: DateTime<Utc>,
    /// Dropped if not acknowledged by then.
    pub expires_at: DateTime<Utc>,
    /// Times handed out.
    pub deliveries: u32,
    /// Not handed out again before this (after a delivery).
    pub invisible_until: Option<DateTime<Utc>>,
}

impl Command {
    /// The JSON a game server receives.
    pub fn wire(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "target_id": self.target_id,
            "reason": self.reason,
            "issued_at": WholeSeconds(self.issued_at),
        });
        if let Some(d) = &self.data {
            v["data"] = d.clone();
        }
        v
    }
}

/// What to queue.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Type.
    pub kind: String,
    /// Target.
    pub target_id: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Extra data.
    pub data: Option<serde_json::Value>,
    /// Time to live (default `servers.command_ttl`).
    pub ttl: Option<std::time::Duration>,
}

/// Which servers a command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// One server (live or not).
    Server(&'a str),
    /// Every live server of a place.
    Place(u64),
    /// Every live server of a universe.
    Universe(u64),
    /// Every live server of the guild.
    Guild,
}

/// A frame pushed to a connected websocket.
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

fn server_prefix(guild: GuildId, server: &str) -> Vec<u8> {
    let h = Sha256::digest(server.as_bytes());
    keys::cat(&guild.to_be_bytes(), &h[..8])
}

fn command_key(guild: GuildId, server: &str, seq: u64) -> Vec<u8> {
    keys::cat(&server_prefix(guild, server), &seq.to_be_bytes())
}

/// Queues commands inside a transaction (for one server each); returns them. `seqs` must come
/// from [`crate::store::Store::next_id`], one per server.
pub fn enqueue_in(
    tx: &dyn Txn,
    guild: GuildId,
    servers: &[String],
    seqs: &[u64],
    spec: &CommandSpec,
    now: DateTime<Utc>,
    default_ttl: std::time::Duration,
) -> Result<Vec<Command>, StoreError> {
    let ttl = chrono::Duration::from_std(spec.ttl.unwrap_or(default_ttl))
        .unwrap_or(chrono::Duration::minutes(5));
    let mut out = Vec::with_capacity(servers.len());
    for (server, seq) in servers.iter().zip(seqs) {
        let cmd = Command {
            id: format!("cmd_{seq}"),
            seq: *seq,
            server_id: server.clone(),
            kind: spec.kind.clone(),
            target_id: spec.target_id.clone(),
            reason: spec.reason.clone(),
            data: spec.data.clone(),
            issued_at: now,
            expires_at: now + ttl,
            deliveries: 0,
            invisible_until: None,
        };
        tx.put_json(Tree::Commands, &command_key(guild, server, *seq), &cmd)?;
        out.push(cmd);
    }
    Ok(out)
}

/// The servers an audience resolves to now.
pub fn resolve(ctx: &Ctx, guild: GuildId, audience: Audience<'_>) -> Vec<String> {
    match audience {
        Audience::Server(s) => vec![s.to_owned()],
        other => ctx
            .servers
            .live(guild, other, ctx.clock.now(), dead_after(ctx))
            .into_iter()
            .map(|s| s.server_id)
            .collect(),
    }
}

/// Validates a command spec.
pub fn validate_spec(spec: &CommandSpec) -> Result<(), CoreError> {
    let k = &spec.kind;
    if k.is_empty()
        || k.len() > 50
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(CoreError::invalid(
            "type",
            "must be 1 to 50 letters, digits, `_`, `.` or `-`",
        ));
    }
    if spec
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 500)
    {
        return Err(CoreError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    if spec
        .target_id
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 64)
    {
        return Err(CoreError::invalid(
            "target_id",
            "must be 1 to 64 characters",
        ));
    }
    if spec
        .data
        .as_ref()
        .is_some_and(|d| d.to_string().len() > 8192)
    {
        return Err(CoreError::invalid("data", "must be at most 8 KiB of JSON"));
    }
    if let Some(ttl) = spec.ttl
        && (ttl.is_zero() || ttl > std::time::Duration::from_secs(7 * 24 * 3600))
    {
        return Err(CoreError::invalid(
            "ttl_seconds",
            "must be between 1 second and 7 days",
        ));
    }
    Ok(())
}

/// Queues a command for an audience; returns the commands (one per server).
pub async fn enqueue(
    ctx: &Ctx,
    guild: GuildId,
    audience: Audience<'_>,
    spec: CommandSpec,
) -> Result<Vec<Command>, CoreError> {
    validate_spec(&spec)?;
    if let Audience::Server(s) = audience {
        validate_server_id(s)?;
    }
    let servers = resolve(ctx, guild, audience);
    if servers.is_empty() {
        return Ok(Vec::new());
    }
    let seqs = servers
        .iter()
        .map(|_| ctx.store.next_id())
        .collect::<Result<Vec<_>, _>>()?;
    let now = ctx.clock.now();
    let ttl = ctx.config.servers.command_ttl;
    let cmds = ctx
        .store
        .transact(|tx| enqueue_in(tx, guild, &servers, &seqs, &spec, now, ttl))?;
    ctx.store.durable().await?;
    for c in &cmds {
        ctx.servers.wake(guild, &c.server_id);
    }
    metrics::counter!("roster_commands_enqueued_total").increment(cmds.len() as u64);
    Ok(cmds)
}

/// Hands out a server's pending commands (at most `max`), making them invisible for the
/// visibility timeout.
pub fn take(
    ctx: &Ctx,
    guild: GuildId,
    server: &str,
    max: usize,
) -> Result<Vec<Command>, CoreError> {
    let now = ctx.clock.now();
    let visible = chrono::Duration::from_std(ctx.config.servers.command_visibility)
        .unwrap_or(chrono::Duration::seconds(30));
    let prefix = server_prefix(guild, server);
    let candidates = ctx
        .store
        .scan_json::<Command>(Tree::Commands, &prefix, None, 1000, false)?;
    let due: Vec<(Vec<u8>, Command)> = candidates
        .into_iter()
        .filter(|(_, c)| {
            c.server_id == server
                && c.expires_at > now
                && c.invisible_until.is_none_or(|t| t <= now)
        })
        .take(max)
        .collect();
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let taken = ctx.store.transact(|tx| {
        let mut out = Vec::with_capacity(due.len());
        for (k, _) in &due {
            // Re-read inside the transaction: a concurrent take or ack wins.
            let Some(mut c) = tx.get_json::<Command>(Tree::Commands, k)? else {
                continue;
            };
            if c.invisible_until.is_some_and(|t| t > now) || c.expires_at <= now {
                continue;
            }
            c.deliveries += 1;
            c.invisible_until = Some(now + visible);
            tx.put_json(Tree::Commands, k, &c)?;
            out.push(c);
        }
        Ok(out)
    })?;
    if !taken.is_empty() {
        metrics::counter!("roster_commands_delivered_total").increment(taken.len() as u64);
    }
    Ok(taken)
}

/// Acknowledges a command; `false` if it is unknown (expired, or already acknowledged).
pub fn ack(ctx: &Ctx, guild: GuildId, server: &str, command_id: &str) -> Result<bool, CoreError> {
    let seq: u64 = command_id
        .strip_prefix("cmd_")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CoreError::invalid("commandId", "must look like cmd_42"))?;
    let k = command_key(guild, server, seq);
    let existed = ctx
        .store
        .transact(|tx| match tx.get_json::<Command>(Tree::Commands, &k)? {
            Some(c) if c.server_id == server => {
                tx.remove(Tree::Commands, &k)?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
    if existed {
        metrics::counter!("roster_commands_acked_total").increment(1);
    }
    Ok(existed)
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

/// Pending (not yet acknowledged) commands of a server, for operators.
pub fn pending(ctx: &Ctx, guild: GuildId, server: &str) -> Result<Vec<Command>, CoreError> {
    Ok(ctx
        .store
        .scan_json::<Command>(
            Tree::Commands,
            &server_prefix(guild, server),
            None,
            10_000,
            false,
        )?
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c.server_id == server)
        .collect())
}
