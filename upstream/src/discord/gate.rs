//! The rate-limit gate in front of twilight (see the module documentation of [`super`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use twilight_http::response::Response;

use super::Op;
use crate::UpstreamError;

/// The rate-limit headers of a successful response.
#[derive(Debug, Clone)]
pub(super) struct Headers {
    bucket: Arc<str>,
    limit: u32,
    remaining: u32,
    reset_after: Duration,
}

impl Headers {
    pub(super) fn read<T>(resp: &Response<T>) -> Option<Self> {
        let (mut bucket, mut limit, mut remaining, mut reset_after) = (None, None, None, None);
        for (name, value) in resp.headers() {
            let value = std::str::from_utf8(value).ok().map(str::trim);
            if name.eq_ignore_ascii_case("x-ratelimit-bucket") {
                bucket = value.filter(|v| !v.is_empty()).map(Arc::from);
            } else if name.eq_ignore_ascii_case("x-ratelimit-limit") {
                limit = value.and_then(|v| v.parse::<u32>().ok());
            } else if name.eq_ignore_ascii_case("x-ratelimit-remaining") {
                remaining = value.and_then(|v| v.parse::<u32>().ok());
            } else if name.eq_ignore_ascii_case("x-ratelimit-reset-after") {
                reset_after = value
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(3600.0)));
            }
        }
        Some(Self {
            bucket: bucket?,
            limit: limit.filter(|l| *l > 0)?,
            remaining: remaining?,
            reset_after: reset_after?,
        })
    }
}

/// How long a request holds its global slot after its response came back.
const GLOBAL_PERIOD: Duration = Duration::from_secs(1);

/// Roster's rate-limit gate (see the module docs).
#[derive(Debug)]
pub(super) struct Gate {
    /// Requests per [`GLOBAL_PERIOD`] per bot.
    global_limit: u32,
    state: Mutex<GateState>,
    changed: tokio::sync::Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(50)
    }
}

#[derive(Debug, Default)]
struct GateState {
    /// (bot, route) → the route's bucket hash and limit, once a response named them.
    routes: HashMap<(u64, Op), (Arc<str>, u32)>,
    /// (bot, bucket, major) → counter.
    buckets: HashMap<(u64, Arc<str>, u64), Bucket>,
    /// (bot, route, major) → requests in flight while the bucket is unknown.
    probes: HashMap<(u64, Op, u64), u32>,
    /// bot → its global slots.
    global: HashMap<u64, GlobalSlots>,
}

/// One bot's global slots: requests in flight, and when the finished ones free theirs.
#[derive(Debug, Default)]
struct GlobalSlots {
    in_flight: u32,
    /// Ascending.
    frees_at: std::collections::VecDeque<Instant>,
}

impl GlobalSlots {
    /// `Ok` when a slot is free at `now`; else when to look again (`None`: when a request in
    /// flight finishes).
    fn check(&mut self, limit: u32, now: Instant) -> Result<(), Option<Instant>> {
        while self.frees_at.front().is_some_and(|t| *t <= now) {
            self.frees_at.pop_front();
        }
        let held = self.in_flight as usize + self.frees_at.len();
        if held < limit as usize {
            Ok(())
        } else {
            Err(self.frees_at.front().copied())
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    limit: u32,
    remaining: u32,
    reset_at: Instant,
    in_flight: u32,
}

/// A ticket that goes back to its gate as failed when dropped unused.
pub(super) struct Held<'a> {
    pub(super) gate: &'a Gate,
    pub(super) ticket: Option<Ticket>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.gate.fail(t, None);
        }
    }
}

/// A granted request; hand it back with [`Gate::complete`] or [`Gate::fail`].
#[derive(Debug)]
pub(super) struct Ticket {
    bot: u64,
    op: Op,
    major: u64,
    bucket: Option<Arc<str>>,
}

impl Gate {
    pub(super) fn new(global_limit: u16) -> Self {
        Self {
            global_limit: u32::from(global_limit.max(1)),
            state: Mutex::default(),
            changed: tokio::sync::Notify::new(),
        }
    }

