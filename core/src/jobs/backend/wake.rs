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
//! A process runs many small workers (see `roster-worker`'s pool); a push wakes only as many
//! workers as tasks were pushed, choosing workers with a free slot, round-robin, so a burst does
//! not turn into one fetch per worker.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use parking_lot::Mutex;

/// A stream that yields whenever the worker should look for tasks.
#[derive(Debug)]
pub struct WakeStream {
    rx: Option<mpsc::UnboundedReceiver<()>>,
    tick: Option<tokio::time::Interval>,
}

impl Stream for WakeStream {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let this = &mut *self;
        let mut fired = false;
        if let Some(rx) = this.rx.as_mut() {
            loop {
                match rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => fired = true,
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
            fired = true;
        }
        if fired {
            // apalis ignores a strategy's Ready; wake ourselves so the worker polls again.
            cx.waker().wake_by_ref();
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[derive(Debug)]
struct Slot {
    tx: mpsc::UnboundedSender<()>,
    busy: Arc<AtomicUsize>,
    capacity: usize,
}

/// Wakes this process's idle workers.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    slots: Arc<Mutex<Vec<Slot>>>,
    cursor: Arc<AtomicUsize>,
    registrations: Arc<AtomicUsize>,
}

impl Notifier {
    /// Registers a worker running up to `capacity` tasks, `busy` of which are running now, and
    /// returns its wake stream (with a fallback tick of `fallback`).
    pub fn register(
        &self,
        busy: Arc<AtomicUsize>,
        capacity: usize,
        fallback: Duration,
    ) -> WakeStream {
        let (tx, rx) = mpsc::unbounded();
        self.slots.lock().push(Slot {
            tx,
            busy,
            capacity: capacity.max(1),
        });
        // Every eighth worker ticks at the configured interval, the others ten times slower:
        // one fetch per tick per worker is what idling costs, and one ticking worker per eight
        // is plenty to catch a missed wake-up.
        let n = self.registrations.fetch_add(1, Ordering::Relaxed);
        let fallback =
            fallback.max(Duration::from_millis(1)) * if n.is_multiple_of(8) { 1 } else { 10 };
        // Spread the ticks of many workers instead of firing them together.
        let offset = fallback.mul_f64(rand::random::<f64>());
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, fallback);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        WakeStream {
            rx: Some(rx),
            tick: Some(tick),
        }
    }

    /// `tasks` were pushed (committed): wake that many workers that have a free slot.
    pub fn notify(&self, tasks: usize) {
        let mut slots = self.slots.lock();
        slots.retain(|s| !s.tx.is_closed());
        let n = slots.len();
        if n == 0 {
            return;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut woken = 0;
        for i in 0..n {
            let slot = &slots[(start + i) % n];
            if slot.busy.load(Ordering::Relaxed) < slot.capacity {
                let _ = slot.tx.unbounded_send(());
                woken += 1;
                if woken >= tasks.max(1) {
                    return;
                }
            }
        }
    }
}
