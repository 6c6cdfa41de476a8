//! A stock NamelessMC website linked with its own API key (`role-bridge link`), against the
//! NamelessMC simulator: the site learns the bot's settings and the guild's roles, its own
//! `applyRoleChanges` (sent the way NamelessMC sends it) is applied, a role created in Discord
//! reaches its list on the next sync, and every refusal answers as `docs/role-bridge.md` says.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::nameless::{NamelessSim, NamelessSimConfig, RoleChangeRequest, SiteRole};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::bridge_key;
use crate::both_backends;
use crate::harness::discord::{
    ADMIN_ROLE, BOOSTER, BOT_ROLE, BOT_USER, CORPORAL, DApp, MEMBER, OFFICER, UNVERIFIED, VERIFIED,
    discord_of, role, start, start_with,
};
use crate::harness::{Backend, GUILD, Tweak, eventually};

both_backends!(
    a_stock_site_links_with_its_own_key,
    site_role_list_follows_discord_and_is_pushed_only_when_changed,
    a_failing_site_gets_the_push_retried
);

#[tokio::test]
async fn link_refusals_answer_as_documented() {
    link_refusals(Backend::Sqlite).await;
}

pub(crate) const SITE_KEY: &str = "dHlwaWNhbE5hbWVsZXNzU2l0ZUtleTAx";

/// A running NamelessMC simulator.
pub(crate) struct Site {
    pub(crate) sim: NamelessSim,
    pub(crate) addr: std::net::SocketAddr,
    stop: CancellationToken,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Site {
    pub(crate) async fn start() -> Self {
        let sim = NamelessSim::new(NamelessSimConfig {
            api_key: SITE_KEY.into(),
            ..NamelessSimConfig::default()
        });
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse().expect("addr"), async move {
                s.cancelled().await
            })
            .await
            .expect("start the NamelessMC simulator");
        Self { sim, addr, stop }
    }

    /// The API URL as the site's StaffCP shows it.
    pub(crate) fn api_url(&self) -> String {
        format!("http://{}/index.php?route=/api/v2", self.addr)
    }

