//! Behaviour of the Discord REST simulator over real HTTP, driven with reqwest and with a real twilight-http client.
//!
//! Every test starts its own simulator on 127.0.0.1:0 and stops it at the end. Every 2xx JSON body a test receives
//! from `/api/v10` is validated against the official OpenAPI schema when the official spec is found (`ROSTER_UPSTREAM_SPECS`,
//! else `../shared/upstream-specs`): the folder holding `discord-openapi.json` (see the `conformance` module).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::discord::{
    DiscordSim, DiscordSimConfig, FaultAction, FaultRule, GuildSeed, MEMBER_ROLE_BUCKET,
    MemberSeed, RateLimitScope, RoleSeed, Route, RouteLimit, WindowKind,
};
use serde_json::{Value, json};
use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;

mod audit_log;
mod bans;
mod conformance;
mod control;
mod faults;
mod guilds;
mod member_roles;
mod members;
mod messages;
mod rate_limits;
mod requests;
mod roles;
mod twilight;

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
        icon: None,
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
        icon: None,
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
        icon: None,
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
        icon: None,
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
    served: crate::Served,
}

impl std::ops::Deref for TestSim {
    type Target = crate::Served;

    fn deref(&self) -> &crate::Served {
        &self.served
    }
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
        let served = crate::Served::start(|addr, stop| sim.serve(addr, stop)).await;
        Self { sim, served }
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
        self.served.stop().await;
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

/// A fault rule for `route` (any route when `None`).
fn rule(route: Option<Route>, action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        route,
        method: None,
        path_contains: None,
        action,
        times,
    }
}
