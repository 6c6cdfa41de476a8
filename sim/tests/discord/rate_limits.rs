//! Rate limits: bucket headers, fixed and sliding windows, the global limit, the invalid-request
//! ban, and the default route limits.

use super::*;

#[tokio::test]
async fn every_response_carries_the_bucket_headers() {
    let test = TestSim::seeded().await;
    // A slow leak (one slot per 12 s) so the counts below do not depend on how loaded the
    // machine running the tests is.
    test.set_route_limit(
        &[Route::GetMember],
        5,
        60_000,
        WindowKind::Sliding,
        "get-member",
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    reply.ok();
    assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("4"));
    let reset_after = f64_header(&reply, "x-ratelimit-reset-after");
    assert!(
        (11.9..=12.0).contains(&reset_after),
        "one slot's worth: {reset_after}"
    );
    let bucket = reply
        .header("x-ratelimit-bucket")
        .expect("a bucket")
        .to_owned();
    let reset = reply.header("x-ratelimit-reset").expect("a reset");
    let (_, decimals) = reset
        .split_once('.')
        .expect("epoch seconds with a fraction");
    assert_eq!(decimals.len(), 3, "millisecond precision: {reset}");
    let reset: f64 = reset.parse().expect("a number");
    assert!(
        reset > before && reset < before + 20.0,
        "{reset} vs {before}"
    );
    assert!(
        reply.header("x-ratelimit-scope").is_none(),
        "the scope comes only with 429s"
    );
    assert!(reply.header("retry-after").is_none());

    // Errors after the bucket count carry them too; GET and PATCH member are different buckets.
    let missing = test.get(TOKEN, "/guilds/1000/members/777").await;
    assert_eq!(missing.header("x-ratelimit-remaining"), Some("3"));
    assert_eq!(missing.header("x-ratelimit-bucket"), Some(bucket.as_str()));
    let patch = test
        .json(Method::PATCH, TOKEN, "/guilds/1000/members/10", json!({}))
        .await;
    assert_eq!(patch.header("x-ratelimit-limit"), Some("10"));
    assert_ne!(patch.header("x-ratelimit-bucket"), Some(bucket.as_str()));
    let role = test
        .put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await;
    assert_eq!(role.header("x-ratelimit-bucket"), Some(MEMBER_ROLE_BUCKET));
    assert_eq!(role.header("x-ratelimit-reset-after"), Some("10.000"));

    test.sim
        .update_config(|config| config.scope_on_every_response = true);
    let reply = test.get(TOKEN, "/users/@me").await;
    assert_eq!(reply.header("x-ratelimit-scope"), Some("user"));
    test.stop().await;
}

#[tokio::test]
async fn fixed_window_buckets_are_shared_by_route_and_split_by_major_parameter() {
    let test = TestSim::seeded().await;
    test.set_route_limit(
        &[Route::AddMemberRole, Route::RemoveMemberRole],
        3,
        800,
        WindowKind::Fixed,
        MEMBER_ROLE_BUCKET,
    );
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    let first = test.put(TOKEN, &path).await;
    first.no_content();
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    let reset_after = f64_header(&first, "x-ratelimit-reset-after");
    assert!((0.7..=0.8).contains(&reset_after), "{reset_after}");
    test.delete(TOKEN, &path).await.no_content();
    let third = test.put(TOKEN, &path).await;
    assert_eq!(third.header("x-ratelimit-remaining"), Some("0"));

    // The DELETE route shares the PUT route's bucket.
    let limited = test.delete(TOKEN, &path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-scope"), Some("user"));
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        Some(MEMBER_ROLE_BUCKET)
    );
    assert_eq!(
        limited.header("retry-after"),
        Some("1"),
        "ceil of the decimal wait"
    );
    assert!(limited.header("x-ratelimit-global").is_none());
    assert_eq!(limited.body["message"], "You are being rate limited.");
    assert_eq!(limited.body["global"], false);
    assert!(limited.body.get("code").is_none());
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    let reset_after = f64_header(&limited, "x-ratelimit-reset-after");
    assert!(retry_after > 0.0 && retry_after <= 0.8, "{retry_after}");
    assert!(
        (retry_after - reset_after).abs() < 0.002,
        "fixed: retry_after = reset_after"
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );

    // Another guild, another bot: their own buckets.
    test.put(TOKEN, &role_path(THIRD_GUILD, PLAIN, THIRD_MEMBER_ROLE))
        .await
        .no_content();
    test.put(ADMIN_TOKEN, &path).await.no_content();

    // After the window, a full quota again (a fixed window resets at once).
    tokio::time::sleep(Duration::from_secs_f64(reset_after + 0.05)).await;
    let fresh = test.delete(TOKEN, &path).await;
    fresh.no_content();
    assert_eq!(fresh.header("x-ratelimit-remaining"), Some("2"));
    let entry = test
        .sim
        .log()
        .into_iter()
        .find(|entry| entry.status == 429)
        .expect("the 429 is logged");
    assert_eq!(entry.scope.as_deref(), Some("user"));
    assert_eq!(entry.route, Some(Route::RemoveMemberRole));
    test.stop().await;
}

