//! The Discord side through the real stack: account links and lookups, bindings, sync of one
//! member and of a whole guild, manual roles, the guild's roles, Discord bans, and the role
//! bridge — against the Discord simulator (strict: hierarchy, rate limits, audit reasons) and
//! the Roblox simulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::discord::{
    DiscordSim, DiscordSimConfig, FaultAction, FaultRule, GuildSeed, LogEntry, MemberSeed,
    RateLimitScope, RoleSeed, Route,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::harness::{Answer, Backend, GROUP, GUILD, TestApp, TestOpts, Tweak, eventually};

pub const BOT_TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.roster.test-bot-token";
pub const BOT_USER: u64 = 800_000_000_000_000_001;
pub const OWNER: u64 = 800_000_000_000_000_002;
/// A second guild the same bot manages.
pub const GUILD_B: u64 = 900_000_000_000_000_002;

pub const BOT_ROLE: u64 = 5001;
pub const VERIFIED: u64 = 5002;
pub const MEMBER: u64 = 5003;
pub const CORPORAL: u64 = 5004;
pub const OFFICER: u64 = 5005;
pub const BOOSTER: u64 = 5010;
pub const UNVERIFIED: u64 = 5011;
pub const ADMIN_ROLE: u64 = 5009;

const MANAGE_ROLES: u64 = 1 << 28;
const MANAGE_NICKNAMES: u64 = 1 << 27;
const BAN_MEMBERS: u64 = 1 << 2;

/// Discord user linked to Roblox user `roblox` (101..=105 are in the demo group).
pub fn discord_of(roblox: u64) -> u64 {
    810_000_000_000_000_000 + roblox
}

/// A member of the guild without a link.
pub const UNLINKED: u64 = 810_000_000_000_000_199;
/// A member whose DMs are closed.
pub const CLOSED_DMS: u64 = 810_000_000_000_000_198;

fn role(id: u64, name: &str, position: u16, permissions: u64, managed: bool) -> RoleSeed {
    RoleSeed {
        id,
        name: name.into(),
        position,
        permissions,
        color: 0x3498db,
        managed,
    }
}

fn member(user: u64, name: &str, roles: &[u64]) -> MemberSeed {
    MemberSeed {
        user_id: user,
        username: name.into(),
        global_name: None,
        nick: None,
        roles: roles.to_vec(),
        dms_open: true,
        bot: false,
    }
}

/// The test guild: the bot's role sits at position 10, the Admin role above it.
pub fn guild_seed(id: u64, members: Vec<MemberSeed>) -> GuildSeed {
    let offset = if id == GUILD { 0 } else { 100 };
    let mut all = vec![
        MemberSeed {
            bot: true,
            ..member(BOT_USER, "roster-bot", &[BOT_ROLE + offset])
        },
        member(OWNER, "owner", &[ADMIN_ROLE + offset]),
    ];
    all.extend(members);
    GuildSeed {
        id,
        name: format!("Guild {id}"),
        owner_id: OWNER,
        roles: vec![
            role(id, "@everyone", 0, 0, false),
            role(UNVERIFIED + offset, "Unverified", 1, 0, false),
            role(VERIFIED + offset, "Verified", 2, 0, false),
            role(MEMBER + offset, "Member", 3, 0, false),
            role(CORPORAL + offset, "Corporal", 4, 0, false),
            role(OFFICER + offset, "Officer", 5, 0, false),
            role(BOOSTER + offset, "Booster", 6, 0, true),
            role(
                BOT_ROLE + offset,
                "Roster",
                10,
                MANAGE_ROLES | MANAGE_NICKNAMES | BAN_MEMBERS,
                true,
            ),
            role(ADMIN_ROLE + offset, "Admin", 20, 1 << 3, false),
        ],
        members: all,
    }
}

/// The members of the main test guild: the demo group's users 101..=105 (linked), one
/// unlinked member, one with closed DMs.
pub fn main_members() -> Vec<MemberSeed> {
    let mut v: Vec<MemberSeed> = (101..=105)
        .map(|r| member(discord_of(r), &format!("discord{r}"), &[]))
        .collect();
    v.push(member(UNLINKED, "stranger", &[]));
    v.push(MemberSeed {
        dms_open: false,
        ..member(CLOSED_DMS, "quiet", &[])
    });
    v
}

/// A running Discord simulator.
pub struct DSim {
    pub sim: DiscordSim,
    pub addr: std::net::SocketAddr,
    stop: CancellationToken,
}

impl Drop for DSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl DSim {
    pub async fn start(config: DiscordSimConfig) -> Self {
        let sim = DiscordSim::new(config);
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse().expect("addr"), async move {
                s.cancelled().await
            })
            .await
            .expect("start Discord simulator");
        sim.add_bot(BOT_TOKEN, BOT_USER, "roster-bot", true);
        sim.seed_guild(guild_seed(GUILD, main_members()))
            .expect("seed guild");
        Self { sim, addr, stop }
    }

    /// Requests that changed something (PATCH, PUT, DELETE, POST) and reached a route.
    pub fn writes(&self) -> Vec<LogEntry> {
        self.sim
            .log()
            .into_iter()
            .filter(|e| e.method != "GET")
            .collect()
    }

    pub fn roles_of(&self, guild: u64, user: u64) -> Vec<u64> {
        let mut r = self
            .sim
            .member(guild, user)
            .map(|m| m.roles)
            .unwrap_or_default();
        r.sort_unstable();
        r
    }
}

