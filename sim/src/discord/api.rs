//! The `/api/v10` request pipeline: latency, the Cloudflare edge, routing, authentication, the global limit, the
//! route's bucket, faults; the operations themselves are in `ops`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use super::error::{
    ApiError, cloudflare_banned, cloudflare_browser_signature, message_for_code, rate_limited_body,
};
use super::form::{audit_reason_for_log, parse_snowflake};
use super::ops;
use super::rate_limit::{Quota, retry_after_header};
use super::{DiscordSim, FaultAction, Incoming, LogEntry, RateLimitScope, Route};
use crate::http_util::{json_response, percent_decode, rfc3339};

/// The prefix every API path starts with.
const API_PREFIX: &str = "/api/v10/";

/// The settings one request needs, read once.
#[derive(Clone, Copy)]
struct Settings {
    latency: Duration,
    global_limit: u32,
    invalid_limit: u32,
    invalid_window: Duration,
    enforce: bool,
    scope_always: bool,
}

impl Settings {
    fn read(sim: &DiscordSim) -> Self {
        let config = sim.inner.config.read();
        Self {
            latency: config.latency,
            global_limit: config.global_limit_per_sec,
            invalid_limit: config.invalid_request_limit,
            invalid_window: config.invalid_request_window,
            enforce: config.rate_limits_enabled,
            scope_always: config.scope_on_every_response,
        }
    }
}

/// Handles one request outside `/_sim`, logging it whatever happens (even if the client goes away).
pub(crate) async fn handle(
    sim: &DiscordSim,
    incoming: Incoming,
    cancel: &CancellationToken,
) -> Response {
    let path = if incoming.query.is_empty() {
        incoming.path.clone()
    } else {
        format!("{}?{}", incoming.path, incoming.query)
    };
    let mut record = Record {
        sim: sim.clone(),
        arrived: Utc::now(),
        started: Instant::now(),
        method: incoming.method.to_string(),
        path,
        route: None,
        bot_user_id: None,
        request_body: body_for_log(&incoming.body),
        audit_log_reason: audit_reason_for_log(&incoming.headers),
        fault: None,
        scope: None,
        cloudflare: None,
        finished: false,
    };
    let response = process(sim, &incoming, cancel, &mut record).await;
    record.finish(response)
}

async fn process(
    sim: &DiscordSim,
    incoming: &Incoming,
    cancel: &CancellationToken,
    record: &mut Record,
) -> Response {
    let settings = Settings::read(sim);
    if !sleep_unless_cancelled(settings.latency, cancel).await {
        return shutting_down();
    }
    let ip = incoming
        .remote
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if settings.enforce {
        let banned = sim.inner.invalid.lock().banned(
            ip,
            settings.invalid_limit,
            settings.invalid_window,
            Instant::now(),
        );
        if let Some(left) = banned {
            record.cloudflare = Some("1015 banned".into());
            return cloudflare_banned(retry_after_header(left));
        }
    }
    let has_user_agent = incoming
        .headers
        .get(header::USER_AGENT)
        .is_some_and(|value| !value.as_bytes().iter().all(u8::is_ascii_whitespace));
    if !has_user_agent {
        record.cloudflare = Some("1010 no user agent".into());
        return cloudflare_browser_signature();
    }
    let response = api(sim, incoming, cancel, record, settings).await;
    let status = response.status().as_u16();
    let invalid = matches!(status, 401 | 403 | 429) && record.scope.as_deref() != Some("shared");
    if invalid {
        sim.inner
            .invalid
            .lock()
            .record(ip, settings.invalid_window, Instant::now());
    }
    response
}

/// Routing, authentication, limits, faults and the operation.
async fn api(
    sim: &DiscordSim,
    incoming: &Incoming,
    cancel: &CancellationToken,
    record: &mut Record,
    settings: Settings,
) -> Response {
    let matched = match Matched::parse(&incoming.method, &incoming.path) {
        Ok(matched) => matched,
        Err(err) => return err.into_response(),
    };
    let route = matched.route;
    record.route = Some(route);
    let Some(bot) = bot_of(sim, &incoming.headers) else {
        return ApiError::general(StatusCode::UNAUTHORIZED).into_response();
    };
    record.bot_user_id = Some(bot);

    let limit = sim.inner.config.read().route_limit(route);
    let counted = {
        let now = Instant::now();
        let mut limiter = sim.inner.limiter.lock();
        limiter
            .hit_global(bot, settings.global_limit, settings.enforce, now)
            .map(|()| limiter.hit(bot, matched.major(), &limit, settings.enforce, now))
    };
    let quota = match counted {
        Ok(quota) => quota,
        Err(wait) => {
            record.scope = Some("global".into());
            return global_limited(wait.as_secs_f64());
        }
    };
    if !quota.allowed {
        record.scope = Some("user".into());
        let retry_after = quota.retry_after;
        let mut response = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &rate_limited_body(
                "You are being rate limited.",
                retry_after.as_secs_f64(),
                false,
            ),
        );
        quota.add_headers(&mut response, Some("user"));
        insert_retry_after(&mut response, retry_after);
        return response;
    }

    let fired = sim
        .inner
        .faults
        .lock()
        .fire(route, incoming.method.as_str(), &record.path);
    if let Some((rule_id, action)) = fired {
        record.fault = Some(action.describe(rule_id));
        match action {
            FaultAction::Status { status, code } => {
                let mut response = fault_status(status, code);
                quota.add_headers(&mut response, settings.scope_always.then_some("user"));
                return response;
            }
            FaultAction::RateLimit { scope, retry_after } => {
                record.scope = Some(scope.as_str().into());
                return fault_rate_limit(scope, retry_after, &quota);
            }
            FaultAction::Latency { ms } => {
                if !sleep_unless_cancelled(Duration::from_millis(ms), cancel).await {
                    return shutting_down();
                }
            }
            FaultAction::Hang => {
                cancel.cancelled().await;
                return shutting_down();
            }
        }
    }

    let mut response =
        ops::run(sim, incoming, &matched, bot).unwrap_or_else(ApiError::into_response);
    quota.add_headers(&mut response, settings.scope_always.then_some("user"));
    response
}

