//! The outcome recorder (control plane): consumes outcomes from the queue backend, writes the
//! job record, the dead-letter index and what the job's kind leaves behind (its outcome hook: an
//! audit entry, follow-up jobs) in one transaction, wakes waiting API
//! requests, makes the records durable, and only then acknowledges the outcome. Recording is
//! idempotent (an outcome for a job that is already final, or for an older generation, changes
//! nothing), so redelivered outcomes are harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backend::QueueBackend;
use super::facade::{OutcomeHub, Staging};
use super::kind::{Effects, JobAudit};
use super::{JobOutcome, JobRecord, JobStatus, OutcomeStatus};
use crate::audit::{self, AuditEntry, Tenant};
use crate::config::Config;
use crate::store::{Store, StoreError, StoreExt, Tree, TxnExt};

/// What recording an outcome did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The job record changed (false for a duplicate or stale outcome).
    pub changed: bool,
    /// Follow-up jobs were staged (sync-all): wake the relay.
    pub staged: bool,
}

/// Records one outcome: the record, the dead-letter index, the job's turns, and its kind's
/// outcome hook ([`super::kind::Kind::on_outcome`]: the audit entry, follow-up jobs), in one
/// transaction.
pub fn record(
    store: &dyn Store,
    outcome: &JobOutcome,
    config: &Config,
) -> Result<Recorded, StoreError> {
    let key = outcome.job_id.to_bytes();
    // Audit entries go to the job's tenant and, for a group, to the guilds linked to it.
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
    let spare_id = store.next_id()?;
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
        super::order::finished_in(tx, &rec.envelope.turns)?;
        let mut staging = Staging::default();
        let mut fx = Effects {
            tx,
            config,
            jobs: &mut staging,
            audit: None,
            spare_id: Some(spare_id),
        };
        super::kind::on_outcome_of(&rec, &mut fx)?;
        if let Some(note) = fx.audit.take() {
            for (tenant, id) in tenants.iter().zip(&audit_ids) {
                if let Some(entry) = audit_entry(&rec, &note, *id) {
                    audit::append_in(tx, *tenant, &entry)?;
                }
            }
        }
        Ok(Recorded {
            changed: true,
            staged: staging.count() > 0,
        })
    })
}

