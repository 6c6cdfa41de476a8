//! The embedded queue's apalis backend: apalis-sqlite's tables and queries, driven by apalis'
//! own persistence loop ([`Persisted`]), with two changes that matter under load.
//!
//! - **Fetches only when there is something to fetch.** apalis-sqlite's storage fetches every
//!   time its worker is polled with a free slot: after a task finishes, after an
//!   acknowledgement, after a heartbeat, after any wake-up, so most fetches under load came back
//!   empty (10,134 fetches for about 4,700 rank jobs at 50 clients), each a write transaction on
//!   the queue's single connection that the pushes, acknowledgements and other fetches queued
//!   behind. Here every announced task (a push, a retry, an orphan handed back, a task found at
//!   start-up) is one fetch owed in the queue's backlog (see [`super::wake`]); a worker with a
//!   free slot fetches only when it takes one from there, or when its fallback tick fired
//!   ([`Wake::Tick`]: it then fetches until the queue comes back empty, a safety net).
//! - **One connection, no pool, no needless transactions.** Every statement goes straight to
//!   the queue file's one connection (a pool hands a connection back through a spawned task and
//!   a ping), and a single statement (a fetch, an acknowledgement) runs without `BEGIN` and
//!   `COMMIT` around it: each is atomic by itself.
//!
//! Everything else (registration, heartbeats, orphan recovery, acknowledgements, the task's
//! wire format) is apalis-sqlite's, through its public queries, so the file stays readable by
//! apalis' own tools.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use apalis_core::backend::persistence::{Persisted, Persistence, State, TaskEvent};
use apalis_core::backend::{Backend, BackendConfig, WorkerFilter};
use apalis_core::task::Task;
use apalis_core::task::status::Status;
use apalis_core::worker::context::WorkerContext;
use apalis_sqlite::JsonCodec;
use apalis_sqlite::queries;
use futures::StreamExt;
use serde_json::Value;
use sqlx::SqliteConnection;

use super::wake::{Notifier, Wake, WakeStream};

/// The queue file's one connection.
pub(super) type Conn = Arc<tokio::sync::Mutex<SqliteConnection>>;

/// apalis' persistence operations on the queue file, one queue's worth.
#[derive(Clone)]
pub(super) struct Jobs {
    pub(super) conn: Conn,
    pub(super) config: apalis_sqlite::Config,
    pub(super) notifier: Notifier,
    pub(super) beats: Beats,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("queue", &self.config.queue.to_string())
            .finish_non_exhaustive()
    }
}

impl Jobs {
    /// Tasks made fetchable again (orphans handed back, failures to retry): wake workers for
    /// them as for a push.
    fn requeued(&self, tasks: u64) {
        if tasks > 0 {
            self.notifier
                .notify(Some(self.config.queue.as_ref()), tasks as usize);
        }
    }
}

impl Jobs {
    /// One heartbeat for every worker of this process (`names`, all queues): their
    /// `last_seen` in one statement, then orphan recovery on every queue, in one transaction.
    /// Returns the tasks handed back, per queue.
    async fn beat(&self, names: &[String]) -> Result<Vec<(&'static str, u64)>, sqlx::Error> {
        let mut conn = self.conn.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for chunk in names.chunks(400) {
            let sql = format!(
                "UPDATE Workers SET last_seen = strftime('%s', 'now') WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            // Only placeholders are formatted in; the names are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in chunk {
                q = q.bind(n);
            }
            q.execute(&mut *tx).await?;
        }
        let dead_for = self.config.orphaned_duration().as_secs() as i64;
        let mut requeued = Vec::with_capacity(crate::jobs::QUEUES.len());
        for queue in crate::jobs::QUEUES {
            let n =
                queries::reenqueue_orphaned(&mut *tx, dead_for, queue, &WorkerFilter::None).await?;
            requeued.push((queue, n));
        }
        tx.commit().await?;
        Ok(requeued)
    }
}

