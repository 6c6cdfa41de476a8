//! Time as a dependency, so tests move it instead of sleeping (usage windows, expiries).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

/// A source of "now".
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set and advance by hand. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock() = t;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// A timestamp as the guild family writes it: RFC 3339 in whole seconds, UTC with `Z`
/// (`2026-05-02T10:00:42Z`, as `../shared/reference/guild-api.txt` shows them), where a bare
/// `DateTime` would carry nanoseconds. Every timestamp of a guild-family answer, websocket frame,
/// game-server command and guild audit entry is written through it; stored records keep full
/// precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WholeSeconds(pub DateTime<Utc>);

impl WholeSeconds {
    /// An optional timestamp in this form.
    pub fn opt(t: Option<DateTime<Utc>>) -> Option<Self> {
        t.map(Self)
    }
}

impl From<DateTime<Utc>> for WholeSeconds {
    fn from(t: DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl std::fmt::Display for WholeSeconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

impl serde::Serialize for WholeSeconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn whole_seconds_drop_the_fraction_and_end_in_z() {
        let t = Utc.with_ymd_and_hms(2026, 5, 2, 10, 0, 42).unwrap()
            + Duration::nanoseconds(152_406_586);
        assert_eq!(
            serde_json::to_value(WholeSeconds(t)).unwrap(),
            "2026-05-02T10:00:42Z"
        );
        assert_eq!(
            serde_json::to_value(WholeSeconds::opt(None)).unwrap(),
            serde_json::Value::Null
        );
    }
}
