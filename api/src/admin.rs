//! The operator API under `/admin/v1`, authenticated with the admin bearer token. The `roster
//! admin` CLI is a client of exactly these routes.
//!
//! Errors: `{"error": "CODE", "message": "…"}` with UNAUTHORIZED (401), BAD_REQUEST (400),
//! NOT_FOUND (404), CONFLICT (409), LIMIT_REACHED (409), METHOD_NOT_ALLOWED (405),
//! SERVICE_UNAVAILABLE (503). Credentials are write-only: responses show whether an Open
//! Cloud key is set and its last four characters, never the key.

use roster_core::apikeys::{self, ApiKeyRecord, KeyScope};
use roster_core::audit::{self, Tenant};
use roster_core::error::CoreError;
use roster_core::groups::{self, GroupPatch, GroupRecord, NewGroup, NewRule, Plan};
use roster_core::ids::{GroupId, JobId, RobloxUserId};
use roster_core::jobs::facade::ops;
use roster_core::secrets::{Secret, constant_time_eq, token_hash};
use roster_core::usage;
use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::{self, Request};
use crate::ranking::job_view;
use crate::state::AppState;

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
            &json!({"error": self.code, "message": self.message}),
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

fn body(req: &Request) -> Result<Map<String, Value>> {
    http::json_object(req).map_err(|e| AdminError::bad(e.0))
}

fn group_id(raw: &str) -> Result<GroupId> {
    raw.parse()
        .map_err(|_| AdminError::bad(format!("group id must be a positive integer, got {raw:?}")))
}

fn group_view(g: &GroupRecord) -> Value {
    json!({
        "groupId": g.id.get(),
        "name": g.name,
        "plan": g.plan,
        "openCloudKey": { "configured": g.open_cloud_key.is_some(), "hint": g.open_cloud_key_hint },
        "guardRank": g.guard_rank,
        "rules": g.rules,
        "createdAt": g.created_at,
        "updatedAt": g.updated_at,
    })
}

pub(crate) fn key_view(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "scope": k.scope,
        "label": k.label,
        "prefix": k.prefix,
        "createdAt": k.created_at,
        "lastUsedAt": k.last_used_at,
        "revokedAt": k.revoked_at,
        "active": k.revoked_at.is_none(),
    })
}

fn opt_string(b: &Map<String, Value>, field: &str) -> Result<Option<String>> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AdminError::bad(format!("`{field}` must be a string"))),
    }
}

fn plan_field(b: &Map<String, Value>) -> Result<Option<Plan>> {
    opt_string(b, "plan")?
        .map(|p| p.parse::<Plan>().map_err(AdminError::from))
        .transpose()
}

fn guard_field(b: &Map<String, Value>) -> Result<Option<Option<u8>>> {
    match b.get("guardRank") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=255).contains(n))
            .map(|n| Some(Some(n as u8)))
            .ok_or_else(|| {
                AdminError::bad("`guardRank` must be an integer from 1 to 255, or null")
            }),
    }
}

pub(crate) fn reject_unknown(b: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    if let Some(k) = b.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(AdminError::bad(format!(
            "unknown field `{k}`; expected one of: {}",
            allowed.join(", ")
        )));
    }
    Ok(())
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
    get_group(state, g)
        .map(|v| json!({"rules": v["rules"], "guardRank": v["guardRank"]}))
        .map(ok)
}

pub(crate) fn ok(v: Value) -> Response {
    http::json(StatusCode::OK, &v)
}

fn created(v: Value) -> Response {
    http::json(StatusCode::CREATED, &v)
}

pub(crate) fn list_groups(state: &AppState, req: &Request) -> Result<Response> {
    let limit = limit_param(req, 100, 1000)?;
    let after = req.query.get("after").map(|a| group_id(a)).transpose()?;
    let gs = groups::list(&state.ctx, after, limit)?;
    let next = (gs.len() == limit)
        .then(|| gs.last().map(|g| g.id.get()))
        .flatten();
    Ok(ok(
        json!({"groups": gs.iter().map(group_view).collect::<Vec<_>>(), "next": next}),
    ))
}

