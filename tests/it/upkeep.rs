//! The scheduler's sweeps: run by the assembled control plane on their cron schedules, and driven
//! directly with a test clock where a test counts what one sweep removed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::ManualClock;
use roster_core::config::SchedulerConfig;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both_backends;
use crate::guild::servers::{Socket, next_frame};
use crate::harness::{Backend, GUILD, TestApp, TestOpts, sweeps_by_hand};

both_backends!(vacuum_removes_finished_tasks_only);

async fn vacuum_removes_finished_tasks_only(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        TestOpts {
            tweak: Some(Arc::new(|c| {
                sweeps_by_hand(c);
                c.queue.vacuum_after = Duration::ZERO;
            })),
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
            tweak: Some(Arc::new(sweeps_by_hand)),
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

/// Every sweep once a second: what tests of the running process configure.
fn sweeps_every_second(c: &mut roster_core::config::Config) {
    c.scheduler.moderation = "*/1 * * * * *".into();
    c.scheduler.servers = "*/1 * * * * *".into();
}

/// Polls a guild audit log until an entry for `action` shows up (the sweep runs on its own).
async fn wait_audit(app: &TestApp, action: &str, what: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = app
            .guild(
                Method::GET,
                &format!("/guilds/{GUILD}/audit-logs?action={action}"),
                None,
            )
            .await;
        assert_eq!(log.status, 200, "{:?}", log.body);
        if let Some(e) = log.body["data"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| what(e))
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {action} entry from the running sweep: {:?}",
            log.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Frames from a websocket until `want` of them match; the others are skipped.
async fn frames_until(ws: &mut Socket, mut want: Vec<(&str, &str)>) {
    while !want.is_empty() {
        let f = next_frame(ws).await.expect("frame");
        let kind = match f["type"].as_str().unwrap() {
            "command" => format!("command:{}", f["data"]["type"].as_str().unwrap()),
            other => other.to_owned(),
        };
        let target = f["data"]["target_id"]
            .as_str()
            .or(f["data"]["identifier"].as_str())
            .unwrap_or_default()
            .to_owned();
        want.retain(|(k, t)| !(*k == kind && *t == target));
    }
}

/// `roster serve` runs the moderation sweep: a timed ban and a timed mute stop counting the
/// moment they end, then the sweep records their end and tells the guild's live servers (an
/// `unmute` command to a polling server; `moderation.unban`/`unmute` frames and the `unmute`
/// command on a websocket).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_control_plane_ends_timed_bans_and_mutes() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            tweak: Some(Arc::new(sweeps_every_second)),
            ..Default::default()
        },
    )
    .await;
    // One server polling over HTTP, one on the websocket.
    let hb = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": "srv-http", "place_id": 1818})),
        )
        .await;
    assert_eq!(hb.status, 200, "{:?}", hb.body);
    let url = format!(
        "{}/ws/guilds/{GUILD}/roblox?placeId=1818&serverId=srv-ws",
        app.base.replace("http", "ws")
    );
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("x-api-key", app.guild_key.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let poll = |server: &'static str| {
        let app = &app;
        async move {
            let a = app
                .guild(
                    Method::GET,
                    &format!("/roblox/servers/{server}/commands"),
                    None,
                )
                .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            a.body["data"]["commands"].as_array().unwrap().clone()
        }
    };
    for (kind, target) in [("ban", "500"), ("mute", "501")] {
        let a = app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/{kind}"),
                Some(json!({"identifier": target, "reason": "Timed", "duration_seconds": 2})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let s = app
            .guild(
                Method::GET,
                &format!("/moderation/{GUILD}/{kind}-status/{target}"),
                None,
            )
            .await;
        assert_eq!(
            s.body["data"][format!("{kind}ned").replace("mutened", "muted")],
            true
        );
    }
    let cmds = poll("srv-http").await;
    let kinds: Vec<&str> = cmds.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["kick", "mute"], "{cmds:?}");
    frames_until(
        &mut ws,
        vec![
            ("moderation.ban", "500"),
            ("moderation.mute", "501"),
            ("command:kick", "500"),
            ("command:mute", "501"),
        ],
    )
    .await;

    clock.advance(chrono::Duration::seconds(3));
    // Status checks stop counting them at once, sweep or not.
    let s = app
        .guild(
            Method::GET,
            &format!("/moderation/{GUILD}/ban-status/500"),
            None,
        )
        .await;
    assert_eq!(s.body["data"]["banned"], false, "{:?}", s.body);
    let s = app
        .guild(
            Method::GET,
            &format!("/moderation/{GUILD}/mute-status/501"),
            None,
        )
        .await;
    assert_eq!(s.body["data"]["muted"], false, "{:?}", s.body);
    // The running sweep records their end...
    let e = wait_audit(&app, "ban.expire", |e| e["target_id"] == "500").await;
    assert!(e["metadata"]["id"].is_u64(), "{e:?}");
    wait_audit(&app, "mute.expire", |e| e["target_id"] == "501").await;
    // ...and tells the live servers.
    let cmds = poll("srv-http").await;
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["type"], "unmute");
    assert_eq!(cmds[0]["target_id"], "501");
    frames_until(
        &mut ws,
        vec![
            ("moderation.unban", "500"),
            ("moderation.unmute", "501"),
            ("command:unmute", "501"),
        ],
    )
    .await;
    // Once: the next ticks find nothing more to end.
    let log = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.expire"),
            None,
        )
        .await;
    assert_eq!(log.body["data"]["entries"].as_array().unwrap().len(), 1);
    ws.close(None).await.unwrap();
    app.finish().await;
}

