//! Bans and mutes per guild, and the in-memory index the game-server hot path reads.
//!
//! Every ban or mute, whichever way it arrives (a game server, the admin API, later Discord), is
//! one durable write holding the record, its audit entry, a command to every live server of the
//! guild (a `kick` for a ban of a Roblox user, `mute`/`unmute` for mutes) and, where the guild is
//! configured for it, a job that applies a Roblox experience ban through Open Cloud user
//! restrictions. Local side effects are part of the write itself; only the one that talks to
//! Roblox is a job (through the outbox).
//!
//! The index is updated after the write is durable and before the caller gets its 2xx, under a
//! per-guild lock that also covers the write, so index updates happen in commit order: a ban
//! answered 2xx is seen by the very next status check, and an unban racing a ban cannot leave a
//! stale entry behind. Expired records stop counting at read time, before any sweep runs.
//!
//! Identifiers: a Roblox user id or a Discord user id. `roblox:261` and `discord:80351110224678912`
//! say which explicitly; bare digits are a Discord id when they have 17 or more digits (every
//! Discord snowflake since 2015) and a Roblox id otherwise.
//!
//! Place scope: a record with a `place_id` applies to status checks for that place only; a check
//! without `place_id` sees guild-wide records only.
//!
//! The cross-guild [`shield`] list lives beside this module.

pub mod shield;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEntry, Tenant};
use crate::clock::WholeSeconds;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::guilds::{self, GuildRecord};
use crate::ids::GuildId;
use crate::jobs::discord::DiscordBan;
use crate::jobs::facade::NewJob;
use crate::jobs::moderation::{RestrictJob, RobloxRestrict};
use crate::servers::{self, Audience, CommandSpec};
use crate::store::{StoreExt, Tree, TxnExt, keys};

/// Whom a record concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Identifier {
    /// A Roblox user.
    Roblox(u64),
    /// A Discord user.
    Discord(u64),
}

impl Identifier {
    /// Parses `roblox:N`, `discord:N`, or bare digits (17+ digits: Discord).
    pub fn parse(raw: &str) -> Result<Self, CoreError> {
        let bad = || {
            CoreError::invalid(
                "identifier",
                "must be a Roblox user id or a Discord user id (optionally prefixed roblox: or discord:)",
            )
        };
        let t = raw.trim();
        let (explicit, digits) = match t.split_once(':') {
            Some(("roblox", d)) => (Some(false), d),
            Some(("discord", d)) => (Some(true), d),
            Some(_) => return Err(bad()),
            None => (None, t),
        };
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        let discord = explicit.unwrap_or(digits.len() >= 17);
        if discord {
            Ok(Identifier::Discord(n))
        } else if n > i64::MAX as u64 {
            Err(bad())
        } else {
            Ok(Identifier::Roblox(n))
        }
    }

    /// From a JSON string or number.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, CoreError> {
        match v {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Number(n) => n
                .as_u64()
                .map(|n| n.to_string())
                .ok_or_else(|| CoreError::invalid("identifier", "must be a positive integer"))
                .and_then(|s| Self::parse(&s)),
            _ => Err(CoreError::invalid(
                "identifier",
                "is required (a Roblox or Discord user id)",
            )),
        }
    }

    /// The Roblox user id, if it is one.
    pub fn roblox(self) -> Option<u64> {
        match self {
            Identifier::Roblox(n) => Some(n),
            Identifier::Discord(_) => None,
        }
    }
}

impl fmt::Display for Identifier {
    /// The wire form: the bare id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Roblox(n) | Identifier::Discord(n) => write!(f, "{n}"),
        }
    }
}

/// Ban or mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModKind {
    /// Kept out.
    Ban,
    /// Silenced.
    Mute,
}

impl ModKind {
    /// `ban` / `mute`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModKind::Ban => "ban",
            ModKind::Mute => "mute",
        }
    }
}

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A game server (the `roblox/*` pushes).
    Roblox,
    /// The admin API (the dashboard).
    Admin,
    /// Discord.
    Discord,
}

