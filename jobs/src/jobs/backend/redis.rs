//! The Redis backend: apalis-redis for tasks, plus Roster's own keys for the ledger, the outcome
//! stream and locks. This is the backend that lets `roster worker` processes run anywhere.
//!
//! Keys (all prefixed `roster:`):
//! - `roster:ledger:{job}`: a hash (`attempts:{gen}`, `plan`, `outcome:{gen}`), expiring 7 days
//!   after its last write;
//! - `roster:outcomes` / `roster:outcomes:processing`: a reliable queue (BLMOVE into the
//!   processing list, LREM on acknowledgement, and a recovery step that moves leftovers back);
//! - `roster:lock:{key}`: leases (`SET NX PX`, renewable by their holder).
//!
//! Two connections: a multiplexed one for everything else, and a dedicated one for the
//! recorder's blocking BLMOVE, which would otherwise stall every command queued behind it.

use std::time::Duration;

use std::sync::Arc;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_core::backend::ext::BackendExt;
use apalis_core::backend::ext::poll_strategy::{PollWith, StreamStrategy};
use apalis_core::backend::{Backend, BackendConfig, WireFormatBackend};
use apalis_core::worker::context::WorkerContext;
use apalis_redis::{Client, ConnectionManager, RedisStorage};
use async_trait::async_trait;
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManagerConfig;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::beats::{self, Live, Member};
use super::wake::{Notifier, WakeStream};
use super::{AttemptStart, BackendKind, Parked, QueueBackend, QueueError, ReceivedOutcome};
use crate::config::QueueConfig;
use crate::ids::JobId;
use crate::jobs::order::Turn;
use crate::jobs::{JobEnvelope, JobOutcome, QUEUES};

const WAKE_CHANNEL: &str = "roster:wake";
const OUTCOMES: &str = "roster:outcomes";
const OUTCOMES_PROCESSING: &str = "roster:outcomes:processing";
const LEDGER_TTL_SECS: i64 = 7 * 24 * 3600;

fn err(e: redis::RedisError) -> QueueError {
    QueueError::Redis(e.to_string())
}

fn ledger_key(job: JobId) -> String {
    format!("roster:ledger:{}", job.0)
}

/// A subject's highest finished sequence (`jobs::order`). It outlives the ledger by far: when it
/// does expire, every job on the subject finished long ago and later jobs carry that as their
/// floor.
fn turn_key(subject: &str) -> String {
    format!("roster:turn:{subject}")
}

const TURN_TTL_SECS: i64 = 90 * 24 * 3600;

/// The jobs parked on `subject` (a hash: sequence → `{queue, envelope}`).
fn parked_key(subject: &str) -> String {
    format!("roster:parked:{subject}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ParkedValue {
    queue: String,
    envelope: JobEnvelope,
}

/// Lua that marks turns finished and collects the jobs parked on the next turns:
/// `mark_and_collect(k0, a0, n, ttl)` takes the `n` turn keys after the first `k0` `KEYS`, then
/// their `n` parked keys, and their sequences after the first `a0` `ARGV`; per subject the
/// highest sequence wins. Returns, per turn, the job parked on the next sequence, or `''`.
const MARK_AND_COLLECT: &str = r"
local function mark_and_collect(k0, a0, n, ttl)
  local parked = {}
  for i = 1, n do
    local key = KEYS[k0 + i]
    local seq = tonumber(ARGV[a0 + i])
    if seq > tonumber(redis.call('GET', key) or '0') then
      redis.call('SET', key, seq, 'EX', ttl)
    else
      redis.call('EXPIRE', key, ttl)
    end
    parked[i] = redis.call('HGET', KEYS[k0 + n + i], seq + 1) or ''
  end
  return parked
end";

/// The jobs parked after `turns`, from what [`MARK_AND_COLLECT`] returned for them.
fn parked_next(turns: &[Turn], found: &[String]) -> Result<Vec<Parked>, QueueError> {
    let mut out = Vec::new();
    for (t, v) in turns.iter().zip(found) {
        if v.is_empty() {
            continue;
        }
        let v: ParkedValue =
            serde_json::from_str(v).map_err(|e| QueueError::Decode(e.to_string()))?;
        out.push(Parked {
            subject: t.subject.clone(),
            seq: t.seq + 1,
            queue: v.queue,
            envelope: v.envelope,
        });
    }
    Ok(out)
}

/// Adds `turns`' keys (turn keys, then parked keys) and sequences to a script invocation.
fn with_turns(inv: &mut redis::ScriptInvocation<'_>, turns: &[Turn]) {
    for t in turns {
        inv.key(turn_key(&t.subject));
    }
    for t in turns {
        inv.key(parked_key(&t.subject));
    }
    for t in turns {
        inv.arg(t.seq);
    }
}

/// Redis-backed queue.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    blocking: ConnectionManager,
    config: QueueConfig,
    notifier: Notifier,
    /// Names this process's announcements, so its own subscriber skips them.
    sender: Arc<str>,
    /// This process's live workers, whose heartbeats one task writes (see [`super::beats`]).
    live: Live,
    /// Stops the wake relay and the heartbeats with the last clone.
    _subscriber: Arc<DropGuard>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend").finish_non_exhaustive()
    }
}

