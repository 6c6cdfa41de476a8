//! The guild family (`../shared/reference/guild-api.txt`): moderation (the game-server hot
//! path), Shield, the server manager, audit logs.
//!
//! Envelope: `{"status": "success", "code": 200, "message"?, "data"?}`; errors
//! `{"status": "error", "code": <http>, "message": "…", "error": "MACHINE_CODE"}`.
//!
//! Authentication: a guild API key in `X-Api-Key` or `Authorization: Bearer`. The guild a request
//! is about, named by the path (`:guildId`), the `X-Guild-ID` header or a body's `guild_id`, must
//! be the key's guild (403 otherwise); endpoints that name no guild act on the key's. Each key is
//! rate limited (`guild_api.rate_limit_per_minute`; 429 with `Retry-After`).

pub mod audit;
pub mod links;
pub mod moderation;
pub mod servers;
pub mod shield;
pub mod staff;
pub mod sync;
pub mod ws;

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_core::CoreError;
use roster_core::apikeys::{self, ApiKeyRecord, KeyScope};
use roster_core::guilds::{self, GuildRecord};
use roster_core::ids::GuildId;
use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::{self, Request};
use crate::state::AppState;

/// A guild-family error.
#[derive(Debug)]
pub struct GuildError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl GuildError {
    /// An error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 BAD_REQUEST.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// 404 NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// Adds `Retry-After` (seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Status, code, message and `Retry-After` (for families that share the guild keys).
    pub fn into_parts(self) -> (StatusCode, &'static str, String, Option<u64>) {
        (self.status, self.code, self.message, self.retry_after)
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Renders the envelope.
    pub fn into_response(self) -> Response {
        let r = http::json(
            self.status,
            &ErrorEnvelope {
                status: "error",
                code: self.status.as_u16(),
                message: &self.message,
                error: self.code,
                retry_after: self.retry_after,
            },
        );
        match self.retry_after {
            Some(s) => http::with_header(r, "retry-after", &s.to_string()),
            None => r,
        }
    }
}

impl From<CoreError> for GuildError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(w) => GuildError::not_found(format!("{w} not found")),
            CoreError::AlreadyExists(w) => GuildError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!("{w} already exists"),
            ),
            CoreError::Invalid { field, message } => {
                GuildError::bad(format!("`{field}` {message}"))
            }
            CoreError::LimitReached(m) => GuildError::new(StatusCode::FORBIDDEN, "FORBIDDEN", m),
            other => {
                tracing::error!(error = %other, "guild request failed internally");
                GuildError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "Roster could not complete the request; try again shortly",
                )
            }
        }
    }
}

/// A result of the family.
pub type GuildResult = Result<Response, GuildError>;

/// The success envelope, fields in the reference's order.
#[derive(serde::Serialize)]
struct Envelope<'a, D: serde::Serialize> {
    status: &'static str,
    code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
}

/// The error envelope, fields in the reference's order.
#[derive(serde::Serialize)]
struct ErrorEnvelope<'a> {
    status: &'static str,
    code: u16,
    message: &'a str,
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// A success envelope with data.
pub fn ok(data: impl serde::Serialize) -> Response {
    http::json(
        StatusCode::OK,
        &Envelope {
            status: "success",
            code: 200,
            message: None,
            data: Some(data),
        },
    )
}

/// A success envelope with a message and data.
pub fn ok_msg(message: &str, data: Option<impl serde::Serialize>) -> Response {
    http::json(
        StatusCode::OK,
        &Envelope {
            status: "success",
            code: 200,
            message: Some(message),
            data,
        },
    )
}

/// Per-key request limiter.
pub struct KeyLimiter(DefaultKeyedRateLimiter<u64>);

impl std::fmt::Debug for KeyLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyLimiter")
    }
}

impl KeyLimiter {
    /// A limiter allowing `per_minute` requests a minute per key, in bursts of up to a second's
    /// worth (at least 10).
    pub fn new(per_minute: u32) -> Self {
        Self::with_burst(per_minute, per_minute / 60)
    }

    /// A limiter allowing `per_minute` requests a minute per key, in bursts of up to `burst`
    /// (at least 10).
    pub fn with_burst(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("positive");
        let burst = NonZeroU32::new(burst.max(10)).expect("positive");
        Self(RateLimiter::keyed(
            Quota::per_minute(per_minute).allow_burst(burst),
        ))
    }

    /// Counts a request for a key (by its stored hash); `Err(seconds)` when over the limit.
    pub fn check(&self, key_hash: &str) -> Result<(), u64> {
        // The first 64 bits of the key's SHA-256 are plenty to tell keys apart.
        let id = key_hash
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        match self.0.check_key(&id) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                Err(wait.as_secs().max(1))
            }
        }
    }

    /// Forgets idle keys (call periodically).
    pub fn retain_recent(&self) {
        self.0.retain_recent();
    }
}

