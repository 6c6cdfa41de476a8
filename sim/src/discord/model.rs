//! The simulated world: users, guilds with roles, members and bans, DM channels with their messages; plus the seeds
//! that build it and the snapshots tests read back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SimError;

/// Permission bits (the permissions doc).
pub(crate) mod perm {
    pub(crate) const BAN_MEMBERS: u64 = 1 << 2;
    pub(crate) const ADMINISTRATOR: u64 = 1 << 3;
    pub(crate) const MANAGE_NICKNAMES: u64 = 1 << 27;
    pub(crate) const CHANGE_NICKNAME: u64 = 1 << 26;
    pub(crate) const MANAGE_ROLES: u64 = 1 << 28;
    /// What `@everyone` gets when a seed does not define it: view, send, embed, attach, read history, react, external
    /// emoji, connect, speak, voice activity, stream, invite, change nickname; no moderation bit.
    pub(crate) const EVERYONE_DEFAULT: u64 = (1 << 0)
        | (1 << 6)
        | (1 << 9)
        | (1 << 10)
        | (1 << 11)
        | (1 << 14)
        | (1 << 15)
        | (1 << 16)
        | (1 << 18)
        | (1 << 20)
        | (1 << 21)
        | (1 << 25)
        | CHANGE_NICKNAME;
}

/// A guild to create (or replace) in the simulator.
///
/// Rules, checked by [`DiscordSim::seed_guild`](super::DiscordSim::seed_guild): ids are non-zero; `name` is 2–100
/// characters; role ids are unique; the `@everyone` role (id == guild id) has position 0 and is created (with
/// ordinary member permissions and no moderation bit) when absent; every other role has a position of at least 1,
/// unique within the guild; the owner is listed among `members`; member user ids are unique and their roles exist
/// (`@everyone` is never listed: every member holds it implicitly).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuildSeed {
    /// The guild id.
    pub id: u64,
    /// The guild's name.
    pub name: String,
    /// The owner's user id (one of `members`).
    pub owner_id: u64,
    /// The icon's hash (32 hex digits, `a_` first for an animated icon); none by default.
    #[serde(default)]
    pub icon: Option<String>,
    /// The guild's roles, `@everyone` optional.
    #[serde(default)]
    pub roles: Vec<RoleSeed>,
    /// Every member, bots included.
    #[serde(default)]
    pub members: Vec<MemberSeed>,
}

/// One role of a [`GuildSeed`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleSeed {
    /// The role id; equal to the guild id for `@everyone`.
    pub id: u64,
    /// The role's name (1–100 characters).
    pub name: String,
    /// Higher is more powerful; `@everyone` is 0, every other role at least 1 and unique.
    pub position: u16,
    /// The permission bitfield (sent as a string).
    pub permissions: u64,
    /// The colour as `0xRRGGBB`. Default 0.
    #[serde(default)]
    pub color: u32,
    /// Managed by an integration (a bot's own role, a booster role): nobody can assign or remove it. Default false.
    #[serde(default)]
    pub managed: bool,
}

/// One member of a [`GuildSeed`], or the member [`DiscordSim::add_member`](super::DiscordSim::add_member) adds.
///
/// `username`, `globalName`, `dmsOpen` and `bot` describe the user, not the membership: a user seeded in several
/// guilds has one set of them, the latest seed's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSeed {
    /// The member's user id.
    pub user_id: u64,
    /// The user's username (2–32 characters).
    pub username: String,
    /// The user's display name, if set (1–32 characters).
    #[serde(default)]
    pub global_name: Option<String>,
    /// The member's nickname in this guild (1–32 characters).
    #[serde(default)]
    pub nick: Option<String>,
    /// The member's roles, without `@everyone`.
    #[serde(default)]
    pub roles: Vec<u64>,
    /// Whether the user accepts DMs from bots they share a guild with. Default true.
    #[serde(default = "yes")]
    pub dms_open: bool,
    /// Whether the user is a bot. Default false.
    #[serde(default)]
    pub bot: bool,
}

fn yes() -> bool {
    true
}

/// What a member looks like right now, for assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSnapshot {
    /// The member's user id.
    pub user_id: u64,
    /// The member's roles (without `@everyone`), by id.
    pub roles: Vec<u64>,
    /// The member's nickname.
    pub nick: Option<String>,
}

/// One ban, for assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanSnapshot {
    /// The banned user.
    pub user_id: u64,
    /// The audit-log reason sent with the ban.
    pub reason: Option<String>,
}

pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) username: String,
    pub(crate) global_name: Option<String>,
    pub(crate) bot: bool,
    pub(crate) dms_open: bool,
    /// Bots only: the privileged members intent.
    pub(crate) members_intent: bool,
}

