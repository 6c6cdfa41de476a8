//! The site calling its bot's `applyRoleChanges`, checked on the wire.

use super::*;

const BOT_ANSWER: &str = r#"{"status":"success","role_changes":[{"user_id":"10","role_id":"1001","status":"added"},{"user_id":"10","role_id":"1002","status":"removed"}]}"#;

fn changes() -> Vec<RoleChangeRequest> {
    vec![
        RoleChangeRequest {
            user_id: 10,
            role_id: 1001,
            add: true,
        },
        RoleChangeRequest {
            user_id: 10,
            role_id: 1002,
            add: false,
        },
    ]
}

/// Stores the bot's URL and guild the way the bot does.
async fn link(test: &TestSite, url: &str) {
    test.post_json(
        "discord/update-bot-settings",
        json!({ "url": url, "guild_id": "1000", "bot_username": "Roster", "bot_user_id": "900" }),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
}

#[tokio::test]
async fn apply_role_changes_posts_what_namelessmc_posts() {
    let (bot, mut received) = bot_listener(BotBehaviour::Answer(200, BOT_ANSWER)).await;
    let test = TestSite::start(config()).await;
    link(&test, &format!("http://{bot}")).await;
    let reply = test
        .sim
        .apply_role_changes(&changes())
        .await
        .expect("the bot answers");
    assert_eq!(
        reply,
        BotReply {
            status: 200,
            body: BOT_ANSWER.into()
        }
    );
    let request = received.recv().await.expect("the bot got the request");
    assert_eq!(request.request_line, "POST /applyRoleChanges HTTP/1.1");
    let expected = format!(
        r#"{{"guild_id":"1000","api_key":"{KEY}","role_changes":[{{"user_id":"10","role_id":1001,"action":"add"}},{{"user_id":"10","role_id":1002,"action":"remove"}}]}}"#
    );
    assert_eq!(
        request.body, expected,
        "json_encode's output, byte for byte"
    );
    let body: Value = serde_json::from_str(&request.body).expect("JSON");
    assert!(body["guild_id"].is_string(), "guild_id is a string");
    assert!(
        body["role_changes"][0]["user_id"].is_string(),
        "user_id is a string"
    );
    assert!(
        body["role_changes"][0]["role_id"].is_u64(),
        "role_id is a number"
    );

    let mut names = request.header_names.clone();
    names.sort();
    assert_eq!(
        names,
        ["accept", "content-length", "host", "user-agent"],
        "no Content-Type (Guzzle sends none); reqwest adds Accept"
    );
    assert_eq!(request.headers["user-agent"], "GuzzleHttp/7");
    assert_eq!(
        request.headers["content-length"],
        expected.len().to_string()
    );
    assert_eq!(request.headers["host"], bot.to_string());
    test.stop().await;
}

#[tokio::test]
async fn the_url_is_concatenated_as_stored() {
    let (bot, mut received) = bot_listener(BotBehaviour::Answer(200, "{}")).await;
    let test = TestSite::start(config()).await;
    link(&test, &format!("http://{bot}/bridge/")).await;
    test.sim
        .apply_role_changes(&changes())
        .await
        .expect("the bot answers");
    let request = received.recv().await.expect("the bot got the request");
    assert_eq!(
        request.request_line,
        "POST /bridge//applyRoleChanges HTTP/1.1"
    );
    test.stop().await;
}

#[tokio::test]
async fn any_status_is_reported_and_over_http() {
    let (bot, mut received) =
        bot_listener(BotBehaviour::Answer(401, r#"{"status":"unauthorized"}"#)).await;
    let test = TestSite::start(config()).await;
    link(&test, &format!("http://{bot}")).await;
    let reply = test
        .control(
            Method::POST,
            "/_sim/apply-role-changes",
            Some(json!({ "roleChanges": [
                { "userId": 10, "roleId": 1001, "action": "add" },
                { "userId": 11, "roleId": 1002, "action": "remove" }
            ] })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({ "status": 401, "body": r#"{"status":"unauthorized"}"# })
    );
    let request = received.recv().await.expect("the bot got the request");
    let body: Value = serde_json::from_str(&request.body).expect("JSON");
    assert_eq!(
        body["role_changes"],
        json!([
            { "user_id": "10", "role_id": 1001, "action": "add" },
            { "user_id": "11", "role_id": 1002, "action": "remove" }
        ])
    );
    test.stop().await;
}

#[tokio::test]
async fn no_bot_url_or_no_bot_is_an_error() {
    let test = TestSite::start(config()).await;
    let err = test
        .sim
        .apply_role_changes(&changes())
        .await
        .expect_err("no URL stored");
    assert!(err.contains("no bot URL"), "{err}");

    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    link(&test, &format!("http://{addr}")).await;
    let err = test
        .sim
        .apply_role_changes(&changes())
        .await
        .expect_err("nothing listens");
    assert!(err.contains("/applyRoleChanges"), "{err}");
    let reply = test
        .control(
            Method::POST,
            "/_sim/apply-role-changes",
            Some(json!({ "roleChanges": [] })),
        )
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert!(reply.body["error"].is_string());
    test.stop().await;
}

#[tokio::test]
async fn the_bot_gets_five_seconds() {
    let (bot, mut received) = bot_listener(BotBehaviour::Hang).await;
    let test = TestSite::start(config()).await;
    link(&test, &format!("http://{bot}")).await;
    let started = Instant::now();
    let err = test
        .sim
        .apply_role_changes(&changes())
        .await
        .expect_err("the bot never answers");
    let waited = started.elapsed();
    assert!(err.contains("timed out after 5 s"), "{err}");
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_secs(8),
        "waited {waited:?}"
    );
    assert!(received.recv().await.is_some(), "the request was sent");
    test.stop().await;
}
