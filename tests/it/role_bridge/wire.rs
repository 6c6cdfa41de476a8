//! The role bridge's wire contract (`/status`, `/applyRoleChanges`, `/roleChange`,
//! `/sendDirectMessage`) as websites call it.

use reqwest::Method;
use serde_json::{Value, json};

use super::{bridge_key, site};
use crate::both_backends;
use crate::harness::discord::{
    ADMIN_ROLE, CLOSED_DMS, CORPORAL, GUILD_B, MEMBER, OFFICER, UNLINKED, start,
};
use crate::harness::{Backend, GUILD};

both_backends!(role_bridge_wire_contract);

async fn role_bridge_wire_contract(backend: Backend) {
    let d = start(backend).await;
    let key = bridge_key(&d).await;
    // GET /status: plain `success`, no newline.
    let r = d
        .app
        .http
        .get(format!("{}/status", d.app.base))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert_eq!(r.text().await.expect("body"), "success");

    // //applyRoleChanges, no Content-Type, numeric ids.
    let body = format!(
        r#"{{"guild_id": {GUILD}, "api_key": "{key}", "role_changes": [
            {{"user_id": {UNLINKED}, "role_id": {OFFICER}, "action": "add"}},
            {{"user_id": "{UNLINKED}", "role_id": "{OFFICER}", "action": "add"}},
            {{"user_id": {UNLINKED}, "role_id": {MEMBER}, "action": "remove"}},
            {{"user_id": {UNLINKED}, "role_id": {ADMIN_ROLE}, "action": "add"}},
            {{"user_id": {UNLINKED}, "role_id": {ADMIN_ROLE}, "action": "remove"}},
            {{"user_id": 810000000000009999, "role_id": {OFFICER}, "action": "add"}},
            {{"user_id": {UNLINKED}, "role_id": 4242, "action": "add"}}
        ]}}"#
    );
    let (status, text, ct) = site(&d, "//applyRoleChanges", &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(ct.as_deref(), Some("application/json"));
    let v: Value = serde_json::from_str(&text).expect("json");
    let change = |user: u64, role: u64, s: &str| json!({"user_id": user.to_string(), "role_id": role.to_string(), "status": s});
    assert_eq!(
        v,
        json!({"status": "success", "role_changes": [
            change(UNLINKED, OFFICER, "added"),
            change(UNLINKED, OFFICER, "none"),
            change(UNLINKED, MEMBER, "none"),
            change(UNLINKED, ADMIN_ROLE, "no_permission"),
            change(UNLINKED, ADMIN_ROLE, "none"),
            change(810_000_000_000_009_999, OFFICER, "invalid_user"),
            change(UNLINKED, 4242, "invalid_role"),
        ]})
    );
    assert_eq!(d.dsim.roles_of(GUILD, UNLINKED), vec![OFFICER]);
    assert!(d.dsim.sim.log().iter().all(|e| e.status != 403));
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(r#"{{"guild_id": "{GUILD}", "api_key": "{key}", "role_changes": []}}"#),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"status":"success","role_changes":[]}"#)
    );

    // Refusals: status words with their HTTP codes.
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(r#"{{"guild_id": {GUILD}, "api_key": "wrong", "role_changes": []}}"#),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "unauthorized"
    );
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(r#"{{"guild_id": 123456789012345678, "api_key": "{key}", "role_changes": []}}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "invalid_guild"
    );
    let (status, text, _) = site(&d, "/applyRoleChanges", r#"{"guild_id": 1}"#).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "bad_request"
    );
    let (status, _, _) = site(&d, "/applyRoleChanges", "not json").await;
    assert_eq!(status, 400);
    // A guild without a role-bridge key is not linked.
    let gb = roster_core::ids::GuildId::new(GUILD_B).expect("id");
    roster_core::guilds::create(d.app.ctx(), gb, "B".into(), Default::default())
        .await
        .expect("guild");
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(r#"{{"guild_id": {GUILD_B}, "api_key": "{key}", "role_changes": []}}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "not_linked"
    );

    // The older /roleChange: plain words.
    let rc = |user: u64, roles: &str, k: &str| {
        format!(r#"{{"guild_id": {GUILD}, "user_id": {user}, "api_key": "{k}", "roles": {roles}}}"#)
    };
    let (status, text, ct) = site(
        &d,
        "/roleChange",
        &rc(
            UNLINKED,
            &format!(r#"[{{"id": {CORPORAL}, "action": "add"}}]"#),
            &key,
        ),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "fullsuccess"));
    assert!(ct.unwrap_or_default().starts_with("text/plain"));
    let (_, text, _) = site(
        &d,
        "/roleChange",
        &rc(
            UNLINKED,
            &format!(r#"[{{"id": {CORPORAL}, "action": "remove"}}, {{"id": {ADMIN_ROLE}, "action": "add"}}]"#),
            &key,
        ),
    )
    .await;
    assert_eq!(text, "partsuccess");
    let (_, text, _) = site(
        &d,
        "/roleChange",
        &rc(
            810_000_000_000_009_999,
            &format!(r#"[{{"id": {CORPORAL}, "action": "add"}}]"#),
            &key,
        ),
    )
    .await;
    assert_eq!(text, "invuser");
    let (_, text, _) = site(&d, "/roleChange", &rc(UNLINKED, "[]", "nope")).await;
    assert_eq!(text, "badparameter");
    let (_, text, _) = site(
        &d,
        "/roleChange",
        &rc(
            UNLINKED,
            &format!(r#"[{{"id": {CORPORAL}, "action": "add"}}]"#),
            "nope",
        ),
    )
    .await;
    assert_eq!(text, "unauthorized");
    // v1: add_role_id / remove_role_id.
    let v1 = |add: u64| {
        format!(
            r#"{{"guild_id": "{GUILD}", "user_id": "{UNLINKED}", "api_key": "{key}", "add_role_id": "{add}"}}"#
        )
    };
    assert_eq!(
        site(&d, "/roleChange", &v1(ADMIN_ROLE)).await.1,
        "hierarchy"
    );
    assert_eq!(site(&d, "/roleChange", &v1(4242)).await.1, "invrole");
    assert_eq!(site(&d, "/roleChange", &v1(MEMBER)).await.1, "success");
    assert!(d.dsim.roles_of(GUILD, UNLINKED).contains(&MEMBER));

    // /sendDirectMessage.
    let dm = |user: u64| {
        format!(
            r#"{{"guild_id": {GUILD}, "user_id": {user}, "api_key": "{key}", "message": "Your application was accepted"}}"#
        )
    };
    let (status, text, _) = site(&d, "/sendDirectMessage", &dm(UNLINKED)).await;
    assert_eq!((status, text.as_str()), (200, r#"{"status":"success"}"#));
    assert_eq!(
        d.dsim.sim.direct_messages(UNLINKED),
        vec!["Your application was accepted".to_owned()]
    );
    let (status, text, _) = site(&d, "/sendDirectMessage", &dm(CLOSED_DMS)).await;
    assert_eq!(status, 403, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "cannot_dm"
    );
    // Every role-bridge change is in the guild's audit log.
    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/audit-logs"), None)
        .await;
    assert!(
        a.body["data"]["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "discord.roles"),
        "{:?}",
        a.body
    );
    // CANNOT_DM is a failed job, not a dead one.
    d.app.finish().await;
}
