//! Moderation jobs: Roblox experience bans through Open Cloud user restrictions. The kind and its
//! payload: `roster_jobs::jobs::moderation`, re-exported here; its outcome hook here.

pub use roster_jobs::jobs::moderation::*;

use super::kind::{Done, Effects, Hook, JobAudit};
use crate::store::StoreError;

impl Hook for RobloxRestrict {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        fx.audit(JobAudit {
            action: if done.payload.active {
                "ban.roblox_restrict"
            } else {
                "ban.roblox_unrestrict"
            },
            target: done.payload.user.to_string(),
            details: None,
        });
        Ok(())
    }
}
