//! Ranking jobs: set rank, promote, demote.
//!
//! The handler converges: it reads the member's current roles, decides the target (for
//! promote/demote, once: the resolved plan goes into the ledger before anything changes, so a
//! retry after a crash converges to the same target instead of promoting twice), and does only
//! what is missing. With the default `assign` method it `:assignRole`s the target first and then
//! `:unassignRole`s every other role the member holds, so the member is never left without a
//! role; with `patch` it sends the deprecated PATCH.
//!
//! Jobs on one member run one at a time and in the order they were accepted: the runtime runs
//! a job only on its turn on `rank:{group}:{user}` (see `roster_jobs::jobs::order`), so two
//! concurrent promotes promote twice, in order, and a promote redelivered after a crash
//! finishes before the promotes accepted after it read the member's rank.

use roster_jobs::config::RankMethod;
use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::ranking::{
    RankDemote, RankJob, RankOp, RankPlan, RankPromote, RankResult, RankSet, RoleInfo, codes,
};
use roster_jobs::rules::{self, Direction};
use roster_upstream::roblox::{GroupMembership, GroupRole};

use super::{Handler, upstream_failure};
use crate::runtime::{Deps, Failure, UpstreamTimer};

/// The three ranking kinds share one handler, [`run`].
macro_rules! rank_handler {
    ($kind:ty) => {
        impl Handler for $kind {
            const UNREADABLE: &'static str = codes::BAD_REQUEST;

            async fn run(
                deps: &Deps,
                env: &JobEnvelope,
                job: RankJob,
                plan: Option<serde_json::Value>,
                timer: &mut UpstreamTimer,
            ) -> Result<RankResult, Failure> {
                run(deps, env, job, plan, timer).await
            }
        }
    };
}

rank_handler!(RankSet);
rank_handler!(RankPromote);
rank_handler!(RankDemote);

/// Runs one attempt of a ranking job.
pub async fn run(
    deps: &Deps,
    env: &JobEnvelope,
    job: RankJob,
    plan: Option<serde_json::Value>,
    timer: &mut UpstreamTimer,
) -> Result<RankResult, Failure> {
    let key = deps
        .master
        .open(&roster_jobs::model::group_key_purpose(job.group_id), &job.credential)
        .map_err(|_| {
            Failure::permanent(
                codes::ROBLOX_API_ERROR,
                "Roster could not unseal the group's Open Cloud key (does this worker have the same master key as the control plane?)",
            )
        })?;
    // The runtime holds the member's turn (`rank:{group}:{user}`) while this runs.
    converge(deps, env, &job, plan, key.expose(), timer).await
}

fn rank_of(roles: &[GroupRole], role_id: u64) -> Option<u8> {
    roles
        .iter()
        .find(|r| r.role_id() == Some(role_id))
        .map(|r| r.rank)
}

