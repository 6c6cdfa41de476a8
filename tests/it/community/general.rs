//! Keys, scoping and the envelope; server info, verification and rank.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use super::{assert_error, get, post, user_q};
use crate::harness::discord::{self, discord_of};
use crate::harness::{Backend, GROUP, GUILD, TestApp, TestOpts};

#[tokio::test]
async fn keys_are_checked_and_scoped_to_their_server() {
    let app = TestApp::start(Backend::Sqlite).await;
    // No key, a wrong key, a group (ranking) key.
    let path = format!("/api/xp/get?serverId={GUILD}&robloxId=101");
    let a = app.request(Method::GET, &path, &[], None).await;
    assert_error(&a, 401, "UNAUTHORIZED");
    let a = app
        .request(Method::GET, &path, &[("x-api-key", "rk_nope")], None)
        .await;
    assert_error(&a, 401, "UNAUTHORIZED");
    let key = app.api_key.clone();
    let a = app
        .request(Method::GET, &path, &[("x-api-key", &key)], None)
        .await;
    assert_error(&a, 403, "FORBIDDEN");
    // Another server's id, in the query and in a body.
    let a = get(
        &app,
        "/api/xp/get",
        &[("serverId", "123".into()), ("robloxId", "101".into())],
    )
    .await;
    assert_error(&a, 403, "FORBIDDEN");
    assert!(a.body["message"].as_str().unwrap().contains("123"));
    let a = post(
        &app,
        "/api/xp/add",
        json!({"serverId": "123", "robloxId": 101, "amount": 5}),
    )
    .await;
    assert_error(&a, 403, "FORBIDDEN");
    assert_eq!(
        roster_core::community::member(
            app.ctx(),
            roster_core::ids::GuildId::new(GUILD).unwrap(),
            roster_core::ids::RobloxUserId::new(101).unwrap()
        )
        .unwrap()
        .xp,
        0,
        "a refused write changed nothing"
    );
    // Missing and malformed parameters name the field.
    let a = get(&app, "/api/xp/get", &[("serverId", GUILD.to_string())]).await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert!(a.body["message"].as_str().unwrap().contains("robloxId"));
    let a = get(&app, "/api/xp/get", &user_q(0)).await;
    assert_error(&a, 400, "BAD_REQUEST");
    let a = post(&app, "/api/xp/add", json!("not an object")).await;
    assert_error(&a, 400, "BAD_REQUEST");
    // `serverId` left out: the key's guild.
    let a = get(&app, "/api/xp/get", &[("robloxId", "101".into())]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // Ids as numbers or strings.
    let a = post(
        &app,
        "/api/xp/add",
        json!({"serverId": GUILD, "robloxId": "101", "amount": "7"}),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body, json!({"success": true, "xp": 7}));
    // Unknown routes and methods answer in this family's envelope.
    let a = get(&app, "/api/nothing/here", &[]).await;
    assert_error(&a, 404, "NOT_FOUND");
    let a = post(&app, "/api/xp/get", json!({})).await;
    assert_error(&a, 405, "METHOD_NOT_ALLOWED");
    app.finish().await;
}

#[tokio::test]
async fn each_key_is_rate_limited_with_retry_after() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(|c| c.guild_api.rate_limit_per_minute = 60)),
            ..TestOpts::default()
        },
    )
    .await;
    let mut limited = None;
    for _ in 0..30 {
        let a = get(&app, "/api/xp/get", &user_q(101)).await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = limited.expect("the 60/min limit (bursts of 10) stops 30 requests in a row");
    assert_error(&a, 429, "RATE_LIMITED");
    let wait: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    app.finish().await;
}

#[tokio::test]
async fn server_info_verification_and_rank() {
    let d = discord::start(Backend::Sqlite).await;
    let app = &d.app;
    d.link_demo_members().await;
    let a = get(app, "/api/server/info", &[("serverId", GUILD.to_string())]).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["id"], GUILD.to_string());
    assert_eq!(a.body["name"], format!("Guild {GUILD}"));
    // The seeded members, the bot and the owner.
    assert_eq!(
        a.body["memberCount"],
        discord::main_members().len() as u64 + 2
    );
    assert_eq!(
        a.body["iconUrl"],
        format!(
            "https://cdn.discordapp.com/icons/{GUILD}/{}.png",
            discord::GUILD_ICON
        )
    );
    // Cached: a second read does not ask Discord again.
    let before = d.dsim.sim.log().len();
    let again = get(app, "/api/server/info", &[("serverId", GUILD.to_string())]).await;
    assert_eq!(again.body, a.body);
    assert_eq!(d.dsim.sim.log().len(), before, "served from the cache");

    let a = get(app, "/api/user/verified", &[("robloxId", "103".into())]).await;
    assert_eq!(
        a.body,
        json!({"isVerified": true, "discordId": discord_of(103).to_string()})
    );
    let a = get(app, "/api/user/verified", &[("robloxId", "999".into())]).await;
    assert_eq!(a.body, json!({"isVerified": false, "discordId": null}));

    let a = get(app, "/api/user/rank", &user_q(103)).await;
    assert_eq!(
        a.body,
        json!({"groupId": GROUP, "rankName": "Corporal", "rankId": 20})
    );
    let a = get(app, "/api/user/rank", &user_q(424_242)).await;
    assert_eq!(
        a.body,
        json!({"groupId": GROUP, "rankName": "Guest", "rankId": 0}),
        "not a member: the guest role"
    );
    // A group the server is not linked to.
    let mut q = user_q(103);
    q.push(("groupId", "12345".into()));
    let a = get(app, "/api/user/rank", &q).await;
    assert_error(&a, 403, "FORBIDDEN");
    d.app.finish().await;
}

#[tokio::test]
async fn without_a_main_group_the_group_routes_say_so() {
    let app = TestApp::start(Backend::Sqlite).await;
    let a = get(&app, "/api/user/rank", &user_q(103)).await;
    assert_error(&a, 400, "NO_MAIN_GROUP");
    let a = post(&app, "/api/group/promote", super::user_body(101, json!({}))).await;
    assert_error(&a, 400, "NO_MAIN_GROUP");
    app.finish().await;
}