    /// Requests to one endpoint, with their statuses.
    fn calls(&self, endpoint: &str) -> Vec<u16> {
        self.sim
            .log()
            .iter()
            .filter(|e| e.endpoint.as_deref() == Some(endpoint))
            .map(|e| e.status)
            .collect()
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The site takes the Officer role from `user`.
async fn remove_officer(site: &Site, user: u64) -> roster_sim::nameless::BotReply {
    site.sim
        .apply_role_changes(&[RoleChangeRequest {
            user_id: user,
            role_id: OFFICER,
            add: false,
        }])
        .await
        .expect("the site reaches Roster")
}

async fn unlink(d: &DApp) -> crate::harness::Answer {
    d.app
        .admin(
            Method::DELETE,
            &format!("/guilds/{GUILD}/role-bridge/link"),
            None,
        )
        .await
}

async fn guild(d: &DApp) -> Value {
    let g = d
        .app
        .admin(Method::GET, &format!("/guilds/{GUILD}"), None)
        .await;
    assert_eq!(g.status, 200, "{:?}", g.body);
    g.body
}

/// A web server that answers every request with `response` (raw HTTP): what a URL that is not
/// a NamelessMC API may answer.
async fn fixed_answer(response: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(response.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    addr
}

async fn link(d: &DApp, body: Value) -> crate::harness::Answer {
    d.app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/role-bridge/link"),
            Some(body),
        )
        .await
}

fn link_body(site: &Site, d: &DApp) -> Value {
    json!({"siteUrl": site.api_url(), "siteKey": SITE_KEY, "bridgeUrl": d.app.base})
}

/// The roles of the test guild as the site should list them: every role but `@everyone`,
/// highest first.
fn seeded_roles() -> Vec<(u64, &'static str)> {
    vec![
        (ADMIN_ROLE, "Admin"),
        (BOT_ROLE, "Roster"),
        (BOOSTER, "Booster"),
        (OFFICER, "Officer"),
        (CORPORAL, "Corporal"),
        (MEMBER, "Member"),
        (VERIFIED, "Verified"),
        (UNVERIFIED, "Unverified"),
    ]
}

fn listed(site: &Site) -> Option<Vec<(u64, String)>> {
    site.sim.role_list().map(|l| {
        l.into_iter()
            .map(|SiteRole { id, name }| (id, name))
            .collect()
    })
}

fn owned(v: Vec<(u64, &str)>) -> Vec<(u64, String)> {
    v.into_iter().map(|(i, n)| (i, n.to_owned())).collect()
}

async fn a_stock_site_links_with_its_own_key(backend: Backend) {
    let d = start(backend).await;
    let site = Site::start().await;
    let a = link(&d, link_body(&site, &d)).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["guildId"], GUILD.to_string());
    assert_eq!(a.body["namelessVersion"], "2.1.2");
    assert_eq!(a.body["website"]["apiUrl"], site.api_url());
    assert_eq!(a.body["website"]["bridgeUrl"], d.app.base);
    assert_eq!(
        a.body["keyHint"],
        format!("…{}", &SITE_KEY[SITE_KEY.len() - 4..])
    );
    assert_eq!(a.body["push"]["kind"], "discord.push_role_list");
    assert_eq!(a.body["push"]["status"], "succeeded", "{:?}", a.body);
    assert_eq!(a.body["push"]["result"]["botSettings"], true);
    assert_eq!(a.body["push"]["result"]["pushed"], true);
    assert_eq!(a.body["push"]["result"]["roles"], 8);
    assert!(!a.body.to_string().contains(SITE_KEY), "{:?}", a.body);

    // The site has what the official bot's link command gives it.
    let s = site.sim.bot_settings();
    assert_eq!(s.url.as_deref(), Some(d.app.base.as_str()));
    assert_eq!(s.guild_id, Some(GUILD.to_string()));
    assert_eq!(s.bot_username.as_deref(), Some("roster-bot"));
    assert_eq!(s.bot_user_id, Some(BOT_USER.to_string()));
    assert_eq!(listed(&site), Some(owned(seeded_roles())));
    assert_eq!(site.calls("info"), vec![200]);
    assert_eq!(site.calls("discord/update-bot-settings"), vec![200]);
    assert_eq!(site.calls("discord/submit-role-list"), vec![200]);

    // The guild shows the link, never the key.
    let g = guild(&d).await;
    let w = &g["discord"]["roleBridgeWebsite"];
    assert_eq!(w["apiUrl"], site.api_url());
    assert_eq!(w["rolesPushed"], true);
    assert_eq!(w["pushPending"], false);
    assert_eq!(g["discord"]["roleBridgeKey"]["configured"], true);
    assert!(!g.to_string().contains(SITE_KEY));
    // Sealed at rest: not in the store, not in the queue's files.
    for tree in [
        roster_core::store::Tree::Guilds,
        roster_core::store::Tree::Jobs,
        roster_core::store::Tree::Outbox,
    ] {
        for (_, v) in d
            .app
            .ctx()
            .store
            .scan(tree, &[], None, usize::MAX, false)
            .expect("scan")
        {
            assert!(
                !String::from_utf8_lossy(&v).contains(SITE_KEY),
                "the site's key is stored in the clear in {tree:?}"
            );
        }
    }
    for entry in walk(d.app.data.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes
                .windows(SITE_KEY.len())
                .any(|w| w == SITE_KEY.as_bytes()),
            "the site's key is in {}",
            entry.display()
        );
    }

