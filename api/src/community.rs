//! The community family (`/api/…`, `../shared/reference/community-api.txt`): server info,
//! verification, rank, XP, join requests, promote/demote, medals, certifications, EP and leave,
//! for game servers and community websites.
//!
//! Paths are `/api/<area>/<verb>`; reads take their parameters in the query, writes in a JSON
//! body. Keys: the guild's API keys (`roster admin guild key issue`), in `X-Api-Key` or
//! `Authorization: Bearer`, rate limited per key like the guild family; `serverId` must be the
//! key's guild. Answers are the reference's: bare objects for reads, `{"success": true, …}`
//! for writes; errors `{"success": false, "error": CODE, "message": …}` with a 4xx/5xx status.
//!
//! Rank changes and join-request decisions are jobs on the ranking path (usage, blacklist, guard,
//! audit, ordering per member); the answer waits up to `server.sync_wait` for the outcome and is
//! otherwise 202 with the job id to poll at `GET /guilds/{guildId}/jobs/{jobId}`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roster_core::audit::Tenant;
use roster_core::community::leave::{self, Leave, NewLeave, Person};
use roster_core::community::{self, AwardKind, CommunityError, XpOp};
use roster_core::groups::{self, GroupRecord};
use roster_core::ids::{GroupId, JobId, RobloxUserId};
use roster_core::jobs::groups::{JoinRequestDecision, JoinRequestJob, JoinRequestResult};
use roster_core::jobs::ranking::{RankOp, RankResult};
use roster_core::jobs::{JobRecord, JobStatus};
use roster_core::ranking::{self, RankError, RankRequest, Submitted};
use roster_core::store::{StoreExt, Tree, TxnExt};
use roster_upstream::UpstreamError;
use roster_upstream::roblox::UserNames;
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::guild::{self, Caller};
use crate::http::{self, Request};
use crate::ranking::RankRead;
use crate::state::AppState;
use crate::wire::community as cw;
use crate::wire::{self, IdInput};

/// How long a server's name, member count and icon are kept before Discord is asked again.
const SERVER_INFO_TTL: Duration = Duration::from_secs(300);

/// Caches of the community family: server info (bounded age) and display names.
#[derive(Debug)]
pub struct CommunityCaches {
    servers: Mutex<HashMap<u64, (Instant, cw::ServerInfo)>>,
    names: UserNames,
}

impl Default for CommunityCaches {
    fn default() -> Self {
        Self {
            servers: Mutex::default(),
            names: UserNames::new(10_000, Duration::from_secs(3600)),
        }
    }
}

/// A community-family error.
#[derive(Debug)]
pub struct CError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl CError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "community request failed internally");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Roster could not complete the request; try again shortly",
        )
    }

    fn into_response(self) -> Response {
        let r = http::json(
            self.status,
            &wire::CommunityError {
                success: false,
                error: self.code.to_owned(),
                message: self.message,
            },
        );
        match self.retry_after {
            Some(s) => http::with_header(r, "retry-after", &s.to_string()),
            None => r,
        }
    }
}

impl From<guild::GuildError> for CError {
    fn from(e: guild::GuildError) -> Self {
        let (status, code, message, retry_after) = e.into_parts();
        Self {
            status,
            code,
            message,
            retry_after,
        }
    }
}

impl From<CommunityError> for CError {
    fn from(e: CommunityError) -> Self {
        guild::GuildError::from(e).into()
    }
}

impl From<roster_core::CoreError> for CError {
    fn from(e: roster_core::CoreError) -> Self {
        guild::GuildError::from(e).into()
    }
}

impl From<roster_core::store::StoreError> for CError {
    fn from(e: roster_core::store::StoreError) -> Self {
        CError::internal(e)
    }
}

type CResult = Result<Response, CError>;

/// Runs a handler and renders its error.
pub(crate) fn finish(r: CResult) -> Response {
    r.unwrap_or_else(CError::into_response)
}

fn ok(body: &impl serde::Serialize) -> CResult {
    Ok(http::json(StatusCode::OK, body))
}

/// The request's parameters: the query for reads, the JSON body for writes.
fn params<T: DeserializeOwned>(req: &Request) -> Result<T, CError> {
    let map = if req.method == warp::http::Method::GET {
        wire::query_object(req)
    } else {
        wire::object(req).map_err(|e| CError::bad(e.0))?
    };
    wire::typed(&map).map_err(|e| CError::bad(e.0))
}