async fn converge(
    deps: &Deps,
    env: &JobEnvelope,
    job: &RankJob,
    recorded_plan: Option<serde_json::Value>,
    key: &str,
    timer: &mut UpstreamTimer,
) -> Result<RankResult, Failure> {
    let group = job.group_id.get();
    let user = job.user_id.get();
    let mut roles = timer
        .time(deps.roles.get(deps.roblox.as_ref(), key, group, false))
        .await
        .map_err(upstream_failure)?;
    let membership: GroupMembership = timer
        .time(deps.roblox.find_membership(key, group, user))
        .await
        .map_err(upstream_failure)?
        .ok_or_else(|| {
            Failure::permanent(
                codes::NOT_IN_GROUP,
                format!("user {user} is not a member of group {group}"),
            )
        })?;
    let held = membership.role_ids();
    if held.iter().any(|id| rank_of(&roles, *id).is_none()) {
        roles = timer
            .time(deps.roles.get(deps.roblox.as_ref(), key, group, true))
            .await
            .map_err(upstream_failure)?;
    }
    let current = held
        .iter()
        .filter_map(|id| rank_of(&roles, *id))
        .max()
        .unwrap_or(0);

    // The plan: decided once per job, before any change.
    let plan = match recorded_plan {
        Some(v) => serde_json::from_value::<RankPlan>(v).map_err(|e| {
            Failure::permanent(codes::BAD_REQUEST, format!("unreadable ledger plan: {e}"))
        })?,
        None => {
            let fresh = match job.op {
                RankOp::Set { rank } => RankPlan {
                    previous_rank: current,
                    target_rank: rank,
                    rule_id: None,
                },
                RankOp::Raise { rank } => {
                    if let Some(g) = job.guard_rank
                        && (rank > g || current > g)
                    {
                        return Err(Failure::permanent(
                            codes::BAD_REQUEST,
                            format!(
                                "raising user {user} to rank {rank} is not allowed: the member (rank {current}) or the target is above the group's guard rank {g}"
                            ),
                        ));
                    }
                    RankPlan {
                        previous_rank: current,
                        target_rank: rank.max(current),
                        rule_id: None,
                    }
                }
                RankOp::Promote | RankOp::Demote => {
                    let direction = if matches!(job.op, RankOp::Promote) {
                        Direction::Promote
                    } else {
                        Direction::Demote
                    };
                    let ranks: Vec<u8> = roles.iter().map(|r| r.rank).collect();
                    let res =
                        rules::resolve(&job.rules, direction, job.guard_rank, current, &ranks)
                            .map_err(|e| Failure::permanent(codes::NO_MATCHING_RULE, e.0))?;
                    RankPlan {
                        previous_rank: current,
                        target_rank: res.target,
                        rule_id: Some(res.rule_id),
                    }
                }
            };
            let stored = deps
                .backend
                .ledger_claim(
                    env.job_id,
                    "plan",
                    &serde_json::to_value(fresh).expect("plans serialize"),
                )
                .await
                .map_err(Failure::backend)?;
            serde_json::from_value(stored).map_err(|e| {
                Failure::permanent(codes::BAD_REQUEST, format!("unreadable ledger plan: {e}"))
            })?
        }
    };

    let target = roles
        .iter()
        .find(|r| r.rank == plan.target_rank)
        .cloned()
        .ok_or_else(|| {
            Failure::permanent(
                codes::BAD_REQUEST,
                format!("group {group} has no role with rank {}", plan.target_rank),
            )
        })?;
    let target_id = target.role_id().ok_or_else(|| {
        Failure::permanent(
            codes::ROBLOX_API_ERROR,
            "Roblox returned a role without a numeric id",
        )
    })?;
    let membership_id = membership.membership_id().to_owned();
    let membership_id = if membership_id.is_empty() {
        user.to_string()
    } else {
        membership_id
    };

    let mut changed = false;
    if held != [target_id] {
        match deps.rank_method {
            RankMethod::Assign => {
                if !held.contains(&target_id) {
                    timer
                        .time(
                            deps.roblox
                                .assign_role(key, group, &membership_id, target_id),
                        )
                        .await
                        .map_err(upstream_failure)?;
                    changed = true;
                }
                for other in held.iter().filter(|id| **id != target_id) {
                    timer
                        .time(
                            deps.roblox
                                .unassign_role(key, group, &membership_id, *other),
                        )
                        .await
                        .map_err(upstream_failure)?;
                    changed = true;
                }
            }
            RankMethod::Patch => {
                timer
                    .time(
                        deps.roblox
                            .update_membership_role(key, group, &membership_id, target_id),
                    )
                    .await
                    .map_err(upstream_failure)?;
                changed = true;
            }
        }
    }
    Ok(RankResult {
        previous_rank: plan.previous_rank,
        new_rank: target.rank,
        role: RoleInfo {
            id: target.id.clone(),
            name: target.display_name.clone(),
            rank: target.rank,
        },
        changed: changed || plan.previous_rank != target.rank,
        rule_id: plan.rule_id,
    })
}
