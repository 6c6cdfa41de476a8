//! Guild-side scenarios: the ban-status hot path (`hotpath`) and 1,000 long-polling game
//! servers (`servers`).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::{ADMIN_TOKEN, Server, free_port, pct, roster_binary, start_server};

const GUILD: &str = "900000000000000001";

/// The body Roster answers for a user who is not banned; the bare route answers the same bytes.
pub const NOT_BANNED: &str =
    r#"{"status":"success","code":200,"message":"User is not banned","data":{"banned":false}}"#;

async fn admin(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http
        .request(method, format!("{}/admin/v1{path}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("admin {path}: {status} {v}");
    }
    Ok(v)
}

async fn guild_with_key(http: &reqwest::Client, server: &Server) -> anyhow::Result<String> {
    admin(
        http,
        server,
        reqwest::Method::POST,
        "/guilds",
        json!({"guildId": GUILD, "name": "Bench"}),
    )
    .await?;
    let k = admin(
        http,
        server,
        reqwest::Method::POST,
        &format!("/guilds/{GUILD}/keys"),
        json!({"label": "bench"}),
    )
    .await?;
    Ok(k["key"].as_str().context("key")?.to_owned())
}

/// Runs the bare warp route (`roster-bench bare-server`) until killed.
pub async fn bare_server(port: u16) -> anyhow::Result<()> {
    use warp::Filter;
    let route = warp::path!("moderation" / String / "ban-status" / String).map(
        |_g: String, _id: String| {
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .body(NOT_BANNED)
                .expect("static response")
        },
    );
    warp::serve(route).run(([127, 0, 0, 1], port)).await;
    Ok(())
}

/// CPU seconds (user + system) a process has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// `clients` keep-alive connections hammer `url(i)` for `seconds`.
async fn load(
    base: &str,
    key: &str,
    clients: usize,
    seconds: u64,
    ids: Arc<Vec<String>>,
) -> anyhow::Result<Load> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, key, stop, errors, ids) = (
            http.clone(),
            base.to_owned(),
            key.to_owned(),
            stop.clone(),
            errors.clone(),
            ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let id = &ids[i % ids.len()];
                i += clients;
                let t = Instant::now();
                match http
                    .get(format!("{base}/moderation/{GUILD}/ban-status/{id}"))
                    .header("x-api-key", &key)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let n = all.len() as f64;
    Ok(Load {
        rps: n / seconds as f64,
        p50: pct(&mut all, 50.0),
        p99: pct(&mut all, 99.0),
        errors: errors.load(Ordering::Relaxed),
    })
}

