//! The operator API under `/admin/v1`, authenticated with the admin bearer token. The `roster
//! admin` CLI is a client of exactly these routes.
//!
//! Errors: `{"error": "CODE", "message": "…"}` with UNAUTHORIZED (401), BAD_REQUEST (400),
//! NOT_FOUND (404), CONFLICT (409), LIMIT_REACHED (409), METHOD_NOT_ALLOWED (405),
//! SERVICE_UNAVAILABLE (503). Credentials are write-only: responses show whether an Open
//! Cloud key is set and its last four characters, never the key.

use roster_core::apikeys::{self, KeyScope};
use roster_core::audit::{self, Tenant};
use roster_core::error::CoreError;
use roster_core::groups::{self, GroupPatch, GroupRecord, NewGroup, NewRule, Plan};
use roster_core::ids::{GroupId, JobId, RobloxUserId};
use roster_core::jobs::facade::ops;
use roster_core::secrets::{Secret, constant_time_eq, token_hash};
use roster_core::usage;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Map;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::{self, Request};
use crate::ranking::job_view;
use crate::state::AppState;
use crate::wire::admin::{
    AdminAuditEntry, AdminAuditPage, BlacklistBody, BlacklistEntry, BlacklistPage, CreateGroupBody,
    GroupUsage, GroupView, GroupsPage, IssueKeyBody, IssuedKey, JobsList, KeyView, KeysList,
    Removed, Rule, RuleBody, RulePatchBody, RulesView, SecretView, UpdateGroupBody,
};
use crate::wire::{self, AdminErrorBody};

/// An admin-family error.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub(crate) fn into_response(self) -> Response {
        http::json(
            self.status,
            &AdminErrorBody {
                error: self.code.to_owned(),
                message: self.message,
            },
        )
    }
}

impl From<CoreError> for AdminError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(w) => AdminError::not_found(format!("{w} not found")),
            CoreError::AlreadyExists(w) => AdminError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("{w} already exists"),
            ),
            CoreError::Invalid { field, message } => {
                AdminError::bad(format!("`{field}`: {message}"))
            }
            CoreError::LimitReached(m) => AdminError::new(StatusCode::CONFLICT, "LIMIT_REACHED", m),
            other => {
                tracing::error!(error = %other, "admin request failed internally");
                AdminError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "the store is unavailable; try again shortly",
                )
            }
        }
    }
}

type Result<T> = std::result::Result<T, AdminError>;

pub(crate) fn authorize(state: &AppState, req: &Request) -> Result<()> {
    let presented = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            AdminError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "send the admin token as `Authorization: Bearer <token>`",
            )
        })?;
    if !constant_time_eq(&token_hash(presented), &state.admin_token_hash) {
        return Err(AdminError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "the admin token is not valid",
        ));
    }
    Ok(())
}

/// Reads a typed body (unknown fields refused, naming the allowed ones); errors name the field
/// and the rule.
pub(crate) fn body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let b = http::json_object(req).map_err(|e| AdminError::bad(e.0))?;
    wire::typed(&b).map_err(|e| AdminError::bad(e.0))
}

/// [`body`], where an empty body counts as `{}`.
pub(crate) fn body_or_empty<T: DeserializeOwned>(req: &Request) -> Result<T> {
    if req.body.is_empty() {
        return wire::typed(&Map::new()).map_err(|e| AdminError::bad(e.0));
    }
    body(req)
}

fn group_id(raw: &str) -> Result<GroupId> {
    raw.parse()
        .map_err(|_| AdminError::bad(format!("group id must be a positive integer, got {raw:?}")))
}

