//! Discord jobs: sync one member, the pages and batches of a guild-wide sync, role changes,
//! direct messages and bans. The kinds and their payloads: `roster_jobs::jobs::discord`,
//! re-exported here; their outcome hooks here (sync-all's advance the run, [`crate::syncs`]).

pub use roster_jobs::jobs::discord::*;

use super::kind::{Done, Effects, Hook, JobAudit};
use crate::guilds::{GuildRecord, site};
use crate::ids::GuildId;
use crate::store::StoreError;

impl DiscordGuild for GuildRecord {
    fn guild_id(&self) -> GuildId {
        self.id
    }

    fn discord(&self) -> &crate::guilds::DiscordSettings {
        &self.discord
    }
}

impl Hook for SyncMember {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        let result = done.result();
        if let Some(hash) = result.as_ref().and_then(|r| r.roles_hash.clone()) {
            site::on_roles_seen(
                fx,
                done.payload.spec.target.guild,
                &hash,
                done.record.done_at(),
            )?;
        }
        if let Some(roles) = result.and_then(|r| r.roles) {
            crate::staff::members::apply_member(
                fx.tx,
                done.payload.spec.target.guild,
                done.payload.user_id,
                &roles,
                done.record.done_at(),
            )?;
        }
        fx.audit(JobAudit {
            action: "discord.sync",
            target: done.payload.user_id.to_string(),
            details: None,
        });
        Ok(())
    }
}

impl Hook for SyncPage {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        crate::syncs::on_page_outcome(done, fx)
    }
}

impl Hook for SyncBatch {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        if let Some(hash) = done.result().and_then(|r| r.roles_hash) {
            site::on_roles_seen(
                fx,
                done.payload.spec.target.guild,
                &hash,
                done.record.done_at(),
            )?;
        }
        crate::syncs::on_batch_outcome(done, fx)
    }
}

impl Hook for RoleChanges {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        let users: std::collections::BTreeSet<u64> =
            done.payload.changes.iter().map(|c| c.user_id).collect();
        let target = if users.len() == 1 {
            users.iter().next().map(u64::to_string).unwrap_or_default()
        } else {
            format!("{} users", users.len())
        };
        fx.audit(JobAudit {
            action: "discord.roles",
            target,
            details: None,
        });
        Ok(())
    }
}

impl Hook for DirectMessage {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        fx.audit(JobAudit {
            action: "discord.direct_message",
            target: done.payload.user_id.to_string(),
            details: None,
        });
        Ok(())
    }
}

impl Hook for DiscordBan {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        fx.audit(JobAudit {
            action: if done.payload.active {
                "ban.discord_ban"
            } else {
                "ban.discord_unban"
            },
            target: done.payload.user_id.to_string(),
            details: None,
        });
        Ok(())
    }
}

impl Hook for PushRoleList {
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        site::on_push_outcome(done, fx)
    }
}
