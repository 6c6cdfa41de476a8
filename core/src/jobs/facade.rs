//! The job facade the API uses: build a job, stage it in the caller's transaction (job record +
//! outbox entry), wake the relay once the transaction is durable, and wait for the outcome.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};

use super::{JobEnvelope, JobKind, JobRecord, JobStatus};
use crate::audit::Tenant;
use crate::ids::JobId;
use crate::store::{StoreError, Tree, Txn, TxnExt};

/// An outbox entry: a job accepted by the control plane and not yet in the queue backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// The backend task id to push under (pushes of an existing id are ignored, so a re-push
    /// after a crash is harmless).
    pub task_id: ulid::Ulid,
    /// Queue name.
    pub queue: String,
    /// What to push.
    pub envelope: JobEnvelope,
}

/// Wakes API requests waiting for a job's outcome.
#[derive(Debug, Default)]
pub struct OutcomeHub {
    waiters: Mutex<HashMap<JobId, Vec<oneshot::Sender<()>>>>,
}

impl OutcomeHub {
    /// Registers interest in `job`; the receiver fires once its outcome is recorded. Register
    /// before submitting, so a fast outcome is not missed.
    pub fn watch(&self, job: JobId) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.lock();
        if w.len() > 10_000 {
            w.retain(|_, v| {
                v.retain(|s| !s.is_closed());
                !v.is_empty()
            });
        }
        w.entry(job).or_default().push(tx);
        rx
    }

    /// Wakes everyone waiting on `job`.
    pub fn wake(&self, job: JobId) {
        if let Some(v) = self.waiters.lock().remove(&job) {
            for s in v {
                let _ = s.send(());
            }
        }
    }

    /// Number of jobs with waiters (for metrics).
    pub fn len(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The facade: shared by API handlers.
#[derive(Debug)]
pub struct Jobs {
    relay_wake: Arc<Notify>,
    hub: Arc<OutcomeHub>,
    max_attempts: u32,
}

impl Jobs {
    /// A facade whose relay is woken through `relay_wake`.
    pub fn new(relay_wake: Arc<Notify>, hub: Arc<OutcomeHub>, max_attempts: u32) -> Self {
        Self {
            relay_wake,
            hub,
            max_attempts,
        }
    }

    /// The outcome hub.
    pub fn hub(&self) -> &Arc<OutcomeHub> {
        &self.hub
    }

    /// The relay's wake-up.
    pub fn relay_wake(&self) -> &Arc<Notify> {
        &self.relay_wake
    }

    /// Builds a new job record (not yet stored).
    pub fn build(
        &self,
        id: JobId,
        kind: JobKind,
        tenant: Tenant,
        payload: serde_json::Value,
        context: serde_json::Value,
        now: DateTime<Utc>,
    ) -> JobRecord {
        new_record(id, kind, tenant, payload, context, now, self.max_attempts)
    }

    /// Writes the job record and its outbox entry inside the caller's transaction, giving the
    /// job its turns on the subjects it changes (see [`super::order`]).
    pub fn stage_in(tx: &dyn Txn, record: &JobRecord) -> Result<(), StoreError> {
        let turns = super::order::assign_in(tx, record.kind, &record.envelope.payload)?;
        if turns.is_empty() && record.envelope.turns.is_empty() {
            // A job without a subject is written as it is.
            return write_staged(tx, record);
        }
        let mut record = record.clone();
        record.envelope.turns = turns;
        write_staged(tx, &record)
    }

    /// [`Jobs::stage_in`] for a record the caller gives up (no copy).
    pub fn stage_owned_in(tx: &dyn Txn, mut record: JobRecord) -> Result<(), StoreError> {
        record.envelope.turns = super::order::assign_in(tx, record.kind, &record.envelope.payload)?;
        write_staged(tx, &record)
    }

    /// Call after the staging transaction is durable: the relay pushes at once.
    pub fn staged(&self) {
        metrics::counter!("roster_jobs_submitted_total").increment(1);
        self.relay_wake.notify_one();
    }
}

/// Writes a staged job's record and outbox entry.
fn write_staged(tx: &dyn Txn, record: &JobRecord) -> Result<(), StoreError> {
    /// [`OutboxEntry`]'s wire form, borrowing the envelope.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry<'a> {
        task_id: ulid::Ulid,
        queue: &'a str,
        envelope: &'a JobEnvelope,
    }
    tx.put_json(Tree::Jobs, &record.id.to_bytes(), record)?;
    let entry = Entry {
        task_id: record.task_id,
        queue: record.kind.queue(),
        envelope: &record.envelope,
    };
    tx.put_json(Tree::Outbox, &record.task_id.to_bytes(), &entry)
}

