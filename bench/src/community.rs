//! The community API's figures, against `roster serve` (the release binary beside this one) and
//! an in-process Roblox simulator with Open Cloud's documented limits:
//!
//! - **XP**: `adds` concurrent `POST /api/xp/add` to one user (the balance must be the exact sum),
//!   then `seconds` of XP writes from `clients` clients spread over 1,000 users: writes per
//!   second sustained and p50/p99 latency;
//! - **join requests**: `accepts` pending requests accepted through `POST
//!   /api/group/accept-request` against the simulator's 100 accepts a minute per key owner
//!   (fixed windows of `window_seconds`): wall time from the first request until Roblox has
//!   accepted the last one, beside the least the limit allows, the simulator's 429s, and jobs
//!   that died (must be 0).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use roster::dev::demo_seed;
use roster_sim::roblox::{Endpoint, RobloxSim, RobloxSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Redis, Server, Which, pct, roster_binary, start_server};

const GROUP: u64 = 9_300_001;
const BOT: u64 = 77;
const GUILD: u64 = 930_000_000_000_000_001;
const FIRST_APPLICANT: u64 = 5_000_000;

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }
}

async fn admin(
    server: &Server,
    m: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    crate::sync::admin(server, m, path, Some(body), None).await
}

/// Jobs in the dead-letter queue.
async fn dead_jobs(server: &Server) -> anyhow::Result<usize> {
    let dead = crate::sync::admin(
        server,
        reqwest::Method::GET,
        "/jobs?status=dead",
        None,
        None,
    )
    .await?;
    Ok(dead["jobs"].as_array().map_or(0, Vec::len))
}

