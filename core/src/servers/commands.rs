//! The per-server command queues: queue (for one server or an audience), take (long-poll or
//! websocket), acknowledge, list pending.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::WholeSeconds;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

use super::{dead_after, validate_server_id};

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
