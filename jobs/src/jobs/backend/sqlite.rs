//! The embedded SQLite backend (the default): apalis-sqlite for tasks in a file beside the
//! store, plus three tables of Roster's own for the ledger, outcomes and locks.
//!
//! Every worker of this backend runs inside `roster serve`, so task pickup and outcome delivery
//! are woken in-process, with a slow poll as a safety net. The file is in WAL mode with
//! `synchronous=NORMAL` on every connection: a committed write survives a crash of the process
//! (only a power loss can drop the last commits), and commits do not wait for an fsync.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId};
use apalis_sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteStorage};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::sqlite_worker::{Conn, Jobs, SqliteWorkerBackend};
use super::wake::{Notifier, WakeStream};
use super::{AttemptStart, BackendKind, Parked, QueueBackend, QueueError, ReceivedOutcome};
use crate::config::QueueConfig;
use crate::ids::JobId;
use crate::jobs::order::Turn;
use crate::jobs::{JobEnvelope, JobOutcome, QUEUES};

fn err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Sqlite(e.to_string())
}

/// How Roster connects to either file. The connection does not checkpoint the WAL itself below [`WAL_BACKSTOP_PAGES`]: a
/// checkpoint run by a commit copies the WAL into the database and syncs both files while that
/// commit, and every operation queued behind the one connection, waits (SQLite's default runs
/// one every 1,000 pages, several times a second under load, each a stall of milliseconds to
/// tens of milliseconds on the queue's critical path). [`checkpoint`] does it from a
/// connection of its own instead.
fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES.to_string())
        .foreign_keys(true)
}

fn cannot_open(path: &Path, e: sqlx::Error) -> QueueError {
    QueueError::Sqlite(format!(
        "cannot open the embedded queue {}: {e}",
        path.display()
    ))
}

/// A file's one connection, used directly rather than through a pool.
///
/// One connection per file: SQLite has a single writer, and with several connections every
/// contended write waits in SQLite's busy handler, which sleeps in steps of milliseconds;
/// queueing for the connection keeps each write at its real cost. No pool: a pool hands its
/// connection back through a spawned task that first pings it, two more round trips to sqlx's
/// connection thread for every statement. A statement whose future is dropped half-way still
/// runs to its end on sqlx's connection thread, and a dropped transaction is rolled back before
/// the connection's next statement, so the connection is never left inside either.
#[derive(Clone)]
struct Db(Conn);

impl Db {
    async fn open(path: &Path) -> Result<Self, QueueError> {
        use sqlx::ConnectOptions;
        let conn = connect_options(path)
            .connect()
            .await
            .map_err(|e| cannot_open(path, e))?;
        Ok(Self(Arc::new(tokio::sync::Mutex::new(conn))))
    }

    async fn lock(&self) -> tokio::sync::MutexGuard<'_, sqlx::SqliteConnection> {
        self.0.lock().await
    }

    /// Runs `step` (a `DELETE` of at most [`VACUUM_STEP`] rows) until it deletes fewer,
    /// letting other operations on the connection in between; returns the rows deleted.
    async fn delete_in_steps<'q>(
        &self,
        step: impl Fn() -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<u64, QueueError> {
        let mut total = 0;
        loop {
            let deleted = step()
                .execute(&mut *self.lock().await)
                .await
                .map_err(err)?
                .rows_affected();
            total += deleted;
            if deleted < VACUUM_STEP as u64 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }
}

/// WAL pages past which a commit checkpoints by itself anyway (about 40 MB): only reached if
/// [`checkpoint`] falls behind.
const WAL_BACKSTOP_PAGES: u32 = 10_000;

/// How often [`checkpoint`] copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints `path`'s WAL every [`CHECKPOINT_EVERY`] from a connection of its own, so the
/// copying and syncing happen beside the queue's connection instead of inside its commits. A
/// `PASSIVE` checkpoint takes no lock a writer needs and never waits; once it has copied the
/// whole WAL, the next commit starts the WAL over from its beginning, so the file stays small.
/// Runs until the task is dropped (with the queue's runtime).
async fn checkpoint(path: std::path::PathBuf) {
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = match SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot open a checkpointing connection; the file's own connection will checkpoint once its WAL reaches the backstop");
            return;
        }
    };
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            Ok(_) => metrics::histogram!("roster_queue_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "WAL checkpoint failed; retrying")
            }
        }
    }
}

/// Rows the vacuum deletes per statement: each statement holds the file's one connection, so a
/// sweep after a busy stretch (a minute at 600 jobs/s is 36,000 finished tasks) must not hold
/// it for the whole sweep. With the old single `DELETE`, one sweep stalled every queue
/// operation for about 100 ms in the rank benchmark, with nothing to delete.
const VACUUM_STEP: i64 = 500;

/// One step of the vacuum: up to `?4` tasks of status `?1` (`Failed` only once out of
/// attempts), finished more than `?2` seconds ago, of Roster's queues (`?3`, a JSON list). The
/// first condition repeats the `WHERE` of apalis' partial index `idx_jobs_completed_done_at`
/// `(status, done_at, run_at)`, so SQLite uses it and visits only what it deletes.
const VACUUM_TASKS: &str = "DELETE FROM Jobs WHERE rowid IN (
    SELECT rowid FROM Jobs
     WHERE status IN ('Done', 'Failed', 'Killed') AND status = ?1
       AND done_at <= CAST(strftime('%s','now') AS INTEGER) - ?2
       AND (?1 <> 'Failed' OR attempts >= max_attempts)
       AND job_type IN (SELECT value FROM json_each(?3))
     LIMIT ?4)";

/// Adds one to the ledger counter `job`/`field` (created at 1) and returns the new count.
async fn increment(
    conn: &mut sqlx::SqliteConnection,
    job: &str,
    field: &str,
    now: i64,
) -> Result<u32, QueueError> {
    let row = sqlx::query(
        "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, '1', ?3)
         ON CONFLICT (job_id, field) DO UPDATE
           SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = ?3
         RETURNING value",
    )
    .bind(job)
    .bind(field)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(err)?;
    let n: String = row.try_get(0).map_err(err)?;
    n.parse()
        .map_err(|e| QueueError::Decode(format!("ledger counter {field}: {e}")))
}

