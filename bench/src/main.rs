//! `roster-bench`: programs that print Roster's performance figures.
//!
//! ```text
//! cargo build --release -p roster -p roster-bench
//! target/release/roster-bench rank                  # both queue backends
//! target/release/roster-bench rank --backend redis --ops-seconds 30
//! target/release/roster-bench sync-all                # 10,000 members, 10% changed (about 17 minutes)
//! target/release/roster-bench connections             # connection limits at default settings
//! target/release/roster-bench community               # XP writes; 500 join-request accepts (about 5 minutes)
//! ```
//!
//! `rank` runs `roster serve` (the release binary next to this one) as a child process against
//! an in-process Roblox simulator with 100 demo groups (each with its own Open Cloud key owner,
//! so Roblox's per-owner limits are not the bottleneck), and its own `redis-server` for the
//! Redis backend. It reports end-to-end latency of set-rank requests at 1 and 50 concurrent
//! clients with the simulator's latency at 0 and 50 ms (p50/p99 of the total, of the upstream
//! time the job spent waiting on Roblox, and of Roster's own overhead = total − upstream),
//! sustained operations per second, and the control plane's peak RSS (VmHWM).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod community;
mod conns;
mod guild;
mod idle;
mod staff;
mod sync;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use roster::dev::demo_seed;
use roster_sim::roblox::{RobloxSim, RobloxSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "roster-bench", about = "Prints Roster's performance figures")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Which {
    Sqlite,
    Redis,
    Both,
}

impl Which {
    /// The backends, by name, in the order they are measured.
    fn names(self) -> &'static [&'static str] {
        match self {
            Which::Sqlite => &["sqlite"],
            Which::Redis => &["redis"],
            Which::Both => &["sqlite", "redis"],
        }
    }
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Rank requests end to end: latency at 1 and 50 clients, sustained throughput, RSS.
    Rank {
        /// Queue backend(s).
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// Requests per latency measurement at 1 client.
        #[arg(long, default_value_t = 200)]
        serial_requests: usize,
        /// Requests per latency measurement at 50 clients.
        #[arg(long, default_value_t = 2000)]
        parallel_requests: usize,
        /// Length of the throughput run.
        #[arg(long, default_value_t = 20)]
        ops_seconds: u64,
        /// Concurrent clients in the throughput run.
        #[arg(long, default_value_t = 200)]
        ops_clients: usize,
        /// Groups (each with its own key owner).
        #[arg(long, default_value_t = 100)]
        groups: u64,
    },
    /// The ban-status hot path: requests/s and latency beside a bare warp route answering the
    /// same JSON from memory.
    Hotpath {
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds per measured run (two runs per server, alternating).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Active bans in the index.
        #[arg(long, default_value_t = 1000)]
        bans: usize,
    },
    /// What an idle `roster serve` costs: CPU, disk writes, RSS and Redis commands over a quiet
    /// window after start-up and again after a burst of rank requests, on each backend.
    Idle {
        /// Queue backend(s).
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// Length of each quiet window.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Rank requests in the burst (50 clients).
        #[arg(long, default_value_t = 2000)]
        burst: usize,
    },
    /// Game servers long-polling their command queues: enqueue→delivery latency and RSS.
    Servers {
        /// Game servers polling at once.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Commands to enqueue.
        #[arg(long, default_value_t = 2000)]
        commands: usize,
        /// Over how many seconds.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Guild-wide role sync: a guild of linked members where a share need a change, against
    /// both simulators with their documented limits; then the same guild with nothing to change.
    SyncAll {
        /// Linked members.
        #[arg(long, default_value_t = 10_000)]
        members: u64,
        /// Percent of them whose Roblox rank changed.
        #[arg(long, default_value_t = 10)]
        change_percent: u64,
        /// Latency each simulator adds to every request, in milliseconds.
        #[arg(long, default_value_t = 50)]
        latency_ms: u64,
    },
    /// Crash loop: the process that runs jobs (`roster serve` on the embedded queue, a
    /// standalone `roster worker` on Redis) is SIGKILLed `kills` times while `promotes` promotes
    /// are sent; prints promotes lost, doubled and rolled back (all must be 0) and how long until
    /// every job was final.
    Chaos {
        /// Queue backend(s).
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// SIGKILLs.
        #[arg(long, default_value_t = 40)]
        kills: u32,
        /// Promotes in all.
        #[arg(long, default_value_t = 150)]
        promotes: u32,
        /// Members they are spread over.
        #[arg(long, default_value_t = 24)]
        members: u64,
        /// Clients sending promotes at once.
        #[arg(long, default_value_t = 6)]
        clients: u32,
        /// Shortest gap between kills, in milliseconds.
        #[arg(long, default_value_t = 800)]
        gap_min_ms: u64,
        /// Longest gap between kills, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        gap_max_ms: u64,
        /// Simulated Roblox latency per call, in milliseconds.
        #[arg(long, default_value_t = 100)]
        latency_ms: u64,
    },
    /// Connection limits with default settings: how fast idle and half-sent connections are
    /// closed, and whether `/healthz` answers under a low open-files limit with idle sockets
    /// held open.
    Connections {
        /// Idle and half-sent sockets for the closing measurement.
        #[arg(long, default_value_t = 400)]
        sockets: usize,
        /// The open-files limit (`ulimit -n`) for the second run.
        #[arg(long, default_value_t = 256)]
        nofile: u64,
        /// Idle sockets held open during the second run.
        #[arg(long, default_value_t = 300)]
        idle: usize,
    },
    /// The community API: concurrent XP adds to one user (exact sum), sustained XP writes, and
    /// join-request accepts against Open Cloud's 100 a minute.
    Community {
        /// Queue backend(s).
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Which,
        /// Concurrent XP adds to one user.
        #[arg(long, default_value_t = 1000)]
        adds: u64,
        /// Clients in the sustained XP run.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Length of the sustained XP run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Join requests to accept.
        #[arg(long, default_value_t = 500)]
        accepts: u64,
        /// The simulator's rate-limit window (Open Cloud's is a minute).
        #[arg(long, default_value_t = 60)]
        window_seconds: u64,
    },
    /// The staff API: batched heartbeats from many game servers (throughput, latency, server CPU
    /// per heartbeat beside the ban-status hot path), with concurrent action logging; leaderboard
    /// and quota progress over a large activity log; RSS.
    Staff {
        /// Game servers.
        #[arg(long, default_value_t = 1000)]
        servers: u64,
        /// Tracked staff per game server.
        #[arg(long, default_value_t = 20)]
        per_server: u64,
        /// Each server's heartbeat interval (30 s in a game; compressed here).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Length of each heartbeat phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Clients logging actions during the mixed phase.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Staff of the leaderboard guild.
        #[arg(long, default_value_t = 500)]
        board_staff: u64,
        /// Actions logged in the leaderboard guild.
        #[arg(long, default_value_t = 1_000_000)]
        actions: u64,
    },
    /// (internal) The bare warp route the hot path is compared with.
    #[command(hide = true)]
    BareServer {
        /// Port.
        #[arg(long)]
        port: u16,
    },
}

