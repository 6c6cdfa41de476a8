//! The community family (`/api/…`): one file per area, as in `api/src/community.rs`.

mod awards;
mod general;
mod group;
mod leave;
mod xp;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Answer, GUILD, TestApp};

/// A community read: `GET path?query` with the guild key.
pub async fn get(app: &TestApp, path: &str, query: &[(&str, String)]) -> Answer {
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let key = app.guild_key.clone();
    app.request(
        Method::GET,
        &format!("{path}?{}", q.join("&")),
        &[("authorization", &format!("Bearer {key}"))],
        None,
    )
    .await
}

/// A community write: `POST path` with a JSON body and the guild key in `X-Api-Key`.
pub async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    let key = app.guild_key.clone();
    app.request(
        Method::POST,
        path,
        &[("x-api-key", &key)],
        Some(&body.to_string()),
    )
    .await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `serverId` and `robloxId` for the test guild.
pub fn user_q(roblox: u64) -> Vec<(&'static str, String)> {
    vec![
        ("serverId", GUILD.to_string()),
        ("robloxId", roblox.to_string()),
    ]
}

/// A body naming the test guild and a user, plus `extra`.
pub fn user_body(roblox: u64, extra: Value) -> Value {
    let mut b = json!({"serverId": GUILD.to_string(), "robloxId": roblox});
    if let (Some(m), Value::Object(e)) = (b.as_object_mut(), extra) {
        m.extend(e);
    }
    b
}

/// Asserts the family's error envelope with `status` and `code`.
#[track_caller]
pub fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["success"], false, "{:?}", a.body);
    assert_eq!(a.body["error"], code, "{:?}", a.body);
    assert!(
        a.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{:?}",
        a.body
    );
}

/// Configures the test guild's catalogues.
pub async fn configure(app: &TestApp, settings: Value) {
    let a = app
        .admin(
            Method::PUT,
            &format!("/guilds/{GUILD}/community"),
            Some(settings),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}
