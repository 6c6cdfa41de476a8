//! The group operations: list memberships and roles, and change a membership's role.
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::roblox::RobloxSimConfig;
use crate::roblox::error::ApiError;
use crate::roblox::filter::{MembershipFilter, parse_id, parse_role_path};
use crate::roblox::model::{GUEST_RANK, Group, OWNER_RANK, World, membership_user};
use crate::roblox::page::{Collection, ListQuery, next_token, page_size, resume_after};
use crate::roblox::wire::{ListMembershipsJson, ListRolesJson, MembershipJson, RoleJson, Viewer};

use super::*;

pub(super) fn list_memberships(
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

pub(super) fn list_roles(
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
pub(super) enum WriteOp {
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
pub(super) fn write_membership(
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

pub(super) fn existing_group(world: &World, group_id: u64) -> Result<&Group, ApiError> {
    world
        .groups
        .get(&group_id)
        .ok_or_else(|| group_not_found(group_id))
}

pub(super) fn group_not_found(group_id: u64) -> ApiError {
    ApiError::not_found(format!("Group {group_id} was not found."))
}

pub(super) fn parse_group_id(segment: &str) -> Result<u64, ApiError> {
    parse_id(segment).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "group_id must be a positive integer, got {segment:?}"
        ))
    })
}
