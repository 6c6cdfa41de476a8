//! The ranking family (`../shared/reference/ranking-api.txt`): set rank, promote, demote, get
//! rank and usage under `/v1/groups/{groupId}`, and job status at `/v1/jobs/{jobId}`.
//!
//! Envelope: errors are `{"error": "CODE", "message": "…"}` with the reference's codes and
//! statuses. Writes (rank/promote/demote) answer with the outcome when it arrives within
//! `server.sync_wait`, else (or with `Prefer: respond-async`) 202 with the job id. Every write
//! response carries the period's usage and overage flag.

use roster_core::apikeys::{self, ApiKeyRecord, KeyScope};
use roster_core::audit::Tenant;
use roster_core::groups::GroupRecord;
use roster_core::idempotency;
use roster_core::ids::{GroupId, JobId, RobloxUserId};
use roster_core::jobs::ranking::{RankOp, RankResult};
use roster_core::jobs::{JobRecord, JobStatus};
use roster_core::ranking::{self, RankError, RankRequest, Submitted};
use roster_core::store::{StoreExt, Tree};
use roster_core::usage::{self, UsageSnapshot};
use roster_upstream::UpstreamError;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::{self, Request};
use crate::state::AppState;
use crate::wire;

/// A ranking-family error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    usage: Option<Box<UsageSnapshot>>,
    job: Option<JobId>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            usage: None,
            job: None,
        }
    }

    /// 400 BAD_REQUEST.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "ranking request failed internally");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Roster could not complete the request; try again shortly",
        )
    }

    /// Renders the envelope.
    pub fn into_response(self) -> Response {
        http::json(
            self.status,
            &wire::RankingError {
                error: self.code.to_owned(),
                message: self.message,
                usage: self.usage.as_deref().map(wire::Usage::from),
                job_id: self.job.map(|j| j.to_string()),
            },
        )
    }
}

/// Authenticates `X-Api-Key`.
pub fn authenticate(
    state: &AppState,
    req: &Request,
) -> Result<std::sync::Arc<ApiKeyRecord>, ApiError> {
    let Some(presented) = req
        .header("x-api-key")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "the X-Api-Key header is missing",
        ));
    };
    match apikeys::authenticate(&state.ctx, presented) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
            "the API key is not recognised (revoked or mistyped?)",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn parse_group(raw: &str) -> Result<GroupId, ApiError> {
    raw.parse::<GroupId>().map_err(|_| {
        ApiError::bad_request(format!(
            "groupId in the path must be a positive integer, got {raw:?}"
        ))
    })
}

fn map_rank_error(e: RankError) -> ApiError {
    match e {
        RankError::GroupNotFound(g) => ApiError::new(
            StatusCode::NOT_FOUND,
            "GROUP_NOT_FOUND",
            format!("no group {g} exists in this Roster"),
        ),
        RankError::Forbidden(g) => ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("this API key is not scoped to group {g}"),
        ),
        RankError::FeatureNotAvailable(m) => {
            ApiError::new(StatusCode::FORBIDDEN, "FEATURE_NOT_AVAILABLE", m)
        }
        RankError::Blacklisted(u) => ApiError::new(
            StatusCode::FORBIDDEN,
            "USER_BLACKLISTED",
            format!("user {u} is blacklisted in this group"),
        ),
        RankError::NoMatchingRule(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "NO_MATCHING_RULE", m)
        }
        RankError::NotConfigured(g) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "ROBLOX_API_ERROR",
            format!(
                "group {g} has no Open Cloud API key configured in Roster, so Roblox cannot be reached; an operator must set one"
            ),
        ),
        RankError::IdempotencyMismatch => ApiError::bad_request(
            "this Idempotency-Key was already used with a different request body or endpoint",
        ),
        RankError::InProgress(j) => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                "a request with this Idempotency-Key is still in progress",
            );
            e.job = Some(j);
            e
        }
        RankError::Store(e) => ApiError::internal(e),
        RankError::Core(e) => ApiError::internal(e),
    }
}

