//! Staff records of the guild API (`../shared/reference/guild-api.txt`, "Staff: Strikes" and
//! "Staff: Notes"): strikes with a lifetime per severity, and notes, per guild and staff member
//! (Discord id). Leave of absence is [`crate::leave`], shared with the community API.
//!
//! A strike is active until it is removed, or until it expires: its status follows
//! `expires_at` and the clock; the strike sweep (and `POST …/staff/strikes/expire`) records the
//! expiry with an audit entry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub mod activity;
pub mod members;
pub mod quota;

pub use members::StaffIndex;

use crate::audit::{self, AuditEntry, Tenant};
use crate::community::CommunityError;
use crate::context::Ctx;
use crate::ids::GuildId;
use crate::store::{StoreExt, Tree, TxnExt, keys};

/// Severities a strike may have.
pub const SEVERITIES: std::ops::RangeInclusive<u8> = 1..=3;

/// How long a strike of each severity lasts unless given its own `expires_at`: 30, 90 and 180
/// days.
pub fn default_lifetime(severity: u8) -> Duration {
    Duration::days(match severity {
        1 => 30,
        2 => 90,
        _ => 180,
    })
}

/// One strike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strike {
    /// Id.
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// The staff member (Discord id).
    pub staff_id: u64,
    /// Why.
    pub reason: String,
    /// 1 to 3.
    pub severity: u8,
    /// When it stops counting; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was removed (plain PATCH), if it was.
    #[serde(default)]
    pub removed_at: Option<DateTime<Utc>>,
    /// When the expiry was recorded.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
    /// Who issued it (an API key id).
    pub issued_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Strike {
    /// Whether it counts at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.removed_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// One note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// Id.
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// The staff member it is about (Discord id).
    pub staff_id: u64,
    /// The text.
    pub body: String,
    /// Who wrote it (a Discord id given by the caller, else the API key id).
    pub author_id: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

/// A guild's records in `tree` (keyed guild ‖ id) by id, after `after`, at most `limit`.
pub(crate) fn guild_page<T: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    tree: Tree,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<T>, CommunityError> {
    let after = after.map(|a| key(guild, a));
    Ok(ctx
        .store
        .scan_json::<T>(
            tree,
            &guild.to_be_bytes(),
            after.as_ref().map(|k| &k[..]),
            limit,
            false,
        )?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Walks one guild's records in `tree` (or every guild's) and marks each that `due` says is due,
/// in its own transaction (checked again on the stored value): `mark` changes it and returns its
/// audit entry's tenant, action and target. Returns how many were marked; flushed once.
pub(crate) async fn mark_due<T: serde::Serialize + serde::de::DeserializeOwned>(
    ctx: &Ctx,
    tree: Tree,
    guild: Option<GuildId>,
    due: impl Fn(&T) -> bool,
    mark: impl Fn(&mut T) -> (GuildId, &'static str, u64, serde_json::Value),
) -> Result<u64, CommunityError> {
    let now = ctx.clock.now();
    let prefix: Vec<u8> = guild.map(|g| g.to_be_bytes().to_vec()).unwrap_or_default();
    let mut after: Option<Vec<u8>> = None;
    let mut marked = 0;
    loop {
        let page = ctx
            .store
            .scan_json::<T>(tree, &prefix, after.as_deref(), 1000, false)?;
        let full = page.len() == 1000;
        for (k, v) in &page {
            if !due(v) {
                continue;
            }
            let audit_id = ctx.store.next_id()?;
            let done = ctx.store.transact(|tx| {
                let Some(mut cur) = tx.get_json::<T>(tree, k)? else {
                    return Ok(false);
                };
                if !due(&cur) {
                    return Ok(false);
                }
                let (g, action, target, meta) = mark(&mut cur);
                tx.put_json(tree, k, &cur)?;
                audit::append_in(
                    tx,
                    Tenant::Guild(g),
                    &entry(audit_id, action, "roster", target, meta, now),
                )?;
                Ok(true)
            })?;
            marked += u64::from(done);
        }
        match page.last() {
            Some((k, _)) if full => after = Some(k.clone()),
            _ => break,
        }
    }
    if marked > 0 {
        ctx.store.durable().await?;
    }
    Ok(marked)
}

fn entry(
    id: u64,
    action: &str,
    actor: &str,
    staff: u64,
    metadata: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(id, action, actor, staff, metadata, now)
}

fn not_found(what: &str, id: u64) -> CommunityError {
    CommunityError::NotFound {
        code: "NOT_FOUND",
        message: format!("{what} {id} not found"),
    }
}

/// Checks a text field: 1 to `max` characters.
pub fn text(field: &'static str, s: &str, max: usize) -> Result<String, CommunityError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(CommunityError::Invalid {
            field,
            message: format!("must be 1 to {max} characters"),
        });
    }
    Ok(t.to_owned())
}

