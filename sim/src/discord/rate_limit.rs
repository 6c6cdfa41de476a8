//! Discord's limits: per-route buckets (fixed windows and leaky-bucket "sliding" windows) keyed by bot, bucket hash
//! and major parameter; the global per-bot limit; and the per-IP invalid-request counter behind the Cloudflare ban.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use warp::http::HeaderValue;
use warp::reply::Response;

use super::{RouteLimit, WindowKind};

/// Bucket states kept before expired ones are swept out.
const SWEEP_THRESHOLD: usize = 50_000;

/// Where a request stands in its bucket.
#[derive(Clone, Debug)]
pub(crate) struct Quota {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Time until the bucket is full again (`X-RateLimit-Reset-After`).
    pub(crate) reset_after: Duration,
    /// For a refused request: time until one request fits again.
    pub(crate) retry_after: Duration,
    pub(crate) bucket: String,
}

impl Quota {
    /// Adds `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds, ms precision), `-Reset-After` (decimal
    /// seconds), `-Bucket`, and `X-RateLimit-Scope` when given.
    pub(crate) fn add_headers(&self, response: &mut Response, scope: Option<&str>) {
        let reset_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(self.reset_after);
        let reset_ms = reset_at.as_millis();
        let pairs = [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            (
                "x-ratelimit-reset",
                format!("{}.{:03}", reset_ms / 1000, reset_ms % 1000),
            ),
            ("x-ratelimit-reset-after", seconds(self.reset_after)),
            ("x-ratelimit-bucket", self.bucket.clone()),
        ];
        let headers = response.headers_mut();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if let Some(scope) = scope {
            headers.insert(
                "x-ratelimit-scope",
                HeaderValue::from_static(scope_str(scope)),
            );
        }
    }
}

fn scope_str(scope: &str) -> &'static str {
    match scope {
        "shared" => "shared",
        "global" => "global",
        _ => "user",
    }
}

/// Decimal seconds with three decimals, as `X-RateLimit-Reset-After` carries them.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Whole seconds for `Retry-After`: the ceiling, at least 1.
pub(crate) fn retry_after_header(duration: Duration) -> u64 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    whole.max(1)
}

#[derive(Clone, Copy)]
enum State {
    Fixed {
        started: Instant,
        count: u32,
        limit: u32,
        window: Duration,
    },
    /// A leaky bucket. `level` is the queued work in nanoseconds × `limit`: each request adds `window` (so one
    /// request is `window / limit` of real time, exactly), and it drains at `limit` units per nanosecond.
    Sliding {
        level: u128,
        at: Instant,
        limit: u32,
        window: Duration,
    },
}

impl State {
    fn expires(&self) -> Instant {
        match *self {
            State::Fixed {
                started, window, ..
            } => started + window,
            State::Sliding {
                level, at, limit, ..
            } => at + nanos(level / u128::from(limit.max(1))),
        }
    }

    /// Whether the state was made for this kind, limit and window (a config change starts the bucket afresh).
    fn matches(&self, kind: WindowKind, limit: u32, window: Duration) -> bool {
        let (own_kind, own_limit, own_window) = match *self {
            State::Fixed { limit, window, .. } => (WindowKind::Fixed, limit, window),
            State::Sliding { limit, window, .. } => (WindowKind::Sliding, limit, window),
        };
        (own_kind, own_limit, own_window) == (kind, limit, window)
    }
}

fn nanos(value: u128) -> Duration {
    Duration::from_nanos(u64::try_from(value).unwrap_or(u64::MAX))
}

/// The bucket and global counters.
#[derive(Default)]
pub(crate) struct RateLimiter {
    buckets: HashMap<(u64, String, u64), State>,
    global: HashMap<u64, (Instant, u32)>,
}

