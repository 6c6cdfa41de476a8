//! Leave of absence: one model for the community API (by Roblox user, `/api/loa/*`) and the
//! staff API (by staff member, `/guilds/{guildId}/staff/loa`). A leave has a start and an end; its
//! status follows from them and the clock: `pending` before the start, `active` until the end,
//! `expired` after it, and `cancelled` once cancelled. Ending a leave early sets its end to the
//! moment it was ended. The expire sweep (and `POST …/staff/loa/expire`) marks finished leaves
//! expired with an audit entry; the status does not wait for it.
//!
//! **Whose leave**: a [`Person`], the Discord account when there is one (staff are Discord
//! members; a Roblox user linked to a Discord account in the guild is that account), else the
//! Roblox account. So a leave started in-game for a linked player and one created by staff for
//! their Discord account are the same person's, and cannot overlap.
//!
//! A person's leaves never overlap: every change reads and rewrites the person's index
//! (`LeaveByUser`), so two concurrent changes are serialized by the store and the second sees the
//! first.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::CommunityError;
use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::ids::{GuildId, RobloxUserId};
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

/// The longest leave the community API starts, in days.
pub const MAX_DAYS: u32 = 365;

/// Where a leave stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaveStatus {
    /// Starts in the future.
    Pending,
    /// Under way.
    Active,
    /// Over.
    Expired,
    /// Called off.
    Cancelled,
}

impl LeaveStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveStatus::Pending => "pending",
            LeaveStatus::Active => "active",
            LeaveStatus::Expired => "expired",
            LeaveStatus::Cancelled => "cancelled",
        }
    }
}

/// Whose leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum Person {
    /// A Discord account (staff; or a Roblox user linked to it).
    Discord(u64),
    /// A Roblox account not linked in the guild.
    Roblox(u64),
}

impl Person {
    fn key(self, guild: GuildId) -> Vec<u8> {
        let (tag, id) = match self {
            Person::Discord(d) => (b'd', d),
            Person::Roblox(r) => (b'r', r),
        };
        let mut k = Vec::with_capacity(17);
        k.extend_from_slice(&guild.to_be_bytes());
        k.push(tag);
        k.extend_from_slice(&id.to_be_bytes());
        k
    }

    /// The person a Roblox user is in a guild: their linked Discord account (the most recently
    /// verified), else the Roblox account.
    pub fn of_roblox(ctx: &Ctx, guild: GuildId, user: RobloxUserId) -> Result<Self, StoreError> {
        Ok(
            crate::links::by_roblox(ctx.store.as_ref(), guild, user.get())?
                .into_iter()
                .max_by_key(|l| l.verified_at)
                .map_or(Person::Roblox(user.get()), |l| {
                    Person::Discord(l.discord_id)
                }),
        )
    }
}

/// One leave of absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leave {
    /// Id (unique in the store).
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// Whose.
    pub person: Person,
    /// Their Roblox account, when known.
    #[serde(default)]
    pub roblox_id: Option<u64>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (the moment it was ended, when ended early).
    pub ends_at: DateTime<Utc>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who created it (an API key id).
    #[serde(default)]
    pub created_by: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When it was cancelled.
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When it was ended before its planned end.
    #[serde(default)]
    pub ended_early_at: Option<DateTime<Utc>>,
    /// When the expire sweep recorded its end.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
}

impl Leave {
    /// Its status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> LeaveStatus {
        if self.cancelled_at.is_some() {
            LeaveStatus::Cancelled
        } else if now < self.starts_at {
            LeaveStatus::Pending
        } else if now < self.ends_at {
            LeaveStatus::Active
        } else {
            LeaveStatus::Expired
        }
    }

    /// The Discord account, when the person is one.
    pub fn discord_id(&self) -> Option<u64> {
        match self.person {
            Person::Discord(d) => Some(d),
            Person::Roblox(_) => None,
        }
    }

    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.cancelled_at.is_none() && self.starts_at < end && start < self.ends_at
    }
}

fn leave_key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

