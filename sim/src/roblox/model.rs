//! The simulated world: groups, their roles, members holding one or more roles and pending join requests; plus
//! the seeds that build it. Universes and their user restrictions live in the world too (see `universe`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SimError;
use super::universe::{IdempotentWrite, Universe};

/// Rank of the guest role: every group has one, and nobody holds it as a membership.
pub(crate) const GUEST_RANK: u8 = 0;
/// Rank of the owner role: held by the group owner only.
pub(crate) const OWNER_RANK: u8 = 255;
/// The first join-request id handed out; ids count up from here across every group. Far above any user id, so a
/// client that sends the user id where the join-request id belongs gets a 404 instead of a lucky match.
const FIRST_JOIN_REQUEST_ID: u64 = 1_000_000_000_001;

/// A group to create (or replace) in the simulator.
///
/// Rules, checked by [`RobloxSim::seed_group`](super::RobloxSim::seed_group): ids are non-zero; `name` is
/// 1–50 characters and `description` at most 1000 (the spec's limits); role ids and ranks are unique; a guest
/// role (rank 0) and an owner role (rank 255) are present, and the guest role has neither `changeRank` nor
/// `acceptRequests`; every member holds at least one role, never the guest role, and only the owner may hold
/// the owner role. The owner is made a member holding the owner role
/// automatically (in addition to any roles listed for them in `members`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSeed {
    /// The group id (`groups/{id}`).
    pub id: u64,
    /// The group's display name.
    pub name: String,
    /// The group's description.
    #[serde(default)]
    pub description: String,
    /// The owner's user id.
    pub owner_user_id: u64,
    /// Every role of the group, guest and owner included.
    pub roles: Vec<RoleSeed>,
    /// Members other than the owner (the owner may be listed to give them extra roles).
    pub members: Vec<MemberSeed>,
}

/// One role of a [`GroupSeed`]. The permission flags default to false when absent from JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleSeed {
    /// The role id (`groups/{g}/roles/{id}`), distinct from the rank.
    pub id: u64,
    /// The role's display name.
    pub name: String,
    /// 0 = guest, 255 = owner, anything between is an ordinary role.
    pub rank: u8,
    /// Whether members whose highest role is this one may change lower members' roles. The owner role
    /// always may; the guest role never may (a seed setting it is refused).
    #[serde(default)]
    pub change_rank: bool,
    /// Whether members whose highest role is this one may list, accept and decline join requests
    /// (`acceptRequests`). The owner role always may; the guest role never may (a seed setting it is refused).
    #[serde(default)]
    pub accept_requests: bool,
}

/// One member of a [`GroupSeed`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSeed {
    /// The member's user id.
    pub user_id: u64,
    /// The roles the member holds (at least one).
    pub role_ids: Vec<u64>,
}

/// What a member looks like right now, for assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSnapshot {
    /// The member's user id.
    pub user_id: u64,
    /// Every role the member holds, lowest rank first.
    pub role_ids: Vec<u64>,
    /// The rank of the member's highest role.
    pub rank: u8,
    /// The name of the member's highest role.
    pub role_name: String,
}

/// A pending join request, for assertions ([`RobloxSim::join_requests`](super::RobloxSim::join_requests)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestSnapshot {
    /// The opaque join-request id: the last segment of the request's `path`, never the user id.
    pub id: String,
    /// The requesting user.
    pub user_id: u64,
    /// When the request was made (`createTime`).
    pub create_time: DateTime<Utc>,
}

/// All simulated groups and universes.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) groups: BTreeMap<u64, Group>,
    pub(crate) universes: BTreeMap<u64, Universe>,
    /// Seeded users (`GET /cloud/v2/users/{user_id}`), by id.
    pub(crate) users: BTreeMap<u64, super::users::SimUser>,
    /// Successful user-restriction updates made with an idempotency key, keyed by (key owner, key).
    pub(crate) idempotent_writes: HashMap<(u64, String), IdempotentWrite>,
    /// How many join requests have been created, in every group: the next id is `FIRST_JOIN_REQUEST_ID` plus this.
    join_requests_created: u64,
}

