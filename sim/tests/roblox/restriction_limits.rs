//! User restrictions under load and faults: the additional rate limits, idempotency keys, faults,
//! the request log and the control API.

use super::*;

#[tokio::test]
async fn user_restriction_rate_limits() {
    let test = TestSim::with_universes().await;
    // Long windows so a loaded machine cannot straddle two of them.
    test.sim.update_config(|config| {
        config.rate_limit_second_window = Duration::from_secs(30);
    });
    let path = restriction_path(USER_UNIVERSE, PLAIN);

    // The owner quota is per second (here: per 30 s window).
    let reply = test.get("ban-owner-key", &path).await;
    reply.ok();
    assert_eq!(reply.header("x-ratelimit-limit"), Some("150, 150;w=30"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("149"));

    // Two updates a minute per user; the third is refused, other users are not affected.
    test.restrict("ban-owner-key", &path, &[], ban(None, "1", ""))
        .await
        .ok();
    test.restrict(
        "ban-owner-key",
        &place_restriction_path(USER_UNIVERSE, PLACE, PLAIN),
        &[],
        ban(None, "2", ""),
    )
    .await
    .ok();
    let limited = test.restrict("ban-owner-key", &path, &[], unban()).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_none());
    assert!(limited.header("x-ratelimit-limit").is_some());
    assert!(
        limited.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 times a minute"))
    );
    assert!(
        test.sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("banned")
            .active
    );
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(GROUP_UNIVERSE, PLAIN),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.sim
        .update_config(|config| config.retry_after_on_429 = true);
    let limited = test.restrict("ban-owner-key", &path, &[], unban()).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    let retry: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    test.sim
        .update_config(|config| config.retry_after_on_429 = false);

    // Ten updates a second per universe, whoever sends them (5 used above in universe 500, refused ones
    // included).
    for user in 3000..3005u64 {
        test.restrict(
            "ban-owner-key",
            &restriction_path(USER_UNIVERSE, user),
            &[],
            ban(None, "", ""),
        )
        .await
        .ok();
    }
    let limited = test
        .restrict(
            "ban-owner-key",
            &restriction_path(USER_UNIVERSE, 3100),
            &[],
            ban(None, "", ""),
        )
        .await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(
        limited.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("10 requests a second"))
    );
    // Reads have their own per-universe limit.
    test.get("ban-owner-key", &path).await.ok();

    // Both windows are configurable: once they have passed, the user may be updated again.
    test.sim.update_config(|config| {
        config.rate_limit_window = Duration::from_millis(300);
        config.rate_limit_second_window = Duration::from_millis(300);
    });
    tokio::time::sleep(Duration::from_millis(350)).await;
    test.restrict("ban-owner-key", &path, &[], unban())
        .await
        .ok();
    // Disabled: no per-universe or per-user limit; the owner quota still applies (and can be overridden).
    test.sim.update_config(|config| {
        config.user_restriction_limits_enabled = false;
        config
            .rate_limit_overrides
            .insert(Endpoint::UpdateUserRestriction, 20);
        config.rate_limit_window = Duration::from_secs(60);
        config.rate_limit_second_window = Duration::from_secs(30);
    });
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            test.restrict("ban-owner-key", &path, &[], unban())
                .await
                .status,
        );
    }
    let reply = test.restrict("ban-owner-key", &path, &[], unban()).await;
    assert_eq!(reply.header("x-ratelimit-limit"), Some("20, 20;w=30"));
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    // With rate limits off, the extra limits are off as well.
    test.sim.update_config(|config| {
        config.user_restriction_limits_enabled = true;
        config.rate_limits_enabled = false;
    });
    for _ in 0..3 {
        test.restrict("ban-owner-key", &path, &[], unban())
            .await
            .ok();
    }
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_idempotency_keys() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let path = restriction_path(USER_UNIVERSE, PLAIN);
    let key = "6c3e1d1e-2b1f-4f4e-8a51-0e1d7c9b0a11";
    let sent = chrono::Utc::now().to_rfc3339();
    let query = [
        ("updateMask", "gameJoinRestriction"),
        ("idempotencyKey.key", key),
        ("idempotencyKey.firstSent", sent.as_str()),
    ];
    let first = test
        .restrict("ban-owner-key", &path, &query, ban(Some("60s"), "once", ""))
        .await;
    let first = first.ok().clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The retry gets the same answer and changes nothing.
    let retry = test
        .restrict("ban-owner-key", &path, &query, ban(Some("60s"), "once", ""))
        .await;
    assert_eq!(retry.ok(), &first);
    let logs = test
        .list("ban-owner-key", &logs_path(USER_UNIVERSE), &[])
        .await;
    assert_eq!(items(logs.ok(), "logs").len(), 1);

    // The same key for another request, or with another firstSent, is refused.
    test.restrict(
        "ban-owner-key",
        &path,
        &query,
        ban(Some("120s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &query,
        ban(Some("60s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    test.restrict(
        "ban-owner-key",
        &path,
        &[
            ("updateMask", "gameJoinRestriction"),
            ("idempotencyKey.key", key),
            ("idempotencyKey.firstSent", &later),
        ],
        ban(Some("60s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    // Keys are per key owner: another owner may use the same key.
    test.restrict(
        "ban-admin-key",
        &restriction_path(GROUP_UNIVERSE, PLAIN),
        &query,
        ban(Some("60s"), "once", ""),
    )
    .await
    .ok();

    // Expired, future or malformed firstSent, and malformed keys.
    let old = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    for (key, first_sent) in [
        ("fresh-key", old.as_str()),
        ("fresh-key", future.as_str()),
        ("fresh-key", "yesterday"),
        ("", sent.as_str()),
        ("a key with spaces", sent.as_str()),
        ("0123456789012345678901234567890123456", sent.as_str()),
    ] {
        test.restrict(
            "ban-owner-key",
            &path,
            &[
                ("idempotencyKey.key", key),
                ("idempotencyKey.firstSent", first_sent),
            ],
            unban(),
        )
        .await
        .expect(400, "INVALID_ARGUMENT");
    }
    // A key without firstSent is fine.
    test.restrict(
        "ban-owner-key",
        &path,
        &[("idempotencyKey.key", "no-first-sent")],
        unban(),
    )
    .await
    .ok();
    assert!(
        !test
            .sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("record")
            .active
    );
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_faults_log_and_control_api() {
    let test = TestSim::start(RobloxSimConfig::default()).await;
    // Seeding over HTTP.
    let seed = serde_json::to_value(UniverseSeed {
        id: USER_UNIVERSE,
        owner_user_id: Some(OWNER),
        owner_group_id: None,
    })
    .expect("seed serializes");
    assert_eq!(
        seed,
        json!({ "id": USER_UNIVERSE, "ownerUserId": OWNER, "ownerGroupId": null })
    );
    assert_eq!(
        test.control(Method::POST, "/_sim/universes", Some(seed))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes",
            Some(json!({ "id": 9, "ownerGroupId": GROUP }))
        )
        .await
        .status,
        204
    );
    for bad in [
        json!({ "id": 9 }),
        json!({ "id": 9, "ownerUserId": 1, "ownerGroupId": 2 }),
        json!({ "id": 0, "ownerUserId": 1 }),
        json!({ "id": 9, "ownerUserId": 1, "owner": 2 }),
    ] {
        assert_eq!(
            test.control(Method::POST, "/_sim/universes", Some(bad))
                .await
                .status,
            400
        );
    }
    let places = format!("/_sim/universes/{USER_UNIVERSE}/places");
    assert_eq!(
        test.control(Method::POST, &places, Some(json!({ "placeId": PLACE })))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(Method::POST, &places, Some(json!({ "placeId": PLACE })))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes/9/places",
            Some(json!({ "placeId": PLACE }))
        )
        .await
        .status,
        400,
        "a place belongs to one universe"
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes/77/places",
            Some(json!({ "placeId": 5 }))
        )
        .await
        .status,
        404
    );
    let key = json!({
        "key": "http-ban-key",
        "ownerUserId": OWNER,
        "scopes": ["universe.user-restriction:read", "universe.user-restriction:write"],
    });
    assert_eq!(
        test.control(Method::POST, "/_sim/keys", Some(key))
            .await
            .status,
        204
    );

    let snapshot_path = format!("/_sim/universes/{USER_UNIVERSE}/user-restrictions/{PLAIN}");
    assert_eq!(
        test.control(Method::GET, &snapshot_path, None).await.status,
        404
    );

    // A faulted update changes nothing; the retry goes through; the log records both.
    let path = restriction_path(USER_UNIVERSE, PLAIN);
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::UpdateUserRestriction),
        method: None,
        path_contains: None,
        action: FaultAction::Status { status: 503 },
        times: Some(1),
    });
    test.restrict(
        "http-ban-key",
        &path,
        &[],
        ban(Some("7200s"), "shown", "hidden"),
    )
    .await
    .expect(503, "UNAVAILABLE");
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    let reply = test
        .restrict(
            "http-ban-key",
            &path,
            &[("updateMask", "gameJoinRestriction")],
            ban(Some("7200s"), "shown", "hidden"),
        )
        .await;
    let start = game_join(reply.ok())["startTime"]
        .as_str()
        .expect("startTime")
        .to_owned();
    let log = test.sim.log();
    assert_eq!(
        log.iter()
            .map(|entry| (entry.endpoint, entry.status))
            .collect::<Vec<_>>(),
        [
            (Some(Endpoint::UpdateUserRestriction), 503),
            (Some(Endpoint::UpdateUserRestriction), 200)
        ]
    );
    assert!(log[0].fault.is_some());
    assert_eq!(
        log[1].path,
        format!("{path}?updateMask=gameJoinRestriction")
    );
    assert_eq!(
        log[1].request_body,
        Some(ban(Some("7200s"), "shown", "hidden"))
    );
    assert_eq!(log[1].key_owner, Some(OWNER));

    let snapshot = test.control(Method::GET, &snapshot_path, None).await;
    assert_eq!(snapshot.status, 200);
    assert_eq!(snapshot.body["active"], true);
    assert_eq!(snapshot.body["durationSecs"], 7200);
    assert_eq!(snapshot.body["privateReason"], "hidden");
    assert_eq!(snapshot.body["displayReason"], "shown");
    assert_eq!(snapshot.body["excludeAltAccounts"], false);
    let snapshot_start = chrono::DateTime::parse_from_rfc3339(
        snapshot.body["startTime"].as_str().expect("startTime"),
    )
    .expect("RFC 3339");
    assert_eq!(
        snapshot_start,
        chrono::DateTime::parse_from_rfc3339(&start).expect("RFC 3339")
    );
    let parsed: UserRestrictionSnapshot =
        serde_json::from_value(snapshot.body.clone()).expect("a snapshot");
    assert_eq!(
        Some(parsed),
        test.sim.user_restriction(USER_UNIVERSE, PLAIN)
    );
    assert_eq!(
        test.control(Method::DELETE, &snapshot_path, None)
            .await
            .status,
        405
    );
    assert_eq!(
        test.control(Method::GET, "/_sim/universes/x/user-restrictions/1", None)
            .await
            .status,
        400
    );

    // Re-seeding a universe starts it afresh.
    test.sim
        .seed_universe(UniverseSeed {
            id: USER_UNIVERSE,
            owner_user_id: Some(OWNER),
            owner_group_id: None,
        })
        .expect("valid seed");
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    test.get(
        "http-ban-key",
        &place_restriction_path(USER_UNIVERSE, PLACE, PLAIN),
    )
    .await
    .expect(404, "NOT_FOUND");
    test.stop().await;
}