pub(crate) struct Role {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) position: u16,
    pub(crate) permissions: u64,
    pub(crate) color: u32,
    pub(crate) managed: bool,
}

pub(crate) struct Member {
    pub(crate) roles: BTreeSet<u64>,
    pub(crate) nick: Option<String>,
    pub(crate) joined_at: DateTime<Utc>,
}

pub(crate) struct Guild {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) owner: u64,
    pub(crate) icon: Option<String>,
    /// Keyed by role id, `@everyone` included.
    pub(crate) roles: BTreeMap<u64, Role>,
    /// Keyed by user id, so listing in user-id order is a walk of the map.
    pub(crate) members: BTreeMap<u64, Member>,
    /// Banned user → reason.
    pub(crate) bans: BTreeMap<u64, Option<String>>,
}

/// How much a member may do and how high they stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Standing {
    pub(crate) permissions: u64,
    /// The highest role position; `u32::MAX` for the owner, who outranks everyone.
    pub(crate) rank: u32,
}

impl Standing {
    pub(crate) fn has(&self, bit: u64) -> bool {
        self.permissions & (perm::ADMINISTRATOR | bit) != 0
    }
}

impl Guild {
    pub(crate) fn everyone(&self) -> Option<&Role> {
        self.roles.get(&self.id)
    }

    /// The member's permissions (`@everyone` + their roles; everything for the owner) and highest position.
    pub(crate) fn standing(&self, user: u64) -> Option<Standing> {
        let member = self.members.get(&user)?;
        if user == self.owner {
            return Some(Standing {
                permissions: u64::MAX,
                rank: u32::MAX,
            });
        }
        let mut permissions = self.everyone().map_or(0, |role| role.permissions);
        let mut rank = 0;
        for role in member.roles.iter().filter_map(|id| self.roles.get(id)) {
            permissions |= role.permissions;
            rank = rank.max(u32::from(role.position));
        }
        if permissions & perm::ADMINISTRATOR != 0 {
            permissions = u64::MAX;
        }
        Some(Standing { permissions, rank })
    }

    /// A role a member can hold: a role of the guild other than `@everyone`.
    pub(crate) fn assignable(&self, role: u64) -> Option<&Role> {
        self.roles.get(&role).filter(|role| role.id != self.id)
    }

    fn snapshot(&self, user: u64) -> Option<MemberSnapshot> {
        let member = self.members.get(&user)?;
        Some(MemberSnapshot {
            user_id: user,
            roles: member.roles.iter().copied().collect(),
            nick: member.nick.clone(),
        })
    }
}

pub(crate) struct Message {
    pub(crate) id: u64,
    pub(crate) content: String,
}

pub(crate) struct DmChannel {
    pub(crate) id: u64,
    pub(crate) bot: u64,
    pub(crate) recipient: u64,
    pub(crate) messages: Vec<Message>,
}

/// Everything the simulator knows.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) users: HashMap<u64, User>,
    pub(crate) guilds: BTreeMap<u64, Guild>,
    pub(crate) channels: HashMap<u64, DmChannel>,
    /// (bot, recipient) → DM channel id.
    pub(crate) dm_index: HashMap<(u64, u64), u64>,
    last_snowflake: u64,
}

/// The first second of 2015, where snowflake timestamps start.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

