//! Staff activity (`../shared/reference/guild-api.txt`, "Recent actions", "Aggregate stats",
//! "Leaderboard", "Log a custom action"): one log of what staff did — bans, mutes and their
//! reversals taken through Roster with a `moderator_id` that names a staff member (their linked
//! Roblox id or their Discord id), and the custom actions games log — with counters per staff
//! member and period written **in the same transaction** as each action (and as each session's
//! end), so the leaderboard, stats, profiles and quota progress read a few counters instead of
//! scanning the log.
//!
//! Periods (day, week, month) follow the guild's time zone and week start
//! ([`super::members::StaffSettings`]); a change of either applies to activity from then on.
//! Session time is split at day boundaries so each day gets the minutes worked in it.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::members::{GuildStaff, StaffSettings};
use crate::community::CommunityError;
use crate::context::Ctx;
use crate::ids::GuildId;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

/// The built-in action types (`GET /staff/action-types`); a guild may add its own.
pub const ACTION_TYPES: [&str; 7] = ["ban", "unban", "mute", "unmute", "warn", "kick", "custom"];

/// Points an action is worth on the leaderboard; each minute active is worth one.
pub const POINTS_PER_ACTION: u64 = 10;

/// A period of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A day.
    Day,
    /// A week.
    Week,
    /// A month.
    Month,
    /// All time.
    All,
}

impl Period {
    /// Parses `day`, `week`, `month` or `all`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "day" => Period::Day,
            "week" => Period::Week,
            "month" => Period::Month,
            "all" => Period::All,
            _ => return None,
        })
    }

    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::All => "all",
        }
    }
}

/// A guild's calendar: its time zone and week start.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    tz: Tz,
    week_start: chrono::Weekday,
}

impl Calendar {
    /// The calendar of these settings.
    pub fn of(s: &StaffSettings) -> Self {
        Self {
            tz: s.tz(),
            week_start: s.week_start.weekday(),
        }
    }

    fn midnight(&self, d: NaiveDate) -> DateTime<Utc> {
        let local = d.and_hms_opt(0, 0, 0).expect("midnight");
        // A day starting in a DST gap starts at the gap's end.
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            chrono::LocalResult::None => self
                .tz
                .from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc)),
        }
    }

    fn first_day(&self, p: Period, at: DateTime<Utc>) -> NaiveDate {
        let d = at.with_timezone(&self.tz).date_naive();
        match p {
            Period::Day | Period::All => d,
            Period::Week => {
                let back = (7 + d.weekday().num_days_from_monday()
                    - self.week_start.num_days_from_monday())
                    % 7;
                d - Duration::days(i64::from(back))
            }
            Period::Month => d.with_day(1).expect("day 1"),
        }
    }

    fn next_first_day(p: Period, first: NaiveDate) -> NaiveDate {
        match p {
            Period::Day | Period::All => first + Duration::days(1),
            Period::Week => first + Duration::days(7),
            Period::Month => first
                .checked_add_months(chrono::Months::new(1))
                .expect("in range"),
        }
    }

    /// The period containing `at`: its start, its end (exclusive) and its counter bucket.
    pub fn span(&self, p: Period, at: DateTime<Utc>) -> Span {
        if p == Period::All {
            return Span {
                period: p,
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
                bucket: "a".into(),
            };
        }
        let first = self.first_day(p, at);
        let next = Self::next_first_day(p, first);
        let tag = match p {
            Period::Day => 'd',
            Period::Week => 'w',
            _ => 'm',
        };
        Span {
            period: p,
            start: self.midnight(first),
            end: self.midnight(next),
            bucket: format!("{tag}{first}"),
        }
    }
}

/// One period on the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Which kind.
    pub period: Period,
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// Its counters' bucket (`d2026-12-06`, `w2026-11-30`, `m2026-12-01`, `a`).
    pub bucket: String,
}

/// What a staff member (or, under id 0, the whole guild) did in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    /// Actions logged.
    pub actions: u64,
    /// By action type.
    pub by_type: BTreeMap<String, u64>,
    /// Sessions started.
    pub sessions: u64,
    /// Seconds active in sessions.
    pub seconds: u64,
}