pub(crate) struct Group {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) owner: u64,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    /// Keyed by role id.
    pub(crate) roles: BTreeMap<u64, Role>,
    /// Keyed by user id, so listing in user-id order is a walk of the map.
    pub(crate) members: BTreeMap<u64, Member>,
    /// Pending join requests keyed by their id, so listing in creation order is a walk of the map. At most one
    /// per user, and never one from a member.
    pub(crate) join_requests: BTreeMap<u64, JoinRequest>,
}

pub(crate) struct Role {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) rank: u8,
    pub(crate) change_rank: bool,
    pub(crate) accept_requests: bool,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

pub(crate) struct Member {
    pub(crate) roles: BTreeSet<u64>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
}

impl Member {
    /// A new member holding one role since `now`.
    pub(crate) fn new(role_id: u64, now: DateTime<Utc>) -> Self {
        Self {
            roles: BTreeSet::from([role_id]),
            created: now,
            updated: now,
        }
    }
}

pub(crate) struct JoinRequest {
    pub(crate) user: u64,
    pub(crate) created: DateTime<Utc>,
}

impl World {
    /// Builds a group from a seed after checking every rule, then inserts it (replacing one with the same id).
    pub(crate) fn seed(&mut self, seed: GroupSeed, now: DateTime<Utc>) -> Result<(), SimError> {
        let group = Group::from_seed(seed, now)?;
        self.groups.insert(group.id, group);
        Ok(())
    }

    pub(crate) fn group(&self, group_id: u64) -> Result<&Group, SimError> {
        self.groups
            .get(&group_id)
            .ok_or(SimError::UnknownGroup(group_id))
    }

    /// Replaces a member's roles (`role_ids` empty = remove from the group), keeping the group's invariants.
    pub(crate) fn set_member_roles(
        &mut self,
        group_id: u64,
        user_id: u64,
        role_ids: &[u64],
        now: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let group = self
            .groups
            .get_mut(&group_id)
            .ok_or(SimError::UnknownGroup(group_id))?;
        let invalid = |reason: &str| SimError::InvalidRoles {
            group_id,
            user_id,
            reason: reason.to_owned(),
        };
        if role_ids.is_empty() {
            if user_id == group.owner {
                return Err(invalid("the owner cannot leave the group"));
            }
            group.members.remove(&user_id);
            return Ok(());
        }
        let roles: BTreeSet<u64> = role_ids.iter().copied().collect();
        group.check_role_set(user_id, &roles)?;
        match group.members.get_mut(&user_id) {
            Some(member) => {
                if member.roles != roles {
                    member.roles = roles;
                    member.updated = now;
                }
            }
            None => {
                group.members.insert(
                    user_id,
                    Member {
                        roles,
                        created: now,
                        updated: now,
                    },
                );
                // A member cannot also be asking to join.
                group
                    .join_requests
                    .retain(|_, request| request.user != user_id);
            }
        }
        Ok(())
    }

