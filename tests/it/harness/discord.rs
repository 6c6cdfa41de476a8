//! The Discord side of the harness: a Discord simulator seeded with the test guild, and an app
//! wired to it with the guild configured for sync ([`DApp`]).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use roster_sim::discord::{
    DiscordSim, DiscordSimConfig, GuildSeed, LogEntry, MemberSeed, RoleSeed,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::harness::{Answer, Backend, GROUP, GUILD, TestApp, TestOpts, Tweak};

pub const BOT_TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.roster.test-bot-token";
pub const BOT_USER: u64 = 800_000_000_000_000_001;
pub const OWNER: u64 = 800_000_000_000_000_002;
/// The test guild's icon hash.
pub const GUILD_ICON: &str = "0123456789abcdef0123456789abcdef";
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

pub fn role(id: u64, name: &str, position: u16, permissions: u64, managed: bool) -> RoleSeed {
    RoleSeed {
        id,
        name: name.into(),
        position,
        permissions,
        color: 0x3498db,
        managed,
    }
}

pub fn member(user: u64, name: &str, roles: &[u64]) -> MemberSeed {
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
        icon: (id == GUILD).then(|| GUILD_ICON.to_owned()),
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

pub async fn start(backend: Backend) -> DApp {
    start_with(backend, DiscordSimConfig::default(), None).await
}

pub async fn start_with(
    backend: Backend,
    sim_config: DiscordSimConfig,
    extra: Option<Tweak>,
) -> DApp {
    start_clocked(backend, sim_config, extra, None).await
}

/// [`start_with`], on a test clock when given.
pub async fn start_clocked(
    backend: Backend,
    sim_config: DiscordSimConfig,
    extra: Option<Tweak>,
    clock: Option<roster_core::clock::ManualClock>,
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
            clock,
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
