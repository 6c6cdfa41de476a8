//! `deploy/`: the Grafana dashboard and the Prometheus alert rules name only metrics Roster
//! exports — read from a real `/metrics` after a scenario (ranking writes, a guild's sync-all
//! against the simulators) — and the rules parse (promtool, when installed; `.ci/run` installs
//! it and runs `promtool check rules` itself).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::discord::start;
use crate::harness::{Backend, GUILD};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Metrics that a healthy short run does not produce (they count failures, throttling, or
/// periodic work that has not come round yet). Each must still be one Roster records: its name
/// is checked in the sources.
const ONLY_ON_FAILURE_OR_LATER: &[&str] = &[
    "roster_outbox_push_errors_total",
    "roster_sweep_errors_total",
    "roster_sweep_removed_total",
    "roster_sweep_seconds",
    "roster_worker_restarts_total",
    "roster_queue_heartbeat_failures_total",
    "roster_job_interruptions_total",
    "roster_job_retries_total",
    "roster_upstream_local_throttle_total",
    "roster_discord_rate_limit_wait_seconds",
    "roster_http_connections_closed_total",
    "roster_live_game_servers",
];

/// The `roster_…` metric names in a file (summary suffixes stripped).
fn names_in(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(file)).expect(file);
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("roster_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let name = name
            .strip_suffix("_sum")
            .or_else(|| name.strip_suffix("_count"))
            .unwrap_or(name);
        out.insert(name.to_owned());
        rest = &tail[end..];
    }
    out
}

/// Every Rust source of the workspace, concatenated.
fn sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if !matches!(name, "target" | "tests" | "node_modules") && !name.starts_with('.') {
                    walk(&p, out);
                }
            } else if name.ends_with(".rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut s = String::new();
    walk(Path::new(ROOT), &mut s);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_and_alerts_name_only_exported_metrics() {
    let d = start(Backend::Sqlite).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    // Ranking writes (HTTP, jobs, queue, Open Cloud) …
    for user in [101, 102] {
        let a = d.app.promote(user).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    // … and a guild's sync-all (Discord, sync pages and batches).
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = d
            .app
            .admin(Method::GET, &format!("/guilds/{GUILD}/sync-all"), None)
            .await;
        if p.body["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", p.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = d.app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().expect("metrics text").to_owned();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            n.strip_suffix("_sum")
                .or_else(|| n.strip_suffix("_count"))
                .unwrap_or(n)
                .to_owned()
        })
        .collect();
    let source = sources();
    for file in ["deploy/grafana/roster.json", "deploy/prometheus/alerts.yml"] {
        let named = names_in(file);
        assert!(named.len() >= 5, "{file} names too few metrics: {named:?}");
        for n in &named {
            if exported.contains(n) {
                continue;
            }
            assert!(
                ONLY_ON_FAILURE_OR_LATER.contains(&n.as_str()),
                "{file} names {n}, which /metrics did not show after the scenario:\n{text}"
            );
            assert!(
                source.contains(&format!("\"{n}\"")),
                "{file} names {n}, which no Roster source records"
            );
        }
    }
    // The dashboard is JSON Grafana can import: panels with Prometheus queries.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("deploy/grafana/roster.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let queries = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["expr"].as_str().is_some_and(|e| e.contains("roster_")))
        .count();
    assert!(queries >= 20, "{queries} queries");
    // The rules parse, when promtool is here (CI installs it and checks them too).
    match std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(Path::new(ROOT).join("deploy/prometheus/alerts.yml"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("promtool not installed ({e}); .ci/run checks the rules"),
    }
    d.app.finish().await;
}
