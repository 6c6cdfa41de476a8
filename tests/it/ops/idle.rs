//! What an idle process costs: its heartbeats and fallback fetches scale with processes and
//! queues, not with its worker count (88 workers at the default `queue.concurrency`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use crate::harness::{Backend, TestApp, TestOpts};

/// The window the work is counted over.
const WINDOW: Duration = Duration::from_secs(5);

fn start_opts() -> TestOpts {
    TestOpts {
        tweak: Some(Arc::new(|c| {
            c.queue.concurrency = 128;
            c.queue.poll_interval = Duration::from_secs(1);
            c.queue.heartbeat_interval = Duration::from_secs(1);
            // The vacuum's scripts would land in the window once a minute.
            crate::harness::sweeps_by_hand(c);
        })),
        ..Default::default()
    }
}

/// Embedded queue: idle, the workers fetch once per queue and tick (three queues, one tick a
/// second), not once per worker. (With a tick per worker, 88 workers made about 19 empty
/// fetches a second.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_fetches_on_the_embedded_queue_do_not_grow_with_workers() {
    let app = TestApp::start_with(Backend::Sqlite, start_opts()).await;
    let fetches = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with("roster_queue_fetches_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    let metrics = || async {
        let m = app.request(Method::GET, "/metrics", &[], None).await;
        m.body.as_str().expect("metrics text").to_owned()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = fetches(&metrics().await);
    tokio::time::sleep(WINDOW).await;
    let text = metrics().await;
    let during = fetches(&text) - before;
    eprintln!("embedded queue, idle: {during} fetches in {WINDOW:?}");
    // Three queues × five ticks, and a spare tick each for the edges of the window.
    assert!(
        during <= 3 * (WINDOW.as_secs() + 1),
        "{during} fetches in {WINDOW:?} idle:\n{text}"
    );
    assert!(
        during >= 3,
        "the fallback tick still runs: {during} fetches"
    );
    app.finish().await;
}

/// Redis: idle, one heartbeat script per interval for the whole process and one fetch per queue
/// and tick. (apalis' per-worker heartbeats ran two scripts per worker per interval: 176 a
/// second here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_redis_commands_do_not_grow_with_workers() {
    let app = TestApp::start_with(Backend::Redis, start_opts()).await;
    let client = redis::Client::open(app.redis.as_ref().expect("redis").url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    // Scripts run (apalis' fetches and Roster's beat are scripts), from `INFO commandstats`.
    let mut scripts = async || -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .expect("info");
        info.lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| {
                let calls = l.split("calls=").nth(1)?;
                calls.split(',').next()?.parse::<u64>().ok()
            })
            .sum()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = scripts().await;
    tokio::time::sleep(WINDOW).await;
    let during = scripts().await - before;
    eprintln!("redis, idle: {during} scripts in {WINDOW:?}");
    // Per second: one beat, and a fetch on each of the three queues; plus a spare second.
    let most = 4 * (WINDOW.as_secs() + 1);
    assert!(
        during <= most,
        "{during} scripts in {WINDOW:?} idle (at most {most})"
    );
    assert!(during >= 4, "beats and ticks still run: {during} scripts");
    app.finish().await;
}
