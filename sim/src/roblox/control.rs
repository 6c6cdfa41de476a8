//! The `/_sim` control API: the HTTP face of [`RobloxSim`]'s control methods (routes listed on
//! [`RobloxSim::serve`]). Not rate limited, not logged, no latency. Errors are `{"error": "..."}`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::{
    EndOfList, Endpoint, FaultAction, FaultRule, GroupSeed, Incoming, RobloxSim, RobloxSimConfig,
    SimError, UniverseSeed, UserSeed,
};
use crate::control::{ControlResult, body, id, log_since, no_route, not_allowed, respond};
use crate::http_util::{empty_response, json_response};

pub(crate) fn handle(sim: &RobloxSim, incoming: &Incoming) -> Response {
    respond(route(sim, incoming))
}

fn route(sim: &RobloxSim, incoming: &Incoming) -> ControlResult {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    let allowed: &[Method] = match segments.as_slice() {
        ["_sim", "groups"] => {
            if method == Method::POST {
                let seed: GroupSeed = body(&incoming.body)?;
                sim.seed_group(seed).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "groups", group, "members", user] => {
            let group_id = id(group, "group id")?;
            let user_id = id(user, "user id")?;
            if method == Method::GET {
                let snapshot = sim.member(group_id, user_id).ok_or_else(|| {
                    (
                        StatusCode::NOT_FOUND,
                        format!("user {user_id} is not a member of group {group_id}"),
                    )
                })?;
                return Ok(json_response(StatusCode::OK, &snapshot));
            }
            if method == Method::PUT {
                let request: SetRoles = body(&incoming.body)?;
                sim.set_member_roles(group_id, user_id, &request.role_ids)
                    .map_err(sim_error)?;
                return Ok(match sim.member(group_id, user_id) {
                    Some(snapshot) => json_response(StatusCode::OK, &snapshot),
                    None => empty_response(StatusCode::NO_CONTENT),
                });
            }
            &[Method::GET, Method::PUT]
        }
        ["_sim", "groups", group, "join-requests"] => {
            let group_id = id(group, "group id")?;
            if method == Method::GET {
                let requests = sim.group_join_requests(group_id).map_err(sim_error)?;
                return Ok(json_response(StatusCode::OK, &requests));
            }
            if method == Method::POST {
                let request: AddJoinRequest = body(&incoming.body)?;
                let id = sim
                    .seed_join_request(group_id, request.user_id)
                    .map_err(sim_error)?;
                return Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "id": id }),
                ));
            }
            &[Method::GET, Method::POST]
        }
        ["_sim", "universes"] => {
            if method == Method::POST {
                let seed: UniverseSeed = body(&incoming.body)?;
                sim.seed_universe(seed).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "universes", universe, "places"] => {
            let universe_id = id(universe, "universe id")?;
            if method == Method::POST {
                let request: AddPlace = body(&incoming.body)?;
                sim.seed_place(universe_id, request.place_id)
                    .map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "universes", universe, "user-restrictions", user] => {
            let universe_id = id(universe, "universe id")?;
            let user_id = id(user, "user id")?;
            if method == Method::GET {
                let snapshot = sim.user_restriction(universe_id, user_id).ok_or_else(|| {
                    (
                        StatusCode::NOT_FOUND,
                        format!(
                            "user {user_id} was never restricted in universe {universe_id} (or it does not exist)"
                        ),
                    )
                })?;
                return Ok(json_response(StatusCode::OK, &snapshot));
            }
            &[Method::GET]
        }
        ["_sim", "users"] => {
            if method == Method::POST {
                let seed: UserSeed = body(&incoming.body)?;
                sim.seed_user(seed).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "keys"] => {
            if method == Method::POST {
                let request: AddKey = body(&incoming.body)?;
                if request.key.is_empty() {
                    return Err((StatusCode::BAD_REQUEST, "key must not be empty".into()));
                }
                let scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
                sim.add_api_key(&request.key, request.owner_user_id, &scopes);
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "faults"] => {
            if method == Method::POST {
                let rule: FaultRule = body(&incoming.body)?;
                if let FaultAction::Status { status } = rule.action
                    && !(400..=599).contains(&status)
                {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("action.status must be between 400 and 599, got {status}"),
                    ));
                }
                if rule.times == Some(0) {
                    return Err((StatusCode::BAD_REQUEST, "times must be at least 1".into()));
                }
                let id = sim.add_fault(rule);
                return Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "id": id }),
                ));
            }
            if method == Method::DELETE {
                sim.clear_faults();
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST, Method::DELETE]
        }
        ["_sim", "log"] => {
            if method == Method::GET {
                let since = log_since(&incoming.query)?;
                return Ok(json_response(StatusCode::OK, &sim.log_since(since)));
            }
            if method == Method::DELETE {
                sim.clear_log();
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::GET, Method::DELETE]
        }
        ["_sim", "config"] => {
            if method == Method::GET {
                return Ok(json_response(
                    StatusCode::OK,
                    &ConfigView::of(&sim.config()),
                ));
            }
            if method == Method::PATCH {
                let patch: ConfigPatch = body(&incoming.body)?;
                for (name, value) in [
                    ("rateLimitWindowMs", patch.rate_limit_window_ms),
                    ("rateLimitSecondWindowMs", patch.rate_limit_second_window_ms),
                ] {
                    if value == Some(0) {
                        return Err((
                            StatusCode::BAD_REQUEST,
                            format!("{name} must be at least 1"),
                        ));
                    }
                }
                sim.update_config(|config| patch.apply(config));
                return Ok(json_response(
                    StatusCode::OK,
                    &ConfigView::of(&sim.config()),
                ));
            }
            &[Method::GET, Method::PATCH]
        }
        _ => return Err(no_route(incoming)),
    };
    Err(not_allowed(incoming, allowed))
}

