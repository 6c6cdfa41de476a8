//! Waking idle apalis workers the moment a task is pushed.
//!
//! apalis only fetches when something wakes the worker. Its `poll_with_interval` strategy loses
//! wake-ups (when the tick fires in the same poll as an empty fetch completes, nothing re-arms
//! it and the worker sleeps until its next heartbeat: stalls of seconds were measured), and no
//! backend notifies pushes by itself. So Roster feeds every worker a [`WakeStream`] that:
//! - fires when tasks were pushed, in this process ([`Notifier::notify`]) or in another one (a
//!   `PUBLISH roster:wake` relayed into the notifier by [`super::RedisBackend`]);
//! - fires on a fallback tick (`queue.poll_interval`), for anything missed;
//! - and re-wakes itself whenever it fires, so a signal consumed while a fetch was in flight
//!   still causes one more fetch.
//!
//! A process runs many small workers (see `roster-worker`'s pool), each consuming one queue; a
//! push wakes only as many workers of that queue as tasks were pushed, choosing workers with a
//! free slot, round-robin, so a burst does not turn into one fetch per worker. (Waking a worker
//! of another queue finds nothing: measured at one client on the embedded backend, 45% of rank
//! jobs waited for the fallback tick, 0.1–1 s, when wake-ups ignored the queue.)
//!
//! A notifier made with [`Notifier::counting`] (the embedded queue's) also counts, per queue,
//! the fetches owed to announced tasks (its *backlog*). A wake-up then only says "look at the
//! backlog": a worker with a free slot takes one fetch from it ([`WakeStream::take_backlog`]),
//! and fetches nothing when it is empty. Two wake-ups that reach the same worker before it runs
//! still mean two fetches, and tasks pushed while every worker was busy are fetched by the first
//! worker whose slot frees, without waiting for a tick (see `sqlite_worker`). apalis-redis
//! fetches whenever its worker is polled with a free slot, so the Redis backend counts nothing.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use parking_lot::Mutex;

/// Why a [`WakeStream`] fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Tasks were pushed (or handed back to the queue).
    Pushed,
    /// The fallback tick: whatever no wake-up announced (a retry, an orphan handed back, tasks
    /// from before a restart) may be waiting, so fetch until the queue is empty.
    Tick,
}

/// A stream that yields whenever the worker should look for tasks.
#[derive(Debug)]
pub struct WakeStream {
    rx: Option<mpsc::UnboundedReceiver<()>>,
    tick: Option<tokio::time::Interval>,
    backlog: Arc<AtomicUsize>,
}

impl WakeStream {
    /// Takes one fetch of the queue's backlog, if any: the caller, which has a free slot,
    /// fetches.
    pub fn take_backlog(&self) -> bool {
        self.backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Returns one fetch taken by [`Self::take_backlog`] that did not happen.
    pub fn give_back(&self) {
        let _ = self
            .backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(1).min(BACKLOG_CAP))
            });
    }

    /// Fetches the queue's backlog still owes.
    pub fn backlog_len(&self) -> usize {
        self.backlog.load(Ordering::Acquire)
    }
}

