//! Guild members: getting, listing (the intent, pages by user id), and modifying them (roles,
//! nicknames, refusals).

use super::*;

#[tokio::test]
async fn get_member_and_unknown_member() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    let member = reply.ok();
    assert_eq!(member["user"]["id"], "10");
    assert_eq!(member["user"]["username"], "plain");
    assert_eq!(member["user"]["global_name"], "Plain Person");
    assert_eq!(member["roles"], json!(["1001"]));
    assert_eq!(member["nick"], Value::Null);
    let joined = member["joined_at"].as_str().expect("joined_at");
    assert!(joined.ends_with("+00:00"), "{joined}");
    assert_eq!(
        test.get(TOKEN, "/guilds/1000/members/11").await.ok()["nick"],
        "Trusty"
    );

    let reply = test.get(TOKEN, "/guilds/1000/members/777").await;
    reply.expect(404, 10007);
    assert_eq!(reply.body["message"], "Unknown Member");
    test.get(TOKEN, "/guilds/9999/members/10")
        .await
        .expect(404, 10004);
    test.stop().await;
}

#[tokio::test]
async fn listing_members_needs_the_intent_and_pages_by_user_id() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let first = test.get(TOKEN, "/guilds/4000/members").await;
    let first = first.ok().as_array().expect("a list").clone();
    assert_eq!(first.len(), 1, "limit defaults to 1");
    assert_eq!(first[0]["user"]["id"], "900", "lowest user id first");

    let all = test.get(TOKEN, "/guilds/4000/members?limit=1000").await;
    let all: Vec<String> = all
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|member| member["user"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(all.len(), 26);
    let mut sorted: Vec<u64> = all.iter().map(|id| id.parse().expect("number")).collect();
    sorted.sort_unstable();
    assert_eq!(
        all,
        sorted.iter().map(u64::to_string).collect::<Vec<_>>(),
        "ordered by user id"
    );

    let mut walked = Vec::new();
    let mut after = 0;
    loop {
        let page = test
            .get(
                TOKEN,
                &format!("/guilds/4000/members?limit=10&after={after}"),
            )
            .await;
        let page = page.ok().as_array().expect("a list").clone();
        if page.is_empty() {
            break;
        }
        for member in &page {
            walked.push(member["user"]["id"].as_str().expect("id").to_owned());
        }
        after = walked
            .last()
            .and_then(|id| id.parse::<u64>().ok())
            .expect("a last id");
        assert!(walked.len() <= 26, "pagination ends");
    }
    assert_eq!(walked, all);
    let tail = test
        .get(TOKEN, "/guilds/4000/members?limit=5&after=4023")
        .await;
    assert_eq!(tail.ok().as_array().map(Vec::len), Some(2));

    for (query, code) in [
        ("limit=0", "NUMBER_TYPE_MIN"),
        ("limit=1001", "NUMBER_TYPE_MAX"),
        ("limit=abc", "NUMBER_TYPE_COERCE"),
        ("limit=-1", "NUMBER_TYPE_COERCE"),
    ] {
        let reply = test
            .get(TOKEN, &format!("/guilds/4000/members?{query}"))
            .await;
        reply.expect(400, 50035);
        assert_eq!(reply.field_error(&["limit"]), Some(code), "{query}");
    }
    let reply = test.get(TOKEN, "/guilds/4000/members?after=x").await;
    assert_eq!(reply.field_error(&["after"]), Some("NUMBER_TYPE_COERCE"));
    let reply = test
        .get(TOKEN, "/guilds/4000/members?limit=5&limit=6")
        .await;
    reply.expect(400, 50035);

    let reply = test.get(WEAK_TOKEN, "/guilds/1000/members").await;
    reply.expect(403, 50001);
    assert_eq!(reply.body["message"], "Missing Access");
    test.stop().await;
}

#[tokio::test]
async fn modify_member_replaces_roles_and_sets_nicknames() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let path = "/guilds/1000/members/10";
    let reply = test
        .json(
            Method::PATCH,
            TOKEN,
            path,
            json!({ "roles": [TRUSTED_ROLE.to_string()], "nick": "Plainly" }),
        )
        .await;
    let body = reply.ok();
    assert_eq!(body["roles"], json!(["1002"]));
    assert_eq!(body["nick"], "Plainly");
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![TRUSTED_ROLE]));

    // Integers are accepted as snowflakes too; an empty body changes nothing.
    test.json(
        Method::PATCH,
        TOKEN,
        path,
        json!({ "roles": [MEMBER_ROLE, TRUSTED_ROLE] }),
    )
    .await
    .ok();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.json(Method::PATCH, TOKEN, path, json!({})).await.ok();

    for reset in [json!({ "nick": null }), json!({ "nick": "" })] {
        test.json(Method::PATCH, TOKEN, path, json!({ "nick": "Again" }))
            .await
            .ok();
        let reply = test.json(Method::PATCH, TOKEN, path, reset).await;
        assert_eq!(reply.ok()["nick"], Value::Null);
    }
    assert_eq!(test.sim.member(GUILD, PLAIN).and_then(|m| m.nick), None);

    // A managed role the member already holds may stay; only changed roles are checked.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/14",
        json!({ "roles": ["1001", "1002", "1003"] }),
    )
    .await
    .ok();
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/14",
        json!({ "roles": ["1001"] }),
    )
    .await
    .expect(403, 50013);
    // null clears every role.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/11",
        json!({ "roles": null }),
    )
    .await
    .ok();
    assert_eq!(test.roles_of(GUILD, TRUSTED), Some(vec![]));
    test.stop().await;
}