/// An authenticated guild caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key.
    pub key: Arc<ApiKeyRecord>,
    /// Its guild.
    pub guild: GuildId,
}

fn presented_key(req: &Request) -> Option<&str> {
    if let Some(k) = req
        .header("x-api-key")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Some(k);
    }
    req.header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Authenticates a guild key, applies its rate limit, and checks that every guild the request
/// names is the key's: `named` (the route's own: path, body or query), the `X-Guild-ID` header
/// and a JSON body's `guild_id`. Any of them naming another guild is 403, whichever the others
/// say.
pub fn authenticate(
    state: &AppState,
    req: &Request,
    named: Option<&str>,
) -> Result<Caller, GuildError> {
    let Some(presented) = presented_key(req) else {
        return Err(GuildError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "send the guild API key in X-Api-Key or Authorization: Bearer",
        ));
    };
    let key = match apikeys::authenticate(&state.ctx, presented) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Err(GuildError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "the API key is not recognised (revoked or mistyped?)",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let KeyScope::Guild(guild) = key.scope else {
        return Err(GuildError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this API key belongs to a Roblox group (the ranking API), not to a guild",
        ));
    };
    if let Err(secs) = state.guild_limiter.check(&key.hash) {
        metrics::counter!("roster_guild_rate_limited_total").increment(1);
        let mut e = GuildError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!(
                "this API key is over its limit of {} requests a minute",
                state.ctx.config.guild_api.rate_limit_per_minute
            ),
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    for (source, name) in named_guilds(req, named)? {
        let id: GuildId = name
            .trim()
            .parse()
            .map_err(|e: roster_core::ids::IdError| GuildError::bad(format!("{source}: {e}")))?;
        if id != guild {
            return Err(GuildError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("this API key is not scoped to guild {id} (named by {source})"),
            ));
        }
    }
    Ok(Caller { key, guild })
}

/// Every guild a request names, with where it came from: `named` (the route's), the
/// `X-Guild-ID` header, and the `guild_id` of a JSON object body.
fn named_guilds<'a>(
    req: &'a Request,
    named: Option<&'a str>,
) -> Result<Vec<(&'static str, std::borrow::Cow<'a, str>)>, GuildError> {
    let mut out = Vec::with_capacity(3);
    if let Some(n) = named {
        out.push(("the request", n.into()));
    }
    for h in req.headers.get_all("x-guild-id") {
        let text = h
            .to_str()
            .map_err(|_| GuildError::bad("`X-Guild-ID` must be a Discord id (digits)"))?;
        out.push(("X-Guild-ID", text.into()));
    }
    // Routes that take the guild from the path still must not accept a body naming another.
    if req.body.windows(8).any(|w| w == b"guild_id")
        && let Ok(serde_json::Value::Object(b)) =
            serde_json::from_slice::<serde_json::Value>(&req.body)
        && let Some(g) = body_guild(&b)?
    {
        out.push(("the body's guild_id", g.into()));
    }
    Ok(out)
}

/// The caller's guild record.
pub fn guild_record(state: &AppState, caller: &Caller) -> Result<GuildRecord, GuildError> {
    guilds::get(&state.ctx, caller.guild)?
        .ok_or_else(|| GuildError::not_found(format!("guild {} is not registered", caller.guild)))
}

/// Parses a JSON object body in the family's terms.
pub fn body(req: &Request) -> Result<Map<String, Value>, GuildError> {
    http::json_object(req).map_err(|e| GuildError::bad(e.0))
}

/// The `guild_id` of a body, as text (number or string).
pub fn body_guild(b: &Map<String, Value>) -> Result<Option<String>, GuildError> {
    match b.get("guild_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(GuildError::bad(
            "`guild_id` must be a Discord id (string or number)",
        )),
    }
}

/// An optional string field.
pub fn opt_str(
    b: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, GuildError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(GuildError::bad(format!(
            "`{field}` must be at most {max} characters"
        ))),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(GuildError::bad(format!("`{field}` must be a string"))),
    }
}

/// An optional positive integer field (number or digit string).
pub fn opt_id(b: &Map<String, Value>, field: &str) -> Result<Option<u64>, GuildError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => http::parse_id_value(v)
            .map(Some)
            .ok_or_else(|| GuildError::bad(format!("`{field}` must be a positive integer"))),
    }
}

/// A required positive integer field.
pub fn req_id(b: &Map<String, Value>, field: &str) -> Result<u64, GuildError> {
    opt_id(b, field)?.ok_or_else(|| GuildError::bad(format!("`{field}` is required")))
}

/// Runs a handler and renders its error.
pub fn finish(r: GuildResult) -> Response {
    r.unwrap_or_else(GuildError::into_response)
}
