//! Join requests: accept or decline through Open Cloud.
//!
//! Not naturally idempotent: once a request is handled, Roblox answers 404 for it. So the
//! handler records in the job's ledger that it is about to send, and an attempt that finds that
//! record (a retry after a crash or a lost answer) takes Roblox's 404 as the earlier attempt's
//! success. A first attempt's 404 is `JOIN_REQUEST_NOT_FOUND`: the request never existed or was
//! handled elsewhere.

use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::groups::{JoinRequestDecision, JoinRequestJob, JoinRequestResult, codes};
use roster_jobs::jobs::ranking::codes as rank_codes;
use roster_upstream::UpstreamError;

use super::{Handler, upstream_failure};
use crate::runtime::{Deps, Failure, UpstreamTimer};

impl Handler for JoinRequestDecision {
    const UNREADABLE: &'static str = rank_codes::BAD_REQUEST;

    async fn run(
        deps: &Deps,
        env: &JobEnvelope,
        job: JoinRequestJob,
        plan: Option<serde_json::Value>,
        timer: &mut UpstreamTimer,
    ) -> Result<JoinRequestResult, Failure> {
        let key = deps
            .master
            .open(&roster_jobs::model::group_key_purpose(job.group_id), &job.credential)
            .map_err(|_| {
                Failure::permanent(
                    rank_codes::ROBLOX_API_ERROR,
                    "Roster could not unseal the group's Open Cloud key (does this worker have the same master key as the control plane?)",
                )
            })?;
        let sent_before = plan.is_some();
        if !sent_before {
            deps.backend
                .ledger_claim(env.job_id, "plan", &serde_json::json!({ "sending": true }))
                .await
                .map_err(Failure::backend)?;
        }
        let done = JoinRequestResult {
            request_id: job.request_id.clone(),
            accepted: job.accept,
        };
        match timer
            .time(deps.roblox.handle_join_request(
                key.expose(),
                job.group_id.get(),
                &job.request_id,
                job.accept,
            ))
            .await
        {
            Ok(()) => Ok(done),
            Err(UpstreamError::Permanent { status: 404, .. }) if sent_before => Ok(done),
            Err(UpstreamError::Permanent { status: 404, .. }) => Err(Failure::permanent(
                codes::JOIN_REQUEST_NOT_FOUND,
                format!(
                    "group {} has no pending join request {} (it never existed or was already handled)",
                    job.group_id, job.request_id
                ),
            )),
            Err(e) => Err(upstream_failure(e)),
        }
    }
}
