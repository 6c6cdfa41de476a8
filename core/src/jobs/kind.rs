//! Job kinds in the control plane. A kind ([`Kind`], from `roster_jobs::jobs::kind`, re-exported
//! here) fixes its name, queue, payload, result and subjects; here it adds its outcome hook
//! ([`Hook`]): what its final outcome leaves behind (an audit entry, follow-up jobs), run by the
//! recorder. The hooks are dispatched from the registration list (`roster_jobs::job_kinds!`), so
//! a registered kind without a hook does not build.

use serde::Deserialize as _;

pub use roster_jobs::jobs::kind::*;

use super::facade::Staging;
use super::{JobKind, JobRecord, JobStatus};
use crate::config::Config;
use crate::store::{StoreError, Txn};

/// A kind's outcome hook.
pub trait Hook: Kind {
    /// Called by the outcome recorder, inside the transaction that records the job's final
    /// outcome (once per job generation): leave an audit entry ([`Effects::audit`]) and stage
    /// follow-up work ([`Effects::jobs`]). The default leaves nothing.
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        let _ = (done, fx);
        Ok(())
    }
}

/// A job whose outcome is being recorded.
#[derive(Debug)]
pub struct Done<'a, K: Hook + ?Sized> {
    /// The record, final (status, result, error, attempts set).
    pub record: &'a JobRecord,
    /// Its payload.
    pub payload: K::Payload,
}

impl<K: Hook + ?Sized> Done<'_, K> {
    /// The result, when the job succeeded and its result reads as `K::Result`.
    pub fn result(&self) -> Option<K::Result> {
        match (self.record.status, &self.record.result) {
            (JobStatus::Succeeded, Some(v)) => K::Result::deserialize(v).ok(),
            _ => None,
        }
    }
}

/// The audit entry a job's outcome leaves, written by the recorder to the job's tenant (and, for
/// a group, to the guilds linked to it). A success is recorded as `action`, a failure as
/// `action.failed` or `action.dead`, with the job id, attempts and error.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAudit {
    /// Action on success, e.g. `rank.promote`.
    pub action: &'static str,
    /// Whom it concerned.
    pub target: String,
    /// Fields added to a success's metadata; `None` records the raw result as `result`.
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What an outcome hook may do, all inside the recorder's transaction.
pub struct Effects<'a> {
    /// The transaction.
    pub tx: &'a dyn Txn,
    /// The configuration (follow-up jobs' attempts, concurrency settings).
    pub config: &'a Config,
    /// Stages follow-up jobs (the recorder wakes the relay once they are durable).
    pub jobs: &'a mut Staging,
    pub(crate) audit: Option<JobAudit>,
    pub(crate) spare_id: Option<u64>,
}

impl std::fmt::Debug for Effects<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl Effects<'_> {
    /// Leaves the job's audit entry.
    pub fn audit(&mut self, audit: JobAudit) {
        self.audit = Some(audit);
    }

    /// A fresh id from [`crate::store::Store::next_id`] for one record of the hook's own (an audit
    /// entry of a run it completes, say); one per outcome.
    pub fn take_id(&mut self) -> Option<u64> {
        self.spare_id.take()
    }
}

/// Runs `K`'s outcome hook for a final record (nothing when its payload is unreadable).
fn on_outcome<K: Hook>(record: &JobRecord, fx: &mut Effects<'_>) -> Result<(), StoreError> {
    let Ok(payload) = K::Payload::deserialize(&record.envelope.payload) else {
        return Ok(());
    };
    K::on_outcome(&Done { record, payload }, fx)
}

/// Defines the hook dispatch over [`JobKind`] from the registration list.
macro_rules! define_hooks {
    ($( $(#[$doc:meta])* $variant:ident => $ty:path, )*) => {
        /// Runs the outcome hook of `record`'s kind.
        pub(crate) fn on_outcome_of(
            record: &JobRecord,
            fx: &mut Effects<'_>,
        ) -> Result<(), StoreError> {
            match record.kind {
                $(JobKind::$variant => on_outcome::<$ty>(record, fx),)*
            }
        }
    };
}

roster_jobs::job_kinds!(define_hooks);
