//! A Roblox Open Cloud v2 simulator for the group and user-restriction operations Roster uses.
//!
//! # What it simulates
//!
//! The Open Cloud v2 operations Roster calls, as the official OpenAPI file (`Roblox/creator-docs`,
//! `content/en-us/reference/cloud/openapi.json`) and the research notes (`upstream-apis.md` §1, §7.1) describe
//! them. The ten group operations:
//!
//! | operation | method and path |
//! |---|---|
//! | [`Endpoint::GetGroup`] | `GET /cloud/v2/groups/{group_id}` |
//! | [`Endpoint::ListMemberships`] | `GET /cloud/v2/groups/{group_id}/memberships` (`maxPageSize`, `pageToken`, `filter`) |
//! | [`Endpoint::UpdateMembership`] | `PATCH /cloud/v2/groups/{group_id}/memberships/{membership_id}` (deprecated upstream) |
//! | [`Endpoint::AssignRole`] | `POST /cloud/v2/groups/{group_id}/memberships/{membership_id}:assignRole` |
//! | [`Endpoint::UnassignRole`] | `POST /cloud/v2/groups/{group_id}/memberships/{membership_id}:unassignRole` |
//! | [`Endpoint::ListRoles`] | `GET /cloud/v2/groups/{group_id}/roles` (`maxPageSize`, `pageToken`) |
//! | [`Endpoint::GetRole`] | `GET /cloud/v2/groups/{group_id}/roles/{role_id}` |
//! | [`Endpoint::ListJoinRequests`] | `GET /cloud/v2/groups/{group_id}/join-requests` (`maxPageSize`, `pageToken`, `filter`) |
//! | [`Endpoint::AcceptJoinRequest`] | `POST /cloud/v2/groups/{group_id}/join-requests/{join_request_id}:accept` |
//! | [`Endpoint::DeclineJoinRequest`] | `POST /cloud/v2/groups/{group_id}/join-requests/{join_request_id}:decline` |
//!
//! And the seven user-restriction (experience ban) operations, whose `{user_restriction_id}` is the user id:
//!
//! | operation | method and path |
//! |---|---|
//! | [`Endpoint::GetUserRestriction`] | `GET /cloud/v2/universes/{universe_id}/user-restrictions/{user_restriction_id}` |
//! | [`Endpoint::GetPlaceUserRestriction`] | `GET /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions/{user_restriction_id}` |
//! | [`Endpoint::ListUserRestrictions`] | `GET /cloud/v2/universes/{universe_id}/user-restrictions` (`maxPageSize`, `pageToken`) |
//! | [`Endpoint::ListPlaceUserRestrictions`] | `GET /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions` (`maxPageSize`, `pageToken`) |
//! | [`Endpoint::UpdateUserRestriction`] | `PATCH /cloud/v2/universes/{universe_id}/user-restrictions/{user_restriction_id}` (`updateMask`, `idempotencyKey.key`, `idempotencyKey.firstSent`) |
//! | [`Endpoint::UpdatePlaceUserRestriction`] | `PATCH /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions/{user_restriction_id}` (same) |
//! | [`Endpoint::ListUserRestrictionLogs`] | `GET /cloud/v2/universes/{universe_id}/user-restrictions:listLogs` (`maxPageSize`, `pageToken`, `filter`) |
//!
//! And user information, over users seeded with [`RobloxSim::seed_user`] (see the `users` module for the rules):
//!
//! | operation | method and path |
//! |---|---|
//! | [`Endpoint::GetUser`] | `GET /cloud/v2/users/{user_id}` (`idVerified` with `user.advanced:read`, `socialNetworkProfiles` with `user.social:read`) |
//!
//! Bodies follow the spec's schemas (`Group`, `GroupMembership`, `GroupRole`, `ListGroupMembershipsResponse`,
//! `ListGroupRolesResponse`, `GroupJoinRequest`, `ListGroupJoinRequestsResponse`, `User`, `UserRestriction`,
//! `ListUserRestrictionsResponse`, `ListUserRestrictionLogsResponse`):
//! string ids, resource paths, RFC 3339 times, protobuf durations (`"3600s"`), multi-role members whose `role` is
//! the highest of `roles`, and the role field visibility rules (description and times only for the group owner, no
//! `memberCount` on the guest role, `permissions` for the guest role always, for the requester's own roles with
//! `group:read`, and for all roles when the owner has `group:read`). The crate's tests validate every 200 body
//! they see against the spec when it is found (`ROSTER_UPSTREAM_SPECS`, else `../shared/upstream-specs`).
//!
//! # Request pipeline
//!
//! Every request outside `/_sim` goes through these steps, in order:
//!
//! 1. the configured latency ([`RobloxSimConfig::latency`]);
//! 2. routing: an unknown path is 404 `NOT_FOUND`; a known path with the wrong method is 405 with
//!    `code: NOT_IMPLEMENTED` and an `allow` header listing the path's methods (grpc-gateway, which fronts
//!    Google-style APIs like this one, answers a method mismatch with 405 and the gRPC `UNIMPLEMENTED` code; Open
//!    Cloud's name for it is `NOT_IMPLEMENTED`);
//! 3. authentication: a missing or unknown `x-api-key` gets the gateway shape
//!    `401 {"errors":[{"code":0,"message":"Invalid API Key"}]}`;
//! 4. the rate limit: a fixed window per (key owner, operation), shared by every key of one owner, with the
//!    spec's `x-roblox-rate-limits` numbers ([`Endpoint::spec_limit`]) unless overridden. The window is
//!    [`RobloxSimConfig::rate_limit_window`] (60 s) for operations the spec limits per minute (the group ones) and
//!    [`RobloxSimConfig::rate_limit_second_window`] (1 s) for those it limits per second (the user-restriction
//!    ones, [`Endpoint::spec_period`]). From here on every response carries `x-ratelimit-limit: "N, N;w=W"`,
//!    `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the window resets). Over the limit: 429
//!    `RESOURCE_EXHAUSTED`, with `retry-after` only when [`RobloxSimConfig::retry_after_on_429`] is set (real
//!    Roblox often omits it);
//! 5. fault injection ([`FaultRule`]): after authentication, because a rule that also fired for requests the
//!    gateway rejects would make "fail the next assignRole" rules fire on the wrong request. Pre-auth faults are
//!    not modelled. A faulted request has already been counted against its quota (a gateway counts before the
//!    backend fails) and its answer carries the rate-limit headers;
//! 6. scopes ([`Endpoint::required_scope`]): group writes (accepting and declining join requests included) need
//!    `group:write` and listing join requests needs `group:read`; user-restriction reads need
//!    `universe.user-restriction:read` and updates `universe.user-restriction:write`; without it, 403
//!    `PERMISSION_DENIED`;
//! 7. the operation itself. The user-restriction operations first check their path ids (400) and count the
//!    request against the spec's additional limits (see below).
//!
//! Every such request is recorded in the request log ([`LogEntry`]), rejected ones included, with the time the
//! simulator took (injected latency included). A request the client abandons is logged with status 499. The log
//! keeps the latest 100,000 entries.
//!
//! # Decisions where upstream is unverified
//!
//! - **Membership ids.** `path` carries an opaque id (base64url of `membership:{group}:{user}`, never all digits).
//!   Both that id and the plain user id are accepted wherever `{membership_id}` appears (the spec says a user id
//!   may be used in place of a membership id). An id that is neither, or an opaque id of another group, is 404.
//! - **PATCH replaces every role** of the member with the one in the body, so after it the member holds exactly
//!   that role. The spec has no `updateMask` parameter and calls `roles` read-only; `role` is the only writable
//!   field. Other `GroupMembership` fields in the body are ignored as output-only, except `user`, which is
//!   immutable: a different value is 400. Unknown fields are 400.
//! - **assignRole adds** a role to the member's set; **unassignRole removes** one. Both are idempotent no-ops
//!   (200 with the unchanged membership) when the member already has, or lacks, the role, after every permission
//!   check has passed. Unassigning a member's **only** role is 400 `INVALID_ARGUMENT` (a member always holds at
//!   least one role; removal from the group is not an Open Cloud operation).
//! - **Permission rules** for PATCH, assignRole and unassignRole, checked in this order after the scope: the body
//!   must be `{"role": "groups/G/roles/R"}` (400); the group must exist (404); the actor (the key's owner) must be
//!   the group owner or a member whose highest role has `changeRank` (403); the target must be a member (404);
//!   the actor cannot change their own membership (403); the role must belong to this group (400) and must not be
//!   the guest or owner role (400); the target's highest rank and the role's rank must both be strictly below the
//!   actor's rank (403).
//! - **Memberships filters**: `user == 'users/N'`, `role == 'groups/G/roles/R'` (members holding that role among
//!   any of their roles; G must be the path's group, an unknown role matches nobody) and `user in [...]` (1–50
//!   users). The wildcard parent `groups/-` requires a `user` filter and lists memberships in every group. Results
//!   are ordered by user id (then group id). A non-member filtered by `user ==` gives an empty page.
//! - **Query strings are strict**: a parameter the operation does not define, or one given twice, is 400.
//!   `maxPageSize` that is not an int32 or is negative is 400; 0 or absent means the default (10); larger than the
//!   maximum (memberships 100, roles 20, user restrictions and their logs 100) is clamped.
//! - **Page tokens** are opaque and bound to the call's parent, `filter` and `maxPageSize`; reusing one with
//!   different values, or sending one that does not decode, is 400. An empty `pageToken` means the first page.
//! - **End of list**: `nextPageToken` is `""` or omitted ([`EndOfList`]); with
//!   [`RobloxSimConfig::empty_last_page`] a full last page still carries a token and the next page is empty.
//! - **Roles** are ordered by rank, guest first. Ranks are unique within a group. Permissions other than
//!   `changeRank` and `acceptRequests` (set by the seed) are fixed per kind of role (guest views; ordinary roles
//!   view and post; owner everything).
//! - **Groups** report `publicEntryAllowed: true`, `locked: false`, `verified: false`; `memberCount` counts
//!   members (the owner included), and a role's `memberCount` counts members holding it.
//! - **Hang** faults answer 503 `UNAVAILABLE` when the server shuts down, so they never hold up a shutdown.
//!
//! ## Join requests
//!
//! - **Ids are opaque** and never the user id: large numbers (from 1,000,000,000,001) counting up across every
//!   group in creation order, so a client that sends a user id where `{join_request_id}` belongs gets 404. Take
//!   the id from `path`. An id is never reused, even after its request is handled.
//! - **Pending requests** are seeded ([`RobloxSim::seed_join_request`]); a user has at most one per group, and
//!   a member has none (making a user a member by any means withdraws their request).
//! - **Who may act**, for all three operations, checked after the scope: the group owner or a member whose
//!   highest role has `acceptRequests` (the spec: "The `acceptRequests` permission is required"); anyone else
//!   gets 403 `PERMISSION_DENIED`. `acceptRequests` is the second permission the seeds set
//!   ([`RoleSeed::accept_requests`]); the owner role always has it and the guest role never. `changeRank` alone
//!   is not enough.
//! - **List**: in id (that is, creation) order; `maxPageSize` defaults to 10 and is clamped to 20; `filter` is
//!   `user == 'users/N'` and nothing else (400), and an empty `filter` means none. Page tokens and the end of
//!   the list behave as for the other lists. Checked in this order: query string (400), group (404),
//!   permission (403), page token (400).
//! - **Accept** makes the user a member holding the group's lowest-ranked role above guest (seeding refuses a
//!   request to a group that has none below the owner role) and removes the request; **decline** only removes
//!   it. Checked in this order: query string and body (400), group (404), permission (403), join request (404:
//!   one that never existed, belongs to another group, or was already accepted or declined).
//! - **Bodies**: the spec marks the body required and gives it an empty schema, so it must be exactly a JSON
//!   object without fields, `{}`. A missing or empty body, non-JSON, another JSON value, or any field is 400
//!   `INVALID_ARGUMENT`.
//! - **Answers**: the spec's 200 has no content; the simulator answers `{}` with `content-type:
//!   application/json`, as grpc-gateway renders an empty response message. Clients should ignore the body.
//!
//! ## User restrictions
//!
//! - **Universes and places** are seeded ([`UniverseSeed`], [`RobloxSim::seed_place`]); there is no user
//!   registry, so any positive user id may be restricted. Path ids must be positive integers (400); an unknown
//!   universe is 404, and so is a place that is not one of the universe's.
//! - **Who may act**, for every operation, checked after the scope and the universe's existence: for a universe
//!   owned by a user, that user (the key's owner); for one owned by a group, the group's owner or a member whose
//!   highest role has `changeRank`. That permission is the one the seeds can set; it stands in for the
//!   experience-management permissions (`manageGroupUniverses` in `permissions` stays owner-only). Anyone else,
//!   and everyone while the owning group is not seeded, gets 403 `PERMISSION_DENIED`.
//! - **A never-restricted user** reads as 200 with `gameJoinRestriction.active: false`, empty reasons, `inherited:
//!   false` and no `updateTime`, `startTime` or `duration` (the spec: a user's access "is not restricted to begin
//!   with"). Lists hold only users with a record (anyone ever updated), in user id order.
//! - **PATCH** creates or replaces the user's record. `gameJoinRestriction` is replaced as a whole: fields it
//!   leaves out take their defaults (inactive, permanent, empty reasons, `excludeAltAccounts: false`), so
//!   `{"gameJoinRestriction": {"active": false}}` unbans and clears the reasons. `updateMask` may be absent or
//!   empty (the fields present in the body are updated; without `gameJoinRestriction` nothing changes and the
//!   current state is returned), or list `gameJoinRestriction` (also spelled `game_join_restriction`, or `*`),
//!   which replaces it even when the body leaves it out. Masks into it (`gameJoinRestriction.active`) and any
//!   other path are 400, as the spec says. The output-only fields (`updateTime`, `user`, `startTime`,
//!   `inherited`) and `path` are accepted and ignored; unknown fields are 400. Checked in this order: query
//!   string, mask and idempotency key (400), body (400), universe (404), permission (403), place (404).
//! - **`duration`** is a protobuf duration string of whole seconds, 1 to 315,576,000,000 (`"3600s"`; `"3600.000s"`
//!   is accepted); anything else, `"1.5s"` included, is 400; absent or `null` means permanent. `privateReason`
//!   is at most 1,000 characters and `displayReason` at most 400 (400 beyond).
//! - **`startTime`** is set to the time of every update that sets `active: true` (a new ban starts now, even if
//!   one was in force) and removed by one that sets it false. A timed restriction expires at `startTime +
//!   duration`: from then on it reads `active: false` (the record keeps its other fields, and no log is written).
//! - **Places**: a place-level record is separate from the universe-level one. A place read shows, in order: the
//!   place's record if it is in force; the universe's if that is (`inherited: true`); the place's record; the
//!   universe's record (`inherited: true`). A place list holds every user with a record at the place or the
//!   universe; a universe list only universe-level records.
//! - **Logs** (`:listLogs`): one entry per applied update (not for no-ops, replays or expiry), newest first, with
//!   `moderator.robloxUser` the key's owner, `place` empty for universe-level changes, and `active`,
//!   `startTime`, `duration`, reasons as the update set them. `filter` accepts `user == 'users/N'`, `place ==
//!   'places/N'` or both joined by `&&`; an empty `filter` means none.
//! - **Idempotency keys** (AEP-155): `idempotencyKey.key` is 1–36 printable ASCII characters (a UUID);
//!   `idempotencyKey.firstSent` an RFC 3339 time, no older than the key lifetime of one hour and no more than a
//!   minute in the future (400 otherwise; its format is checked even without a key). A successful update made
//!   with a key is remembered for an hour per (key owner, key): the same request again gets the first answer
//!   without being applied again; the key with another request (path, mask or body) or another `firstSent` is
//!   400.
//! - **Additional limits** from the spec's `x-roblox-rate-limits.description`, counted after the path ids are
//!   checked (so faulted and scope-refused requests do not count, malformed and refused operations do) and
//!   shared by every caller: per universe, 50 requests a second to get, list and list logs and 10 to update (the
//!   universe and place forms of an operation together, [`Endpoint::spec_universe_limit`]); per (universe,
//!   user), 2 updates a minute ([`Endpoint::spec_user_limit`]). Over either: 429 `RESOURCE_EXHAUSTED` (with the
//!   key owner's `x-ratelimit-*` headers; `retry-after` as configured). They use the second and minute windows
//!   above and are off when [`RobloxSimConfig::rate_limits_enabled`] or
//!   [`RobloxSimConfig::user_restriction_limits_enabled`] is false.
//!
//! # Control API
//!
//! Everything controllable in-process is also controllable over HTTP under `/_sim` with JSON bodies (not rate
//! limited, not logged, no latency). The routes are listed on [`RobloxSim::serve`].

