//! Join-request jobs. The kind and payload: `roster_jobs::jobs::groups`, re-exported here; the
//! outcome hook here: a `group.join_accept` / `group.join_decline` audit entry.

pub use roster_jobs::jobs::groups::*;

use super::kind::{Done, Effects, Hook, JobAudit};
use crate::store::StoreError;

impl Hook for JoinRequestDecision {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        let mut details = serde_json::Map::new();
        details.insert("requestId".into(), done.payload.request_id.clone().into());
        if let Some(g) = done.payload.guild_id {
            details.insert("guildId".into(), g.to_string().into());
        }
        fx.audit(JobAudit {
            action: if done.payload.accept {
                "group.join_accept"
            } else {
                "group.join_decline"
            },
            target: format!("joinRequest:{}", done.payload.request_id),
            details: Some(details),
        });
        Ok(())
    }
}
