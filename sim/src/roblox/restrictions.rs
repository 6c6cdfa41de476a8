//! The user-restriction operations (experience bans): get, list and update a user's restriction at the universe
//! or place level, and list the change log. The rules are on the module doc (`mod.rs`).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::cloud::{query_params, too_many_requests};
use super::error::ApiError;
use super::filter::{RestrictionLogFilter, parse_id};
use super::model::World;
use super::page::{Collection, ListQuery, next_token, page_size, resume_after};
use super::universe::{GameJoin, IdempotentWrite, RestrictionLog, Universe, UniverseOwner};
use super::wire::{
    ListRestrictionLogsJson, ListUserRestrictionsJson, RestrictionLogJson, UserRestrictionJson,
};
use super::{ApiKey, Endpoint, Incoming, RobloxSim, RobloxSimConfig, UniverseLimit};
use crate::http_util::json_response;

/// Longest `privateReason`, in characters (the spec's limit).
const MAX_PRIVATE_REASON: usize = 1000;
/// Longest `displayReason`, in characters (the spec's limit).
const MAX_DISPLAY_REASON: usize = 400;
/// Longest `duration`, in seconds (the spec's limit; the shortest is 1 s).
const MAX_DURATION_SECS: u64 = 315_576_000_000;
/// How long an idempotency key is honoured, and how old `idempotencyKey.firstSent` may be (AEP-155's "at least
/// an hour").
const IDEMPOTENCY_LIFETIME: TimeDelta = TimeDelta::hours(1);
/// How far in the future `idempotencyKey.firstSent` may be (clock skew).
const FIRST_SENT_SKEW: TimeDelta = TimeDelta::minutes(1);
/// Longest `idempotencyKey.key` (AEP-155's example: 36 ASCII characters, the length of a UUID).
const MAX_IDEMPOTENCY_KEY: usize = 36;

/// What a user-restriction request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestrictionKind {
    Get,
    List,
    Update,
    ListLogs,
}

/// A matched user-restriction route with its raw (decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RestrictionRoute {
    pub(crate) kind: RestrictionKind,
    pub(crate) universe: String,
    pub(crate) place: Option<String>,
    /// The `user_restriction_id` (a user id) of Get and Update.
    pub(crate) user: Option<String>,
}

impl RestrictionRoute {
    pub(crate) fn endpoint(&self) -> Endpoint {
        let place = self.place.is_some();
        match self.kind {
            RestrictionKind::Get if place => Endpoint::GetPlaceUserRestriction,
            RestrictionKind::Get => Endpoint::GetUserRestriction,
            RestrictionKind::List if place => Endpoint::ListPlaceUserRestrictions,
            RestrictionKind::List => Endpoint::ListUserRestrictions,
            RestrictionKind::Update if place => Endpoint::UpdatePlaceUserRestriction,
            RestrictionKind::Update => Endpoint::UpdateUserRestriction,
            RestrictionKind::ListLogs => Endpoint::ListUserRestrictionLogs,
        }
    }
}

/// The parsed ids of a request.
#[derive(Clone, Copy)]
struct Target {
    universe: u64,
    place: Option<u64>,
}

impl Target {
    /// `universes/U` or `universes/U/places/P`.
    fn parent(self) -> String {
        match self.place {
            Some(place) => format!("universes/{}/places/{place}", self.universe),
            None => format!("universes/{}", self.universe),
        }
    }
}

/// Runs a user-restriction operation (after authentication, the key owner's quota, faults and the scope).
pub(crate) fn operate(
    sim: &RobloxSim,
    incoming: &Incoming,
    route: &RestrictionRoute,
    key: &ApiKey,
    config: &RobloxSimConfig,
) -> Result<Response, ApiError> {
    let target = Target {
        universe: path_id(&route.universe, "universe_id")?,
        place: route
            .place
            .as_deref()
            .map(|place| path_id(place, "place_id"))
            .transpose()?,
    };
    let user = route
        .user
        .as_deref()
        .map(|user| path_id(user, "user_restriction_id"))
        .transpose()?;
    if let Err(limit) = sim.hit_universe_limits(route.endpoint(), target.universe, user) {
        return Ok(universe_limited(&limit, target.universe, user, config));
    }
    let now = Utc::now();
    let query = incoming.query.as_str();
    match (route.kind, user) {
        (RestrictionKind::Get, Some(user)) => {
            query_params(query, &[])?;
            let world = sim.inner.world.lock();
            let universe = managed_universe(&world, target, key.owner)?;
            let body = UserRestrictionJson::new(
                &target.parent(),
                user,
                universe.effective(target.place, user, now),
                now,
            );
            Ok(json_response(StatusCode::OK, &body))
        }
        (RestrictionKind::Update, Some(user)) => {
            update(sim, incoming, target, user, key.owner, now)
        }
        (RestrictionKind::List, _) => {
            let world = sim.inner.world.lock();
            let page = list(&world, target, query, config, key.owner, now)?;
            Ok(json_response(StatusCode::OK, &page))
        }
        (RestrictionKind::ListLogs, _) => {
            let world = sim.inner.world.lock();
            let page = list_logs(&world, target, query, config, key.owner)?;
            Ok(json_response(StatusCode::OK, &page))
        }
        (RestrictionKind::Get | RestrictionKind::Update, None) => Err(ApiError::invalid_argument(
            "user_restriction_id is required.",
        )),
    }
}

