//! Role bindings (`/bindings/…`): add, list, update, remove, test and validate.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::harness::discord::{CORPORAL, UNLINKED, discord_of, start};
use crate::harness::{Backend, GROUP, GUILD};

both_backends!(bindings_crud_test_and_validate);

async fn bindings_crud_test_and_validate(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let a = d
        .app
        .request(
            Method::GET,
            "/bindings/list",
            &[
                ("x-api-key", &d.app.guild_key),
                ("x-guild-id", &GUILD.to_string()),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let list = a.body["data"]["bindings"].as_array().expect("list").clone();
    assert_eq!(list.len(), 3);
    let rank_binding = list
        .iter()
        .find(|b| b["type"] == "group_rank")
        .expect("group_rank binding");
    assert_eq!(rank_binding["group_id"], GROUP);
    assert_eq!(rank_binding["rank"], 20);
    assert_eq!(rank_binding["role_id"], CORPORAL.to_string());
    let id = rank_binding["id"].as_u64().expect("numeric id");

    // Bad specs are refused with the field named.
    for (body, needle) in [
        (
            json!({"type": "group_rank", "group_id": GROUP, "rank": 0, "role_id": "1"}),
            "rank",
        ),
        (
            json!({"type": "nope", "group_id": GROUP, "role_id": "1"}),
            "type",
        ),
        (
            json!({"type": "group_member", "group_id": GROUP}),
            "role_id",
        ),
        (
            json!({"type": "group_rank_range", "group_id": GROUP, "min_rank": 50, "max_rank": 10, "role_id": "1"}),
            "min_rank",
        ),
    ] {
        let mut body = body;
        body["guild_id"] = GUILD.to_string().into();
        let a = d.app.guild(Method::POST, "/bindings/add", Some(body)).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{:?}",
            a.body
        );
    }
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/validate",
            Some(json!({"type": "group_rank", "group_id": GROUP, "rank": 200, "role_id": "987654321098765432"})),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "data": {"valid": true}})
    );
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/validate",
            Some(json!({"type": "group_rank", "group_id": GROUP, "rank": 300, "role_id": "1"})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["valid"], false);

    // Dry runs against users: 103 is rank 20.
    let test = |discord: u64, rank: u64| json!({"guild_id": GUILD.to_string(), "discord_id": discord.to_string(), "type": "group_rank", "group_id": GROUP, "rank": rank});
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/test",
            Some(test(discord_of(103), 20)),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["matches"], true);
    assert_eq!(a.body["data"]["current_rank"], 20);
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/test",
            Some(test(discord_of(105), 20)),
        )
        .await;
    assert_eq!(a.body["data"]["matches"], false);
    assert_eq!(a.body["data"]["current_rank"], 100);
    let a = d
        .app
        .guild(Method::POST, "/bindings/test", Some(test(UNLINKED, 20)))
        .await;
    assert_eq!(a.body["data"]["verified"], false);

    // Update (rank 20 → 10) changes who gets Corporal.
    let a = d
        .app
        .guild(
            Method::PATCH,
            "/bindings/update",
            Some(json!({"binding_id": id, "rank": 10})),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "message": "Binding updated"})
    );
    let a = d.sync(discord_of(102)).await;
    assert!(
        a.body["data"]["added_roles"]
            .as_array()
            .expect("list")
            .contains(&json!(CORPORAL.to_string())),
        "{:?}",
        a.body
    );
    let a = d
        .app
        .guild(
            Method::PATCH,
            "/bindings/update",
            Some(json!({"binding_id": 424242, "rank": 10})),
        )
        .await;
    assert_eq!(a.status, 404);
    let a = d
        .app
        .guild(Method::DELETE, &format!("/bindings/remove/{id}"), None)
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "message": "Binding removed"})
    );
    let a = d
        .app
        .guild(Method::DELETE, &format!("/bindings/remove/{id}"), None)
        .await;
    assert_eq!(a.status, 404);
    // With the binding gone, Corporal is no longer Roster's to manage: sync leaves it alone.
    let a = d.sync(discord_of(102)).await;
    assert_eq!(a.body["data"]["removed_roles"], json!([]));
    assert!(d.dsim.roles_of(GUILD, discord_of(102)).contains(&CORPORAL));
    // The audit log tells the story.
    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/audit-logs"), None)
        .await;
    let actions: Vec<String> = a.body["data"]["entries"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    for expected in [
        "binding.create",
        "binding.update",
        "binding.remove",
        "discord.sync",
        "links.import",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    d.app.finish().await;
}