impl Counters {
    /// Whole minutes active.
    pub fn minutes(&self) -> u64 {
        self.seconds / 60
    }

    /// The leaderboard score: [`POINTS_PER_ACTION`] per action, one per minute active.
    pub fn score(&self) -> u64 {
        self.actions * POINTS_PER_ACTION + self.minutes()
    }
}

fn counter_key(guild: GuildId, bucket: &str, staff: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + bucket.len() + 9);
    k.extend_from_slice(&guild.to_be_bytes());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&staff.to_be_bytes());
    k
}

fn bucket_prefix(guild: GuildId, bucket: &str) -> Vec<u8> {
    let mut k = counter_key(guild, bucket, 0);
    k.truncate(k.len() - 8);
    k
}

const PERIODS: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::All];

/// Adds to the counters of `staff` and of the guild for every period containing `at`.
fn count_in(
    tx: &dyn Txn,
    cal: &Calendar,
    guild: GuildId,
    staff: u64,
    at: DateTime<Utc>,
    f: &dyn Fn(&mut Counters),
) -> Result<(), StoreError> {
    for p in PERIODS {
        let span = cal.span(p, at);
        for who in [staff, 0] {
            let k = counter_key(guild, &span.bucket, who);
            let mut c: Counters = tx.get_json(Tree::StaffCounters, &k)?.unwrap_or_default();
            f(&mut c);
            tx.put_json(Tree::StaffCounters, &k, &c)?;
        }
    }
    Ok(())
}

/// A staff member's counters in a period.
pub fn counters(
    ctx: &Ctx,
    guild: GuildId,
    span: &Span,
    staff: u64,
) -> Result<Counters, StoreError> {
    Ok(ctx
        .store
        .get_json(
            Tree::StaffCounters,
            &counter_key(guild, &span.bucket, staff),
        )?
        .unwrap_or_default())
}

