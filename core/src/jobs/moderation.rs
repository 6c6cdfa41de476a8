//! Moderation jobs: Roblox experience bans through Open Cloud user restrictions.

use serde::{Deserialize, Serialize};

use crate::ids::GuildId;
use crate::secrets::Sealed;

/// Apply (or lift) a Roblox experience ban in every configured universe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestrictJob {
    /// The guild whose ban this mirrors.
    pub guild: GuildId,
    /// The Roblox user.
    pub user: u64,
    /// Universes to apply it in.
    pub universes: Vec<u64>,
    /// Ban (`true`) or lift (`false`).
    pub active: bool,
    /// Ban length; `None` is permanent.
    pub duration_seconds: Option<u64>,
    /// Shown in Roblox's records (private reason) and to the player (display reason).
    pub reason: String,
    /// The guild's Open Cloud key, sealed for [`crate::guilds::GuildRecord::credential_purpose`].
    pub credential: Sealed,
    /// The ban record this mirrors.
    pub record_id: u64,
}

/// Result of a restriction job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestrictResult {
    /// Universes where the restriction now matches the ban.
    pub universes: Vec<u64>,
    /// Active or lifted.
    pub active: bool,
}
