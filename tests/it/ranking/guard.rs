//! The group's guard rank and blacklist, set through the admin API as an operator would, enforced
//! on every ranking write.

use reqwest::Method;
use roster_sim::roblox::Endpoint;
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp};

both_backends!(
    guard_rank_stops_rules_end_to_end,
    blacklist_refuses_promote_demote_and_set_rank
);

/// Replaces the demo group's rules through the admin API, as an operator would.
async fn set_rules(app: &TestApp, rules: &[serde_json::Value]) {
    let path = format!("/groups/{GROUP}/rules");
    let a = app.admin(Method::GET, &path, None).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let existing: Vec<u64> = a.body["rules"]
        .as_array()
        .expect("rules listed")
        .iter()
        .map(|r| r["id"].as_u64().expect("rule id"))
        .collect();
    for id in existing {
        let a = app
            .admin(Method::DELETE, &format!("{path}/{id}"), None)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    for rule in rules {
        let a = app.admin(Method::POST, &path, Some(rule.clone())).await;
        assert_eq!(a.status, 201, "{rule}: {:?}", a.body);
    }
    let a = app.admin(Method::GET, &path, None).await;
    assert_eq!(a.body["rules"].as_array().map(Vec::len), Some(rules.len()));
}

/// The group's guard rank, set through the admin API, stops a rule from taking a member above
/// it and from acting on a member ranked above it; the worker applies it when it resolves the
/// rule, so this holds only if the guard reaches rule resolution.
async fn guard_rank_stops_rules_end_to_end(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app
        .admin(
            Method::PATCH,
            &format!("/groups/{GROUP}"),
            Some(json!({"guardRank": 20})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["guardRank"], 20);
    set_rules(
        &app,
        &[
            json!({"direction": "promote", "from": {"min": 1, "max": 29}, "to": "next"}),
            // An exact rank beats the range: rank 10 would jump to 30, above the guard.
            json!({"direction": "promote", "from": 10, "to": 30}),
            json!({"direction": "demote", "from": {"min": 10, "max": 100}, "to": "next"}),
        ],
    )
    .await;

    // 10 → 30 by the exact rule: above the guard.
    let a = app.promote(102).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "NO_MATCHING_RULE"),
        "{:?}",
        a.body
    );
    let msg = a.body["message"].as_str().unwrap_or_default();
    assert!(msg.contains("guard rank 20"), "{msg}");
    // 20 → 30 by the range rule's next role: above the guard.
    let a = app.promote(103).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "NO_MATCHING_RULE"),
        "{:?}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("guard rank 20"),
        "{:?}",
        a.body
    );
    // A member ranked above the guard is out of every rule's reach, demote included.
    let a = app.write("demote", json!({"robloxUserId": 104}), &[]).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "NO_MATCHING_RULE"),
        "{:?}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("above the group's guard rank 20"),
        "{:?}",
        a.body
    );
    assert_eq!(
        (
            app.sim.rank(GROUP, 102),
            app.sim.rank(GROUP, 103),
            app.sim.rank(GROUP, 104)
        ),
        (10, 20, 30)
    );
    assert!(
        app.sim.calls(Endpoint::AssignRole).is_empty(),
        "nothing refused reached Roblox"
    );
    // Below the guard, rules apply: 1 → 10.
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 10);
    // Set rank is not governed by the guard.
    let a = app
        .write("rank", json!({"robloxUserId": 105, "rankId": 100}), &[])
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    // Without the guard, the refused promote goes through: the guard was the reason.
    let a = app
        .admin(
            Method::PATCH,
            &format!("/groups/{GROUP}"),
            Some(json!({"guardRank": null})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["guardRank"], serde_json::Value::Null);
    let a = app.promote(102).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 30);
    assert_eq!(app.sim.rank(GROUP, 102), 30);
    app.finish().await;
}

/// A member blacklisted through the admin API is refused on promote, demote and set rank alike,
/// before anything is counted or sent to Roblox; once removed, every operation works again.
async fn blacklist_refuses_promote_demote_and_set_rank(backend: Backend) {
    let app = TestApp::start(backend).await;
    set_rules(
        &app,
        &[
            json!({"direction": "promote", "from": {"min": 1, "max": 29}, "to": "next"}),
            json!({"direction": "demote", "from": {"min": 10, "max": 100}, "to": "next"}),
        ],
    )
    .await;
    let a = app
        .admin(
            Method::POST,
            &format!("/groups/{GROUP}/blacklist"),
            Some(json!({"robloxUserId": "103", "reason": "alt account"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);

    let ops = [
        ("promote", json!({"robloxUserId": 103})),
        ("demote", json!({"robloxUserId": 103})),
        ("rank", json!({"robloxUserId": 103, "rankId": 30})),
    ];
    for (op, body) in &ops {
        let a = app.write(op, body.clone(), &[]).await;
        assert_eq!(
            (a.status, a.code()),
            (403, "USER_BLACKLISTED"),
            "{op}: {:?}",
            a.body
        );
        assert!(
            a.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("103"),
            "{op}: {:?}",
            a.body
        );
    }
    // Also when the request asks for an asynchronous answer: no job is made.
    let a = app
        .write(
            "promote",
            json!({"robloxUserId": 103}),
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (403, "USER_BLACKLISTED"),
        "{:?}",
        a.body
    );
    assert!(a.body.get("jobId").is_none(), "{:?}", a.body);
    assert_eq!(app.sim.rank(GROUP, 103), 20);
    assert!(app.sim.calls(Endpoint::AssignRole).is_empty());
    assert!(app.sim.calls(Endpoint::UpdateMembership).is_empty());
    let u = app.get(&format!("/v1/groups/{GROUP}/usage")).await;
    assert_eq!(u.body["count"], 0, "refused requests are not counted");

    // Another member is not affected.
    let a = app.promote(102).await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    // Removed from the blacklist: promote and demote apply again.
    let a = app
        .admin(
            Method::DELETE,
            &format!("/groups/{GROUP}/blacklist/103"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = app.promote(103).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 30);
    let a = app.write("demote", json!({"robloxUserId": 103}), &[]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 20);
    assert_eq!(app.sim.rank(GROUP, 103), 20);
    app.finish().await;
}