/// The heartbeats of every worker of this process on the queue file, written together.
///
/// apalis has each worker write its own heartbeat (and look for orphans) every
/// `queue.heartbeat_interval`: with dozens of small workers that was some 44 write transactions
/// a second on an idle queue file (about 0.4 MB/s of disk writes). Here a worker's heartbeat
/// only records that it is alive, in memory; about once an interval, one of them writes every
/// live worker's `last_seen` and recovers orphans on every queue, in one transaction (so
/// `last_seen` is at most about an interval old, as before, and orphans are looked for as often).
/// A worker counts as live while it heartbeats (it is left out once it has been silent for an
/// interval and a half), so the `last_seen` of a worker that dies in a live process stops at most
/// an interval after its own last beat, and its tasks are handed back within
/// `heartbeat_interval × missed_heartbeats` of that.
#[derive(Clone, Default)]
pub(super) struct Beats(Arc<parking_lot::Mutex<BeatState>>);

#[derive(Default)]
struct BeatState {
    /// When the last shared beat began.
    last: Option<Instant>,
    /// Workers and when each last heartbeat.
    heard: HashMap<String, Instant>,
}

impl Beats {
    /// Records `worker`'s heartbeat; when a shared beat is due, returns every live worker's
    /// name (the caller writes it).
    fn due(&self, worker: &str, interval: Duration) -> Option<Vec<String>> {
        let now = Instant::now();
        let mut s = self.0.lock();
        s.heard.insert(worker.to_owned(), now);
        // Workers beat every `interval`, each on its own schedule: the first of them past nine
        // tenths of an interval writes for all, so the shared beat runs about once an interval.
        if s.last
            .is_some_and(|t| now.duration_since(t) < interval * 9 / 10)
        {
            return None;
        }
        s.last = Some(now);
        let window = interval + interval / 2;
        s.heard.retain(|_, at| now.duration_since(*at) <= window);
        Some(s.heard.keys().cloned().collect())
    }

    /// The shared beat failed: the next heartbeat writes again.
    fn failed(&self) {
        self.0.lock().last = None;
    }
}

impl Persistence for Jobs {
    type Compact = Vec<u8>;
    type Response = Value;
    type Error = apalis_sqlite::Error;

    async fn register(&mut self, worker: &WorkerContext) -> Result<(), Self::Error> {
        let mut conn = self.conn.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let requeued = queries::reenqueue_orphaned(
            &mut *tx,
            self.config.heartbeat_interval.as_secs() as i64,
            self.config.queue.as_ref(),
            &WorkerFilter::Only(worker.name().to_owned()),
        )
        .await?;
        queries::register_worker(&mut *tx, &self.config, worker, "SqliteStorage").await?;
        tx.commit().await?;
        drop(conn);
        self.requeued(requeued);
        Ok(())
    }

    async fn heartbeat(&mut self, worker: &WorkerContext) -> Result<(), Self::Error> {
        let interval = self.config.heartbeat_interval;
        let Some(names) = self.beats.due(worker.name(), interval) else {
            // A beat of this process wrote this worker's heartbeat moments ago.
            return Ok(());
        };
        let written = self.beat(&names).await;
        if written.is_err() {
            self.beats.failed();
        }
        let requeued = written?;
        for (queue, tasks) in requeued {
            if tasks > 0 {
                tracing::warn!(
                    queue,
                    tasks,
                    "handed back tasks of a worker that stopped heartbeating"
                );
                self.notifier.notify(Some(queue), tasks as usize);
            }
        }
        Ok(())
    }

    async fn fetch_next(
        &mut self,
        worker: &WorkerContext,
    ) -> Result<Vec<Task<Vec<u8>>>, Self::Error> {
        // One `UPDATE … RETURNING`: atomic without a transaction around it.
        let tasks = queries::fetch_next(&mut *self.conn.lock().await, &self.config, worker).await?;
        metrics::counter!(
            "roster_queue_fetches_total",
            "queue" => self.config.queue.to_string(),
            "result" => if tasks.is_empty() { "empty" } else { "task" }
        )
        .increment(1);
        Ok(tasks)
    }

