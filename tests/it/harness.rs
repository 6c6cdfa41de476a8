//! The test harness: starts the real system (control plane on a loopback port with a
//! temporary data directory, a queue backend, the Roblox simulator) and gives typed helpers
//! for each API family.
//!
//! Every test that uses a queue runs against both backends (`sqlite` and `redis`, see
//! [`both_backends!`]). Redis tests start their own `redis-server` on a free port and kill it
//! at the end. [`TestApp::finish`] fails a test that leaves queued or dead jobs behind.

pub mod discord;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roster::app::{self, ControlPlane, Options};
use roster::dev::demo_seed;
use roster_core::clock::{ManualClock, SharedClock};
use roster_core::config::Config;
use roster_core::groups::Plan;
use roster_core::jobs::{JobRecord, JobStatus};
use roster_core::secrets::Secret;
use roster_core::store::{StoreExt, Tree};
use roster_sim::roblox::{Endpoint, FaultAction, LogEntry, RobloxSim, RobloxSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Queue backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// Redis (a private redis-server).
    Redis,
}

/// Generates `<name>_sqlite` and `<name>_redis` tests calling `async fn <name>(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            $crate::paste_test!($name);
        )*
    };
}

/// Helper for [`both_backends!`].
#[macro_export]
macro_rules! paste_test {
    ($name:ident) => {
        pub mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                super::$name($crate::harness::Backend::Redis).await;
            }
        }
    };
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("roster-it-{tag}-{}", ulid::Ulid::generate()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private redis-server on a free loopback port.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let dir = TempDir::new("redis");
        let mut s = Self {
            child: None,
            port,
            dir,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &self.dir.path().display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 7];
                if s.read(&mut buf).is_ok() && buf.starts_with(b"+PONG") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (data is lost: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running simulator.
pub struct Sim {
    /// Handle.
    pub sim: RobloxSim,
    /// Base URL.
    pub base: String,
    stop: CancellationToken,
}

impl Sim {
    /// Starts one with the default (strict) configuration.
    pub async fn start() -> Self {
        Self::start_with(RobloxSimConfig::default()).await
    }

    /// Starts one with `config`.
    pub async fn start_with(config: RobloxSimConfig) -> Self {
        let sim = RobloxSim::new(config);
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse().expect("addr"), async move {
                s.cancelled().await
            })
            .await
            .expect("start simulator");
        Self {
            sim,
            base: format!("http://{addr}"),
            stop,
        }
    }

    /// The simulator's requests for `endpoint`.
    pub fn calls(&self, endpoint: Endpoint) -> Vec<LogEntry> {
        self.sim
            .log()
            .into_iter()
            .filter(|e| e.endpoint == Some(endpoint))
            .collect()
    }

    /// A fault for the next `times` calls of `endpoint`.
    pub fn fault(&self, endpoint: Endpoint, action: FaultAction, times: Option<u32>) -> u64 {
        self.sim.fault_endpoint(endpoint, action, times)
    }

    /// Current rank of a member (0 when not a member).
    pub fn rank(&self, group: u64, user: u64) -> u8 {
        self.sim.member(group, user).map(|m| m.rank).unwrap_or(0)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The demo group every app gets: users 101.. at these ranks.
pub const GROUP: u64 = 7_000_001;
/// Members of [`GROUP`]: user id → rank.
pub const MEMBERS: [(u64, u8); 5] = [(101, 1), (102, 10), (103, 20), (104, 30), (105, 100)];
/// The demo guild every app gets.
pub const GUILD: u64 = 900_000_000_000_000_001;
/// The Open Cloud key owner (holds "Ranking Bot", rank 254).
pub const BOT: u64 = 2;
/// A fixed master key, so standalone worker processes can share it.
pub const MASTER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The Open Cloud key the simulator accepts for group `g`.
pub fn oc_key(g: u64) -> String {
    format!("oc-key-for-{g}")
}

/// A change to the test configuration.
pub type Tweak = Arc<dyn Fn(&mut Config) + Send + Sync>;

/// Knobs for [`TestApp::start_with`].
#[derive(Clone)]
pub struct TestOpts {
    /// Run workers in the control plane.
    pub in_process_workers: bool,
    /// `server.sync_wait`.
    pub sync_wait: Duration,
    /// A test clock.
    pub clock: Option<ManualClock>,
    /// Adjust the configuration further.
    pub tweak: Option<Tweak>,
    /// Plan of the demo group.
    pub plan: Plan,
}

impl Default for TestOpts {
    fn default() -> Self {
        Self {
            in_process_workers: true,
            sync_wait: Duration::from_secs(10),
            clock: None,
            tweak: None,
            plan: Plan::Pro,
        }
    }
}

/// The whole system on loopback.
pub struct TestApp {
    /// API base URL.
    pub base: String,
    /// Admin token.
    pub admin_token: String,
    /// Demo group's API key.
    pub api_key: String,
    /// Demo guild's API key.
    pub guild_key: String,
    /// The simulator.
    pub sim: Sim,
    /// The control plane (None after shutdown).
    pub control: Option<ControlPlane>,
    /// The private Redis (Redis backend only).
    pub redis: Option<RedisServer>,
    /// Data directory.
    pub data: TempDir,
    /// HTTP client.
    pub http: reqwest::Client,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Body as JSON (a JSON string when it is not JSON).
    pub body: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// `body.error`.
    pub fn code(&self) -> &str {
        self.body.get("error").and_then(Value::as_str).unwrap_or("")
    }
}

/// A cron schedule that does not come round while a test runs (2099).
pub const NEVER: &str = "0 0 0 1 1 * 2099";

/// Keeps the running scheduler away from every sweep, for tests that call a sweep function by
/// hand with a test clock and count what it removed. Tests of what the running process does
/// set short schedules instead.
pub fn sweeps_by_hand(c: &mut Config) {
    c.scheduler = roster_core::config::SchedulerConfig {
        vacuum: NEVER.into(),
        purge: NEVER.into(),
        moderation: NEVER.into(),
        servers: NEVER.into(),
        staff: NEVER.into(),
    };
}

/// The base test configuration.
pub fn test_config(
    data: &Path,
    backend: Backend,
    redis: Option<&RedisServer>,
    sim_base: &str,
) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().expect("addr");
    c.server.data_dir = data.to_path_buf();
    c.server.shutdown_grace = Duration::from_secs(10);
    c.server.sync_wait = Duration::from_secs(10);
    c.queue.poll_interval = Duration::from_secs(1);
    c.queue.heartbeat_interval = Duration::from_secs(1);
    c.queue.missed_heartbeats = 3;
    c.queue.retry_base = Duration::from_millis(20);
    c.queue.retry_max = Duration::from_millis(400);
    c.queue.concurrency = 16;
    c.roblox.base_url = sim_base.to_owned();
    c.roblox.timeout = Duration::from_secs(5);
    c.security.master_key = Some(Secret::new(MASTER_KEY));
    c.security.admin_token = Some(Secret::new("test-admin-token-0123456789"));
    if backend == Backend::Redis {
        c.queue.redis_url = Some(Secret::new(redis.expect("redis server").url()));
    }
    c
}

impl TestApp {
    /// Starts everything with defaults.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, TestOpts::default()).await
    }

    /// Starts everything. Set `ROSTER_TEST_LOG=debug` (or any filter) to see the system's logs.
    pub async fn start_with(backend: Backend, opts: TestOpts) -> Self {
        if let Ok(filter) = std::env::var("ROSTER_TEST_LOG") {
            roster::telemetry::init(&roster_core::config::LogConfig {
                format: roster_core::config::LogFormat::Text,
                level: filter,
            });
        }
        let sim = Sim::start().await;
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let data = TempDir::new("data");
        let mut config = test_config(data.path(), backend, redis.as_ref(), &sim.base);
        config.queue.in_process_workers = opts.in_process_workers;
        config.server.sync_wait = opts.sync_wait;
        if let Some(t) = &opts.tweak {
            t(&mut config);
        }
        config.validate().expect("test config is valid");
        sim.sim
            .seed_group(demo_seed(GROUP, 1, BOT, 101, &MEMBERS.map(|m| m.1)))
            .expect("seed");
        sim.sim
            .add_api_key(&oc_key(GROUP), BOT, &["group:read", "group:write"]);
        let control = app::start(
            config.clone(),
            Options {
                clock: opts.clock.map(|c| Arc::new(c) as SharedClock),
                listener: None,
            },
        )
        .await
        .expect("control plane starts");
        let api_key =
            roster::dev::register_demo_group(&control.ctx, GROUP, &oc_key(GROUP), opts.plan)
                .await
                .expect("register demo group");
        let guild_id = roster_core::ids::GuildId::new(GUILD).expect("valid");
        roster_core::guilds::create(
            &control.ctx,
            guild_id,
            "Test Guild".into(),
            Default::default(),
        )
        .await
        .expect("register guild");
        let (_, guild_key) = roster_core::apikeys::issue(
            &control.ctx,
            roster_core::apikeys::KeyScope::Guild(guild_id),
            "game",
        )
        .await
        .expect("guild key");
        Self {
            base: format!("http://{}", control.addr),
            admin_token: config
                .security
                .admin_token
                .as_ref()
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
            api_key,
            guild_key,
            sim,
            control: Some(control),
            redis,
            data,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    /// The control plane's core context.
    pub fn ctx(&self) -> &roster_core::Ctx {
        &self.control.as_ref().expect("running").ctx
    }

    /// Sends a request.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let method_name = method.clone();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_owned());
        }
        let resp = req.send().await.expect("request reaches Roster");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        crate::spec::check(
            method_name.as_str(),
            path,
            status,
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            &body,
        );
        Answer {
            status,
            body,
            headers,
        }
    }

    /// A ranking write with the demo key.
    pub async fn write(&self, op: &str, body: Value, extra: &[(&str, &str)]) -> Answer {
        let key = self.api_key.clone();
        let mut headers = vec![
            ("x-api-key", key.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        self.request(
            reqwest::Method::POST,
            &format!("/v1/groups/{GROUP}/{op}"),
            &headers,
            Some(&body.to_string()),
        )
        .await
    }

    /// Promote with the demo key.
    pub async fn promote(&self, user: u64) -> Answer {
        self.write("promote", json!({"robloxUserId": user}), &[])
            .await
    }

    /// A GET with the demo key.
    pub async fn get(&self, path: &str) -> Answer {
        let key = self.api_key.clone();
        self.request(reqwest::Method::GET, path, &[("x-api-key", &key)], None)
            .await
    }

    /// A guild-API call with the demo guild key.
    pub async fn guild(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let key = self.guild_key.clone();
        let b = body.map(|b| b.to_string());
        self.request(
            method,
            path,
            &[("x-api-key", &key), ("content-type", "application/json")],
            b.as_deref(),
        )
        .await
    }

    /// An admin call.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {}", self.admin_token);
        let b = body.map(|b| b.to_string());
        self.request(
            method,
            &format!("/admin/v1{path}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            b.as_deref(),
        )
        .await
    }

    /// Polls `/v1/jobs/{id}` until the job is final.
    pub async fn wait_job(&self, job: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let a = self.get(&format!("/v1/jobs/{job}")).await;
            assert_eq!(a.status, 200, "job status: {:?}", a.body);
            let s = a.body["status"].as_str().unwrap_or_default().to_owned();
            if matches!(s.as_str(), "succeeded" | "failed" | "dead") {
                return a.body;
            }
            assert!(
                Instant::now() < deadline,
                "job {job} did not finish: {:?}",
                a.body
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Jobs not final yet, and dead jobs, straight from the store.
    pub fn unfinished_jobs(&self) -> (Vec<JobRecord>, Vec<JobRecord>) {
        let all = self
            .ctx()
            .store
            .scan_json::<JobRecord>(Tree::Jobs, &[], None, usize::MAX, false)
            .expect("scan jobs");
        let open = all
            .iter()
            .filter(|(_, j)| !j.status.is_final())
            .map(|(_, j)| j.clone())
            .collect();
        let dead = all
            .iter()
            .filter(|(_, j)| j.status == JobStatus::Dead)
            .map(|(_, j)| j.clone())
            .collect();
        (open, dead)
    }

    /// Waits for every job to finish, fails on leftovers (dead jobs fail unless `allow_dead`),
    /// then shuts down cleanly.
    pub async fn finish_allowing_dead(mut self, allow_dead: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (open, dead) = self.unfinished_jobs();
            let outbox = self.ctx().store.len(Tree::Outbox);
            if open.is_empty() && outbox == 0 {
                assert!(
                    dead.len() <= allow_dead,
                    "test left {} dead job(s) behind: {:?}",
                    dead.len(),
                    dead.iter().map(|d| (d.id, &d.error)).collect::<Vec<_>>()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "test left {} unfinished job(s) and {outbox} outbox entries behind: {:?}",
                open.len(),
                open.iter().map(|d| (d.id, d.status)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if let Some(c) = self.control.take() {
            c.shutdown().await.expect("clean shutdown");
        }
    }

    /// [`Self::finish_allowing_dead`] with no dead jobs allowed.
    pub async fn finish(self) {
        self.finish_allowing_dead(0).await;
    }
}

/// Waits for `cond`, polling.
/// Waits until an async condition holds (polling every 20 ms), failing after `timeout`.
pub async fn eventually_async<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
