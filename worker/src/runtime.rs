//! Running one job: its turn on the subjects it changes, attempt accounting in the ledger,
//! retries with backoff that honour the upstream's hint, dead-lettering after `max_attempts`
//! failures, and publishing the outcome.
//!
//! Retries happen inside the handler rather than through apalis' rescheduling: apalis-redis
//! reschedules plain errors up to 25 times regardless of our bound and apalis-sqlite ignores
//! `RetryAfterError`'s delay, so leaving retries to them would make behaviour depend on the
//! backend. Here, every attempt first increments a start counter in the backend's ledger and
//! every failed attempt a failure counter: `max_attempts` bounds the failures, and
//! `max_interruptions` bounds the starts that ended in neither (a crash, a lost worker, a
//! panic), so a crash-looping worker does not dead-letter jobs Roblox never refused while a job
//! that kills its worker every time is still caught. Waits are cancellable at shutdown (the task
//! then goes back to the queue and the next worker continues the count), and the final outcome
//! is written to the ledger before it is published, so a task redelivered after its outcome was
//! already decided re-publishes that outcome instead of running again.
//!
//! Ordering (`roster_jobs::jobs::order`): a job with turns runs only once every earlier job on
//! each of its subjects is final; until then it is parked in the backend (its delivery
//! acknowledged, no worker slot held) and pushed again by the job before it. It runs under the
//! subjects' leases (renewed while it runs), and the step that decides its outcome marks its
//! turns finished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use roster_jobs::config::{Config, RankMethod};
use roster_jobs::jobs::backend::Parked;
use roster_jobs::jobs::backend::{QueueBackend, QueueError};
use roster_jobs::jobs::order::Turn;
use roster_jobs::jobs::{JobEnvelope, JobError, JobKind, JobOutcome, JobTimings, OutcomeStatus};
use roster_jobs::secrets::{MasterKey, Secret};
use roster_upstream::discord::DiscordApi;
use roster_upstream::roblox::{RobloxApi, RolesCache};
use tokio_util::sync::CancellationToken;

use crate::jobs;

/// Everything handlers need. Cheap to clone.
#[derive(Clone)]
pub struct Deps {
    /// Queue backend (ledger, locks, outcomes).
    pub backend: Arc<dyn QueueBackend>,
    /// Roblox Open Cloud.
    pub roblox: Arc<dyn RobloxApi>,
    /// Discord.
    pub discord: Arc<dyn DiscordApi>,
    /// Linked NamelessMC websites.
    pub nameless: roster_upstream::nameless::NamelessClient,
    /// The deployment's bot token (`discord.bot_token`), for guilds without their own.
    pub discord_token: Option<Secret>,
    /// Guild roles, owners and the bot's place, cached.
    pub guilds: jobs::discord::GuildCache,
    /// Role lists.
    pub roles: RolesCache,
    /// Opens sealed credentials.
    pub master: MasterKey,
    /// `assign` or `patch`.
    pub rank_method: RankMethod,
    /// Retry and timeout settings.
    pub retry: RetrySettings,
    /// Stops waits at shutdown.
    pub shutdown: CancellationToken,
    /// Handlers running right now (for draining).
    pub inflight: Arc<std::sync::atomic::AtomicUsize>,
    /// Fires when draining is over: tasks delivered after shutdown began wait for it, then go
    /// back to the queue.
    pub release: CancellationToken,
    /// Wakes jobs of this process waiting for their turn on a subject.
    pub turns: Arc<TurnSignals>,
}

/// Wakes jobs waiting for their turn when a job of this process finishes one (jobs of other
/// processes are seen by polling). Sharded by subject so a finish wakes only a few waiters.
#[derive(Debug)]
pub struct TurnSignals {
    shards: Vec<tokio::sync::Notify>,
}

impl Default for TurnSignals {
    fn default() -> Self {
        Self {
            shards: (0..64).map(|_| tokio::sync::Notify::new()).collect(),
        }
    }
}

impl TurnSignals {
    fn shard(&self, subject: &str) -> &tokio::sync::Notify {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        subject.hash(&mut h);
        &self.shards[(h.finish() % self.shards.len() as u64) as usize]
    }
}

/// How long a job waits for its subjects' leases before it goes to the back of the queue.
pub const TURN_WAIT: Duration = Duration::from_secs(10);

