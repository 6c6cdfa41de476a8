//! The guild audit log (`/guilds/{guildId}/audit-logs`): moderation, rank changes and custom
//! entries.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, GROUP, GUILD, TestApp};

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
