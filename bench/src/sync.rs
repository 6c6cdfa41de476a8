//! `roster-bench sync-all`: a guild of linked members where a share need a change, synced
//! against both simulators with their documented limits; wall time against the minimum those
//! limits allow, requests per member, 429s, then members per minute when nothing changes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use roster::dev::demo_seed;
use roster_sim::discord::{
    self as dsim, DiscordSim, DiscordSimConfig, GuildSeed, Route, RouteLimit,
};
use roster_sim::roblox::{Endpoint, RobloxSim, RobloxSimConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{ADMIN_TOKEN, Server, roster_binary, start_server};

const GROUP: u64 = 9_300_000;
const GUILD: u64 = 950_000_000_000_000_001;
const BOT_TOKEN: &str = "bench-discord-bot-token-0123456789";
const BOT: u64 = 950_000_000_000_000_002;
const OWNER: u64 = 950_000_000_000_000_003;
const FIRST_ROBLOX: u64 = 10_000;
const FIRST_DISCORD: u64 = 960_000_000_000_000_000;
const R_VERIFIED: u64 = 7002;
const R_MEMBER: u64 = 7003;
const R_PRIVATE: u64 = 7010;
const R_CORPORAL: u64 = 7020;
const R_BOT: u64 = 7099;

fn role(id: u64, name: &str, position: u16, permissions: u64, managed: bool) -> dsim::RoleSeed {
    dsim::RoleSeed {
        id,
        name: name.into(),
        position,
        permissions,
        color: 0,
        managed,
    }
}

/// An admin call: a JSON body or a raw one with its content type.
pub(crate) async fn admin(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    raw: Option<(String, &str)>,
) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let mut r = http
        .request(method, format!("{}/admin/v1{path}", server.base))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some((text, ct)) = raw {
        r = r.header("content-type", ct).body(text);
    }
    let resp = r.send().await?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("admin {path}: {status} {v}");
    }
    Ok(v)
}

async fn progress(server: &Server) -> anyhow::Result<Value> {
    admin(
        server,
        reqwest::Method::GET,
        &format!("/guilds/{GUILD}/sync-all"),
        None,
        None,
    )
    .await
}

