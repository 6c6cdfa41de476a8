//! Every route, in one place.
//!
//! | method | path | family |
//! |---|---|---|
//! | POST | `/v1/groups/{groupId}/rank` | ranking |
//! | POST | `/v1/groups/{groupId}/promote` | ranking |
//! | POST | `/v1/groups/{groupId}/demote` | ranking |
//! | GET | `/v1/groups/{groupId}/rank/{robloxUserId}` | ranking |
//! | GET | `/v1/groups/{groupId}/usage` | ranking |
//! | GET | `/v1/jobs/{jobId}` | ranking |
//! | GET | `/moderation/{guildId}/ban-status/{identifier}` | guild (hot path) |
//! | GET | `/moderation/{guildId}/mute-status/{identifier}` | guild |
//! | GET | `/moderation/{guildId}/roblox/bans/active`, `…/mutes/active` | guild |
//! | POST | `/moderation/{guildId}/roblox/ban`, `unban`, `mute`, `unmute` | guild |
//! | GET | `/shield/check/{robloxId}` | guild |
//! | POST | `/shield/batch`, `/shield/import` | guild |
//! | POST | `/roblox/games/register`, `/roblox/servers/heartbeat` | guild |
//! | GET | `/roblox/servers/{serverId}/commands` | guild |
//! | POST | `/roblox/servers/{serverId}/commands/{commandId}/ack` | guild |
//! | GET, POST | `/guilds/{guildId}/audit-logs` | guild |
//! | GET (upgrade) | `/ws/guilds/{guildId}/roblox` | guild (see [`crate::guild::ws`]) |
//! | GET | `/lookup/discord/{id}`, `/lookup/roblox/{id}` | guild |
//! | POST | `/lookup/status`, `/reverse` | guild |
//! | GET | `/guilds/{guildId}/members`, `/verified-users`, `/roles`, `/jobs/{jobId}` | guild |
//! | GET, POST, PATCH, DELETE | `/bindings/list`, `add`, `update`, `remove/{id}`, `test`, `validate` | guild |
//! | POST | `/interactions/sync`, `/interactions/sync/all`, `…/all/cancel`; GET `…/all/progress` | guild |
//! | POST | `/interactions/roles/assign`, `/interactions/roles/remove` | guild |
//! | GET | `/status` | role bridge (see [`crate::rolebridge`]) |
//! | POST | `/applyRoleChanges`, `/roleChange`, `/sendDirectMessage` | role bridge |
//! | * | `/admin/v1/...` | admin (see [`crate::admin`]) |
//! | GET | `/healthz`, `/readyz`, `/metrics` | operations |

use std::time::Instant;

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use roster_core::moderation::ModKind;

use crate::guild::{self, finish};
use crate::http::{self, Request};
use crate::ranking::{self, Write};
use crate::state::AppState;
use crate::{admin, health};

/// Routes one request and records its metrics.
pub async fn dispatch(state: &AppState, req: Request) -> Response {
    let started = Instant::now();
    let (family, route, resp) = route(state, &req).await;
    let status = resp.status().as_u16();
    metrics::counter!("roster_http_requests_total", "family" => family, "route" => route, "status" => status_label(status)).increment(1);
    metrics::histogram!("roster_http_request_seconds", "family" => family, "route" => route)
        .record(started.elapsed().as_secs_f64());
    if status >= 500 {
        tracing::warn!(request_id = %req.request_id, method = %req.method, path = %req.path, status, "request failed");
    } else {
        tracing::debug!(request_id = %req.request_id, method = %req.method, path = %req.path, status, "request");
    }
    http::with_header(resp, "x-request-id", &req.request_id)
}

/// The status as a label, without allocating for the usual ones.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    let s: &'static str = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        other => return std::borrow::Cow::Owned(other.to_string()),
    };
    std::borrow::Cow::Borrowed(s)
}