fn person_leaves(tx: &dyn Txn, guild: GuildId, person: Person) -> Result<Vec<Leave>, StoreError> {
    let ids: Vec<u64> = tx
        .get_json(Tree::LeaveByUser, &person.key(guild))?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(l) = tx.get_json::<Leave>(Tree::Leave, &leave_key(guild, id))? {
            out.push(l);
        }
    }
    Ok(out)
}

/// A person's leaves, oldest first.
pub fn of_person(ctx: &Ctx, guild: GuildId, person: Person) -> Result<Vec<Leave>, CommunityError> {
    let ids: Vec<u64> = ctx
        .store
        .get_json(Tree::LeaveByUser, &person.key(guild))?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(l) = ctx
            .store
            .get_json::<Leave>(Tree::Leave, &leave_key(guild, id))?
        {
            out.push(l);
        }
    }
    Ok(out)
}

/// The person's leave under way now, if any.
pub fn current(ctx: &Ctx, guild: GuildId, person: Person) -> Result<Option<Leave>, CommunityError> {
    let now = ctx.clock.now();
    Ok(of_person(ctx, guild, person)?
        .into_iter()
        .find(|l| l.status(now) == LeaveStatus::Active))
}

/// One leave.
pub fn get(ctx: &Ctx, guild: GuildId, id: u64) -> Result<Option<Leave>, CommunityError> {
    Ok(ctx.store.get_json(Tree::Leave, &leave_key(guild, id))?)
}

/// A guild's leaves by id (creation order), after `after`, at most `limit`.
pub fn list(
    ctx: &Ctx,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Leave>, CommunityError> {
    crate::staff::guild_page(ctx, Tree::Leave, guild, after, limit)
}

/// A new leave.
#[derive(Debug, Clone)]
pub struct NewLeave {
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
}

impl NewLeave {
    /// A leave from now for `days` days (1 to [`MAX_DAYS`]).
    pub fn days_from(now: DateTime<Utc>, days: u32) -> Result<Self, CommunityError> {
        if days == 0 || days > MAX_DAYS {
            return Err(CommunityError::Invalid {
                field: "days",
                message: format!("must be a whole number of days from 1 to {MAX_DAYS}"),
            });
        }
        Ok(Self {
            starts_at: now,
            ends_at: now + Duration::days(i64::from(days)),
            reason: None,
        })
    }
}

fn entry(id: u64, action: &str, actor: &str, l: &Leave, now: DateTime<Utc>) -> AuditEntry {
    let target = match l.person {
        Person::Discord(d) => d.to_string(),
        Person::Roblox(r) => r.to_string(),
    };
    AuditEntry::new(
        id,
        action,
        actor,
        target,
        serde_json::json!({
            "leaveId": l.id,
            "robloxId": l.roblox_id,
            "startsAt": l.starts_at,
            "endsAt": l.ends_at,
        }),
        now,
    )
}

fn overlap_error(person: Person, c: &Leave, now: DateTime<Utc>) -> CommunityError {
    let who = match person {
        Person::Discord(d) => format!("Discord user {d}"),
        Person::Roblox(r) => format!("Roblox user {r}"),
    };
    let what = match c.status(now) {
        LeaveStatus::Active => "an active leave",
        _ => "a leave",
    };
    CommunityError::Conflict {
        code: "LOA_ALREADY_ACTIVE",
        message: format!(
            "{who} already has {what} (#{}) from {} to {} that this one would overlap",
            c.id,
            c.starts_at.format("%Y-%m-%d %H:%M UTC"),
            c.ends_at.format("%Y-%m-%d %H:%M UTC")
        ),
    }
}

fn check_times(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), CommunityError> {
    if end <= start {
        return Err(CommunityError::Invalid {
            field: "ends_at",
            message: "must be after starts_at".into(),
        });
    }
    if end - start > Duration::days(i64::from(MAX_DAYS)) {
        return Err(CommunityError::Invalid {
            field: "ends_at",
            message: format!("a leave lasts at most {MAX_DAYS} days"),
        });
    }
    Ok(())
}

/// Starts (or plans) a leave; refused when it overlaps one of the person's that is not
/// cancelled.
pub async fn start(
    ctx: &Ctx,
    guild: GuildId,
    person: Person,
    roblox_id: Option<u64>,
    new: NewLeave,
    actor: &str,
) -> Result<Leave, CommunityError> {
    check_times(new.starts_at, new.ends_at)?;
    let id = ctx.store.next_id()?;
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let leave = Leave {
        id,
        guild,
        person,
        roblox_id,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        reason: new.reason,
        created_by: Some(actor.to_owned()),
        created_at: now,
        cancelled_at: None,
        ended_early_at: None,
        expired_at: None,
    };
    let clash = ctx.store.transact(|tx| {
        let existing = person_leaves(tx, guild, person)?;
        if let Some(c) = existing
            .iter()
            .find(|l| l.overlaps(leave.starts_at, leave.ends_at))
        {
            return Ok(Some(c.clone()));
        }
        let mut ids: Vec<u64> = existing.iter().map(|l| l.id).collect();
        ids.push(id);
        tx.put_json(Tree::LeaveByUser, &person.key(guild), &ids)?;
        tx.put_json(Tree::Leave, &leave_key(guild, id), &leave)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(audit_id, "loa.start", actor, &leave, now),
        )?;
        Ok(None)
    })?;
    if let Some(c) = clash {
        return Err(overlap_error(person, &c, now));
    }
    ctx.store.durable().await?;
    Ok(leave)
}

