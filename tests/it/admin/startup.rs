//! Starting Roster: clear start-up errors, generated secrets, a corrupted store, and every
//! configuration key documented.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Backend, Sim, TempDir, test_config};

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

/// Start-up logs one line per worker pool, not one per worker (and none from apalis' own
/// per-worker lifecycle); the JSON log format gives one object per line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn startup_logs_one_line_per_pool_in_json() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let data = TempDir::new("logs");
    let port = crate::harness::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .arg("serve")
        .env("ROSTER_SERVER__DATA_DIR", data.path())
        .env("ROSTER_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("ROSTER_LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("ROSTER_LOG__LEVEL")
        .env_remove("ROSTER_QUEUE__REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::task::block_in_place(|| {
        for line in out.by_ref() {
            if line.unwrap().contains("listening on") {
                break;
            }
        }
    });
    let killed = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let pools: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "worker pool starting")
        .collect();
    assert_eq!(pools.len(), 3, "{err}");
    for p in &pools {
        assert_eq!(p["level"], "INFO");
        assert_eq!(p["fields"]["backend"], "sqlite");
        assert!(
            p["fields"]["workers"].as_u64().is_some_and(|w| w >= 1),
            "{p}"
        );
        assert!(p["fields"]["queue"].as_str().is_some(), "{p}");
    }
    assert!(
        !err.contains("worker starting") && !err.contains("apalis"),
        "per-worker lines at INFO: {err}"
    );
    // Start and stop together: a handful of lines, not one or two per worker.
    assert!(lines.len() <= 15, "{} lines: {err}", lines.len());
}