mod cloud;
mod control;
mod error;
mod faults;
mod filter;
mod log;
mod model;
mod page;
mod rate_limit;
mod restrictions;
mod universe;
mod users;
mod wire;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::reply::Response;

use crate::server::{self, Incoming};

pub use error::SimError;
pub use faults::{FaultAction, FaultRule};
pub use log::LogEntry;
pub use model::{GroupSeed, JoinRequestSnapshot, MemberSeed, MemberSnapshot, RoleSeed};
pub use universe::{UniverseSeed, UserRestrictionSnapshot};
pub use users::{SocialNetworkProfiles, UserSeed};

use faults::Faults;
use log::RequestLog;
use model::World;
use rate_limit::{Bucket, Quota, RateLimiter};

/// How the simulator behaves; change it at run time with [`RobloxSim::update_config`] or `PATCH /_sim/config`.
#[derive(Clone, Debug)]
pub struct RobloxSimConfig {
    /// Added to every `/cloud/v2` request. Default 0.
    pub latency: Duration,
    /// Send `retry-after` on rate-limit 429s. Default false: real Roblox often omits it.
    pub retry_after_on_429: bool,
    /// How the last page's `nextPageToken` looks. Default [`EndOfList::EmptyString`].
    pub end_of_list: EndOfList,
    /// When a list's size is an exact multiple of the page size, the last full page still carries a token and
    /// the next page is empty (documented Roblox behaviour). Default true.
    pub empty_last_page: bool,
    /// The length of a window the spec gives per minute ([`RatePeriod::Minute`]: the group operations' quotas
    /// and the per-user limit on restriction updates). Default 60 s.
    pub rate_limit_window: Duration,
    /// The length of a window the spec gives per second ([`RatePeriod::Second`]: the user-restriction operations'
    /// quotas and their per-universe limits). Default 1 s.
    pub rate_limit_second_window: Duration,
    /// Refuse requests over the limit. Default true. When false, requests are still counted against the key
    /// owner's quota and the headers sent, and the additional user-restriction limits are not applied at all.
    pub rate_limits_enabled: bool,
    /// Apply the spec's additional user-restriction limits ([`Endpoint::spec_universe_limit`],
    /// [`Endpoint::spec_user_limit`]). Default true.
    pub user_restriction_limits_enabled: bool,
    /// Per-endpoint limits per window of the key owner's quota, replacing the spec's numbers.
    pub rate_limit_overrides: HashMap<Endpoint, u32>,
}

