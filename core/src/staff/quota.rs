//! Staff quotas and pending actions (`../shared/reference/guild-api.txt`, "Staff: Quota",
//! "Pending actions").
//!
//! A quota asks staff in its scope (everyone, or `role:<name>`) for a target of a metric (an
//! action type's count, `actions` of any type, `minutes` active or `sessions`) per day, week or
//! month of the guild's calendar. Progress reads the period's counters ([`super::activity`]).
//! Time on leave is excluded: the target shrinks by the share of the period the member was on
//! leave (rounded up; a whole period on leave is `on_leave`, never missed). Staff without a
//! linked Roblox account are reported as `no_roblox_link` (with no figure for the in-game
//! metrics, minutes and sessions), never as zero.
//!
//! When a period ends, the staff sweep judges it: each miss becomes a **pending action** (the
//! quota's `onMiss`: `strike`, `warning` — a note — or `notice`) that staff approve (which applies
//! it, in the same transaction) or reject. The period a quota was created in is not judged (it
//! was not known for the whole of it); when Roster was down across several periods, only the
//! latest ended one is judged.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::activity::{self, Calendar, Counters, Period, Span};
use super::members::{GuildStaff, StaffEntry};
use crate::audit::{self, AuditEntry, Tenant};
use crate::community::CommunityError;
use crate::context::Ctx;
use crate::ids::GuildId;
use crate::leave::{self, Person};
use crate::store::{StoreExt, Tree, Txn, TxnExt, keys};

/// Most quotas per guild.
pub const MAX_QUOTAS: usize = 100;

/// One quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Id.
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// Name.
    pub name: String,
    /// `actions`, `minutes`, `sessions`, or an action type.
    pub metric: String,
    /// Target per period.
    pub target: u64,
    /// `day`, `week` or `month`.
    pub period: Period,
    /// `everyone` or `role:<name>`.
    pub scope: String,
    /// `strike`, `warning` or `notice`.
    pub on_miss: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The end of the latest period judged.
    #[serde(default)]
    pub judged_through: Option<DateTime<Utc>>,
}

/// Fields of a new or changed quota (`None`: unchanged, or the default for a new one).
#[derive(Debug, Clone, Default)]
pub struct QuotaFields {
    /// Name.
    pub name: Option<String>,
    /// Metric.
    pub metric: Option<String>,
    /// Target (validated: at least 1).
    pub target: Option<i64>,
    /// Period.
    pub period: Option<String>,
    /// Scope.
    pub scope: Option<String>,
    /// What a miss becomes.
    pub on_miss: Option<String>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> CommunityError {
    CommunityError::Invalid {
        field,
        message: message.into(),
    }
}

fn not_found(what: &str, id: u64) -> CommunityError {
    CommunityError::NotFound {
        code: "NOT_FOUND",
        message: format!("{what} {id} not found"),
    }
}

fn apply(q: &mut Quota, f: QuotaFields, staff: &GuildStaff) -> Result<(), CommunityError> {
    if let Some(n) = f.name {
        q.name = super::text("name", &n, 100)?;
    }
    if let Some(m) = f.metric {
        let types = activity::action_types(&staff.settings);
        if !matches!(m.as_str(), "actions" | "minutes" | "sessions") && !types.contains(&m) {
            return Err(invalid(
                "metric",
                format!(
                    "{m:?} is not a metric: use actions, minutes, sessions or an action type ({})",
                    types.join(", ")
                ),
            ));
        }
        q.metric = m;
    }
    if let Some(t) = f.target {
        if !(1..=1_000_000_000).contains(&t) {
            return Err(invalid(
                "target",
                "must be a whole number from 1 to 1000000000",
            ));
        }
        q.target = t as u64;
    }
    if let Some(p) = f.period {
        q.period = match Period::parse(&p) {
            Some(p @ (Period::Day | Period::Week | Period::Month)) => p,
            _ => return Err(invalid("period", "must be day, week or month")),
        };
    }
    if let Some(s) = f.scope {
        let s = s.trim().to_owned();
        if s != "everyone" {
            let Some(name) = s.strip_prefix("role:") else {
                return Err(invalid(
                    "scope",
                    "must be everyone or role:<staff role name>",
                ));
            };
            if staff.settings.role_named(name).is_none() {
                return Err(invalid(
                    "scope",
                    format!("{name:?} is not one of this guild's staff roles"),
                ));
            }
        }
        q.scope = s;
    }
    if let Some(o) = f.on_miss {
        if !matches!(o.as_str(), "strike" | "warning" | "notice") {
            return Err(invalid("on_miss", "must be strike, warning or notice"));
        }
        q.on_miss = o;
    }
    Ok(())
}

fn quota_key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

/// A guild's quotas.
pub fn list(ctx: &Ctx, guild: GuildId) -> Result<Vec<Quota>, CommunityError> {
    super::guild_page(ctx, Tree::StaffQuotas, guild, None, MAX_QUOTAS + 1)
}

/// One quota.
pub fn get(ctx: &Ctx, guild: GuildId, id: u64) -> Result<Quota, CommunityError> {
    ctx.store
        .get_json(Tree::StaffQuotas, &quota_key(guild, id))?
        .ok_or_else(|| not_found("quota", id))
}

fn audit_entry(
    id: u64,
    action: &str,
    actor: &str,
    target: String,
    meta: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        id,
        action: action.into(),
        actor_id: Some(actor.to_owned()),
        target_id: Some(target),
        metadata: meta,
        created_at: now,
    }
}

