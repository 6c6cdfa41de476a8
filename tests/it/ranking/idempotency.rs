//! `Idempotency-Key` on ranking writes: a replay touches Roblox once, a replay while the first is
//! in progress conflicts, and the key's own syntax.

use roster_sim::roblox::{Endpoint, FaultAction};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, GROUP, TestApp};

both_backends!(
    idempotent_replay_touches_roblox_once,
    conflict_while_in_progress
);

async fn idempotent_replay_touches_roblox_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let body = json!({"robloxUserId": 101});
    let first = app
        .write("promote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["newRank"], 10);
    let assigns = app.sim.calls(Endpoint::AssignRole).len();
    let again = app
        .write("promote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body, first.body,
        "a replay returns the original result"
    );
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        app.sim.calls(Endpoint::AssignRole).len(),
        assigns,
        "the replay did not touch Roblox"
    );
    assert_eq!(app.sim.rank(GROUP, 101), 10, "promoted once");
    let u = app.get(&format!("/v1/groups/{GROUP}/usage")).await;
    assert_eq!(u.body["count"], 1, "a replay is not counted");
    // Same key, different body.
    let a = app
        .write(
            "promote",
            json!({"robloxUserId": 102}),
            &[("idempotency-key", "abc-1")],
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    // Same key on another endpoint.
    let a = app
        .write("demote", body.clone(), &[("idempotency-key", "abc-1")])
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    // Failures replay too.
    let f1 = app.promote(999).await;
    let f2 = app
        .write(
            "promote",
            json!({"robloxUserId": 999}),
            &[("idempotency-key", "k2")],
        )
        .await;
    let f3 = app
        .write(
            "promote",
            json!({"robloxUserId": 999}),
            &[("idempotency-key", "k2")],
        )
        .await;
    assert_eq!((f1.status, f2.status, f3.status), (502, 502, 502));
    assert_eq!(f2.body, f3.body);
    app.finish().await;
}

async fn conflict_while_in_progress(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Latency { ms: 1500 },
        Some(1),
    );
    let k = [("idempotency-key", "slow-1"), ("prefer", "respond-async")];
    let first = app.write("promote", json!({"robloxUserId": 101}), &k).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let job = first.body["jobId"].as_str().unwrap().to_owned();
    let second = app
        .write(
            "promote",
            json!({"robloxUserId": 101}),
            &[("idempotency-key", "slow-1")],
        )
        .await;
    assert_eq!((second.status, second.code()), (409, "CONFLICT"));
    assert_eq!(second.body["jobId"], job.as_str());
    app.wait_job(&job).await;
    let third = app
        .write(
            "promote",
            json!({"robloxUserId": 101}),
            &[("idempotency-key", "slow-1")],
        )
        .await;
    assert_eq!(third.status, 200);
    assert_eq!(third.body["newRank"], 10);
    assert_eq!(app.sim.calls(Endpoint::AssignRole).len(), 1);
    app.finish().await;
}

/// An Idempotency-Key that is not 1–255 visible ASCII characters (raw bytes, as a client may
/// send them) is refused with 400 naming the header, never taken for a request without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_must_be_visible_ascii() {
    use reqwest::header::HeaderValue;
    let app = TestApp::start(Backend::Sqlite).await;
    let url = format!("{}/v1/groups/{GROUP}/promote", app.base);
    let send = |keys: Vec<HeaderValue>| {
        let mut req = app
            .http
            .post(&url)
            .header("x-api-key", &app.api_key)
            .header("content-type", "application/json")
            .body(json!({"robloxUserId": 101}).to_string());
        for k in keys {
            req = req.header("idempotency-key", k);
        }
        async move {
            let resp = req.send().await.expect("request reaches Roster");
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.expect("JSON body");
            (status, body)
        }
    };
    let bad: [&[u8]; 6] = [
        "clé-1".as_bytes(),
        b"key\x80\xff",
        b"two words",
        b"tab\there",
        b"",
        &[b'k'; 256],
    ];
    for raw in bad {
        let (status, body) = send(vec![HeaderValue::from_bytes(raw).unwrap()]).await;
        assert_eq!(status, 400, "{raw:?}: {body}");
        assert_eq!(body["error"], "BAD_REQUEST", "{raw:?}");
        let msg = body["message"].as_str().unwrap_or_default();
        assert!(msg.contains("Idempotency-Key"), "{raw:?}: {msg}");
    }
    let (status, body) = send(vec![
        HeaderValue::from_static("a-1"),
        HeaderValue::from_static("a-2"),
    ])
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("BAD_REQUEST")));
    assert!(
        app.sim.calls(Endpoint::AssignRole).is_empty(),
        "no refused request reached Roblox"
    );
    // Every visible ASCII character is allowed.
    let all: Vec<u8> = (0x21..=0x7e).collect();
    let (status, body) = send(vec![HeaderValue::from_bytes(&all).unwrap()]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.sim.rank(GROUP, 101), 10);
    app.finish().await;
}
