//! Job kinds as units, through the assembled process: each kind's outcome hook
//! (`roster_core::jobs::kind::Kind::on_outcome`) leaves its audit entry — the action, the target
//! and the result or error the kind declares, success and failure alike, with the actor who
//! submitted it — and sync-all's hooks drive a run to completion without an entry per page or
//! batch job; and the worker's dependency graph keeps it away from the store.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::discord::{CLOSED_DMS, DApp, OFFICER, UNLINKED, discord_of, start};
use crate::harness::{Backend, GUILD};

/// The guild's audit log, oldest first.
async fn audit_log(d: &DApp) -> Vec<Value> {
    let a = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?limit=200"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let mut entries = a.body["data"]["entries"]
        .as_array()
        .expect("entries")
        .clone();
    entries.reverse();
    entries
}

/// Waits until the log holds an entry with `action` (outcomes are recorded after the answer
/// when a job outlives the request) and returns it.
async fn entry(d: &DApp, action: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = audit_log(d).await;
        if let Some(e) = log.iter().find(|e| e["action"] == action) {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {action} entry: {:#?}",
            log.iter().map(|e| &e["action"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The role bridge's request: JSON without a Content-Type header, as websites send it.
async fn bridge(d: &DApp, path: &str, body: Value) -> u16 {
    d.app
        .http
        .post(format!("{}{path}", d.app.base))
        .body(body.to_string())
        .send()
        .await
        .expect("reaches Roster")
        .status()
        .as_u16()
}

async fn every_kind_leaves_its_audit_entry(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"banInDiscord": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);

    // discord.sync_member
    let a = d.sync(discord_of(101)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let e = entry(&d, "discord.sync").await;
    assert_eq!(e["target_id"], discord_of(101).to_string());
    assert!(
        e["actor_id"].as_str().is_some_and(|a| a != "role-bridge"),
        "the guild key: {e}"
    );
    assert_eq!(e["metadata"]["attempts"], 1);
    assert!(e["metadata"]["jobId"].is_string(), "{e}");
    assert_eq!(
        e["metadata"]["result"]["user_id"],
        discord_of(101).to_string()
    );

    // discord.role_changes
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(json!({"guild_id": GUILD.to_string(), "user_id": UNLINKED.to_string(), "role_id": OFFICER.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let e = entry(&d, "discord.roles").await;
    assert_eq!(e["target_id"], UNLINKED.to_string());
    assert_eq!(e["metadata"]["result"], json!({"statuses": ["added"]}));

    // discord.ban, both ways.
    for (path, action, result) in [
        ("ban", "ban.discord_ban", json!({"banned": true})),
        (
            "unban",
            "ban.discord_unban",
            json!({"banned": false, "wasBanned": true}),
        ),
    ] {
        let a = d
            .app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/{path}"),
                Some(json!({"identifier": UNLINKED.to_string(), "reason": "Raiding"})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let e = entry(&d, action).await;
        assert_eq!(e["target_id"], UNLINKED.to_string());
        assert_eq!(e["metadata"]["result"], result, "{e}");
    }

    // discord.direct_message: a success, and a failure recorded as `.failed` with its code.
    let a = d
        .app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/role-bridge-key"),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let key = a.body["key"].as_str().expect("key").to_owned();
    let dm = |user: u64| json!({"guild_id": GUILD, "user_id": user, "api_key": key, "message": "Welcome aboard"});
    assert_eq!(
        bridge(&d, "/sendDirectMessage", dm(discord_of(102))).await,
        200
    );
    let e = entry(&d, "discord.direct_message").await;
    assert_eq!(e["target_id"], discord_of(102).to_string());
    assert_eq!(e["actor_id"], "role-bridge");
    assert_eq!(e["metadata"]["result"], json!({"sent": true}));
    assert_eq!(bridge(&d, "/sendDirectMessage", dm(CLOSED_DMS)).await, 403);
    let e = entry(&d, "discord.direct_message.failed").await;
    assert_eq!(e["target_id"], CLOSED_DMS.to_string());
    assert_eq!(e["metadata"]["error"], "CANNOT_DM");
    assert!(e["metadata"]["message"].is_string(), "{e}");

    // ranking.promote: through the group link, in the guild's log too, with the rank change
    // the kind records instead of the raw result.
    let a = d.app.promote(101).await;
    assert!(matches!(a.status, 200 | 202), "{:?}", a.body);
    let e = entry(&d, "rank.promote").await;
    assert_eq!(e["target_id"], "101");
    for field in ["previousRank", "newRank", "roleName", "changed", "ruleId"] {
        assert!(!e["metadata"][field].is_null(), "{field}: {e}");
    }
    assert!(e["metadata"].get("result").is_none(), "{e}");

    // Sync-all: its page and batch hooks carry the run to completion; the run leaves its own
    // entries, its jobs none.
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let e = entry(&d, "sync_all.complete").await;
    assert!(e["metadata"]["done"].as_u64().is_some_and(|n| n > 0), "{e}");
    let log = audit_log(&d).await;
    let actions: Vec<&str> = log.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "discord.sync").count(),
        1,
        "the batch jobs leave no per-member entry: {actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| a.contains("sync_page") || a.contains("sync_batch")),
        "{actions:?}"
    );
    d.app.finish().await;
}

both_backends!(every_kind_leaves_its_audit_entry);

/// The `[dependencies]` of a workspace crate's manifest.
fn dependencies(manifest: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some(name) = line.split(['.', '=', ' ']).next()
            && !name.is_empty()
            && !name.starts_with('#')
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// "The worker never opens the store" is a fact of the dependency graph: neither the worker nor
/// any workspace crate it builds on depends on sled or on `roster-core`.
#[test]
fn the_worker_cannot_reach_the_store() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Workspace crates and their directories, from the root manifest (`roster-x = { path = … }`).
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
    let dir_of = |krate: &str| -> Option<String> {
        workspace.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(krate)?.trim_start();
            let path = rest.strip_prefix("= { path = \"")?;
            Some(path.split('"').next()?.to_owned())
        })
    };
    let mut seen = Vec::new();
    let mut todo = vec!["roster-worker".to_owned()];
    while let Some(krate) = todo.pop() {
        if seen.contains(&krate) {
            continue;
        }
        let dir = dir_of(&krate).unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for dep in dependencies(&root.join(&dir).join("Cargo.toml")) {
            assert_ne!(dep, "sled", "{krate} depends on sled");
            assert_ne!(
                dep, "roster-core",
                "{krate} depends on roster-core (the store)"
            );
            if dep.starts_with("roster-") {
                todo.push(dep);
            }
        }
        seen.push(krate);
    }
    assert!(
        seen.iter().any(|k| k == "roster-jobs"),
        "the worker builds on roster-jobs: {seen:?}"
    );
}