fn severity(s: u8) -> Result<u8, CommunityError> {
    if SEVERITIES.contains(&s) {
        Ok(s)
    } else {
        Err(CommunityError::Invalid {
            field: "severity",
            message: "must be 1, 2 or 3".into(),
        })
    }
}

/// A guild's strikes by id, after `after`, at most `limit`.
pub fn strikes(
    ctx: &Ctx,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Strike>, CommunityError> {
    guild_page(ctx, Tree::StaffStrikes, guild, after, limit)
}

/// A new strike.
#[derive(Debug, Clone)]
pub struct NewStrike {
    /// The staff member.
    pub staff_id: u64,
    /// Why.
    pub reason: String,
    /// 1 to 3.
    pub severity: u8,
    /// Its own expiry; the severity's default lifetime when `None`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Issues a strike.
pub async fn strike(
    ctx: &Ctx,
    guild: GuildId,
    new: NewStrike,
    actor: &str,
) -> Result<Strike, CommunityError> {
    let reason = text("reason", &new.reason, 500)?;
    let sev = severity(new.severity)?;
    let now = ctx.clock.now();
    if let Some(e) = new.expires_at
        && e <= now
    {
        return Err(CommunityError::Invalid {
            field: "expires_at",
            message: "must be in the future".into(),
        });
    }
    let s = Strike {
        id: ctx.store.next_id()?,
        guild,
        staff_id: new.staff_id,
        reason,
        severity: sev,
        expires_at: Some(new.expires_at.unwrap_or(now + default_lifetime(sev))),
        removed_at: None,
        expired_at: None,
        issued_by: actor.to_owned(),
        created_at: now,
    };
    let settings = members::settings(ctx, guild)?;
    let threshold = match &settings.strike_action {
        Some(a) => {
            let active = all_strikes(ctx, guild)?
                .iter()
                .filter(|x| x.staff_id == s.staff_id && x.active(now))
                .count();
            (u32::try_from(active + 1).unwrap_or(u32::MAX) == a.at).then(|| a.clone())
        }
        None => None,
    };
    let audit_id = ctx.store.next_id()?;
    let review_id = ctx.store.next_id()?;
    ctx.store.transact(|tx| {
        strike_in(tx, &s, audit_id, actor, now)?;
        if let Some(a) = threshold.as_ref().filter(|a| a.action == "review") {
            quota::put_pending_in(
                tx,
                &quota::PendingAction {
                    id: review_id,
                    guild,
                    staff_id: s.staff_id,
                    action_type: "review".into(),
                    reason: format!("{} active strikes (latest: {})", a.at, s.reason),
                    quota_id: None,
                    period_start: None,
                    period_end: None,
                    current: None,
                    target: None,
                    status: "pending".into(),
                    submitted_at: now,
                    decided_at: None,
                    decided_by: None,
                    applied: None,
                },
            )?;
        }
        Ok(())
    })?;
    ctx.store.durable().await?;
    if threshold.as_ref().is_some_and(|a| a.action == "demote") {
        strike_demotion(ctx, &s, actor).await?;
    }
    Ok(s)
}

/// Every strike of a guild.
fn all_strikes(ctx: &Ctx, guild: GuildId) -> Result<Vec<Strike>, CommunityError> {
    let mut out: Vec<Strike> = Vec::new();
    loop {
        let page = strikes(ctx, guild, out.last().map(|s| s.id), 1000)?;
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            return Ok(out);
        }
    }
}

/// Writes a strike and its audit entry.
pub(crate) fn strike_in(
    tx: &dyn crate::store::Txn,
    s: &Strike,
    audit_id: u64,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    tx.put_json(Tree::StaffStrikes, &key(s.guild, s.id), s)?;
    audit::append_in(
        tx,
        Tenant::Guild(s.guild),
        &entry(
            audit_id,
            "strike.create",
            actor,
            s.staff_id,
            serde_json::json!({"strikeId": s.id, "severity": s.severity, "reason": s.reason}),
            now,
        ),
    )
}

/// The demotion a strike threshold asks for: one rank down in the guild's main group for the
/// member's linked Roblox account, through the ranking job path (its rules, guard, blacklist and
/// audit apply; the strike id is the idempotency key). What happened is audited
/// (`strike.action`); a demotion that cannot be made does not undo the strike.
async fn strike_demotion(ctx: &Ctx, s: &Strike, actor: &str) -> Result<(), CommunityError> {
    use crate::jobs::ranking::RankOp;
    use crate::ranking::{RankRequest, Submitted};
    let outcome: Result<String, String> = async {
        let link = crate::links::by_discord(ctx.store.as_ref(), s.guild, s.staff_id)
            .map_err(|e| e.to_string())?
            .ok_or("the staff member has no linked Roblox account")?;
        let g = crate::guilds::get(ctx, s.guild)
            .map_err(|e| e.to_string())?
            .ok_or("the guild is gone")?;
        let gid = g.discord.main_group.ok_or("the guild has no main group")?;
        let group = crate::groups::get(ctx, gid)
            .map_err(|e| e.to_string())?
            .ok_or("the main group is not registered with this Roster")?;
        let user = crate::ids::RobloxUserId::new(link.roblox_id).map_err(|e| e.to_string())?;
        let sub = crate::ranking::submit_for(
            ctx,
            group,
            actor,
            RankRequest {
                group: gid,
                user,
                op: RankOp::Demote,
                idempotency: Some((format!("strike-action:{}", s.id), "demote".into())),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(match sub {
            Submitted::New { job, .. } => format!("ranking job {job}"),
            Submitted::Replay(rec) => format!("ranking job {}", rec.id),
        })
    }
    .await;
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let meta = match &outcome {
        Ok(job) => serde_json::json!({"strikeId": s.id, "action": "demote", "job": job}),
        Err(why) => serde_json::json!({"strikeId": s.id, "action": "demote", "error": why}),
    };
    ctx.store.transact(|tx| {
        audit::append_in(
            tx,
            Tenant::Guild(s.guild),
            &entry(
                audit_id,
                "strike.action",
                actor,
                s.staff_id,
                meta.clone(),
                now,
            ),
        )
    })?;
    ctx.store.durable().await?;
    Ok(())
}

/// Changes to a strike.
#[derive(Debug, Clone, Default)]
pub struct StrikePatch {
    /// New reason.
    pub reason: Option<String>,
    /// New severity.
    pub severity: Option<u8>,
    /// New expiry (`Some(None)`: never).
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Remove it (it stops counting and stays in the history).
    pub remove: bool,
}

/// Edits or removes a strike.
pub async fn update_strike(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    patch: StrikePatch,
    actor: &str,
) -> Result<Strike, CommunityError> {
    let reason = patch
        .reason
        .as_deref()
        .map(|r| text("reason", r, 500))
        .transpose()?;
    let sev = patch.severity.map(severity).transpose()?;
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let done = ctx.store.transact(|tx| {
        let Some(mut s) = tx.get_json::<Strike>(Tree::StaffStrikes, &key(guild, id))? else {
            return Ok(Err(not_found("strike", id)));
        };
        if let Some(Some(e)) = patch.expires_at
            && e <= s.created_at
        {
            return Ok(Err(CommunityError::Invalid {
                field: "expires_at",
                message: "must be after the strike was issued".into(),
            }));
        }
        if patch.remove {
            if s.removed_at.is_none() {
                s.removed_at = Some(now);
            }
        } else {
            if let Some(r) = &reason {
                s.reason.clone_from(r);
            }
            if let Some(v) = sev {
                s.severity = v;
            }
            if let Some(e) = patch.expires_at {
                s.expires_at = e;
                s.expired_at = None;
            }
        }
        tx.put_json(Tree::StaffStrikes, &key(guild, id), &s)?;
        let action = if patch.remove {
            "strike.remove"
        } else {
            "strike.update"
        };
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(
                audit_id,
                action,
                actor,
                s.staff_id,
                serde_json::json!({"strikeId": id}),
                now,
            ),
        )?;
        Ok(Ok(s))
    })??;
    ctx.store.durable().await?;
    Ok(done)
}

/// Deletes a strike.
pub async fn delete_strike(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    actor: &str,
) -> Result<(), CommunityError> {
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let found = ctx.store.transact(|tx| {
        let Some(s) = tx.get_json::<Strike>(Tree::StaffStrikes, &key(guild, id))? else {
            return Ok(false);
        };
        tx.remove(Tree::StaffStrikes, &key(guild, id))?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(
                audit_id,
                "strike.delete",
                actor,
                s.staff_id,
                serde_json::json!({"strikeId": id}),
                now,
            ),
        )?;
        Ok(true)
    })?;
    if !found {
        return Err(not_found("strike", id));
    }
    ctx.store.durable().await?;
    Ok(())
}

/// Records the expiry of strikes past their `expires_at` (one guild's, or every guild's for the
/// sweep), with a `strike.expire` audit entry each. Returns how many.
pub async fn expire_strikes(ctx: &Ctx, guild: Option<GuildId>) -> Result<u64, CommunityError> {
    let now = ctx.clock.now();
    mark_due(
        ctx,
        Tree::StaffStrikes,
        guild,
        |s: &Strike| s.expired_at.is_none() && s.removed_at.is_none() && !s.active(now),
        |s| {
            s.expired_at = Some(now);
            (
                s.guild,
                "strike.expire",
                s.staff_id,
                serde_json::json!({"strikeId": s.id}),
            )
        },
    )
    .await
}

/// A guild's notes by id, after `after`, at most `limit`.
pub fn notes(
    ctx: &Ctx,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Note>, CommunityError> {
    guild_page(ctx, Tree::StaffNotes, guild, after, limit)
}

/// Writes a note.
pub async fn note(
    ctx: &Ctx,
    guild: GuildId,
    staff_id: u64,
    body: &str,
    author: &str,
) -> Result<Note, CommunityError> {
    let body = text("body", body, 2000)?;
    let now = ctx.clock.now();
    let n = Note {
        id: ctx.store.next_id()?,
        guild,
        staff_id,
        body,
        author_id: author.to_owned(),
        created_at: now,
        updated_at: None,
    };
    let audit_id = ctx.store.next_id()?;
    ctx.store
        .transact(|tx| note_in(tx, &n, audit_id, author, now))?;
    ctx.store.durable().await?;
    Ok(n)
}

/// Writes a note and its audit entry.
pub(crate) fn note_in(
    tx: &dyn crate::store::Txn,
    n: &Note,
    audit_id: u64,
    author: &str,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    tx.put_json(Tree::StaffNotes, &key(n.guild, n.id), n)?;
    audit::append_in(
        tx,
        Tenant::Guild(n.guild),
        &entry(
            audit_id,
            "note.create",
            author,
            n.staff_id,
            serde_json::json!({"noteId": n.id}),
            now,
        ),
    )
}

/// Edits a note's text, or deletes it (`body: None`).
pub async fn edit_note(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    body: Option<&str>,
    actor: &str,
) -> Result<Option<Note>, CommunityError> {
    let body = body.map(|b| text("body", b, 2000)).transpose()?;
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let out = ctx.store.transact(|tx| {
        let Some(mut n) = tx.get_json::<Note>(Tree::StaffNotes, &key(guild, id))? else {
            return Ok(Err(()));
        };
        let action = match &body {
            Some(b) => {
                n.body.clone_from(b);
                n.updated_at = Some(now);
                tx.put_json(Tree::StaffNotes, &key(guild, id), &n)?;
                "note.update"
            }
            None => {
                tx.remove(Tree::StaffNotes, &key(guild, id))?;
                "note.delete"
            }
        };
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(
                audit_id,
                action,
                actor,
                n.staff_id,
                serde_json::json!({"noteId": id}),
                now,
            ),
        )?;
        Ok(Ok(body.as_ref().map(|_| n)))
    })?;
    let n = out.map_err(|()| not_found("note", id))?;
    ctx.store.durable().await?;
    Ok(n)
}

// ── in-game sessions ────────────────────────────────────────────────────────────────────────

/// A staff member's time in a game server: started, kept alive by heartbeats, ended by the game
/// or, when its server stops heartbeating, closed **at its last heartbeat** (so a crashed server
/// credits no time nobody worked). Reads never count a silent session past its last heartbeat,
/// whether or not the sweep has closed it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `sess_…`.
    pub id: String,
    /// Guild.
    pub guild: GuildId,
    /// The staff member's Roblox account.
    pub roblox_id: u64,
    /// The staff member (Discord id) the account was linked to at the start.
    #[serde(default)]
    pub staff_id: Option<u64>,
    /// The place.
    pub place_id: Option<u64>,
    /// The game server (`JobId`).
    pub server_id: String,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// The last sign of life (start or heartbeat).
    pub last_heartbeat: DateTime<Utc>,
    /// Ended (by the game, or at the last heartbeat when the server went silent).
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// `ended` (the game ended it) or `timed_out` (closed at its last heartbeat).
    #[serde(default)]
    pub end_reason: Option<String>,
}

