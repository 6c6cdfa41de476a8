//! The job facade: build a job of a registered kind ([`NewJob`]), stage it in the caller's
//! transaction (job record + outbox entry) and commit ([`commit`]: one write, flushed, relay
//! woken), and wait for the outcome.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};

use super::kind::Kind;
use super::{JobEnvelope, JobKind, JobRecord, JobStatus};
use crate::audit::Tenant;
use crate::ids::JobId;
use crate::store::{Store, StoreError, StoreExt, Tree, Txn, TxnExt};

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

    /// A new job of kind `K` (not yet staged), allowing `queue.max_attempts` attempts.
    pub fn job<K: Kind>(
        &self,
        tenant: Tenant,
        payload: &K::Payload,
        context: serde_json::Value,
        now: DateTime<Utc>,
    ) -> NewJob {
        NewJob::new::<K>(tenant, payload, context, now, self.max_attempts)
    }

    /// Call after the staging transaction is durable: the relay pushes at once.
    pub(crate) fn staged(&self) {
        metrics::counter!("roster_jobs_submitted_total").increment(1);
        self.relay_wake.notify_one();
    }
}

/// A job ready to be staged: its record, and the subjects it orders on (taken from its typed
/// payload, see [`Kind::subjects`]). Only [`Staging`] stores it.
#[derive(Debug, Clone)]
pub struct NewJob {
    record: JobRecord,
    subjects: Vec<String>,
}

impl NewJob {
    /// A job of kind `K` with a fresh id, allowing `max_attempts` attempts.
    pub fn new<K: Kind>(
        tenant: Tenant,
        payload: &K::Payload,
        context: serde_json::Value,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Self {
        let payload_value = serde_json::to_value(payload).expect("payloads serialize");
        Self {
            record: new_record(
                JobId::generate(),
                K::KIND,
                tenant,
                payload_value,
                context,
                now,
                max_attempts,
            ),
            subjects: super::kind::subjects::<K>(payload),
        }
    }

    /// Its id.
    pub fn id(&self) -> JobId {
        self.record.id
    }

    /// Its kind.
    pub fn kind(&self) -> JobKind {
        self.record.kind
    }

    /// Replaces the request context stored with it (what the API needs to render the answer).
    pub fn set_context(&mut self, context: serde_json::Value) {
        self.record.context = context;
    }
}

/// The jobs staged in one write (see [`commit`]): each job's record and outbox entry go into the
/// caller's transaction, with the job's turns on the subjects it changes (see [`super::order`]).
#[derive(Debug, Default)]
pub struct Staging {
    staged: usize,
    unchanged: bool,
}

impl Staging {
    /// Stages `job` in `tx`.
    pub fn stage(&mut self, tx: &dyn Txn, job: &NewJob) -> Result<(), StoreError> {
        let turns = super::order::assign_in(tx, job.subjects.iter().cloned())?;
        if turns.is_empty() {
            // A job without a subject is written as it is.
            write_staged(tx, &job.record)?;
        } else {
            let mut record = job.record.clone();
            record.envelope.turns = turns;
            write_staged(tx, &record)?;
        }
        self.staged += 1;
        Ok(())
    }

    /// [`Staging::stage`] for a job the caller gives up (no copy).
    pub fn stage_owned(&mut self, tx: &dyn Txn, job: NewJob) -> Result<(), StoreError> {
        let NewJob {
            mut record,
            subjects,
        } = job;
        record.envelope.turns = super::order::assign_in(tx, subjects)?;
        write_staged(tx, &record)?;
        self.staged += 1;
        Ok(())
    }

    /// Stages an existing record again (an operator's retry): it takes new turns, after
    /// everything accepted before it.
    pub(crate) fn restage(&mut self, tx: &dyn Txn, record: &JobRecord) -> Result<(), StoreError> {
        let subjects = super::order::subjects_of(record.kind, &record.envelope.payload);
        let turns = super::order::assign_in(tx, subjects)?;
        if turns.is_empty() && record.envelope.turns.is_empty() {
            write_staged(tx, record)?;
        } else {
            let mut record = record.clone();
            record.envelope.turns = turns;
            write_staged(tx, &record)?;
        }
        self.staged += 1;
        Ok(())
    }

