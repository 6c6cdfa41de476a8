//! The outcome recorder (control plane): consumes outcomes from the queue backend, writes the
//! job record, the dead-letter index and the audit entry in one transaction, makes it durable,
//! wakes waiting API requests, and only then acknowledges the outcome. Recording is idempotent
//! (an outcome for a job that is already final, or for an older generation, changes nothing),
//! so redelivered outcomes are harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backend::QueueBackend;
use super::facade::OutcomeHub;
use super::ranking::RankResult;
use super::{JobKind, JobOutcome, JobRecord, JobStatus, OutcomeStatus};
use crate::audit::{self, AuditEntry, Tenant};
use crate::store::{Store, StoreError, StoreExt, Tree, TxnExt};

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The job record changed (false for a duplicate or stale outcome).
    pub changed: bool,
    /// Follow-up jobs were staged (sync-all): wake the relay.
    pub staged: bool,
}

/// Records one outcome.
pub fn record(
    store: &dyn Store,
    outcome: &JobOutcome,
    coordinator: &crate::syncs::Coordinator,
) -> Result<Recorded, StoreError> {
    let key = outcome.job_id.to_bytes();
    // Audit entries go to the job's tenant and, for rank changes, to guilds linked to the group.
    let Some(existing) = store.get_json::<JobRecord>(Tree::Jobs, &key)? else {
        tracing::warn!(job = %outcome.job_id, "outcome for an unknown job ignored");
        return Ok(Recorded::default());
    };
    let mut tenants = vec![existing.tenant];
    if let Tenant::Group(g) = existing.tenant {
        tenants.extend(
            crate::guilds::linked_to(store, g)?
                .into_iter()
                .map(Tenant::Guild),
        );
    }
    let audit_ids = tenants
        .iter()
        .map(|_| store.next_id())
        .collect::<Result<Vec<_>, _>>()?;
    let run_audit_id = store.next_id()?;
    store.transact(|tx| {
        let Some(mut rec) = tx.get_json::<JobRecord>(Tree::Jobs, &key)? else {
            return Ok(Recorded::default());
        };
        if rec.generation != outcome.generation || rec.status.is_final() {
            return Ok(Recorded::default());
        }
        rec.attempts = outcome.attempts;
        rec.finished_at = Some(outcome.finished_at);
        rec.updated_at = outcome.finished_at;
        rec.timings = Some(outcome.timings);
        match &outcome.status {
            OutcomeStatus::Succeeded { result } => {
                rec.status = JobStatus::Succeeded;
                rec.result = Some(result.clone());
                rec.error = None;
            }
            OutcomeStatus::Failed { error } => {
                rec.status = JobStatus::Failed;
                rec.error = Some(error.clone());
            }
            OutcomeStatus::Dead { error } => {
                rec.status = JobStatus::Dead;
                rec.error = Some(error.clone());
                tx.insert(Tree::DeadJobs, &key, Vec::new())?;
            }
        }
        tx.put_json(Tree::Jobs, &key, &rec)?;
        for (tenant, id) in tenants.iter().zip(&audit_ids) {
            if let Some(entry) = audit_entry(&rec, *id) {
                audit::append_in(tx, *tenant, &entry)?;
            }
        }
        let staged = crate::syncs::on_outcome_in(tx, &rec, coordinator, run_audit_id)?;
        Ok(Recorded {
            changed: true,
            staged,
        })
    })
}

