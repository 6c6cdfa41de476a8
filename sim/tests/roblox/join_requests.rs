//! Group join requests: listing (pages, filter, tokens), accepting and declining, who may, the bodies, the
//! 100-a-minute limit, routing, and seeding them in-process and over `/_sim`.

use super::*;

/// First user id of the requesters these tests seed (none of them is a member of any seeded group).
const REQUESTER: u64 = 3000;

/// Seeds requests from users `REQUESTER + 1 ..= REQUESTER + count` to `group`; returns their ids in order.
fn seed_requesters(sim: &RobloxSim, group: u64, count: u64) -> Vec<String> {
    (1..=count)
        .map(|n| seed_join_request(sim, group, REQUESTER + n))
        .collect()
}

/// The id at the end of a `GroupJoinRequest`'s `path` (`groups/G/join-requests/ID`).
fn id_of(request: &Value) -> String {
    let path = request["path"].as_str().expect("path");
    let (parent, id) = path.rsplit_once('/').expect("a resource path");
    assert!(parent.starts_with("groups/") && parent.ends_with("/join-requests"));
    id.to_owned()
}

fn users_requesting(body: &Value) -> Vec<String> {
    items(body, "groupJoinRequests")
        .iter()
        .map(|request| request["user"].as_str().expect("user").to_owned())
        .collect()
}

#[tokio::test]
async fn join_requests_are_listed_in_order_with_opaque_ids() {
    let test = TestSim::seeded().await;
    let ids = seed_requesters(&test.sim, GROUP, 3);
    let reply = test
        .list("owner-key", &join_requests_path(GROUP), &[])
        .await;
    let body = reply.ok();
    assert_eq!(reply.header("x-ratelimit-limit"), Some("300, 300;w=60"));
    assert_eq!(body["nextPageToken"], "");
    let listed = items(body, "groupJoinRequests");
    assert_eq!(listed.len(), 3);
    for (n, (request, id)) in listed.iter().zip(&ids).enumerate() {
        let user = REQUESTER + 1 + n as u64;
        assert_eq!(
            request["path"],
            format!("groups/{GROUP}/join-requests/{id}")
        );
        assert_eq!(request["user"], format!("users/{user}"));
        assert_ne!(
            id_of(request),
            user.to_string(),
            "the id is not the user id"
        );
        let created = request["createTime"].as_str().expect("createTime");
        assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
    }
    let snapshot = test.sim.join_requests(GROUP);
    assert_eq!(
        snapshot
            .iter()
            .map(|request| (request.id.clone(), request.user_id))
            .collect::<Vec<_>>(),
        ids.iter()
            .cloned()
            .zip(REQUESTER + 1..=REQUESTER + 3)
            .collect::<Vec<_>>()
    );
    // Another group has its own (empty) list.
    test.sim
        .add_api_key("other-owner-key", 50, &["group:read", "group:write"]);
    let other = test
        .list("other-owner-key", &join_requests_path(OTHER_GROUP), &[])
        .await;
    assert_eq!(other.ok()["groupJoinRequests"], json!([]));
    test.stop().await;
}