#[tokio::test]
async fn sliding_windows_free_one_slot_at_a_time() {
    let test = TestSim::seeded().await;
    // One slot frees every 2 s: slow enough that a loaded test machine cannot blur the counts.
    test.set_route_limit(&[Route::GetMember], 3, 6_000, WindowKind::Sliding, "slide");
    let path = "/guilds/1000/members/10";
    let first = test.get(TOKEN, path).await;
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    let reset_after = f64_header(&first, "x-ratelimit-reset-after");
    assert!(
        (1.8..=2.0).contains(&reset_after),
        "one slot's worth: {reset_after}"
    );
    test.get(TOKEN, path).await.ok();
    let third = test.get(TOKEN, path).await;
    assert_eq!(third.header("x-ratelimit-remaining"), Some("0"));
    let limited = test.get(TOKEN, path).await;
    assert_eq!(limited.status, 429);
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    let reset_after = f64_header(&limited, "x-ratelimit-reset-after");
    assert!(
        retry_after <= 2.0,
        "the next slot frees within window/limit: {retry_after}"
    );
    assert!(reset_after > 3.0, "the bucket empties later: {reset_after}");
    // The header is whole seconds, rounded up (how long the first requests took on a loaded machine moves it).
    let whole = (retry_after.ceil() as u64).max(1).to_string();
    assert_eq!(limited.header("retry-after"), Some(whole.as_str()));

    // One slot later exactly one more request fits (a fixed window would still refuse).
    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.1)).await;
    test.get(TOKEN, path).await.ok();
    assert_eq!(test.get(TOKEN, path).await.status, 429);
    test.stop().await;
}

#[tokio::test]
async fn the_global_limit_is_per_bot_and_per_second() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.global_limit_per_sec = 4);
    // The window is one second from the first request; on a loaded machine the four requests may straddle two
    // windows, so count the successes before the first 429 instead of assuming they all fit in one (the exact
    // count per window is unit-tested in the simulator's rate_limit module with explicit instants).
    let mut successes = 0;
    let limited = loop {
        let response = test.get(TOKEN, "/guilds/1000").await;
        if response.status == 429 {
            break response;
        }
        assert_eq!(response.status, 200);
        successes += 1;
        assert!(successes < 40, "the global limit never answered 429");
    };
    assert!(successes >= 4, "a 429 after only {successes} requests");
    assert_eq!(limited.header("x-ratelimit-global"), Some("true"));
    assert_eq!(limited.header("x-ratelimit-scope"), Some("global"));
    assert_eq!(limited.header("retry-after"), Some("1"));
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-bucket",
        "x-ratelimit-reset-after",
    ] {
        assert!(limited.header(header).is_none(), "{header} on a global 429");
    }
    assert_eq!(limited.body["global"], true);
    assert_eq!(limited.body["message"], "You are being rate limited.");
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after > 0.0 && retry_after <= 1.0);
    // Another bot has its own global limit.
    test.get(ADMIN_TOKEN, "/users/@me").await.ok();
    assert_eq!(
        test.sim.log().last().map(|entry| entry.bot_user_id),
        Some(Some(ADMIN_BOT))
    );
    let entry = test
        .sim
        .log()
        .into_iter()
        .find(|entry| entry.status == 429)
        .expect("logged");
    assert_eq!(entry.scope.as_deref(), Some("global"));
    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    test.get(TOKEN, "/guilds/1000").await.ok();
    test.stop().await;
}

