//! Injected faults: error statuses with Discord's error body, 429s in each scope, latency and hangs.

use super::*;

#[tokio::test]
async fn status_faults_carry_discords_error_body() {
    let test = TestSim::seeded().await;
    let id = test.sim.add_fault(rule(
        Some(Route::AddMemberRole),
        FaultAction::Status {
            status: 500,
            code: None,
        },
        Some(1),
    ));
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    let reply = test.put(TOKEN, &path).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.body,
        json!({ "message": "500: Internal Server Error", "code": 0 })
    );
    assert!(
        reply.header("x-ratelimit-bucket").is_some(),
        "counted before the backend failed"
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE]),
        "nothing happened"
    );
    assert_eq!(
        test.sim.log().pop().and_then(|entry| entry.fault),
        Some(format!("status 500 (rule {id})"))
    );
    test.put(TOKEN, &path).await.no_content();

    test.sim.add_fault(FaultRule {
        route: None,
        method: Some("delete".into()),
        path_contains: Some("/roles/1002".into()),
        action: FaultAction::Status {
            status: 403,
            code: Some(50013),
        },
        times: None,
    });
    test.get(TOKEN, "/guilds/1000/members/10").await.ok();
    let reply = test.delete(TOKEN, &path).await;
    assert_eq!(
        reply.body,
        json!({ "message": "Missing Permissions", "code": 50013 })
    );
    assert_eq!(test.delete(TOKEN, &path).await.status, 403, "until cleared");
    test.sim.clear_faults();
    test.delete(TOKEN, &path).await.no_content();

    test.sim.add_fault(rule(
        None,
        FaultAction::Status {
            status: 503,
            code: Some(130_000),
        },
        Some(1),
    ));
    let reply = test.get(TOKEN, "/users/@me").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), 130_000);
    assert_eq!(
        reply.body["message"],
        "API resource is currently overloaded. Try again a little later"
    );
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_faults_in_each_scope() {
    let test = TestSim::seeded().await;
    let path = "/guilds/1000/members/10";
    test.sim.add_fault(rule(
        Some(Route::GetMember),
        FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 2.5,
        },
        Some(1),
    ));
    let user = test.get(TOKEN, path).await;
    assert_eq!(user.status, 429);
    assert_eq!(user.header("x-ratelimit-scope"), Some("user"));
    assert_eq!(user.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(user.header("x-ratelimit-reset-after"), Some("2.500"));
    assert_eq!(user.header("retry-after"), Some("3"));
    assert_eq!(
        user.body,
        json!({ "message": "You are being rate limited.", "retry_after": 2.5, "global": false })
    );

    test.sim.add_fault(rule(
        Some(Route::GetMember),
        FaultAction::RateLimit {
            scope: RateLimitScope::Shared,
            retry_after: 64.57,
        },
        Some(1),
    ));
    let shared = test.get(TOKEN, path).await;
    assert_eq!(shared.status, 429);
    assert_eq!(shared.header("x-ratelimit-scope"), Some("shared"));
    assert_eq!(shared.header("retry-after"), Some("65"));
    assert_ne!(
        shared.header("x-ratelimit-remaining"),
        Some("0"),
        "remaining may be non-zero"
    );
    assert_eq!(
        shared.body,
        json!({ "message": "The resource is being rate limited.", "retry_after": 64.57, "global": false })
    );

    test.sim.add_fault(rule(
        None,
        FaultAction::RateLimit {
            scope: RateLimitScope::Global,
            retry_after: 0.25,
        },
        Some(1),
    ));
    let global = test.get(TOKEN, path).await;
    assert_eq!(global.header("x-ratelimit-global"), Some("true"));
    assert_eq!(global.header("x-ratelimit-scope"), Some("global"));
    assert_eq!(global.header("retry-after"), Some("1"));
    assert!(global.header("x-ratelimit-bucket").is_none());
    assert_eq!(global.body["global"], true);
    let scopes: Vec<Option<String>> = test
        .sim
        .log()
        .into_iter()
        .map(|entry| entry.scope)
        .collect();
    assert_eq!(
        scopes,
        vec![
            Some("user".into()),
            Some("shared".into()),
            Some("global".into())
        ]
    );
    test.stop().await;
}

#[tokio::test]
async fn latency_and_hang_faults() {
    let test = TestSim::seeded().await;
    test.sim.add_fault(rule(
        Some(Route::GetCurrentUser),
        FaultAction::Latency { ms: 300 },
        Some(1),
    ));
    let started = Instant::now();
    test.get(TOKEN, "/users/@me").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(test.sim.log()[0].duration_ms >= 300.0);

    // Configured latency applies to every API request but not to the control API.
    test.sim
        .update_config(|config| config.latency = Duration::from_millis(200));
    let started = Instant::now();
    test.get(TOKEN, "/users/@me").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    test.control(Method::GET, "/_sim/config", None).await.ok();
    assert!(started.elapsed() < Duration::from_millis(200));
    test.sim
        .update_config(|config| config.latency = Duration::ZERO);

    // A client that gives up is logged with 499.
    test.sim.add_fault(rule(
        Some(Route::GetGuild),
        FaultAction::Latency { ms: 10_000 },
        Some(1),
    ));
    let abandoned = test
        .request(Method::GET, &api("/guilds/1000"), Some(TOKEN))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(abandoned.is_err());
    let mut logged = false;
    for _ in 0..60 {
        if test.sim.log().iter().any(|entry| entry.status == 499) {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logged, "the abandoned request is logged with 499");

    // A hanging request never answers until the server shuts down (then 503), and does not hold the shutdown up.
    test.sim
        .add_fault(rule(Some(Route::GetBan), FaultAction::Hang, None));
    let request = test.request(Method::GET, &api("/guilds/1000/bans/10"), Some(TOKEN));
    let hanging = tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!hanging.is_finished());
    let sim = test.sim.clone();
    test.stop().await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("the hanging request ends with the server")
        .expect("no panic");
    let status = outcome.expect("a request hanging at shutdown is answered, not dropped");
    assert_eq!(status, 503);
    assert!(sim.log().iter().any(|entry| {
        entry
            .fault
            .as_deref()
            .is_some_and(|f| f.starts_with("hang"))
    }));
}
