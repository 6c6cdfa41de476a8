//! Adding and removing one role of a member: 204, idempotent, permissions and hierarchy.

use super::*;

#[tokio::test]
async fn adding_and_removing_roles_is_204_and_idempotent() {
    let test = TestSim::seeded().await;
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    test.put(TOKEN, &path).await.no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.put(TOKEN, &path).await.no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.delete(TOKEN, &path).await.no_content();
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    test.delete(TOKEN, &path).await.no_content();
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));

    // Only the role's position matters, not the target's: a lower role may be given to a higher member.
    test.put(TOKEN, &role_path(GUILD, MODERATOR, TRUSTED_ROLE))
        .await
        .no_content();

    let reply = test.put(TOKEN, &role_path(GUILD, 777, TRUSTED_ROLE)).await;
    reply.expect(404, 10007);
    let reply = test.put(TOKEN, &role_path(GUILD, PLAIN, 9999)).await;
    reply.expect(404, 10011);
    assert_eq!(reply.body["message"], "Unknown Role");
    test.put(TOKEN, &role_path(GUILD, PLAIN, GUILD))
        .await
        .expect(404, 10011);
    test.put(TOKEN, &role_path(OTHER_GUILD, STRANGER, 1))
        .await
        .expect(403, 50001);
    test.put(TOKEN, &role_path(9999, PLAIN, TRUSTED_ROLE))
        .await
        .expect(404, 10004);
    test.stop().await;
}

#[tokio::test]
async fn role_changes_respect_permissions_and_hierarchy() {
    let test = TestSim::seeded().await;
    let refused = [
        (
            TOKEN,
            role_path(GUILD, PLAIN, MOD_ROLE),
            "above the bot's highest role",
        ),
        (
            TOKEN,
            role_path(GUILD, PLAIN, BOT_ROLE),
            "the bot's own (managed, equal) role",
        ),
        (
            TOKEN,
            role_path(GUILD, PLAIN, BOOSTER_ROLE),
            "a managed role below the bot",
        ),
        (
            TOKEN,
            role_path(GUILD, BOOSTED, BOOSTER_ROLE),
            "removing a managed role",
        ),
        (
            WEAK_TOKEN,
            role_path(GUILD, PLAIN, TRUSTED_ROLE),
            "no MANAGE_ROLES",
        ),
        (
            ADMIN_TOKEN,
            role_path(GUILD, PLAIN, ADMIN_ROLE),
            "equal to the admin bot's highest role",
        ),
    ];
    for (token, path, why) in &refused {
        let method = if why.starts_with("removing") {
            Method::DELETE
        } else {
            Method::PUT
        };
        let reply = test
            .send(test.request(method, &api(path), Some(token)))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, 50013),
            "{why}: {}",
            reply.text
        );
        assert_eq!(reply.body["message"], "Missing Permissions");
    }
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    assert_eq!(
        test.roles_of(GUILD, BOOSTED),
        Some(vec![MEMBER_ROLE, BOOSTER_ROLE])
    );

    // ADMINISTRATOR implies MANAGE_ROLES.
    test.put(ADMIN_TOKEN, &role_path(GUILD, PLAIN, MOD_ROLE))
        .await
        .no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, MOD_ROLE])
    );
    test.stop().await;
}
