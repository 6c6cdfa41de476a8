//! Waking idle apalis workers the moment a task is pushed.
//!
//! apalis only fetches when something wakes the worker. Its `poll_with_interval` strategy loses
//! wake-ups (when the tick fires in the same poll as an empty fetch completes, nothing re-arms
//! it and the worker sleeps until its next heartbeat: stalls of seconds were measured), and no
//! backend notifies pushes by itself. So Roster feeds every worker a [`WakeStream`] that:
//! - fires when tasks were pushed, in this process ([`Notifier::notify`]) or in another one (a
//!   `PUBLISH roster:wake` relayed into the notifier by [`super::RedisBackend`]);
//! - fires on a fallback tick (`queue.poll_interval`), for anything missed: one tick per queue and
//!   process, not one per worker (one worker of each queue holds the tick and hands it on when it
//!   stops), so an idle process fetches three times per interval whatever its worker count;
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

/// What a worker's channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Tasks were pushed.
    Pushed,
    /// The queue's fallback tick, passed on by the worker holding it while it was full.
    Tick,
    /// This worker holds its queue's fallback tick from now on (the one that held it stopped).
    Ticker,
}

/// A stream that yields whenever the worker should look for tasks.
#[derive(Debug)]
pub struct WakeStream {
    rx: Option<mpsc::UnboundedReceiver<Signal>>,
    /// While this worker holds its queue's fallback tick.
    tick: Option<tokio::time::Interval>,
    fallback: Duration,
    backlog: Arc<AtomicUsize>,
    /// This worker in the notifier, and its queue and slots.
    id: u64,
    queue: String,
    busy: Arc<AtomicUsize>,
    capacity: usize,
    notifier: Notifier,
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

    /// Whether this worker holds its queue's fallback tick.
    pub fn holds_tick(&self) -> bool {
        self.tick.is_some()
    }
}

