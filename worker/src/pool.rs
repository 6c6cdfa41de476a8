//! The apalis side: one supervised apalis worker per queue, on either backend.
//!
//! Trap handling (see NOTES-deps.md and `docs/architecture.md`):
//! - worker names are unique per start (`role-queue-host-pid-ulid`), so a restart never collides
//!   with a registration still within the heartbeat threshold; queues are named explicitly;
//! - workers are woken by a [`roster_jobs::jobs::backend::wake::WakeStream`] (pushes in this or
//!   any other process, plus a fallback tick) instead of apalis' interval poll, which loses
//!   wake-ups; on the embedded queue they fetch only then (see
//!   [`roster_jobs::jobs::backend::sqlite_worker`]);
//! - `batch_size` is 1: a fetch never returns more tasks than there are free slots, so the worker
//!   never sits in apalis' "buffered" state, where it stops heartbeating and other workers declare
//!   it dead and run its tasks a second time;
//! - payloads are raw JSON decoded by the handler: an unreadable payload fails one task instead of
//!   killing the worker;
//! - any error ends an apalis worker for good (a Redis blip, a restart): a worker that stops on
//!   its own is logged, counted, and rebuilt under a new name with backoff, never left idle;
//! - draining: once apalis is told to stop it no longer polls its backend until every task in
//!   flight has finished, so a fetch that was half-way through a SQLite transaction would hold the
//!   connection (and possibly the write lock) that the finishing tasks need. So Roster drains
//!   before stopping apalis: at shutdown, tasks already running finish; tasks delivered after
//!   shutdown began are held without running; once Roster's own handlers are done, the held tasks
//!   are handed back to the queue and only then is apalis stopped. A task whose acknowledgement
//!   was lost is delivered again later and finds its outcome in the ledger, so it is not run
//!   twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use roster_jobs::config::QueueConfig;
use roster_jobs::jobs::backend::{RedisBackend, SqliteBackend};
use roster_jobs::jobs::{JobEnvelope, QUEUES};
use tokio_util::sync::CancellationToken;

use crate::runtime::{self, Deps, Verdict};

/// Which backend the workers consume.
#[derive(Debug, Clone)]
pub enum Source {
    /// Embedded SQLite.
    Sqlite(SqliteBackend),
    /// Redis.
    Redis(RedisBackend),
}

/// A process-unique worker name: `role-host-pid-ulid`.
pub fn unique_name(role: &str, queue: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{role}-{queue}-{host}-{}-{}",
        std::process::id(),
        ulid::Ulid::generate()
    )
}

/// Counts a handler in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(c: &Arc<AtomicUsize>) -> Self {
        c.fetch_add(1, Ordering::SeqCst);
        Self(c.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(payload: serde_json::Value, deps: Data<Deps>) -> Result<(), BoxDynError> {
    use futures::FutureExt;
    let deps: Deps = (*deps).clone();
    if deps.shutdown.is_cancelled() {
        // Delivered after shutdown began: hold it until the drain is over, then hand it back to
        // the queue untouched (see the module doc for why apalis is not stopped earlier).
        deps.release.cancelled().await;
        return Err("worker shutting down; the task goes back to the queue".into());
    }
    let _guard = InFlight::enter(&deps.inflight);
    let env: JobEnvelope = match serde_json::from_value(payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "dropping a task whose payload is not a Roster job");
            metrics::counter!("roster_job_undecodable_total").increment(1);
            return Err(AbortError::new(format!("undecodable job payload: {e}")).into());
        }
    };
    let job = env.job_id;
    // A panicking handler is a bug: report it and let the task come back (the ledger's attempt
    // count dead-letters it eventually) instead of taking the worker down.
    let verdict = std::panic::AssertUnwindSafe(runtime::execute(&deps, env))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(%job, "job handler panicked");
            metrics::counter!("roster_job_panics_total").increment(1);
            Verdict::Requeue("job handler panicked".into())
        });
    match verdict {
        Verdict::Done => Ok(()),
        Verdict::Abort(msg) => Err(AbortError::new(msg).into()),
        Verdict::Requeue(msg) => Err(msg.into()),
    }
}

/// Runs each task as its own tokio task (so jobs use every core). A named function with
/// concrete types: passing `tokio::spawn` itself trips a higher-ranked lifetime inference error
/// once the worker future is spawned.
fn spawn_task<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(fut)
}

/// Erases the worker future's type where its lifetimes are concrete, so spawning the
/// supervisor does not have to prove `Send` through apalis' generic layers (rustc cannot, for
/// higher-ranked lifetimes).
fn boxed<'a>(
    fut: impl std::future::Future<Output = Result<(), WorkerError>> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), WorkerError>> + Send + 'a>> {
    Box::pin(fut)
}

async fn stop_signal(token: CancellationToken) -> Result<(), std::io::Error> {
    token.cancelled().await;
    Ok(())
}