    async fn handle_events(
        &mut self,
        events: Vec<TaskEvent<Value>>,
        worker: &WorkerContext,
    ) -> Result<(), Self::Error> {
        let mut locks = Vec::new();
        let mut acks = Vec::new();
        for e in &events {
            match e {
                TaskEvent::Lock { task_id } => locks.push(task_id.to_string()),
                TaskEvent::Complete(result) => acks.push(result),
                _ => {}
            }
        }
        // A failed task with attempts left is fetchable again once acknowledged.
        let retries = acks.iter().filter(|a| a.status == Status::Failed).count() as u64;
        let mut conn = self.conn.lock().await;
        match (locks.is_empty(), acks.is_empty()) {
            (true, true) => return Ok(()),
            (true, false) => {
                queries::ack_tasks(&mut *conn, &acks, worker.name()).await?;
            }
            (false, true) => {
                queries::lock_tasks(&mut *conn, &locks, worker.name()).await?;
            }
            (false, false) => {
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                queries::lock_tasks(&mut *tx, &locks, worker.name()).await?;
                queries::ack_tasks(&mut *tx, &acks, worker.name()).await?;
                tx.commit().await?;
            }
        }
        drop(conn);
        self.requeued(retries);
        Ok(())
    }

    async fn reenqueue_abandoned(
        &mut self,
        tasks: Vec<Task<Vec<u8>>>,
        worker: &WorkerContext,
    ) -> Result<u64, Self::Error> {
        let ids: Vec<String> = tasks
            .iter()
            .filter_map(|t| t.task_id().map(|id| id.to_string()))
            .collect();
        let mut conn = self.conn.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let count =
            queries::reenqueue_abandoned(&mut *tx, self.config.queue.as_ref(), worker.name(), &ids)
                .await?;
        if count as usize != tasks.len() {
            return Err(apalis_sqlite::Error::ReenqueueMismatch {
                queued: tasks.len(),
                abandoned: count as usize,
            });
        }
        tx.commit().await?;
        drop(conn);
        self.requeued(count);
        Ok(count)
    }

    async fn push_tasks(&mut self, tasks: Vec<Task<Vec<u8>>>) -> Result<(), Self::Error> {
        let mut conn = self.conn.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        queries::push_tasks(&mut *tx, self.config.queue.as_ref(), &tasks).await?;
        tx.commit().await?;
        drop(conn);
        self.requeued(tasks.len() as u64);
        Ok(())
    }
}

/// One worker's backend for one queue of the embedded file.
pub struct SqliteWorkerBackend {
    persisted: Persisted<Jobs>,
    wake: WakeStream,
    codec: JsonCodec<Vec<u8>>,
    /// The fallback tick fired: fetch until the queue comes back empty.
    sweep: bool,
    /// The tick fired while a fetch was in flight: sweep after it.
    sweep_later: bool,
    /// The fetch in flight took one owed fetch from the backlog: given back if it fails or is
    /// dropped.
    owed: bool,
}

impl std::fmt::Debug for SqliteWorkerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWorkerBackend")
            .field("queue", &self.persisted.config.queue.to_string())
            .field("sweep", &self.sweep)
            .finish_non_exhaustive()
    }
}

impl SqliteWorkerBackend {
    pub(super) fn new(jobs: Jobs, wake: WakeStream) -> Self {
        Self {
            persisted: Persisted::new(jobs),
            wake,
            codec: JsonCodec::default(),
            sweep: false,
            sweep_later: false,
            owed: false,
        }
    }

    fn fetching(&self) -> bool {
        matches!(self.persisted.state(), State::Fetch(_) | State::Buffered(_))
    }
}