/// A subject lease's lifetime; the holder renews it every third of that while it runs, so the
/// lease of a worker that died frees within this.
pub const LEASE_TTL: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// Retry settings from `[queue]`.
#[derive(Debug, Clone, Copy)]
pub struct RetrySettings {
    /// First backoff.
    pub base: Duration,
    /// Backoff ceiling (also caps `retry-after`).
    pub max: Duration,
    /// Bound for one attempt.
    pub attempt_timeout: Duration,
    /// Interrupted attempts (crashes) before a job is dead-lettered.
    pub max_interruptions: u32,
}

impl RetrySettings {
    /// From the configuration.
    pub fn from_config(c: &Config) -> Self {
        Self {
            base: c.queue.retry_base,
            max: c.queue.retry_max,
            attempt_timeout: c.queue.job_timeout,
            max_interruptions: c.queue.max_interruptions,
        }
    }

    /// Delay before attempt `attempt + 1`: the server's hint if any (capped), otherwise
    /// exponential from `base` with equal jitter.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(h) = hint {
            return h.min(self.max);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        let half = exp / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// How an attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// Retrying cannot help.
    Permanent(JobError),
    /// Retry (after `after`, if the upstream said so).
    Retry {
        /// Error code to report if attempts run out.
        code: &'static str,
        /// Message.
        message: String,
        /// The upstream's `retry-after`.
        after: Option<Duration>,
    },
}

impl Failure {
    /// A permanent failure.
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Failure::Permanent(JobError {
            code: code.to_owned(),
            message: message.into(),
        })
    }

    /// The queue backend failed mid-job: retry.
    pub fn backend(e: QueueError) -> Self {
        Failure::Retry {
            code: "QUEUE_UNAVAILABLE",
            message: format!("queue backend unavailable: {e}"),
            after: None,
        }
    }
}

/// Adds up time spent waiting on upstream calls.
#[derive(Debug, Default)]
pub struct UpstreamTimer {
    total: Duration,
}

impl UpstreamTimer {
    /// Awaits `fut`, adding its duration.
    pub async fn time<T>(&mut self, fut: impl std::future::Future<Output = T>) -> T {
        let t = Instant::now();
        let out = fut.await;
        self.total += t.elapsed();
        out
    }
}

/// What the apalis glue should tell apalis.
#[derive(Debug)]
pub enum Verdict {
    /// Finished (outcome published).
    Done,
    /// Finished with a permanent failure or dead-letter (outcome published): kill the task.
    Abort(String),
    /// Could not finish now (shutdown, or the backend is unreachable): leave the task for
    /// another delivery.
    Requeue(String),
}