fn status_for_code(code: &str) -> StatusCode {
    match code {
        "NO_MATCHING_RULE" | "BAD_REQUEST" => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn public_code(code: &str) -> &'static str {
    match code {
        "NO_MATCHING_RULE" => "NO_MATCHING_RULE",
        "BAD_REQUEST" => "BAD_REQUEST",
        _ => "ROBLOX_API_ERROR",
    }
}

/// Renders a job record the way the original request was answered.
fn render_record(rec: &JobRecord, replayed: bool) -> Response {
    let usage = rec
        .context
        .get("usage")
        .cloned()
        .and_then(|u| serde_json::from_value::<UsageSnapshot>(u).ok());
    let payload: Option<roster_core::jobs::ranking::RankJob> =
        serde_json::from_value(rec.envelope.payload.clone()).ok();
    let resp = match rec.status {
        JobStatus::Succeeded => {
            let r: Option<RankResult> = rec
                .result
                .clone()
                .and_then(|v| serde_json::from_value(v).ok());
            match (r, payload) {
                (Some(r), Some(p)) => http::json(
                    StatusCode::OK,
                    &wire::RankOutcome {
                        success: true,
                        job_id: rec.id.to_string(),
                        group_id: p.group_id.get(),
                        roblox_user_id: p.user_id.get(),
                        previous_rank: r.previous_rank,
                        new_rank: r.new_rank,
                        rank: r.new_rank,
                        role: wire::Role {
                            id: r.role.id,
                            name: r.role.name,
                            rank: r.role.rank,
                        },
                        changed: r.changed,
                        usage: usage.as_ref().map(wire::Usage::from),
                    },
                ),
                _ => ApiError::internal("a finished ranking job has an unreadable result")
                    .into_response(),
            }
        }
        JobStatus::Failed | JobStatus::Dead => {
            let (code, message) = rec
                .error
                .as_ref()
                .map(|e| (e.code.as_str(), e.message.clone()))
                .unwrap_or(("ROBLOX_API_ERROR", "the job failed".into()));
            let mut e = ApiError::new(status_for_code(code), public_code(code), message);
            e.usage = usage.map(Box::new);
            e.job = Some(rec.id);
            e.into_response()
        }
        JobStatus::Queued | JobStatus::Running => accepted(rec.id, usage.as_ref()),
    };
    if replayed {
        http::with_header(resp, "idempotent-replayed", "true")
    } else {
        resp
    }
}

fn accepted(job: JobId, usage: Option<&UsageSnapshot>) -> Response {
    let r = http::json(
        StatusCode::ACCEPTED,
        &wire::Accepted {
            success: true,
            status: "queued",
            job_id: job.to_string(),
            status_url: format!("/v1/jobs/{job}"),
            usage: usage.map(wire::Usage::from),
        },
    );
    http::with_header(r, "location", &format!("/v1/jobs/{job}"))
}

/// Which write.
#[derive(Debug, Clone, Copy)]
pub enum Write {
    /// `POST /rank`
    Set,
    /// `POST /promote`
    Promote,
    /// `POST /demote`
    Demote,
}

/// `POST /v1/groups/{groupId}/rank|promote|demote`
pub(crate) async fn write(
    state: &AppState,
    req: &Request,
    group_raw: &str,
    which: Write,
) -> Response {
    match write_inner(state, req, group_raw, which).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn write_inner(
    state: &AppState,
    req: &Request,
    group_raw: &str,
    which: Write,
) -> Result<Response, ApiError> {
    let key = authenticate(state, req)?;
    let group = parse_group(group_raw)?;
    let body = http::json_object(req).map_err(|e| ApiError::bad_request(e.0))?;
    let bad = |e: wire::BodyError| ApiError::bad_request(e.0);
    let (user, op) = match which {
        Write::Set => {
            let b: wire::SetRankBody = wire::typed(&body).map_err(bad)?;
            (b.roblox_user_id, RankOp::Set { rank: b.rank_id.0 })
        }
        Write::Promote => (
            wire::typed::<wire::MemberBody>(&body)
                .map_err(bad)?
                .roblox_user_id,
            RankOp::Promote,
        ),
        Write::Demote => (
            wire::typed::<wire::MemberBody>(&body)
                .map_err(bad)?
                .roblox_user_id,
            RankOp::Demote,
        ),
    };
    let user = RobloxUserId::new(user.0).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Read as raw bytes: a value that is not text must be refused, not taken for no key.
    let mut keys = req.headers.get_all("idempotency-key").iter();
    let idem = match (keys.next(), keys.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "send one Idempotency-Key header, not several",
            ));
        }
        (Some(raw), None) => {
            let k = idempotency::validate_key(raw.as_bytes())
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            let canonical = serde_json::to_vec(&body).unwrap_or_default();
            let route = match which {
                Write::Set => "rank",
                Write::Promote => "promote",
                Write::Demote => "demote",
            };
            let hash = idempotency::request_hash(&[
                route.as_bytes(),
                group.to_string().as_bytes(),
                &canonical,
            ]);
            Some((k.to_owned(), hash))
        }
    };
    let respond_async = req
        .header("prefer")
        .is_some_and(|p| p.to_ascii_lowercase().contains("respond-async"));
    let submitted = ranking::submit(
        &state.ctx,
        &key,
        RankRequest {
            group,
            user,
            op,
            idempotency: idem,
        },
    )
    .await
    .map_err(map_rank_error)?;
    match submitted {
        Submitted::Replay(rec) => Ok(render_record(&rec, true)),
        Submitted::New { job, done, usage } => {
            if respond_async {
                return Ok(accepted(job, Some(&usage)));
            }
            let wait = state.ctx.config.server.sync_wait;
            if tokio::time::timeout(wait, done).await.is_err() {
                return Ok(accepted(job, Some(&usage)));
            }
            let rec: JobRecord = state
                .ctx
                .store
                .get_json(Tree::Jobs, &job.to_bytes())
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::internal("job record vanished"))?;
            Ok(render_record(&rec, false))
        }
    }
}

