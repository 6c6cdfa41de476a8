//! Moderation jobs: Roblox experience bans through Open Cloud user restrictions.

use serde::{Deserialize, Serialize};

use super::MODERATION_QUEUE;
use super::kind::Kind;
use super::order::restrict_subject;
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
    /// The guild's Open Cloud key, sealed for [`crate::model::guild_key_purpose`].
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

/// `moderation.roblox_restrict`: apply or lift a Roblox experience ban, ordered on the user's
/// restrictions in the guild (`restrict:{guild}:{user}`).
#[derive(Debug, Clone, Copy)]
pub struct RobloxRestrict;

impl Kind for RobloxRestrict {
    const NAME: &'static str = "moderation.roblox_restrict";
    const QUEUE: &'static str = MODERATION_QUEUE;
    type Payload = RestrictJob;
    type Result = RestrictResult;

    fn subjects(job: &RestrictJob, out: &mut Vec<String>) {
        out.push(restrict_subject(job.guild.get(), job.user));
    }
}
