//! Job handlers, one module per job family: each job kind (`roster_jobs::jobs::kind::Kind`)
//! implements [`Handler`] here. The runtime's dispatch comes from the registration list
//! (`roster_jobs::job_kinds!`), so a registered kind without a handler does not build.

pub mod discord;
pub mod groups;
pub mod moderation;
pub mod rank;

use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::kind::Kind;
use roster_jobs::jobs::ranking::codes;
use roster_upstream::UpstreamError;
use serde::Deserialize as _;

use crate::runtime::{Deps, Failure, UpstreamTimer};

/// A job kind's handler: one attempt of a job of that kind.
pub trait Handler: Kind {
    /// The error code a job fails with when its payload does not read as `Self::Payload` (a
    /// bug or a version mismatch), in the kind's API family's vocabulary.
    const UNREADABLE: &'static str;

    /// Runs one attempt. `plan` is what an earlier attempt recorded in the ledger under `plan`
    /// (see `QueueBackend::ledger_claim`), if anything.
    fn run(
        deps: &Deps,
        env: &JobEnvelope,
        job: Self::Payload,
        plan: Option<serde_json::Value>,
        timer: &mut UpstreamTimer,
    ) -> impl Future<Output = Result<Self::Result, Failure>> + Send;
}

/// Reads the payload of a job of kind `K`, runs its handler, and returns its result in the
/// stored form.
pub(crate) async fn run_as<K: Handler>(
    deps: &Deps,
    env: &JobEnvelope,
    plan: Option<serde_json::Value>,
    timer: &mut UpstreamTimer,
) -> Result<serde_json::Value, Failure> {
    let job = K::Payload::deserialize(&env.payload).map_err(|e| {
        Failure::permanent(
            K::UNREADABLE,
            format!("unreadable {} payload: {e}", K::NAME),
        )
    })?;
    let result = K::run(deps, env, job, plan, timer).await?;
    Ok(serde_json::to_value(result).expect("results serialize"))
}

/// Classifies an Open Cloud failure for a job: permanent errors fail at once with a message a
/// group owner can act on; rate limits and transient errors are retried.
pub(crate) fn upstream_failure(e: UpstreamError) -> Failure {
    match e {
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => {
            let msg = match (status, code.as_str()) {
                (401, _) => {
                    "Roblox rejected the group's Open Cloud key (invalid, expired or revoked)"
                        .to_owned()
                }
                (403, "PERMISSION_DENIED") | (403, _) => format!(
                    "Roblox denied the change: the Open Cloud key's owner must hold rank-change permission and outrank both the member and the target role ({message})"
                ),
                (404, _) => format!("Roblox could not find the group or member ({message})"),
                _ => format!("Roblox refused the request ({status} {code}): {message}"),
            };
            Failure::permanent(codes::ROBLOX_API_ERROR, msg)
        }
        UpstreamError::RateLimited {
            retry_after,
            message,
        } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message: format!("{message}; Roblox kept rate limiting"),
            after: retry_after,
        },
        UpstreamError::Transient { message, .. } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message,
            after: None,
        },
    }
}