/// An app wired to a Discord simulator, the guild configured for sync.
pub struct DApp {
    pub app: TestApp,
    pub dsim: DSim,
}

pub async fn start(backend: Backend) -> DApp {
    start_with(backend, DiscordSimConfig::default(), None).await
}

pub async fn start_with(
    backend: Backend,
    sim_config: DiscordSimConfig,
    extra: Option<Tweak>,
) -> DApp {
    let dsim = DSim::start(sim_config).await;
    let addr = dsim.addr;
    let tweak: Tweak = Arc::new(move |c: &mut roster_core::config::Config| {
        c.discord.proxy = Some(addr.to_string());
        c.discord.use_http = true;
        c.discord.bot_token = Some(roster_core::secrets::Secret::new(BOT_TOKEN));
        c.discord.max_rate_limit_wait = Duration::from_secs(3);
        if let Some(e) = &extra {
            e(c);
        }
    });
    let app = TestApp::start_with(
        backend,
        TestOpts {
            tweak: Some(tweak),
            ..TestOpts::default()
        },
    )
    .await;
    let a = app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({
                "mainGroup": GROUP,
                "verifiedRole": VERIFIED.to_string(),
                "unverifiedRole": UNVERIFIED.to_string(),
                "nicknameTemplate": "[{rank-name}] {roblox-username}",
            })),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    DApp { app, dsim }
}

impl DApp {
    /// Links Discord users to the demo group's members 101..=105.
    pub async fn link_demo_members(&self) {
        let links: Vec<Value> = (101..=105u64)
            .map(|r| {
                json!({"discordId": discord_of(r).to_string(), "robloxId": r, "robloxUsername": format!("Builder{r}")})
            })
            .collect();
        let a = self
            .app
            .admin(
                Method::POST,
                &format!("/guilds/{GUILD}/links"),
                Some(json!({ "links": links })),
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
    }

    /// The standard bindings: every member → Member; rank 20 → Corporal; ranks 30–100 →
    /// Officer.
    pub async fn bind_demo(&self) {
        for b in [
            json!({"type": "group_member", "group_id": GROUP, "role_id": MEMBER.to_string()}),
            json!({"type": "group_rank", "group_id": GROUP, "rank": 20, "role_id": CORPORAL.to_string()}),
            json!({"type": "group_rank_range", "group_id": GROUP, "min_rank": 30, "max_rank": 100, "role_id": OFFICER.to_string()}),
        ] {
            let mut b = b;
            b["guild_id"] = GUILD.to_string().into();
            let a = self.app.guild(Method::POST, "/bindings/add", Some(b)).await;
            assert_eq!(a.status, 200, "{:?}", a.body);
        }
    }

    pub async fn sync(&self, user: u64) -> Answer {
        self.app
            .guild(
                Method::POST,
                "/interactions/sync",
                Some(json!({"guild_id": GUILD.to_string(), "user_id": user.to_string()})),
            )
            .await
    }
}

async fn sync_one_member_sends_one_patch_then_nothing(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let user = discord_of(103); // rank 20 (Corporal)
    let a = d.sync(user).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["status"], "success");
    let data = &a.body["data"];
    let mut added: Vec<String> = serde_json::from_value(data["added_roles"].clone()).expect("list");
    added.sort();
    assert_eq!(
        added,
        vec![
            VERIFIED.to_string(),
            MEMBER.to_string(),
            CORPORAL.to_string()
        ]
    );
    assert_eq!(data["removed_roles"], json!([]));
    assert_eq!(data["nickname_updated"], true);
    assert_eq!(
        d.dsim.roles_of(GUILD, user),
        vec![VERIFIED, MEMBER, CORPORAL]
    );
    let m = d.dsim.sim.member(GUILD, user).expect("member");
    assert_eq!(m.nick.as_deref(), Some("[Corporal] Builder103"));
    // Exactly one write: one PATCH with the full role list and the nickname, with a reason.
    let writes = d.dsim.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].route, Some(Route::ModifyMember));
    assert_eq!(writes[0].status, 200);
    assert!(
        writes[0]
            .audit_log_reason
            .as_deref()
            .is_some_and(|r| r.contains("Roster")),
        "{:?}",
        writes[0].audit_log_reason
    );
    // A second sync of the unchanged member sends nothing.
    d.dsim.sim.clear_log();
    let a = d.sync(user).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["added_roles"], json!([]));
    assert_eq!(a.body["data"]["removed_roles"], json!([]));
    assert_eq!(a.body["data"]["nickname_updated"], false);
    assert!(d.dsim.writes().is_empty(), "{:?}", d.dsim.writes());
    // Promoted in Roblox (20 → 30): Corporal goes, Officer comes, in one PATCH.
    d.app
        .sim
        .sim
        .set_member_roles(GROUP, 103, &[GROUP * 1000 + 30])
        .expect("set rank");
    let a = d.sync(user).await;
    assert_eq!(a.body["data"]["added_roles"], json!([OFFICER.to_string()]));
    assert_eq!(
        a.body["data"]["removed_roles"],
        json!([CORPORAL.to_string()])
    );
    assert_eq!(d.dsim.writes().len(), 1);
    d.app.finish().await;
}