    /// Adds a pending join request from `user_id` and returns its id. Refused: an unknown group, user id 0, a
    /// member, a user already requesting, a group with no ordinary role to give on acceptance.
    pub(crate) fn seed_join_request(
        &mut self,
        group_id: u64,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Result<u64, SimError> {
        let group = self
            .groups
            .get_mut(&group_id)
            .ok_or(SimError::UnknownGroup(group_id))?;
        let invalid = |reason: &str| SimError::InvalidJoinRequest {
            group_id,
            user_id,
            reason: reason.to_owned(),
        };
        if user_id == 0 {
            return Err(invalid("the user id must be non-zero"));
        }
        if group.members.contains_key(&user_id) {
            return Err(SimError::AlreadyMember { group_id, user_id });
        }
        if group.join_request_of(user_id).is_some() {
            return Err(SimError::DuplicateJoinRequest { group_id, user_id });
        }
        if group.newcomer_role().is_none() {
            return Err(invalid(
                "the group has no role between guest and owner to give the user on acceptance",
            ));
        }
        let id = FIRST_JOIN_REQUEST_ID + self.join_requests_created;
        self.join_requests_created += 1;
        group.join_requests.insert(
            id,
            JoinRequest {
                user: user_id,
                created: now,
            },
        );
        Ok(id)
    }

    /// The group's pending join requests, oldest first.
    pub(crate) fn join_request_snapshots(
        &self,
        group_id: u64,
    ) -> Result<Vec<JoinRequestSnapshot>, SimError> {
        let group = self.group(group_id)?;
        Ok(group
            .join_requests
            .iter()
            .map(|(id, request)| JoinRequestSnapshot {
                id: id.to_string(),
                user_id: request.user,
                create_time: request.created,
            })
            .collect())
    }
}

impl Group {
    fn from_seed(seed: GroupSeed, now: DateTime<Utc>) -> Result<Self, SimError> {
        let invalid =
            |reason: String| SimError::InvalidSeed(format!("group {}: {reason}", seed.id));
        if seed.id == 0 {
            return Err(invalid("the group id must be non-zero".into()));
        }
        if seed.owner_user_id == 0 {
            return Err(invalid("ownerUserId must be non-zero".into()));
        }
        let name_len = seed.name.chars().count();
        if name_len == 0 || name_len > 50 {
            return Err(invalid("name must be 1 to 50 characters".into()));
        }
        if seed.description.chars().count() > 1000 {
            return Err(invalid(
                "description must be at most 1000 characters".into(),
            ));
        }
        let mut roles = BTreeMap::new();
        let mut ranks = HashSet::new();
        for role in &seed.roles {
            if role.id == 0 {
                return Err(invalid("role ids must be non-zero".into()));
            }
            let role_name_len = role.name.chars().count();
            if role_name_len == 0 || role_name_len > 100 {
                return Err(invalid(format!(
                    "role {} needs a name of 1 to 100 characters",
                    role.id
                )));
            }
            if !ranks.insert(role.rank) {
                return Err(invalid(format!("two roles have rank {}", role.rank)));
            }
            if role.rank == GUEST_RANK && role.change_rank {
                return Err(invalid("the guest role cannot have changeRank".into()));
            }
            if role.rank == GUEST_RANK && role.accept_requests {
                return Err(invalid("the guest role cannot have acceptRequests".into()));
            }
            let previous = roles.insert(
                role.id,
                Role {
                    id: role.id,
                    name: role.name.clone(),
                    rank: role.rank,
                    change_rank: role.change_rank || role.rank == OWNER_RANK,
                    accept_requests: role.accept_requests || role.rank == OWNER_RANK,
                    created: now,
                    updated: now,
                },
            );
            if previous.is_some() {
                return Err(invalid(format!("role id {} appears twice", role.id)));
            }
        }
        if !ranks.contains(&GUEST_RANK) {
            return Err(invalid("a guest role (rank 0) is required".into()));
        }
        if !ranks.contains(&OWNER_RANK) {
            return Err(invalid("an owner role (rank 255) is required".into()));
        }
        let mut group = Group {
            id: seed.id,
            name: seed.name,
            description: seed.description,
            owner: seed.owner_user_id,
            created: now,
            updated: now,
            roles,
            members: BTreeMap::new(),
            join_requests: BTreeMap::new(),
        };
        let owner_role = group.owner_role().id;
        for member in seed.members {
            if member.user_id == 0 {
                return Err(invalid("member user ids must be non-zero".into()));
            }
            let mut role_ids: BTreeSet<u64> = member.role_ids.iter().copied().collect();
            if role_ids.is_empty() {
                return Err(invalid(format!("member {} holds no role", member.user_id)));
            }
            if member.user_id == group.owner {
                role_ids.insert(owner_role);
            }
            group
                .check_role_set(member.user_id, &role_ids)
                .map_err(|err| invalid(err.to_string()))?;
            let fresh = Member {
                roles: role_ids,
                created: now,
                updated: now,
            };
            if group.members.insert(member.user_id, fresh).is_some() {
                return Err(invalid(format!("member {} appears twice", member.user_id)));
            }
        }
        group
            .members
            .entry(group.owner)
            .or_insert_with(|| Member::new(owner_role, now));
        Ok(group)
    }

    /// Checks that `user_id` may hold exactly `roles`.
    fn check_role_set(&self, user_id: u64, roles: &BTreeSet<u64>) -> Result<(), SimError> {
        let invalid = |reason: String| SimError::InvalidRoles {
            group_id: self.id,
            user_id,
            reason,
        };
        let mut holds_owner_role = false;
        for &role_id in roles {
            let role = self.roles.get(&role_id).ok_or(SimError::UnknownRole {
                group_id: self.id,
                role_id,
            })?;
            match role.rank {
                GUEST_RANK => return Err(invalid("nobody can hold the guest role".into())),
                OWNER_RANK if user_id != self.owner => {
                    return Err(invalid(
                        "only the group owner can hold the owner role".into(),
                    ));
                }
                OWNER_RANK => holds_owner_role = true,
                _ => {}
            }
        }
        if user_id == self.owner && !holds_owner_role {
            return Err(invalid("the group owner must keep the owner role".into()));
        }
        Ok(())
    }