impl RobloxSimConfig {
    /// The length of a window of `period`.
    pub fn window(&self, period: RatePeriod) -> Duration {
        match period {
            RatePeriod::Second => self.rate_limit_second_window,
            RatePeriod::Minute => self.rate_limit_window,
        }
    }
}

impl Default for RobloxSimConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            retry_after_on_429: false,
            end_of_list: EndOfList::EmptyString,
            empty_last_page: true,
            rate_limit_window: Duration::from_secs(60),
            rate_limit_second_window: Duration::from_secs(1),
            rate_limits_enabled: true,
            user_restriction_limits_enabled: true,
            rate_limit_overrides: HashMap::new(),
        }
    }
}

/// How the end of a list is signalled (both forms appear in Roblox's docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndOfList {
    /// `"nextPageToken": ""`.
    #[default]
    EmptyString,
    /// No `nextPageToken` field.
    Omitted,
}

/// The period of a rate limit in the spec (`x-roblox-rate-limits.perApiKeyOwner.period`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RatePeriod {
    /// `SECOND`: the window lasts [`RobloxSimConfig::rate_limit_second_window`].
    Second,
    /// `MINUTE`: the window lasts [`RobloxSimConfig::rate_limit_window`].
    Minute,
}

impl RatePeriod {
    /// The spec's spelling (`"SECOND"`, `"MINUTE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RatePeriod::Second => "SECOND",
            RatePeriod::Minute => "MINUTE",
        }
    }
}

