//! The ranking API end to end, on both queue backends: every error code from a real scenario,
//! idempotency, usage, sync and async answers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::ManualClock;
use roster_core::groups::Plan;
use roster_core::ids::GroupId;
use roster_sim::roblox::{Endpoint, FaultAction};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp, TestOpts, oc_key};

both_backends!(
    promote_demote_and_set_rank,
    get_rank_and_usage,
    errors_from_real_scenarios,
    idempotent_replay_touches_roblox_once,
    conflict_while_in_progress,
    usage_rolls_over_at_month_start,
    respond_async_and_job_status,
    patch_fallback_method,
    concurrent_promotes_of_one_member_apply_in_turn,
    guard_rank_stops_rules_end_to_end,
    blacklist_refuses_promote_demote_and_set_rank,
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

async fn get_rank_and_usage(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.get(&format!("/v1/groups/{GROUP}/rank/104")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["inGroup"], true);
    assert_eq!(a.body["rank"], 30);
    assert_eq!(a.body["roleName"], "Sergeant");
    let a = app.get(&format!("/v1/groups/{GROUP}/rank/999")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["inGroup"], false);
    assert_eq!(a.body["rank"], 0);
    // Reads do not count.
    let u = app.get(&format!("/v1/groups/{GROUP}/usage")).await;
    assert_eq!(u.status, 200);
    assert_eq!(u.body["count"], 0);
    assert_eq!(u.body["allowance"], 1000);
    app.promote(101).await;
    let u = app.get(&format!("/v1/groups/{GROUP}/usage")).await;
    assert_eq!(u.body["count"], 1);
    assert_eq!(u.body["plan"], "pro");
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

async fn idempotent_replay_touches_roblox_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let body = json!({"robloxUserId": 101});
    let first = app
        .write("promote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["newRank"], 10);
    let assigns = app.sim.calls(Endpoint::AssignRole).len();
    let again = app
        .write("promote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body, first.body,
        "a replay returns the original result"
    );
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        app.sim.calls(Endpoint::AssignRole).len(),
        assigns,
        "the replay did not touch Roblox"
    );
    assert_eq!(app.sim.rank(GROUP, 101), 10, "promoted once");
    let u = app.get(&format!("/v1/groups/{GROUP}/usage")).await;
    assert_eq!(u.body["count"], 1, "a replay is not counted");
    // Same key, different body.
    let a = app
        .write(
            "promote",
            json!({"robloxUserId": 102}),
            &[("idempotency-key", "abc-1")],
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    // Same key on another endpoint.
    let a = app
        .write("demote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    // Failures replay too.
    let f1 = app.promote(999).await;
    let f2 = app
        .write(
            "promote",
            json!({"robloxUserId": 999}),
            &[("idempotency-key", "k2")],
        )
        .await;
    let f3 = app
        .write(
            "promote",
            json!({"robloxUserId": 999}),
            &[("idempotency-key", "k2")],
        )
        .await;
    assert_eq!((f1.status, f2.status, f3.status), (502, 502, 502));
    assert_eq!(f2.body, f3.body);
    app.finish().await;
}

async fn conflict_while_in_progress(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 1500 },
        Some(1),
    );
    let k = [("idempotency-key", "slow-1"), ("prefer", "respond-async")];
    let first = app.write("promote", json!({"robloxUserId": 101}), &k).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let job = first.body["jobId"].as_str().unwrap().to_owned();
    let second = app
        .write(
            "promote",
            json!({"robloxUserId": 101}),
            &[("idempotency-key", "slow-1")],
        )
        .await;
    assert_eq!((second.status, second.code()), (409, "CONFLICT"));
    assert_eq!(second.body["jobId"], job.as_str());
    app.wait_job(&job).await;
    let third = app
        .write(
            "promote",
            json!({"robloxUserId": 101}),
            &[("idempotency-key", "slow-1")],
        )
        .await;
    assert_eq!(third.status, 200);
    assert_eq!(third.body["newRank"], 10);
    assert_eq!(app.sim.calls(Endpoint::AssignRole).len(), 1);
    app.finish().await;
}

async fn usage_rolls_over_at_month_start(backend: Backend) {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 50).unwrap());
    let app = TestApp::start_with(
        backend,
        TestOpts {
            clock: Some(clock.clone()),
            plan: Plan::Starter,
            tweak: Some(Arc::new(|c| {
                c.plans.starter.monthly_requests = roster_core::config::Limit::Count(2);
            })),
            ..Default::default()
        },
    )
    .await;
    let mut last = None;
    for user in [101, 102, 103] {
        let a = app
            .write("rank", json!({"robloxUserId": user, "rankId": 20}), &[])
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        last = Some(a);
    }
    let last = last.unwrap();
    assert_eq!(last.body["usage"]["count"], 3);
    assert_eq!(last.body["usage"]["allowance"], 2);
    assert_eq!(
        last.body["usage"]["overage"], true,
        "past the allowance: still applied, flagged"
    );
    assert_eq!(last.body["usage"]["period"], "2026-11");
    assert_eq!(app.sim.rank(GROUP, 103), 20, "overage requests still run");
    clock.set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 5).unwrap());
    let a = app
        .write("rank", json!({"robloxUserId": 104, "rankId": 20}), &[])
        .await;
    assert_eq!(a.body["usage"]["count"], 1);
    assert_eq!(a.body["usage"]["overage"], false);
    assert_eq!(a.body["usage"]["period"], "2026-12");
    assert_eq!(a.body["usage"]["resetsAt"], "2027-01-01T00:00:00Z");
    app.finish().await;
}

