//! Moderation: the ban/mute hot path, pushes from game servers, side effects, expiry, the guild
//! envelope.

use std::sync::Arc;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::ManualClock;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, GUILD, TestApp, TestOpts, sweeps_by_hand};

fn status_path(kind: &str, ident: &str) -> String {
    format!("/moderation/{GUILD}/{kind}-status/{ident}")
}

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

/// A ban's answer: 200, `banned: true` and the record's id.
fn assert_banned(a: &crate::harness::Answer) {
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["banned"], true, "{:?}", a.body);
    assert!(a.body["data"]["id"].as_u64().is_some(), "{:?}", a.body);
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

/// Bad inputs on every guild endpoint get the guild envelope and a 4xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guild_endpoints_reject_bad_input_with_their_envelope() {
    let app = TestApp::start(Backend::Sqlite).await;
    let g = GUILD;
    let cases: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/abc"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/0"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/261?place_id=x"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/mute-status/-1"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/moderation/111111111111111111/ban-status/261".into(),
            None,
            403,
            "FORBIDDEN",
        ),
        (
            Method::GET,
            "/moderation/notaguild/ban-status/261".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some("{"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some("[]"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"reason":"x"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","duration_seconds":0}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","duration_seconds":-5}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","place_id":"x"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":{"a":1}}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","guild_id":"111111111111111111"}"#),
            403,
            "FORBIDDEN",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/unban"),
            Some(r#"{}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/roblox/ban"),
            None,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Method::GET,
            "/shield/check/abc".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/shield/batch".into(),
            Some(r#"{"roblox_ids":"261"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/shield/batch".into(),
            Some(r#"{"roblox_ids":[1,"x"]}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/games/register".into(),
            Some(r#"{"place_id":1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/heartbeat".into(),
            Some(r#"{"place_id":1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/heartbeat".into(),
            Some(r#"{"server_id":"a","player_count":-1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/roblox/servers/abc/commands?wait=99".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/roblox/servers/abc/commands?wait=soon".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/abc/commands/nope/ack".into(),
            Some("{}"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/guilds/{g}/audit-logs"),
            Some(r#"{"action":"ban.create"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/guilds/{g}/audit-logs"),
            Some(r#"{"action":"custom.x","metadata":[1]}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/guilds/{g}/audit-logs?limit=0"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/guilds/{g}/audit-logs?cursor=x"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/moderation/whatever".into(),
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Method::GET,
            format!("/ws/guilds/{g}/roblox?serverId=a"),
            None,
            400,
            "BAD_REQUEST",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let a = app
            .request(
                method.clone(),
                &path,
                &[
                    ("x-api-key", &app.guild_key),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (status, code),
            "{method} {path} {body:?}: {:?}",
            a.body
        );
        assert_eq!(a.body["status"], "error", "{path}");
        assert_eq!(a.body["code"], status, "{path}");
        assert!(
            a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    // Authentication: missing, unknown, and a group key (ranking API) on the guild API.
    let path = status_path("ban", "261");
    let a = app.request(Method::GET, &path, &[], None).await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));
    let a = app
        .request(
            Method::GET,
            &path,
            &[("authorization", "Bearer rst_nope")],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));
    let a = app
        .request(Method::GET, &path, &[("x-api-key", &app.api_key)], None)
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    // Bearer works like X-Api-Key; X-Guild-ID must match too.
    let bearer = format!("Bearer {}", app.guild_key);
    let a = app
        .request(Method::GET, &path, &[("authorization", &bearer)], None)
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .request(
            Method::GET,
            "/shield/check/261",
            &[
                ("authorization", &bearer),
                ("x-guild-id", "111111111111111111"),
            ],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(|c| c.guild_api.rate_limit_per_minute = 20)),
            ..Default::default()
        },
    )
    .await;
    let mut limited = None;
    for _ in 0..40 {
        let a = app
            .guild(Method::GET, &status_path("ban", "261"), None)
            .await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 200);
    }
    let a = limited.expect("the limit was reached");
    assert_eq!(a.code(), "RATE_LIMITED");
    let retry: u64 = a
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    app.finish().await;
}

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

/// Every guild a request names (path, body `guild_id`, `X-Guild-ID`) must be the key's: one
/// naming another guild is 403, even when the path names the key's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_named_guild_must_be_the_keys() {
    let app = TestApp::start(Backend::Sqlite).await;
    let key = app.guild_key.clone();
    let other = "111111111111111111";
    let own = GUILD.to_string();
    let path = status_path("ban", "261");
    let get = |guild: &'static str| {
        let (app, path, key) = (&app, path.clone(), key.clone());
        async move {
            app.request(
                Method::GET,
                &path,
                &[("x-api-key", &key), ("x-guild-id", guild)],
                None,
            )
            .await
        }
    };
    let a = get(other).await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    assert_eq!(a.body["status"], "error", "the guild envelope");
    assert!(a.body["message"].as_str().unwrap().contains(other));
    let a = get(GUILD_STR).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = get("not-a-guild").await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"), "{:?}", a.body);
    // A value that is not text is refused, not ignored.
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("x-api-key", &key)
        .header(
            "x-guild-id",
            reqwest::header::HeaderValue::from_bytes("9é".as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Path names the key's guild, the body another.
    let ban = |body: Value, extra: Option<&'static str>| {
        let b = body.to_string();
        let key = key.clone();
        let app = &app;
        async move {
            let mut headers = vec![
                ("x-api-key", key.as_str()),
                ("content-type", "application/json"),
            ];
            if let Some(g) = extra {
                headers.push(("x-guild-id", g));
            }
            app.request(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/ban"),
                &headers,
                Some(&b),
            )
            .await
        }
    };
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": other}),
        None,
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": own}),
        Some(other),
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    let a = app
        .guild(Method::GET, &status_path("ban", "7001"), None)
        .await;
    assert_eq!(a.body["data"]["banned"], false, "nothing was banned");
    // The body names the guild (no path): the header must agree.
    let a = app
        .request(
            Method::POST,
            "/roblox/servers/heartbeat",
            &[
                ("x-api-key", &key),
                ("content-type", "application/json"),
                ("x-guild-id", other),
            ],
            Some(
                &json!({"guild_id": own, "server_id": "s1", "place_id": 1, "universe_id": 2})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    // All agreeing is fine.
    assert_eq!(GUILD_STR, own);
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": own}),
        Some(GUILD_STR),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app.finish().await;
}

const GUILD_STR: &str = "900000000000000001";