/// Tasks the vacuum looks at per script call.
const VACUUM_STEP: usize = 500;

impl RedisBackend {
    /// Connects (two connection managers with the configured response timeout). Fails if
    /// Redis cannot be reached now; callers decide whether to retry.
    pub async fn connect(url: &str, config: &QueueConfig) -> Result<Self, QueueError> {
        let client = Client::open(url).map_err(err)?;
        let mgr_cfg = |timeout: Duration| {
            ConnectionManagerConfig::new()
                .set_response_timeout(Some(timeout))
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_number_of_retries(3)
                .set_max_delay(Duration::from_secs(1))
        };
        let conn = client
            .get_connection_manager_with_config(mgr_cfg(config.redis_response_timeout))
            .await
            .map_err(err)?;
        let blocking = client
            .get_connection_manager_with_config(mgr_cfg(
                config.redis_response_timeout + Duration::from_secs(2),
            ))
            .await
            .map_err(err)?;
        let notifier = Notifier::default();
        let stop = CancellationToken::new();
        let sender: Arc<str> = Arc::from(ulid::Ulid::generate().to_string());
        tokio::spawn(relay_wakes(
            client,
            notifier.clone(),
            sender.clone(),
            stop.clone(),
        ));
        let live = Live::default();
        let beat = Beat {
            conn: conn.clone(),
            notifier: notifier.clone(),
            sender: sender.clone(),
            orphaned_after: config.heartbeat_interval * config.missed_heartbeats,
        };
        tokio::spawn(beats::run(
            live.clone(),
            config.heartbeat_interval,
            stop.clone(),
            "redis",
            move |workers| {
                let beat = beat.clone();
                async move { beat.run(workers).await.map_err(|e| e.to_string()) }
            },
        ));
        Ok(Self {
            conn,
            blocking,
            config: config.clone(),
            notifier,
            sender,
            live,
            _subscriber: Arc::new(stop.drop_guard()),
        })
    }

    /// The apalis backend of a worker of `queue` running up to `capacity` tasks (`busy` of
    /// them now), woken on pushes by any process (see [`RedisWorkerBackend`]).
    pub fn worker_backend(
        &self,
        queue: &str,
        busy: Arc<std::sync::atomic::AtomicUsize>,
        capacity: usize,
    ) -> RedisWorkerBackend {
        let wake = self.register_worker(queue, busy, capacity);
        let storage = RedisStorage::new(self.conn.clone()).with_config(
            self.apalis_config(queue)
                .heartbeat_interval(beats::APALIS_HEARTBEAT),
        );
        RedisWorkerBackend {
            inner: storage.poll_with_stream(wake),
            queue: queue.to_owned(),
            live: self.live.clone(),
            member: None,
        }
    }

    /// Registers a worker of this process (running up to `capacity` tasks, `busy` now) for
    /// wake-ups on pushes by any process (through `PUBLISH roster:wake`), with the fallback tick.
    pub fn register_worker(
        &self,
        queue: &str,
        busy: Arc<std::sync::atomic::AtomicUsize>,
        capacity: usize,
    ) -> WakeStream {
        self.notifier
            .register(queue, busy, capacity, self.config.poll_interval)
    }