/// Every staff member's counters in a period (the guild's own excluded), by Discord id.
pub fn all_counters(
    ctx: &Ctx,
    guild: GuildId,
    span: &Span,
) -> Result<BTreeMap<u64, Counters>, StoreError> {
    let prefix = bucket_prefix(guild, &span.bucket);
    let mut out = BTreeMap::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = ctx.store.scan_json::<Counters>(
            Tree::StaffCounters,
            &prefix,
            after.as_deref(),
            1000,
            false,
        )?;
        let full = page.len() == 1000;
        for (k, c) in &page {
            let Some(id) = k
                .get(prefix.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            if id != 0 {
                out.insert(id, c.clone());
            }
        }
        match page.last() {
            Some((k, _)) if full => after = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}

/// One logged action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Id (increasing: the cursor).
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// The staff member (Discord id), when the actor is staff.
    pub staff_id: Option<u64>,
    /// The actor as the caller named them (`moderator_id`, or the session's Roblox id).
    pub actor: String,
    /// `ban`, `unmute`, `custom`…
    pub action_type: String,
    /// Whom it was about.
    pub target_id: Option<String>,
    /// Free-form details (custom actions).
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// The session it was taken in.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An action ready to be written inside a caller's transaction.
#[derive(Debug, Clone)]
pub struct Pending {
    action: Action,
    cal: Calendar,
}

impl Pending {
    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Writes the action and its counters.
    pub fn write(&self, tx: &dyn Txn) -> Result<(), StoreError> {
        let a = &self.action;
        tx.put_json(Tree::StaffActivity, &keys::pair(a.guild.get(), a.id), a)?;
        if let Some(staff) = a.staff_id {
            let t = a.action_type.clone();
            count_in(tx, &self.cal, a.guild, staff, a.created_at, &|c| {
                c.actions += 1;
                *c.by_type.entry(t.clone()).or_default() += 1;
            })?;
        }
        Ok(())
    }
}

/// Prepares an action for [`Pending::write`].
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    ctx: &Ctx,
    staff: &GuildStaff,
    guild: GuildId,
    staff_id: Option<u64>,
    actor: &str,
    action_type: &str,
    target_id: Option<String>,
    details: Option<serde_json::Value>,
    session_id: Option<String>,
) -> Result<Pending, StoreError> {
    Ok(Pending {
        action: Action {
            id: ctx.store.next_id()?,
            guild,
            staff_id,
            actor: actor.to_owned(),
            action_type: action_type.to_owned(),
            target_id,
            details,
            session_id,
            created_at: ctx.clock.now(),
        },
        cal: Calendar::of(&staff.settings),
    })
}

/// The moderation action a game server or the API took, when `moderator` is given: logged for
/// the staff member it resolves to (or with no staff member, when it resolves to none).
pub fn prepare_moderation(
    ctx: &Ctx,
    guild: GuildId,
    moderator: Option<&str>,
    action_type: &str,
    target: &str,
) -> Result<Option<Pending>, StoreError> {
    let Some(m) = moderator else {
        return Ok(None);
    };
    let staff = ctx.staff.guild(ctx, guild)?;
    let staff_id = staff.resolve(m).map(|e| e.discord_id);
    prepare(
        ctx,
        &staff,
        guild,
        staff_id,
        m,
        action_type,
        Some(target.to_owned()),
        None,
        None,
    )
    .map(Some)
}

/// Credits a closed session's time (split at day boundaries) and one session to its staff
/// member.
pub(crate) fn credit_session_in(
    tx: &dyn Txn,
    cal: &Calendar,
    guild: GuildId,
    staff: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), StoreError> {
    count_in(tx, cal, guild, staff, start, &|c| c.sessions += 1)?;
    let mut from = start;
    while from < end {
        let day_end = cal.span(Period::Day, from).end.min(end);
        let secs = u64::try_from((day_end - from).num_seconds()).unwrap_or(0);
        if secs > 0 {
            count_in(tx, cal, guild, staff, from, &|c| c.seconds += secs)?;
        }
        if day_end <= from {
            break;
        }
        from = day_end;
    }
    Ok(())
}

/// The log, newest first, before the cursor `before` (an action id), at most `limit`.
pub fn log(
    ctx: &Ctx,
    guild: GuildId,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<Action>, CommunityError> {
    let before = before.map(|b| keys::pair(guild.get(), b));
    Ok(ctx
        .store
        .scan_json::<Action>(
            Tree::StaffActivity,
            &guild.to_be_bytes(),
            before.as_ref().map(|k| &k[..]),
            limit,
            true,
        )?
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

/// One leaderboard row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Discord id.
    pub discord_id: u64,
    /// Their staff role (`None` when no longer staff).
    pub role_name: Option<String>,
    /// Counters.
    pub counters: Counters,
}

/// The leaderboard of a period: by score, then actions, then Discord id; at most `limit`.
pub fn leaderboard(
    ctx: &Ctx,
    guild: GuildId,
    period: Period,
    limit: usize,
) -> Result<(Span, Vec<Standing>), CommunityError> {
    let staff = ctx.staff.guild(ctx, guild)?;
    let span = Calendar::of(&staff.settings).span(period, ctx.clock.now());
    let mut rows: Vec<Standing> = all_counters(ctx, guild, &span)?
        .into_iter()
        .map(|(id, c)| Standing {
            discord_id: id,
            role_name: staff.get(id).map(|e| staff.role(e).name.clone()),
            counters: c,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.counters
            .score()
            .cmp(&a.counters.score())
            .then(b.counters.actions.cmp(&a.counters.actions))
            .then(a.discord_id.cmp(&b.discord_id))
    });
    rows.truncate(limit);
    Ok((span, rows))
}

/// The action types a guild may log: the built-in ones and its own.
pub fn action_types(s: &StaffSettings) -> Vec<String> {
    let mut out: Vec<String> = ACTION_TYPES.iter().map(|t| (*t).to_owned()).collect();
    for t in &s.action_types {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}
