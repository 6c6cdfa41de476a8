//! Response bodies exactly as the Open Cloud spec's schemas describe them (`Group`, `GroupMembership`,
//! `GroupRole`, `ListGroupMembershipsResponse`, `ListGroupRolesResponse`, `GroupJoinRequest`,
//! `ListGroupJoinRequestsResponse`, `UserRestriction`, `ListUserRestrictionsResponse`,
//! `ListUserRestrictionLogsResponse`), built from the model.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{GUEST_RANK, Group, JoinRequest, Member, OWNER_RANK, Role, membership_id};
use super::universe::{GameJoin, Restriction, RestrictionLog};
use crate::http_util::rfc3339;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupJson {
    path: String,
    create_time: String,
    update_time: String,
    id: String,
    display_name: String,
    description: String,
    owner: String,
    member_count: usize,
    public_entry_allowed: bool,
    locked: bool,
    verified: bool,
}

impl GroupJson {
    pub(crate) fn new(group: &Group) -> Self {
        Self {
            path: format!("groups/{}", group.id),
            create_time: rfc3339(group.created),
            update_time: rfc3339(group.updated),
            id: group.id.to_string(),
            display_name: group.name.clone(),
            description: group.description.clone(),
            owner: format!("users/{}", group.owner),
            member_count: group.members.len(),
            public_entry_allowed: true,
            locked: false,
            verified: false,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MembershipJson {
    path: String,
    create_time: String,
    update_time: String,
    user: String,
    role: String,
    roles: Vec<String>,
}

impl MembershipJson {
    pub(crate) fn new(group: &Group, user_id: u64, member: &Member) -> Self {
        let role_path = |role: &Role| format!("groups/{}/roles/{}", group.id, role.id);
        Self {
            path: format!(
                "groups/{}/memberships/{}",
                group.id,
                membership_id(group.id, user_id)
            ),
            create_time: rfc3339(member.created),
            update_time: rfc3339(member.updated),
            user: format!("users/{user_id}"),
            role: role_path(group.highest_role(member)),
            roles: group.roles_of(member).into_iter().map(role_path).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListMembershipsJson {
    pub(crate) group_memberships: Vec<MembershipJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListRolesJson {
    pub(crate) group_roles: Vec<RoleJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

/// Who is looking at a role: field visibility depends on it.
#[derive(Clone, Copy)]
pub(crate) struct Viewer {
    pub(crate) user_id: u64,
    /// The key carries `group:read`.
    pub(crate) group_read: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleJson {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_time: Option<String>,
    id: String,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    rank: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Permissions>,
}

impl RoleJson {
    /// Renders a role with the spec's visibility rules: description and times only for the group owner,
    /// no member count for the guest role, permissions for the guest role always, for the viewer's own
    /// roles with `group:read`, and for every role when the owner has `group:read`.
    pub(crate) fn new(group: &Group, role: &Role, viewer: Viewer) -> Self {
        let is_owner = viewer.user_id == group.owner;
        let holds_role = group
            .members
            .get(&viewer.user_id)
            .is_some_and(|member| member.roles.contains(&role.id));
        let show_permissions =
            role.rank == GUEST_RANK || (viewer.group_read && (is_owner || holds_role));
        Self {
            path: format!("groups/{}/roles/{}", group.id, role.id),
            create_time: is_owner.then(|| rfc3339(role.created)),
            update_time: is_owner.then(|| rfc3339(role.updated)),
            id: role.id.to_string(),
            display_name: role.name.clone(),
            description: is_owner.then(String::new),
            rank: role.rank,
            member_count: (role.rank != GUEST_RANK).then(|| group.member_count_of(role.id)),
            permissions: show_permissions.then(|| Permissions::of(role)),
        }
    }
}

/// `GroupRole_RolePermissions`. The seed only sets `changeRank` and `acceptRequests`; the rest follow a fixed
/// pattern: the guest role may view, ordinary roles may view and post, the owner role may do everything.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Permissions {
    view_wall_posts: bool,
    create_wall_posts: bool,
    delete_wall_posts: bool,
    view_group_shout: bool,
    create_group_shout: bool,
    change_rank: bool,
    accept_requests: bool,
    exile_members: bool,
    manage_relationships: bool,
    view_audit_log: bool,
    spend_group_funds: bool,
    advertise_group: bool,
    create_avatar_items: bool,
    manage_avatar_items: bool,
    manage_group_universes: bool,
    view_universe_analytics: bool,
    create_api_keys: bool,
    manage_api_keys: bool,
    ban_members: bool,
    view_forums: bool,
    manage_categories: bool,
    create_posts: bool,
    lock_posts: bool,
    pin_posts: bool,
    remove_posts: bool,
    create_comments: bool,
    remove_comments: bool,
    manage_blocked_words: bool,
    view_blocked_words: bool,
    bypass_slow_mode: bool,
}

impl Permissions {
    fn of(role: &Role) -> Self {
        let owner = role.rank == OWNER_RANK;
        let member = role.rank != GUEST_RANK;
        Self {
            view_wall_posts: true,
            create_wall_posts: member,
            delete_wall_posts: owner,
            view_group_shout: true,
            create_group_shout: owner,
            change_rank: role.change_rank,
            accept_requests: role.accept_requests,
            exile_members: owner,
            manage_relationships: owner,
            view_audit_log: owner,
            spend_group_funds: owner,
            advertise_group: owner,
            create_avatar_items: owner,
            manage_avatar_items: owner,
            manage_group_universes: owner,
            view_universe_analytics: owner,
            create_api_keys: owner,
            manage_api_keys: owner,
            ban_members: owner,
            view_forums: true,
            manage_categories: owner,
            create_posts: member,
            lock_posts: owner,
            pin_posts: owner,
            remove_posts: owner,
            create_comments: member,
            remove_comments: owner,
            manage_blocked_words: owner,
            view_blocked_words: owner,
            bypass_slow_mode: owner,
        }
    }
}

/// `GroupJoinRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JoinRequestJson {
    path: String,
    create_time: String,
    user: String,
}

impl JoinRequestJson {
    pub(crate) fn new(group_id: u64, id: u64, request: &JoinRequest) -> Self {
        Self {
            path: format!("groups/{group_id}/join-requests/{id}"),
            create_time: rfc3339(request.created),
            user: format!("users/{}", request.user),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListJoinRequestsJson {
    pub(crate) group_join_requests: Vec<JoinRequestJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

/// `UserRestriction`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserRestrictionJson {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_time: Option<String>,
    user: String,
    game_join_restriction: GameJoinRestrictionJson,
}

impl UserRestrictionJson {
    /// The restriction of `user` under `parent` (`universes/U` or `universes/U/places/P`). A user without a
    /// record gets the default: inactive, no reasons, no `updateTime`.
    pub(crate) fn new(
        parent: &str,
        user: u64,
        seen: Option<(&Restriction, bool)>,
        now: DateTime<Utc>,
    ) -> Self {
        let default = GameJoin::default();
        let (game_join, inherited) = seen.map_or((&default, false), |(restriction, inherited)| {
            (&restriction.game_join, inherited)
        });
        Self {
            path: format!("{parent}/user-restrictions/{user}"),
            update_time: seen.map(|(restriction, _)| rfc3339(restriction.updated)),
            user: format!("users/{user}"),
            game_join_restriction: GameJoinRestrictionJson {
                active: game_join.in_force(now),
                start_time: game_join.start.map(rfc3339),
                duration: game_join.duration_secs.map(duration),
                private_reason: game_join.private_reason.clone(),
                display_reason: game_join.display_reason.clone(),
                exclude_alt_accounts: game_join.exclude_alt_accounts,
                inherited,
            },
        }
    }
}

/// `UserRestriction_GameJoinRestriction`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GameJoinRestrictionJson {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    private_reason: String,
    display_reason: String,
    exclude_alt_accounts: bool,
    inherited: bool,
}

/// A protobuf `Duration` in its JSON form, whole seconds: `"3600s"`.
fn duration(secs: u64) -> String {
    format!("{secs}s")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListUserRestrictionsJson {
    pub(crate) user_restrictions: Vec<UserRestrictionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}

/// `UserRestrictionLog`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestrictionLogJson {
    user: String,
    /// `places/P`, or empty for a universe-level change.
    place: String,
    moderator: ModeratorJson,
    create_time: String,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    private_reason: String,
    display_reason: String,
    restriction_type: RestrictionTypeJson,
    exclude_alt_accounts: bool,
}

/// `UserRestrictionLog_Moderator`: always a Roblox user here (the API key's owner).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModeratorJson {
    roblox_user: String,
}

/// `UserRestrictionLog_RestrictionType`: the only kind is `gameJoinRestriction`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestrictionTypeJson {
    game_join_restriction: Empty,
}

/// Serializes as `{}`: also the whole answer of accept and decline, whose spec gives no content.
#[derive(Serialize)]
pub(crate) struct Empty {}

impl RestrictionLogJson {
    pub(crate) fn new(log: &RestrictionLog) -> Self {
        let game_join = &log.game_join;
        Self {
            user: format!("users/{}", log.user),
            place: log
                .place
                .map_or_else(String::new, |place| format!("places/{place}")),
            moderator: ModeratorJson {
                roblox_user: format!("users/{}", log.moderator),
            },
            create_time: rfc3339(log.at),
            active: game_join.active,
            start_time: game_join.start.map(rfc3339),
            duration: game_join.duration_secs.map(duration),
            private_reason: game_join.private_reason.clone(),
            display_reason: game_join.display_reason.clone(),
            restriction_type: RestrictionTypeJson {
                game_join_restriction: Empty {},
            },
            exclude_alt_accounts: game_join.exclude_alt_accounts,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListRestrictionLogsJson {
    pub(crate) logs: Vec<RestrictionLogJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_page_token: Option<String>,
}
