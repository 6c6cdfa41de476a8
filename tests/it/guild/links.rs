//! Account links and lookups (`/lookup/…`, `/reverse`, `/guilds/{guildId}/members`,
//! `verified-users`), with links imported through the admin API.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::harness::discord::{GUILD_B, UNLINKED, discord_of, start};
use crate::harness::{Backend, GUILD};

both_backends!(links_and_lookups);

async fn links_and_lookups(backend: Backend) {
    let d = start(backend).await;
    // Bulk import as JSON, then as CSV (one row updates a link, one is new).
    d.link_demo_members().await;
    let csv = format!(
        "discord_id,roblox_id,roblox_username,verified_at\n{},101,Builder101,2026-04-12T18:33:21Z\n{UNLINKED},261,Shedletsky,2026-04-12T18:33:21Z\n",
        discord_of(101)
    );
    let auth = format!("Bearer {}", d.app.admin_token);
    let a = d
        .app
        .request(
            Method::POST,
            &format!("/admin/v1/guilds/{GUILD}/links"),
            &[("authorization", &auth), ("content-type", "text/csv")],
            Some(&csv),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["created"], 1);
    assert_eq!(a.body["updated"], 1, "the verified time changed");
    // A bad row names its line and nothing is written.
    let bad = "discord_id,roblox_id,roblox_username\n123456789012345678,0,Nobody\n";
    let a = d
        .app
        .request(
            Method::POST,
            &format!("/admin/v1/guilds/{GUILD}/links"),
            &[("authorization", &auth), ("content-type", "text/csv")],
            Some(bad),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 2"),
        "{:?}",
        a.body
    );

    let a = d
        .app
        .guild(Method::GET, &format!("/lookup/discord/{UNLINKED}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "data": {
            "discord_id": UNLINKED.to_string(), "roblox_id": 261,
            "roblox_username": "Shedletsky", "verified_at": "2026-04-12T18:33:21Z"}})
    );
    let a = d.app.guild(Method::GET, "/lookup/roblox/261", None).await;
    assert_eq!(a.body["data"]["discord_id"], UNLINKED.to_string());
    let a = d
        .app
        .guild(Method::GET, "/lookup/roblox/999999", None)
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.code(), "NOT_VERIFIED");
    assert_eq!(a.body["status"], "error");
    let a = d.app.guild(Method::GET, "/lookup/discord/abc", None).await;
    assert_eq!(a.status, 400, "{:?}", a.body);

    let a = d
        .app
        .guild(
            Method::POST,
            "/lookup/status",
            Some(json!({"guild_id": GUILD.to_string(), "discord_ids": [discord_of(102).to_string(), "234567890123456789"]})),
        )
        .await;
    assert_eq!(
        a.body["data"]["results"],
        json!([
            {"discord_id": discord_of(102).to_string(), "verified": true, "roblox_id": 102},
            {"discord_id": "234567890123456789", "verified": false}
        ])
    );
    let a = d
        .app
        .guild(
            Method::POST,
            "/lookup/status",
            Some(json!({"guild_id": GUILD.to_string(), "roblox_ids": [103, 404]})),
        )
        .await;
    assert_eq!(
        a.body["data"]["results"][0]["discord_id"],
        discord_of(103).to_string()
    );
    assert_eq!(a.body["data"]["results"][1]["verified"], false);
    let a = d
        .app
        .guild(
            Method::POST,
            "/lookup/status",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 400);
    let a = d
        .app
        .guild(
            Method::POST,
            "/reverse",
            Some(json!({"guild_id": GUILD.to_string(), "roblox_ids": [261, 7]})),
        )
        .await;
    assert_eq!(
        a.body["data"]["results"],
        json!([{"roblox_id": 261, "discord_id": UNLINKED.to_string(), "roblox_username": "Shedletsky"}])
    );

    let a = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/members?limit=2"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["total"], 6);
    assert_eq!(a.body["data"]["members"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        a.body["data"]["members"][0]["discord_id"],
        discord_of(101).to_string()
    );
    let next = a.body["data"]["next_after"]
        .as_str()
        .expect("more")
        .to_owned();
    let a = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/members?after={next}"),
            None,
        )
        .await;
    assert_eq!(a.body["data"]["members"].as_array().map(Vec::len), Some(4));
    let a = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/verified-users"),
            None,
        )
        .await;
    assert_eq!(a.body["data"].as_array().map(Vec::len), Some(6));
    assert_eq!(a.body["data"][5]["roblox_username"], "Shedletsky");

    // Another guild's key cannot read this guild.
    let other = roster_core::ids::GuildId::new(GUILD_B).expect("id");
    roster_core::guilds::create(d.app.ctx(), other, "B".into(), Default::default())
        .await
        .expect("guild");
    let (_, key_b) = roster_core::apikeys::issue(
        d.app.ctx(),
        roster_core::apikeys::KeyScope::Guild(other),
        "b",
    )
    .await
    .expect("key");
    let a = d
        .app
        .request(
            Method::GET,
            &format!("/guilds/{GUILD}/members"),
            &[("x-api-key", &key_b)],
            None,
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    let a = d
        .app
        .request(
            Method::GET,
            &format!("/lookup/discord/{UNLINKED}"),
            &[("x-api-key", &key_b), ("x-guild-id", &GUILD.to_string())],
            None,
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    // With its own guild implied, the link is simply not there.
    let a = d
        .app
        .request(
            Method::GET,
            &format!("/lookup/discord/{UNLINKED}"),
            &[("x-api-key", &key_b)],
            None,
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    // Removing a link.
    let a = d
        .app
        .admin(
            Method::DELETE,
            &format!("/guilds/{GUILD}/links/{UNLINKED}"),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    let a = d.app.guild(Method::GET, "/lookup/roblox/261", None).await;
    assert_eq!(a.status, 404);
    d.app.finish().await;
}
