//! The `/_sim` control API: the HTTP face of [`NamelessSim`]'s control methods (routes listed on
//! [`NamelessSim::serve`]). Not logged, no latency, no failures. Errors are `{"error": "..."}`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::{Incoming, NamelessSim, NamelessSimConfig, RoleChangeRequest};
use crate::control::{ControlResult, body, log_since, no_route, not_allowed, respond};
use crate::http_util::{empty_response, json_response};

pub(crate) async fn handle(sim: &NamelessSim, incoming: &Incoming) -> Response {
    respond(route(sim, incoming).await)
}

async fn route(sim: &NamelessSim, incoming: &Incoming) -> ControlResult {
    let method = &incoming.method;
    let allowed: &[Method] = match incoming.path.as_str() {
        "/_sim/config" => {
            if method == Method::GET {
                return Ok(json_response(
                    StatusCode::OK,
                    &ConfigView::of(&sim.config()),
                ));
            }
            if method == Method::PATCH {
                let patch: ConfigPatch = body(&incoming.body)?;
                if patch.version.as_deref() == Some("") {
                    return Err((StatusCode::BAD_REQUEST, "version must not be empty".into()));
                }
                sim.update_config(|config| patch.apply(config));
                return Ok(json_response(
                    StatusCode::OK,
                    &ConfigView::of(&sim.config()),
                ));
            }
            &[Method::GET, Method::PATCH]
        }
        "/_sim/bot-settings" => {
            if method == Method::GET {
                return Ok(json_response(StatusCode::OK, &sim.bot_settings()));
            }
            &[Method::GET]
        }
        "/_sim/roles" => {
            if method == Method::GET {
                let roles = sim.role_list_json().ok_or_else(|| {
                    (
                        StatusCode::NOT_FOUND,
                        "no role list has been submitted".to_owned(),
                    )
                })?;
                return Ok(json_response(StatusCode::OK, &roles));
            }
            &[Method::GET]
        }
        "/_sim/apply-role-changes" => {
            if method == Method::POST {
                let request: ApplyRoleChanges = body(&incoming.body)?;
                let changes: Vec<RoleChangeRequest> = request
                    .role_changes
                    .iter()
                    .map(|change| RoleChangeRequest {
                        user_id: change.user_id,
                        role_id: change.role_id,
                        add: change.action == Action::Add,
                    })
                    .collect();
                if sim.bot_settings().url.is_none() {
                    return Err((
                        StatusCode::CONFLICT,
                        "no bot URL is stored (discord/update-bot-settings has not set `url`)"
                            .into(),
                    ));
                }
                let reply = sim
                    .apply_role_changes(&changes)
                    .await
                    .map_err(|reason| (StatusCode::BAD_GATEWAY, reason))?;
                return Ok(json_response(StatusCode::OK, &reply));
            }
            &[Method::POST]
        }
        "/_sim/fail-next" => {
            if method == Method::POST {
                let request: FailNext = body(&incoming.body)?;
                if !(400..=599).contains(&request.status) {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("status must be 400 to 599, got {}", request.status),
                    ));
                }
                sim.fail_next(request.count, request.status);
                return Ok(empty_response(StatusCode::NO_CONTENT));
            }
            &[Method::POST]
        }
        "/_sim/log" => {
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
        _ => return Err(no_route(incoming)),
    };
    Err(not_allowed(incoming, allowed))
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
enum Action {
    Add,
    Remove,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RoleChange {
    user_id: u64,
    role_id: u64,
    action: Action,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApplyRoleChanges {
    role_changes: Vec<RoleChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailNext {
    count: u32,
    status: u16,
}

/// `PATCH /_sim/config`: every field optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigPatch {
    api_key: Option<String>,
    version: Option<String>,
    api_enabled: Option<bool>,
    discord_module: Option<bool>,
    friendly_urls: Option<bool>,
    latency_ms: Option<u64>,
}

impl ConfigPatch {
    fn apply(self, config: &mut NamelessSimConfig) {
        if let Some(key) = self.api_key {
            config.api_key = key;
        }
        if let Some(version) = self.version {
            config.version = version;
        }
        if let Some(on) = self.api_enabled {
            config.api_enabled = on;
        }
        if let Some(on) = self.discord_module {
            config.discord_module = on;
        }
        if let Some(on) = self.friendly_urls {
            config.friendly_urls = on;
        }
        if let Some(ms) = self.latency_ms {
            config.latency = Duration::from_millis(ms);
        }
    }
}

/// The config as `GET`/`PATCH /_sim/config` report it (the `PATCH` shape, every field present).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigView {
    api_key: String,
    version: String,
    api_enabled: bool,
    discord_module: bool,
    friendly_urls: bool,
    latency_ms: u128,
}

impl ConfigView {
    fn of(config: &NamelessSimConfig) -> Self {
        Self {
            api_key: config.api_key.clone(),
            version: config.version.clone(),
            api_enabled: config.api_enabled,
            discord_module: config.discord_module,
            friendly_urls: config.friendly_urls,
            latency_ms: config.latency.as_millis(),
        }
    }
}
