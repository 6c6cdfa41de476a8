//! The `/cloud/v2` request pipeline (latency, routing, auth, rate limit, faults, scopes) and the group
//! operations, join requests included (the user-restriction operations are in `restrictions`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::error::{ApiError, invalid_api_key};
use super::filter::parse_id;
use super::restrictions::{self};
use super::users;
use super::wire::{Empty, GroupJson, RoleJson, Viewer};
use super::{ApiKey, Endpoint, FaultAction, Incoming, LogEntry, RobloxSim, RobloxSimConfig};
use crate::http_util::{json_response, rfc3339};

mod groups;
mod join_requests;
mod routes;

use groups::{
    WriteOp, existing_group, list_memberships, list_roles, parse_group_id, write_membership,
};
use join_requests::{Decision, decide_join_request, list_join_requests};
use routes::Route;
pub(crate) use routes::query_params;

/// Handles one request outside `/_sim`, logging it whatever happens (even if the client goes away).
pub(crate) async fn handle(
    sim: &RobloxSim,
    incoming: Incoming,
    cancel: &CancellationToken,
) -> Response {
    let path = if incoming.query.is_empty() {
        incoming.path.clone()
    } else {
        format!("{}?{}", incoming.path, incoming.query)
    };
    let mut record = Record {
        sim: sim.clone(),
        arrived: Utc::now(),
        started: Instant::now(),
        method: incoming.method.to_string(),
        path,
        endpoint: None,
        key_owner: None,
        request_body: body_for_log(&incoming.body),
        fault: None,
        finished: false,
    };
    let response = process(sim, &incoming, cancel, &mut record).await;
    record.finish(response)
}

async fn process(
    sim: &RobloxSim,
    incoming: &Incoming,
    cancel: &CancellationToken,
    record: &mut Record,
) -> Response {
    let config = sim.config();
    if !sleep_unless_cancelled(config.latency, cancel).await {
        return shutting_down();
    }
    let route = match Route::parse(&incoming.method, &incoming.path) {
        Ok(route) => route,
        Err(err) => return err.into_response(),
    };
    let endpoint = route.endpoint();
    record.endpoint = Some(endpoint);
    let key = incoming
        .headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .and_then(|key| sim.api_key(key));
    let Some(key) = key else {
        return invalid_api_key();
    };
    record.key_owner = Some(key.owner);
    let quota = sim.hit_quota(key.owner, endpoint);
    let mut response = if quota.allowed {
        after_quota(sim, incoming, &route, &key, &config, cancel, record).await
    } else {
        rate_limited(config.retry_after_on_429.then(|| quota.retry_after_secs()))
    };
    quota.add_headers(&mut response);
    response
}

/// Faults, scopes, then the operation.
async fn after_quota(
    sim: &RobloxSim,
    incoming: &Incoming,
    route: &Route,
    key: &ApiKey,
    config: &RobloxSimConfig,
    cancel: &CancellationToken,
    record: &mut Record,
) -> Response {
    let endpoint = route.endpoint();
    if let Some((rule_id, action)) =
        sim.fire_fault(endpoint, incoming.method.as_str(), &record.path)
    {
        record.fault = Some(action.describe(rule_id));
        match action {
            FaultAction::Status { status } => return fault_status(status),
            FaultAction::RateLimit { retry_after_secs } => {
                return rate_limited(retry_after_secs.map(u64::from));
            }
            FaultAction::Latency { ms } => {
                if !sleep_unless_cancelled(Duration::from_millis(ms), cancel).await {
                    return shutting_down();
                }
            }
            FaultAction::Hang => {
                cancel.cancelled().await;
                return shutting_down();
            }
        }
    }
    if let Some(scope) = endpoint.required_scope()
        && !key.has_scope(scope)
    {
        return ApiError::permission_denied(format!(
            "The API key does not have the required scope {scope}."
        ))
        .into_response();
    }
    operate(sim, incoming, route, key, config).unwrap_or_else(ApiError::into_response)
}