    pub(crate) fn owner_role(&self) -> &Role {
        self.role_with_rank(OWNER_RANK)
    }

    fn role_with_rank(&self, rank: u8) -> &Role {
        self.roles
            .values()
            .find(|role| role.rank == rank)
            .unwrap_or_else(|| unreachable!("seeds are checked to hold guest and owner roles"))
    }

    /// The role a user gets when their join request is accepted: the lowest-ranked role above guest, unless
    /// that is the owner role (`None` then: the group has no ordinary role).
    pub(crate) fn newcomer_role(&self) -> Option<&Role> {
        self.roles
            .values()
            .filter(|role| role.rank != GUEST_RANK)
            .min_by_key(|role| role.rank)
            .filter(|role| role.rank != OWNER_RANK)
    }

    /// The id of `user_id`'s pending join request, if any.
    pub(crate) fn join_request_of(&self, user_id: u64) -> Option<u64> {
        self.join_requests
            .iter()
            .find(|(_, request)| request.user == user_id)
            .map(|(id, _)| *id)
    }

    /// The member's highest-ranked role.
    pub(crate) fn highest_role(&self, member: &Member) -> &Role {
        member
            .roles
            .iter()
            .filter_map(|id| self.roles.get(id))
            .max_by_key(|role| role.rank)
            .unwrap_or_else(|| unreachable!("members always hold at least one known role"))
    }

    /// The member's roles, lowest rank first.
    pub(crate) fn roles_of(&self, member: &Member) -> Vec<&Role> {
        let mut roles: Vec<&Role> = member
            .roles
            .iter()
            .filter_map(|id| self.roles.get(id))
            .collect();
        roles.sort_by_key(|role| role.rank);
        roles
    }

    /// Roles ordered by rank, guest first.
    pub(crate) fn roles_by_rank(&self) -> Vec<&Role> {
        let mut roles: Vec<&Role> = self.roles.values().collect();
        roles.sort_by_key(|role| role.rank);
        roles
    }

    /// How many members hold the role (a member with several roles counts once for each).
    pub(crate) fn member_count_of(&self, role_id: u64) -> usize {
        self.members
            .values()
            .filter(|member| member.roles.contains(&role_id))
            .count()
    }

    pub(crate) fn snapshot(&self, user_id: u64) -> Option<MemberSnapshot> {
        let member = self.members.get(&user_id)?;
        let highest = self.highest_role(member);
        Some(MemberSnapshot {
            user_id,
            role_ids: self.roles_of(member).iter().map(|role| role.id).collect(),
            rank: highest.rank,
            role_name: highest.name.clone(),
        })
    }
}

/// The opaque membership id the simulator puts in `path`: base64url of `membership:{group}:{user}`. It always
/// contains letters, so it can never be mistaken for a user id.
pub(crate) fn membership_id(group_id: u64, user_id: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("membership:{group_id}:{user_id}"))
}

/// The user id behind a membership id: either the user id itself or an opaque id minted for `group_id`.
pub(crate) fn membership_user(group_id: u64, id: &str) -> Option<u64> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        return id.parse().ok();
    }
    let decoded = URL_SAFE_NO_PAD.decode(id).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let rest = decoded.strip_prefix("membership:")?;
    let (group, user) = rest.split_once(':')?;
    if group.parse::<u64>().ok()? != group_id {
        return None;
    }
    user.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_ids_round_trip_and_never_look_like_user_ids() {
        let id = membership_id(7, 21557);
        assert!(id.bytes().any(|b| b.is_ascii_alphabetic()));
        assert_eq!(membership_user(7, &id), Some(21557));
        assert_eq!(membership_user(8, &id), None);
        assert_eq!(membership_user(7, "21557"), Some(21557));
        assert_eq!(membership_user(7, "garbage!"), None);
    }
}
