//! The `/cloud/v2` request pipeline (latency, routing, auth, rate limit, faults, scopes) and the group
//! operations (the user-restriction operations are in `restrictions`).

use std::ops::Bound;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use super::error::{ApiError, invalid_api_key};
use super::filter::{MembershipFilter, parse_id, parse_role_path};
use super::model::{GUEST_RANK, Group, OWNER_RANK, World, membership_user};
use super::page::{Collection, ListQuery, next_token, page_size, resume_after};
use super::restrictions::{self, RestrictionKind, RestrictionRoute};
use super::users;
use super::wire::{
    GroupJson, ListMembershipsJson, ListRolesJson, MembershipJson, RoleJson, Viewer,
};
use super::{ApiKey, Endpoint, FaultAction, Incoming, LogEntry, RobloxSim, RobloxSimConfig};
use crate::http_util::{QueryError, json_response, parse_query, percent_decode, rfc3339};

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

fn list_memberships(
    world: &World,
    group_segment: &str,
    query: &str,
    config: &RobloxSimConfig,
) -> Result<ListMembershipsJson, ApiError> {
    let params = query_params(query, &["maxPageSize", "pageToken", "filter"])?;
    let (raw_size, size) = page_size(params.get("maxPageSize").map(String::as_str), 10, 100)?;
    let filter_text = params.get("filter").cloned();
    let filter = filter_text
        .as_deref()
        .map(MembershipFilter::parse)
        .transpose()
        .map_err(ApiError::invalid_argument)?;
    let group_id = if group_segment == "-" {
        if !matches!(
            filter,
            Some(MembershipFilter::User(_) | MembershipFilter::Users(_))
        ) {
            return Err(ApiError::invalid_argument(
                "Listing memberships of groups/- requires a filter on user: user == 'users/N' or user in ['users/N', ...].",
            ));
        }
        None
    } else {
        Some(parse_group_id(group_segment)?)
    };
    if let (
        Some(MembershipFilter::Role {
            group_id: filter_group,
            ..
        }),
        Some(group_id),
    ) = (&filter, group_id)
        && *filter_group != group_id
    {
        return Err(ApiError::invalid_argument(format!(
            "The role filter names group {filter_group}, but the request is for group {group_id}."
        )));
    }
    let list_query = ListQuery {
        collection: Collection::Memberships,
        parent: format!("groups/{group_segment}"),
        filter: filter_text,
        max_page_size: raw_size,
    };
    let after = match params.get("pageToken").filter(|token| !token.is_empty()) {
        Some(token) => match resume_after(token, &list_query)?.as_slice() {
            [user, group] => Some((*user, *group)),
            _ => return Err(ApiError::invalid_argument("pageToken is invalid")),
        },
        None => None,
    };
    // (user id, group id) of every matching membership after the cursor, in order, one more than a page.
    let mut keys: Vec<(u64, u64)> = Vec::with_capacity(size + 1);
    let start = after.map_or(Bound::Unbounded, |(user, _)| Bound::Included(user));
    let past_cursor = |key: (u64, u64)| after.is_none_or(|cursor| key > cursor);
    match group_id {
        Some(group_id) => {
            let group = existing_group(world, group_id)?;
            let role_filter = match &filter {
                Some(MembershipFilter::Role { role_id, .. }) => Some(*role_id),
                _ => None,
            };
            for (&user, member) in group.members.range((start, Bound::Unbounded)) {
                if keys.len() > size {
                    break;
                }
                let wanted = filter.as_ref().is_none_or(|f| f.matches_user(user))
                    && role_filter.is_none_or(|role| member.roles.contains(&role));
                if wanted && past_cursor((user, group_id)) {
                    keys.push((user, group_id));
                }
            }
        }
        None => {
            let users: Vec<u64> = match &filter {
                Some(MembershipFilter::User(user)) => vec![*user],
                Some(MembershipFilter::Users(users)) => users.iter().copied().collect(),
                _ => Vec::new(),
            };
            'users: for user in users {
                for (&group_id, group) in &world.groups {
                    if keys.len() > size {
                        break 'users;
                    }
                    if group.members.contains_key(&user) && past_cursor((user, group_id)) {
                        keys.push((user, group_id));
                    }
                }
            }
        }
    }
    let more = keys.len() > size;
    keys.truncate(size);
    let memberships = keys
        .iter()
        .filter_map(|&(user, group_id)| {
            let group = world.groups.get(&group_id)?;
            Some(MembershipJson::new(group, user, group.members.get(&user)?))
        })
        .collect();
    let last = keys.last().map(|&(user, group)| vec![user, group]);
    Ok(ListMembershipsJson {
        group_memberships: memberships,
        next_page_token: next_token(
            &list_query,
            last,
            more,
            keys.len() == size,
            config.end_of_list,
            config.empty_last_page,
        ),
    })
}

