//! Moderation: the ban/mute hot path (`/moderation/{guildId}/…-status/…`), pushes from game
//! servers and their fan-out to live servers, expiry, place scope and identifiers, and bans that
//! survive a restart.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::ManualClock;
use serde_json::{Value, json};

use super::{assert_banned, status_path};
use crate::both_backends;
use crate::harness::{Backend, GUILD, TestApp, TestOpts, sweeps_by_hand};

both_backends!(
    ban_is_seen_by_the_very_next_check,
    game_server_ban_fans_out_to_live_servers
);

/// A ban answered 2xx is visible to the next status check, and an unban likewise, while other
/// clients hammer the same status endpoint (a stale cache would show up here).
async fn ban_is_seen_by_the_very_next_check(backend: Backend) {
    // The readers outrun the default per-key limit (1,000 a second); this test is about
    // freshness, not the limiter.
    let app = Arc::new(
        TestApp::start_with(
            backend,
            TestOpts {
                tweak: Some(Arc::new(|c| {
                    c.guild_api.rate_limit_per_minute = 100_000_000
                })),
                ..TestOpts::default()
            },
        )
        .await,
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Background readers keep the hot path busy for the same identifiers.
    let mut readers = Vec::new();
    for r in 0..4 {
        let app = app.clone();
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = 5000 + (n % 8) as u64;
                let a = app
                    .guild(Method::GET, &status_path("ban", &id.to_string()), None)
                    .await;
                assert_eq!(a.status, 200, "reader {r}: {:?}", a.body);
                n += 1;
            }
            n
        }));
    }
    for round in 0..40u64 {
        let id = 5000 + round % 8;
        let b = app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/ban"),
                Some(json!({"identifier": id.to_string(), "reason": "Exploiting", "moderator_id": "123456789012345678"})),
            )
            .await;
        assert_eq!(b.status, 200, "{:?}", b.body);
        assert_eq!(b.body["status"], "success");
        assert_eq!(b.body["data"]["banned"], true);
        let s = app
            .guild(Method::GET, &status_path("ban", &id.to_string()), None)
            .await;
        assert_eq!(
            s.body["data"]["banned"], true,
            "round {round}: a ban answered 2xx was not visible: {:?}",
            s.body
        );
        assert_eq!(s.body["message"], "User is banned");
        assert_eq!(s.body["data"]["ban_info"]["reason"], "Exploiting");
        let u = app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/unban"),
                Some(json!({"identifier": id, "moderator_id": "1"})),
            )
            .await;
        assert_eq!(u.body["data"]["unbanned"], true, "{:?}", u.body);
        let s = app
            .guild(Method::GET, &status_path("ban", &id.to_string()), None)
            .await;
        assert_eq!(
            s.body["data"]["banned"], false,
            "round {round}: an unban answered 2xx was not visible"
        );
        assert_eq!(s.body["message"], "User is not banned");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    // The audit log has every action.
    let log = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?limit=200&action=ban.create"),
            None,
        )
        .await;
    assert_eq!(log.body["data"]["entries"].as_array().unwrap().len(), 40);
    let app = Arc::try_unwrap(app).ok().expect("sole owner");
    app.finish().await;
}

async fn heartbeat(app: &TestApp, server: &str, place: u64) {
    let a = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": server, "place_id": place, "universe_id": 77, "player_count": 12})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["ok"], true);
}

