//! Behaviour of the Discord REST simulator over real HTTP, driven with reqwest and with a real twilight-http client.
//!
//! Every test starts its own simulator on 127.0.0.1:0 and stops it at the end. Every 2xx JSON body a test receives
//! from `/api/v10` is validated against the official OpenAPI schema when the official spec is found (`ROSTER_UPSTREAM_SPECS`,
//! else `../shared/upstream-specs`): the folder holding `discord-openapi.json` (see the `conformance` module).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::discord::{
    DiscordSim, DiscordSimConfig, FaultAction, FaultRule, GuildSeed, MEMBER_ROLE_BUCKET,
    MemberSeed, RateLimitScope, RoleSeed, Route, RouteLimit, WindowKind,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;

const UA: &str = "DiscordBot (https://github.com/roster-ops/roster, 0.1.0) roster-sim-tests";

const MANAGE_ROLES: u64 = 1 << 28;
const MANAGE_NICKNAMES: u64 = 1 << 27;
const BAN_MEMBERS: u64 = 1 << 2;
const ADMINISTRATOR: u64 = 1 << 3;

const GUILD: u64 = 1000;
/// A guild the main bot is not in.
const OTHER_GUILD: u64 = 2000;
/// A second guild the main bot manages (another major parameter).
const THIRD_GUILD: u64 = 3000;
/// A guild with many members, for pagination.
const BIG_GUILD: u64 = 4000;

const MEMBER_ROLE: u64 = 1001;
const TRUSTED_ROLE: u64 = 1002;
const BOOSTER_ROLE: u64 = 1003;
const BOT_ROLE: u64 = 1005;
const MOD_ROLE: u64 = 1010;
const ADMIN_ROLE: u64 = 1020;
const THIRD_MEMBER_ROLE: u64 = 3001;
const THIRD_BOT_ROLE: u64 = 3005;

const OWNER: u64 = 1;
const PLAIN: u64 = 10;
const TRUSTED: u64 = 11;
const MODERATOR: u64 = 12;
const CLOSED: u64 = 13;
const BOOSTED: u64 = 14;
/// Only in `OTHER_GUILD`: shares no guild with the main bot.
const STRANGER: u64 = 61;
const BOT: u64 = 900;
const WEAK_BOT: u64 = 901;
const ADMIN_BOT: u64 = 902;

const TOKEN: &str = "bot-token";
const WEAK_TOKEN: &str = "weak-token";
const ADMIN_TOKEN: &str = "admin-token";

fn role(id: u64, name: &str, position: u16, permissions: u64) -> RoleSeed {
    RoleSeed {
        id,
        name: name.to_owned(),
        position,
        permissions,
        color: 0,
        managed: false,
    }
}

fn managed(id: u64, name: &str, position: u16, permissions: u64) -> RoleSeed {
    RoleSeed {
        managed: true,
        ..role(id, name, position, permissions)
    }
}

fn member(user_id: u64, username: &str, roles: &[u64]) -> MemberSeed {
    MemberSeed {
        user_id,
        username: username.to_owned(),
        global_name: None,
        nick: None,
        roles: roles.to_vec(),
        dms_open: true,
        bot: false,
    }
}

fn bot_member(user_id: u64, username: &str, roles: &[u64]) -> MemberSeed {
    MemberSeed {
        bot: true,
        dms_open: false,
        ..member(user_id, username, roles)
    }
}

/// Guild 1000, owned by user 1. Roles by position: Member 1, Trusted 2, Server Booster 3 (managed), Roster 5 (the
/// bot's managed role: manage roles, manage nicknames, ban), Moderator 10, Admin 20 (administrator).
fn main_guild() -> GuildSeed {
    GuildSeed {
        id: GUILD,
        name: "Roster Test Guild".into(),
        owner_id: OWNER,
        roles: vec![
            role(MEMBER_ROLE, "Member", 1, 0),
            role(TRUSTED_ROLE, "Trusted", 2, 0),
            managed(BOOSTER_ROLE, "Server Booster", 3, 0),
            managed(
                BOT_ROLE,
                "Roster",
                5,
                MANAGE_ROLES | MANAGE_NICKNAMES | BAN_MEMBERS,
            ),
            role(MOD_ROLE, "Moderator", 10, 0),
            role(ADMIN_ROLE, "Admin", 20, ADMINISTRATOR),
        ],
        members: vec![
            member(OWNER, "owner", &[]),
            bot_member(BOT, "roster", &[BOT_ROLE]),
            bot_member(WEAK_BOT, "weakling", &[MEMBER_ROLE]),
            bot_member(ADMIN_BOT, "adminbot", &[ADMIN_ROLE]),
            MemberSeed {
                global_name: Some("Plain Person".into()),
                ..member(PLAIN, "plain", &[MEMBER_ROLE])
            },
            MemberSeed {
                nick: Some("Trusty".into()),
                ..member(TRUSTED, "trusted", &[MEMBER_ROLE, TRUSTED_ROLE])
            },
            member(MODERATOR, "moderator", &[MOD_ROLE]),
            MemberSeed {
                dms_open: false,
                ..member(CLOSED, "closed", &[MEMBER_ROLE])
            },
            member(BOOSTED, "booster", &[MEMBER_ROLE, BOOSTER_ROLE]),
        ],
    }
}

fn other_guild() -> GuildSeed {
    GuildSeed {
        id: OTHER_GUILD,
        name: "Elsewhere".into(),
        owner_id: 60,
        roles: Vec::new(),
        members: vec![
            member(60, "elsewhere", &[]),
            member(STRANGER, "stranger", &[]),
        ],
    }
}

fn third_guild() -> GuildSeed {
    GuildSeed {
        id: THIRD_GUILD,
        name: "Third".into(),
        owner_id: 70,
        roles: vec![
            role(THIRD_MEMBER_ROLE, "Member", 1, 0),
            managed(THIRD_BOT_ROLE, "Roster", 5, MANAGE_ROLES),
        ],
        members: vec![
            member(70, "thirdowner", &[]),
            bot_member(BOT, "roster", &[THIRD_BOT_ROLE]),
            MemberSeed {
                global_name: Some("Plain Person".into()),
                ..member(PLAIN, "plain", &[])
            },
        ],
    }
}

/// Guild 4000: the main bot plus users 4001..=4025.
fn big_guild() -> GuildSeed {
    let mut members = vec![bot_member(BOT, "roster", &[])];
    members.extend((4001..=4025).map(|id| member(id, &format!("user{id}"), &[])));
    GuildSeed {
        id: BIG_GUILD,
        name: "Big".into(),
        owner_id: 4001,
        roles: Vec::new(),
        members,
    }
}

fn api(path: &str) -> String {
    format!("/api/v10{path}")
}

/// Percent-encodes every byte but ASCII letters and digits, as twilight-http does for audit-log reasons.
fn encode(reason: &str) -> String {
    reason
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A running simulator with a client; `stop` shuts it down and checks the server task ends.
struct TestSim {
    sim: DiscordSim,
    addr: SocketAddr,
    base: String,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// A decoded answer.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Reply {
    fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The first error code in the `errors` tree at `path`.
    fn field_error(&self, path: &[&str]) -> Option<&str> {
        let mut node = &self.body["errors"];
        for segment in path {
            node = &node[*segment];
        }
        node["_errors"][0]["code"].as_str()
    }

    #[track_caller]
    fn expect(&self, status: u16, code: i64) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.text
        );
        assert!(
            self.body["message"].is_string(),
            "no message: {}",
            self.text
        );
    }

    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {}", self.text);
        &self.body
    }

    #[track_caller]
    fn no_content(&self) {
        assert_eq!(self.status, 204, "expected 204, got {}", self.text);
        assert!(self.text.is_empty(), "a 204 has no body: {}", self.text);
    }
}

impl TestSim {
    async fn start(config: DiscordSimConfig) -> Self {
        let sim = DiscordSim::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        let (bound, server) = sim
            .serve(addr, async move {
                let _ = rx.await;
            })
            .await
            .expect("the simulator binds");
        Self {
            sim,
            addr: bound,
            base: format!("http://{bound}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client builds"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The default simulator with the standard guilds and bots.
    async fn seeded() -> Self {
        Self::seeded_with(DiscordSimConfig::default()).await
    }

    async fn seeded_with(config: DiscordSimConfig) -> Self {
        let test = Self::start(config).await;
        test.sim.add_bot(TOKEN, BOT, "roster", true);
        test.sim.add_bot(WEAK_TOKEN, WEAK_BOT, "weakling", false);
        test.sim.add_bot(ADMIN_TOKEN, ADMIN_BOT, "adminbot", false);
        for seed in [main_guild(), other_guild(), third_guild(), big_guild()] {
            test.sim.seed_guild(seed).expect("valid seed");
        }
        test
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the server shuts down within 5 s")
                .expect("the server task does not panic");
        }
    }

    /// A request with the test User-Agent and, when given, `Authorization: Bot <token>`.
    fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut builder = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("user-agent", UA);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bot {token}"));
        }
        builder
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Reply {
        let request = builder.build().expect("the request builds");
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let response = self
            .client
            .execute(request)
            .await
            .expect("the request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body is read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        let json = headers
            .get("content-type")
            .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
        if (200..300).contains(&status) && json && path.starts_with("/api/v10/") {
            conformance::check_response(&method, &path, &body);
        }
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(self.request(Method::GET, &api(path), Some(token)))
            .await
    }

    async fn put(&self, token: &str, path: &str) -> Reply {
        self.send(self.request(Method::PUT, &api(path), Some(token)))
            .await
    }

    async fn delete(&self, token: &str, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, &api(path), Some(token)))
            .await
    }

    async fn json(&self, method: Method, token: &str, path: &str, body: Value) -> Reply {
        self.send(self.request(method, &api(path), Some(token)).json(&body))
            .await
    }

    /// A request carrying `X-Audit-Log-Reason: <raw>` (already encoded as the caller wants it).
    async fn with_reason(&self, method: Method, token: &str, path: &str, raw: &str) -> Reply {
        self.send(
            self.request(method, &api(path), Some(token))
                .header("x-audit-log-reason", raw),
        )
        .await
    }