/// The Open Cloud operations the simulator implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Endpoint {
    /// `GET /cloud/v2/groups/{group_id}`.
    GetGroup,
    /// `GET /cloud/v2/groups/{group_id}/memberships`.
    ListMemberships,
    /// `PATCH /cloud/v2/groups/{group_id}/memberships/{membership_id}`.
    UpdateMembership,
    /// `POST /cloud/v2/groups/{group_id}/memberships/{membership_id}:assignRole`.
    AssignRole,
    /// `POST /cloud/v2/groups/{group_id}/memberships/{membership_id}:unassignRole`.
    UnassignRole,
    /// `GET /cloud/v2/groups/{group_id}/roles`.
    ListRoles,
    /// `GET /cloud/v2/groups/{group_id}/roles/{role_id}`.
    GetRole,
    /// `GET /cloud/v2/groups/{group_id}/join-requests`.
    ListJoinRequests,
    /// `POST /cloud/v2/groups/{group_id}/join-requests/{join_request_id}:accept`.
    AcceptJoinRequest,
    /// `POST /cloud/v2/groups/{group_id}/join-requests/{join_request_id}:decline`.
    DeclineJoinRequest,
    /// `GET /cloud/v2/universes/{universe_id}/user-restrictions/{user_restriction_id}`.
    GetUserRestriction,
    /// `GET /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions/{user_restriction_id}`.
    GetPlaceUserRestriction,
    /// `GET /cloud/v2/universes/{universe_id}/user-restrictions`.
    ListUserRestrictions,
    /// `GET /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions`.
    ListPlaceUserRestrictions,
    /// `PATCH /cloud/v2/universes/{universe_id}/user-restrictions/{user_restriction_id}`.
    UpdateUserRestriction,
    /// `PATCH /cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions/{user_restriction_id}`.
    UpdatePlaceUserRestriction,
    /// `GET /cloud/v2/universes/{universe_id}/user-restrictions:listLogs`.
    ListUserRestrictionLogs,
    /// `GET /cloud/v2/users/{user_id}`.
    GetUser,
}