fn list_roles(
    world: &World,
    group_segment: &str,
    query: &str,
    config: &RobloxSimConfig,
    viewer: Viewer,
) -> Result<ListRolesJson, ApiError> {
    let params = query_params(query, &["maxPageSize", "pageToken"])?;
    let (raw_size, size) = page_size(params.get("maxPageSize").map(String::as_str), 10, 20)?;
    let group = existing_group(world, parse_group_id(group_segment)?)?;
    let list_query = ListQuery {
        collection: Collection::Roles,
        parent: format!("groups/{group_segment}"),
        filter: None,
        max_page_size: raw_size,
    };
    let after_rank = match params.get("pageToken").filter(|token| !token.is_empty()) {
        Some(token) => match resume_after(token, &list_query)?.as_slice() {
            [rank] => Some(*rank),
            _ => return Err(ApiError::invalid_argument("pageToken is invalid")),
        },
        None => None,
    };
    let mut roles: Vec<_> = group
        .roles_by_rank()
        .into_iter()
        .filter(|role| after_rank.is_none_or(|after| u64::from(role.rank) > after))
        .collect();
    let more = roles.len() > size;
    roles.truncate(size);
    let last = roles.last().map(|role| vec![u64::from(role.rank)]);
    Ok(ListRolesJson {
        next_page_token: next_token(
            &list_query,
            last,
            more,
            roles.len() == size,
            config.end_of_list,
            config.empty_last_page,
        ),
        group_roles: roles
            .into_iter()
            .map(|role| RoleJson::new(group, role, viewer))
            .collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteOp {
    Update,
    Assign,
    Unassign,
}

/// `AssignRoleGroupMembershipRequest` / `UnassignRoleGroupMembershipRequest`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    role: String,
}

/// The `GroupMembership` body of PATCH: `role` is the only writable field; `user` is immutable.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "output-only fields are accepted and ignored, as AIP-203 asks"
)]
struct MembershipPatch {
    path: Option<String>,
    create_time: Option<String>,
    update_time: Option<String>,
    user: Option<String>,
    role: Option<String>,
    roles: Option<Vec<String>>,
}

