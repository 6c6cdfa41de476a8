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
//! - **Heartbeats once per process**, not once per worker (see [`super::beats`]).
//!
//! Everything else (registration, orphan recovery, acknowledgements, the task's wire format) is
//! apalis-sqlite's, through its public queries, so the file stays readable by apalis' own tools.

use std::sync::Arc;
use std::task::{Context, Poll};

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

use super::beats::{self, Live, Member};
use super::wake::{Notifier, Wake, WakeStream};

/// The queue file's one connection.
pub(super) type Conn = Arc<tokio::sync::Mutex<SqliteConnection>>;

/// apalis' persistence operations on the queue file, one queue's worth.
#[derive(Clone)]
pub(super) struct Jobs {
    pub(super) conn: Conn,
    pub(super) config: apalis_sqlite::Config,
    pub(super) notifier: Notifier,
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
    /// The heartbeat of every live worker of this process (`names`, all queues): their
    /// `last_seen` in one statement, then orphan recovery on every queue, in one transaction.
    /// Tasks handed back are announced.
    pub(super) async fn beat(&self, names: &[String]) -> Result<(), sqlx::Error> {
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
            requeued.push((queue.to_owned(), n));
        }
        tx.commit().await?;
        drop(conn);
        beats::handed_back(&requeued, |queue, tasks| {
            self.notifier.notify(Some(queue), tasks)
        });
        Ok(())
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
        // apalis stores the worker's tower stack as text (about 440 bytes); the process beat
        // rewrites every worker's row each interval, so with it 88 rows filled some 15 pages
        // (about 120 KiB written per beat, with the checkpoint's copy). Nothing reads it.
        sqlx::query("UPDATE Workers SET layers = '' WHERE id = ?1")
            .bind(worker.name())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        drop(conn);
        self.requeued(requeued);
        Ok(())
    }

    /// Called by apalis every [`beats::APALIS_HEARTBEAT`]: the process-wide beat writes every
    /// live worker's heartbeat (see [`super::beats`]).
    async fn heartbeat(&mut self, _: &WorkerContext) -> Result<(), Self::Error> {
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
    /// This process's live workers, and this one among them once it has been polled.
    live: Live,
    member: Option<Member>,
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
    pub(super) fn new(jobs: Jobs, wake: WakeStream, live: Live) -> Self {
        Self {
            persisted: Persisted::new(jobs),
            wake,
            codec: JsonCodec::default(),
            sweep: false,
            sweep_later: false,
            owed: false,
            live,
            member: None,
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
        if self.member.is_none() {
            let queue = self.persisted.config.queue.to_string();
            self.member = Some(self.live.join(&queue, worker.name()));
        }
        self.persisted
            .poll_ready(cx, worker, beats::APALIS_HEARTBEAT)
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

    /// A registered worker's row holds no tower-stack text: the process beat rewrites every
    /// worker's row each interval, and that text made an idle process write three times as much.
    #[tokio::test]
    async fn a_registered_worker_s_row_is_small() {
        let dir = std::env::temp_dir().join(format!("roster-row-{}", ulid::Ulid::generate()));
        let b = SqliteBackend::open(&dir.join("queue.sqlite3"), &QueueConfig::default())
            .await
            .expect("open");
        let wb = b.worker_backend(QUEUES[0], Arc::default(), 2);
        let mut jobs: Jobs = (*wb.persisted).clone();
        jobs.register(&WorkerContext::new("test-row"))
            .await
            .expect("register");
        let (layers,): (Option<String>,) =
            sqlx::query_as("SELECT layers FROM Workers WHERE id = 'test-row'")
                .fetch_one(&mut *jobs.conn.lock().await)
                .await
                .expect("row");
        assert_eq!(layers.as_deref(), Some(""));
        let _ = std::fs::remove_dir_all(&dir);
    }

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

    /// The process's beat keeps a live worker's claims, and hands back, and announces, the task
    /// of a worker that stopped inside the live process, within `interval × missed`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_worker_s_task_is_handed_back_and_a_live_one_s_kept() {
        let dir = std::env::temp_dir().join(format!("roster-beat-{}", ulid::Ulid::generate()));
        let config = QueueConfig {
            poll_interval: Duration::from_secs(24 * 3600),
            heartbeat_interval: Duration::from_secs(1),
            missed_heartbeats: 2,
            ..QueueConfig::default()
        };
        let b = SqliteBackend::open(&dir.join("queue.sqlite3"), &config)
            .await
            .expect("open");
        let q = QUEUES[0];
        let mut claimed = Vec::new();
        let mut backends = Vec::new();
        for name in ["live", "stops"] {
            let task = ulid::Ulid::generate();
            let envelope = super::super::sqlite::test_envelope(serde_json::json!({}));
            b.push(q, task, &envelope).await.expect("push");
            let mut wb = b.worker_backend(q, Arc::default(), 2);
            let ctx = WorkerContext::new(name);
            // Registers the worker (apalis' loop) and counts it live.
            futures::future::poll_fn(|cx| wb.poll_ready(cx, &ctx))
                .await
                .expect("ready");
            let mut jobs: Jobs = (*wb.persisted).clone();
            let got = jobs.fetch_next(&ctx).await.expect("fetch");
            assert_eq!(got.len(), 1);
            claimed.push(got[0].task_id().expect("id").to_string());
            backends.push(wb);
        }
        let jobs: Jobs = (*backends[0].persisted).clone();
        let lock_by = |id: String| {
            let jobs = jobs.clone();
            async move {
                sqlx::query_scalar::<_, Option<String>>("SELECT lock_by FROM Jobs WHERE id = ?1")
                    .bind(id)
                    .fetch_one(&mut *jobs.conn.lock().await)
                    .await
                    .expect("row")
            }
        };
        let backlog = backends[0].wake.backlog_len();
        // The second worker stops (its backend is dropped, as when apalis' loop ends).
        drop(backends.pop());
        let deadline = std::time::Instant::now() + Duration::from_secs(8);
        while lock_by(claimed[1].clone()).await.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the stopped worker's task was not handed back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(backends[0].wake.backlog_len(), backlog + 1, "and announced");
        // Two more intervals: the live worker's claim stands.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(lock_by(claimed[0].clone()).await.as_deref(), Some("live"));
        drop(backends);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
