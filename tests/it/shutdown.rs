//! Orderly shutdown of the real binaries: SIGTERM and SIGINT to the process that runs jobs
//! (`roster serve` on SQLite, a standalone `roster worker` on Redis) while a promote is in
//! flight. Within `server.shutdown_grace` the promote is drained (finished, recorded, its
//! waiting request answered) and the process exits 0; cut off by a short grace, it is left in
//! the queue and completes after the next start, applied once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use roster::chaos::{self, Backend, Cluster, ClusterOpts, FIRST_MEMBER};
use roster_sim::roblox::{Endpoint, FaultAction};
use serde_json::{Value, json};

fn opts(backend: Backend, grace: &str) -> ClusterOpts {
    ClusterOpts {
        bin: env!("CARGO_BIN_EXE_roster").into(),
        backend,
        members: 1,
        latency: Duration::ZERO,
        sync_wait: Duration::from_secs(20),
        env: vec![("ROSTER_SERVER__SHUTDOWN_GRACE".into(), grace.into())],
    }
}

macro_rules! on_both_with_signals {
    ($($name:ident),* $(,)?) => {
        $(
            pub mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite_sigterm() {
                    super::$name(roster::chaos::Backend::Sqlite, "TERM").await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite_sigint() {
                    super::$name(roster::chaos::Backend::Sqlite, "INT").await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis_sigterm() {
                    super::$name(roster::chaos::Backend::Redis, "TERM").await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis_sigint() {
                    super::$name(roster::chaos::Backend::Redis, "INT").await;
                }
            }
        )*
    };
}

on_both_with_signals!(
    in_flight_promote_is_drained,
    promote_cut_off_by_the_grace_resumes
);

/// Waits until the simulator has answered a membership read since `mark`: the job is running.
async fn job_running(c: &Cluster, mark: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c
        .sim
        .log()
        .iter()
        .any(|e| e.seq > mark && e.endpoint == Some(Endpoint::ListMemberships))
    {
        assert!(Instant::now() < deadline, "the promote never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `:assignRole` calls Roblox answered 200.
fn assigns(c: &Cluster) -> usize {
    c.sim
        .log()
        .iter()
        .filter(|e| e.endpoint == Some(Endpoint::AssignRole) && e.status == 200)
        .count()
}

/// A promote whose `:assignRole` takes 1.5 s is running when the signal arrives: the process
/// finishes it, the synchronous request waiting for it gets its 200, and the exit code is 0.
async fn in_flight_promote_is_drained(backend: Backend, signal: &str) {
    let mut c = Cluster::start(opts(backend, "20s")).await.unwrap();
    let user = FIRST_MEMBER;
    c.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 1500 },
        Some(1),
    );
    let mark = c.log_mark();
    let api = c.api.clone();
    let request = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/groups/{}/promote", api.base, chaos::GROUP))
            .timeout(Duration::from_secs(40))
            .header("X-Api-Key", &api.api_key)
            .header("Idempotency-Key", "drained")
            .json(&json!({"robloxUserId": user}))
            .send()
            .await
            .expect("the waiting request is answered, not cut");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.expect("a JSON answer"))
    });
    job_running(&c, mark).await;
    assert_eq!(assigns(&c), 0, "the promote is still in flight");
    let exit = c
        .signal_and_wait(backend == Backend::Redis, signal, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "SIG{signal}: {exit}");
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["newRank"], 2, "{body}");
    assert_eq!(c.rank(user), 2);
    assert_eq!(assigns(&c), 1);
    // The outcome was recorded before the exit: after a restart the job is final, done once.
    if backend == Backend::Sqlite {
        c.start_serve().unwrap();
        c.wait_ready(Duration::from_secs(30)).await.unwrap();
    }
    let job = body["jobId"].as_str().unwrap().to_owned();
    let record = c.api.job(&job).await.expect("job record");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["attempts"], 1, "{record}");
    if backend == Backend::Redis {
        // A new worker finds nothing left to run.
        c.start_worker().unwrap();
    }
    // Another promote runs normally, once.
    let next = c
        .api
        .promote(user, "after", true, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(next.body["newRank"], 3, "{:?}", next.body);
    assert_eq!(assigns(&c), 2, "the drained promote was not run again");
    assert_eq!(
        c.tally(&HashMap::from([(user, 2)])),
        chaos::Tally::default()
    );
}

/// With a 1 s grace and an `:assignRole` that takes a minute, the signal cuts the promote off:
/// the process still exits by itself with 0, the promote stays in the queue, and after the next
/// start it completes, applied once.
async fn promote_cut_off_by_the_grace_resumes(backend: Backend, signal: &str) {
    let mut c = Cluster::start(opts(backend, "1s")).await.unwrap();
    let user = FIRST_MEMBER;
    c.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 60_000 },
        Some(1),
    );
    let mark = c.log_mark();
    let job = c
        .api
        .promote(user, "cut-off", false, Duration::from_secs(10))
        .await
        .unwrap()
        .job_id;
    job_running(&c, mark).await;
    let exit = c
        .signal_and_wait(backend == Backend::Redis, signal, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "SIG{signal}: {exit}");
    assert_eq!(c.rank(user), 1, "the slow assign never completed");
    if backend == Backend::Redis {
        // The control plane is up: the job is accepted and not final.
        let record = c.api.job(&job).await.expect("job record");
        assert!(
            !matches!(
                record["status"].as_str(),
                Some("succeeded" | "failed" | "dead")
            ),
            "{record}"
        );
    }
    c.start_victim().unwrap();
    c.wait_ready(Duration::from_secs(30)).await.unwrap();
    let done = c
        .api
        .wait_final(std::slice::from_ref(&job), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done[0]["status"], "succeeded", "{}", done[0]);
    assert_eq!(done[0]["result"]["newRank"], 2, "{}", done[0]);
    assert_eq!(c.rank(user), 2);
    assert_eq!(assigns(&c), 1, "applied once");
    assert_eq!(
        c.tally(&HashMap::from([(user, 1)])),
        chaos::Tally::default()
    );
}