async fn hierarchy_owner_and_unlinked_members(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    // A binding to a role above the bot's, and one to a managed role.
    for role in [ADMIN_ROLE, BOOSTER] {
        let a = d
            .app
            .guild(
                Method::POST,
                "/bindings/add",
                Some(json!({"guild_id": GUILD.to_string(), "type": "group_member", "group_id": GROUP, "role_id": role})),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = d.sync(discord_of(101)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let data = &a.body["data"];
    assert_eq!(data["added_roles"], json!([VERIFIED.to_string()]));
    let reasons: Vec<(String, String)> = data["not_applied"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["role_id"].as_str().unwrap_or_default().to_owned(),
                s["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&(ADMIN_ROLE.to_string(), "hierarchy".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(BOOSTER.to_string(), "managed_role".into())),
        "{reasons:?}"
    );
    // Nothing was attempted that Discord would refuse.
    assert!(
        d.dsim.sim.log().iter().all(|e| e.status != 403),
        "{:?}",
        d.dsim.sim.log()
    );
    // The owner: linked, but Discord never lets a bot rename the owner.
    let link =
        json!({"discordId": OWNER.to_string(), "robloxId": 104, "robloxUsername": "Owner104"});
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/links"), Some(link))
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let a = d.sync(OWNER).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(
        a.body["data"]["not_applied"]
            .as_array()
            .expect("list")
            .iter()
            .any(|s| s["action"] == "nickname" && s["reason"] == "server_owner"),
        "{:?}",
        a.body
    );
    assert_eq!(a.body["data"]["nickname_updated"], false);
    // An unlinked member gets the unverified role and nothing else.
    let a = d.sync(UNLINKED).await;
    assert_eq!(
        a.body["data"]["added_roles"],
        json!([UNVERIFIED.to_string()])
    );
    assert_eq!(a.body["data"]["verified"], false);
    // Someone who is not in the guild.
    let a = d.sync(810_000_000_000_009_999).await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(a.code(), "NOT_IN_GUILD");
    assert!(d.dsim.sim.log().iter().all(|e| e.status != 403));
    d.app.finish_allowing_dead(0).await;
}

both_backends!(
    sync_one_member_sends_one_patch_then_nothing,
    hierarchy_owner_and_unlinked_members
);

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

async fn bindings_crud_test_and_validate(backend: Backend) {
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    let a = d
        .app
        .request(
            Method::GET,
            "/bindings/list",
            &[
                ("x-api-key", &d.app.guild_key),
                ("x-guild-id", &GUILD.to_string()),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let list = a.body["data"]["bindings"].as_array().expect("list").clone();
    assert_eq!(list.len(), 3);
    let rank_binding = list
        .iter()
        .find(|b| b["type"] == "group_rank")
        .expect("group_rank binding");
    assert_eq!(rank_binding["group_id"], GROUP);
    assert_eq!(rank_binding["rank"], 20);
    assert_eq!(rank_binding["role_id"], CORPORAL.to_string());
    let id = rank_binding["id"].as_u64().expect("numeric id");

    // Bad specs are refused with the field named.
    for (body, needle) in [
        (
            json!({"type": "group_rank", "group_id": GROUP, "rank": 0, "role_id": "1"}),
            "rank",
        ),
        (
            json!({"type": "nope", "group_id": GROUP, "role_id": "1"}),
            "type",
        ),
        (
            json!({"type": "group_member", "group_id": GROUP}),
            "role_id",
        ),
        (
            json!({"type": "group_rank_range", "group_id": GROUP, "min_rank": 50, "max_rank": 10, "role_id": "1"}),
            "min_rank",
        ),
    ] {
        let mut body = body;
        body["guild_id"] = GUILD.to_string().into();
        let a = d.app.guild(Method::POST, "/bindings/add", Some(body)).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{:?}",
            a.body
        );
    }
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/validate",
            Some(json!({"type": "group_rank", "group_id": GROUP, "rank": 200, "role_id": "987654321098765432"})),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "data": {"valid": true}})
    );
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/validate",
            Some(json!({"type": "group_rank", "group_id": GROUP, "rank": 300, "role_id": "1"})),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["valid"], false);

    // Dry runs against users: 103 is rank 20.
    let test = |discord: u64, rank: u64| json!({"guild_id": GUILD.to_string(), "discord_id": discord.to_string(), "type": "group_rank", "group_id": GROUP, "rank": rank});
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/test",
            Some(test(discord_of(103), 20)),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["matches"], true);
    assert_eq!(a.body["data"]["current_rank"], 20);
    let a = d
        .app
        .guild(
            Method::POST,
            "/bindings/test",
            Some(test(discord_of(105), 20)),
        )
        .await;
    assert_eq!(a.body["data"]["matches"], false);
    assert_eq!(a.body["data"]["current_rank"], 100);
    let a = d
        .app
        .guild(Method::POST, "/bindings/test", Some(test(UNLINKED, 20)))
        .await;
    assert_eq!(a.body["data"]["verified"], false);

    // Update (rank 20 → 10) changes who gets Corporal.
    let a = d
        .app
        .guild(
            Method::PATCH,
            "/bindings/update",
            Some(json!({"binding_id": id, "rank": 10})),
        )
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "message": "Binding updated"})
    );
    let a = d.sync(discord_of(102)).await;
    assert!(
        a.body["data"]["added_roles"]
            .as_array()
            .expect("list")
            .contains(&json!(CORPORAL.to_string())),
        "{:?}",
        a.body
    );
    let a = d
        .app
        .guild(
            Method::PATCH,
            "/bindings/update",
            Some(json!({"binding_id": 424242, "rank": 10})),
        )
        .await;
    assert_eq!(a.status, 404);
    let a = d
        .app
        .guild(Method::DELETE, &format!("/bindings/remove/{id}"), None)
        .await;
    assert_eq!(
        a.body,
        json!({"status": "success", "code": 200, "message": "Binding removed"})
    );
    let a = d
        .app
        .guild(Method::DELETE, &format!("/bindings/remove/{id}"), None)
        .await;
    assert_eq!(a.status, 404);
    // With the binding gone, Corporal is no longer Roster's to manage: sync leaves it alone.
    let a = d.sync(discord_of(102)).await;
    assert_eq!(a.body["data"]["removed_roles"], json!([]));
    assert!(d.dsim.roles_of(GUILD, discord_of(102)).contains(&CORPORAL));
    // The audit log tells the story.
    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/audit-logs"), None)
        .await;
    let actions: Vec<String> = a.body["data"]["entries"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    for expected in [
        "binding.create",
        "binding.update",
        "binding.remove",
        "discord.sync",
        "links.import",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    d.app.finish().await;
}

both_backends!(links_and_lookups, bindings_crud_test_and_validate);

/// A Discord simulator whose member PATCH bucket allows 50 a second (the default is 10 per 10
/// seconds, which would make a guild-wide test take minutes).
fn fast_patches() -> DiscordSimConfig {
    let mut c = DiscordSimConfig::default();
    c.route_limits.insert(
        Route::ModifyMember,
        roster_sim::discord::RouteLimit {
            limit: 50,
            window: Duration::from_secs(1),
            kind: roster_sim::discord::WindowKind::Sliding,
            bucket: "fast-modify-member".into(),
        },
    );
    c
}

/// Adds `n` linked members (Roblox users 2000.. in the demo group: rank 1, every tenth rank 20).
async fn add_linked_members(d: &DApp, n: u64) {
    let mut links = Vec::new();
    for i in 0..n {
        let roblox = 2000 + i;
        let discord = 820_000_000_000_000_000 + i;
        let rank_role = if i % 10 == 0 {
            GROUP * 1000 + 20
        } else {
            GROUP * 1000 + 1
        };
        d.app
            .sim
            .sim
            .set_member_roles(GROUP, roblox, &[rank_role])
            .expect("roblox member");
        d.dsim
            .sim
            .add_member(GUILD, member(discord, &format!("m{i}"), &[]))
            .expect("discord member");
        links.push(json!({"discordId": discord.to_string(), "robloxId": roblox, "robloxUsername": format!("Player{roblox}")}));
    }
    let a = d
        .app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/links"),
            Some(json!({ "links": links })),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
}

async fn progress(d: &DApp) -> Value {
    let a = d
        .app
        .request(
            Method::GET,
            &format!("/interactions/sync/all/progress?guild_id={GUILD}"),
            &[("x-api-key", &d.app.guild_key)],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["data"].clone()
}

async fn wait_run(d: &DApp, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = progress(d).await;
        if p["status"] == status {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "run did not reach {status}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sync_all_progress_limit_and_a_quiet_second_run(backend: Backend) {
    let d = start_with(backend, fast_patches(), None).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    add_linked_members(&d, 120).await;
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["queued"], true);
    assert_eq!(a.body["data"]["members"], 125, "linked members");
    // A second one while it runs (or within the hour) starts nothing.
    let again = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert!(matches!(again.status, 409 | 429), "{:?}", again.body);
    let p = wait_run(&d, "completed").await;
    // 125 linked + unlinked + closed-DMs + owner; the bot is skipped.
    assert_eq!(p["total"], 128, "{p:?}");
    assert_eq!(p["done"], 128, "{p:?}");
    assert_eq!(p["failed"], 0, "{p:?}");
    assert_eq!(p["changed"], 128, "everyone needed a role: {p:?}");
    assert_eq!(p["eta_seconds"], Value::Null);
    let patches: Vec<LogEntry> = d
        .dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ModifyMember))
        .collect();
    let detail: Vec<String> = patches
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {:?} {:.0}ms",
                e.at, e.path, e.status, e.scope, e.duration_ms
            )
        })
        .collect();
    assert_eq!(
        patches.len(),
        128,
        "one PATCH per member that changed: {detail:#?}"
    );
    assert!(
        d.dsim.sim.log().iter().all(|e| e.status != 429),
        "no 429s: the gate kept to the buckets"
    );
    let lists = d
        .dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ListMembers))
        .count();
    assert_eq!(lists, 1, "one page of up to 1000 members");
    // Roblox ranks were read 50 users at a time: 125 linked → 3 reads.
    let reads = d
        .app
        .sim
        .calls(roster_sim::roblox::Endpoint::ListMemberships)
        .len();
    assert_eq!(reads, 3, "membership reads");
    assert_eq!(
        d.dsim.roles_of(GUILD, 820_000_000_000_000_010),
        vec![VERIFIED, MEMBER, CORPORAL]
    );
    assert_eq!(
        d.dsim.roles_of(GUILD, 820_000_000_000_000_011),
        vec![VERIFIED, MEMBER]
    );
    assert_eq!(d.dsim.roles_of(GUILD, UNLINKED), vec![UNVERIFIED]);

    // Within the hour: 429 with Retry-After.
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    assert_eq!(a.code(), "RATE_LIMITED");
    let retry: u64 = a.headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("secs");
    assert!(retry > 3500 && retry <= 3600, "{retry}");
    // An operator may run it again at once; nothing changed, so nothing is written.
    d.dsim.sim.clear_log();
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let p = wait_run(&d, "completed").await;
    assert_eq!(p["done"], 128);
    assert_eq!(p["changed"], 0);
    assert!(d.dsim.writes().is_empty(), "{:?}", d.dsim.writes());
    d.app.finish().await;
}