/// The handler dispatch, from the registration list (`roster_jobs::job_kinds!`).
macro_rules! dispatch {
    ($( $(#[$doc:meta])* $variant:ident => $ty:path, )*) => {
        async fn run_kind(
            deps: &Deps,
            env: &JobEnvelope,
            plan: Option<serde_json::Value>,
            timer: &mut UpstreamTimer,
        ) -> Result<serde_json::Value, Failure> {
            match env.kind {
                $(JobKind::$variant => jobs::run_as::<$ty>(deps, env, plan, timer).await,)*
            }
        }
    };
}

roster_jobs::job_kinds!(dispatch);

/// Runs a delivered task to a verdict.
pub async fn execute(deps: &Deps, env: JobEnvelope) -> Verdict {
    if env.turns.is_empty() {
        return run_attempts(deps, &env, &mut Vec::new()).await;
    }
    // Unique per delivery: two deliveries of one job never share a lease.
    let holder = format!("{}:{}", env.job_id, ulid::Ulid::generate());
    match take_turn(deps, &env, &holder).await {
        Ok(Turned::Go) => {}
        Ok(Turned::Parked) => return Verdict::Done,
        Ok(Turned::Defer) => return defer(deps, &env).await,
        Err(e) => {
            release(deps, &env, &holder).await;
            return Verdict::Requeue(format!("queue backend unavailable: {e}"));
        }
    }
    // The outcome's decision marks the turns finished (`QueueBackend::finish`); the leases are
    // renewed alongside the attempts.
    let mut next = Vec::new();
    let verdict = {
        let run = run_attempts(deps, &env, &mut next);
        let renewing = renew(
            deps.backend.as_ref(),
            env.turns.iter().map(|t| lease_key(&t.subject)).collect(),
            &holder,
        );
        tokio::pin!(run, renewing);
        tokio::select! {
            biased;
            v = &mut run => v,
            () = &mut renewing => unreachable!("renewing never ends"),
        }
    };
    release(deps, &env, &holder).await;
    for t in &env.turns {
        deps.turns.shard(&t.subject).notify_waiters();
    }
    if matches!(verdict, Verdict::Requeue(_)) {
        return verdict;
    }
    // Before this delivery is acknowledged: if pushing the next jobs fails, the task comes back,
    // finds its outcome decided and pushes them then.
    match wake_successors(deps, &next).await {
        Ok(()) => verdict,
        Err(e) => Verdict::Requeue(format!(
            "the job finished but the jobs waiting for it could not be queued ({e}); the task will be delivered again and queue them"
        )),
    }
}

fn lease_key(subject: &str) -> String {
    format!("turn:{subject}")
}

/// What [`take_turn`] found.
enum Turned {
    /// Every earlier job on the subjects is final and the leases are held: run.
    Go,
    /// An earlier job is not final: the job is parked and will be pushed again on its turn.
    Parked,
    /// Another delivery of this job held a lease for [`TURN_WAIT`].
    Defer,
}

/// Parks the job on the first of its turns that has not come yet; otherwise takes the subjects'
/// leases (in sorted order, so two jobs never hold one each while waiting for the other), which
/// keep two deliveries of one job from running at once.
async fn take_turn(
    deps: &Deps,
    env: &JobEnvelope,
    holder: &str,
) -> Result<Turned, roster_jobs::jobs::backend::QueueError> {
    for turn in &env.turns {
        // `ready(0)`: every earlier job was final when this one was accepted (the usual case),
        // so there is nothing to ask the backend.
        if !turn.ready(0) && deps.backend.park(turn, env.kind.queue(), env).await? {
            metrics::counter!("roster_job_turn_parked_total", "kind" => env.kind.as_str())
                .increment(1);
            tracing::debug!(job = %env.job_id, subject = %turn.subject, "waiting for an earlier job on the same subject");
            return Ok(Turned::Parked);
        }
    }
    let deadline = tokio::time::Instant::now() + TURN_WAIT;
    for turn in &env.turns {
        let signal = deps.turns.shard(&turn.subject);
        let mut nap = Duration::from_millis(20);
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if deps
                .backend
                .lock(&lease_key(&turn.subject), holder, LEASE_TTL)
                .await?
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                metrics::counter!("roster_job_turn_deferrals_total", "kind" => env.kind.as_str())
                    .increment(1);
                release(deps, env, holder).await;
                return Ok(Turned::Defer);
            }
            // A release in this process wakes us; other processes' are polled for.
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
                _ = deps.shutdown.cancelled() => {
                    release(deps, env, holder).await;
                    return Ok(Turned::Defer);
                }
            }
            nap = (nap * 2).min(Duration::from_millis(250));
        }
    }
    Ok(Turned::Go)
}

/// Pushes the jobs that were parked on the turns after this job's (theirs now) and forgets them.
async fn wake_successors(
    deps: &Deps,
    parked: &[Parked],
) -> Result<(), roster_jobs::jobs::backend::QueueError> {
    if parked.is_empty() {
        return Ok(());
    }
    for p in parked {
        deps.backend
            .push(&p.queue, ulid::Ulid::generate(), &p.envelope)
            .await?;
        let _ = deps.backend.announce(&p.queue, 1).await;
    }
    deps.backend.unpark(parked).await
}

/// Renews the job's leases every third of their lifetime, for as long as it is polled.
async fn renew(backend: &dyn QueueBackend, keys: Vec<String>, holder: &str) {
    loop {
        tokio::time::sleep(LEASE_TTL / 3).await;
        for k in &keys {
            if let Err(e) = backend.lock(k, holder, LEASE_TTL).await {
                tracing::debug!(error = %e, "could not renew a subject lease");
            }
        }
    }
}

async fn release(deps: &Deps, env: &JobEnvelope, holder: &str) {
    for t in &env.turns {
        if let Err(e) = deps.backend.unlock(&lease_key(&t.subject), holder).await {
            tracing::debug!(error = %e, "could not release a subject lease (it expires by itself)");
        }
    }
}

/// Another delivery of the job held a subject's lease too long (it is still running, or died
/// and its lease has yet to expire): a copy goes to the back of the queue and this delivery is
/// acknowledged, so the slot goes to other work. The copy is the same job (same id and ledger): if both ever run,
/// the second finds the outcome decided.
async fn defer(deps: &Deps, env: &JobEnvelope) -> Verdict {
    if deps.shutdown.is_cancelled() {
        return Verdict::Requeue("worker shutting down before the job's turn".into());
    }
    let queue = env.kind.queue();
    match deps.backend.push(queue, ulid::Ulid::generate(), env).await {
        Ok(()) => {
            let _ = deps.backend.announce(queue, 1).await;
            tracing::debug!(job = %env.job_id, "waiting for an earlier job on the same subject; back to the queue");
            Verdict::Done
        }
        Err(e) => Verdict::Requeue(format!("could not requeue a job waiting for its turn: {e}")),
    }
}