/// The audit entry a finished job leaves behind, from its kind's [`JobAudit`].
fn audit_entry(rec: &JobRecord, note: &JobAudit, id: u64) -> Option<AuditEntry> {
    let actor = rec
        .context
        .get("actorKeyId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let (action, metadata) = match rec.status {
        JobStatus::Succeeded => {
            let result = rec.result.as_ref()?;
            let mut m = serde_json::json!({"jobId": rec.id.to_string(), "attempts": rec.attempts});
            match &note.details {
                Some(details) => {
                    for (k, v) in details {
                        m[k] = v.clone();
                    }
                }
                None => m["result"] = result.clone(),
            }
            (note.action.to_owned(), m)
        }
        JobStatus::Failed | JobStatus::Dead => (
            format!(
                "{}.{}",
                note.action,
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
        target_id: Some(note.target.clone()),
        metadata,
        created_at: rec.done_at(),
    })
}

/// Runs until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    backend: Arc<dyn QueueBackend>,
    hub: Arc<OutcomeHub>,
    relay_wake: Arc<tokio::sync::Notify>,
    config: Arc<Config>,
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
            match record(store.as_ref(), &outcome, &config) {
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
        // Waiting requests are answered before the flush: what they read is already decided
        // (the outcome is durable in the queue backend's ledger, first decision wins) and stays
        // unacknowledged until the record is durable, so a crash in between only means the same
        // outcome is recorded again at restart. This keeps one flush off every answer's path.
        for j in woken {
            hub.wake(j);
        }
        if let Err(e) = store.durable().await {
            tracing::error!(error = %e, "cannot make recorded outcomes durable; they stay unacknowledged");
            // They will be read again: not in a tight loop while the disk is failing.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::config::QueueConfig;
    use crate::ids::{GroupId, JobId};
    use crate::jobs::JobKind;
    use crate::jobs::backend::SqliteBackend;
    use crate::jobs::facade::new_record;
    use crate::store::{Entries, SledStore, Txn};

    /// The store, with flushes failing while `failing` is set.
    struct FailingFlush {
        inner: SledStore,
        failing: AtomicBool,
    }

    impl Store for FailingFlush {
        fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(tree, key)
        }
        fn scan(
            &self,
            tree: Tree,
            prefix: &[u8],
            after: Option<&[u8]>,
            limit: usize,
            rev: bool,
        ) -> Result<Entries, StoreError> {
            self.inner.scan(tree, prefix, after, limit, rev)
        }
        fn transact_dyn(
            &self,
            f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            self.inner.transact_dyn(f)
        }
        fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
            self.inner.insert(tree, key, value)
        }
        fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
            self.inner.remove(tree, key)
        }
        fn next_id(&self) -> Result<u64, StoreError> {
            self.inner.next_id()
        }
        fn len(&self, tree: Tree) -> usize {
            self.inner.len(tree)
        }
        fn durable(&self) -> futures::future::BoxFuture<'static, Result<(), StoreError>> {
            if self.failing.load(Ordering::SeqCst) {
                Box::pin(async { Err(StoreError::Io("no space left on device".into())) })
            } else {
                self.inner.durable()
            }
        }
        fn flush_blocking(&self) -> Result<(), StoreError> {
            self.inner.flush_blocking()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_is_answered_before_the_flush_and_the_outcome_acknowledged_after_it() {
        let dir = std::env::temp_dir().join(format!("roster-recorder-{}", ulid::Ulid::generate()));
        let store = Arc::new(FailingFlush {
            inner: SledStore::open(&dir).expect("store"),
            failing: AtomicBool::new(true),
        });
        let backend: Arc<dyn QueueBackend> = Arc::new(
            SqliteBackend::open(&dir.join("queue.sqlite3"), &QueueConfig::default())
                .await
                .expect("queue"),
        );
        let rec = new_record(
            JobId(ulid::Ulid::generate()),
            JobKind::RankSet,
            Tenant::Group(GroupId::new(7).unwrap()),
            json!({}),
            json!({}),
            Utc::now(),
            3,
        );
        store
            .transact(|tx| tx.put_json(Tree::Jobs, &rec.id.to_bytes(), &rec))
            .unwrap();
        let outcome = JobOutcome {
            job_id: rec.id,
            generation: 0,
            kind: JobKind::RankSet,
            attempts: 1,
            finished_at: Utc::now(),
            status: OutcomeStatus::Succeeded {
                result: json!({"ok": true}),
            },
            timings: Default::default(),
        };
        backend.finish(&outcome, &[]).await.unwrap();
        let hub = Arc::new(OutcomeHub::default());
        let config = Arc::new(Config::default());
        let start = |stop: &CancellationToken| {
            tokio::spawn(run(
                store.clone(),
                backend.clone(),
                hub.clone(),
                Arc::new(tokio::sync::Notify::new()),
                config.clone(),
                stop.clone(),
            ))
        };

        // The flush fails: the waiting request is answered with the recorded outcome anyway…
        let done = hub.watch(rec.id);
        let stop = CancellationToken::new();
        let recorder = start(&stop);
        tokio::time::timeout(Duration::from_secs(10), done)
            .await
            .expect("the waiting request is woken")
            .expect("woken, not dropped");
        let seen: JobRecord = store
            .get_json(Tree::Jobs, &rec.id.to_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(seen.status, JobStatus::Succeeded);
        // …but the outcome is not acknowledged: a restart would record it again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        recorder.await.unwrap();
        let pending = backend
            .next_outcomes(10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(
            pending.len(),
            1,
            "unacknowledged while the record is not durable"
        );
        assert_eq!(pending[0].1.job_id, rec.id);

        // Once flushes work again, the outcome is acknowledged.
        store.failing.store(false, Ordering::SeqCst);
        let stop = CancellationToken::new();
        let recorder = start(&stop);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !backend
            .next_outcomes(10, Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the outcome was never acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        recorder.await.unwrap();
        drop(backend);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
