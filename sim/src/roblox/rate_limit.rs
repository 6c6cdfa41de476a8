//! Open Cloud quotas: a fixed window per (API-key owner, endpoint), shared by every key of that owner; plus the
//! spec's additional user-restriction limits, per universe and per (universe, user).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use warp::http::HeaderValue;
use warp::reply::Response;

use super::Endpoint;

/// Where a request stands in its owner's window for one endpoint.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quota {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Time until the window resets to a full quota.
    pub(crate) reset: Duration,
    pub(crate) window: Duration,
}

impl Quota {
    /// Adds `x-ratelimit-limit` (`"N, N;w=W"`), `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds).
    pub(crate) fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        let window = ceil_secs(self.window).max(1);
        let pairs = [
            (
                "x-ratelimit-limit",
                format!("{0}, {0};w={window}", self.limit),
            ),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", ceil_secs(self.reset).to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    /// A `retry-after` value: whole seconds until the window resets, at least 1.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.reset).max(1)
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// What a window counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    /// One API-key owner's requests to one operation.
    Owner { owner: u64, endpoint: Endpoint },
    /// Everyone's requests to one operation (universe form) in one universe.
    Universe { universe: u64, endpoint: Endpoint },
    /// Everyone's updates of one user's restrictions in one universe.
    UniverseUser { universe: u64, user: u64 },
}

struct Window {
    started: Instant,
    count: u32,
}

/// Fixed windows that start at the first request after the previous window ended.
#[derive(Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<Bucket, Window>,
}

impl RateLimiter {
    /// Counts one request in `bucket` (when it fits) and reports the quota.
    pub(crate) fn hit(
        &mut self,
        bucket: Bucket,
        limit: u32,
        window: Duration,
        enforce: bool,
        now: Instant,
    ) -> Quota {
        let slot = self.windows.entry(bucket).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(slot.started) >= window {
            slot.started = now;
            slot.count = 0;
        }
        let allowed = !enforce || slot.count < limit;
        if allowed {
            slot.count = slot.count.saturating_add(1);
        }
        Quota {
            allowed,
            limit,
            remaining: limit.saturating_sub(slot.count),
            reset: window.saturating_sub(now.duration_since(slot.started)),
            window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_and_resets() {
        let mut limiter = RateLimiter::default();
        let start = Instant::now();
        let window = Duration::from_secs(60);
        let assign = Bucket::Owner {
            owner: 1,
            endpoint: Endpoint::AssignRole,
        };
        let first = limiter.hit(assign, 2, window, true, start);
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        assert_eq!(first.reset, window);
        let second = limiter.hit(assign, 2, window, true, start + Duration::from_secs(1));
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        let third = limiter.hit(assign, 2, window, true, start + Duration::from_secs(2));
        assert!(!third.allowed);
        assert_eq!(third.retry_after_secs(), 58);
        let unassign = Bucket::Owner {
            owner: 1,
            endpoint: Endpoint::UnassignRole,
        };
        let other_endpoint = limiter.hit(unassign, 2, window, true, start);
        assert!(other_endpoint.allowed);
        let next_window = limiter.hit(assign, 2, window, true, start + window);
        assert!(next_window.allowed);
        assert_eq!(next_window.remaining, 1);
    }

    #[test]
    fn buckets_are_independent() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        let window = Duration::from_secs(1);
        let user = |user| Bucket::UniverseUser { universe: 5, user };
        assert!(limiter.hit(user(1), 1, window, true, now).allowed);
        assert!(!limiter.hit(user(1), 1, window, true, now).allowed);
        assert!(limiter.hit(user(2), 1, window, true, now).allowed);
        let universe = Bucket::Universe {
            universe: 5,
            endpoint: Endpoint::UpdateUserRestriction,
        };
        assert!(limiter.hit(universe, 1, window, true, now).allowed);
    }
}
