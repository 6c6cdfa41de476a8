//! Staff routes of the guild family (`../shared/reference/guild-api.txt`, "Staff: LOA",
//! "Staff: Strikes", "Staff: Notes"): leaves of absence by staff member (Discord id), on the
//! same records as the community API's `/api/loa/*` ([`roster_core::leave`]); strikes and notes
//! ([`roster_core::staff`]).

use roster_core::CoreError;
use roster_core::clock::WholeSeconds;
use roster_core::community::CommunityError;
use roster_core::leave::{self, Leave, LeavePatch, NewLeave, Person};
use roster_core::staff::activity::{self, Period};
use roster_core::staff::members::{GuildStaff, StaffEntry};
use roster_core::staff::quota::{self, PendingAction, Quota};
use roster_core::staff::{self, Note, Strike};
use serde::de::DeserializeOwned;
use serde_json::Value;
use warp::http::StatusCode;

use super::{Caller, GuildError, GuildResult, KeyLimiter, authenticate, body, ok, ok_msg};
use crate::http::Request;
use crate::state::AppState;
use crate::wire::{self, staff as sw};

impl From<CommunityError> for GuildError {
    fn from(e: CommunityError) -> Self {
        match e {
            CommunityError::Invalid { field, message } => {
                GuildError::bad(format!("`{field}` {message}"))
            }
            CommunityError::NotFound { code, message } => {
                GuildError::new(StatusCode::NOT_FOUND, code, message)
            }
            CommunityError::Conflict { code, message } => {
                GuildError::new(StatusCode::CONFLICT, code, message)
            }
            CommunityError::Core(e) => e.into(),
        }
    }
}

/// The staff routes' classes of per-key limits (`guild_api.staff_*_per_minute`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class {
    /// Heartbeats, verify, permission lookups, custom actions.
    Hot,
    /// Session start and end.
    Session,
    /// Reads.
    Read,
    /// Writes.
    Write,
}

/// The staff routes' per-key limiters, one per [`Class`].
#[derive(Debug)]
pub struct StaffLimits {
    hot: KeyLimiter,
    session: KeyLimiter,
    read: KeyLimiter,
    write: KeyLimiter,
}

impl StaffLimits {
    /// From the configuration: each class in bursts of up to a quarter of a minute's worth.
    pub fn new(c: &roster_core::config::GuildApiConfig) -> Self {
        let l = |n: u32| KeyLimiter::with_burst(n, n / 4);
        Self {
            hot: l(c.staff_hot_per_minute),
            session: l(c.staff_session_per_minute),
            read: l(c.staff_read_per_minute),
            write: l(c.staff_write_per_minute),
        }
    }

    /// Forgets idle keys.
    pub fn retain_recent(&self) {
        for l in [&self.hot, &self.session, &self.read, &self.write] {
            l.retain_recent();
        }
    }
}

/// Authenticates a staff route's caller and counts the request against its class's limit.
pub(crate) fn staff_caller(
    state: &AppState,
    req: &Request,
    class: Class,
    named: Option<&str>,
) -> Result<Caller, GuildError> {
    let caller = authenticate(state, req, named)?;
    let c = &state.ctx.config.guild_api;
    let (limiter, per_minute, what) = match class {
        Class::Hot => (
            &state.staff_limits.hot,
            c.staff_hot_per_minute,
            "in-game staff calls",
        ),
        Class::Session => (
            &state.staff_limits.session,
            c.staff_session_per_minute,
            "staff session starts and ends",
        ),
        Class::Read => (
            &state.staff_limits.read,
            c.staff_read_per_minute,
            "staff reads",
        ),
        Class::Write => (
            &state.staff_limits.write,
            c.staff_write_per_minute,
            "staff writes",
        ),
    };
    if let Err(secs) = limiter.check(&caller.key.hash) {
        metrics::counter!("roster_guild_rate_limited_total").increment(1);
        return Err(GuildError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("this API key is over its limit of {per_minute} {what} a minute"),
        )
        .retry_after(secs));
    }
    Ok(caller)
}

/// A typed body.
fn typed_body<T: DeserializeOwned>(req: &Request) -> Result<T, GuildError> {
    wire::typed(&body(req)?).map_err(|e| GuildError::bad(e.0))
}

