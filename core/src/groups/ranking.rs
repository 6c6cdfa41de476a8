//! Ranking requests (set rank, promote, demote): everything the API checks before a job exists,
//! and the one transaction that counts usage, records the Idempotency-Key and stages the job.

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::oneshot;

use crate::apikeys::{ApiKeyRecord, KeyScope};
use crate::audit::Tenant;
use crate::context::Ctx;
use crate::groups::{self, GroupRecord};
use crate::idempotency::{self, IdemDecision, IdemRecord};
use crate::ids::{GroupId, JobId, RobloxUserId};
use crate::jobs::JobRecord;
use crate::jobs::facade::NewJob;
use crate::jobs::ranking::{RankDemote, RankJob, RankOp, RankPromote, RankSet};
use crate::rules::{self, Direction};
use crate::store::{StoreError, StoreExt, Tree};
use crate::usage::{self, UsageSnapshot};

/// A validated ranking request.
#[derive(Debug, Clone)]
pub struct RankRequest {
    /// Group in the path.
    pub group: GroupId,
    /// Member.
    pub user: RobloxUserId,
    /// What to do.
    pub op: RankOp,
    /// `(Idempotency-Key, hash of the request)`.
    pub idempotency: Option<(String, String)>,
}

/// Why a ranking request cannot go ahead (before any job exists).
#[derive(Debug, thiserror::Error)]
pub enum RankError {
    /// No such group registered.
    #[error("group {0} is not registered with this Roster")]
    GroupNotFound(GroupId),
    /// The key belongs to another group.
    #[error("this API key is not scoped to group {0}")]
    Forbidden(GroupId),
    /// The plan lacks the feature.
    #[error("{0}")]
    FeatureNotAvailable(String),
    /// The user is blacklisted.
    #[error("user {0} is blacklisted in this group")]
    Blacklisted(RobloxUserId),
    /// No enabled rule of this direction exists at all.
    #[error("{0}")]
    NoMatchingRule(String),
    /// The group has no Open Cloud key.
    #[error("group {0} has no Open Cloud API key configured; an operator must set one")]
    NotConfigured(GroupId),
    /// The Idempotency-Key was used with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// The first request with this Idempotency-Key is still running.
    #[error("a request with this Idempotency-Key is still in progress (job {0})")]
    InProgress(JobId),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other core failure.
    #[error(transparent)]
    Core(#[from] crate::error::CoreError),
}

/// A request that went through.
#[derive(Debug)]
pub enum Submitted {
    /// A new job; `done` fires when its outcome is recorded.
    New {
        /// The job.
        job: JobId,
        /// Fires when the outcome is recorded.
        done: oneshot::Receiver<()>,
        /// Usage after counting this request.
        usage: UsageSnapshot,
    },
    /// A replay of a finished request: answer from this record.
    Replay(Box<JobRecord>),
}

/// Checks the key's scope and returns the group.
pub fn authorize(ctx: &Ctx, key: &ApiKeyRecord, group: GroupId) -> Result<GroupRecord, RankError> {
    let record = groups::get(ctx, group)?.ok_or(RankError::GroupNotFound(group))?;
    if key.scope != KeyScope::Group(group) {
        return Err(RankError::Forbidden(group));
    }
    Ok(record)
}

/// The job for `op`, of its kind.
fn job_of(ctx: &Ctx, tenant: Tenant, payload: &RankJob, now: DateTime<Utc>) -> NewJob {
    let context = serde_json::Value::Null;
    match payload.op {
        RankOp::Set { .. } | RankOp::Raise { .. } => {
            ctx.jobs.job::<RankSet>(tenant, payload, context, now)
        }
        RankOp::Promote => ctx.jobs.job::<RankPromote>(tenant, payload, context, now),
        RankOp::Demote => ctx.jobs.job::<RankDemote>(tenant, payload, context, now),
    }
}

/// Stages, inside `tx`, a job raising `user` to at least `rank` in `group` (never lowering),
/// counted in the group's usage: for changes that earn a rank (XP thresholds). `None` when the
/// group has no Open Cloud key or the user is blacklisted.
pub fn stage_raise(
    ctx: &Ctx,
    tx: &dyn crate::store::Txn,
    jobs: &mut crate::jobs::facade::Staging,
    group: &GroupRecord,
    user: RobloxUserId,
    rank: u8,
    actor: &str,
) -> Result<Option<JobId>, StoreError> {
    let Some(credential) = group.open_cloud_key.clone() else {
        return Ok(None);
    };
    if tx
        .get(
            Tree::Blacklist,
            &crate::store::keys::pair(group.id.get(), user.get()),
        )?
        .is_some()
    {
        return Ok(None);
    }
    let now = ctx.clock.now();
    let payload = RankJob {
        group_id: group.id,
        user_id: user,
        op: RankOp::Raise { rank },
        rules: Vec::new(),
        guard_rank: group.guard_rank,
        credential,
    };
    let mut job = job_of(ctx, Tenant::Group(group.id), &payload, now);
    let limits = group.plan.limits(ctx);
    let snapshot = usage::count_in(tx, group.id, limits.monthly_requests, now)?;
    job.set_context(json!({ "usage": snapshot, "actorKeyId": actor }));
    let id = job.id();
    jobs.stage_owned(tx, job)?;
    Ok(Some(id))
}

/// Looks up an earlier request with the same Idempotency-Key.
fn replay(ctx: &Ctx, req: &RankRequest) -> Result<Option<Submitted>, RankError> {
    let Some((key, hash)) = &req.idempotency else {
        return Ok(None);
    };
    let ttl = chrono::Duration::from_std(ctx.config.server.idempotency_ttl)
        .unwrap_or(chrono::Duration::hours(24));
    let existing: Option<IdemRecord> = ctx.store.get_json(
        Tree::Idempotency,
        &idempotency::record_key(Tenant::Group(req.group), key),
    )?;
    let Some(existing) = existing.filter(|r| ctx.clock.now() - r.created_at < ttl) else {
        return Ok(None);
    };
    if &existing.request_hash != hash {
        return Err(RankError::IdempotencyMismatch);
    }
    replay_of(ctx, existing.job_id).map(Some)
}

fn replay_of(ctx: &Ctx, job: JobId) -> Result<Submitted, RankError> {
    match ctx
        .store
        .get_json::<JobRecord>(Tree::Jobs, &job.to_bytes())?
    {
        Some(rec) if rec.status.is_final() => Ok(Submitted::Replay(Box::new(rec))),
        Some(_) => Err(RankError::InProgress(job)),
        // The job record was purged (retention shorter than the key's TTL): treat as in flux.
        None => Err(RankError::InProgress(job)),
    }
}

/// Runs every check, then counts usage, records the Idempotency-Key and stages the job in one
/// durable write.
pub async fn submit(
    ctx: &Ctx,
    key: &ApiKeyRecord,
    req: RankRequest,
) -> Result<Submitted, RankError> {
    let group = authorize(ctx, key, req.group)?;
    submit_for(ctx, group, &key.id.to_string(), req).await
}

/// [`submit`] for a caller already authorized for `group` (a guild key of a guild linked to
/// it, through the community API); `actor` is recorded as the job's actor.
pub async fn submit_for(
    ctx: &Ctx,
    group: GroupRecord,
    actor: &str,
    req: RankRequest,
) -> Result<Submitted, RankError> {
    if let Some(r) = replay(ctx, &req)? {
        return Ok(r);
    }
    let limits = group.plan.limits(ctx);
    if matches!(req.op, RankOp::Demote) && !limits.demote {
        return Err(RankError::FeatureNotAvailable(format!(
            "demote is not available on the {} plan; it needs Pro or Max",
            group.plan.as_str()
        )));
    }
    if groups::blacklisted(ctx, req.group, req.user)?.is_some() {
        return Err(RankError::Blacklisted(req.user));
    }
    let direction = match req.op {
        RankOp::Promote => Some(Direction::Promote),
        RankOp::Demote => Some(Direction::Demote),
        RankOp::Set { .. } | RankOp::Raise { .. } => None,
    };
    if let Some(d) = direction
        && !rules::has_enabled(&group.rules, d)
    {
        return Err(RankError::NoMatchingRule(format!(
            "group {} has no enabled {} rule",
            req.group,
            d.as_str()
        )));
    }
    let Some(credential) = group.open_cloud_key.clone() else {
        return Err(RankError::NotConfigured(req.group));
    };

    let now = ctx.clock.now();
    let tenant = Tenant::Group(req.group);
    let payload = RankJob {
        group_id: req.group,
        user_id: req.user,
        op: req.op,
        rules: if direction.is_some() {
            group.rules.clone()
        } else {
            Vec::new()
        },
        guard_rank: group.guard_rank,
        credential,
    };
    let job = job_of(ctx, tenant, &payload, now);
    let job_id = job.id();
    let kind = job.kind();
    let done = ctx.jobs.hub().watch(job_id);
    let ttl = chrono::Duration::from_std(ctx.config.server.idempotency_ttl)
        .unwrap_or(chrono::Duration::hours(24));

    enum Decision {
        New(UsageSnapshot),
        Replay(JobId),
        Mismatch,
    }
    let decision = ctx
        .commit(|tx, jobs| {
            if let Some((k, hash)) = &req.idempotency {
                match idempotency::check_and_record(tx, tenant, k, hash, job_id, now, ttl)? {
                    IdemDecision::Fresh => {}
                    IdemDecision::Replay(j) => {
                        jobs.unchanged();
                        return Ok(Decision::Replay(j));
                    }
                    IdemDecision::Mismatch => {
                        jobs.unchanged();
                        return Ok(Decision::Mismatch);
                    }
                }
            }
            let snapshot = usage::count_in(tx, req.group, limits.monthly_requests, now)?;
            let mut job = job.clone();
            job.set_context(json!({ "usage": snapshot, "actorKeyId": actor }));
            jobs.stage_owned(tx, job)?;
            Ok(Decision::New(snapshot))
        })
        .await?;
    match decision {
        Decision::Replay(j) => replay_of(ctx, j),
        Decision::Mismatch => Err(RankError::IdempotencyMismatch),
        Decision::New(usage) => {
            metrics::counter!("roster_rank_requests_total", "kind" => kind.as_str()).increment(1);
            if usage.overage {
                metrics::counter!("roster_rank_overage_total").increment(1);
            }
            Ok(Submitted::New {
                job: job_id,
                done,
                usage,
            })
        }
    }
}