impl RateLimiter {
    /// Counts one request by `bot` against `limit`'s bucket for the major parameter `major` (when it fits, or always
    /// when not enforcing) and reports the quota.
    pub(crate) fn hit(
        &mut self,
        bot: u64,
        major: u64,
        limit: &RouteLimit,
        enforce: bool,
        now: Instant,
    ) -> Quota {
        if self.buckets.len() > SWEEP_THRESHOLD {
            self.buckets.retain(|_, state| state.expires() > now);
        }
        let max = limit.limit.max(1);
        let window = limit.window.max(Duration::from_millis(1));
        let key = (bot, limit.bucket.clone(), major);
        let fresh = match limit.kind {
            WindowKind::Fixed => State::Fixed {
                started: now,
                count: 0,
                limit: max,
                window,
            },
            WindowKind::Sliding => State::Sliding {
                level: 0,
                at: now,
                limit: max,
                window,
            },
        };
        let state = self.buckets.entry(key).or_insert(fresh);
        if !state.matches(limit.kind, max, window) {
            *state = fresh;
        }
        let (allowed, remaining, reset_after, retry_after) = match state {
            State::Fixed { started, count, .. } => {
                if now.duration_since(*started) >= window {
                    *started = now;
                    *count = 0;
                }
                let allowed = !enforce || *count < max;
                if allowed {
                    *count = count.saturating_add(1);
                }
                let reset_after = window.saturating_sub(now.duration_since(*started));
                (
                    allowed,
                    max.saturating_sub(*count),
                    reset_after,
                    reset_after,
                )
            }
            State::Sliding { level, at, .. } => {
                let scale = u128::from(max);
                let unit = window.as_nanos();
                let capacity = unit * scale;
                let drained = now.duration_since(*at).as_nanos() * scale;
                *level = level.saturating_sub(drained);
                *at = now;
                let allowed = !enforce || *level + unit <= capacity;
                let retry_after = if allowed {
                    *level = (*level + unit).min(capacity);
                    Duration::ZERO
                } else {
                    nanos((*level + unit - capacity).div_ceil(scale))
                };
                let used = u32::try_from(level.div_ceil(unit)).unwrap_or(u32::MAX);
                let reset_after = nanos(level.div_ceil(scale));
                (allowed, max.saturating_sub(used), reset_after, retry_after)
            }
        };
        Quota {
            allowed,
            limit: max,
            remaining,
            reset_after,
            retry_after,
            bucket: limit.bucket.clone(),
        }
    }

    /// Counts one request against `bot`'s global limit (a fixed one-second window). `Err` carries the time until the
    /// window ends when the request does not fit.
    pub(crate) fn hit_global(
        &mut self,
        bot: u64,
        per_second: u32,
        enforce: bool,
        now: Instant,
    ) -> Result<(), Duration> {
        const WINDOW: Duration = Duration::from_secs(1);
        if self.global.len() > SWEEP_THRESHOLD {
            self.global
                .retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
        }
        let (started, count) = self.global.entry(bot).or_insert((now, 0));
        if now.duration_since(*started) >= WINDOW {
            *started = now;
            *count = 0;
        }
        if enforce && *count >= per_second {
            return Err(WINDOW.saturating_sub(now.duration_since(*started)));
        }
        *count = count.saturating_add(1);
        Ok(())
    }
}

/// Invalid responses (401, 403, non-`shared` 429) per client IP, in fixed windows that start with the first one.
#[derive(Default)]
pub(crate) struct InvalidRequests {
    ips: HashMap<IpAddr, (Instant, u32)>,
}