/// Typed query parameters.
fn typed_query<T: DeserializeOwned>(req: &Request) -> Result<T, GuildError> {
    wire::typed(&wire::query_object(req)).map_err(|e| GuildError::bad(e.0))
}

fn view(l: &Leave, now: chrono::DateTime<chrono::Utc>) -> sw::LoaView {
    sw::LoaView {
        id: l.id,
        staff_id: l.discord_id().map(|d| d.to_string()),
        roblox_id: l.roblox_id,
        starts_at: WholeSeconds(l.starts_at),
        ends_at: WholeSeconds(l.ends_at),
        reason: l.reason.clone(),
        status: l.status(now).as_str().to_owned(),
    }
}

fn reason(r: Option<String>) -> Result<Option<String>, GuildError> {
    match r {
        Some(r) if r.chars().count() > 500 => {
            Err(GuildError::bad("`reason` must be at most 500 characters"))
        }
        Some(r) if r.trim().is_empty() => Ok(None),
        r => Ok(r),
    }
}

/// `GET /guilds/:guildId/staff/loa`
pub(crate) fn loa_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::LoaQuery = typed_query(req)?;
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("pending" | "active" | "expired" | "cancelled")) => Some(s.to_owned()),
        Some(other) => {
            return Err(GuildError::bad(format!(
                "`status` must be pending, active, expired or cancelled, got {other:?}"
            )));
        }
    };
    let now = state.ctx.clock.now();
    let (items, next_cursor) = filtered(
        q.cursor.map(|c| c.0),
        limit,
        |after, n| leave::list(&state.ctx, caller.guild, after, n),
        |l| l.id,
        |l| {
            q.staff_id.is_none_or(|s| l.discord_id() == Some(s.0))
                && status
                    .as_deref()
                    .is_none_or(|s| l.status(now).as_str() == s)
        },
    )?;
    Ok(ok(sw::LoaList {
        loas: items.iter().map(|l| view(l, now)).collect(),
        next_cursor,
    }))
}

/// `POST /guilds/:guildId/staff/loa`
pub(crate) async fn loa_create(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let b: sw::LoaCreate = typed_body(req)?;
    let discord = b.staff_id.0;
    let roblox = roster_core::links::by_discord(state.ctx.store.as_ref(), caller.guild, discord)
        .map_err(CoreError::from)?
        .map(|l| l.roblox_id);
    let l = leave::start(
        &state.ctx,
        caller.guild,
        Person::Discord(discord),
        roblox,
        NewLeave {
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            reason: reason(b.reason)?,
        },
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok(wire::guild::Created { id: l.id }))
}

/// `PATCH /guilds/:guildId/staff/loa/:loaId`
pub(crate) async fn loa_update(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("loaId", id)?;
    let b: sw::LoaPatch = typed_body(req)?;
    let cancel = match b.status.as_deref() {
        None => false,
        Some("cancelled") => true,
        Some(other) => {
            return Err(GuildError::bad(format!(
                "`status` can only be set to cancelled, got {other:?}"
            )));
        }
    };
    if cancel && (b.starts_at.is_some() || b.ends_at.is_some() || b.reason.is_some()) {
        return Err(GuildError::bad(
            "cancel a leave (`status: cancelled`) on its own, without other changes",
        ));
    }
    if !cancel && b.starts_at.is_none() && b.ends_at.is_none() && b.reason.is_none() {
        return Err(GuildError::bad(
            "nothing to change: send starts_at, ends_at, reason or status",
        ));
    }
    let patch = LeavePatch {
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        reason: b.reason.map(|r| reason(Some(r))).transpose()?,
        cancel,
    };
    leave::update(
        &state.ctx,
        caller.guild,
        id,
        patch,
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok_msg(
        if cancel {
            "LOA cancelled"
        } else {
            "LOA updated"
        },
        None::<Value>,
    ))
}

/// `DELETE /guilds/:guildId/staff/loa/:loaId`
pub(crate) async fn loa_delete(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("loaId", id)?;
    leave::delete(&state.ctx, caller.guild, id, &caller.key.id.to_string()).await?;
    Ok(ok_msg("LOA deleted", None::<Value>))
}