/// Registers the group (with its Open Cloud key), the guild (main group set) and a guild key.
async fn setup(server: &Server) -> anyhow::Result<Api> {
    admin(
        server,
        reqwest::Method::POST,
        "/groups",
        json!({"groupId": GROUP, "plan": "max", "openCloudKey": "bench-community-oc"}),
    )
    .await?;
    admin(
        server,
        reqwest::Method::POST,
        "/guilds",
        json!({"guildId": GUILD.to_string(), "mainGroup": GROUP}),
    )
    .await?;
    let k = admin(
        server,
        reqwest::Method::POST,
        &format!("/guilds/{GUILD}/keys"),
        json!({"label": "bench"}),
    )
    .await?;
    Ok(Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?,
        base: server.base.clone(),
        key: k["key"].as_str().context("guild key")?.to_owned(),
    })
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn xp(api: &Arc<Api>, adds: u64, clients: usize, seconds: u64) -> anyhow::Result<()> {
    // One user, all at once.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..adds {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                "/api/xp/add",
                json!({"serverId": GUILD.to_string(), "robloxId": 1, "amount": i % 7 + 1}),
            )
            .await
        }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok((200, _)) => {}
            _ => failed += 1,
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let (_, v) = api
        .get(&format!("/api/xp/get?serverId={GUILD}&robloxId=1"))
        .await?;
    let want: u64 = (0..adds).map(|i| i % 7 + 1).sum();
    println!(
        "  {adds} concurrent adds to one user: balance {} (exact sum {want}: {}), {failed} failed, {wall:.2} s ({:.0} adds/s)",
        v["xp"],
        if v["xp"].as_u64() == Some(want) {
            "equal"
        } else {
            "DIFFERENT"
        },
        adds as f64 / wall
    );
    // Sustained, over many users.
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for c in 0..clients {
        let api = api.clone();
        let done = done.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = c as u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = api
                    .post(
                        "/api/xp/add",
                        json!({"serverId": GUILD.to_string(), "robloxId": 1_000 + n % 1_000, "amount": 3}),
                    )
                    .await;
                match r {
                    Ok((200, _)) => {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += clients as u64;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "  sustained ({clients} clients, 1,000 users, {seconds} s): {:.0} XP writes/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        n as f64 / seconds as f64,
        pct(&mut lat, 50.0),
        pct(&mut lat, 99.0),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn accepts(
    api: &Arc<Api>,
    sim: &RobloxSim,
    server: &Server,
    count: u64,
    window: Duration,
) -> anyhow::Result<()> {
    let ids: Vec<String> = sim.join_requests(GROUP).into_iter().map(|r| r.id).collect();
    if ids.len() as u64 != count {
        bail!("expected {count} pending requests, found {}", ids.len());
    }
    sim.clear_log();
    let t = Instant::now();
    let mut tasks = Vec::new();
    // A website accepting a backlog: 20 requests in flight at a time.
    let ids = Arc::new(tokio::sync::Mutex::new(ids));
    for _ in 0..20 {
        let api = api.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            loop {
                let Some(id) = ids.lock().await.pop() else {
                    return statuses;
                };
                let r = api
                    .post(
                        "/api/group/accept-request",
                        json!({"serverId": GUILD.to_string(), "requestId": id}),
                    )
                    .await;
                statuses.push(r.map(|(s, _)| s).unwrap_or(0));
            }
        }));
    }
    let mut answered = std::collections::BTreeMap::<u16, u64>::new();
    for task in tasks {
        for s in task.await? {
            *answered.entry(s).or_default() += 1;
        }
    }
    // Until Roblox has accepted every request (or a job died).
    let limit = Instant::now() + Duration::from_secs(30 * 60);
    loop {
        let pending = sim.join_requests(GROUP).len();
        if pending == 0 {
            break;
        }
        let dead_n = dead_jobs(server).await?;
        if dead_n > 0 || Instant::now() > limit {
            println!("  {pending} requests still pending, {dead_n} dead jobs: stopping");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = sim.log();
    let accepts: Vec<_> = log
        .iter()
        .filter(|e| e.endpoint == Some(Endpoint::AcceptJoinRequest))
        .collect();
    let ok = accepts.iter().filter(|e| e.status == 200).count();
    let limited = accepts.iter().filter(|e| e.status == 429).count();
    let first = accepts.first().map(|e| e.at.clone()).unwrap_or_default();
    let last_ok = accepts
        .iter()
        .rfind(|e| e.status == 200)
        .map(|e| e.at.clone())
        .unwrap_or_default();
    let span = match (
        chrono::DateTime::parse_from_rfc3339(&first),
        chrono::DateTime::parse_from_rfc3339(&last_ok),
    ) {
        (Ok(a), Ok(b)) => (b - a).num_milliseconds() as f64 / 1e3,
        _ => f64::NAN,
    };
    let windows = count.div_ceil(100).saturating_sub(1);
    let minimum = windows as f64 * window.as_secs_f64();
    let dead = dead_jobs(server).await?;
    println!(
        "  {count} accepts ({window:?} windows of 100): {ok} accepted by Roblox, {limited} answered 429, {} dead jobs",
        dead
    );
    println!(
        "  first to last accept at Roblox {span:.1} s; the limit allows no less than {minimum:.0} s (ratio {:.2}); {:.1} s until every job was final; API answers {answered:?}",
        span / minimum,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub(crate) async fn community(
    backend: Which,
    adds: u64,
    clients: usize,
    seconds: u64,
    accept_count: u64,
    window_seconds: u64,
) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    println!(
        "roster-bench community: XP ({adds} concurrent adds to one user; {clients} clients for {seconds} s), then {accept_count} join-request accepts against 100 a minute"
    );
    for b in backend.names() {
        println!("{b}:");
        let window = Duration::from_secs(window_seconds);
        let sim = RobloxSim::new(RobloxSimConfig {
            rate_limit_window: window,
            ..RobloxSimConfig::default()
        });
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
            .await?;
        sim.seed_group(demo_seed(GROUP, 1, BOT, 100, &[1, 10, 20]))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sim.add_api_key("bench-community-oc", BOT, &["group:read", "group:write"]);
        for u in 0..accept_count {
            sim.seed_join_request(GROUP, FIRST_APPLICANT + u)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let redis = if *b == "redis" {
            Some(Redis::start()?)
        } else {
            None
        };
        let server = start_server(
            &bin,
            &format!("http://{addr}"),
            redis.as_ref(),
            // The guild keys' own limit is not what is measured here.
            &[("ROSTER_GUILD_API__RATE_LIMIT_PER_MINUTE", "100000000")],
        )
        .await?;
        let api = Arc::new(setup(&server).await?);
        xp(&api, adds, clients, seconds).await?;
        accepts(&api, &sim, &server, accept_count, window).await?;
        println!("  peak RSS {:.1} MiB", server.peak_rss_mib());
        drop(server);
        stop.cancel();
    }
    Ok(())
}