/// A ban or mute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModRecord {
    /// Id (unique across guilds).
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// Ban or mute.
    pub kind: ModKind,
    /// Whom.
    pub identifier: Identifier,
    /// Why.
    pub reason: String,
    /// Who (a Discord or Roblox id, as the caller gave it).
    pub moderator_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Until when (`None`: permanent).
    pub expires_at: Option<DateTime<Utc>>,
    /// Only this place.
    pub place_id: Option<u64>,
    /// Where it came from.
    pub source: Source,
    /// When it ended (revoked or expired).
    pub ended_at: Option<DateTime<Utc>>,
    /// `revoked` or `expired`.
    pub ended_by: Option<String>,
}

impl ModRecord {
    fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    fn applies_to(&self, place: Option<u64>) -> bool {
        match (self.place_id, place) {
            (None, _) => true,
            (Some(p), Some(q)) => p == q,
            (Some(_), None) => false,
        }
    }
}

type IndexKey = (GuildId, ModKind, Identifier);

/// The hot path's view of active records.
#[derive(Debug, Default)]
pub struct ModIndex {
    active: RwLock<HashMap<IndexKey, Vec<Arc<ModRecord>>>>,
    write_locks: parking_lot::Mutex<HashMap<GuildId, Arc<tokio::sync::Mutex<()>>>>,
}

impl ModIndex {
    fn insert(&self, r: ModRecord) {
        let mut m = self.active.write();
        m.entry((r.guild, r.kind, r.identifier))
            .or_default()
            .push(Arc::new(r));
    }

    fn remove(&self, guild: GuildId, kind: ModKind, ident: Identifier, ids: &[u64]) {
        let mut m = self.active.write();
        if let Some(v) = m.get_mut(&(guild, kind, ident)) {
            v.retain(|r| !ids.contains(&r.id));
            if v.is_empty() {
                m.remove(&(guild, kind, ident));
            }
        }
    }

    fn lock_for(&self, guild: GuildId) -> Arc<tokio::sync::Mutex<()>> {
        self.write_locks
            .lock()
            .entry(guild)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    }

    /// The most recent active record for `ident` that applies to `place` at `now`.
    pub fn check(
        &self,
        guild: GuildId,
        kind: ModKind,
        ident: Identifier,
        place: Option<u64>,
        now: DateTime<Utc>,
    ) -> Option<Arc<ModRecord>> {
        let m = self.active.read();
        m.get(&(guild, kind, ident))?
            .iter()
            .filter(|r| r.active_at(now) && r.applies_to(place))
            .max_by_key(|r| r.id)
            .cloned()
    }

    /// Every active record of a kind in a guild, oldest first.
    pub fn active(&self, guild: GuildId, kind: ModKind, now: DateTime<Utc>) -> Vec<Arc<ModRecord>> {
        let m = self.active.read();
        let mut out: Vec<_> = m
            .iter()
            .filter(|((g, k, _), _)| *g == guild && *k == kind)
            .flat_map(|(_, v)| v.iter().filter(|r| r.active_at(now)).cloned())
            .collect();
        out.sort_by_key(|r| r.id);
        out
    }

    /// Number of active records (for metrics).
    pub fn len(&self) -> usize {
        self.active.read().values().map(Vec::len).sum()
    }

    /// Whether nothing is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads every record that has not ended into the index (at start-up).
pub fn load_index(ctx: &Ctx) -> Result<usize, CoreError> {
    let mut n = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let batch = ctx.store.scan_json::<ModRecord>(
            Tree::Moderation,
            &[],
            after.as_deref(),
            1000,
            false,
        )?;
        if batch.is_empty() {
            return Ok(n);
        }
        for (_, r) in &batch {
            if r.ended_at.is_none() {
                ctx.moderation.insert(r.clone());
                n += 1;
            }
        }
        after = batch.last().map(|(k, _)| k.clone());
    }
}