/// `POST /guilds/:guildId/staff/loa/expire`
pub(crate) async fn loa_expire(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let expired = leave::expire(&state.ctx, Some(caller.guild)).await?;
    Ok(ok(sw::Expired { expired }))
}

fn id_param(field: &str, raw: &str) -> Result<u64, GuildError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| GuildError::bad(format!("`{field}` must be an id, got {raw:?}")))
}

fn page_limit(l: Option<wire::community::Amount>) -> Result<usize, GuildError> {
    match l {
        None => Ok(50),
        Some(wire::community::Amount(n @ 1..=200)) => Ok(n as usize),
        Some(_) => Err(GuildError::bad("`limit` must be an integer from 1 to 200")),
    }
}

/// Reads pages of `read` from `cursor` until `limit` items pass `keep` or the list ends.
fn filtered<T>(
    cursor: Option<u64>,
    limit: usize,
    read: impl Fn(Option<u64>, usize) -> Result<Vec<T>, CommunityError>,
    id: impl Fn(&T) -> u64,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, Option<u64>), GuildError> {
    let mut after = cursor;
    let mut out = Vec::new();
    loop {
        let page = read(after, limit)?;
        let full = page.len() == limit;
        for item in page {
            after = Some(id(&item));
            if keep(&item) {
                out.push(item);
                if out.len() == limit {
                    return Ok((out, after));
                }
            }
        }
        if !full {
            return Ok((out, None));
        }
    }
}

fn strike_view(s: &Strike, now: chrono::DateTime<chrono::Utc>) -> sw::StrikeView {
    sw::StrikeView {
        id: s.id,
        staff_id: s.staff_id.to_string(),
        reason: s.reason.clone(),
        severity: s.severity,
        expires_at: s.expires_at.map(WholeSeconds),
        active: s.active(now),
        created_at: WholeSeconds(s.created_at),
    }
}

/// `GET /guilds/:guildId/staff/strikes`
pub(crate) fn strikes_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::StaffQuery = typed_query(req)?;
    let limit = page_limit(q.limit)?;
    let active = match q.active.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(GuildError::bad(format!(
                "`active` must be true or false, got {other:?}"
            )));
        }
    };
    let now = state.ctx.clock.now();
    let (items, next_cursor) = filtered(
        q.cursor.map(|c| c.0),
        limit,
        |after, n| staff::strikes(&state.ctx, caller.guild, after, n),
        |s| s.id,
        |s| {
            q.staff_id.is_none_or(|id| s.staff_id == id.0)
                && active.is_none_or(|a| s.active(now) == a)
        },
    )?;
    Ok(ok(sw::StrikeList {
        strikes: items.iter().map(|s| strike_view(s, now)).collect(),
        next_cursor,
    }))
}

/// `POST /guilds/:guildId/staff/strikes`
pub(crate) async fn strike_create(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let b: sw::StrikeCreate = typed_body(req)?;
    let s = staff::strike(
        &state.ctx,
        caller.guild,
        staff::NewStrike {
            staff_id: b.staff_id.0,
            reason: b.reason,
            severity: b.severity,
            expires_at: b.expires_at,
        },
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok(wire::guild::Created { id: s.id }))
}

/// `PATCH /guilds/:guildId/staff/strikes/:strikeId/update` (edit) and
/// `PATCH /guilds/:guildId/staff/strikes/:strikeId` (remove: it stops counting).
pub(crate) async fn strike_update(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
    remove: bool,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("strikeId", id)?;
    let patch = if remove {
        staff::StrikePatch {
            remove: true,
            ..Default::default()
        }
    } else {
        let b: sw::StrikePatch = typed_body(req)?;
        if b.reason.is_none() && b.severity.is_none() && b.expires_at.is_none() {
            return Err(GuildError::bad(
                "nothing to change: send reason, severity or expires_at",
            ));
        }
        staff::StrikePatch {
            reason: b.reason,
            severity: b.severity,
            expires_at: b.expires_at,
            remove: false,
        }
    };
    staff::update_strike(
        &state.ctx,
        caller.guild,
        id,
        patch,
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok_msg(
        if remove {
            "Strike removed"
        } else {
            "Strike updated"
        },
        None::<Value>,
    ))
}