fn list(
    world: &World,
    target: Target,
    query: &str,
    config: &RobloxSimConfig,
    actor: u64,
    now: DateTime<Utc>,
) -> Result<ListUserRestrictionsJson, ApiError> {
    let params = query_params(query, &["maxPageSize", "pageToken"])?;
    let (raw_size, size) = page_size(params.get("maxPageSize").map(String::as_str), 10, 100)?;
    let universe = managed_universe(world, target, actor)?;
    let parent = target.parent();
    let list_query = ListQuery {
        collection: Collection::UserRestrictions,
        parent: parent.clone(),
        filter: None,
        max_page_size: raw_size,
    };
    let after = match params.get("pageToken").filter(|token| !token.is_empty()) {
        Some(token) => match resume_after(token, &list_query)?.as_slice() {
            [user] => Some(*user),
            _ => return Err(ApiError::invalid_argument("pageToken is invalid")),
        },
        None => None,
    };
    let mut users = universe.listed_users(target.place, after);
    let more = users.len() > size;
    users.truncate(size);
    let last = users.last().map(|&user| vec![user]);
    Ok(ListUserRestrictionsJson {
        next_page_token: next_token(
            &list_query,
            last,
            more,
            users.len() == size,
            config.end_of_list,
            config.empty_last_page,
        ),
        user_restrictions: users
            .into_iter()
            .map(|user| {
                UserRestrictionJson::new(
                    &parent,
                    user,
                    universe.effective(target.place, user, now),
                    now,
                )
            })
            .collect(),
    })
}

fn list_logs(
    world: &World,
    target: Target,
    query: &str,
    config: &RobloxSimConfig,
    actor: u64,
) -> Result<ListRestrictionLogsJson, ApiError> {
    let params = query_params(query, &["maxPageSize", "pageToken", "filter"])?;
    let (raw_size, size) = page_size(params.get("maxPageSize").map(String::as_str), 10, 100)?;
    let filter_text = params
        .get("filter")
        .filter(|text| !text.is_empty())
        .cloned();
    let filter = filter_text
        .as_deref()
        .map(RestrictionLogFilter::parse)
        .transpose()
        .map_err(ApiError::invalid_argument)?
        .unwrap_or_default();
    let universe = managed_universe(world, target, actor)?;
    let list_query = ListQuery {
        collection: Collection::UserRestrictionLogs,
        parent: target.parent(),
        filter: filter_text,
        max_page_size: raw_size,
    };
    let before = match params.get("pageToken").filter(|token| !token.is_empty()) {
        Some(token) => match resume_after(token, &list_query)?.as_slice() {
            [seq] => Some(*seq),
            _ => return Err(ApiError::invalid_argument("pageToken is invalid")),
        },
        None => None,
    };
    let mut logs: Vec<&RestrictionLog> = universe
        .logs
        .iter()
        .rev()
        .filter(|log| before.is_none_or(|before| log.seq < before))
        .filter(|log| filter.matches(log.user, log.place))
        .take(size + 1)
        .collect();
    let more = logs.len() > size;
    logs.truncate(size);
    let last = logs.last().map(|log| vec![log.seq]);
    Ok(ListRestrictionLogsJson {
        next_page_token: next_token(
            &list_query,
            last,
            more,
            logs.len() == size,
            config.end_of_list,
            config.empty_last_page,
        ),
        logs: logs.into_iter().map(RestrictionLogJson::new).collect(),
    })
}

