//! A guild ban's side effects beyond Roster: Roblox experience bans (Open Cloud user
//! restrictions) and Discord bans.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::assert_banned;
use crate::both_backends;
use crate::harness::discord::{CLOSED_DMS, UNLINKED, start};
use crate::harness::{Backend, GUILD, TestApp, eventually};

both_backends!(discord_bans_follow_guild_bans);

/// A ban of a Roblox user in a guild configured for it becomes a Roblox experience ban (Open
/// Cloud user restrictions) in every configured universe, and an unban lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ban_mirrors_to_roblox_experience_bans() {
    use roster_sim::roblox::{Endpoint, UniverseSeed};
    let app = TestApp::start(Backend::Sqlite).await;
    for u in [121, 122] {
        app.sim
            .sim
            .seed_universe(UniverseSeed {
                id: u,
                owner_user_id: Some(42),
                owner_group_id: None,
            })
            .unwrap();
    }
    app.sim.sim.add_api_key(
        "universe-key-0001",
        42,
        &[
            "universe.user-restriction:read",
            "universe.user-restriction:write",
        ],
    );
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"robloxUniverses": [121, 122], "openCloudKey": "universe-key-0001"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["openCloudKey"]["hint"], "…0001");
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "261", "reason": "Exploiting", "duration_seconds": 86400})),
        )
        .await;
    assert_banned(&a);
    let sim = app.sim.sim.clone();
    crate::harness::eventually(
        "both universes restrict the user",
        Duration::from_secs(20),
        || {
            [121, 122]
                .iter()
                .all(|u| sim.user_restriction(*u, 261).is_some_and(|r| r.active))
        },
    )
    .await;
    let r = app.sim.sim.user_restriction(121, 261).unwrap();
    assert_eq!(r.duration_secs, Some(86400));
    assert_eq!(r.display_reason, "Exploiting");
    assert!(r.private_reason.contains("Exploiting"));
    // A Discord-id ban has no Roblox side.
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "123456789012345678"})),
        )
        .await;
    assert_banned(&a);
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unban"),
            Some(json!({"identifier": "261"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["unbanned"], true, "{:?}", a.body);
    crate::harness::eventually("the restriction is lifted", Duration::from_secs(60), || {
        [121, 122]
            .iter()
            .all(|u| sim.user_restriction(*u, 261).is_some_and(|r| !r.active))
    })
    .await;
    let calls = app.sim.calls(Endpoint::UpdateUserRestriction);
    assert!(calls.iter().all(|c| {
        c.request_body
            .as_ref()
            .is_some_and(|b| b.get("gameJoinRestriction").is_some())
    }));
    let log = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.roblox_restrict"),
            None,
        )
        .await;
    assert_eq!(log.body["data"]["entries"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn discord_bans_follow_guild_bans(backend: Backend) {
    let d = start(backend).await;
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"banInDiscord": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": UNLINKED.to_string(), "reason": "Raiding"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the Discord ban", Duration::from_secs(20), || {
        d.dsim.sim.bans(GUILD).iter().any(|b| {
            b.user_id == UNLINKED && b.reason.as_deref().is_some_and(|r| r.contains("Raiding"))
        })
    })
    .await;
    assert!(
        d.dsim.sim.member(GUILD, UNLINKED).is_none(),
        "banned members leave"
    );
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unban"),
            Some(json!({"identifier": UNLINKED.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the Discord unban", Duration::from_secs(20), || {
        d.dsim.sim.bans(GUILD).is_empty()
    })
    .await;
    // A timed ban is lifted in Discord when it expires.
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": CLOSED_DMS.to_string(), "reason": "Spam", "duration_seconds": 1})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the timed Discord ban", Duration::from_secs(20), || {
        d.dsim
            .sim
            .bans(GUILD)
            .iter()
            .any(|b| b.user_id == CLOSED_DMS)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    roster_core::moderation::expire(d.app.ctx())
        .await
        .expect("expire");
    eventually(
        "the expired ban lifted in Discord",
        Duration::from_secs(20),
        || d.dsim.sim.bans(GUILD).is_empty(),
    )
    .await;
    // A Roblox id (short) is not a Discord user: no Discord ban. The ban and any job it makes are
    // stored in one durable write before its 200, so the job count right after the answer says
    // whether a Discord ban was queued at all.
    let before = d.dsim.writes().len();
    let jobs = |app: &TestApp| app.ctx().store.len(roster_core::store::Tree::Jobs);
    let jobs_before = jobs(&d.app);
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "101", "reason": "Exploiting"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["banned"], true, "{:?}", a.body);
    assert_eq!(jobs(&d.app), jobs_before, "no job for a Roblox id's ban");
    let log = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.discord_ban"),
            None,
        )
        .await;
    let entries = log.body["data"]["entries"].as_array().expect("entries");
    assert!(
        !entries.is_empty(),
        "the earlier Discord bans are logged: {:?}",
        log.body
    );
    assert!(
        entries.iter().all(|e| e["target_id"] != "101"),
        "{:?}",
        log.body
    );
    // Every job has finished (finish waits for that), and none wrote to Discord.
    d.app.finish().await;
    assert_eq!(d.dsim.writes().len(), before);
}