/// `DELETE /guilds/:guildId/staff/strikes/:strikeId`
pub(crate) async fn strike_delete(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("strikeId", id)?;
    staff::delete_strike(&state.ctx, caller.guild, id, &caller.key.id.to_string()).await?;
    Ok(ok_msg("Strike deleted", None::<Value>))
}

/// `POST /guilds/:guildId/staff/strikes/expire`
pub(crate) async fn strikes_expire(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let expired = staff::expire_strikes(&state.ctx, Some(caller.guild)).await?;
    Ok(ok(sw::Expired { expired }))
}

fn note_view(n: &Note) -> sw::NoteView {
    sw::NoteView {
        id: n.id,
        staff_id: n.staff_id.to_string(),
        body: n.body.clone(),
        author_id: n.author_id.clone(),
        created_at: WholeSeconds(n.created_at),
    }
}

/// `GET /guilds/:guildId/staff/notes`
pub(crate) fn notes_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::StaffQuery = typed_query(req)?;
    let limit = page_limit(q.limit)?;
    let (items, next_cursor) = filtered(
        q.cursor.map(|c| c.0),
        limit,
        |after, n| staff::notes(&state.ctx, caller.guild, after, n),
        |n| n.id,
        |n| q.staff_id.is_none_or(|id| n.staff_id == id.0),
    )?;
    Ok(ok(sw::NoteList {
        notes: items.iter().map(note_view).collect(),
        next_cursor,
    }))
}

/// `POST /guilds/:guildId/staff/notes`
pub(crate) async fn note_create(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let b: sw::NoteCreate = typed_body(req)?;
    let author = b
        .author_id
        .map_or_else(|| caller.key.id.to_string(), |a| a.0.to_string());
    let n = staff::note(&state.ctx, caller.guild, b.staff_id.0, &b.body, &author).await?;
    Ok(ok(note_view(&n)))
}

/// `PATCH /guilds/:guildId/staff/notes/:noteId`
pub(crate) async fn note_update(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("noteId", id)?;
    let b: sw::NotePatch = typed_body(req)?;
    let n = staff::edit_note(
        &state.ctx,
        caller.guild,
        id,
        Some(&b.body),
        &caller.key.id.to_string(),
    )
    .await?
    .ok_or_else(|| GuildError::not_found(format!("note {id} not found")))?;
    Ok(ok(note_view(&n)))
}

/// `DELETE /guilds/:guildId/staff/notes/:noteId`
pub(crate) async fn note_delete(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("noteId", id)?;
    staff::edit_note(
        &state.ctx,
        caller.guild,
        id,
        None,
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok_msg("Note deleted", None::<Value>))
}

// ── in-game sessions ────────────────────────────────────────────────────────────────────────

/// `POST /staff/roblox/session/start`
pub(crate) async fn session_start(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Session, None)?;
    let b: sw::SessionStart = typed_body(req)?;
    let s = staff::start_session(
        &state.ctx,
        caller.guild,
        b.roblox_id.0,
        b.place_id.map(|p| p.0),
        &b.server_id,
    )
    .await?;
    Ok(ok(sw::SessionStarted {
        session_id: s.id,
        started_at: WholeSeconds(s.started_at),
    }))
}

/// `POST /staff/roblox/session/end`
pub(crate) async fn session_end(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Session, None)?;
    let b: sw::SessionRef = typed_body(req)?;
    let s = staff::end_session(&state.ctx, caller.guild, &b.session_id).await?;
    let now = state.ctx.clock.now();
    Ok(ok(sw::SessionEnded {
        duration_seconds: s.seconds(now, staff::session_timeout(&state.ctx)),
        session_id: s.id,
    }))
}

/// `POST /staff/roblox/heartbeat`
pub(crate) fn session_heartbeat(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Hot, None)?;
    let b: sw::SessionRef = typed_body(req)?;
    let r = staff::heartbeat(
        &state.ctx,
        caller.guild,
        std::slice::from_ref(&b.session_id),
    )?;
    Ok(ok(sw::Alive {
        alive: r.first().is_some_and(|(_, a)| *a),
    }))
}

