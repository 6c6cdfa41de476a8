//! The scheduler's sweeps, driven directly with a test clock (cron only decides when they run).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use roster_core::clock::ManualClock;
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, TestApp, TestOpts};

both_backends!(vacuum_removes_finished_tasks_only);

async fn vacuum_removes_finished_tasks_only(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        TestOpts {
            tweak: Some(Arc::new(|c| c.queue.vacuum_after = Duration::ZERO)),
            ..Default::default()
        },
    )
    .await;
    for user in [101, 102, 103] {
        assert_eq!(app.promote(user).await.status, 200);
    }
    // apalis acknowledges finished tasks shortly after the handlers return; sweep until all
    // three are gone, then once more to see the sweep is idempotent.
    let mut removed = 0;
    for _ in 0..100 {
        // Tasks finished in this same second are not yet older than the cutoff (whole seconds).
        removed += roster_scheduler::vacuum(app.ctx())
            .await
            .expect("vacuum")
            .removed;
        if removed >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(removed, 3, "the three finished tasks were removed");
    let again = roster_scheduler::vacuum(app.ctx())
        .await
        .expect("vacuum")
        .removed;
    assert_eq!(again, 0, "a second sweep finds nothing");
    // The queue still works after vacuuming.
    assert_eq!(app.promote(104).await.code(), "NO_MATCHING_RULE");
    assert_eq!(app.promote(101).await.status, 200);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_forgets_old_idempotency_keys_and_jobs() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    let first = app
        .write(
            "rank",
            json!({"robloxUserId": 101, "rankId": 20}),
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(first.status, 200);
    let job = first.body["jobId"].as_str().unwrap().to_owned();
    // Within the TTL the key is bound to its body.
    let other = app
        .write(
            "rank",
            json!({"robloxUserId": 102, "rankId": 20}),
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(other.code(), "BAD_REQUEST");
    // A purge inside the TTL removes nothing.
    assert_eq!(roster_scheduler::purge(app.ctx()).await.unwrap().removed, 0);
    clock.advance(chrono::Duration::hours(25));
    let removed = roster_scheduler::purge(app.ctx()).await.unwrap().removed;
    assert_eq!(
        removed, 1,
        "the expired key is forgotten; the job record is kept (7 days)"
    );
    assert_eq!(app.get(&format!("/v1/jobs/{job}")).await.status, 200);
    let reused = app
        .write(
            "rank",
            json!({"robloxUserId": 102, "rankId": 20}),
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(
        reused.status, 200,
        "after the TTL the key is fresh: {:?}",
        reused.body
    );
    clock.advance(chrono::Duration::days(8));
    assert!(roster_scheduler::purge(app.ctx()).await.unwrap().removed >= 2);
    assert_eq!(app.get(&format!("/v1/jobs/{job}")).await.status, 404);
    // Running the sweep again is harmless.
    assert_eq!(roster_scheduler::purge(app.ctx()).await.unwrap().removed, 0);
    app.finish().await;
}
