//! `roster dev`: the control plane plus the Roblox and Discord simulators, seeded with a demo
//! group (API key, rules), a demo guild (guild key, account links, bindings, a nickname
//! template, a role-bridge key) and its Discord server, so anyone can try Roster without Roblox
//! or Discord credentials.
//!
//! The first line on stdout is one JSON object for scripts ([`DevInfo`]); a human-readable tour
//! follows.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use roster_core::apikeys::{self, KeyScope};
use roster_core::config::Config;
use roster_core::groups::{self, NewGroup, NewRule, Plan};
use roster_core::ids::GroupId;
use roster_core::rules::{Direction, RankMatch, RankTarget};
use roster_core::secrets::Secret;
use roster_sim::discord::{self as dsim, DiscordSim, DiscordSimConfig};
use roster_sim::roblox::{GroupSeed, MemberSeed, RobloxSim, RobloxSimConfig, RoleSeed};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::{self, ControlPlane, Options};

/// The demo group's roles: (role id offset, name, rank, may change ranks and accept join
/// requests).
pub const DEMO_ROLES: [(u64, &str, u8, bool); 8] = [
    (0, "Guest", 0, false),
    (1, "Member", 1, false),
    (10, "Private", 10, false),
    (20, "Corporal", 20, false),
    (30, "Sergeant", 30, false),
    (100, "Lieutenant", 100, false),
    (254, "Ranking Bot", 254, true),
    (255, "Owner", 255, false),
];

/// A demo group for the simulator: the roles above (role ids `group_id * 1000 + offset`), an
/// owner, a bot account holding "Ranking Bot" (the Open Cloud key's owner), and members
/// `first_member..first_member + ranks.len()` at the given ranks.
pub fn demo_seed(
    group_id: u64,
    owner: u64,
    bot: u64,
    first_member: u64,
    ranks: &[u8],
) -> GroupSeed {
    let role_id = |rank: u8| {
        DEMO_ROLES
            .iter()
            .find(|r| r.2 == rank)
            .map(|r| group_id * 1000 + r.0)
            .expect("demo ranks exist")
    };
    let mut members = vec![MemberSeed {
        user_id: bot,
        role_ids: vec![role_id(254)],
    }];
    for (i, rank) in ranks.iter().enumerate() {
        members.push(MemberSeed {
            user_id: first_member + i as u64,
            role_ids: vec![role_id(*rank)],
        });
    }
    GroupSeed {
        id: group_id,
        name: format!("Roster Demo {group_id}"),
        description: "Seeded by roster dev".into(),
        owner_user_id: owner,
        roles: DEMO_ROLES
            .iter()
            .map(|(off, name, rank, change)| RoleSeed {
                id: group_id * 1000 + off,
                name: (*name).into(),
                rank: *rank,
                change_rank: *change,
                // The bot that ranks also handles join requests (the community API).
                accept_requests: *change,
            })
            .collect(),
        members,
    }
}

/// The demo rules: promote anyone ranked 1–29 to the next role; demote 10–100 to the next role
/// down; guard rank 100.
pub fn demo_rules() -> Vec<NewRule> {
    vec![
        NewRule {
            direction: Direction::Promote,
            from: RankMatch::Range { min: 1, max: 29 },
            to: RankTarget::Next,
            enabled: true,
        },
        NewRule {
            direction: Direction::Demote,
            from: RankMatch::Range { min: 10, max: 100 },
            to: RankTarget::Next,
            enabled: true,
        },
    ]
}

/// Registers a group in Roster with an Open Cloud key, the demo rules, and one API key.
/// Returns the API key.
pub async fn register_demo_group(
    ctx: &roster_core::Ctx,
    group_id: u64,
    open_cloud_key: &str,
    plan: Plan,
) -> anyhow::Result<String> {
    let id = GroupId::new(group_id)?;
    groups::create(
        ctx,
        NewGroup {
            id,
            name: format!("Roster Demo {group_id}"),
            plan,
            open_cloud_key: Some(Secret::new(open_cloud_key)),
            guard_rank: Some(100),
        },
    )
    .await?;
    for r in demo_rules() {
        groups::add_rule(ctx, id, r).await?;
    }
    let (_, token) = apikeys::issue(ctx, KeyScope::Group(id), "demo").await?;
    Ok(token)
}

/// One demo member.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevMember {
    /// User id.
    pub roblox_user_id: u64,
    /// Rank.
    pub rank: u8,
    /// Role name.
    pub role: String,
}

