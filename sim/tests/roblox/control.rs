//! The simulator's own side: the request log, the `/_sim` control API, seed validation, and many
//! requests at once.

use super::*;

#[tokio::test]
async fn request_log_records_every_request() {
    let test = TestSim::seeded().await;
    test.sim.clear_log();
    test.assign("officer-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();
    test.list(
        "member-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[("maxPageSize", "2")],
    )
    .await
    .ok();
    test.get("member-key", "/cloud/v2/nothing")
        .await
        .expect(404, "NOT_FOUND");
    test.control(Method::GET, "/_sim/log", None).await; // control calls are not logged

    let log = test.sim.log();
    assert_eq!(log.len(), 3);
    let assign = &log[0];
    assert_eq!(assign.method, "POST");
    assert_eq!(
        assign.path,
        format!("/cloud/v2/groups/{GROUP}/memberships/{PLAIN}:assignRole")
    );
    assert_eq!(assign.endpoint, Some(Endpoint::AssignRole));
    assert_eq!(assign.key_owner, Some(OFFICER_USER));
    assert_eq!(assign.status, 200);
    assert_eq!(assign.request_body, Some(json!({ "role": role(TRUSTED) })));
    assert!(assign.duration_ms >= 0.0);
    assert!(chrono::DateTime::parse_from_rfc3339(&assign.at).is_ok());
    assert_eq!(
        log[1].path,
        format!("/cloud/v2/groups/{GROUP}/memberships?maxPageSize=2")
    );
    assert_eq!(log[1].request_body, None);
    assert_eq!(
        (log[2].endpoint, log[2].status, log[2].key_owner),
        (None, 404, None)
    );
    assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));

    let since = test
        .control(
            Method::GET,
            &format!("/_sim/log?since={}", log[0].seq),
            None,
        )
        .await;
    let entries = since.body.as_array().expect("an array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["path"], log[1].path);
    assert_eq!(entries[1]["status"], 404);
    test.control(Method::DELETE, "/_sim/log", None).await;
    assert!(test.sim.log().is_empty());
    test.stop().await;
}

#[tokio::test]
async fn http_control_api_drives_everything() {
    let test = TestSim::start(RobloxSimConfig::default()).await;
    let seed = serde_json::to_value(main_group()).expect("seed serializes");
    assert_eq!(seed["ownerUserId"], 1);
    assert_eq!(
        test.control(Method::POST, "/_sim/groups", Some(seed))
            .await
            .status,
        204
    );
    let bad_seed =
        json!({ "id": 9, "name": "No roles", "ownerUserId": 1, "roles": [], "members": [] });
    let refused = test
        .control(Method::POST, "/_sim/groups", Some(bad_seed))
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("guest"))
    );

    let key = json!({ "key": "http-key", "ownerUserId": OFFICER_USER, "scopes": ["group:read", "group:write"] });
    assert_eq!(
        test.control(Method::POST, "/_sim/keys", Some(key))
            .await
            .status,
        204
    );
    test.assign("http-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();

    let member = test
        .control(
            Method::GET,
            &format!("/_sim/groups/{GROUP}/members/{PLAIN}"),
            None,
        )
        .await;
    assert_eq!(member.status, 200);
    assert_eq!(
        member.body,
        json!({ "userId": PLAIN, "roleIds": [MEMBER, TRUSTED], "rank": 10, "roleName": "Trusted" })
    );
    let set = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [OFFICER] })),
        )
        .await;
    assert_eq!((set.status, set.body["rank"].as_u64()), (200, Some(50)));
    let removed = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [] })),
        )
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        test.control(
            Method::GET,
            &format!("/_sim/groups/{GROUP}/members/500"),
            None
        )
        .await
        .status,
        404
    );
    let guest = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [GUEST] })),
        )
        .await;
    assert_eq!(guest.status, 400);
    let no_group = test
        .control(
            Method::PUT,
            "/_sim/groups/77/members/500",
            Some(json!({ "roleIds": [1] })),
        )
        .await;
    assert_eq!(no_group.status, 404);

    let rule = json!({ "endpoint": "getGroup", "action": { "type": "status", "status": 503 }, "times": 1 });
    let added = test.control(Method::POST, "/_sim/faults", Some(rule)).await;
    assert!(added.body["id"].as_u64().is_some());
    test.get("http-key", "/cloud/v2/groups/7")
        .await
        .expect(503, "UNAVAILABLE");
    test.get("http-key", "/cloud/v2/groups/7").await.ok();
    let rule = json!({ "action": { "type": "rateLimit", "retryAfterSecs": 2 } });
    test.control(Method::POST, "/_sim/faults", Some(rule)).await;
    let limited = test.get("http-key", "/cloud/v2/groups/7").await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_eq!(
        test.control(Method::DELETE, "/_sim/faults", None)
            .await
            .status,
        204
    );
    test.get("http-key", "/cloud/v2/groups/7").await.ok();
    let bad_rule = json!({ "action": { "type": "explode" } });
    assert_eq!(
        test.control(Method::POST, "/_sim/faults", Some(bad_rule))
            .await
            .status,
        400
    );

    let patch = json!({
        "latencyMs": 5,
        "retryAfterOn429": true,
        "endOfList": "omitted",
        "emptyLastPage": false,
        "rateLimitWindowMs": 120000,
        "rateLimitSecondWindowMs": 2000,
        "rateLimitsEnabled": true,
        "userRestrictionLimitsEnabled": false,
        "rateLimitOverrides": { "getRole": 1, "updateUserRestriction": 7 }
    });
    let config = test
        .control(Method::PATCH, "/_sim/config", Some(patch.clone()))
        .await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body, patch);
    assert_eq!(
        test.control(Method::GET, "/_sim/config", None).await.body,
        patch
    );
    let role_path = format!("/cloud/v2/groups/{GROUP}/roles/{MEMBER}");
    let first = test.get("http-key", &role_path).await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("1, 1;w=120"));
    let limited = test.get("http-key", &role_path).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_some());
    let list = test
        .list(
            "http-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[("maxPageSize", "100")],
        )
        .await;
    assert!(list.ok().get("nextPageToken").is_none());
    for bad in [
        json!({ "latency": 5 }),
        json!({ "endOfList": "never" }),
        json!({ "rateLimitWindowMs": 0 }),
        json!({ "rateLimitSecondWindowMs": 0 }),
        json!({ "rateLimitOverrides": { "banEveryone": 1 } }),
    ] {
        assert_eq!(
            test.control(Method::PATCH, "/_sim/config", Some(bad))
                .await
                .status,
            400
        );
    }

    assert_eq!(
        test.control(Method::GET, "/_sim/nothing", None)
            .await
            .status,
        404
    );
    assert_eq!(
        test.control(Method::DELETE, "/_sim/groups", None)
            .await
            .status,
        405
    );
    assert!(
        test.sim
            .log()
            .iter()
            .all(|entry| entry.path.starts_with("/cloud/v2/"))
    );
    test.stop().await;
}