    /// A `/_sim` control call.
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut builder = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        self.send(builder).await
    }

    fn twilight(&self, token: &str) -> twilight_http::Client {
        // A workspace build enables both of rustls's providers (sqlx brings `ring`, reqwest `aws-lc-rs`); rustls then
        // cannot choose one and twilight-http's client builder would panic. Install one (an error means one already
        // is).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        twilight_http::Client::builder()
            .token(token.to_owned())
            .proxy(self.addr.to_string(), true)
            .timeout(Duration::from_secs(10))
            .build()
    }

    /// Turns refusals by rate off, for tests that make many requests to one bucket.
    fn unlimited(&self) {
        self.sim
            .update_config(|config| config.rate_limits_enabled = false);
    }

    fn roles_of(&self, guild: u64, user: u64) -> Option<Vec<u64>> {
        self.sim.member(guild, user).map(|member| member.roles)
    }

    fn set_route_limit(
        &self,
        routes: &[Route],
        limit: u32,
        window_ms: u64,
        kind: WindowKind,
        bucket: &str,
    ) {
        self.sim.update_config(|config| {
            for route in routes {
                config.route_limits.insert(
                    *route,
                    RouteLimit {
                        limit,
                        window: Duration::from_millis(window_ms),
                        kind,
                        bucket: bucket.to_owned(),
                    },
                );
            }
        });
    }
}

fn role_path(guild: u64, user: u64, role: u64) -> String {
    format!("/guilds/{guild}/members/{user}/roles/{role}")
}

fn f64_header(reply: &Reply, name: &str) -> f64 {
    reply
        .header(name)
        .unwrap_or_else(|| panic!("{name} is missing"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

#[tokio::test]
async fn authorization_must_be_a_registered_bot_token() {
    let test = TestSim::seeded().await;
    let unauthorized = json!({ "message": "401: Unauthorized", "code": 0 });
    let path = api("/users/@me");

    let missing = test.send(test.request(Method::GET, &path, None)).await;
    assert_eq!((missing.status, &missing.body), (401, &unauthorized));
    assert!(missing.header("x-ratelimit-limit").is_none());

    let unknown = test.get("no-such-token", "/users/@me").await;
    assert_eq!((unknown.status, &unknown.body), (401, &unauthorized));

    for value in [
        TOKEN.to_owned(),
        format!("Bearer {TOKEN}"),
        format!("bot {TOKEN}"),
    ] {
        let reply = test
            .send(
                test.request(Method::GET, &path, None)
                    .header("authorization", value.as_str()),
            )
            .await;
        assert_eq!(reply.status, 401, "{value}");
    }

    let me = test.get(TOKEN, "/users/@me").await;
    let body = me.ok();
    assert_eq!(body["id"], "900");
    assert_eq!(body["username"], "roster");
    assert_eq!(body["bot"], true);
    assert_eq!(body["discriminator"], "0");

    let log = test.sim.log();
    assert_eq!(log.len(), 6);
    assert!(
        log[..5]
            .iter()
            .all(|entry| entry.status == 401 && entry.bot_user_id.is_none())
    );
    assert_eq!(log[5].bot_user_id, Some(BOT));
    assert_eq!(log[5].route, Some(Route::GetCurrentUser));
    test.stop().await;
}

#[tokio::test]
async fn a_user_agent_is_required() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.invalid_request_limit = 1);
    for user_agent in [None, Some("   ")] {
        let mut builder = test
            .client
            .get(format!("{}{}", test.base, api("/users/@me")))
            .header("authorization", format!("Bot {TOKEN}"));
        if let Some(user_agent) = user_agent {
            builder = builder.header("user-agent", user_agent);
        }
        let reply = test.send(builder).await;
        assert_eq!(reply.status, 403);
        assert!(
            reply
                .header("content-type")
                .is_some_and(|value| value.starts_with("text/html")),
            "a Cloudflare page, not JSON"
        );
        assert!(reply.text.contains("Error 1010"), "{}", reply.text);
    }
    // Not counted as invalid requests (the API never saw them): with a limit of 1 a ban would show now.
    test.get(TOKEN, "/users/@me").await.ok();
    let log = test.sim.log();
    assert_eq!(log[0].cloudflare.as_deref(), Some("1010 no user agent"));
    assert_eq!(log[0].route, None);
    // twilight-http's own User-Agent is accepted.
    let user = test
        .twilight(TOKEN)
        .current_user()
        .await
        .expect("twilight is answered")
        .model()
        .await
        .expect("a user");
    assert_eq!(user.id.get(), BOT);
    test.stop().await;
}

#[tokio::test]
async fn unknown_routes_methods_and_ids() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000/channels").await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.body,
        json!({ "message": "404: Not Found", "code": 0 })
    );
    let reply = test
        .send(test.request(Method::GET, "/api/v9/users/@me", Some(TOKEN)))
        .await;
    assert_eq!(reply.status, 404);

    let reply = test
        .send(test.request(Method::POST, &api("/guilds/1000/members/10"), Some(TOKEN)))
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.body,
        json!({ "message": "405: Method Not Allowed", "code": 0 })
    );
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));

    let reply = test.get(TOKEN, "/guilds/abc/members/10").await;
    reply.expect(400, 50035);
    assert_eq!(reply.field_error(&["guild_id"]), Some("NUMBER_TYPE_COERCE"));
    let reply = test
        .get(TOKEN, "/guilds/1000/members/10?with_counts=true")
        .await;
    reply.expect(400, 50035);
    assert!(reply.field_error(&["with_counts"]).is_some());
    test.stop().await;
}

#[tokio::test]
async fn guild_and_roles() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000").await;
    let guild = reply.ok();
    assert_eq!(guild["id"], "1000");
    assert_eq!(guild["name"], "Roster Test Guild");
    assert_eq!(guild["owner_id"], "1");
    assert!(guild.get("approximate_member_count").is_none());
    let roles = guild["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 7);
    assert_eq!(
        roles[0]["id"], "1000",
        "@everyone (id == guild id) comes first"
    );
    assert_eq!(roles[0]["position"], 0);
    assert_eq!(roles[0]["name"], "@everyone");

    let counted = test.get(TOKEN, "/guilds/1000?with_counts=true").await;
    assert_eq!(counted.ok()["approximate_member_count"], 9);
    test.get(TOKEN, "/guilds/1000?with_counts=maybe")
        .await
        .expect(400, 50035);

    test.get(TOKEN, "/guilds/9999").await.expect(404, 10004);
    let reply = test.get(TOKEN, "/guilds/2000").await;
    reply.expect(403, 50001);
    assert_eq!(reply.body["message"], "Missing Access");

    let roles = test.get(TOKEN, "/guilds/1000/roles").await;
    let positions: Vec<i64> = roles
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|role| role["position"].as_i64().expect("position"))
        .collect();
    assert_eq!(positions, vec![0, 1, 2, 3, 5, 10, 20]);
    let bot_role = &roles.body[4];
    assert_eq!(bot_role["id"], "1005");
    assert_eq!(bot_role["managed"], true);
    assert_eq!(
        bot_role["permissions"],
        (MANAGE_ROLES | MANAGE_NICKNAMES | BAN_MEMBERS).to_string()
    );
    test.stop().await;
}

#[tokio::test]
async fn get_member_and_unknown_member() {
    let test = TestSim::seeded().await;
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    let member = reply.ok();
    assert_eq!(member["user"]["id"], "10");
    assert_eq!(member["user"]["username"], "plain");
    assert_eq!(member["user"]["global_name"], "Plain Person");
    assert_eq!(member["roles"], json!(["1001"]));
    assert_eq!(member["nick"], Value::Null);
    let joined = member["joined_at"].as_str().expect("joined_at");
    assert!(joined.ends_with("+00:00"), "{joined}");
    assert_eq!(
        test.get(TOKEN, "/guilds/1000/members/11").await.ok()["nick"],
        "Trusty"
    );

    let reply = test.get(TOKEN, "/guilds/1000/members/777").await;
    reply.expect(404, 10007);
    assert_eq!(reply.body["message"], "Unknown Member");
    test.get(TOKEN, "/guilds/9999/members/10")
        .await
        .expect(404, 10004);
    test.stop().await;
}

#[tokio::test]
async fn listing_members_needs_the_intent_and_pages_by_user_id() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let first = test.get(TOKEN, "/guilds/4000/members").await;
    let first = first.ok().as_array().expect("a list").clone();
    assert_eq!(first.len(), 1, "limit defaults to 1");
    assert_eq!(first[0]["user"]["id"], "900", "lowest user id first");

    let all = test.get(TOKEN, "/guilds/4000/members?limit=1000").await;
    let all: Vec<String> = all
        .ok()
        .as_array()
        .expect("a list")
        .iter()
        .map(|member| member["user"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(all.len(), 26);
    let mut sorted: Vec<u64> = all.iter().map(|id| id.parse().expect("number")).collect();
    sorted.sort_unstable();
    assert_eq!(
        all,
        sorted.iter().map(u64::to_string).collect::<Vec<_>>(),
        "ordered by user id"
    );

    let mut walked = Vec::new();
    let mut after = 0;
    loop {
        let page = test
            .get(
                TOKEN,
                &format!("/guilds/4000/members?limit=10&after={after}"),
            )
            .await;
        let page = page.ok().as_array().expect("a list").clone();
        if page.is_empty() {
            break;
        }
        for member in &page {
            walked.push(member["user"]["id"].as_str().expect("id").to_owned());
        }
        after = walked
            .last()
            .and_then(|id| id.parse::<u64>().ok())
            .expect("a last id");
        assert!(walked.len() <= 26, "pagination ends");
    }
    assert_eq!(walked, all);
    let tail = test
        .get(TOKEN, "/guilds/4000/members?limit=5&after=4023")
        .await;
    assert_eq!(tail.ok().as_array().map(Vec::len), Some(2));

    for (query, code) in [
        ("limit=0", "NUMBER_TYPE_MIN"),
        ("limit=1001", "NUMBER_TYPE_MAX"),
        ("limit=abc", "NUMBER_TYPE_COERCE"),
        ("limit=-1", "NUMBER_TYPE_COERCE"),
    ] {
        let reply = test
            .get(TOKEN, &format!("/guilds/4000/members?{query}"))
            .await;
        reply.expect(400, 50035);
        assert_eq!(reply.field_error(&["limit"]), Some(code), "{query}");
    }
    let reply = test.get(TOKEN, "/guilds/4000/members?after=x").await;
    assert_eq!(reply.field_error(&["after"]), Some("NUMBER_TYPE_COERCE"));
    let reply = test
        .get(TOKEN, "/guilds/4000/members?limit=5&limit=6")
        .await;
    reply.expect(400, 50035);

    let reply = test.get(WEAK_TOKEN, "/guilds/1000/members").await;
    reply.expect(403, 50001);
    assert_eq!(reply.body["message"], "Missing Access");
    test.stop().await;
}

#[tokio::test]
async fn adding_and_removing_roles_is_204_and_idempotent() {
    let test = TestSim::seeded().await;
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    test.put(TOKEN, &path).await.no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.put(TOKEN, &path).await.no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.delete(TOKEN, &path).await.no_content();
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    test.delete(TOKEN, &path).await.no_content();
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));

    // Only the role's position matters, not the target's: a lower role may be given to a higher member.
    test.put(TOKEN, &role_path(GUILD, MODERATOR, TRUSTED_ROLE))
        .await
        .no_content();

    let reply = test.put(TOKEN, &role_path(GUILD, 777, TRUSTED_ROLE)).await;
    reply.expect(404, 10007);
    let reply = test.put(TOKEN, &role_path(GUILD, PLAIN, 9999)).await;
    reply.expect(404, 10011);
    assert_eq!(reply.body["message"], "Unknown Role");
    test.put(TOKEN, &role_path(GUILD, PLAIN, GUILD))
        .await
        .expect(404, 10011);
    test.put(TOKEN, &role_path(OTHER_GUILD, STRANGER, 1))
        .await
        .expect(403, 50001);
    test.put(TOKEN, &role_path(9999, PLAIN, TRUSTED_ROLE))
        .await
        .expect(404, 10004);
    test.stop().await;
}

