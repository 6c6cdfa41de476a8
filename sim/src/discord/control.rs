//! The `/_sim` control API: the HTTP face of [`DiscordSim`]'s control methods (routes listed on
//! [`DiscordSim::serve`]). Not rate limited, not logged, no latency. Errors are `{"error": "..."}`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::{
    DiscordSim, DiscordSimConfig, FaultRule, GuildSeed, Incoming, MemberSeed, RoleSeed, Route,
    RouteLimit, SimError, WindowKind,
};
use crate::control::{ControlResult, body, id, log_since, no_route, not_allowed, respond};
use crate::http_util::{empty_response, json_response};

pub(crate) fn handle(sim: &DiscordSim, incoming: &Incoming) -> Response {
    respond(route(sim, incoming))
}

fn route(sim: &DiscordSim, incoming: &Incoming) -> ControlResult {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    let method = &incoming.method;
    let allowed: &[Method] = match segments.as_slice() {
        ["_sim", "guilds"] => {
            if method == Method::POST {
                let seed: GuildSeed = body(&incoming.body)?;
                sim.seed_guild(seed).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "guilds", guild, "roles"] => {
            let guild = id(guild, "guild id")?;
            if method == Method::POST {
                let seed: RoleSeed = body(&incoming.body)?;
                sim.add_role(guild, seed).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "guilds", guild, "roles", role] => {
            let guild = id(guild, "guild id")?;
            let role = id(role, "role id")?;
            if method == Method::PATCH {
                let request: RenameRole = body(&incoming.body)?;
                sim.rename_role(guild, role, &request.name)
                    .map_err(role_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            if method == Method::DELETE {
                sim.remove_role(guild, role).map_err(role_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::PATCH, Method::DELETE]
        }
        ["_sim", "guilds", guild, "members", user] => {
            let guild = id(guild, "guild id")?;
            let user = id(user, "user id")?;
            if method == Method::GET {
                return snapshot(sim, guild, user);
            }
            if method == Method::PUT {
                let seed: MemberSeed = body(&incoming.body)?;
                if seed.user_id != user {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!(
                            "userId {} does not match the path's user {user}",
                            seed.user_id
                        ),
                    ));
                }
                sim.add_member(guild, seed).map_err(sim_error)?;
                return snapshot(sim, guild, user);
            }
            if method == Method::DELETE {
                sim.remove_member(guild, user);
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::GET, Method::PUT, Method::DELETE]
        }
        ["_sim", "guilds", guild, "members", user, "roles"] => {
            let guild = id(guild, "guild id")?;
            let user = id(user, "user id")?;
            if method == Method::PUT {
                let request: SetRoles = body(&incoming.body)?;
                sim.set_member_roles(guild, user, &request.role_ids)
                    .map_err(sim_error)?;
                return snapshot(sim, guild, user);
            }
            &[Method::PUT]
        }
        ["_sim", "guilds", guild, "bans"] => {
            let guild = id(guild, "guild id")?;
            if method == Method::GET {
                return Ok(json_response(StatusCode::OK, &sim.bans(guild)));
            }
            &[Method::GET]
        }
        ["_sim", "bots"] => {
            if method == Method::POST {
                let request: AddBot = body(&incoming.body)?;
                if request.token.is_empty() || request.token.contains(char::is_whitespace) {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "token must be non-empty and without spaces".into(),
                    ));
                }
                if request.user_id == 0 {
                    return Err((StatusCode::BAD_REQUEST, "userId must be non-zero".into()));
                }
                sim.add_bot(
                    &request.token,
                    request.user_id,
                    &request.username,
                    request.members_intent,
                );
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        ["_sim", "users", user, "dms"] => {
            let user = id(user, "user id")?;
            if method == Method::GET {
                return Ok(json_response(StatusCode::OK, &sim.direct_messages(user)));
            }
            if method == Method::PUT {
                let request: SetDms = body(&incoming.body)?;
                sim.set_dms_open(user, request.open).map_err(sim_error)?;
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::GET, Method::PUT]
        }
        ["_sim", "faults"] => {
            if method == Method::POST {
                let rule: FaultRule = body(&incoming.body)?;
                if let Some(reason) = rule.action.invalid_reason() {
                    return Err((StatusCode::BAD_REQUEST, reason));
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
        ["_sim", "rate-limits"] => {
            if method == Method::DELETE {
                sim.reset_rate_limits();
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::DELETE]
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
                patch.check()?;
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

fn snapshot(sim: &DiscordSim, guild: u64, user: u64) -> ControlResult {
    let snapshot = sim.member(guild, user).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("user {user} is not a member of guild {guild}"),
        )
    })?;
    Ok(json_response(StatusCode::OK, &snapshot))
}

fn sim_error(err: SimError) -> (StatusCode, String) {
    let status = match err {
        SimError::UnknownGuild(_) | SimError::UnknownMember { .. } | SimError::UnknownUser(_) => {
            StatusCode::NOT_FOUND
        }
        SimError::UnknownRole { .. } | SimError::InvalidSeed(_) => StatusCode::BAD_REQUEST,
    };
    (status, err.to_string())
}

/// [`sim_error`] for a route naming the role in its path, where an unknown role is a missing resource (404).
fn role_error(err: SimError) -> (StatusCode, String) {
    match err {
        SimError::UnknownRole { .. } => (StatusCode::NOT_FOUND, err.to_string()),
        other => sim_error(other),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRole {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetRoles {
    role_ids: Vec<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddBot {
    token: String,
    user_id: u64,
    username: String,
    #[serde(default)]
    members_intent: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetDms {
    open: bool,
}

/// A [`RouteLimit`] over HTTP.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RouteLimitJson {
    limit: u32,
    window_ms: u64,
    kind: WindowKind,
    bucket: String,
}

impl RouteLimitJson {
    fn of(limit: &RouteLimit) -> Self {
        Self {
            limit: limit.limit,
            window_ms: u64::try_from(limit.window.as_millis()).unwrap_or(u64::MAX),
            kind: limit.kind,
            bucket: limit.bucket.clone(),
        }
    }

    fn into_limit(self) -> RouteLimit {
        RouteLimit {
            limit: self.limit,
            window: Duration::from_millis(self.window_ms),
            kind: self.kind,
            bucket: self.bucket,
        }
    }
}

/// `PATCH /_sim/config`: every field optional; `routeLimits` replaces the routes it lists.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigPatch {
    latency_ms: Option<u64>,
    global_limit_per_sec: Option<u32>,
    invalid_request_limit: Option<u32>,
    invalid_request_window_ms: Option<u64>,
    rate_limits_enabled: Option<bool>,
    scope_on_every_response: Option<bool>,
    route_limits: Option<HashMap<Route, RouteLimitJson>>,
}

impl ConfigPatch {
    fn check(&self) -> Result<(), (StatusCode, String)> {
        let bad = |message: String| Err((StatusCode::BAD_REQUEST, message));
        if self.global_limit_per_sec == Some(0) {
            return bad("globalLimitPerSec must be at least 1".into());
        }
        if self.invalid_request_limit == Some(0) {
            return bad("invalidRequestLimit must be at least 1".into());
        }
        if self.invalid_request_window_ms == Some(0) {
            return bad("invalidRequestWindowMs must be at least 1".into());
        }
        for (route, limit) in self.route_limits.iter().flatten() {
            if limit.limit == 0 || limit.limit > u32::from(u16::MAX) {
                return bad(format!(
                    "routeLimits.{route:?}.limit must be between 1 and 65535 (clients read it as a u16)"
                ));
            }
            if limit.window_ms == 0 {
                return bad(format!("routeLimits.{route:?}.windowMs must be at least 1"));
            }
            if limit.bucket.is_empty() || !limit.bucket.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(format!(
                    "routeLimits.{route:?}.bucket must be non-empty printable ASCII"
                ));
            }
        }
        Ok(())
    }

    fn apply(self, config: &mut DiscordSimConfig) {
        if let Some(ms) = self.latency_ms {
            config.latency = Duration::from_millis(ms);
        }
        if let Some(limit) = self.global_limit_per_sec {
            config.global_limit_per_sec = limit;
        }
        if let Some(limit) = self.invalid_request_limit {
            config.invalid_request_limit = limit;
        }
        if let Some(ms) = self.invalid_request_window_ms {
            config.invalid_request_window = Duration::from_millis(ms);
        }
        if let Some(on) = self.rate_limits_enabled {
            config.rate_limits_enabled = on;
        }
        if let Some(on) = self.scope_on_every_response {
            config.scope_on_every_response = on;
        }
        for (route, limit) in self.route_limits.into_iter().flatten() {
            config.route_limits.insert(route, limit.into_limit());
        }
    }
}

/// The config as `GET`/`PATCH /_sim/config` report it (the `PATCH` shape, every field and route present).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigView {
    latency_ms: u128,
    global_limit_per_sec: u32,
    invalid_request_limit: u32,
    invalid_request_window_ms: u128,
    rate_limits_enabled: bool,
    scope_on_every_response: bool,
    route_limits: HashMap<Route, RouteLimitJson>,
}

impl ConfigView {
    fn of(config: &DiscordSimConfig) -> Self {
        Self {
            latency_ms: config.latency.as_millis(),
            global_limit_per_sec: config.global_limit_per_sec,
            invalid_request_limit: config.invalid_request_limit,
            invalid_request_window_ms: config.invalid_request_window.as_millis(),
            rate_limits_enabled: config.rate_limits_enabled,
            scope_on_every_response: config.scope_on_every_response,
            route_limits: Route::ALL
                .into_iter()
                .map(|route| (route, RouteLimitJson::of(&config.route_limit(route))))
                .collect(),
        }
    }
}