/// The first line `roster dev` prints.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevInfo {
    /// Base URL of the Roster API.
    pub api_base: String,
    /// Admin bearer token.
    pub admin_token: String,
    /// Demo group id.
    pub group_id: u64,
    /// Demo API key (scoped to the demo group).
    pub api_key: String,
    /// Demo members.
    pub members: Vec<DevMember>,
    /// Demo guild id (a Discord snowflake, as a string).
    pub guild_id: String,
    /// Demo guild API key (the guild API: moderation, Shield, game servers, audit).
    pub guild_api_key: String,
    /// Base URL of the Roblox simulator (its control API is under `/_sim`).
    pub simulator_base: String,
    /// Base URL of the Discord simulator (`/api/v10`; control API under `/_sim`).
    pub discord_simulator_base: String,
    /// The demo guild's role-bridge key (for `/applyRoleChanges` and friends).
    pub role_bridge_key: String,
    /// Discord user ids of the demo members (linked to `members`, in order), and one unlinked.
    pub discord_members: Vec<String>,
    /// Data directory in use.
    pub data_dir: String,
    /// Queue backend.
    pub queue: String,
}

/// The demo group id.
pub const DEMO_GROUP: u64 = 1_234_567;
/// The demo guild id.
pub const DEMO_GUILD: u64 = 987_654_321_098_765_432;
const DEMO_OWNER: u64 = 1;
const DEMO_BOT: u64 = 2;
const DEMO_FIRST_MEMBER: u64 = 101;
const DEMO_MEMBER_RANKS: [u8; 5] = [1, 10, 20, 30, 100];
const DEMO_OPEN_CLOUD_KEY: &str = "demo-open-cloud-key-not-a-secret";
const DEMO_BOT_TOKEN: &str = "demo-discord-bot-token-not-a-secret";
const DEMO_DISCORD_BOT: u64 = 900_000_000_000_000_001;
const DEMO_DISCORD_OWNER: u64 = 900_000_000_000_000_002;
/// Discord user of demo Roblox member `roblox` (101..=105); 900000000000000199 is unlinked.
fn demo_discord_user(roblox: u64) -> u64 {
    900_000_000_000_000_000 + roblox
}
const DEMO_UNLINKED: u64 = 900_000_000_000_000_199;
/// The demo Discord roles: (id offset from the guild's first role id, name, position).
const DEMO_DISCORD_ROLES: [(u64, &str, u16); 8] = [
    (1, "Unverified", 1),
    (2, "Verified", 2),
    (3, "Member", 3),
    (4, "Private", 4),
    (5, "Corporal", 5),
    (6, "Officer", 6),
    (9, "Roster", 10),
    (10, "Admin", 20),
];
const DEMO_ROLE_BASE: u64 = 987_654_321_098_700_000;

fn demo_role(name: &str) -> u64 {
    DEMO_DISCORD_ROLES
        .iter()
        .find(|r| r.1 == name)
        .map(|r| DEMO_ROLE_BASE + r.0)
        .expect("demo role exists")
}

/// The demo guild on the Discord simulator: the bot (role "Roster", Manage Roles and
/// Nicknames), the owner (Admin, above the bot), the five demo members unverified, and one
/// member without a link.
fn demo_discord_guild() -> dsim::GuildSeed {
    let member = |user: u64, name: &str, roles: Vec<u64>, bot: bool| dsim::MemberSeed {
        user_id: user,
        username: name.into(),
        global_name: None,
        nick: None,
        roles,
        dms_open: true,
        bot,
    };
    let mut members = vec![
        member(
            DEMO_DISCORD_BOT,
            "roster-bot",
            vec![demo_role("Roster")],
            true,
        ),
        member(DEMO_DISCORD_OWNER, "owner", vec![demo_role("Admin")], false),
        member(DEMO_UNLINKED, "newcomer", Vec::new(), false),
    ];
    for r in 0..DEMO_MEMBER_RANKS.len() as u64 {
        let roblox = DEMO_FIRST_MEMBER + r;
        members.push(member(
            demo_discord_user(roblox),
            &format!("member{roblox}"),
            Vec::new(),
            false,
        ));
    }
    let mut roles = vec![dsim::RoleSeed {
        id: DEMO_GUILD,
        name: "@everyone".into(),
        position: 0,
        permissions: 0,
        color: 0,
        managed: false,
    }];
    for (off, name, position) in DEMO_DISCORD_ROLES {
        roles.push(dsim::RoleSeed {
            id: DEMO_ROLE_BASE + off,
            name: name.into(),
            position,
            permissions: match name {
                "Roster" => (1 << 28) | (1 << 27) | (1 << 2),
                "Admin" => 1 << 3,
                _ => 0,
            },
            color: 0x5865f2,
            managed: name == "Roster",
        });
    }
    dsim::GuildSeed {
        id: DEMO_GUILD,
        name: "Roster Demo Guild".into(),
        owner_id: DEMO_DISCORD_OWNER,
        icon: None,
        roles,
        members,
    }
}