impl Backend for SqliteWorkerBackend {
    type Task = Task<Vec<u8>>;
    type Error = apalis_sqlite::Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        let heartbeat = self.persisted.config.heartbeat_interval;
        self.persisted.poll_ready(cx, worker, heartbeat)
    }

    /// Called by apalis when this worker has a free slot.
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        if matches!(self.persisted.state(), State::Dead) {
            // The loop failed: let it say so (the worker then stops and is rebuilt).
            return self.persisted.poll_next(cx, worker);
        }
        let fetching = self.fetching();
        // Wake-ups for pushes only get this worker polled: what it owes is in the backlog.
        while let Poll::Ready(Some(w)) = self.wake.poll_next_unpin(cx) {
            if w == Wake::Tick {
                if fetching {
                    self.sweep_later = true;
                } else {
                    self.sweep = true;
                }
            }
        }
        if !fetching {
            // A sweep's fetch also settles a fetch owed, if any, so the count stays close to
            // the tasks waiting.
            self.owed = self.wake.take_backlog();
            if !self.owed && !self.sweep {
                // Nothing to fetch: the wake stream has registered this task's waker.
                return Poll::Pending;
            }
        }
        match self.persisted.poll_next(cx, worker) {
            Poll::Ready(Some(Ok(task))) => {
                self.owed = false;
                self.sweep |= std::mem::take(&mut self.sweep_later);
                Poll::Ready(Some(Ok(task)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The worker stops and is rebuilt; the fetch it owed is someone else's now.
                self.give_back();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending if !self.fetching() => {
                self.owed = false;
                // The fetch came back empty: a sweep is over; fetches owed meanwhile (pushes
                // during the fetch) are for this worker too.
                self.sweep = std::mem::take(&mut self.sweep_later);
                if self.sweep || self.wake.backlog_len() > 0 {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            other => other,
        }
    }

    /// apalis' loop drops a fetch still in flight when it closes; the fetch's `UPDATE` would
    /// still commit on sqlx's connection thread, leaving its task claimed by a worker that is
    /// gone until another worker's heartbeat hands it back. So a fetch in flight finishes
    /// first, and what it claimed is handed back to the queue (and announced) by apalis' own
    /// close, as tasks fetched but never run.
    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if let State::Fetch(fut) = self.persisted.state_mut() {
            let fetched = match fut.poll_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            self.owed = false;
            match fetched {
                Ok(tasks) if tasks.is_empty() => *self.persisted.state_mut() = State::Ready,
                Ok(tasks) => *self.persisted.state_mut() = State::Buffered(tasks.into()),
                Err(e) => {
                    *self.persisted.state_mut() = State::Ready;
                    return Poll::Ready(Err(e));
                }
            }
        }
        self.persisted.poll_close(cx, worker)
    }
}

impl SqliteWorkerBackend {
    /// Returns the owed fetch the fetch in flight had taken, if any.
    fn give_back(&mut self) {
        if std::mem::take(&mut self.owed) {
            self.wake.give_back();
        }
    }
}

impl Drop for SqliteWorkerBackend {
    fn drop(&mut self) {
        if self.fetching() {
            self.give_back();
        }
    }
}

impl BackendConfig for SqliteWorkerBackend {
    type Args = Value;
    type Id = ulid::Ulid;
    type Kind = apalis_core::backend::finalize::Durable;
    type Config = apalis_sqlite::Config;
    type Layer = apalis_core::backend::persistence::TaskPersistLayer<JsonCodec<Value>, Value>;

    fn config(&self) -> &Self::Config {
        &self.persisted.config
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Self::Layer {
        let (batch, persist_results, lock_tasks) = (
            self.persisted.config.batch_size,
            self.persisted.config.persist_results,
            self.persisted.config.lock_tasks,
        );
        self.persisted
            .layer(JsonCodec::default(), batch)
            .persist_results(persist_results)
            .lock_tasks(lock_tasks)
    }
}

/// Payloads are stored as JSON bytes, as apalis-sqlite's own storage writes them.
impl apalis_core::backend::WireFormatBackend for SqliteWorkerBackend {
    type Codec = JsonCodec<Vec<u8>>;
    type Compact = Vec<u8>;

    fn codec(&self) -> &Self::Codec {
        &self.codec
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use apalis_core::backend::future::BoxSyncFuture;
    use futures::FutureExt;

    use super::*;
    use crate::config::QueueConfig;
    use crate::jobs::QUEUES;
    use crate::jobs::backend::{QueueBackend, SqliteBackend};

    /// Closing a worker whose fetch has claimed a task but not yet returned it hands the task
    /// back at once and announces it. (apalis' own close drops a fetch in flight: its `UPDATE`
    /// has committed, so the task stayed claimed by a worker that is gone until another
    /// worker's heartbeat noticed.)
    #[tokio::test]
    async fn closing_with_a_fetch_in_flight_hands_its_task_back() {
        let dir = std::env::temp_dir().join(format!("roster-close-{}", ulid::Ulid::generate()));
        let config = QueueConfig {
            poll_interval: Duration::from_secs(24 * 3600),
            ..QueueConfig::default()
        };
        let b = SqliteBackend::open(&dir.join("queue.sqlite3"), &config)
            .await
            .expect("open");
        let task = ulid::Ulid::generate();
        let envelope = super::super::sqlite::test_envelope(serde_json::json!({}));
        b.push(QUEUES[0], task, &envelope).await.expect("push");
        let mut wb = b.worker_backend(QUEUES[0], Arc::default(), 2);
        let ctx = WorkerContext::new("test-close");
        let mut jobs: Jobs = (*wb.persisted).clone();
        jobs.register(&ctx).await.expect("register");
        let row = |jobs: Jobs| async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT status, lock_by FROM Jobs WHERE id = ?1",
            )
            .bind(task.to_string())
            .fetch_one(&mut *jobs.conn.lock().await)
            .await
            .expect("row")
        };

        // A fetch that has claimed its task (the `UPDATE` committed) and not yet returned.
        let claimed = Arc::new(AtomicBool::new(false));
        let fetch = {
            let (mut jobs, ctx, claimed) = (jobs.clone(), ctx.clone(), claimed.clone());
            async move {
                let tasks = jobs.fetch_next(&ctx).await;
                claimed.store(true, Ordering::SeqCst);
                tokio::task::yield_now().await;
                tasks
            }
        };
        *wb.persisted.state_mut() = State::Fetch(BoxSyncFuture::new(fetch.boxed()));
        futures::future::poll_fn(|cx| {
            if let State::Fetch(f) = wb.persisted.state_mut() {
                let _ = f.poll_unpin(cx);
            }
            if claimed.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        assert_eq!(row(jobs.clone()).await.0, "Queued", "the fetch claimed it");
        assert_eq!(wb.wake.backlog_len(), 0);

        futures::future::poll_fn(|cx| wb.poll_close(cx, &ctx))
            .await
            .expect("close");
        assert_eq!(
            row(jobs.clone()).await,
            ("Pending".to_owned(), None),
            "handed back, claimed by nobody"
        );
        assert_eq!(wb.wake.backlog_len(), 1, "and announced");
        drop(wb);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One shared beat per interval writes for every live worker; a worker silent for an
    /// interval and a half is no longer kept alive by the others.
    #[test]
    fn heartbeats_are_written_together_and_silent_workers_drop_out() {
        let beats = Beats::default();
        let interval = Duration::from_millis(200);
        assert_eq!(beats.due("a", interval), Some(vec!["a".to_owned()]));
        // Within the interval: recorded, not written.
        assert_eq!(beats.due("b", interval), None);
        assert_eq!(beats.due("a", interval), None);
        std::thread::sleep(interval);
        let mut names = beats
            .due("b", interval)
            .expect("due again after an interval");
        names.sort();
        assert_eq!(names, ["a", "b"]);
        // `a` stops; `b` carries on: after an interval and a half, `a` is left out.
        for _ in 0..2 {
            std::thread::sleep(interval);
            beats.due("b", interval);
        }
        std::thread::sleep(interval);
        assert_eq!(beats.due("b", interval), Some(vec!["b".to_owned()]));
        // A failed write is retried by the next heartbeat.
        beats.failed();
        assert_eq!(beats.due("b", interval), Some(vec!["b".to_owned()]));
    }
}