fn record_key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

/// A new ban or mute.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Guild.
    pub guild: GuildId,
    /// Ban or mute.
    pub kind: ModKind,
    /// Whom.
    pub identifier: Identifier,
    /// Why.
    pub reason: String,
    /// Who.
    pub moderator_id: Option<String>,
    /// For how long (`None`: permanent).
    pub duration: Option<std::time::Duration>,
    /// Only this place.
    pub place_id: Option<u64>,
    /// Where it came from.
    pub source: Source,
}

/// The longest duration accepted: ten years.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

fn validate(n: &NewRecord) -> Result<(), CoreError> {
    if n.reason.chars().count() > 1000 {
        return Err(CoreError::invalid(
            "reason",
            "must be at most 1000 characters",
        ));
    }
    if n.moderator_id
        .as_ref()
        .is_some_and(|m| m.is_empty() || m.len() > 64)
    {
        return Err(CoreError::invalid(
            "moderator_id",
            "must be 1 to 64 characters",
        ));
    }
    if let Some(d) = n.duration
        && (d.is_zero() || d > MAX_DURATION)
    {
        return Err(CoreError::invalid(
            "duration_seconds",
            "must be a positive number of seconds up to ten years, or null for permanent",
        ));
    }
    if n.place_id == Some(0) {
        return Err(CoreError::invalid("place_id", "must be a positive integer"));
    }
    Ok(())
}

fn guild_record(ctx: &Ctx, guild: GuildId) -> Result<GuildRecord, CoreError> {
    guilds::get(ctx, guild)?.ok_or_else(|| CoreError::NotFound(format!("guild {guild}")))
}