/// Links, bindings and settings of the demo guild (idempotent: a kept data dir keeps them).
async fn seed_demo_guild(ctx: &roster_core::Ctx) -> anyhow::Result<String> {
    use roster_core::bindings::{self, BindingRule};
    let guild = roster_core::ids::GuildId::new(DEMO_GUILD)?;
    let patch = roster_core::guilds::GuildPatch {
        linked_groups: Some(vec![GroupId::new(DEMO_GROUP)?]),
        main_group: Some(Some(GroupId::new(DEMO_GROUP)?)),
        verified_role: Some(Some(demo_role("Verified"))),
        unverified_role: Some(Some(demo_role("Unverified"))),
        nickname_template: Some(Some("[{rank-name}] {roblox-username}".into())),
        ban_in_discord: Some(true),
        ..Default::default()
    };
    if roster_core::guilds::get(ctx, guild)?.is_none() {
        roster_core::guilds::create(ctx, guild, "Roster Demo Guild".into(), patch).await?;
    } else {
        roster_core::guilds::update(ctx, guild, patch).await?;
    }
    let now = ctx.clock.now();
    let links: Vec<roster_core::links::AccountLink> = (0..DEMO_MEMBER_RANKS.len() as u64)
        .map(|i| {
            let roblox = DEMO_FIRST_MEMBER + i;
            roster_core::links::AccountLink {
                discord_id: demo_discord_user(roblox),
                roblox_id: roblox,
                roblox_username: format!("DemoBuilder{roblox}"),
                roblox_display_name: None,
                verified_at: now,
            }
        })
        .collect();
    roster_core::links::import(ctx, guild, &links, Some("roster dev".into())).await?;
    if bindings::list(ctx, guild)?.is_empty() {
        let g = DEMO_GROUP;
        for (rule, role) in [
            (BindingRule::GroupMember { group_id: g }, "Member"),
            (
                BindingRule::GroupRankRange {
                    group_id: g,
                    min_rank: 10,
                    max_rank: 19,
                },
                "Private",
            ),
            (
                BindingRule::GroupRank {
                    group_id: g,
                    rank: 20,
                },
                "Corporal",
            ),
            (
                BindingRule::GroupRankRange {
                    group_id: g,
                    min_rank: 30,
                    max_rank: 254,
                },
                "Officer",
            ),
        ] {
            bindings::create(
                ctx,
                guild,
                rule,
                &[demo_role(role)],
                Some("roster dev".into()),
            )
            .await?;
        }
    }
    let (_, key) = roster_core::guilds::issue_role_bridge_key(ctx, guild).await?;
    Ok(key)
}

/// A running `roster dev`.
#[derive(Debug)]
pub struct Dev {
    /// What to print first.
    pub info: DevInfo,
    /// The control plane.
    pub control: ControlPlane,
    /// The Roblox simulator.
    pub sim: RobloxSim,
    /// The Discord simulator.
    pub discord: DiscordSim,
    sim_stop: CancellationToken,
    _tmp: Option<Arc<TempDir>>,
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Dev {
    /// Stops the control plane, then the simulator.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let r = self.control.shutdown().await;
        self.sim_stop.cancel();
        r
    }
}