/// Authenticates the guild key (limits included), then reads the parameters and checks that the
/// server they name is the key's.
fn caller<T: DeserializeOwned>(
    state: &AppState,
    req: &Request,
    server: impl Fn(&T) -> Option<IdInput>,
) -> Result<(Caller, T), CError> {
    let caller = guild::authenticate(state, req, None)?;
    let p: T = params(req)?;
    if let Some(s) = server(&p)
        && s.0 != caller.guild.get()
    {
        return Err(CError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("this API key is not scoped to server {}", s.0),
        ));
    }
    Ok((caller, p))
}

fn user(id: IdInput) -> Result<RobloxUserId, CError> {
    RobloxUserId::new(id.0).map_err(|e| CError::bad(format!("`robloxId` {e}")))
}

fn actor(c: &Caller) -> String {
    c.key.id.to_string()
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

// ── general ─────────────────────────────────────────────────────────────────────────────────

/// `GET /api/server/info`
pub(crate) async fn server_info(state: &AppState, req: &Request) -> CResult {
    let (caller, _) = caller::<cw::ServerQuery>(state, req, |p| p.server_id)?;
    let id = caller.guild.get();
    if let Some((at, info)) = state.community.servers.lock().get(&id)
        && at.elapsed() < SERVER_INFO_TTL
    {
        return ok(info);
    }
    let g = guild::guild_record(state, &caller)?;
    let token = guild::sync::read_token(state, &g)?;
    let info = state
        .discord
        .guild(token.expose(), id)
        .await
        .map_err(|e| upstream(e, "Discord"))?;
    let view = cw::ServerInfo {
        id: id.to_string(),
        name: info.name,
        member_count: info.approximate_member_count.unwrap_or(0),
        icon_url: info.icon.map(|h| {
            let ext = if h.starts_with("a_") { "gif" } else { "png" };
            format!("https://cdn.discordapp.com/icons/{id}/{h}.{ext}")
        }),
    };
    {
        let mut m = state.community.servers.lock();
        if m.len() >= 10_000 {
            m.retain(|_, (at, _)| at.elapsed() < SERVER_INFO_TTL);
        }
        m.insert(id, (Instant::now(), view.clone()));
    }
    ok(&view)
}

/// `GET /api/user/verified`
pub(crate) fn verified(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::VerifiedQuery>(state, req, |p| p.server_id)?;
    let links =
        roster_core::links::by_roblox(state.ctx.store.as_ref(), caller.guild, p.roblox_id.0)?;
    let newest = links.into_iter().max_by_key(|l| l.verified_at);
    ok(&cw::Verified {
        is_verified: newest.is_some(),
        discord_id: newest.map(|l| l.discord_id.to_string()),
    })
}

/// The group a request acts on: `groupId` when given (the main group or one linked to the
/// server), else the server's main group; it must be registered with Roster.
fn group_for(
    state: &AppState,
    caller: &Caller,
    given: Option<IdInput>,
) -> Result<GroupRecord, CError> {
    let g = guild::guild_record(state, caller)?;
    let id = match given {
        Some(raw) => {
            let id = GroupId::new(raw.0).map_err(|e| CError::bad(format!("`groupId` {e}")))?;
            if g.discord.main_group != Some(id) && !g.linked_groups.contains(&id) {
                return Err(CError::new(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    format!("group {id} is not linked to this server"),
                ));
            }
            id
        }
        None => g.discord.main_group.ok_or_else(|| {
            CError::new(
                StatusCode::BAD_REQUEST,
                "NO_MAIN_GROUP",
                "this server has no main group: pass `groupId`, or an operator sets the guild's mainGroup",
            )
        })?,
    };
    groups::get(&state.ctx, id)?.ok_or_else(|| {
        CError::new(
            StatusCode::NOT_FOUND,
            "GROUP_NOT_FOUND",
            format!("group {id} is not registered with this Roster"),
        )
    })
}

fn open_key(state: &AppState, g: &GroupRecord) -> Result<roster_core::secrets::Secret, CError> {
    let sealed = g
        .open_cloud_key
        .as_ref()
        .ok_or_else(|| not_configured(g.id))?;
    state
        .ctx
        .master
        .open(&GroupRecord::credential_purpose(g.id), sealed)
        .map_err(CError::internal)
}

fn not_configured(g: GroupId) -> CError {
    CError::new(
        StatusCode::BAD_GATEWAY,
        "ROBLOX_API_ERROR",
        format!(
            "group {g} has no Open Cloud API key configured in Roster, so Roblox cannot be reached; an operator must set one"
        ),
    )
}

fn upstream(e: UpstreamError, who: &str) -> CError {
    let code = if who == "Discord" {
        "DISCORD_API_ERROR"
    } else {
        "ROBLOX_API_ERROR"
    };
    let message = match &e {
        UpstreamError::Permanent { status: 401, .. } => {
            format!("{who} rejected Roster's credentials (invalid, expired or revoked)")
        }
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => format!("{who} refused the request ({status} {code}): {message}"),
        UpstreamError::RateLimited { .. } => {
            format!("{who} is rate limiting Roster; try again shortly")
        }
        UpstreamError::Transient { message, .. } => format!("{who} is unavailable: {message}"),
    };
    let mut err = CError::new(StatusCode::BAD_GATEWAY, code, message);
    if let UpstreamError::RateLimited {
        retry_after: Some(d),
        ..
    } = e
    {
        err.retry_after = Some(d.as_secs().max(1));
    }
    err
}

/// `GET /api/user/rank`
pub(crate) async fn rank(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::GroupUserParams>(state, req, |p| p.server_id)?;
    let u = user(p.roblox_id)?;
    let g = group_for(state, &caller, p.group_id)?;
    let m = crate::ranking::read_rank(state, &g, u)
        .await
        .map_err(|e| match e {
            RankRead::NotConfigured(g) => not_configured(g),
            RankRead::Sealed(e) => CError::internal(e),
            RankRead::Upstream(e) => upstream(e, "Roblox"),
        })?;
    ok(&cw::UserRank {
        group_id: g.id.get(),
        rank_name: m
            .role
            .map_or_else(|| "Guest".to_owned(), |r| r.display_name),
        rank_id: m.rank,
    })
}

// ── XP ──────────────────────────────────────────────────────────────────────────────────────

/// `GET /api/xp/get`
pub(crate) fn xp_get(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let m = community::member(&state.ctx, caller.guild, user(p.roblox_id)?)?;
    ok(&cw::XpBalance {
        success: true,
        xp: m.xp,
        rank_job_id: None,
        rank: None,
        replayed: false,
    })
}

/// Which XP write.
#[derive(Debug, Clone, Copy)]
pub enum XpWrite {
    /// `/api/xp/set`
    Set,
    /// `/api/xp/add`
    Add,
    /// `/api/xp/subtract`
    Subtract,
}

/// `POST /api/xp/set|add|subtract`
pub(crate) async fn xp_write(state: &AppState, req: &Request, which: XpWrite) -> CResult {
    let (caller, p) = caller::<cw::XpBody>(state, req, |p| p.server_id)?;
    let n = p.amount.0;
    let change = match which {
        XpWrite::Set => XpOp::Set(n),
        XpWrite::Add => XpOp::Add(n),
        XpWrite::Subtract => XpOp::Subtract(n),
    };
    let o = community::change_xp(
        &state.ctx,
        caller.guild,
        user(p.roblox_id)?,
        change,
        p.reference.as_deref(),
        &actor(&caller),
    )
    .await?;
    let r = http::json(
        StatusCode::OK,
        &cw::XpBalance {
            success: true,
            xp: o.xp,
            rank_job_id: o.rank_job.map(|j| j.to_string()),
            rank: o.rank,
            replayed: o.replayed,
        },
    );
    Ok(if o.replayed {
        http::with_header(r, "idempotent-replayed", "true")
    } else {
        r
    })
}

// ── join requests ───────────────────────────────────────────────────────────────────────────

/// `GET /api/group/join-requests`
pub(crate) async fn join_requests(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::JoinRequestsQuery>(state, req, |p| p.server_id)?;
    let limit = match p.limit {
        None => 20,
        Some(cw::Amount(n @ 1..=20)) => n as u32,
        Some(_) => return Err(CError::bad("`limit` must be from 1 to 20")),
    };
    if let Some(t) = &p.page_token
        && (t.len() > 1024 || t.chars().any(char::is_control))
    {
        return Err(CError::bad("`pageToken` is not a token this API gave out"));
    }
    let g = group_for(state, &caller, p.group_id)?;
    let key = open_key(state, &g)?;
    let page = state
        .roblox
        .list_join_requests(
            key.expose(),
            g.id.get(),
            p.roblox_id.map(|u| u.0),
            limit,
            p.page_token.as_deref(),
        )
        .await
        .map_err(|e| match e {
            UpstreamError::Permanent { status: 400, .. } if p.page_token.is_some() => {
                CError::bad("`pageToken` is not valid for this listing (it must come from the previous page with the same groupId, robloxId and limit)")
            }
            e => upstream(e, "Roblox"),
        })?;
    // Display names for the page at once (at most 20, mostly from the cache).
    let data = futures::future::join_all(page.group_join_requests.iter().filter_map(|r| {
        let uid = r.user_id()?;
        let key = key.expose();
        Some(async move {
            cw::JoinRequestView {
                id: r.id().to_owned(),
                user: cw::JoinUser {
                    user_id: uid,
                    display_name: display_name(state, key, uid).await,
                },
                created_at: r.create_time.clone(),
            }
        })
    }))
    .await;
    ok(&cw::JoinRequests {
        success: true,
        group_id: g.id.get(),
        data,
        next_page_token: page.next_page_token.filter(|t| !t.is_empty()),
    })
}

/// A user's display name from the cache or Open Cloud; the id as text when neither knows it
/// (a listing does not fail for one name).
async fn display_name(state: &AppState, key: &str, uid: u64) -> String {
    let names = &state.community.names;
    if let Some(Some(n)) = names.cached(uid) {
        return n;
    }
    match state.roblox.get_user(key, uid).await {
        Ok(Some(u)) => {
            let n = if u.display_name.is_empty() {
                u.name
            } else {
                u.display_name
            };
            names.remember(uid, Some(n.clone()));
            n
        }
        _ => uid.to_string(),
    }
}

/// `POST /api/group/accept-request` and `/api/group/deny-request`
pub(crate) async fn join_decide(state: &AppState, req: &Request, accept: bool) -> CResult {
    let (caller, p) = caller::<cw::JoinDecisionBody>(state, req, |p| p.server_id)?;
    let g = group_for(state, &caller, p.group_id)?;
    let credential = g
        .open_cloud_key
        .clone()
        .ok_or_else(|| not_configured(g.id))?;
    let request_id = p.request_id.0;
    // The request id is the job's idempotency key: the same decision again answers the first
    // one's outcome; the other decision is a conflict.
    let idem_key = format!("join-request:{request_id}");
    let tenant = Tenant::Group(g.id);
    let ttl = chrono::Duration::from_std(state.ctx.config.server.idempotency_ttl)
        .unwrap_or(chrono::Duration::hours(24));
    let now = state.ctx.clock.now();
    let payload = JoinRequestJob {
        group_id: g.id,
        request_id: request_id.clone(),
        accept,
        guild_id: Some(caller.guild),
        credential,
    };
    let hash = roster_core::idempotency::request_hash(&[
        if accept { b"accept" } else { b"decline" },
        g.id.to_string().as_bytes(),
        request_id.as_bytes(),
    ]);
    let job = state.ctx.jobs.job::<JoinRequestDecision>(
        tenant,
        &payload,
        serde_json::json!({ "actorKeyId": actor(&caller) }),
        now,
    );
    let job_id = job.id();
    let done = state.ctx.jobs.hub().watch(job_id);
    use roster_core::idempotency::{IdemDecision, IdemRecord, check_and_record, record_key};
    let decision = state
        .ctx
        .commit(|tx, jobs| {
            // A decision whose job failed (the request was not found, Roblox kept refusing) may
            // be tried again, either way: only one that went through is final.
            let k = record_key(tenant, &idem_key);
            if let Some(prev) = tx.get_json::<IdemRecord>(Tree::Idempotency, &k)?
                && let Some(rec) = tx.get_json::<JobRecord>(Tree::Jobs, &prev.job_id.to_bytes())?
                && matches!(rec.status, JobStatus::Failed | JobStatus::Dead)
            {
                tx.remove(Tree::Idempotency, &k)?;
            }
            let d = check_and_record(tx, tenant, &idem_key, &hash, job_id, now, ttl)?;
            if matches!(d, IdemDecision::Fresh) {
                jobs.stage_owned(tx, job.clone())?;
            } else {
                jobs.unchanged();
            }
            Ok(d)
        })
        .await?;
    match decision {
        IdemDecision::Fresh => {
            let wait = state.ctx.config.server.sync_wait;
            let _ = tokio::time::timeout(wait, done).await;
            render_join(state, job_id)
        }
        IdemDecision::Replay(j) => render_join(state, j),
        IdemDecision::Mismatch => Err(CError::new(
            StatusCode::CONFLICT,
            "JOIN_REQUEST_ALREADY_HANDLED",
            format!(
                "join request {request_id} was already {} through Roster",
                if accept { "declined" } else { "accepted" }
            ),
        )),
    }
}

fn job_record(state: &AppState, job: JobId) -> Result<Option<JobRecord>, CError> {
    Ok(state.ctx.store.get_json(Tree::Jobs, &job.to_bytes())?)
}

fn queued(job: JobId) -> CResult {
    Ok(http::json(
        StatusCode::ACCEPTED,
        &cw::Queued {
            success: true,
            status: "queued".into(),
            job_id: job.to_string(),
        },
    ))
}

fn render_join(state: &AppState, job: JobId) -> CResult {
    let Some(rec) = job_record(state, job)? else {
        return queued(job);
    };
    match rec.status {
        JobStatus::Succeeded => {
            let r: JoinRequestResult = rec
                .result
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| CError::internal("a finished join-request job has no result"))?;
            ok(&cw::JoinDecided {
                success: true,
                request_id: r.request_id,
                status: if r.accepted { "accepted" } else { "declined" }.into(),
                job_id: rec.id.to_string(),
            })
        }
        JobStatus::Failed | JobStatus::Dead => Err(job_failure(&rec)),
        JobStatus::Queued | JobStatus::Running => queued(rec.id),
    }
}

