//! Shield and the guild audit log.

use reqwest::Method;
use serde_json::json;

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