/// The fallback tick, first firing at a random point of its first interval (so the ticks of
/// several processes, or of a worker that just took the tick over, do not line up).
fn fallback_tick(every: Duration) -> tokio::time::Interval {
    let every = every.max(Duration::from_millis(1));
    let offset = every.mul_f64(rand::random::<f64>());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

impl Stream for WakeStream {
    type Item = Wake;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Wake>> {
        let this = &mut *self;
        let mut fired = None;
        if let Some(rx) = this.rx.as_mut() {
            loop {
                match rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(Signal::Pushed)) => {
                        fired = fired.or(Some(Wake::Pushed));
                    }
                    Poll::Ready(Some(Signal::Tick)) => fired = Some(Wake::Tick),
                    Poll::Ready(Some(Signal::Ticker)) => {
                        if this.tick.is_none() {
                            this.tick = Some(fallback_tick(this.fallback));
                        }
                    }
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
            if this.busy.load(Ordering::Relaxed) < this.capacity {
                fired = Some(Wake::Tick);
            } else {
                // Full: a worker of the queue with a free slot looks instead.
                this.notifier.pass_tick(&this.queue, this.id);
            }
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

impl Drop for WakeStream {
    fn drop(&mut self) {
        self.notifier.leave(&self.queue, self.id);
    }
}

/// Most tasks a queue's backlog counts: past it, ticks find the rest.
const BACKLOG_CAP: usize = 1 << 20;

#[derive(Debug)]
struct Slot {
    id: u64,
    queue: String,
    tx: mpsc::UnboundedSender<Signal>,
    busy: Arc<AtomicUsize>,
    capacity: usize,
}

impl Slot {
    fn free(&self) -> bool {
        self.busy.load(Ordering::Relaxed) < self.capacity
    }
}

/// Wakes this process's idle workers.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    slots: Arc<Mutex<Vec<Slot>>>,
    cursor: Arc<AtomicUsize>,
    /// Ids for registered workers.
    next_id: Arc<std::sync::atomic::AtomicU64>,
    /// Per queue, the worker holding its fallback tick.
    tickers: Arc<Mutex<HashMap<String, u64>>>,
    /// Fetches owed to announced tasks, per queue (when counting).
    backlogs: Arc<Mutex<HashMap<String, Arc<AtomicUsize>>>>,
    /// Queues that have had a worker registered.
    queues: Arc<Mutex<std::collections::BTreeSet<String>>>,
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
    /// now, and returns its wake stream. The queue's first worker holds its fallback tick (every
    /// `fallback`); when it stops, another worker of the queue takes the tick over.
    pub fn register(
        &self,
        queue: &str,
        busy: Arc<AtomicUsize>,
        capacity: usize,
        fallback: Duration,
    ) -> WakeStream {
        let (tx, rx) = mpsc::unbounded();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let capacity = capacity.max(1);
        // Slots first, then the ticker: the lock order of `leave`.
        let mut slots = self.slots.lock();
        slots.push(Slot {
            id,
            queue: queue.to_owned(),
            tx,
            busy: busy.clone(),
            capacity,
        });
        let holds_tick = {
            let mut t = self.tickers.lock();
            match t.get(queue) {
                Some(_) => false,
                None => {
                    t.insert(queue.to_owned(), id);
                    true
                }
            }
        };
        drop(slots);
        self.queues.lock().insert(queue.to_owned());
        WakeStream {
            rx: Some(rx),
            tick: holds_tick.then(|| fallback_tick(fallback)),
            fallback,
            backlog: self.backlog(queue),
            id,
            queue: queue.to_owned(),
            busy,
            capacity,
            notifier: self.clone(),
        }
    }

    /// Worker `id` of `queue` stopped: it wakes no more, and the tick it held (or was handed
    /// and had not taken up yet) goes to another worker of the queue, or to the next one to
    /// register.
    fn leave(&self, queue: &str, id: u64) {
        let mut slots = self.slots.lock();
        slots.retain(|s| s.id != id && !s.tx.is_closed());
        let mut tickers = self.tickers.lock();
        if tickers.get(queue) != Some(&id) {
            return;
        }
        tickers.remove(queue);
        for s in slots.iter().filter(|s| s.queue == queue) {
            if s.tx.unbounded_send(Signal::Ticker).is_ok() {
                tickers.insert(queue.to_owned(), s.id);
                return;
            }
        }
    }

    /// The tick of `queue` fired while worker `from`, which holds it, was full: one worker of
    /// the queue with a free slot looks instead (nobody if all are full: each fetches again as
    /// it frees a slot, or at the next tick).
    fn pass_tick(&self, queue: &str, from: u64) {
        let slots = self.slots.lock();
        let n = slots.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let s = &slots[(start + i) % n];
            if s.queue == queue && s.id != from && s.free() {
                let _ = s.tx.unbounded_send(Signal::Tick);
                return;
            }
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
            let queues: Vec<String> = self.queues.lock().iter().cloned().collect();
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
            if slot.queue == queue && slot.free() {
                let _ = slot.tx.unbounded_send(Signal::Pushed);
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

    /// Fires of `w` now (polled without waiting).
    fn fires(w: &mut WakeStream) -> Vec<Wake> {
        use futures::FutureExt;
        let mut out = Vec::new();
        while let Some(Some(f)) = w.next().now_or_never() {
            out.push(f);
        }
        out
    }

    /// One worker per queue ticks, whatever the worker count; a full holder passes its tick to
    /// a worker with a free slot; a holder that stops hands the tick on.
    #[tokio::test(start_paused = true)]
    async fn one_tick_per_queue_handed_on_when_its_holder_stops() {
        let n = Notifier::default();
        let busy: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
        let mut a: Vec<WakeStream> = busy
            .iter()
            .map(|b| n.register("a", b.clone(), 1, Duration::from_secs(1)))
            .collect();
        let mut b = n.register("b", Arc::default(), 1, Duration::from_secs(1));
        assert_eq!(
            a.iter().map(WakeStream::holds_tick).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert!(b.holds_tick(), "every queue has its own tick");

        let mut ticks = [0usize; 4];
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            for (i, w) in a.iter_mut().chain(std::iter::once(&mut b)).enumerate() {
                ticks[i] += fires(w).iter().filter(|f| **f == Wake::Tick).count();
            }
        }
        assert_eq!(ticks, [10, 0, 0, 10], "one tick per interval per queue");

        // The holder is full: one free worker of its queue looks instead.
        busy[0].store(1, Ordering::Relaxed);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(fires(&mut a[0]).is_empty());
        let passed: usize = a[1..].iter_mut().map(|w| fires(w).len()).sum();
        assert_eq!(passed, 1);

        // The holder stops: another worker of the queue takes the tick over.
        a.remove(0);
        for w in &mut a {
            fires(w);
        }
        assert_eq!(a.iter().filter(|w| w.holds_tick()).count(), 1);
        let mut after = 0;
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(1)).await;
            after += a.iter_mut().map(|w| fires(w).len()).sum::<usize>();
        }
        assert!((4..=5).contains(&after), "{after} ticks in 5 intervals");

        // The holder stops, and so does the worker it handed the tick to, before taking it up;
        // then the queue's last worker: the next one to register holds the tick.
        for _ in 0..2 {
            a.push(n.register("a", Arc::default(), 1, Duration::from_secs(1)));
        }
        let holder = a.iter().position(WakeStream::holds_tick).expect("a holder");
        a.remove(holder);
        a.remove(0);
        assert!(!a[0].holds_tick());
        fires(&mut a[0]);
        assert!(a[0].holds_tick(), "handed on past the worker that stopped");
        drop(a);
        let c = n.register("a", Arc::default(), 1, Duration::from_secs(1));
        assert!(c.holds_tick());
    }

    fn woken(rx: &mut WakeStream) -> bool {
        let Some(rx) = rx.rx.as_mut() else {
            return false;
        };
        let mut any = false;
        while let Ok(s) = rx.try_recv() {
            any |= s != Signal::Ticker;
        }
        any
    }
}