/// A failed job's error in the family's terms.
fn job_failure(rec: &JobRecord) -> CError {
    let (code, message) = rec
        .error
        .as_ref()
        .map(|e| (e.code.as_str(), e.message.clone()))
        .unwrap_or(("ROBLOX_API_ERROR", "the job failed".into()));
    match code {
        "JOIN_REQUEST_NOT_FOUND" => {
            CError::new(StatusCode::NOT_FOUND, "JOIN_REQUEST_NOT_FOUND", message)
        }
        "NOT_IN_GROUP" => CError::new(StatusCode::NOT_FOUND, "USER_NOT_IN_GROUP", message),
        "NO_MATCHING_RULE" => CError::new(StatusCode::BAD_REQUEST, "NO_MATCHING_RULE", message),
        "BAD_REQUEST" => CError::bad(message),
        _ => CError::new(StatusCode::BAD_GATEWAY, "ROBLOX_API_ERROR", message),
    }
}

// ── promote / demote ────────────────────────────────────────────────────────────────────────

fn rank_error(e: RankError) -> CError {
    match e {
        RankError::GroupNotFound(g) => CError::new(
            StatusCode::NOT_FOUND,
            "GROUP_NOT_FOUND",
            format!("group {g} is not registered with this Roster"),
        ),
        RankError::Forbidden(g) => CError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("group {g} is not linked to this server"),
        ),
        RankError::FeatureNotAvailable(m) => {
            CError::new(StatusCode::FORBIDDEN, "FEATURE_NOT_AVAILABLE", m)
        }
        RankError::Blacklisted(u) => CError::new(
            StatusCode::FORBIDDEN,
            "USER_BLACKLISTED",
            format!("user {u} is blacklisted in this group"),
        ),
        RankError::NoMatchingRule(m) => CError::new(StatusCode::BAD_REQUEST, "NO_MATCHING_RULE", m),
        RankError::NotConfigured(g) => not_configured(g),
        RankError::IdempotencyMismatch | RankError::InProgress(_) => {
            CError::bad("this request conflicts with an earlier one")
        }
        RankError::Store(e) => CError::internal(e),
        RankError::Core(e) => CError::internal(e),
    }
}

