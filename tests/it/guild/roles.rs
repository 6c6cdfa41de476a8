//! Manual roles (`/interactions/roles/assign|remove`) and the guild's Discord roles
//! (`/guilds/{guildId}/roles`).

use reqwest::Method;
use roster_sim::discord::{LogEntry, Route};
use serde_json::json;

use crate::both_backends;
use crate::harness::discord::{ADMIN_ROLE, BOOSTER, OFFICER, UNLINKED, start};
use crate::harness::{Backend, GUILD};

both_backends!(manual_roles_and_guild_roles);

async fn manual_roles_and_guild_roles(backend: Backend) {
    let d = start(backend).await;
    let body = |user: u64, role: u64| json!({"guild_id": GUILD.to_string(), "user_id": user.to_string(), "role_id": role.to_string()});
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(UNLINKED, OFFICER)),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "message": "Role assigned", "data": {"changed": true}})
    );
    assert_eq!(d.dsim.roles_of(GUILD, UNLINKED), vec![OFFICER]);
    let puts: Vec<LogEntry> = d.dsim.writes();
    assert_eq!(puts.len(), 1);
    assert_eq!(puts[0].route, Some(Route::AddMemberRole));
    assert!(
        puts[0]
            .audit_log_reason
            .as_deref()
            .is_some_and(|r| r.contains("guild API")),
        "{:?}",
        puts[0].audit_log_reason
    );
    // Already there: nothing sent.
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(UNLINKED, OFFICER)),
        )
        .await;
    assert_eq!(a.body["data"]["changed"], false);
    assert_eq!(d.dsim.writes().len(), 1);
    // Above the bot, managed, unknown role, not a member: refused without a request.
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(UNLINKED, ADMIN_ROLE)),
        )
        .await;
    assert_eq!(a.status, 403, "{:?}", a.body);
    assert_eq!(a.code(), "NO_PERMISSION");
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(UNLINKED, BOOSTER)),
        )
        .await;
    assert_eq!(a.status, 403);
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(UNLINKED, 4242)),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(a.code(), "UNKNOWN_ROLE");
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(body(810_000_000_000_009_999, OFFICER)),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.code(), "NOT_IN_GUILD");
    assert_eq!(d.dsim.writes().len(), 1, "no request Discord would refuse");
    assert!(d.dsim.sim.log().iter().all(|e| e.status != 403));
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/remove",
            Some(body(UNLINKED, OFFICER)),
        )
        .await;
    assert_eq!(a.body["message"], "Role removed");
    assert!(d.dsim.roles_of(GUILD, UNLINKED).is_empty());
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/roles/assign",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 400);

    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/roles"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let roles = a.body["data"]["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 8, "every role but @everyone");
    assert_eq!(roles[0]["id"], ADMIN_ROLE.to_string());
    assert_eq!(roles[0]["position"], 20);
    assert_eq!(roles[0]["color"], 0x3498db);
    assert!(
        roles
            .windows(2)
            .all(|w| w[0]["position"].as_i64() > w[1]["position"].as_i64())
    );
    d.app.finish().await;
}