async fn route(state: &AppState, req: &Request) -> (&'static str, &'static str, Response) {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = &req.method;
    match segs.as_slice() {
        ["healthz"] if m == Method::GET => ("ops", "healthz", health::healthz()),
        ["readyz"] if m == Method::GET => ("ops", "readyz", health::readyz(state).await),
        ["metrics"] if m == Method::GET => ("ops", "metrics", health::metrics(state)),
        ["healthz" | "readyz" | "metrics"] => (
            "ops",
            "other",
            http::text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        ),
        ["admin", "v1", ..] => ("admin", "admin", admin::dispatch(state, req).await),
        ["v1", "groups", g, "rank"] => match *m {
            Method::POST => (
                "ranking",
                "rank",
                ranking::write(state, req, g, Write::Set).await,
            ),
            _ => ("ranking", "rank", ranking::method_not_allowed(req, "POST")),
        },
        ["v1", "groups", g, "promote"] => match *m {
            Method::POST => (
                "ranking",
                "promote",
                ranking::write(state, req, g, Write::Promote).await,
            ),
            _ => (
                "ranking",
                "promote",
                ranking::method_not_allowed(req, "POST"),
            ),
        },
        ["v1", "groups", g, "demote"] => match *m {
            Method::POST => (
                "ranking",
                "demote",
                ranking::write(state, req, g, Write::Demote).await,
            ),
            _ => (
                "ranking",
                "demote",
                ranking::method_not_allowed(req, "POST"),
            ),
        },
        ["v1", "groups", g, "rank", u] => match *m {
            Method::GET => (
                "ranking",
                "get_rank",
                ranking::get_rank(state, req, g, u).await,
            ),
            _ => (
                "ranking",
                "get_rank",
                ranking::method_not_allowed(req, "GET"),
            ),
        },
        ["v1", "groups", g, "usage"] => match *m {
            Method::GET => ("ranking", "usage", ranking::get_usage(state, req, g)),
            _ => ("ranking", "usage", ranking::method_not_allowed(req, "GET")),
        },
        ["v1", "jobs", j] => match *m {
            Method::GET => ("ranking", "job", ranking::get_job(state, req, j).await),
            _ => ("ranking", "job", ranking::method_not_allowed(req, "GET")),
        },
        ["moderation", g, "ban-status", id] => match *m {
            Method::GET => ("guild", "ban_status", finish(guild::moderation::ban_status(state, req, g, id))),
            _ => ("guild", "ban_status", guild::method_not_allowed(req, "GET")),
        },
        ["moderation", g, "mute-status", id] => match *m {
            Method::GET => ("guild", "mute_status", finish(guild::moderation::mute_status(state, req, g, id))),
            _ => ("guild", "mute_status", guild::method_not_allowed(req, "GET")),
        },
        ["moderation", g, "roblox", which @ ("bans" | "mutes"), "active"] => match *m {
            Method::GET => {
                let kind = if *which == "bans" { ModKind::Ban } else { ModKind::Mute };
                ("guild", "moderation_active", finish(guild::moderation::active(state, req, g, kind)))
            }
            _ => ("guild", "moderation_active", guild::method_not_allowed(req, "GET")),
        },
        ["moderation", g, "roblox", action @ ("ban" | "unban" | "mute" | "unmute")] => match *m {
            Method::POST => {
                let r = match *action {
                    "ban" => guild::moderation::create(state, req, g, ModKind::Ban).await,
                    "mute" => guild::moderation::create(state, req, g, ModKind::Mute).await,
                    "unban" => guild::moderation::revoke(state, req, g, ModKind::Ban).await,
                    _ => guild::moderation::revoke(state, req, g, ModKind::Mute).await,
                };
                ("guild", "moderation_push", finish(r))
            }
            _ => ("guild", "moderation_push", guild::method_not_allowed(req, "POST")),
        },
        ["shield", "check", id] => match *m {
            Method::GET => ("guild", "shield_check", finish(guild::shield::check(state, req, id))),
            _ => ("guild", "shield_check", guild::method_not_allowed(req, "GET")),
        },
        ["shield", "batch"] => match *m {
            Method::POST => ("guild", "shield_batch", finish(guild::shield::batch(state, req))),
            _ => ("guild", "shield_batch", guild::method_not_allowed(req, "POST")),
        },
        ["shield", "import"] => match *m {
            Method::POST => ("guild", "shield_import", finish(guild::shield::import(state, req).await)),
            _ => ("guild", "shield_import", guild::method_not_allowed(req, "POST")),
        },
        ["roblox", "games", "register"] => match *m {
            Method::POST => ("guild", "games_register", finish(guild::servers::register(state, req).await)),
            _ => ("guild", "games_register", guild::method_not_allowed(req, "POST")),
        },
        ["roblox", "servers", "heartbeat"] => match *m {
            Method::POST => ("guild", "heartbeat", finish(guild::servers::heartbeat(state, req))),
            _ => ("guild", "heartbeat", guild::method_not_allowed(req, "POST")),
        },
        ["roblox", "servers", s, "commands"] => match *m {
            Method::GET => ("guild", "commands", finish(guild::servers::commands(state, req, s).await)),
            _ => ("guild", "commands", guild::method_not_allowed(req, "GET")),
        },
        ["roblox", "servers", s, "commands", c, "ack"] => match *m {
            Method::POST => ("guild", "command_ack", finish(guild::servers::ack(state, req, s, c))),
            _ => ("guild", "command_ack", guild::method_not_allowed(req, "POST")),
        },
        ["guilds", g, "audit-logs"] => match *m {
            Method::GET => ("guild", "audit_list", finish(guild::audit::list(state, req, g))),
            Method::POST => ("guild", "audit_create", finish(guild::audit::create(state, req, g).await)),
            _ => ("guild", "audit", guild::method_not_allowed(req, "GET, POST")),
        },
        ["lookup", "discord", id] => match *m {
            Method::GET => ("guild", "lookup_discord", finish(guild::links::by_discord(state, req, id))),
            _ => ("guild", "lookup_discord", guild::method_not_allowed(req, "GET")),
        },
        ["lookup", "roblox", id] => match *m {
            Method::GET => ("guild", "lookup_roblox", finish(guild::links::by_roblox(state, req, id))),
            _ => ("guild", "lookup_roblox", guild::method_not_allowed(req, "GET")),
        },
        ["lookup", "status"] => match *m {
            Method::POST => ("guild", "lookup_status", finish(guild::links::status(state, req))),
            _ => ("guild", "lookup_status", guild::method_not_allowed(req, "POST")),
        },
        ["reverse"] => match *m {
            Method::POST => ("guild", "reverse", finish(guild::links::reverse(state, req))),
            _ => ("guild", "reverse", guild::method_not_allowed(req, "POST")),
        },
        ["guilds", g, "members"] => match *m {
            Method::GET => ("guild", "members", finish(guild::links::members(state, req, g))),
            _ => ("guild", "members", guild::method_not_allowed(req, "GET")),
        },
        ["guilds", g, "verified-users"] => match *m {
            Method::GET => ("guild", "verified_users", finish(guild::links::verified_users(state, req, g))),
            _ => ("guild", "verified_users", guild::method_not_allowed(req, "GET")),
        },
        ["guilds", g, "roles"] => match *m {
            Method::GET => ("guild", "roles", finish(guild::sync::roles(state, req, g).await)),
            _ => ("guild", "roles", guild::method_not_allowed(req, "GET")),
        },
        ["guilds", g, "jobs", j] => match *m {
            Method::GET => ("guild", "job", finish(guild::sync::job(state, req, g, j))),
            _ => ("guild", "job", guild::method_not_allowed(req, "GET")),
        },
        ["bindings", "list"] => match *m {
            Method::GET => ("guild", "bindings_list", finish(guild::sync::list(state, req))),
            _ => ("guild", "bindings_list", guild::method_not_allowed(req, "GET")),
        },
        ["bindings", "add"] => match *m {
            Method::POST => ("guild", "bindings_add", finish(guild::sync::add(state, req).await)),
            _ => ("guild", "bindings_add", guild::method_not_allowed(req, "POST")),
        },
        ["bindings", "update"] => match *m {
            Method::PATCH => ("guild", "bindings_update", finish(guild::sync::update(state, req).await)),
            _ => ("guild", "bindings_update", guild::method_not_allowed(req, "PATCH")),
        },
        ["bindings", "remove", id] => match *m {
            Method::DELETE => ("guild", "bindings_remove", finish(guild::sync::remove(state, req, id).await)),
            _ => ("guild", "bindings_remove", guild::method_not_allowed(req, "DELETE")),
        },
        ["bindings", "test"] => match *m {
            Method::POST => ("guild", "bindings_test", finish(guild::sync::test(state, req).await)),
            _ => ("guild", "bindings_test", guild::method_not_allowed(req, "POST")),
        },
        ["bindings", "validate"] => match *m {
            Method::POST => ("guild", "bindings_validate", finish(guild::sync::validate(state, req))),
            _ => ("guild", "bindings_validate", guild::method_not_allowed(req, "POST")),
        },
        ["interactions", "sync"] => match *m {
            Method::POST => ("guild", "sync", finish(guild::sync::sync_one(state, req).await)),
            _ => ("guild", "sync", guild::method_not_allowed(req, "POST")),
        },
        ["interactions", "sync", "all"] => match *m {
            Method::POST => ("guild", "sync_all", finish(guild::sync::sync_all(state, req).await)),
            _ => ("guild", "sync_all", guild::method_not_allowed(req, "POST")),
        },
        ["interactions", "sync", "all", "progress"] => match *m {
            Method::GET => ("guild", "sync_progress", finish(guild::sync::progress(state, req))),
            _ => ("guild", "sync_progress", guild::method_not_allowed(req, "GET")),
        },
        ["interactions", "sync", "all", "cancel"] => match *m {
            Method::POST => ("guild", "sync_cancel", finish(guild::sync::cancel(state, req).await)),
            _ => ("guild", "sync_cancel", guild::method_not_allowed(req, "POST")),
        },
        ["interactions", "roles", which @ ("assign" | "remove")] => match *m {
            Method::POST => (
                "guild",
                "roles_manual",
                finish(guild::sync::role(state, req, *which == "assign").await),
            ),
            _ => ("guild", "roles_manual", guild::method_not_allowed(req, "POST")),
        },
        ["status"] => match *m {
            Method::GET => ("role_bridge", "status", crate::rolebridge::status()),
            _ => ("role_bridge", "status", crate::rolebridge::not_found(req)),
        },
        ["applyRoleChanges"] => match *m {
            Method::POST => (
                "role_bridge",
                "apply_role_changes",
                crate::rolebridge::apply_role_changes(state, req).await,
            ),
            _ => ("role_bridge", "apply_role_changes", crate::rolebridge::not_found(req)),
        },
        ["roleChange"] => match *m {
            Method::POST => (
                "role_bridge",
                "role_change",
                crate::rolebridge::role_change(state, req).await,
            ),
            _ => ("role_bridge", "role_change", crate::rolebridge::not_found(req)),
        },
        ["sendDirectMessage"] => match *m {
            Method::POST => (
                "role_bridge",
                "send_direct_message",
                crate::rolebridge::send_direct_message(state, req).await,
            ),
            _ => ("role_bridge", "send_direct_message", crate::rolebridge::not_found(req)),
        },
        ["ws", "guilds", _, "roblox"] => (
            "guild",
            "ws",
            guild::GuildError::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "this endpoint is a websocket: send GET with `Connection: Upgrade` and `Upgrade: websocket`",
            )
            .into_response(),
        ),
        [first, ..] if GUILD_PREFIXES.contains(first) => ("guild", "unknown", guild::not_found(req)),
        _ => ("ranking", "unknown", ranking::not_found(req)),
    }
}

/// First path segments that belong to the guild family (its envelope for unknown routes).
const GUILD_PREFIXES: &[&str] = &[
    "moderation",
    "shield",
    "roblox",
    "guilds",
    "ws",
    "lookup",
    "reverse",
    "bindings",
    "interactions",
    "staff",
];
