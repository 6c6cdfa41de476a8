//! `discord/update-bot-settings` and `discord/submit-role-list`: what they store, and how little they check.

use super::*;

fn settings(url: &str, guild: &str, username: &str, user_id: &str) -> BotSettings {
    BotSettings {
        url: Some(url.into()),
        guild_id: Some(guild.into()),
        bot_username: Some(username.into()),
        bot_user_id: Some(user_id.into()),
    }
}

#[tokio::test]
async fn update_bot_settings_stores_every_field() {
    let test = TestSite::start(config()).await;
    assert_eq!(test.sim.bot_settings(), BotSettings::default());
    test.post_json(
        "discord/update-bot-settings",
        json!({
            "url": "https://roster.example/bridge/abc",
            "guild_id": "1000",
            "bot_username": "Roster",
            "bot_user_id": "900"
        }),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(
        test.sim.bot_settings(),
        settings("https://roster.example/bridge/abc", "1000", "Roster", "900")
    );
    let over_http = test.control(Method::GET, "/_sim/bot-settings", None).await;
    assert_eq!(over_http.status, 200);
    assert_eq!(
        over_http.body,
        json!({
            "url": "https://roster.example/bridge/abc",
            "guildId": "1000",
            "botUsername": "Roster",
            "botUserId": "900"
        })
    );
    test.stop().await;
}

#[tokio::test]
async fn update_bot_settings_converts_like_php() {
    let test = TestSite::start(config()).await;
    test.post_json(
        "discord/update-bot-settings",
        json!({ "url": "http://bot", "guild_id": 1000, "bot_username": "Roster", "bot_user_id": 900 }),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(
        test.sim.bot_settings(),
        settings("http://bot", "1000", "Roster", "900"),
        "numbers are stored as their decimal text"
    );
    // Absent and null fields are left alone; "" and false delete the setting; true is "1".
    test.post_json(
        "discord/update-bot-settings",
        json!({ "url": null, "guild_id": "", "bot_username": false, "bot_user_id": true }),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(
        test.sim.bot_settings(),
        BotSettings {
            url: Some("http://bot".into()),
            guild_id: None,
            bot_username: None,
            bot_user_id: Some("1".into()),
        }
    );
    test.stop().await;
}

#[tokio::test]
async fn update_bot_settings_checks_nothing() {
    let test = TestSite::start(config()).await;
    for body in ["", "not json", "[1,2]", "{}", r#"{"unknown":"x"}"#, "42"] {
        test.post("discord/update-bot-settings", Auth::Bearer(KEY), body)
            .await
            .expect(200, SETTINGS_UPDATED);
    }
    assert_eq!(test.sim.bot_settings(), BotSettings::default());
    test.stop().await;
}

#[tokio::test]
async fn an_array_field_is_a_php_type_error_with_status_200() {
    let test = TestSite::start(config()).await;
    let reply = test
        .post_json(
            "discord/update-bot-settings",
            json!({ "url": "http://bot", "guild_id": ["1000"], "bot_username": "Roster" }),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some(JSON));
    assert!(
        reply.text.starts_with(
            "Util::setSetting(): Argument #2 ($new_value) must be of type ?string, array given, called in \
             /var/www/html/modules/Discord Integration/includes/endpoints/UpdateDiscordBotSettingsEndpoint.php on line 29"
        ),
        "the exception handler's plain text: {}",
        reply.text
    );
    assert_eq!(reply.body, Value::Null, "not JSON");
    assert_eq!(
        test.sim.bot_settings(),
        BotSettings {
            url: Some("http://bot".into()),
            ..BotSettings::default()
        },
        "the field before the error is stored, the ones after it are not"
    );
    test.stop().await;
}

#[tokio::test]
async fn submit_role_list_stores_the_list() {
    let test = TestSite::start(config()).await;
    assert_eq!(test.sim.role_list(), None);
    assert_eq!(
        test.control(Method::GET, "/_sim/roles", None).await.status,
        404
    );
    let roles = json!([
        { "id": 1001, "name": "Member" },
        { "id": 1002, "name": "Trusted" }
    ]);
    test.post_json("discord/submit-role-list", json!({ "roles": roles }))
        .await
        .expect(200, SETTINGS_UPDATED);
    assert_eq!(
        test.sim.role_list(),
        Some(vec![
            SiteRole {
                id: 1001,
                name: "Member".into()
            },
            SiteRole {
                id: 1002,
                name: "Trusted".into()
            },
        ])
    );
    let over_http = test.control(Method::GET, "/_sim/roles", None).await;
    assert_eq!((over_http.status, &over_http.body), (200, &roles));
    // A new list replaces the old one.
    test.post_json(
        "discord/submit-role-list",
        json!({ "roles": [{ "id": "1003", "name": "Booster" }] }),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(
        test.sim.role_list(),
        Some(vec![SiteRole {
            id: 1003,
            name: "Booster".into()
        }]),
        "string ids read as the site reads them"
    );
    test.stop().await;
}

#[tokio::test]
async fn submit_role_list_validates_nothing() {
    let test = TestSite::start(config()).await;
    // Missing, null-ish or unreadable roles store an empty list, and the answer is still 200.
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"roles":null}"#,
        r#"{"roles":false}"#,
        r#"{"roles":0}"#,
        r#"{"roles":""}"#,
        r#"{"roles":{}}"#,
    ] {
        test.post("discord/submit-role-list", Auth::Bearer(KEY), body)
            .await
            .expect(200, SETTINGS_UPDATED);
        assert_eq!(test.sim.role_list_json(), Some(json!([])), "body {body}");
        assert_eq!(test.sim.role_list(), Some(Vec::new()));
    }
    // Anything else is stored as it is.
    test.post(
        "discord/submit-role-list",
        Auth::Bearer(KEY),
        r#"{"roles":"garbage"}"#,
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(test.sim.role_list_json(), Some(json!("garbage")));
    assert_eq!(test.sim.role_list(), None, "not a list of roles");
    test.post(
        "discord/submit-role-list",
        Auth::Bearer(KEY),
        r#"{"roles":[{"id":1,"title":"no name"}]}"#,
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    assert_eq!(test.sim.role_list(), None);
    test.stop().await;
}
