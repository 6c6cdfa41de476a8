//! What Roster asks of Discord ([`DiscordApi`]) and the shapes it gets back.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::UpstreamError;

/// A guild member as Roster needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// User id.
    pub user_id: u64,
    /// Username.
    pub username: String,
    /// Display name, if set.
    pub global_name: Option<String>,
    /// Nickname in the guild.
    pub nick: Option<String>,
    /// Roles (without `@everyone`).
    pub roles: Vec<u64>,
    /// Whether the user is a bot.
    pub bot: bool,
}

impl Member {
    /// The name shown in the guild when no nickname is set.
    pub fn display_name(&self) -> &str {
        self.global_name.as_deref().unwrap_or(&self.username)
    }
}

/// A guild role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Id (the guild id for `@everyone`).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Colour, `0xRRGGBB`.
    pub color: u32,
    /// Position (`@everyone` is 0).
    pub position: i64,
    /// Permission bits.
    pub permissions: u64,
    /// Managed by an integration: nobody can grant or remove it.
    pub managed: bool,
}

/// A guild's owner and roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuildInfo {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: u64,
    /// Every role, `@everyone` included.
    pub roles: Vec<Role>,
    /// Discord's approximate member count.
    pub approximate_member_count: Option<u64>,
    /// The icon's hash, when the guild has an icon.
    #[serde(default)]
    pub icon: Option<String>,
}

/// Permission bits Roster cares about.
pub mod permissions {
    /// `ADMINISTRATOR`: every permission.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// `BAN_MEMBERS`.
    pub const BAN_MEMBERS: u64 = 1 << 2;
    /// `MANAGE_ROLES`.
    pub const MANAGE_ROLES: u64 = 1 << 28;
    /// `MANAGE_NICKNAMES`.
    pub const MANAGE_NICKNAMES: u64 = 1 << 27;
}

/// Discord's JSON error codes Roster acts on.
pub mod codes {
    /// Unknown guild.
    pub const UNKNOWN_GUILD: &str = "10004";
    /// Unknown member.
    pub const UNKNOWN_MEMBER: &str = "10007";
    /// Unknown role.
    pub const UNKNOWN_ROLE: &str = "10011";
    /// Unknown user.
    pub const UNKNOWN_USER: &str = "10013";
    /// Unknown ban.
    pub const UNKNOWN_BAN: &str = "10026";
    /// Missing access (not in the guild, or no members intent).
    pub const MISSING_ACCESS: &str = "50001";
    /// The user does not accept DMs from the bot.
    pub const CANNOT_DM: &str = "50007";
    /// Missing permissions (or the role hierarchy).
    pub const MISSING_PERMISSIONS: &str = "50013";
}

/// What Roster asks of Discord. Every change carries an audit-log reason.
#[async_trait]
pub trait DiscordApi: Send + Sync {
    /// The bot's own user id.
    async fn current_user_id(&self, token: &str) -> Result<u64, UpstreamError>;
    /// A guild's owner and roles.
    async fn guild(&self, token: &str, guild: u64) -> Result<GuildInfo, UpstreamError>;
    /// A guild's roles.
    async fn roles(&self, token: &str, guild: u64) -> Result<Vec<Role>, UpstreamError>;
    /// A member, or `None` when the user is not in the guild.
    async fn member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
    ) -> Result<Option<Member>, UpstreamError>;
    /// Up to `limit` (1–1000) members with user ids above `after`, in id order.
    async fn members(
        &self,
        token: &str,
        guild: u64,
        after: u64,
        limit: u16,
    ) -> Result<Vec<Member>, UpstreamError>;
    /// Adds one role.
    async fn add_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role: u64,
        reason: &str,
    ) -> Result<(), UpstreamError>;
    /// Removes one role.
    async fn remove_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role: u64,
        reason: &str,
    ) -> Result<(), UpstreamError>;
    /// Sets the member's full role list and/or nickname in one PATCH (`nick: Some(None)` resets
    /// the nickname).
    async fn modify_member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        roles: Option<&[u64]>,
        nick: Option<Option<&str>>,
        reason: &str,
    ) -> Result<Member, UpstreamError>;
    /// Opens (or reuses) the DM channel with `user` and sends `content`.
    async fn send_dm(&self, token: &str, user: u64, content: &str) -> Result<(), UpstreamError>;
    /// Bans a user from a guild.
    async fn ban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        reason: &str,
        delete_message_seconds: u32,
    ) -> Result<(), UpstreamError>;
    /// Lifts a ban; `Ok(false)` when the user was not banned.
    async fn unban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        reason: &str,
    ) -> Result<bool, UpstreamError>;
}
