//! The staff API's figures, against `roster serve` (the release binary beside this one) and an
//! in-process Discord simulator with its documented limits:
//!
//! - `servers` game servers with `per_server` tracked staff each (every one a Discord member
//!   holding the staff role, linked, found by a sync-all), one **batched heartbeat** per server
//!   every 30 s compressed to `interval_ms`: batches and heartbeats per second sustained, p50/p99;
//! - the server's **CPU per heartbeat** (per batch and per session) beside its CPU per
//!   **ban-status** check (the hot path) measured in the same run, alone, and their ratio;
//! - the same heartbeats with `writers` clients logging staff actions at the same time;
//! - a guild with `board_staff` staff and `actions` logged actions: the time to answer the
//!   leaderboard (week, month, all time) and a quota's progress;
//! - the server's RSS (and peak) at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use roster_sim::discord::{self as dsim, DiscordSim, DiscordSimConfig, GuildSeed};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::guild::cpu_seconds;
use crate::sync::admin;
use crate::{Server, pct, roster_binary, start_server};

const BOT_TOKEN: &str = "bench-staff-bot-token-0123456789abc";
const BOT: u64 = 970_000_000_000_000_001;
const OWNER: u64 = 970_000_000_000_000_002;
/// The game-server guild.
const GUILD: u64 = 970_000_000_000_000_010;
/// The leaderboard guild.
const BOARD: u64 = 970_000_000_000_000_020;
const STAFF_ROLE: u64 = 9101;
const BOT_ROLE: u64 = 9199;
const FIRST_DISCORD: u64 = 980_000_000_000_000_000;
const FIRST_ROBLOX: u64 = 20_000_000;
const BOARD_DISCORD: u64 = 990_000_000_000_000_000;
const BOARD_ROBLOX: u64 = 40_000_000;

fn member(user: u64, roles: Vec<u64>, bot: bool) -> dsim::MemberSeed {
    dsim::MemberSeed {
        user_id: user,
        username: format!("u{user}"),
        global_name: None,
        nick: None,
        roles,
        dms_open: true,
        bot,
    }
}

fn guild_seed(id: u64, first: u64, n: u64) -> GuildSeed {
    let role =
        |id: u64, name: &str, position: u16, permissions: u64, managed: bool| dsim::RoleSeed {
            id,
            name: name.into(),
            position,
            permissions,
            color: 0,
            managed,
        };
    let mut members = vec![
        member(BOT, vec![BOT_ROLE], true),
        member(OWNER, Vec::new(), false),
    ];
    members.extend((0..n).map(|i| member(first + i, vec![STAFF_ROLE], false)));
    GuildSeed {
        id,
        name: format!("Bench {id}"),
        owner_id: OWNER,
        icon: None,
        roles: vec![
            role(id, "@everyone", 0, 0, false),
            role(STAFF_ROLE, "Moderator", 1, 0, false),
            role(BOT_ROLE, "Roster", 10, (1 << 28) | (1 << 27), true),
        ],
        members,
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn call(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("x-api-key", &self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(
        &self,
        m: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (s, v) = self.call(m, path, body).await?;
        if s != 200 {
            bail!("{path}: {s} {v}");
        }
        Ok(v["data"].clone())
    }
}

/// A guild with `n` linked staff (Discord `first_discord + i` ↔ Roblox `first_roblox + i`),
/// staff settings, a key, and a completed sync-all.
async fn staff_guild(
    server: &Server,
    guild: u64,
    first_discord: u64,
    first_roblox: u64,
    n: u64,
) -> anyhow::Result<Api> {
    admin(
        server,
        reqwest::Method::POST,
        "/guilds",
        Some(json!({"guildId": guild.to_string(), "name": "Bench"})),
        None,
    )
    .await?;
    let ids: Vec<u64> = (0..n).collect();
    for chunk in ids.chunks(5_000) {
        let mut csv = String::from("discord_id,roblox_id,roblox_username\n");
        for i in chunk {
            csv.push_str(&format!(
                "{},{},Player{}\n",
                first_discord + i,
                first_roblox + i,
                first_roblox + i
            ));
        }
        admin(
            server,
            reqwest::Method::POST,
            &format!("/guilds/{guild}/links"),
            None,
            Some((csv, "text/csv")),
        )
        .await?;
    }
    admin(
        server,
        reqwest::Method::PUT,
        &format!("/guilds/{guild}/staff"),
        Some(json!({"roles": [{"discordRoleId": STAFF_ROLE.to_string(), "name": "Moderator", "rank": 1, "gamePermissions": ["kick", "ban"]}]})),
        None,
    )
    .await?;
    let key = admin(
        server,
        reqwest::Method::POST,
        &format!("/guilds/{guild}/keys"),
        Some(json!({"label": "bench"})),
        None,
    )
    .await?["key"]
        .as_str()
        .context("guild key")?
        .to_owned();
    admin(
        server,
        reqwest::Method::POST,
        &format!("/guilds/{guild}/sync-all"),
        None,
        None,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let p = admin(
            server,
            reqwest::Method::GET,
            &format!("/guilds/{guild}/sync-all"),
            None,
            None,
        )
        .await?;
        match p["status"].as_str() {
            Some("completed") => break,
            Some("failed" | "cancelled") => bail!("sync-all of {guild}: {p}"),
            _ if Instant::now() > deadline => bail!("sync-all of {guild} did not finish: {p}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()?,
        base: server.base.clone(),
        key,
    };
    let m = api
        .ok(
            reqwest::Method::GET,
            &format!("/staff/members/{guild}"),
            None,
        )
        .await?;
    let found = m["members"].as_array().map_or(0, Vec::len) as u64;
    if found != n {
        bail!("guild {guild}: {found} staff found, {n} expected");
    }
    Ok(api)
}

/// Starts a session for each staff member: `per_server` per game server. Returns the session ids
/// by server.
async fn start_sessions(
    api: &Arc<Api>,
    first_roblox: u64,
    servers: u64,
    per_server: u64,
) -> anyhow::Result<Vec<Vec<String>>> {
    let next = Arc::new(AtomicU64::new(0));
    let total = servers * per_server;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (api, next) = (api.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(out);
                }
                let d = api
                    .ok(
                        reqwest::Method::POST,
                        "/staff/roblox/session/start",
                        Some(json!({"roblox_id": first_roblox + i, "server_id": format!("srv-{}", i / per_server)})),
                    )
                    .await?;
                out.push((i, d["session_id"].as_str().unwrap_or_default().to_owned()));
            }
        }));
    }
    let mut by_server = vec![Vec::new(); servers as usize];
    for t in tasks {
        for (i, id) in t.await?? {
            by_server[(i / per_server) as usize].push(id);
        }
    }
    Ok(by_server)
}

