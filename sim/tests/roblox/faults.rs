//! Injected faults: error statuses, 429s, latency and hangs.

use super::*;

#[tokio::test]
async fn status_faults_use_the_v2_error_shape() {
    let test = TestSim::seeded().await;
    let target = PLAIN.to_string();
    for (status, code) in [
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (409, "ABORTED"),
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
    ] {
        let id = test.sim.add_fault(FaultRule {
            endpoint: Some(Endpoint::AssignRole),
            method: None,
            path_contains: None,
            action: FaultAction::Status { status },
            times: Some(1),
        });
        // Other endpoints are untouched.
        test.get("officer-key", &format!("/cloud/v2/groups/{GROUP}"))
            .await
            .ok();
        let reply = test.assign("officer-key", &target, &role(TRUSTED)).await;
        reply.expect(status, code);
        assert!(reply.header("x-ratelimit-limit").is_some());
        let entry = test.sim.log().pop().expect("logged");
        assert_eq!(entry.status, status);
        assert_eq!(entry.fault, Some(format!("status {status} (rule {id})")));
    }
    assert_eq!(
        test.member_roles(GROUP, PLAIN),
        Some(vec![MEMBER]),
        "faulted writes change nothing"
    );
    // The rules ran out: the next call goes through.
    test.assign("officer-key", &target, &role(TRUSTED))
        .await
        .ok();

    // Matchers: method and path.
    test.sim.add_fault(FaultRule {
        endpoint: None,
        method: Some("get".into()),
        path_contains: Some("/roles".into()),
        action: FaultAction::Status { status: 503 },
        times: None,
    });
    for _ in 0..2 {
        test.list(
            "officer-key",
            &format!("/cloud/v2/groups/{GROUP}/roles"),
            &[],
        )
        .await
        .expect(503, "UNAVAILABLE");
    }
    test.list(
        "officer-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[],
    )
    .await
    .ok();
    test.sim.clear_faults();
    test.list(
        "officer-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[],
    )
    .await
    .ok();
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_faults_with_and_without_retry_after() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}");
    for retry_after_secs in [None, Some(7)] {
        test.sim.add_fault(FaultRule {
            endpoint: Some(Endpoint::GetGroup),
            method: None,
            path_contains: None,
            action: FaultAction::RateLimit { retry_after_secs },
            times: Some(1),
        });
        let reply = test.get("member-key", &path).await;
        reply.expect(429, "RESOURCE_EXHAUSTED");
        assert_eq!(
            reply.header("retry-after"),
            retry_after_secs.map(|s| s.to_string()).as_deref()
        );
        let remaining: u32 = reply
            .header("x-ratelimit-remaining")
            .expect("remaining")
            .parse()
            .expect("number");
        assert!(
            remaining > 0,
            "an injected 429 may come with quota left, as observed live"
        );
    }
    test.get("member-key", &path).await.ok();
    test.stop().await;
}

#[tokio::test]
async fn latency_fault_and_configured_latency_delay_answers() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}");
    test.sim.add_fault(FaultRule {
        endpoint: None,
        method: None,
        path_contains: None,
        action: FaultAction::Latency { ms: 150 },
        times: Some(1),
    });
    let started = Instant::now();
    test.get("member-key", &path).await.ok();
    assert!(started.elapsed() >= Duration::from_millis(150));
    let entry = test.sim.log().pop().expect("logged");
    assert!(entry.duration_ms >= 150.0, "{}", entry.duration_ms);
    assert_eq!(entry.status, 200);
    assert!(
        entry
            .fault
            .as_deref()
            .is_some_and(|fault| fault.starts_with("latency 150ms"))
    );

    test.sim
        .update_config(|config| config.latency = Duration::from_millis(100));
    let started = Instant::now();
    test.get("no-such-key", &path).await; // latency applies to every request, rejected ones too
    assert!(started.elapsed() >= Duration::from_millis(100));
    let entry = test.sim.log().pop().expect("logged");
    assert!(entry.duration_ms >= 100.0);
    assert!(entry.fault.is_none());
    test.stop().await;
}

#[tokio::test]
async fn hang_fault_times_the_client_out_and_does_not_block_shutdown() {
    let test = TestSim::seeded().await;
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::ListMemberships),
        method: None,
        path_contains: None,
        action: FaultAction::Hang,
        times: Some(1),
    });
    let url = format!("{}/cloud/v2/groups/{GROUP}/memberships", test.base);
    let started = Instant::now();
    let result = test
        .client
        .get(&url)
        .header("x-api-key", "member-key")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let err = result.expect_err("the simulator never answers");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The rule fired once: the next request is answered.
    test.list(
        "member-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[],
    )
    .await
    .ok();

    // A second hang still in flight when the server stops.
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::GetGroup),
        method: None,
        path_contains: None,
        action: FaultAction::Hang,
        times: None,
    });
    let pending = tokio::spawn(
        test.client
            .get(format!("{}/cloud/v2/groups/{GROUP}", test.base))
            .header("x-api-key", "member-key")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sim = test.sim.clone();
    test.stop().await;
    let response = pending
        .await
        .expect("the task completes")
        .expect("a request hanging at shutdown is answered, not dropped");
    assert_eq!(response.status().as_u16(), 503);
    let hung: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|entry| {
            entry
                .fault
                .as_deref()
                .is_some_and(|fault| fault.starts_with("hang"))
        })
        .collect();
    assert_eq!(hung.len(), 2);
    assert!(
        hung.iter()
            .all(|entry| entry.status == 499 || entry.status == 503)
    );
}
