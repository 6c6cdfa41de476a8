//! Health, readiness and metrics (`/healthz`, `/readyz`, `/metrics`).

use reqwest::Method;

use crate::harness::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_readiness_and_metrics() {
    let app = TestApp::start(Backend::Sqlite).await;
    let h = app.request(Method::GET, "/healthz", &[], None).await;
    assert_eq!(h.status, 200);
    let r = app.request(Method::GET, "/readyz", &[], None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["queue"]["backend"], "sqlite");
    app.promote(101).await;
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    assert_eq!(m.status, 200);
    let text = m.body.as_str().unwrap().to_owned();
    for metric in [
        "roster_http_requests_total",
        "roster_jobs_finished_total",
        "roster_upstream_requests_total",
        "roster_job_queue_wait_seconds",
        "roster_outbox_relay_delay_seconds",
        "roster_queue_checkpoint_seconds",
    ] {
        assert!(text.contains(metric), "missing {metric} in /metrics");
    }
    assert!(!text.contains(&app.api_key), "no secret in metrics");
    app.finish().await;
}