fn group_view(g: &GroupRecord) -> GroupView {
    GroupView {
        group_id: g.id.get(),
        name: g.name.clone(),
        plan: g.plan.into(),
        open_cloud_key: SecretView {
            configured: g.open_cloud_key.is_some(),
            hint: g.open_cloud_key_hint.clone(),
        },
        guard_rank: g.guard_rank,
        rules: g.rules.iter().map(Rule::from).collect(),
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

pub(crate) fn limit_param(req: &Request, default: usize, max: usize) -> Result<usize> {
    match req.query.get("limit") {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| AdminError::bad(format!("`limit` must be an integer from 1 to {max}"))),
    }
}

/// `GET /admin/v1/groups/{groupId}/rules`: the rules and the rank guard.
pub(crate) fn get_rules(state: &AppState, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    Ok(ok(RulesView {
        rules: g.rules.iter().map(Rule::from).collect(),
        guard_rank: g.guard_rank,
    }))
}

/// A 200 answer.
pub(crate) fn ok(v: impl Serialize) -> Response {
    http::json(StatusCode::OK, &v)
}

/// A 201 answer.
pub(crate) fn created(v: impl Serialize) -> Response {
    http::json(StatusCode::CREATED, &v)
}

pub(crate) fn list_groups(state: &AppState, req: &Request) -> Result<Response> {
    let limit = limit_param(req, 100, 1000)?;
    let after = req.query.get("after").map(|a| group_id(a)).transpose()?;
    let gs = groups::list(&state.ctx, after, limit)?;
    let next = (gs.len() == limit)
        .then(|| gs.last().map(|g| g.id.get()))
        .flatten();
    Ok(ok(GroupsPage {
        groups: gs.iter().map(group_view).collect(),
        next,
    }))
}

pub(crate) async fn create_group(state: &AppState, req: &Request) -> Result<Response> {
    let b: CreateGroupBody = body(req)?;
    let id = GroupId::new(b.group_id.0).map_err(|e| AdminError::bad(e.to_string()))?;
    let name = b.name.unwrap_or_else(|| format!("Group {id}"));
    let plan = b.plan.map_or(Plan::Starter, |p| p.0);
    let key = b.open_cloud_key.map(Secret::new);
    let guard = b.guard_rank.map(|r| r.0);
    let g = groups::create(
        &state.ctx,
        NewGroup {
            id,
            name,
            plan,
            open_cloud_key: key,
            guard_rank: guard,
        },
    )
    .await?;
    Ok(created(group_view(&g)))
}

fn load_group(state: &AppState, g: &str) -> Result<GroupRecord> {
    let id = group_id(g)?;
    groups::get(&state.ctx, id)?
        .ok_or_else(|| AdminError::not_found(format!("group {id} not found")))
}

pub(crate) fn get_group(state: &AppState, g: &str) -> Result<Response> {
    load_group(state, g).map(|g| ok(group_view(&g)))
}

pub(crate) async fn update_group(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b: UpdateGroupBody = body(req)?;
    let patch = GroupPatch {
        name: b.name,
        plan: b.plan.map(|p| p.0),
        open_cloud_key: b.open_cloud_key.map(|k| k.map(Secret::new)),
        guard_rank: b.guard_rank.map(|r| r.map(|r| r.0)),
    };
    let g = groups::update(&state.ctx, id, patch).await?;
    Ok(ok(group_view(&g)))
}

pub(crate) fn list_keys(state: &AppState, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let keys = apikeys::list(&state.ctx, KeyScope::Group(g.id))?;
    Ok(ok(KeysList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

pub(crate) async fn issue_key(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b: IssueKeyBody = body_or_empty(req)?;
    let label = b.label.unwrap_or_default();
    let (rec, token) = apikeys::issue(&state.ctx, KeyScope::Group(id), &label).await?;
    Ok(created(IssuedKey::new(&rec, token)))
}

pub(crate) async fn revoke_key(state: &AppState, k: &str) -> Result<Response> {
    let rec = apikeys::revoke(&state.ctx, k).await?;
    Ok(ok(KeyView::from(&rec)))
}

pub(crate) async fn add_rule(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b: RuleBody = body(req)?;
    let new = NewRule {
        direction: b.direction,
        from: b.from,
        to: b.to,
        enabled: b.enabled.unwrap_or(true),
    };
    let rule = groups::add_rule(&state.ctx, id, new).await?;
    Ok(created(Rule::from(&rule)))
}

fn rule_id(raw: &str) -> Result<u32> {
    raw.parse()
        .map_err(|_| AdminError::bad(format!("rule id must be a positive integer, got {raw:?}")))
}

pub(crate) async fn patch_rule(
    state: &AppState,
    req: &Request,
    g: &str,
    r: &str,
) -> Result<Response> {
    let id = group_id(g)?;
    let rid = rule_id(r)?;
    let b: RulePatchBody = body(req)?;
    let rule = groups::set_rule_enabled(&state.ctx, id, rid, b.enabled).await?;
    Ok(ok(Rule::from(&rule)))
}

pub(crate) async fn delete_rule(state: &AppState, g: &str, r: &str) -> Result<Response> {
    groups::remove_rule(&state.ctx, group_id(g)?, rule_id(r)?).await?;
    Ok(ok(Removed::YES))
}

pub(crate) fn list_blacklist(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let limit = limit_param(req, 100, 1000)?;
    let after = req
        .query
        .get("after")
        .map(|a| {
            a.parse::<RobloxUserId>()
                .map_err(|e| AdminError::bad(e.to_string()))
        })
        .transpose()?;
    let entries = groups::blacklist(&state.ctx, g.id, after, limit)?;
    Ok(ok(BlacklistPage {
        blacklist: entries.iter().map(BlacklistEntry::from).collect(),
    }))
}

pub(crate) async fn add_blacklist(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b: BlacklistBody = body(req)?;
    let user = RobloxUserId::new(b.roblox_user_id.0).map_err(|e| AdminError::bad(e.to_string()))?;
    let reason = b.reason.unwrap_or_default();
    let e = groups::blacklist_add(&state.ctx, id, user, reason).await?;
    Ok(created(BlacklistEntry::from(&e)))
}

pub(crate) async fn remove_blacklist(state: &AppState, g: &str, u: &str) -> Result<Response> {
    let id = group_id(g)?;
    let user: RobloxUserId = u
        .parse()
        .map_err(|e: roster_core::ids::IdError| AdminError::bad(e.to_string()))?;
    if !groups::blacklist_remove(&state.ctx, id, user).await? {
        return Err(AdminError::not_found(format!(
            "user {user} is not blacklisted in group {id}"
        )));
    }
    Ok(ok(Removed::YES))
}

pub(crate) fn group_usage(state: &AppState, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let u = usage::current(&state.ctx, g.id, g.plan.limits(&state.ctx).monthly_requests)?;
    Ok(ok(GroupUsage {
        group_id: g.id.get(),
        plan: g.plan.into(),
        usage: wire::Usage::from(&u),
    }))
}

pub(crate) fn group_audit(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let limit = limit_param(req, 50, 500)?;
    let cursor = req
        .query
        .get("cursor")
        .map(|c| {
            c.parse::<u64>()
                .map_err(|_| AdminError::bad("`cursor` must be an entry id"))
        })
        .transpose()?;
    let action = req.query.get("action").map(String::as_str);
    let (entries, next) = audit::list(&state.ctx, Tenant::Group(g.id), limit, cursor, action)?;
    Ok(ok(audit_page(entries, next)))
}

/// An audit page as answered.
pub(crate) fn audit_page(
    entries: Vec<roster_core::audit::AuditEntry>,
    next: Option<u64>,
) -> AdminAuditPage {
    AdminAuditPage {
        entries: entries.into_iter().map(AdminAuditEntry::from).collect(),
        next_cursor: next,
    }
}

fn job_id(raw: &str) -> Result<JobId> {
    raw.parse()
        .map_err(|e: roster_core::ids::IdError| AdminError::bad(e.to_string()))
}

pub(crate) async fn list_jobs(state: &AppState, req: &Request) -> Result<Response> {
    match req.query.get("status").map(String::as_str) {
        Some("dead") => {}
        _ => {
            return Err(AdminError::bad(
                "list jobs with `?status=dead` (the dead-letter queue)",
            ));
        }
    }
    let limit = limit_param(req, 100, 1000)?;
    let after = req.query.get("after").map(|a| job_id(a)).transpose()?;
    let jobs = ops::dead(&state.ctx, after, limit)?;
    let mut views = Vec::with_capacity(jobs.len());
    for j in &jobs {
        views.push(job_view(state, j).await);
    }
    Ok(ok(JobsList { jobs: views }))
}

pub(crate) async fn get_job(state: &AppState, j: &str) -> Result<Response> {
    let id = job_id(j)?;
    let rec = ops::get(&state.ctx, id)?
        .ok_or_else(|| AdminError::not_found(format!("job {id} not found")))?;
    Ok(ok(job_view(state, &rec).await))
}

pub(crate) async fn retry_job(state: &AppState, j: &str) -> Result<Response> {
    let rec = ops::retry(&state.ctx, job_id(j)?).await?;
    Ok(http::json(
        StatusCode::ACCEPTED,
        &job_view(state, &rec).await,
    ))
}