/// The bot behind `Authorization: Bot <token>`, if the token is registered.
fn bot_of(sim: &DiscordSim, headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bot ")?;
    sim.bot_user(token)
}

/// A global-scope 429: `Retry-After`, `X-RateLimit-Global`, `X-RateLimit-Scope` and no bucket headers.
fn global_limited(retry_after: f64) -> Response {
    let mut response = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &rate_limited_body("You are being rate limited.", retry_after, true),
    );
    insert_retry_after(&mut response, Duration::from_secs_f64(retry_after.max(0.0)));
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    headers.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
    response
}

fn insert_retry_after(response: &mut Response, retry_after: Duration) {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_header(retry_after)),
    );
}

/// An injected 429 in the given scope.
fn fault_rate_limit(scope: RateLimitScope, retry_after: f64, quota: &Quota) -> Response {
    let wait = Duration::from_secs_f64(retry_after.max(0.0));
    match scope {
        RateLimitScope::Global => global_limited(retry_after),
        RateLimitScope::User => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &rate_limited_body("You are being rate limited.", retry_after, false),
            );
            let exhausted = Quota {
                remaining: 0,
                reset_after: wait,
                ..quota.clone()
            };
            exhausted.add_headers(&mut response, Some("user"));
            insert_retry_after(&mut response, wait);
            response
        }
        RateLimitScope::Shared => {
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &rate_limited_body("The resource is being rate limited.", retry_after, false),
            );
            quota.add_headers(&mut response, Some("shared"));
            insert_retry_after(&mut response, wait);
            response
        }
    }
}

/// An injected error status with Discord's body for `code`.
fn fault_status(status: u16, code: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut error = ApiError::general(status);
    if let Some(code) = code {
        error.code = code;
        if let Some(message) = message_for_code(code) {
            message.clone_into(&mut error.message);
        }
    }
    error.into_response()
}

fn shutting_down() -> Response {
    ApiError::general(StatusCode::SERVICE_UNAVAILABLE).into_response()
}

/// Sleeps for `duration` unless the server shuts down first; false when it did.
async fn sleep_unless_cancelled(duration: Duration, cancel: &CancellationToken) -> bool {
    if duration.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = cancel.cancelled() => false,
    }
}

/// A matched route with its raw (decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    pub(crate) route: Route,
    pub(crate) guild: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) channel: Option<String>,
}

impl Matched {
    /// Matches a path; an unknown path is a 404, a wrong method a 405 (both code 0).
    fn parse(method: &Method, path: &str) -> Result<Matched, RouteError> {
        let not_found = || RouteError::NotFound;
        let rest = path.strip_prefix(API_PREFIX).ok_or_else(not_found)?;
        let segments: Vec<String> = rest
            .split('/')
            .map(percent_decode)
            .collect::<Option<_>>()
            .ok_or_else(not_found)?;
        if segments.iter().any(String::is_empty) {
            return Err(not_found());
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let candidates: &'static [Route] = match segments.as_slice() {
            ["users", "@me"] => &[Route::GetCurrentUser],
            ["users", "@me", "channels"] => &[Route::CreateDm],
            ["guilds", _] => &[Route::GetGuild],
            ["guilds", _, "roles"] => &[Route::ListRoles],
            ["guilds", _, "members"] => &[Route::ListMembers],
            ["guilds", _, "members", _] => &[Route::GetMember, Route::ModifyMember],
            ["guilds", _, "members", _, "roles", _] => {
                &[Route::AddMemberRole, Route::RemoveMemberRole]
            }
            ["guilds", _, "bans", _] => &[Route::GetBan, Route::CreateBan, Route::RemoveBan],
            ["channels", _, "messages"] => &[Route::CreateMessage],
            _ => return Err(not_found()),
        };
        let Some(&route) = candidates
            .iter()
            .find(|route| route.method() == method.as_str())
        else {
            return Err(RouteError::MethodNotAllowed(candidates));
        };
        let owned = |index: usize| segments.get(index).map(|segment| (*segment).to_owned());
        let mut matched = Matched {
            route,
            guild: None,
            user: None,
            role: None,
            channel: None,
        };
        match segments.first() {
            Some(&"guilds") => {
                matched.guild = owned(1);
                matched.user = owned(3);
                matched.role = owned(5);
            }
            Some(&"channels") => matched.channel = owned(1),
            _ => {}
        }
        Ok(matched)
    }

