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

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteStorage};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use tokio::sync::Notify;

use super::wake::{Notifier, WakeStream};
use super::{AttemptStart, BackendKind, QueueBackend, QueueError, ReceivedOutcome};
use crate::config::QueueConfig;
use crate::ids::JobId;
use crate::jobs::{JobEnvelope, JobOutcome, QUEUES};

fn err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Sqlite(e.to_string())
}

/// One connection per file: SQLite has a single writer, and with several connections every
/// contended write waits in SQLite's busy handler, which sleeps in steps of milliseconds;
/// queueing in the pool keeps each write at its real cost.
async fn open_pool(path: &Path) -> Result<SqlitePool, QueueError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts)
        .await
        .map_err(|e| {
            QueueError::Sqlite(format!(
                "cannot open the embedded queue {}: {e}",
                path.display()
            ))
        })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// SQLite-backed queue.
#[derive(Clone)]
pub struct SqliteBackend {
    /// apalis' tables (`Jobs`, `Workers`).
    pool: SqlitePool,
    /// Roster's ledger and outcome stream, in a second file so their writes (on every job's
    /// critical path) never queue behind apalis' fetches and heartbeats.
    ledger: SqlitePool,
    config: QueueConfig,
    outcome_ready: Arc<Notify>,
    notifier: Notifier,
    /// Member leases. Every worker of this backend is in this process, so they live in memory.
    leases:
        Arc<parking_lot::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>>,
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
        let pool = open_pool(path).await?;
        SqliteStorage::setup(&pool).await.map_err(err)?;
        for stmt in [
            // apalis' setup turns durability off on its connection (`synchronous = OFF`): a
            // power loss could then corrupt the queue. Back to what every other connection runs.
            "PRAGMA synchronous = NORMAL",
            // apalis' index on `Jobs(lock_by)` makes SQLite plan its acknowledgement (`UPDATE Jobs
            // … FROM json_each(?) WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?`) as a walk over
            // every task the worker ever fetched (finished tasks keep `lock_by` until the vacuum)
            // instead of one primary-key lookup per acknowledged task, so acknowledgements got
            // slower as the queue filled: 255 µs on average in a one-minute benchmark, growing
            // with run length. No query needs it: orphan recovery searches by status, and workers
            // are never deleted.
            "DROP INDEX IF EXISTS LIdx",
        ] {
            sqlx::query(stmt).execute(&pool).await.map_err(err)?;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "queue".into());
        let ledger_path = path.with_file_name(format!("{stem}-ledger.sqlite3"));
        let ledger = open_pool(&ledger_path).await?;
        for stmt in [
            "CREATE TABLE IF NOT EXISTS roster_ledger (
                job_id TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
                updated_at INTEGER NOT NULL, PRIMARY KEY (job_id, field))",
            "CREATE TABLE IF NOT EXISTS roster_outcomes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, created_at INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS roster_ledger_updated ON roster_ledger (updated_at)",
            // Deciding an outcome and publishing it is one statement: the insert that wins
            // publishes through this trigger.
            "CREATE TRIGGER IF NOT EXISTS roster_publish_decided AFTER INSERT ON roster_ledger
               WHEN NEW.field LIKE 'outcome:%'
               BEGIN INSERT INTO roster_outcomes (body, created_at) VALUES (NEW.value, NEW.updated_at); END",
        ] {
            sqlx::query(stmt).execute(&ledger).await.map_err(err)?;
        }
        Ok(Self {
            pool,
            ledger,
            config: config.clone(),
            outcome_ready: Arc::new(Notify::new()),
            notifier: Notifier::default(),
            leases: Arc::default(),
        })
    }

    /// Registers a worker (running up to `capacity` tasks, `busy` now) for wake-ups when the
    /// relay pushed, with the fallback tick.
    pub fn register_worker(
        &self,
        queue: &str,
        busy: Arc<std::sync::atomic::AtomicUsize>,
        capacity: usize,
    ) -> WakeStream {
        self.notifier
            .register(queue, busy, capacity, self.config.poll_interval)
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

    /// An apalis storage for `queue`. Its payload is raw JSON, decoded by the handler, so an
    /// unreadable payload fails one task instead of killing the worker.
    pub fn storage(&self, queue: &str) -> SqliteStorage<serde_json::Value> {
        SqliteStorage::new(&self.pool).with_config(self.apalis_config(queue))
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
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
        let mut storage = self.storage(queue);
        let task = TaskBuilder::new(serde_json::to_value(envelope).expect("envelopes serialize"))
            .task_id(TaskId::from_ulid(task_id))
            .build();
        match storage.push_task(task).await {
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
        let mut storage = self.storage(queue);
        let built: Vec<_> = tasks
            .iter()
            .map(|(id, env)| {
                TaskBuilder::new(serde_json::to_value(env).expect("envelopes serialize"))
                    .task_id(TaskId::from_ulid(*id))
                    .build()
            })
            .collect();
        match storage.push_all(futures::stream::iter(built)).await {
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
        let row = sqlx::query(
            "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, '1', ?3)
             ON CONFLICT (job_id, field) DO UPDATE
               SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = ?3
             RETURNING value",
        )
        .bind(&id)
        .bind(format!("attempts:{generation}"))
        .bind(now_ms())
        .fetch_one(&self.ledger)
        .await
        .map_err(err)?;
        let n: String = row.try_get(0).map_err(err)?;
        let mut start = AttemptStart {
            attempt: n
                .parse()
                .map_err(|e| QueueError::Decode(format!("attempt counter: {e}")))?,
            plan: None,
            outcome: None,
        };
        if start.attempt == 1 {
            // Nothing can have been recorded before the first attempt.
            return Ok(start);
        }
        let rows = sqlx::query(
            "SELECT field, value FROM roster_ledger WHERE job_id = ?1 AND field IN ('plan', ?2)",
        )
        .bind(&id)
        .bind(&outcome_field)
        .fetch_all(&self.ledger)
        .await
        .map_err(err)?;
        for r in rows {
            let field: String = r.try_get(0).map_err(err)?;
            let value: String = r.try_get(1).map_err(err)?;
            let v = serde_json::from_str(&value).map_err(|e| QueueError::Decode(e.to_string()))?;
            if field == "plan" {
                start.plan = Some(v);
            } else {
                start.outcome = Some(v);
            }
        }
        Ok(start)
    }

    async fn attempts(&self, job: JobId, generation: u32) -> Result<u32, QueueError> {
        Ok(self
            .ledger_get(job, &format!("attempts:{generation}"))
            .await?
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32)
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
        .fetch_one(&self.ledger)
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
            .fetch_optional(&self.ledger)
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

    async fn finish(&self, outcome: &JobOutcome) -> Result<JobOutcome, QueueError> {
        let id = outcome.job_id.0.to_string();
        let field = format!("outcome:{}", outcome.generation);
        let body = serde_json::to_string(outcome).expect("outcomes serialize");
        // The first decision wins and is published by the `roster_publish_decided` trigger in
        // the same statement.
        let inserted = sqlx::query(
            "INSERT INTO roster_ledger (job_id, field, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_id, field) DO NOTHING
             RETURNING value",
        )
        .bind(&id)
        .bind(&field)
        .bind(&body)
        .bind(now_ms())
        .fetch_optional(&self.ledger)
        .await
        .map_err(err)?;
        self.outcome_ready.notify_one();
        if inserted.is_some() {
            return Ok(outcome.clone());
        }
        // Decided before (a duplicate delivery raced us): publish what was decided.
        let stored = self
            .ledger_get(outcome.job_id, &field)
            .await?
            .ok_or_else(|| QueueError::Sqlite("decided outcome vanished".into()))?;
        let stored: JobOutcome =
            serde_json::from_value(stored).map_err(|e| QueueError::Decode(e.to_string()))?;
        self.publish_outcome(&stored).await?;
        Ok(stored)
    }

    async fn publish_outcome(&self, outcome: &JobOutcome) -> Result<(), QueueError> {
        sqlx::query("INSERT INTO roster_outcomes (body, created_at) VALUES (?1, ?2)")
            .bind(serde_json::to_string(outcome).expect("outcomes serialize"))
            .bind(now_ms())
            .execute(&self.ledger)
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
                .fetch_all(&self.ledger)
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
            .execute(&self.ledger)
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
        // file. This deletes only finished tasks of Roster's queues older than the cutoff.
        let mut total = 0u64;
        for q in QUEUES {
            let res = sqlx::query(
                "DELETE FROM Jobs WHERE job_type = ?1
                   AND (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts))
                   AND done_at <= CAST(strftime('%s','now') AS INTEGER) - ?2",
            )
            .bind(q)
            .bind(older_than.as_secs() as i64)
            .execute(&self.pool)
            .await
            .map_err(err)?;
            total += res.rows_affected();
        }
        let cutoff = now_ms() - Duration::from_secs(7 * 24 * 3600).as_millis() as i64;
        let res = sqlx::query("DELETE FROM roster_ledger WHERE updated_at < ?1")
            .bind(cutoff)
            .execute(&self.ledger)
            .await
            .map_err(err)?;
        total += res.rows_affected();
        Ok(total)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        for pool in [&self.pool, &self.ledger] {
            sqlx::query("SELECT 1").execute(pool).await.map_err(err)?;
        }
        Ok(())
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
    async fn the_queue_file_is_durable_and_acknowledges_by_task_id() {
        let (first, dir) = open().await;
        drop(first);
        // As a restart finds it: apalis' setup runs again on an existing file.
        let b = open_in(&dir).await;
        for pool in [&b.pool, &b.ledger] {
            let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .expect("pragma");
            assert_eq!(sync, 1, "synchronous = NORMAL on both files");
        }
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
        .fetch_all(&b.pool)
        .await
        .expect("plan");
        let plan: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        assert!(
            plan.iter()
                .any(|s| s.contains("Jobs USING INDEX sqlite_autoindex_Jobs_1 (id=?)")),
            "one lookup by task id per acknowledged task, not a walk over the worker's tasks: {plan:?}"
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