impl Session {
    /// Whether it is still alive at `now`, given the silence allowed.
    pub fn alive(&self, now: DateTime<Utc>, timeout: Duration) -> bool {
        self.ended_at.is_none() && now - self.last_heartbeat <= timeout
    }

    /// When it ended, or would have if it is silent, or `None` while alive.
    pub fn end(&self, now: DateTime<Utc>, timeout: Duration) -> Option<DateTime<Utc>> {
        self.ended_at
            .or_else(|| (now - self.last_heartbeat > timeout).then_some(self.last_heartbeat))
    }

    /// Seconds worked: to its end, or to now while alive.
    pub fn seconds(&self, now: DateTime<Utc>, timeout: Duration) -> i64 {
        let end = self.end(now, timeout).unwrap_or(now);
        (end - self.started_at).num_seconds().max(0)
    }
}

fn session_key(id: &str) -> Option<[u8; 16]> {
    let raw = id.strip_prefix("sess_")?;
    ulid::Ulid::from_string(raw).ok().map(|u| u.to_bytes())
}

/// The silence after which a session is over: `servers.dead_after`.
pub fn session_timeout(ctx: &Ctx) -> Duration {
    Duration::from_std(ctx.config.servers.dead_after).unwrap_or(Duration::seconds(90))
}