async fn poll(app: &TestApp, server: &str) -> Vec<Value> {
    let a = app
        .guild(
            Method::GET,
            &format!("/roblox/servers/{server}/commands"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["data"]["commands"].as_array().unwrap().clone()
}

/// A ban of a Roblox user becomes a `kick` command for every live server of the guild (or of the
/// ban's place), and none for dead servers.
async fn game_server_ban_fans_out_to_live_servers(backend: Backend) {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        backend,
        TestOpts {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    heartbeat(&app, "old-server", 1818).await;
    clock.advance(chrono::Duration::seconds(120));
    heartbeat(&app, "srv-a", 1818).await;
    heartbeat(&app, "srv-b", 1818).await;
    heartbeat(&app, "srv-c", 2929).await;
    let b = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "261", "reason": "Exploiting", "moderator_id": "1", "duration_seconds": null})),
        )
        .await;
    assert_eq!(b.status, 200);
    for s in ["srv-a", "srv-b", "srv-c"] {
        let cmds = poll(&app, s).await;
        assert_eq!(cmds.len(), 1, "{s}: {cmds:?}");
        assert_eq!(cmds[0]["type"], "kick");
        assert_eq!(cmds[0]["target_id"], "261");
        assert_eq!(cmds[0]["reason"], "Exploiting");
    }
    assert!(
        poll(&app, "old-server").await.is_empty(),
        "a dead server gets nothing"
    );
    // A place-scoped ban reaches that place's servers only.
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": 262, "reason": "Trolling", "place_id": 2929})),
        )
        .await;
    assert_banned(&a);
    assert!(poll(&app, "srv-a").await.is_empty());
    let c = poll(&app, "srv-c").await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["target_id"], "262");
    // A Discord id has no game-server side: no command.
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "123456789012345678", "reason": "Raid"})),
        )
        .await;
    assert_banned(&a);
    assert!(poll(&app, "srv-b").await.is_empty());
    // A mute becomes a `mute` command, its end an `unmute`.
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/mute"),
            Some(json!({"identifier": "300", "reason": "Spam", "duration_seconds": 3600})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["muted"], true, "{:?}", a.body);
    let m = poll(&app, "srv-b").await;
    assert_eq!((m.len(), m[0]["type"].as_str()), (1, Some("mute")));
    let a = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unmute"),
            Some(json!({"identifier": "300"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["unmuted"], true, "{:?}", a.body);
    let m = poll(&app, "srv-b").await;
    assert_eq!((m.len(), m[0]["type"].as_str()), (1, Some("unmute")));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_place_scope_and_identifiers() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            tweak: Some(Arc::new(sweeps_by_hand)),
            ..Default::default()
        },
    )
    .await;
    let ban = |body: Value| {
        let app = &app;
        async move {
            let a = app
                .guild(
                    Method::POST,
                    &format!("/moderation/{GUILD}/roblox/ban"),
                    Some(body),
                )
                .await;
            assert_banned(&a);
            a
        }
    };
    // A permanent ban stays in the active list throughout.
    ban(json!({"identifier": "399", "reason": "Permanent"})).await;
    // Timed ban: visible, then gone the moment it expires (before any sweep), then swept.
    let b = ban(json!({"identifier": "400", "reason": "Timeout", "duration_seconds": 60})).await;
    let id = b.body["data"]["id"].as_u64().unwrap();
    let s = app
        .guild(Method::GET, &status_path("ban", "400"), None)
        .await;
    assert_eq!(s.body["data"]["ban_info"]["id"].as_u64(), Some(id));
    assert_eq!(
        s.body["data"]["ban_info"]["expires_at"],
        "2026-11-02T12:01:00Z"
    );
    clock.advance(chrono::Duration::seconds(61));
    let s = app
        .guild(Method::GET, &status_path("ban", "400"), None)
        .await;
    assert_eq!(
        s.body["data"]["banned"], false,
        "expired bans stop counting at once"
    );
    assert_eq!(
        roster_scheduler::moderation(app.ctx())
            .await
            .unwrap()
            .removed,
        1
    );
    assert_eq!(
        roster_scheduler::moderation(app.ctx())
            .await
            .unwrap()
            .removed,
        0,
        "the sweep is idempotent"
    );
    let log = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.expire"),
            None,
        )
        .await;
    assert_eq!(log.body["data"]["entries"][0]["target_id"], "400");
    let active = app
        .guild(
            Method::GET,
            &format!("/moderation/{GUILD}/roblox/bans/active"),
            None,
        )
        .await;
    let bans = active.body["data"]["bans"].as_array().unwrap();
    assert!(
        bans.iter().any(|b| b["identifier"] == "399"),
        "the permanent ban is listed: {bans:?}"
    );
    assert!(
        bans.iter().all(|b| b["identifier"] != "400"),
        "the expired ban is not: {bans:?}"
    );

    // Place scope: a place ban applies to checks for that place only.
    ban(json!({"identifier": "401", "reason": "Place", "place_id": 1818})).await;
    let at = |place: Option<u64>| {
        let app = &app;
        async move {
            let q = place.map(|p| format!("?place_id={p}")).unwrap_or_default();
            app.guild(
                Method::GET,
                &format!("{}{q}", status_path("ban", "401")),
                None,
            )
            .await
            .body["data"]["banned"]
                .clone()
        }
    };
    assert_eq!(at(Some(1818)).await, true);
    assert_eq!(at(Some(2929)).await, false);
    assert_eq!(
        at(None).await,
        false,
        "a check without place_id sees guild-wide bans only"
    );
    ban(json!({"identifier": "401", "reason": "Everywhere"})).await;
    assert_eq!(at(Some(2929)).await, true);
    assert_eq!(at(None).await, true);

    // Identifiers: Discord ids (17+ digits, or discord:) and Roblox ids (shorter, or roblox:).
    ban(json!({"identifier": "80351110224678912", "reason": "Discord raid"})).await;
    for (ident, banned) in [
        ("80351110224678912", true),
        ("discord:80351110224678912", true),
        ("roblox:80351110224678912", false),
        ("261", false),
    ] {
        let s = app
            .guild(Method::GET, &status_path("ban", ident), None)
            .await;
        assert_eq!(s.status, 200, "{ident}: {:?}", s.body);
        assert_eq!(s.body["data"]["banned"], banned, "{ident}");
    }
    ban(json!({"identifier": 261, "reason": "Numeric"})).await;
    assert_eq!(
        app.guild(Method::GET, &status_path("ban", "roblox:261"), None)
            .await
            .body["data"]["banned"],
        true
    );

    // Mutes.
    let m = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/mute"),
            Some(json!({"identifier": "500", "reason": "Spam", "duration_seconds": 3600})),
        )
        .await;
    assert_eq!(m.body["data"]["muted"], true);
    let s = app
        .guild(Method::GET, &status_path("mute", "500"), None)
        .await;
    assert_eq!(s.body["data"]["muted"], true);
    assert_eq!(s.body["data"]["mute_info"]["reason"], "Spam");
    let list = app
        .guild(
            Method::GET,
            &format!("/moderation/{GUILD}/roblox/mutes/active"),
            None,
        )
        .await;
    assert_eq!(list.body["data"]["mutes"][0]["identifier"], "500");
    let u = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unmute"),
            Some(json!({"identifier": "500"})),
        )
        .await;
    assert_eq!(u.body["data"]["unmuted"], true);
    let u = app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unmute"),
            Some(json!({"identifier": "500"})),
        )
        .await;
    assert_eq!(
        u.body["data"]["unmuted"], false,
        "nothing to unmute is not an error"
    );

    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bans_survive_a_restart() {
    let sim = crate::harness::Sim::start().await;
    let data = crate::harness::TempDir::new("restart");
    let config = crate::harness::test_config(data.path(), Backend::Sqlite, None, &sim.base);
    let cp = roster::app::start(config.clone(), Default::default())
        .await
        .unwrap();
    let g = roster_core::ids::GuildId::new(GUILD).unwrap();
    roster_core::guilds::create(&cp.ctx, g, "G".into(), Default::default())
        .await
        .unwrap();
    roster_core::moderation::create(
        &cp.ctx,
        roster_core::moderation::NewRecord {
            guild: g,
            kind: roster_core::moderation::ModKind::Ban,
            identifier: roster_core::moderation::Identifier::Roblox(77),
            reason: "persisted".into(),
            moderator_id: None,
            duration: None,
            place_id: None,
            source: roster_core::moderation::Source::Admin,
        },
    )
    .await
    .unwrap();
    cp.shutdown().await.unwrap();
    let cp = roster::app::start(config, Default::default())
        .await
        .unwrap();
    let hit = cp.ctx.moderation.check(
        g,
        roster_core::moderation::ModKind::Ban,
        roster_core::moderation::Identifier::Roblox(77),
        None,
        Utc::now(),
    );
    assert_eq!(hit.map(|r| r.reason.clone()).as_deref(), Some("persisted"));
    cp.shutdown().await.unwrap();
}