#[tokio::test]
async fn role_changes_respect_permissions_and_hierarchy() {
    let test = TestSim::seeded().await;
    let refused = [
        (
            TOKEN,
            role_path(GUILD, PLAIN, MOD_ROLE),
            "above the bot's highest role",
        ),
        (
            TOKEN,
            role_path(GUILD, PLAIN, BOT_ROLE),
            "the bot's own (managed, equal) role",
        ),
        (
            TOKEN,
            role_path(GUILD, PLAIN, BOOSTER_ROLE),
            "a managed role below the bot",
        ),
        (
            TOKEN,
            role_path(GUILD, BOOSTED, BOOSTER_ROLE),
            "removing a managed role",
        ),
        (
            WEAK_TOKEN,
            role_path(GUILD, PLAIN, TRUSTED_ROLE),
            "no MANAGE_ROLES",
        ),
        (
            ADMIN_TOKEN,
            role_path(GUILD, PLAIN, ADMIN_ROLE),
            "equal to the admin bot's highest role",
        ),
    ];
    for (token, path, why) in &refused {
        let method = if why.starts_with("removing") {
            Method::DELETE
        } else {
            Method::PUT
        };
        let reply = test
            .send(test.request(method, &api(path), Some(token)))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, 50013),
            "{why}: {}",
            reply.text
        );
        assert_eq!(reply.body["message"], "Missing Permissions");
    }
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    assert_eq!(
        test.roles_of(GUILD, BOOSTED),
        Some(vec![MEMBER_ROLE, BOOSTER_ROLE])
    );

    // ADMINISTRATOR implies MANAGE_ROLES.
    test.put(ADMIN_TOKEN, &role_path(GUILD, PLAIN, MOD_ROLE))
        .await
        .no_content();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, MOD_ROLE])
    );
    test.stop().await;
}

#[tokio::test]
async fn modify_member_replaces_roles_and_sets_nicknames() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let path = "/guilds/1000/members/10";
    let reply = test
        .json(
            Method::PATCH,
            TOKEN,
            path,
            json!({ "roles": [TRUSTED_ROLE.to_string()], "nick": "Plainly" }),
        )
        .await;
    let body = reply.ok();
    assert_eq!(body["roles"], json!(["1002"]));
    assert_eq!(body["nick"], "Plainly");
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![TRUSTED_ROLE]));

    // Integers are accepted as snowflakes too; an empty body changes nothing.
    test.json(
        Method::PATCH,
        TOKEN,
        path,
        json!({ "roles": [MEMBER_ROLE, TRUSTED_ROLE] }),
    )
    .await
    .ok();
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    test.json(Method::PATCH, TOKEN, path, json!({})).await.ok();

    for reset in [json!({ "nick": null }), json!({ "nick": "" })] {
        test.json(Method::PATCH, TOKEN, path, json!({ "nick": "Again" }))
            .await
            .ok();
        let reply = test.json(Method::PATCH, TOKEN, path, reset).await;
        assert_eq!(reply.ok()["nick"], Value::Null);
    }
    assert_eq!(test.sim.member(GUILD, PLAIN).and_then(|m| m.nick), None);

    // A managed role the member already holds may stay; only changed roles are checked.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/14",
        json!({ "roles": ["1001", "1002", "1003"] }),
    )
    .await
    .ok();
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/14",
        json!({ "roles": ["1001"] }),
    )
    .await
    .expect(403, 50013);
    // null clears every role.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/11",
        json!({ "roles": null }),
    )
    .await
    .ok();
    assert_eq!(test.roles_of(GUILD, TRUSTED), Some(vec![]));
    test.stop().await;
}

#[tokio::test]
async fn modify_member_refusals() {
    let test = TestSim::seeded().await;
    test.unlimited();
    let path = "/guilds/1000/members/10";
    let cases = [
        (
            TOKEN,
            path,
            json!({ "roles": ["1010"] }),
            403,
            50013,
            "a role above the bot",
        ),
        (
            TOKEN,
            path,
            json!({ "roles": ["9999"] }),
            404,
            10011,
            "an unknown role",
        ),
        (
            TOKEN,
            path,
            json!({ "roles": ["1000"] }),
            404,
            10011,
            "@everyone",
        ),
        (
            WEAK_TOKEN,
            path,
            json!({ "roles": ["1001"] }),
            403,
            50013,
            "no MANAGE_ROLES",
        ),
        (
            WEAK_TOKEN,
            path,
            json!({ "nick": "x" }),
            403,
            50013,
            "no MANAGE_NICKNAMES",
        ),
        (
            TOKEN,
            "/guilds/1000/members/12",
            json!({ "nick": "x" }),
            403,
            50013,
            "a member above the bot",
        ),
        (
            TOKEN,
            "/guilds/1000/members/1",
            json!({ "nick": "x" }),
            403,
            50013,
            "the owner",
        ),
        (
            ADMIN_TOKEN,
            "/guilds/1000/members/1",
            json!({ "nick": "x" }),
            403,
            50013,
            "the owner, for an admin",
        ),
        (
            TOKEN,
            "/guilds/1000/members/777",
            json!({ "nick": "x" }),
            404,
            10007,
            "not a member",
        ),
        (
            TOKEN,
            "/guilds/2000/members/61",
            json!({ "nick": "x" }),
            403,
            50001,
            "a guild the bot is not in",
        ),
    ];
    for (token, path, body, status, code, why) in cases {
        let reply = test.json(Method::PATCH, token, path, body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{why}: {}",
            reply.text
        );
    }
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));
    assert_eq!(test.sim.member(GUILD, OWNER).and_then(|m| m.nick), None);

    // Nickname changes for members below the bot, and for itself, work.
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/900",
        json!({ "nick": "Roster Bot" }),
    )
    .await
    .ok();
    test.json(
        Method::PATCH,
        ADMIN_TOKEN,
        "/guilds/1000/members/12",
        json!({ "nick": "Mod" }),
    )
    .await
    .ok();

    let form_cases = [
        (
            json!({ "nick": "x".repeat(33) }),
            vec!["nick"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (json!({ "nick": 5 }), vec!["nick"], "BASE_TYPE_STRING"),
        (json!({ "roles": "1001" }), vec!["roles"], "BASE_TYPE_ARRAY"),
        (
            json!({ "roles": ["1001", "1001"] }),
            vec!["roles", "1"],
            "SET_TYPE_ALREADY_CONTAINS_VALUE",
        ),
        (
            json!({ "roles": ["one"] }),
            vec!["roles", "0"],
            "NUMBER_TYPE_COERCE",
        ),
        (
            json!({ "mute": true }),
            vec!["mute"],
            "UNSUPPORTED_BY_SIMULATOR",
        ),
        (
            json!({ "communication_disabled_until": "2030-01-01T00:00:00+00:00" }),
            vec!["communication_disabled_until"],
            "UNSUPPORTED_BY_SIMULATOR",
        ),
    ];
    for (body, field, code) in form_cases {
        let reply = test.json(Method::PATCH, TOKEN, path, body.clone()).await;
        reply.expect(400, 50035);
        assert_eq!(reply.body["message"], "Invalid Form Body");
        assert_eq!(
            reply.field_error(&field),
            Some(code),
            "{body}: {}",
            reply.text
        );
    }
    let reply = test.json(Method::PATCH, TOKEN, path, json!(["nick"])).await;
    reply.expect(400, 50035);
    assert_eq!(reply.field_error(&[]), Some("DICT_TYPE_CONVERT"));
    test.stop().await;
}

#[tokio::test]
async fn bodies_need_a_json_content_type_and_valid_json() {
    let test = TestSim::seeded().await;
    let path = api("/guilds/1000/members/10");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut builder = test
            .request(Method::PATCH, &path, Some(TOKEN))
            .body(r#"{"nick":"x"}"#);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        let reply = test.send(builder).await;
        reply.expect(400, 50035);
        assert_eq!(
            reply.field_error(&[]),
            Some("CONTENT_TYPE_INVALID"),
            "{content_type:?}"
        );
    }
    let reply = test
        .send(
            test.request(Method::PATCH, &path, Some(TOKEN))
                .header("content-type", "application/json; charset=utf-8")
                .body(r#"{"nick":"x"}"#),
        )
        .await;
    assert_eq!(reply.ok()["nick"], "x");

    let reply = test
        .send(
            test.request(Method::PATCH, &path, Some(TOKEN))
                .header("content-type", "application/json")
                .body(r#"{"nick": "#),
        )
        .await;
    reply.expect(400, 50109);
    assert_eq!(
        reply.body["message"],
        "The request body contains invalid JSON."
    );

    // No body needs no Content-Type (PUT role has none); a POST that needs fields reads it as {}.
    test.put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    let reply = test
        .send(test.request(Method::POST, &api("/users/@me/channels"), Some(TOKEN)))
        .await;
    reply.expect(400, 50035);
    assert_eq!(
        reply.field_error(&["recipient_id"]),
        Some("BASE_TYPE_REQUIRED")
    );
    test.stop().await;
}

#[tokio::test]
async fn bans_need_permission_and_hierarchy_and_record_the_reason() {
    let test = TestSim::seeded().await;
    let reply = test
        .with_reason(
            Method::PUT,
            TOKEN,
            "/guilds/1000/bans/10",
            &encode("Spamming links: 3 strikes"),
        )
        .await;
    reply.no_content();
    assert_eq!(
        test.sim.member(GUILD, PLAIN),
        None,
        "a ban removes the member"
    );
    let bans = test.sim.bans(GUILD);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].user_id, PLAIN);
    assert_eq!(bans[0].reason.as_deref(), Some("Spamming links: 3 strikes"));

    let ban = test.get(TOKEN, "/guilds/1000/bans/10").await;
    assert_eq!(ban.ok()["user"]["id"], "10");
    assert_eq!(ban.body["reason"], "Spamming links: 3 strikes");

    // Banning again is a no-op that keeps the reason.
    test.with_reason(Method::PUT, TOKEN, "/guilds/1000/bans/10", "other")
        .await
        .no_content();
    assert_eq!(
        test.sim.bans(GUILD)[0].reason.as_deref(),
        Some("Spamming links: 3 strikes")
    );

    test.delete(TOKEN, "/guilds/1000/bans/10")
        .await
        .no_content();
    let reply = test.delete(TOKEN, "/guilds/1000/bans/10").await;
    reply.expect(404, 10026);
    assert_eq!(reply.body["message"], "Unknown Ban");
    test.get(TOKEN, "/guilds/1000/bans/10")
        .await
        .expect(404, 10026);
    assert!(test.sim.bans(GUILD).is_empty());

    // twilight's body, and a ban without a reason, of a known user who is not a member.
    let reply = test
        .json(
            Method::PUT,
            TOKEN,
            "/guilds/1000/bans/61",
            json!({ "delete_message_seconds": null }),
        )
        .await;
    reply.no_content();
    assert_eq!(test.sim.bans(GUILD)[0].reason, None);

    let cases = [
        (
            TOKEN,
            "/guilds/1000/bans/12",
            403,
            50013,
            "a member above the bot",
        ),
        (TOKEN, "/guilds/1000/bans/1", 403, 50013, "the owner"),
        (TOKEN, "/guilds/1000/bans/900", 403, 50013, "itself"),
        (
            ADMIN_TOKEN,
            "/guilds/1000/bans/1",
            403,
            50013,
            "the owner, for an admin",
        ),
        (
            WEAK_TOKEN,
            "/guilds/1000/bans/11",
            403,
            50013,
            "no BAN_MEMBERS",
        ),
        (
            TOKEN,
            "/guilds/1000/bans/123456",
            404,
            10013,
            "a user nobody knows",
        ),
        (
            TOKEN,
            "/guilds/2000/bans/61",
            403,
            50001,
            "a guild the bot is not in",
        ),
    ];
    for (token, path, status, code, why) in cases {
        let reply = test.put(token, path).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{why}: {}",
            reply.text
        );
    }
    test.get(WEAK_TOKEN, "/guilds/1000/bans/61")
        .await
        .expect(403, 50013);
    test.delete(WEAK_TOKEN, "/guilds/1000/bans/61")
        .await
        .expect(403, 50013);

    for (body, code) in [
        (
            json!({ "delete_message_seconds": 604_801 }),
            "NUMBER_TYPE_MAX",
        ),
        (json!({ "delete_message_seconds": -1 }), "NUMBER_TYPE_MIN"),
        (
            json!({ "delete_message_seconds": "soon" }),
            "NUMBER_TYPE_COERCE",
        ),
    ] {
        let reply = test
            .json(Method::PUT, TOKEN, "/guilds/1000/bans/11", body)
            .await;
        reply.expect(400, 50035);
        assert_eq!(reply.field_error(&["delete_message_seconds"]), Some(code));
    }
    assert!(test.sim.member(GUILD, TRUSTED).is_some());
    test.stop().await;
}

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

