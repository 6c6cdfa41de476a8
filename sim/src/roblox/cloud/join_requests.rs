//! The join-request operations: list a group's pending requests, and accept one (the user becomes a member
//! holding the group's lowest ordinary role) or decline one. The rules are on the module doc (`mod.rs`).

use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::roblox::RobloxSimConfig;
use crate::roblox::error::ApiError;
use crate::roblox::filter::{JoinRequestFilter, parse_id};
use crate::roblox::model::{Group, Member, World};
use crate::roblox::page::{Collection, ListQuery, next_token, page_size, resume_after};
use crate::roblox::wire::{JoinRequestJson, ListJoinRequestsJson};

use super::groups::{existing_group, group_not_found, parse_group_id};
use super::query_params;

/// What to do with a join request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    Accept,
    Decline,
}

/// List Group Join Requests: query (400), group (404), permission (403), page token (400); then the page, in
/// id order (which is creation order).
pub(super) fn list_join_requests(
    world: &World,
    group_segment: &str,
    query: &str,
    config: &RobloxSimConfig,
    actor: u64,
) -> Result<ListJoinRequestsJson, ApiError> {
    let params = query_params(query, &["maxPageSize", "pageToken", "filter"])?;
    let (raw_size, size) = page_size(params.get("maxPageSize").map(String::as_str), 10, 20)?;
    // An empty `filter` is no filter (proto3 cannot tell the two apart).
    let filter_text = params
        .get("filter")
        .filter(|text| !text.is_empty())
        .cloned();
    let filter = filter_text
        .as_deref()
        .map(JoinRequestFilter::parse)
        .transpose()
        .map_err(ApiError::invalid_argument)?;
    let group = existing_group(world, parse_group_id(group_segment)?)?;
    check_accept_requests(group, actor)?;
    let list_query = ListQuery {
        collection: Collection::JoinRequests,
        parent: format!("groups/{group_segment}"),
        filter: filter_text,
        max_page_size: raw_size,
    };
    let after = match params.get("pageToken").filter(|token| !token.is_empty()) {
        Some(token) => match resume_after(token, &list_query)?.as_slice() {
            [id] => Bound::Excluded(*id),
            _ => return Err(ApiError::invalid_argument("pageToken is invalid")),
        },
        None => Bound::Unbounded,
    };
    // One more than a page, to know whether another follows.
    let mut page: Vec<JoinRequestJson> = Vec::with_capacity(size + 1);
    let mut last = None;
    for (&id, request) in group.join_requests.range((after, Bound::Unbounded)) {
        if page.len() > size {
            break;
        }
        if filter.is_none_or(|filter| filter.user == request.user) {
            page.push(JoinRequestJson::new(group.id, id, request));
            if page.len() <= size {
                last = Some(vec![id]);
            }
        }
    }
    let more = page.len() > size;
    page.truncate(size);
    Ok(ListJoinRequestsJson {
        next_page_token: next_token(
            &list_query,
            last,
            more,
            page.len() == size,
            config.end_of_list,
            config.empty_last_page,
        ),
        group_join_requests: page,
    })
}

/// Accept or decline: body (400), group (404), permission (403), join request (404); then the change.
pub(super) fn decide_join_request(
    world: &mut World,
    group_segment: &str,
    join_request_segment: &str,
    body: &[u8],
    actor: u64,
    decision: Decision,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    empty_request(body)?;
    let group_id = parse_group_id(group_segment)?;
    let group = world
        .groups
        .get_mut(&group_id)
        .ok_or_else(|| group_not_found(group_id))?;
    check_accept_requests(group, actor)?;
    let request = parse_id(join_request_segment)
        .and_then(|id| group.join_requests.remove(&id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Join request {join_request_segment} was not found in group {group_id}: it does not exist or was already accepted or declined."
            ))
        })?;
    if decision == Decision::Accept {
        // Seeding refuses join requests to groups without a newcomer role, and a group is only ever replaced
        // whole (its requests with it), so there always is one here.
        let role = group.newcomer_role().map(|role| role.id).ok_or_else(|| {
            ApiError::with_status(
                warp::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("Group {group_id} has no role to give a new member."),
            )
        })?;
        group.members.insert(request.user, Member::new(role, now));
    }
    Ok(())
}

/// `AcceptGroupJoinRequestRequest` / `DeclineGroupJoinRequestRequest`: the spec marks the body required and its
/// schema has no properties, so it must be the empty object `{}`.
fn empty_request(body: &[u8]) -> Result<(), ApiError> {
    if body.trim_ascii().is_empty() {
        return Err(ApiError::invalid_argument(
            "A request body is required: send the empty JSON object {}.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => match fields.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::invalid_argument(format!(
                "Invalid request body: unknown field {name:?}; the body must be the empty object {{}}."
            ))),
        },
        Ok(_) => Err(ApiError::invalid_argument(
            "Invalid request body: it must be the empty JSON object {}.",
        )),
        Err(err) => Err(ApiError::invalid_argument(format!(
            "Invalid request body: {err}"
        ))),
    }
}

/// Whether `actor` may handle the group's join requests: the owner, or a member whose highest role has
/// `acceptRequests` (what the spec's `GroupJoinRequest` says is required).
fn check_accept_requests(group: &Group, actor: u64) -> Result<(), ApiError> {
    if actor == group.owner {
        return Ok(());
    }
    let member = group.members.get(&actor).ok_or_else(|| {
        ApiError::permission_denied(format!(
            "The requester (users/{actor}) is not a member of group {}; join requests need the acceptRequests permission.",
            group.id
        ))
    })?;
    let highest = group.highest_role(member);
    if !highest.accept_requests {
        return Err(ApiError::permission_denied(format!(
            "The requester's role {} lacks the acceptRequests permission.",
            highest.name
        )));
    }
    Ok(())
}
