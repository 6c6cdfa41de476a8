//! Durable jobs: what a job is (envelope, record, outcome), the job kinds and their payloads, the
//! ordering subjects, and the queue backends. The control plane (`roster_core::jobs`) adds how a
//! job is submitted (an outbox in the store, written in the same transaction as the state
//! change), relayed to the queue backend, and how its outcome is recorded.
//!
//! ```text
//!  API ──(one store txn: state + job record + outbox)──▶ sled
//!                                                   │ relay (retries while the backend is down)
//!                                                   ▼
//!                                        queue backend (SQLite | Redis) ──▶ workers
//!                                                   ▲                         │
//!        recorder (job record, audit, wake waiters) ◀── outcomes ◀────────────┘
//! ```
//!
//! Delivery is at least once. Handlers converge, and the per-job ledger in the backend (attempt
//! counts, a resolved plan, the final outcome) makes operations that are not naturally
//! idempotent (promote, demote) take effect exactly once even when a worker dies between
//! changing upstream state and acknowledging the task.

pub mod backend;
pub mod discord;
pub mod groups;
pub mod kind;
pub mod moderation;
pub mod order;
pub mod ranking;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::model::Tenant;
use kind::define_kinds;

/// The queue every ranking job goes to. A fixed string: never derive it from a type name.
pub const RANKING_QUEUE: &str = "roster.ranking";

/// The queue of moderation side effects that talk to Roblox (experience bans).
pub const MODERATION_QUEUE: &str = "roster.moderation";

/// The queue of Discord jobs (role sync, role changes, direct messages, bans).
pub const DISCORD_QUEUE: &str = "roster.discord";

/// Every queue Roster runs workers for.
pub const QUEUES: [&str; 3] = [RANKING_QUEUE, MODERATION_QUEUE, DISCORD_QUEUE];

/// The registration list: every job kind, once. Calls `$m! { Variant => Type, … }` with each
/// entry; core defines [`JobKind`] and the dispatch of ordering and outcome hooks from it
/// ([`kind`]), the worker its handler dispatch. Each type implements [`kind::Kind`].
#[macro_export]
macro_rules! job_kinds {
    ($m:ident) => {
        $m! {
            /// Set a member's rank.
            RankSet => $crate::jobs::ranking::RankSet,
            /// Apply the matching promote rule.
            RankPromote => $crate::jobs::ranking::RankPromote,
            /// Apply the matching demote rule.
            RankDemote => $crate::jobs::ranking::RankDemote,
            /// Accept or decline a request to join a Roblox group.
            GroupJoinRequest => $crate::jobs::groups::JoinRequestDecision,
            /// Apply or lift a Roblox experience ban (Open Cloud user restrictions).
            RobloxRestrict => $crate::jobs::moderation::RobloxRestrict,
            /// Sync one member's Discord roles and nickname.
            DiscordSyncMember => $crate::jobs::discord::SyncMember,
            /// Read one page of a guild's members (sync-all).
            DiscordSyncPage => $crate::jobs::discord::SyncPage,
            /// Sync a batch of members (sync-all).
            DiscordSyncBatch => $crate::jobs::discord::SyncBatch,
            /// Add or remove roles.
            DiscordRoleChanges => $crate::jobs::discord::RoleChanges,
            /// Send a direct message.
            DiscordDirectMessage => $crate::jobs::discord::DirectMessage,
            /// Ban or unban in Discord.
            DiscordBan => $crate::jobs::discord::DiscordBan,
            /// Tell a linked NamelessMC website the guild's roles.
            DiscordPushRoleList => $crate::jobs::discord::PushRoleList,
        }
    };
}

job_kinds!(define_kinds);

/// What travels through the queue: everything the worker needs, sealed where secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobEnvelope {
    /// Roster's job id (stable across retries).
    pub job_id: JobId,
    /// Bumped when an operator retries a dead job, so attempts restart.
    pub generation: u32,
    /// Kind.
    pub kind: JobKind,
    /// Whose job.
    pub tenant: Tenant,
    /// When the API accepted it.
    pub submitted_at: DateTime<Utc>,
    /// Failed attempts before the job is dead-lettered (a crash or a lost worker is not a
    /// failed attempt; see `queue.max_interruptions`).
    pub max_attempts: u32,
    /// Kind-specific payload.
    pub payload: serde_json::Value,
    /// Its turns on the subjects it changes (see [`order`]); empty for jobs without a subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<order::Turn>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted, waiting for a worker (or for the queue backend to come back).
    Queued,
    /// A worker has started it at least once.
    Running,
    /// Done.
    Succeeded,
    /// Failed permanently (a precise error code says why).
    Failed,
    /// Ran out of attempts; waiting for an operator.
    Dead,
}

impl JobStatus {
    /// Whether the job has finished (one way or another).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Dead
        )
    }
}

/// A job's failure, in the caller's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobError {
    /// Machine code in the API family's vocabulary, e.g. `ROBLOX_API_ERROR`.
    pub code: String,
    /// Human message (never a secret).
    pub message: String,
}

/// Where a job's time went.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTimings {
    /// From acceptance to the start of the last attempt.
    pub queue_wait_ms: f64,
    /// The last attempt's run time.
    pub run_ms: f64,
    /// Of which spent waiting for upstream responses.
    pub upstream_ms: f64,
}

/// A job as the control plane keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: JobKind,
    /// Whose.
    pub tenant: Tenant,
    /// Status.
    pub status: JobStatus,
    /// Attempts so far (as last reported).
    pub attempts: u32,
    /// Retry generation.
    pub generation: u32,
    /// The queue backend's task id for the current generation.
    pub task_id: ulid::Ulid,
    /// Accepted.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Kind-specific result on success.
    pub result: Option<serde_json::Value>,
    /// Error on failure or dead-letter.
    pub error: Option<JobError>,
    /// Timings of the last attempt.
    pub timings: Option<JobTimings>,
    /// Request context the API needs to render the answer (usage at submission, actor).
    pub context: serde_json::Value,
    /// The envelope, for operator retries.
    pub envelope: JobEnvelope,
}

impl JobRecord {
    /// When it finished (its last change, for a record that has not).
    pub fn done_at(&self) -> DateTime<Utc> {
        self.finished_at.unwrap_or(self.updated_at)
    }
}

/// How a job ended, as a worker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum OutcomeStatus {
    /// Done; kind-specific result.
    Succeeded {
        /// Result.
        result: serde_json::Value,
    },
    /// Failed permanently.
    Failed {
        /// Why.
        error: JobError,
    },
    /// Out of attempts.
    Dead {
        /// The last error.
        error: JobError,
    },
}

/// A worker's report of a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOutcome {
    /// Job.
    pub job_id: JobId,
    /// Generation it ran under.
    pub generation: u32,
    /// Kind.
    pub kind: JobKind,
    /// Attempts used.
    pub attempts: u32,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How.
    #[serde(flatten)]
    pub status: OutcomeStatus,
    /// Timings of the last attempt.
    pub timings: JobTimings,
}