/// The attempts of a job whose turn it is. Once its outcome is decided, `next` holds the jobs
/// parked on the turns after its own.
async fn run_attempts(deps: &Deps, env: &JobEnvelope, next: &mut Vec<Parked>) -> Verdict {
    let kind = env.kind.as_str();
    let mut first = true;
    loop {
        let t = Instant::now();
        let begun = deps.backend.begin_attempt(env.job_id, env.generation).await;
        metrics::histogram!("roster_queue_op_seconds", "op" => "begin_attempt")
            .record(t.elapsed().as_secs_f64());
        let start = match begun {
            Ok(s) => s,
            Err(e) => return Verdict::Requeue(format!("ledger unavailable: {e}")),
        };
        // An outcome already decided (the task was delivered again after it finished): publish
        // it again instead of running the job twice.
        if let Some(v) = start.outcome {
            return match serde_json::from_value::<JobOutcome>(v) {
                Ok(o) => publish(deps, &o, &env.turns, next).await,
                Err(e) => {
                    // Over either way: never hold the next job on its subjects back.
                    if let Ok(parked) = deps.backend.finish_turns(&env.turns).await {
                        *next = parked;
                    }
                    Verdict::Abort(format!("unreadable ledger outcome: {e}"))
                }
            };
        }
        // Starts that ended in neither a failure nor an outcome were interrupted.
        let interrupted = start
            .attempt
            .saturating_sub(1)
            .saturating_sub(start.failures);
        let attempt = start.failures + 1;
        let queue_wait = (chrono::Utc::now() - env.submitted_at)
            .to_std()
            .unwrap_or_default();
        if start.attempt == 1 {
            metrics::histogram!("roster_job_queue_wait_seconds", "kind" => kind)
                .record(queue_wait.as_secs_f64());
        } else if first && interrupted > 0 {
            // Delivered again after its worker stopped mid-attempt.
            metrics::counter!("roster_job_interruptions_total", "kind" => kind).increment(1);
        }
        first = false;
        metrics::counter!("roster_jobs_started_total", "kind" => kind).increment(1);
        if interrupted > deps.retry.max_interruptions || attempt > env.max_attempts {
            let last = deps
                .backend
                .ledger_get(env.job_id, &format!("lastError:{}", env.generation))
                .await
                .ok()
                .flatten()
                .and_then(|v| serde_json::from_value::<JobError>(v).ok());
            let error = if interrupted > deps.retry.max_interruptions {
                JobError {
                    code: "JOB_INTERRUPTED".into(),
                    message: format!(
                        "the job's worker stopped (crash, kill or panic) during {interrupted} attempts{}",
                        last.map(|l| format!("; last error: {}", l.message))
                            .unwrap_or_default()
                    ),
                }
            } else {
                let last = last.unwrap_or(JobError {
                    code: "ROBLOX_API_ERROR".into(),
                    message: "no error was recorded".into(),
                });
                JobError {
                    code: last.code,
                    message: format!(
                        "gave up after {} attempts; last error: {}",
                        env.max_attempts, last.message
                    ),
                }
            };
            return finish(
                deps,
                env,
                next,
                start.failures,
                OutcomeStatus::Dead { error },
                JobTimings::default(),
            )
            .await;
        }
        let started = Instant::now();
        let mut timer = UpstreamTimer::default();
        // An attempt in flight runs to completion even during shutdown (the drain waits for
        // it); only the waits between attempts are cut short.
        let result = tokio::time::timeout(
            deps.retry.attempt_timeout,
            run_kind(deps, env, start.plan, &mut timer),
        )
        .await;
        let timings = JobTimings {
            queue_wait_ms: queue_wait.as_secs_f64() * 1e3,
            run_ms: started.elapsed().as_secs_f64() * 1e3,
            upstream_ms: timer.total.as_secs_f64() * 1e3,
        };
        metrics::histogram!("roster_job_run_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        let failure = match result {
            Ok(Ok(value)) => {
                return finish(
                    deps,
                    env,
                    next,
                    attempt,
                    OutcomeStatus::Succeeded { result: value },
                    timings,
                )
                .await;
            }
            Ok(Err(Failure::Permanent(error))) => {
                return finish(
                    deps,
                    env,
                    next,
                    attempt,
                    OutcomeStatus::Failed { error },
                    timings,
                )
                .await;
            }
            Ok(Err(f)) => f,
            Err(_) => Failure::Retry {
                code: "ROBLOX_API_ERROR",
                message: format!(
                    "attempt exceeded the {}s job timeout",
                    deps.retry.attempt_timeout.as_secs_f64()
                ),
                after: None,
            },
        };
        let Failure::Retry {
            code,
            message,
            after,
        } = failure
        else {
            unreachable!("permanent failures returned above");
        };
        let error = JobError {
            code: code.to_owned(),
            message,
        };
        if attempt >= env.max_attempts {
            let error = JobError {
                code: error.code,
                message: format!(
                    "gave up after {attempt} attempts; last error: {}",
                    error.message
                ),
            };
            return finish(
                deps,
                env,
                next,
                attempt,
                OutcomeStatus::Dead { error },
                timings,
            )
            .await;
        }
        // Count the failure (and remember the error, so a job that dies later says why).
        if let Err(e) = deps
            .backend
            .count_failure(
                env.job_id,
                env.generation,
                &serde_json::to_value(&error).expect("errors serialize"),
            )
            .await
        {
            return Verdict::Requeue(format!("ledger unavailable: {e}"));
        }
        let delay = deps.retry.delay(attempt, after);
        metrics::counter!("roster_job_retries_total", "kind" => kind).increment(1);
        tracing::debug!(job = %env.job_id, attempt, delay_ms = delay.as_millis() as u64, error = %error.message, "retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = deps.shutdown.cancelled() => {
                return Verdict::Requeue("worker shutting down between attempts".into());
            }
        }
    }
}