/// Ends the person's active leave now.
pub async fn end_active(
    ctx: &Ctx,
    guild: GuildId,
    person: Person,
    actor: &str,
) -> Result<Leave, CommunityError> {
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let ended = ctx.store.transact(|tx| {
        let Some(mut l) = person_leaves(tx, guild, person)?
            .into_iter()
            .find(|l| l.status(now) == LeaveStatus::Active)
        else {
            return Ok(None);
        };
        l.ends_at = now;
        l.ended_early_at = Some(now);
        tx.put_json(Tree::Leave, &leave_key(guild, l.id), &l)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(audit_id, "loa.end", actor, &l, now),
        )?;
        Ok(Some(l))
    })?;
    let l = ended.ok_or_else(|| CommunityError::NotFound {
        code: "NO_ACTIVE_LOA",
        message: "there is no active leave to end".into(),
    })?;
    ctx.store.durable().await?;
    Ok(l)
}

/// Changes to a leave; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct LeavePatch {
    /// New start.
    pub starts_at: Option<DateTime<Utc>>,
    /// New end.
    pub ends_at: Option<DateTime<Utc>>,
    /// New reason; `Some(None)` clears it.
    pub reason: Option<Option<String>>,
    /// Cancel it.
    pub cancel: bool,
}

/// Changes a leave (times, reason) or cancels it. An expired or cancelled leave cannot change
/// (409 `LOA_FINISHED`); new times must not overlap the person's other leaves.
pub async fn update(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    patch: LeavePatch,
    actor: &str,
) -> Result<Leave, CommunityError> {
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    enum Out {
        Done(Box<Leave>),
        Missing,
        Finished(LeaveStatus),
        Bad(CommunityError),
        Clash(Box<Leave>, Person),
    }
    let out = ctx.store.transact(|tx| {
        let Some(mut l) = tx.get_json::<Leave>(Tree::Leave, &leave_key(guild, id))? else {
            return Ok(Out::Missing);
        };
        let status = l.status(now);
        if matches!(status, LeaveStatus::Expired | LeaveStatus::Cancelled) {
            return Ok(Out::Finished(status));
        }
        if patch.cancel {
            l.cancelled_at = Some(now);
        } else {
            let start = patch.starts_at.unwrap_or(l.starts_at);
            let end = patch.ends_at.unwrap_or(l.ends_at);
            if let Err(e) = check_times(start, end) {
                return Ok(Out::Bad(e));
            }
            if let Some(c) = person_leaves(tx, guild, l.person)?
                .into_iter()
                .find(|o| o.id != id && o.overlaps(start, end))
            {
                return Ok(Out::Clash(Box::new(c), l.person));
            }
            l.starts_at = start;
            l.ends_at = end;
            if let Some(r) = &patch.reason {
                l.reason.clone_from(r);
            }
        }
        tx.put_json(Tree::Leave, &leave_key(guild, id), &l)?;
        let action = if patch.cancel {
            "loa.cancel"
        } else {
            "loa.update"
        };
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(audit_id, action, actor, &l, now),
        )?;
        Ok(Out::Done(Box::new(l)))
    })?;
    match out {
        Out::Done(l) => {
            ctx.store.durable().await?;
            Ok(*l)
        }
        Out::Missing => Err(not_found(id)),
        Out::Finished(s) => Err(CommunityError::Conflict {
            code: "LOA_FINISHED",
            message: format!("leave {id} is {} and cannot change", s.as_str()),
        }),
        Out::Bad(e) => Err(e),
        Out::Clash(c, person) => Err(overlap_error(person, &c, now)),
    }
}

