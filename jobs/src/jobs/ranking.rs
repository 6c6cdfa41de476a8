//! The ranking jobs' payload, ledger plan and result: shared by the API that submits them and
//! the worker that runs them.

use serde::{Deserialize, Serialize};

use super::RANKING_QUEUE;
use super::kind::Kind;
use super::order::rank_subject;
use crate::ids::{GroupId, RobloxUserId};
use crate::rules::RankRule;
use crate::secrets::Sealed;

/// What to do to the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum RankOp {
    /// Set an exact rank.
    Set {
        /// Target rank (1–254).
        rank: u8,
    },
    /// Apply the matching promote rule.
    Promote,
    /// Apply the matching demote rule.
    Demote,
    /// Raise to at least this rank, never lowering (XP thresholds, purchases): a member already
    /// at or above it keeps their rank. Runs as a `ranking.set` job.
    Raise {
        /// The lowest rank the member should end up with (1–254).
        rank: u8,
    },
}

/// Payload of a ranking job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RankJob {
    /// Group.
    pub group_id: GroupId,
    /// Member.
    pub user_id: RobloxUserId,
    /// Operation.
    #[serde(flatten)]
    pub op: RankOp,
    /// Snapshot of the group's rules at submission (promote/demote).
    pub rules: Vec<RankRule>,
    /// Snapshot of the guard rank.
    pub guard_rank: Option<u8>,
    /// The group's Open Cloud key, sealed for [`crate::model::group_key_purpose`].
    pub credential: Sealed,
}

/// The target a promote/demote resolved to, recorded in the ledger before any change so a
/// retry converges to the same target instead of moving the member twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankPlan {
    /// Rank when the plan was made.
    pub previous_rank: u8,
    /// Rank to converge to.
    pub target_rank: u8,
    /// Rule that produced it (promote/demote).
    pub rule_id: Option<u32>,
}

/// A role, as reported to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleInfo {
    /// Roblox role id.
    pub id: String,
    /// Role name.
    pub name: String,
    /// Rank.
    pub rank: u8,
}

/// Result of a successful ranking job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankResult {
    /// Rank before.
    pub previous_rank: u8,
    /// Rank after.
    pub new_rank: u8,
    /// The role the member now holds.
    pub role: RoleInfo,
    /// Whether anything changed upstream (false: the member already had it).
    pub changed: bool,
    /// The rule applied (promote/demote).
    pub rule_id: Option<u32>,
}

/// Error codes ranking jobs report (the ranking API's vocabulary).
pub mod codes {
    /// No enabled rule matches.
    pub const NO_MATCHING_RULE: &str = "NO_MATCHING_RULE";
    /// Roblox refused or failed, or the user is not in the group.
    pub const ROBLOX_API_ERROR: &str = "ROBLOX_API_ERROR";
    /// The request cannot be carried out as asked (e.g. no role has that rank).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The user is not a member of the group (the ranking API reports it as
    /// `ROBLOX_API_ERROR`, the community API as `USER_NOT_IN_GROUP`).
    pub const NOT_IN_GROUP: &str = "NOT_IN_GROUP";
}

/// `ranking.set`: set a member's rank.
#[derive(Debug, Clone, Copy)]
pub struct RankSet;

/// `ranking.promote`: apply the matching promote rule.
#[derive(Debug, Clone, Copy)]
pub struct RankPromote;

/// `ranking.demote`: apply the matching demote rule.
#[derive(Debug, Clone, Copy)]
pub struct RankDemote;

/// The three ranking kinds: one payload and result, ordered on the member's rank
/// (`rank:{group}:{user}`).
macro_rules! ranking_kind {
    ($ty:ty, $name:literal) => {
        impl Kind for $ty {
            const NAME: &'static str = $name;
            const QUEUE: &'static str = RANKING_QUEUE;
            type Payload = RankJob;
            type Result = RankResult;

            fn subjects(job: &RankJob, out: &mut Vec<String>) {
                out.push(rank_subject(job.group_id.get(), job.user_id.get()));
            }
        }
    };
}

ranking_kind!(RankSet, "ranking.set");
ranking_kind!(RankPromote, "ranking.promote");
ranking_kind!(RankDemote, "ranking.demote");