/// Creates a quota (`name`, `metric`, `target` and `period` required).
pub async fn create(
    ctx: &Ctx,
    guild: GuildId,
    f: QuotaFields,
    actor: &str,
) -> Result<Quota, CommunityError> {
    for (field, missing) in [
        ("name", f.name.is_none()),
        ("metric", f.metric.is_none()),
        ("target", f.target.is_none()),
        ("period", f.period.is_none()),
    ] {
        if missing {
            return Err(invalid(field, "is required"));
        }
    }
    let staff = ctx.staff.guild(ctx, guild)?;
    let now = ctx.clock.now();
    let mut q = Quota {
        id: ctx.store.next_id()?,
        guild,
        name: String::new(),
        metric: String::new(),
        target: 0,
        period: Period::Week,
        scope: "everyone".into(),
        on_miss: "notice".into(),
        created_at: now,
        judged_through: None,
    };
    apply(&mut q, f, &staff)?;
    if list(ctx, guild)?.len() >= MAX_QUOTAS {
        return Err(CommunityError::Conflict {
            code: "TOO_MANY_QUOTAS",
            message: format!("a guild may have at most {MAX_QUOTAS} quotas"),
        });
    }
    let audit_id = ctx.store.next_id()?;
    ctx.store.transact(|tx| {
        tx.put_json(Tree::StaffQuotas, &quota_key(guild, q.id), &q)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &audit_entry(audit_id, "quota.create", actor, q.id.to_string(), serde_json::json!({"name": q.name, "metric": q.metric, "target": q.target, "period": q.period}), now),
        )
    })?;
    ctx.store.durable().await?;
    Ok(q)
}

/// Changes a quota, or deletes it (`fields: None`).
pub async fn update(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    fields: Option<QuotaFields>,
    actor: &str,
) -> Result<(), CommunityError> {
    let staff = ctx.staff.guild(ctx, guild)?;
    let mut q = get(ctx, guild, id)?;
    if let Some(f) = fields.clone() {
        apply(&mut q, f, &staff)?;
    }
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let found = ctx.store.transact(|tx| {
        let k = quota_key(guild, id);
        let Some(cur) = tx.get_json::<Quota>(Tree::StaffQuotas, &k)? else {
            return Ok(false);
        };
        let action = if fields.is_some() {
            let mut next = q.clone();
            next.judged_through = cur.judged_through;
            tx.put_json(Tree::StaffQuotas, &k, &next)?;
            "quota.update"
        } else {
            tx.remove(Tree::StaffQuotas, &k)?;
            "quota.delete"
        };
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &audit_entry(
                audit_id,
                action,
                actor,
                id.to_string(),
                serde_json::json!({}),
                now,
            ),
        )?;
        Ok(true)
    })?;
    if !found {
        return Err(not_found("quota", id));
    }
    ctx.store.durable().await?;
    Ok(())
}