/// The audit entry a finished job leaves behind.
fn audit_entry(rec: &JobRecord, id: u64) -> Option<AuditEntry> {
    let (base, target) = match rec.kind {
        JobKind::RankSet | JobKind::RankPromote | JobKind::RankDemote => {
            let payload: super::ranking::RankJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            let base = match rec.kind {
                JobKind::RankSet => "rank.set",
                JobKind::RankPromote => "rank.promote",
                _ => "rank.demote",
            };
            (base, payload.user_id.to_string())
        }
        JobKind::RobloxRestrict => {
            let payload: super::moderation::RestrictJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            let base = if payload.active {
                "ban.roblox_restrict"
            } else {
                "ban.roblox_unrestrict"
            };
            (base, payload.user.to_string())
        }
        JobKind::DiscordSyncMember => {
            let p: super::discord::SyncMemberJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            ("discord.sync", p.user_id.to_string())
        }
        JobKind::DiscordRoleChanges => {
            let p: super::discord::RoleChangesJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            let users: std::collections::BTreeSet<u64> =
                p.changes.iter().map(|c| c.user_id).collect();
            let target = if users.len() == 1 {
                users.iter().next().map(u64::to_string).unwrap_or_default()
            } else {
                format!("{} users", users.len())
            };
            ("discord.roles", target)
        }
        JobKind::DiscordDirectMessage => {
            let p: super::discord::DirectMessageJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            ("discord.direct_message", p.user_id.to_string())
        }
        JobKind::DiscordBan => {
            let p: super::discord::DiscordBanJob =
                serde_json::from_value(rec.envelope.payload.clone()).ok()?;
            let base = if p.active {
                "ban.discord_ban"
            } else {
                "ban.discord_unban"
            };
            (base, p.user_id.to_string())
        }
        // Sync-all runs leave their own entries (start, complete, cancel), not one per job.
        JobKind::DiscordSyncPage | JobKind::DiscordSyncBatch => return None,
    };
    let actor = rec
        .context
        .get("actorKeyId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let (action, metadata) = match rec.status {
        JobStatus::Succeeded => {
            let mut m = serde_json::json!({"jobId": rec.id.to_string(), "attempts": rec.attempts});
            if let Ok(r) = serde_json::from_value::<RankResult>(rec.result.clone()?) {
                m["previousRank"] = r.previous_rank.into();
                m["newRank"] = r.new_rank.into();
                m["roleName"] = r.role.name.into();
                m["changed"] = r.changed.into();
                m["ruleId"] = serde_json::to_value(r.rule_id).unwrap_or_default();
            } else if let Some(r) = &rec.result {
                m["result"] = r.clone();
            }
            (base.to_owned(), m)
        }
        JobStatus::Failed | JobStatus::Dead => (
            format!(
                "{base}.{}",
                if rec.status == JobStatus::Dead {
                    "dead"
                } else {
                    "failed"
                }
            ),
            serde_json::json!({
                "jobId": rec.id.to_string(),
                "error": rec.error.as_ref().map(|e| &e.code),
                "message": rec.error.as_ref().map(|e| &e.message),
                "attempts": rec.attempts,
            }),
        ),
        JobStatus::Queued | JobStatus::Running => return None,
    };
    Some(AuditEntry {
        id,
        action,
        actor_id: actor,
        target_id: Some(target),
        metadata,
        created_at: rec.finished_at.unwrap_or(rec.updated_at),
    })
}

/// Runs until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    backend: Arc<dyn QueueBackend>,
    hub: Arc<OutcomeHub>,
    relay_wake: Arc<tokio::sync::Notify>,
    coordinator: crate::syncs::Coordinator,
    shutdown: CancellationToken,
) {
    if let Err(e) = backend.recover_outcomes().await {
        tracing::warn!(error = %e, "could not requeue outcomes left unacknowledged by a previous run");
    }
    let mut backoff = Duration::from_millis(50);
    loop {
        let batch = tokio::select! {
            b = backend.next_outcomes(128, Duration::from_millis(500)) => b,
            _ = shutdown.cancelled() => return,
        };
        let batch = match batch {
            Ok(b) => {
                backoff = Duration::from_millis(50);
                b
            }
            Err(e) => {
                tracing::debug!(error = %e, "outcome stream unavailable");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let mut receipts = Vec::with_capacity(batch.len());
        let mut staged_any = false;
        let mut woken = Vec::with_capacity(batch.len());
        let mut ok = true;
        for (receipt, outcome) in batch {
            match record(store.as_ref(), &outcome, &coordinator) {
                Ok(Recorded { changed, staged }) => {
                    staged_any |= staged;
                    if changed {
                        let label = match outcome.status {
                            OutcomeStatus::Succeeded { .. } => "succeeded",
                            OutcomeStatus::Failed { .. } => "failed",
                            OutcomeStatus::Dead { .. } => "dead",
                        };
                        metrics::counter!("roster_jobs_recorded_total", "kind" => outcome.kind.as_str(), "outcome" => label).increment(1);
                    }
                    woken.push(outcome.job_id);
                    receipts.push(receipt);
                }
                Err(e) => {
                    tracing::error!(error = %e, job = %outcome.job_id, "cannot record outcome; it stays unacknowledged");
                    ok = false;
                }
            }
        }
        if let Err(e) = store.durable().await {
            tracing::error!(error = %e, "cannot make recorded outcomes durable; they stay unacknowledged");
            continue;
        }
        for j in woken {
            hub.wake(j);
        }
        if staged_any {
            relay_wake.notify_one();
        }
        if let Err(e) = backend.ack_outcomes(&receipts).await {
            tracing::warn!(error = %e, "could not acknowledge outcomes (they will be recorded again, harmlessly)");
        }
        if !ok {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