fn not_found(id: u64) -> CommunityError {
    CommunityError::NotFound {
        code: "NOT_FOUND",
        message: format!("leave {id} not found"),
    }
}

/// Deletes a leave (it is gone from the person's history, unlike a cancelled one).
pub async fn delete(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    actor: &str,
) -> Result<Leave, CommunityError> {
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let removed = ctx.store.transact(|tx| {
        let Some(l) = tx.get_json::<Leave>(Tree::Leave, &leave_key(guild, id))? else {
            return Ok(None);
        };
        let key = l.person.key(guild);
        let mut ids: Vec<u64> = tx.get_json(Tree::LeaveByUser, &key)?.unwrap_or_default();
        ids.retain(|i| *i != id);
        if ids.is_empty() {
            tx.remove(Tree::LeaveByUser, &key)?;
        } else {
            tx.put_json(Tree::LeaveByUser, &key, &ids)?;
        }
        tx.remove(Tree::Leave, &leave_key(guild, id))?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(audit_id, "loa.delete", actor, &l, now),
        )?;
        Ok(Some(l))
    })?;
    let l = removed.ok_or_else(|| not_found(id))?;
    ctx.store.durable().await?;
    Ok(l)
}

/// Marks leaves whose end has passed as expired, with a `loa.expire` audit entry each: one guild's
/// (`POST …/staff/loa/expire`) or every guild's (the sweep). Returns how many.
pub async fn expire(ctx: &Ctx, guild: Option<GuildId>) -> Result<u64, CommunityError> {
    let now = ctx.clock.now();
    crate::staff::mark_due(
        ctx,
        Tree::Leave,
        guild,
        |l: &Leave| l.expired_at.is_none() && l.status(now) == LeaveStatus::Expired,
        |l| {
            l.expired_at = Some(now);
            let target = match l.person {
                Person::Discord(d) | Person::Roblox(d) => d,
            };
            (
                l.guild,
                "loa.expire",
                target,
                serde_json::json!({"leaveId": l.id, "robloxId": l.roblox_id, "startsAt": l.starts_at, "endsAt": l.ends_at}),
            )
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_clock_and_have_wire_names() {
        let t = |d: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 5, d, 0, 0, 0).unwrap();
        let mut l = Leave {
            id: 1,
            guild: GuildId::new(1).unwrap(),
            person: Person::Roblox(5),
            roblox_id: Some(5),
            starts_at: t(10),
            ends_at: t(12),
            reason: None,
            created_by: None,
            created_at: t(1),
            cancelled_at: None,
            ended_early_at: None,
            expired_at: None,
        };
        assert_eq!(l.status(t(9)), LeaveStatus::Pending);
        assert_eq!(l.status(t(10)), LeaveStatus::Active);
        assert_eq!(l.status(t(12)), LeaveStatus::Expired);
        l.cancelled_at = Some(t(11));
        assert_eq!(l.status(t(11)), LeaveStatus::Cancelled);
        for s in [
            LeaveStatus::Pending,
            LeaveStatus::Active,
            LeaveStatus::Expired,
            LeaveStatus::Cancelled,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(
            !l.overlaps(t(12), t(13)),
            "a cancelled leave overlaps nothing"
        );
        l.cancelled_at = None;
        assert!(!l.overlaps(t(12), t(13)), "touching ends do not overlap");
        assert!(l.overlaps(t(11), t(13)));
    }
}