#[tokio::test]
async fn audit_log_reasons_are_decoded_logged_and_limited() {
    let test = TestSim::seeded().await;
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    test.with_reason(
        Method::PUT,
        TOKEN,
        &path,
        &encode("Promoted by Roster \u{2713} (rank 2)"),
    )
    .await
    .no_content();
    test.with_reason(Method::DELETE, TOKEN, &path, "100%25 sure, a%zz b+c")
        .await
        .no_content();
    let at_limit = "r".repeat(512);
    test.with_reason(Method::PUT, TOKEN, &path, &at_limit)
        .await
        .no_content();
    let too_long = "\u{e9}".repeat(513);
    let reply = test
        .with_reason(Method::DELETE, TOKEN, &path, &encode(&too_long))
        .await;
    reply.expect(400, 50035);
    assert_eq!(
        reply.field_error(&["audit_log_reason"]),
        Some("BASE_TYPE_MAX_LENGTH")
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );

    let reasons: Vec<Option<String>> = test
        .sim
        .log()
        .into_iter()
        .map(|entry| entry.audit_log_reason)
        .collect();
    assert_eq!(
        reasons,
        vec![
            Some("Promoted by Roster \u{2713} (rank 2)".to_owned()),
            Some("100% sure, a%zz b+c".to_owned()),
            Some(at_limit),
            Some(too_long),
        ]
    );
    test.stop().await;
}

#[tokio::test]
async fn every_response_carries_the_bucket_headers() {
    let test = TestSim::seeded().await;
    // A slow leak (one slot per 12 s) so the counts below do not depend on how loaded the
    // machine running the tests is.
    test.set_route_limit(
        &[Route::GetMember],
        5,
        60_000,
        WindowKind::Sliding,
        "get-member",
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    reply.ok();
    assert_eq!(reply.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("4"));
    let reset_after = f64_header(&reply, "x-ratelimit-reset-after");
    assert!(
        (11.9..=12.0).contains(&reset_after),
        "one slot's worth: {reset_after}"
    );
    let bucket = reply
        .header("x-ratelimit-bucket")
        .expect("a bucket")
        .to_owned();
    let reset = reply.header("x-ratelimit-reset").expect("a reset");
    let (_, decimals) = reset
        .split_once('.')
        .expect("epoch seconds with a fraction");
    assert_eq!(decimals.len(), 3, "millisecond precision: {reset}");
    let reset: f64 = reset.parse().expect("a number");
    assert!(
        reset > before && reset < before + 20.0,
        "{reset} vs {before}"
    );
    assert!(
        reply.header("x-ratelimit-scope").is_none(),
        "the scope comes only with 429s"
    );
    assert!(reply.header("retry-after").is_none());

    // Errors after the bucket count carry them too; GET and PATCH member are different buckets.
    let missing = test.get(TOKEN, "/guilds/1000/members/777").await;
    assert_eq!(missing.header("x-ratelimit-remaining"), Some("3"));
    assert_eq!(missing.header("x-ratelimit-bucket"), Some(bucket.as_str()));
    let patch = test
        .json(Method::PATCH, TOKEN, "/guilds/1000/members/10", json!({}))
        .await;
    assert_eq!(patch.header("x-ratelimit-limit"), Some("10"));
    assert_ne!(patch.header("x-ratelimit-bucket"), Some(bucket.as_str()));
    let role = test
        .put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await;
    assert_eq!(role.header("x-ratelimit-bucket"), Some(MEMBER_ROLE_BUCKET));
    assert_eq!(role.header("x-ratelimit-reset-after"), Some("10.000"));

    test.sim
        .update_config(|config| config.scope_on_every_response = true);
    let reply = test.get(TOKEN, "/users/@me").await;
    assert_eq!(reply.header("x-ratelimit-scope"), Some("user"));
    test.stop().await;
}

#[tokio::test]
async fn fixed_window_buckets_are_shared_by_route_and_split_by_major_parameter() {
    let test = TestSim::seeded().await;
    test.set_route_limit(
        &[Route::AddMemberRole, Route::RemoveMemberRole],
        3,
        800,
        WindowKind::Fixed,
        MEMBER_ROLE_BUCKET,
    );
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    let first = test.put(TOKEN, &path).await;
    first.no_content();
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    let reset_after = f64_header(&first, "x-ratelimit-reset-after");
    assert!((0.7..=0.8).contains(&reset_after), "{reset_after}");
    test.delete(TOKEN, &path).await.no_content();
    let third = test.put(TOKEN, &path).await;
    assert_eq!(third.header("x-ratelimit-remaining"), Some("0"));

    // The DELETE route shares the PUT route's bucket.
    let limited = test.delete(TOKEN, &path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-scope"), Some("user"));
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        limited.header("x-ratelimit-bucket"),
        Some(MEMBER_ROLE_BUCKET)
    );
    assert_eq!(
        limited.header("retry-after"),
        Some("1"),
        "ceil of the decimal wait"
    );
    assert!(limited.header("x-ratelimit-global").is_none());
    assert_eq!(limited.body["message"], "You are being rate limited.");
    assert_eq!(limited.body["global"], false);
    assert!(limited.body.get("code").is_none());
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    let reset_after = f64_header(&limited, "x-ratelimit-reset-after");
    assert!(retry_after > 0.0 && retry_after <= 0.8, "{retry_after}");
    assert!(
        (retry_after - reset_after).abs() < 0.002,
        "fixed: retry_after = reset_after"
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );

    // Another guild, another bot: their own buckets.
    test.put(TOKEN, &role_path(THIRD_GUILD, PLAIN, THIRD_MEMBER_ROLE))
        .await
        .no_content();
    test.put(ADMIN_TOKEN, &path).await.no_content();

    // After the window, a full quota again (a fixed window resets at once).
    tokio::time::sleep(Duration::from_secs_f64(reset_after + 0.05)).await;
    let fresh = test.delete(TOKEN, &path).await;
    fresh.no_content();
    assert_eq!(fresh.header("x-ratelimit-remaining"), Some("2"));
    let entry = test
        .sim
        .log()
        .into_iter()
        .find(|entry| entry.status == 429)
        .expect("the 429 is logged");
    assert_eq!(entry.scope.as_deref(), Some("user"));
    assert_eq!(entry.route, Some(Route::RemoveMemberRole));
    test.stop().await;
}

#[tokio::test]
async fn sliding_windows_free_one_slot_at_a_time() {
    let test = TestSim::seeded().await;
    // One slot frees every 2 s: slow enough that a loaded test machine cannot blur the counts.
    test.set_route_limit(&[Route::GetMember], 3, 6_000, WindowKind::Sliding, "slide");
    let path = "/guilds/1000/members/10";
    let first = test.get(TOKEN, path).await;
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    let reset_after = f64_header(&first, "x-ratelimit-reset-after");
    assert!(
        (1.8..=2.0).contains(&reset_after),
        "one slot's worth: {reset_after}"
    );
    test.get(TOKEN, path).await.ok();
    let third = test.get(TOKEN, path).await;
    assert_eq!(third.header("x-ratelimit-remaining"), Some("0"));
    let limited = test.get(TOKEN, path).await;
    assert_eq!(limited.status, 429);
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    let reset_after = f64_header(&limited, "x-ratelimit-reset-after");
    assert!(
        retry_after <= 2.0,
        "the next slot frees within window/limit: {retry_after}"
    );
    assert!(reset_after > 3.0, "the bucket empties later: {reset_after}");
    // The header is whole seconds, rounded up (how long the first requests took on a loaded machine moves it).
    let whole = (retry_after.ceil() as u64).max(1).to_string();
    assert_eq!(limited.header("retry-after"), Some(whole.as_str()));

    // One slot later exactly one more request fits (a fixed window would still refuse).
    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.1)).await;
    test.get(TOKEN, path).await.ok();
    assert_eq!(test.get(TOKEN, path).await.status, 429);
    test.stop().await;
}