#[test]
fn seeds_are_validated() {
    let sim = RobloxSim::new(RobloxSimConfig::default());
    let mut no_owner_role = main_group();
    no_owner_role.roles.retain(|role| role.rank != 255);
    assert!(sim.seed_group(no_owner_role).is_err());
    let mut no_guest = main_group();
    no_guest.roles.retain(|role| role.rank != 0);
    assert!(sim.seed_group(no_guest).is_err());
    let mut duplicate_rank = main_group();
    duplicate_rank
        .roles
        .push(role_seed(999, "Also officer", 50, false));
    assert!(sim.seed_group(duplicate_rank).is_err());
    let mut owner_role_member = main_group();
    owner_role_member
        .members
        .push(member_seed(77, &[OWNER_ROLE]));
    assert!(sim.seed_group(owner_role_member).is_err());
    let mut unknown_role = main_group();
    unknown_role.members.push(member_seed(77, &[12345]));
    assert!(sim.seed_group(unknown_role).is_err());

    sim.seed_group(main_group()).expect("valid seed");
    let owner = sim.member(GROUP, OWNER).expect("the owner is a member");
    assert_eq!((owner.role_ids, owner.rank), (vec![OWNER_ROLE], 255));
    assert!(sim.set_member_roles(GROUP, OWNER, &[]).is_err());
    assert!(sim.set_member_roles(GROUP, PLAIN, &[GUEST]).is_err());
    assert!(sim.set_member_roles(77, PLAIN, &[MEMBER]).is_err());
    sim.set_member_roles(GROUP, PLAIN, &[]).expect("removal");
    assert!(sim.member(GROUP, PLAIN).is_none());
}

#[tokio::test]
async fn many_concurrent_requests() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let client = test.client.clone();
        let base = test.base.clone();
        tasks.push(tokio::spawn(async move {
            let (method, path, body) = if n % 4 == 0 {
                let role = if n % 8 == 0 { TRUSTED } else { MEMBER };
                (
                    Method::POST,
                    format!("/cloud/v2/groups/{GROUP}/memberships/{MULTI}:assignRole"),
                    Some(json!({ "role": format!("groups/{GROUP}/roles/{role}") })),
                )
            } else {
                (
                    Method::GET,
                    format!("/cloud/v2/groups/{GROUP}/memberships"),
                    None,
                )
            };
            let mut request = client
                .request(method, format!("{base}{path}"))
                .header("x-api-key", "owner-key");
            if let Some(body) = body {
                request = request.json(&body);
            }
            request
                .send()
                .await
                .map(|response| response.status().as_u16())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("answered"), 200);
    }
    assert_eq!(test.sim.log().len(), 200);
    test.stop().await;
}
