//! The outbox relay: moves accepted jobs from the store to the queue backend, in order, and
//! keeps retrying (with backoff, never giving up) while the backend is unreachable. Nothing the
//! API accepted is lost when Redis is down; it waits here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::JobEnvelope;
use super::backend::QueueBackend;
use super::facade::OutboxEntry;
use crate::store::{Store, StoreExt, Tree};

/// Runs until `shutdown`. Wakes on `wake` (new job) or every second.
pub async fn run(
    store: Arc<dyn Store>,
    backend: Arc<dyn QueueBackend>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(50);
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let batch = match store.scan_json::<OutboxEntry>(Tree::Outbox, &[], None, 256, false) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "outbox relay cannot read the store");
                sleep_or_cancel(Duration::from_secs(1), &shutdown).await;
                continue;
            }
        };
        metrics::gauge!("roster_outbox_pending").set(batch.len() as f64);
        if batch.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            }
            continue;
        }
        // Group by queue, keeping order within each queue.
        let mut by_queue: std::collections::BTreeMap<
            String,
            Vec<(Vec<u8>, ulid::Ulid, JobEnvelope)>,
        > = std::collections::BTreeMap::new();
        for (key, e) in batch {
            by_queue
                .entry(e.queue)
                .or_default()
                .push((key, e.task_id, e.envelope));
        }
        let mut failed = false;
        for (queue, entries) in by_queue {
            let tasks: Vec<(ulid::Ulid, JobEnvelope)> = entries
                .iter()
                .map(|(_, id, env)| (*id, env.clone()))
                .collect();
            let push_started = std::time::Instant::now();
            let result = backend.push_many(&queue, &tasks).await;
            metrics::histogram!("roster_outbox_push_seconds")
                .record(push_started.elapsed().as_secs_f64());
            match result {
                Ok(()) => {
                    let now = chrono::Utc::now();
                    for (_, _, env) in &entries {
                        // Submission to committed in the queue: the relay's share of a job's
                        // queue wait.
                        let waited = (now - env.submitted_at).to_std().unwrap_or_default();
                        metrics::histogram!("roster_outbox_relay_delay_seconds")
                            .record(waited.as_secs_f64());
                    }
                    // Workers first: the tasks are committed to the queue, and clearing the outbox
                    // (a store transaction) is not on their path.
                    if let Err(e) = backend.announce(&queue, entries.len()).await {
                        tracing::debug!(error = %e, "could not announce pushed tasks; workers will find them on their next tick");
                    }
                    let removed = store.transact(|tx| {
                        for (key, _, _) in &entries {
                            tx.remove(Tree::Outbox, key)?;
                        }
                        Ok(())
                    });
                    if let Err(e) = removed {
                        tracing::error!(error = %e, "outbox relay cannot remove relayed entries (they will be pushed again, harmlessly)");
                    }
                    metrics::counter!("roster_jobs_enqueued_total", "queue" => queue)
                        .increment(entries.len() as u64);
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            down_for_ms = since.elapsed().as_millis() as u64,
                            "queue backend reachable again; relaying held jobs"
                        );
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    metrics::counter!("roster_outbox_push_errors_total").increment(1);
                    if failing_since.is_none() {
                        failing_since = Some(std::time::Instant::now());
                        tracing::warn!(error = %e, held = entries.len(), "queue backend unavailable; holding jobs in the outbox and retrying");
                    } else {
                        tracing::debug!(error = %e, "queue backend still unavailable");
                    }
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            sleep_or_cancel(backoff, &shutdown).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

async fn sleep_or_cancel(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::audit::Tenant;
    use crate::config::QueueConfig;
    use crate::ids::{GroupId, JobId};
    use crate::jobs::backend::SqliteBackend;
    use crate::jobs::backend::wake::WakeStream;
    use crate::jobs::facade::{Staging, new_record};
    use crate::jobs::{JobKind, QUEUES};
    use crate::store::SledStore;

    async fn woken(stream: &mut WakeStream, within: Duration) -> bool {
        tokio::time::timeout(within, stream.next()).await.is_ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relayed_tasks_wake_a_worker_of_their_own_queue() {
        let dir = std::env::temp_dir().join(format!("roster-relay-{}", ulid::Ulid::generate()));
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&dir).expect("store"));
        // One idle worker per queue, with a fallback tick far beyond the test (a day), so only
        // an announcement wakes one.
        let config = QueueConfig {
            poll_interval: Duration::from_secs(24 * 3600),
            ..QueueConfig::default()
        };
        let sqlite = SqliteBackend::open(&dir.join("queue.sqlite3"), &config)
            .await
            .expect("queue");
        let mut workers: Vec<(&str, WakeStream)> = QUEUES
            .iter()
            .map(|q| {
                let s = sqlite.register_worker(q, Arc::default(), 2);
                (*q, s)
            })
            .collect();
        let backend: Arc<dyn QueueBackend> = Arc::new(sqlite);
        let wake = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let relay = tokio::spawn(run(store.clone(), backend, wake.clone(), stop.clone()));

        for kind in [JobKind::RankSet, JobKind::DiscordSyncMember] {
            let rec = new_record(
                JobId(ulid::Ulid::generate()),
                kind,
                Tenant::Group(GroupId::new(7).unwrap()),
                json!({}),
                json!({}),
                chrono::Utc::now(),
                3,
            );
            store
                .transact(|tx| Staging::default().restage(tx, &rec))
                .unwrap();
            wake.notify_one();
            for (queue, stream) in &mut workers {
                if *queue == kind.queue() {
                    assert!(
                        woken(stream, Duration::from_secs(5)).await,
                        "the {queue} worker is woken for a {kind:?} job"
                    );
                } else {
                    assert!(
                        !woken(stream, Duration::from_millis(200)).await,
                        "the {queue} worker is not woken for a {kind:?} job"
                    );
                }
            }
        }
        stop.cancel();
        relay.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