/// One staff member's progress on a quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRow {
    /// Discord id.
    pub staff_id: u64,
    /// The figure so far (`None`: an in-game metric of someone without a linked Roblox account).
    pub current: Option<u64>,
    /// The target, after leave.
    pub target: u64,
    /// `current` of `target` in percent, at most 100.
    pub percent: Option<u64>,
    /// `met`, `in_progress` (`missed` once the period ended), `on_leave` or `no_roblox_link`.
    pub status: String,
    /// Seconds of the period on leave.
    pub leave_seconds: u64,
}

fn metric_of(metric: &str, c: &Counters) -> u64 {
    match metric {
        "actions" => c.actions,
        "minutes" => c.minutes(),
        "sessions" => c.sessions,
        t => c.by_type.get(t).copied().unwrap_or(0),
    }
}

/// Seconds of `span` the member was on leave (cancelled leaves aside).
fn leave_seconds(
    ctx: &Ctx,
    guild: GuildId,
    e: &StaffEntry,
    span: &Span,
) -> Result<i64, CommunityError> {
    let mut total = 0;
    for l in leave::of_person(ctx, guild, Person::Discord(e.discord_id))? {
        if l.cancelled_at.is_some() {
            continue;
        }
        let from = l.starts_at.max(span.start);
        let to = l.ends_at.min(span.end);
        if to > from {
            total += (to - from).num_seconds();
        }
    }
    Ok(total)
}

fn row(
    ctx: &Ctx,
    q: &Quota,
    e: &StaffEntry,
    span: &Span,
    c: &Counters,
    ended: bool,
) -> Result<ProgressRow, CommunityError> {
    let len = (span.end - span.start).num_seconds().max(1);
    let on_leave = leave_seconds(ctx, q.guild, e, span)?.clamp(0, len);
    let len_u = len as u64;
    let target = (u128::from(q.target) * u128::from((len - on_leave) as u64))
        .div_ceil(u128::from(len_u)) as u64;
    let in_game = matches!(q.metric.as_str(), "minutes" | "sessions");
    let current = (!(in_game && e.roblox_id.is_none())).then(|| metric_of(&q.metric, c));
    let status = if e.roblox_id.is_none() {
        "no_roblox_link"
    } else if target == 0 {
        "on_leave"
    } else if current.is_some_and(|v| v >= target) {
        "met"
    } else if ended {
        "missed"
    } else {
        "in_progress"
    };
    Ok(ProgressRow {
        staff_id: e.discord_id,
        current,
        target,
        percent: current.map(|v| (v * 100).checked_div(target).map_or(100, |p| p.min(100))),
        status: status.into(),
        leave_seconds: on_leave as u64,
    })
}

fn rows_for(
    ctx: &Ctx,
    staff: &GuildStaff,
    q: &Quota,
    span: &Span,
    ended: bool,
) -> Result<Vec<ProgressRow>, CommunityError> {
    let counters = activity::all_counters(ctx, q.guild, span)?;
    let empty = Counters::default();
    staff
        .members
        .values()
        .filter(|e| staff.in_scope(e, &q.scope))
        .map(|e| {
            row(
                ctx,
                q,
                e,
                span,
                counters.get(&e.discord_id).unwrap_or(&empty),
                ended,
            )
        })
        .collect()
}

