//! Failure handling: upstream errors classified and retried (or not), dead letters, queue
//! outages, crashed workers, graceful shutdown.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::roblox::{Endpoint, FaultAction};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, MASTER_KEY, TestApp, TestOpts, eventually};

both_backends!(
    permanent_upstream_error_is_not_retried,
    rate_limit_storm_without_retry_after_completes_within_bound,
    transient_errors_are_retried,
    dead_letter_after_max_attempts_then_operator_retry,
    graceful_shutdown_drains_in_flight_work,
);

async fn permanent_upstream_error_is_not_retried(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Status { status: 403 },
        Some(1),
    );
    let a = app.promote(101).await;
    assert_eq!(
        (a.status, a.code()),
        (502, "ROBLOX_API_ERROR"),
        "{:?}",
        a.body
    );
    assert!(a.body["message"].as_str().unwrap().contains("denied"));
    let job = app.wait_job(a.body["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 1);
    assert_eq!(
        app.sim.calls(Endpoint::AssignRole).len(),
        1,
        "exactly one upstream call, no retries"
    );
    assert_eq!(app.sim.rank(GROUP, 101), 1);
    app.finish().await;
}

async fn rate_limit_storm_without_retry_after_completes_within_bound(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::RateLimit {
            retry_after_secs: None,
        },
        Some(4),
    );
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let job = app.wait_job(a.body["jobId"].as_str().unwrap()).await;
    let attempts = job["attempts"].as_u64().unwrap();
    assert_eq!(attempts, 5, "4 rate-limited attempts, then success");
    assert!(attempts <= job["maxAttempts"].as_u64().unwrap());
    let calls = app.sim.calls(Endpoint::AssignRole);
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 4);
    assert_eq!(calls.iter().filter(|c| c.status == 200).count(), 1);
    assert!(calls.iter().all(|c| c.fault.is_none() || c.status == 429));
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    app.finish().await;
}

async fn transient_errors_are_retried(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::ListMemberships,
        FaultAction::Status { status: 503 },
        Some(2),
    );
    app.sim.fault(
        Endpoint::UnassignRole,
        FaultAction::Status { status: 500 },
        Some(1),
    );
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 10);
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    assert_eq!(
        app.sim
            .calls(Endpoint::AssignRole)
            .iter()
            .filter(|c| c.status == 200)
            .count(),
        1
    );
    app.finish().await;
}

async fn dead_letter_after_max_attempts_then_operator_retry(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        TestOpts {
            tweak: Some(Arc::new(|c| c.queue.max_attempts = 3)),
            ..Default::default()
        },
    )
    .await;
    let fault = app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Status { status: 503 },
        None,
    );
    let a = app.promote(101).await;
    assert_eq!(
        (a.status, a.code()),
        (502, "ROBLOX_API_ERROR"),
        "{:?}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts")
    );
    let job_id = a.body["jobId"].as_str().unwrap().to_owned();
    let job = app.wait_job(&job_id).await;
    assert_eq!(job["status"], "dead");
    assert_eq!(job["attempts"], 3);
    assert_eq!(app.sim.calls(Endpoint::AssignRole).len(), 3);
    let dead = app.admin(Method::GET, "/jobs?status=dead", None).await;
    assert_eq!(dead.body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(dead.body["jobs"][0]["jobId"], job_id.as_str());
    let audit = app
        .admin(
            Method::GET,
            &format!("/groups/{GROUP}/audit?action=rank.promote.dead"),
            None,
        )
        .await;
    assert_eq!(audit.body["entries"].as_array().unwrap().len(), 1);

    // Roblox recovers; the operator retries the dead job.
    let _ = fault;
    app.sim.sim.clear_faults();
    let r = app
        .admin(Method::POST, &format!("/jobs/{job_id}/retry"), None)
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let job = app.wait_job(&job_id).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["attempts"], 1, "attempts restart with the retry");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    let dead = app.admin(Method::GET, "/jobs?status=dead", None).await;
    assert!(dead.body["jobs"].as_array().unwrap().is_empty());
    let again = app
        .admin(Method::POST, &format!("/jobs/{job_id}/retry"), None)
        .await;
    assert_eq!((again.status, again.code()), (400, "BAD_REQUEST"));
    app.finish().await;
}

