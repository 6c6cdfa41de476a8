//! The domain types a job carries and a worker reads, owned here so the worker needs no store:
//! tenants, account links, a guild's Discord settings, and the purposes credentials are sealed
//! for. The control plane (`roster_core`) re-exports them where it stores them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, GuildId};
use crate::secrets::Sealed;

/// Whose data something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Tenant {
    /// A Roblox group.
    Group(GroupId),
    /// A Discord guild.
    Guild(GuildId),
}

impl Tenant {
    /// Store-key prefix: a kind byte and the big-endian id.
    pub fn key_prefix(self) -> [u8; 9] {
        let mut k = [0u8; 9];
        match self {
            Tenant::Group(g) => {
                k[0] = b'G';
                k[1..].copy_from_slice(&g.to_be_bytes());
            }
            Tenant::Guild(g) => {
                k[0] = b'D';
                k[1..].copy_from_slice(&g.to_be_bytes());
            }
        }
        k
    }
}

/// One link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLink {
    /// Discord user id.
    pub discord_id: u64,
    /// Roblox user id.
    pub roblox_id: u64,
    /// Roblox username.
    pub roblox_username: String,
    /// Roblox display name, when known.
    #[serde(default)]
    pub roblox_display_name: Option<String>,
    /// When the link was verified.
    pub verified_at: DateTime<Utc>,
}

/// The Discord side of a guild: the bot, role sync settings, the role-bridge key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DiscordSettings {
    /// This guild's own bot token, sealed; `None` uses the deployment's `discord.bot_token`.
    pub bot_token: Option<Sealed>,
    /// Its last four characters.
    pub bot_token_hint: Option<String>,
    /// The main Roblox group: `{rank-name}` in nicknames is the rank there.
    pub main_group: Option<GroupId>,
    /// Nickname template (`{roblox-username}`, `{roblox-display-name}`, `{rank-name}`,
    /// `{discord-name}`); `None` leaves nicknames alone.
    pub nickname_template: Option<String>,
    /// Role every linked (verified) member gets.
    pub verified_role: Option<u64>,
    /// Role every member without a link gets (and linked members lose).
    pub unverified_role: Option<u64>,
    /// Roles sync never removes, even when a binding no longer grants them.
    pub keep_roles: Vec<u64>,
    /// SHA-256 (hex) of the role-bridge API key websites send in their bodies.
    pub role_bridge_key_hash: Option<String>,
    /// Its last four characters.
    pub role_bridge_key_hint: Option<String>,
    /// Also ban Discord users in the Discord guild when the guild bans them through Roster.
    pub ban_in_discord: bool,
    /// The NamelessMC website linked with `role-bridge link`, if any: its key is then the
    /// role-bridge key ([`Self::role_bridge_key_hash`] is its hash).
    pub role_bridge_site: Option<RoleBridgeSite>,
}

/// A NamelessMC website linked to a guild's role bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBridgeSite {
    /// The site's API URL (`https://site/index.php?route=/api/v2`).
    pub api_url: String,
    /// The site's own API key, sealed for [`role_bridge_site_key_purpose`]: Roster calls the
    /// site's API with it, and the site sends it to the bridge.
    pub key: Sealed,
    /// The bridge URL the site was given (where it sends `applyRoleChanges`).
    pub bridge_url: String,
    /// When it was linked.
    pub linked_at: DateTime<Utc>,
    /// The hash ([`crate::jobs::discord::role_list_hash`]) of the role list the site last
    /// accepted; `None` before the first push.
    #[serde(default)]
    pub roles_pushed: Option<String>,
    /// A push is staged and not finished (so a sync that sees new roles stages no second one).
    #[serde(default)]
    pub push_staged: bool,
    /// The role-list hash whose push failed for good (the site refused): syncs that see the
    /// same roles stage no new push until the roles change or the site is linked again.
    #[serde(default)]
    pub push_failed: Option<String>,
}

/// The purpose a linked site's API key is sealed for.
pub fn role_bridge_site_key_purpose(id: GuildId) -> String {
    format!("nameless-api-key:guild:{id}")
}

/// The purpose a group's Open Cloud key is sealed for.
pub fn group_key_purpose(id: GroupId) -> String {
    format!("roblox-open-cloud-key:group:{id}")
}

/// The purpose a guild's Open Cloud key is sealed for.
pub fn guild_key_purpose(id: GuildId) -> String {
    format!("roblox-open-cloud-key:guild:{id}")
}

/// The purpose a guild's own bot token is sealed for.
pub fn guild_bot_token_purpose(id: GuildId) -> String {
    format!("discord-bot-token:guild:{id}")
}