/// Progress on a quota in the current period.
pub fn progress(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
) -> Result<(Quota, Span, Vec<ProgressRow>), CommunityError> {
    let q = get(ctx, guild, id)?;
    let staff = ctx.staff.guild(ctx, guild)?;
    let span = Calendar::of(&staff.settings).span(q.period, ctx.clock.now());
    let rows = rows_for(ctx, &staff, &q, &span, false)?;
    Ok((q, span, rows))
}

/// An action awaiting approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAction {
    /// Id.
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// The staff member.
    pub staff_id: u64,
    /// `strike`, `warning`, `notice` (a missed quota) or `review` (a strike threshold reached).
    pub action_type: String,
    /// Why, for people.
    pub reason: String,
    /// The quota missed.
    #[serde(default)]
    pub quota_id: Option<u64>,
    /// The period judged.
    #[serde(default)]
    pub period_start: Option<DateTime<Utc>>,
    /// Its end.
    #[serde(default)]
    pub period_end: Option<DateTime<Utc>>,
    /// The figure reached.
    #[serde(default)]
    pub current: Option<u64>,
    /// The target.
    #[serde(default)]
    pub target: Option<u64>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Created.
    pub submitted_at: DateTime<Utc>,
    /// Decided.
    #[serde(default)]
    pub decided_at: Option<DateTime<Utc>>,
    /// By whom (an API key id).
    #[serde(default)]
    pub decided_by: Option<String>,
    /// What approving did (`strike 42`, `note 43`).
    #[serde(default)]
    pub applied: Option<String>,
}

pub(crate) fn put_pending_in(
    tx: &dyn Txn,
    p: &PendingAction,
) -> Result<(), crate::store::StoreError> {
    tx.put_json(Tree::StaffPending, &keys::pair(p.guild.get(), p.id), p)
}

/// Pending actions (by id, after the cursor), optionally only those with `status`.
pub fn pending(
    ctx: &Ctx,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<PendingAction>, CommunityError> {
    super::guild_page(ctx, Tree::StaffPending, guild, after, limit)
}

/// Approves (applying it) or rejects a pending action.
pub async fn decide(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    approve: bool,
    actor: &str,
) -> Result<PendingAction, CommunityError> {
    let now = ctx.clock.now();
    let ids = (
        ctx.store.next_id()?,
        ctx.store.next_id()?,
        ctx.store.next_id()?,
    );
    let out = ctx.store.transact(|tx| {
        let k = keys::pair(guild.get(), id);
        let Some(mut p) = tx.get_json::<PendingAction>(Tree::StaffPending, &k)? else {
            return Ok(Err(not_found("pending action", id)));
        };
        if p.status != "pending" {
            return Ok(Err(CommunityError::Conflict {
                code: "ALREADY_DECIDED",
                message: format!("pending action {id} was already {}", p.status),
            }));
        }
        p.status = if approve { "approved" } else { "rejected" }.into();
        p.decided_at = Some(now);
        p.decided_by = Some(actor.to_owned());
        if approve {
            p.applied = match p.action_type.as_str() {
                "strike" => {
                    let s = super::Strike {
                        id: ids.1,
                        guild,
                        staff_id: p.staff_id,
                        reason: p.reason.clone(),
                        severity: 1,
                        expires_at: Some(now + super::default_lifetime(1)),
                        removed_at: None,
                        expired_at: None,
                        issued_by: actor.to_owned(),
                        created_at: now,
                    };
                    super::strike_in(tx, &s, ids.2, actor, now)?;
                    Some(format!("strike {}", s.id))
                }
                "warning" => {
                    let n = super::Note {
                        id: ids.1,
                        guild,
                        staff_id: p.staff_id,
                        body: format!("Warning: {}", p.reason),
                        author_id: actor.to_owned(),
                        created_at: now,
                        updated_at: None,
                    };
                    super::note_in(tx, &n, ids.2, actor, now)?;
                    Some(format!("note {}", n.id))
                }
                _ => None,
            };
        }
        put_pending_in(tx, &p)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &audit_entry(
                ids.0,
                if approve { "pending.approve" } else { "pending.reject" },
                actor,
                p.staff_id.to_string(),
                serde_json::json!({"pendingId": id, "actionType": p.action_type, "applied": p.applied}),
                now,
            ),
        )?;
        Ok(Ok(p))
    })??;
    ctx.store.durable().await?;
    Ok(out)
}

