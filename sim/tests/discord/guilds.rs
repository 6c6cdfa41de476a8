//! Guilds and their roles.

use super::*;

#[tokio::test]
async fn guild_and_roles() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000").await;
    let guild = reply.ok();
    assert_eq!(guild["id"], "1000");
    assert_eq!(guild["name"], "Roster Test Guild");
    assert_eq!(guild["owner_id"], "1");
    assert!(guild.get("approximate_member_count").is_none());
    let roles = guild["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 7);
    assert_eq!(
        roles[0]["id"], "1000",
        "@everyone (id == guild id) comes first"
    );
    assert_eq!(roles[0]["position"], 0);
    assert_eq!(roles[0]["name"], "@everyone");

    let counted = test.get(TOKEN, "/guilds/1000?with_counts=true").await;
    assert_eq!(counted.ok()["approximate_member_count"], 9);
    test.get(TOKEN, "/guilds/1000?with_counts=maybe")
        .await
        .expect(400, 50035);

    test.get(TOKEN, "/guilds/9999").await.expect(404, 10004);
    let reply = test.get(TOKEN, "/guilds/2000").await;
    reply.expect(403, 50001);
    assert_eq!(reply.body["message"], "Missing Access");

    let roles = test.get(TOKEN, "/guilds/1000/roles").await;
    let positions: Vec<i64> = roles
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|role| role["position"].as_i64().expect("position"))
        .collect();
    assert_eq!(positions, vec![0, 1, 2, 3, 5, 10, 20]);
    let bot_role = &roles.body[4];
    assert_eq!(bot_role["id"], "1005");
    assert_eq!(bot_role["managed"], true);
    assert_eq!(
        bot_role["permissions"],
        (MANAGE_ROLES | MANAGE_NICKNAMES | BAN_MEMBERS).to_string()
    );
    test.stop().await;
}
