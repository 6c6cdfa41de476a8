//! What every request needs: a registered bot token, a User-Agent, a known route and id, a JSON
//! body; and many requests at once.

use super::*;

#[tokio::test]
async fn authorization_must_be_a_registered_bot_token() {
    let test = TestSim::seeded().await;
    let unauthorized = json!({ "message": "401: Unauthorized", "code": 0 });
    let path = api("/users/@me");

    let missing = test.send(test.request(Method::GET, &path, None)).await;
    assert_eq!((missing.status, &missing.body), (401, &unauthorized));
    assert!(missing.header("x-ratelimit-limit").is_none());

    let unknown = test.get("no-such-token", "/users/@me").await;
    assert_eq!((unknown.status, &unknown.body), (401, &unauthorized));

    for value in [
        TOKEN.to_owned(),
        format!("Bearer {TOKEN}"),
        format!("bot {TOKEN}"),
    ] {
        let reply = test
            .send(
                test.request(Method::GET, &path, None)
                    .header("authorization", value.as_str()),
            )
            .await;
        assert_eq!(reply.status, 401, "{value}");
    }

    let me = test.get(TOKEN, "/users/@me").await;
    let body = me.ok();
    assert_eq!(body["id"], "900");
    assert_eq!(body["username"], "roster");
    assert_eq!(body["bot"], true);
    assert_eq!(body["discriminator"], "0");

    let log = test.sim.log();
    assert_eq!(log.len(), 6);
    assert!(
        log[..5]
            .iter()
            .all(|entry| entry.status == 401 && entry.bot_user_id.is_none())
    );
    assert_eq!(log[5].bot_user_id, Some(BOT));
    assert_eq!(log[5].route, Some(Route::GetCurrentUser));
    test.stop().await;
}

#[tokio::test]
async fn a_user_agent_is_required() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.invalid_request_limit = 1);
    for user_agent in [None, Some("   ")] {
        let mut builder = test
            .client
            .get(format!("{}{}", test.base, api("/users/@me")))
            .header("authorization", format!("Bot {TOKEN}"));
        if let Some(user_agent) = user_agent {
            builder = builder.header("user-agent", user_agent);
        }
        let reply = test.send(builder).await;
        assert_eq!(reply.status, 403);
        assert!(
            reply
                .header("content-type")
                .is_some_and(|value| value.starts_with("text/html")),
            "a Cloudflare page, not JSON"
        );
        assert!(reply.text.contains("Error 1010"), "{}", reply.text);
    }
    // Not counted as invalid requests (the API never saw them): with a limit of 1 a ban would show now.
    test.get(TOKEN, "/users/@me").await.ok();
    let log = test.sim.log();
    assert_eq!(log[0].cloudflare.as_deref(), Some("1010 no user agent"));
    assert_eq!(log[0].route, None);
    // twilight-http's own User-Agent is accepted.
    let user = test
        .twilight(TOKEN)
        .current_user()
        .await
        .expect("twilight is answered")
        .model()
        .await
        .expect("a user");
    assert_eq!(user.id.get(), BOT);
    test.stop().await;
}

#[tokio::test]
async fn unknown_routes_methods_and_ids() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000/channels").await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        json!({ "message": "404: Not Found", "code": 0 })
    );
    let reply = test
        .send(test.request(Method::GET, "/api/v9/users/@me", Some(TOKEN)))
        .await;
    assert_eq!(reply.status, 404);

    let reply = test
        .send(test.request(Method::POST, &api("/guilds/1000/members/10"), Some(TOKEN)))
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.body,
        json!({ "message": "405: Method Not Allowed", "code": 0 })
    );
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));

    let reply = test.get(TOKEN, "/guilds/abc/members/10").await;
    reply.expect(400, 50035);
    assert_eq!(reply.field_error(&["guild_id"]), Some("NUMBER_TYPE_COERCE"));
    let reply = test
        .get(TOKEN, "/guilds/1000/members/10?with_counts=true")
        .await;
    reply.expect(400, 50035);
    assert!(reply.field_error(&["with_counts"]).is_some());
    test.stop().await;
}

#[tokio::test]
async fn bodies_need_a_json_content_type_and_valid_json() {
    let test = TestSim::seeded().await;
    let path = api("/guilds/1000/members/10");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut builder = test
            .request(Method::PATCH, &path, Some(TOKEN))
            .body(r#"{"nick":"x"}"#);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        let reply = test.send(builder).await;
        reply.expect(400, 50035);
        assert_eq!(
            reply.field_error(&[]),
            Some("CONTENT_TYPE_INVALID"),
            "{content_type:?}"
        );
    }
    let reply = test
        .send(
            test.request(Method::PATCH, &path, Some(TOKEN))
                .header("content-type", "application/json; charset=utf-8")
                .body(r#"{"nick":"x"}"#),
        )
        .await;
    assert_eq!(reply.ok()["nick"], "x");

    let reply = test
        .send(
            test.request(Method::PATCH, &path, Some(TOKEN))
                .header("content-type", "application/json")
                .body(r#"{"nick": "#),
        )
        .await;
    reply.expect(400, 50109);
    assert_eq!(
        reply.body["message"],
        "The request body contains invalid JSON."
    );

    // No body needs no Content-Type (PUT role has none); a POST that needs fields reads it as {}.
    test.put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    let reply = test
        .send(test.request(Method::POST, &api("/users/@me/channels"), Some(TOKEN)))
        .await;
    reply.expect(400, 50035);
    assert_eq!(
        reply.field_error(&["recipient_id"]),
        Some("BASE_TYPE_REQUIRED")
    );
    test.stop().await;
}

#[tokio::test]
async fn many_concurrent_requests() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let shared = &test;
    let requests = (0..400).map(|i| async move {
        let path = format!("/guilds/4000/members/{}", 4001 + (i % 25));
        shared.get(TOKEN, &path).await
    });
    let replies = futures::future::join_all(requests).await;
    assert!(replies.iter().all(|reply| reply.status == 200));
    assert_eq!(test.sim.log().len(), 400);
    test.stop().await;
}
