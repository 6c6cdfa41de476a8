//! XP: atomic under concurrency, never below zero, idempotent with a reference, and thresholds
//! that raise the rank through the ranking job path.

use reqwest::Method;
use serde_json::json;

use super::{assert_error, configure, get, post, user_body, user_q};
use crate::harness::{Backend, GROUP, GUILD, TestApp};

async fn xp_of(app: &TestApp, user: u64) -> u64 {
    let a = get(app, "/api/xp/get", &user_q(user)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["success"], true);
    a.body["xp"].as_u64().expect("xp")
}

#[tokio::test]
async fn concurrent_adds_lose_nothing() {
    let app = TestApp::start(Backend::Sqlite).await;
    let n = 200u64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = app.http.clone();
        let url = format!("{}/api/xp/add", app.base);
        let key = app.guild_key.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("x-api-key", key)
                .body(
                    json!({"serverId": GUILD.to_string(), "robloxId": 101, "amount": i % 7 + 1})
                        .to_string(),
                )
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let want: u64 = (0..n).map(|i| i % 7 + 1).sum();
    assert_eq!(xp_of(&app, 101).await, want);
    // Every change is in the guild's audit log.
    let a = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/audit?action=xp.&limit=500"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let entries = a.body["entries"].as_array().expect("entries");
    assert_eq!(entries.len() as u64, n, "one audit entry per change");
    // And counted (this test's process saw exactly these changes).
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().expect("metrics text");
    assert!(
        text.lines()
            .any(|l| l == format!("roster_community_xp_changes_total{{op=\"add\"}} {n}")),
        "{text}"
    );
    app.finish().await;
}

#[tokio::test]
async fn set_subtract_and_bad_amounts() {
    let app = TestApp::start(Backend::Sqlite).await;
    let a = post(&app, "/api/xp/set", user_body(102, json!({"amount": 50}))).await;
    assert_eq!(a.body, json!({"success": true, "xp": 50}));
    let a = post(
        &app,
        "/api/xp/subtract",
        user_body(102, json!({"amount": 20})),
    )
    .await;
    assert_eq!(a.body, json!({"success": true, "xp": 30}));
    let a = post(
        &app,
        "/api/xp/subtract",
        user_body(102, json!({"amount": 100})),
    )
    .await;
    assert_eq!(
        a.body,
        json!({"success": true, "xp": 0}),
        "never below zero"
    );
    for bad in [
        json!(-5),
        json!(1.5),
        json!("ten"),
        json!(null),
        json!(true),
    ] {
        let a = post(&app, "/api/xp/add", user_body(102, json!({"amount": bad}))).await;
        assert_error(&a, 400, "BAD_REQUEST");
        assert!(
            a.body["message"].as_str().unwrap().contains("amount"),
            "{:?}",
            a.body
        );
    }
    let a = post(
        &app,
        "/api/xp/set",
        user_body(102, json!({"amount": 9_007_199_254_740_000u64})),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = post(
        &app,
        "/api/xp/add",
        user_body(102, json!({"amount": 10_000})),
    )
    .await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert_eq!(
        xp_of(&app, 102).await,
        9_007_199_254_740_000,
        "a refused add changed nothing"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_reference_applies_a_change_once() {
    let app = TestApp::start(Backend::Sqlite).await;
    let body = user_body(103, json!({"amount": 25, "reference": "quest-42"}));
    let first = post(&app, "/api/xp/add", body.clone()).await;
    assert_eq!(first.body, json!({"success": true, "xp": 25}));
    // The same reference again (a retried request), also concurrently.
    let (a, b) = tokio::join!(
        post(&app, "/api/xp/add", body.clone()),
        post(&app, "/api/xp/add", body.clone())
    );
    for r in [&a, &b] {
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["xp"], 25, "the first change's outcome");
        assert_eq!(r.body["replayed"], true);
        assert_eq!(r.headers["idempotent-replayed"], "true");
    }
    assert_eq!(xp_of(&app, 103).await, 25);
    // The reference with another change is refused.
    let a = post(
        &app,
        "/api/xp/add",
        user_body(103, json!({"amount": 30, "reference": "quest-42"})),
    )
    .await;
    assert_error(&a, 409, "REFERENCE_REUSED");
    let a = post(
        &app,
        "/api/xp/add",
        user_body(104, json!({"amount": 25, "reference": "quest-42"})),
    )
    .await;
    assert_error(&a, 409, "REFERENCE_REUSED");
    let a = post(
        &app,
        "/api/xp/add",
        user_body(103, json!({"amount": 1, "reference": ""})),
    )
    .await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert_eq!(xp_of(&app, 103).await, 25);
    assert_eq!(xp_of(&app, 104).await, 0);
    app.finish().await;
}

#[tokio::test]
async fn thresholds_raise_the_rank_and_never_lower_it() {
    let app = TestApp::start(Backend::Redis).await;
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"mainGroup": GROUP})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    configure(
        &app,
        json!({"xpRanks": [{"xp": 100, "rank": 10}, {"xp": 500, "rank": 20}]}),
    )
    .await;
    // 101 (rank 1) crosses 100: raised to 10.
    let a = post(&app, "/api/xp/add", user_body(101, json!({"amount": 120}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["rank"], 10);
    let job = a.body["rankJobId"].as_str().expect("a rank job").to_owned();
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    // The guild's key sees the job of its main group.
    let j = app
        .guild(Method::GET, &format!("/guilds/{GUILD}/jobs/{job}"), None)
        .await;
    assert_eq!(j.status, 200, "{:?}", j.body);
    assert_eq!(j.body["data"]["status"], "succeeded");
    // Staying inside the same band starts nothing.
    let a = post(&app, "/api/xp/add", user_body(101, json!({"amount": 10}))).await;
    assert!(a.body.get("rankJobId").is_none(), "{:?}", a.body);
    // 105 (rank 100) crosses 500: kept at 100.
    let a = post(&app, "/api/xp/set", user_body(105, json!({"amount": 600}))).await;
    let job = a.body["rankJobId"].as_str().expect("a rank job").to_owned();
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(done["result"]["changed"], false, "{done:?}");
    assert_eq!(app.sim.rank(GROUP, 105), 100, "never lowered");
    // Bad thresholds are refused with the field named.
    let a = app
        .admin(
            Method::PUT,
            &format!("/guilds/{GUILD}/community"),
            Some(json!({"xpRanks": [{"xp": 100, "rank": 10}, {"xp": 50, "rank": 20}]})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.body["message"].as_str().unwrap().contains("xpRanks[1]"),
        "{:?}",
        a.body
    );
    app.finish().await;
}