#[tokio::test]
async fn the_global_limit_is_per_bot_and_per_second() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.global_limit_per_sec = 4);
    // The window is one second from the first request; on a loaded machine the four requests may straddle two
    // windows, so count the successes before the first 429 instead of assuming they all fit in one (the exact
    // count per window is unit-tested in the simulator's rate_limit module with explicit instants).
    let mut successes = 0;
    let limited = loop {
        let response = test.get(TOKEN, "/guilds/1000").await;
        if response.status == 429 {
            break response;
        }
        assert_eq!(response.status, 200);
        successes += 1;
        assert!(successes < 40, "the global limit never answered 429");
    };
    assert!(successes >= 4, "a 429 after only {successes} requests");
    assert_eq!(limited.header("x-ratelimit-global"), Some("true"));
    assert_eq!(limited.header("x-ratelimit-scope"), Some("global"));
    assert_eq!(limited.header("retry-after"), Some("1"));
    for header in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-bucket",
        "x-ratelimit-reset-after",
    ] {
        assert!(limited.header(header).is_none(), "{header} on a global 429");
    }
    assert_eq!(limited.body["global"], true);
    assert_eq!(limited.body["message"], "You are being rate limited.");
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after > 0.0 && retry_after <= 1.0);
    // Another bot has its own global limit.
    test.get(ADMIN_TOKEN, "/users/@me").await.ok();
    assert_eq!(
        test.sim.log().last().map(|entry| entry.bot_user_id),
        Some(Some(ADMIN_BOT))
    );
    let entry = test
        .sim
        .log()
        .into_iter()
        .find(|entry| entry.status == 429)
        .expect("logged");
    assert_eq!(entry.scope.as_deref(), Some("global"));
    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    test.get(TOKEN, "/guilds/1000").await.ok();
    test.stop().await;
}

#[tokio::test]
async fn too_many_invalid_requests_ban_the_ip_with_a_cloudflare_page() {
    let config = DiscordSimConfig {
        invalid_request_limit: 3,
        invalid_request_window: Duration::from_millis(1500),
        ..DiscordSimConfig::default()
    };
    let test = TestSim::seeded_with(config).await;

    // Shared-scope 429s do not count.
    test.sim.add_fault(FaultRule {
        route: Some(Route::GetCurrentUser),
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::Shared,
            retry_after: 0.1,
        },
        times: Some(3),
    });
    for _ in 0..3 {
        assert_eq!(test.get(TOKEN, "/users/@me").await.status, 429);
    }
    test.get(TOKEN, "/users/@me").await.ok();

    // 401, 403 and user 429 do.
    assert_eq!(test.get("bad-token", "/users/@me").await.status, 401);
    assert_eq!(test.get(TOKEN, "/guilds/2000").await.status, 403);
    test.sim.add_fault(FaultRule {
        route: None,
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 0.1,
        },
        times: Some(1),
    });
    assert_eq!(test.get(TOKEN, "/users/@me").await.status, 429);

    let banned = test.get(TOKEN, "/users/@me").await;
    assert_eq!(banned.status, 429);
    assert!(
        banned
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "not JSON"
    );
    assert!(serde_json::from_str::<Value>(&banned.text).is_err());
    assert!(banned.text.contains("1015"));
    assert!(banned.header("x-ratelimit-scope").is_none());
    assert!(banned.header("x-ratelimit-limit").is_none());
    let wait: u64 = banned
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("retry-after");
    assert!((1..=2).contains(&wait));
    let entry = test.sim.log().pop().expect("logged");
    assert_eq!(entry.cloudflare.as_deref(), Some("1015 banned"));
    assert_eq!(entry.bot_user_id, None);

    // Every route, even with a valid token, until the window ends.
    assert_eq!(test.get(TOKEN, "/guilds/1000").await.status, 429);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    test.get(TOKEN, "/users/@me").await.ok();

    // The control API resets it, too.
    for _ in 0..3 {
        test.get("bad-token", "/users/@me").await;
    }
    assert!(test.get(TOKEN, "/users/@me").await.text.contains("1015"));
    test.control(Method::DELETE, "/_sim/rate-limits", None)
        .await
        .no_content();
    test.get(TOKEN, "/users/@me").await.ok();
    test.stop().await;
}

#[tokio::test]
async fn rate_limits_can_be_disabled_but_are_still_counted() {
    let test = TestSim::seeded().await;
    test.set_route_limit(&[Route::GetMember], 2, 10_000, WindowKind::Fixed, "b");
    test.sim.update_config(|config| {
        config.rate_limits_enabled = false;
        config.global_limit_per_sec = 1;
    });
    for _ in 0..4 {
        let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
        reply.ok();
    }
    let reply = test.get(TOKEN, "/guilds/1000/members/10").await;
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    test.stop().await;
}

fn rule(route: Option<Route>, action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        route,
        method: None,
        path_contains: None,
        action,
        times,
    }
}

#[tokio::test]
async fn status_faults_carry_discords_error_body() {
    let test = TestSim::seeded().await;
    let id = test.sim.add_fault(rule(
        Some(Route::AddMemberRole),
        FaultAction::Status {
            status: 500,
            code: None,
        },
        Some(1),
    ));
    let path = role_path(GUILD, PLAIN, TRUSTED_ROLE);
    let reply = test.put(TOKEN, &path).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.body,
        json!({ "message": "500: Internal Server Error", "code": 0 })
    );
    assert!(
        reply.header("x-ratelimit-bucket").is_some(),
        "counted before the backend failed"
    );
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE]),
        "nothing happened"
    );
    assert_eq!(
        test.sim.log().pop().and_then(|entry| entry.fault),
        Some(format!("status 500 (rule {id})"))
    );
    test.put(TOKEN, &path).await.no_content();

    test.sim.add_fault(FaultRule {
        route: None,
        method: Some("delete".into()),
        path_contains: Some("/roles/1002".into()),
        action: FaultAction::Status {
            status: 403,
            code: Some(50013),
        },
        times: None,
    });
    test.get(TOKEN, "/guilds/1000/members/10").await.ok();
    let reply = test.delete(TOKEN, &path).await;
    assert_eq!(
        reply.body,
        json!({ "message": "Missing Permissions", "code": 50013 })
    );
    assert_eq!(test.delete(TOKEN, &path).await.status, 403, "until cleared");
    test.sim.clear_faults();
    test.delete(TOKEN, &path).await.no_content();

    test.sim.add_fault(rule(
        None,
        FaultAction::Status {
            status: 503,
            code: Some(130_000),
        },
        Some(1),
    ));
    let reply = test.get(TOKEN, "/users/@me").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), 130_000);
    assert_eq!(
        reply.body["message"],
        "API resource is currently overloaded. Try again a little later"
    );
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_faults_in_each_scope() {
    let test = TestSim::seeded().await;
    let path = "/guilds/1000/members/10";
    test.sim.add_fault(rule(
        Some(Route::GetMember),
        FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 2.5,
        },
        Some(1),
    ));
    let user = test.get(TOKEN, path).await;
    assert_eq!(user.status, 429);
    assert_eq!(user.header("x-ratelimit-scope"), Some("user"));
    assert_eq!(user.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(user.header("x-ratelimit-reset-after"), Some("2.500"));
    assert_eq!(user.header("retry-after"), Some("3"));
    assert_eq!(
        user.body,
        json!({ "message": "You are being rate limited.", "retry_after": 2.5, "global": false })
    );

    test.sim.add_fault(rule(
        Some(Route::GetMember),
        FaultAction::RateLimit {
            scope: RateLimitScope::Shared,
            retry_after: 64.57,
        },
        Some(1),
    ));
    let shared = test.get(TOKEN, path).await;
    assert_eq!(shared.status, 429);
    assert_eq!(shared.header("x-ratelimit-scope"), Some("shared"));
    assert_eq!(shared.header("retry-after"), Some("65"));
    assert_ne!(
        shared.header("x-ratelimit-remaining"),
        Some("0"),
        "remaining may be non-zero"
    );
    assert_eq!(
        shared.body,
        json!({ "message": "The resource is being rate limited.", "retry_after": 64.57, "global": false })
    );

    test.sim.add_fault(rule(
        None,
        FaultAction::RateLimit {
            scope: RateLimitScope::Global,
            retry_after: 0.25,
        },
        Some(1),
    ));
    let global = test.get(TOKEN, path).await;
    assert_eq!(global.header("x-ratelimit-global"), Some("true"));
    assert_eq!(global.header("x-ratelimit-scope"), Some("global"));
    assert_eq!(global.header("retry-after"), Some("1"));
    assert!(global.header("x-ratelimit-bucket").is_none());
    assert_eq!(global.body["global"], true);
    let scopes: Vec<Option<String>> = test
        .sim
        .log()
        .into_iter()
        .map(|entry| entry.scope)
        .collect();
    assert_eq!(
        scopes,
        vec![
            Some("user".into()),
            Some("shared".into()),
            Some("global".into())
        ]
    );
    test.stop().await;
}

