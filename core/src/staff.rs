//! Staff records of the guild API (`../shared/reference/guild-api.txt`, "Staff: Strikes" and
//! "Staff: Notes"): strikes with a lifetime per severity, and notes, per guild and staff member
//! (Discord id). Leave of absence is [`crate::leave`], shared with the community API.
//!
//! A strike is active until it is removed, or until it expires: its status follows
//! `expires_at` and the clock; the strike sweep (and `POST …/staff/strikes/expire`) records the
//! expiry with an audit entry.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

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
    let audit_id = ctx.store.next_id()?;
    ctx.store.transact(|tx| {
        tx.put_json(Tree::StaffStrikes, &key(guild, s.id), &s)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(
                audit_id,
                "strike.create",
                actor,
                s.staff_id,
                serde_json::json!({"strikeId": s.id, "severity": s.severity, "reason": s.reason}),
                now,
            ),
        )
    })?;
    ctx.store.durable().await?;
    Ok(s)
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
    ctx.store.transact(|tx| {
        tx.put_json(Tree::StaffNotes, &key(guild, n.id), &n)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(
                audit_id,
                "note.create",
                author,
                staff_id,
                serde_json::json!({"noteId": n.id}),
                now,
            ),
        )
    })?;
    ctx.store.durable().await?;
    Ok(n)
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
    let now = ctx.clock.now();
    let timeout = session_timeout(ctx);
    let by_member = keys::cat(&keys::pair(guild.get(), roblox_id), server.as_bytes());
    let ulid = ulid::Ulid::generate();
    let fresh = Session {
        id: format!("sess_{ulid}"),
        guild,
        roblox_id,
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
