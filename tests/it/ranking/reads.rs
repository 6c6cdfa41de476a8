//! Ranking reads: a member's rank read from Roblox, and the group's usage (and its monthly
//! rollover).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use roster_core::clock::ManualClock;
use roster_core::groups::Plan;
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp, TestOpts};

both_backends!(get_rank_and_usage, usage_rolls_over_at_month_start);

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
