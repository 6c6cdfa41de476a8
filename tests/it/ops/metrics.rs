//! What the metrics tell about the queue: the embedded queue's fetches.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, TestApp, TestOpts};

/// The embedded queue's workers fetch only for tasks that were pushed: once per task, with
/// next to no empty fetches (apalis-sqlite's own storage fetched every time a worker with a
/// free slot was polled, more often empty than not, each one a write on the queue's single
/// connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_embedded_queue_fetches_once_per_pushed_task() {
    use std::sync::Arc;
    use std::time::Duration;
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            // The fallback tick (which sweeps until it finds nothing) out of the picture.
            tweak: Some(Arc::new(|c| {
                c.queue.poll_interval = Duration::from_secs(60)
            })),
            ..Default::default()
        },
    )
    .await;
    let mut jobs = 0;
    // One at a time…
    for i in 0..12 {
        let rank = if i % 2 == 0 { 30 } else { 20 };
        let a = app
            .write("rank", json!({"robloxUserId": 102, "rankId": rank}), &[])
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        jobs += 1;
    }
    // …and four at once.
    for round in 0..4 {
        let rank = if round % 2 == 0 { 10 } else { 30 };
        let answers = futures::future::join_all(
            [101, 102, 103, 104]
                .map(|user| app.write("rank", json!({"robloxUserId": user, "rankId": rank}), &[])),
        )
        .await;
        for a in answers {
            assert_eq!(a.status, 200, "{:?}", a.body);
            jobs += 1;
        }
    }
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().expect("metrics text").to_owned();
    let fetches = |result: &str| -> u64 {
        text.lines()
            .filter(|l| {
                l.starts_with("roster_queue_fetches_total{")
                    && l.contains("queue=\"roster.ranking\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    assert_eq!(fetches("task"), jobs, "one fetch found each task:\n{text}");
    // A wake-up can find its task taken by a worker woken for another push; the old storage
    // made at least one empty fetch per task here.
    assert!(
        fetches("empty") <= jobs / 4,
        "{} empty fetches for {jobs} tasks",
        fetches("empty")
    );
    app.finish().await;
}