#[tokio::test]
async fn latency_and_hang_faults() {
    let test = TestSim::seeded().await;
    test.sim.add_fault(rule(
        Some(Route::GetCurrentUser),
        FaultAction::Latency { ms: 300 },
        Some(1),
    ));
    let started = Instant::now();
    test.get(TOKEN, "/users/@me").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(test.sim.log()[0].duration_ms >= 300.0);

    // Configured latency applies to every API request but not to the control API.
    test.sim
        .update_config(|config| config.latency = Duration::from_millis(200));
    let started = Instant::now();
    test.get(TOKEN, "/users/@me").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(200));
    let started = Instant::now();
    test.control(Method::GET, "/_sim/config", None).await.ok();
    assert!(started.elapsed() < Duration::from_millis(200));
    test.sim
        .update_config(|config| config.latency = Duration::ZERO);

    // A client that gives up is logged with 499.
    test.sim.add_fault(rule(
        Some(Route::GetGuild),
        FaultAction::Latency { ms: 10_000 },
        Some(1),
    ));
    let abandoned = test
        .request(Method::GET, &api("/guilds/1000"), Some(TOKEN))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(abandoned.is_err());
    let mut logged = false;
    for _ in 0..60 {
        if test.sim.log().iter().any(|entry| entry.status == 499) {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logged, "the abandoned request is logged with 499");

    // A hanging request never answers until the server shuts down (then 503), and does not hold the shutdown up.
    test.sim
        .add_fault(rule(Some(Route::GetBan), FaultAction::Hang, None));
    let request = test.request(Method::GET, &api("/guilds/1000/bans/10"), Some(TOKEN));
    let hanging = tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!hanging.is_finished());
    let sim = test.sim.clone();
    test.stop().await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("the hanging request ends with the server")
        .expect("no panic");
    let status = outcome.expect("a request hanging at shutdown is answered, not dropped");
    assert_eq!(status, 503);
    assert!(sim.log().iter().any(|entry| {
        entry
            .fault
            .as_deref()
            .is_some_and(|f| f.starts_with("hang"))
    }));
}

#[tokio::test]
async fn the_request_log_records_every_api_request() {
    let test = TestSim::seeded().await;
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/10",
        json!({ "nick": "Logged" }),
    )
    .await
    .ok();
    test.get(TOKEN, "/guilds/4000/members?limit=2").await.ok();
    test.control(Method::GET, "/_sim/config", None).await.ok();
    let log = test.sim.log();
    assert_eq!(log.len(), 2, "control requests are not logged");
    assert_eq!(log[0].method, "PATCH");
    assert_eq!(log[0].route, Some(Route::ModifyMember));
    assert_eq!(log[0].request_body, Some(json!({ "nick": "Logged" })));
    assert_eq!(log[0].status, 200);
    assert_eq!(log[1].path, "/api/v10/guilds/4000/members?limit=2");
    assert!(log[1].seq > log[0].seq);
    assert!(log[0].at.ends_with('Z'));
    let since = test
        .control(
            Method::GET,
            &format!("/_sim/log?since={}", log[0].seq),
            None,
        )
        .await;
    assert_eq!(since.ok().as_array().map(Vec::len), Some(1));
    assert_eq!(since.body[0]["route"], "listMembers");
    assert_eq!(since.body[0]["botUserId"], 900);
    test.sim.clear_log();
    assert!(test.sim.log().is_empty());
    test.stop().await;
}