/// `POST /staff/roblox/heartbeat/batch`
pub(crate) fn session_heartbeat_batch(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Hot, None)?;
    let b: sw::HeartbeatBatch = typed_body(req)?;
    if b.session_ids.is_empty() || b.session_ids.len() > 500 {
        return Err(GuildError::bad("`session_ids` must hold 1 to 500 sessions"));
    }
    let r = staff::heartbeat(&state.ctx, caller.guild, &b.session_ids)?;
    Ok(ok(sw::HeartbeatBatchResult {
        sessions: r
            .into_iter()
            .map(|(session_id, alive)| sw::SessionAlive { session_id, alive })
            .collect(),
    }))
}

// ── who is staff ────────────────────────────────────────────────────────────────────────────

fn staff_of(
    state: &AppState,
    guild: roster_core::ids::GuildId,
) -> Result<std::sync::Arc<GuildStaff>, GuildError> {
    state
        .ctx
        .staff
        .guild(&state.ctx, guild)
        .map_err(|e| GuildError::from(CoreError::from(e)))
}

fn not_staff_member(id: u64) -> GuildError {
    GuildError::new(
        StatusCode::NOT_FOUND,
        "NOT_STAFF",
        format!("user {id} is not staff here (staff hold one of the guild's staff roles)"),
    )
}

/// `GET /staff/members/:guildId`
pub(crate) fn members(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let staff = staff_of(state, caller.guild)?;
    let mut rows: Vec<&StaffEntry> = staff.members.values().collect();
    rows.sort_by_key(|e| (std::cmp::Reverse(staff.role(e).rank), e.discord_id));
    let mut members = Vec::with_capacity(rows.len());
    for e in rows {
        let role = staff.role(e);
        members.push(sw::StaffMemberView {
            discord_id: e.discord_id.to_string(),
            roblox_id: e.roblox_id,
            role_id: role.discord_role_id.to_string(),
            role_name: role.name.clone(),
            on_duty: match e.roblox_id {
                Some(r) => staff::on_duty(&state.ctx, caller.guild, r)?,
                None => false,
            },
        });
    }
    Ok(ok(sw::StaffMembers { members }))
}

/// `GET /staff/permissions/:guildId/:userId`
pub(crate) fn permissions(state: &AppState, req: &Request, guild: &str, user: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let user = id_param("userId", user)?;
    let staff = staff_of(state, caller.guild)?;
    let e = staff.get(user).ok_or_else(|| not_staff_member(user))?;
    let role = staff.role(e);
    Ok(ok(sw::StaffPermissions {
        user_id: user.to_string(),
        role_name: role.name.clone(),
        permissions: role.permissions.clone(),
    }))
}

/// `GET /guilds/:guildId/staff/profile/:userId`
pub(crate) fn profile(state: &AppState, req: &Request, guild: &str, user: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let user = id_param("userId", user)?;
    let p =
        staff::profile(&state.ctx, caller.guild, user)?.ok_or_else(|| not_staff_member(user))?;
    let now = state.ctx.clock.now();
    Ok(ok(sw::StaffProfile {
        discord_id: user.to_string(),
        roblox_id: p.entry.roblox_id,
        role_name: p.role_name,
        joined_at: WholeSeconds(p.entry.joined_at),
        actions_total: p.totals.actions,
        sessions_total: p.totals.sessions,
        minutes_active: p.totals.minutes(),
        open_loa: p.open_loa.as_ref().map(|l| view(l, now)),
        active_strikes: p.active_strikes,
    }))
}

/// `POST /staff/roblox/verify`
pub(crate) fn verify(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Hot, None)?;
    let b: sw::VerifyBody = typed_body(req)?;
    let staff = staff_of(state, caller.guild)?;
    let e = staff.by_roblox(b.roblox_id.0);
    Ok(ok(sw::Verified {
        is_staff: e.is_some(),
        discord_id: e.map(|e| e.discord_id.to_string()),
        role_name: e.map(|e| staff.role(e).name.clone()),
        permissions: e
            .map(|e| staff.role(e).game_permissions.clone())
            .unwrap_or_default(),
    }))
}