#[tokio::test]
async fn join_request_pages_are_clamped_complete_and_end_cleanly() {
    let test = TestSim::seeded().await;
    test.sim.seed_group(big_group(9, 0)).expect("valid seed");
    let path = join_requests_path(9);
    let ids = seed_requesters(&test.sim, 9, 25);

    let default = test.list("owner-key", &path, &[]).await;
    assert_eq!(items(default.ok(), "groupJoinRequests").len(), 10);
    let clamped = test
        .list("owner-key", &path, &[("maxPageSize", "100")])
        .await;
    assert_eq!(items(clamped.ok(), "groupJoinRequests").len(), 20);
    for bad in ["-1", "ten", "99999999999"] {
        test.list("owner-key", &path, &[("maxPageSize", bad)])
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    test.list("owner-key", &path, &[("pageSize", "5")])
        .await
        .expect(400, "INVALID_ARGUMENT");

    let (all, pages) = walk(
        &test,
        "owner-key",
        &path,
        "groupJoinRequests",
        &[("maxPageSize", "100")],
    )
    .await;
    assert_eq!((all.len(), pages), (25, 2));
    assert_eq!(all.iter().map(id_of).collect::<Vec<_>>(), ids, "in order");

    // 20 requests in pages of 10: two full pages, then an empty one; or two pages without it.
    for user in REQUESTER + 21..=REQUESTER + 25 {
        test.sim
            .set_member_roles(9, user, &[301])
            .expect("made a member");
    }
    assert_eq!(
        test.sim.join_requests(9).len(),
        20,
        "members never have a request"
    );
    let (all, pages) = walk(&test, "owner-key", &path, "groupJoinRequests", &[]).await;
    assert_eq!((all.len(), pages), (20, 3));
    test.sim
        .update_config(|config| config.empty_last_page = false);
    let (all, pages) = walk(&test, "owner-key", &path, "groupJoinRequests", &[]).await;
    assert_eq!((all.len(), pages), (20, 2));
    test.sim
        .update_config(|config| config.end_of_list = EndOfList::Omitted);
    let last = test
        .list("owner-key", &path, &[("maxPageSize", "20")])
        .await;
    assert!(last.ok().get("nextPageToken").is_none(), "{}", last.body);
    test.stop().await;
}

#[tokio::test]
async fn join_requests_filter_on_one_user_only() {
    let test = TestSim::seeded().await;
    let ids = seed_requesters(&test.sim, GROUP, 5);
    let path = join_requests_path(GROUP);
    let third = REQUESTER + 3;
    let filter = format!("user == 'users/{third}'");
    let one = test.list("admin-key", &path, &[("filter", &filter)]).await;
    let body = one.ok();
    assert_eq!(users_requesting(body), vec![format!("users/{third}")]);
    assert_eq!(id_of(&body["groupJoinRequests"][0]), ids[2]);
    let spaced = test
        .list(
            "admin-key",
            &path,
            &[("filter", &format!("user==\"users/{third}\""))],
        )
        .await;
    assert_eq!(
        users_requesting(spaced.ok()),
        vec![format!("users/{third}")]
    );
    // A member, or anyone without a request, is an empty page.
    let nobody = test
        .list(
            "admin-key",
            &path,
            &[("filter", &format!("user == 'users/{PLAIN}'"))],
        )
        .await;
    assert_eq!(
        nobody.ok(),
        &json!({ "groupJoinRequests": [], "nextPageToken": "" })
    );
    // An empty filter is no filter.
    let unfiltered = test.list("admin-key", &path, &[("filter", "")]).await;
    assert_eq!(items(unfiltered.ok(), "groupJoinRequests").len(), 5);
    for bad in [
        format!("user != 'users/{third}'"),
        format!("user in ['users/{third}']"),
        format!("role == '{}'", role(MEMBER)),
        format!("user == 'users/{third}' && user == 'users/{third}'"),
        "user == 'users/abc'".to_owned(),
        "createTime > '2020-01-01T00:00:00Z'".to_owned(),
        "user".to_owned(),
    ] {
        test.list("admin-key", &path, &[("filter", &bad)])
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    test.stop().await;
}

#[tokio::test]
async fn join_request_page_tokens_are_bound_to_their_query() {
    let test = TestSim::seeded().await;
    seed_requesters(&test.sim, GROUP, 3);
    let path = join_requests_path(GROUP);
    let filter = format!("user == 'users/{}'", REQUESTER + 1);
    let first = test
        .list(
            "owner-key",
            &path,
            &[("maxPageSize", "1"), ("filter", &filter)],
        )
        .await;
    let token = first.ok()["nextPageToken"]
        .as_str()
        .expect("a token: the filtered page is full")
        .to_owned();
    assert!(!token.is_empty());
    let second = test
        .list(
            "owner-key",
            &path,
            &[
                ("maxPageSize", "1"),
                ("filter", &filter),
                ("pageToken", &token),
            ],
        )
        .await;
    assert_eq!(
        second.ok(),
        &json!({ "groupJoinRequests": [], "nextPageToken": "" })
    );
    let other_filter = format!("user == 'users/{}'", REQUESTER + 2);
    for query in [
        vec![
            ("maxPageSize", "1"),
            ("filter", other_filter.as_str()),
            ("pageToken", token.as_str()),
        ],
        vec![("maxPageSize", "1"), ("pageToken", token.as_str())],
        vec![
            ("maxPageSize", "2"),
            ("filter", filter.as_str()),
            ("pageToken", token.as_str()),
        ],
        vec![
            ("maxPageSize", "1"),
            ("filter", filter.as_str()),
            ("pageToken", "garbage"),
        ],
    ] {
        test.list("owner-key", &path, &query)
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    // Nor does a memberships token open a join-request page, or the other way round.
    let members = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[("maxPageSize", "1")],
        )
        .await;
    let members_token = members.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    test.list(
        "owner-key",
        &path,
        &[("maxPageSize", "1"), ("pageToken", &members_token)],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.list(
        "owner-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[("maxPageSize", "1"), ("pageToken", &token)],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}

#[tokio::test]
async fn accepting_adds_the_user_at_the_lowest_ordinary_rank() {
    let test = TestSim::seeded().await;
    let ids = seed_requesters(&test.sim, GROUP, 2);
    let user = REQUESTER + 1;
    let accepted = test.accept("admin-key", &ids[0]).await;
    assert_eq!(accepted.ok(), &json!({}));
    assert_eq!(accepted.header("content-type"), Some("application/json"));
    assert_eq!(accepted.header("x-ratelimit-limit"), Some("100, 100;w=60"));
    let member = test.sim.member(GROUP, user).expect("now a member");
    assert_eq!(
        (member.role_ids, member.rank, member.role_name.as_str()),
        (vec![MEMBER], 1, "Member")
    );
    let remaining = test.sim.join_requests(GROUP);
    assert_eq!(
        remaining.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        vec![REQUESTER + 2]
    );
    // The new member shows in the memberships list, the request no longer in the join requests.
    let membership = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[("filter", &format!("user == 'users/{user}'"))],
        )
        .await;
    assert_eq!(membership.ok()["groupMemberships"][0]["role"], role(MEMBER));
    let listed = test
        .list("owner-key", &join_requests_path(GROUP), &[])
        .await;
    assert_eq!(
        users_requesting(listed.ok()),
        vec![format!("users/{}", REQUESTER + 2)]
    );

    // A handled request is gone: accepting or declining it again is 404, naming it.
    let again = test.accept("admin-key", &ids[0]).await;
    again.expect(404, "NOT_FOUND");
    assert!(
        again.body["message"]
            .as_str()
            .is_some_and(|message| message.contains(&ids[0])),
        "{}",
        again.body
    );
    test.decline("admin-key", &ids[0])
        .await
        .expect(404, "NOT_FOUND");
    // The user id is not the request id; nor is anything made up.
    let second_user = (REQUESTER + 2).to_string();
    for wrong in [second_user.as_str(), "0", "abc", "1000000000999"] {
        test.accept("admin-key", wrong)
            .await
            .expect(404, "NOT_FOUND");
    }
    assert_eq!(test.sim.join_requests(GROUP).len(), 1);
    assert!(test.sim.member(GROUP, REQUESTER + 2).is_none());

    // "Lowest" is by rank, not by role id or seed order.
    let mut seed = big_group(9, 0);
    seed.roles = vec![
        role_seed(900, "Guest", 0, false),
        role_seed(901, "Veteran", 20, false),
        role_seed(902, "Recruit", 5, false),
        role_seed(903, "Owner", 255, false),
    ];
    test.sim.seed_group(seed).expect("valid seed");
    let id = seed_join_request(&test.sim, 9, user);
    test.decide("owner-key", 9, &id, "accept", Some(Body::Json(json!({}))))
        .await
        .ok();
    let member = test.sim.member(9, user).expect("now a member");
    assert_eq!((member.role_ids, member.rank), (vec![902], 5));
    test.stop().await;
}

#[tokio::test]
async fn declining_removes_the_request_only() {
    let test = TestSim::seeded().await;
    let ids = seed_requesters(&test.sim, GROUP, 2);
    let declined = test.decline("owner-key", &ids[1]).await;
    assert_eq!(declined.ok(), &json!({}));
    assert_eq!(declined.header("x-ratelimit-limit"), Some("100, 100;w=60"));
    assert!(test.sim.member(GROUP, REQUESTER + 2).is_none());
    assert_eq!(
        test.sim
            .join_requests(GROUP)
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        vec![ids[0].clone()]
    );
    test.accept("owner-key", &ids[1])
        .await
        .expect(404, "NOT_FOUND");
    test.decline("owner-key", &ids[1])
        .await
        .expect(404, "NOT_FOUND");
    // The user may ask again; the new request has a new id.
    let again = seed_join_request(&test.sim, GROUP, REQUESTER + 2);
    assert_ne!(again, ids[1]);
    test.decline("owner-key", &again).await.ok();
    // A request of another group is not found through this one.
    let elsewhere = seed_join_request(&test.sim, OTHER_GROUP, REQUESTER + 5);
    test.decline("owner-key", &elsewhere)
        .await
        .expect(404, "NOT_FOUND");
    assert_eq!(test.sim.join_requests(OTHER_GROUP).len(), 1);
    test.stop().await;
}

#[tokio::test]
async fn accept_and_decline_take_exactly_an_empty_object() {
    let test = TestSim::seeded().await;
    let id = seed_join_request(&test.sim, GROUP, REQUESTER + 1);
    for verb in ["accept", "decline"] {
        for body in [
            None,
            Some(Body::Raw("")),
            Some(Body::Raw("  ")),
            Some(Body::Raw("not json")),
            Some(Body::Raw("[]")),
            Some(Body::Raw("null")),
            Some(Body::Json(
                json!({ "user": format!("users/{}", REQUESTER + 1) }),
            )),
            Some(Body::Json(
                json!({ "path": format!("groups/{GROUP}/join-requests/{id}") }),
            )),
        ] {
            test.decide("owner-key", GROUP, &id, verb, body)
                .await
                .expect(400, "INVALID_ARGUMENT");
        }
        let with_query = format!("{}/{id}:{verb}", join_requests_path(GROUP));
        test.call(
            Method::POST,
            &with_query,
            Some("owner-key"),
            &[("validateOnly", "true")],
            Some(Body::Json(json!({}))),
        )
        .await
        .expect(400, "INVALID_ARGUMENT");
    }
    assert_eq!(test.sim.join_requests(GROUP).len(), 1, "still pending");
    assert!(test.sim.member(GROUP, REQUESTER + 1).is_none());
    test.stop().await;
}

#[tokio::test]
async fn only_the_owner_and_accept_requests_roles_may_handle_requests() {
    let test = TestSim::seeded().await;
    let id = seed_join_request(&test.sim, GROUP, REQUESTER + 1);
    let path = join_requests_path(GROUP);
    // changeRank is not enough; a plain member or an outsider has nothing.
    for key in ["officer-key", "member-key", "outsider-key"] {
        let listed = test.list(key, &path, &[]).await;
        listed.expect(403, "PERMISSION_DENIED");
        test.accept(key, &id).await.expect(403, "PERMISSION_DENIED");
        test.decline(key, &id)
            .await
            .expect(403, "PERMISSION_DENIED");
    }
    let refused = test.accept("officer-key", &id).await;
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|message| message.contains("acceptRequests")),
        "{}",
        refused.body
    );
    // The permission is checked before the request is looked up.
    test.accept("officer-key", "1000000000999")
        .await
        .expect(403, "PERMISSION_DENIED");
    assert_eq!(test.sim.join_requests(GROUP).len(), 1);

    // Scopes: listing needs group:read, accept and decline group:write.
    test.sim
        .add_api_key("owner-write-key", OWNER, &["group:write"]);
    test.sim
        .add_api_key("owner-read-key", OWNER, &["group:read"]);
    let unscoped = test.list("owner-write-key", &path, &[]).await;
    unscoped.expect(403, "PERMISSION_DENIED");
    assert!(
        unscoped.body["message"]
            .as_str()
            .is_some_and(|message| message.contains("group:read"))
    );
    test.accept("owner-read-key", &id)
        .await
        .expect(403, "PERMISSION_DENIED");
    test.decline("owner-read-key", &id)
        .await
        .expect(403, "PERMISSION_DENIED");
    test.list("owner-read-key", &path, &[]).await.ok();

    // Unknown group, malformed group id.
    test.list("owner-key", &join_requests_path(77), &[])
        .await
        .expect(404, "NOT_FOUND");
    test.decide("owner-key", 77, &id, "accept", Some(Body::Json(json!({}))))
        .await
        .expect(404, "NOT_FOUND");
    test.list("owner-key", "/cloud/v2/groups/x/join-requests", &[])
        .await
        .expect(400, "INVALID_ARGUMENT");

    // The admin role has acceptRequests, and the role JSON says so.
    let roles = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/roles"),
            &[("maxPageSize", "20")],
        )
        .await;
    let accept_requests: HashMap<String, bool> = items(roles.ok(), "groupRoles")
        .iter()
        .map(|role| {
            (
                role["displayName"].as_str().expect("name").to_owned(),
                role["permissions"]["acceptRequests"]
                    .as_bool()
                    .expect("permissions shown to the owner"),
            )
        })
        .collect();
    let granted: BTreeSet<&str> = accept_requests
        .iter()
        .filter(|(_, granted)| **granted)
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(granted, BTreeSet::from(["Admin", "Owner"]));
    test.list("admin-key", &path, &[]).await.ok();
    test.accept("admin-key", &id).await.ok();
    assert!(test.sim.member(GROUP, REQUESTER + 1).is_some());
    test.stop().await;
}

#[tokio::test]
async fn accept_is_limited_to_100_a_minute_per_key_owner() {
    let test = TestSim::seeded().await;
    test.sim.seed_group(big_group(9, 0)).expect("valid seed");
    let ids = seed_requesters(&test.sim, 9, 103);
    let empty = || Some(Body::Json(json!({})));
    for (n, id) in ids[..100].iter().enumerate() {
        let reply = test.decide("owner-key", 9, id, "accept", empty()).await;
        reply.ok();
        assert_eq!(reply.header("x-ratelimit-limit"), Some("100, 100;w=60"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some((99 - n).to_string().as_str())
        );
    }
    let limited = test
        .decide("owner-key", 9, &ids[100], "accept", empty())
        .await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    // Refused before it was applied; another key of the same owner shares the quota.
    assert_eq!(test.sim.join_requests(9).len(), 3);
    test.decide("owner-key-2", 9, &ids[100], "accept", empty())
        .await
        .expect(429, "RESOURCE_EXHAUSTED");
    // Decline and list have quotas of their own.
    let declined = test
        .decide("owner-key", 9, &ids[101], "decline", empty())
        .await;
    declined.ok();
    assert_eq!(declined.header("x-ratelimit-remaining"), Some("99"));
    test.list("owner-key", &join_requests_path(9), &[])
        .await
        .ok();
    assert_eq!(test.sim.join_requests(9).len(), 2);
    test.stop().await;
}

#[tokio::test]
async fn join_request_routes_answer_405_and_404() {
    let test = TestSim::seeded().await;
    let id = seed_join_request(&test.sim, GROUP, REQUESTER + 1);
    let base = join_requests_path(GROUP);
    let wrong = test
        .call(
            Method::GET,
            &format!("{base}/{id}:accept"),
            Some("owner-key"),
            &[],
            None,
        )
        .await;
    wrong.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong.header("allow"), Some("POST"));
    let wrong = test
        .call(
            Method::DELETE,
            &format!("{base}/{id}:decline"),
            Some("owner-key"),
            &[],
            None,
        )
        .await;
    wrong.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong.header("allow"), Some("POST"));
    let wrong = test
        .call(
            Method::POST,
            &base,
            Some("owner-key"),
            &[],
            Some(Body::Json(json!({}))),
        )
        .await;
    wrong.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong.header("allow"), Some("GET"));
    for (method, path) in [
        (Method::POST, format!("{base}/{id}:approve")),
        (Method::GET, format!("{base}/{id}")),
        (Method::DELETE, format!("{base}/{id}")),
        (Method::POST, format!("{base}:accept")),
    ] {
        test.call(
            method,
            &path,
            Some("owner-key"),
            &[],
            Some(Body::Json(json!({}))),
        )
        .await
        .expect(404, "NOT_FOUND");
    }
    // Routing comes before authentication, and every request is logged with its operation.
    let log = test.sim.log();
    assert_eq!(log.len(), 7);
    assert!(log.iter().all(|entry| entry.endpoint.is_none()));
    test.accept("owner-key", &id).await.ok();
    let last = test.sim.log().pop().expect("logged");
    assert_eq!(last.endpoint, Some(Endpoint::AcceptJoinRequest));
    assert_eq!(last.request_body, Some(json!({})));
    test.stop().await;
}

