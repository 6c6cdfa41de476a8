//! Moderation jobs: mirror a guild's ban of a Roblox user as a Roblox experience ban (Open Cloud
//! user restrictions) in each configured universe. Converges: PATCHing a restriction to the
//! state it already has changes nothing, so retries and redeliveries are harmless.

use roster_core::guilds::GuildRecord;
use roster_core::jobs::JobEnvelope;
use roster_core::jobs::moderation::{RestrictJob, RestrictResult};
use roster_core::jobs::ranking::codes;
use roster_upstream::roblox::GameJoinRestriction;

use super::upstream_failure;
use crate::runtime::{Deps, Failure, UpstreamTimer};

/// Runs one attempt of a restriction job.
pub async fn run(
    deps: &Deps,
    env: &JobEnvelope,
    timer: &mut UpstreamTimer,
) -> Result<serde_json::Value, Failure> {
    let job: RestrictJob = serde_json::from_value(env.payload.clone()).map_err(|e| {
        Failure::permanent(
            codes::BAD_REQUEST,
            format!("unreadable restriction job payload: {e}"),
        )
    })?;
    let key = deps
        .master
        .open(&GuildRecord::credential_purpose(job.guild), &job.credential)
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
    Ok(serde_json::to_value(RestrictResult {
        universes: job.universes.clone(),
        active: job.active,
    })
    .expect("results serialize"))
}
