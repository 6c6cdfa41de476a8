//! The role-bridge API (`../shared/reference/role-bridge-api.txt`), byte-compatible with what
//! NamelessMC websites send: `GET /status`, `POST /applyRoleChanges`, `POST /roleChange` (v1 and
//! v2–v4 forms) and `POST /sendDirectMessage`.
//!
//! Wire rules websites rely on:
//! - bodies are JSON sent **without a Content-Type header**; ids come as numbers or strings;
//! - `//applyRoleChanges` (a site URL ending in `/`) is the same route (empty path segments are
//!   ignored router-wide);
//! - authentication is the guild's role-bridge key in the body's `api_key`: a linked website's
//!   own API key (`roster admin guild role-bridge link`, stored sealed) or a key an operator
//!   issued (`roster admin guild role-bridge-key <guild>`); either is checked against its hash,
//!   in constant time;
//! - websites give up after 5 s, so replies come within `discord.role_bridge_deadline`; changes
//!   still running then are reported `pending` (and still applied: the job is durable);
//! - a success reply always carries the `role_changes` array, one entry per requested change,
//!   user and role ids as strings.
//!
//! Decisions where the reference is silent:
//! - `/roleChange` answers every word with HTTP 200 and `text/plain` (the words carry the
//!   outcome). When the deadline passes it answers `fullsuccess` (v2–v4) or `success` (v1): the
//!   changes are accepted and will be applied, which is what the official bot answers.
//! - `/sendDirectMessage` answers JSON like `/applyRoleChanges`: `success` (200), `pending` (202,
//!   still sending), `bad_request`/`invalid_guild`/`not_linked` (400), `unauthorized` (401),
//!   `invalid_user` (404, Discord does not know the user) and `cannot_dm` (403, DMs closed).
//! - A job that fails for another reason (no bot token, Discord refusing the bot) is `error`
//!   with HTTP 500 and a `meta` naming the cause.
//! - Each role-bridge key shares the guild API's per-key limit (`guild_api.rate_limit_per_minute`):
//!   past it, JSON endpoints answer `rate_limited` (HTTP 429 with `Retry-After`) and
//!   `/roleChange` answers `error`.

use roster_core::guilds::{self, GuildRecord};
use roster_core::ids::{GuildId, JobId};
use roster_core::jobs::discord::{
    DirectMessage, DirectMessageJob, DiscordTarget, RoleChange, RoleChangeStatus, RoleChanges,
    RoleChangesJob, RoleChangesResult, codes,
};
use roster_core::jobs::facade::ops;
use roster_core::jobs::kind::Kind;
use roster_core::jobs::{JobRecord, JobStatus};
use roster_core::{audit::Tenant, secrets};
use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::{self, Request, parse_id_value};
use crate::state::AppState;
use crate::wire::bridge::ChangeOutcome;

/// Most changes one `/applyRoleChanges` may carry.
pub const MAX_CHANGES: usize = 250;

/// `GET /status`: `success`, no newline.
pub(crate) fn status() -> Response {
    http::text(StatusCode::OK, "success")
}

/// A JSON reply, fields in the reference's order.
#[derive(serde::Serialize)]
struct Reply<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_changes: Option<Vec<ChangeOutcome>>,
}

fn reply(
    status: StatusCode,
    word: &str,
    meta: Option<String>,
    changes: Option<Vec<ChangeOutcome>>,
) -> Response {
    http::json(
        status,
        &Reply {
            status: word,
            meta,
            role_changes: changes,
        },
    )
}

/// Why authentication failed, in the bridge's words.
enum Refusal {
    BadRequest(String),
    InvalidGuild(String),
    NotLinked,
    Unauthorized,
    Limited(u64),
}

fn parse_body(req: &Request) -> Result<Map<String, Value>, Refusal> {
    // Websites send no Content-Type; whatever they send, the body is JSON.
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Refusal::BadRequest("the body must be a JSON object".into())),
        Err(e) => Err(Refusal::BadRequest(format!("the body is not JSON: {e}"))),
    }
}