impl Endpoint {
    /// Every implemented operation.
    pub const ALL: [Endpoint; 18] = [
        Endpoint::GetGroup,
        Endpoint::ListMemberships,
        Endpoint::UpdateMembership,
        Endpoint::AssignRole,
        Endpoint::UnassignRole,
        Endpoint::ListRoles,
        Endpoint::GetRole,
        Endpoint::ListJoinRequests,
        Endpoint::AcceptJoinRequest,
        Endpoint::DeclineJoinRequest,
        Endpoint::GetUserRestriction,
        Endpoint::GetPlaceUserRestriction,
        Endpoint::ListUserRestrictions,
        Endpoint::ListPlaceUserRestrictions,
        Endpoint::UpdateUserRestriction,
        Endpoint::UpdatePlaceUserRestriction,
        Endpoint::ListUserRestrictionLogs,
        Endpoint::GetUser,
    ];

    /// The spec's `x-roblox-rate-limits.perApiKeyOwner.maxInPeriod`, per [`spec_period`](Self::spec_period).
    pub fn spec_limit(self) -> u32 {
        match self {
            Endpoint::GetGroup => 150,
            Endpoint::ListMemberships
            | Endpoint::UpdateMembership
            | Endpoint::AssignRole
            | Endpoint::UnassignRole
            | Endpoint::ListRoles
            | Endpoint::GetRole
            | Endpoint::ListJoinRequests => 300,
            Endpoint::AcceptJoinRequest | Endpoint::DeclineJoinRequest => 100,
            Endpoint::GetUserRestriction
            | Endpoint::GetPlaceUserRestriction
            | Endpoint::ListUserRestrictions
            | Endpoint::ListPlaceUserRestrictions
            | Endpoint::UpdateUserRestriction
            | Endpoint::UpdatePlaceUserRestriction
            | Endpoint::ListUserRestrictionLogs => 150,
            Endpoint::GetUser => 1000,
        }
    }

    /// The spec's `x-roblox-rate-limits.perApiKeyOwner.period`: a minute for the group operations, a second for
    /// the user-restriction operations.
    pub fn spec_period(self) -> RatePeriod {
        if self.is_user_restriction() {
            RatePeriod::Second
        } else {
            RatePeriod::Minute
        }
    }

    /// The additional per-universe limit per second that the spec's `x-roblox-rate-limits.description` gives the
    /// user-restriction operations (shared by every caller, and by the universe and place forms of an operation);
    /// `None` for the group operations.
    pub fn spec_universe_limit(self) -> Option<u32> {
        match self {
            Endpoint::GetUserRestriction
            | Endpoint::GetPlaceUserRestriction
            | Endpoint::ListUserRestrictions
            | Endpoint::ListPlaceUserRestrictions
            | Endpoint::ListUserRestrictionLogs => Some(50),
            Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => Some(10),
            _ => None,
        }
    }

    /// The spec's additional limit per minute on updates of one user's restrictions within one universe (the
    /// universe and place forms together); `None` for every other operation.
    pub fn spec_user_limit(self) -> Option<u32> {
        matches!(
            self,
            Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction
        )
        .then_some(2)
    }

