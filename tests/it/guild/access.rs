//! Who may call the guild family: every guild a request names must be the key's, and the per-key
//! rate limit.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use super::status_path;
use crate::harness::{Backend, GUILD, TestApp, TestOpts};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(|c| c.guild_api.rate_limit_per_minute = 20)),
            ..Default::default()
        },
    )
    .await;
    let mut limited = None;
    for _ in 0..40 {
        let a = app
            .guild(Method::GET, &status_path("ban", "261"), None)
            .await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 200);
    }
    let a = limited.expect("the limit was reached");
    assert_eq!(a.code(), "RATE_LIMITED");
    let retry: u64 = a
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    app.finish().await;
}

/// Every guild a request names (path, body `guild_id`, `X-Guild-ID`) must be the key's: one
/// naming another guild is 403, even when the path names the key's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_named_guild_must_be_the_keys() {
    let app = TestApp::start(Backend::Sqlite).await;
    let key = app.guild_key.clone();
    let other = "111111111111111111";
    let own = GUILD.to_string();
    let path = status_path("ban", "261");
    let get = |guild: &'static str| {
        let (app, path, key) = (&app, path.clone(), key.clone());
        async move {
            app.request(
                Method::GET,
                &path,
                &[("x-api-key", &key), ("x-guild-id", guild)],
                None,
            )
            .await
        }
    };
    let a = get(other).await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    assert_eq!(a.body["status"], "error", "the guild envelope");
    assert!(a.body["message"].as_str().unwrap().contains(other));
    let a = get(GUILD_STR).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = get("not-a-guild").await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"), "{:?}", a.body);
    // A value that is not text is refused, not ignored.
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header("x-api-key", &key)
        .header(
            "x-guild-id",
            reqwest::header::HeaderValue::from_bytes("9é".as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Path names the key's guild, the body another.
    let ban = |body: Value, extra: Option<&'static str>| {
        let b = body.to_string();
        let key = key.clone();
        let app = &app;
        async move {
            let mut headers = vec![
                ("x-api-key", key.as_str()),
                ("content-type", "application/json"),
            ];
            if let Some(g) = extra {
                headers.push(("x-guild-id", g));
            }
            app.request(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/ban"),
                &headers,
                Some(&b),
            )
            .await
        }
    };
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": other}),
        None,
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": own}),
        Some(other),
    )
    .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    let a = app
        .guild(Method::GET, &status_path("ban", "7001"), None)
        .await;
    assert_eq!(a.body["data"]["banned"], false, "nothing was banned");
    // The body names the guild (no path): the header must agree.
    let a = app
        .request(
            Method::POST,
            "/roblox/servers/heartbeat",
            &[
                ("x-api-key", &key),
                ("content-type", "application/json"),
                ("x-guild-id", other),
            ],
            Some(
                &json!({"guild_id": own, "server_id": "s1", "place_id": 1, "universe_id": 2})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"), "{:?}", a.body);
    // All agreeing is fine.
    assert_eq!(GUILD_STR, own);
    let a = ban(
        json!({"identifier": "7001", "reason": "x", "moderator_id": "1", "guild_id": own}),
        Some(GUILD_STR),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    app.finish().await;
}

const GUILD_STR: &str = "900000000000000001";