#[tokio::test]
async fn too_many_invalid_requests_ban_the_ip_with_a_cloudflare_page() {
    let config = DiscordSimConfig {
        invalid_request_limit: 3,
        invalid_request_window: Duration::from_millis(1500),
        ..DiscordSimConfig::default()
    };
    let test = TestSim::seeded_with(config).await;

    // Shared-scope 429s do not count.
    test.sim.add_fault(FaultRule {
        route: Some(Route::GetCurrentUser),
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::Shared,
            retry_after: 0.1,
        },
        times: Some(3),
    });
    for _ in 0..3 {
        assert_eq!(test.get(TOKEN, "/users/@me").await.status, 429);
    }
    test.get(TOKEN, "/users/@me").await.ok();

    // 401, 403 and user 429 do.
    assert_eq!(test.get("bad-token", "/users/@me").await.status, 401);
    assert_eq!(test.get(TOKEN, "/guilds/2000").await.status, 403);
    test.sim.add_fault(FaultRule {
        route: None,
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 0.1,
        },
        times: Some(1),
    });
    assert_eq!(test.get(TOKEN, "/users/@me").await.status, 429);

    let banned = test.get(TOKEN, "/users/@me").await;
    assert_eq!(banned.status, 429);
    assert!(
        banned
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "not JSON"
    );
    assert!(serde_json::from_str::<Value>(&banned.text).is_err());
    assert!(banned.text.contains("1015"));
    assert!(banned.header("x-ratelimit-scope").is_none());
    assert!(banned.header("x-ratelimit-limit").is_none());
    let wait: u64 = banned
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("retry-after");
    assert!((1..=2).contains(&wait));
    let entry = test.sim.log().pop().expect("logged");
    assert_eq!(entry.cloudflare.as_deref(), Some("1015 banned"));
    assert_eq!(entry.bot_user_id, None);

    // Every route, even with a valid token, until the window ends.
    assert_eq!(test.get(TOKEN, "/guilds/1000").await.status, 429);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    test.get(TOKEN, "/users/@me").await.ok();

    // The control API resets it, too.
    for _ in 0..3 {
        test.get("bad-token", "/users/@me").await;
    }
    assert!(test.get(TOKEN, "/users/@me").await.text.contains("1015"));
    test.control(Method::DELETE, "/_sim/rate-limits", None)
        .await
        .no_content();
    test.get(TOKEN, "/users/@me").await.ok();
    test.stop().await;
}

#[tokio::test]
async fn rate_limits_can_be_disabled_but_are_still_counted() {
    let test = TestSim::seeded().await;
    test.set_route_limit(&[Route::GetMember], 2, 10_000, WindowKind::Fixed, "b");
    test.sim.update_config(|config| {
        config.rate_limits_enabled = false;
        config.global_limit_per_sec = 1;
    });
    for _ in 0..4 {
        let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
        reply.ok();
    }
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    test.stop().await;
}

#[test]
fn default_route_limits_cover_every_route() {
    let config = DiscordSimConfig::default();
    assert_eq!(config.route_limits.len(), Route::ALL.len());
    let role = config.route_limit(Route::AddMemberRole);
    assert_eq!(role, config.route_limit(Route::RemoveMemberRole));
    assert_eq!(
        (role.limit, role.window, role.kind),
        (10, Duration::from_secs(10), WindowKind::Fixed)
    );
    let buckets: HashMap<&str, usize> =
        config
            .route_limits
            .values()
            .fold(HashMap::new(), |mut counts, limit| {
                *counts.entry(limit.bucket.as_str()).or_default() += 1;
                counts
            });
    assert_eq!(buckets.len(), 12, "only the two role routes share a bucket");
    assert!(config.route_limits.values().all(
        |limit| limit.bucket.len() == 32 && limit.bucket.bytes().all(|b| b.is_ascii_hexdigit())
    ));
}