/// `POST /api/group/promote` and `/api/group/demote`
pub(crate) async fn promote(state: &AppState, req: &Request, up: bool) -> CResult {
    let (caller, p) = caller::<cw::GroupUserParams>(state, req, |p| p.server_id)?;
    let u = user(p.roblox_id)?;
    let g = group_for(state, &caller, p.group_id)?;
    let group = g.id;
    let submitted = ranking::submit_for(
        &state.ctx,
        g,
        &actor(&caller),
        RankRequest {
            group,
            user: u,
            op: if up { RankOp::Promote } else { RankOp::Demote },
            idempotency: None,
        },
    )
    .await
    .map_err(rank_error)?;
    let (job, done) = match submitted {
        Submitted::New { job, done, .. } => (job, done),
        Submitted::Replay(rec) => return render_rank(&rec),
    };
    let _ = tokio::time::timeout(state.ctx.config.server.sync_wait, done).await;
    match job_record(state, job)? {
        Some(rec) => render_rank(&rec),
        None => queued(job),
    }
}

fn render_rank(rec: &JobRecord) -> CResult {
    match rec.status {
        JobStatus::Succeeded => {
            let r: RankResult = rec
                .result
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| CError::internal("a finished ranking job has no result"))?;
            ok(&cw::RankChanged {
                success: true,
                new_role: cw::NewRoleView {
                    name: r.role.name,
                    rank: r.role.rank,
                },
                previous_rank: r.previous_rank,
                changed: r.changed,
                job_id: rec.id.to_string(),
            })
        }
        JobStatus::Failed | JobStatus::Dead => Err(job_failure(rec)),
        JobStatus::Queued | JobStatus::Running => queued(rec.id),
    }
}

