//! Monthly usage: every rank, promote and demote call counts once against the group's
//! allowance; the window resets at 00:00 UTC on the 1st. Past the allowance, requests still run
//! and are flagged as overage.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Limit;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GroupId;
use crate::store::{StoreExt, Tree, Txn, TxnExt, keys};

/// The usage of one period, as reported to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSnapshot {
    /// `YYYY-MM` (UTC).
    pub period: String,
    /// Requests counted this period (including this one, on a counted request).
    pub count: u64,
    /// The plan's allowance, `null` when unlimited.
    pub allowance: Option<u64>,
    /// Whether the count is past the allowance.
    pub overage: bool,
    /// When the window resets.
    pub resets_at: DateTime<Utc>,
}

/// A period: its key number (`YYYYMM`), label and end.
pub fn period_of(now: DateTime<Utc>) -> (u64, String, DateTime<Utc>) {
    let (y, m) = (now.year(), now.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let resets = Utc
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .single()
        .expect("the 1st of a month at midnight UTC exists");
    (
        (y as u64) * 100 + u64::from(m),
        format!("{y:04}-{m:02}"),
        resets,
    )
}

fn snapshot(count: u64, allowance: Limit, now: DateTime<Utc>) -> UsageSnapshot {
    let (_, label, resets_at) = period_of(now);
    UsageSnapshot {
        period: label,
        count,
        allowance: allowance.count(),
        overage: !allowance.allows(count),
        resets_at,
    }
}

/// Counts one request inside a transaction and returns the new snapshot.
pub fn count_in(
    tx: &dyn Txn,
    group: GroupId,
    allowance: Limit,
    now: DateTime<Utc>,
) -> Result<UsageSnapshot, crate::store::StoreError> {
    let (period, _, _) = period_of(now);
    let k = keys::pair(group.get(), period);
    let n: u64 = tx.get_json(Tree::Usage, &k)?.unwrap_or(0) + 1;
    tx.put_json(Tree::Usage, &k, &n)?;
    Ok(snapshot(n, allowance, now))
}

/// The current period's usage without counting.
pub fn current(ctx: &Ctx, group: GroupId, allowance: Limit) -> Result<UsageSnapshot, CoreError> {
    let now = ctx.clock.now();
    let (period, _, _) = period_of(now);
    let n: u64 = ctx
        .store
        .get_json(Tree::Usage, &keys::pair(group.get(), period))?
        .unwrap_or(0);
    Ok(snapshot(n, allowance, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_roll_over_at_month_start_utc() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let (k, label, resets) = period_of(t);
        assert_eq!((k, label.as_str()), (202612, "2026-12"));
        assert_eq!(resets, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        let (k2, _, _) = period_of(resets);
        assert_eq!(k2, 202701);
    }

    #[test]
    fn overage_flag() {
        let t = Utc.with_ymd_and_hms(2026, 11, 5, 0, 0, 0).unwrap();
        assert!(!snapshot(100, Limit::Count(100), t).overage);
        assert!(snapshot(101, Limit::Count(100), t).overage);
        assert!(!snapshot(10_000, Limit::Unlimited, t).overage);
    }
}