/// Decides the outcome (the first decision wins) and publishes the decided one.
async fn finish(
    deps: &Deps,
    env: &JobEnvelope,
    next: &mut Vec<Parked>,
    attempts: u32,
    status: OutcomeStatus,
    timings: JobTimings,
) -> Verdict {
    let outcome = JobOutcome {
        job_id: env.job_id,
        generation: env.generation,
        kind: env.kind,
        attempts,
        finished_at: chrono::Utc::now(),
        status,
        timings,
    };
    let mut nap = Duration::from_millis(20);
    for _ in 0..6 {
        let t = Instant::now();
        let finished = deps.backend.finish(&outcome, &env.turns).await;
        metrics::histogram!("roster_queue_op_seconds", "op" => "finish")
            .record(t.elapsed().as_secs_f64());
        match finished {
            Ok((decided, parked)) => {
                *next = parked;
                return verdict(&decided);
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not record the outcome yet");
                tokio::time::sleep(nap).await;
                nap *= 2;
            }
        }
    }
    Verdict::Requeue(
        "could not record the outcome; the task will be delivered again and finish it".into(),
    )
}

fn verdict(outcome: &JobOutcome) -> Verdict {
    let label = match &outcome.status {
        OutcomeStatus::Succeeded { .. } => "succeeded",
        OutcomeStatus::Failed { .. } => "failed",
        OutcomeStatus::Dead { .. } => "dead",
    };
    metrics::counter!("roster_jobs_finished_total", "kind" => outcome.kind.as_str(), "outcome" => label).increment(1);
    match &outcome.status {
        OutcomeStatus::Succeeded { .. } => Verdict::Done,
        OutcomeStatus::Failed { error } | OutcomeStatus::Dead { error } => {
            Verdict::Abort(format!("{}: {}", error.code, error.message))
        }
    }
}

/// Publishes an outcome decided earlier (redelivery after the job finished), and marks the job's
/// turns finished in case the delivery that decided it died before it could.
async fn publish(
    deps: &Deps,
    outcome: &JobOutcome,
    turns: &[Turn],
    next: &mut Vec<Parked>,
) -> Verdict {
    let mut nap = Duration::from_millis(20);
    for _ in 0..6 {
        let published = match deps.backend.publish_outcome(outcome).await {
            Ok(()) => deps.backend.finish_turns(turns).await,
            Err(e) => Err(e),
        };
        match published {
            Ok(parked) => {
                *next = parked;
                return verdict(outcome);
            }
            Err(e) => {
                tracing::debug!(error = %e, "could not publish outcome yet");
                tokio::time::sleep(nap).await;
                nap *= 2;
            }
        }
    }
    Verdict::Requeue(
        "could not publish the outcome; the task will be delivered again and re-publish it".into(),
    )
}
