//! The guild family's wire: bad input on every guild endpoint gets the guild envelope and a 4xx,
//! and timestamps are whole seconds as the guild reference shows them.

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::status_path;
use crate::harness::{Backend, GUILD, TestApp};

/// Bad inputs on every guild endpoint get the guild envelope and a 4xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guild_endpoints_reject_bad_input_with_their_envelope() {
    let app = TestApp::start(Backend::Sqlite).await;
    let g = GUILD;
    let cases: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/abc"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/0"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/ban-status/261?place_id=x"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/mute-status/-1"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/moderation/111111111111111111/ban-status/261".into(),
            None,
            403,
            "FORBIDDEN",
        ),
        (
            Method::GET,
            "/moderation/notaguild/ban-status/261".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some("{"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some("[]"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"reason":"x"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","duration_seconds":0}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","duration_seconds":-5}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","place_id":"x"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":{"a":1}}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/ban"),
            Some(r#"{"identifier":"261","guild_id":"111111111111111111"}"#),
            403,
            "FORBIDDEN",
        ),
        (
            Method::POST,
            format!("/moderation/{g}/roblox/unban"),
            Some(r#"{}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/moderation/{g}/roblox/ban"),
            None,
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            Method::GET,
            "/shield/check/abc".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/shield/batch".into(),
            Some(r#"{"roblox_ids":"261"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/shield/batch".into(),
            Some(r#"{"roblox_ids":[1,"x"]}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/games/register".into(),
            Some(r#"{"place_id":1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/heartbeat".into(),
            Some(r#"{"place_id":1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/heartbeat".into(),
            Some(r#"{"server_id":"a","player_count":-1}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/roblox/servers/abc/commands?wait=99".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/roblox/servers/abc/commands?wait=soon".into(),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            "/roblox/servers/abc/commands/nope/ack".into(),
            Some("{}"),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/guilds/{g}/audit-logs"),
            Some(r#"{"action":"ban.create"}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::POST,
            format!("/guilds/{g}/audit-logs"),
            Some(r#"{"action":"custom.x","metadata":[1]}"#),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/guilds/{g}/audit-logs?limit=0"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            format!("/guilds/{g}/audit-logs?cursor=x"),
            None,
            400,
            "BAD_REQUEST",
        ),
        (
            Method::GET,
            "/moderation/whatever".into(),
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Method::GET,
            format!("/ws/guilds/{g}/roblox?serverId=a"),
            None,
            400,
            "BAD_REQUEST",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let a = app
            .request(
                method.clone(),
                &path,
                &[
                    ("x-api-key", &app.guild_key),
                    ("content-type", "application/json"),
                ],
                body,
            )
            .await;
        assert_eq!(
            (a.status, a.code()),
            (status, code),
            "{method} {path} {body:?}: {:?}",
            a.body
        );
        assert_eq!(a.body["status"], "error", "{path}");
        assert_eq!(a.body["code"], status, "{path}");
        assert!(
            a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    // Authentication: missing, unknown, and a group key (ranking API) on the guild API.
    let path = status_path("ban", "261");
    let a = app.request(Method::GET, &path, &[], None).await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));
    let a = app
        .request(
            Method::GET,
            &path,
            &[("authorization", "Bearer rst_nope")],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "UNAUTHORIZED"));
    let a = app
        .request(Method::GET, &path, &[("x-api-key", &app.api_key)], None)
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    // Bearer works like X-Api-Key; X-Guild-ID must match too.
    let bearer = format!("Bearer {}", app.guild_key);
    let a = app
        .request(Method::GET, &path, &[("authorization", &bearer)], None)
        .await;
    assert_eq!(a.status, 200);
    let a = app
        .request(
            Method::GET,
            "/shield/check/261",
            &[
                ("authorization", &bearer),
                ("x-guild-id", "111111111111111111"),
            ],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (403, "FORBIDDEN"));
    app.finish().await;
}

/// Every string in `v` that reads as a timestamp, with where it was.
fn timestamps(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.len() >= 19 && chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            out.push((at.to_owned(), s.clone()));
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                timestamps(x, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                timestamps(x, &format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Guild-family answers and websocket frames carry timestamps as the guild reference shows them:
/// RFC 3339, whole seconds, `Z` (`2026-04-12T18:33:21Z`), never the clock's nanoseconds. Runs on
/// the system clock, whose readings have fractions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guild_family_timestamps_are_whole_seconds() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |what: &str, a: &crate::harness::Answer| {
        assert!(a.status < 300, "{what}: {} {:?}", a.status, a.body);
        answers.push((what.to_owned(), a.body.clone()));
    };
    // A game server on the websocket and one polling.
    let hb = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": "srv-t", "place_id": 1818})),
        )
        .await;
    keep("heartbeat", &hb);
    let url = format!(
        "{}/ws/guilds/{GUILD}/roblox?placeId=1818&serverId=ws-t",
        app.base.replace("http", "ws")
    );
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("x-api-key", app.guild_key.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    // Moderation: timed ban and mute.
    for (kind, who) in [("ban", "700"), ("mute", "701")] {
        let a = app
            .guild(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/{kind}"),
                Some(json!({"identifier": who, "reason": "Timed", "moderator_id": "1", "duration_seconds": 3600})),
            )
            .await;
        keep(kind, &a);
    }
    for path in [
        format!("/moderation/{GUILD}/ban-status/700"),
        format!("/moderation/{GUILD}/mute-status/701"),
        format!("/moderation/{GUILD}/roblox/bans/active"),
        format!("/moderation/{GUILD}/roblox/mutes/active"),
        "/roblox/servers/srv-t/commands".to_owned(),
        format!("/guilds/{GUILD}/audit-logs"),
    ] {
        let a = app.guild(Method::GET, &path, None).await;
        keep(&path, &a);
    }
    // Shield: an imported flag.
    app.admin(Method::PUT, &format!("/shield/allowlist/{GUILD}"), None)
        .await;
    let a = app
        .guild(
            Method::POST,
            "/shield/import",
            Some(json!({"users": [{"roblox_id": 261, "reason": "Alt", "roblox_username": "Shedletsky"}]})),
        )
        .await;
    keep("import", &a);
    let a = app.guild(Method::GET, "/shield/check/261", None).await;
    keep("shield check", &a);
    // Account links.
    let a = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/links"),
            Some(json!({"discordId": "123456789012345678", "robloxId": 261, "robloxUsername": "Shedletsky"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let a = app
        .guild(Method::GET, "/lookup/discord/123456789012345678", None)
        .await;
    keep("lookup", &a);
    // The websocket's frames: the ban and mute events and their commands.
    for i in 0..4 {
        let f = crate::guild::servers::next_frame(&mut ws)
            .await
            .expect("frame");
        answers.push((format!("frame {i}"), f));
    }
    ws.close(None).await.unwrap();

    let mut found = Vec::new();
    for (what, body) in &answers {
        timestamps(body, what, &mut found);
    }
    let fields: std::collections::BTreeSet<String> = found
        .iter()
        .map(|(at, _)| {
            at.rsplit('.')
                .next()
                .unwrap()
                .trim_end_matches(|c: char| c == ']' || c.is_ascii_digit())
                .trim_end_matches('[')
                .to_owned()
        })
        .collect();
    for expected in [
        "created_at",
        "expires_at",
        "issued_at",
        "flagged_at",
        "verified_at",
    ] {
        assert!(
            fields.contains(expected),
            "no {expected} among the timestamps seen: {found:?}"
        );
    }
    for (at, t) in &found {
        let whole = chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(t, &whole, "{at} is not in whole seconds with Z");
    }
    app.finish().await;
}