/// The `UserRestriction` body of PATCH. Output-only fields are accepted and ignored, and so is `path` (the URL
/// names the resource); unknown fields are refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "output-only fields are accepted and ignored, as AIP-203 asks"
)]
struct RestrictionPatch {
    path: Option<String>,
    update_time: Option<String>,
    user: Option<String>,
    game_join_restriction: Option<GameJoinPatch>,
}

/// `UserRestriction_GameJoinRestriction` in a PATCH body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "output-only fields are accepted and ignored, as AIP-203 asks"
)]
struct GameJoinPatch {
    active: Option<bool>,
    start_time: Option<String>,
    duration: Option<String>,
    private_reason: Option<String>,
    display_reason: Option<String>,
    exclude_alt_accounts: Option<bool>,
    inherited: Option<bool>,
}

impl GameJoinPatch {
    /// The restriction this body sets: absent fields take their defaults (inactive, permanent, no reasons).
    fn into_game_join(self) -> Result<GameJoin, ApiError> {
        let duration_secs = self.duration.as_deref().map(parse_duration).transpose()?;
        let private_reason = self.private_reason.unwrap_or_default();
        let display_reason = self.display_reason.unwrap_or_default();
        for (name, text, max) in [
            ("privateReason", &private_reason, MAX_PRIVATE_REASON),
            ("displayReason", &display_reason, MAX_DISPLAY_REASON),
        ] {
            let len = text.chars().count();
            if len > max {
                return Err(ApiError::invalid_argument(format!(
                    "gameJoinRestriction.{name} is {len} characters long; the maximum is {max}."
                )));
            }
        }
        Ok(GameJoin {
            active: self.active.unwrap_or(false),
            start: None,
            duration_secs,
            private_reason,
            display_reason,
            exclude_alt_accounts: self.exclude_alt_accounts.unwrap_or(false),
        })
    }
}

/// What `updateMask` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UpdateMask {
    /// No mask: update the fields present in the body.
    Unset,
    /// `gameJoinRestriction` (or `*`): replace it, with the defaults if the body leaves it out.
    GameJoinRestriction,
}

impl UpdateMask {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
            return Ok(UpdateMask::Unset);
        };
        for path in raw.split(',') {
            match path {
                "gameJoinRestriction" | "game_join_restriction" | "*" => {}
                nested
                    if nested.starts_with("gameJoinRestriction.")
                        || nested.starts_with("game_join_restriction.") =>
                {
                    return Err(ApiError::invalid_argument(format!(
                        "updateMask {nested:?} is not supported: gameJoinRestriction must be updated as a whole."
                    )));
                }
                other => {
                    return Err(ApiError::invalid_argument(format!(
                        "updateMask {raw:?} names {other:?}; the only updatable field is gameJoinRestriction."
                    )));
                }
            }
        }
        Ok(UpdateMask::GameJoinRestriction)
    }
}

/// `idempotencyKey.key` and `idempotencyKey.firstSent`.
struct IdempotencyKey {
    key: String,
    first_sent: Option<DateTime<Utc>>,
}

impl IdempotencyKey {
    /// `None` without a key. `firstSent` must be an RFC 3339 time (even without a key), not older than the key
    /// lifetime and not in the future.
    fn parse(
        key: Option<&String>,
        first_sent: Option<&String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Self>, ApiError> {
        let first_sent = first_sent
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::invalid_argument(format!(
                            "idempotencyKey.firstSent must be an RFC 3339 timestamp, got {text:?}."
                        ))
                    })
            })
            .transpose()?;
        let Some(key) = key else {
            return Ok(None);
        };
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::invalid_argument(format!(
                "idempotencyKey.key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters (a UUID), got {key:?}."
            )));
        }
        if let Some(first_sent) = first_sent {
            if first_sent < now - IDEMPOTENCY_LIFETIME {
                return Err(ApiError::invalid_argument(
                    "idempotencyKey.firstSent is older than the idempotency key lifetime (1 hour).",
                ));
            }
            if first_sent > now + FIRST_SENT_SKEW {
                return Err(ApiError::invalid_argument(
                    "idempotencyKey.firstSent is in the future.",
                ));
            }
        }
        Ok(Some(Self {
            key: key.clone(),
            first_sent,
        }))
    }
}