/// Records a ban or mute with all its side effects; answers only once it is durable and visible
/// to status checks.
pub async fn create(ctx: &Ctx, n: NewRecord) -> Result<ModRecord, CoreError> {
    validate(&n)?;
    let guild = guild_record(ctx, n.guild)?;
    let lock = ctx.moderation.lock_for(n.guild);
    let _held = lock.lock().await;
    let now = ctx.clock.now();
    let id = ctx.store.next_id()?;
    let audit_id = ctx.store.next_id()?;
    let record = ModRecord {
        id,
        guild: n.guild,
        kind: n.kind,
        identifier: n.identifier,
        reason: n.reason.clone(),
        moderator_id: n.moderator_id.clone(),
        created_at: now,
        expires_at: n
            .duration
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now + d),
        place_id: n.place_id,
        source: n.source,
        ended_at: None,
        ended_by: None,
    };
    // Commands for live servers (a Roblox user only: game servers know Roblox ids).
    let command = match (n.kind, n.identifier) {
        (ModKind::Ban, Identifier::Roblox(u)) => Some(CommandSpec {
            kind: "kick".into(),
            target_id: Some(u.to_string()),
            reason: Some(n.reason.clone()),
            data: Some(json!({"ban_id": id})),
            ttl: None,
        }),
        (ModKind::Mute, Identifier::Roblox(u)) => Some(CommandSpec {
            kind: "mute".into(),
            target_id: Some(u.to_string()),
            reason: Some(n.reason.clone()),
            data: Some(json!({"mute_id": id, "expires_at": WholeSeconds::opt(record.expires_at)})),
            ttl: None,
        }),
        _ => None,
    };
    let audience = match n.place_id {
        Some(p) => Audience::Place(p),
        None => Audience::Guild,
    };
    let targets = if command.is_some() {
        servers::resolve(ctx, n.guild, audience)
    } else {
        Vec::new()
    };
    let seqs = targets
        .iter()
        .map(|_| ctx.store.next_id())
        .collect::<Result<Vec<_>, _>>()?;
    // A Roblox experience ban, where configured.
    let restrict = match (n.kind, n.identifier, &guild.moderation.open_cloud_key) {
        (ModKind::Ban, Identifier::Roblox(user), Some(key))
            if !guild.moderation.roblox_universes.is_empty() =>
        {
            Some(RestrictJob {
                guild: n.guild,
                user,
                universes: guild.moderation.roblox_universes.clone(),
                active: true,
                duration_seconds: n.duration.map(|d| d.as_secs()),
                reason: n.reason.clone(),
                credential: key.clone(),
                record_id: id,
            })
        }
        _ => None,
    };
    let mut jobs: Vec<NewJob> = restrict
        .as_ref()
        .map(|r| {
            ctx.jobs
                .job::<RobloxRestrict>(Tenant::Guild(n.guild), r, json!({"recordId": id}), now)
        })
        .into_iter()
        .collect();
    if n.kind == ModKind::Ban {
        jobs.extend(discord_ban_job(
            ctx,
            &guild,
            n.identifier,
            true,
            &n.reason,
            id,
            now,
        ));
    }
    let ttl = ctx.config.servers.command_ttl;
    let activity = crate::staff::activity::prepare_moderation(
        ctx,
        n.guild,
        n.moderator_id.as_deref(),
        n.kind.as_str(),
        &n.identifier.to_string(),
    )?;
    let commands = ctx.commit(|tx, staging| {
        tx.put_json(Tree::Moderation, &record_key(n.guild, id), &record)?;
        if let Some(a) = &activity {
            a.write(tx)?;
        }
        audit::append_in(
            tx,
            Tenant::Guild(n.guild),
            &AuditEntry {
                id: audit_id,
                action: format!("{}.create", n.kind.as_str()),
                actor_id: n.moderator_id.clone(),
                target_id: Some(n.identifier.to_string()),
                metadata: json!({
                    "id": id,
                    "reason": n.reason,
                    "duration_seconds": n.duration.map(|d| d.as_secs()),
                    "expires_at": WholeSeconds::opt(record.expires_at),
                    "place_id": n.place_id,
                    "source": n.source,
                    "identifier_kind": match n.identifier { Identifier::Roblox(_) => "roblox", Identifier::Discord(_) => "discord" },
                    "servers_notified": targets.len(),
                }),
                created_at: now,
            },
        )?;
        for job in &jobs {
            staging.stage(tx, job)?;
        }
        match &command {
            Some(spec) => servers::enqueue_in(tx, n.guild, &targets, &seqs, spec, now, ttl),
            None => Ok(Vec::new()),
        }
    }).await?;
    ctx.moderation.insert(record.clone());
    for c in &commands {
        ctx.servers.wake(n.guild, &c.server_id);
    }
    ctx.servers.broadcast(
        n.guild,
        json!({"type": format!("moderation.{}", n.kind.as_str()), "data": {
            "id": id, "identifier": n.identifier.to_string(), "reason": n.reason,
            "expires_at": WholeSeconds::opt(record.expires_at), "place_id": n.place_id,
        }}),
    );
    metrics::counter!("roster_moderation_actions_total", "action" => format!("{}.create", n.kind.as_str())).increment(1);
    Ok(record)
}