#[tokio::test]
async fn many_concurrent_requests() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let shared = &test;
    let requests = (0..400).map(|i| async move {
        let path = format!("/guilds/4000/members/{}", 4001 + (i % 25));
        shared.get(TOKEN, &path).await
    });
    let replies = futures::future::join_all(requests).await;
    assert!(replies.iter().all(|reply| reply.status == 200));
    assert_eq!(test.sim.log().len(), 400);
    test.stop().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let test = TestSim::start(DiscordSimConfig::default()).await;
    test.control(
        Method::POST,
        "/_sim/bots",
        Some(json!({ "token": "t", "userId": 900, "username": "roster", "membersIntent": true })),
    )
    .await
    .no_content();
    let seed = json!({
        "id": 1000, "name": "Over HTTP", "ownerId": 1,
        "roles": [
            { "id": 1001, "name": "Member", "position": 1, "permissions": 0 },
            { "id": 1005, "name": "Roster", "position": 5, "permissions": MANAGE_ROLES | BAN_MEMBERS, "managed": true }
        ],
        "members": [
            { "userId": 1, "username": "owner" },
            { "userId": 900, "username": "roster", "roles": [1005], "bot": true },
            { "userId": 10, "username": "plain", "roles": [1001], "dmsOpen": false }
        ]
    });
    test.control(Method::POST, "/_sim/guilds", Some(seed.clone()))
        .await
        .no_content();
    let mut invalid = seed.clone();
    invalid["roles"][1]["position"] = json!(1);
    assert_eq!(
        test.control(Method::POST, "/_sim/guilds", Some(invalid))
            .await
            .status,
        400
    );
    let mut unknown_field = seed;
    unknown_field["colour"] = json!(1);
    assert_eq!(
        test.control(Method::POST, "/_sim/guilds", Some(unknown_field))
            .await
            .status,
        400
    );

    let snapshot = test
        .control(Method::GET, "/_sim/guilds/1000/members/10", None)
        .await;
    assert_eq!(
        snapshot.ok(),
        &json!({ "userId": 10, "roles": [1001], "nick": null })
    );
    let added = test
        .control(
            Method::PUT,
            "/_sim/guilds/1000/members/11",
            Some(json!({ "userId": 11, "username": "newcomer", "nick": "New" })),
        )
        .await;
    assert_eq!(
        added.ok(),
        &json!({ "userId": 11, "roles": [], "nick": "New" })
    );
    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/guilds/1000/members/11",
            Some(json!({ "userId": 12, "username": "mismatch" }))
        )
        .await
        .status,
        400
    );
    let roles = test
        .control(
            Method::PUT,
            "/_sim/guilds/1000/members/11/roles",
            Some(json!({ "roleIds": [1001] })),
        )
        .await;
    assert_eq!(roles.ok()["roles"], json!([1001]));
    let status = |reply: Reply| reply.status;
    assert_eq!(
        status(
            test.control(
                Method::PUT,
                "/_sim/guilds/1000/members/11/roles",
                Some(json!({ "roleIds": [1000] }))
            )
            .await
        ),
        400,
        "@everyone is not assignable"
    );
    assert_eq!(
        status(
            test.control(
                Method::PUT,
                "/_sim/guilds/1000/members/99/roles",
                Some(json!({ "roleIds": [] }))
            )
            .await
        ),
        404
    );
    test.control(Method::DELETE, "/_sim/guilds/1000/members/11", None)
        .await
        .no_content();
    assert_eq!(
        status(
            test.control(Method::GET, "/_sim/guilds/1000/members/11", None)
                .await
        ),
        404
    );

    // The API sees what the control API set up.
    let reply = test
        .send(
            test.request(Method::PUT, &api("/guilds/1000/bans/10"), Some("t"))
                .header("x-audit-log-reason", "Raid"),
        )
        .await;
    reply.no_content();
    let bans = test
        .control(Method::GET, "/_sim/guilds/1000/bans", None)
        .await;
    assert_eq!(bans.ok(), &json!([{ "userId": 10, "reason": "Raid" }]));

    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/users/10/dms",
            Some(json!({ "open": true }))
        )
        .await
        .status,
        204
    );
    assert_eq!(
        test.control(
            Method::PUT,
            "/_sim/users/77/dms",
            Some(json!({ "open": true }))
        )
        .await
        .status,
        404
    );
    let dms = test.control(Method::GET, "/_sim/users/10/dms", None).await;
    assert_eq!(dms.ok(), &json!([]));

    let bad_fault = json!({ "action": { "type": "status", "status": 200 } });
    assert_eq!(
        test.control(Method::POST, "/_sim/faults", Some(bad_fault))
            .await
            .status,
        400
    );
    let fault = json!({ "route": "getCurrentUser", "action": { "type": "status", "status": 502 }, "times": 1 });
    let added = test
        .control(Method::POST, "/_sim/faults", Some(fault))
        .await;
    assert!(added.ok()["id"].is_u64());
    assert_eq!(
        test.send(test.request(Method::GET, &api("/users/@me"), Some("t")))
            .await
            .status,
        502
    );
    test.control(Method::DELETE, "/_sim/faults", None)
        .await
        .no_content();

    let config = test.control(Method::GET, "/_sim/config", None).await;
    let config = config.ok();
    assert_eq!(config["globalLimitPerSec"], 50);
    assert_eq!(config["invalidRequestLimit"], 10_000);
    assert_eq!(config["invalidRequestWindowMs"], 600_000);
    assert_eq!(config["scopeOnEveryResponse"], false);
    assert_eq!(
        config["routeLimits"]["addMemberRole"],
        json!({ "limit": 10, "windowMs": 10_000, "kind": "fixed", "bucket": MEMBER_ROLE_BUCKET })
    );
    assert_eq!(config["routeLimits"]["getMember"]["kind"], "sliding");
    assert_eq!(config["routeLimits"].as_object().map(|m| m.len()), Some(13));
    let patched = test
        .control(
            Method::PATCH,
            "/_sim/config",
            Some(json!({ "globalLimitPerSec": 5, "routeLimits": {
                "getCurrentUser": { "limit": 7, "windowMs": 1000, "kind": "fixed", "bucket": "me" } } })),
        )
        .await;
    assert_eq!(patched.ok()["routeLimits"]["getCurrentUser"]["limit"], 7);
    assert_eq!(
        patched.body["routeLimits"]["getMember"]["limit"], 5,
        "other routes kept"
    );
    let me = test
        .send(test.request(Method::GET, &api("/users/@me"), Some("t")))
        .await;
    assert_eq!(me.header("x-ratelimit-limit"), Some("7"));
    assert_eq!(me.header("x-ratelimit-bucket"), Some("me"));
    for bad in [
        json!({ "globalLimitPerSec": 0 }),
        json!({ "routeLimits": { "getMember": { "limit": 0, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "routeLimits": { "getMember": { "limit": 70000, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "routeLimits": { "noSuchRoute": { "limit": 1, "windowMs": 1, "kind": "fixed", "bucket": "x" } } }),
        json!({ "latency": 5 }),
    ] {
        assert_eq!(
            test.control(Method::PATCH, "/_sim/config", Some(bad.clone()))
                .await
                .status,
            400,
            "{bad}"
        );
    }
    // Control requests are never rate limited or logged.
    for _ in 0..10 {
        test.control(Method::GET, "/_sim/config", None).await.ok();
    }
    assert_eq!(
        test.control(Method::GET, "/_sim/nothing", None)
            .await
            .status,
        404
    );
    assert_eq!(
        test.control(Method::POST, "/_sim/config", None)
            .await
            .status,
        405
    );
    let log = test.control(Method::GET, "/_sim/log", None).await;
    assert_eq!(log.ok().as_array().map(Vec::len), Some(3));
    test.control(Method::DELETE, "/_sim/log", None)
        .await
        .no_content();
    assert!(test.sim.log().is_empty());
    test.stop().await;
}

#[tokio::test]
async fn twilight_round_trip() {
    let test = TestSim::seeded().await;
    let client = test.twilight(TOKEN);
    let guild_id = Id::new(GUILD);

    let me = client
        .current_user()
        .await
        .expect("answered")
        .model()
        .await
        .expect("a user");
    assert_eq!(
        (me.id.get(), me.name.as_str(), me.bot),
        (BOT, "roster", true)
    );
    let guild = client
        .guild(guild_id)
        .await
        .expect("answered")
        .model()
        .await
        .expect("a guild");
    assert_eq!(
        (guild.name.as_str(), guild.owner_id.get()),
        ("Roster Test Guild", OWNER)
    );
    let roles = client
        .roles(guild_id)
        .await
        .expect("answered")
        .models()
        .await
        .expect("roles");
    assert_eq!(roles.len(), 7);
    let member = client
        .guild_member(guild_id, Id::new(TRUSTED))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a member");
    assert_eq!(member.nick.as_deref(), Some("Trusty"));
    assert_eq!(member.roles.len(), 2);
    let members = client
        .guild_members(Id::new(BIG_GUILD))
        .limit(1000)
        .after(Id::new(4010))
        .await
        .expect("answered")
        .models()
        .await
        .expect("members");
    assert_eq!(members.len(), 15);

    let reason = "Promoted by Roster: rank \u{2192} Trusted (ticket #42)";
    client
        .add_guild_member_role(guild_id, Id::new(PLAIN), Id::new(TRUSTED_ROLE))
        .reason(reason)
        .await
        .expect("added");
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    client
        .remove_guild_member_role(guild_id, Id::new(PLAIN), Id::new(MEMBER_ROLE))
        .reason(reason)
        .await
        .expect("removed");
    let updated = client
        .update_guild_member(guild_id, Id::new(PLAIN))
        .nick(Some("Plain \u{1F600}"))
        .roles(&[Id::new(MEMBER_ROLE)])
        .reason(reason)
        .await
        .expect("answered")
        .model()
        .await
        .expect("a member");
    assert_eq!(updated.nick.as_deref(), Some("Plain \u{1F600}"));
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));

    client
        .create_ban(guild_id, Id::new(BOOSTED))
        .delete_message_seconds(3600)
        .reason("Raid \u{2014} automated")
        .await
        .expect("banned");
    let ban = client
        .ban(guild_id, Id::new(BOOSTED))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a ban");
    assert_eq!(ban.reason.as_deref(), Some("Raid \u{2014} automated"));
    client
        .delete_ban(guild_id, Id::new(BOOSTED))
        .await
        .expect("unbanned");

    let channel = client
        .create_private_channel(Id::new(PLAIN))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a channel");
    let message = client
        .create_message(channel.id)
        .content("Your rank changed.")
        .await
        .expect("answered")
        .model()
        .await
        .expect("a message");
    assert_eq!(message.content, "Your rank changed.");
    assert_eq!(
        test.sim.direct_messages(PLAIN),
        vec!["Your rank changed.".to_owned()]
    );

    // Discord's errors reach the caller with their code.
    let error = client
        .guild_member(guild_id, Id::new(777))
        .await
        .expect_err("an unknown member");
    assert_api_error(&error, 404, 10007);
    let error = test
        .twilight(WEAK_TOKEN)
        .add_guild_member_role(guild_id, Id::new(PLAIN), Id::new(TRUSTED_ROLE))
        .await
        .expect_err("no permission");
    assert_api_error(&error, 403, 50013);

    let log = test.sim.log();
    let reasons: Vec<&str> = log
        .iter()
        .filter_map(|entry| entry.audit_log_reason.as_deref())
        .collect();
    assert_eq!(
        reasons,
        vec![reason, reason, reason, "Raid \u{2014} automated"]
    );
    let ban_entry = log
        .iter()
        .find(|entry| entry.route == Some(Route::CreateBan))
        .expect("logged");
    assert_eq!(
        ban_entry.request_body,
        Some(json!({ "delete_message_seconds": 3600 }))
    );
    assert!(log.iter().all(|entry| entry.status < 400
        || entry.route == Some(Route::GetMember)
        || entry.route == Some(Route::AddMemberRole)));
    test.stop().await;
}

#[track_caller]
fn assert_api_error(error: &twilight_http::Error, status: u16, code: u64) {
    match error.kind() {
        twilight_http::error::ErrorType::Response {
            status: got,
            error: twilight_http::api_error::ApiError::General(general),
            ..
        } => {
            assert_eq!((got.get(), general.code), (status, code), "{error}");
        }
        other => panic!("expected a Discord error, got {other:?}"),
    }
}

#[tokio::test]
async fn twilight_waits_out_exhausted_buckets() {
    let test = TestSim::seeded().await;
    test.set_route_limit(
        &[Route::AddMemberRole, Route::RemoveMemberRole],
        3,
        700,
        WindowKind::Fixed,
        MEMBER_ROLE_BUCKET,
    );
    let client = test.twilight(TOKEN);
    let started = Instant::now();
    for i in 0..10u64 {
        let role = if i % 2 == 0 {
            TRUSTED_ROLE
        } else {
            MEMBER_ROLE
        };
        client
            .add_guild_member_role(Id::new(GUILD), Id::new(MODERATOR), Id::new(role))
            .await
            .expect("twilight waits and retries instead of failing");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2 * 700 - 100),
        "three windows at least"
    );
    let log = test.sim.log();
    assert_eq!(log.iter().filter(|entry| entry.status == 204).count(), 10);
    let limited = log.iter().filter(|entry| entry.status == 429).count();
    assert!(
        limited >= 1,
        "without the scope header twilight learns the bucket from a 429"
    );
    assert!(
        log.iter()
            .filter(|entry| entry.status == 429)
            .all(|entry| entry.scope.as_deref() == Some("user"))
    );

    // With X-RateLimit-Scope on every response twilight reads the bucket from the first answer and never hits it.
    test.sim.clear_log();
    test.sim.reset_rate_limits();
    test.sim
        .update_config(|config| config.scope_on_every_response = true);
    let client = test.twilight(TOKEN);
    for _ in 0..8 {
        client
            .add_guild_member_role(Id::new(GUILD), Id::new(MODERATOR), Id::new(TRUSTED_ROLE))
            .await
            .expect("added");
    }
    let log = test.sim.log();
    assert_eq!(
        log.len(),
        8,
        "no 429 at all: {:?}",
        log.iter().map(|e| e.status).collect::<Vec<_>>()
    );
    test.stop().await;
}

/// twilight waits out a shared or per-user 429's `retry_after` (from the bucket headers) before
/// retrying. A global 429 it retries at once: twilight 0.18 keeps under the global limit by
/// counting its own requests (50 per `GLOBAL_LIMIT_PERIOD`) and does not read a global 429's
/// `retry_after`, so no wait is claimed for it.
#[tokio::test]
async fn twilight_honours_shared_and_user_429s_and_retries_a_global_one() {
    let test = TestSim::seeded().await;
    let client = test.twilight(TOKEN);
    for (scope, retry_after, min_wait) in [
        (
            RateLimitScope::Shared,
            1.0,
            Some(Duration::from_millis(900)),
        ),
        (RateLimitScope::User, 0.6, Some(Duration::from_millis(500))),
        (RateLimitScope::Global, 0.3, None),
    ] {
        test.sim.clear_log();
        test.sim.add_fault(rule(
            Some(Route::GetMember),
            FaultAction::RateLimit { scope, retry_after },
            Some(1),
        ));
        let started = Instant::now();
        client
            .guild_member(Id::new(GUILD), Id::new(PLAIN))
            .await
            .expect("retried after the 429")
            .model()
            .await
            .expect("a member");
        if let Some(min_wait) = min_wait {
            assert!(
                started.elapsed() >= min_wait,
                "{scope:?} waited {:?}",
                started.elapsed()
            );
        }
        let log = test.sim.log();
        let statuses: Vec<u16> = log.iter().map(|entry| entry.status).collect();
        assert_eq!(statuses, vec![429, 200], "{scope:?}");
    }
    test.stop().await;
}