/// Judges every quota's latest ended period not judged yet (the staff sweep): each miss becomes
/// a pending action. Returns how many pending actions were made.
pub async fn judge(ctx: &Ctx) -> Result<u64, CommunityError> {
    let now = ctx.clock.now();
    let mut made = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page =
            ctx.store
                .scan_json::<Quota>(Tree::StaffQuotas, &[], after.as_deref(), 500, false)?;
        let full = page.len() == 500;
        for (_, q) in &page {
            made += judge_one(ctx, q, now)?;
        }
        match page.last() {
            Some((k, _)) if full => after = Some(k.clone()),
            _ => break,
        }
    }
    if made > 0 {
        ctx.store.durable().await?;
    }
    Ok(made)
}

fn judge_one(ctx: &Ctx, q: &Quota, now: DateTime<Utc>) -> Result<u64, CommunityError> {
    let staff = ctx.staff.guild(ctx, q.guild)?;
    let cal = Calendar::of(&staff.settings);
    let current = cal.span(q.period, now);
    let last = cal.span(q.period, current.start - Duration::seconds(1));
    if q.judged_through.is_some_and(|t| t >= last.end) {
        return Ok(0);
    }
    let misses: Vec<ProgressRow> = if last.start >= q.created_at {
        rows_for(ctx, &staff, q, &last, true)?
            .into_iter()
            .filter(|r| r.status == "missed")
            .collect()
    } else {
        Vec::new()
    };
    let ids = misses
        .iter()
        .map(|_| ctx.store.next_id())
        .collect::<Result<Vec<_>, _>>()?;
    let audit_id = ctx.store.next_id()?;
    let label = match q.period {
        Period::Day => last.start.format("%Y-%m-%d").to_string(),
        Period::Week => format!("week of {}", last.bucket.trim_start_matches('w')),
        _ => last
            .bucket
            .trim_start_matches('m')
            .get(..7)
            .unwrap_or_default()
            .to_owned(),
    };
    let made = ctx.store.transact(|tx| {
        let k = quota_key(q.guild, q.id);
        let Some(mut cur) = tx.get_json::<Quota>(Tree::StaffQuotas, &k)? else {
            return Ok(0);
        };
        if cur.judged_through.is_some_and(|t| t >= last.end) {
            return Ok(0);
        }
        cur.judged_through = Some(last.end);
        tx.put_json(Tree::StaffQuotas, &k, &cur)?;
        for (r, id) in misses.iter().zip(&ids) {
            put_pending_in(
                tx,
                &PendingAction {
                    id: *id,
                    guild: q.guild,
                    staff_id: r.staff_id,
                    action_type: q.on_miss.clone(),
                    reason: format!(
                        "Missed the quota {:?} ({label}): {} of {}",
                        q.name,
                        r.current.unwrap_or(0),
                        r.target
                    ),
                    quota_id: Some(q.id),
                    period_start: Some(last.start),
                    period_end: Some(last.end),
                    current: r.current,
                    target: Some(r.target),
                    status: "pending".into(),
                    submitted_at: now,
                    decided_at: None,
                    decided_by: None,
                    applied: None,
                },
            )?;
        }
        audit::append_in(
            tx,
            Tenant::Guild(q.guild),
            &audit_entry(
                audit_id,
                "quota.judge",
                "roster",
                q.id.to_string(),
                serde_json::json!({"period": label, "misses": misses.len()}),
                now,
            ),
        )?;
        Ok(misses.len() as u64)
    })?;
    Ok(made)
}