/// A Roblox account that is not a staff member's.
pub fn not_staff(roblox_id: u64) -> CommunityError {
    CommunityError::NotFound {
        code: "NOT_STAFF",
        message: format!(
            "Roblox user {roblox_id} is not staff here (staff hold a staff role in the Discord server and have linked this Roblox account)"
        ),
    }
}

/// Credits a session that just closed to its staff member's counters.
fn credit_in(tx: &dyn crate::store::Txn, s: &Session) -> Result<(), crate::store::StoreError> {
    let (Some(staff), Some(end)) = (s.staff_id, s.ended_at) else {
        return Ok(());
    };
    let settings: members::StaffSettings = tx
        .get_json(Tree::StaffSettings, &s.guild.to_be_bytes())?
        .unwrap_or_default();
    activity::credit_session_in(
        tx,
        &activity::Calendar::of(&settings),
        s.guild,
        staff,
        s.started_at,
        end,
    )
}

fn unknown_session(id: &str) -> CommunityError {
    CommunityError::NotFound {
        code: "NOT_FOUND",
        message: format!("session {id:?} not found"),
    }
}

/// Starts a session (durable). A member already in a live session on the same server gets that
/// session back (a game that calls start twice does not double-count).
pub async fn start_session(
    ctx: &Ctx,
    guild: GuildId,
    roblox_id: u64,
    place_id: Option<u64>,
    server_id: &str,
) -> Result<Session, CommunityError> {
    let server = text("server_id", server_id, 100)?;
    let staff = ctx.staff.guild(ctx, guild)?;
    let Some(member) = staff.by_roblox(roblox_id) else {
        return Err(not_staff(roblox_id));
    };
    let staff_id = Some(member.discord_id);
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    let by_member = keys::cat(&keys::pair(guild.get(), roblox_id), server.as_bytes());
    let ulid = ulid::Ulid::generate();
    let fresh = Session {
        id: format!("sess_{ulid}"),
        guild,
        roblox_id,
        staff_id,
        place_id,
        server_id: server,
        started_at: now,
        last_heartbeat: now,
        ended_at: None,
        end_reason: None,
    };
    let s = ctx.store.transact(|tx| {
        if let Some(existing) = tx.get(Tree::OpenSessions, &by_member)?
            && let Ok(k) = <[u8; 16]>::try_from(existing.as_slice())
            && let Some(s) = tx.get_json::<Session>(Tree::StaffSessions, &k)?
            && s.alive(now, timeout)
        {
            return Ok(s);
        }
        tx.put_json(Tree::StaffSessions, &ulid.to_bytes(), &fresh)?;
        tx.insert(Tree::OpenSessions, &by_member, ulid.to_bytes().to_vec())?;
        Ok(fresh.clone())
    })?;
    ctx.store.durable().await?;
    Ok(s)
}

