//! Sync and async answers: `respond: async` and `GET /v1/jobs/{jobId}`, and a 202 when the sync
//! wait runs out while Roblox is slow.

use std::time::Duration;

use reqwest::Method;
use roster_core::groups::Plan;
use roster_sim::roblox::{Endpoint, FaultAction};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp, TestOpts, oc_key};

both_backends!(respond_async_and_job_status);

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
