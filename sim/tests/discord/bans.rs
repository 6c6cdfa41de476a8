//! Guild bans: permission, hierarchy and the recorded reason.

use super::*;

#[tokio::test]
async fn bans_need_permission_and_hierarchy_and_record_the_reason() {
    let test = TestSim::seeded().await;
    let reply = test
        .with_reason(
            Method::PUT,
            TOKEN,
            "/guilds/1000/bans/10",
            &encode("Spamming links: 3 strikes"),
        )
        .await;
    reply.no_content();
    assert_eq!(
        test.sim.member(GUILD, PLAIN),
        None,
        "a ban removes the member"
    );
    let bans = test.sim.bans(GUILD);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].user_id, PLAIN);
    assert_eq!(bans[0].reason.as_deref(), Some("Spamming links: 3 strikes"));

    let ban = test.get(TOKEN, "/guilds/1000/bans/10").await;
    assert_eq!(ban.ok()["user"]["id"], "10");
    assert_eq!(ban.body["reason"], "Spamming links: 3 strikes");

    // Banning again is a no-op that keeps the reason.
    test.with_reason(Method::PUT, TOKEN, "/guilds/1000/bans/10", "other")
        .await
        .no_content();
    assert_eq!(
        test.sim.bans(GUILD)[0].reason.as_deref(),
        Some("Spamming links: 3 strikes")
    );

    test.delete(TOKEN, "/guilds/1000/bans/10")
        .await
        .no_content();
    let reply = test.delete(TOKEN, "/guilds/1000/bans/10").await;
    reply.expect(404, 10026);
    assert_eq!(reply.body["message"], "Unknown Ban");
    test.get(TOKEN, "/guilds/1000/bans/10")
        .await
        .expect(404, 10026);
    assert!(test.sim.bans(GUILD).is_empty());

    // twilight's body, and a ban without a reason, of a known user who is not a member.
    let reply = test
        .json(
            Method::PUT,
            TOKEN,
            "/guilds/1000/bans/61",
            json!({ "delete_message_seconds": null }),
        )
        .await;
    reply.no_content();
    assert_eq!(test.sim.bans(GUILD)[0].reason, None);

    let cases = [
        (
            TOKEN,
            "/guilds/1000/bans/12",
            403,
            50013,
            "a member above the bot",
        ),
        (TOKEN, "/guilds/1000/bans/1", 403, 50013, "the owner"),
        (TOKEN, "/guilds/1000/bans/900", 403, 50013, "itself"),
        (
            ADMIN_TOKEN,
            "/guilds/1000/bans/1",
            403,
            50013,
            "the owner, for an admin",
        ),
        (
            WEAK_TOKEN,
            "/guilds/1000/bans/11",
            403,
            50013,
            "no BAN_MEMBERS",
        ),
        (
            TOKEN,
            "/guilds/1000/bans/123456",
            404,
            10013,
            "a user nobody knows",
        ),
        (
            TOKEN,
            "/guilds/2000/bans/61",
            403,
            50001,
            "a guild the bot is not in",
        ),
    ];
    for (token, path, status, code, why) in cases {
        let reply = test.put(token, path).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{why}: {}",
            reply.text
        );
    }
    test.get(WEAK_TOKEN, "/guilds/1000/bans/61")
        .await
        .expect(403, 50013);
    test.delete(WEAK_TOKEN, "/guilds/1000/bans/61")
        .await
        .expect(403, 50013);

    for (body, code) in [
        (
            json!({ "delete_message_seconds": 604_801 }),
            "NUMBER_TYPE_MAX",
        ),
        (json!({ "delete_message_seconds": -1 }), "NUMBER_TYPE_MIN"),
        (
            json!({ "delete_message_seconds": "soon" }),
            "NUMBER_TYPE_COERCE",
        ),
    ] {
        let reply = test
            .json(Method::PUT, TOKEN, "/guilds/1000/bans/11", body)
            .await;
        reply.expect(400, 50035);
        assert_eq!(reply.field_error(&["delete_message_seconds"]), Some(code));
    }
    assert!(test.sim.member(GUILD, TRUSTED).is_some());
    test.stop().await;
}
