//! Leave of absence: one model for the community API (by Roblox user, `/api/loa/*`) and the
//! staff API (by staff member). A leave has a start and an end; its status follows from them
//! and the clock: `pending` before the start, `active` until the end, `expired` after it, and
//! `cancelled` once cancelled. Ending a leave early sets its end to the moment it was ended.
//!
//! A user's leaves never overlap: every change to a user's leaves reads and rewrites the user's
//! index (`LeaveByUser`), so two concurrent starts are serialized by the store and the second
//! sees the first.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::CommunityError;
use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::ids::{GuildId, RobloxUserId};
use crate::store::{StoreExt, Tree, Txn, TxnExt, keys};

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

/// One leave of absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leave {
    /// Id (unique in the store).
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// The Roblox user on leave.
    pub roblox_id: u64,
    /// Their Discord account, when linked.
    #[serde(default)]
    pub discord_id: Option<u64>,
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

    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.cancelled_at.is_none() && self.starts_at < end && start < self.ends_at
    }
}

fn leave_key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

fn index_key(guild: GuildId, user: RobloxUserId) -> [u8; 16] {
    keys::pair(guild.get(), user.get())
}

fn user_leaves(
    tx: &dyn Txn,
    guild: GuildId,
    user: RobloxUserId,
) -> Result<Vec<Leave>, crate::store::StoreError> {
    let ids: Vec<u64> = tx
        .get_json(Tree::LeaveByUser, &index_key(guild, user))?
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(l) = tx.get_json::<Leave>(Tree::Leave, &leave_key(guild, id))? {
            out.push(l);
        }
    }
    Ok(out)
}

/// A user's leaves, oldest first.
pub fn of_user(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
) -> Result<Vec<Leave>, CommunityError> {
    let ids: Vec<u64> = ctx
        .store
        .get_json(Tree::LeaveByUser, &index_key(guild, user))?
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

/// The user's leave under way at `now`, if any.
pub fn current(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
) -> Result<Option<Leave>, CommunityError> {
    let now = ctx.clock.now();
    Ok(of_user(ctx, guild, user)?
        .into_iter()
        .find(|l| l.status(now) == LeaveStatus::Active))
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
    AuditEntry {
        id,
        action: action.to_owned(),
        actor_id: Some(actor.to_owned()),
        target_id: Some(l.roblox_id.to_string()),
        metadata: serde_json::json!({
            "leaveId": l.id,
            "startsAt": l.starts_at,
            "endsAt": l.ends_at,
        }),
        created_at: now,
    }
}

/// Starts a leave for a user; refused when it overlaps one of theirs that is not cancelled.
pub async fn start(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
    new: NewLeave,
    actor: &str,
) -> Result<Leave, CommunityError> {
    if new.ends_at <= new.starts_at {
        return Err(CommunityError::Invalid {
            field: "endsAt",
            message: "must be after the start".into(),
        });
    }
    let discord_id = crate::links::by_roblox(ctx.store.as_ref(), guild, user.get())?
        .into_iter()
        .max_by_key(|l| l.verified_at)
        .map(|l| l.discord_id);
    let id = ctx.store.next_id()?;
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let leave = Leave {
        id,
        guild,
        roblox_id: user.get(),
        discord_id,
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        reason: new.reason,
        created_by: Some(actor.to_owned()),
        created_at: now,
        cancelled_at: None,
        ended_early_at: None,
    };
    let clash = ctx.store.transact(|tx| {
        let existing = user_leaves(tx, guild, user)?;
        if let Some(c) = existing
            .iter()
            .find(|l| l.overlaps(leave.starts_at, leave.ends_at))
        {
            return Ok(Some(c.clone()));
        }
        let mut ids: Vec<u64> = existing.iter().map(|l| l.id).collect();
        ids.push(id);
        tx.put_json(Tree::LeaveByUser, &index_key(guild, user), &ids)?;
        tx.put_json(Tree::Leave, &leave_key(guild, id), &leave)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &entry(audit_id, "loa.start", actor, &leave, now),
        )?;
        Ok(None)
    })?;
    if let Some(c) = clash {
        let what = match c.status(now) {
            LeaveStatus::Active => "an active leave",
            _ => "a planned leave",
        };
        return Err(CommunityError::Conflict {
            code: "LOA_ALREADY_ACTIVE",
            message: format!(
                "user {user} already has {what} from {} to {}",
                c.starts_at.format("%Y-%m-%d %H:%M UTC"),
                c.ends_at.format("%Y-%m-%d %H:%M UTC")
            ),
        });
    }
    ctx.store.durable().await?;
    Ok(leave)
}

/// Ends the user's active leave now.
pub async fn end_active(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
    actor: &str,
) -> Result<Leave, CommunityError> {
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let ended = ctx.store.transact(|tx| {
        let Some(mut l) = user_leaves(tx, guild, user)?
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
        message: format!("user {user} has no active leave"),
    })?;
    ctx.store.durable().await?;
    Ok(l)
}
