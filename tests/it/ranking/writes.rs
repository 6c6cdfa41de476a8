//! Ranking writes (`POST /v1/groups/{groupId}/rank|promote|demote`) end to end, on both queue
//! backends: promote, demote and set rank, every error code from a real scenario, the PATCH
//! fallback, and concurrent writes to one member.

use std::sync::Arc;

use reqwest::Method;
use roster_core::groups::Plan;
use roster_core::ids::GroupId;
use roster_sim::roblox::Endpoint;
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp, TestOpts, oc_key};

both_backends!(
    promote_demote_and_set_rank,
    errors_from_real_scenarios,
    patch_fallback_method,
    concurrent_promotes_of_one_member_apply_in_turn
);

async fn promote_demote_and_set_rank(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Promote: rank 1 → next role (10).
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["previousRank"], 1);
    assert_eq!(a.body["newRank"], 10);
    assert_eq!(a.body["role"]["name"], "Private");
    assert_eq!(a.body["usage"]["count"], 1);
    assert_eq!(a.body["usage"]["overage"], false);
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    // The member holds exactly the new role (assign, then unassign the old one).
    assert_eq!(app.sim.sim.member(GROUP, 101).unwrap().role_ids.len(), 1);

    // Demote: 20 → 10.
    let a = app.write("demote", json!({"robloxUserId": 103}), &[]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        (a.body["previousRank"].as_u64(), a.body["newRank"].as_u64()),
        (Some(20), Some(10))
    );
    assert_eq!(app.sim.rank(GROUP, 103), 10);

    // Set rank: exact, numeric strings accepted for ids.
    let a = app
        .write("rank", json!({"robloxUserId": "102", "rankId": 30}), &[])
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 30);
    assert_eq!(app.sim.rank(GROUP, 102), 30);

    // Setting the rank a member already has changes nothing upstream.
    let before = app.sim.calls(Endpoint::AssignRole).len();
    let a = app
        .write("rank", json!({"robloxUserId": 102, "rankId": 30}), &[])
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["changed"], false);
    assert_eq!(app.sim.calls(Endpoint::AssignRole).len(), before);

    // Every change is in the audit log.
    let audit = app
        .admin(Method::GET, &format!("/groups/{GROUP}/audit"), None)
        .await;
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["rank.set", "rank.set", "rank.demote", "rank.promote"]
    );
    app.finish().await;
}

