//! Crash testing: Roster's real processes (`roster serve`, `roster worker`) as children, killed
//! with SIGKILL while promotes are in flight, against an in-process Roblox simulator; then a
//! count of what the crashes cost: promotes lost, applied twice, or rolled back.
//!
//! Used by the crash suite (`tests/it/crash.rs`) and by `roster-bench chaos`, which runs it
//! larger. Every address is on loopback and every wait is bounded.
//!
//! The ledger: each member starts at rank 1 of a group whose ranks run 1, 2, 3, … with a promote
//! rule "one rank up"; promotes carry an Idempotency-Key and are resent (same key) until Roster
//! acknowledges them, so each is accepted exactly once. A member's final rank must then be 1 plus
//! its accepted promotes: below that, promotes were **lost**; above, **doubled**. The simulator's
//! log of `:assignRole` calls shows every rank a member was given, in order: one lower than a
//! rank given before is a **rollback**.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use roster_sim::roblox::{
    Endpoint, FaultAction, GroupSeed, MemberSeed, RobloxSim, RobloxSimConfig, RoleSeed,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The group the crash tests rank in.
pub const GROUP: u64 = 7_700_000;
/// The first member's user id; members are `FIRST_MEMBER..FIRST_MEMBER + n`.
pub const FIRST_MEMBER: u64 = 50_000;
/// Highest ordinary rank (members can be promoted up to it).
pub const TOP_RANK: u8 = 200;
const BOT: u64 = 4_000;
const ADMIN_TOKEN: &str = "chaos-admin-token-0123456789abcdef";
const MASTER_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const OC_KEY: &str = "chaos-open-cloud-key";

fn role_id(rank: u8) -> u64 {
    GROUP * 1000 + u64::from(rank)
}

fn rank_of_role(role: u64) -> Option<u8> {
    role.checked_sub(GROUP * 1000)
        .and_then(|r| u8::try_from(r).ok())
}

/// Which queue backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite queue: workers run inside `roster serve`.
    Sqlite,
    /// Redis (a private `redis-server`): workers run in a standalone `roster worker`.
    Redis,
}