/// Notes `turns` finished in `roster_turns` (per subject, the highest sequence wins).
async fn mark_turns(conn: &mut sqlx::SqliteConnection, turns: &[Turn]) -> Result<(), QueueError> {
    for t in turns {
        sqlx::query(
            "INSERT INTO roster_turns (subject, finished, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (subject) DO UPDATE
               SET finished = max(finished, excluded.finished), updated_at = excluded.updated_at",
        )
        .bind(&t.subject)
        .bind(t.seq as i64)
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    }
    Ok(())
}

/// The jobs parked on the turns right after `turns`.
async fn parked_next(
    conn: &mut sqlx::SqliteConnection,
    parked: &std::sync::atomic::AtomicUsize,
    turns: &[Turn],
) -> Result<Vec<Parked>, QueueError> {
    let mut out = Vec::new();
    if parked.load(std::sync::atomic::Ordering::Acquire) == 0 {
        return Ok(out);
    }
    for t in turns {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT queue, envelope FROM roster_parked WHERE subject = ?1 AND seq = ?2",
        )
        .bind(&t.subject)
        .bind(t.seq as i64 + 1)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
        if let Some((queue, envelope)) = row {
            out.push(Parked {
                subject: t.subject.clone(),
                seq: t.seq + 1,
                queue,
                envelope: serde_json::from_str(&envelope)
                    .map_err(|e| QueueError::Decode(e.to_string()))?,
            });
        }
    }
    Ok(out)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The queue file's own small runtime (one thread).
///
/// Every operation on the queue's files is a statement or a transaction on a file's one
/// connection, and each step is a round trip to sqlx's connection thread whose answer wakes the
/// waiting task from outside the runtime. On the control plane's runtime, saturated with
/// requests, every such wake-up waits behind the whole run queue while the task holds the only
/// connection, so a fetch took milliseconds and pushes queued behind fetches. On a runtime of their own the
/// queue's workers, pushes and ledger writes find a short run queue, and hand the job to the
/// control plane's runtime once, to run its handler.
struct QueueRuntime(Option<tokio::runtime::Runtime>);

impl QueueRuntime {
    fn new() -> Result<Self, QueueError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("roster-queue")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|e| QueueError::Sqlite(format!("cannot start the queue's runtime: {e}")))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the queue runtime lives until dropped")
            .handle()
    }
}