/// Starts the simulator and the control plane and seeds them. `config.server.data_dir` is used
/// as given when `keep_data` is set, otherwise a fresh temporary directory is used.
pub async fn start(
    mut config: Config,
    sim_listen: SocketAddr,
    discord_sim_listen: SocketAddr,
    keep_data: bool,
) -> anyhow::Result<Dev> {
    let sim = RobloxSim::new(RobloxSimConfig::default());
    let sim_stop = CancellationToken::new();
    let stop = sim_stop.clone();
    let (sim_addr, _) = sim
        .serve(sim_listen, async move { stop.cancelled().await })
        .await
        .with_context(|| format!("cannot start the Roblox simulator on {sim_listen}"))?;
    sim.seed_group(demo_seed(
        DEMO_GROUP,
        DEMO_OWNER,
        DEMO_BOT,
        DEMO_FIRST_MEMBER,
        &DEMO_MEMBER_RANKS,
    ))
    .map_err(|e| anyhow::anyhow!("seeding the simulator: {e}"))?;
    sim.add_api_key(
        DEMO_OPEN_CLOUD_KEY,
        DEMO_BOT,
        &["group:read", "group:write"],
    );
    let simulator_base = format!("http://{sim_addr}");
    config.roblox.base_url = simulator_base.clone();

    let discord = DiscordSim::new(DiscordSimConfig::default());
    let stop = sim_stop.clone();
    let (discord_addr, _) = discord
        .serve(discord_sim_listen, async move { stop.cancelled().await })
        .await
        .with_context(|| format!("cannot start the Discord simulator on {discord_sim_listen}"))?;
    discord.add_bot(DEMO_BOT_TOKEN, DEMO_DISCORD_BOT, "roster-bot", true);
    discord
        .seed_guild(demo_discord_guild())
        .map_err(|e| anyhow::anyhow!("seeding the Discord simulator: {e}"))?;
    config.discord.proxy = Some(discord_addr.to_string());
    config.discord.use_http = true;
    config.discord.bot_token = Some(Secret::new(DEMO_BOT_TOKEN));

    let tmp = if keep_data {
        None
    } else {
        let dir = std::env::temp_dir().join(format!("roster-dev-{}", ulid::Ulid::generate()));
        config.server.data_dir = dir.clone();
        Some(Arc::new(TempDir(dir)))
    };
    let queue = if config.queue.redis_url.is_some() {
        "redis"
    } else {
        "sqlite"
    };
    let control = app::start(config.clone(), Options::default()).await?;
    let admin_token = match &control.generated_admin_token {
        Some(t) => t.clone(),
        None => match &config.security.admin_token {
            Some(t) => t.expose().to_owned(),
            None => std::fs::read_to_string(config.server.data_dir.join("admin.token"))?
                .trim()
                .to_owned(),
        },
    };
    let api_key = match groups::get(&control.ctx, GroupId::new(DEMO_GROUP)?)? {
        // Re-using a kept data dir: the group exists; issue a fresh key (the old one is only
        // stored as a hash).
        Some(_) => {
            let id = GroupId::new(DEMO_GROUP)?;
            for k in apikeys::list(&control.ctx, KeyScope::Group(id))? {
                if k.revoked_at.is_none() {
                    apikeys::revoke(&control.ctx, &k.id).await?;
                }
            }
            apikeys::issue(&control.ctx, KeyScope::Group(id), "demo")
                .await?
                .1
        }
        None => {
            register_demo_group(&control.ctx, DEMO_GROUP, DEMO_OPEN_CLOUD_KEY, Plan::Pro).await?
        }
    };
    let guild = roster_core::ids::GuildId::new(DEMO_GUILD)?;
    let role_bridge_key = seed_demo_guild(&control.ctx).await?;
    let (_, guild_api_key) = apikeys::issue(&control.ctx, KeyScope::Guild(guild), "demo").await?;
    let members = DEMO_MEMBER_RANKS
        .iter()
        .enumerate()
        .map(|(i, rank)| DevMember {
            roblox_user_id: DEMO_FIRST_MEMBER + i as u64,
            rank: *rank,
            role: DEMO_ROLES
                .iter()
                .find(|r| r.2 == *rank)
                .map(|r| r.1.to_owned())
                .unwrap_or_default(),
        })
        .collect();
    let info = DevInfo {
        api_base: format!("http://{}", control.addr),
        admin_token,
        group_id: DEMO_GROUP,
        api_key,
        members,
        guild_id: DEMO_GUILD.to_string(),
        guild_api_key,
        simulator_base,
        discord_simulator_base: format!("http://{discord_addr}"),
        role_bridge_key,
        discord_members: (0..DEMO_MEMBER_RANKS.len() as u64)
            .map(|i| demo_discord_user(DEMO_FIRST_MEMBER + i).to_string())
            .chain([DEMO_UNLINKED.to_string()])
            .collect(),
        data_dir: config.server.data_dir.display().to_string(),
        queue: queue.into(),
    };
    Ok(Dev {
        info,
        control,
        sim,
        discord,
        sim_stop,
        _tmp: tmp,
    })
}