async fn sync_all_cancel_stops_writes(backend: Backend) {
    // Default limits: 10 PATCHes per 10 s per guild, so the run is slow enough to cancel.
    let d = start(backend).await;
    d.link_demo_members().await;
    d.bind_demo().await;
    add_linked_members(&d, 60).await;
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("some members synced", Duration::from_secs(30), || {
        d.dsim
            .sim
            .log()
            .iter()
            .filter(|e| e.route == Some(Route::ModifyMember))
            .count()
            >= 3
    })
    .await;
    let again = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.code(), "SYNC_IN_PROGRESS");
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all/cancel",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["status"], "cancelled");
    // Batches already running finish (they stop at the rate limit); nothing new starts.
    let mut last = usize::MAX;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (open, _) = d.app.unfinished_jobs();
        let n = d.dsim.writes().len();
        if open.is_empty() && n == last {
            break;
        }
        last = n;
        assert!(Instant::now() < deadline, "jobs kept running after cancel");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let p = progress(&d).await;
    assert_eq!(p["status"], "cancelled");
    let total = p["total"].as_u64().expect("total");
    let done = p["done"].as_u64().expect("done");
    assert!(done < total, "cancelled before the end: {p:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        d.dsim.writes().len(),
        last,
        "no writes after the cancel settled"
    );
    let a = d
        .app
        .guild(
            Method::POST,
            "/interactions/sync/all/cancel",
            Some(json!({"guild_id": GUILD.to_string()})),
        )
        .await;
    assert_eq!(a.status, 409);
    assert_eq!(a.code(), "NO_SYNC_RUNNING");
    d.app.finish().await;
}