    /// The apalis configuration for `queue`: explicit name, short heartbeats so a dead
    /// worker's tasks move on within `heartbeat_interval × missed_heartbeats`.
    pub fn apalis_config(&self, queue: &str) -> apalis_redis::Config {
        apalis_redis::Config::default()
            .queue(queue)
            .heartbeat_interval(self.config.heartbeat_interval)
            .missed_heartbeats(self.config.missed_heartbeats as usize)
            .batch_size(1)
            .lock_tasks(true)
            .persist_results(true)
            .emit_events(false)
    }

    /// An apalis storage for `queue`. Its payload is raw JSON, decoded by the handler, so an
    /// unreadable payload fails one task instead of killing the worker.
    pub fn storage(&self, queue: &str) -> RedisStorage<serde_json::Value> {
        RedisStorage::new(self.conn.clone()).with_config(self.apalis_config(queue))
    }

    /// The multiplexed connection (for tests and tools).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Removes tasks in the done and dead sets that finished before `older_than`, looking at
    /// `step` tasks per script call.
    ///
    /// Not apalis' Vacuum: it deletes tasks still waiting for a retry (leaving ids that kill
    /// every worker that meets them) and never trims the done/dead sets. And not one script over
    /// the whole set either: Redis runs a script to the end before serving anyone else, and the
    /// done set holds every task of the last `queue.vacuum_after` (300,000 at 500 jobs/s for
    /// 10 minutes), so every queue operation would stall once a minute. `SSCAN` in steps keeps
    /// each call short; a task finished during the sweep is simply left for the next one.
    pub async fn vacuum_in_steps(
        &self,
        older_than: Duration,
        step: usize,
    ) -> Result<u64, QueueError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"local cutoff = tonumber(ARGV[2])
                  local page = redis.call('SSCAN', KEYS[1], ARGV[3], 'COUNT', ARGV[4])
                  local n = 0
                  for _, id in ipairs(page[2]) do
                    local meta = ARGV[1] .. ':' .. id
                    local done_at = tonumber(redis.call('HGET', meta, 'done_at') or '0') or 0
                    if done_at <= cutoff then
                      redis.call('HDEL', KEYS[2], id)
                      redis.call('DEL', meta)
                      redis.call('SREM', KEYS[1], id)
                      n = n + 1
                    end
                  end
                  return {page[1], n}",
            )
        });
        let cutoff = (chrono::Utc::now().timestamp() - older_than.as_secs() as i64).max(0);
        let mut total = 0u64;
        for q in QUEUES {
            let cfg = self.apalis_config(q);
            for set in [cfg.done_jobs_set(), cfg.dead_jobs_set()] {
                let mut cursor = "0".to_owned();
                loop {
                    let (next, n): (String, u64) = SCRIPT
                        .key(&set)
                        .key(cfg.job_data_hash())
                        .arg(cfg.job_meta_hash())
                        .arg(cutoff)
                        .arg(&cursor)
                        .arg(step.max(1))
                        .invoke_async(&mut self.conn.clone())
                        .await
                        .map_err(err)?;
                    total += n;
                    if next == "0" {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        Ok(total)
    }
}

#[async_trait]
impl QueueBackend for RedisBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
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
        storage
            .push_task(task)
            .await
            .map_err(|e| QueueError::Redis(e.to_string()))
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
        storage
            .push_all(futures::stream::iter(built))
            .await
            .map_err(|e| QueueError::Redis(e.to_string()))
    }

    async fn announce(&self, queue: &str, tasks: usize) -> Result<(), QueueError> {
        announce(&self.conn, &self.notifier, &self.sender, queue, tasks).await
    }

    async fn begin_attempt(&self, job: JobId, generation: u32) -> Result<AttemptStart, QueueError> {
        let key = ledger_key(job);
        type Row = (u32, Option<String>, Option<String>, Option<u32>, i64);
        let (n, plan, outcome, failures, _): Row = redis::pipe()
            .atomic()
            .hincr(&key, format!("attempts:{generation}"), 1)
            .hget(&key, "plan")
            .hget(&key, format!("outcome:{generation}"))
            .hget(&key, format!("failures:{generation}"))
            .expire(&key, LEDGER_TTL_SECS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        let decode = |s: Option<String>| {
            s.map(|s| serde_json::from_str(&s).map_err(|e| QueueError::Decode(e.to_string())))
                .transpose()
        };
        Ok(AttemptStart {
            attempt: n,
            failures: failures.unwrap_or(0),
            plan: decode(plan)?,
            outcome: decode(outcome)?,
        })
    }

    async fn attempts(&self, job: JobId, generation: u32) -> Result<u32, QueueError> {
        let (starts, failures): (Option<u32>, Option<u32>) = redis::pipe()
            .hget(ledger_key(job), format!("attempts:{generation}"))
            .hget(ledger_key(job), format!("failures:{generation}"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(match starts {
            None | Some(0) => 0,
            Some(_) => failures.unwrap_or(0) + 1,
        })
    }

    async fn count_failure(
        &self,
        job: JobId,
        generation: u32,
        error: &serde_json::Value,
    ) -> Result<u32, QueueError> {
        let key = ledger_key(job);
        let (_, n, _): (i64, u32, i64) = redis::pipe()
            .atomic()
            .hset(&key, format!("lastError:{generation}"), error.to_string())
            .hincr(&key, format!("failures:{generation}"), 1)
            .expire(&key, LEDGER_TTL_SECS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(n)
    }

    async fn turn_finished(&self, subject: &str) -> Result<u64, QueueError> {
        let v: Option<u64> = self
            .conn
            .clone()
            .get(turn_key(subject))
            .await
            .map_err(err)?;
        Ok(v.unwrap_or(0))
    }

    async fn finish_turns(&self, turns: &[Turn]) -> Result<Vec<Parked>, QueueError> {
        if turns.is_empty() {
            return Ok(Vec::new());
        }
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(&format!(
                "{MARK_AND_COLLECT}\nreturn mark_and_collect(0, 2, tonumber(ARGV[2]), ARGV[1])"
            ))
        });
        let mut inv = SCRIPT.prepare_invoke();
        inv.arg(TURN_TTL_SECS).arg(turns.len());
        with_turns(&mut inv, turns);
        let found: Vec<String> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        parked_next(turns, &found)
    }

    async fn park(
        &self,
        turn: &Turn,
        queue: &str,
        envelope: &JobEnvelope,
    ) -> Result<bool, QueueError> {
        // Checking the turn and parking is one script: a finish of the turn before runs wholly
        // before or after it.
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"local finished = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(ARGV[2]))
                  if finished + 1 >= tonumber(ARGV[1]) then return 0 end
                  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
                  redis.call('EXPIRE', KEYS[2], ARGV[4])
                  return 1",
            )
        });
        let value = serde_json::to_string(&ParkedValue {
            queue: queue.to_owned(),
            envelope: envelope.clone(),
        })
        .expect("envelopes serialize");
        let parked: i64 = SCRIPT
            .key(turn_key(&turn.subject))
            .key(parked_key(&turn.subject))
            .arg(turn.seq)
            .arg(turn.floor)
            .arg(value)
            .arg(TURN_TTL_SECS)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(parked == 1)
    }

    async fn unpark(&self, parked: &[Parked]) -> Result<(), QueueError> {
        let mut pipe = redis::pipe();
        for p in parked {
            pipe.hdel(parked_key(&p.subject), p.seq).ignore();
        }
        let () = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn ledger_claim(
        &self,
        job: JobId,
        field: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, QueueError> {
        let key = ledger_key(job);
        let (_, stored, _): (i64, String, i64) = redis::pipe()
            .atomic()
            .hset_nx(&key, field, value.to_string())
            .hget(&key, field)
            .expire(&key, LEDGER_TTL_SECS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        serde_json::from_str(&stored).map_err(|e| QueueError::Decode(e.to_string()))
    }

    async fn ledger_get(
        &self,
        job: JobId,
        field: &str,
    ) -> Result<Option<serde_json::Value>, QueueError> {
        let v: Option<String> = self
            .conn
            .clone()
            .hget(ledger_key(job), field)
            .await
            .map_err(err)?;
        v.map(|s| serde_json::from_str(&s).map_err(|e| QueueError::Decode(e.to_string())))
            .transpose()
    }

    async fn lock(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, QueueError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"local v = redis.call('GET', KEYS[1])
                  if v == false or v == ARGV[1] then
                    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
                    return 1
                  end
                  return 0",
            )
        });
        let got: i64 = SCRIPT
            .key(format!("roster:lock:{key}"))
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(got == 1)
    }

    async fn unlock(&self, key: &str, holder: &str) -> Result<(), QueueError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then
                    return redis.call('DEL', KEYS[1])
                  end
                  return 0",
            )
        });
        let _: i64 = SCRIPT
            .key(format!("roster:lock:{key}"))
            .arg(holder)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn finish(
        &self,
        outcome: &JobOutcome,
        turns: &[Turn],
    ) -> Result<(JobOutcome, Vec<Parked>), QueueError> {
        // Deciding, publishing, marking the turns and finding the next jobs is one script.
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(&format!(
                r"{MARK_AND_COLLECT}
                  redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
                  local stored = redis.call('HGET', KEYS[1], ARGV[1])
                  redis.call('EXPIRE', KEYS[1], ARGV[3])
                  redis.call('RPUSH', KEYS[2], stored)
                  local parked = mark_and_collect(2, 5, tonumber(ARGV[5]), ARGV[4])
                  table.insert(parked, 1, stored)
                  return parked"
            ))
        });
        let mut inv = SCRIPT.prepare_invoke();
        inv.key(ledger_key(outcome.job_id))
            .key(OUTCOMES)
            .arg(format!("outcome:{}", outcome.generation))
            .arg(serde_json::to_string(outcome).expect("outcomes serialize"))
            .arg(LEDGER_TTL_SECS)
            .arg(TURN_TTL_SECS)
            .arg(turns.len());
        with_turns(&mut inv, turns);
        let mut found: Vec<String> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        if found.is_empty() {
            return Err(QueueError::Decode("finish returned nothing".into()));
        }
        let stored = found.remove(0);
        let decided =
            serde_json::from_str(&stored).map_err(|e| QueueError::Decode(e.to_string()))?;
        Ok((decided, parked_next(turns, &found)?))
    }

    async fn publish_outcome(&self, outcome: &JobOutcome) -> Result<(), QueueError> {
        let body = serde_json::to_string(outcome).expect("outcomes serialize");
        let _: i64 = self.conn.clone().rpush(OUTCOMES, body).await.map_err(err)?;
        Ok(())
    }

    async fn next_outcomes(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedOutcome>, QueueError> {
        let first: Option<String> = self
            .blocking
            .clone()
            .blmove(
                OUTCOMES,
                OUTCOMES_PROCESSING,
                redis::Direction::Left,
                redis::Direction::Right,
                wait.as_secs_f64().max(0.01),
            )
            .await
            .map_err(err)?;
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut raw = vec![first];
        if max > 1 {
            static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
                redis::Script::new(
                    r"local out = {}
                      for i = 1, tonumber(ARGV[1]) do
                        local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
                        if not v then break end
                        out[#out + 1] = v
                      end
                      return out",
                )
            });
            let more: Vec<String> = SCRIPT
                .key(OUTCOMES)
                .key(OUTCOMES_PROCESSING)
                .arg(max - 1)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(err)?;
            raw.extend(more);
        }
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            match serde_json::from_str::<JobOutcome>(&r) {
                Ok(o) => out.push((r, o)),
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unreadable outcome");
                    let _: i64 = self
                        .conn
                        .clone()
                        .lrem(OUTCOMES_PROCESSING, 1, &r)
                        .await
                        .map_err(err)?;
                }
            }
        }
        Ok(out)
    }

    async fn ack_outcomes(&self, receipts: &[String]) -> Result<(), QueueError> {
        if receipts.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for r in receipts {
            pipe.lrem(OUTCOMES_PROCESSING, 1, r).ignore();
        }
        let _: () = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn recover_outcomes(&self) -> Result<u64, QueueError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"local n = 0
                  while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end
                  return n",
            )
        });
        let n: u64 = SCRIPT
            .key(OUTCOMES_PROCESSING)
            .key(OUTCOMES)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(n)
    }

    async fn vacuum(&self, older_than: Duration) -> Result<u64, QueueError> {
        self.vacuum_in_steps(older_than, VACUUM_STEP).await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// The `roster:wake` message: `<tasks> <queue> <sender>`.
fn wake_message(tasks: usize, queue: &str, sender: &str) -> String {
    format!("{tasks} {queue} {sender}")
}

/// Announces `tasks` pushed to `queue`: to this process's workers, and to other processes'
/// through `PUBLISH roster:wake`.
async fn announce(
    conn: &ConnectionManager,
    notifier: &Notifier,
    sender: &str,
    queue: &str,
    tasks: usize,
) -> Result<(), QueueError> {
    notifier.notify(Some(queue), tasks);
    let _: i64 = conn
        .clone()
        .publish(WAKE_CHANNEL, wake_message(tasks, queue, sender))
        .await
        .map_err(err)?;
    Ok(())
}

/// One heartbeat for this process's live workers on every queue, in one script: each
/// registered worker's `last_seen` (a worker whose registration was already taken as dead stays
/// so: its next fetch fails and apalis rebuilds it under a new name), then, as apalis'
/// `reenqueue_orphaned.lua` does, the tasks of workers silent since `ARGV[2]` pushed back and
/// those workers removed.
///
/// `KEYS`: per queue, its workers set, active list, signal list and in-flight prefix. `ARGV`:
/// now and the silence cut-off (seconds), then per queue a count and that many worker names.
/// Returns, per queue, the tasks handed back.
const BEAT: &str = r"
local now = tonumber(ARGV[1])
local cutoff = tonumber(ARGV[2])
local a = 3
local out = {}
for q = 0, #KEYS / 4 - 1 do
  local workers, active, signal, inflight = KEYS[q * 4 + 1], KEYS[q * 4 + 2], KEYS[q * 4 + 3], KEYS[q * 4 + 4]
  local n = tonumber(ARGV[a])
  a = a + 1
  for i = 1, n do
    redis.call('ZADD', workers, 'XX', now, ARGV[a])
    a = a + 1
  end
  local handed = 0
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', workers, 0, cutoff)) do
    local key = inflight .. ':' .. w
    local tasks = redis.call('SMEMBERS', key)
    for i = 1, #tasks, 1000 do
      redis.call('RPUSH', active, unpack(tasks, i, math.min(i + 999, #tasks)))
    end
    handed = handed + #tasks
    redis.call('DEL', key)
    redis.call('ZREM', workers, w)
  end
  if handed > 0 then
    redis.call('DEL', signal)
    redis.call('LPUSH', signal, 1)
  end
  out[q + 1] = handed
end
return out";

/// What the process-wide heartbeat needs (not the backend itself: its clones keep the beat
/// running).
#[derive(Clone)]
struct Beat {
    conn: ConnectionManager,
    notifier: Notifier,
    sender: Arc<str>,
    orphaned_after: Duration,
}

impl Beat {
    async fn run(&self, workers: Vec<(String, String)>) -> Result<(), QueueError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> =
            std::sync::LazyLock::new(|| redis::Script::new(BEAT));
        let now = chrono::Utc::now().timestamp().max(0);
        let cutoff = now - self.orphaned_after.as_secs() as i64;
        let mut inv = SCRIPT.prepare_invoke();
        inv.arg(now).arg(cutoff);
        for q in QUEUES {
            let cfg = apalis_redis::Config::default().queue(q);
            inv.key(cfg.workers_set())
                .key(cfg.active_jobs_list())
                .key(cfg.signal_list())
                .key(cfg.inflight_jobs_set());
            let names: Vec<&str> = workers
                .iter()
                .filter(|(queue, _)| queue == q)
                .map(|(_, n)| n.as_str())
                .collect();
            inv.arg(names.len());
            for n in names {
                inv.arg(n);
            }
        }
        let handed: Vec<u64> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        let handed: Vec<(String, u64)> =
            QUEUES.iter().map(|q| (*q).to_owned()).zip(handed).collect();
        let mut announced = Vec::new();
        beats::handed_back(&handed, |queue, tasks| {
            announced.push((queue.to_owned(), tasks))
        });
        for (queue, tasks) in announced {
            announce(&self.conn, &self.notifier, &self.sender, &queue, tasks).await?;
        }
        Ok(())
    }
}

/// One worker's backend for one queue: apalis-redis' storage, woken by Roster's wake stream
/// (pushes in any process, the queue's fallback tick), its heartbeat written by the process-wide
/// beat (see [`super::beats`]).
pub struct RedisWorkerBackend {
    inner: PollWith<RedisStorage<serde_json::Value>, StreamStrategy<WakeStream>>,
    queue: String,
    live: Live,
    /// This worker among the live ones, once it has been polled.
    member: Option<Member>,
}

impl std::fmt::Debug for RedisWorkerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWorkerBackend")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl Backend for RedisWorkerBackend {
    type Task = apalis_redis::RedisTask;
    type Error = apalis_redis::Error;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
        worker: &WorkerContext,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        if self.member.is_none() {
            self.member = Some(self.live.join(&self.queue, worker.name()));
        }
        self.inner.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
        worker: &WorkerContext,
    ) -> std::task::Poll<Option<Result<Self::Task, Self::Error>>> {
        self.inner.poll_next(cx, worker)
    }

    fn poll_close(
        &mut self,
        cx: &mut std::task::Context<'_>,
        worker: &WorkerContext,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_close(cx, worker)
    }
}

impl BackendConfig for RedisWorkerBackend {
    type Args = serde_json::Value;
    type Id = <RedisStorage<serde_json::Value> as BackendConfig>::Id;
    type Kind = <RedisStorage<serde_json::Value> as BackendConfig>::Kind;
    type Config = <RedisStorage<serde_json::Value> as BackendConfig>::Config;
    type Layer = <RedisStorage<serde_json::Value> as BackendConfig>::Layer;

    fn config(&self) -> &Self::Config {
        self.inner.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.inner.middleware(worker)
    }
}

impl WireFormatBackend for RedisWorkerBackend {
    type Codec = <RedisStorage<serde_json::Value> as WireFormatBackend>::Codec;
    type Compact = <RedisStorage<serde_json::Value> as WireFormatBackend>::Compact;

    fn codec(&self) -> &Self::Codec {
        self.inner.codec()
    }
}

/// Reads a `roster:wake` message: tasks, queue and sender; a bare count (from an older
/// process) names neither.
fn parse_wake(msg: &str) -> (usize, Option<&str>, Option<&str>) {
    let mut parts = msg.split_whitespace();
    let tasks = parts.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    (tasks, parts.next(), parts.next())
}

/// Forwards `PUBLISH roster:wake` from other processes to this process's workers (its own
/// pushes were announced locally already), reconnecting while Redis is away, until `stop`.
async fn relay_wakes(
    client: Client,
    notifier: Notifier,
    sender: Arc<str>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !stop.is_cancelled() {
        let sub = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(WAKE_CHANNEL).await?;
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                let payload: String = msg.get_payload().unwrap_or_default();
                let (tasks, queue, from) = parse_wake(&payload);
                if from != Some(&*sender) {
                    notifier.notify(queue, tasks);
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        tokio::select! {
            r = sub => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "wake subscription lost; reconnecting");
                }
            }
            _ = stop.cancelled() => return,
        }
        // Something may have been pushed while we were away.
        notifier.notify(None, usize::MAX);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_messages_name_queue_and_sender_and_old_ones_still_wake() {
        let m = wake_message(3, "roster.ranking", "01ABC");
        assert_eq!(parse_wake(&m), (3, Some("roster.ranking"), Some("01ABC")));
        // An older process publishes a bare count: every queue, unknown sender.
        assert_eq!(parse_wake("2"), (2, None, None));
        assert_eq!(parse_wake(""), (1, None, None));
    }
}