fn id(b: &Map<String, Value>, field: &str) -> Result<u64, Refusal> {
    b.get(field)
        .and_then(parse_id_value)
        .ok_or_else(|| Refusal::BadRequest(format!("`{field}` must be an id (number or string)")))
}

/// Checks the guild and the key.
fn authenticate(state: &AppState, b: &Map<String, Value>) -> Result<GuildRecord, Refusal> {
    let guild = id(b, "guild_id")?;
    let key = match b.get("api_key") {
        Some(Value::String(k)) if !k.trim().is_empty() => k.trim(),
        _ => return Err(Refusal::BadRequest("`api_key` is required".into())),
    };
    let gid = GuildId::new(guild).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let g = guilds::get(&state.ctx, gid)
        .map_err(|_| Refusal::InvalidGuild("Roster could not read the guild".into()))?
        .ok_or_else(|| {
            Refusal::InvalidGuild(format!("guild {guild} is not registered with this bot"))
        })?;
    let Some(expected) = &g.discord.role_bridge_key_hash else {
        return Err(Refusal::NotLinked);
    };
    let hash = secrets::token_hash(key);
    if !secrets::constant_time_eq(&hash, expected) {
        metrics::counter!("roster_role_bridge_unauthorized_total").increment(1);
        return Err(Refusal::Unauthorized);
    }
    state.guild_limiter.check(&hash).map_err(Refusal::Limited)?;
    Ok(g)
}

fn refusal_json(r: Refusal) -> Response {
    match r {
        Refusal::BadRequest(m) => reply(StatusCode::BAD_REQUEST, "bad_request", Some(m), None),
        Refusal::InvalidGuild(m) => reply(StatusCode::BAD_REQUEST, "invalid_guild", Some(m), None),
        Refusal::NotLinked => reply(
            StatusCode::BAD_REQUEST,
            "not_linked",
            Some("this guild has no role-bridge key: the operator links the website (`roster admin guild role-bridge link`) or issues a key (`roster admin guild role-bridge-key`)".into()),
            None,
        ),
        Refusal::Unauthorized => reply(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            Some("the api_key is not this guild's role-bridge key".into()),
            None,
        ),
        Refusal::Limited(secs) => http::with_header(
            reply(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Some(format!("too many requests; retry in {secs}s")),
                None,
            ),
            "retry-after",
            &secs.to_string(),
        ),
    }
}

/// Submits a job of kind `K` for the guild and waits within the deadline: its id, and
/// `Some(record)` when it finished or `None` when it is still running.
async fn run<K: Kind>(
    state: &AppState,
    g: &GuildRecord,
    payload: &K::Payload,
) -> Result<(JobId, Option<JobRecord>), String> {
    ops::submit_and_wait::<K>(
        &state.ctx,
        Tenant::Guild(g.id),
        payload,
        json!({"actorKeyId": "role-bridge"}),
        state.ctx.config.discord.role_bridge_deadline,
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "role bridge could not submit a job");
        "Roster could not accept the request; try again shortly".to_owned()
    })
}

fn failure_meta(rec: &JobRecord) -> String {
    rec.error
        .as_ref()
        .map(|e| format!("{}: {}", e.code, e.message))
        .unwrap_or_else(|| "the change failed".into())
}

