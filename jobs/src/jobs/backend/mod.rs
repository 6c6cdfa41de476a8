//! Queue backends: the embedded SQLite queue (default) and Redis, behind one interface.
//!
//! A backend carries four things:
//! - **tasks**: apalis storages, one per queue, that workers consume (built by
//!   [`SqliteBackend::storage`] / [`RedisBackend::storage`]);
//! - **the ledger**: per-job attempt counters (starts, which count crashes apalis does not see, and failures),
//!   the resolved plan of a non-idempotent operation, and the final outcome;
//! - **outcomes**: a durable stream from workers to the control plane's recorder;
//! - **locks**: short keyed leases so two jobs never change the same subject at once;
//! - **turns**: per subject, the highest sequence finished, and the jobs parked until theirs
//!   (see [`super::order`]).

mod beats;
pub mod redis;
pub mod sqlite;
pub mod sqlite_worker;
pub mod wake;

use std::time::Duration;

use async_trait::async_trait;

use super::order::Turn;
use super::{JobEnvelope, JobOutcome};
use crate::ids::JobId;

pub use self::redis::RedisBackend;
pub use self::sqlite::SqliteBackend;

/// A backend failure. Always transient from the caller's point of view: the operation can be
/// retried once the backend is reachable.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis failed or is unreachable.
    #[error("redis: {0}")]
    Redis(String),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// A stored value is unreadable.
    #[error("queue data is unreadable: {0}")]
    Decode(String),
}

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite.
    Sqlite,
    /// Redis.
    Redis,
}

impl BackendKind {
    /// `sqlite` / `redis`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Redis => "redis",
        }
    }
}

/// What a worker learns when it starts an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptStart {
    /// Attempts started so far, this one included (interrupted ones too).
    pub attempt: u32,
    /// Attempts that failed (and were counted with [`QueueBackend::count_failure`]).
    pub failures: u32,
    /// The plan recorded by an earlier attempt (`ledger["plan"]`).
    pub plan: Option<serde_json::Value>,
    /// The outcome already decided for this generation (the task was delivered again after it
    /// finished).
    pub outcome: Option<serde_json::Value>,
}

/// An outcome handed to the recorder, with the receipt that acknowledges it.
pub type ReceivedOutcome = (String, JobOutcome);

/// A job parked until its turn on a subject (see [`QueueBackend::park`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Parked {
    /// The subject.
    pub subject: String,
    /// The job's sequence on it.
    pub seq: u64,
    /// The queue to push it to.
    pub queue: String,
    /// The job.
    pub envelope: JobEnvelope,
}

/// What the control plane and workers need from a queue backend.
#[async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Pushes a task under `task_id` to `queue`. Pushing an id that already exists succeeds
    /// without creating a second task.
    async fn push(
        &self,
        queue: &str,
        task_id: ulid::Ulid,
        envelope: &JobEnvelope,
    ) -> Result<(), QueueError>;

    /// Pushes several tasks to `queue` in one round trip where the backend allows it. Ids that
    /// already exist are skipped, as with [`QueueBackend::push`].
    async fn push_many(
        &self,
        queue: &str,
        tasks: &[(ulid::Ulid, JobEnvelope)],
    ) -> Result<(), QueueError> {
        for (id, env) in tasks {
            self.push(queue, *id, env).await?;
        }
        Ok(())
    }

    /// Tells idle workers of `queue` (in this and other processes) that `tasks` tasks were
    /// pushed to it.
    async fn announce(&self, queue: &str, tasks: usize) -> Result<(), QueueError>;

    /// Counts the start of an attempt of `job` (generation `generation`), and returns the count
    /// with the job's recorded plan and this generation's decided outcome, if any.
    async fn begin_attempt(&self, job: JobId, generation: u32) -> Result<AttemptStart, QueueError>;

    /// The job's attempt as callers count it: 0 before it starts, then its failed attempts plus
    /// one (interrupted starts are not attempts).
    async fn attempts(&self, job: JobId, generation: u32) -> Result<u32, QueueError>;

    /// Counts a failed attempt of `job` (generation `generation`) and remembers its error (the
    /// latest wins); returns the failures so far.
    async fn count_failure(
        &self,
        job: JobId,
        generation: u32,
        error: &serde_json::Value,
    ) -> Result<u32, QueueError>;

    /// The highest sequence finished on `subject` (0 when none).
    async fn turn_finished(&self, subject: &str) -> Result<u64, QueueError>;

    /// Notes that the job holding `turns` finished (per subject the highest sequence wins; never
    /// vacuumed) and returns the jobs parked on the next turns, now theirs.
    /// [`QueueBackend::finish`] does this itself; this is for a job found already decided on
    /// redelivery.
    async fn finish_turns(&self, turns: &[Turn]) -> Result<Vec<Parked>, QueueError>;

    /// Parks `envelope` until its `turn` comes, unless it has come (the subject's finished
    /// sequence, or the turn's floor, is the one before): one atomic step, so a finish of the
    /// turn before either sees the job parked or lets it go. `true` when parked: the delivery
    /// may be acknowledged; the job is pushed again when the turn before finishes.
    async fn park(
        &self,
        turn: &Turn,
        queue: &str,
        envelope: &JobEnvelope,
    ) -> Result<bool, QueueError>;

    /// Forgets parked jobs (once they were pushed).
    async fn unpark(&self, parked: &[Parked]) -> Result<(), QueueError>;

    /// Stores `value` under `job`/`field` unless something is there; returns what is stored.
    async fn ledger_claim(
        &self,
        job: JobId,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, QueueError>;

    /// Reads `job`/`field`.
    async fn ledger_get(
        &self,
        job: JobId,
        field: &str,
    ) -> Result<Option<serde_json::Value>, QueueError>;

    /// Takes (or renews, if `holder` already has it) the lease on `key` for `ttl`.
    async fn lock(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, QueueError>;

    /// Releases the lease if `holder` has it.
    async fn unlock(&self, key: &str, holder: &str) -> Result<(), QueueError>;

    /// Decides the outcome of a job generation (the first decision wins: it is recorded in the
    /// ledger) and appends the decided outcome to the outcome stream, atomically, and marks the
    /// job's `turns` finished (see [`QueueBackend::finish_turns`]). Returns the decided outcome
    /// and the jobs parked on the next turns.
    async fn finish(
        &self,
        outcome: &JobOutcome,
        turns: &[Turn],
    ) -> Result<(JobOutcome, Vec<Parked>), QueueError>;

    /// Appends an outcome to the stream the recorder consumes.
    async fn publish_outcome(&self, outcome: &JobOutcome) -> Result<(), QueueError>;

    /// Up to `max` outcomes, waiting up to `wait` for the first.
    async fn next_outcomes(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedOutcome>, QueueError>;

    /// Acknowledges recorded outcomes.
    async fn ack_outcomes(&self, receipts: &[String]) -> Result<(), QueueError>;

    /// Makes outcomes a previous recorder took but never acknowledged available again.
    async fn recover_outcomes(&self) -> Result<u64, QueueError>;

    /// Removes finished tasks and ledger entries older than `older_than`; returns how many.
    async fn vacuum(&self, older_than: Duration) -> Result<u64, QueueError>;

    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), QueueError>;
}
