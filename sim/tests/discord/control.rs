//! The simulator's own side: the request log and the `/_sim` control API.

use super::*;

#[tokio::test]
async fn the_request_log_records_every_api_request() {
    let test = TestSim::seeded().await;
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/10",
        json!({ "nick": "Logged" }),
    )
    .await
    .ok();
    test.get(TOKEN, "/guilds/4000/members?limit=2").await.ok();
    test.control(Method::GET, "/_sim/config", None).await.ok();
    let log = test.sim.log();
    assert_eq!(log.len(), 2, "control requests are not logged");
    assert_eq!(log[0].method, "PATCH");
    assert_eq!(log[0].route, Some(Route::ModifyMember));
    assert_eq!(log[0].request_body, Some(json!({ "nick": "Logged" })));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].path, "/api/v10/guilds/4000/members?limit=2");
    assert!(log[1].seq > log[0].seq);
    assert!(log[0].at.ends_with('Z'));
    let since = test
        .control(
            Method::GET,
            &format!("/_sim/log?since={}", log[0].seq),
            None,
        )
        .await;
    assert_eq!(since.ok().as_array().map(Vec::len), Some(1));
    assert_eq!(since.body[0]["route"], "listMembers");
    assert_eq!(since.body[0]["botUserId"], 900);
    test.sim.clear_log();
    assert!(test.sim.log().is_empty());
    test.stop().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let test = TestSim::start(DiscordSimConfig::default()).await;
    test.control(
        Method::POST,
        "/_sim/bots",
        Some(json!({ "token": "t", "userId": 900, "username": "roster", "membersIntent": true })),
    )
    .await
    .no_content();
    let seed = json!({
        "id": 1000, "name": "Over HTTP", "ownerId": 1,
        "roles": [
            { "id": 1001, "name": "Member", "position": 1, "permissions": 0 },
            { "id": 1005, "name": "Roster", "position": 5, "permissions": MANAGE_ROLES | BAN_MEMBERS, "managed": true }
        ],
        "members": [
            { "userId": 1, "username": "owner" },
            { "userId": 900, "username": "roster", "roles": [1005], "bot": true },
            { "userId": 10, "username": "plain", "roles": [1001], "dmsOpen": false }
        ]
    });
    test.control(Method::POST, "/_sim/guilds", Some(seed.clone()))
        .await
        .no_content();
    let mut invalid = seed.clone();
    invalid["roles"][1]["position"] = json!(1);
    assert_eq!(
        test.control(Method::POST, "/_sim/guilds", Some(invalid))
            .await
            .status,
        400
    );
    let mut unknown_field = seed;
    unknown_field["colour"] = json!(1);
    assert_eq!(
        test.control(Method::POST, "/_sim/guilds", Some(unknown_field))
            .await
            .status,
        400
    );

    let snapshot = test
        .control(Method::GET, "/_sim/guilds/1000/members/10", None)
        .await;
    assert_eq!(
        snapshot.ok(),
        &json!({ "userId": 10, "roles": [1001], "nick": null })
    );
    let added = test
        .control(
            Method::PUT,
            "/_sim/guilds/1000/members/11",
            Some(json!({ "userId": 11, "username": "newcomer", "nick": "New" })),
        )
        .await;
    assert_eq!(
        added.ok(),
        &json!({ "userId": 11, "roles": [], "nick": "New" })
    );
    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/guilds/1000/members/11",
            Some(json!({ "userId": 12, "username": "mismatch" }))
        )
        .await
        .status,
        400
    );
    let roles = test
        .control(
            Method::PUT,
            "/_sim/guilds/1000/members/11/roles",
            Some(json!({ "roleIds": [1001] })),
        )
        .await;
    assert_eq!(roles.ok()["roles"], json!([1001]));
    let status = |reply: Reply| reply.status;
    assert_eq!(
        status(
            test.control(
                Method::PUT,
                "/_sim/guilds/1000/members/11/roles",
                Some(json!({ "roleIds": [1000] }))
            )
            .await
        ),
        400,
        "@everyone is not assignable"
    );
    assert_eq!(
        status(
            test.control(
                Method::PUT,
                "/_sim/guilds/1000/members/99/roles",
                Some(json!({ "roleIds": [] }))
            )
            .await
        ),
        404
    );
    test.control(Method::DELETE, "/_sim/guilds/1000/members/11", None)
        .await
        .no_content();
    assert_eq!(
        status(
            test.control(Method::GET, "/_sim/guilds/1000/members/11", None)
                .await
        ),
        404
    );

    // The API sees what the control API set up.
    let reply = test
        .send(
            test.request(Method::PUT, &api("/guilds/1000/bans/10"), Some("t"))
                .header("x-audit-log-reason", "Raid"),
        )
        .await;
    reply.no_content();
    let bans = test
        .control(Method::GET, "/_sim/guilds/1000/bans", None)
        .await;
    assert_eq!(bans.ok(), &json!([{ "userId": 10, "reason": "Raid" }]));

    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/users/10/dms",
            Some(json!({ "open": true }))
        )
        .await
        .status,
        204
    );
    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/users/77/dms",
            Some(json!({ "open": true }))
        )
        .await
        .status,
        404
    );
    let dms = test.control(Method::GET, "/_sim/users/10/dms", None).await;
    assert_eq!(dms.ok(), &json!([]));

    let bad_fault = json!({ "action": { "type": "status", "status": 200 } });
    assert_eq!(
        test.control(Method::POST, "/_sim/faults", Some(bad_fault))
            .await
            .status,
        400
    );
    let fault = json!({ "route": "getCurrentUser", "action": { "type": "status", "status": 502 }, "times": 1 });
    let added = test
        .control(Method::POST, "/_sim/faults", Some(fault))
        .await;
    assert!(added.ok()["id"].is_u64());
    assert_eq!(
        test.send(test.request(Method::GET, &api("/users/@me"), Some("t")))
            .await
            .status,
        502
    );
    test.control(Method::DELETE, "/_sim/faults", None)
        .await
        .no_content();

    let config = test.control(Method::GET, "/_sim/config", None).await;
    let config = config.ok();
    assert_eq!(config["globalLimitPerSec"], 50);
    assert_eq!(config["invalidRequestLimit"], 10_000);
    assert_eq!(config["invalidRequestWindowMs"], 600_000);
    assert_eq!(config["scopeOnEveryResponse"], false);
    assert_eq!(
        config["routeLimits"]["addMemberRole"],
        json!({ "limit": 10, "windowMs": 10_000, "kind": "fixed", "bucket": MEMBER_ROLE_BUCKET })
    );
    assert_eq!(config["routeLimits"]["getMember"]["kind"], "sliding");
    assert_eq!(config["routeLimits"].as_object().map(|m| m.len()), Some(13));
    let patched = test
        .control(
            Method::PATCH,
            "/_sim/config",
            Some(json!({ "globalLimitPerSec": 5, "routeLimits": {
                "getCurrentUser": { "limit": 7, "windowMs": 1000, "kind": "fixed", "bucket": "me" } } })),
        )
        .await;
    assert_eq!(patched.ok()["routeLimits"]["getCurrentUser"]["limit"], 7);
    assert_eq!(
        patched.body["routeLimits"]["getMember"]["limit"], 5,
        "other routes kept"
    );
    let me = test
        .send(test.request(Method::GET, &api("/users/@me"), Some("t")))
        .await;
    assert_eq!(me.header("x-ratelimit-limit"), Some("7"));
    assert_eq!(me.header("x-ratelimit-bucket"), Some("me"));
    for bad in [
        json!({ "globalLimitPerSec": 0 }),
        json!({ "routeLimits": { "getMember": { "limit": 0, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "routeLimits": { "getMember": { "limit": 70000, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "routeLimits": { "noSuchRoute": { "limit": 1, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "latency": 5 }),
    ] {
        assert_eq!(
            test.control(Method::PATCH, "/_sim/config", Some(bad.clone()))
                .await
                .status,
            400,
            "{bad}"
        );
    }
    // Control requests are never rate limited or logged.
    for _ in 0..10 {
        test.control(Method::GET, "/_sim/config", None).await.ok();
    }
    assert_eq!(
        test.control(Method::GET, "/_sim/nothing", None)
            .await
            .status,
        404
    );
    assert_eq!(
        test.control(Method::POST, "/_sim/config", None)
            .await
            .status,
        405
    );
    let log = test.control(Method::GET, "/_sim/log", None).await;
    assert_eq!(log.ok().as_array().map(Vec::len), Some(3));
    test.control(Method::DELETE, "/_sim/log", None)
        .await
        .no_content();
    assert!(test.sim.log().is_empty());
    test.stop().await;
}