impl Backend {
    /// `sqlite` / `redis`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Redis => "redis",
        }
    }

    /// The process that runs jobs: `roster serve` on SQLite, `roster worker` on Redis.
    pub fn victim(self) -> &'static str {
        match self {
            Backend::Sqlite => "serve",
            Backend::Redis => "worker",
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A private `redis-server` on a free loopback port, killed on drop.
#[derive(Debug)]
pub struct RedisChild {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl RedisChild {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("roster-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .context("redis-server must be installed")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self { child, port, dir })
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed on drop.
#[derive(Debug)]
struct Proc(Child);

impl Proc {
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How to build a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    /// The `roster` binary.
    pub bin: PathBuf,
    /// Queue backend.
    pub backend: Backend,
    /// Members of the group (all at rank 1).
    pub members: u64,
    /// Simulated Roblox latency per call (so kills land in the middle of jobs).
    pub latency: Duration,
    /// `server.sync_wait`: how long a synchronous request waits for its job.
    pub sync_wait: Duration,
    /// More environment for every Roster process (`ROSTER_…` settings).
    pub env: Vec<(String, String)>,
}

/// Roster's processes, a simulator and, on Redis, a private Redis.
pub struct Cluster {
    opts: ClusterOpts,
    /// The simulator.
    pub sim: RobloxSim,
    sim_stop: CancellationToken,
    sim_base: String,
    // Processes stop before the Redis they use (fields drop in order).
    serve: Option<Proc>,
    worker: Option<Proc>,
    redis: Option<RedisChild>,
    port: u16,
    data: tempfile::TempDir,
    /// The public API (its key is set once the group is registered).
    pub api: Api,
    http: reqwest::Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("base", &self.api.base)
            .finish_non_exhaustive()
    }
}

/// Roster's public API as the crash tests call it. Cheap to clone; survives restarts (the
/// port stays the same).
#[derive(Debug, Clone)]
pub struct Api {
    /// Base URL.
    pub base: String,
    /// The group's API key.
    pub api_key: String,
    sync_wait: Duration,
    http: reqwest::Client,
}

/// What the API said to a promote.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The job.
    pub job_id: String,
    /// The HTTP status of the answer that acknowledged it.
    pub status: u16,
    /// The answer.
    pub body: Value,
}

impl Cluster {
    /// Starts the simulator, Redis if needed, `roster serve` (and `roster worker` on Redis),
    /// and registers the group with a promote rule and an API key.
    pub async fn start(opts: ClusterOpts) -> anyhow::Result<Self> {
        let sim = RobloxSim::new(RobloxSimConfig {
            latency: opts.latency,
            // Every restart starts with a cold roles cache: with Roblox's per-minute quotas, a
            // crash loop spends its minutes waiting for quota windows (429 handling has its own
            // tests). The limits stay on, raised.
            rate_limit_overrides: Endpoint::ALL.iter().map(|e| (*e, 1_000_000)).collect(),
            ..Default::default()
        });
        let sim_stop = CancellationToken::new();
        let s = sim_stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
            .await
            .context("start the simulator")?;
        let roles = std::iter::once((0u8, false))
            .chain((1..=TOP_RANK).map(|r| (r, false)))
            .chain([(254, true), (255, true)])
            .map(|(rank, change_rank)| RoleSeed {
                id: role_id(rank),
                name: format!("Rank {rank}"),
                rank,
                change_rank,
                accept_requests: false,
            })
            .collect();
        let mut members = vec![MemberSeed {
            user_id: BOT,
            role_ids: vec![role_id(254)],
        }];
        members.extend((0..opts.members).map(|i| MemberSeed {
            user_id: FIRST_MEMBER + i,
            role_ids: vec![role_id(1)],
        }));
        sim.seed_group(GroupSeed {
            id: GROUP,
            name: "Chaos".into(),
            description: String::new(),
            owner_user_id: 1,
            roles,
            members,
        })
        .map_err(|e| anyhow::anyhow!("seed: {e}"))?;
        sim.add_api_key(OC_KEY, BOT, &["group:read", "group:write"]);
        let redis = match opts.backend {
            Backend::Redis => Some(RedisChild::start()?),
            Backend::Sqlite => None,
        };
        let port = free_port()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut c = Self {
            sim,
            sim_stop,
            sim_base: format!("http://{addr}"),
            redis,
            serve: None,
            worker: None,
            port,
            api: Api {
                base,
                api_key: String::new(),
                sync_wait: opts.sync_wait,
                http: http.clone(),
            },
            data: tempfile::Builder::new().prefix("roster-chaos-").tempdir()?,
            http,
            opts,
        };
        c.start_serve()?;
        c.wait_ready(Duration::from_secs(30)).await?;
        if c.opts.backend == Backend::Redis {
            c.start_worker()?;
        }
        c.register().await?;
        Ok(c)
    }

    fn command(&self, sub: &str) -> Command {
        let mut cmd = Command::new(&self.opts.bin);
        cmd.arg(sub)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROSTER_SERVER__LISTEN", format!("127.0.0.1:{}", self.port))
            .env("ROSTER_SECURITY__ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ROSTER_SECURITY__MASTER_KEY", MASTER_KEY)
            .env("ROSTER_ROBLOX__BASE_URL", &self.sim_base)
            .env(
                "ROSTER_SERVER__SYNC_WAIT",
                format!("{}ms", self.opts.sync_wait.as_millis()),
            )
            .env("ROSTER_QUEUE__HEARTBEAT_INTERVAL", "1s")
            .env("ROSTER_QUEUE__MISSED_HEARTBEATS", "3")
            .env("ROSTER_QUEUE__POLL_INTERVAL", "1s")
            .env("ROSTER_QUEUE__RETRY_BASE", "50ms")
            .env("ROSTER_QUEUE__RETRY_MAX", "1s")
            .env("ROSTER_QUEUE__CONCURRENCY", "16")
            .env("ROSTER_LOG__LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        if let Some(r) = &self.redis {
            cmd.env("ROSTER_QUEUE__REDIS_URL", r.url());
            if sub == "serve" {
                cmd.env("ROSTER_QUEUE__IN_PROCESS_WORKERS", "false");
            }
        }
        cmd
    }

    /// Starts `roster serve` (not waiting for it to be ready).
    pub fn start_serve(&mut self) -> anyhow::Result<()> {
        let child = self
            .command("serve")
            .env("ROSTER_SERVER__DATA_DIR", self.data.path().join("data"))
            .spawn()
            .context("start roster serve")?;
        self.serve = Some(Proc(child));
        Ok(())
    }

    /// Starts a standalone `roster worker` (Redis only).
    pub fn start_worker(&mut self) -> anyhow::Result<()> {
        let child = self
            .command("worker")
            .env("ROSTER_SERVER__DATA_DIR", self.data.path().join("worker"))
            .spawn()
            .context("start roster worker")?;
        self.worker = Some(Proc(child));
        Ok(())
    }

    /// SIGKILLs the process that runs jobs (`serve` on SQLite, the worker on Redis).
    pub fn kill_victim(&mut self) {
        let p = match self.opts.backend {
            Backend::Sqlite => self.serve.take(),
            Backend::Redis => self.worker.take(),
        };
        if let Some(p) = p {
            p.kill();
        }
    }

    /// Starts the process [`Cluster::kill_victim`] kills.
    pub fn start_victim(&mut self) -> anyhow::Result<()> {
        match self.opts.backend {
            Backend::Sqlite => self.start_serve(),
            Backend::Redis => self.start_worker(),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/readyz", self.api.base))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("roster serve was not ready within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn register(&mut self) -> anyhow::Result<()> {
        let admin = |path: String, body: Value| {
            self.http
                .post(format!("{}/admin/v1{path}", self.api.base))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
        };
        let r = admin(
            "/groups".into(),
            json!({"groupId": GROUP, "plan": "max", "openCloudKey": OC_KEY}),
        )
        .await?;
        if !r.status().is_success() {
            bail!("create group: {}", r.text().await?);
        }
        let r = admin(
            format!("/groups/{GROUP}/rules"),
            json!({"direction": "promote", "from": {"min": 1, "max": TOP_RANK - 1}, "to": "next"}),
        )
        .await?;
        if !r.status().is_success() {
            bail!("add rule: {}", r.text().await?);
        }
        let k: Value = admin(format!("/groups/{GROUP}/keys"), json!({"label": "chaos"}))
            .await?
            .json()
            .await?;
        self.api.api_key = k["key"].as_str().context("api key")?.to_owned();
        Ok(())
    }

    /// A member's current rank in the simulator.
    pub fn rank(&self, user: u64) -> u8 {
        self.sim.member(GROUP, user).map(|m| m.rank).unwrap_or(0)
    }

    /// An admin API call (`/admin/v1{path}`): status and JSON body, `None` when Roster did not
    /// answer.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.api.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Sends `signal` (`TERM`, `INT`, …) to `roster serve` (`worker: false`) or the standalone
    /// worker, and waits up to `within` for it to exit by itself; returns its exit status.
    pub async fn signal_and_wait(
        &mut self,
        worker: bool,
        signal: &str,
        within: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let slot = if worker {
            &mut self.worker
        } else {
            &mut self.serve
        };
        let mut p = slot.take().context("the process is not running")?;
        let status = Command::new("kill")
            .args(["-s", signal, &p.0.id().to_string()])
            .status()
            .context("run kill")?;
        if !status.success() {
            bail!("kill -s {signal} failed: {status}");
        }
        let deadline = Instant::now() + within;
        loop {
            if let Some(exit) = p.0.try_wait()? {
                return Ok(exit);
            }
            if Instant::now() > deadline {
                // Dropping `p` SIGKILLs it.
                bail!("the process did not exit within {within:?} of SIG{signal}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs `roster serve`.
    pub fn kill_serve(&mut self) {
        if let Some(p) = self.serve.take() {
            p.kill();
        }
    }
}

impl Api {
    /// Sends a promote of `user` under `idempotency_key` until Roster acknowledges it (resending
    /// through connection errors, restarts and 5xx), for up to `within`. `wait`: answer
    /// synchronously (the default) rather than with `Prefer: respond-async`.
    pub async fn promote(
        &self,
        user: u64,
        idempotency_key: &str,
        wait: bool,
        within: Duration,
    ) -> anyhow::Result<Accepted> {
        let deadline = Instant::now() + within;
        loop {
            let mut req = self
                .http
                .post(format!("{}/v1/groups/{GROUP}/promote", self.base))
                .timeout(self.sync_wait + Duration::from_secs(5))
                .header("X-Api-Key", &self.api_key)
                .header("Idempotency-Key", idempotency_key)
                .json(&json!({"robloxUserId": user}));
            if !wait {
                req = req.header("Prefer", "respond-async");
            }
            if let Ok(r) = req.send().await {
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if let Some(job) = body["jobId"].as_str() {
                    // 200/202, or 409: the first send was accepted and is still running.
                    if status < 300 || status == 409 {
                        return Ok(Accepted {
                            job_id: job.to_owned(),
                            status,
                            body,
                        });
                    }
                }
                if (400..500).contains(&status) && status != 409 && status != 429 {
                    bail!("promote of {user} refused: {status} {body}");
                }
            }
            if Instant::now() > deadline {
                bail!("promote of {user} was not acknowledged within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A job's record (`GET /v1/jobs/{id}`), `None` while Roster is unreachable.
    pub async fn job(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/v1/jobs/{id}", self.base))
            .header("X-Api-Key", &self.api_key)
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Waits until every job in `ids` is final; returns their records.
    pub async fn wait_final(&self, ids: &[String], within: Duration) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + within;
        let mut done: HashMap<String, Value> = HashMap::new();
        loop {
            for id in ids {
                if done.contains_key(id) {
                    continue;
                }
                if let Some(j) = self.job(id).await
                    && matches!(j["status"].as_str(), Some("succeeded" | "failed" | "dead"))
                {
                    done.insert(id.clone(), j);
                }
            }
            if done.len() == ids.len() {
                return Ok(ids.iter().map(|i| done[i].clone()).collect());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} of {} jobs were not final within {within:?}",
                    ids.len() - done.len(),
                    ids.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Cluster {
    /// Whether an `:assignRole` has succeeded since the log entry `after`.
    pub fn assigned_since(&self, after: u64) -> bool {
        self.sim
            .log()
            .iter()
            .any(|e| e.seq > after && e.endpoint == Some(Endpoint::AssignRole) && e.status == 200)
    }

    /// The simulator log's latest sequence number.
    pub fn log_mark(&self) -> u64 {
        self.sim.log().iter().map(|e| e.seq).max().unwrap_or(0)
    }

    /// Adds a fault to the simulator.
    pub fn fault(&self, endpoint: Endpoint, action: FaultAction, times: Option<u32>) {
        self.sim.fault_endpoint(endpoint, action, times);
    }

    /// Counts lost, doubled and rolled-back promotes, given how many promotes of each member
    /// were accepted.
    pub fn tally(&self, accepted: &HashMap<u64, u32>) -> Tally {
        let mut t = Tally::default();
        for (user, n) in accepted {
            let expected = 1 + i64::from(*n);
            let actual = i64::from(self.rank(*user));
            t.lost += (expected - actual).max(0) as u64;
            t.doubled += (actual - expected).max(0) as u64;
        }
        // Per membership, every rank given must be at least every rank given before.
        let mut highest: HashMap<String, u8> = HashMap::new();
        for e in self.sim.log() {
            if e.endpoint != Some(Endpoint::AssignRole) || e.status != 200 {
                continue;
            }
            let Some(rank) = e
                .request_body
                .as_ref()
                .and_then(|b| b["role"].as_str())
                .and_then(|r| r.rsplit('/').next())
                .and_then(|r| r.parse::<u64>().ok())
                .and_then(rank_of_role)
            else {
                continue;
            };
            let member = e.path.split(':').next().unwrap_or_default().to_owned();
            let top = highest.entry(member).or_insert(0);
            if rank < *top {
                t.rolled_back += 1;
            }
            *top = (*top).max(rank);
        }
        t
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.sim_stop.cancel();
    }
}

/// What crashes cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Accepted promotes that never took effect.
    pub lost: u64,
    /// Promotes that took effect twice.
    pub doubled: u64,
    /// Times a member was given a lower rank than one given before.
    pub rolled_back: u64,
}

/// A chaos run.
#[derive(Debug, Clone)]
pub struct ChaosOpts {
    /// The cluster.
    pub cluster: ClusterOpts,
    /// SIGKILLs of the job-running process.
    pub kills: u32,
    /// Gap between a restart and the next kill, drawn uniformly from this range.
    pub gap: (Duration, Duration),
    /// Promotes in all, spread over the members round-robin and evenly over the kill phase.
    pub promotes: u32,
    /// Clients sending them at once.
    pub clients: u32,
}

/// What a chaos run found.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// The backend.
    pub backend: Backend,
    /// Kills done.
    pub kills: u32,
    /// Promotes accepted.
    pub accepted: u32,
    /// Lost, doubled, rolled back.
    pub tally: Tally,
    /// Jobs that ended `failed` or `dead`.
    pub not_succeeded: u64,
    /// The most attempts a job reports.
    pub max_attempts: u64,
    /// Up to three distinct errors of jobs that did not succeed.
    pub errors: Vec<String>,
    /// From the last kill's restart until every job was final.
    pub settle: Duration,
    /// The whole run.
    pub elapsed: Duration,
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} kills of `roster {}`, {} promotes accepted: lost {}, doubled {}, rolled back {}; \
             not succeeded {}; max attempts {}; every job final {:.1}s after the last restart ({:.1}s in all)",
            self.backend.as_str(),
            self.kills,
            self.backend.victim(),
            self.accepted,
            self.tally.lost,
            self.tally.doubled,
            self.tally.rolled_back,
            self.not_succeeded,
            self.max_attempts,
            self.settle.as_secs_f64(),
            self.elapsed.as_secs_f64(),
        )?;
        for e in &self.errors {
            write!(f, "\n  error: {e}")?;
        }
        Ok(())
    }
}

/// Sends `promotes` promotes from `clients` clients while the job-running process is SIGKILLed
/// `kills` times, then waits for every job and counts.
pub async fn run(opts: ChaosOpts) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let members = opts.cluster.members;
    let mut cluster = Cluster::start(opts.cluster.clone()).await?;
    let api = cluster.api.clone();
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let accepted = Arc::new(parking_lot::Mutex::new((HashMap::new(), Vec::new())));
    // Promotes are spread over the kill phase, so kills land while jobs run.
    let span = (opts.gap.0 + opts.gap.1) / 2 * opts.kills;
    let t0 = tokio::time::Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..opts.clients {
        let (api, next, accepted) = (api.clone(), next.clone(), accepted.clone());
        let total = opts.promotes;
        clients.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                tokio::time::sleep_until(t0 + span.mul_f64(f64::from(i) / f64::from(total))).await;
                let user = FIRST_MEMBER + u64::from(i) % members;
                let a = api
                    .promote(user, &format!("chaos-{i}"), false, Duration::from_secs(120))
                    .await?;
                let mut acc = accepted.lock();
                *acc.0.entry(user).or_insert(0u32) += 1;
                acc.1.push(a.job_id);
            }
        });
    }
    let mut kills = 0;
    let mut last_restart = Instant::now();
    while kills < opts.kills {
        let gap = rand::rng().random_range(opts.gap.0..=opts.gap.1);
        tokio::time::sleep(gap).await;
        cluster.kill_victim();
        cluster.start_victim()?;
        kills += 1;
        last_restart = Instant::now();
    }
    while let Some(r) = clients.join_next().await {
        r??;
    }
    let c = cluster;
    let (per_member, jobs) = accepted.lock().clone();
    let records = api.wait_final(&jobs, Duration::from_secs(300)).await?;
    let settle = last_restart.elapsed();
    let not_succeeded = records
        .iter()
        .filter(|r| r["status"] != "succeeded")
        .count() as u64;
    let max_attempts = records
        .iter()
        .filter_map(|r| r["attempts"].as_u64())
        .max()
        .unwrap_or(0);
    let mut errors: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| r["status"] != "succeeded") {
        let e = format!("{} {}", r["error"]["error"], r["error"]["message"]);
        if errors.len() < 3 && !errors.contains(&e) {
            errors.push(e);
        }
    }
    Ok(ChaosReport {
        errors,
        backend: opts.cluster.backend,
        kills,
        accepted: jobs.len() as u32,
        tally: c.tally(&per_member),
        not_succeeded,
        max_attempts,
        settle,
        elapsed: started.elapsed(),
    })
}