    /// The major parameter's value for the bucket key: the guild or channel id (0 for `/users/@me...`, or when the
    /// segment is not a snowflake; such a request fails validation later).
    fn major(&self) -> u64 {
        self.guild
            .as_deref()
            .or(self.channel.as_deref())
            .and_then(parse_snowflake)
            .unwrap_or(0)
    }
}

/// Why a request matched no route.
#[derive(Debug)]
enum RouteError {
    /// No route has this path: 404 `{"message": "404: Not Found", "code": 0}`.
    NotFound,
    /// The path exists for these routes' methods only: 405 with `Allow`.
    MethodNotAllowed(&'static [Route]),
}

impl RouteError {
    fn into_response(self) -> Response {
        match self {
            RouteError::NotFound => ApiError::general(StatusCode::NOT_FOUND).into_response(),
            RouteError::MethodNotAllowed(routes) => {
                let mut response =
                    ApiError::general(StatusCode::METHOD_NOT_ALLOWED).into_response();
                let allow: Vec<&str> = routes.iter().map(|route| route.method()).collect();
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }
    }
}

fn body_for_log(body: &[u8]) -> Option<serde_json::Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(body).into_owned())
        }),
    )
}

/// Writes the log entry when the request finishes, or with status 499 if the client abandons it.
struct Record {
    sim: DiscordSim,
    arrived: DateTime<Utc>,
    started: Instant,
    method: String,
    path: String,
    route: Option<Route>,
    bot_user_id: Option<u64>,
    request_body: Option<serde_json::Value>,
    audit_log_reason: Option<String>,
    fault: Option<String>,
    scope: Option<String>,
    cloudflare: Option<String>,
    finished: bool,
}

/// The status logged for a request the client gave up on.
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl Record {
    fn finish(mut self, response: Response) -> Response {
        self.write(response.status().as_u16());
        self.finished = true;
        response
    }

    fn write(&mut self, status: u16) {
        let entry = LogEntry {
            seq: 0,
            at: rfc3339(self.arrived),
            method: std::mem::take(&mut self.method),
            path: std::mem::take(&mut self.path),
            route: self.route,
            bot_user_id: self.bot_user_id,
            status,
            request_body: self.request_body.take(),
            audit_log_reason: self.audit_log_reason.take(),
            fault: self.fault.take(),
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            scope: self.scope.take(),
            cloudflare: self.cloudflare.take(),
        };
        self.sim.inner.log.lock().push(entry);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.finished {
            self.write(CLIENT_CLOSED_REQUEST);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<Route, u16> {
        Matched::parse(&method, path)
            .map(|matched| matched.route)
            .map_err(|err| err.into_response().status().as_u16())
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(Method::GET, "/api/v10/users/@me"),
            Ok(Route::GetCurrentUser)
        );
        assert_eq!(
            route(Method::GET, "/api/v10/users/%40me"),
            Ok(Route::GetCurrentUser)
        );
        assert_eq!(
            route(Method::POST, "/api/v10/users/@me/channels"),
            Ok(Route::CreateDm)
        );
        assert_eq!(
            route(Method::PATCH, "/api/v10/guilds/1/members/2"),
            Ok(Route::ModifyMember)
        );
        assert_eq!(
            route(Method::DELETE, "/api/v10/guilds/1/members/2/roles/3"),
            Ok(Route::RemoveMemberRole)
        );
        assert_eq!(
            route(Method::GET, "/api/v10/guilds/1/bans/2"),
            Ok(Route::GetBan)
        );
        assert_eq!(route(Method::POST, "/api/v10/guilds/1/members/2"), Err(405));
        assert_eq!(route(Method::GET, "/api/v9/users/@me"), Err(404));
        assert_eq!(route(Method::GET, "/api/v10/guilds/1/"), Err(404));
        assert_eq!(route(Method::GET, "/api/v10/guilds/1/channels"), Err(404));
    }

    #[test]
    fn major_parameters() {
        let matched =
            Matched::parse(&Method::PUT, "/api/v10/guilds/7/members/2/roles/3").expect("matches");
        assert_eq!((matched.major(), matched.user.as_deref()), (7, Some("2")));
        let matched =
            Matched::parse(&Method::POST, "/api/v10/channels/9/messages").expect("matches");
        assert_eq!(matched.major(), 9);
        let matched = Matched::parse(&Method::GET, "/api/v10/users/@me").expect("matches");
        assert_eq!(matched.major(), 0);
    }
}
