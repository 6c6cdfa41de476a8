//! The role bridge (NamelessMC-compatible), called as a website calls it: JSON with no
//! Content-Type header, against the Discord simulator; and stock NamelessMC websites linked with
//! their own key (`website.rs`, against the NamelessMC simulator).

mod role_changes;
pub(crate) mod website;
mod wire;

use reqwest::Method;

use crate::harness::GUILD;
use crate::harness::discord::DApp;

/// Issues the role-bridge key.
async fn bridge_key(d: &DApp) -> String {
    let a = d
        .app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/role-bridge-key"),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body["key"].as_str().expect("key").to_owned()
}

/// A website's request: JSON with no Content-Type header.
async fn site(d: &DApp, path: &str, body: &str) -> (u16, String, Option<String>) {
    let r = d
        .app
        .http
        .post(format!("{}{path}", d.app.base))
        .body(body.to_owned())
        .send()
        .await
        .expect("reaches Roster");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.text().await.expect("body"), ct)
}
