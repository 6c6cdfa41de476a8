//! Role sync against the Discord simulator: one member (`/interactions/sync`: one PATCH, then
//! nothing; hierarchy, owner, unlinked members) and the whole guild (`/interactions/sync/all`:
//! progress, limit, a quiet second run, cancel).

use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::discord::{DiscordSimConfig, LogEntry, Route};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::discord::{
    ADMIN_ROLE, BOOSTER, CORPORAL, DApp, MEMBER, OFFICER, OWNER, UNLINKED, UNVERIFIED, VERIFIED,
    discord_of, member, start, start_with,
};
use crate::harness::{Backend, GROUP, GUILD, eventually};

both_backends!(
    sync_one_member_sends_one_patch_then_nothing,
    hierarchy_owner_and_unlinked_members,
    sync_all_progress_limit_and_a_quiet_second_run,
    sync_all_cancel_stops_writes
);

async fn sync_one_member_sends_one_patch_then_nothing(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let user = discord_of(103); // rank 20 (Corporal)
    let a = d.sync(user).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "success");
    let data = &a.body["data"];
    let mut added: Vec<String> = serde_json::from_value(data["added_roles"].clone()).expect("list");
    added.sort();
    assert_eq!(
        added,
        vec![
            VERIFIED.to_string(),
            MEMBER.to_string(),
            CORPORAL.to_string()
        ]
    );
    assert_eq!(data["removed_roles"], json!([]));
    assert_eq!(data["nickname_updated"], true);
    assert_eq!(
        d.dsim.roles_of(GUILD, user),
        vec![VERIFIED, MEMBER, CORPORAL]
    );
    let m = d.dsim.sim.member(GUILD, user).expect("member");
    assert_eq!(m.nick.as_deref(), Some("[Corporal] Builder103"));
    // Exactly one write: one PATCH with the full role list and the nickname, with a reason.
    let writes = d.dsim.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].route, Some(Route::ModifyMember));
    assert_eq!(writes[0].status, 200);
    assert!(
        writes[0]
            .audit_log_reason
            .as_deref()
            .is_some_and(|r| r.contains("Roster")),
        "{:?}",
        writes[0].audit_log_reason
    );
    // A second sync of the unchanged member sends nothing.
    d.dsim.sim.clear_log();
    let a = d.sync(user).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["added_roles"], json!([]));
    assert_eq!(a.body["data"]["removed_roles"], json!([]));
    assert_eq!(a.body["data"]["nickname_updated"], false);
    assert!(d.dsim.writes().is_empty(), "{:?}", d.dsim.writes());
    // Promoted in Roblox (20 → 30): Corporal goes, Officer comes, in one PATCH.
    d.app
        .sim
        .sim
        .set_member_roles(GROUP, 103, &[GROUP * 1000 + 30])
        .expect("set rank");
    let a = d.sync(user).await;
    assert_eq!(a.body["data"]["added_roles"], json!([OFFICER.to_string()]));
    assert_eq!(
        a.body["data"]["removed_roles"],
        json!([CORPORAL.to_string()])
    );
    assert_eq!(d.dsim.writes().len(), 1);
    d.app.finish().await;
}