    // The site changes a member's roles with its own key, the way NamelessMC sends it.
    let user = discord_of(101);
    let reply = site
        .sim
        .apply_role_changes(&[
            RoleChangeRequest {
                user_id: user,
                role_id: OFFICER,
                add: true,
            },
            RoleChangeRequest {
                user_id: user,
                role_id: ADMIN_ROLE,
                add: false,
            },
        ])
        .await
        .expect("the site reaches Roster");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["role_changes"][0]["status"], "added");
    // Above the bot, but the member lacks it: nothing to do, as the official bot answers.
    assert_eq!(body["role_changes"][1]["status"], "none");
    assert_eq!(d.dsim.roles_of(GUILD, user), vec![OFFICER]);

    // Unlinking stops the key at once; a second unlink finds nothing.
    let u = unlink(&d).await;
    assert_eq!(u.status, 200, "{:?}", u.body);
    let reply = remove_officer(&site, user).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("not_linked"), "{}", reply.body);
    assert_eq!(d.dsim.roles_of(GUILD, user), vec![OFFICER]);
    let u = unlink(&d).await;
    assert_eq!(u.status, 404, "{:?}", u.body);

    // Linked again, then a generated key replaces the site's: sites set up by hand keep working.
    assert_eq!(link(&d, link_body(&site, &d)).await.status, 201);
    let key = bridge_key(&d).await;
    assert!(key.starts_with("rbk_"));
    let reply = remove_officer(&site, user).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let g = guild(&d).await;
    assert_eq!(g["discord"]["roleBridgeWebsite"], Value::Null);
    let (status, text, _) = super::site(
        &d,
        "/applyRoleChanges",
        &format!(
            r#"{{"guild_id": "{GUILD}", "api_key": "{key}", "role_changes": [{{"user_id": "{user}", "role_id": "{OFFICER}", "action": "remove"}}]}}"#
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""status":"removed""#), "{text}");
    d.app.finish().await;
}

/// Starts a sync-all and waits for it to complete.
async fn sync_all(d: &DApp) {
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = d
            .app
            .admin(Method::GET, &format!("/guilds/{GUILD}/sync-all"), None)
            .await;
        if p.body["status"] == "completed" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sync-all did not complete: {:?}",
            p.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no push is on its way (the guild says so).
async fn settled(d: &DApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let g = guild(d).await;
        if g["discord"]["roleBridgeWebsite"]["pushPending"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "a push stayed pending: {:?}", g);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn site_role_list_follows_discord_and_is_pushed_only_when_changed(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let site = Site::start().await;
    assert_eq!(link(&d, link_body(&site, &d)).await.status, 201);
    assert_eq!(site.calls("discord/submit-role-list").len(), 1);

    // Nothing changed: a sync pushes nothing.
    sync_all(&d).await;
    settled(&d).await;
    assert_eq!(site.calls("discord/submit-role-list").len(), 1);

    // A role created in Discord reaches the site with the next sync.
    d.dsim
        .sim
        .add_role(GUILD, role(6000, "Recruit", 7, 0, false))
        .expect("create a role");
    sync_all(&d).await;
    eventually("the new role on the site", Duration::from_secs(20), || {
        listed(&site).is_some_and(|l| l.contains(&(6000, "Recruit".to_owned())))
    })
    .await;
    settled(&d).await;
    let mut want = seeded_roles();
    want.insert(2, (6000, "Recruit"));
    assert_eq!(listed(&site), Some(owned(want)));
    // One push for the change, however many batches saw it.
    assert_eq!(site.calls("discord/submit-role-list").len(), 2);

    // Renamed and deleted roles follow too; an unchanged sync again pushes nothing.
    d.dsim
        .sim
        .rename_role(GUILD, 6000, "Recruits")
        .expect("rename");
    sync_all(&d).await;
    eventually(
        "the renamed role on the site",
        Duration::from_secs(20),
        || listed(&site).is_some_and(|l| l.contains(&(6000, "Recruits".to_owned()))),
    )
    .await;
    settled(&d).await;
    d.dsim.sim.remove_role(GUILD, 6000).expect("delete");
    sync_all(&d).await;
    eventually(
        "the deleted role gone from the site",
        Duration::from_secs(20),
        || listed(&site).is_some_and(|l| !l.iter().any(|(id, _)| *id == 6000)),
    )
    .await;
    settled(&d).await;
    assert_eq!(site.calls("discord/submit-role-list").len(), 4);
    sync_all(&d).await;
    settled(&d).await;
    assert_eq!(site.calls("discord/submit-role-list").len(), 4);
    assert_eq!(listed(&site), Some(owned(seeded_roles())));

    // Each push left an audit entry.
    let audit = d
        .app
        .admin(Method::GET, &format!("/guilds/{GUILD}/audit"), None)
        .await;
    let pushes = audit.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "role_bridge.website_push")
        .count();
    assert_eq!(pushes, 4, "{:?}", audit.body);
    d.app.finish().await;
}

async fn a_failing_site_gets_the_push_retried(backend: Backend) {
    let tweak: Tweak = Arc::new(|c: &mut roster_core::config::Config| {
        c.queue.retry_base = Duration::from_millis(100);
        c.server.public_url = Some("https://roster.example.com/".into());
    });
    let d = start_with(backend, Default::default(), Some(tweak)).await;
    let site = Site::start().await;
    // Without `bridgeUrl`, the site is given `server.public_url`.
    let a = link(&d, json!({"siteUrl": site.api_url(), "siteKey": SITE_KEY})).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(
        site.sim.bot_settings().url.as_deref(),
        Some("https://roster.example.com")
    );
    // The next push meets a PHP error page once, and is retried to success.
    d.dsim
        .sim
        .add_role(GUILD, role(6000, "Recruit", 7, 0, false))
        .expect("create a role");
    site.sim.fail_next(1, 500);
    sync_all(&d).await;
    eventually("the retried push", Duration::from_secs(20), || {
        site.calls("discord/submit-role-list") == vec![200, 500, 200]
    })
    .await;
    settled(&d).await;
    let mut want = seeded_roles();
    want.insert(2, (6000, "Recruit"));
    assert_eq!(listed(&site), Some(owned(want)));

    // The site's key regenerated: the next push fails for good, once; syncs that see the same
    // roles leave the site alone; a change of the roles tries again.
    site.sim
        .update_config(|c| c.api_key = "cmVnZW5lcmF0ZWRLZXlPblRoZVNpdGU".into());
    d.dsim
        .sim
        .rename_role(GUILD, 6000, "Recruits")
        .expect("rename");
    sync_all(&d).await;
    eventually("the refused push", Duration::from_secs(20), || {
        site.calls("discord/submit-role-list") == vec![200, 500, 200, 403]
    })
    .await;
    settled(&d).await;
    sync_all(&d).await;
    settled(&d).await;
    assert_eq!(
        site.calls("discord/submit-role-list"),
        vec![200, 500, 200, 403]
    );
    let audit = d
        .app
        .admin(Method::GET, &format!("/guilds/{GUILD}/audit"), None)
        .await;
    let failed: Vec<&Value> = audit.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "role_bridge.website_push.failed")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", audit.body);
    assert!(
        failed[0].to_string().contains("rejected the API key"),
        "{:?}",
        failed[0]
    );
    d.dsim
        .sim
        .rename_role(GUILD, 6000, "Recruit II")
        .expect("rename");
    sync_all(&d).await;
    eventually("a new attempt", Duration::from_secs(20), || {
        site.calls("discord/submit-role-list").len() == 5
    })
    .await;
    settled(&d).await;
    d.app.finish().await;
}

async fn link_refusals(backend: Backend) {
    let d = start(backend).await;
    let site = Site::start().await;
    let code = |a: &crate::harness::Answer| a.body["error"].as_str().unwrap_or("").to_owned();

    // Bad input.
    for (body, field) in [
        (
            json!({"siteUrl": "not a url", "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
            "siteUrl",
        ),
        (
            json!({"siteUrl": site.api_url(), "siteKey": "", "bridgeUrl": d.app.base}),
            "siteKey",
        ),
        (
            json!({"siteUrl": site.api_url(), "siteKey": "a b", "bridgeUrl": d.app.base}),
            "siteKey",
        ),
        (
            json!({"siteUrl": site.api_url(), "siteKey": SITE_KEY, "bridgeUrl": "ftp://x"}),
            "bridgeUrl",
        ),
    ] {
        let a = link(&d, body).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap_or("").contains(field),
            "{:?}",
            a.body
        );
    }
    let a = link(&d, json!({"siteUrl": site.api_url(), "siteKey": SITE_KEY})).await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (400, "BRIDGE_URL_REQUIRED"),
        "{:?}",
        a.body
    );
    let a = d
        .app
        .admin(
            Method::POST,
            "/guilds/123456789/role-bridge/link",
            Some(link_body(&site, &d)),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);

    // The site's answers.
    let wrong = json!({"siteUrl": site.api_url(), "siteKey": "bm90VGhlU2l0ZXNLZXk", "bridgeUrl": d.app.base});
    let a = link(&d, wrong).await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_KEY_REJECTED"),
        "{:?}",
        a.body
    );
    assert!(!a.body.to_string().contains("bm90VGhlU2l0ZXNLZXk"));
    site.sim.update_config(|c| c.api_enabled = false);
    let a = link(&d, link_body(&site, &d)).await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_API_DISABLED"),
        "{:?}",
        a.body
    );
    site.sim.update_config(|c| {
        c.api_enabled = true;
        c.discord_module = false;
    });
    let a = link(&d, link_body(&site, &d)).await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_NO_DISCORD_MODULE"),
        "{:?}",
        a.body
    );
    site.sim.update_config(|c| c.discord_module = true);
    // Not a NamelessMC API: the Discord simulator, and the site under a friendly path it
    // does not serve.
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{}", d.dsim.addr), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_NOT_NAMELESS"),
        "{:?}",
        a.body
    );
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{}/api/v2", site.addr), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_NOT_NAMELESS"),
        "{:?}",
        a.body
    );
    // A redirect is not followed (the site is to be given the URL it redirects to); another
    // NamelessMC error is passed on.
    let moved = fixed_answer(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://mc.example.com/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{moved}"), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_NOT_NAMELESS"),
        "{:?}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("https://mc.example.com/"),
        "{:?}",
        a.body
    );
    let refusing = fixed_answer(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"error\":\"core:unknown_error\"}",
    )
    .await;
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{refusing}"), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (422, "WEBSITE_REFUSED"),
        "{:?}",
        a.body
    );
    assert!(
        a.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("core:unknown_error"),
        "{:?}",
        a.body
    );
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{closed}"), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(
        (a.status, code(&a).as_str()),
        (502, "WEBSITE_UNREACHABLE"),
        "{:?}",
        a.body
    );

    // None of those linked anything; the site's address alone (no API path) links.
    let g = guild(&d).await;
    assert_eq!(g["discord"]["roleBridgeWebsite"], Value::Null);
    assert_eq!(g["discord"]["roleBridgeKey"]["configured"], false);
    let a = link(
        &d,
        json!({"siteUrl": format!("http://{}", site.addr), "siteKey": SITE_KEY, "bridgeUrl": d.app.base}),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["website"]["apiUrl"], site.api_url());
    d.app.finish().await;
}
