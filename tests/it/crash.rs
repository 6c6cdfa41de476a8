//! The crash suite: Roster's real processes SIGKILLed mid-job (`roster::chaos`), counting
//! promotes lost, doubled and rolled back — all must be 0 — on both queue backends.

use std::collections::HashMap;
use std::time::Duration;

use roster::chaos::{self, Backend, ChaosOpts, Cluster, ClusterOpts, FIRST_MEMBER};
use roster_sim::roblox::{Endpoint, FaultAction};

fn cluster_opts(backend: Backend, members: u64) -> ClusterOpts {
    ClusterOpts {
        bin: env!("CARGO_BIN_EXE_roster").into(),
        backend,
        members,
        latency: Duration::ZERO,
        sync_wait: Duration::from_secs(20),
        env: Vec::new(),
    }
}

/// Sends a promote of `user` whose `:unassignRole` hangs, and SIGKILLs the process running it
/// once `:assignRole` went through: the process dies with the rank already changed. Returns the
/// job id.
async fn promote_and_kill_after_assign(c: &mut Cluster, user: u64, key: &str) -> String {
    c.fault(
        Endpoint::UnassignRole,
        FaultAction::Latency { ms: 60_000 },
        Some(1),
    );
    let mark = c.log_mark();
    let job = c
        .api
        .promote(user, key, false, Duration::from_secs(10))
        .await
        .unwrap()
        .job_id;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !c.assigned_since(mark) {
        assert!(std::time::Instant::now() < deadline, "assignRole never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.kill_victim();
    job
}

/// Whether `roster serve`'s `/metrics` shows counter `name` above zero (and the page, to report).
async fn counted(api: &chaos::Api, name: &str) -> (bool, String) {
    let metrics = reqwest::get(format!("{}/metrics", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = metrics
        .lines()
        .any(|l| l.starts_with(name) && !l.ends_with(" 0"));
    (counted, metrics)
}

macro_rules! on_both {
    ($($name:ident($($arg:expr),*)),* $(,)?) => {
        $(
            pub mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(roster::chaos::Backend::Sqlite $(, $arg)*).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn redis() {
                    super::$name(roster::chaos::Backend::Redis $(, $arg)*).await;
                }
            }
        )*
    };
}

on_both!(
    redelivered_promote_runs_before_later_promotes(),
    redelivered_promote_after_the_lease_expired_runs_before_later_promotes(),
    chaos_twenty_kills_during_150_promotes(),
    a_job_that_kills_its_worker_every_time_is_dead_lettered(),
);

async fn redelivered_promote_runs_before_later_promotes(backend: Backend) {
    crashed_promote_then_two_more(backend, Duration::ZERO).await;
}

/// The job-running process stays down longer than a subject lease lives, while (on Redis, where
/// the API stays up) the later promotes are accepted and wait.
async fn redelivered_promote_after_the_lease_expired_runs_before_later_promotes(backend: Backend) {
    crashed_promote_then_two_more(
        backend,
        roster_worker::runtime::LEASE_TTL + Duration::from_secs(3),
    )
    .await;
}

/// The reproducer: the process running a promote is SIGKILLed between `:assignRole` and
/// the end of the job; two more promotes of the member follow. The first is delivered again and
/// must finish before them: 1→2, then 2→3, 3→4, and never a move back down.
async fn crashed_promote_then_two_more(backend: Backend, down: Duration) {
    let mut c = Cluster::start(cluster_opts(backend, 1)).await.unwrap();
    let user = FIRST_MEMBER;
    let api = c.api.clone();
    let first = promote_and_kill_after_assign(&mut c, user, "first").await;
    assert_eq!(c.rank(user), 2, "the rank changed before the crash");
    let mut later = Vec::new();
    if backend == Backend::Redis && !down.is_zero() {
        // The API is up: the later promotes are accepted while no worker runs.
        for key in ["second", "third"] {
            later.push(
                api.promote(user, key, false, Duration::from_secs(10))
                    .await
                    .unwrap(),
            );
        }
    }
    tokio::time::sleep(down).await;
    c.start_victim().unwrap();
    c.wait_ready(Duration::from_secs(30)).await.unwrap();
    if later.is_empty() {
        for key in ["second", "third"] {
            let a = api
                .promote(user, key, true, Duration::from_secs(40))
                .await
                .unwrap();
            later.push(a);
        }
    }
    let ids: Vec<String> = std::iter::once(first)
        .chain(later.iter().map(|a| a.job_id.clone()))
        .collect();
    let jobs = api.wait_final(&ids, Duration::from_secs(90)).await.unwrap();
    let steps: Vec<(u64, u64)> = jobs
        .iter()
        .map(|j| {
            assert_eq!(j["status"], "succeeded", "{j}");
            (
                j["result"]["previousRank"].as_u64().unwrap(),
                j["result"]["newRank"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, vec![(1, 2), (2, 3), (3, 4)], "{jobs:?}");
    assert_eq!(c.rank(user), 4, "no promote undone");
    let tally = c.tally(&HashMap::from([(user, 3)]));
    assert_eq!(tally, chaos::Tally::default(), "{tally:?}");
    assert_eq!(
        jobs[0]["attempts"], 1,
        "the crash is not a failed attempt: {}",
        jobs[0]
    );
}

/// The job-running process (`serve` on SQLite, a standalone `worker` on Redis) is SIGKILLed 20
/// times, 0.8–2 s apart, during 150 promotes of 24 members sent by six clients: nothing lost,
/// doubled or rolled back, every job succeeded.
async fn chaos_twenty_kills_during_150_promotes(backend: Backend) {
    let report = chaos::run(ChaosOpts {
        cluster: ClusterOpts {
            latency: Duration::from_millis(100),
            ..cluster_opts(backend, 24)
        },
        kills: 20,
        gap: (Duration::from_millis(800), Duration::from_millis(2000)),
        promotes: 150,
        clients: 6,
    })
    .await
    .unwrap();
    eprintln!("{report}");
    assert_eq!(report.accepted, 150);
    assert_eq!(report.tally, chaos::Tally::default(), "{report}");
    assert_eq!(report.not_succeeded, 0, "{report}");
}

/// A job whose every attempt ends with its worker killed (here: `:assignRole` hangs and the
/// process is SIGKILLed each time) is dead-lettered after `queue.max_interruptions`, with an
/// error that says so, instead of looping forever.
async fn a_job_that_kills_its_worker_every_time_is_dead_lettered(backend: Backend) {
    let mut c = Cluster::start(ClusterOpts {
        env: vec![("ROSTER_QUEUE__MAX_INTERRUPTIONS".into(), "2".into())],
        ..cluster_opts(backend, 1)
    })
    .await
    .unwrap();
    c.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 60_000 },
        None,
    );
    let api = c.api.clone();
    let mut mark = c.log_mark();
    let job = api
        .promote(FIRST_MEMBER, "poison", false, Duration::from_secs(10))
        .await
        .unwrap()
        .job_id;
    let mut kills = 0;
    let record = loop {
        // The job is running once it has read the membership (the assign then hangs).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(j) = api.job(&job).await
                && matches!(j["status"].as_str(), Some("dead" | "failed" | "succeeded"))
            {
                break;
            }
            let running = c
                .sim
                .log()
                .iter()
                .any(|e| e.seq > mark && e.endpoint == Some(Endpoint::ListMemberships));
            if running {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the job never ran again"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(j) = api.job(&job).await
            && matches!(j["status"].as_str(), Some("dead" | "failed" | "succeeded"))
        {
            break j;
        }
        assert!(kills < 6, "still not dead-lettered after {kills} kills");
        tokio::time::sleep(Duration::from_millis(200)).await;
        mark = c.log_mark();
        c.kill_victim();
        kills += 1;
        c.start_victim().unwrap();
        c.wait_ready(Duration::from_secs(30)).await.unwrap();
    };
    assert_eq!(record["status"], "dead", "{record}");
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped"),
        "{record}"
    );
    assert_eq!(
        kills, 3,
        "dead-lettered on the start after the third interruption"
    );
    // The internal code is in the audit entry; callers see the ranking API's code.
    let (_, audit) = c
        .admin(
            reqwest::Method::GET,
            &format!("/groups/{}/audit", chaos::GROUP),
            None,
        )
        .await
        .unwrap();
    let audit = audit.to_string();
    assert!(
        audit.contains("rank.promote.dead") && audit.contains("JOB_INTERRUPTED"),
        "{audit}"
    );
    if backend == Backend::Sqlite {
        // The delivery after the last kill ran in the restarted `serve`, which counted it.
        let (counted, metrics) = counted(&api, "roster_job_interruptions_total").await;
        assert!(counted, "{metrics}");
    }
}

/// Admin and guild writes go on while `roster serve` is SIGKILLed: every write Roster
/// acknowledged is there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_a_control_plane_sigkill() {
    use reqwest::Method;
    use serde_json::json;
    let c = Cluster::start(cluster_opts(Backend::Sqlite, 1))
        .await
        .unwrap();
    let guild = 987_000_000_000_000_001u64;
    let (status, body) = c
        .admin(
            Method::POST,
            "/guilds",
            Some(json!({"guildId": guild.to_string()})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, key) = c
        .admin(
            Method::POST,
            &format!("/guilds/{guild}/keys"),
            Some(json!({"label": "community"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{key}");
    let guild_key = key["key"].as_str().unwrap().to_owned();
    let base = c.api.base.clone();
    let http = reqwest::Client::new();
    let xp = {
        let (http, base, guild_key) = (http.clone(), base.clone(), guild_key.clone());
        move |i: u64| {
            http.post(format!("{base}/api/xp/add"))
                .header("x-api-key", &guild_key)
                .json(&json!({"serverId": guild.to_string(), "robloxId": 4242, "amount": 1, "reference": format!("w{i}")}))
                .send()
        }
    };
    let c = std::sync::Arc::new(tokio::sync::Mutex::new(c));
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut refused = 0;
            for i in 0..100_000u64 {
                if stop.is_cancelled() {
                    break;
                }
                let (path, body) = if i % 2 == 0 {
                    (
                        format!("/groups/{}/blacklist", chaos::GROUP),
                        json!({"robloxUserId": 900_000 + i, "reason": format!("w{i}")}),
                    )
                } else {
                    (
                        format!("/guilds/{guild}/bans"),
                        json!({"identifier": (900_000 + i).to_string(), "reason": format!("w{i}"), "moderatorId": "1"}),
                    )
                };
                let answer = c.lock().await.admin(Method::POST, &path, Some(body)).await;
                match answer {
                    Some((s, _)) if s < 300 => acked.push(i),
                    _ => refused += 1,
                }
            }
            (acked, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.lock().await.kill_serve();
    tokio::time::sleep(Duration::from_millis(300)).await;
    {
        let mut c = c.lock().await;
        c.start_serve().unwrap();
        c.wait_ready(Duration::from_secs(30)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let (acked, refused) = writer.await.unwrap();
    assert!(refused > 0, "no write met the dead control plane");
    let mut c = c.lock().await;
    let (_, blacklist) = c
        .admin(
            Method::GET,
            &format!("/groups/{}/blacklist?limit=1000", chaos::GROUP),
            None,
        )
        .await
        .unwrap();
    let (_, bans) = c
        .admin(Method::GET, &format!("/guilds/{guild}/bans"), None)
        .await
        .unwrap();
    let listed = format!("{blacklist}{bans}");
    let missing: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|i| !listed.contains(&format!("\"w{i}\"")))
        .collect();
    assert!(acked.len() >= 20, "{} writes acknowledged", acked.len());
    assert!(
        missing.is_empty(),
        "acknowledged but lost after the SIGKILL: {missing:?}"
    );
    // Community writes alone (no other write's flush to ride on): every acknowledged XP add
    // is in the balance after a SIGKILL (one not acknowledged may be too).
    let writer = {
        let stop = tokio_util::sync::CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut acked = 0u64;
            for i in 0.. {
                if s.is_cancelled() {
                    break;
                }
                match xp(i).await {
                    Ok(r) if r.status().is_success() => acked += 1,
                    _ => break,
                }
            }
            acked
        });
        (stop, task)
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.kill_serve();
    writer.0.cancel();
    let acked_xp = writer.1.await.unwrap();
    c.start_serve().unwrap();
    c.wait_ready(Duration::from_secs(30)).await.unwrap();
    let balance: serde_json::Value = http
        .get(format!("{base}/api/xp/get?serverId={guild}&robloxId=4242"))
        .header("x-api-key", &guild_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let balance = balance["xp"].as_u64().unwrap();
    assert!(acked_xp >= 10, "{acked_xp} XP adds acknowledged");
    assert!(
        balance >= acked_xp,
        "{acked_xp} XP adds acknowledged, {balance} after the SIGKILL"
    );
}

/// Jobs waiting for their turn hold no worker slot: with four slots, six later promotes of a
/// member whose first promote is yet to be redelivered (its process was killed mid-job) would
/// otherwise fill every slot, and neither that promote nor another member's could run. They are
/// parked and pushed again on their turn, and everything finishes, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_waiting_for_their_turn_hold_no_slot() {
    let mut c = Cluster::start(ClusterOpts {
        env: vec![("ROSTER_QUEUE__CONCURRENCY".into(), "4".into())],
        ..cluster_opts(Backend::Sqlite, 2)
    })
    .await
    .unwrap();
    let (a, b) = (FIRST_MEMBER, FIRST_MEMBER + 1);
    let api = c.api.clone();
    let mut jobs = vec![promote_and_kill_after_assign(&mut c, a, "a-0").await];
    c.start_victim().unwrap();
    c.wait_ready(Duration::from_secs(30)).await.unwrap();
    // Fetched at once, before the orphan is handed back.
    for i in 1..=6 {
        let key = format!("a-{i}");
        jobs.push(
            api.promote(a, &key, false, Duration::from_secs(10))
                .await
                .unwrap()
                .job_id,
        );
    }
    jobs.push(
        api.promote(b, "b-0", false, Duration::from_secs(10))
            .await
            .unwrap()
            .job_id,
    );
    let done = api
        .wait_final(&jobs, Duration::from_secs(90))
        .await
        .unwrap();
    for j in &done {
        assert_eq!(j["status"], "succeeded", "{j}");
    }
    assert_eq!(c.rank(a), 8, "seven promotes of a, none lost or undone");
    assert_eq!(c.rank(b), 2);
    assert_eq!(
        c.tally(&HashMap::from([(a, 7), (b, 1)])),
        chaos::Tally::default()
    );
    let (counted, metrics) = counted(&api, "roster_job_turn_parked_total").await;
    assert!(counted, "waiting jobs were parked: {metrics}");
}