    pub(super) async fn acquire(
        &self,
        bot: u64,
        op: Op,
        major: u64,
        max_wait: Duration,
    ) -> Result<Ticket, UpstreamError> {
        let started = Instant::now();
        loop {
            let notified = self.changed.notified();
            let until = match self.try_acquire(bot, op, major, Instant::now()) {
                Ok(t) => {
                    let waited = started.elapsed();
                    if waited > Duration::from_millis(1) {
                        metrics::histogram!("roster_discord_rate_limit_wait_seconds", "endpoint" => op.as_str())
                            .record(waited.as_secs_f64());
                    }
                    return Ok(t);
                }
                Err(until) => until,
            };
            let now = Instant::now();
            let waited = now - started;
            // A known reset further away than `max_wait`: give up now rather than park.
            if let Some(u) = until
                && u.saturating_duration_since(now) > max_wait
            {
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(u.saturating_duration_since(now)),
                    message: format!(
                        "Discord's {} rate limit is used up for the next {:.1}s",
                        op.as_str(),
                        u.saturating_duration_since(now).as_secs_f64()
                    ),
                });
            }
            // Waiting on requests in flight (or a reset that kept moving) for too long.
            if waited > max_wait * 2 {
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(Duration::from_secs(1)),
                    message: format!("Discord's {} rate limit is busy", op.as_str()),
                });
            }
            // Wake at the reset, when a response updates the gate, or after a short while.
            let sleep_for = until
                .map(|u| u.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(250))
                .min(Duration::from_millis(250));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(sleep_for) => {}
            }
        }
    }

    /// A ticket, or when to look again (`None`: when a request in flight finishes).
    fn try_acquire(
        &self,
        bot: u64,
        op: Op,
        major: u64,
        now: Instant,
    ) -> Result<Ticket, Option<Instant>> {
        let mut s = self.state.lock();
        let global = s.global.entry(bot).or_default();
        global.check(self.global_limit, now)?;
        let bucket = Self::take_route(&mut s, bot, op, major, now)?;
        s.global.entry(bot).or_default().in_flight += 1;
        Ok(Ticket {
            bot,
            op,
            major,
            bucket,
        })
    }

    /// The route's share of a grant: a probe while its bucket is unknown (`None`), else one of
    /// the bucket's remaining requests.
    fn take_route(
        s: &mut GateState,
        bot: u64,
        op: Op,
        major: u64,
        now: Instant,
    ) -> Result<Option<Arc<str>>, Option<Instant>> {
        let Some((hash, limit)) = s.routes.get(&(bot, op)).cloned() else {
            let probes = s.probes.entry((bot, op, major)).or_default();
            if *probes > 0 {
                return Err(None);
            }
            *probes += 1;
            return Ok(None);
        };
        let b = s
            .buckets
            .entry((bot, hash.clone(), major))
            .or_insert_with(|| Bucket {
                limit,
                remaining: limit,
                reset_at: now,
                in_flight: 0,
            });
        if now >= b.reset_at {
            // The window is over (a sliding one is empty, a fixed one rolled over).
            b.remaining = b.limit.saturating_sub(b.in_flight);
        }
        if b.remaining == 0 {
            return Err(if b.reset_at > now {
                Some(b.reset_at)
            } else {
                None
            });
        }
        b.remaining -= 1;
        b.in_flight += 1;
        Ok(Some(hash))
    }

    fn release(s: &mut GateState, t: &Ticket, now: Instant) {
        if let Some(g) = s.global.get_mut(&t.bot) {
            g.in_flight = g.in_flight.saturating_sub(1);
            g.frees_at.push_back(now + GLOBAL_PERIOD);
        }
        match &t.bucket {
            None => {
                if let Some(p) = s.probes.get_mut(&(t.bot, t.op, t.major)) {
                    *p = p.saturating_sub(1);
                    if *p == 0 {
                        s.probes.remove(&(t.bot, t.op, t.major));
                    }
                }
            }
            Some(h) => {
                if let Some(b) = s.buckets.get_mut(&(t.bot, h.clone(), t.major)) {
                    b.in_flight = b.in_flight.saturating_sub(1);
                }
            }
        }
    }

    pub(super) fn complete(&self, t: Ticket, headers: Option<Headers>) {
        let now = Instant::now();
        {
            let mut s = self.state.lock();
            Self::release(&mut s, &t, now);
            if let Some(h) = headers {
                s.routes.insert((t.bot, t.op), (h.bucket.clone(), h.limit));
                let reset_at = now + h.reset_after;
                let b = s
                    .buckets
                    .entry((t.bot, h.bucket, t.major))
                    .or_insert_with(|| Bucket {
                        limit: h.limit,
                        remaining: h.remaining,
                        reset_at,
                        in_flight: 0,
                    });
                let estimate = h.remaining.saturating_sub(b.in_flight);
                b.remaining = if now >= b.reset_at {
                    estimate
                } else {
                    b.remaining.min(estimate)
                };
                b.limit = h.limit;
                b.reset_at = b.reset_at.max(reset_at);
                if s.buckets.len() > 50_000 {
                    s.buckets.retain(|_, b| b.in_flight > 0 || b.reset_at > now);
                }
                if s.global.len() > 10_000 {
                    s.global.retain(|_, g| {
                        g.in_flight > 0 || g.frees_at.back().is_some_and(|t| *t > now)
                    });
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// A call failed; `limited` is the wait a 429 asked for.
    pub(super) fn fail(&self, t: Ticket, limited: Option<Duration>) {
        let now = Instant::now();
        {
            let mut s = self.state.lock();
            Self::release(&mut s, &t, now);
            if let Some(wait) = limited {
                let hash = t
                    .bucket
                    .clone()
                    .or_else(|| s.routes.get(&(t.bot, t.op)).map(|(h, _)| h.clone()));
                if let Some(h) = hash {
                    let limit = s.routes.get(&(t.bot, t.op)).map_or(1, |(_, l)| *l);
                    let b = s.buckets.entry((t.bot, h, t.major)).or_insert(Bucket {
                        limit,
                        remaining: 0,
                        reset_at: now,
                        in_flight: 0,
                    });
                    b.remaining = 0;
                    b.reset_at = b.reset_at.max(now + wait);
                }
            }
        }
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(bucket: &str, limit: u32, remaining: u32, reset_after_ms: u64) -> Headers {
        Headers {
            bucket: Arc::from(bucket),
            limit,
            remaining,
            reset_after: Duration::from_millis(reset_after_ms),
        }
    }

    #[test]
    fn unknown_route_allows_one_probe_per_major() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::ModifyMember, 10, now).expect("first");
        assert!(g.try_acquire(1, Op::ModifyMember, 10, now).is_err());
        // Another guild, or another bot, probes on its own.
        let other = g
            .try_acquire(1, Op::ModifyMember, 11, now)
            .expect("other guild");
        let bot2 = g
            .try_acquire(2, Op::ModifyMember, 10, now)
            .expect("other bot");
        g.complete(t, None);
        let again = g
            .try_acquire(1, Op::ModifyMember, 10, now)
            .expect("after completion");
        g.complete(again, None);
        g.complete(other, None);
        g.complete(bot2, None);
    }

    #[test]
    fn known_bucket_grants_remaining_then_waits_for_reset() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::ModifyMember, 10, now).expect("probe");
        g.complete(t, Some(headers("b1", 10, 7, 5_000)));
        let mut granted = Vec::new();
        while let Ok(t) = g.try_acquire(1, Op::ModifyMember, 10, Instant::now()) {
            granted.push(t);
        }
        assert_eq!(
            granted.len(),
            7,
            "exactly the remaining requests are granted"
        );
        let until = g
            .try_acquire(1, Op::ModifyMember, 10, Instant::now())
            .expect_err("exhausted")
            .expect("a reset time");
        assert!(until > Instant::now() + Duration::from_millis(4_000));
        // Another guild has its own counter under the same bucket, starting full.
        let mut other = 0;
        while g
            .try_acquire(1, Op::ModifyMember, 11, Instant::now())
            .is_ok()
        {
            other += 1;
        }
        assert_eq!(other, 10);
        // Past the reset, the window is full again minus what is still in flight.
        let later = until + Duration::from_millis(1);
        let mut after = 0;
        while g.try_acquire(1, Op::ModifyMember, 10, later).is_ok() {
            after += 1;
        }
        assert_eq!(after, 10 - 7, "seven requests are still in flight");
    }

    #[test]
    fn responses_never_raise_the_count_within_a_window() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::AddRole, 5, now).expect("probe");
        g.complete(t, Some(headers("b", 10, 9, 10_000)));
        let a = g.try_acquire(1, Op::AddRole, 5, Instant::now()).expect("a");
        let b = g.try_acquire(1, Op::AddRole, 5, Instant::now()).expect("b");
        // A late response that says 9 remain must not undo the two grants since.
        g.complete(a, Some(headers("b", 10, 8, 10_000)));
        let s = g.state.lock();
        let bucket = s.buckets.get(&(1, Arc::from("b"), 5)).expect("bucket");
        assert_eq!(bucket.remaining, 7, "8 per the server minus 1 in flight");
        drop(s);
        g.complete(b, None);
    }

    #[test]
    fn a_429_closes_the_bucket_for_its_wait() {
        let g = Gate::default();
        let t = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect("probe");
        g.complete(t, Some(headers("m", 5, 4, 1_000)));
        let t = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect("grant");
        g.fail(t, Some(Duration::from_secs(3)));
        let until = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect_err("closed")
            .expect("until");
        assert!(until > Instant::now() + Duration::from_millis(2_500));
    }

    #[tokio::test]
    async fn acquire_gives_up_rather_than_wait_past_max_wait() {
        let g = Gate::default();
        let t = g
            .try_acquire(1, Op::ListMembers, 5, Instant::now())
            .expect("probe");
        g.complete(t, Some(headers("l", 1, 0, 30_000)));
        match g
            .acquire(1, Op::ListMembers, 5, Duration::from_secs(1))
            .await
        {
            Err(UpstreamError::RateLimited { retry_after, .. }) => {
                assert!(retry_after.expect("hint") > Duration::from_secs(25));
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn the_global_limit_holds_a_slot_for_a_second_after_the_response() {
        let g = Gate::new(3);
        let now = Instant::now();
        // Three different routes: the bucket gate would grant each.
        let a = g.try_acquire(1, Op::GetGuild, 5, now).expect("a");
        let b = g.try_acquire(1, Op::GetMember, 5, now).expect("b");
        let c = g.try_acquire(1, Op::ListRoles, 5, now).expect("c");
        assert_eq!(
            g.try_acquire(1, Op::ModifyMember, 5, now)
                .expect_err("full"),
            None,
            "all three in flight: wait for one to finish"
        );
        // Another bot has its own slots.
        let other = g.try_acquire(2, Op::GetGuild, 5, now).expect("other bot");
        g.complete(a, None);
        // Finished, but Discord may have counted it as late as now: still held.
        let until = g
            .try_acquire(1, Op::ModifyMember, 5, Instant::now())
            .expect_err("held")
            .expect("frees at a known time");
        assert!(until >= Instant::now() + Duration::from_millis(900));
        let d = g
            .try_acquire(1, Op::ModifyMember, 5, until)
            .expect("free a second after the response");
        // A failed or dropped request holds its slot the same way.
        g.fail(b, None);
        drop(Held {
            gate: &g,
            ticket: Some(c),
        });
        let s = g.state.lock();
        let slots = s.global.get(&1).expect("bot 1");
        assert_eq!(slots.in_flight, 1, "only d is in flight");
        assert_eq!(slots.frees_at.len(), 2, "b and c hold theirs; a's is free");
        drop(s);
        g.complete(d, None);
        g.complete(other, None);
    }
}
