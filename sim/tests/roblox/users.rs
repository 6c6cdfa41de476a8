//! Open Cloud user info (`GET /cloud/v2/users/{user_id}`).

use super::*;

/// `GET /cloud/v2/users/{user_id}`: the spec's `User` with only the fields the key's scopes open, 400 for a
/// malformed id, 404 for an unknown user, the gateway's 401, the strict query string, 405, and the per-owner
/// rate limit (1000 a minute) with its headers.
#[tokio::test]
async fn get_user_shape_scopes_errors_and_limits() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/users/{PLAIN}");
    // Any valid key sees the public fields; no scope is needed.
    let public = test.get("member-nothing-key", &path).await;
    assert_eq!(
        public.ok(),
        &json!({
            "path": format!("users/{PLAIN}"),
            "createTime": "2015-03-04T05:06:07Z",
            "id": PLAIN.to_string(),
            "name": "plain_user",
            "displayName": "Plain Person",
            "about": "Just a member",
            "locale": "fr-FR",
            "premium": true,
        })
    );
    assert_eq!(public.header("x-ratelimit-limit"), Some("1000, 1000;w=60"));
    // Each scope opens its field, and only that one.
    test.sim
        .add_api_key("user-advanced-key", OWNER, &["user.advanced:read"]);
    test.sim
        .add_api_key("user-social-key", OWNER, &["user.social:read"]);
    let advanced = test.get("user-advanced-key", &path).await;
    assert_eq!(advanced.ok()["idVerified"], true);
    assert!(advanced.body.get("socialNetworkProfiles").is_none());
    let social = test.get("user-social-key", &path).await;
    assert_eq!(
        social.ok()["socialNetworkProfiles"],
        json!({"twitch": "https://twitch.tv/plain", "visibility": "EVERYONE"})
    );
    assert!(social.body.get("idVerified").is_none());
    // A user seeded with a name only: defaults for the rest.
    test.sim
        .seed_user(UserSeed::named(MULTI, "multi"))
        .expect("seed");
    let multi = test
        .get("user-social-key", &format!("/cloud/v2/users/{MULTI}"))
        .await;
    assert_eq!(multi.ok()["displayName"], "multi");
    assert_eq!(multi.body["locale"], "en-US");
    assert_eq!(
        multi.body["socialNetworkProfiles"],
        json!({"visibility": "SOCIAL_NETWORK_VISIBILITY_UNSPECIFIED"})
    );
    // Errors.
    test.get("member-key", "/cloud/v2/users/123456")
        .await
        .expect(404, "NOT_FOUND");
    for bad in ["abc", "0", "010", "-5", "1.5"] {
        test.get("member-key", &format!("/cloud/v2/users/{bad}"))
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    let missing = test.call(Method::GET, &path, None, &[], None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["errors"][0]["message"], "Invalid API Key");
    assert_eq!(test.get("no-such-key", &path).await.status, 401);
    test.list("member-key", &path, &[("view", "FULL")])
        .await
        .expect(400, "INVALID_ARGUMENT");
    let post = test
        .call(Method::POST, &path, Some("member-key"), &[], None)
        .await;
    post.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(post.header("allow"), Some("GET"));
    // The per-owner limit, shared by the owner's keys (an owner that has not called it yet).
    test.sim.update_config(|config| {
        config.rate_limit_overrides.insert(Endpoint::GetUser, 2);
    });
    test.sim.add_api_key("outsider-key-2", OUTSIDER, &[]);
    test.get("outsider-key", &path).await.ok();
    let second = test.get("outsider-key-2", &path).await;
    second.ok();
    assert_eq!(second.header("x-ratelimit-limit"), Some("2, 2;w=60"));
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    test.get("outsider-key", &path)
        .await
        .expect(429, "RESOURCE_EXHAUSTED");
    test.get("admin-key", &path).await.ok();
    // Seeds are checked.
    assert!(test.sim.seed_user(UserSeed::named(0, "zero")).is_err());
    assert!(test.sim.seed_user(UserSeed::named(5, "")).is_err());
    test.stop().await;
}