#[test]
fn join_request_seeds_are_validated() {
    let sim = RobloxSim::new(RobloxSimConfig::default());
    sim.seed_group(main_group()).expect("valid seed");
    let id = sim
        .seed_join_request(GROUP, REQUESTER + 1)
        .expect("a new request");
    assert!(id.len() > 10 && id.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        sim.seed_join_request(GROUP, REQUESTER + 1).is_err(),
        "one per user"
    );
    assert!(
        sim.seed_join_request(GROUP, PLAIN).is_err(),
        "members cannot ask"
    );
    assert!(sim.seed_join_request(GROUP, OWNER).is_err());
    assert!(sim.seed_join_request(GROUP, 0).is_err());
    assert!(sim.seed_join_request(77, REQUESTER + 1).is_err());
    assert!(sim.join_requests(77).is_empty());
    // A group whose only roles are guest and owner has nothing to give a new member.
    let mut bare = big_group(9, 0);
    bare.roles.retain(|role| role.rank == 0 || role.rank == 255);
    sim.seed_group(bare).expect("valid seed");
    assert!(sim.seed_join_request(9, REQUESTER + 1).is_err());
    // The guest role cannot have acceptRequests.
    let mut guest_accepts = main_group();
    guest_accepts.roles[0].accept_requests = true;
    assert!(sim.seed_group(guest_accepts).is_err());
    // Becoming a member by other means withdraws the request.
    sim.set_member_roles(GROUP, REQUESTER + 1, &[MEMBER])
        .expect("made a member");
    assert_eq!(sim.join_requests(GROUP), Vec::<JoinRequestSnapshot>::new());
    // Ids are never reused.
    let next = sim
        .seed_join_request(GROUP, REQUESTER + 2)
        .expect("a new request");
    assert_ne!(next, id);
}