#[tokio::test]
async fn modify_member_refusals() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let path = "/guilds/1000/members/10";
    let cases = [
        (
            TOKEN,
            path,
            json!({ "roles": ["1010"] }),
            403,
            50013,
            "a role above the bot",
        ),
        (
            TOKEN,
            path,
            json!({ "roles": ["9999"] }),
            404,
            10011,
            "an unknown role",
        ),
        (
            TOKEN,
            path,
            json!({ "roles": ["1000"] }),
            404,
            10011,
            "@everyone",
        ),
        (
            WEAK_TOKEN,
            path,
            json!({ "roles": ["1001"] }),
            403,
            50013,
            "no MANAGE_ROLES",
        ),
        (
            WEAK_TOKEN,
            path,
            json!({ "nick": "x" }),
            403,
            50013,
            "no MANAGE_NICKNAMES",
        ),
        (
            TOKEN,
            "/guilds/1000/members/12",
            json!({ "nick": "x" }),
            403,
            50013,
            "a member above the bot",
        ),
        (
            TOKEN,
            "/guilds/1000/members/1",
            json!({ "nick": "x" }),
            403,
            50013,
            "the owner",
        ),
        (
            ADMIN_TOKEN,
            "/guilds/1000/members/1",
            json!({ "nick": "x" }),
            403,
            50013,
            "the owner, for an admin",
        ),
        (
            TOKEN,
            "/guilds/1000/members/777",
            json!({ "nick": "x" }),
            404,
            10007,
            "not a member",
        ),
        (
            TOKEN,
            "/guilds/2000/members/61",
            json!({ "nick": "x" }),
            403,
            50001,
            "a guild the bot is not in",
        ),
    ];
    for (token, path, body, status, code, why) in cases {
        let reply = test.json(Method::PATCH, token, path, body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{why}: {}",
            reply.text
        );
    }
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    assert_eq!(test.sim.member(GUILD, OWNER).and_then(|m| m.nick), None);

    // Nickname changes for members below the bot, and for itself, work.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/900",
        json!({ "nick": "Roster Bot" }),
    )
    .await
    .ok();
    test.json(
        Method::PATCH,
        ADMIN_TOKEN,
        "/guilds/1000/members/12",
        json!({ "nick": "Mod" }),
    )
    .await
    .ok();

    let form_cases = [
        (
            json!({ "nick": "x".repeat(33) }),
            vec!["nick"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (json!({ "nick": 5 }), vec!["nick"], "BASE_TYPE_STRING"),
        (json!({ "roles": "1001" }), vec!["roles"], "BASE_TYPE_ARRAY"),
        (
            json!({ "roles": ["1001", "1001"] }),
            vec!["roles", "1"],
            "SET_TYPE_ALREADY_CONTAINS_VALUE",
        ),
        (
            json!({ "roles": ["one"] }),
            vec!["roles", "0"],
            "NUMBER_TYPE_COERCE",
        ),
        (
            json!({ "mute": true }),
            vec!["mute"],
            "UNSUPPORTED_BY_SIMULATOR",
        ),
        (
            json!({ "communication_disabled_until": "2030-01-01T00:00:00+00:00" }),
            vec!["communication_disabled_until"],
            "UNSUPPORTED_BY_SIMULATOR",
        ),
    ];
    for (body, field, code) in form_cases {
        let reply = test.json(Method::PATCH, TOKEN, path, body.clone()).await;
        reply.expect(400, 50035);
        assert_eq!(reply.body["message"], "Invalid Form Body");
        assert_eq!(
            reply.field_error(&field),
            Some(code),
            "{body}: {}",
            reply.text
        );
    }
    let reply = test.json(Method::PATCH, TOKEN, path, json!(["nick"])).await;
    reply.expect(400, 50035);
    assert_eq!(reply.field_error(&[]), Some("DICT_TYPE_CONVERT"));
    test.stop().await;
}
