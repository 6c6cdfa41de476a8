//! Creating, renaming and deleting roles after seeding, as a guild admin would in Discord's client.

use super::*;

/// The guild's roles as `GET /guilds/{g}/roles` lists them: (id, name).
async fn listed_roles(test: &TestSim, guild: u64) -> Vec<(String, String)> {
    let reply = test.get(TOKEN, &format!("/guilds/{guild}/roles")).await;
    reply
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|role| {
            (
                role["id"].as_str().unwrap_or_default().to_owned(),
                role["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn roles_are_created_renamed_and_deleted_over_http() {
    let test = TestSim::seeded().await;
    test.control(
        Method::POST,
        "/_sim/guilds/1000/roles",
        Some(json!({ "id": 1030, "name": "Verified", "position": 30, "permissions": 0 })),
    )
    .await
    .no_content();
    assert!(
        listed_roles(&test, GUILD)
            .await
            .contains(&("1030".into(), "Verified".into()))
    );
    // The new role is a real one: a member can be given it.
    let member = test
        .control(
            Method::PUT,
            "/_sim/guilds/1000/members/10/roles",
            Some(json!({ "roleIds": [1001, 1030] })),
        )
        .await;
    assert_eq!(member.ok()["roles"], json!([1001, 1030]));

    test.control(
        Method::PATCH,
        "/_sim/guilds/1000/roles/1030",
        Some(json!({ "name": "Checked" })),
    )
    .await
    .no_content();
    let roles = listed_roles(&test, GUILD).await;
    assert!(roles.contains(&("1030".into(), "Checked".into())));
    assert!(!roles.iter().any(|(_, name)| name == "Verified"));

    assert_eq!(
        test.roles_of(GUILD, TRUSTED),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.control(Method::DELETE, "/_sim/guilds/1000/roles/1002", None)
        .await
        .no_content();
    assert_eq!(
        test.roles_of(GUILD, TRUSTED),
        Some(vec![MEMBER_ROLE]),
        "a deleted role leaves its members"
    );
    assert!(
        !listed_roles(&test, GUILD)
            .await
            .iter()
            .any(|(id, _)| id == "1002")
    );
    // Adding the deleted role to a member is now an unknown role.
    test.put(TOKEN, "/guilds/1000/members/10/roles/1002")
        .await
        .expect(404, 10011);
    test.stop().await;
}

#[tokio::test]
async fn role_control_routes_refuse_what_a_seed_refuses() {
    let test = TestSim::seeded().await;
    let role = |id: u64, name: &str, position: u16| json!({ "id": id, "name": name, "position": position, "permissions": 0 });
    for (path, body, status) in [
        (
            "/_sim/guilds/1000/roles",
            role(1040, "Dup position", 20),
            400,
        ),
        ("/_sim/guilds/1000/roles", role(1001, "Dup id", 40), 400),
        ("/_sim/guilds/1000/roles", role(1000, "Everyone", 40), 400),
        ("/_sim/guilds/1000/roles", role(1040, "", 40), 400),
        (
            "/_sim/guilds/1000/roles",
            role(1040, &"x".repeat(101), 40),
            400,
        ),
        ("/_sim/guilds/1000/roles", role(1040, "Zero", 0), 400),
        ("/_sim/guilds/1000/roles", role(0, "No id", 40), 400),
        ("/_sim/guilds/9999/roles", role(1040, "No guild", 40), 404),
    ] {
        let reply = test.control(Method::POST, path, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(reply.body["error"].is_string());
    }
    for (method, path, body, status) in [
        (
            Method::PATCH,
            "/_sim/guilds/1000/roles/1099",
            Some(json!({ "name": "X" })),
            404,
        ),
        (
            Method::PATCH,
            "/_sim/guilds/1000/roles/1000",
            Some(json!({ "name": "X" })),
            404,
        ),
        (
            Method::PATCH,
            "/_sim/guilds/1000/roles/1001",
            Some(json!({ "name": "" })),
            400,
        ),
        (
            Method::PATCH,
            "/_sim/guilds/1000/roles/1001",
            Some(json!({ "nom": "X" })),
            400,
        ),
        (
            Method::PATCH,
            "/_sim/guilds/9999/roles/1001",
            Some(json!({ "name": "X" })),
            404,
        ),
        (Method::DELETE, "/_sim/guilds/1000/roles/1099", None, 404),
        (Method::DELETE, "/_sim/guilds/1000/roles/1000", None, 404),
        (Method::DELETE, "/_sim/guilds/9999/roles/1001", None, 404),
        (Method::GET, "/_sim/guilds/1000/roles/1001", None, 405),
        (Method::GET, "/_sim/guilds/1000/roles", None, 405),
    ] {
        let reply = test.control(method, path, body).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert!(reply.body["error"].is_string());
    }
    assert_eq!(listed_roles(&test, GUILD).await.len(), 7, "nothing changed");
    test.stop().await;
}

#[tokio::test]
async fn role_methods_in_process() {
    let test = TestSim::seeded().await;
    test.sim
        .add_role(GUILD, role(1030, "Verified", 30, 0))
        .expect("a valid role");
    let err = test
        .sim
        .add_role(GUILD, role(1031, "Same place", 30, 0))
        .expect_err("position 30 is taken");
    assert_eq!(
        err.to_string(),
        "invalid seed: guild 1000: another role already has position 30"
    );
    let err = test
        .sim
        .add_role(GUILD, role(1031, "", 31, 0))
        .expect_err("an empty name");
    assert_eq!(
        err.to_string(),
        "invalid seed: guild 1000: role 1031's name must be 1 to 100 characters, got 0"
    );
    test.sim
        .rename_role(GUILD, 1030, "Checked")
        .expect("the role exists");
    test.sim
        .set_member_roles(GUILD, PLAIN, &[MEMBER_ROLE, 1030])
        .expect("valid roles");
    test.sim.remove_role(GUILD, 1030).expect("the role exists");
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    assert!(test.sim.remove_role(GUILD, 1030).is_err(), "already gone");
    assert!(test.sim.rename_role(GUILD, GUILD, "everyone").is_err());
    test.stop().await;
}