struct Beat {
    batches: u64,
    heartbeats: u64,
    dead: u64,
    errors: u64,
    lat: Vec<f64>,
}

/// Every server sends its batch every `interval` for `seconds` (spread over the interval).
async fn heartbeats(
    api: &Arc<Api>,
    sessions: &Arc<Vec<Vec<String>>>,
    interval: Duration,
    seconds: u64,
) -> anyhow::Result<Beat> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let n = sessions.len();
    let mut tasks = Vec::new();
    for s in 0..n {
        let (api, sessions) = (api.clone(), sessions.clone());
        let offset = interval.mul_f64(s as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut b = Beat {
                batches: 0,
                heartbeats: 0,
                dead: 0,
                errors: 0,
                lat: Vec::new(),
            };
            let mut at = Instant::now() + offset;
            let ids = &sessions[s];
            while at < end {
                tokio::time::sleep_until(at.into()).await;
                let t = Instant::now();
                match api
                    .call(
                        reqwest::Method::POST,
                        "/staff/roblox/heartbeat/batch",
                        Some(json!({"server_id": format!("srv-{s}"), "session_ids": ids})),
                    )
                    .await
                {
                    Ok((200, v)) => {
                        b.lat.push(t.elapsed().as_secs_f64() * 1e3);
                        b.batches += 1;
                        let rows = v["data"]["sessions"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        b.heartbeats += rows.len() as u64;
                        b.dead += rows.iter().filter(|r| r["alive"] != true).count() as u64;
                    }
                    _ => b.errors += 1,
                }
                at += interval;
            }
            b
        }));
    }
    let mut all = Beat {
        batches: 0,
        heartbeats: 0,
        dead: 0,
        errors: 0,
        lat: Vec::new(),
    };
    for t in tasks {
        let b = t.await?;
        all.batches += b.batches;
        all.heartbeats += b.heartbeats;
        all.dead += b.dead;
        all.errors += b.errors;
        all.lat.extend(b.lat);
    }
    Ok(all)
}