/// Runs one queue's worker until `stop`, restarting it if it ever stops on its own.
async fn supervise(
    deps: Deps,
    source: Source,
    queue: &'static str,
    role: String,
    stop: CancellationToken,
    handlers: tokio::runtime::Handle,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let name = unique_name(&role, queue);
        tracing::debug!(worker = %name, queue, "worker starting");
        let apalis_stop = CancellationToken::new();
        let mut d = deps.clone();
        d.release = CancellationToken::new();
        let run = match &source {
            Source::Sqlite(b) => {
                let storage = b.worker_backend(queue, d.inflight.clone(), SLOTS_PER_WORKER);
                // This worker runs on the queue's own runtime; its handlers on the caller's.
                let handlers = handlers.clone();
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(storage)
                    .data(d.clone())
                    .concurrency(SLOTS_PER_WORKER)
                    .parallelize(move |fut| handlers.spawn(fut))
                    .build(handle);
                boxed(worker.run_until(stop_signal(apalis_stop.clone())))
            }
            Source::Redis(b) => {
                let storage = b.worker_backend(queue, d.inflight.clone(), SLOTS_PER_WORKER);
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(storage)
                    .data(d.clone())
                    .concurrency(SLOTS_PER_WORKER)
                    .parallelize(spawn_task)
                    .build(handle);
                boxed(worker.run_until(stop_signal(apalis_stop.clone())))
            }
        };
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => r,
            _ = stop.cancelled() => {
                drain(&mut run, &d, &apalis_stop).await;
                tracing::debug!(worker = %name, queue, "worker stopped");
                return;
            }
        };
        if stop.is_cancelled() {
            tracing::debug!(worker = %name, queue, "worker stopped");
            return;
        }
        metrics::counter!("roster_worker_restarts_total", "queue" => queue).increment(1);
        match result {
            Ok(()) => {
                tracing::error!(worker = %name, queue, "worker stopped on its own; restarting")
            }
            Err(e) => {
                tracing::error!(worker = %name, queue, error = %e, "worker failed; restarting")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

type WorkerRun<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), WorkerError>> + Send + 'a>>;

/// After the stop signal: keep apalis running (and polling its backend) while Roster's
/// handlers finish, then release the tasks held since shutdown began, stop apalis and give it a
/// moment to write its acknowledgements.
async fn drain(
    run: &mut std::pin::Pin<&mut WorkerRun<'_>>,
    deps: &Deps,
    apalis_stop: &CancellationToken,
) {
    let handlers_done = async {
        while deps.inflight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        _ = &mut *run => return,
        _ = handlers_done => {}
    }
    deps.release.cancel();
    apalis_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut *run).await;
}

/// Workers per queue: ranking gets `concurrency` slots; Discord jobs, which spend their time
/// waiting on Discord's per-guild rate limits, a quarter of them; moderation side effects, which
/// see far less traffic, an eighth (at least one worker each).
fn workers_for(queue: &str, concurrency: usize) -> usize {
    let slots = match queue {
        roster_jobs::jobs::RANKING_QUEUE => concurrency,
        roster_jobs::jobs::DISCORD_QUEUE => (concurrency / 4).max(SLOTS_PER_WORKER),
        _ => (concurrency / 8).max(SLOTS_PER_WORKER),
    };
    slots.div_ceil(SLOTS_PER_WORKER).max(1)
}

/// Tasks one apalis worker runs at once. With `batch_size` 1, two slots keep apalis' event
/// channel (`batch_size × 4` events, two per task) from ever filling, so draining cannot hang;
/// a process runs `queue.concurrency / 2` such workers per queue.
pub const SLOTS_PER_WORKER: usize = 2;

/// Runs workers for every queue until `stop` fires and in-flight jobs have drained (bounded by
/// `drain`). `deps.shutdown` should fire together with `stop`: it cuts waits between retries
/// short, so draining only waits for attempts actually in flight.
pub async fn run(
    deps: Deps,
    source: Source,
    config: QueueConfig,
    role: &str,
    stop: CancellationToken,
    drain: Duration,
) -> Result<(), String> {
    let mut set = tokio::task::JoinSet::new();
    // Handlers run here; the embedded queue's workers run on its own runtime (see
    // `SqliteBackend::runtime`), Redis workers here.
    let here = tokio::runtime::Handle::current();
    let workers_on = match &source {
        Source::Sqlite(b) => b.runtime(),
        Source::Redis(_) => here.clone(),
    };
    let backend = match &source {
        Source::Sqlite(_) => "sqlite",
        Source::Redis(_) => "redis",
    };
    for queue in QUEUES {
        let workers = workers_for(queue, config.concurrency);
        tracing::info!(
            queue,
            workers,
            slots = workers * SLOTS_PER_WORKER,
            backend,
            "worker pool starting"
        );
        for _ in 0..workers {
            let mut d = deps.clone();
            d.inflight = Arc::default();
            set.spawn_on(
                supervise(
                    d,
                    source.clone(),
                    queue,
                    role.to_owned(),
                    stop.clone(),
                    here.clone(),
                ),
                &workers_on,
            );
        }
    }
    let all = async { while set.join_next().await.is_some() {} };
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => return Ok(()),
        _ = stop.cancelled() => {}
    }
    match tokio::time::timeout(drain, &mut all).await {
        Ok(()) => {
            tracing::info!(backend, "worker pools stopped");
            Ok(())
        }
        Err(_) => Err(format!(
            "in-flight jobs did not finish within {}s; they will be delivered again",
            drain.as_secs_f64()
        )),
    }
}