both_backends!(
    sync_all_progress_limit_and_a_quiet_second_run,
    sync_all_cancel_stops_writes
);

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

async fn one_guilds_429_storm_does_not_slow_another(backend: Backend) {
    let d = start(backend).await;
    // A second guild, same bot.
    let b_member = 830_000_000_000_000_001;
    d.dsim
        .sim
        .seed_guild(guild_seed(GUILD_B, vec![member(b_member, "bee", &[])]))
        .expect("seed B");
    let gb = roster_core::ids::GuildId::new(GUILD_B).expect("id");
    roster_core::guilds::create(
        d.app.ctx(),
        gb,
        "B".into(),
        roster_core::guilds::GuildPatch {
            unverified_role: Some(Some(UNVERIFIED + 100)),
            ..Default::default()
        },
    )
    .await
    .expect("guild B");
    let (_, key_b) =
        roster_core::apikeys::issue(d.app.ctx(), roster_core::apikeys::KeyScope::Guild(gb), "b")
            .await
            .expect("key");
    // Guild A's member PATCHes all come back 429 (the bot's own limit) until cleared.
    d.dsim.sim.add_fault(FaultRule {
        route: Some(Route::ModifyMember),
        method: None,
        path_contains: Some(format!("/guilds/{GUILD}/")),
        action: FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 2.0,
        },
        times: None,
    });
    let base = d.app.base.clone();
    let key_a = d.app.guild_key.clone();
    let http = d.app.http.clone();
    let a_task = tokio::spawn(async move {
        http.post(format!("{base}/interactions/sync"))
            .header("x-api-key", key_a)
            .body(
                json!({"guild_id": GUILD.to_string(), "user_id": UNLINKED.to_string()}).to_string(),
            )
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    eventually("guild A hits its 429s", Duration::from_secs(10), || {
        d.dsim.sim.log().iter().any(|e| e.status == 429)
    })
    .await;
    // Guild A's attempts: each 429 holds A back for its 2 s `retry_after` before the next.
    let a_attempts = |log: &[LogEntry]| {
        log.iter()
            .filter(|e| e.route == Some(Route::ModifyMember) && e.path.contains(&GUILD.to_string()))
            .count()
    };
    let a_before = a_attempts(&d.dsim.sim.log());
    let b = d
        .app
        .request(
            Method::POST,
            "/interactions/sync",
            &[("x-api-key", &key_b)],
            Some(
                &json!({"guild_id": GUILD_B.to_string(), "user_id": b_member.to_string()})
                    .to_string(),
            ),
        )
        .await;
    let log = d.dsim.sim.log();
    assert_eq!(b.status, 200, "{:?}", b.body);
    assert_eq!(
        b.body["data"]["added_roles"],
        json!([(UNVERIFIED + 100).to_string()])
    );
    assert!(!a_task.is_finished(), "guild A is still being rate limited");
    // Guild B's requests all went through without a single 429.
    assert!(
        d.dsim
            .sim
            .log()
            .iter()
            .filter(|e| e.path.contains(&GUILD_B.to_string()))
            .all(|e| e.status < 400),
        "{:?}",
        d.dsim.sim.log()
    );
    // Not slowed: guild B's whole sync fitted between two of guild A's attempts, i.e. inside one
    // of A's rate-limit waits (a B request queued behind A's limit would come after A's retry).
    assert_eq!(
        a_attempts(&log),
        a_before,
        "guild A made no new attempt while guild B synced: {log:?}"
    );
    let first_b = log
        .iter()
        .position(|e| e.path.contains(&GUILD_B.to_string()))
        .expect("guild B reached Discord");
    assert!(
        log[..first_b].iter().any(|e| e.status == 429),
        "guild B ran after guild A was already rate limited"
    );
    d.dsim.sim.clear_faults();
    let a_status = a_task.await.expect("task").expect("request");
    assert!(matches!(a_status, 200 | 202), "{a_status}");
    eventually("guild A's member synced", Duration::from_secs(30), || {
        d.dsim.roles_of(GUILD, UNLINKED) == vec![UNVERIFIED]
    })
    .await;
    d.app.finish().await;
}

async fn discord_not_configured(backend: Backend) {
    let tweak: Tweak = Arc::new(|c: &mut roster_core::config::Config| c.discord.bot_token = None);
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let a = d.sync(UNLINKED).await;
    assert_eq!(a.status, 409, "{:?}", a.body);
    assert_eq!(a.code(), "DISCORD_NOT_CONFIGURED");
    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/roles"), None)
        .await;
    assert_eq!(a.status, 409);
    // The guild's own token (sealed at rest, never shown) makes it work.
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"botToken": BOT_TOKEN})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["discord"]["botToken"]["configured"], true);
    assert!(!a.body.to_string().contains(BOT_TOKEN));
    let a = d.sync(UNLINKED).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    for tree in [
        roster_core::store::Tree::Guilds,
        roster_core::store::Tree::Jobs,
    ] {
        for (_, v) in d
            .app
            .ctx()
            .store
            .scan(tree, &[], None, usize::MAX, false)
            .expect("scan")
        {
            assert!(
                !String::from_utf8_lossy(&v).contains("test-bot-token"),
                "the bot token is stored in the clear in {tree:?}"
            );
        }
    }
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"botToken": "short"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // Job failures are not dead jobs; finish() would flag leftovers.
    d.app.finish().await;
}