/// `GET /guilds/:guildId/staff/roblox/:robloxId/permissions`
pub(crate) fn game_permissions(
    state: &AppState,
    req: &Request,
    guild: &str,
    roblox: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Hot, Some(guild))?;
    let roblox = id_param("robloxId", roblox)?;
    let staff = staff_of(state, caller.guild)?;
    let e = staff.by_roblox(roblox);
    Ok(ok(sw::GamePermissions {
        roblox_id: roblox,
        is_staff: e.is_some(),
        role_name: e.map(|e| staff.role(e).name.clone()),
        permissions: e
            .map(|e| staff.role(e).game_permissions.clone())
            .unwrap_or_default(),
    }))
}

// ── activity ────────────────────────────────────────────────────────────────────────────────

/// `POST /staff/roblox/action`
pub(crate) async fn action(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Hot, None)?;
    let b: sw::ActionBody = typed_body(req)?;
    let a = staff::log_action(
        &state.ctx,
        caller.guild,
        &b.session_id,
        &b.action_type,
        b.target_id,
        b.details,
    )
    .await?;
    Ok(ok(sw::IdOnly { id: a.id }))
}

/// `GET /staff/activity/:guildId`
pub(crate) fn activity_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::ActivityQuery = typed_query(req)?;
    let limit = page_limit(q.limit)?;
    let items = activity::log(&state.ctx, caller.guild, q.cursor.map(|c| c.0), limit)?;
    let next_cursor = (items.len() == limit)
        .then(|| items.last().map(|a| a.id))
        .flatten();
    Ok(ok(sw::ActivityList {
        actions: items
            .into_iter()
            .map(|a| sw::ActionView {
                id: a.id,
                staff_id: a
                    .staff_id
                    .map_or_else(|| a.actor.clone(), |s| s.to_string()),
                is_staff: a.staff_id.is_some(),
                action_type: a.action_type,
                target_id: a.target_id,
                details: a.details,
                session_id: a.session_id,
                created_at: WholeSeconds(a.created_at),
            })
            .collect(),
        next_cursor,
    }))
}

/// `GET /staff/stats/:guildId`
pub(crate) fn stats(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let staff = staff_of(state, caller.guild)?;
    let span = activity::Calendar::of(&staff.settings).span(Period::All, state.ctx.clock.now());
    let c = activity::counters(&state.ctx, caller.guild, &span, 0).map_err(CoreError::from)?;
    Ok(ok(sw::Stats {
        total_actions: c.actions,
        total_sessions: c.sessions,
        total_minutes: c.minutes(),
        by_type: c.by_type,
    }))
}

/// `GET /staff/leaderboard/:guildId`
pub(crate) fn leaderboard(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::LeaderboardQuery = typed_query(req)?;
    let period = match q.period.as_deref() {
        None | Some("") => Period::Week,
        Some(p) => match Period::parse(p) {
            Some(p @ (Period::Week | Period::Month | Period::All)) => p,
            _ => {
                return Err(GuildError::bad(format!(
                    "`period` must be week, month or all, got {p:?}"
                )));
            }
        },
    };
    let limit = match q.limit {
        None => 25,
        Some(wire::community::Amount(n @ 1..=100)) => n as usize,
        Some(_) => return Err(GuildError::bad("`limit` must be an integer from 1 to 100")),
    };
    let (span, rows) = activity::leaderboard(&state.ctx, caller.guild, period, limit)?;
    Ok(ok(sw::Leaderboard {
        period: period.as_str().into(),
        starts_at: (period != Period::All).then_some(WholeSeconds(span.start)),
        leaderboard: rows
            .into_iter()
            .map(|r| sw::LeaderboardRow {
                discord_id: r.discord_id.to_string(),
                role_name: r.role_name,
                score: r.counters.score(),
                actions: r.counters.actions,
                minutes: r.counters.minutes(),
            })
            .collect(),
    }))
}

/// `GET /staff/action-types`
pub(crate) fn action_types(state: &AppState, req: &Request) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, None)?;
    let staff = staff_of(state, caller.guild)?;
    Ok(ok(activity::action_types(&staff.settings)))
}

// ── quotas ──────────────────────────────────────────────────────────────────────────────────

