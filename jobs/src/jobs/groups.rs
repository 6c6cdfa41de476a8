//! Group jobs other than ranking: accepting and declining join requests through Open Cloud.

use serde::{Deserialize, Serialize};

use super::RANKING_QUEUE;
use super::kind::Kind;
use crate::ids::{GroupId, GuildId};
use crate::secrets::Sealed;

/// Accept or decline one join request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestJob {
    /// The group.
    pub group_id: GroupId,
    /// The join request's id (the last segment of its Open Cloud path).
    pub request_id: String,
    /// Accept (`true`) or decline.
    pub accept: bool,
    /// The guild whose community API asked, if any.
    #[serde(default)]
    pub guild_id: Option<GuildId>,
    /// The group's Open Cloud key, sealed for [`crate::model::group_key_purpose`].
    pub credential: Sealed,
}

/// Result of a join-request job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestResult {
    /// The join request's id.
    pub request_id: String,
    /// Accepted (`true`) or declined.
    pub accepted: bool,
}

/// Error codes of join-request jobs.
pub mod codes {
    /// Roblox has no such pending request (it never existed or was already handled).
    pub const JOIN_REQUEST_NOT_FOUND: &str = "JOIN_REQUEST_NOT_FOUND";
}

/// `groups.join_request`: accept or decline a join request, ordered on the request
/// (`join:{group}:{request}`), on the ranking queue (it spends the group's Open Cloud quota).
#[derive(Debug, Clone, Copy)]
pub struct JoinRequestDecision;

impl Kind for JoinRequestDecision {
    const NAME: &'static str = "groups.join_request";
    const QUEUE: &'static str = RANKING_QUEUE;
    type Payload = JoinRequestJob;
    type Result = JoinRequestResult;

    fn subjects(job: &JoinRequestJob, out: &mut Vec<String>) {
        out.push(format!("join:{}:{}", job.group_id, job.request_id));
    }
}