async fn discord_bans_follow_guild_bans(backend: Backend) {
    let d = start(backend).await;
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"banInDiscord": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": UNLINKED.to_string(), "reason": "Raiding"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the Discord ban", Duration::from_secs(20), || {
        d.dsim.sim.bans(GUILD).iter().any(|b| {
            b.user_id == UNLINKED && b.reason.as_deref().is_some_and(|r| r.contains("Raiding"))
        })
    })
    .await;
    assert!(
        d.dsim.sim.member(GUILD, UNLINKED).is_none(),
        "banned members leave"
    );
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/unban"),
            Some(json!({"identifier": UNLINKED.to_string()})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the Discord unban", Duration::from_secs(20), || {
        d.dsim.sim.bans(GUILD).is_empty()
    })
    .await;
    // A timed ban is lifted in Discord when it expires.
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": CLOSED_DMS.to_string(), "reason": "Spam", "duration_seconds": 1})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    eventually("the timed Discord ban", Duration::from_secs(20), || {
        d.dsim
            .sim
            .bans(GUILD)
            .iter()
            .any(|b| b.user_id == CLOSED_DMS)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    roster_core::moderation::expire(d.app.ctx())
        .await
        .expect("expire");
    eventually(
        "the expired ban lifted in Discord",
        Duration::from_secs(20),
        || d.dsim.sim.bans(GUILD).is_empty(),
    )
    .await;
    // A Roblox id (short) is not a Discord user: no Discord ban. The ban and any job it makes are
    // stored in one durable write before its 200, so the job count right after the answer says
    // whether a Discord ban was queued at all.
    let before = d.dsim.writes().len();
    let jobs = |app: &TestApp| app.ctx().store.len(roster_core::store::Tree::Jobs);
    let jobs_before = jobs(&d.app);
    let a = d
        .app
        .guild(
            Method::POST,
            &format!("/moderation/{GUILD}/roblox/ban"),
            Some(json!({"identifier": "101", "reason": "Exploiting"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["banned"], true, "{:?}", a.body);
    assert_eq!(jobs(&d.app), jobs_before, "no job for a Roblox id's ban");
    let log = d
        .app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=ban.discord_ban"),
            None,
        )
        .await;
    let entries = log.body["data"]["entries"].as_array().expect("entries");
    assert!(
        !entries.is_empty(),
        "the earlier Discord bans are logged: {:?}",
        log.body
    );
    assert!(
        entries.iter().all(|e| e["target_id"] != "101"),
        "{:?}",
        log.body
    );
    // Every job has finished (finish waits for that), and none wrote to Discord.
    d.app.finish().await;
    assert_eq!(d.dsim.writes().len(), before);
}

both_backends!(
    manual_roles_and_guild_roles,
    one_guilds_429_storm_does_not_slow_another,
    discord_not_configured,
    discord_bans_follow_guild_bans
);

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

async fn role_bridge_reports_pending_and_still_applies(backend: Backend) {
    let tweak: Tweak = Arc::new(|c: &mut roster_core::config::Config| {
        c.discord.role_bridge_deadline = Duration::from_millis(300);
    });
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let key = bridge_key(&d).await;
    d.dsim
        .sim
        .update_config(|c| c.latency = Duration::from_millis(400));
    let started = Instant::now();
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(
            r#"{{"guild_id": {GUILD}, "api_key": "{key}", "role_changes": [{{"user_id": {UNLINKED}, "role_id": {OFFICER}, "action": "add"}}]}}"#
        ),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], "success");
    assert_eq!(v["role_changes"][0]["status"], "pending");
    assert_eq!(v["role_changes"][0]["user_id"], UNLINKED.to_string());
    assert!(
        took < Duration::from_secs(2),
        "answered by the deadline: {took:?}"
    );
    eventually(
        "the pending change applied",
        Duration::from_secs(20),
        || d.dsim.roles_of(GUILD, UNLINKED) == vec![OFFICER],
    )
    .await;
    d.app.finish().await;
}

