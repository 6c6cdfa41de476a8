//! Shield: check, batch, import and the allowlist, and names resolved through Open Cloud user
//! info.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, GUILD, TestApp};

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