impl Drop for QueueRuntime {
    fn drop(&mut self) {
        // Dropped from async code too (tests, shutdown): never block there.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// SQLite-backed queue.
#[derive(Clone)]
pub struct SqliteBackend {
    /// apalis' tables (`Jobs`, `Workers`).
    jobs: Db,
    /// Roster's ledger and outcome stream, in a second file so their writes (on every job's
    /// critical path) never queue behind apalis' fetches and heartbeats.
    ledger: Db,
    config: QueueConfig,
    outcome_ready: Arc<Notify>,
    notifier: Notifier,
    /// Subject leases. Every worker of this backend is in this process, so they live in memory.
    leases:
        Arc<parking_lot::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>>,
    runtime: Arc<QueueRuntime>,
    /// Rows in `roster_parked`, changed only under the ledger connection's lock: while none are
    /// parked, a finish does not look for any.
    parked: Arc<std::sync::atomic::AtomicUsize>,
    /// This process's live workers, whose heartbeats one task writes (see [`super::beats`]).
    live: super::beats::Live,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the queue file and its schema.
    pub async fn open(path: &Path, config: &QueueConfig) -> Result<Self, QueueError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        {
            // apalis' own schema and migrations, from a connection of their own: apalis' setup
            // also turns durability off on the connection it runs on (`synchronous = OFF`),
            // and that connection is closed right after.
            let setup = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(connect_options(path))
                .await
                .map_err(|e| cannot_open(path, e))?;
            SqliteStorage::setup(&setup).await.map_err(err)?;
            setup.close().await;
        }
        let jobs = Db::open(path).await?;
        for stmt in [
            // apalis' index on `Jobs(lock_by)` makes SQLite plan its acknowledgement (`UPDATE Jobs
            // … FROM json_each(?) WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?`) as a walk over
            // every task the worker ever fetched (finished tasks keep `lock_by` until the vacuum)
            // instead of one primary-key lookup per acknowledged task, so acknowledgements got
            // slower as the queue filled: 255 µs on average in a one-minute benchmark, growing
            // with run length. No query needs it: orphan recovery searches by status, and workers
            // are never deleted.
            "DROP INDEX IF EXISTS LIdx",
        ] {
            sqlx::query(stmt)
                .execute(&mut *jobs.lock().await)
                .await
                .map_err(err)?;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "queue".into());
        let ledger_path = path.with_file_name(format!("{stem}-ledger.sqlite3"));
        let ledger = Db::open(&ledger_path).await?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS roster_ledger (
                job_id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
                updated_at INTEGER NOT NULL, PRIMARY KEY (job_id, field))",
            "CREATE TABLE IF NOT EXISTS roster_outcomes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, created_at INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS roster_ledger_updated ON roster_ledger (updated_at)",
            // Per subject, the highest sequence finished (`jobs::order`). Never vacuumed: a row
            // per member ever changed, and a lost row could hold a later job back.
            "CREATE TABLE IF NOT EXISTS roster_turns (
                subject TEXT PRIMARY KEY, finished INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
            // Jobs waiting for their turn, pushed again when the turn before finishes.
            "CREATE TABLE IF NOT EXISTS roster_parked (
                subject TEXT NOT NULL, seq INTEGER NOT NULL, queue TEXT NOT NULL,
                envelope TEXT NOT NULL, parked_at INTEGER NOT NULL, PRIMARY KEY (subject, seq))",
            // Deciding an outcome and publishing it is one statement: the insert that wins
            // publishes through this trigger.
            "CREATE TRIGGER IF NOT EXISTS roster_publish_decided AFTER INSERT ON roster_ledger
               WHEN NEW.field LIKE 'outcome:%'
               BEGIN INSERT INTO roster_outcomes (body, created_at) VALUES (NEW.value, NEW.updated_at); END",
        ] {
            sqlx::query(stmt)
                .execute(&mut *ledger.lock().await)
                .await
                .map_err(err)?;
        }
        let parked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roster_parked")
            .fetch_one(&mut *ledger.lock().await)
            .await
            .map_err(err)?;
        let parked = parked.max(0) as usize;
        // Tasks waiting from before a restart: the first workers with a free slot fetch them
        // (nobody will announce them).
        let notifier = Notifier::counting();
        let waiting: Vec<(String, i64)> = sqlx::query_as(
            "SELECT job_type, COUNT(*) FROM Jobs
              WHERE status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts)
              GROUP BY job_type",
        )
        .fetch_all(&mut *jobs.lock().await)
        .await
        .map_err(err)?;
        for (queue, tasks) in waiting {
            notifier.add_backlog(&queue, tasks.max(0) as usize);
        }
        let runtime = QueueRuntime::new()?;
        runtime.handle().spawn(checkpoint(path.to_path_buf()));
        runtime.handle().spawn(checkpoint(ledger_path));
        let backend = Self {
            jobs,
            ledger,
            config: config.clone(),
            outcome_ready: Arc::new(Notify::new()),
            notifier,
            leases: Arc::default(),
            runtime: Arc::new(runtime),
            parked: Arc::new(std::sync::atomic::AtomicUsize::new(parked)),
            live: Default::default(),
        };
        // The workers' heartbeats, until the queue's runtime shuts down with the last clone.
        let beat = backend.jobs_for(QUEUES[0]);
        backend.runtime.handle().spawn(super::beats::run(
            backend.live.clone(),
            config.heartbeat_interval,
            CancellationToken::new(),
            "sqlite",
            move |workers| {
                let beat = beat.clone();
                async move {
                    let names: Vec<String> = workers.into_iter().map(|(_, n)| n).collect();
                    beat.beat(&names).await.map_err(|e| e.to_string())
                }
            },
        ));
        Ok(backend)
    }

    /// apalis' persistence operations for `queue`.
    fn jobs_for(&self, queue: &str) -> Jobs {
        Jobs {
            conn: self.jobs.0.clone(),
            config: self.apalis_config(queue),
            notifier: self.notifier.clone(),
        }
    }

    /// The runtime the queue file is used from: this backend's workers run on it (see
    /// [`QueueRuntime`]), and its operations hop onto it.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Runs `f(backend)` on the queue's runtime.
    async fn on_queue<T, F, Fut>(&self, f: F) -> Result<T, QueueError>
    where
        F: FnOnce(Self) -> Fut,
        Fut: std::future::Future<Output = Result<T, QueueError>> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime
            .handle()
            .spawn(f(self.clone()))
            .await
            .map_err(|e| QueueError::Sqlite(format!("queue operation did not finish: {e}")))?
    }

    /// Registers a worker of `queue` (running up to `capacity` tasks, `busy` now) for
    /// wake-ups when the relay pushed, with the fallback tick.
    pub fn register_worker(
        &self,
        queue: &str,
        busy: Arc<std::sync::atomic::AtomicUsize>,
        capacity: usize,
    ) -> WakeStream {
        self.notifier
            .register(queue, busy, capacity, self.config.poll_interval)
    }

    /// The apalis backend of a worker of `queue` running up to `capacity` tasks (`busy` of
    /// them now), woken when the relay pushed (see [`SqliteWorkerBackend`]).
    pub fn worker_backend(
        &self,
        queue: &str,
        busy: Arc<std::sync::atomic::AtomicUsize>,
        capacity: usize,
    ) -> SqliteWorkerBackend {
        let wake = self.register_worker(queue, busy, capacity);
        SqliteWorkerBackend::new(self.jobs_for(queue), wake, self.live.clone())
    }

    /// The apalis configuration for `queue`.
    pub fn apalis_config(&self, queue: &str) -> apalis_sqlite::Config {
        apalis_sqlite::Config::default()
            .queue(queue)
            .heartbeat_interval(self.config.heartbeat_interval)
            .missed_heartbeats(self.config.missed_heartbeats as usize)
            .batch_size(1)
            // Lock events only flip a fetched task from Queued to Running (one more write
            // transaction per task); orphan recovery treats both states alike.
            .lock_tasks(false)
            .persist_results(true)
    }

    /// Writes `tasks` to `queue` in one transaction. Their payload is raw JSON, decoded by
    /// the handler, so an unreadable payload fails one task instead of killing the worker.
    async fn insert(
        &self,
        queue: &str,
        tasks: &[(ulid::Ulid, &JobEnvelope)],
    ) -> Result<(), QueueError> {
        let built: Vec<_> = tasks
            .iter()
            .map(|(id, env)| {
                TaskBuilder::new(serde_json::to_vec(env).expect("envelopes serialize"))
                    .task_id(TaskId::from_ulid(*id))
                    .build()
            })
            .collect();
        let mut conn = self.jobs.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(err)?;
        apalis_sqlite::queries::push_tasks(&mut *tx, queue, &built)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

/// The operations themselves, run on whatever runtime polls them; [`SqliteBackend`]'s
/// [`QueueBackend`] runs the ones that touch a file on the queue's runtime.
struct Local(SqliteBackend);

impl std::ops::Deref for Local {
    type Target = SqliteBackend;
    fn deref(&self) -> &SqliteBackend {
        &self.0
    }
}

/// Runs `$call` on a [`Local`] of the backend, on the queue's runtime. Callers own their
/// arguments first: the task outlives the borrow.
macro_rules! on_queue {
    ($self:ident, |$b:ident| $call:expr) => {
        $self.on_queue(move |b| async move {
            let $b = Local(b);
            $call.await
        })
    };
}

#[async_trait]
impl QueueBackend for SqliteBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    async fn push(
        &self,
        queue: &str,
        task_id: ulid::Ulid,
        envelope: &JobEnvelope,
    ) -> Result<(), QueueError> {
        let (queue, envelope) = (queue.to_owned(), envelope.clone());
        on_queue!(self, |b| b.push(&queue, task_id, &envelope)).await
    }

    async fn push_many(
        &self,
        queue: &str,
        tasks: &[(ulid::Ulid, JobEnvelope)],
    ) -> Result<(), QueueError> {
        let (queue, tasks) = (queue.to_owned(), tasks.to_vec());
        on_queue!(self, |b| b.push_many(&queue, &tasks)).await
    }

    async fn announce(&self, queue: &str, tasks: usize) -> Result<(), QueueError> {
        Local(self.clone()).announce(queue, tasks).await
    }

    async fn begin_attempt(&self, job: JobId, generation: u32) -> Result<AttemptStart, QueueError> {
        on_queue!(self, |b| b.begin_attempt(job, generation)).await
    }

    async fn attempts(&self, job: JobId, generation: u32) -> Result<u32, QueueError> {
        on_queue!(self, |b| b.attempts(job, generation)).await
    }

    async fn count_failure(
        &self,
        job: JobId,
        generation: u32,
        error: &serde_json::Value,
    ) -> Result<u32, QueueError> {
        let error = error.clone();
        on_queue!(self, |b| b.count_failure(job, generation, &error)).await
    }

    async fn turn_finished(&self, subject: &str) -> Result<u64, QueueError> {
        let subject = subject.to_owned();
        on_queue!(self, |b| b.turn_finished(&subject)).await
    }

    async fn finish_turns(&self, turns: &[Turn]) -> Result<Vec<Parked>, QueueError> {
        let turns = turns.to_vec();
        on_queue!(self, |b| b.finish_turns(&turns)).await
    }

    async fn park(
        &self,
        turn: &Turn,
        queue: &str,
        envelope: &JobEnvelope,
    ) -> Result<bool, QueueError> {
        let (turn, queue, envelope) = (turn.clone(), queue.to_owned(), envelope.clone());
        on_queue!(self, |b| b.park(&turn, &queue, &envelope)).await
    }

    async fn unpark(&self, parked: &[Parked]) -> Result<(), QueueError> {
        let parked = parked.to_vec();
        on_queue!(self, |b| b.unpark(&parked)).await
    }

    async fn ledger_claim(
        &self,
        job: JobId,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, QueueError> {
        let (field, value) = (field.to_owned(), value.clone());
        on_queue!(self, |b| b.ledger_claim(job, &field, &value)).await
    }

    async fn ledger_get(
        &self,
        job: JobId,
        field: &str,
    ) -> Result<Option<serde_json::Value>, QueueError> {
        let field = field.to_owned();
        on_queue!(self, |b| b.ledger_get(job, &field)).await
    }

    async fn lock(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, QueueError> {
        Local(self.clone()).lock(key, holder, ttl).await
    }

    async fn unlock(&self, key: &str, holder: &str) -> Result<(), QueueError> {
        Local(self.clone()).unlock(key, holder).await
    }

    async fn finish(
        &self,
        outcome: &JobOutcome,
        turns: &[Turn],
    ) -> Result<(JobOutcome, Vec<Parked>), QueueError> {
        let (outcome, turns) = (outcome.clone(), turns.to_vec());
        on_queue!(self, |b| b.finish(&outcome, &turns)).await
    }

    async fn publish_outcome(&self, outcome: &JobOutcome) -> Result<(), QueueError> {
        let outcome = outcome.clone();
        on_queue!(self, |b| b.publish_outcome(&outcome)).await
    }

    async fn next_outcomes(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedOutcome>, QueueError> {
        on_queue!(self, |b| b.next_outcomes(max, wait)).await
    }

    async fn ack_outcomes(&self, receipts: &[String]) -> Result<(), QueueError> {
        let receipts = receipts.to_vec();
        on_queue!(self, |b| b.ack_outcomes(&receipts)).await
    }

    async fn recover_outcomes(&self) -> Result<u64, QueueError> {
        on_queue!(self, |b| b.recover_outcomes()).await
    }

    async fn vacuum(&self, older_than: Duration) -> Result<u64, QueueError> {
        on_queue!(self, |b| b.vacuum(older_than)).await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        on_queue!(self, |b| b.ping()).await
    }
}

#[async_trait]
impl QueueBackend for Local {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    async fn push(
        &self,
        queue: &str,
        task_id: ulid::Ulid,
        envelope: &JobEnvelope,
    ) -> Result<(), QueueError> {
        match self.insert(queue, &[(task_id, envelope)]).await {
            Ok(()) => Ok(()),
            // A re-push of a relayed task (after a crash) hits the primary key: already queued.
            Err(e) if e.to_string().contains("UNIQUE") => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn push_many(
        &self,
        queue: &str,
        tasks: &[(ulid::Ulid, JobEnvelope)],
    ) -> Result<(), QueueError> {
        let refs: Vec<_> = tasks.iter().map(|(id, env)| (*id, env)).collect();
        match self.insert(queue, &refs).await {
            Ok(()) => Ok(()),
            // One of them was relayed before a crash: the batch rolled back; push one by one.
            Err(e) if e.to_string().contains("UNIQUE") => {
                for (id, env) in tasks {
                    self.push(queue, *id, env).await?;
                }
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn announce(&self, queue: &str, tasks: usize) -> Result<(), QueueError> {
        self.notifier.notify(Some(queue), tasks);
        Ok(())
    }

    async fn begin_attempt(&self, job: JobId, generation: u32) -> Result<AttemptStart, QueueError> {
        let id = job.0.to_string();
        let outcome_field = format!("outcome:{generation}");
        // Two statements, no transaction: the counter update is atomic by itself, and whatever
        // plan or outcome the read sees is consistent with it.
        let attempt = increment(
            &mut *self.ledger.lock().await,
            &id,
            &format!("attempts:{generation}"),
            now_ms(),
        )
        .await?;
        let mut start = AttemptStart {
            attempt,
            failures: 0,
            plan: None,
            outcome: None,
        };
        if start.attempt == 1 {
            // Nothing can have been recorded before the first attempt.
            return Ok(start);
        }
        let failures_field = format!("failures:{generation}");
        let rows = sqlx::query(
            "SELECT field, value FROM roster_ledger WHERE job_id = ?1 AND field IN ('plan', ?2, ?3)",
        )
        .bind(&id)
        .bind(&outcome_field)
        .bind(&failures_field)
        .fetch_all(&mut *self.ledger.lock().await)
        .await
        .map_err(err)?;
        for r in rows {
            let field: String = r.try_get(0).map_err(err)?;
            let value: String = r.try_get(1).map_err(err)?;
            let v = serde_json::from_str(&value).map_err(|e| QueueError::Decode(e.to_string()))?;
            if field == "plan" {
                start.plan = Some(v);
            } else if field == failures_field {
                start.failures = serde_json::from_value(v)
                    .map_err(|e| QueueError::Decode(format!("failure counter: {e}")))?;
            } else {
                start.outcome = Some(v);
            }
        }
        Ok(start)
    }

    async fn attempts(&self, job: JobId, generation: u32) -> Result<u32, QueueError> {
        let count = |v: Option<serde_json::Value>| v.and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        let starts = count(
            self.ledger_get(job, &format!("attempts:{generation}"))
                .await?,
        );
        if starts == 0 {
            return Ok(0);
        }
        Ok(count(
            self.ledger_get(job, &format!("failures:{generation}"))
                .await?,
        ) + 1)
    }

    async fn count_failure(
        &self,
        job: JobId,
        generation: u32,
        error: &serde_json::Value,
    ) -> Result<u32, QueueError> {
        let id = job.0.to_string();
        let now = now_ms();
        let mut conn = self.ledger.lock().await;
        sqlx::query(
            "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_id, field) DO UPDATE SET value = excluded.value, updated_at = ?4",
        )
        .bind(&id)
        .bind(format!("lastError:{generation}"))
        .bind(error.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        increment(&mut conn, &id, &format!("failures:{generation}"), now).await
    }

    async fn turn_finished(&self, subject: &str) -> Result<u64, QueueError> {
        let row = sqlx::query("SELECT finished FROM roster_turns WHERE subject = ?1")
            .bind(subject)
            .fetch_optional(&mut *self.ledger.lock().await)
            .await
            .map_err(err)?;
        match row {
            None => Ok(0),
            Some(r) => Ok(r.try_get::<i64, _>(0).map_err(err)?.max(0) as u64),
        }
    }

    async fn finish_turns(&self, turns: &[Turn]) -> Result<Vec<Parked>, QueueError> {
        let mut conn = self.ledger.lock().await;
        mark_turns(&mut conn, turns).await?;
        parked_next(&mut conn, &self.parked, turns).await
    }

    async fn park(
        &self,
        turn: &Turn,
        queue: &str,
        envelope: &JobEnvelope,
    ) -> Result<bool, QueueError> {
        // The read and the insert under one hold of the ledger's only connection: a finish of
        // the turn before runs wholly before or after them.
        let mut conn = self.ledger.lock().await;
        let finished: Option<i64> =
            sqlx::query_scalar("SELECT finished FROM roster_turns WHERE subject = ?1")
                .bind(&turn.subject)
                .fetch_optional(&mut *conn)
                .await
                .map_err(err)?;
        if turn.ready(finished.unwrap_or(0).max(0) as u64) {
            return Ok(false);
        }
        let done = sqlx::query(
            // A turn belongs to one job: parked already means parked by another delivery of it.
            "INSERT INTO roster_parked (subject, seq, queue, envelope, parked_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (subject, seq) DO NOTHING",
        )
        .bind(&turn.subject)
        .bind(turn.seq as i64)
        .bind(queue)
        .bind(serde_json::to_string(envelope).expect("envelopes serialize"))
        .bind(now_ms())
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        self.parked.fetch_add(
            done.rows_affected() as usize,
            std::sync::atomic::Ordering::AcqRel,
        );
        Ok(true)
    }

    async fn unpark(&self, parked: &[Parked]) -> Result<(), QueueError> {
        let mut conn = self.ledger.lock().await;
        for p in parked {
            let done = sqlx::query("DELETE FROM roster_parked WHERE subject = ?1 AND seq = ?2")
                .bind(&p.subject)
                .bind(p.seq as i64)
                .execute(&mut *conn)
                .await
                .map_err(err)?;
            self.parked.fetch_sub(
                done.rows_affected() as usize,
                std::sync::atomic::Ordering::AcqRel,
            );
        }
        Ok(())
    }

    async fn ledger_claim(
        &self,
        job: JobId,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, QueueError> {
        // One statement: on a conflict the no-op update makes `RETURNING` yield the value
        // recorded first (it fires no trigger: `roster_publish_decided` is on INSERT).
        let row = sqlx::query(
            "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_id, field) DO UPDATE SET value = roster_ledger.value
             RETURNING value",
        )
        .bind(job.0.to_string())
        .bind(field)
        .bind(value.to_string())
        .bind(now_ms())
        .fetch_one(&mut *self.ledger.lock().await)
        .await
        .map_err(err)?;
        let s: String = row.try_get(0).map_err(err)?;
        serde_json::from_str(&s).map_err(|e| QueueError::Decode(e.to_string()))
    }

    async fn ledger_get(
        &self,
        job: JobId,
        field: &str,
    ) -> Result<Option<serde_json::Value>, QueueError> {
        let row = sqlx::query("SELECT value FROM roster_ledger WHERE job_id = ?1 AND field = ?2")
            .bind(job.0.to_string())
            .bind(field)
            .fetch_optional(&mut *self.ledger.lock().await)
            .await
            .map_err(err)?;
        match row {
            None => Ok(None),
            Some(r) => {
                let s: String = r.try_get(0).map_err(err)?;
                serde_json::from_str(&s)
                    .map(Some)
                    .map_err(|e| QueueError::Decode(e.to_string()))
            }
        }
    }

    async fn lock(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, QueueError> {
        let now = std::time::Instant::now();
        let mut leases = self.leases.lock();
        if leases.len() > 100_000 {
            leases.retain(|_, (_, until)| *until > now);
        }
        match leases.get(key) {
            Some((h, until)) if h != holder && *until > now => Ok(false),
            _ => {
                leases.insert(key.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn unlock(&self, key: &str, holder: &str) -> Result<(), QueueError> {
        let mut leases = self.leases.lock();
        if leases.get(key).is_some_and(|(h, _)| h == holder) {
            leases.remove(key);
        }
        Ok(())
    }

    async fn finish(
        &self,
        outcome: &JobOutcome,
        turns: &[Turn],
    ) -> Result<(JobOutcome, Vec<Parked>), QueueError> {
        let id = outcome.job_id.0.to_string();
        let field = format!("outcome:{}", outcome.generation);
        let body = serde_json::to_string(outcome).expect("outcomes serialize");
        // The first decision wins and is published by the `roster_publish_decided` trigger in
        // the same statement.
        // The turns are marked under the same hold of the connection: a crash in between only
        // leaves them for the redelivery, which finds the outcome and marks them.
        let (inserted, parked) = {
            let mut conn = self.ledger.lock().await;
            let inserted = sqlx::query(
                "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (job_id, field) DO NOTHING
                 RETURNING value",
            )
            .bind(&id)
            .bind(&field)
            .bind(&body)
            .bind(now_ms())
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
            mark_turns(&mut conn, turns).await?;
            (inserted, parked_next(&mut conn, &self.parked, turns).await?)
        };
        self.outcome_ready.notify_one();
        if inserted.is_some() {
            return Ok((outcome.clone(), parked));
        }
        // Decided before (a duplicate delivery raced us): publish what was decided.
        let stored = self
            .ledger_get(outcome.job_id, &field)
            .await?
            .ok_or_else(|| QueueError::Sqlite("decided outcome vanished".into()))?;
        let stored: JobOutcome =
            serde_json::from_value(stored).map_err(|e| QueueError::Decode(e.to_string()))?;
        self.publish_outcome(&stored).await?;
        Ok((stored, parked))
    }

    async fn publish_outcome(&self, outcome: &JobOutcome) -> Result<(), QueueError> {
        sqlx::query("INSERT INTO roster_outcomes (body, created_at) VALUES (?1, ?2)")
            .bind(serde_json::to_string(outcome).expect("outcomes serialize"))
            .bind(now_ms())
            .execute(&mut *self.ledger.lock().await)
            .await
            .map_err(err)?;
        self.outcome_ready.notify_one();
        Ok(())
    }

    async fn next_outcomes(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedOutcome>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a publish between the query and the wait
            // is not missed.
            let notified = self.outcome_ready.notified();
            let rows = sqlx::query("SELECT seq, body FROM roster_outcomes ORDER BY seq LIMIT ?1")
                .bind(max as i64)
                .fetch_all(&mut *self.ledger.lock().await)
                .await
                .map_err(err)?;
            if !rows.is_empty() {
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let seq: i64 = r.try_get(0).map_err(err)?;
                    let body: String = r.try_get(1).map_err(err)?;
                    match serde_json::from_str::<JobOutcome>(&body) {
                        Ok(o) => out.push((seq.to_string(), o)),
                        Err(e) => {
                            tracing::error!(error = %e, "dropping an unreadable outcome");
                            self.ack_outcomes(&[seq.to_string()]).await?;
                        }
                    }
                }
                return Ok(out);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let nap = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    async fn ack_outcomes(&self, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let seqs = receipts
            .iter()
            .map(|r| {
                r.parse::<i64>()
                    .map_err(|_| QueueError::Decode(format!("bad receipt {r}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let list = serde_json::to_string(&seqs).expect("numbers serialize");
        sqlx::query("DELETE FROM roster_outcomes WHERE seq IN (SELECT value FROM json_each(?1))")
            .bind(list)
            .execute(&mut *self.ledger.lock().await)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn recover_outcomes(&self) -> Result<u64, QueueError> {
        // Outcomes are deleted only on acknowledgement; nothing is ever "taken".
        Ok(0)
    }

    async fn vacuum(&self, older_than: Duration) -> Result<u64, QueueError> {
        // Not apalis' Vacuum: it spans every queue, ignores its cutoff and rewrites the whole
        // file. This deletes only finished tasks of Roster's queues older than the cutoff, in
        // steps of [`VACUUM_STEP`] found through apalis' index of finished tasks, letting the
        // queue's other operations in between steps.
        let queues = serde_json::to_string(&QUEUES).expect("names serialize");
        let mut total = 0u64;
        for status in ["Done", "Killed", "Failed"] {
            total += self
                .jobs
                .delete_in_steps(|| {
                    sqlx::query(VACUUM_TASKS)
                        .bind(status)
                        .bind(older_than.as_secs() as i64)
                        .bind(queues.clone())
                        .bind(VACUUM_STEP)
                })
                .await?;
        }
        let cutoff = now_ms() - Duration::from_secs(7 * 24 * 3600).as_millis() as i64;
        total += self
            .ledger
            .delete_in_steps(|| {
                sqlx::query(
                    "DELETE FROM roster_ledger WHERE rowid IN
                       (SELECT rowid FROM roster_ledger WHERE updated_at < ?1 LIMIT ?2)",
                )
                .bind(cutoff)
                .bind(VACUUM_STEP)
            })
            .await?;
        Ok(total)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.jobs.lock().await)
            .await
            .map_err(err)?;
        sqlx::query("SELECT 1")
            .execute(&mut *self.ledger.lock().await)
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// A rank job's envelope carrying `payload`, for tests of the queue's files.
#[cfg(test)]
pub(super) fn test_envelope(payload: serde_json::Value) -> JobEnvelope {
    JobEnvelope {
        job_id: JobId(ulid::Ulid::generate()),
        generation: 0,
        kind: crate::jobs::JobKind::RankSet,
        tenant: crate::model::Tenant::Group(crate::ids::GroupId::new(7).unwrap()),
        submitted_at: chrono::Utc::now(),
        max_attempts: 3,
        payload,
        turns: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn open_in(dir: &Dir) -> SqliteBackend {
        SqliteBackend::open(&dir.0.join("queue.sqlite3"), &QueueConfig::default())
            .await
            .expect("open the embedded queue")
    }

    async fn open() -> (SqliteBackend, Dir) {
        let dir =
            Dir(std::env::temp_dir().join(format!("roster-sqlite-{}", ulid::Ulid::generate())));
        (open_in(&dir).await, dir)
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_queue_connection() {
        let (b, dir) = open().await;
        let files = [
            dir.0.join("queue.sqlite3"),
            dir.0.join("queue-ledger.sqlite3"),
        ];
        let sizes = || {
            files
                .each_ref()
                .map(|f| std::fs::metadata(f).expect("file").len())
        };
        let before = sizes();
        // A few hundred commits on each file: far below the 10,000-page backstop, so only the
        // checkpointer can copy them from the WAL into the database files.
        let envelope =
            |i: u64| test_envelope(serde_json::json!({ "n": i, "padding": "x".repeat(1_000) }));
        for i in 0..300 {
            let env = envelope(i);
            b.push(QUEUES[0], ulid::Ulid::generate(), &env)
                .await
                .expect("push");
            b.ledger_claim(env.job_id, "plan", &serde_json::json!({ "n": i }))
                .await
                .expect("claim");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = sizes();
            if now[0] > before[0] && now[1] > before[1] {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the database files never grew ({before:?} → {now:?}): nothing checkpointed the WAL"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The queue's connection did not checkpoint by itself.
        let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *b.jobs.lock().await)
            .await
            .expect("pragma");
        assert_eq!(pages, i64::from(WAL_BACKSTOP_PAGES));
    }

    #[tokio::test]
    async fn the_queue_file_is_durable_and_acknowledges_by_task_id() {
        let (first, dir) = open().await;
        drop(first);
        // As a restart finds it: apalis' setup runs again on an existing file.
        let b = open_in(&dir).await;
        let (queue_sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut *b.jobs.lock().await)
            .await
            .expect("pragma");
        let (ledger_sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut *b.ledger.lock().await)
            .await
            .expect("pragma");
        assert_eq!(
            (queue_sync, ledger_sync),
            (1, 1),
            "synchronous = NORMAL on both files"
        );
        // apalis' acknowledgement (queries/task/ack.sql of apalis-sqlite 1.0.0).
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN
             WITH j AS (SELECT value ->> 'task_id' AS task_id, value ->> 'attempt' AS attempt,
                               value ->> 'result' AS result, value ->> 'status' AS status
                        FROM json_each(?1))
             UPDATE Jobs SET status = j.status, attempts = j.attempt, last_result = j.result,
                             done_at = strftime('%s', 'now')
             FROM j WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?2",
        )
        .bind("[]")
        .bind("w")
        .fetch_all(&mut *b.jobs.lock().await)
        .await
        .expect("plan");
        let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        assert!(
            plan.iter()
                .any(|s| s.contains("Jobs USING INDEX sqlite_autoindex_Jobs_1 (id=?)")),
            "one lookup by task id per acknowledged task, not a walk over the worker's tasks: {plan:?}"
        );
    }

    fn envelope(i: u64) -> JobEnvelope {
        test_envelope(serde_json::json!({ "n": i }))
    }

    /// Tasks found in the file at start-up (queued before a restart, never announced) are owed
    /// fetches in the queue's backlog: the first workers with a free slot fetch them. And a push
    /// of several tasks that wakes a single worker still gets every task fetched. Neither waits
    /// for the fallback tick (a day here).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_task_is_fetched_without_a_tick_after_a_restart_and_after_a_push() {
        use apalis::layers::WorkerBuilderExt;
        use apalis::prelude::{BoxDynError, Data, WorkerBuilder};
        let dir =
            Dir(std::env::temp_dir().join(format!("roster-sqlite-{}", ulid::Ulid::generate())));
        let config = QueueConfig {
            poll_interval: Duration::from_secs(24 * 3600),
            ..QueueConfig::default()
        };
        let path = dir.0.join("queue.sqlite3");
        let first = SqliteBackend::open(&path, &config).await.expect("open");
        let mut sent = Vec::new();
        for i in 0..5 {
            let env = envelope(i);
            sent.push(env.job_id);
            first
                .push(QUEUES[0], ulid::Ulid::generate(), &env)
                .await
                .expect("push");
        }
        drop(first);
        let b = SqliteBackend::open(&path, &config).await.expect("reopen");
        assert_eq!(b.notifier.backlog_len(QUEUES[0]), 5);
        assert_eq!(b.notifier.backlog_len(QUEUES[1]), 0);

        async fn run(
            payload: serde_json::Value,
            tx: Data<tokio::sync::mpsc::UnboundedSender<JobId>>,
        ) -> Result<(), BoxDynError> {
            let env: JobEnvelope = serde_json::from_value(payload)?;
            tx.send(env.job_id)?;
            Ok(())
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobId>();
        let worker = WorkerBuilder::new(format!("test-{}", ulid::Ulid::generate()))
            .backend(b.worker_backend(QUEUES[0], Arc::default(), 2))
            .data(tx)
            .concurrency(2)
            .build(run);
        let running = tokio::spawn(worker.run());
        let mut receive = async |sent: &mut Vec<JobId>| {
            let mut got = Vec::new();
            while got.len() < sent.len() {
                let id = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                    .await
                    .expect("every task is fetched long before the fallback tick")
                    .expect("worker alive");
                got.push(id);
            }
            got.sort();
            sent.sort();
            assert_eq!(&got, sent);
        };
        receive(&mut sent).await;
        assert_eq!(
            b.notifier.backlog_len(QUEUES[0]),
            0,
            "the backlog is used up"
        );
        // Three tasks in one push, announced together: the one worker is woken once and
        // fetches three times.
        let more: Vec<_> = (0..3)
            .map(|i| (ulid::Ulid::generate(), envelope(100 + i)))
            .collect();
        b.push_many(QUEUES[0], &more).await.expect("push");
        b.announce(QUEUES[0], more.len()).await.expect("announce");
        receive(&mut more.iter().map(|(_, e)| e.job_id).collect()).await;
        running.abort();
    }

    /// The vacuum removes finished tasks of Roster's queues past the cutoff, in steps, found
    /// through the index of finished tasks; it keeps waiting tasks, failures with attempts left
    /// and other queues' tasks.
    #[tokio::test]
    async fn the_vacuum_deletes_finished_tasks_in_steps_through_the_index() {
        let (b, _dir) = open().await;
        let tasks = |n: usize| -> Vec<(ulid::Ulid, JobEnvelope)> {
            (0..n)
                .map(|i| (ulid::Ulid::generate(), envelope(i as u64)))
                .collect()
        };
        let finished = tasks(2 * VACUUM_STEP as usize + 7);
        b.push_many(QUEUES[0], &finished).await.expect("push");
        b.push_many("someone.else", &tasks(3)).await.expect("push");
        let exec = |sql: &'static str| {
            let b = b.clone();
            async move {
                sqlx::query(sql)
                    .execute(&mut *b.jobs.lock().await)
                    .await
                    .expect(sql)
            }
        };
        exec("UPDATE Jobs SET status = 'Done', done_at = CAST(strftime('%s','now') AS INTEGER) - 3600").await;
        // Killed, dead (failed, out of attempts), failed with attempts left, one finished just
        // now, one waiting.
        let [killed, dead, retry, recent, waiting] = [0, 1, 2, 3, 4].map(|_| tasks(1));
        for t in [&killed, &dead, &retry, &recent, &waiting] {
            b.push_many(QUEUES[1], t).await.expect("push");
        }
        let set = |t: &[(ulid::Ulid, JobEnvelope)], sql: &'static str| {
            let (b, id) = (b.clone(), t[0].0.to_string());
            async move {
                sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *b.jobs.lock().await)
                    .await
                    .expect(sql)
            }
        };
        set(&killed, "UPDATE Jobs SET status = 'Killed', done_at = CAST(strftime('%s','now') AS INTEGER) - 3600 WHERE id = ?1").await;
        set(&dead, "UPDATE Jobs SET status = 'Failed', attempts = max_attempts, done_at = CAST(strftime('%s','now') AS INTEGER) - 3600 WHERE id = ?1").await;
        set(&retry, "UPDATE Jobs SET status = 'Failed', attempts = 1, done_at = CAST(strftime('%s','now') AS INTEGER) - 3600 WHERE id = ?1").await;
        set(&recent, "UPDATE Jobs SET status = 'Done', done_at = CAST(strftime('%s','now') AS INTEGER) WHERE id = ?1").await;

        let removed = b.vacuum(Duration::from_secs(600)).await.expect("vacuum");
        assert_eq!(removed, finished.len() as u64 + 2);
        let mut left: Vec<(String, String)> =
            sqlx::query_as("SELECT job_type, id FROM Jobs ORDER BY job_type, id")
                .fetch_all(&mut *b.jobs.lock().await)
                .await
                .expect("rows");
        left.sort();
        let mut expected: Vec<(String, String)> = [&retry, &recent, &waiting]
            .iter()
            .map(|t| (QUEUES[1].to_owned(), t[0].0.to_string()))
            .collect();
        expected.sort();
        assert_eq!(left.len(), 6, "{left:?}");
        assert_eq!(
            left.iter().filter(|r| r.0 == "someone.else").count(),
            3,
            "another queue's tasks are not Roster's to remove"
        );
        for e in &expected {
            assert!(left.contains(e), "{e:?} was kept");
        }
        assert_eq!(b.vacuum(Duration::from_secs(600)).await.expect("again"), 0);

        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {VACUUM_TASKS}"
        )))
        .bind("Done")
        .bind(600)
        .bind("[]")
        .bind(VACUUM_STEP)
        .fetch_all(&mut *b.jobs.lock().await)
        .await
        .expect("plan");
        let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        assert!(
            plan.iter()
                .any(|s| s
                    .contains("USING INDEX idx_jobs_completed_done_at (status=? AND done_at<?)")),
            "finished tasks found through the index, not by a scan: {plan:?}"
        );
    }

    #[tokio::test]
    async fn a_ledger_claim_keeps_the_first_value() {
        let (b, _dir) = open().await;
        let job = JobId(ulid::Ulid::generate());
        let first = serde_json::json!({"targetRank": 20});
        let second = serde_json::json!({"targetRank": 30});
        assert_eq!(b.ledger_claim(job, "plan", &first).await.unwrap(), first);
        assert_eq!(b.ledger_claim(job, "plan", &second).await.unwrap(), first);
        assert_eq!(b.ledger_get(job, "plan").await.unwrap(), Some(first));
        // Another field of the same job is its own claim.
        assert_eq!(b.ledger_claim(job, "other", &second).await.unwrap(), second);
        // A claim is not a decided outcome: nothing was published.
        assert!(
            b.next_outcomes(10, Duration::from_millis(1))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