/// Heartbeats for sessions of `guild` (one, or a whole server's at once). Answers, per session,
/// whether it is alive; a dead or ended one stays so (the game starts a new one). Not flushed:
/// a heartbeat lost to a crash only shortens the credited time by one interval.
pub fn heartbeat(
    ctx: &Ctx,
    guild: GuildId,
    ids: &[String],
) -> Result<Vec<(String, bool)>, CommunityError> {
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    let keys: Vec<Option<[u8; 16]>> = ids.iter().map(|i| session_key(i)).collect();
    Ok(ctx.store.transact(|tx| {
        let mut out = Vec::with_capacity(ids.len());
        for (id, k) in ids.iter().zip(&keys) {
            let alive = match k {
                Some(k) => match tx.get_json::<Session>(Tree::StaffSessions, k)? {
                    Some(mut s) if s.guild == guild && s.alive(now, timeout) => {
                        s.last_heartbeat = now;
                        tx.put_json(Tree::StaffSessions, k, &s)?;
                        true
                    }
                    _ => false,
                },
                None => false,
            };
            out.push((id.clone(), alive));
        }
        Ok(out)
    })?)
}

/// Ends a session (durable); a session already over keeps its end (a silent one, its last
/// heartbeat). Returns it.
pub async fn end_session(ctx: &Ctx, guild: GuildId, id: &str) -> Result<Session, CommunityError> {
    let k = session_key(id).ok_or_else(|| unknown_session(id))?;
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    let s = ctx.store.transact(|tx| {
        let Some(mut s) = tx.get_json::<Session>(Tree::StaffSessions, &k)? else {
            return Ok(None);
        };
        if s.guild != guild {
            return Ok(None);
        }
        if s.ended_at.is_none() {
            let timed_out = !s.alive(now, timeout);
            s.ended_at = s.end(now, timeout).or(Some(now));
            s.end_reason = Some(if timed_out { "timed_out" } else { "ended" }.into());
            tx.put_json(Tree::StaffSessions, &k, &s)?;
            credit_in(tx, &s)?;
            let by_member = keys::cat(
                &keys::pair(guild.get(), s.roblox_id),
                s.server_id.as_bytes(),
            );
            tx.remove(Tree::OpenSessions, &by_member)?;
        }
        Ok(Some(s))
    })?;
    let s = s.ok_or_else(|| unknown_session(id))?;
    ctx.store.durable().await?;
    Ok(s)
}