impl World {
    /// A fresh snowflake: the current time in Discord's format, strictly increasing.
    pub(crate) fn snowflake(&mut self, now: DateTime<Utc>) -> u64 {
        let ms = u64::try_from(now.timestamp_millis() - DISCORD_EPOCH_MS).unwrap_or(0);
        let candidate = ms << 22;
        self.last_snowflake = candidate.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    pub(crate) fn add_bot_user(&mut self, user_id: u64, username: &str, members_intent: bool) {
        let user = self.users.entry(user_id).or_insert_with(|| User {
            id: user_id,
            username: String::new(),
            global_name: None,
            bot: true,
            dms_open: false,
            members_intent,
        });
        user.username = username.to_owned();
        user.bot = true;
        user.members_intent = members_intent;
    }

    fn upsert_user(&mut self, seed: &MemberSeed) {
        let user = self.users.entry(seed.user_id).or_insert_with(|| User {
            id: seed.user_id,
            username: String::new(),
            global_name: None,
            bot: seed.bot,
            dms_open: seed.dms_open,
            members_intent: false,
        });
        user.username = seed.username.clone();
        user.global_name = seed.global_name.clone();
        user.bot = user.bot || seed.bot;
        user.dms_open = seed.dms_open;
    }

    pub(crate) fn seed_guild(&mut self, seed: GuildSeed) -> Result<(), SimError> {
        let guild = build_guild(&seed)?;
        for member in &seed.members {
            self.upsert_user(member);
        }
        self.guilds.insert(guild.id, guild);
        Ok(())
    }

    pub(crate) fn guild_mut(&mut self, guild: u64) -> Result<&mut Guild, SimError> {
        self.guilds
            .get_mut(&guild)
            .ok_or(SimError::UnknownGuild(guild))
    }

    pub(crate) fn set_member_roles(
        &mut self,
        guild_id: u64,
        user: u64,
        roles: &[u64],
    ) -> Result<(), SimError> {
        let guild = self.guild_mut(guild_id)?;
        let roles = check_roles(guild, roles)?;
        let member = guild
            .members
            .get_mut(&user)
            .ok_or(SimError::UnknownMember {
                guild_id,
                user_id: user,
            })?;
        member.roles = roles;
        Ok(())
    }

    pub(crate) fn add_member(&mut self, guild_id: u64, seed: MemberSeed) -> Result<(), SimError> {
        check_member_seed(&seed)?;
        let guild = self.guild_mut(guild_id)?;
        let roles = check_roles(guild, &seed.roles)?;
        let joined_at = guild
            .members
            .get(&seed.user_id)
            .map_or_else(Utc::now, |member| member.joined_at);
        guild.members.insert(
            seed.user_id,
            Member {
                roles,
                nick: seed.nick.clone(),
                joined_at,
            },
        );
        self.upsert_user(&seed);
        Ok(())
    }

    pub(crate) fn remove_member(&mut self, guild: u64, user: u64) {
        if let Some(guild) = self.guilds.get_mut(&guild) {
            guild.members.remove(&user);
        }
    }

    /// Creates a role in an existing guild, under the seed's rules: not `@everyone` (the id is not the guild's), an id
    /// the guild does not use yet, a position of at least 1 that no other role holds.
    pub(crate) fn add_role(&mut self, guild_id: u64, seed: RoleSeed) -> Result<(), SimError> {
        let guild = self.guild_mut(guild_id)?;
        let prefix = |reason: String| invalid(format!("guild {guild_id}: {reason}"));
        check_role_seed(&seed).map_err(prefix)?;
        if seed.id == guild_id {
            return Err(prefix(
                "the @everyone role (id = guild id) always exists".into(),
            ));
        }
        if guild.roles.contains_key(&seed.id) {
            return Err(prefix(format!("role id {} already exists", seed.id)));
        }
        if seed.position == 0 {
            return Err(prefix(format!(
                "role {} needs a position of at least 1 (0 is @everyone's)",
                seed.id
            )));
        }
        if guild
            .roles
            .values()
            .any(|role| role.position == seed.position)
        {
            return Err(prefix(format!(
                "another role already has position {}",
                seed.position
            )));
        }
        guild.roles.insert(
            seed.id,
            Role {
                id: seed.id,
                name: seed.name,
                position: seed.position,
                permissions: seed.permissions,
                color: seed.color,
                managed: seed.managed,
            },
        );
        Ok(())
    }

    /// Renames a role other than `@everyone` (1–100 characters).
    pub(crate) fn rename_role(
        &mut self,
        guild_id: u64,
        role_id: u64,
        name: &str,
    ) -> Result<(), SimError> {
        let guild = self.guild_mut(guild_id)?;
        let role = guild
            .roles
            .get_mut(&role_id)
            .filter(|role| role.id != guild_id)
            .ok_or(SimError::UnknownRole { guild_id, role_id })?;
        let len = name.chars().count();
        if !(1..=100).contains(&len) {
            return Err(invalid(format!(
                "guild {guild_id}: role {role_id}'s name must be 1 to 100 characters, got {len}"
            )));
        }
        role.name = name.to_owned();
        Ok(())
    }

    /// Deletes a role other than `@everyone`, and takes it from every member who held it.
    pub(crate) fn remove_role(&mut self, guild_id: u64, role_id: u64) -> Result<(), SimError> {
        let guild = self.guild_mut(guild_id)?;
        if guild.assignable(role_id).is_none() {
            return Err(SimError::UnknownRole { guild_id, role_id });
        }
        guild.roles.remove(&role_id);
        for member in guild.members.values_mut() {
            member.roles.remove(&role_id);
        }
        Ok(())
    }

    pub(crate) fn member_snapshot(&self, guild: u64, user: u64) -> Option<MemberSnapshot> {
        self.guilds.get(&guild)?.snapshot(user)
    }

    pub(crate) fn ban_snapshots(&self, guild: u64) -> Vec<BanSnapshot> {
        self.guilds
            .get(&guild)
            .map(|guild| {
                guild
                    .bans
                    .iter()
                    .map(|(&user_id, reason)| BanSnapshot {
                        user_id,
                        reason: reason.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn direct_messages(&self, user: u64) -> Vec<String> {
        let mut messages: Vec<&Message> = self
            .channels
            .values()
            .filter(|channel| channel.recipient == user)
            .flat_map(|channel| channel.messages.iter())
            .collect();
        messages.sort_by_key(|message| message.id);
        messages
            .into_iter()
            .map(|message| message.content.clone())
            .collect()
    }

    pub(crate) fn set_dms_open(&mut self, user: u64, open: bool) -> Result<(), SimError> {
        let user = self
            .users
            .get_mut(&user)
            .ok_or(SimError::UnknownUser(user))?;
        user.dms_open = open;
        Ok(())
    }

    /// Whether `a` and `b` are members of at least one common guild.
    pub(crate) fn share_a_guild(&self, a: u64, b: u64) -> bool {
        self.guilds
            .values()
            .any(|guild| guild.members.contains_key(&a) && guild.members.contains_key(&b))
    }
}

fn invalid(reason: String) -> SimError {
    SimError::InvalidSeed(reason)
}

fn check_len(what: &str, text: &str, min: usize, max: usize) -> Result<(), SimError> {
    let len = text.chars().count();
    if len < min || len > max {
        return Err(invalid(format!(
            "{what} must be {min} to {max} characters, got {len}"
        )));
    }
    Ok(())
}

fn check_member_seed(seed: &MemberSeed) -> Result<(), SimError> {
    if seed.user_id == 0 {
        return Err(invalid("member user ids must be non-zero".into()));
    }
    let who = format!("member {}", seed.user_id);
    check_len(&format!("{who}'s username"), &seed.username, 2, 32)?;
    if let Some(name) = &seed.global_name {
        check_len(&format!("{who}'s globalName"), name, 1, 32)?;
    }
    if let Some(nick) = &seed.nick {
        check_len(&format!("{who}'s nick"), nick, 1, 32)?;
    }
    Ok(())
}

/// The role set a member may hold: every id a role of the guild other than `@everyone`.
fn check_roles(guild: &Guild, roles: &[u64]) -> Result<BTreeSet<u64>, SimError> {
    roles
        .iter()
        .map(|&role_id| {
            guild
                .assignable(role_id)
                .map(|role| role.id)
                .ok_or(SimError::UnknownRole {
                    guild_id: guild.id,
                    role_id,
                })
        })
        .collect()
}

/// The checks every role seed passes, whatever guild it joins: a non-zero id, a name of 1–100 characters, a colour
/// of at most `0xFFFFFF`.
fn check_role_seed(role: &RoleSeed) -> Result<(), String> {
    if role.id == 0 {
        return Err("role ids must be non-zero".into());
    }
    let len = role.name.chars().count();
    if !(1..=100).contains(&len) {
        return Err(format!(
            "role {}'s name must be 1 to 100 characters, got {len}",
            role.id
        ));
    }
    if role.color > 0xFF_FF_FF {
        return Err(format!("role {}'s color must be at most 0xFFFFFF", role.id));
    }
    Ok(())
}

fn build_guild(seed: &GuildSeed) -> Result<Guild, SimError> {
    let prefix = |reason: String| invalid(format!("guild {}: {reason}", seed.id));
    if seed.id == 0 {
        return Err(invalid("the guild id must be non-zero".into()));
    }
    if seed.owner_id == 0 {
        return Err(prefix("ownerId must be non-zero".into()));
    }
    check_len("the guild name", &seed.name, 2, 100).map_err(|err| prefix(err.to_string()))?;
    if let Some(icon) = &seed.icon {
        let hash = icon.strip_prefix("a_").unwrap_or(icon);
        if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(prefix(format!(
                "the icon must be an image hash (32 hex digits, `a_` first when animated), got {icon:?}"
            )));
        }
    }
    let mut roles = BTreeMap::new();
    let mut positions = BTreeSet::new();
    for role in &seed.roles {
        check_role_seed(role).map_err(prefix)?;
        if role.id == seed.id {
            if role.position != 0 {
                return Err(prefix("the @everyone role must have position 0".into()));
            }
        } else if role.position == 0 {
            return Err(prefix(format!(
                "role {} needs a position of at least 1 (0 is @everyone's)",
                role.id
            )));
        } else if !positions.insert(role.position) {
            return Err(prefix(format!("two roles have position {}", role.position)));
        }
        let previous = roles.insert(
            role.id,
            Role {
                id: role.id,
                name: role.name.clone(),
                position: role.position,
                permissions: role.permissions,
                color: role.color,
                managed: role.managed,
            },
        );
        if previous.is_some() {
            return Err(prefix(format!("role id {} appears twice", role.id)));
        }
    }
    roles.entry(seed.id).or_insert_with(|| Role {
        id: seed.id,
        name: "@everyone".into(),
        position: 0,
        permissions: perm::EVERYONE_DEFAULT,
        color: 0,
        managed: false,
    });
    let mut guild = Guild {
        id: seed.id,
        name: seed.name.clone(),
        owner: seed.owner_id,
        icon: seed.icon.clone(),
        roles,
        members: BTreeMap::new(),
        bans: BTreeMap::new(),
    };
    let now = Utc::now();
    for member in &seed.members {
        check_member_seed(member).map_err(|err| prefix(err.to_string()))?;
        let member_roles =
            check_roles(&guild, &member.roles).map_err(|err| prefix(err.to_string()))?;
        let fresh = Member {
            roles: member_roles,
            nick: member.nick.clone(),
            joined_at: now,
        };
        if guild.members.insert(member.user_id, fresh).is_some() {
            return Err(prefix(format!("member {} appears twice", member.user_id)));
        }
    }
    if !guild.members.contains_key(&seed.owner_id) {
        return Err(prefix(format!(
            "the owner {} must be listed among the members",
            seed.owner_id
        )));
    }
    Ok(guild)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user_id: u64, roles: &[u64]) -> MemberSeed {
        MemberSeed {
            user_id,
            username: format!("user{user_id}"),
            global_name: None,
            nick: None,
            roles: roles.to_vec(),
            dms_open: true,
            bot: false,
        }
    }

    fn role(id: u64, position: u16, permissions: u64) -> RoleSeed {
        RoleSeed {
            id,
            name: format!("role{id}"),
            position,
            permissions,
            color: 0,
            managed: false,
        }
    }

    #[test]
    fn seeds_are_checked_and_everyone_is_added() {
        let mut world = World::default();
        let seed = GuildSeed {
            id: 10,
            name: "Guild".into(),
            owner_id: 1,
            icon: None,
            roles: vec![role(11, 1, 0), role(12, 2, perm::MANAGE_ROLES)],
            members: vec![member(1, &[]), member(2, &[12])],
        };
        world.seed_guild(seed.clone()).expect("valid seed");
        let guild = &world.guilds[&10];
        assert_eq!(guild.everyone().map(|r| r.position), Some(0));
        assert_eq!(guild.standing(2).map(|s| s.rank), Some(2));
        assert!(guild.standing(2).is_some_and(|s| s.has(perm::MANAGE_ROLES)));
        assert!(guild.standing(1).is_some_and(|s| s.rank == u32::MAX));

        let mut twice = seed.clone();
        twice.roles.push(role(13, 2, 0));
        assert!(world.seed_guild(twice).is_err(), "duplicate position");
        let mut no_owner = seed.clone();
        no_owner.members.remove(0);
        assert!(
            world.seed_guild(no_owner).is_err(),
            "owner must be a member"
        );
        let mut everyone = seed.clone();
        everyone.members[1].roles = vec![10];
        assert!(
            world.seed_guild(everyone).is_err(),
            "@everyone is not assignable"
        );
        let mut unknown = seed;
        unknown.members[1].roles = vec![99];
        assert!(world.seed_guild(unknown).is_err());
    }

    #[test]
    fn administrator_implies_everything() {
        let mut world = World::default();
        world
            .seed_guild(GuildSeed {
                id: 10,
                name: "Guild".into(),
                owner_id: 1,
                icon: None,
                roles: vec![role(11, 1, perm::ADMINISTRATOR)],
                members: vec![member(1, &[]), member(2, &[11]), member(3, &[])],
            })
            .expect("valid seed");
        let guild = &world.guilds[&10];
        assert!(guild.standing(2).is_some_and(|s| s.has(perm::BAN_MEMBERS)));
        assert!(guild.standing(3).is_some_and(|s| !s.has(perm::BAN_MEMBERS)));
        assert!(
            guild
                .standing(3)
                .is_some_and(|s| !s.has(perm::MANAGE_ROLES))
        );
    }

    #[test]
    fn snowflakes_increase() {
        let mut world = World::default();
        let now = Utc::now();
        let a = world.snowflake(now);
        let b = world.snowflake(now);
        assert!(b > a);
        assert!(a >> 22 > 0);
    }
}