// ── medals and certifications ───────────────────────────────────────────────────────────────

/// `GET /api/medals/list`
pub(crate) fn medals_list(state: &AppState, req: &Request) -> CResult {
    let (caller, _) = caller::<cw::ServerQuery>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    ok(&cw::Medals {
        medals: s
            .medals
            .iter()
            .map(|m| cw::MedalView {
                name: m.name.clone(),
                description: m.description.clone(),
                awarded_at: None,
            })
            .collect(),
    })
}

/// `GET /api/medals/user`
pub(crate) fn medals_user(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    let m = community::member(&state.ctx, caller.guild, user(p.roblox_id)?)?;
    ok(&cw::Medals {
        medals: m
            .medals
            .iter()
            .map(|a| cw::MedalView {
                name: a.key.clone(),
                description: s
                    .medal(&a.key)
                    .map(|d| d.description.clone())
                    .unwrap_or_default(),
                awarded_at: Some(millis(a.awarded_at)),
            })
            .collect(),
    })
}

/// `POST /api/medals/award` and `/api/medals/revoke`
pub(crate) async fn medal_write(state: &AppState, req: &Request, give: bool) -> CResult {
    let (caller, p) = caller::<cw::MedalBody>(state, req, |p| p.server_id)?;
    let u = user(p.roblox_id)?;
    let name = community::set_award(
        &state.ctx,
        caller.guild,
        u,
        AwardKind::Medal,
        &p.medal_name,
        give,
        &actor(&caller),
    )
    .await?;
    ok(&cw::Done {
        success: true,
        message: if give {
            format!("Awarded {name} to {u}.")
        } else {
            format!("Revoked {name} from {u}.")
        },
    })
}