const MEMBERS_PER_GROUP: u64 = 60;
const FIRST_GROUP: u64 = 9_100_000;
pub(crate) const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private `redis-server` (shared with the crash suite).
type Redis = roster::chaos::RedisChild;

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    data: PathBuf,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    pub(crate) fn current_rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

pub(crate) fn roster_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me
        .parent()
        .map(|d| d.join("roster"))
        .context("no parent dir")?;
    if !p.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p roster -p roster-bench`",
            p.display()
        );
    }
    Ok(p)
}

pub(crate) async fn start_server(
    bin: &Path,
    sim_base: &str,
    redis: Option<&Redis>,
    env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    start_server_with(Command::new(bin), sim_base, redis, env).await
}

/// [`start_server`] with `cmd` as the program that takes `serve` and its settings (a shell
/// that lowers a limit first, say).
pub(crate) async fn start_server_with(
    mut cmd: Command,
    sim_base: &str,
    redis: Option<&Redis>,
    env: &[(&str, &str)],
) -> anyhow::Result<Server> {
    let port = free_port();
    let data = std::env::temp_dir().join(format!("roster-bench-data-{}", ulid::Ulid::generate()));
    cmd.arg("serve")
        .env("ROSTER_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ROSTER_SERVER__DATA_DIR", &data)
        .env("ROSTER_ROBLOX__BASE_URL", sim_base)
        .env("ROSTER_SECURITY__ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ROSTER_SERVER__SYNC_WAIT", "30s")
        .env("ROSTER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(r) = redis {
        cmd.env("ROSTER_QUEUE__REDIS_URL", r.url());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().context("start roster serve")?;
    let base = format!("http://127.0.0.1:{port}");
    let server = Server { child, base, data };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            bail!("roster serve did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Fixture {
    keys: Vec<String>,
}

async fn seed(sim: &RobloxSim, server: &Server, groups: u64) -> anyhow::Result<Fixture> {
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for i in 0..groups {
        let g = FIRST_GROUP + i;
        let bot = 1_000_000 + i;
        let ranks: Vec<u8> = (0..MEMBERS_PER_GROUP).map(|_| 10).collect();
        sim.seed_group(demo_seed(g, 1, bot, 1_000, &ranks))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let oc = format!("bench-oc-key-{g}");
        sim.add_api_key(&oc, bot, &["group:read", "group:write"]);
        let admin = |m: reqwest::Method, p: String, b: Value| {
            http.request(m, format!("{}/admin/v1{p}", server.base))
                .bearer_auth(ADMIN_TOKEN)
                .json(&b)
                .send()
        };
        let r = admin(
            reqwest::Method::POST,
            "/groups".into(),
            json!({"groupId": g, "plan": "max", "openCloudKey": oc}),
        )
        .await?;
        if !r.status().is_success() {
            bail!("create group: {}", r.text().await?);
        }
        let k: Value = admin(
            reqwest::Method::POST,
            format!("/groups/{g}/keys"),
            json!({"label": "bench"}),
        )
        .await?
        .json()
        .await?;
        keys.push(k["key"].as_str().context("key")?.to_owned());
    }
    Ok(Fixture { keys })
}

#[derive(Default)]
struct Samples {
    total: Vec<f64>,
    upstream: Vec<f64>,
    overhead: Vec<f64>,
    /// Submission to pickup (`timings.queueWaitMs`).
    queue_wait: Vec<f64>,
    /// In the job but not waiting on Roblox (`runMs − upstreamMs`).
    job_own: Vec<f64>,
    /// Before submission and after the outcome: total − (finishedAt − createdAt).
    outside: Vec<f64>,
}

pub(crate) fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[idx.min(v.len() - 1)]
}

/// One set-rank request that changes the member's rank (10 ↔ 20). Returns (total ms, job id).
async fn one(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    group: u64,
    user: u64,
    rank: u8,
) -> anyhow::Result<(f64, String)> {
    let t = Instant::now();
    let r = http
        .post(format!("{base}/v1/groups/{group}/rank"))
        .header("x-api-key", key)
        .json(&json!({"robloxUserId": user, "rankId": rank}))
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if status != 200 {
        bail!("status {status}: {body}");
    }
    Ok((ms, body["jobId"].as_str().unwrap_or_default().to_owned()))
}

struct Cursor {
    next: AtomicU64,
    groups: u64,
}

impl Cursor {
    /// Round-robin over (group, member, round), so no member is changed by two requests at once
    /// and every group gets the same share.
    fn take(&self) -> (u64, u64, u8) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let g = n % self.groups;
        let slot = n / self.groups;
        let member = 1_000 + slot % MEMBERS_PER_GROUP;
        let round = slot / MEMBERS_PER_GROUP;
        (g, member, if round.is_multiple_of(2) { 20 } else { 10 })
    }
}

async fn latency(
    server: &Server,
    fx: &Fixture,
    cursor: &Arc<Cursor>,
    clients: usize,
    requests: usize,
) -> anyhow::Result<Samples> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()?;
    let remaining = Arc::new(AtomicUsize::new(requests));
    let results = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let http = http.clone();
        let base = server.base.clone();
        let keys = fx.keys.clone();
        let cursor = cursor.clone();
        let remaining = remaining.clone();
        let results = results.clone();
        tasks.push(tokio::spawn(async move {
            while remaining
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                let (g, user, rank) = cursor.take();
                let r = one(&http, &base, &keys[g as usize], FIRST_GROUP + g, user, rank).await;
                results.lock().push((r, g));
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let mut s = Samples::default();
    let results = std::mem::take(&mut *results.lock());
    let mut failures = 0;
    for (r, g) in results {
        match r {
            Ok((ms, job)) => {
                let v: Value = http
                    .get(format!("{}/v1/jobs/{job}", server.base))
                    .header("x-api-key", &fx.keys[g as usize])
                    .send()
                    .await?
                    .json()
                    .await?;
                let up = v["timings"]["upstreamMs"].as_f64().unwrap_or(0.0);
                let wait = v["timings"]["queueWaitMs"].as_f64().unwrap_or(0.0);
                let run = v["timings"]["runMs"].as_f64().unwrap_or(0.0);
                s.queue_wait.push(wait);
                s.job_own.push(run - up);
                let at = |k: &str| {
                    v[k].as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                };
                if let (Some(c), Some(f)) = (at("createdAt"), at("finishedAt")) {
                    s.outside
                        .push(ms - (f - c).num_microseconds().unwrap_or(0) as f64 / 1e3);
                }
                if std::env::var("BENCH_DEBUG").is_ok() && ms > 300.0 {
                    eprintln!("slow: {ms:.0}ms {}", v["timings"]);
                }
                s.total.push(ms);
                s.upstream.push(up);
                s.overhead.push(ms - up);
            }
            Err(e) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("  request failed: {e}");
                }
            }
        }
    }
    if failures > 0 {
        eprintln!("  {failures} request(s) failed");
    }
    Ok(s)
}

async fn throughput(
    server: &Server,
    fx: &Fixture,
    cursor: &Arc<Cursor>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(f64, u64, u64)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()?;
    let stop = CancellationToken::new();
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, base, keys, cursor, stop, ok, failed) = (
            http.clone(),
            server.base.clone(),
            fx.keys.clone(),
            cursor.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let (g, user, rank) = cursor.take();
                match one(&http, &base, &keys[g as usize], FIRST_GROUP + g, user, rank).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let counted = ok.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.cancel();
    for t in tasks {
        t.await?;
    }
    Ok((
        counted as f64 / elapsed,
        counted,
        failed.load(Ordering::Relaxed),
    ))
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn rank(
    backend: Which,
    serial: usize,
    parallel: usize,
    ops_seconds: u64,
    ops_clients: usize,
    groups: u64,
) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let backends = backend.names();
    println!(
        "roster-bench rank: {groups} groups x {MEMBERS_PER_GROUP} members, set-rank requests that change the rank (assignRole + unassignRole)"
    );
    println!(
        "machine: {} cores; roster serve as a child process; simulator in this process",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for b in backends {
        // The simulator's real per-owner limits stay on: 100 owners keep them off the critical path.
        let sim = RobloxSim::new(RobloxSimConfig::default());
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
            .await?;
        let redis = if *b == "redis" {
            Some(Redis::start()?)
        } else {
            None
        };
        let server = start_server(&bin, &format!("http://{addr}"), redis.as_ref(), &[]).await?;
        let fx = seed(&sim, &server, groups).await?;
        let cursor = Arc::new(Cursor {
            next: AtomicU64::new(0),
            groups,
        });
        println!("\n== backend: {b} ==");
        // Warm up connections and caches.
        latency(&server, &fx, &cursor, 10, 200).await?;
        println!(
            "{:<28} {:>9} {:>9} {:>11} {:>11} {:>11} {:>11}",
            "scenario",
            "total p50",
            "total p99",
            "upstream p50",
            "overhead p50",
            "overhead p99",
            "requests"
        );
        for sim_ms in [0u64, 50] {
            sim.update_config(|c| c.latency = Duration::from_millis(sim_ms));
            for (clients, n) in [(1usize, serial), (50, parallel)] {
                let mut s = latency(&server, &fx, &cursor, clients, n).await?;
                let label = format!("{clients} client(s), sim {sim_ms} ms");
                println!(
                    "{label:<28} {:>7.1}ms {:>7.1}ms {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>11}",
                    pct(&mut s.total, 50.0),
                    pct(&mut s.total, 99.0),
                    pct(&mut s.upstream, 50.0),
                    pct(&mut s.overhead, 50.0),
                    pct(&mut s.overhead, 99.0),
                    s.total.len()
                );
                if std::env::var("BENCH_DEBUG").is_ok() {
                    eprintln!(
                        "  overhead by stage p50/p99: queue wait {:.1}/{:.1} ms, job's own {:.1}/{:.1} ms, outside the job {:.1}/{:.1} ms",
                        pct(&mut s.queue_wait, 50.0),
                        pct(&mut s.queue_wait, 99.0),
                        pct(&mut s.job_own, 50.0),
                        pct(&mut s.job_own, 99.0),
                        pct(&mut s.outside, 50.0),
                        pct(&mut s.outside, 99.0),
                    );
                }
            }
        }
        for sim_ms in [0u64, 50] {
            sim.update_config(|c| c.latency = Duration::from_millis(sim_ms));
            let (rate, ok, failed) =
                throughput(&server, &fx, &cursor, ops_clients, ops_seconds).await?;
            println!(
                "sustained ({ops_clients} clients, {groups} groups, sim {sim_ms} ms, {ops_seconds}s): {rate:.0} ops/s ({ok} ok, {failed} failed)"
            );
        }
        if std::env::var("BENCH_DEBUG").is_ok() {
            let m = reqwest::get(format!("{}/metrics", server.base))
                .await?
                .text()
                .await?;
            for l in m.lines().filter(|l| {
                l.contains("quantile=\"0.5\"")
                    || l.contains("quantile=\"0.99\"")
                    || l.starts_with("roster_queue_fetches_total")
                    || l.starts_with("roster_jobs_finished_total")
            }) {
                eprintln!("{l}");
            }
        }
        let throttled = sim.log().iter().filter(|e| e.status == 429).count();
        println!("simulator 429s during the run: {throttled}");
        println!(
            "roster serve peak RSS (VmHWM): {:.1} MiB",
            server.peak_rss_mib()
        );
        drop(server);
        stop.cancel();
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn chaos(
    backend: Which,
    kills: u32,
    promotes: u32,
    members: u64,
    clients: u32,
    (gap_min_ms, gap_max_ms): (u64, u64),
    latency_ms: u64,
) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let backends: &[roster::chaos::Backend] = match backend {
        Which::Sqlite => &[roster::chaos::Backend::Sqlite],
        Which::Redis => &[roster::chaos::Backend::Redis],
        Which::Both => &[
            roster::chaos::Backend::Sqlite,
            roster::chaos::Backend::Redis,
        ],
    };
    for b in backends {
        let report = roster::chaos::run(roster::chaos::ChaosOpts {
            cluster: roster::chaos::ClusterOpts {
                bin: bin.clone(),
                backend: *b,
                members,
                latency: Duration::from_millis(latency_ms),
                sync_wait: Duration::from_secs(20),
                env: Vec::new(),
            },
            kills,
            gap: (
                Duration::from_millis(gap_min_ms),
                Duration::from_millis(gap_max_ms),
            ),
            promotes,
            clients,
        })
        .await?;
        println!("{report}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::SyncAll {
            members,
            change_percent,
            latency_ms,
        } => sync::sync_all(members, change_percent, latency_ms).await,
        Scenario::Rank {
            backend,
            serial_requests,
            parallel_requests,
            ops_seconds,
            ops_clients,
            groups,
        } => {
            rank(
                backend,
                serial_requests,
                parallel_requests,
                ops_seconds,
                ops_clients,
                groups,
            )
            .await
        }
        Scenario::Hotpath {
            clients,
            seconds,
            bans,
        } => guild::hotpath(clients, seconds, bans).await,
        Scenario::Idle {
            backend,
            seconds,
            burst,
        } => idle::idle(backend, seconds, burst).await,
        Scenario::Servers {
            count,
            commands,
            seconds,
        } => guild::servers(count, commands, seconds).await,
        Scenario::Connections {
            sockets,
            nofile,
            idle,
        } => conns::connections(sockets, nofile, idle).await,
        Scenario::Community {
            backend,
            adds,
            clients,
            seconds,
            accepts,
            window_seconds,
        } => community::community(backend, adds, clients, seconds, accepts, window_seconds).await,
        Scenario::Staff {
            servers,
            per_server,
            interval_ms,
            seconds,
            clients,
            board_staff,
            actions,
        } => {
            staff::staff(
                servers,
                per_server,
                interval_ms,
                seconds,
                clients,
                board_staff,
                actions,
            )
            .await
        }
        Scenario::BareServer { port } => guild::bare_server(port).await,
        Scenario::Chaos {
            backend,
            kills,
            promotes,
            members,
            clients,
            gap_min_ms,
            gap_max_ms,
            latency_ms,
        } => {
            chaos(
                backend,
                kills,
                promotes,
                members,
                clients,
                (gap_min_ms, gap_max_ms),
                latency_ms,
            )
            .await
        }
    }
}