/// Polls until the run is over; prints a progress line every `every`.
#[expect(clippy::print_stdout, reason = "a benchmark prints its progress")]
async fn wait(server: &Server, every: Duration) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let mut last_print = Instant::now();
    loop {
        let p = progress(server).await?;
        if p["status"] != "running" {
            return Ok((started.elapsed(), p));
        }
        if last_print.elapsed() >= every {
            last_print = Instant::now();
            println!(
                "  {:>6.0}s  done {:>6} / {:>6}  changed {:>5}  failed {}  eta {}s",
                started.elapsed().as_secs_f64(),
                p["done"],
                p["total"],
                p["changed"],
                p["failed"],
                p["etaSeconds"]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count_by<T: Ord + Clone>(items: impl Iterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// `roster-bench sync-all`
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub async fn sync_all(members: u64, change_percent: u64, latency_ms: u64) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let stop = CancellationToken::new();
    // Roblox: the demo group's roles; every member at rank 10 (Private).
    let roblox = RobloxSim::new(RobloxSimConfig::default());
    let s = stop.clone();
    let (raddr, _) = roblox
        .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
        .await?;
    let ranks: Vec<u8> = (0..members).map(|_| 10).collect();
    roblox
        .seed_group(demo_seed(GROUP, 1, 2, FIRST_ROBLOX, &ranks))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let oc = "bench-sync-open-cloud-key";
    roblox.add_api_key(oc, 2, &["group:read", "group:write"]);
    // Discord: documented limits (member PATCH 10 per 10 s per guild, member list 10 per 10 s,
    // 50 requests a second per bot); every member already verified with the right roles and
    // nickname for rank 10.
    let discord = DiscordSim::new(DiscordSimConfig::default());
    let s = stop.clone();
    let (daddr, _) = discord
        .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
        .await?;
    discord.add_bot(BOT_TOKEN, BOT, "roster-bench", true);
    let mut seeded = vec![
        dsim::MemberSeed {
            user_id: BOT,
            username: "roster-bench".into(),
            global_name: None,
            nick: None,
            roles: vec![R_BOT],
            dms_open: true,
            bot: true,
        },
        dsim::MemberSeed {
            user_id: OWNER,
            username: "owner".into(),
            global_name: None,
            nick: None,
            roles: Vec::new(),
            dms_open: true,
            bot: false,
        },
    ];
    for i in 0..members {
        seeded.push(dsim::MemberSeed {
            user_id: FIRST_DISCORD + i,
            username: format!("member{i}"),
            global_name: None,
            nick: Some(format!("[Private] Player{}", FIRST_ROBLOX + i)),
            roles: vec![R_VERIFIED, R_MEMBER, R_PRIVATE],
            dms_open: true,
            bot: false,
        });
    }
    discord
        .seed_guild(GuildSeed {
            id: GUILD,
            name: "Bench".into(),
            owner_id: OWNER,
            icon: None,
            roles: vec![
                role(GUILD, "@everyone", 0, 0, false),
                role(R_VERIFIED, "Verified", 1, 0, false),
                role(R_MEMBER, "Member", 2, 0, false),
                role(R_PRIVATE, "Private", 3, 0, false),
                role(R_CORPORAL, "Corporal", 4, 0, false),
                role(R_BOT, "Roster", 10, (1 << 28) | (1 << 27), true),
            ],
            members: seeded,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let latency = Duration::from_millis(latency_ms);
    roblox.update_config(|c| c.latency = latency);
    discord.update_config(|c| c.latency = latency);

    let server = start_server(
        &bin,
        &format!("http://{raddr}"),
        None,
        &[
            ("ROSTER_DISCORD__PROXY", &daddr.to_string()),
            ("ROSTER_DISCORD__USE_HTTP", "true"),
            ("ROSTER_DISCORD__BOT_TOKEN", BOT_TOKEN),
        ],
    )
    .await?;
    admin(
        &server,
        reqwest::Method::POST,
        "/groups",
        Some(json!({"groupId": GROUP, "plan": "max", "openCloudKey": oc})),
        None,
    )
    .await?;
    admin(
        &server,
        reqwest::Method::POST,
        "/guilds",
        Some(json!({
            "guildId": GUILD.to_string(), "name": "Bench", "mainGroup": GROUP,
            "verifiedRole": R_VERIFIED.to_string(),
            "nicknameTemplate": "[{rank-name}] {roblox-username}",
        })),
        None,
    )
    .await?;
    // Links, as CSV in chunks.
    let ids: Vec<u64> = (0..members).collect();
    for chunk in ids.chunks(5_000) {
        let mut csv = String::from("discord_id,roblox_id,roblox_username\n");
        for i in chunk {
            csv.push_str(&format!(
                "{},{},Player{}\n",
                FIRST_DISCORD + i,
                FIRST_ROBLOX + i,
                FIRST_ROBLOX + i
            ));
        }
        admin(
            &server,
            reqwest::Method::POST,
            &format!("/guilds/{GUILD}/links"),
            None,
            Some((csv, "text/csv")),
        )
        .await?;
    }
    let key = admin(
        &server,
        reqwest::Method::POST,
        &format!("/guilds/{GUILD}/keys"),
        Some(json!({"label": "bench"})),
        None,
    )
    .await?["key"]
        .as_str()
        .context("guild key")?
        .to_owned();
    let http = reqwest::Client::new();
    for (rule, role) in [
        (json!({"type": "group_member", "group_id": GROUP}), R_MEMBER),
        (
            json!({"type": "group_rank", "group_id": GROUP, "rank": 10}),
            R_PRIVATE,
        ),
        (
            json!({"type": "group_rank", "group_id": GROUP, "rank": 20}),
            R_CORPORAL,
        ),
    ] {
        let mut b = rule;
        b["guild_id"] = GUILD.to_string().into();
        b["role_id"] = role.to_string().into();
        let r = http
            .post(format!("{}/bindings/add", server.base))
            .header("x-api-key", &key)
            .json(&b)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("binding: {}", r.text().await?);
        }
    }
    // Promote every tenth (by default) member in Roblox: their roles and nickname now differ.
    let step = (100 / change_percent.clamp(1, 100)).max(1);
    let mut changed_expected = 0u64;
    for i in (0..members).step_by(step as usize) {
        roblox
            .set_member_roles(GROUP, FIRST_ROBLOX + i, &[GROUP * 1000 + 20])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        changed_expected += 1;
    }
    roblox.clear_log();
    discord.clear_log();

    println!(
        "roster-bench sync-all: {members} linked members, {changed_expected} need a change (rank 10 -> 20: one role swapped and the nickname), simulators at {latency_ms} ms per request"
    );
    let limits = DiscordSimConfig::default();
    let patch = limits.route_limit(Route::ModifyMember);
    let list = limits.route_limit(Route::ListMembers);
    println!(
        "limits: Discord member PATCH {}/{:?} per guild ({:?}), member list {}/{:?}, {} requests/s per bot; Open Cloud List Memberships {}/min per key owner",
        patch.limit,
        patch.window,
        patch.kind,
        list.limit,
        list.window,
        limits.global_limit_per_sec,
        Endpoint::ListMemberships.spec_limit()
    );
    let r = http
        .post(format!("{}/interactions/sync/all", server.base))
        .header("x-api-key", &key)
        .json(&json!({"guild_id": GUILD.to_string()}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("sync-all: {}", r.text().await?);
    }
    let (wall, p) = wait(&server, Duration::from_secs(30)).await?;
    let dlog = discord.log();
    let rlog = roblox.log();
    let writes = dlog
        .iter()
        .filter(|e| e.route == Some(Route::ModifyMember))
        .count() as u64;
    let pages = dlog
        .iter()
        .filter(|e| e.route == Some(Route::ListMembers))
        .count() as u64;
    let reads = rlog
        .iter()
        .filter(|e| e.endpoint == Some(Endpoint::ListMemberships))
        .count() as u64;
    // The least time the limits allow: each bucket's first window is free, then `limit` per
    // window (a sliding bucket frees one slot every window / limit).
    let per = |n: u64, l: &RouteLimit| {
        Duration::from_secs_f64(
            n.saturating_sub(u64::from(l.limit)) as f64 * l.window.as_secs_f64()
                / f64::from(l.limit),
        )
    };
    let oc_limit = u64::from(Endpoint::ListMemberships.spec_limit());
    let t_patch = per(writes.max(changed_expected), &patch);
    let t_list = per(pages, &list);
    let t_global =
        Duration::from_secs_f64(dlog.len() as f64 / f64::from(limits.global_limit_per_sec));
    let t_roblox = Duration::from_secs(60 * (reads.div_ceil(oc_limit).saturating_sub(1)));
    let t_min = t_patch.max(t_list).max(t_global).max(t_roblox);
    println!("\nrun 1 (changes): {p}");
    println!(
        "wall time {:.1}s; minimum the limits allow {:.1}s (member PATCHes {:.1}s, member pages {:.1}s, global limit {:.1}s, Open Cloud {:.1}s); ratio {:.3}",
        wall.as_secs_f64(),
        t_min.as_secs_f64(),
        t_patch.as_secs_f64(),
        t_list.as_secs_f64(),
        t_global.as_secs_f64(),
        t_roblox.as_secs_f64(),
        wall.as_secs_f64() / t_min.as_secs_f64().max(0.001)
    );
    let n = members as f64;
    println!(
        "Discord requests: {} ({:.4} per member) {:?}",
        dlog.len(),
        dlog.len() as f64 / n,
        count_by(dlog.iter().map(|e| format!("{:?} {}", e.route, e.status)))
    );
    println!(
        "Roblox requests: {} ({:.4} per member) {:?}",
        rlog.len(),
        rlog.len() as f64 / n,
        count_by(
            rlog.iter()
                .map(|e| format!("{:?} {}", e.endpoint, e.status))
        )
    );
    println!(
        "429s: Discord {:?}, Roblox {}",
        count_by(
            dlog.iter()
                .filter(|e| e.status == 429)
                .map(|e| e.scope.clone().unwrap_or_else(|| "cloudflare".into()))
        ),
        rlog.iter().filter(|e| e.status == 429).count()
    );
    println!("PATCHes sent {writes}, members that needed one {changed_expected}");

    // Run 2: nothing to change (an operator run skips the hourly limit).
    discord.clear_log();
    roblox.clear_log();
    admin(
        &server,
        reqwest::Method::POST,
        &format!("/guilds/{GUILD}/sync-all"),
        None,
        None,
    )
    .await?;
    let (wall2, p2) = wait(&server, Duration::from_secs(30)).await?;
    let dlog = discord.log();
    let rlog = roblox.log();
    println!("\nrun 2 (nothing to change): {p2}");
    println!(
        "wall time {:.1}s: {:.0} members/minute; Discord requests {} (writes {}), Roblox requests {}; 429s Discord {}, Roblox {}",
        wall2.as_secs_f64(),
        n * 60.0 / wall2.as_secs_f64(),
        dlog.len(),
        dlog.iter().filter(|e| e.method != "GET").count(),
        rlog.len(),
        dlog.iter().filter(|e| e.status == 429).count(),
        rlog.iter().filter(|e| e.status == 429).count(),
    );
    println!(
        "roster serve RSS: now {:.1} MiB, peak (VmHWM) {:.1} MiB",
        server.current_rss_mib(),
        server.peak_rss_mib()
    );
    drop(server);
    stop.cancel();
    Ok(())
}