#[tokio::test]
#[cfg_attr(
    not(upstream_specs),
    ignore = "upstream specs not found: set ROSTER_UPSTREAM_SPECS or place them at ../shared/upstream-specs"
)]
async fn conformance_with_the_official_spec() {
    let spec = conformance::spec().expect(
        "conformance: the official spec was not found: set ROSTER_UPSTREAM_SPECS or place it at ../shared/upstream-specs",
    );
    for route in Route::ALL {
        let operation = spec.operation(route);
        assert_eq!(operation["operationId"], route.operation_id(), "{route:?}");
        let success = route.success_status().to_string();
        assert!(
            operation["responses"].get(&success).is_some(),
            "{route:?} answers {success}, which the spec does not list"
        );
    }
    // The spec's query parameters are the ones the simulator accepts.
    assert_eq!(
        spec.query_parameters(Route::ListMembers),
        vec!["limit", "after"]
    );
    assert_eq!(spec.query_parameters(Route::GetGuild), vec!["with_counts"]);
    for route in [
        Route::GetMember,
        Route::ListRoles,
        Route::GetCurrentUser,
        Route::GetBan,
    ] {
        assert!(spec.query_parameters(route).is_empty(), "{route:?}");
    }
    // The request bodies the tests send are what the spec asks for.
    spec.check_request(
        Route::ModifyMember,
        &json!({ "nick": "x", "roles": ["1001"] }),
    );
    spec.check_request(Route::ModifyMember, &json!({ "nick": null }));
    spec.check_request(Route::CreateBan, &json!({ "delete_message_seconds": null }));
    spec.check_request(Route::CreateDm, &json!({ "recipient_id": "10" }));
    spec.check_request(
        Route::CreateMessage,
        &json!({ "content": "hi", "embeds": [{ "title": "t", "fields": [{ "name": "a", "value": "b" }] }] }),
    );
    // The validator is strict enough to notice a wrong body.
    assert!(!spec.response_is_valid(Route::GetCurrentUser, &json!({ "id": 900 })));

    // Drive every route (the helper validates each 2xx body), then spoil real bodies one way each.
    let test = TestSim::seeded().await;
    let me = test.get(TOKEN, "/users/@me").await;
    let guild = test.get(TOKEN, "/guilds/1000?with_counts=true").await;
    test.get(TOKEN, "/guilds/1000").await.ok();
    test.get(TOKEN, "/guilds/1000/roles").await.ok();
    let member = test.get(TOKEN, "/guilds/1000/members/11").await;
    test.get(TOKEN, "/guilds/1000/members?limit=1000")
        .await
        .ok();
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/10",
        json!({ "nick": "x", "roles": ["1001", "1002"] }),
    )
    .await
    .ok();
    test.put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    test.delete(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    test.with_reason(Method::PUT, TOKEN, "/guilds/1000/bans/14", "spam")
        .await
        .no_content();
    let ban = test.get(TOKEN, "/guilds/1000/bans/14").await;
    test.delete(TOKEN, "/guilds/1000/bans/14")
        .await
        .no_content();
    let dm = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "10" }),
        )
        .await;
    let channel = dm.ok()["id"].as_str().expect("id").to_owned();
    let message = test
        .json(
            Method::POST,
            TOKEN,
            &format!("/channels/{channel}/messages"),
            json!({ "content": "hi", "nonce": "abc", "tts": false, "embeds": [{ "title": "t", "url": "https://example.com",
                "author": { "name": "Roster", "icon_url": "https://example.com/a.png" }, "footer": { "text": "f" } }] }),
        )
        .await;
    message.ok();
    let dm_again = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "10" }),
        )
        .await;
    assert!(dm_again.ok()["last_message_id"].is_string());

    let spoil = |route: Route, body: &Value, edit: &dyn Fn(&mut Value)| {
        let mut spoiled = body.clone();
        edit(&mut spoiled);
        assert!(
            !spec.response_is_valid(route, &spoiled),
            "{route:?}: {spoiled}"
        );
    };
    spoil(Route::GetCurrentUser, me.ok(), &|b| b["id"] = json!(900));
    spoil(Route::GetGuild, guild.ok(), &|b| {
        b["invented"] = json!(true)
    });
    spoil(Route::GetGuild, &guild.body, &|b| {
        b["roles"][0]["permissions"] = json!(0)
    });
    spoil(Route::GetMember, member.ok(), &|b| {
        b["roles"] = json!([1001])
    });
    spoil(Route::GetMember, &member.body, &|b| {
        b["joined_at"] = json!("yesterday")
    });
    spoil(Route::GetBan, ban.ok(), &|b| {
        if let Some(map) = b.as_object_mut() {
            map.remove("reason");
        }
    });
    spoil(Route::CreateDm, &dm.body, &|b| b["type"] = json!(0));
    spoil(Route::CreateMessage, &message.body, &|b| {
        b["embeds"][0]["url"] = json!(5)
    });
    test.stop().await;
}

/// Validation of bodies against `discord-openapi.json` (OpenAPI 3.1, JSON Schema 2020-12), read once per test binary.
mod conformance {
    use std::sync::OnceLock;

    use jsonschema::Validator;
    use roster_sim::discord::Route;
    use serde_json::{Map, Value};

    pub struct Spec {
        document: Value,
        responses: Vec<(Route, Validator)>,
    }

    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();

    /// The spec, when found (see [`crate::harness::upstream_specs`]); panics if it is unusable.
    pub fn spec() -> Option<&'static Spec> {
        SPEC.get_or_init(|| {
            let folder = crate::harness::upstream_specs()?;
            let file = folder.join("discord-openapi.json");
            let text = std::fs::read_to_string(&file).unwrap_or_else(|err| {
                panic!("the upstream spec {} is unreadable: {err}", file.display())
            });
            let document: Value = serde_json::from_str(&text).expect("the spec is JSON");
            let responses = Route::ALL
                .into_iter()
                .filter(|route| route.success_status() == 200)
                .map(|route| {
                    let schema = &Spec::operation_in(&document, route)["responses"]["200"]["content"]
                        ["application/json"]["schema"];
                    assert!(schema.is_object(), "{route:?} has no 200 JSON schema");
                    (route, compile(&document, schema))
                })
                .collect();
            Some(Spec {
                document,
                responses,
            })
        })
        .as_ref()
    }

    /// Validates a 2xx JSON body of an `/api/v10` request, if the spec is available.
    pub fn check_response(method: &str, path: &str, body: &Value) {
        let Some(spec) = spec() else {
            return;
        };
        let below = path.strip_prefix("/api/v10").expect("an API path");
        let route = Route::ALL
            .into_iter()
            .find(|route| {
                route.method() == method && matches_template(route.path_template(), below)
            })
            .unwrap_or_else(|| panic!("no implemented route matches {method} {path}"));
        let errors = spec.response_errors(route, body);
        assert!(
            errors.is_empty(),
            "{method} {path}: the body does not match the spec's {} schema: {errors:?}\n{body}",
            route.operation_id()
        );
    }

    impl Spec {
        fn operation_in(document: &Value, route: Route) -> &Value {
            let operation =
                &document["paths"][route.path_template()][route.method().to_ascii_lowercase()];
            assert!(operation.is_object(), "{route:?} is not in the spec");
            operation
        }

        pub fn operation(&self, route: Route) -> &Value {
            Self::operation_in(&self.document, route)
        }

        pub fn query_parameters(&self, route: Route) -> Vec<&str> {
            self.operation(route)["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|param| param["in"] == "query")
                        .filter_map(|param| param["name"].as_str())
                        .collect()
                })
                .unwrap_or_default()
        }

        fn response_errors(&self, route: Route, body: &Value) -> Vec<String> {
            let (_, validator) = self
                .responses
                .iter()
                .find(|(r, _)| *r == route)
                .unwrap_or_else(|| panic!("{route:?} has no JSON response to validate"));
            validator
                .iter_errors(body)
                .map(|err| format!("{} at {}", err, err.instance_path))
                .collect()
        }

        pub fn response_is_valid(&self, route: Route, body: &Value) -> bool {
            self.response_errors(route, body).is_empty()
        }

        pub fn check_request(&self, route: Route, body: &Value) {
            let schema =
                &self.operation(route)["requestBody"]["content"]["application/json"]["schema"];
            let validator = compile(&self.document, schema);
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|err| err.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{route:?} request body {body} does not match the spec: {errors:?}"
            );
        }
    }

    /// `/guilds/{guild_id}/members/{user_id}` against a concrete path.
    fn matches_template(template: &str, path: &str) -> bool {
        let template: Vec<&str> = template.split('/').collect();
        let path: Vec<&str> = path.split('/').collect();
        template.len() == path.len()
            && template
                .iter()
                .zip(&path)
                .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
    }

    /// A self-contained validator: `#/components/schemas/X` refs become `#/$defs/X` (only the schemas reachable from
    /// `schema` are copied), and objects that list properties forbid any other (so the simulator cannot invent
    /// fields).
    fn compile(document: &Value, schema: &Value) -> Validator {
        let components = document["components"]["schemas"]
            .as_object()
            .expect("components.schemas");
        let mut pending = Vec::new();
        let root = translate(schema, &mut pending);
        let mut defs = Map::new();
        while let Some(name) = pending.pop() {
            if defs.contains_key(&name) {
                continue;
            }
            let target = components
                .get(&name)
                .unwrap_or_else(|| panic!("unknown schema {name}"));
            defs.insert(name.clone(), Value::Null);
            let translated = translate(target, &mut pending);
            defs.insert(name, translated);
        }
        let mut root = match root {
            Value::Object(map) => map,
            other => panic!("a schema must be an object, got {other}"),
        };
        root.insert("$defs".into(), Value::Object(defs));
        let root = Value::Object(root);
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|err| panic!("the translated schema does not compile: {err}"))
    }

    fn translate(schema: &Value, pending: &mut Vec<String>) -> Value {
        let Value::Object(map) = schema else {
            return schema.clone();
        };
        let mut out = Map::new();
        for (key, value) in map {
            let value = match key.as_str() {
                "$ref" => {
                    let name = value
                        .as_str()
                        .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
                        .unwrap_or_else(|| panic!("unsupported $ref {value}"));
                    pending.push(name.to_owned());
                    Value::String(format!("#/$defs/{name}"))
                }
                "properties" | "patternProperties" => Value::Object(
                    value
                        .as_object()
                        .expect("an object of schemas")
                        .iter()
                        .map(|(name, property)| (name.clone(), translate(property, pending)))
                        .collect(),
                ),
                "items" | "additionalProperties" | "not" | "contains" => translate(value, pending),
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => Value::Array(
                    value
                        .as_array()
                        .expect("a list of schemas")
                        .iter()
                        .map(|item| translate(item, pending))
                        .collect(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        if out.contains_key("properties") && !out.contains_key("additionalProperties") {
            out.insert("additionalProperties".into(), Value::Bool(false));
        }
        Value::Object(out)
    }
}

#[test]
fn default_route_limits_cover_every_route() {
    let config = DiscordSimConfig::default();
    assert_eq!(config.route_limits.len(), Route::ALL.len());
    let role = config.route_limit(Route::AddMemberRole);
    assert_eq!(role, config.route_limit(Route::RemoveMemberRole));
    assert_eq!(
        (role.limit, role.window, role.kind),
        (10, Duration::from_secs(10), WindowKind::Fixed)
    );
    let buckets: HashMap<&str, usize> =
        config
            .route_limits
            .values()
            .fold(HashMap::new(), |mut counts, limit| {
                *counts.entry(limit.bucket.as_str()).or_default() += 1;
                counts
            });
    assert_eq!(buckets.len(), 12, "only the two role routes share a bucket");
    assert!(config.route_limits.values().all(
        |limit| limit.bucket.len() == 32 && limit.bucket.bytes().all(|b| b.is_ascii_hexdigit())
    ));
}