async fn respond_async_and_job_status(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app
        .write(
            "promote",
            json!({"robloxUserId": 102}),
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(a.status, 202);
    assert_eq!(a.body["usage"]["count"], 1);
    let job = a.body["jobId"].as_str().unwrap().to_owned();
    assert_eq!(
        a.headers.get("location").unwrap().to_str().unwrap(),
        format!("/v1/jobs/{job}")
    );
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["result"]["newRank"], 20);
    assert!(done["timings"]["upstreamMs"].as_f64().unwrap() > 0.0);
    // Another group's key cannot read it.
    let other =
        roster::dev::register_demo_group(app.ctx(), 8_000_003, &oc_key(8_000_003), Plan::Pro)
            .await
            .unwrap();
    let a = app
        .request(
            Method::GET,
            &format!("/v1/jobs/{job}"),
            &[("x-api-key", &other)],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    let a = app.get("/v1/jobs/job_01JD6Z3X8Q4V5N7R9T2W4Y6A8C").await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));
    let a = app.get("/v1/jobs/garbage").await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
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

/// The sync wait elapses while Roblox is slow: 202, and the job still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_upstream_answers_202_then_completes() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            sync_wait: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 1000 },
        Some(1),
    );
    let a = app.promote(101).await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let done = app.wait_job(a.body["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    app.finish().await;
}

/// An Idempotency-Key that is not 1–255 visible ASCII characters (raw bytes, as a client may
/// send them) is refused with 400 naming the header, never taken for a request without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_must_be_visible_ascii() {
    use reqwest::header::HeaderValue;
    let app = TestApp::start(Backend::Sqlite).await;
    let url = format!("{}/v1/groups/{GROUP}/promote", app.base);
    let send = |keys: Vec<HeaderValue>| {
        let mut req = app
            .http
            .post(&url)
            .header("x-api-key", &app.api_key)
            .header("content-type", "application/json")
            .body(json!({"robloxUserId": 101}).to_string());
        for k in keys {
            req = req.header("idempotency-key", k);
        }
        async move {
            let resp = req.send().await.expect("request reaches Roster");
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.expect("JSON body");
            (status, body)
        }
    };
    let bad: [&[u8]; 6] = [
        "clé-1".as_bytes(),
        b"key\x80\xff",
        b"two words",
        b"tab\there",
        b"",
        &[b'k'; 256],
    ];
    for raw in bad {
        let (status, body) = send(vec![HeaderValue::from_bytes(raw).unwrap()]).await;
        assert_eq!(status, 400, "{raw:?}: {body}");
        assert_eq!(body["error"], "BAD_REQUEST", "{raw:?}");
        let msg = body["message"].as_str().unwrap_or_default();
        assert!(msg.contains("Idempotency-Key"), "{raw:?}: {msg}");
    }
    let (status, body) = send(vec![
        HeaderValue::from_static("a-1"),
        HeaderValue::from_static("a-2"),
    ])
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("BAD_REQUEST")));
    assert!(
        app.sim.calls(Endpoint::AssignRole).is_empty(),
        "no refused request reached Roblox"
    );
    // Every visible ASCII character is allowed.
    let all: Vec<u8> = (0x21..=0x7e).collect();
    let (status, body) = send(vec![HeaderValue::from_bytes(&all).unwrap()]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    app.finish().await;
}

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