pub(crate) async fn create_group(state: &AppState, req: &Request) -> Result<Response> {
    let b = body(req)?;
    reject_unknown(
        &b,
        &["groupId", "name", "plan", "openCloudKey", "guardRank"],
    )?;
    let id = http::id_field(&b, "groupId").map_err(|e| AdminError::bad(e.0))?;
    let id = GroupId::new(id).map_err(|e| AdminError::bad(e.to_string()))?;
    let name = opt_string(&b, "name")?.unwrap_or_else(|| format!("Group {id}"));
    let plan = plan_field(&b)?.unwrap_or(Plan::Starter);
    let key = opt_string(&b, "openCloudKey")?.map(Secret::new);
    let guard = guard_field(&b)?.flatten();
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

pub(crate) fn get_group(state: &AppState, g: &str) -> Result<Value> {
    load_group(state, g).map(|g| group_view(&g))
}

pub(crate) async fn update_group(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b = body(req)?;
    reject_unknown(&b, &["name", "plan", "openCloudKey", "guardRank"])?;
    let patch = GroupPatch {
        name: opt_string(&b, "name")?,
        plan: plan_field(&b)?,
        open_cloud_key: match b.get("openCloudKey") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(Secret::new(s.clone()))),
            Some(_) => return Err(AdminError::bad("`openCloudKey` must be a string or null")),
        },
        guard_rank: guard_field(&b)?,
    };
    let g = groups::update(&state.ctx, id, patch).await?;
    Ok(ok(group_view(&g)))
}

pub(crate) fn list_keys(state: &AppState, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let keys = apikeys::list(&state.ctx, KeyScope::Group(g.id))?;
    Ok(ok(
        json!({"keys": keys.iter().map(key_view).collect::<Vec<_>>()}),
    ))
}

pub(crate) async fn issue_key(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b = if req.body.is_empty() {
        Map::new()
    } else {
        body(req)?
    };
    reject_unknown(&b, &["label"])?;
    let label = opt_string(&b, "label")?.unwrap_or_default();
    let (rec, token) = apikeys::issue(&state.ctx, KeyScope::Group(id), &label).await?;
    let mut v = key_view(&rec);
    v["key"] = json!(token);
    v["notice"] = json!("store this key now: Roster keeps only its hash and cannot show it again");
    Ok(created(v))
}

pub(crate) async fn revoke_key(state: &AppState, k: &str) -> Result<Response> {
    let rec = apikeys::revoke(&state.ctx, k).await?;
    Ok(ok(key_view(&rec)))
}

pub(crate) async fn add_rule(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b = body(req)?;
    let new: NewRule = serde_json::from_value(Value::Object(b))
        .map_err(|e| AdminError::bad(format!("invalid rule: {e}")))?;
    let rule = groups::add_rule(&state.ctx, id, new).await?;
    Ok(created(serde_json::to_value(rule).unwrap_or(Value::Null)))
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
    let b = body(req)?;
    reject_unknown(&b, &["enabled"])?;
    let enabled = b
        .get("enabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| AdminError::bad("`enabled` (true or false) is required"))?;
    let rule = groups::set_rule_enabled(&state.ctx, id, rid, enabled).await?;
    Ok(ok(serde_json::to_value(rule).unwrap_or(Value::Null)))
}

pub(crate) async fn delete_rule(state: &AppState, g: &str, r: &str) -> Result<Response> {
    groups::remove_rule(&state.ctx, group_id(g)?, rule_id(r)?).await?;
    Ok(ok(json!({"removed": true})))
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
    Ok(ok(json!({"blacklist": entries})))
}

pub(crate) async fn add_blacklist(state: &AppState, req: &Request, g: &str) -> Result<Response> {
    let id = group_id(g)?;
    let b = body(req)?;
    reject_unknown(&b, &["robloxUserId", "reason"])?;
    let user = http::id_field(&b, "robloxUserId").map_err(|e| AdminError::bad(e.0))?;
    let user = RobloxUserId::new(user).map_err(|e| AdminError::bad(e.to_string()))?;
    let reason = opt_string(&b, "reason")?.unwrap_or_default();
    let e = groups::blacklist_add(&state.ctx, id, user, reason).await?;
    Ok(created(serde_json::to_value(e).unwrap_or(Value::Null)))
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
    Ok(ok(json!({"removed": true})))
}

pub(crate) fn group_usage(state: &AppState, g: &str) -> Result<Response> {
    let g = load_group(state, g)?;
    let u = usage::current(&state.ctx, g.id, g.plan.limits(&state.ctx).monthly_requests)?;
    Ok(ok(
        json!({"groupId": g.id.get(), "plan": g.plan, "usage": u}),
    ))
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
    Ok(ok(json!({"entries": entries, "nextCursor": next})))
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
    Ok(ok(json!({"jobs": views})))
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
