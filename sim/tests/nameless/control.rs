//! The simulator's own side: injected failures, the request log, latency and the `/_sim` control API.

use super::*;

#[tokio::test]
async fn fail_next_answers_error_pages_then_recovers() {
    let test = TestSite::start(config()).await;
    test.sim.fail_next(2, 503);
    // A request that never reaches the API does not use a failure up.
    let page = format!("{}/index.php?route=/forum", test.base);
    assert_eq!(
        test.send(test.request(Method::GET, &page, Auth::None))
            .await
            .status,
        404
    );
    for _ in 0..2 {
        let reply = test.get("info", Auth::Bearer(KEY)).await;
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.content_type.as_deref(),
            Some("text/html; charset=iso-8859-1")
        );
        assert!(
            reply
                .text
                .contains("<title>503 Service Unavailable</title>"),
            "{}",
            reply.text
        );
    }
    assert_eq!(test.get("info", Auth::Bearer(KEY)).await.status, 200);

    test.control(
        Method::POST,
        "/_sim/fail-next",
        Some(json!({ "count": 1, "status": 500 })),
    )
    .await;
    let reply = test
        .post_json("discord/submit-role-list", json!({ "roles": [] }))
        .await;
    assert_eq!(reply.status, 500);
    assert!(reply.text.contains("<h1>Internal Server Error</h1>"));
    assert_eq!(test.sim.role_list_json(), None, "the endpoint did not run");

    let log = test.sim.log();
    let faults: Vec<(Option<&str>, u16, Option<&str>)> = log
        .iter()
        .map(|entry| {
            (
                entry.endpoint.as_deref(),
                entry.status,
                entry.fault.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        faults,
        vec![
            (None, 404, None),
            (Some("info"), 503, Some("fail-next 503")),
            (Some("info"), 503, Some("fail-next 503")),
            (Some("info"), 200, None),
            (Some("discord/submit-role-list"), 500, Some("fail-next 500")),
        ]
    );
    // A count of 0 cancels what is pending.
    test.sim.fail_next(5, 503);
    test.sim.fail_next(0, 503);
    assert_eq!(test.get("info", Auth::Bearer(KEY)).await.status, 200);
    test.stop().await;
}

#[tokio::test]
async fn the_request_log_records_every_site_request() {
    let test = TestSite::start(config()).await;
    test.get("info", Auth::Bearer(KEY)).await;
    test.get("info", Auth::XApiKey("wrong")).await;
    test.post("discord/submit-role-list", Auth::None, "not json")
        .await;
    test.post_json(
        "discord/update-bot-settings",
        json!({ "url": "http://bot" }),
    )
    .await;
    test.control(Method::GET, "/_sim/config", None).await;
    let log = test.sim.log();
    assert_eq!(log.len(), 4, "control requests are not logged");
    let summary: Vec<(&str, Option<&str>, u16, bool, bool)> = log
        .iter()
        .map(|entry| {
            (
                entry.method.as_str(),
                entry.endpoint.as_deref(),
                entry.status,
                entry.key_sent,
                entry.key_valid,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GET", Some("info"), 200, true, true),
            ("GET", Some("info"), 403, true, false),
            ("POST", Some("discord/submit-role-list"), 400, false, false),
            ("POST", Some("discord/update-bot-settings"), 200, true, true),
        ]
    );
    assert_eq!(log[0].path, "/index.php?route=/api/v2/info");
    assert!(log[0].at.ends_with('Z'));
    assert!(log[1].seq > log[0].seq);
    assert_eq!(log[0].request_body, None);
    assert_eq!(log[2].request_body, Some(json!("not json")));
    assert_eq!(log[3].request_body, Some(json!({ "url": "http://bot" })));

    let since = test
        .control(
            Method::GET,
            &format!("/_sim/log?since={}", log[2].seq),
            None,
        )
        .await;
    assert_eq!(since.status, 200);
    assert_eq!(since.body.as_array().map(Vec::len), Some(1));
    assert_eq!(since.body[0]["endpoint"], "discord/update-bot-settings");
    assert_eq!(since.body[0]["keySent"], true);
    assert_eq!(since.body[0]["keyValid"], true);
    assert_eq!(since.body[0]["requestBody"], json!({ "url": "http://bot" }));

    assert_eq!(
        test.control(Method::DELETE, "/_sim/log", None).await.status,
        204
    );
    assert!(test.sim.log().is_empty());
    test.sim.clear_log();
    test.stop().await;
}

#[tokio::test]
async fn latency_delays_site_requests() {
    let test = TestSite::start(NamelessSimConfig {
        latency: Duration::from_millis(200),
        ..config()
    })
    .await;
    let started = Instant::now();
    test.get("info", Auth::Bearer(KEY)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(test.sim.log()[0].duration_ms >= 200.0);
    test.stop().await;
}

#[tokio::test]
async fn control_api_config() {
    let test = TestSite::start(config()).await;
    let reply = test.control(Method::GET, "/_sim/config", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({
            "apiKey": KEY,
            "version": "2.1.2",
            "apiEnabled": true,
            "discordModule": true,
            "friendlyUrls": false,
            "latencyMs": 0
        })
    );
    let reply = test
        .control(
            Method::PATCH,
            "/_sim/config",
            Some(json!({ "apiKey": "new-key", "version": "2.2.0", "discordModule": false, "friendlyUrls": true })),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["apiKey"], "new-key");
    assert_eq!(reply.body["apiEnabled"], true);
    test.get("info", Auth::Bearer("new-key")).await.expect(
        200,
        r#"{"nameless_version":"2.2.0","locale":"en_UK","modules":["Core","Forum","Cookie Consent","Members"]}"#,
    );
    test.get("info", Auth::Bearer(KEY))
        .await
        .expect(403, r#"{"error":"nameless:invalid_api_key"}"#);
    for (body, status) in [
        (json!({ "version": "" }), 400),
        (json!({ "apiKeys": "x" }), 400),
        (json!({ "latencyMs": -1 }), 400),
    ] {
        let reply = test
            .control(Method::PATCH, "/_sim/config", Some(body))
            .await;
        assert_eq!(reply.status, status, "{}", reply.text);
        assert!(reply.body["error"].is_string());
    }
    test.stop().await;
}

#[tokio::test]
async fn control_api_refusals() {
    let test = TestSite::start(config()).await;
    for (method, path, body, status) in [
        (Method::GET, "/_sim/nope", None, 404),
        (Method::POST, "/_sim/config", None, 405),
        (Method::DELETE, "/_sim/roles", None, 405),
        (
            Method::POST,
            "/_sim/fail-next",
            Some(json!({ "count": 1, "status": 200 })),
            400,
        ),
        (
            Method::POST,
            "/_sim/fail-next",
            Some(json!({ "count": 1 })),
            400,
        ),
        (Method::GET, "/_sim/log?since=x", None, 400),
        (
            Method::POST,
            "/_sim/apply-role-changes",
            Some(json!({ "roleChanges": [{ "userId": 1, "roleId": 2, "action": "grant" }] })),
            400,
        ),
        (
            Method::POST,
            "/_sim/apply-role-changes",
            Some(json!({ "roleChanges": [] })),
            409,
        ),
    ] {
        let reply = test.control(method, path, body).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        assert!(reply.body["error"].is_string(), "{path}: {}", reply.text);
    }
    test.stop().await;
}