impl InvalidRequests {
    /// The time left of `ip`'s ban, if `limit` invalid responses already went to it in the current window.
    pub(crate) fn banned(
        &mut self,
        ip: IpAddr,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Option<Duration> {
        let (started, count) = *self.ips.get(&ip)?;
        let elapsed = now.duration_since(started);
        if elapsed >= window {
            self.ips.remove(&ip);
            return None;
        }
        (count >= limit).then(|| window - elapsed)
    }

    /// Counts one invalid response to `ip`.
    pub(crate) fn record(&mut self, ip: IpAddr, window: Duration, now: Instant) {
        if self.ips.len() > SWEEP_THRESHOLD {
            self.ips
                .retain(|_, (started, _)| now.duration_since(*started) < window);
        }
        let (started, count) = self.ips.entry(ip).or_insert((now, 0));
        if now.duration_since(*started) >= window {
            *started = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(kind: WindowKind, limit: u32, window_ms: u64) -> RouteLimit {
        RouteLimit {
            limit,
            window: Duration::from_millis(window_ms),
            kind,
            bucket: "b".into(),
        }
    }

    #[test]
    fn fixed_window_counts_and_resets() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let fixed = limit(WindowKind::Fixed, 2, 10_000);
        let first = limiter.hit(1, 7, &fixed, true, start);
        assert!(first.allowed);
        assert_eq!(
            (first.remaining, first.reset_after),
            (1, Duration::from_secs(10))
        );
        let second = limiter.hit(1, 7, &fixed, true, start + Duration::from_secs(1));
        assert_eq!((second.allowed, second.remaining), (true, 0));
        let third = limiter.hit(1, 7, &fixed, true, start + Duration::from_secs(2));
        assert!(!third.allowed);
        assert_eq!(third.retry_after, Duration::from_secs(8));
        assert!(
            limiter.hit(1, 8, &fixed, true, start).allowed,
            "another guild"
        );
        assert!(
            limiter.hit(2, 7, &fixed, true, start).allowed,
            "another bot"
        );
        let next = limiter.hit(1, 7, &fixed, true, start + Duration::from_secs(10));
        assert_eq!((next.allowed, next.remaining), (true, 1));
    }

    #[test]
    fn sliding_window_frees_one_slot_at_a_time() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let sliding = limit(WindowKind::Sliding, 5, 5_000);
        let first = limiter.hit(1, 7, &sliding, true, start);
        assert_eq!(
            (first.remaining, first.reset_after),
            (4, Duration::from_secs(1))
        );
        for _ in 0..4 {
            assert!(limiter.hit(1, 7, &sliding, true, start).allowed);
        }
        let refused = limiter.hit(1, 7, &sliding, true, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.reset_after, Duration::from_secs(5));
        assert_eq!(refused.remaining, 0);
        let later = start + Duration::from_millis(1500);
        let again = limiter.hit(1, 7, &sliding, true, later);
        assert!(again.allowed);
        assert_eq!(again.remaining, 0);
        assert_eq!(again.reset_after, Duration::from_millis(4500));
        let refused = limiter.hit(1, 7, &sliding, true, later);
        assert_eq!(refused.retry_after, Duration::from_millis(500));
    }

    #[test]
    fn sliding_never_allows_more_than_the_limit_at_once() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let odd = limit(WindowKind::Sliding, 7, 1_000);
        let allowed = (0..20)
            .filter(|_| limiter.hit(1, 1, &odd, true, start).allowed)
            .count();
        assert_eq!(allowed, 7);
    }

    #[test]
    fn not_enforcing_still_counts() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let fixed = limit(WindowKind::Fixed, 1, 1_000);
        assert!(limiter.hit(1, 1, &fixed, false, start).allowed);
        let over = limiter.hit(1, 1, &fixed, false, start);
        assert_eq!((over.allowed, over.remaining), (true, 0));
    }

    #[test]
    fn global_limit_and_invalid_requests() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        assert!(limiter.hit_global(1, 2, true, start).is_ok());
        assert!(limiter.hit_global(1, 2, true, start).is_ok());
        assert_eq!(
            limiter.hit_global(1, 2, true, start + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert!(
            limiter
                .hit_global(1, 2, true, start + Duration::from_secs(1))
                .is_ok()
        );

        let mut invalid = InvalidRequests::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let window = Duration::from_secs(10);
        assert_eq!(invalid.banned(ip, 2, window, start), None);
        invalid.record(ip, window, start);
        assert_eq!(invalid.banned(ip, 2, window, start), None);
        invalid.record(ip, window, start);
        assert_eq!(
            invalid.banned(ip, 2, window, start + Duration::from_secs(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(invalid.banned(ip, 2, window, start + window), None);
    }

    #[test]
    fn header_values() {
        assert_eq!(seconds(Duration::from_millis(64_570)), "64.570");
        assert_eq!(retry_after_header(Duration::from_millis(64_570)), 65);
        assert_eq!(retry_after_header(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_header(Duration::from_secs(3)), 3);
    }
}
