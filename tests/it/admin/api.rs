//! The admin API (`/admin/v1/…`): groups, keys, rules and the blacklist, and secrets kept out of
//! answers and out of the data directory.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Backend, GROUP, TestApp};

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