    /// The spec's `operationId`.
    pub fn operation_id(self) -> &'static str {
        match self {
            Endpoint::GetGroup => "Cloud_GetGroup",
            Endpoint::ListMemberships => "Cloud_ListGroupMemberships",
            Endpoint::UpdateMembership => "Cloud_UpdateGroupMembership",
            Endpoint::AssignRole => "Cloud_AssignRoleGroupMembership",
            Endpoint::UnassignRole => "Cloud_UnassignRoleGroupMembership",
            Endpoint::ListRoles => "Cloud_ListGroupRoles",
            Endpoint::GetRole => "Cloud_GetGroupRole",
            Endpoint::ListJoinRequests => "Cloud_ListGroupJoinRequests",
            Endpoint::AcceptJoinRequest => "Cloud_AcceptGroupJoinRequest",
            Endpoint::DeclineJoinRequest => "Cloud_DeclineGroupJoinRequest",
            Endpoint::GetUserRestriction => "Cloud_GetUserRestriction__Using_Universes",
            Endpoint::GetPlaceUserRestriction => "Cloud_GetUserRestriction__Using_Universes_Places",
            Endpoint::ListUserRestrictions => "Cloud_ListUserRestrictions",
            // Sic: the spec names the place form after universes only.
            Endpoint::ListPlaceUserRestrictions => "Cloud_ListUserRestrictions__Using_Universes",
            Endpoint::UpdateUserRestriction => "Cloud_UpdateUserRestriction__Using_Universes",
            Endpoint::UpdatePlaceUserRestriction => {
                "Cloud_UpdateUserRestriction__Using_Universes_Places"
            }
            Endpoint::ListUserRestrictionLogs => "Cloud_ListUserRestrictionLogs",
            Endpoint::GetUser => "Cloud_GetUser",
        }
    }

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::GetGroup
            | Endpoint::ListMemberships
            | Endpoint::ListRoles
            | Endpoint::GetRole
            | Endpoint::ListJoinRequests
            | Endpoint::GetUserRestriction
            | Endpoint::GetPlaceUserRestriction
            | Endpoint::ListUserRestrictions
            | Endpoint::ListPlaceUserRestrictions
            | Endpoint::ListUserRestrictionLogs
            | Endpoint::GetUser => "GET",
            Endpoint::UpdateMembership
            | Endpoint::UpdateUserRestriction
            | Endpoint::UpdatePlaceUserRestriction => "PATCH",
            Endpoint::AssignRole
            | Endpoint::UnassignRole
            | Endpoint::AcceptJoinRequest
            | Endpoint::DeclineJoinRequest => "POST",
        }
    }

    /// The path template exactly as the spec's `paths` key spells it.
    pub fn path_template(self) -> &'static str {
        match self {
            Endpoint::GetGroup => "/cloud/v2/groups/{group_id}",
            Endpoint::ListMemberships => "/cloud/v2/groups/{group_id}/memberships",
            Endpoint::UpdateMembership => "/cloud/v2/groups/{group_id}/memberships/{membership_id}",
            Endpoint::AssignRole => {
                "/cloud/v2/groups/{group_id}/memberships/{membership_id}:assignRole"
            }
            Endpoint::UnassignRole => {
                "/cloud/v2/groups/{group_id}/memberships/{membership_id}:unassignRole"
            }
            Endpoint::ListRoles => "/cloud/v2/groups/{group_id}/roles",
            Endpoint::GetRole => "/cloud/v2/groups/{group_id}/roles/{role_id}",
            Endpoint::ListJoinRequests => "/cloud/v2/groups/{group_id}/join-requests",
            Endpoint::AcceptJoinRequest => {
                "/cloud/v2/groups/{group_id}/join-requests/{join_request_id}:accept"
            }
            Endpoint::DeclineJoinRequest => {
                "/cloud/v2/groups/{group_id}/join-requests/{join_request_id}:decline"
            }
            Endpoint::GetUserRestriction | Endpoint::UpdateUserRestriction => {
                "/cloud/v2/universes/{universe_id}/user-restrictions/{user_restriction_id}"
            }
            Endpoint::GetPlaceUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                "/cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions/{user_restriction_id}"
            }
            Endpoint::ListUserRestrictions => "/cloud/v2/universes/{universe_id}/user-restrictions",
            Endpoint::ListPlaceUserRestrictions => {
                "/cloud/v2/universes/{universe_id}/places/{place_id}/user-restrictions"
            }
            Endpoint::ListUserRestrictionLogs => {
                "/cloud/v2/universes/{universe_id}/user-restrictions:listLogs"
            }
            Endpoint::GetUser => "/cloud/v2/users/{user_id}",
        }
    }

    /// Whether the operation changes state.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Endpoint::UpdateMembership
                | Endpoint::AssignRole
                | Endpoint::UnassignRole
                | Endpoint::AcceptJoinRequest
                | Endpoint::DeclineJoinRequest
                | Endpoint::UpdateUserRestriction
                | Endpoint::UpdatePlaceUserRestriction
        )
    }

    /// The scope an API key needs for the operation (the spec's `x-roblox-scopes`, leaving out `group:read` on
    /// the role operations, which only widens what the answer shows); without it the answer is 403.
    pub fn required_scope(self) -> Option<&'static str> {
        match self {
            Endpoint::UpdateMembership
            | Endpoint::AssignRole
            | Endpoint::UnassignRole
            | Endpoint::AcceptJoinRequest
            | Endpoint::DeclineJoinRequest => Some("group:write"),
            Endpoint::ListJoinRequests => Some("group:read"),
            Endpoint::GetUserRestriction
            | Endpoint::GetPlaceUserRestriction
            | Endpoint::ListUserRestrictions
            | Endpoint::ListPlaceUserRestrictions
            | Endpoint::ListUserRestrictionLogs => Some("universe.user-restriction:read"),
            Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                Some("universe.user-restriction:write")
            }
            // `GetUser`'s scopes (`user.advanced:read`, `user.social:read`) only widen what the answer shows.
            Endpoint::GetGroup
            | Endpoint::ListMemberships
            | Endpoint::ListRoles
            | Endpoint::GetRole
            | Endpoint::GetUser => None,
        }
    }

    /// Whether the operation is one of the user-restriction (ban) operations.
    pub fn is_user_restriction(self) -> bool {
        matches!(
            self,
            Endpoint::GetUserRestriction
                | Endpoint::GetPlaceUserRestriction
                | Endpoint::ListUserRestrictions
                | Endpoint::ListPlaceUserRestrictions
                | Endpoint::UpdateUserRestriction
                | Endpoint::UpdatePlaceUserRestriction
                | Endpoint::ListUserRestrictionLogs
        )
    }

    /// The universe form of a place operation (the two share the per-universe limits); itself otherwise.
    fn universe_form(self) -> Endpoint {
        match self {
            Endpoint::GetPlaceUserRestriction => Endpoint::GetUserRestriction,
            Endpoint::ListPlaceUserRestrictions => Endpoint::ListUserRestrictions,
            Endpoint::UpdatePlaceUserRestriction => Endpoint::UpdateUserRestriction,
            other => other,
        }
    }
}

/// Which of the additional user-restriction limits refused a request.
enum UniverseLimit {
    /// The operation's per-universe limit per second.
    Universe(Quota),
    /// The per-(universe, user) limit on updates per minute.
    User(Quota),
}

/// An API key: who owns it and what it may do.
#[derive(Clone, Debug)]
pub(crate) struct ApiKey {
    pub(crate) owner: u64,
    pub(crate) scopes: BTreeSet<String>,
}

impl ApiKey {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

struct Inner {
    config: RwLock<RobloxSimConfig>,
    world: Mutex<World>,
    keys: RwLock<HashMap<String, ApiKey>>,
    limiter: Mutex<RateLimiter>,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
}

/// Cheap-to-clone handle to one simulator's shared state. Serve it with [`RobloxSim::serve`] (as many times as
/// you like: every server shares the state) and control it through the methods below or the `/_sim` routes.
#[derive(Clone)]
pub struct RobloxSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for RobloxSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobloxSim")
            .field("config", &*self.inner.config.read())
            .finish_non_exhaustive()
    }
}