/// Ends the active records of a kind for an identifier (all of them, or those of one place).
/// Returns the records ended (empty when there were none).
pub async fn revoke(
    ctx: &Ctx,
    guild: GuildId,
    kind: ModKind,
    identifier: Identifier,
    place_id: Option<u64>,
    moderator_id: Option<String>,
    source: Source,
) -> Result<Vec<ModRecord>, CoreError> {
    if moderator_id
        .as_ref()
        .is_some_and(|m| m.is_empty() || m.len() > 64)
    {
        return Err(CoreError::invalid(
            "moderator_id",
            "must be 1 to 64 characters",
        ));
    }
    let g = guild_record(ctx, guild)?;
    let lock = ctx.moderation.lock_for(guild);
    let _held = lock.lock().await;
    let now = ctx.clock.now();
    let targets: Vec<Arc<ModRecord>> = {
        let m = ctx.moderation.active.read();
        m.get(&(guild, kind, identifier))
            .map(|v| {
                v.iter()
                    .filter(|r| r.active_at(now) && place_id.is_none_or(|p| r.place_id == Some(p)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let audit_id = ctx.store.next_id()?;
    let mut lift: Vec<NewJob> = match (kind, identifier, &g.moderation.open_cloud_key) {
        (ModKind::Ban, Identifier::Roblox(user), Some(key))
            if !g.moderation.roblox_universes.is_empty() =>
        {
            Some(ctx.jobs.job::<RobloxRestrict>(
                Tenant::Guild(guild),
                &RestrictJob {
                    guild,
                    user,
                    universes: g.moderation.roblox_universes.clone(),
                    active: false,
                    duration_seconds: None,
                    reason: String::new(),
                    credential: key.clone(),
                    record_id: targets[0].id,
                },
                json!({"recordId": targets[0].id}),
                now,
            ))
        }
        _ => None,
    }
    .into_iter()
    .collect();
    if kind == ModKind::Ban {
        lift.extend(discord_ban_job(
            ctx,
            &g,
            identifier,
            false,
            "ban revoked",
            targets[0].id,
            now,
        ));
    }
    let unmute = match (kind, identifier) {
        (ModKind::Mute, Identifier::Roblox(u)) => Some(CommandSpec {
            kind: "unmute".into(),
            target_id: Some(u.to_string()),
            reason: None,
            data: None,
            ttl: None,
        }),
        _ => None,
    };
    let servers_to_tell = if unmute.is_some() {
        servers::resolve(ctx, guild, Audience::Guild)
    } else {
        Vec::new()
    };
    let seqs = servers_to_tell
        .iter()
        .map(|_| ctx.store.next_id())
        .collect::<Result<Vec<_>, _>>()?;
    let ttl = ctx.config.servers.command_ttl;
    let activity = crate::staff::activity::prepare_moderation(
        ctx,
        guild,
        moderator_id.as_deref(),
        &format!("un{}", kind.as_str()),
        &identifier.to_string(),
    )?;
    let (ended, commands) = ctx
        .commit(|tx, staging| {
            let mut ended = Vec::new();
            if let Some(a) = &activity {
                a.write(tx)?;
            }
            for t in &targets {
                let k = record_key(guild, t.id);
                if let Some(mut r) = tx.get_json::<ModRecord>(Tree::Moderation, &k)?
                    && r.ended_at.is_none()
                {
                    r.ended_at = Some(now);
                    r.ended_by = Some("revoked".into());
                    tx.put_json(Tree::Moderation, &k, &r)?;
                    ended.push(r);
                }
            }
            audit::append_in(
                tx,
                Tenant::Guild(guild),
                &AuditEntry {
                    id: audit_id,
                    action: format!("{}.delete", kind.as_str()),
                    actor_id: moderator_id.clone(),
                    target_id: Some(identifier.to_string()),
                    metadata: json!({
                        "ids": ended.iter().map(|r| r.id).collect::<Vec<_>>(),
                        "place_id": place_id,
                        "source": source,
                    }),
                    created_at: now,
                },
            )?;
            for job in &lift {
                staging.stage(tx, job)?;
            }
            let cmds = match &unmute {
                Some(spec) => {
                    servers::enqueue_in(tx, guild, &servers_to_tell, &seqs, spec, now, ttl)?
                }
                None => Vec::new(),
            };
            Ok((ended, cmds))
        })
        .await?;
    let ids: Vec<u64> = ended.iter().map(|r| r.id).collect();
    ctx.moderation.remove(guild, kind, identifier, &ids);
    for c in &commands {
        ctx.servers.wake(guild, &c.server_id);
    }
    ctx.servers.broadcast(
        guild,
        json!({"type": format!("moderation.un{}", kind.as_str()), "data": {"identifier": identifier.to_string()}}),
    );
    metrics::counter!("roster_moderation_actions_total", "action" => format!("{}.delete", kind.as_str())).increment(1);
    Ok(ended)
}

/// The Discord ban (or unban) mirroring a guild ban of a Discord user, when the guild asks for
/// it (`banInDiscord`).
fn discord_ban_job(
    ctx: &Ctx,
    g: &GuildRecord,
    identifier: Identifier,
    active: bool,
    reason: &str,
    record_id: u64,
    now: DateTime<Utc>,
) -> Option<NewJob> {
    let Identifier::Discord(user) = identifier else {
        return None;
    };
    if !g.discord.ban_in_discord {
        return None;
    }
    let payload = crate::jobs::discord::DiscordBanJob {
        target: crate::jobs::discord::DiscordTarget::of(g),
        user_id: user,
        active,
        reason: reason.to_owned(),
        record_id,
    };
    Some(ctx.jobs.job::<DiscordBan>(
        Tenant::Guild(g.id),
        &payload,
        json!({"recordId": record_id}),
        now,
    ))
}

/// Records the end of every expired record (with an audit entry each) and drops it from the
/// index. Idempotent: an already-ended record is skipped.
pub async fn expire(ctx: &Ctx) -> Result<u64, CoreError> {
    let now = ctx.clock.now();
    let expired: Vec<Arc<ModRecord>> = ctx
        .moderation
        .active
        .read()
        .values()
        .flat_map(|v| {
            v.iter()
                .filter(|r| r.expires_at.is_some_and(|e| e <= now))
                .cloned()
        })
        .collect();
    let mut n = 0;
    for r in expired {
        let lock = ctx.moderation.lock_for(r.guild);
        let _held = lock.lock().await;
        let audit_id = ctx.store.next_id()?;
        let k = record_key(r.guild, r.id);
        // A timed Discord ban mirrored in Discord is lifted there too (Discord bans do not
        // expire by themselves).
        let unban = match (r.kind, guilds::get(ctx, r.guild)?) {
            (ModKind::Ban, Some(g)) => {
                discord_ban_job(ctx, &g, r.identifier, false, "ban expired", r.id, now)
            }
            _ => None,
        };
        let ended = ctx
            .commit(|tx, staging| {
                let Some(mut cur) = tx.get_json::<ModRecord>(Tree::Moderation, &k)? else {
                    staging.unchanged();
                    return Ok(false);
                };
                if cur.ended_at.is_some() {
                    staging.unchanged();
                    return Ok(false);
                }
                cur.ended_at = Some(now);
                cur.ended_by = Some("expired".into());
                tx.put_json(Tree::Moderation, &k, &cur)?;
                audit::append_in(
                    tx,
                    Tenant::Guild(r.guild),
                    &AuditEntry {
                        id: audit_id,
                        action: format!("{}.expire", r.kind.as_str()),
                        actor_id: None,
                        target_id: Some(r.identifier.to_string()),
                        metadata: json!({"id": r.id, "expires_at": WholeSeconds::opt(r.expires_at)}),
                        created_at: now,
                    },
                )?;
                if let Some(job) = &unban {
                    staging.stage(tx, job)?;
                }
                Ok(true)
            })
            .await?;
        ctx.moderation
            .remove(r.guild, r.kind, r.identifier, &[r.id]);
        if ended {
            n += 1;
            if r.kind == ModKind::Mute
                && let Identifier::Roblox(u) = r.identifier
            {
                // Tell live servers; Roblox's own restriction carries its duration, so an expiring
                // ban needs no job.
                let _ = servers::enqueue(
                    ctx,
                    r.guild,
                    Audience::Guild,
                    CommandSpec {
                        kind: "unmute".into(),
                        target_id: Some(u.to_string()),
                        reason: Some("mute expired".into()),
                        data: None,
                        ttl: None,
                    },
                )
                .await;
            }
            ctx.servers.broadcast(
                r.guild,
                json!({"type": format!("moderation.un{}", r.kind.as_str()), "data": {"identifier": r.identifier.to_string(), "expired": true}}),
            );
        }
    }
    Ok(n)
}