fn quota_view(q: &Quota) -> sw::QuotaView {
    sw::QuotaView {
        id: q.id,
        name: q.name.clone(),
        metric: q.metric.clone(),
        target: q.target,
        period: q.period.as_str().into(),
        scope: q.scope.clone(),
        on_miss: q.on_miss.clone(),
    }
}

fn quota_fields(b: sw::QuotaBody) -> quota::QuotaFields {
    quota::QuotaFields {
        name: b.name,
        metric: b.metric,
        target: b.target,
        period: b.period,
        scope: b.scope,
        on_miss: b.on_miss,
    }
}

/// `GET /guilds/:guildId/staff/quota`
pub(crate) fn quota_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let quotas = quota::list(&state.ctx, caller.guild)?;
    Ok(ok(sw::QuotaList {
        quotas: quotas.iter().map(quota_view).collect(),
    }))
}

/// `POST /guilds/:guildId/staff/quota`
pub(crate) async fn quota_create(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let b: sw::QuotaBody = typed_body(req)?;
    let q = quota::create(
        &state.ctx,
        caller.guild,
        quota_fields(b),
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok(wire::guild::Created { id: q.id }))
}

/// `PATCH /guilds/:guildId/staff/quota/:quotaId` and its DELETE (`patch: false`).
pub(crate) async fn quota_change(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
    patch: bool,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("quotaId", id)?;
    let fields = if patch {
        Some(quota_fields(typed_body(req)?))
    } else {
        None
    };
    quota::update(
        &state.ctx,
        caller.guild,
        id,
        fields,
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok(wire::guild::Created { id }))
}

/// `GET /guilds/:guildId/staff/quota/:quotaId/progress`
pub(crate) fn quota_progress(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let id = id_param("quotaId", id)?;
    let (q, span, rows) = quota::progress(&state.ctx, caller.guild, id)?;
    Ok(ok(sw::Progress {
        quota_id: q.id,
        period_start: WholeSeconds(span.start),
        period_end: WholeSeconds(span.end),
        rows: rows
            .into_iter()
            .map(|r| sw::ProgressRowView {
                staff_id: r.staff_id.to_string(),
                current: r.current,
                target: r.target,
                percent: r.percent,
                status: r.status,
            })
            .collect(),
    }))
}

fn pending_view(p: &PendingAction) -> sw::PendingView {
    sw::PendingView {
        id: p.id,
        staff_id: p.staff_id.to_string(),
        action_type: p.action_type.clone(),
        reason: p.reason.clone(),
        quota_id: p.quota_id,
        status: p.status.clone(),
        submitted_at: WholeSeconds(p.submitted_at),
        applied: p.applied.clone(),
    }
}

/// `GET /guilds/:guildId/staff/quota-pending`
pub(crate) fn pending_list(state: &AppState, req: &Request, guild: &str) -> GuildResult {
    let caller = staff_caller(state, req, Class::Read, Some(guild))?;
    let q: sw::PendingQuery = typed_query(req)?;
    let limit = page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        None | Some("") => Some("pending"),
        Some("all") => None,
        Some(s @ ("pending" | "approved" | "rejected")) => Some(s),
        Some(other) => {
            return Err(GuildError::bad(format!(
                "`status` must be pending, approved, rejected or all, got {other:?}"
            )));
        }
    };
    let (items, next_cursor) = filtered(
        q.cursor.map(|c| c.0),
        limit,
        |after, n| quota::pending(&state.ctx, caller.guild, after, n),
        |p| p.id,
        |p| status.is_none_or(|s| p.status == s),
    )?;
    Ok(ok(sw::PendingList {
        pending: items.iter().map(pending_view).collect(),
        next_cursor,
    }))
}

/// `POST /guilds/:guildId/staff/quota-pending/:actionId/approve` (and `…/reject`).
pub(crate) async fn pending_decide(
    state: &AppState,
    req: &Request,
    guild: &str,
    id: &str,
    approve: bool,
) -> GuildResult {
    let caller = staff_caller(state, req, Class::Write, Some(guild))?;
    let id = id_param("actionId", id)?;
    let p = quota::decide(
        &state.ctx,
        caller.guild,
        id,
        approve,
        &caller.key.id.to_string(),
    )
    .await?;
    Ok(ok(pending_view(&p)))
}
