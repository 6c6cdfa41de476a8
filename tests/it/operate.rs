//! Operating Roster: the admin API and CLI, keys, health and metrics, start-up errors,
//! `roster dev`.

use reqwest::Method;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::{Backend, GROUP, Sim, TempDir, TestApp, TestOpts, free_port, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_api_manages_groups_keys_rules_blacklist() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Auth.
    let a = app
        .request(Method::GET, "/admin/v1/groups", &[], None)
        .await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));
    let a = app
        .request(
            Method::GET,
            "/admin/v1/groups",
            &[("authorization", "Bearer wrong-token-000000")],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));

    // Create a group; the key is never shown back.
    let a = app
        .admin(
            Method::POST,
            "/groups",
            Some(json!({"groupId": 555, "name": "Five", "plan": "starter", "openCloudKey": "super-secret-oc-key-1234"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["openCloudKey"]["configured"], true);
    assert_eq!(a.body["openCloudKey"]["hint"], "…1234");
    assert!(!a.body.to_string().contains("super-secret"));
    let a = app
        .admin(Method::POST, "/groups", Some(json!({"groupId": 555})))
        .await;
    assert_eq!((a.status, a.code()), (409, "CONFLICT"));
    for bad in [
        json!({"groupId": 0}),
        json!({"groupId": 6, "plan": "gold"}),
        json!({"groupId": 6, "guardRank": 300}),
        json!({"groupId": 6, "bogus": 1}),
    ] {
        let a = app.admin(Method::POST, "/groups", Some(bad.clone())).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "BAD_REQUEST"),
            "{bad}: {:?}",
            a.body
        );
    }
    let a = app
        .admin(
            Method::PATCH,
            "/groups/555",
            Some(json!({"plan": "pro", "guardRank": 50})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["plan"], "pro");
    assert_eq!(a.body["guardRank"], 50);
    let a = app.admin(Method::GET, "/groups/404404", None).await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));

    // Keys: shown once, hashed at rest, plan limit, revocation works at once.
    let k1 = app
        .admin(
            Method::POST,
            "/groups/555/keys",
            Some(json!({"label": "game"})),
        )
        .await;
    assert_eq!(k1.status, 201);
    let key1 = k1.body["key"].as_str().unwrap().to_owned();
    assert!(key1.starts_with("rst_"));
    let k2 = app
        .admin(
            Method::POST,
            "/groups/555/keys",
            Some(json!({"label": "bot"})),
        )
        .await;
    assert_eq!(k2.status, 201);
    let k3 = app
        .admin(Method::POST, "/groups/555/keys", Some(json!({})))
        .await;
    assert_eq!(
        (k3.status, k3.code()),
        (409, "LIMIT_REACHED"),
        "Pro allows two keys"
    );
    let list = app.admin(Method::GET, "/groups/555/keys", None).await;
    assert_eq!(list.body["keys"].as_array().unwrap().len(), 2);
    assert!(
        !list.body.to_string().contains(&key1),
        "keys are never listed"
    );
    let usage = app
        .request(
            Method::GET,
            "/v1/groups/555/usage",
            &[("x-api-key", &key1)],
            None,
        )
        .await;
    assert_eq!(usage.status, 200);
    let id = k1.body["id"].as_str().unwrap();
    let r = app
        .admin(Method::DELETE, &format!("/keys/{id}"), None)
        .await;
    assert_eq!(r.status, 200);
    let usage = app
        .request(
            Method::GET,
            "/v1/groups/555/usage",
            &[("x-api-key", &key1)],
            None,
        )
        .await;
    assert_eq!((usage.status, usage.code()), (401, "INVALID_API_KEY"));
    // Only the hash is at rest: every file of the data directory (the store, and the queue's
    // SQLite file with its WAL, where jobs carry the group's sealed Open Cloud key) is scanned.
    let p = app.promote(101).await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    // Jobs carry the bare ULID of their id (`job_<ULID>`).
    let job = p.body["jobId"].as_str().expect("job id")["job_".len()..].to_owned();
    let demo_oc_key = crate::harness::oc_key(GROUP);
    let files = files_under(app.data.path());
    let queue_files: Vec<_> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("queue.sqlite3"))
        })
        .collect();
    assert!(
        !queue_files.is_empty(),
        "the SQLite queue is scanned: {files:?}"
    );
    assert!(
        queue_files
            .iter()
            .any(|f| contains(&std::fs::read(f).unwrap_or_default(), job.as_bytes())),
        "the scan reads the queue's jobs ({job} is in {queue_files:?})"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(app.data.path().join("store"))),
        "the store is scanned: {files:?}"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for (secret, what) in [
            (key1.as_bytes(), "an API key"),
            (app.api_key.as_bytes(), "the demo API key"),
            (b"super-secret-oc-key".as_slice(), "an Open Cloud key"),
            (demo_oc_key.as_bytes(), "the demo Open Cloud key"),
            (app.admin_token.as_bytes(), "the admin token"),
        ] {
            assert!(
                !contains(&bytes, secret),
                "{what} is stored in clear in {}",
                f.display()
            );
        }
    }

    // Rules.
    let a = app
        .admin(
            Method::POST,
            "/groups/555/rules",
            Some(json!({"direction": "promote", "from": {"min": 1, "max": 5}, "to": "next"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let rid = a.body["id"].as_u64().unwrap();
    let a = app
        .admin(
            Method::POST,
            "/groups/555/rules",
            Some(json!({"direction": "sideways", "from": 1, "to": 2})),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    let a = app
        .admin(
            Method::POST,
            "/groups/555/rules",
            Some(json!({"direction": "promote", "from": 1, "to": 255})),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    let a = app
        .admin(
            Method::PATCH,
            &format!("/groups/555/rules/{rid}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(a.body["enabled"], false);
    let a = app.admin(Method::GET, "/groups/555/rules", None).await;
    assert_eq!(a.body["rules"].as_array().unwrap().len(), 1);
    let a = app
        .admin(Method::DELETE, &format!("/groups/555/rules/{rid}"), None)
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .admin(Method::DELETE, &format!("/groups/555/rules/{rid}"), None)
        .await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));

    // Blacklist.
    let a = app
        .admin(
            Method::POST,
            "/groups/555/blacklist",
            Some(json!({"robloxUserId": 9, "reason": "alt"})),
        )
        .await;
    assert_eq!(a.status, 201);
    let a = app.admin(Method::GET, "/groups/555/blacklist", None).await;
    assert_eq!(a.body["blacklist"][0]["robloxUserId"], 9);
    let a = app
        .admin(Method::DELETE, "/groups/555/blacklist/9", None)
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .admin(Method::DELETE, "/groups/555/blacklist/9", None)
        .await;
    assert_eq!(a.status, 404);

    // Unknown admin routes and methods.
    let a = app.admin(Method::GET, "/nothing", None).await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));
    let a = app.admin(Method::PUT, "/groups", None).await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    app.finish().await;
}

/// Every file below `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

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

/// The admin CLI drives the admin API; a key it issues works and is printed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_cli_round_trip() {
    let app = TestApp::start(Backend::Sqlite).await;
    let run = |args: &[&str]| -> (bool, Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_roster"))
            .arg("admin")
            .args(args)
            .env("ROSTER_URL", &app.base)
            .env("ROSTER_ADMIN_TOKEN", &app.admin_token)
            .output()
            .expect("run roster admin");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (
            out.status.success(),
            serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr,
        )
    };
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "group", "create", "--id", "777", "--name", "Seven", "--plan", "pro",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["groupId"], 777);
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "rule",
            "add",
            "777",
            "--direction",
            "promote",
            "--from",
            "1-9",
            "--to",
            "next",
        ])
    });
    assert!(ok);
    assert_eq!(v["from"], json!({"min": 1, "max": 9}));
    let (ok, v, _) =
        tokio::task::block_in_place(|| run(&["key", "issue", "777", "--label", "cli"]));
    assert!(ok);
    let key = v["key"].as_str().unwrap().to_owned();
    let u = app
        .request(
            Method::GET,
            "/v1/groups/777/usage",
            &[("x-api-key", &key)],
            None,
        )
        .await;
    assert_eq!(u.status, 200);
    let (ok, _, err) = tokio::task::block_in_place(|| run(&["group", "show", "999999"]));
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["usage", &GROUP.to_string()]));
    assert!(ok);
    assert_eq!(v["usage"]["count"], 0);
    // The guild side.
    let g = "300000000000000003";
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "create",
            "--id",
            g,
            "--name",
            "CLI Guild",
            "--universe",
            "121",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["robloxUniverses"], json!([121]));
    let (ok, v, _) =
        tokio::task::block_in_place(|| run(&["guild-key", "issue", g, "--label", "game"]));
    assert!(ok);
    let gkey = v["key"].as_str().unwrap().to_owned();
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "ban",
            g,
            "261",
            "--reason",
            "Exploiting",
            "--duration",
            "3600",
        ])
    });
    assert!(ok);
    assert_eq!(v["identifier"], "261");
    let s = app
        .request(
            Method::GET,
            &format!("/moderation/{g}/ban-status/261"),
            &[("x-api-key", &gkey)],
            None,
        )
        .await;
    assert_eq!(s.body["data"]["banned"], true);
    let (ok, _, _) = tokio::task::block_in_place(|| run(&["unban", g, "261"]));
    assert!(ok);
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "command", g, "--type", "announce", "--server", "srv-1", "--reason", "hi",
        ])
    });
    assert!(ok);
    assert_eq!(v["commands"][0]["serverId"], "srv-1");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["shield", "allow", g]));
    assert!(ok);
    assert_eq!(v["shieldWriter"], true);
    // The Discord side: settings, a CSV import of links, the role-bridge key.
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "update",
            g,
            "--main-group",
            &GROUP.to_string(),
            "--verified-role",
            "5002",
            "--nickname-template",
            "{roblox-username}",
            "--keep-role",
            "5010",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["discord"]["verifiedRole"], "5002");
    assert_eq!(v["discord"]["keepRoles"], json!(["5010"]));
    assert_eq!(v["discord"]["mainGroup"], GROUP);
    let csv = app.data.path().join("links.csv");
    std::fs::write(
        &csv,
        "discord_id,roblox_id,roblox_username\n123456789012345678,261,Shedletsky\n",
    )
    .expect("write csv");
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&["links", "import", g, csv.to_str().expect("utf-8 path")])
    });
    assert!(ok, "{err}");
    assert_eq!(v["created"], 1);
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["links", "list", g]));
    assert!(ok);
    assert_eq!(v["links"][0]["robloxUsername"], "Shedletsky");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["guild", "role-bridge-key", g]));
    assert!(ok);
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("rbk_")),
        "{v}"
    );
    let (ok, _, err) = tokio::task::block_in_place(|| run(&["sync-all", "status", g]));
    assert!(!ok && err.contains("404"), "no run yet: {err}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn startup_errors_are_clear() {
    // An invalid value names its key.
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve"])
        .env("ROSTER_QUEUE__CONCURRENCY", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("queue.concurrency"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["serve"])
        .env("ROSTER_ROBLOX__BASE_URL", "ftp://nowhere")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("roblox.base_url"));

    // A data directory in use by another control plane.
    let sim = Sim::start().await;
    let data = TempDir::new("locked");
    let config = test_config(data.path(), Backend::Sqlite, None, &sim.base);
    let running = roster::app::start(config.clone(), Default::default())
        .await
        .unwrap();
    let err = roster::app::start(config.clone(), Default::default())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("in use by another Roster process"),
        "{err:#}"
    );
    running.shutdown().await.unwrap();

    // A standalone worker without Redis says what it needs.
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["worker"])
        .env_remove("ROSTER_QUEUE__REDIS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("queue.redis_url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_secrets_are_private_and_admin_token_printed_once() {
    let sim = Sim::start().await;
    let data = TempDir::new("gen");
    let mut config = test_config(data.path(), Backend::Sqlite, None, &sim.base);
    config.security.admin_token = None;
    config.security.master_key = None;
    let cp = roster::app::start(config.clone(), Default::default())
        .await
        .unwrap();
    let token = cp
        .generated_admin_token
        .clone()
        .expect("generated on first run");
    cp.shutdown().await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["admin.token", "master.key"] {
        let mode = std::fs::metadata(data.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let cp = roster::app::start(config, Default::default())
        .await
        .unwrap();
    assert!(
        cp.generated_admin_token.is_none(),
        "shown only on first run"
    );
    let r = reqwest::Client::new()
        .get(format!("http://{}/admin/v1/groups", cp.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    cp.shutdown().await.unwrap();
}

/// `roster dev` prints one JSON line first, then a tour; the line's key works against the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roster_dev_first_line_is_json_and_works() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["dev", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::task::block_in_place(|| lines.next().unwrap().unwrap());
    let info: Value = serde_json::from_str(&first).expect("first line is JSON");
    for k in [
        "apiBase",
        "adminToken",
        "groupId",
        "apiKey",
        "members",
        "simulatorBase",
        "discordSimulatorBase",
        "roleBridgeKey",
        "discordMembers",
    ] {
        assert!(info.get(k).is_some(), "missing {k} in {first}");
    }
    let api = info["apiBase"].as_str().unwrap();
    let g = info["groupId"].as_u64().unwrap();
    let user = info["members"][0]["robloxUserId"].as_u64().unwrap();
    let rank = info["members"][0]["rank"].as_u64().unwrap();
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{api}/v1/groups/{g}/promote"))
        .header("x-api-key", info["apiKey"].as_str().unwrap())
        .json(&json!({"robloxUserId": user}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["previousRank"].as_u64(), Some(rank), "{r}");
    assert!(r["newRank"].as_u64().unwrap() > rank);
    let guild = info["guildId"].as_str().unwrap();
    let s: Value = http
        .get(format!("{api}/moderation/{guild}/ban-status/{user}"))
        .header("x-api-key", info["guildApiKey"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["data"]["banned"], false, "{s}");
    // The demo guild syncs against the Discord simulator: linked member, bound roles, nickname.
    let discord_user = info["discordMembers"][0].as_str().unwrap();
    let s: Value = http
        .post(format!("{api}/interactions/sync"))
        .header("x-api-key", info["guildApiKey"].as_str().unwrap())
        .json(&json!({"guild_id": guild, "user_id": discord_user}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(
        s["data"]["added_roles"].as_array().map(Vec::len),
        Some(3),
        "{s}"
    );
    assert_eq!(s["data"]["nickname_updated"], true, "{s}");
    let second = tokio::task::block_in_place(|| lines.next().unwrap().unwrap());
    let mut tour = second;
    for _ in 0..6 {
        tour.push_str(&tokio::task::block_in_place(|| {
            lines.next().unwrap().unwrap()
        }));
    }
    assert!(tour.contains("Roster dev is running"), "{tour}");
    #[expect(unsafe_code, reason = "sending SIGINT to our own child process")]
    // SAFETY: kill(2) on a child we spawned.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.success(), "{status:?}");
}

/// Every configuration key is documented in docs/configuration.md.
#[test]
fn every_config_key_is_documented() {
    fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&p, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let config = serde_json::to_value(roster_core::config::Config::default()).unwrap();
    let mut keys = Vec::new();
    leaves("", &config, &mut keys);
    assert!(keys.len() > 30, "walked the config: {keys:?}");
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "undocumented configuration keys: {missing:?}"
    );
}

/// A corrupted store stops start-up with a message that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupted_store_is_reported() {
    let sim = Sim::start().await;
    let data = TempDir::new("corrupt");
    let config = test_config(data.path(), Backend::Sqlite, None, &sim.base);
    let cp = roster::app::start(config.clone(), Default::default())
        .await
        .unwrap();
    cp.shutdown().await.unwrap();
    for entry in std::fs::read_dir(data.path().join("store"))
        .unwrap()
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::write(entry.path(), vec![0xA5u8; 4096]).unwrap();
        }
    }
    let err = roster::app::start(config, Default::default())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("corrupt"), "{msg}");
}