async fn errors_from_real_scenarios(backend: Backend) {
    let app = TestApp::start(backend).await;
    let path = format!("/v1/groups/{GROUP}/promote");
    let key = app.api_key.clone();

    // INVALID_API_KEY: missing and unknown.
    let a = app
        .request(Method::POST, &path, &[], Some(r#"{"robloxUserId":101}"#))
        .await;
    assert_eq!((a.status, a.code()), (401, "INVALID_API_KEY"));
    let a = app
        .request(
            Method::POST,
            &path,
            &[("x-api-key", "rst_nope")],
            Some(r#"{"robloxUserId":101}"#),
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "INVALID_API_KEY"));

    // BAD_REQUEST: malformed JSON, missing field, wrong type, out of range, bad path id.
    for body in [
        "{",
        "[]",
        "{}",
        r#"{"robloxUserId":"abc"}"#,
        r#"{"robloxUserId":-5}"#,
    ] {
        let a = app
            .request(Method::POST, &path, &[("x-api-key", &key)], Some(body))
            .await;
        assert_eq!(
            (a.status, a.code()),
            (400, "BAD_REQUEST"),
            "body {body}: {:?}",
            a.body
        );
        assert!(a.body["message"].as_str().unwrap().len() > 10);
    }
    let a = app
        .write("rank", json!({"robloxUserId": 101, "rankId": 300}), &[])
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    assert!(a.body["message"].as_str().unwrap().contains("rankId"));
    let a = app
        .write("rank", json!({"robloxUserId": 101, "rankId": 255}), &[])
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    let a = app
        .request(
            Method::POST,
            "/v1/groups/notanumber/promote",
            &[("x-api-key", &key)],
            Some(r#"{"robloxUserId":1}"#),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    // A rank no role has: the job reports it.
    let a = app
        .write("rank", json!({"robloxUserId": 101, "rankId": 77}), &[])
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"), "{:?}", a.body);

    // GROUP_NOT_FOUND and FORBIDDEN.
    let a = app
        .request(
            Method::POST,
            "/v1/groups/424242/promote",
            &[("x-api-key", &key)],
            Some(r#"{"robloxUserId":101}"#),
        )
        .await;
    assert_eq!((a.status, a.code()), (404, "GROUP_NOT_FOUND"));
    let other =
        roster::dev::register_demo_group(app.ctx(), 8_000_002, &oc_key(8_000_002), Plan::Pro)
            .await
            .unwrap();
    let a = app
        .request(
            Method::POST,
            &path,
            &[("x-api-key", &other)],
            Some(r#"{"robloxUserId":101}"#),
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));

    // USER_BLACKLISTED.
    let a = app
        .admin(
            Method::POST,
            &format!("/groups/{GROUP}/blacklist"),
            Some(json!({"robloxUserId": 105, "reason": "alt"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let a = app
        .write("rank", json!({"robloxUserId": 105, "rankId": 10}), &[])
        .await;
    assert_eq!((a.status, a.code()), (403, "USER_BLACKLISTED"));

    // NO_MATCHING_RULE: rank 30 is outside the promote rule (1-29).
    let a = app.promote(104).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "NO_MATCHING_RULE"),
        "{:?}",
        a.body
    );

    // ROBLOX_API_ERROR: not a member; and Roblox refusing.
    let a = app.promote(999).await;
    assert_eq!((a.status, a.code()), (502, "ROBLOX_API_ERROR"));
    assert!(a.body["message"].as_str().unwrap().contains("not a member"));

    // FEATURE_NOT_AVAILABLE: demote on Starter.
    roster_core::groups::update(
        app.ctx(),
        GroupId::new(GROUP).unwrap(),
        roster_core::groups::GroupPatch {
            plan: Some(Plan::Starter),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = app.write("demote", json!({"robloxUserId": 103}), &[]).await;
    assert_eq!((a.status, a.code()), (403, "FEATURE_NOT_AVAILABLE"));

    // Unknown routes and wrong methods get the same envelope.
    let a = app.get("/v1/nothing/here").await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));
    let a = app.get(&path).await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    // Oversize bodies.
    let big = format!(r#"{{"robloxUserId":1,"pad":"{}"}}"#, "x".repeat(100_000));
    let a = app
        .request(Method::POST, &path, &[("x-api-key", &key)], Some(&big))
        .await;
    assert_eq!((a.status, a.code()), (413, "PAYLOAD_TOO_LARGE"));
    // Every error carried a message and no secret.
    app.finish().await;
}

async fn patch_fallback_method(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        TestOpts {
            tweak: Some(Arc::new(|c| {
                c.roblox.rank_method = roster_core::config::RankMethod::Patch
            })),
            ..Default::default()
        },
    )
    .await;
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    assert_eq!(app.sim.calls(Endpoint::UpdateMembership).len(), 1);
    assert_eq!(app.sim.calls(Endpoint::AssignRole).len(), 0);
    app.finish().await;
}

async fn concurrent_promotes_of_one_member_apply_in_turn(backend: Backend) {
    let app = Arc::new(TestApp::start(backend).await);
    // Two promotes at once: both must apply, one after the other (1 → 10 → 20).
    let (a, b) = tokio::join!(app.promote(101), app.promote(101));
    assert_eq!(
        (a.status, b.status),
        (200, 200),
        "{:?} {:?}",
        a.body,
        b.body
    );
    let mut ranks = [
        a.body["newRank"].as_u64().unwrap(),
        b.body["newRank"].as_u64().unwrap(),
    ];
    ranks.sort();
    assert_eq!(ranks, [10, 20]);
    assert_eq!(app.sim.rank(GROUP, 101), 20);
    let app = Arc::try_unwrap(app).ok().expect("sole owner");
    app.finish().await;
}