/// Runs the operation itself.
fn operate(
    sim: &RobloxSim,
    incoming: &Incoming,
    route: &Route,
    key: &ApiKey,
    config: &RobloxSimConfig,
) -> Result<Response, ApiError> {
    let query = incoming.query.as_str();
    let viewer = Viewer {
        user_id: key.owner,
        group_read: key.has_scope("group:read"),
    };
    let now = Utc::now();
    let mut world = sim.inner.world.lock();
    match route {
        Route::GetGroup { group } => {
            query_params(query, &[])?;
            let group = existing_group(&world, parse_group_id(group)?)?;
            Ok(json_response(StatusCode::OK, &GroupJson::new(group)))
        }
        Route::ListMemberships { group } => {
            let page = list_memberships(&world, group, query, config)?;
            Ok(json_response(StatusCode::OK, &page))
        }
        Route::ListRoles { group } => {
            let page = list_roles(&world, group, query, config, viewer)?;
            Ok(json_response(StatusCode::OK, &page))
        }
        Route::GetRole { group, role } => {
            query_params(query, &[])?;
            let group = existing_group(&world, parse_group_id(group)?)?;
            let role_id = parse_id(role).ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "role_id must be a positive integer, got {role:?}"
                ))
            })?;
            let role = group.roles.get(&role_id).ok_or_else(|| {
                ApiError::not_found(format!(
                    "Role {role_id} was not found in group {}.",
                    group.id
                ))
            })?;
            Ok(json_response(
                StatusCode::OK,
                &RoleJson::new(group, role, viewer),
            ))
        }
        Route::UpdateMembership { group, membership } => {
            query_params(query, &[])?;
            let body = write_membership(
                &mut world,
                group,
                membership,
                &incoming.body,
                key.owner,
                WriteOp::Update,
                now,
            )?;
            Ok(json_response(StatusCode::OK, &body))
        }
        Route::AssignRole { group, membership } => {
            query_params(query, &[])?;
            let body = write_membership(
                &mut world,
                group,
                membership,
                &incoming.body,
                key.owner,
                WriteOp::Assign,
                now,
            )?;
            Ok(json_response(StatusCode::OK, &body))
        }
        Route::UnassignRole { group, membership } => {
            query_params(query, &[])?;
            let body = write_membership(
                &mut world,
                group,
                membership,
                &incoming.body,
                key.owner,
                WriteOp::Unassign,
                now,
            )?;
            Ok(json_response(StatusCode::OK, &body))
        }
        Route::ListJoinRequests { group } => {
            let page = list_join_requests(&world, group, query, config, key.owner)?;
            Ok(json_response(StatusCode::OK, &page))
        }
        Route::AcceptJoinRequest {
            group,
            join_request,
        }
        | Route::DeclineJoinRequest {
            group,
            join_request,
        } => {
            query_params(query, &[])?;
            let decision = if matches!(route, Route::AcceptJoinRequest { .. }) {
                Decision::Accept
            } else {
                Decision::Decline
            };
            decide_join_request(
                &mut world,
                group,
                join_request,
                &incoming.body,
                key.owner,
                decision,
                now,
            )?;
            // The spec's 200 has no content; grpc-gateway renders an empty message as `{}`.
            Ok(json_response(StatusCode::OK, &Empty {}))
        }
        Route::GetUser { user } => {
            query_params(query, &[])?;
            let body = users::get_user(&world, user, key)?;
            Ok(json_response(StatusCode::OK, &body))
        }
        Route::UserRestriction(route) => {
            // The restriction operations take the locks they need themselves.
            drop(world);
            restrictions::operate(sim, incoming, route, key, config)
        }
    }
}

fn rate_limited(retry_after_secs: Option<u64>) -> Response {
    too_many_requests(ApiError::resource_exhausted(), retry_after_secs)
}

/// A 429 with `error`'s body and, when given, `retry-after`.
pub(crate) fn too_many_requests(error: ApiError, retry_after_secs: Option<u64>) -> Response {
    let mut response = error.into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn fault_status(status: u16) -> Response {
    if status == 401 {
        return invalid_api_key();
    }
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::with_status(
        status,
        format!(
            "Injected fault: {}.",
            status.canonical_reason().unwrap_or("error")
        ),
    )
    .into_response()
}

fn shutting_down() -> Response {
    ApiError::unavailable("The service is shutting down.").into_response()
}

/// Sleeps for `duration` unless the server shuts down first; false when it did.
async fn sleep_unless_cancelled(duration: Duration, cancel: &CancellationToken) -> bool {
    if duration.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = cancel.cancelled() => false,
    }
}

fn body_for_log(body: &[u8]) -> Option<serde_json::Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(body).into_owned())
        }),
    )
}

/// Writes the log entry when the request finishes, or with status 499 if the client abandons it.
struct Record {
    sim: RobloxSim,
    arrived: DateTime<Utc>,
    started: Instant,
    method: String,
    path: String,
    endpoint: Option<Endpoint>,
    key_owner: Option<u64>,
    request_body: Option<serde_json::Value>,
    fault: Option<String>,
    finished: bool,
}

/// The status logged for a request the client gave up on (Open Cloud's `CANCELLED`).
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl Record {
    fn finish(mut self, response: Response) -> Response {
        self.write(response.status().as_u16());
        self.finished = true;
        response
    }

    fn write(&mut self, status: u16) {
        self.sim.push_log(LogEntry {
            seq: 0,
            at: rfc3339(self.arrived),
            method: std::mem::take(&mut self.method),
            path: std::mem::take(&mut self.path),
            endpoint: self.endpoint,
            key_owner: self.key_owner,
            status,
            request_body: self.request_body.take(),
            fault: self.fault.take(),
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
        });
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.finished {
            self.write(CLIENT_CLOSED_REQUEST);
        }
    }
}