/// PATCH, assignRole and unassignRole: checks, in the order the module doc lists, then applies the change.
fn write_membership(
    world: &mut World,
    group_segment: &str,
    membership_segment: &str,
    body: &[u8],
    actor: u64,
    op: WriteOp,
    now: DateTime<Utc>,
) -> Result<MembershipJson, ApiError> {
    let group_id = parse_group_id(group_segment)?;
    let (role_path, user_field) = match op {
        WriteOp::Update => {
            let patch: MembershipPatch = serde_json::from_slice(body).map_err(|err| {
                ApiError::invalid_argument(format!("Invalid request body: {err}"))
            })?;
            let role = patch.role.ok_or_else(|| {
                ApiError::invalid_argument(
                    "role is required: it is the only writable field of a membership.",
                )
            })?;
            (role, patch.user)
        }
        WriteOp::Assign | WriteOp::Unassign => {
            let request: RoleRequest = serde_json::from_slice(body).map_err(|err| {
                ApiError::invalid_argument(format!("Invalid request body: {err}"))
            })?;
            (request.role, None)
        }
    };
    let (role_group, role_id) = parse_role_path(&role_path).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "role must look like groups/{{group_id}}/roles/{{role_id}}, got {role_path:?}"
        ))
    })?;
    let group = world
        .groups
        .get_mut(&group_id)
        .ok_or_else(|| group_not_found(group_id))?;
    let actor_rank = manager_rank(group, actor)?;
    let target = membership_user(group_id, membership_segment)
        .filter(|user| group.members.contains_key(user))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Membership {membership_segment} was not found in group {group_id}."
            ))
        })?;
    if let Some(user) = user_field
        && user != format!("users/{target}")
    {
        return Err(ApiError::invalid_argument(format!(
            "user is immutable: the membership belongs to users/{target}, not {user}."
        )));
    }
    if target == actor {
        return Err(ApiError::permission_denied(
            "A requester cannot change their own membership.",
        ));
    }
    if role_group != group_id {
        return Err(ApiError::invalid_argument(format!(
            "Role {role_path} does not belong to group {group_id}."
        )));
    }
    let role_rank = group
        .roles
        .get(&role_id)
        .map(|role| role.rank)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Role {role_id} does not exist in group {group_id}."
            ))
        })?;
    let verb = if op == WriteOp::Unassign {
        "unassigned"
    } else {
        "assigned"
    };
    if role_rank == GUEST_RANK {
        return Err(ApiError::invalid_argument(format!(
            "The guest role cannot be {verb}."
        )));
    }
    if role_rank == OWNER_RANK {
        return Err(ApiError::invalid_argument(format!(
            "The owner role cannot be {verb}."
        )));
    }
    let target_rank = group
        .members
        .get(&target)
        .map_or(0, |member| group.highest_role(member).rank);
    if target_rank >= actor_rank {
        return Err(ApiError::permission_denied(format!(
            "The requester (rank {actor_rank}) can only manage members ranked below them; users/{target} has rank {target_rank}."
        )));
    }
    if role_rank >= actor_rank {
        return Err(ApiError::permission_denied(format!(
            "The requester (rank {actor_rank}) can only assign roles ranked below them; role {role_id} has rank {role_rank}."
        )));
    }
    let Some(member) = group.members.get_mut(&target) else {
        return Err(group_not_found(group_id));
    };
    let changed = match op {
        WriteOp::Update => {
            let before = std::mem::replace(&mut member.roles, [role_id].into());
            before != member.roles
        }
        WriteOp::Assign => member.roles.insert(role_id),
        WriteOp::Unassign => {
            if member.roles.contains(&role_id) && member.roles.len() == 1 {
                return Err(ApiError::invalid_argument(format!(
                    "Role {role_id} is the only role of users/{target}; a member must keep at least one role."
                )));
            }
            member.roles.remove(&role_id)
        }
    };
    if changed {
        member.updated = now;
    }
    let group: &Group = group;
    let member = group
        .members
        .get(&target)
        .ok_or_else(|| group_not_found(group_id))?;
    Ok(MembershipJson::new(group, target, member))
}

/// The rank with which `actor` may manage members: the owner's, or the highest role's if it has `changeRank`.
fn manager_rank(group: &Group, actor: u64) -> Result<u8, ApiError> {
    if actor == group.owner {
        return Ok(OWNER_RANK);
    }
    let member = group.members.get(&actor).ok_or_else(|| {
        ApiError::permission_denied(format!(
            "The requester (users/{actor}) is not a member of group {}.",
            group.id
        ))
    })?;
    let highest = group.highest_role(member);
    if !highest.change_rank {
        return Err(ApiError::permission_denied(format!(
            "The requester's role {} lacks the changeRank permission.",
            highest.name
        )));
    }
    Ok(highest.rank)
}

fn existing_group(world: &World, group_id: u64) -> Result<&Group, ApiError> {
    world
        .groups
        .get(&group_id)
        .ok_or_else(|| group_not_found(group_id))
}

fn group_not_found(group_id: u64) -> ApiError {
    ApiError::not_found(format!("Group {group_id} was not found."))
}

fn parse_group_id(segment: &str) -> Result<u64, ApiError> {
    parse_id(segment).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "group_id must be a positive integer, got {segment:?}"
        ))
    })
}

pub(crate) fn query_params(
    query: &str,
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, String>, ApiError> {
    parse_query(query, allowed).map_err(|err| match err {
        QueryError::Unknown(name) => ApiError::invalid_argument(format!(
            "Unknown query parameter {name:?} for this operation."
        )),
        QueryError::Repeated(name) => ApiError::invalid_argument(format!(
            "Query parameter {name:?} was given more than once."
        )),
    })
}

/// A matched route with its raw (decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    GetGroup { group: String },
    ListMemberships { group: String },
    UpdateMembership { group: String, membership: String },
    AssignRole { group: String, membership: String },
    UnassignRole { group: String, membership: String },
    ListRoles { group: String },
    GetRole { group: String, role: String },
    UserRestriction(RestrictionRoute),
    GetUser { user: String },
}