fn scoped_group(state: &AppState, req: &Request, group_raw: &str) -> Result<GroupRecord, ApiError> {
    let key = authenticate(state, req)?;
    let group = parse_group(group_raw)?;
    ranking::authorize(&state.ctx, &key, group).map_err(map_rank_error)
}

/// `GET /v1/groups/{groupId}/rank/{robloxUserId}`
pub(crate) async fn get_rank(
    state: &AppState,
    req: &Request,
    group_raw: &str,
    user_raw: &str,
) -> Response {
    match get_rank_inner(state, req, group_raw, user_raw).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn upstream_error(e: UpstreamError) -> ApiError {
    let message = match &e {
        UpstreamError::Permanent { status: 401, .. } => {
            "Roblox rejected the group's Open Cloud key (invalid, expired or revoked)".to_owned()
        }
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => {
            format!("Roblox refused the request ({status} {code}): {message}")
        }
        UpstreamError::RateLimited { .. } => {
            "Roblox is rate limiting this group's Open Cloud key; try again shortly".into()
        }
        UpstreamError::Transient { message, .. } => format!("Roblox is unavailable: {message}"),
    };
    ApiError::new(StatusCode::BAD_GATEWAY, "ROBLOX_API_ERROR", message)
}

async fn get_rank_inner(
    state: &AppState,
    req: &Request,
    group_raw: &str,
    user_raw: &str,
) -> Result<Response, ApiError> {
    let g = scoped_group(state, req, group_raw)?;
    let user: RobloxUserId = user_raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "robloxUserId in the path must be a positive integer, got {user_raw:?}"
        ))
    })?;
    let m = read_rank(state, &g, user).await.map_err(|e| match e {
        RankRead::NotConfigured(g) => map_rank_error(RankError::NotConfigured(g)),
        RankRead::Sealed(e) => ApiError::internal(e),
        RankRead::Upstream(e) => upstream_error(e),
    })?;
    Ok(http::json(
        StatusCode::OK,
        &wire::RankView {
            group_id: g.id.get(),
            roblox_user_id: user.get(),
            in_group: m.in_group,
            rank: m.rank,
            role_name: m.role.as_ref().map(|r| r.display_name.clone()),
            role_id: m.role.map(|r| r.id),
        },
    ))
}

/// A member's rank in a group as Open Cloud reports it.
pub(crate) struct MemberRank {
    /// Whether they are a member.
    pub in_group: bool,
    /// Their highest role's rank (0 when not a member).
    pub rank: u8,
    /// That role, or the guest role for a non-member.
    pub role: Option<roster_upstream::roblox::GroupRole>,
}

/// Why a rank could not be read.
pub(crate) enum RankRead {
    /// The group has no Open Cloud key.
    NotConfigured(GroupId),
    /// Its key could not be unsealed.
    Sealed(roster_core::secrets::SecretError),
    /// Roblox failed.
    Upstream(UpstreamError),
}