/// `GET /api/certifications/list`
pub(crate) fn certs_list(state: &AppState, req: &Request) -> CResult {
    let (caller, _) = caller::<cw::ServerQuery>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    ok(&cw::Certifications {
        certifications: s
            .certifications
            .iter()
            .map(|c| cw::CertificationView {
                reference: c.reference.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                awarded_at: None,
            })
            .collect(),
    })
}

/// `GET /api/certifications/user`
pub(crate) fn certs_user(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    let m = community::member(&state.ctx, caller.guild, user(p.roblox_id)?)?;
    ok(&cw::Certifications {
        certifications: m
            .certifications
            .iter()
            .map(|a| {
                let def = s.certification(&a.key);
                cw::CertificationView {
                    reference: a.key.clone(),
                    name: def.map(|d| d.name.clone()).unwrap_or_else(|| a.key.clone()),
                    description: def.map(|d| d.description.clone()).unwrap_or_default(),
                    awarded_at: Some(millis(a.awarded_at)),
                }
            })
            .collect(),
    })
}

/// `GET /api/certifications/check`
pub(crate) fn certs_check(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::CertificationParams>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    let def = s.certification(&p.reference).ok_or_else(|| {
        CError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_CERTIFICATION",
            format!("this server has no certification {:?}", p.reference.trim()),
        )
    })?;
    let m = community::member(&state.ctx, caller.guild, user(p.roblox_id)?)?;
    ok(&cw::HasCertification {
        has_certification: m
            .certifications
            .iter()
            .any(|a| a.key.eq_ignore_ascii_case(&def.reference)),
    })
}