/// Closes sessions silent for longer than the timeout at their last heartbeat (the staff sweep).
/// Returns how many.
pub async fn close_silent_sessions(ctx: &Ctx) -> Result<u64, CommunityError> {
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    let mut closed = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = ctx
            .store
            .scan(Tree::OpenSessions, &[], after.as_deref(), 1000, false)?;
        let full = page.len() == 1000;
        for (member, v) in &page {
            let Ok(k) = <[u8; 16]>::try_from(v.as_slice()) else {
                continue;
            };
            let done = ctx.store.transact(|tx| {
                let Some(mut s) = tx.get_json::<Session>(Tree::StaffSessions, &k)? else {
                    tx.remove(Tree::OpenSessions, member)?;
                    return Ok(false);
                };
                if s.alive(now, timeout) {
                    return Ok(false);
                }
                if s.ended_at.is_none() {
                    s.ended_at = Some(s.last_heartbeat);
                    s.end_reason = Some("timed_out".into());
                    tx.put_json(Tree::StaffSessions, &k, &s)?;
                    credit_in(tx, &s)?;
                }
                tx.remove(Tree::OpenSessions, member)?;
                Ok(true)
            })?;
            closed += u64::from(done);
        }
        match page.last() {
            Some((k, _)) if full => after = Some(k.clone()),
            _ => break,
        }
    }
    if closed > 0 {
        ctx.store.durable().await?;
    }
    Ok(closed)
}