impl Route {
    fn endpoint(&self) -> Endpoint {
        match self {
            Route::GetGroup { .. } => Endpoint::GetGroup,
            Route::ListMemberships { .. } => Endpoint::ListMemberships,
            Route::UpdateMembership { .. } => Endpoint::UpdateMembership,
            Route::AssignRole { .. } => Endpoint::AssignRole,
            Route::UnassignRole { .. } => Endpoint::UnassignRole,
            Route::ListRoles { .. } => Endpoint::ListRoles,
            Route::GetRole { .. } => Endpoint::GetRole,
            Route::UserRestriction(route) => route.endpoint(),
            Route::GetUser { .. } => Endpoint::GetUser,
        }
    }

    /// Every method the route's path answers, as the `allow` header lists them.
    fn allowed_methods(&self) -> &'static str {
        match self {
            Route::UserRestriction(RestrictionRoute {
                kind: RestrictionKind::Get | RestrictionKind::Update,
                ..
            }) => "GET, PATCH",
            other => other.endpoint().method(),
        }
    }

    /// Matches a path; an unknown path is a 404, a wrong method a 405.
    fn parse(method: &Method, path: &str) -> Result<Route, RouteError> {
        let not_found = || RouteError::NotFound(path.to_owned());
        let rest = path.strip_prefix("/cloud/v2/").ok_or_else(not_found)?;
        let segments: Vec<String> = rest
            .split('/')
            .map(percent_decode)
            .collect::<Option<_>>()
            .ok_or_else(not_found)?;
        if segments.iter().any(String::is_empty) {
            return Err(not_found());
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match segments.as_slice() {
            ["groups", group] => Route::GetGroup {
                group: (*group).to_owned(),
            },
            ["groups", group, "memberships"] => Route::ListMemberships {
                group: (*group).to_owned(),
            },
            ["groups", group, "memberships", membership] => match membership.rsplit_once(':') {
                Some((membership, "assignRole")) => Route::AssignRole {
                    group: (*group).to_owned(),
                    membership: membership.to_owned(),
                },
                Some((membership, "unassignRole")) => Route::UnassignRole {
                    group: (*group).to_owned(),
                    membership: membership.to_owned(),
                },
                Some(_) => return Err(not_found()),
                None => Route::UpdateMembership {
                    group: (*group).to_owned(),
                    membership: (*membership).to_owned(),
                },
            },
            ["groups", group, "roles"] => Route::ListRoles {
                group: (*group).to_owned(),
            },
            ["groups", group, "roles", role] => Route::GetRole {
                group: (*group).to_owned(),
                role: (*role).to_owned(),
            },
            ["users", user] => Route::GetUser {
                user: (*user).to_owned(),
            },
            ["universes", universe, rest @ ..] => Route::UserRestriction(
                restriction_route(method, universe, rest).ok_or_else(not_found)?,
            ),
            _ => return Err(not_found()),
        };
        let allow = route.allowed_methods();
        if !allow.split(", ").any(|allowed| allowed == method.as_str()) {
            return Err(RouteError::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_owned(),
                allow,
            });
        }
        Ok(route)
    }
}

/// Matches what follows `universes/{universe_id}/`. The get and update paths are the same, so the method picks.
fn restriction_route(method: &Method, universe: &str, rest: &[&str]) -> Option<RestrictionRoute> {
    let (place, rest) = match rest {
        ["places", place, rest @ ..] => (Some((*place).to_owned()), rest),
        _ => (None, rest),
    };
    let (kind, user) = match rest {
        ["user-restrictions"] => (RestrictionKind::List, None),
        ["user-restrictions:listLogs"] if place.is_none() => (RestrictionKind::ListLogs, None),
        ["user-restrictions", user] if !user.contains(':') => {
            let kind = if method == Method::PATCH {
                RestrictionKind::Update
            } else {
                RestrictionKind::Get
            };
            (kind, Some((*user).to_owned()))
        }
        _ => return None,
    };
    Some(RestrictionRoute {
        kind,
        universe: universe.to_owned(),
        place,
        user,
    })
}