/// `roster serve` runs the servers sweep: a server silent past `servers.dead_after` is dropped,
/// and a command not acknowledged within `servers.command_ttl` expires with its audit entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_control_plane_drops_dead_servers_and_expires_commands() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            tweak: Some(Arc::new(sweeps_every_second)),
            ..Default::default()
        },
    )
    .await;
    // The live list hides a silent server at once; dropping it is the sweep's job, seen in the
    // `roster_live_game_servers` gauge (nextest runs each test in a process of its own).
    let live = || {
        let app = &app;
        async move {
            let m = app.request(Method::GET, "/metrics", &[], None).await;
            let text = m.body.as_str().unwrap_or_default().to_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("roster_live_game_servers "))
                .unwrap_or_else(|| panic!("no live-servers gauge: {text}"))
                .trim()
                .parse::<f64>()
                .expect("gauge value")
        }
    };
    let hb = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": "srv-quiet", "place_id": 5})),
        )
        .await;
    assert_eq!(hb.status, 200, "{:?}", hb.body);
    let q = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/commands"),
            Some(json!({"type": "kick", "targetId": "261", "serverId": "srv-quiet"})),
        )
        .await;
    assert_eq!(q.status, 201, "{:?}", q.body);
    let command = q.body["commands"][0]["id"].clone();
    assert!(command.is_string(), "{:?}", q.body);
    assert_eq!(live().await, 1.0);

    let servers = app.ctx().config.servers.clone();
    let secs = |d: Duration| chrono::Duration::seconds(d.as_secs() as i64);
    // Silent for longer than `servers.dead_after`: dropped by the running sweep.
    clock.advance(secs(servers.dead_after) + chrono::Duration::seconds(1));
    let deadline = Instant::now() + Duration::from_secs(30);
    while live().await != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the dead server was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The command is not due to expire yet.
    let pending = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/servers/srv-quiet/commands"),
            None,
        )
        .await;
    assert_eq!(
        pending.body["commands"][0]["id"], command,
        "{:?}",
        pending.body
    );

    // Past `servers.command_ttl` (after the dead server was dropped): expired, with its audit
    // entry, and never delivered.
    assert!(servers.command_ttl > servers.dead_after + Duration::from_secs(1));
    clock.advance(secs(servers.command_ttl - servers.dead_after));
    let e = wait_audit(&app, "command.expired", |e| {
        e["metadata"]["command_id"] == command
    })
    .await;
    assert_eq!(e["metadata"]["command_id"], command);
    let pending = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/servers/srv-quiet/commands"),
            None,
        )
        .await;
    assert_eq!(pending.body["commands"], json!([]), "{:?}", pending.body);
    let poll = app
        .guild(Method::GET, "/roblox/servers/srv-quiet/commands", None)
        .await;
    assert_eq!(poll.body["data"]["commands"], json!([]));
    app.finish().await;
}

/// Every `[scheduler]` key has its entry in the sweep table, which reads that very key: a sweep
/// that is configured but missing from the table would never run.
#[test]
fn every_scheduler_key_is_a_sweep_in_the_table() {
    let defaults = serde_json::to_value(SchedulerConfig::default()).unwrap();
    let mut keys: Vec<&str> = defaults
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut names: Vec<&str> = roster_scheduler::SWEEPS.iter().map(|s| s.name).collect();
    names.sort_unstable();
    assert_eq!(keys, names, "[scheduler] keys vs. the sweep table");
    // Each entry reads its own key: give every key a different schedule.
    let distinct: serde_json::Map<String, Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| ((*k).to_owned(), json!(format!("{i} * * * * *"))))
        .collect();
    let config: SchedulerConfig = serde_json::from_value(Value::Object(distinct.clone())).unwrap();
    for s in roster_scheduler::SWEEPS {
        assert_eq!(
            Some((s.schedule)(&config)),
            distinct[s.name].as_str(),
            "sweep {} reads the wrong key",
            s.name
        );
    }
}