impl Stream for WakeStream {
    type Item = Wake;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Wake>> {
        let this = &mut *self;
        let mut fired = None;
        if let Some(rx) = this.rx.as_mut() {
            loop {
                match rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => fired = Some(Wake::Pushed),
                    Poll::Ready(None) => {
                        this.rx = None;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if let Some(t) = this.tick.as_mut()
            && t.poll_tick(cx).is_ready()
        {
            fired = Some(Wake::Tick);
        }
        if fired.is_some() {
            // apalis-redis ignores a strategy's Ready; wake ourselves so the worker polls again.
            cx.waker().wake_by_ref();
        }
        match fired {
            Some(w) => Poll::Ready(Some(w)),
            None => Poll::Pending,
        }
    }
}

/// Most tasks a queue's backlog counts: past it, ticks find the rest.
const BACKLOG_CAP: usize = 1 << 20;

#[derive(Debug)]
struct Slot {
    queue: String,
    tx: mpsc::UnboundedSender<()>,
    busy: Arc<AtomicUsize>,
    capacity: usize,
}

/// Wakes this process's idle workers.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    slots: Arc<Mutex<Vec<Slot>>>,
    cursor: Arc<AtomicUsize>,
    /// Workers registered so far, per queue.
    registrations: Arc<Mutex<HashMap<String, usize>>>,
    /// Fetches owed to announced tasks, per queue (when counting).
    backlogs: Arc<Mutex<HashMap<String, Arc<AtomicUsize>>>>,
    counting: bool,
}

impl Notifier {
    /// A notifier that counts each queue's backlog (see the module documentation).
    pub fn counting() -> Self {
        Self {
            counting: true,
            ..Self::default()
        }
    }

    /// Registers a worker of `queue` running up to `capacity` tasks, `busy` of which are running
    /// now, and returns its wake stream (with a fallback tick of `fallback`).
    pub fn register(
        &self,
        queue: &str,
        busy: Arc<AtomicUsize>,
        capacity: usize,
        fallback: Duration,
    ) -> WakeStream {
        let (tx, rx) = mpsc::unbounded();
        self.slots.lock().push(Slot {
            queue: queue.to_owned(),
            tx,
            busy,
            capacity: capacity.max(1),
        });
        // Every eighth worker ticks at the configured interval, the others ten times slower:
        // one fetch per tick per worker is what idling costs, and one ticking worker per eight
        // is plenty to catch a missed wake-up. Counted per queue, so every queue has one.
        let n = {
            let mut r = self.registrations.lock();
            let n = r.entry(queue.to_owned()).or_default();
            *n += 1;
            *n - 1
        };
        let fallback =
            fallback.max(Duration::from_millis(1)) * if n.is_multiple_of(8) { 1 } else { 10 };
        // Spread the ticks of many workers instead of firing them together.
        let offset = fallback.mul_f64(rand::random::<f64>());
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, fallback);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        WakeStream {
            rx: Some(rx),
            tick: Some(tick),
            backlog: self.backlog(queue),
        }
    }

    fn backlog(&self, queue: &str) -> Arc<AtomicUsize> {
        self.backlogs
            .lock()
            .entry(queue.to_owned())
            .or_default()
            .clone()
    }

    /// Counts `tasks` more in `queue`'s backlog (for example, tasks found at start-up), when
    /// counting.
    pub fn add_backlog(&self, queue: &str, tasks: usize) {
        if !self.counting {
            return;
        }
        let _ = self
            .backlog(queue)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(tasks).min(BACKLOG_CAP))
            });
    }

    /// Tasks in `queue`'s backlog.
    pub fn backlog_len(&self, queue: &str) -> usize {
        self.backlog(queue).load(Ordering::Acquire)
    }

    /// `tasks` were pushed (committed) to `queue` (`None`: unknown, so to every queue): count
    /// them in its backlog (when counting) and wake that many of its workers that have a free
    /// slot.
    pub fn notify(&self, queue: Option<&str>, tasks: usize) {
        let Some(queue) = queue else {
            let queues: Vec<String> = self.registrations.lock().keys().cloned().collect();
            for q in queues {
                self.notify(Some(&q), tasks);
            }
            return;
        };
        let tasks = tasks.max(1);
        // Counted before anyone is woken, so a woken worker finds it; counted even with no
        // worker registered yet (during start-up), for the first ones to take.
        self.add_backlog(queue, tasks);
        let mut slots = self.slots.lock();
        slots.retain(|s| !s.tx.is_closed());
        let n = slots.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        // A worker counts its slot as busy only once the handler runs, so one that just fetched
        // can look free and be full. When counting, a spare wake-up per task costs one poll
        // (only as many workers fetch as fetches are owed) and makes it unlikely that every
        // woken worker is full while others sleep.
        let wake = if self.counting {
            tasks.saturating_mul(2)
        } else {
            tasks
        };
        let mut woken = 0;
        for i in 0..n {
            let slot = &slots[(start + i) % n];
            if slot.queue == queue && slot.busy.load(Ordering::Relaxed) < slot.capacity {
                let _ = slot.tx.unbounded_send(());
                woken += 1;
                if woken >= wake {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_push_wakes_a_worker_of_its_own_queue() {
        let n = Notifier::default();
        let mut a: Vec<WakeStream> = (0..3)
            .map(|_| n.register("a", Arc::default(), 2, Duration::from_secs(60)))
            .collect();
        let mut b: Vec<WakeStream> = (0..3)
            .map(|_| n.register("b", Arc::default(), 2, Duration::from_secs(60)))
            .collect();
        let count = |v: &mut Vec<WakeStream>| v.iter_mut().map(woken).filter(|w| *w).count();
        for _ in 0..12 {
            n.notify(Some("b"), 1);
            assert_eq!(count(&mut a), 0, "a worker of another queue woken");
            assert_eq!(count(&mut b), 1);
        }
        // Unknown queue (an older process's announcement): one worker of each.
        n.notify(None, 1);
        assert_eq!(count(&mut a), 1);
        assert_eq!(count(&mut b), 1);
        // A queue nobody consumes here wakes nobody.
        n.notify(Some("c"), 5);
        assert_eq!(count(&mut a) + count(&mut b), 0);
        // Not counting: no backlog kept.
        assert_eq!(
            n.backlog_len("a") + n.backlog_len("b") + n.backlog_len("c"),
            0
        );
    }

    #[tokio::test]
    async fn a_counting_notifier_owes_one_fetch_per_announced_task() {
        let n = Notifier::counting();
        let busy: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let mut w: Vec<WakeStream> = busy
            .iter()
            .map(|b| n.register("a", b.clone(), 1, Duration::from_secs(60)))
            .collect();
        // Three tasks, two free workers: both woken (up to two per task when counting), three
        // fetches owed.
        n.notify(Some("a"), 3);
        assert_eq!(w.iter_mut().map(woken).filter(|x| *x).count(), 2);
        assert_eq!(n.backlog_len("a"), 3);
        // Both busy: nobody to wake, the fetches wait for a free slot.
        for b in &busy {
            b.store(1, Ordering::Relaxed);
        }
        n.notify(Some("a"), 2);
        assert_eq!(w.iter_mut().map(woken).filter(|x| *x).count(), 0);
        assert_eq!(w[0].backlog_len(), 5);
        // Whichever worker asks takes one fetch at a time.
        for i in 0..5 {
            assert!(w[i % 2].take_backlog());
        }
        assert!(!w[1].take_backlog(), "the backlog is empty");
        assert_eq!(n.backlog_len("a"), 0);
        // Announced before any worker of "c" registered (start-up): owed to the first ones.
        n.notify(Some("c"), 4);
        let c = n.register("c", Arc::default(), 2, Duration::from_secs(60));
        assert_eq!(c.backlog_len(), 4);
    }

    fn woken(rx: &mut WakeStream) -> bool {
        let Some(rx) = rx.rx.as_mut() else {
            return false;
        };
        let mut any = false;
        while let Ok(()) = rx.try_recv() {
            any = true;
        }
        any
    }
}