/// Why a request matched no operation.
#[derive(Debug)]
enum RouteError {
    /// No operation has this path: 404 `NOT_FOUND`.
    NotFound(String),
    /// The path exists for another method: 405 `NOT_IMPLEMENTED` with `allow`.
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
}

impl RouteError {
    fn into_response(self) -> Response {
        match self {
            RouteError::NotFound(path) => {
                ApiError::not_found(format!("No Open Cloud operation at {path}.")).into_response()
            }
            RouteError::MethodNotAllowed {
                method,
                path,
                allow,
            } => {
                let mut response = ApiError::with_status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("Method {method} is not allowed on {path}; use {allow}."),
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                response
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<Route, u16> {
        Route::parse(&method, path).map_err(|err| err.into_response().status().as_u16())
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/memberships/21557:assignRole"
            ),
            Ok(Route::AssignRole {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(
                Method::POST,
                "/cloud/v2/groups/7/memberships/21557%3AunassignRole"
            ),
            Ok(Route::UnassignRole {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(Method::PATCH, "/cloud/v2/groups/7/memberships/21557"),
            Ok(Route::UpdateMembership {
                group: "7".into(),
                membership: "21557".into()
            })
        );
        assert_eq!(
            route(Method::GET, "/cloud/v2/groups/7/memberships/21557"),
            Err(405)
        );
        assert_eq!(
            route(Method::POST, "/cloud/v2/groups/7/memberships/21557:kick"),
            Err(404)
        );
        assert_eq!(route(Method::GET, "/cloud/v2/groups/7/"), Err(404));
        assert_eq!(route(Method::GET, "/cloud/v1/groups/7"), Err(404));
        assert_eq!(
            route(Method::DELETE, "/cloud/v2/groups/7/roles/5"),
            Err(405)
        );
    }

    #[test]
    fn universe_routes() {
        let restriction = |kind, place: Option<&str>, user: Option<&str>| {
            Ok(Route::UserRestriction(RestrictionRoute {
                kind,
                universe: "3".into(),
                place: place.map(Into::into),
                user: user.map(Into::into),
            }))
        };
        assert_eq!(
            route(Method::GET, "/cloud/v2/universes/3/user-restrictions/9"),
            restriction(RestrictionKind::Get, None, Some("9"))
        );
        assert_eq!(
            route(Method::PATCH, "/cloud/v2/universes/3/user-restrictions/9"),
            restriction(RestrictionKind::Update, None, Some("9"))
        );
        assert_eq!(
            route(
                Method::PATCH,
                "/cloud/v2/universes/3/places/4/user-restrictions/9"
            ),
            restriction(RestrictionKind::Update, Some("4"), Some("9"))
        );
        assert_eq!(
            route(
                Method::GET,
                "/cloud/v2/universes/3/places/4/user-restrictions"
            ),
            restriction(RestrictionKind::List, Some("4"), None)
        );
        assert_eq!(
            route(
                Method::GET,
                "/cloud/v2/universes/3/user-restrictions%3AlistLogs"
            ),
            restriction(RestrictionKind::ListLogs, None, None)
        );
        let wrong = Route::parse(&Method::DELETE, "/cloud/v2/universes/3/user-restrictions/9")
            .expect_err("405")
            .into_response();
        assert_eq!(wrong.status().as_u16(), 405);
        assert_eq!(
            wrong
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET, PATCH")
        );
        for (method, path) in [
            (Method::GET, "/cloud/v2/universes/3"),
            (Method::GET, "/cloud/v2/universes/3/user-restrictions/9:ban"),
            (
                Method::GET,
                "/cloud/v2/universes/3/user-restrictions:listAll",
            ),
            (
                Method::GET,
                "/cloud/v2/universes/3/places/4/user-restrictions:listLogs",
            ),
            (Method::GET, "/cloud/v2/universes/3/places/4"),
            (Method::GET, "/cloud/v2/universes/3/user-restrictions/9/x"),
        ] {
            assert_eq!(route(method, path), Err(404), "{path}");
        }
        assert_eq!(
            route(Method::POST, "/cloud/v2/universes/3/user-restrictions"),
            Err(405)
        );
    }
}
