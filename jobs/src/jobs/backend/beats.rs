//! Worker heartbeats, written once per process and interval instead of once per worker.
//!
//! apalis has every worker write its own heartbeat (and look for other workers' orphans) every
//! `queue.heartbeat_interval`. A process runs dozens of small workers (88 by default), so an idle
//! process wrote some 44 heartbeats a second: write transactions on the embedded queue file
//! (about 0.4 MB/s of disk writes), two scripts each on Redis, and a wake-up of every worker.
//!
//! Here a worker counts as live from its first poll until its backend is dropped (its worker
//! stopped, on its own or at shutdown), and one task per process writes, every interval, the
//! heartbeat of every live worker and hands back the tasks of dead ones, in one transaction or
//! one script. So:
//! - a process that crashes stops beating for all its workers, whose tasks are handed back
//!   within `heartbeat_interval × missed_heartbeats` of its last beat, by any other process, or
//!   by the next one to start on the same queue, as before;
//! - a worker that stops inside a live process (it failed, and its supervisor builds a new one
//!   under a new name) stops beating at once, and its tasks are handed back the same way;
//! - an idle process costs one beat per interval, whatever its worker count.
//!
//! apalis' own per-worker heartbeat is pushed out to [`APALIS_HEARTBEAT`], where it does nothing
//! that matters (its orphan search looks for workers silent for days).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// The heartbeat interval apalis' own per-worker loop is given: far beyond any process's life
/// in practice, so the process-wide beat is the one that counts.
pub(super) const APALIS_HEARTBEAT: Duration = Duration::from_secs(24 * 3600);

/// This process's live workers: name → queue.
#[derive(Clone, Default, Debug)]
pub(super) struct Live(Arc<Mutex<BTreeMap<String, String>>>);

impl Live {
    /// Counts worker `name` of `queue` as live until the returned guard is dropped.
    pub(super) fn join(&self, queue: &str, name: &str) -> Member {
        self.0.lock().insert(name.to_owned(), queue.to_owned());
        Member {
            live: self.clone(),
            name: name.to_owned(),
        }
    }

    /// The live workers, as (queue, name), by name.
    pub(super) fn workers(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .iter()
            .map(|(n, q)| (q.clone(), n.clone()))
            .collect()
    }
}

/// A live worker; dropping it (with the worker's backend) ends its heartbeats.
#[derive(Debug)]
pub(super) struct Member {
    live: Live,
    name: String,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.live.0.lock().remove(&self.name);
    }
}

/// Every `interval` until `stop`: `beat(workers)` with this process's live workers (nothing while
/// there are none). A failed beat is logged; the next interval tries again.
pub(super) async fn run<F, Fut>(
    live: Live,
    interval: Duration,
    stop: CancellationToken,
    backend: &'static str,
    mut beat: F,
) where
    F: FnMut(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let workers = live.workers();
        if workers.is_empty() {
            continue;
        }
        if let Err(error) = beat(workers).await {
            metrics::counter!("roster_queue_heartbeat_failures_total", "backend" => backend)
                .increment(1);
            tracing::warn!(backend, %error, "could not write the workers' heartbeats");
        }
    }
}

/// Logs and announces tasks handed back by a beat: `(queue, tasks)`.
pub(super) fn handed_back(requeued: &[(String, u64)], mut announce: impl FnMut(&str, usize)) {
    for (queue, tasks) in requeued {
        if *tasks > 0 {
            tracing::warn!(
                queue = %queue,
                tasks,
                "handed back tasks of a worker that stopped heartbeating"
            );
            announce(queue, *tasks as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_is_live_until_its_guard_is_dropped() {
        let live = Live::default();
        let a = live.join("ranking", "w-a");
        let b = live.join("discord", "w-b");
        assert_eq!(
            live.workers(),
            [
                ("ranking".to_owned(), "w-a".to_owned()),
                ("discord".to_owned(), "w-b".to_owned())
            ]
        );
        drop(a);
        assert_eq!(live.workers(), [("discord".to_owned(), "w-b".to_owned())]);
        drop(b);
        assert!(live.workers().is_empty());
    }

    /// The beat runs once per interval with the live workers, not at all while there are none,
    /// and stops with `stop`.
    #[tokio::test(start_paused = true)]
    async fn one_beat_per_interval_for_every_live_worker() {
        let live = Live::default();
        let stop = CancellationToken::new();
        let seen: Arc<Mutex<Vec<usize>>> = Arc::default();
        let task = tokio::spawn(run(
            live.clone(),
            Duration::from_secs(2),
            stop.clone(),
            "test",
            {
                let seen = seen.clone();
                move |w: Vec<(String, String)>| {
                    seen.lock().push(w.len());
                    async { Ok(()) }
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(seen.lock().is_empty(), "no beat without live workers");
        let members: Vec<Member> = (0..40)
            .map(|i| live.join("ranking", &format!("w{i}")))
            .collect();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(*seen.lock(), [40; 5], "one beat per interval, for all 40");
        drop(members);
        stop.cancel();
        task.await.expect("stops");
    }
}