/// Sends one role change for `UNLINKED` through `/applyRoleChanges`; returns the change's word.
async fn bridge_change(d: &DApp, key: &str, role: u64, add: bool) -> String {
    let (status, text, _) = site(
        d,
        "/applyRoleChanges",
        &format!(
            r#"{{"guild_id": {GUILD}, "api_key": "{key}", "role_changes": [{{"user_id": {UNLINKED}, "role_id": {role}, "action": "{}"}}]}}"#,
            if add { "add" } else { "remove" }
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["role_changes"][0]["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

/// Starts an app whose Discord is slower than the role bridge's reply deadline, so changes are
/// answered `pending` and land later. The first role add Discord receives fails with a 500,
/// and the job that sent it retries `retry` later (give or take half): without ordering, later
/// changes of the same member read it in the meantime and the add overtakes them.
async fn slow_bridge(backend: Backend, retry: Duration) -> (DApp, String) {
    let tweak: Tweak = Arc::new(move |c: &mut roster_core::config::Config| {
        c.discord.role_bridge_deadline = Duration::from_millis(150);
        c.queue.retry_base = retry;
        c.queue.retry_max = retry;
    });
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let key = bridge_key(&d).await;
    d.dsim
        .sim
        .update_config(|c| c.latency = Duration::from_millis(100));
    d.dsim.sim.add_fault(FaultRule {
        route: Some(Route::AddMemberRole),
        method: None,
        path_contains: None,
        action: FaultAction::Status {
            status: 500,
            code: None,
        },
        times: Some(1),
    });
    (d, key)
}

async fn all_jobs_final(d: &DApp) {
    eventually("every job final", Duration::from_secs(60), || {
        d.app.unfinished_jobs().0.is_empty()
    })
    .await;
}

/// The site adds a role (answered `pending`), then removes it: the remove is applied after the
/// add, so the member ends without the role (it used to answer `none` and keep it).
async fn role_bridge_add_then_remove_while_pending(backend: Backend) {
    let (d, key) = slow_bridge(backend, Duration::from_secs(1)).await;
    assert_eq!(bridge_change(&d, &key, OFFICER, true).await, "pending");
    let word = bridge_change(&d, &key, OFFICER, false).await;
    assert_ne!(word, "none", "the remove was judged before the add landed");
    all_jobs_final(&d).await;
    assert!(
        !d.dsim.roles_of(GUILD, UNLINKED).contains(&OFFICER),
        "the site's last request removed the role"
    );
    d.app.finish().await;
}

/// Six site workers each send add, remove, add, remove of one role for one member at once: the
/// member's final roles are the accepted requests applied in the order Roster accepted them
/// (each job's turn on the member), so without the role. (Without ordering, the first add, retried
/// seconds later, lands after every remove.)
async fn role_bridge_concurrent_changes_apply_in_acceptance_order(backend: Backend) {
    use roster_core::jobs::discord::RoleChangesJob;
    use roster_core::store::StoreExt;
    let (d, key) = slow_bridge(backend, Duration::from_secs(12)).await;
    let before = d.dsim.roles_of(GUILD, UNLINKED);
    let d = Arc::new(d);
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (d, key) = (d.clone(), key.clone());
        clients.spawn(async move {
            for i in 0..4u64 {
                bridge_change(&d, &key, OFFICER, i % 2 == 0).await;
            }
        });
    }
    while let Some(r) = clients.join_next().await {
        r.expect("client");
    }
    all_jobs_final(&d).await;
    let subject = roster_core::jobs::order::member_subject(GUILD, UNLINKED);
    let mut accepted: Vec<(u64, RoleChangesJob)> = d
        .app
        .ctx()
        .store
        .scan_json::<roster_core::jobs::JobRecord>(
            roster_core::store::Tree::Jobs,
            &[],
            None,
            usize::MAX,
            false,
        )
        .expect("jobs")
        .into_iter()
        .filter(|(_, j)| j.kind == roster_core::jobs::JobKind::DiscordRoleChanges)
        .map(|(_, j)| {
            assert_eq!(j.status, roster_core::jobs::JobStatus::Succeeded, "{j:?}");
            let turn = j.envelope.turns.iter().find(|t| t.subject == subject);
            let seq = turn.expect("a turn on the member").seq;
            (
                seq,
                serde_json::from_value(j.envelope.payload).expect("payload"),
            )
        })
        .collect();
    assert_eq!(accepted.len(), 24);
    accepted.sort_by_key(|(seq, _)| *seq);
    let seqs: Vec<u64> = accepted.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>(), "one turn each, no gaps");
    let mut expected: std::collections::BTreeSet<u64> = before.into_iter().collect();
    for (_, job) in &accepted {
        for c in &job.changes {
            if c.add {
                expected.insert(c.role_id);
            } else {
                expected.remove(&c.role_id);
            }
        }
    }
    assert!(
        !expected.contains(&OFFICER),
        "every site worker's last request removed the role"
    );
    assert_eq!(
        d.dsim.roles_of(GUILD, UNLINKED),
        expected.into_iter().collect::<Vec<_>>()
    );
    let Ok(d) = Arc::try_unwrap(d) else {
        panic!("clients finished")
    };
    d.app.finish().await;
}

both_backends!(
    role_bridge_wire_contract,
    role_bridge_reports_pending_and_still_applies,
    role_bridge_add_then_remove_while_pending,
    role_bridge_concurrent_changes_apply_in_acceptance_order,
);

fn client_for(addr: std::net::SocketAddr) -> roster_upstream::discord::DiscordClient {
    roster_upstream::discord::DiscordClient::new(roster_upstream::discord::DiscordSettings {
        proxy: Some(addr.to_string()),
        use_http: true,
        timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(20),
        max_wait: Duration::from_secs(10),
        global_limit_per_sec: 50,
    })
}

/// The client learns buckets from ordinary responses (Discord sends `X-RateLimit-Scope` only on
/// 429s) and never overruns one, whatever the concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_keeps_to_buckets_it_learned_from_plain_responses() {
    use roster_upstream::discord::DiscordApi;
    let mut config = DiscordSimConfig::default();
    config.route_limits.insert(
        Route::ModifyMember,
        roster_sim::discord::RouteLimit {
            limit: 4,
            window: Duration::from_millis(800),
            kind: roster_sim::discord::WindowKind::Fixed,
            bucket: "patch-bucket".into(),
        },
    );
    let dsim = DSim::start(config).await;
    let client = Arc::new(client_for(dsim.addr));
    let users: Vec<u64> = (101..=105)
        .map(discord_of)
        .chain([UNLINKED, CLOSED_DMS])
        .collect();
    let mut tasks = Vec::new();
    for round in 0..2 {
        for u in &users {
            let (c, u) = (client.clone(), *u);
            tasks.push(tokio::spawn(async move {
                c.modify_member(
                    BOT_TOKEN,
                    GUILD,
                    u,
                    Some(&[if round == 0 { VERIFIED } else { MEMBER }]),
                    None,
                    "bucket test",
                )
                .await
            }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("no call fails");
    }
    let log: Vec<LogEntry> = dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ModifyMember))
        .collect();
    assert_eq!(log.len(), 14);
    assert!(log.iter().all(|e| e.status == 200), "no 429: {log:?}");
    // Against the sim's own counters: no window saw more than its limit (a 429 would show it),
    // and 14 requests at 4 per window took at least three resets.
    let first = log.first().map(|e| e.at.clone()).unwrap_or_default();
    let last = log.last().map(|e| e.at.clone()).unwrap_or_default();
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("time");
    let spread = parse(&last) - parse(&first);
    assert!(
        spread >= chrono::Duration::milliseconds(3 * 800 - 100),
        "{spread:?}"
    );
}

/// A 429 twilight learned nothing from (global scope) ends the call with `RateLimited` after
/// one request, instead of twilight's immediate-retry loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_turns_a_global_429_into_one_rate_limited_error() {
    use roster_upstream::UpstreamError;
    use roster_upstream::discord::DiscordApi;
    let dsim = DSim::start(DiscordSimConfig::default()).await;
    dsim.sim.add_fault(FaultRule {
        route: Some(Route::GetMember),
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::Global,
            retry_after: 1.0,
        },
        times: None,
    });
    let client = client_for(dsim.addr);
    let r = client.member(BOT_TOKEN, GUILD, UNLINKED).await;
    assert!(matches!(r, Err(UpstreamError::RateLimited { .. })), "{r:?}");
    let hits = dsim
        .sim
        .log()
        .iter()
        .filter(|e| e.route == Some(Route::GetMember))
        .count();
    assert_eq!(hits, 1, "one request, no retry storm");
    // Unknown member and a missing role map to typed results.
    dsim.sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        client
            .member(BOT_TOKEN, GUILD, 810_000_000_000_009_999)
            .await
            .expect("ok"),
        None
    );
    match client
        .add_role(BOT_TOKEN, GUILD, UNLINKED, ADMIN_ROLE, "x")
        .await
    {
        Err(UpstreamError::Permanent {
            status: 403, code, ..
        }) => assert_eq!(code, "50013"),
        other => panic!("expected 50013, got {other:?}"),
    }
    match client
        .member("not-a-valid-token-at-all-000", GUILD, UNLINKED)
        .await
    {
        Err(UpstreamError::Permanent { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
}