#[tokio::test]
async fn http_control_api_seeds_and_lists_join_requests() {
    let test = TestSim::seeded().await;
    let path = format!("/_sim/groups/{GROUP}/join-requests");
    let added = test
        .control(
            Method::POST,
            &path,
            Some(json!({ "userId": REQUESTER + 1 })),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let id = added.body["id"].as_str().expect("a string id").to_owned();
    for (body, status) in [
        (json!({ "userId": REQUESTER + 1 }), 409),
        (json!({ "userId": PLAIN }), 409),
        (json!({ "userId": 0 }), 400),
        (json!({ "userId": "3001" }), 400),
        (json!({ "userId": REQUESTER + 2, "extra": true }), 400),
    ] {
        let refused = test.control(Method::POST, &path, Some(body.clone())).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.body);
        assert!(refused.body["error"].is_string());
    }
    let unknown = test
        .control(
            Method::POST,
            "/_sim/groups/77/join-requests",
            Some(json!({ "userId": REQUESTER + 1 })),
        )
        .await;
    assert_eq!(unknown.status, 404);

    let listed = test.control(Method::GET, &path, None).await;
    assert_eq!(listed.status, 200);
    let listed = listed.body.as_array().expect("an array");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["userId"], REQUESTER + 1);
    assert!(
        listed[0]["createTime"]
            .as_str()
            .is_some_and(|time| chrono::DateTime::parse_from_rfc3339(time).is_ok())
    );
    assert_eq!(
        test.control(Method::GET, "/_sim/groups/77/join-requests", None)
            .await
            .status,
        404
    );
    assert_eq!(test.control(Method::DELETE, &path, None).await.status, 405);

    // The id seeded over HTTP is the one Open Cloud lists and accepts.
    let cloud = test
        .list("owner-key", &join_requests_path(GROUP), &[])
        .await;
    assert_eq!(id_of(&cloud.ok()["groupJoinRequests"][0]), id);
    test.accept("owner-key", &id).await.ok();
    assert_eq!(test.control(Method::GET, &path, None).await.body, json!([]));
    test.stop().await;
}
