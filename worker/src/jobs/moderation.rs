//! Moderation jobs: mirror a guild's ban of a Roblox user as a Roblox experience ban (Open Cloud
//! user restrictions) in each configured universe. Converges: PATCHing a restriction to the
//! state it already has changes nothing, so retries and redeliveries are harmless.

use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::moderation::{RestrictJob, RestrictResult, RobloxRestrict};
use roster_jobs::jobs::ranking::codes;
use roster_upstream::roblox::GameJoinRestriction;

use super::{Handler, upstream_failure};
use crate::runtime::{Deps, Failure, UpstreamTimer};

impl Handler for RobloxRestrict {
    const UNREADABLE: &'static str = codes::BAD_REQUEST;

    async fn run(
        deps: &Deps,
        _env: &JobEnvelope,
        job: RestrictJob,
        _plan: Option<serde_json::Value>,
        timer: &mut UpstreamTimer,
    ) -> Result<RestrictResult, Failure> {
        run(deps, job, timer).await
    }
}

/// Runs one attempt of a restriction job.
pub async fn run(
    deps: &Deps,
    job: RestrictJob,
    timer: &mut UpstreamTimer,
) -> Result<RestrictResult, Failure> {
    let key = deps
        .master
        .open(&roster_jobs::model::guild_key_purpose(job.guild), &job.credential)
        .map_err(|_| {
            Failure::permanent(
                codes::ROBLOX_API_ERROR,
                "Roster could not unseal the guild's Open Cloud key (does this worker have the same master key as the control plane?)",
            )
        })?;
    let restriction = GameJoinRestriction {
        active: job.active,
        duration_seconds: job.duration_seconds,
        private_reason: format!("Roster ban #{}: {}", job.record_id, job.reason),
        display_reason: job.reason.clone(),
    };
    for universe in &job.universes {
        timer
            .time(deps.roblox.update_user_restriction(
                key.expose(),
                *universe,
                job.user,
                &restriction,
            ))
            .await
            .map_err(upstream_failure)?;
    }
    Ok(RestrictResult {
        universes: job.universes.clone(),
        active: job.active,
    })
}
