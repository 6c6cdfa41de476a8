//! Shield and the guild audit log.

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{Backend, GROUP, GUILD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shield_check_batch_and_import_allowlist() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Not allowlisted: import is refused.
    let users = json!({"users": [{"roblox_id": 261, "reason": "User is part of a condo group (12345678)", "roblox_username": "Shedletsky"}, {"roblox_id": 1, "reason": "Alt"}]});
    let a = app
        .guild(Method::POST, "/shield/import", Some(users.clone()))
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    // The operator allowlists the guild.
    let a = app
        .admin(Method::PUT, &format!("/shield/allowlist/{GUILD}"), None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["shieldWriter"], true);
    let a = app
        .guild(Method::POST, "/shield/import", Some(users.clone()))
        .await;
    assert_eq!(a.body["data"], json!({"imported": 2, "skipped": 0}));
    let a = app.guild(Method::POST, "/shield/import", Some(users)).await;
    assert_eq!(
        a.body["data"],
        json!({"imported": 0, "skipped": 2}),
        "already flagged users are skipped"
    );
    // Check one.
    let a = app.guild(Method::GET, "/shield/check/261", None).await;
    assert_eq!(a.body["data"]["flagged"], true);
    assert_eq!(a.body["data"]["flag"]["roblox_id"], "261");
    assert_eq!(a.body["data"]["flag"]["roblox_username"], "Shedletsky");
    assert_eq!(a.body["data"]["flag"]["flagged_by"], "Test Guild");
    assert_eq!(a.body["data"]["flag"]["source"], "import");
    let a = app.guild(Method::GET, "/shield/check/156", None).await;
    assert_eq!(a.body["data"], json!({"flagged": false}));
    // Batch: flagged ones only, at most 200 ids.
    let a = app
        .guild(
            Method::POST,
            "/shield/batch",
            Some(json!({"roblox_ids": [261, 1, 156]})),
        )
        .await;
    let flagged = a.body["data"]["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 2);
    assert_eq!(flagged[0]["roblox_id"], "261");
    let ids: Vec<u64> = (1..=200).collect();
    let a = app
        .guild(
            Method::POST,
            "/shield/batch",
            Some(json!({"roblox_ids": ids})),
        )
        .await;
    assert_eq!(a.status, 200);
    let ids: Vec<u64> = (1..=201).collect();
    let a = app
        .guild(
            Method::POST,
            "/shield/batch",
            Some(json!({"roblox_ids": ids})),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    assert!(
        a.body["message"].as_str().unwrap().contains("at most 200"),
        "{:?}",
        a.body
    );
    // Operators flag and unflag by hand.
    let f = app
        .admin(
            Method::POST,
            "/shield/flags",
            Some(json!({"robloxId": 999, "reason": "Known exploiter"})),
        )
        .await;
    assert_eq!(f.status, 201);
    assert_eq!(
        app.guild(Method::GET, "/shield/check/999", None).await.body["data"]["flag"]["flagged_by"],
        "Roster"
    );
    assert_eq!(
        app.admin(Method::DELETE, "/shield/flags/999", None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.guild(Method::GET, "/shield/check/999", None).await.body["data"]["flagged"],
        false
    );
    // Revoked from the allowlist: refused again.
    app.admin(Method::DELETE, &format!("/shield/allowlist/{GUILD}"), None)
        .await;
    let a = app
        .guild(Method::POST, "/shield/import", Some(json!({"users": []})))
        .await;
    assert_eq!(a.status, 403);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_log_lists_moderation_rank_changes_and_custom_entries() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Link the demo group: its rank changes appear in the guild's log too.
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"linkedGroups": [GROUP]})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(app.promote(101).await.status, 200);
    app.guild(
        Method::POST,
        &format!("/moderation/{GUILD}/roblox/ban"),
        Some(json!({"identifier": "261", "reason": "Exploiting", "moderator_id": "123"})),
    )
    .await;
    let c = app
        .guild(
            Method::POST,
            &format!("/guilds/{GUILD}/audit-logs"),
            Some(json!({"action": "custom.deploy", "metadata": {"build": "v1.42.0"}})),
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let custom_id = c.body["data"]["id"].as_u64().unwrap();
    let all = app
        .guild(Method::GET, &format!("/guilds/{GUILD}/audit-logs"), None)
        .await;
    let entries = all.body["data"]["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["custom.deploy", "ban.create", "rank.promote"],
        "newest first"
    );
    assert_eq!(entries[0]["id"].as_u64(), Some(custom_id));
    assert_eq!(entries[0]["metadata"]["build"], "v1.42.0");
    assert_eq!(entries[1]["actor_id"], "123");
    assert_eq!(entries[1]["target_id"], "261");
    assert_eq!(entries[1]["metadata"]["reason"], "Exploiting");
    assert_eq!(entries[2]["target_id"], "101");
    assert!(entries[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(all.body["data"]["next_cursor"].is_null());
    // Pagination and filtering.
    let page = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?limit=2"),
            None,
        )
        .await;
    assert_eq!(page.body["data"]["entries"].as_array().unwrap().len(), 2);
    let cursor = page.body["data"]["next_cursor"]
        .as_u64()
        .expect("more pages");
    let rest = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(rest.body["data"]["entries"][0]["action"], "rank.promote");
    let only = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.create"),
            None,
        )
        .await;
    assert_eq!(only.body["data"]["entries"].as_array().unwrap().len(), 1);
    // Another guild's key sees nothing of this guild.
    let other = app
        .guild(Method::GET, "/guilds/111111111111111111/audit-logs", None)
        .await;
    assert_eq!(other.status, 403);
    app.finish().await;
}

/// Every string in `v` that reads as a timestamp, with where it was.
fn timestamps(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.len() >= 19 && chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            out.push((at.to_owned(), s.clone()));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                timestamps(x, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                timestamps(x, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Guild-family answers and websocket frames carry timestamps as the guild reference shows them:
/// RFC 3339, whole seconds, `Z` (`2026-04-12T18:33:21Z`), never the clock's nanoseconds. Runs on
/// the system clock, whose readings have fractions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guild_family_timestamps_are_whole_seconds() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |what: &str, a: &crate::harness::Answer| {
        assert!(a.status < 300, "{what}: {} {:?}", a.status, a.body);
        answers.push((what.to_owned(), a.body.clone()));
    };
    // A game server on the websocket and one polling.
    let hb = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": "srv-t", "place_id": 1818})),
        )
        .await;
    keep("heartbeat", &hb);
    let url = format!(
        "{}/ws/guilds/{GUILD}/roblox?placeId=1818&serverId=ws-t",
        app.base.replace("http", "ws")
    );
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("x-api-key", app.guild_key.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    // Moderation: timed ban and mute.
    for (kind, who) in [("ban", "700"), ("mute", "701")] {
        let a = app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/{kind}"),
                Some(json!({"identifier": who, "reason": "Timed", "moderator_id": "1", "duration_seconds": 3600})),
            )
            .await;
        keep(kind, &a);
    }
    for path in [
        format!("/moderation/{GUILD}/ban-status/700"),
        format!("/moderation/{GUILD}/mute-status/701"),
        format!("/moderation/{GUILD}/roblox/bans/active"),
        format!("/moderation/{GUILD}/roblox/mutes/active"),
        "/roblox/servers/srv-t/commands".to_owned(),
        format!("/guilds/{GUILD}/audit-logs"),
    ] {
        let a = app.guild(Method::GET, &path, None).await;
        keep(&path, &a);
    }
    // Shield: an imported flag.
    app.admin(Method::PUT, &format!("/shield/allowlist/{GUILD}"), None)
        .await;
    let a = app
        .guild(
            Method::POST,
            "/shield/import",
            Some(json!({"users": [{"roblox_id": 261, "reason": "Alt", "roblox_username": "Shedletsky"}]})),
        )
        .await;
    keep("import", &a);
    let a = app.guild(Method::GET, "/shield/check/261", None).await;
    keep("shield check", &a);
    // Account links.
    let a = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/links"),
            Some(json!({"discordId": "123456789012345678", "robloxId": 261, "robloxUsername": "Shedletsky"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let a = app
        .guild(Method::GET, "/lookup/discord/123456789012345678", None)
        .await;
    keep("lookup", &a);
    // The websocket's frames: the ban and mute events and their commands.
    for i in 0..4 {
        let f = crate::servers::next_frame(&mut ws).await.expect("frame");
        answers.push((format!("frame {i}"), f));
    }
    ws.close(None).await.unwrap();

    let mut found = Vec::new();
    for (what, body) in &answers {
        timestamps(body, what, &mut found);
    }
    let fields: std::collections::BTreeSet<String> = found
        .iter()
        .map(|(at, _)| {
            at.rsplit('.')
                .next()
                .unwrap()
                .trim_end_matches(|c: char| c == ']' || c.is_ascii_digit())
                .trim_end_matches('[')
                .to_owned()
        })
        .collect();
    for expected in [
        "created_at",
        "expires_at",
        "issued_at",
        "flagged_at",
        "verified_at",
    ] {
        assert!(
            fields.contains(expected),
            "no {expected} among the timestamps seen: {found:?}"
        );
    }
    for (at, t) in &found {
        let whole = chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(t, &whole, "{at} is not in whole seconds with Z");
    }
    app.finish().await;
}

/// The Shield flag of `user` as `/shield/check` answers it, once its name is filled in.
async fn named_flag(app: &TestApp, user: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let a = app
            .guild(Method::GET, &format!("/shield/check/{user}"), None)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        if a.body["data"]["flag"]["roblox_username"].is_string() {
            return a.body["data"]["flag"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "user {user}'s name never filled in: {:?}",
            a.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Flags imported without a name get it from Open Cloud user info (`GET /cloud/v2/users/{id}`),
/// resolved in the background with the guild's Open Cloud key: once per user (a user Roblox does
/// not know is remembered as such), never for a flag that came with a name, and never while a
/// check waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shield_names_are_resolved_through_open_cloud() {
    use roster_sim::roblox::{Endpoint, FaultAction, UserSeed};
    let app = TestApp::start(Backend::Sqlite).await;
    for (id, name) in [
        (1, "Roblox"),
        (156, "builderman"),
        (157, "Noob157"),
        (9, "Nine"),
    ] {
        app.sim.sim.seed_user(UserSeed::named(id, name)).unwrap();
    }
    // The guild's Open Cloud key (its scopes are for experience bans; user info needs none).
    app.sim
        .sim
        .add_api_key("guild-oc-key", 4242, &["universe.user-restriction:write"]);
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"openCloudKey": "guild-oc-key"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app.admin(Method::PUT, &format!("/shield/allowlist/{GUILD}"), None)
        .await;
    // Unknown to Roblox first: names resolve one at a time, in order.
    let a = app
        .guild(
            Method::POST,
            "/shield/import",
            Some(json!({"users": [
                {"roblox_id": 424242, "reason": "Ghost"},
                {"roblox_id": 1, "reason": "Alt"},
                {"roblox_id": 261, "reason": "Condo", "roblox_username": "Shedletsky"},
                {"roblox_id": 156, "reason": "Alt"},
            ]})),
        )
        .await;
    assert_eq!(a.body["data"], json!({"imported": 4, "skipped": 0}));
    assert_eq!(named_flag(&app, 156).await["roblox_username"], "builderman");
    let flag = named_flag(&app, 1).await;
    assert_eq!(flag["roblox_username"], "Roblox");
    assert_eq!(flag["source"], "import");
    let batch = app
        .guild(
            Method::POST,
            "/shield/batch",
            Some(json!({"roblox_ids": [1, 156, 261, 424242]})),
        )
        .await;
    let names: Vec<Value> = batch.body["data"]["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["roblox_username"].clone())
        .collect();
    assert_eq!(
        names,
        [
            json!("Roblox"),
            json!("builderman"),
            json!("Shedletsky"),
            Value::Null
        ]
    );
    // Asked again about the unknown user (by the batch above and this check); then a sentinel
    // behind it in the queue shows those asks were handled, from the cache.
    let ghost = app.guild(Method::GET, "/shield/check/424242", None).await;
    assert!(ghost.body["data"]["flag"]["roblox_username"].is_null());
    app.guild(
        Method::POST,
        "/shield/import",
        Some(json!({"users": [{"roblox_id": 157, "reason": "Alt"}]})),
    )
    .await;
    assert_eq!(named_flag(&app, 157).await["roblox_username"], "Noob157");
    let calls: Vec<String> = app
        .sim
        .calls(Endpoint::GetUser)
        .into_iter()
        .map(|c| {
            assert_eq!(c.key_owner, Some(4242), "the guild's key");
            c.path
        })
        .collect();
    let mut sorted = calls.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/cloud/v2/users/1",
            "/cloud/v2/users/156",
            "/cloud/v2/users/157",
            "/cloud/v2/users/424242",
        ],
        "one call per user, none for a flag imported with its name: {calls:?}"
    );
    // Not on the hot path: with Open Cloud hanging, a check still answers at once (without the
    // name).
    app.sim.fault(Endpoint::GetUser, FaultAction::Hang, None);
    app.guild(
        Method::POST,
        "/shield/import",
        Some(json!({"users": [{"roblox_id": 9, "reason": "Alt"}]})),
    )
    .await;
    let a = app.guild(Method::GET, "/shield/check/9", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["flagged"], true);
    assert!(a.body["data"]["flag"]["roblox_username"].is_null());
    app.finish().await;
}