async fn graceful_shutdown_drains_in_flight_work(backend: Backend) {
    let mut app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 1200 },
        Some(1),
    );
    let base = app.base.clone();
    let key = app.api_key.clone();
    let http = app.http.clone();
    // A synchronous promote is in flight (its job is inside the slow assignRole) when shutdown
    // begins; it must still get its answer, and the change must be made.
    let request = tokio::spawn(async move {
        http.post(format!("{base}/v1/groups/{GROUP}/promote"))
            .header("x-api-key", key)
            .json(&json!({"robloxUserId": 101}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let sim = app.sim.sim.clone();
    eventually(
        "the job reaches the slow upstream call",
        Duration::from_secs(10),
        || {
            sim.log()
                .iter()
                .any(|e| e.endpoint == Some(Endpoint::ListMemberships))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    let control = app.control.take().unwrap();
    control.shutdown().await.expect("clean shutdown");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "shutdown waited for the in-flight job"
    );
    assert_eq!(request.await.unwrap().expect("answered"), 200);
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    // New connections are refused after shutdown.
    let after = app.http.get(format!("{}/healthz", app.base)).send().await;
    assert!(after.is_err());
}

/// Redis goes away while a promote is submitted: the API answers 202 (the job waits in the
/// outbox), and the promotion is applied once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_answers_202_and_applies_after_recovery() {
    let mut app = TestApp::start_with(
        Backend::Redis,
        TestOpts {
            sync_wait: Duration::from_millis(1500),
            ..Default::default()
        },
    )
    .await;
    // Warm up: one promote through the healthy queue.
    assert_eq!(app.promote(102).await.status, 200);
    app.redis.as_mut().unwrap().stop();
    let a = app.promote(101).await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let job = a.body["jobId"].as_str().unwrap().to_owned();
    assert_eq!(
        app.ctx().store.len(roster_core::store::Tree::Outbox),
        1,
        "held in the outbox"
    );
    let ready = app.request(Method::GET, "/readyz", &[], None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["queue"]["reachable"], false);
    // The same, for Prometheus (the `RosterNotReady` alert).
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().expect("metrics text");
    assert!(text.lines().any(|l| l == "roster_ready 0"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "roster_ready_check{check=\"queue\"} 0"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "roster_ready_check{check=\"store\"} 1"),
        "{text}"
    );
    assert_eq!(app.sim.rank(GROUP, 101), 1);
    app.redis.as_mut().unwrap().restart();
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    let ready = app.request(Method::GET, "/readyz", &[], None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().expect("metrics text");
    assert!(text.lines().any(|l| l == "roster_ready 1"), "{text}");
    app.finish().await;
}

/// A standalone `roster worker` process.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn spawn(app: &TestApp) -> Self {
        let redis = app.redis.as_ref().unwrap().url();
        let child = Command::new(env!("CARGO_BIN_EXE_roster"))
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ROSTER_QUEUE__REDIS_URL", &redis)
            .env("ROSTER_SECURITY__MASTER_KEY", MASTER_KEY)
            .env("ROSTER_ROBLOX__BASE_URL", &app.sim.base)
            .env("ROSTER_QUEUE__POLL_INTERVAL", "1s")
            .env("ROSTER_QUEUE__HEARTBEAT_INTERVAL", "1s")
            .env("ROSTER_QUEUE__MISSED_HEARTBEATS", "3")
            .env("ROSTER_QUEUE__RETRY_BASE", "20ms")
            .env("ROSTER_QUEUE__RETRY_MAX", "400ms")
            .env(
                "ROSTER_SERVER__DATA_DIR",
                app.data.path().join("worker-unused"),
            )
            .env("ROSTER_LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn roster worker");
        Self { child }
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL the worker");
        let _ = self.child.wait();
    }

    fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        #[expect(unsafe_code, reason = "sending SIGTERM to our own child process")]
        // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        self.child.wait().expect("worker exits")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A standalone worker process runs jobs exactly like in-process workers, and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_worker_process_runs_jobs() {
    let app = TestApp::start_with(
        Backend::Redis,
        TestOpts {
            in_process_workers: false,
            ..Default::default()
        },
    )
    .await;
    let mut w = WorkerProcess::spawn(&app);
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["newRank"], 10);
    let a = app
        .write("rank", json!({"robloxUserId": 102, "rankId": 30}), &[])
        .await;
    assert_eq!(a.body["newRank"], 30);
    let a = app.promote(104).await;
    assert_eq!(a.code(), "NO_MATCHING_RULE");
    let status = w.sigterm();
    assert!(status.success(), "worker exit status {status:?}");
    app.finish().await;
}

/// A Redis-mode `roster worker` is SIGKILLed between changing the rank (assignRole done) and
/// finishing the job; after a restart the job completes and the member is promoted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_killed_mid_promotion_promotes_exactly_once() {
    let app = TestApp::start_with(
        Backend::Redis,
        TestOpts {
            in_process_workers: false,
            sync_wait: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    // The unassign after the assign is slow, so the worker dies with the rank already changed.
    app.sim.fault(
        Endpoint::UnassignRole,
        FaultAction::Latency { ms: 20_000 },
        Some(1),
    );
    let mut w = WorkerProcess::spawn(&app);
    let a = app.promote(101).await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    let job = a.body["jobId"].as_str().unwrap().to_owned();
    let sim = app.sim.sim.clone();
    eventually("assignRole applied", Duration::from_secs(20), || {
        sim.log()
            .iter()
            .any(|e| e.endpoint == Some(Endpoint::AssignRole) && e.status == 200)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.sigkill();
    assert_eq!(
        app.sim.rank(GROUP, 101),
        10,
        "the rank changed before the crash"
    );
    let _w2 = WorkerProcess::spawn(&app);
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "succeeded", "{done:?}");
    assert_eq!(done["result"]["previousRank"], 1);
    assert_eq!(done["result"]["newRank"], 10);
    assert_eq!(
        app.sim.rank(GROUP, 101),
        10,
        "promoted exactly once, not twice"
    );
    let member = app.sim.sim.member(GROUP, 101).unwrap();
    assert_eq!(
        member.role_ids.len(),
        1,
        "converged to the single target role"
    );
    let assigns: Vec<_> = app
        .sim
        .calls(Endpoint::AssignRole)
        .into_iter()
        .filter(|e| e.status == 200)
        .collect();
    assert_eq!(assigns.len(), 1, "one assignRole in total");
    assert_eq!(
        done["attempts"], 1,
        "the crash is not a failed attempt (it counts against queue.max_interruptions)"
    );
    app.finish().await;
}

/// Roblox's `retry-after` is honoured: the retry comes no sooner than asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_is_honoured() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(|c| c.queue.retry_max = Duration::from_secs(5))),
            ..Default::default()
        },
    )
    .await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::RateLimit {
            retry_after_secs: Some(1),
        },
        Some(1),
    );
    let a = app.promote(101).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let calls = app.sim.calls(Endpoint::AssignRole);
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(&calls[i].at).unwrap();
    let gap = at(1) - at(0);
    assert!(
        gap >= chrono::Duration::milliseconds(1000),
        "retried after {gap}, before retry-after"
    );
    app.finish().await;
}

/// The client remembers a used-up Open Cloud quota and waits for its reset instead of spending
/// requests Roblox would reject.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_quota_is_respected_without_extra_requests() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(|c| c.queue.retry_max = Duration::from_secs(5))),
            ..Default::default()
        },
    )
    .await;
    app.sim.sim.update_config(|c| {
        c.rate_limit_window = Duration::from_secs(2);
        c.rate_limit_overrides.insert(Endpoint::AssignRole, 1);
    });
    assert_eq!(app.promote(101).await.status, 200);
    let b = app.promote(102).await;
    assert_eq!(b.status, 200, "{:?}", b.body);
    assert_eq!(b.body["newRank"], 20);
    let assigns = app.sim.calls(Endpoint::AssignRole);
    assert!(
        assigns.iter().all(|c| c.status == 200),
        "no request was spent on a known-exhausted quota: {:?}",
        assigns.iter().map(|c| c.status).collect::<Vec<_>>()
    );
    assert_eq!(assigns.len(), 2);
    let job = app.wait_job(b.body["jobId"].as_str().unwrap()).await;
    assert!(
        job["attempts"].as_u64().unwrap() >= 2,
        "the second job waited for the window: {job}"
    );
    app.finish().await;
}