/// `roster-bench hotpath`
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub async fn hotpath(clients: usize, seconds: u64, bans: usize) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    // The per-key limit (60,000 a minute by default) would cap the run; lift it, so what is
    // measured is the path itself (the limiter is still consulted on every request).
    let server = start_server(
        &bin,
        "http://127.0.0.1:9",
        None,
        &[("ROSTER_GUILD_API__RATE_LIMIT_PER_MINUTE", "1000000000")],
    )
    .await?;
    let http = reqwest::Client::new();
    let key = guild_with_key(&http, &server).await?;
    // A realistic index: `bans` active bans (Roblox ids 1..=bans); checks ask about other users.
    for i in 0..bans {
        admin(
            &http,
            &server,
            reqwest::Method::POST,
            &format!("/guilds/{GUILD}/bans"),
            json!({"identifier": (i + 1).to_string(), "reason": "bench"}),
        )
        .await?;
    }
    let ids: Arc<Vec<String>> = Arc::new(
        (0..10_000u64)
            .map(|i| (1_000_000 + i).to_string())
            .collect(),
    );
    // The bare route, as its own process like Roster.
    let me = std::env::current_exe()?;
    let port = free_port();
    let _bare = KillOnDrop(
        Command::new(me)
            .args(["bare-server", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let bare_base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("bare server did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Check Roster answers the same JSON.
    let body = http
        .get(format!(
            "{}/moderation/{GUILD}/ban-status/{}",
            server.base, ids[0]
        ))
        .header("x-api-key", &key)
        .send()
        .await?
        .text()
        .await?;
    if body != NOT_BANNED {
        bail!("Roster's answer differs from the bare route's: {body}");
    }
    println!(
        "roster-bench hotpath: GET /moderation/{{guild}}/ban-status/{{id}}, {clients} keep-alive clients, {seconds}s per run, {bans} active bans in the index"
    );
    println!(
        "machine: {} cores; both servers are child processes; the load generator runs in this process",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    // Warm up both, then alternate runs so drift hits both alike.
    load(&server.base, &key, clients, 2, ids.clone()).await?;
    load(&bare_base, &key, clients, 2, ids.clone()).await?;
    let mut results: Vec<(&str, Load, f64)> = Vec::new();
    let roster_pid = server.pid();
    let bare_pid = _bare.0.id();
    for _ in 0..2 {
        let c0 = cpu_seconds(roster_pid);
        let l = load(&server.base, &key, clients, seconds, ids.clone()).await?;
        let cpu = (cpu_seconds(roster_pid) - c0) / (l.rps * seconds as f64) * 1e6;
        results.push(("roster", l, cpu));
        let c0 = cpu_seconds(bare_pid);
        let l = load(&bare_base, &key, clients, seconds, ids.clone()).await?;
        let cpu = (cpu_seconds(bare_pid) - c0) / (l.rps * seconds as f64) * 1e6;
        results.push(("bare warp", l, cpu));
    }
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>15} {:>7}",
        "server", "requests/s", "p50", "p99", "server CPU/req", "errors"
    );
    let (mut r_sum, mut b_sum, mut r_cpu, mut b_cpu) = (0.0, 0.0, 0.0, 0.0);
    for (name, l, cpu) in &results {
        println!(
            "{name:<10} {:>12.0} {:>7.2}ms {:>7.2}ms {:>13.1}us {:>7}",
            l.rps, l.p50, l.p99, cpu, l.errors
        );
        if *name == "roster" {
            r_sum += l.rps;
            r_cpu += cpu;
        } else {
            b_sum += l.rps;
            b_cpu += cpu;
        }
    }
    println!(
        "ratio roster / bare warp (requests/s, mean of the runs): {:.2}",
        r_sum / b_sum
    );
    println!(
        "ratio bare warp / roster (server CPU per request; the load generator shares these 2 cores, so this is the cost that bounds a dedicated server): {:.2}",
        b_cpu / r_cpu
    );
    println!(
        "roster serve peak RSS (VmHWM): {:.1} MiB",
        server.peak_rss_mib()
    );
    Ok(())
}

/// A child process killed when dropped (also on an early error return).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `roster-bench servers`
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub async fn servers(count: usize, commands: usize, seconds: u64) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let server = start_server(
        &bin,
        "http://127.0.0.1:9",
        None,
        &[("ROSTER_GUILD_API__RATE_LIMIT_PER_MINUTE", "1000000000")],
    )
    .await?;
    let http = reqwest::Client::new();
    let key = guild_with_key(&http, &server).await?;
    let rss_before = server.current_rss_mib();
    let pollers = reqwest::Client::builder()
        .pool_max_idle_per_host(count + 16)
        .timeout(Duration::from_secs(40))
        .build()?;
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<f64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for s in 0..count {
        let (c, base, key, sent, delivered, stop, polls) = (
            pollers.clone(),
            server.base.clone(),
            key.clone(),
            sent.clone(),
            delivered.clone(),
            stop.clone(),
            polls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let id = format!("bench-server-{s:04}");
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .get(format!("{base}/roblox/servers/{id}/commands?wait=25"))
                    .header("x-api-key", &key)
                    .send()
                    .await;
                polls.fetch_add(1, Ordering::Relaxed);
                let Ok(r) = r else { continue };
                let Ok(v) = r.json::<Value>().await else {
                    continue;
                };
                let now = Instant::now();
                for cmd in v["data"]["commands"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    if let Some(seq) = cmd["data"]["seq"].as_u64()
                        && let Some(t0) = sent.lock().remove(&seq)
                    {
                        delivered.lock().push((now - t0).as_secs_f64() * 1e3);
                    }
                    let cid = cmd["id"].as_str().unwrap_or_default();
                    let _ = c
                        .post(format!("{base}/roblox/servers/{id}/commands/{cid}/ack"))
                        .header("x-api-key", &key)
                        .json(&json!({"status": "ok"}))
                        .send()
                        .await;
                }
            }
        }));
    }
    // Let every poller connect and park.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_polling = server.current_rss_mib();
    println!(
        "roster-bench servers: {count} game servers long-polling (wait=25s) at once; {commands} commands over {seconds}s, each to one server"
    );
    let gap = Duration::from_secs_f64(seconds as f64 / commands as f64);
    let enqueuer = reqwest::Client::new();
    let mut failures = 0;
    for seq in 0..commands as u64 {
        let target = format!("bench-server-{:04}", (seq as usize * 7919) % count);
        sent.lock().insert(seq, Instant::now());
        let r = admin(
            &enqueuer,
            &server,
            reqwest::Method::POST,
            &format!("/guilds/{GUILD}/commands"),
            json!({"type": "announce", "serverId": target, "data": {"seq": seq}}),
        )
        .await;
        if r.is_err() {
            failures += 1;
        }
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = delivered.lock().clone();
    let missing = sent.lock().len();
    println!(
        "enqueue -> delivery: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} delivered, {} not delivered, {} enqueue errors)",
        pct(&mut lat, 50.0),
        pct(&mut lat, 99.0),
        lat.iter().cloned().fold(0.0, f64::max),
        lat.len(),
        missing,
        failures
    );
    println!(
        "roster serve RSS: {:.1} MiB idle, {:.1} MiB with {count} pollers parked, peak (VmHWM) {:.1} MiB; {} polls answered",
        rss_before,
        rss_polling,
        server.peak_rss_mib(),
        polls.load(Ordering::Relaxed)
    );
    stop.store(true, Ordering::Relaxed);
    drop(server);
    for t in tasks {
        t.abort();
    }
    Ok(())
}