/// Reads a member's rank with the group's Open Cloud key (the role list from the cache); shared
/// by the ranking API and the community API.
pub(crate) async fn read_rank(
    state: &AppState,
    g: &GroupRecord,
    user: RobloxUserId,
) -> Result<MemberRank, RankRead> {
    let sealed = g
        .open_cloud_key
        .as_ref()
        .ok_or(RankRead::NotConfigured(g.id))?;
    let key = state
        .ctx
        .master
        .open(&GroupRecord::credential_purpose(g.id), sealed)
        .map_err(RankRead::Sealed)?;
    let roles = state
        .roles
        .get(state.roblox.as_ref(), key.expose(), g.id.get(), false)
        .await
        .map_err(RankRead::Upstream)?;
    let membership = state
        .roblox
        .find_membership(key.expose(), g.id.get(), user.get())
        .await
        .map_err(RankRead::Upstream)?;
    let top = membership.as_ref().and_then(|m| {
        m.role_ids()
            .into_iter()
            .filter_map(|id| roles.iter().find(|r| r.role_id() == Some(id)))
            .max_by_key(|r| r.rank)
            .cloned()
    });
    Ok(match top {
        Some(r) if membership.is_some() => MemberRank {
            in_group: true,
            rank: r.rank,
            role: Some(r),
        },
        _ => MemberRank {
            in_group: membership.is_some(),
            rank: 0,
            role: roles.iter().find(|r| r.rank == 0).cloned(),
        },
    })
}

/// `GET /v1/groups/{groupId}/usage`
pub(crate) fn get_usage(state: &AppState, req: &Request, group_raw: &str) -> Response {
    let inner = || -> Result<Response, ApiError> {
        let g = scoped_group(state, req, group_raw)?;
        let limits = g.plan.limits(&state.ctx);
        let u = usage::current(&state.ctx, g.id, limits.monthly_requests)
            .map_err(ApiError::internal)?;
        Ok(http::json(
            StatusCode::OK,
            &wire::UsageView {
                group_id: g.id.get(),
                plan: serde_json::to_value(g.plan)
                    .ok()
                    .and_then(|p| p.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                period: u.period.clone(),
                count: u.count,
                allowance: u.allowance,
                overage: u.overage,
                resets_at: u.resets_at,
                usage: wire::Usage::from(&u),
            },
        ))
    };
    inner().unwrap_or_else(ApiError::into_response)
}

/// The public view of a job record (shared with the admin API).
pub async fn job_view(state: &AppState, rec: &JobRecord) -> wire::JobView {
    let mut status = rec.status;
    let mut attempts = rec.attempts;
    if !status.is_final()
        && let Ok(n) = state.ctx.backend.attempts(rec.id, rec.generation).await
    {
        attempts = n;
        if n > 0 {
            status = JobStatus::Running;
        }
    }
    let (group_id, guild_id) = match rec.tenant {
        Tenant::Group(g) => (Some(g.get()), None),
        Tenant::Guild(g) => (None, Some(g.to_string())),
    };
    wire::JobView {
        job_id: rec.id.to_string(),
        kind: serde_json::to_value(rec.kind)
            .ok()
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: match status {
            JobStatus::Queued => wire::JobState::Queued,
            JobStatus::Running => wire::JobState::Running,
            JobStatus::Succeeded => wire::JobState::Succeeded,
            JobStatus::Failed => wire::JobState::Failed,
            JobStatus::Dead => wire::JobState::Dead,
        },
        attempts,
        max_attempts: rec.envelope.max_attempts,
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        finished_at: rec.finished_at,
        result: rec.result.clone(),
        error: rec.error.as_ref().map(|e| wire::JobFailure {
            error: public_code(&e.code).to_owned(),
            message: e.message.clone(),
        }),
        timings: rec.timings.map(|t| wire::Timings {
            queue_wait_ms: t.queue_wait_ms,
            run_ms: t.run_ms,
            upstream_ms: t.upstream_ms,
        }),
        group_id,
        guild_id,
    }
}

/// `GET /v1/jobs/{jobId}`
pub(crate) async fn get_job(state: &AppState, req: &Request, job_raw: &str) -> Response {
    let inner = async {
        let key = authenticate(state, req)?;
        let job: JobId = job_raw
            .parse()
            .map_err(|e: roster_core::ids::IdError| ApiError::bad_request(e.to_string()))?;
        let rec: JobRecord = state
            .ctx
            .store
            .get_json(Tree::Jobs, &job.to_bytes())
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no job {job}"))
            })?;
        let owner = match rec.tenant {
            Tenant::Group(g) => KeyScope::Group(g),
            Tenant::Guild(g) => KeyScope::Guild(g),
        };
        if key.scope != owner {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "this API key is not scoped to the job's group",
            ));
        }
        Ok(http::json(StatusCode::OK, &job_view(state, &rec).await))
    };
    inner.await.unwrap_or_else(ApiError::into_response)
}