/// `POST /api/certifications/award` and `/api/certifications/revoke`
pub(crate) async fn cert_write(state: &AppState, req: &Request, give: bool) -> CResult {
    let (caller, p) = caller::<cw::CertificationParams>(state, req, |p| p.server_id)?;
    let u = user(p.roblox_id)?;
    let reference = community::set_award(
        &state.ctx,
        caller.guild,
        u,
        AwardKind::Certification,
        &p.reference,
        give,
        &actor(&caller),
    )
    .await?;
    let message = if give {
        let s = community::settings(&state.ctx, caller.guild)?;
        let name = s
            .certification(&reference)
            .map_or_else(|| reference.clone(), |c| c.name.clone());
        format!("Awarded {name} ({reference}) to {u}.")
    } else {
        format!("Revoked {reference} from {u}.")
    };
    ok(&cw::Done {
        success: true,
        message,
    })
}

// ── EP ──────────────────────────────────────────────────────────────────────────────────────

/// `GET /api/ep/get`
pub(crate) fn ep_get(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let s = community::settings(&state.ctx, caller.guild)?;
    let m = community::member(&state.ctx, caller.guild, user(p.roblox_id)?)?;
    ok(&cw::EpStatus {
        success: None,
        warning_level: s.warning_level(&m.ep),
        ep: m.ep,
    })
}

/// `POST /api/ep/add`
pub(crate) async fn ep_add(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::EpBody>(state, req, |p| p.server_id)?;
    let (ep, warning_level) = community::add_ep(
        &state.ctx,
        caller.guild,
        user(p.roblox_id)?,
        &p.company,
        p.amount.0,
        &actor(&caller),
    )
    .await?;
    ok(&cw::EpStatus {
        success: Some(true),
        ep,
        warning_level,
    })
}

// ── leave ───────────────────────────────────────────────────────────────────────────────────

fn loa_view(
    l: Option<&Leave>,
    success: Option<bool>,
    now: chrono::DateTime<chrono::Utc>,
) -> cw::LoaStatus {
    cw::LoaStatus {
        success,
        active: l.is_some_and(|l| l.status(now) == leave::LeaveStatus::Active),
        ends_at: l.map(|l| millis(l.ends_at)),
        started_at: l.map(|l| millis(l.starts_at)),
    }
}

/// The person a Roblox user is in the caller's guild (their linked Discord account, if any).
fn person(state: &AppState, caller: &Caller, roblox: IdInput) -> Result<Person, CError> {
    Ok(Person::of_roblox(&state.ctx, caller.guild, user(roblox)?)?)
}

/// `GET /api/loa/status`
pub(crate) fn loa_status(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let who = person(state, &caller, p.roblox_id)?;
    let l = leave::current(&state.ctx, caller.guild, who)?;
    ok(&loa_view(l.as_ref(), None, state.ctx.clock.now()))
}

/// `POST /api/loa/start`
pub(crate) async fn loa_start(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::LoaStartBody>(state, req, |p| p.server_id)?;
    let days = u32::try_from(p.days.0).unwrap_or(u32::MAX);
    let now = state.ctx.clock.now();
    let new = NewLeave::days_from(now, days)?;
    let who = person(state, &caller, p.roblox_id)?;
    let l = leave::start(
        &state.ctx,
        caller.guild,
        who,
        Some(p.roblox_id.0),
        new,
        &actor(&caller),
    )
    .await?;
    ok(&loa_view(Some(&l), Some(true), now))
}

/// `POST /api/loa/end`
pub(crate) async fn loa_end(state: &AppState, req: &Request) -> CResult {
    let (caller, p) = caller::<cw::UserParams>(state, req, |p| p.server_id)?;
    let who = person(state, &caller, p.roblox_id)?;
    let l = leave::end_active(&state.ctx, caller.guild, who, &actor(&caller)).await?;
    ok(&loa_view(Some(&l), Some(true), state.ctx.clock.now()))
}