/// A new job record (not yet stored) allowing `max_attempts` attempts.
pub fn new_record(
    id: JobId,
    kind: JobKind,
    tenant: Tenant,
    payload: serde_json::Value,
    context: serde_json::Value,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> JobRecord {
    let envelope = JobEnvelope {
        job_id: id,
        generation: 0,
        kind,
        tenant,
        submitted_at: now,
        max_attempts,
        payload,
        turns: Vec::new(),
    };
    JobRecord {
        id,
        kind,
        tenant,
        status: JobStatus::Queued,
        attempts: 0,
        generation: 0,
        task_id: id.0,
        created_at: now,
        updated_at: now,
        finished_at: None,
        result: None,
        error: None,
        timings: None,
        context,
        envelope,
    }
}

/// Operator actions on jobs.
pub mod ops {
    use super::*;
    use crate::context::Ctx;
    use crate::error::CoreError;
    use crate::store::{StoreExt, Tree};

    /// Submits a job on its own (no other state change): stages it, makes it durable, wakes
    /// the relay. The receiver fires when its outcome is recorded.
    pub async fn submit(
        ctx: &Ctx,
        rec: &JobRecord,
    ) -> Result<tokio::sync::oneshot::Receiver<()>, CoreError> {
        let done = ctx.jobs.hub().watch(rec.id);
        ctx.store.transact(|tx| Jobs::stage_in(tx, rec))?;
        ctx.store.durable().await?;
        ctx.jobs.staged();
        Ok(done)
    }

    /// Submits a job and waits up to `wait` for its outcome: the final record, or `None` when
    /// it is still queued or running.
    pub async fn submit_and_wait(
        ctx: &Ctx,
        rec: &JobRecord,
        wait: std::time::Duration,
    ) -> Result<Option<JobRecord>, CoreError> {
        let done = submit(ctx, rec).await?;
        if tokio::time::timeout(wait, done).await.is_err() {
            return Ok(None);
        }
        Ok(get(ctx, rec.id)?.filter(|r| r.status.is_final()))
    }

    /// Reads a job.
    pub fn get(ctx: &Ctx, id: JobId) -> Result<Option<JobRecord>, CoreError> {
        Ok(ctx.store.get_json(Tree::Jobs, &id.to_bytes())?)
    }

    /// Dead-lettered jobs, oldest first, after `after`.
    pub fn dead(
        ctx: &Ctx,
        after: Option<JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, CoreError> {
        let after = after.map(|a| a.to_bytes());
        let keys = ctx.store.scan(
            Tree::DeadJobs,
            &[],
            after.as_ref().map(|a| &a[..]),
            limit,
            false,
        )?;
        let mut out = Vec::with_capacity(keys.len());
        for (k, _) in keys {
            if let Some(r) = ctx.store.get_json::<JobRecord>(Tree::Jobs, &k)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Sends a dead job round again: a new generation (attempts restart), same job id (so a
    /// promote converges to the target it already resolved).
    pub async fn retry(ctx: &Ctx, id: JobId) -> Result<JobRecord, CoreError> {
        let now = ctx.clock.now();
        let task_id = ulid::Ulid::generate();
        let rec = ctx.store.transact(|tx| {
            let Some(mut rec) = tx.get_json::<JobRecord>(Tree::Jobs, &id.to_bytes())? else {
                return Ok(Err(CoreError::NotFound(format!("job {id}"))));
            };
            if rec.status != JobStatus::Dead {
                return Ok(Err(CoreError::invalid(
                    "status",
                    format!(
                        "only dead jobs can be retried; job {id} is {:?}",
                        rec.status
                    )
                    .to_lowercase(),
                )));
            }
            rec.generation += 1;
            rec.envelope.generation = rec.generation;
            rec.task_id = task_id;
            rec.status = JobStatus::Queued;
            rec.attempts = 0;
            rec.error = None;
            rec.finished_at = None;
            rec.updated_at = now;
            tx.remove(Tree::DeadJobs, &id.to_bytes())?;
            Jobs::stage_in(tx, &rec)?;
            Ok(Ok(rec))
        })??;
        ctx.store.durable().await?;
        ctx.jobs.staged();
        Ok(rec)
    }

    /// Forgets finished job records older than `server.job_retention`; returns how many.
    pub fn purge(ctx: &Ctx) -> Result<u64, CoreError> {
        let keep = chrono::Duration::from_std(ctx.config.server.job_retention)
            .unwrap_or(chrono::Duration::days(7));
        let cutoff = ctx.clock.now() - keep;
        let mut removed = 0;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let batch =
                ctx.store
                    .scan_json::<JobRecord>(Tree::Jobs, &[], after.as_deref(), 1000, false)?;
            if batch.is_empty() {
                return Ok(removed);
            }
            for (k, rec) in &batch {
                // Job ids are time-ordered: once one is recent, the rest are too.
                if rec.created_at >= cutoff {
                    return Ok(removed);
                }
                if rec.status.is_final() && rec.status != JobStatus::Dead {
                    ctx.store.remove(Tree::Jobs, k)?;
                    removed += 1;
                }
            }
            after = batch.last().map(|(k, _)| k.clone());
        }
    }
}