/// PATCH: checks the query and body, then the universe, permission and place, then replays or applies.
fn update(
    sim: &RobloxSim,
    incoming: &Incoming,
    target: Target,
    user: u64,
    actor: u64,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let params = query_params(
        &incoming.query,
        &[
            "updateMask",
            "idempotencyKey.key",
            "idempotencyKey.firstSent",
        ],
    )?;
    let mask_text = params.get("updateMask").map(String::as_str);
    let mask = UpdateMask::parse(mask_text)?;
    let idempotency = IdempotencyKey::parse(
        params.get("idempotencyKey.key"),
        params.get("idempotencyKey.firstSent"),
        now,
    )?;
    let patch: RestrictionPatch = serde_json::from_slice(&incoming.body)
        .map_err(|err| ApiError::invalid_argument(format!("Invalid request body: {err}")))?;
    let given = patch
        .game_join_restriction
        .map(GameJoinPatch::into_game_join)
        .transpose()?;
    let new_game_join = match mask {
        UpdateMask::Unset => given,
        UpdateMask::GameJoinRestriction => Some(given.unwrap_or_default()),
    };
    let parent = target.parent();
    let request = format!(
        "{parent}/user-restrictions/{user}\n{}\n{}",
        mask_text.unwrap_or(""),
        serde_json::from_slice::<serde_json::Value>(&incoming.body).unwrap_or_default()
    );

    let mut guard = sim.inner.world.lock();
    let world = &mut *guard;
    managed_universe(world, target, actor)?;
    if let Some(idempotency) = &idempotency {
        world
            .idempotent_writes
            .retain(|_, write| now - write.first_seen < IDEMPOTENCY_LIFETIME);
        if let Some(previous) = world
            .idempotent_writes
            .get(&(actor, idempotency.key.clone()))
        {
            if previous.request != request {
                return Err(ApiError::invalid_argument(
                    "idempotencyKey.key was already used for a different request.",
                ));
            }
            if previous.first_sent != idempotency.first_sent {
                return Err(ApiError::invalid_argument(
                    "idempotencyKey.firstSent differs from the first request with this key.",
                ));
            }
            return Ok(json_response(StatusCode::OK, &previous.response));
        }
    }
    let universe = world
        .universes
        .get_mut(&target.universe)
        .ok_or_else(|| universe_not_found(target.universe))?;
    if let Some(game_join) = new_game_join {
        universe.apply(target.place, user, game_join, actor, now);
    }
    let body = UserRestrictionJson::new(
        &parent,
        user,
        universe.effective(target.place, user, now),
        now,
    );
    if let Some(idempotency) = idempotency {
        let response = serde_json::to_value(&body).unwrap_or_default();
        world.idempotent_writes.insert(
            (actor, idempotency.key),
            IdempotentWrite {
                first_seen: now,
                first_sent: idempotency.first_sent,
                request,
                response,
            },
        );
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// The universe, if it exists (404), `actor` may manage its restrictions (403), and the place, if any, is one
/// of its places (404).
fn managed_universe(world: &World, target: Target, actor: u64) -> Result<&Universe, ApiError> {
    let universe = world
        .universes
        .get(&target.universe)
        .ok_or_else(|| universe_not_found(target.universe))?;
    match universe.owner {
        UniverseOwner::User(owner) if owner != actor => {
            return Err(ApiError::permission_denied(format!(
                "Universe {} belongs to users/{owner}; the requester (users/{actor}) cannot manage its user restrictions.",
                universe.id
            )));
        }
        UniverseOwner::User(_) => {}
        UniverseOwner::Group(group_id) => {
            let allowed = world.groups.get(&group_id).is_some_and(|group| {
                group.owner == actor
                    || group
                        .members
                        .get(&actor)
                        .is_some_and(|member| group.highest_role(member).change_rank)
            });
            if !allowed {
                return Err(ApiError::permission_denied(format!(
                    "Universe {} belongs to groups/{group_id}; the requester (users/{actor}) is neither the group's owner nor a member whose highest role has changeRank.",
                    universe.id
                )));
            }
        }
    }
    if let Some(place) = target.place
        && !universe.places.contains(&place)
    {
        return Err(ApiError::not_found(format!(
            "Place {place} was not found in universe {}.",
            universe.id
        )));
    }
    Ok(universe)
}

fn universe_not_found(universe_id: u64) -> ApiError {
    ApiError::not_found(format!("Universe {universe_id} was not found."))
}

fn path_id(segment: &str, name: &str) -> Result<u64, ApiError> {
    parse_id(segment).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "{name} must be a positive integer, got {segment:?}"
        ))
    })
}