async fn hierarchy_owner_and_unlinked_members(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    // A binding to a role above the bot's, and one to a managed role.
    for role in [ADMIN_ROLE, BOOSTER] {
        let a = d
            .app
            .guild(
                Method::POST,
                "/bindings/add",
                Some(json!({"guild_id": GUILD.to_string(), "type": "group_member", "group_id": GROUP, "role_id": role})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = d.sync(discord_of(101)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let data = &a.body["data"];
    assert_eq!(data["added_roles"], json!([VERIFIED.to_string()]));
    let reasons: Vec<(String, String)> = data["not_applied"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["role_id"].as_str().unwrap_or_default().to_owned(),
                s["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&(ADMIN_ROLE.to_string(), "hierarchy".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(BOOSTER.to_string(), "managed_role".into())),
        "{reasons:?}"
    );
    // Nothing was attempted that Discord would refuse.
    assert!(
        d.dsim.sim.log().iter().all(|e| e.status != 403),
        "{:?}",
        d.dsim.sim.log()
    );
    // The owner: linked, but Discord never lets a bot rename the owner.
    let link =
        json!({"discordId": OWNER.to_string(), "robloxId": 104, "robloxUsername": "Owner104"});
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/links"), Some(link))
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let a = d.sync(OWNER).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(
        a.body["data"]["not_applied"]
            .as_array()
            .expect("list")
            .iter()
            .any(|s| s["action"] == "nickname" && s["reason"] == "server_owner"),
        "{:?}",
        a.body
    );
    assert_eq!(a.body["data"]["nickname_updated"], false);
    // An unlinked member gets the unverified role and nothing else.
    let a = d.sync(UNLINKED).await;
    assert_eq!(
        a.body["data"]["added_roles"],
        json!([UNVERIFIED.to_string()])
    );
    assert_eq!(a.body["data"]["verified"], false);
    // Someone who is not in the guild.
    let a = d.sync(810_000_000_000_009_999).await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(a.code(), "NOT_IN_GUILD");
    assert!(d.dsim.sim.log().iter().all(|e| e.status != 403));
    d.app.finish_allowing_dead(0).await;
}

/// A Discord simulator whose member PATCH bucket allows 50 a second (the default is 10 per 10
/// seconds, which would make a guild-wide test take minutes).
pub(crate) fn fast_patches() -> DiscordSimConfig {
    let mut c = DiscordSimConfig::default();
    c.route_limits.insert(
        Route::ModifyMember,
        roster_sim::discord::RouteLimit {
            limit: 50,
            window: Duration::from_secs(1),
            kind: roster_sim::discord::WindowKind::Sliding,
            bucket: "fast-modify-member".into(),
        },
    );
    c
}

/// Adds `n` linked members (Roblox users 2000.. in the demo group: rank 1, every tenth rank 20).
async fn add_linked_members(d: &DApp, n: u64) {
    let mut links = Vec::new();
    for i in 0..n {
        let roblox = 2000 + i;
        let discord = 820_000_000_000_000_000 + i;
        let rank_role = if i % 10 == 0 {
            GROUP * 1000 + 20
        } else {
            GROUP * 1000 + 1
        };
        d.app
            .sim
            .sim
            .set_member_roles(GROUP, roblox, &[rank_role])
            .expect("roblox member");
        d.dsim
            .sim
            .add_member(GUILD, member(discord, &format!("m{i}"), &[]))
            .expect("discord member");
        links.push(json!({"discordId": discord.to_string(), "robloxId": roblox, "robloxUsername": format!("Player{roblox}")}));
    }
    let a = d
        .app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/links"),
            Some(json!({ "links": links })),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
}

async fn progress(d: &DApp) -> Value {
    let a = d
        .app
        .request(
            Method::GET,
            &format!("/interactions/sync/all/progress?guild_id={GUILD}"),
            &[("x-api-key", &d.app.guild_key)],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["data"].clone()
}

async fn wait_run(d: &DApp, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = progress(d).await;
        if p["status"] == status {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "run did not reach {status}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sync_all_progress_limit_and_a_quiet_second_run(backend: Backend) {
    let d = start_with(backend, fast_patches(), None).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    add_linked_members(&d, 120).await;
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["queued"], true);
    assert_eq!(a.body["data"]["members"], 125, "linked members");
    // A second one while it runs (or within the hour) starts nothing.
    let again = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert!(matches!(again.status, 409 | 429), "{:?}", again.body);
    let p = wait_run(&d, "completed").await;
    // 125 linked + unlinked + closed-DMs + owner; the bot is skipped.
    assert_eq!(p["total"], 128, "{p:?}");
    assert_eq!(p["done"], 128, "{p:?}");
    assert_eq!(p["failed"], 0, "{p:?}");
    assert_eq!(p["changed"], 128, "everyone needed a role: {p:?}");
    assert_eq!(p["eta_seconds"], Value::Null);
    let patches: Vec<LogEntry> = d
        .dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ModifyMember))
        .collect();
    let detail: Vec<String> = patches
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {:?} {:.0}ms",
                e.at, e.path, e.status, e.scope, e.duration_ms
            )
        })
        .collect();
    assert_eq!(
        patches.len(),
        128,
        "one PATCH per member that changed: {detail:#?}"
    );
    assert!(
        d.dsim.sim.log().iter().all(|e| e.status != 429),
        "no 429s: the gate kept to the buckets"
    );
    let lists = d
        .dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ListMembers))
        .count();
    assert_eq!(lists, 1, "one page of up to 1000 members");
    // Roblox ranks were read 50 users at a time: 125 linked → 3 reads.
    let reads = d
        .app
        .sim
        .calls(roster_sim::roblox::Endpoint::ListMemberships)
        .len();
    assert_eq!(reads, 3, "membership reads");
    assert_eq!(
        d.dsim.roles_of(GUILD, 820_000_000_000_000_010),
        vec![VERIFIED, MEMBER, CORPORAL]
    );
    assert_eq!(
        d.dsim.roles_of(GUILD, 820_000_000_000_000_011),
        vec![VERIFIED, MEMBER]
    );
    assert_eq!(d.dsim.roles_of(GUILD, UNLINKED), vec![UNVERIFIED]);

    // Within the hour: 429 with Retry-After.
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    assert_eq!(a.code(), "RATE_LIMITED");
    let retry: u64 = a.headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("secs");
    assert!(retry > 3500 && retry <= 3600, "{retry}");
    // An operator may run it again at once; nothing changed, so nothing is written.
    d.dsim.sim.clear_log();
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let p = wait_run(&d, "completed").await;
    assert_eq!(p["done"], 128);
    assert_eq!(p["changed"], 0);
    assert!(d.dsim.writes().is_empty(), "{:?}", d.dsim.writes());
    d.app.finish().await;
}

async fn sync_all_cancel_stops_writes(backend: Backend) {
    // Default limits: 10 PATCHes per 10 s per guild, so the run is slow enough to cancel.
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    add_linked_members(&d, 60).await;
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("some members synced", Duration::from_secs(30), || {
        d.dsim
            .sim
            .log()
            .iter()
            .filter(|e| e.route == Some(Route::ModifyMember))
            .count()
            >= 3
    })
    .await;
    let again = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.code(), "SYNC_IN_PROGRESS");
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all/cancel",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["status"], "cancelled");
    // Batches already running finish (they stop at the rate limit); nothing new starts.
    let mut last = usize::MAX;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (open, _) = d.app.unfinished_jobs();
        let n = d.dsim.writes().len();
        if open.is_empty() && n == last {
            break;
        }
        last = n;
        assert!(Instant::now() < deadline, "jobs kept running after cancel");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let p = progress(&d).await;
    assert_eq!(p["status"], "cancelled");
    let total = p["total"].as_u64().expect("total");
    let done = p["done"].as_u64().expect("done");
    assert!(done < total, "cancelled before the end: {p:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        d.dsim.writes().len(),
        last,
        "no writes after the cancel settled"
    );
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all/cancel",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.code(), "NO_SYNC_RUNNING");
    d.app.finish().await;
}