fn parse_changes(b: &Map<String, Value>) -> Result<Vec<RoleChange>, Refusal> {
    let Some(Value::Array(items)) = b.get("role_changes") else {
        return Err(Refusal::BadRequest(
            "`role_changes` must be an array".into(),
        ));
    };
    if items.len() > MAX_CHANGES {
        return Err(Refusal::BadRequest(format!(
            "at most {MAX_CHANGES} role changes per request"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let Value::Object(c) = c else {
                return Err(Refusal::BadRequest(format!(
                    "`role_changes[{i}]` must be an object"
                )));
            };
            let add = match c.get("action").and_then(Value::as_str) {
                Some("add") => true,
                Some("remove") => false,
                _ => {
                    return Err(Refusal::BadRequest(format!(
                        "`role_changes[{i}].action` must be 'add' or 'remove'"
                    )));
                }
            };
            Ok(RoleChange {
                user_id: id(c, "user_id")?,
                role_id: id(c, "role_id")?,
                add,
            })
        })
        .collect()
}

fn changes_json(changes: &[RoleChange], statuses: &[&str]) -> Vec<ChangeOutcome> {
    changes
        .iter()
        .zip(statuses)
        .map(|(c, s)| ChangeOutcome {
            user_id: c.user_id.to_string(),
            role_id: c.role_id.to_string(),
            status: (*s).to_owned(),
        })
        .collect()
}

const REASON: &str = "Roster role bridge: change requested by the linked website";

/// `POST /applyRoleChanges`
pub(crate) async fn apply_role_changes(state: &AppState, req: &Request) -> Response {
    let parsed = parse_body(req).and_then(|b| {
        let changes = parse_changes(&b)?;
        let g = authenticate(state, &b)?;
        Ok((g, changes))
    });
    let (g, changes) = match parsed {
        Ok(x) => x,
        Err(r) => return refusal_json(r),
    };
    if changes.is_empty() {
        return reply(StatusCode::OK, "success", None, Some(Vec::new()));
    }
    let job = RoleChangesJob {
        target: DiscordTarget::of(&g),
        changes: changes.clone(),
        reason: REASON.into(),
    };
    match run::<RoleChanges>(state, &g, &job).await {
        Err(m) => reply(StatusCode::SERVICE_UNAVAILABLE, "error", Some(m), None),
        Ok((id, None)) => reply(
            StatusCode::OK,
            "success",
            Some(format!(
                "still applying after {} ms; the changes will complete (job {})",
                state.ctx.config.discord.role_bridge_deadline.as_millis(),
                id
            )),
            Some(changes_json(&changes, &vec!["pending"; changes.len()])),
        ),
        Ok((_, Some(done))) if done.status == JobStatus::Succeeded => {
            let statuses = done
                .result
                .and_then(|v| serde_json::from_value::<RoleChangesResult>(v).ok())
                .map(|r| r.statuses)
                .unwrap_or_default();
            let words: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
            reply(
                StatusCode::OK,
                "success",
                None,
                Some(changes_json(&changes, &words)),
            )
        }
        Ok((_, Some(done))) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            Some(failure_meta(&done)),
            None,
        ),
    }
}

fn word(w: &str) -> Response {
    http::text(StatusCode::OK, w.to_owned())
}

fn refusal_word(r: Refusal) -> Response {
    word(match r {
        Refusal::BadRequest(_) => "badparameter",
        Refusal::InvalidGuild(_) => "invguild",
        Refusal::NotLinked => "notlinked",
        Refusal::Unauthorized => "unauthorized",
        Refusal::Limited(_) => "error",
    })
}

/// `POST /roleChange` (v1: `add_role_id`/`remove_role_id`; v2–v4: `roles: [{id, action}]`).
pub(crate) async fn role_change(state: &AppState, req: &Request) -> Response {
    let parsed = parse_body(req).and_then(|b| {
        let user = id(&b, "user_id")?;
        let v1 = !b.contains_key("roles");
        let changes: Vec<RoleChange> = if v1 {
            let mut c = Vec::new();
            for (field, add) in [("add_role_id", true), ("remove_role_id", false)] {
                match b.get(field) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) if s.is_empty() => {}
                    Some(_) => c.push(RoleChange {
                        user_id: user,
                        role_id: id(&b, field)?,
                        add,
                    }),
                }
            }
            if c.is_empty() {
                return Err(Refusal::BadRequest("no role to change".into()));
            }
            c
        } else {
            let Some(Value::Array(items)) = b.get("roles") else {
                return Err(Refusal::BadRequest("`roles` must be an array".into()));
            };
            if items.is_empty() || items.len() > MAX_CHANGES {
                return Err(Refusal::BadRequest(
                    "`roles` must have 1 to 250 entries".into(),
                ));
            }
            items
                .iter()
                .map(|r| {
                    let Value::Object(r) = r else {
                        return Err(Refusal::BadRequest(
                            "`roles` entries must be objects".into(),
                        ));
                    };
                    let add = match r.get("action").and_then(Value::as_str) {
                        Some("add") => true,
                        Some("remove") => false,
                        _ => return Err(Refusal::BadRequest("bad action".into())),
                    };
                    Ok(RoleChange {
                        user_id: user,
                        role_id: id(r, "id")?,
                        add,
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let g = authenticate(state, &b)?;
        Ok((g, changes, v1))
    });
    let (g, changes, v1) = match parsed {
        Ok(x) => x,
        Err(r) => return refusal_word(r),
    };
    let job = RoleChangesJob {
        target: DiscordTarget::of(&g),
        changes,
        reason: REASON.into(),
    };
    let statuses = match run::<RoleChanges>(state, &g, &job).await {
        Err(_) => return word("error"),
        Ok((_, None)) => return word(if v1 { "success" } else { "fullsuccess" }),
        Ok((_, Some(done))) if done.status == JobStatus::Succeeded => done
            .result
            .and_then(|v| serde_json::from_value::<RoleChangesResult>(v).ok())
            .map(|r| r.statuses)
            .unwrap_or_default(),
        Ok((_, Some(done))) => {
            tracing::warn!(guild = %g.id, error = %failure_meta(&done), "role bridge change failed");
            return word("error");
        }
    };
    use RoleChangeStatus as S;
    if statuses.contains(&S::InvalidUser) {
        return word("invuser");
    }
    if v1 {
        if statuses.contains(&S::InvalidRole) {
            return word("invrole");
        }
        if statuses.contains(&S::NoPermission) {
            return word("hierarchy");
        }
        return word("success");
    }
    if statuses
        .iter()
        .any(|s| matches!(s, S::InvalidRole | S::NoPermission))
    {
        word("partsuccess")
    } else {
        word("fullsuccess")
    }
}

/// `POST /sendDirectMessage`
pub(crate) async fn send_direct_message(state: &AppState, req: &Request) -> Response {
    let parsed = parse_body(req).and_then(|b| {
        let user = id(&b, "user_id")?;
        let message = match b.get("message") {
            Some(Value::String(m)) if !m.trim().is_empty() && m.chars().count() <= 2000 => {
                m.clone()
            }
            _ => {
                return Err(Refusal::BadRequest(
                    "`message` must be 1 to 2000 characters".into(),
                ));
            }
        };
        let g = authenticate(state, &b)?;
        Ok((g, user, message))
    });
    let (g, user, content) = match parsed {
        Ok(x) => x,
        Err(r) => return refusal_json(r),
    };
    let job = DirectMessageJob {
        target: DiscordTarget::of(&g),
        user_id: user,
        content,
    };
    match run::<DirectMessage>(state, &g, &job).await {
        Err(m) => reply(StatusCode::SERVICE_UNAVAILABLE, "error", Some(m), None),
        Ok((id, None)) => reply(
            StatusCode::ACCEPTED,
            "pending",
            Some(format!("still sending (job {id})")),
            None,
        ),
        Ok((_, Some(done))) if done.status == JobStatus::Succeeded => {
            reply(StatusCode::OK, "success", None, None)
        }
        Ok((_, Some(done))) => {
            let code = done.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
            let (status, w) = match code {
                codes::CANNOT_DM => (StatusCode::FORBIDDEN, "cannot_dm"),
                codes::NOT_IN_GUILD => (StatusCode::NOT_FOUND, "invalid_user"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "error"),
            };
            reply(status, w, Some(failure_meta(&done)), None)
        }
    }
}

/// A refusal before the body is read or routed (unknown path, body too large or too slow):
/// `bad_request` with the reason, at `status`.
pub fn refusal(status: StatusCode, message: String) -> Response {
    reply(status, "bad_request", Some(message), None)
}