impl RobloxSim {
    /// A simulator with no groups, no universes, no keys and no faults.
    pub fn new(config: RobloxSimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                world: Mutex::new(World::default()),
                keys: RwLock::new(HashMap::new()),
                limiter: Mutex::new(RateLimiter::default()),
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Serves on `addr` (use `127.0.0.1:0` in tests) until `shutdown` resolves. Returns the bound address at once
    /// and the server task, which ends once in-flight requests are answered (hanging ones get 503).
    ///
    /// Besides `/cloud/v2`, the server answers the control API (JSON bodies; errors are `{"error": "..."}`):
    ///
    /// | route | body | answer |
    /// |---|---|---|
    /// | `POST /_sim/groups` | [`GroupSeed`] | 204; 400 on an invalid seed |
    /// | `GET /_sim/groups/{g}/members/{u}` | | 200 [`MemberSnapshot`]; 404 if not a member or no such group |
    /// | `PUT /_sim/groups/{g}/members/{u}` | `{"roleIds": [..]}` | 200 [`MemberSnapshot`]; 204 when `[]` removed the member; 404 no such group; 400 invalid roles |
    /// | `POST /_sim/groups/{g}/join-requests` | `{"userId"}` | 200 `{"id": "..."}`, the join-request id; 404 no such group; 409 a member or already requesting; 400 user id 0 or no role to give |
    /// | `GET /_sim/groups/{g}/join-requests` | | 200 `[`[`JoinRequestSnapshot`]`, ..]`, oldest first; 404 no such group |
    /// | `POST /_sim/universes` | [`UniverseSeed`] | 204; 400 on an invalid seed |
    /// | `POST /_sim/universes/{u}/places` | `{"placeId"}` | 204; 404 no such universe; 400 place id 0 or another universe's |
    /// | `GET /_sim/universes/{u}/user-restrictions/{user}` | | 200 [`UserRestrictionSnapshot`]; 404 if never restricted or no such universe |
    /// | `POST /_sim/users` | [`UserSeed`] | 204; 400 on an invalid seed |
    /// | `POST /_sim/keys` | `{"key", "ownerUserId", "scopes": [..]}` | 204 |
    /// | `POST /_sim/faults` | [`FaultRule`] | 200 `{"id": n}` |
    /// | `DELETE /_sim/faults` | | 204 |
    /// | `GET /_sim/log?since=N` | | 200 `[`[`LogEntry`]`, ..]`, entries with `seq > N` (all without `since`) |
    /// | `DELETE /_sim/log` | | 204 |
    /// | `GET /_sim/config` | | 200, the config in the `PATCH` shape with every field |
    /// | `PATCH /_sim/config` | `{"latencyMs"?, "retryAfterOn429"?, "endOfList"?, "emptyLastPage"?, "rateLimitWindowMs"?, "rateLimitSecondWindowMs"?, "rateLimitsEnabled"?, "userRestrictionLimitsEnabled"?, "rateLimitOverrides"?}` | 200, the new config; `rateLimitOverrides` replaces the whole map |
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let sim = self.clone();
        server::serve(addr, shutdown, move |incoming, cancel| {
            let sim = sim.clone();
            async move { sim.dispatch(incoming, cancel).await }
        })
        .await
    }

    async fn dispatch(&self, incoming: Incoming, cancel: CancellationToken) -> Response {
        if incoming.path == "/_sim" || incoming.path.starts_with("/_sim/") {
            control::handle(self, &incoming)
        } else {
            cloud::handle(self, incoming, &cancel).await
        }
    }

    /// Creates a group, replacing an existing group with the same id (members, roles and all).
    pub fn seed_group(&self, seed: GroupSeed) -> Result<(), SimError> {
        self.inner.world.lock().seed(seed, Utc::now())
    }

    /// Creates a universe owned by a user or a group, replacing an existing universe with the same id (places,
    /// restrictions and their logs included). The owning group need not be seeded yet.
    pub fn seed_universe(&self, seed: UniverseSeed) -> Result<(), SimError> {
        self.inner.world.lock().seed_universe(seed)
    }

    /// Adds a place to a seeded universe (needed for the place forms of the user-restriction operations).
    /// Adding a place the universe already has does nothing; a place of another universe is refused.
    pub fn seed_place(&self, universe_id: u64, place_id: u64) -> Result<(), SimError> {
        self.inner.world.lock().seed_place(universe_id, place_id)
    }

    /// The user's universe-level restriction as it stands now; `None` when the user was never restricted in
    /// the universe (or the universe does not exist). `active` is false once a timed restriction has expired.
    pub fn user_restriction(
        &self,
        universe_id: u64,
        user_id: u64,
    ) -> Option<UserRestrictionSnapshot> {
        self.inner
            .world
            .lock()
            .restriction_snapshot(universe_id, user_id, Utc::now())
    }

    /// Creates a user for `GET /cloud/v2/users/{user_id}`, replacing one with the same id. Refused: id 0, an empty
    /// name, an unknown social-profile visibility.
    pub fn seed_user(&self, seed: UserSeed) -> Result<(), SimError> {
        self.inner
            .world
            .lock()
            .seed_user(seed, Utc::now())
            .map_err(SimError::InvalidUser)
    }

