//! Direct messages: opening a DM channel and sending to it.

use super::*;

#[tokio::test]
async fn direct_messages() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let open = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "10" }),
        )
        .await;
    let channel = open.ok()["id"].as_str().expect("a channel id").to_owned();
    assert_eq!(open.body["type"], 1);
    assert_eq!(open.body["recipients"][0]["id"], "10");
    let again = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": 10 }),
        )
        .await;
    assert_eq!(
        again.ok()["id"],
        channel.as_str(),
        "the same channel every time"
    );

    let sent = test
        .json(
            Method::POST,
            TOKEN,
            &format!("/channels/{channel}/messages"),
            json!({ "content": "You were promoted to Trusted." }),
        )
        .await;
    let message = sent.ok();
    assert_eq!(message["content"], "You were promoted to Trusted.");
    assert_eq!(message["channel_id"], channel.as_str());
    assert_eq!(message["author"]["id"], "900");
    let embed = test
        .json(
            Method::POST,
            TOKEN,
            &format!("/channels/{channel}/messages"),
            json!({ "embeds": [{ "title": "Rank update", "description": "Now Trusted", "color": 3_447_003,
                "fields": [{ "name": "Group", "value": "Roster" }], "footer": { "text": "Roster" },
                "timestamp": "2026-01-02T03:04:05Z" }] }),
        )
        .await;
    let embeds = &embed.ok()["embeds"];
    assert_eq!(embeds[0]["type"], "rich");
    assert_eq!(embeds[0]["fields"][0]["inline"], false);
    assert_eq!(embeds[0]["timestamp"], "2026-01-02T03:04:05.000000+00:00");
    test.json(
        Method::POST,
        TOKEN,
        &format!("/channels/{channel}/messages"),
        json!({ "content": "x".repeat(2000) }),
    )
    .await
    .ok();
    assert_eq!(test.sim.direct_messages(PLAIN).len(), 3);
    assert_eq!(
        test.sim.direct_messages(PLAIN)[0],
        "You were promoted to Trusted."
    );

    for (body, path, code) in [
        (
            json!({ "content": "x".repeat(2001) }),
            vec!["content"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            json!({ "content": "hi", "components": [] }),
            vec!["components"],
            "UNSUPPORTED_BY_SIMULATOR",
        ),
        (
            json!({ "embeds": [{ "url": "not a url" }] }),
            vec!["embeds", "0", "url"],
            "URL_TYPE_INVALID_URL",
        ),
        (
            json!({ "embeds": [{ "fields": [{ "name": "a" }] }] }),
            vec!["embeds", "0", "fields", "0", "value"],
            "BASE_TYPE_REQUIRED",
        ),
    ] {
        let reply = test
            .json(
                Method::POST,
                TOKEN,
                &format!("/channels/{channel}/messages"),
                body,
            )
            .await;
        reply.expect(400, 50035);
        assert_eq!(reply.field_error(&path), Some(code), "{}", reply.text);
    }
    for body in [
        json!({}),
        json!({ "content": "" }),
        json!({ "content": "", "embeds": [] }),
    ] {
        let reply = test
            .json(
                Method::POST,
                TOKEN,
                &format!("/channels/{channel}/messages"),
                body,
            )
            .await;
        reply.expect(400, 50006);
        assert_eq!(reply.body["message"], "Cannot send an empty message");
    }

    // Closed DMs, and a user who shares no guild with the bot: the channel opens, sending fails.
    for user in [CLOSED, STRANGER] {
        let dm = test
            .json(
                Method::POST,
                TOKEN,
                "/users/@me/channels",
                json!({ "recipient_id": user.to_string() }),
            )
            .await;
        let dm = dm.ok()["id"].as_str().expect("id").to_owned();
        let reply = test
            .json(
                Method::POST,
                TOKEN,
                &format!("/channels/{dm}/messages"),
                json!({ "content": "hi" }),
            )
            .await;
        reply.expect(403, 50007);
        assert_eq!(reply.body["message"], "Cannot send messages to this user");
        assert!(test.sim.direct_messages(user).is_empty());
    }
    test.sim.set_dms_open(CLOSED, true).expect("a known user");
    let dm = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "13" }),
        )
        .await;
    let dm = dm.ok()["id"].as_str().expect("id").to_owned();
    test.json(
        Method::POST,
        TOKEN,
        &format!("/channels/{dm}/messages"),
        json!({ "content": "hi" }),
    )
    .await
    .ok();

    let reply = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "123456" }),
        )
        .await;
    reply.expect(404, 10013);
    assert_eq!(reply.body["message"], "Unknown User");
    let reply = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "ten" }),
        )
        .await;
    assert_eq!(
        reply.field_error(&["recipient_id"]),
        Some("NUMBER_TYPE_COERCE")
    );
    let reply = test
        .json(
            Method::POST,
            TOKEN,
            "/channels/123/messages",
            json!({ "content": "hi" }),
        )
        .await;
    reply.expect(404, 10003);
    assert_eq!(reply.body["message"], "Unknown Channel");
    // Another bot's DM channel is not this bot's to use.
    let reply = test
        .json(
            Method::POST,
            ADMIN_TOKEN,
            &format!("/channels/{channel}/messages"),
            json!({ "content": "hi" }),
        )
        .await;
    reply.expect(404, 10003);
    test.stop().await;
}
