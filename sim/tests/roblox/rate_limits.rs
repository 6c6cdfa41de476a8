//! Open Cloud's per-key-owner rate limits: headers, 429s and window resets.

use super::*;

#[tokio::test]
async fn rate_limit_headers_and_429s() {
    let test = TestSim::seeded().await;
    let group_path = format!("/cloud/v2/groups/{GROUP}");
    let first = test.get("member-key", &group_path).await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("150, 150;w=60"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("149"));
    let reset: u64 = first
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("seconds");
    assert!((59..=60).contains(&reset), "{reset}");
    let roles = test
        .list("member-key", &format!("{group_path}/roles"), &[])
        .await;
    assert_eq!(roles.header("x-ratelimit-limit"), Some("300, 300;w=60"));
    // Errors after auth carry the headers too.
    let not_found = test.get("member-key", "/cloud/v2/groups/77").await;
    assert_eq!(not_found.header("x-ratelimit-remaining"), Some("148"));

    test.sim.update_config(|config| {
        config.rate_limit_overrides.insert(Endpoint::AssignRole, 3);
    });
    // Two keys of the same owner share one quota; another owner has their own.
    let target = MULTI.to_string();
    let mut remaining = Vec::new();
    for key in ["owner-key", "owner-key-2", "owner-key"] {
        let reply = test.assign(key, &target, &role(TRUSTED)).await;
        reply.ok();
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3, 3;w=60"));
        remaining.push(
            reply
                .header("x-ratelimit-remaining")
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = test.assign("owner-key-2", &target, &role(TRUSTED)).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_none());
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    test.assign("admin-key", &target, &role(TRUSTED)).await.ok();
    // Other endpoints of the same owner are unaffected.
    test.unassign("owner-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();

    test.sim
        .update_config(|config| config.retry_after_on_429 = true);
    let limited = test.assign("owner-key", &target, &role(TRUSTED)).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    let retry: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));

    // Disabled limits still count and report, but never refuse.
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let unlimited = test.assign("owner-key", &target, &role(TRUSTED)).await;
    unlimited.ok();
    assert_eq!(unlimited.header("x-ratelimit-remaining"), Some("0"));

    let log = test.sim.log();
    let limited: Vec<_> = log.iter().filter(|entry| entry.status == 429).collect();
    assert_eq!(limited.len(), 2);
    assert!(
        limited
            .iter()
            .all(|entry| entry.fault.is_none() && entry.key_owner == Some(OWNER))
    );
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_window_resets() {
    let test = TestSim::seeded().await;
    test.sim.update_config(|config| {
        // Long enough that the second request lands in the same window even on a loaded
        // machine (the whole test suite runs in parallel).
        config.rate_limit_window = Duration::from_millis(2000);
        config.rate_limit_overrides.insert(Endpoint::GetGroup, 1);
    });
    let path = format!("/cloud/v2/groups/{GROUP}");
    let first = test.get("member-key", &path).await;
    first.ok();
    assert_eq!(first.header("x-ratelimit-limit"), Some("1, 1;w=2"));
    test.get("member-key", &path)
        .await
        .expect(429, "RESOURCE_EXHAUSTED");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    test.get("member-key", &path).await.ok();
    test.stop().await;
}