/// A protobuf `Duration` in its JSON form (`"3600s"`, `"3600.000s"`): whole seconds from 1 to 315,576,000,000.
fn parse_duration(text: &str) -> Result<u64, ApiError> {
    let malformed = || {
        ApiError::invalid_argument(format!(
            "gameJoinRestriction.duration {text:?} is not a duration such as \"3600s\"."
        ))
    };
    let out_of_range = || {
        ApiError::invalid_argument(format!(
            "gameJoinRestriction.duration {text:?} is out of range: it must be from 1 to {MAX_DURATION_SECS} seconds."
        ))
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let number = text.strip_suffix('s').ok_or_else(malformed)?;
    let (sign, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, number),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    if !digits(whole) || fraction.is_some_and(|f| !digits(f) || f.len() > 9) {
        return Err(malformed());
    }
    if fraction.is_some_and(|f| f.bytes().any(|b| b != b'0')) {
        return Err(ApiError::invalid_argument(format!(
            "gameJoinRestriction.duration {text:?} has sub-second precision, which is not permitted."
        )));
    }
    let secs: u64 = whole.parse().map_err(|_| out_of_range())?;
    if sign < 0 || !(1..=MAX_DURATION_SECS).contains(&secs) {
        return Err(out_of_range());
    }
    Ok(secs)
}

/// The 429 for one of the additional user-restriction limits.
fn universe_limited(
    limit: &UniverseLimit,
    universe: u64,
    user: Option<u64>,
    config: &RobloxSimConfig,
) -> Response {
    let (quota, message) = match limit {
        UniverseLimit::Universe(quota) => (
            quota,
            format!(
                "Too many requests. This operation is limited to {} requests a second in universe {universe}.",
                quota.limit
            ),
        ),
        UniverseLimit::User(quota) => (
            quota,
            format!(
                "Too many requests. The restriction of users/{} in universe {universe} may be updated at most {} times a minute.",
                user.unwrap_or_default(),
                quota.limit
            ),
        ),
    };
    too_many_requests(
        ApiError::with_status(StatusCode::TOO_MANY_REQUESTS, message),
        config.retry_after_on_429.then(|| quota.retry_after_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("1s", 1),
            ("3600s", 3600),
            ("3600.000s", 3600),
            ("315576000000s", MAX_DURATION_SECS),
        ] {
            assert_eq!(parse_duration(text).ok(), Some(secs), "{text}");
        }
        for bad in [
            "",
            "s",
            "3600",
            "1h",
            "0s",
            "-5s",
            "1.5s",
            "0.000000001s",
            "1.s",
            ".5s",
            "+5s",
            " 5s",
            "5 s",
            "315576000001s",
            "99999999999999999999999s",
            "1.0000000000s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn update_masks() {
        assert_eq!(UpdateMask::parse(None), Ok(UpdateMask::Unset));
        assert_eq!(UpdateMask::parse(Some("")), Ok(UpdateMask::Unset));
        for good in [
            "gameJoinRestriction",
            "game_join_restriction",
            "*",
            "gameJoinRestriction,game_join_restriction",
        ] {
            assert_eq!(
                UpdateMask::parse(Some(good)),
                Ok(UpdateMask::GameJoinRestriction),
                "{good}"
            );
        }
        for bad in [
            "gameJoinRestriction.active",
            "game_join_restriction.duration",
            "user",
            "path",
            "gameJoinRestriction,",
            " gameJoinRestriction",
            "active",
        ] {
            assert!(UpdateMask::parse(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys() {
        let now = Utc::now();
        let key = "0b8a3f2e-6d7c-4c1e-9f00-123456789abc".to_owned();
        let sent = |at: DateTime<Utc>| at.to_rfc3339();
        let parsed = IdempotencyKey::parse(Some(&key), Some(&sent(now)), now)
            .expect("valid")
            .expect("a key");
        assert_eq!(parsed.key, key);
        assert!(
            IdempotencyKey::parse(None, None, now)
                .expect("valid")
                .is_none()
        );
        assert!(IdempotencyKey::parse(None, Some(&"yesterday".to_owned()), now).is_err());
        for (key, first_sent) in [
            (String::new(), None),
            ("x".repeat(37), None),
            ("has space".to_owned(), None),
            (key.clone(), Some(sent(now - TimeDelta::hours(2)))),
            (key.clone(), Some(sent(now + TimeDelta::hours(1)))),
        ] {
            assert!(
                IdempotencyKey::parse(Some(&key), first_sent.as_ref(), now).is_err(),
                "{key:?} {first_sent:?}"
            );
        }
    }
}