    /// This write changed nothing (a refusal, a replay): [`commit`] skips the flush.
    pub fn unchanged(&mut self) {
        self.unchanged = true;
    }

    /// Jobs staged so far.
    pub fn count(&self) -> usize {
        self.staged
    }
}

/// The one way state changes and jobs are committed: runs `f` in one store transaction (the
/// state change and the jobs it stages through [`Staging`]), makes it durable, and wakes the
/// relay when jobs were staged. A write that calls [`Staging::unchanged`] (and stages nothing)
/// is not flushed.
pub async fn commit<T>(
    store: &dyn Store,
    jobs: &Jobs,
    mut f: impl FnMut(&dyn Txn, &mut Staging) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut staging = Staging::default();
    let out = store.transact(|tx| {
        // A transaction retried after a conflict starts over.
        staging = Staging::default();
        f(tx, &mut staging)
    })?;
    if staging.staged > 0 || !staging.unchanged {
        store.durable().await?;
    }
    if staging.staged > 0 {
        jobs.staged();
    }
    Ok(out)
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
pub(crate) fn new_record(
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

    /// Submits a job of kind `K` on its own (no other state change) for `tenant`, in one
    /// [`commit`]. The receiver fires when its outcome is recorded.
    pub async fn submit<K: Kind>(
        ctx: &Ctx,
        tenant: Tenant,
        payload: &K::Payload,
        context: serde_json::Value,
    ) -> Result<(JobId, tokio::sync::oneshot::Receiver<()>), CoreError> {
        let job = ctx.jobs.job::<K>(tenant, payload, context, ctx.clock.now());
        let id = job.id();
        let done = ctx.jobs.hub().watch(id);
        ctx.commit(|tx, jobs| jobs.stage(tx, &job)).await?;
        Ok((id, done))
    }

    /// Submits a job (see [`submit`]) and waits up to `wait` for its outcome: its id and the
    /// final record, or `None` when it is still queued or running.
    pub async fn submit_and_wait<K: Kind>(
        ctx: &Ctx,
        tenant: Tenant,
        payload: &K::Payload,
        context: serde_json::Value,
        wait: std::time::Duration,
    ) -> Result<(JobId, Option<JobRecord>), CoreError> {
        let (id, done) = submit::<K>(ctx, tenant, payload, context).await?;
        if tokio::time::timeout(wait, done).await.is_err() {
            return Ok((id, None));
        }
        Ok((id, get(ctx, id)?.filter(|r| r.status.is_final())))
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
        let rec = ctx
            .commit(|tx, jobs| {
                let Some(mut rec) = tx.get_json::<JobRecord>(Tree::Jobs, &id.to_bytes())? else {
                    jobs.unchanged();
                    return Ok(Err(CoreError::NotFound(format!("job {id}"))));
                };
                if rec.status != JobStatus::Dead {
                    jobs.unchanged();
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
                jobs.restage(tx, &rec)?;
                Ok(Ok(rec))
            })
            .await??;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::ids::GuildId;
    use crate::jobs::discord::DiscordTarget;
    use crate::jobs::discord::{DirectMessage, DirectMessageJob, DiscordBan, DiscordBanJob};
    use crate::store::{Entries, SledStore, StoreExt};

    /// The store, counting flushes, failing them while `failing` is set.
    struct Flushes {
        inner: SledStore,
        count: AtomicUsize,
        failing: AtomicBool,
    }

    impl Store for Flushes {
        fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(tree, key)
        }
        fn scan(
            &self,
            tree: Tree,
            prefix: &[u8],
            after: Option<&[u8]>,
            limit: usize,
            rev: bool,
        ) -> Result<Entries, StoreError> {
            self.inner.scan(tree, prefix, after, limit, rev)
        }
        fn transact_dyn(
            &self,
            f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            self.inner.transact_dyn(f)
        }
        fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
            self.inner.insert(tree, key, value)
        }
        fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
            self.inner.remove(tree, key)
        }
        fn next_id(&self) -> Result<u64, StoreError> {
            self.inner.next_id()
        }
        fn len(&self, tree: Tree) -> usize {
            self.inner.len(tree)
        }
        fn durable(&self) -> futures::future::BoxFuture<'static, Result<(), StoreError>> {
            self.count.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                Box::pin(async { Err(StoreError::Io("no space left on device".into())) })
            } else {
                self.inner.durable()
            }
        }
        fn flush_blocking(&self) -> Result<(), StoreError> {
            self.inner.flush_blocking()
        }
    }

    /// Whether the relay was woken since the last call.
    async fn woken(n: &Notify) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(50), n.notified())
            .await
            .is_ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commit_writes_state_and_jobs_at_once_flushes_then_wakes_the_relay() {
        let dir = std::env::temp_dir().join(format!("roster-commit-{}", ulid::Ulid::generate()));
        let store = Flushes {
            inner: SledStore::open(&dir).expect("store"),
            count: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        };
        let wake = Arc::new(Notify::new());
        let jobs = Jobs::new(wake.clone(), Arc::default(), 3);
        let guild = GuildId::new(5).unwrap();
        let target = DiscordTarget {
            guild,
            bot_token: None,
        };
        let now = chrono::Utc::now();
        let dm = jobs.job::<DirectMessage>(
            Tenant::Guild(guild),
            &DirectMessageJob {
                target: target.clone(),
                user_id: 9,
                content: "hi".into(),
            },
            serde_json::json!({}),
            now,
        );
        let ban = jobs.job::<DiscordBan>(
            Tenant::Guild(guild),
            &DiscordBanJob {
                target,
                user_id: 9,
                active: true,
                reason: "r".into(),
                record_id: 1,
            },
            serde_json::json!({}),
            now,
        );

        // State and two jobs in one write, flushed once, the relay woken.
        commit(&store, &jobs, |tx, staging| {
            tx.insert(Tree::Meta, b"state", b"changed".to_vec())?;
            staging.stage(tx, &dm)?;
            staging.stage(tx, &ban)
        })
        .await
        .expect("commit");
        assert_eq!(store.count.load(Ordering::SeqCst), 1);
        assert!(woken(&wake).await, "the relay is woken");
        assert_eq!(store.len(Tree::Outbox), 2);
        let rec: JobRecord = store
            .get_json(Tree::Jobs, &ban.id().to_bytes())
            .unwrap()
            .expect("the ban's record");
        assert_eq!(rec.kind, JobKind::DiscordBan);
        let subjects: Vec<&str> = rec
            .envelope
            .turns
            .iter()
            .map(|t| t.subject.as_str())
            .collect();
        assert_eq!(subjects, ["member:5:9"], "the kind's subject");
        let rec: JobRecord = store
            .get_json(Tree::Jobs, &dm.id().to_bytes())
            .unwrap()
            .expect("the message's record");
        assert!(
            rec.envelope.turns.is_empty(),
            "a direct message is not ordered"
        );

        // A state change without jobs is flushed; the relay is left alone.
        commit(&store, &jobs, |tx, _| {
            tx.insert(Tree::Meta, b"state", b"again".to_vec())
        })
        .await
        .expect("commit");
        assert_eq!(store.count.load(Ordering::SeqCst), 2);
        assert!(!woken(&wake).await, "no job, no wake-up");

        // A write that changed nothing is not flushed.
        commit(&store, &jobs, |_, staging| {
            staging.unchanged();
            Ok(())
        })
        .await
        .expect("commit");
        assert_eq!(store.count.load(Ordering::SeqCst), 2);

        // A failed flush fails the commit, and the relay is not woken for jobs not yet durable.
        store.failing.store(true, Ordering::SeqCst);
        let again = jobs.job::<DirectMessage>(
            Tenant::Guild(guild),
            &DirectMessageJob {
                target: DiscordTarget {
                    guild,
                    bot_token: None,
                },
                user_id: 9,
                content: "hi".into(),
            },
            serde_json::json!({}),
            now,
        );
        let failed = commit(&store, &jobs, |tx, staging| staging.stage(tx, &again)).await;
        assert!(failed.is_err());
        assert!(!woken(&wake).await, "not woken before the jobs are durable");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