    /// Registers an API key acting as `owner_user_id` with the given scopes (`"group:read"` (needed to list join
    /// requests), `"group:write"`,
    /// `"universe.user-restriction:read"`, `"universe.user-restriction:write"`). Registering a key again
    /// replaces it.
    pub fn add_api_key(&self, key: &str, owner_user_id: u64, scopes: &[&str]) {
        let api_key = ApiKey {
            owner: owner_user_id,
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        };
        self.inner.keys.write().insert(key.to_owned(), api_key);
    }

    /// Makes the user a member holding exactly `role_ids`; an empty slice removes them from the group.
    pub fn set_member_roles(
        &self,
        group_id: u64,
        user_id: u64,
        role_ids: &[u64],
    ) -> Result<(), SimError> {
        self.inner
            .world
            .lock()
            .set_member_roles(group_id, user_id, role_ids, Utc::now())
    }

    /// The member's current roles; `None` when the user is not a member (or the group does not exist).
    pub fn member(&self, group_id: u64, user_id: u64) -> Option<MemberSnapshot> {
        self.inner
            .world
            .lock()
            .group(group_id)
            .ok()?
            .snapshot(user_id)
    }

    /// Adds a pending request from `user_id` to join the group and returns its opaque id (what the request's
    /// `path` ends with; never the user id). Refused: an unknown group, user id 0, a user who is already a member
    /// or already has a pending request, a group with no role between guest and owner (nothing to give the user
    /// on acceptance).
    pub fn seed_join_request(&self, group_id: u64, user_id: u64) -> Result<String, SimError> {
        self.inner
            .world
            .lock()
            .seed_join_request(group_id, user_id, Utc::now())
            .map(|id| id.to_string())
    }

    /// The group's pending join requests, oldest first; empty when there are none or the group does not exist.
    pub fn join_requests(&self, group_id: u64) -> Vec<JoinRequestSnapshot> {
        self.group_join_requests(group_id).unwrap_or_default()
    }

    /// Installs a fault rule and returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.inner.faults.lock().add(rule)
    }

    /// Installs a fault for the next `times` calls of `endpoint` (every call when `None`) and
    /// returns its id.
    pub fn fault_endpoint(
        &self,
        endpoint: Endpoint,
        action: FaultAction,
        times: Option<u32>,
    ) -> u64 {
        self.add_fault(FaultRule {
            endpoint: Some(endpoint),
            method: None,
            path_contains: None,
            action,
            times,
        })
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.faults.lock().clear();
    }

    /// Every logged request still held, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.inner.log.lock().since(0)
    }

    /// Empties the request log (sequence numbers keep increasing).
    pub fn clear_log(&self) {
        self.inner.log.lock().clear();
    }

    /// Changes the configuration; takes effect for the next request.
    pub fn update_config(&self, f: impl FnOnce(&mut RobloxSimConfig)) {
        f(&mut self.inner.config.write());
    }

    fn config(&self) -> RobloxSimConfig {
        self.inner.config.read().clone()
    }

    fn api_key(&self, key: &str) -> Option<ApiKey> {
        self.inner.keys.read().get(key).cloned()
    }

    /// Counts a request against its owner's quota for the endpoint.
    fn hit_quota(&self, owner: u64, endpoint: Endpoint) -> Quota {
        let (limit, window, enforce) = {
            let config = self.inner.config.read();
            let limit = config
                .rate_limit_overrides
                .get(&endpoint)
                .copied()
                .unwrap_or_else(|| endpoint.spec_limit());
            (
                limit,
                config.window(endpoint.spec_period()),
                config.rate_limits_enabled,
            )
        };
        self.inner.limiter.lock().hit(
            Bucket::Owner { owner, endpoint },
            limit,
            window,
            enforce,
            tokio::time::Instant::now(),
        )
    }

    /// Counts a user-restriction request against the spec's additional limits: the operation's per-universe
    /// limit, then (for updates of `user`) the per-user limit. Returns the first limit refused, if any.
    fn hit_universe_limits(
        &self,
        endpoint: Endpoint,
        universe: u64,
        user: Option<u64>,
    ) -> Result<(), UniverseLimit> {
        let (second, minute) = {
            let config = self.inner.config.read();
            if !config.rate_limits_enabled || !config.user_restriction_limits_enabled {
                return Ok(());
            }
            (
                config.window(RatePeriod::Second),
                config.window(RatePeriod::Minute),
            )
        };
        let now = tokio::time::Instant::now();
        let mut limiter = self.inner.limiter.lock();
        if let Some(limit) = endpoint.spec_universe_limit() {
            let bucket = Bucket::Universe {
                universe,
                endpoint: endpoint.universe_form(),
            };
            let quota = limiter.hit(bucket, limit, second, true, now);
            if !quota.allowed {
                return Err(UniverseLimit::Universe(quota));
            }
        }
        if let (Some(limit), Some(user)) = (endpoint.spec_user_limit(), user) {
            let quota = limiter.hit(
                Bucket::UniverseUser { universe, user },
                limit,
                minute,
                true,
                now,
            );
            if !quota.allowed {
                return Err(UniverseLimit::User(quota));
            }
        }
        Ok(())
    }

    fn fire_fault(
        &self,
        endpoint: Endpoint,
        method: &str,
        path: &str,
    ) -> Option<(u64, FaultAction)> {
        self.inner.faults.lock().fire(endpoint, method, path)
    }

    fn push_log(&self, entry: LogEntry) {
        self.inner.log.lock().push(entry);
    }

    /// The group's pending join requests, oldest first; refused for an unknown group.
    fn group_join_requests(&self, group_id: u64) -> Result<Vec<JoinRequestSnapshot>, SimError> {
        self.inner.world.lock().join_request_snapshots(group_id)
    }

    fn log_since(&self, seq: u64) -> Vec<LogEntry> {
        self.inner.log.lock().since(seq)
    }
}