/// `clients` clients log staff actions until `stop`; returns how many and their latencies.
fn writers(
    api: &Arc<Api>,
    sessions: Arc<Vec<String>>,
    clients: usize,
    limit: u64,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(u64, Vec<f64>)>> {
    let next = Arc::new(AtomicU64::new(0));
    (0..clients)
        .map(|_| {
            let (api, sessions, stop, next) = (api.clone(), sessions.clone(), stop.clone(), next.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        break;
                    }
                    let t = Instant::now();
                    let kind = ["warn", "kick", "custom"][(i % 3) as usize];
                    if let Ok((200, _)) = api
                        .call(
                            reqwest::Method::POST,
                            "/staff/roblox/action",
                            Some(json!({"session_id": sessions[(i as usize * 7919) % sessions.len()], "action_type": kind, "target_id": (i % 100_000).to_string()})),
                        )
                        .await
                    {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                        done += 1;
                    }
                }
                (done, lat)
            })
        })
        .collect()
}

async fn ban_status(
    api: &Arc<Api>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(u64, Vec<f64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (api, stop) = (api.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c as u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if let Ok((200, _)) = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/moderation/{GUILD}/ban-status/{}", 1_000_000 + i % 10_000),
                        None,
                    )
                    .await
                {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                i += clients as u64;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    Ok((lat.len() as u64, lat))
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn timed(api: &Api, path: &str, samples: usize) -> anyhow::Result<(f64, f64, Value)> {
    let mut lat = Vec::new();
    let mut last = Value::Null;
    for _ in 0..samples {
        let t = Instant::now();
        last = api.ok(reqwest::Method::GET, path, None).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((pct(&mut lat, 50.0), pct(&mut lat, 99.0), last))
}

/// `roster-bench staff`
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub(crate) async fn staff(
    servers: u64,
    per_server: u64,
    interval_ms: u64,
    seconds: u64,
    clients: usize,
    board_staff: u64,
    actions: u64,
) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let interval = Duration::from_millis(interval_ms);
    println!(
        "roster-bench staff: {servers} game servers x {per_server} tracked staff, one batched heartbeat per server every {interval_ms} ms (30 s compressed {:.0}x), {seconds} s per phase; {board_staff} staff with {actions} logged actions for the leaderboard",
        30_000.0 / interval_ms as f64
    );
    let stop = CancellationToken::new();
    let discord = DiscordSim::new(DiscordSimConfig::default());
    let s = stop.clone();
    let (daddr, _) = discord
        .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
        .await?;
    discord.add_bot(BOT_TOKEN, BOT, "roster-bench", true);
    let tracked = servers * per_server;
    discord
        .seed_guild(guild_seed(GUILD, FIRST_DISCORD, tracked))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    discord
        .seed_guild(guild_seed(BOARD, BOARD_DISCORD, board_staff))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let unlimited = "1000000000";
    let server = start_server(
        &bin,
        "http://127.0.0.1:9",
        None,
        &[
            ("ROSTER_DISCORD__PROXY", &daddr.to_string()),
            ("ROSTER_DISCORD__USE_HTTP", "true"),
            ("ROSTER_DISCORD__BOT_TOKEN", BOT_TOKEN),
            // What is measured is the work, not the limiters (still consulted on every call).
            ("ROSTER_GUILD_API__RATE_LIMIT_PER_MINUTE", unlimited),
            ("ROSTER_GUILD_API__STAFF_HOT_PER_MINUTE", unlimited),
            ("ROSTER_GUILD_API__STAFF_SESSION_PER_MINUTE", unlimited),
            ("ROSTER_GUILD_API__STAFF_READ_PER_MINUTE", unlimited),
            ("ROSTER_GUILD_API__STAFF_WRITE_PER_MINUTE", unlimited),
        ],
    )
    .await?;
    let pid = server.pid();
    let t = Instant::now();
    let api = Arc::new(staff_guild(&server, GUILD, FIRST_DISCORD, FIRST_ROBLOX, tracked).await?);
    println!(
        "  setup: {tracked} staff linked and found by a sync-all in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let sessions = Arc::new(start_sessions(&api, FIRST_ROBLOX, servers, per_server).await?);
    println!(
        "  {tracked} sessions started in {:.1} s ({:.0}/s)",
        t.elapsed().as_secs_f64(),
        tracked as f64 / t.elapsed().as_secs_f64()
    );

    // Heartbeats alone.
    let c0 = cpu_seconds(pid);
    let mut b = heartbeats(&api, &sessions, interval, seconds).await?;
    let cpu_hb = cpu_seconds(pid) - c0;
    let per_batch = cpu_hb / b.batches.max(1) as f64 * 1e6;
    let per_beat = cpu_hb / b.heartbeats.max(1) as f64 * 1e6;
    println!(
        "  heartbeats alone: {:.0} batches/s = {:.0} heartbeats/s (target {:.0}/s), p50 {:.2} ms, p99 {:.2} ms, {} errors, {} answered not alive; server CPU {per_batch:.0} µs per batch, {per_beat:.1} µs per heartbeat",
        b.batches as f64 / seconds as f64,
        b.heartbeats as f64 / seconds as f64,
        tracked as f64 / interval.as_secs_f64(),
        pct(&mut b.lat, 50.0),
        pct(&mut b.lat, 99.0),
        b.errors,
        b.dead
    );
    // The hot path alone, same process.
    let c0 = cpu_seconds(pid);
    let (n, mut lat) = ban_status(&api, 32, seconds).await?;
    let per_check = (cpu_seconds(pid) - c0) / n.max(1) as f64 * 1e6;
    println!(
        "  ban-status alone (32 clients): {:.0} checks/s, p50 {:.2} ms, p99 {:.2} ms; server CPU {per_check:.0} µs per check",
        n as f64 / seconds as f64,
        pct(&mut lat, 50.0),
        pct(&mut lat, 99.0)
    );
    println!(
        "  CPU ratio: a batched heartbeat of {per_server} costs {:.2}x a ban-status check; one staff member's heartbeat {:.3}x",
        per_batch / per_check,
        per_beat / per_check
    );
    // Heartbeats with activity writes.
    let all_sessions: Arc<Vec<String>> = Arc::new(sessions.iter().flatten().cloned().collect());
    let halt = Arc::new(AtomicBool::new(false));
    let w = writers(&api, all_sessions, clients, u64::MAX, halt.clone());
    let mut b = heartbeats(&api, &sessions, interval, seconds).await?;
    halt.store(true, Ordering::Relaxed);
    let (mut written, mut wlat) = (0, Vec::new());
    for t in w {
        let (n, l) = t.await?;
        written += n;
        wlat.extend(l);
    }
    println!(
        "  heartbeats + {clients} clients logging actions: {:.0} heartbeats/s, p50 {:.2} ms, p99 {:.2} ms, {} errors; {:.0} actions/s, p50 {:.2} ms, p99 {:.2} ms",
        b.heartbeats as f64 / seconds as f64,
        pct(&mut b.lat, 50.0),
        pct(&mut b.lat, 99.0),
        b.errors,
        written as f64 / seconds as f64,
        pct(&mut wlat, 50.0),
        pct(&mut wlat, 99.0)
    );

    // The leaderboard guild.
    let board =
        Arc::new(staff_guild(&server, BOARD, BOARD_DISCORD, BOARD_ROBLOX, board_staff).await?);
    let bs = start_sessions(&board, BOARD_ROBLOX, 1, board_staff).await?;
    let bs: Arc<Vec<String>> = Arc::new(bs.into_iter().flatten().collect());
    let t = Instant::now();
    let halt = Arc::new(AtomicBool::new(false));
    let w = writers(&board, bs, 64, actions, halt);
    let mut written = 0;
    for t in w {
        written += t.await?.0;
    }
    println!(
        "  {written} actions logged for {board_staff} staff in {:.1} s ({:.0}/s)",
        t.elapsed().as_secs_f64(),
        written as f64 / t.elapsed().as_secs_f64()
    );
    board
        .ok(
            reqwest::Method::POST,
            &format!("/guilds/{BOARD}/staff/quota"),
            Some(json!({"name": "Weekly actions", "metric": "actions", "target": 100, "period": "week"})),
        )
        .await?;
    let quotas = board
        .ok(
            reqwest::Method::GET,
            &format!("/guilds/{BOARD}/staff/quota"),
            None,
        )
        .await?;
    let qid = quotas["quotas"][0]["id"].as_u64().context("quota id")?;
    for period in ["week", "month", "all"] {
        let (p50, p99, v) = timed(
            &board,
            &format!("/staff/leaderboard/{BOARD}?period={period}&limit=100"),
            20,
        )
        .await?;
        println!(
            "  leaderboard ({period}, top 100 of {board_staff}): p50 {p50:.2} ms, p99 {p99:.2} ms (first score {})",
            v["leaderboard"][0]["score"]
        );
    }
    let (p50, p99, v) = timed(
        &board,
        &format!("/guilds/{BOARD}/staff/quota/{qid}/progress"),
        20,
    )
    .await?;
    println!(
        "  quota progress ({} rows): p50 {p50:.2} ms, p99 {p99:.2} ms",
        v["rows"].as_array().map_or(0, Vec::len)
    );
    let (p50, p99, _) = timed(&board, &format!("/staff/stats/{BOARD}"), 20).await?;
    println!("  stats: p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!(
        "  server RSS {:.0} MiB (peak {:.0} MiB)",
        status_kb(pid, "VmRSS:") as f64 / 1024.0,
        status_kb(pid, "VmHWM:") as f64 / 1024.0
    );
    stop.cancel();
    drop(server);
    Ok(())
}
