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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_vacuum_sweeps_in_steps_and_keeps_recent_tasks() {
    use redis::AsyncCommands;
    let server = crate::harness::RedisServer::start();
    let backend = roster_core::jobs::backend::RedisBackend::connect(
        &server.url(),
        &roster_core::config::QueueConfig::default(),
    )
    .await
    .expect("connect");
    let cfg = backend.apalis_config(roster_core::jobs::RANKING_QUEUE);
    let mut conn = backend.connection();
    let now = Utc::now().timestamp();
    // 300 tasks finished an hour ago (every third one dead), 5 finished just now: more than any
    // compact set encoding holds, so SSCAN really pages.
    let mut pipe = redis::pipe();
    let mut add = |id: String, set: String, done_at: i64| {
        pipe.sadd(set, &id)
            .hset(cfg.job_data_hash(), &id, "payload")
            .hset(format!("{}:{id}", cfg.job_meta_hash()), "done_at", done_at);
    };
    for i in 0..300 {
        let set = if i % 3 == 0 {
            cfg.dead_jobs_set()
        } else {
            cfg.done_jobs_set()
        };
        add(format!("old-{i:03}"), set, now - 3600);
    }
    let recent: Vec<String> = (0..5).map(|i| format!("new-{i}")).collect();
    for id in &recent {
        add(id.clone(), cfg.done_jobs_set(), now);
    }
    let () = pipe.query_async(&mut conn).await.expect("seed");

    let removed = backend
        .vacuum_in_steps(Duration::from_secs(600), 7)
        .await
        .expect("vacuum");
    assert_eq!(removed, 300, "every old task, over many steps");
    let mut left: Vec<String> = conn.smembers(cfg.done_jobs_set()).await.unwrap();
    left.sort();
    assert_eq!(left, recent, "recent tasks stay");
    let dead: usize = conn.scard(cfg.dead_jobs_set()).await.unwrap();
    assert_eq!(dead, 0);
    let payloads: usize = conn.hlen(cfg.job_data_hash()).await.unwrap();
    assert_eq!(
        payloads, 5,
        "payloads of removed tasks are gone, the others kept"
    );
    let meta: bool = conn
        .exists(format!("{}:old-001", cfg.job_meta_hash()))
        .await
        .unwrap();
    assert!(!meta, "metadata of removed tasks is gone");
    assert_eq!(
        backend
            .vacuum_in_steps(Duration::from_secs(600), 7)
            .await
            .expect("vacuum"),
        0,
        "a second sweep finds nothing"
    );
}