/// The human-readable tour printed after the JSON line.
pub fn tour(info: &DevInfo) -> String {
    let api = &info.api_base;
    let key = &info.api_key;
    let g = info.group_id;
    let first = info
        .members
        .first()
        .map(|m| m.roblox_user_id)
        .unwrap_or(101);
    let mut members = String::new();
    for m in &info.members {
        members.push_str(&format!(
            "    user {:>4}  rank {:>3}  {}\n",
            m.roblox_user_id, m.rank, m.role
        ));
    }
    format!(
        r#"
Roster dev is running ({queue} queue, data in {data}).
  API        {api}
  Simulator  {sim}   (a stand-in for Roblox Open Cloud; control API under /_sim)
  Group      {g}, plan Pro, rules: promote 1-29 -> next role, demote 10-100 -> next role down
  Members:
{members}
Try it:
  # Promote user {first} (Member -> Private)
  curl -s -X POST {api}/v1/groups/{g}/promote -H 'X-Api-Key: {key}' -H 'Content-Type: application/json' -d '{{"robloxUserId": {first}}}'
  # Read their rank
  curl -s {api}/v1/groups/{g}/rank/{first} -H 'X-Api-Key: {key}'
  # Set an exact rank, safely retryable
  curl -s -X POST {api}/v1/groups/{g}/rank -H 'X-Api-Key: {key}' -H 'Idempotency-Key: try-1' -H 'Content-Type: application/json' -d '{{"robloxUserId": {first}, "rankId": 20}}'
  # This month's usage
  curl -s {api}/v1/groups/{g}/usage -H 'X-Api-Key: {key}'
  # Admin: the group, its audit log
  curl -s {api}/admin/v1/groups/{g} -H 'Authorization: Bearer {admin}'
  curl -s {api}/admin/v1/groups/{g}/audit -H 'Authorization: Bearer {admin}'
  # See what Roster sent to "Roblox"
  curl -s {sim}/_sim/log

The guild API (game servers, bots), guild {guild} with its own key:
  # Ban a player from a game server, then check as the next join would
  curl -s -X POST {api}/moderation/{guild}/roblox/ban -H 'X-Api-Key: {gkey}' -H 'Content-Type: application/json' -d '{{"identifier": "{first}", "reason": "Exploiting", "duration_seconds": 3600}}'
  curl -s {api}/moderation/{guild}/ban-status/{first} -H 'X-Api-Key: {gkey}'
  # A game server heartbeats and long-polls its command queue (the ban sent it a kick)
  curl -s -X POST {api}/roblox/servers/heartbeat -H 'X-Api-Key: {gkey}' -H 'Content-Type: application/json' -d '{{"server_id": "demo-server", "place_id": 1818, "universe_id": 121}}'
  curl -s '{api}/roblox/servers/demo-server/commands?wait=5' -H 'X-Api-Key: {gkey}'
  # The guild's audit log: the rank changes of the linked group and the moderation
  curl -s {api}/guilds/{guild}/audit-logs -H 'X-Api-Key: {gkey}'

Discord (the simulated server {guild}: members {dfirst}.. are linked to users {first}..):
  # Who is {dfirst} on Roblox?
  curl -s {api}/lookup/discord/{dfirst} -H 'X-Api-Key: {gkey}'
  # The bindings (group ranks -> Discord roles), then sync one member: one PATCH, roles + nickname
  curl -s {api}/bindings/list -H 'X-Api-Key: {gkey}'
  curl -s -X POST {api}/interactions/sync -H 'X-Api-Key: {gkey}' -H 'Content-Type: application/json' -d '{{"guild_id": "{guild}", "user_id": "{dfirst}"}}'
  # Sync everyone, and watch it
  curl -s -X POST {api}/interactions/sync/all -H 'X-Api-Key: {gkey}' -H 'Content-Type: application/json' -d '{{"guild_id": "{guild}"}}'
  curl -s '{api}/interactions/sync/all/progress?guild_id={guild}' -H 'X-Api-Key: {gkey}'
  # A NamelessMC website's role change (no Content-Type, as websites send it)
  curl -s -X POST {api}/applyRoleChanges -d '{{"guild_id": {guild}, "api_key": "{rbk}", "role_changes": [{{"user_id": {dfirst}, "role_id": {officer}, "action": "add"}}]}}'
  # What Roster sent to "Discord"
  curl -s {dsim}/_sim/log

Press Ctrl-C to stop.
"#,
        queue = info.queue,
        dfirst = info
            .discord_members
            .first()
            .map(String::as_str)
            .unwrap_or_default(),
        rbk = info.role_bridge_key,
        officer = demo_role("Officer"),
        dsim = info.discord_simulator_base,
        guild = info.guild_id,
        gkey = info.guild_api_key,
        data = info.data_dir,
        sim = info.simulator_base,
        admin = info.admin_token,
    )
}