/// One session by id (of this guild).
pub fn session(ctx: &Ctx, guild: GuildId, id: &str) -> Result<Session, CommunityError> {
    let k = session_key(id).ok_or_else(|| unknown_session(id))?;
    ctx.store
        .get_json::<Session>(Tree::StaffSessions, &k)?
        .filter(|s| s.guild == guild)
        .ok_or_else(|| unknown_session(id))
}

/// Most bytes of a custom action's `details`, as JSON.
pub const MAX_DETAILS: usize = 4096;

/// Logs a custom action a game took in a staff session (durable). The session must be this
/// guild's; the action type one the guild may log.
pub async fn log_action(
    ctx: &Ctx,
    guild: GuildId,
    session_id: &str,
    action_type: &str,
    target_id: Option<String>,
    details: Option<serde_json::Value>,
) -> Result<activity::Action, CommunityError> {
    let s = session(ctx, guild, session_id)?;
    let staff = ctx.staff.guild(ctx, guild)?;
    let types = activity::action_types(&staff.settings);
    if !types.iter().any(|t| t == action_type) {
        return Err(CommunityError::Invalid {
            field: "action_type",
            message: format!("must be one of {}", types.join(", ")),
        });
    }
    if let Some(t) = &target_id {
        text("target_id", t, 64)?;
    }
    if details
        .as_ref()
        .is_some_and(|d| serde_json::to_vec(d).map_or(usize::MAX, |v| v.len()) > MAX_DETAILS)
    {
        return Err(CommunityError::Invalid {
            field: "details",
            message: format!("must be at most {MAX_DETAILS} bytes of JSON"),
        });
    }
    let p = activity::prepare(
        ctx,
        &staff,
        guild,
        s.staff_id,
        &s.roblox_id.to_string(),
        action_type,
        target_id,
        details,
        Some(s.id.clone()),
    )?;
    ctx.store.transact(|tx| p.write(tx))?;
    ctx.store.durable().await?;
    metrics::counter!("roster_staff_actions_total", "source" => "game").increment(1);
    Ok(p.action().clone())
}

/// A staff member's profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The member.
    pub entry: members::StaffEntry,
    /// Their role's name.
    pub role_name: String,
    /// All-time counters.
    pub totals: activity::Counters,
    /// The leave under way.
    pub open_loa: Option<crate::leave::Leave>,
    /// Active strikes.
    pub active_strikes: u64,
}

/// A staff member's profile (`None`: not staff).
pub fn profile(ctx: &Ctx, guild: GuildId, discord: u64) -> Result<Option<Profile>, CommunityError> {
    let staff = ctx.staff.guild(ctx, guild)?;
    let Some(e) = staff.get(discord) else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    let span = activity::Calendar::of(&staff.settings).span(activity::Period::All, now);
    Ok(Some(Profile {
        entry: e.clone(),
        role_name: staff.role(e).name.clone(),
        totals: activity::counters(ctx, guild, &span, discord)?,
        open_loa: crate::leave::current(ctx, guild, crate::leave::Person::Discord(discord))?,
        active_strikes: all_strikes(ctx, guild)?
            .iter()
            .filter(|x| x.staff_id == discord && x.active(now))
            .count() as u64,
    }))
}

/// Whether a staff member (by Roblox account) has a live session (on duty).
pub fn on_duty(ctx: &Ctx, guild: GuildId, roblox_id: u64) -> Result<bool, CommunityError> {
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    for (_, v) in ctx.store.scan(
        Tree::OpenSessions,
        &keys::pair(guild.get(), roblox_id),
        None,
        20,
        false,
    )? {
        let Ok(k) = <[u8; 16]>::try_from(v.as_slice()) else {
            continue;
        };
        if ctx
            .store
            .get_json::<Session>(Tree::StaffSessions, &k)?
            .is_some_and(|s| s.alive(now, timeout))
        {
            return Ok(true);
        }
    }
    Ok(false)
}
