//! The ranking jobs. The kinds, payload and result: `roster_jobs::jobs::ranking`, re-exported
//! here; their outcome hook here: a `rank.{set,promote,demote}` audit entry with the rank change.

pub use roster_jobs::jobs::ranking::*;

use super::kind::{Done, Effects, Hook, JobAudit};
use crate::store::StoreError;

macro_rules! ranking_hook {
    ($ty:ty, $action:literal) => {
        impl Hook for $ty {
            fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
                fx.audit(audit($action, done));
                Ok(())
            }
        }
    };
}

ranking_hook!(RankSet, "rank.set");
ranking_hook!(RankPromote, "rank.promote");
ranking_hook!(RankDemote, "rank.demote");

/// A rank change's audit entry: the member, and on success the ranks and role.
fn audit<K: Hook<Payload = RankJob, Result = RankResult>>(
    action: &'static str,
    done: &Done<'_, K>,
) -> JobAudit {
    let details = done.result().map(|r| {
        let mut m = serde_json::Map::new();
        m.insert("previousRank".into(), r.previous_rank.into());
        m.insert("newRank".into(), r.new_rank.into());
        m.insert("roleName".into(), r.role.name.into());
        m.insert("changed".into(), r.changed.into());
        m.insert(
            "ruleId".into(),
            serde_json::to_value(r.rule_id).unwrap_or_default(),
        );
        m
    });
    JobAudit {
        action,
        target: done.payload.user_id.to_string(),
        details,
    }
}