fn sim_error(err: SimError) -> (StatusCode, String) {
    let status = match err {
        SimError::UnknownGroup(_) | SimError::UnknownUniverse(_) => StatusCode::NOT_FOUND,
        SimError::UnknownRole { .. }
        | SimError::InvalidSeed(_)
        | SimError::InvalidUniverseSeed(_)
        | SimError::InvalidUser(_)
        | SimError::InvalidRoles { .. }
        | SimError::InvalidJoinRequest { .. } => StatusCode::BAD_REQUEST,
        SimError::AlreadyMember { .. } | SimError::DuplicateJoinRequest { .. } => {
            StatusCode::CONFLICT
        }
    };
    (status, err.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetRoles {
    role_ids: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddJoinRequest {
    user_id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddPlace {
    place_id: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddKey {
    key: String,
    owner_user_id: u64,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `PATCH /_sim/config`: every field optional; `rateLimitOverrides` replaces the whole map.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigPatch {
    latency_ms: Option<u64>,
    retry_after_on429: Option<bool>,
    end_of_list: Option<EndOfList>,
    empty_last_page: Option<bool>,
    rate_limit_window_ms: Option<u64>,
    rate_limit_second_window_ms: Option<u64>,
    rate_limits_enabled: Option<bool>,
    user_restriction_limits_enabled: Option<bool>,
    rate_limit_overrides: Option<HashMap<Endpoint, u32>>,
}

impl ConfigPatch {
    fn apply(self, config: &mut RobloxSimConfig) {
        if let Some(ms) = self.latency_ms {
            config.latency = Duration::from_millis(ms);
        }
        if let Some(on) = self.retry_after_on429 {
            config.retry_after_on_429 = on;
        }
        if let Some(end) = self.end_of_list {
            config.end_of_list = end;
        }
        if let Some(on) = self.empty_last_page {
            config.empty_last_page = on;
        }
        if let Some(ms) = self.rate_limit_window_ms {
            config.rate_limit_window = Duration::from_millis(ms);
        }
        if let Some(ms) = self.rate_limit_second_window_ms {
            config.rate_limit_second_window = Duration::from_millis(ms);
        }
        if let Some(on) = self.rate_limits_enabled {
            config.rate_limits_enabled = on;
        }
        if let Some(on) = self.user_restriction_limits_enabled {
            config.user_restriction_limits_enabled = on;
        }
        if let Some(overrides) = self.rate_limit_overrides {
            config.rate_limit_overrides = overrides;
        }
    }
}

/// The config as `GET`/`PATCH /_sim/config` report it (the `PATCH` shape, every field present).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigView {
    latency_ms: u128,
    retry_after_on429: bool,
    end_of_list: EndOfList,
    empty_last_page: bool,
    rate_limit_window_ms: u128,
    rate_limit_second_window_ms: u128,
    rate_limits_enabled: bool,
    user_restriction_limits_enabled: bool,
    rate_limit_overrides: HashMap<Endpoint, u32>,
}

impl ConfigView {
    fn of(config: &RobloxSimConfig) -> Self {
        Self {
            latency_ms: config.latency.as_millis(),
            retry_after_on429: config.retry_after_on_429,
            end_of_list: config.end_of_list,
            empty_last_page: config.empty_last_page,
            rate_limit_window_ms: config.rate_limit_window.as_millis(),
            rate_limit_second_window_ms: config.rate_limit_second_window.as_millis(),
            rate_limits_enabled: config.rate_limits_enabled,
            user_restriction_limits_enabled: config.user_restriction_limits_enabled,
            rate_limit_overrides: config.rate_limit_overrides.clone(),
        }
    }
}
