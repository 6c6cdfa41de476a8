//! Promote/demote through the ranking job path, and join requests through Open Cloud.

use reqwest::Method;
use roster_sim::roblox::{Endpoint, UserSeed};
use serde_json::json;

use super::{assert_error, get, post, user_body};
use crate::harness::{Backend, GROUP, GUILD, TestApp};

async fn with_main_group(backend: Backend) -> TestApp {
    let app = TestApp::start(backend).await;
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"mainGroup": GROUP})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app
}

#[tokio::test]
async fn promote_and_demote_by_the_group_s_rules() {
    let app = with_main_group(Backend::Sqlite).await;
    let a = post(&app, "/api/group/promote", user_body(101, json!({}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["success"], true);
    assert_eq!(a.body["newRole"], json!({"name": "Private", "rank": 10}));
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    let a = post(
        &app,
        "/api/group/demote",
        user_body(104, json!({"groupId": GROUP})),
    )
    .await;
    assert_eq!(
        a.body["newRole"],
        json!({"name": "Corporal", "rank": 20}),
        "{:?}",
        a.body
    );
    // No rule matches rank 100; a user who is not in the group; a blacklisted user.
    let a = post(&app, "/api/group/promote", user_body(105, json!({}))).await;
    assert_error(&a, 400, "NO_MATCHING_RULE");
    let a = post(&app, "/api/group/promote", user_body(777_777, json!({}))).await;
    assert_error(&a, 404, "USER_NOT_IN_GROUP");
    let b = app
        .admin(
            Method::POST,
            &format!("/groups/{GROUP}/blacklist"),
            Some(json!({"robloxUserId": 102, "reason": "alt"})),
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    let a = post(&app, "/api/group/promote", user_body(102, json!({}))).await;
    assert_error(&a, 403, "USER_BLACKLISTED");
    assert_eq!(app.sim.rank(GROUP, 102), 10, "untouched");
    // Counted in the group's usage and audited in the group (and the linked guild).
    let a = app
        .admin(
            Method::GET,
            &format!("/groups/{GROUP}/audit?action=rank."),
            None,
        )
        .await;
    let actions: Vec<&str> = a.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"rank.promote") && actions.contains(&"rank.demote"),
        "{actions:?}"
    );
    app.finish_allowing_dead(0).await;
}

#[tokio::test]
async fn join_requests_are_listed_accepted_and_denied_once() {
    let app = with_main_group(Backend::Redis).await;
    let sim = &app.sim.sim;
    sim.seed_user(UserSeed {
        display_name: Some("Newbie".into()),
        ..UserSeed::named(501, "newbie501")
    })
    .unwrap();
    let r501 = sim.seed_join_request(GROUP, 501).unwrap();
    let r502 = sim.seed_join_request(GROUP, 502).unwrap();
    let r503 = sim.seed_join_request(GROUP, 503).unwrap();
    let q = |extra: &[(&'static str, String)]| {
        let mut v = vec![("serverId", GUILD.to_string())];
        v.extend_from_slice(extra);
        v
    };
    let a = get(&app, "/api/group/join-requests", &q(&[])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let data = a.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["id"], r501.as_str());
    assert_eq!(
        data[0]["user"],
        json!({"userId": 501, "displayName": "Newbie"})
    );
    assert_eq!(data[1]["user"]["userId"], 502);
    // Pages of one, and one user's request.
    let a = get(
        &app,
        "/api/group/join-requests",
        &q(&[("limit", "1".into())]),
    )
    .await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 1);
    let token = a.body["nextPageToken"].as_str().expect("more").to_owned();
    let b = get(
        &app,
        "/api/group/join-requests",
        &q(&[("limit", "1".into()), ("pageToken", token.clone())]),
    )
    .await;
    assert_eq!(b.body["data"][0]["id"], r502.as_str(), "{:?}", b.body);
    let c = get(
        &app,
        "/api/group/join-requests",
        &q(&[("limit", "2".into()), ("pageToken", token)]),
    )
    .await;
    assert_error(&c, 400, "BAD_REQUEST");
    let a = get(
        &app,
        "/api/group/join-requests",
        &q(&[("robloxId", "503".into())]),
    )
    .await;
    assert_eq!(a.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(a.body["data"][0]["id"], r503.as_str());
    let a = get(
        &app,
        "/api/group/join-requests",
        &q(&[("limit", "21".into())]),
    )
    .await;
    assert_error(&a, 400, "BAD_REQUEST");

    // Accept: the user joins at the lowest rank; the same accept again answers the same.
    let body = |id: &str| json!({"serverId": GUILD.to_string(), "requestId": id});
    let a = post(&app, "/api/group/accept-request", body(&r501)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "accepted");
    assert_eq!(a.body["requestId"], r501.as_str());
    assert_eq!(app.sim.rank(GROUP, 501), 1);
    let again = post(&app, "/api/group/accept-request", body(&r501)).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        again.body["jobId"], a.body["jobId"],
        "replayed, not sent again"
    );
    assert_eq!(app.sim.calls(Endpoint::AcceptJoinRequest).len(), 1);
    let a = post(&app, "/api/group/deny-request", body(&r501)).await;
    assert_error(&a, 409, "JOIN_REQUEST_ALREADY_HANDLED");
    // Deny: the request is gone, the user not a member.
    let a = post(&app, "/api/group/deny-request", body(&r502)).await;
    assert_eq!(a.body["status"], "declined", "{:?}", a.body);
    assert_eq!(app.sim.rank(GROUP, 502), 0);
    assert_eq!(sim.join_requests(GROUP).len(), 1);
    // A request that does not exist (a user id is not a request id), and a bad id.
    let a = post(&app, "/api/group/accept-request", body("503")).await;
    assert_error(&a, 404, "JOIN_REQUEST_NOT_FOUND");
    // A decision that failed is not final: trying again asks Roblox again.
    let a = post(&app, "/api/group/deny-request", body("503")).await;
    assert_error(&a, 404, "JOIN_REQUEST_NOT_FOUND");
    assert_eq!(app.sim.calls(Endpoint::DeclineJoinRequest).len(), 2);
    let a = post(&app, "/api/group/accept-request", body("../x")).await;
    assert_error(&a, 400, "BAD_REQUEST");
    let a = post(
        &app,
        "/api/group/accept-request",
        json!({"serverId": GUILD.to_string(), "requestId": r503, "groupId": 999}),
    )
    .await;
    assert_error(&a, 403, "FORBIDDEN");
    app.finish_allowing_dead(0).await;
}
