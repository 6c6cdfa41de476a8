//! The route table: every route of every family declared once — method, path pattern, family,
//! metrics label, handler, request and response types, and the error codes it can return.
//!
//! Dispatch, 404 and 405 (with `Allow`) in the right family's envelope, the metrics labels and
//! the OpenAPI document ([`crate::openapi`]) all come from [`ROUTES`]. A path that matches no
//! route is answered by the family its first segments name ([`Family::of`]).
//!
//! Handlers are `pub(crate)` in their family's module and reached only from here: a handler no
//! entry reaches is dead code, which the build refuses (`cargo clippy -- -D warnings` in CI), and
//! `tests/it/contract.rs` sends a request to every entry to check that it reaches its handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use roster_core::moderation::ModKind;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use crate::guild::{self, finish};
use crate::http::{self, Request};
use crate::ranking::{self, Write};
use crate::state::AppState;
use crate::wire::community as cw;
use crate::wire::guild::{self as gw, Data as GData};
use crate::{admin, admin_discord, admin_guilds, community, health, rolebridge, wire};

/// An API family: who calls it, how it authenticates, and its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/v1/…` (`../shared/reference/ranking-api.txt`): group API keys in `X-Api-Key`.
    Ranking,
    /// Game servers, bots and dashboards (`guild-api.txt`): guild keys.
    Guild,
    /// NamelessMC websites (`role-bridge-api.txt`): the key in the body.
    RoleBridge,
    /// `/admin/v1/…`: the operator's bearer token.
    Admin,
    /// `/api/…` (`community-api.txt`).
    Community,
    /// Health, readiness, metrics and this document.
    Ops,
}

/// First path segments that belong to the guild family.
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

/// Paths of the role bridge (NamelessMC's bot API).
const BRIDGE_PATHS: &[&str] = &[
    "status",
    "applyRoleChanges",
    "roleChange",
    "sendDirectMessage",
];

impl Family {
    /// The metrics label and the OpenAPI tag.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ranking => "ranking",
            Family::Guild => "guild",
            Family::RoleBridge => "role_bridge",
            Family::Admin => "admin",
            Family::Community => "community",
            Family::Ops => "ops",
        }
    }

    /// The family a path belongs to, by its first segments (also for paths no route matches).
    pub fn of(segments: &[&str]) -> Family {
        match segments {
            ["admin", ..] => Family::Admin,
            ["api", ..] => Family::Community,
            ["healthz" | "readyz" | "metrics" | "openapi.json"] => Family::Ops,
            [one] if BRIDGE_PATHS.contains(one) => Family::RoleBridge,
            [first, ..] if GUILD_PREFIXES.contains(first) => Family::Guild,
            _ => Family::Ranking,
        }
    }

    /// An error in the family's envelope.
    pub fn error(self, status: StatusCode, code: &'static str, message: String) -> Response {
        match self {
            Family::Ranking => ranking::ApiError::new(status, code, message).into_response(),
            Family::Guild => guild::GuildError::new(status, code, message).into_response(),
            Family::Admin => admin::AdminError::new(status, code, message).into_response(),
            Family::RoleBridge => rolebridge::refusal(status, message),
            Family::Community => http::json(
                status,
                &wire::CommunityError {
                    success: false,
                    error: code.to_owned(),
                    message,
                },
            ),
            Family::Ops => http::text(status, format!("{message}\n")),
        }
    }

    /// No route has this path.
    pub fn not_found(self, req: &Request) -> Response {
        self.error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no route {} {}", req.method, req.path),
        )
    }

    /// Routes have this path, none this method. The role bridge answers 404 as the websites'
    /// own bot does.
    pub fn method_not_allowed(self, req: &Request, allow: &str) -> Response {
        if self == Family::RoleBridge {
            return self.not_found(req);
        }
        let r = self.error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{} is not allowed on {}; use {allow}", req.method, req.path),
        );
        http::with_header(r, "allow", allow)
    }

    /// How callers of the family authenticate (the OpenAPI security requirement).
    pub fn auth(self) -> Auth {
        match self {
            Family::Ranking => Auth::GroupKey,
            Family::Guild | Family::Community => Auth::GuildKey,
            Family::Admin => Auth::AdminToken,
            Family::RoleBridge | Family::Ops => Auth::None,
        }
    }

    /// Error codes every route of the family can return (authentication, limits, bodies,
    /// routing, availability).
    pub fn common_codes(self) -> &'static [&'static str] {
        match self {
            Family::Ranking => &[
                "INVALID_API_KEY",
                "BAD_REQUEST",
                "NOT_FOUND",
                "METHOD_NOT_ALLOWED",
                "PAYLOAD_TOO_LARGE",
                "REQUEST_TIMEOUT",
                "SERVICE_UNAVAILABLE",
            ],
            Family::Guild | Family::Community => &[
                "UNAUTHORIZED",
                "FORBIDDEN",
                "RATE_LIMITED",
                "BAD_REQUEST",
                "NOT_FOUND",
                "METHOD_NOT_ALLOWED",
                "PAYLOAD_TOO_LARGE",
                "REQUEST_TIMEOUT",
                "SERVICE_UNAVAILABLE",
            ],
            Family::Admin => &[
                "UNAUTHORIZED",
                "BAD_REQUEST",
                "NOT_FOUND",
                "METHOD_NOT_ALLOWED",
                "PAYLOAD_TOO_LARGE",
                "REQUEST_TIMEOUT",
                "SERVICE_UNAVAILABLE",
            ],
            Family::RoleBridge | Family::Ops => &[],
        }
    }
}

/// How a route authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nothing (or, for the role bridge, a key inside the body).
    None,
    /// A group API key in `X-Api-Key`.
    GroupKey,
    /// A guild API key in `X-Api-Key` or `Authorization: Bearer`.
    GuildKey,
    /// The operator's token as `Authorization: Bearer`.
    AdminToken,
}

/// A handler's future.
pub type BoxFut<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// A handler: the state, the request and the path parameters in pattern order. Handlers that
/// never wait are called without a future (the game-server hot path allocates nothing for it).
#[derive(Clone, Copy)]
pub enum Handler {
    /// Answers at once.
    Sync(for<'a> fn(&'a AppState, &'a Request, &'a [&'a str]) -> Response),
    /// Waits (the store's flush, a job's outcome, an upstream read).
    Async(for<'a> fn(&'a AppState, &'a Request, &'a [&'a str]) -> BoxFut<'a>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Sync(_) => "Handler::Sync",
            Handler::Async(_) => "Handler::Async",
        })
    }
}

/// Makes a [`Handler::Sync`] from `|state, req, params| expr`.
macro_rules! now {
    (|$s:ident, $r:ident, $p:ident| $body:expr) => {{
        #[allow(unused_variables)]
        fn h<'a>($s: &'a AppState, $r: &'a Request, $p: &'a [&'a str]) -> Response {
            $body
        }
        Handler::Sync(h)
    }};
}

/// Makes a [`Handler::Async`] from `|state, req, params| expr` (the expression may `.await`).
macro_rules! wait {
    (|$s:ident, $r:ident, $p:ident| $body:expr) => {{
        #[allow(unused_variables)]
        fn h<'a>($s: &'a AppState, $r: &'a Request, $p: &'a [&'a str]) -> BoxFut<'a> {
            Box::pin(async move { $body })
        }
        Handler::Async(h)
    }};
}

/// A JSON Schema of a wire type, in the document's components.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn inline_schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// JSON of a wire type.
    Json(SchemaFn),
    /// Plain text.
    Text,
}

/// One declared response.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// Status, or a class such as `2XX`.
    pub status: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Its body.
    pub body: Body,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// Method.
    pub method: Method,
    /// Path pattern, `{name}` for a parameter.
    pub path: &'static str,
    /// Family (envelope, authentication, tag).
    pub family: Family,
    /// Metrics label (`route` on `roster_http_*`); routes of one operation may share one.
    pub label: &'static str,
    /// The OpenAPI `operationId` (unique).
    pub id: &'static str,
    /// One line for the document.
    pub summary: &'static str,
    /// How it authenticates.
    pub auth: Auth,
    /// The request body's type.
    pub request: Option<SchemaFn>,
    /// The query parameters, as the properties of a type (inlined).
    pub query: Option<SchemaFn>,
    /// Successful answers.
    pub answers: Vec<Answer>,
    /// Error codes beyond the family's common ones.
    pub codes: &'static [&'static str],
    /// The handler.
    pub handler: Handler,
    pattern: Vec<Seg>,
    metrics: RouteMetrics,
}

/// The usual statuses, with their labels: a route keeps a `roster_http_requests_total` handle
/// for each, and their labels are not allocated.
const COMMON_STATUSES: [(u16, &str); 14] = [
    (200, "200"),
    (201, "201"),
    (202, "202"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (409, "409"),
    (413, "413"),
    (429, "429"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
];

/// A route's `roster_http_*` handles, registered on first use: a request records into them
/// instead of building two label sets and looking them up in the registry (label clones and
/// registry lookups were on every request's `perf` profile).
#[derive(Default)]
struct RouteMetrics {
    seconds: OnceLock<metrics::Histogram>,
    requests: [OnceLock<metrics::Counter>; COMMON_STATUSES.len()],
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics").finish_non_exhaustive()
    }
}

impl RouteMetrics {
    fn record(&self, family: &'static str, route: &'static str, status: u16, seconds: f64) {
        match COMMON_STATUSES.iter().position(|(s, _)| *s == status) {
            Some(i) => self.requests[i]
                .get_or_init(|| requests_counter(family, route, status))
                .increment(1),
            None => requests_counter(family, route, status).increment(1),
        }
        self.seconds
            .get_or_init(|| seconds_histogram(family, route))
            .record(seconds);
    }
}

fn requests_counter(family: &'static str, route: &'static str, status: u16) -> metrics::Counter {
    metrics::counter!("roster_http_requests_total", "family" => family, "route" => route, "status" => status_label(status))
}

fn seconds_histogram(family: &'static str, route: &'static str) -> metrics::Histogram {
    metrics::histogram!("roster_http_request_seconds", "family" => family, "route" => route)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(&'static str),
    Param(&'static str),
}

impl Route {
    fn new(
        method: Method,
        path: &'static str,
        family: Family,
        label: &'static str,
        summary: &'static str,
        handler: Handler,
    ) -> Self {
        let pattern = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Seg::Param(name),
                    None => Seg::Lit(s),
                },
            )
            .collect();
        Self {
            method,
            path,
            family,
            label,
            id: label,
            summary,
            auth: family.auth(),
            request: None,
            query: None,
            answers: Vec::new(),
            codes: &[],
            handler,
            pattern,
            metrics: RouteMetrics::default(),
        }
    }

    /// Sets the `operationId` (when the label is shared).
    fn id(mut self, id: &'static str) -> Self {
        self.id = id;
        self
    }

    /// The request body.
    fn body<T: JsonSchema>(mut self) -> Self {
        self.request = Some(schema_of::<T>);
        self
    }

    /// The query parameters: the fields of `T`.
    fn query<T: JsonSchema>(mut self) -> Self {
        self.query = Some(inline_schema_of::<T>);
        self
    }

    /// A JSON answer.
    fn ok<T: JsonSchema>(mut self, status: &'static str, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            body: Body::Json(schema_of::<T>),
        });
        self
    }

    /// A text answer.
    fn text(mut self, status: &'static str, description: &'static str) -> Self {
        self.answers.push(Answer {
            status,
            description,
            body: Body::Text,
        });
        self
    }

    /// Route-specific error codes.
    fn codes(mut self, codes: &'static [&'static str]) -> Self {
        self.codes = codes;
        self
    }

    /// No authentication (or a key in the body).
    fn open(mut self) -> Self {
        self.auth = Auth::None;
        self
    }

    /// The path parameters' names, in order.
    pub fn params(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.pattern.iter().filter_map(|s| match s {
            Seg::Param(p) => Some(*p),
            Seg::Lit(_) => None,
        })
    }

    /// Whether `segments` fit the pattern; fills `params`.
    fn matches<'s>(&self, segments: &[&'s str], params: &mut [&'s str; MAX_PARAMS]) -> bool {
        if self.pattern.len() != segments.len() {
            return false;
        }
        let mut n = 0;
        for (p, s) in self.pattern.iter().zip(segments) {
            match p {
                Seg::Lit(l) if l != s => return false,
                Seg::Lit(_) => {}
                Seg::Param(_) => {
                    params[n] = s;
                    n += 1;
                }
            }
        }
        true
    }

    fn param_count(&self) -> usize {
        self.params().count()
    }
}

/// Most parameters a path has.
const MAX_PARAMS: usize = 4;

/// What the table says about a request.
#[derive(Debug)]
pub enum Found<'r, 's> {
    /// A route, with its parameters.
    Route(&'r Route, [&'s str; MAX_PARAMS]),
    /// The path exists with other methods (`Allow`).
    WrongMethod(&'r Route, String),
    /// No route has the path.
    NotFound(Family),
}

/// Looks a request up.
pub fn find<'s>(method: &Method, segments: &[&'s str]) -> Found<'static, 's> {
    let mut params = [""; MAX_PARAMS];
    let mut same_path: Option<&'static Route> = None;
    let mut allow = String::new();
    for r in ROUTES.iter() {
        if !r.matches(segments, &mut params) {
            continue;
        }
        if r.method == *method {
            return Found::Route(r, params);
        }
        same_path.get_or_insert(r);
        if !allow.is_empty() {
            allow.push_str(", ");
        }
        allow.push_str(r.method.as_str());
    }
    match same_path {
        Some(r) => Found::WrongMethod(r, allow),
        None => Found::NotFound(Family::of(segments)),
    }
}

/// Routes one request and records its metrics.
pub async fn dispatch(state: &AppState, req: Request) -> Response {
    let started = Instant::now();
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let (family, route, resp) = match find(&req.method, &segs) {
        Found::Route(r, params) => {
            let resp = match admin_gate(state, &req, r.family) {
                Some(refused) => refused,
                None => {
                    let p = &params[..r.param_count()];
                    match r.handler {
                        Handler::Sync(h) => h(state, &req, p),
                        Handler::Async(h) => h(state, &req, p).await,
                    }
                }
            };
            (r.family, Some(r), resp)
        }
        Found::WrongMethod(r, allow) => {
            let resp = admin_gate(state, &req, r.family)
                .unwrap_or_else(|| r.family.method_not_allowed(&req, &allow));
            (r.family, Some(r), resp)
        }
        Found::NotFound(f) => {
            let resp = admin_gate(state, &req, f).unwrap_or_else(|| f.not_found(&req));
            (f, None, resp)
        }
    };
    drop(segs);
    let family = family.name();
    let status = resp.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    match route {
        Some(r) => r.metrics.record(family, r.label, status, seconds),
        None => {
            requests_counter(family, "unknown", status).increment(1);
            seconds_histogram(family, "unknown").record(seconds);
        }
    }
    if status >= 500 {
        tracing::warn!(request_id = %req.request_id, method = %req.method, path = %req.path, status, "request failed");
    } else {
        tracing::debug!(request_id = %req.request_id, method = %req.method, path = %req.path, status, "request");
    }
    http::with_header(resp, "x-request-id", &req.request_id)
}

/// The admin family answers 401 before anything else, so unknown admin paths are not probed
/// without the token.
fn admin_gate(state: &AppState, req: &Request, family: Family) -> Option<Response> {
    (family == Family::Admin)
        .then(|| admin::authorize(state, req).err())
        .flatten()
        .map(admin::AdminError::into_response)
}

/// The status as a label, without allocating for the usual ones.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    match COMMON_STATUSES.iter().find(|(s, _)| *s == status) {
        Some((_, label)) => std::borrow::Cow::Borrowed(label),
        None => std::borrow::Cow::Owned(status.to_string()),
    }
}

fn admin_result(r: Result<Response, admin::AdminError>) -> Response {
    r.unwrap_or_else(admin::AdminError::into_response)
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

use Family::{Admin, Community, Guild, Ops, Ranking, RoleBridge};

/// Guild-family codes beyond the common ones, by area.
const MOD_CODES: &[&str] = &["CONFLICT", "ROBLOX_API_ERROR"];
const SYNC_CODES: &[&str] = &[
    "CONFLICT",
    "NOT_VERIFIED",
    "NOT_IN_GUILD",
    "UNKNOWN_ROLE",
    "NO_PERMISSION",
    "DISCORD_NOT_CONFIGURED",
    "DISCORD_API_ERROR",
    "ROBLOX_API_ERROR",
    "SYNC_IN_PROGRESS",
    "NO_SYNC_RUNNING",
    "INTERNAL",
];
const ADMIN_CODES: &[&str] = &["CONFLICT", "LIMIT_REACHED"];
const ADMIN_WEBSITE_CODES: &[&str] = &[
    "BRIDGE_URL_REQUIRED",
    "DISCORD_NOT_CONFIGURED",
    "WEBSITE_KEY_REJECTED",
    "WEBSITE_API_DISABLED",
    "WEBSITE_NO_DISCORD_MODULE",
    "WEBSITE_NOT_NAMELESS",
    "WEBSITE_REFUSED",
    "WEBSITE_UNREACHABLE",
];
const ADMIN_SYNC_CODES: &[&str] = &[
    "CONFLICT",
    "SYNC_IN_PROGRESS",
    "NO_SYNC_RUNNING",
    "SYNC_TOO_SOON",
];
const WRITE_CODES: &[&str] = &[
    "FORBIDDEN",
    "GROUP_NOT_FOUND",
    "FEATURE_NOT_AVAILABLE",
    "USER_BLACKLISTED",
    "NO_MATCHING_RULE",
    "ROBLOX_API_ERROR",
    "CONFLICT",
];
const READ_CODES: &[&str] = &["FORBIDDEN", "GROUP_NOT_FOUND", "ROBLOX_API_ERROR"];

/// Staff leave codes.
const STAFF_LOA_CODES: &[&str] = &["LOA_ALREADY_ACTIVE", "LOA_FINISHED"];
/// Staff lookup codes.
const STAFF_CODES: &[&str] = &["NOT_STAFF"];
/// Staff session codes.
const STAFF_SESSION_CODES: &[&str] = &["NOT_STAFF"];
/// Quota codes.
const STAFF_QUOTA_CODES: &[&str] = &["TOO_MANY_QUOTAS"];
/// Pending action codes.
const STAFF_PENDING_CODES: &[&str] = &["ALREADY_DECIDED"];

/// Community-family codes beyond the common ones.
const C_GROUP_READ: &[&str] = &["NO_MAIN_GROUP", "GROUP_NOT_FOUND", "ROBLOX_API_ERROR"];
const C_JOIN: &[&str] = &[
    "NO_MAIN_GROUP",
    "GROUP_NOT_FOUND",
    "JOIN_REQUEST_NOT_FOUND",
    "JOIN_REQUEST_ALREADY_HANDLED",
    "ROBLOX_API_ERROR",
];
const C_RANK: &[&str] = &[
    "NO_MAIN_GROUP",
    "GROUP_NOT_FOUND",
    "FEATURE_NOT_AVAILABLE",
    "USER_BLACKLISTED",
    "NO_MATCHING_RULE",
    "USER_NOT_IN_GROUP",
    "ROBLOX_API_ERROR",
];
const C_XP: &[&str] = &["REFERENCE_REUSED"];
const C_MEDAL: &[&str] = &["UNKNOWN_MEDAL", "MEDAL_ALREADY_AWARDED", "MEDAL_NOT_HELD"];
const C_CERT: &[&str] = &[
    "UNKNOWN_CERTIFICATION",
    "CERTIFICATION_ALREADY_AWARDED",
    "CERTIFICATION_NOT_HELD",
];
const C_EP: &[&str] = &["UNKNOWN_COMPANY"];
const C_LOA: &[&str] = &["LOA_ALREADY_ACTIVE", "NO_ACTIVE_LOA"];

/// Every route.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(table);

#[rustfmt::skip]
fn table() -> Vec<Route> {
    vec![
        // ── operations ──────────────────────────────────────────────────────────────────────
        Route::new(GET, "/healthz", Ops, "healthz", "Liveness: the process answers",
            now!(|s, r, p| health::healthz())).text("200", "`ok`"),
        Route::new(GET, "/readyz", Ops, "readyz", "Readiness: store, queue backend and workers usable",
            wait!(|s, r, p| health::readyz(s).await))
            .ok::<wire::Readiness>("200", "Ready").ok::<wire::Readiness>("503", "Not ready, with the reason"),
        Route::new(GET, "/metrics", Ops, "metrics", "Prometheus metrics",
            wait!(|s, r, p| health::metrics(s).await)).text("200", "Prometheus text").text("404", "Metrics are disabled"),
        Route::new(GET, "/openapi.json", Ops, "openapi", "This document",
            now!(|s, r, p| crate::openapi::serve())).ok::<wire::AdminOk>("200", "OpenAPI 3.1"),

        // ── ranking ─────────────────────────────────────────────────────────────────────────
        Route::new(POST, "/v1/groups/{groupId}/rank", Ranking, "rank", "Set a member's rank",
            wait!(|s, r, p| ranking::write(s, r, p[0], Write::Set).await))
            .body::<wire::SetRankBody>().codes(WRITE_CODES)
            .ok::<wire::RankOutcome>("200", "Done").ok::<wire::Accepted>("202", "Accepted; poll the job"),
        Route::new(POST, "/v1/groups/{groupId}/promote", Ranking, "promote", "Promote a member by the group's rules",
            wait!(|s, r, p| ranking::write(s, r, p[0], Write::Promote).await))
            .body::<wire::MemberBody>().codes(WRITE_CODES)
            .ok::<wire::RankOutcome>("200", "Done").ok::<wire::Accepted>("202", "Accepted; poll the job"),
        Route::new(POST, "/v1/groups/{groupId}/demote", Ranking, "demote", "Demote a member by the group's rules",
            wait!(|s, r, p| ranking::write(s, r, p[0], Write::Demote).await))
            .body::<wire::MemberBody>().codes(WRITE_CODES)
            .ok::<wire::RankOutcome>("200", "Done").ok::<wire::Accepted>("202", "Accepted; poll the job"),
        Route::new(GET, "/v1/groups/{groupId}/rank/{robloxUserId}", Ranking, "get_rank", "A member's rank, read from Roblox",
            wait!(|s, r, p| ranking::get_rank(s, r, p[0], p[1]).await))
            .codes(READ_CODES).ok::<wire::RankView>("200", "The rank"),
        Route::new(GET, "/v1/groups/{groupId}/usage", Ranking, "usage", "The group's usage this period",
            now!(|s, r, p| ranking::get_usage(s, r, p[0])))
            .codes(READ_CODES).ok::<wire::UsageView>("200", "Usage"),
        Route::new(GET, "/v1/jobs/{jobId}", Ranking, "job", "A job's state and outcome",
            wait!(|s, r, p| ranking::get_job(s, r, p[0]).await))
            .codes(&["FORBIDDEN"]).ok::<wire::JobView>("200", "The job"),

        // ── guild: moderation (the game-server hot path) ───────────────────────────────────
        Route::new(GET, "/moderation/{guildId}/ban-status/{identifier}", Guild, "ban_status", "Is a player banned (hot path)",
            now!(|s, r, p| finish(guild::moderation::ban_status(s, r, p[0], p[1])))).ok::<GData<gw::BanStatus<'static>>>("200", "Status"),
        Route::new(GET, "/moderation/{guildId}/mute-status/{identifier}", Guild, "mute_status", "Is a player muted",
            now!(|s, r, p| finish(guild::moderation::mute_status(s, r, p[0], p[1])))).ok::<GData<gw::MuteStatus<'static>>>("200", "Status"),
        Route::new(GET, "/moderation/{guildId}/roblox/bans/active", Guild, "moderation_active", "Active bans",
            now!(|s, r, p| finish(guild::moderation::active(s, r, p[0], ModKind::Ban)))).id("bans_active").ok::<GData<gw::ActiveBans>>("200", "Bans"),
        Route::new(GET, "/moderation/{guildId}/roblox/mutes/active", Guild, "moderation_active", "Active mutes",
            now!(|s, r, p| finish(guild::moderation::active(s, r, p[0], ModKind::Mute)))).id("mutes_active").ok::<GData<gw::ActiveMutes>>("200", "Mutes"),
        Route::new(POST, "/moderation/{guildId}/roblox/ban", Guild, "moderation_push", "Ban a player in every server",
            wait!(|s, r, p| finish(guild::moderation::create(s, r, p[0], ModKind::Ban).await))).id("ban")
            .body::<gw::PushBody>().codes(MOD_CODES).ok::<GData<gw::Banned>>("200", "Banned"),
        Route::new(POST, "/moderation/{guildId}/roblox/mute", Guild, "moderation_push", "Mute a player in every server",
            wait!(|s, r, p| finish(guild::moderation::create(s, r, p[0], ModKind::Mute).await))).id("mute")
            .body::<gw::PushBody>().codes(MOD_CODES).ok::<GData<gw::Muted>>("200", "Muted"),
        Route::new(POST, "/moderation/{guildId}/roblox/unban", Guild, "moderation_push", "Lift a ban",
            wait!(|s, r, p| finish(guild::moderation::revoke(s, r, p[0], ModKind::Ban).await))).id("unban")
            .body::<gw::PushBody>().codes(MOD_CODES).ok::<GData<gw::Unbanned>>("200", "Unbanned, or was not banned"),
        Route::new(POST, "/moderation/{guildId}/roblox/unmute", Guild, "moderation_push", "Lift a mute",
            wait!(|s, r, p| finish(guild::moderation::revoke(s, r, p[0], ModKind::Mute).await))).id("unmute")
            .body::<gw::PushBody>().codes(MOD_CODES).ok::<GData<gw::Unmuted>>("200", "Unmuted, or was not muted"),

        // ── guild: Shield ───────────────────────────────────────────────────────────────────
        Route::new(GET, "/shield/check/{robloxId}", Guild, "shield_check", "Is a player flagged by Shield",
            now!(|s, r, p| finish(guild::shield::check(s, r, p[0])))).ok::<GData<gw::ShieldVerdict<'static>>>("200", "Verdict"),
        Route::new(POST, "/shield/batch", Guild, "shield_batch", "Check many players",
            now!(|s, r, p| finish(guild::shield::batch(s, r)))).body::<gw::ShieldBatchBody>().ok::<GData<gw::ShieldBatch>>("200", "The flagged ones"),
        Route::new(POST, "/shield/import", Guild, "shield_import", "Import flags",
            wait!(|s, r, p| finish(guild::shield::import(s, r).await))).body::<gw::ShieldImportBody>().codes(&["CONFLICT"]).ok::<GData<gw::Imported>>("200", "Imported"),

        // ── guild: game servers ─────────────────────────────────────────────────────────────
        Route::new(POST, "/roblox/games/register", Guild, "games_register", "Register a game (universe)",
            wait!(|s, r, p| finish(guild::servers::register(s, r).await))).body::<gw::RegisterBody>().codes(&["CONFLICT"]).ok::<GData<gw::Registered>>("200", "Registered"),
        Route::new(POST, "/roblox/servers/heartbeat", Guild, "heartbeat", "A live server's heartbeat",
            now!(|s, r, p| finish(guild::servers::heartbeat(s, r)))).body::<gw::HeartbeatBody>().ok::<GData<gw::HeartbeatOk>>("200", "Recorded"),
        Route::new(GET, "/roblox/servers/{serverId}/commands", Guild, "commands", "Commands due for a server",
            wait!(|s, r, p| finish(guild::servers::commands(s, r, p[0]).await))).ok::<GData<gw::Commands>>("200", "Commands"),
        Route::new(POST, "/roblox/servers/{serverId}/commands/{commandId}/ack", Guild, "command_ack", "Acknowledge a command",
            now!(|s, r, p| finish(guild::servers::ack(s, r, p[0], p[1])))).ok::<GData<gw::Acked>>("200", "Acknowledged, or nothing pending with that id"),
        Route::new(GET, "/ws/guilds/{guildId}/roblox", Guild, "ws", "Websocket for commands (send an upgrade)",
            now!(|s, r, p| guild::GuildError::bad(
                "this endpoint is a websocket: send GET with `Connection: Upgrade` and `Upgrade: websocket`",
            ).into_response())).text("101", "Switching to the websocket"),

        // ── guild: audit ────────────────────────────────────────────────────────────────────
        Route::new(GET, "/guilds/{guildId}/audit-logs", Guild, "audit_list", "The guild's audit log",
            now!(|s, r, p| finish(guild::audit::list(s, r, p[0])))).ok::<GData<gw::AuditPage<'static>>>("200", "Entries, newest first"),
        Route::new(POST, "/guilds/{guildId}/audit-logs", Guild, "audit_create", "Record an audit entry",
            wait!(|s, r, p| finish(guild::audit::create(s, r, p[0]).await))).body::<gw::AuditBody>().ok::<GData<gw::Created>>("200", "Recorded"),

        // ── guild: account links ────────────────────────────────────────────────────────────
        Route::new(GET, "/lookup/discord/{discordId}", Guild, "lookup_discord", "The Roblox account of a Discord user",
            now!(|s, r, p| finish(guild::links::by_discord(s, r, p[0])))).codes(&["NOT_VERIFIED"]).ok::<GData<gw::Link<'static>>>("200", "Link"),
        Route::new(GET, "/lookup/roblox/{robloxId}", Guild, "lookup_roblox", "The Discord accounts of a Roblox user",
            now!(|s, r, p| finish(guild::links::by_roblox(s, r, p[0])))).codes(&["NOT_VERIFIED"]).ok::<GData<gw::Link<'static>>>("200", "The most recently verified link"),
        Route::new(POST, "/lookup/status", Guild, "lookup_status", "Verification status of many users",
            now!(|s, r, p| finish(guild::links::status(s, r)))).body::<gw::IdsBody>().ok::<GData<gw::StatusResults>>("200", "Statuses"),
        Route::new(POST, "/reverse", Guild, "reverse", "Discord accounts of many Roblox users",
            now!(|s, r, p| finish(guild::links::reverse(s, r)))).body::<gw::IdsBody>().ok::<GData<gw::ReverseResults<'static>>>("200", "Links"),
        Route::new(GET, "/guilds/{guildId}/members", Guild, "members", "Linked members",
            now!(|s, r, p| finish(guild::links::members(s, r, p[0])))).ok::<GData<gw::MembersPage<'static>>>("200", "Members"),
        Route::new(GET, "/guilds/{guildId}/verified-users", Guild, "verified_users", "Verified users",
            now!(|s, r, p| finish(guild::links::verified_users(s, r, p[0])))).ok::<GData<Vec<gw::LinkShort<'static>>>>("200", "Users"),

        // ── guild: roles, bindings, sync ────────────────────────────────────────────────────
        Route::new(GET, "/guilds/{guildId}/roles", Guild, "roles", "The guild's Discord roles",
            wait!(|s, r, p| finish(guild::sync::roles(s, r, p[0]).await))).codes(SYNC_CODES).ok::<GData<gw::Roles>>("200", "Roles"),
        Route::new(GET, "/guilds/{guildId}/jobs/{jobId}", Guild, "job", "A guild job",
            now!(|s, r, p| finish(guild::sync::job(s, r, p[0], p[1])))).id("guild_job").ok::<GData<gw::GuildJob>>("200", "The job"),
        Route::new(GET, "/bindings/list", Guild, "bindings_list", "Role bindings",
            now!(|s, r, p| finish(guild::sync::list(s, r)))).ok::<GData<gw::Bindings>>("200", "Bindings"),
        Route::new(POST, "/bindings/add", Guild, "bindings_add", "Add a role binding",
            wait!(|s, r, p| finish(guild::sync::add(s, r).await))).codes(SYNC_CODES).ok::<GData<gw::BindingCreated>>("200", "Added"),
        Route::new(PATCH, "/bindings/update", Guild, "bindings_update", "Change a role binding",
            wait!(|s, r, p| finish(guild::sync::update(s, r).await))).codes(SYNC_CODES).ok::<gw::Message>("200", "Changed"),
        Route::new(DELETE, "/bindings/remove/{bindingId}", Guild, "bindings_remove", "Remove a role binding",
            wait!(|s, r, p| finish(guild::sync::remove(s, r, p[0]).await))).codes(SYNC_CODES).ok::<gw::Message>("200", "Removed"),
        Route::new(POST, "/bindings/test", Guild, "bindings_test", "Which roles a member would get",
            wait!(|s, r, p| finish(guild::sync::test(s, r).await))).codes(SYNC_CODES).ok::<GData<gw::BindingTest>>("200", "Whether the member matches"),
        Route::new(POST, "/bindings/validate", Guild, "bindings_validate", "Check a binding without saving it",
            now!(|s, r, p| finish(guild::sync::validate(s, r)))).codes(SYNC_CODES).ok::<GData<gw::Validity>>("200", "Verdict"),
        Route::new(POST, "/interactions/sync", Guild, "sync", "Sync one member's roles and nickname",
            wait!(|s, r, p| finish(guild::sync::sync_one(s, r).await))).codes(SYNC_CODES).ok::<GData<gw::MemberSync>>("200", "Synced").ok::<GData<gw::JobAccepted>>("202", "Still running; poll the job"),
        Route::new(POST, "/interactions/sync/all", Guild, "sync_all", "Sync every member",
            wait!(|s, r, p| finish(guild::sync::sync_all(s, r).await))).codes(SYNC_CODES).ok::<GData<gw::SyncStarted>>("200", "Started"),
        Route::new(GET, "/interactions/sync/all/progress", Guild, "sync_progress", "Progress of a sync-all",
            now!(|s, r, p| finish(guild::sync::progress(s, r)))).codes(SYNC_CODES).ok::<GData<gw::SyncRunView>>("200", "Progress"),
        Route::new(POST, "/interactions/sync/all/cancel", Guild, "sync_cancel", "Cancel a sync-all",
            wait!(|s, r, p| finish(guild::sync::cancel(s, r).await))).codes(SYNC_CODES).ok::<GData<gw::SyncRunView>>("200", "Cancelled"),
        Route::new(POST, "/interactions/roles/assign", Guild, "roles_manual", "Give a member a role",
            wait!(|s, r, p| finish(guild::sync::role(s, r, true).await))).id("roles_assign").codes(SYNC_CODES).ok::<GData<gw::RoleChanged>>("200", "Given (or already held)").ok::<GData<gw::JobAccepted>>("202", "Still running; poll the job"),
        Route::new(POST, "/interactions/roles/remove", Guild, "roles_manual", "Take a role from a member",
            wait!(|s, r, p| finish(guild::sync::role(s, r, false).await))).id("roles_remove").codes(SYNC_CODES).ok::<GData<gw::RoleChanged>>("200", "Taken (or not held)").ok::<GData<gw::JobAccepted>>("202", "Still running; poll the job"),

        // ── guild: staff ────────────────────────────────────────────────────────────────────
        Route::new(GET, "/guilds/{guildId}/staff/loa", Guild, "staff_loa_list", "Leaves of absence (filter by staff_id, status)",
            now!(|s, r, p| finish(guild::staff::loa_list(s, r, p[0])))).query::<wire::staff::LoaQuery>().ok::<GData<wire::staff::LoaList>>("200", "Leaves"),
        Route::new(POST, "/guilds/{guildId}/staff/loa", Guild, "staff_loa_create", "Create a leave of absence (a future start is pending)",
            wait!(|s, r, p| finish(guild::staff::loa_create(s, r, p[0]).await))).body::<wire::staff::LoaCreate>().codes(STAFF_LOA_CODES).ok::<GData<gw::Created>>("200", "Created"),
        Route::new(POST, "/guilds/{guildId}/staff/loa/expire", Guild, "staff_loa_expire", "Mark leaves whose end has passed expired",
            wait!(|s, r, p| finish(guild::staff::loa_expire(s, r, p[0]).await))).ok::<GData<wire::staff::Expired>>("200", "How many"),
        Route::new(PATCH, "/guilds/{guildId}/staff/loa/{loaId}", Guild, "staff_loa_update", "Change or cancel a leave of absence",
            wait!(|s, r, p| finish(guild::staff::loa_update(s, r, p[0], p[1]).await))).body::<wire::staff::LoaPatch>().codes(STAFF_LOA_CODES).ok::<gw::Message>("200", "Updated or cancelled"),
        Route::new(DELETE, "/guilds/{guildId}/staff/loa/{loaId}", Guild, "staff_loa_delete", "Delete a leave of absence",
            wait!(|s, r, p| finish(guild::staff::loa_delete(s, r, p[0], p[1]).await))).ok::<gw::Message>("200", "Deleted"),

        Route::new(GET, "/guilds/{guildId}/staff/strikes", Guild, "staff_strikes_list", "Strikes (filter by staff_id, active)",
            now!(|s, r, p| finish(guild::staff::strikes_list(s, r, p[0])))).query::<wire::staff::StaffQuery>().ok::<GData<wire::staff::StrikeList>>("200", "Strikes"),
        Route::new(POST, "/guilds/{guildId}/staff/strikes", Guild, "staff_strike_create", "Issue a strike",
            wait!(|s, r, p| finish(guild::staff::strike_create(s, r, p[0]).await))).body::<wire::staff::StrikeCreate>().ok::<GData<gw::Created>>("200", "Issued"),
        Route::new(POST, "/guilds/{guildId}/staff/strikes/expire", Guild, "staff_strikes_expire", "Record the expiry of strikes whose time is up",
            wait!(|s, r, p| finish(guild::staff::strikes_expire(s, r, p[0]).await))).ok::<GData<wire::staff::Expired>>("200", "How many"),
        Route::new(PATCH, "/guilds/{guildId}/staff/strikes/{strikeId}/update", Guild, "staff_strike_update", "Edit a strike",
            wait!(|s, r, p| finish(guild::staff::strike_update(s, r, p[0], p[1], false).await))).body::<wire::staff::StrikePatch>().ok::<gw::Message>("200", "Updated"),
        Route::new(PATCH, "/guilds/{guildId}/staff/strikes/{strikeId}", Guild, "staff_strike_remove", "Remove a strike (it stops counting, and stays listed)",
            wait!(|s, r, p| finish(guild::staff::strike_update(s, r, p[0], p[1], true).await))).ok::<gw::Message>("200", "Removed"),
        Route::new(DELETE, "/guilds/{guildId}/staff/strikes/{strikeId}", Guild, "staff_strike_delete", "Delete a strike",
            wait!(|s, r, p| finish(guild::staff::strike_delete(s, r, p[0], p[1]).await))).ok::<gw::Message>("200", "Deleted"),
        Route::new(GET, "/guilds/{guildId}/staff/notes", Guild, "staff_notes_list", "Notes about staff (filter by staff_id)",
            now!(|s, r, p| finish(guild::staff::notes_list(s, r, p[0])))).query::<wire::staff::StaffQuery>().ok::<GData<wire::staff::NoteList>>("200", "Notes"),
        Route::new(POST, "/guilds/{guildId}/staff/notes", Guild, "staff_note_create", "Write a note about a staff member",
            wait!(|s, r, p| finish(guild::staff::note_create(s, r, p[0]).await))).body::<wire::staff::NoteCreate>().ok::<GData<wire::staff::NoteView>>("200", "The note"),
        Route::new(PATCH, "/guilds/{guildId}/staff/notes/{noteId}", Guild, "staff_note_update", "Edit a note",
            wait!(|s, r, p| finish(guild::staff::note_update(s, r, p[0], p[1]).await))).body::<wire::staff::NotePatch>().ok::<GData<wire::staff::NoteView>>("200", "The note"),
        Route::new(DELETE, "/guilds/{guildId}/staff/notes/{noteId}", Guild, "staff_note_delete", "Delete a note",
            wait!(|s, r, p| finish(guild::staff::note_delete(s, r, p[0], p[1]).await))).ok::<gw::Message>("200", "Deleted"),

        Route::new(GET, "/staff/members/{guildId}", Guild, "staff_members", "Staff members (Discord members holding a staff role, as the role sync saw them)",
            now!(|s, r, p| finish(guild::staff::members(s, r, p[0])))).ok::<GData<wire::staff::StaffMembers>>("200", "Staff"),
        Route::new(GET, "/staff/permissions/{guildId}/{userId}", Guild, "staff_permissions", "A staff member's permissions",
            now!(|s, r, p| finish(guild::staff::permissions(s, r, p[0], p[1])))).codes(STAFF_CODES).ok::<GData<wire::staff::StaffPermissions>>("200", "Permissions"),
        Route::new(GET, "/guilds/{guildId}/staff/profile/{userId}", Guild, "staff_profile", "A staff member's profile: role, totals, leave, strikes",
            now!(|s, r, p| finish(guild::staff::profile(s, r, p[0], p[1])))).codes(STAFF_CODES).ok::<GData<wire::staff::StaffProfile>>("200", "Profile"),
        Route::new(GET, "/staff/activity/{guildId}", Guild, "staff_activity", "Staff actions, newest first (cursor pagination)",
            now!(|s, r, p| finish(guild::staff::activity_list(s, r, p[0])))).query::<wire::staff::ActivityQuery>().ok::<GData<wire::staff::ActivityList>>("200", "Actions"),
        Route::new(GET, "/staff/stats/{guildId}", Guild, "staff_stats", "Totals of staff activity",
            now!(|s, r, p| finish(guild::staff::stats(s, r, p[0])))).ok::<GData<wire::staff::Stats>>("200", "Totals"),
        Route::new(GET, "/staff/leaderboard/{guildId}", Guild, "staff_leaderboard", "Staff by score (10 per action, 1 per minute active) this week, month or all time",
            now!(|s, r, p| finish(guild::staff::leaderboard(s, r, p[0])))).query::<wire::staff::LeaderboardQuery>().ok::<GData<wire::staff::Leaderboard>>("200", "Leaderboard"),
        Route::new(GET, "/staff/action-types", Guild, "staff_action_types", "Action types of the activity log (built-in and the guild's own)",
            now!(|s, r, _p| finish(guild::staff::action_types(s, r)))).ok::<GData<Vec<String>>>("200", "Types"),
        Route::new(GET, "/guilds/{guildId}/staff/quota", Guild, "staff_quota_list", "Quotas",
            now!(|s, r, p| finish(guild::staff::quota_list(s, r, p[0])))).ok::<GData<wire::staff::QuotaList>>("200", "Quotas"),
        Route::new(POST, "/guilds/{guildId}/staff/quota", Guild, "staff_quota_create", "Create a quota",
            wait!(|s, r, p| finish(guild::staff::quota_create(s, r, p[0]).await))).body::<wire::staff::QuotaBody>().codes(STAFF_QUOTA_CODES).ok::<GData<gw::Created>>("200", "Created"),
        Route::new(PATCH, "/guilds/{guildId}/staff/quota/{quotaId}", Guild, "staff_quota_update", "Change a quota",
            wait!(|s, r, p| finish(guild::staff::quota_change(s, r, p[0], p[1], true).await))).body::<wire::staff::QuotaBody>().ok::<GData<gw::Created>>("200", "Changed"),
        Route::new(DELETE, "/guilds/{guildId}/staff/quota/{quotaId}", Guild, "staff_quota_delete", "Delete a quota",
            wait!(|s, r, p| finish(guild::staff::quota_change(s, r, p[0], p[1], false).await))).ok::<GData<gw::Created>>("200", "Deleted"),
        Route::new(GET, "/guilds/{guildId}/staff/quota/{quotaId}/progress", Guild, "staff_quota_progress", "Progress of staff in scope this period (leave excluded)",
            now!(|s, r, p| finish(guild::staff::quota_progress(s, r, p[0], p[1])))).ok::<GData<wire::staff::Progress>>("200", "Progress"),
        Route::new(GET, "/guilds/{guildId}/staff/quota-pending", Guild, "staff_pending_list", "Actions awaiting approval (missed quotas, strike thresholds)",
            now!(|s, r, p| finish(guild::staff::pending_list(s, r, p[0])))).query::<wire::staff::PendingQuery>().ok::<GData<wire::staff::PendingList>>("200", "Pending"),
        Route::new(POST, "/guilds/{guildId}/staff/quota-pending/{actionId}/approve", Guild, "staff_pending_approve", "Approve a pending action (applies it)",
            wait!(|s, r, p| finish(guild::staff::pending_decide(s, r, p[0], p[1], true).await))).codes(STAFF_PENDING_CODES).ok::<GData<wire::staff::PendingView>>("200", "Approved"),
        Route::new(POST, "/guilds/{guildId}/staff/quota-pending/{actionId}/reject", Guild, "staff_pending_reject", "Reject a pending action",
            wait!(|s, r, p| finish(guild::staff::pending_decide(s, r, p[0], p[1], false).await))).codes(STAFF_PENDING_CODES).ok::<GData<wire::staff::PendingView>>("200", "Rejected"),
        Route::new(POST, "/staff/roblox/verify", Guild, "staff_verify", "Whether a Roblox player is staff, with their in-game permissions",
            now!(|s, r, _p| finish(guild::staff::verify(s, r)))).body::<wire::staff::VerifyBody>().ok::<GData<wire::staff::Verified>>("200", "Answer"),
        Route::new(GET, "/guilds/{guildId}/staff/roblox/{robloxId}/permissions", Guild, "staff_game_permissions", "A Roblox player's in-game permissions",
            now!(|s, r, p| finish(guild::staff::game_permissions(s, r, p[0], p[1])))).ok::<GData<wire::staff::GamePermissions>>("200", "Answer"),
        Route::new(POST, "/staff/roblox/action", Guild, "staff_action", "Log an action a staff member took in a session",
            wait!(|s, r, _p| finish(guild::staff::action(s, r).await))).body::<wire::staff::ActionBody>().codes(STAFF_SESSION_CODES).ok::<GData<wire::staff::IdOnly>>("200", "Logged"),
        Route::new(POST, "/staff/roblox/session/start", Guild, "staff_session_start", "A staff member's session in a game server starts",
            wait!(|s, r, p| finish(guild::staff::session_start(s, r).await))).body::<wire::staff::SessionStart>().codes(STAFF_SESSION_CODES).ok::<GData<wire::staff::SessionStarted>>("200", "Started (or the live one)"),
        Route::new(POST, "/staff/roblox/session/end", Guild, "staff_session_end", "A session ends",
            wait!(|s, r, p| finish(guild::staff::session_end(s, r).await))).body::<wire::staff::SessionRef>().ok::<GData<wire::staff::SessionEnded>>("200", "Ended, with the time credited"),
        Route::new(POST, "/staff/roblox/heartbeat", Guild, "staff_heartbeat", "A session's heartbeat (every 30 s)",
            now!(|s, r, p| finish(guild::staff::session_heartbeat(s, r)))).body::<wire::staff::SessionRef>().ok::<GData<wire::staff::Alive>>("200", "Whether the session is alive"),
        Route::new(POST, "/staff/roblox/heartbeat/batch", Guild, "staff_heartbeat_batch", "Heartbeats of every session on a game server at once (Roster extension)",
            now!(|s, r, p| finish(guild::staff::session_heartbeat_batch(s, r)))).body::<wire::staff::HeartbeatBatch>().ok::<GData<wire::staff::HeartbeatBatchResult>>("200", "Per session, whether alive"),

        // ── role bridge (NamelessMC websites) ──────────────────────────────────────────────
        Route::new(GET, "/status", RoleBridge, "status", "The bot is up (`success`)",
            now!(|s, r, p| rolebridge::status())).text("200", "`success`"),
        Route::new(POST, "/applyRoleChanges", RoleBridge, "apply_role_changes", "Add and remove roles of many members",
            wait!(|s, r, p| rolebridge::apply_role_changes(s, r).await)).body::<wire::bridge::ApplyBody>().ok::<wire::BridgeReply>("2XX", "Outcome per change"),
        Route::new(POST, "/roleChange", RoleBridge, "role_change", "Add and remove roles (older sites)",
            wait!(|s, r, p| rolebridge::role_change(s, r).await)).body::<wire::bridge::RoleChangeBody>().text("200", "A word: `success`, `fullsuccess`, `partsuccess`, `failure`, `error`…"),
        Route::new(POST, "/sendDirectMessage", RoleBridge, "send_direct_message", "Send a member a direct message",
            wait!(|s, r, p| rolebridge::send_direct_message(s, r).await)).body::<wire::bridge::DirectMessageBody>().ok::<wire::BridgeReply>("2XX", "Sent or pending"),

        // ── community (`/api`) ─────────────────────────────────────────────────────────────
        Route::new(GET, "/api/server/info", Community, "c_server_info", "The server's name, member count and icon",
            wait!(|s, r, p| community::finish(community::server_info(s, r).await))).query::<cw::ServerQuery>().codes(&["DISCORD_API_ERROR", "DISCORD_NOT_CONFIGURED"]).ok::<cw::ServerInfo>("200", "The server"),
        Route::new(GET, "/api/user/verified", Community, "c_verified", "Is a Roblox user verified (linked) in the server",
            now!(|s, r, p| community::finish(community::verified(s, r)))).query::<cw::VerifiedQuery>().ok::<cw::Verified>("200", "Whether verified"),
        Route::new(GET, "/api/user/rank", Community, "c_rank", "A user's rank in the main group (or groupId), read from Roblox",
            wait!(|s, r, p| community::finish(community::rank(s, r).await))).query::<cw::GroupUserParams>().codes(C_GROUP_READ).ok::<cw::UserRank>("200", "The rank"),
        Route::new(GET, "/api/xp/get", Community, "c_xp_get", "A user's XP",
            now!(|s, r, p| community::finish(community::xp_get(s, r)))).query::<cw::UserParams>().ok::<cw::XpBalance>("200", "The balance"),
        Route::new(POST, "/api/xp/set", Community, "c_xp_write", "Set a user's XP",
            wait!(|s, r, p| community::finish(community::xp_write(s, r, community::XpWrite::Set).await))).id("c_xp_set")
            .body::<cw::XpBody>().codes(C_XP).ok::<cw::XpBalance>("200", "The new balance"),
        Route::new(POST, "/api/xp/add", Community, "c_xp_write", "Add XP (atomic; `reference` makes it idempotent)",
            wait!(|s, r, p| community::finish(community::xp_write(s, r, community::XpWrite::Add).await))).id("c_xp_add")
            .body::<cw::XpBody>().codes(C_XP).ok::<cw::XpBalance>("200", "The new balance"),
        Route::new(POST, "/api/xp/subtract", Community, "c_xp_write", "Subtract XP (never below zero)",
            wait!(|s, r, p| community::finish(community::xp_write(s, r, community::XpWrite::Subtract).await))).id("c_xp_subtract")
            .body::<cw::XpBody>().codes(C_XP).ok::<cw::XpBalance>("200", "The new balance"),
        Route::new(GET, "/api/group/join-requests", Community, "c_join_list", "Pending join requests of the main group (or groupId)",
            wait!(|s, r, p| community::finish(community::join_requests(s, r).await))).query::<cw::JoinRequestsQuery>().codes(C_GROUP_READ).ok::<cw::JoinRequests>("200", "One page"),
        Route::new(POST, "/api/group/accept-request", Community, "c_join_decide", "Accept a join request",
            wait!(|s, r, p| community::finish(community::join_decide(s, r, true).await))).id("c_join_accept")
            .body::<cw::JoinDecisionBody>().codes(C_JOIN).ok::<cw::JoinDecided>("200", "Accepted").ok::<cw::Queued>("202", "Still running; poll the job"),
        Route::new(POST, "/api/group/deny-request", Community, "c_join_decide", "Decline a join request",
            wait!(|s, r, p| community::finish(community::join_decide(s, r, false).await))).id("c_join_deny")
            .body::<cw::JoinDecisionBody>().codes(C_JOIN).ok::<cw::JoinDecided>("200", "Declined").ok::<cw::Queued>("202", "Still running; poll the job"),
        Route::new(POST, "/api/group/promote", Community, "c_promote", "Promote a user by the group's rules",
            wait!(|s, r, p| community::finish(community::promote(s, r, true).await))).id("c_promote")
            .body::<cw::GroupUserParams>().codes(C_RANK).ok::<cw::RankChanged>("200", "Promoted").ok::<cw::Queued>("202", "Still running; poll the job"),
        Route::new(POST, "/api/group/demote", Community, "c_promote", "Demote a user by the group's rules",
            wait!(|s, r, p| community::finish(community::promote(s, r, false).await))).id("c_demote")
            .body::<cw::GroupUserParams>().codes(C_RANK).ok::<cw::RankChanged>("200", "Demoted").ok::<cw::Queued>("202", "Still running; poll the job"),
        Route::new(GET, "/api/medals/list", Community, "c_medals_list", "The server's medals",
            now!(|s, r, p| community::finish(community::medals_list(s, r)))).query::<cw::ServerQuery>().ok::<cw::Medals>("200", "Medals"),
        Route::new(GET, "/api/medals/user", Community, "c_medals_user", "A user's medals",
            now!(|s, r, p| community::finish(community::medals_user(s, r)))).query::<cw::UserParams>().ok::<cw::Medals>("200", "Medals"),
        Route::new(POST, "/api/medals/award", Community, "c_medal_write", "Award a medal",
            wait!(|s, r, p| community::finish(community::medal_write(s, r, true).await))).id("c_medal_award")
            .body::<cw::MedalBody>().codes(C_MEDAL).ok::<cw::Done>("200", "Awarded"),
        Route::new(POST, "/api/medals/revoke", Community, "c_medal_write", "Revoke a medal",
            wait!(|s, r, p| community::finish(community::medal_write(s, r, false).await))).id("c_medal_revoke")
            .body::<cw::MedalBody>().codes(C_MEDAL).ok::<cw::Done>("200", "Revoked"),
        Route::new(GET, "/api/certifications/list", Community, "c_certs_list", "The server's certifications",
            now!(|s, r, p| community::finish(community::certs_list(s, r)))).query::<cw::ServerQuery>().ok::<cw::Certifications>("200", "Certifications"),
        Route::new(GET, "/api/certifications/user", Community, "c_certs_user", "A user's certifications",
            now!(|s, r, p| community::finish(community::certs_user(s, r)))).query::<cw::UserParams>().ok::<cw::Certifications>("200", "Certifications"),
        Route::new(GET, "/api/certifications/check", Community, "c_certs_check", "Does a user hold a certification",
            now!(|s, r, p| community::finish(community::certs_check(s, r)))).query::<cw::CertificationParams>().codes(&["UNKNOWN_CERTIFICATION"]).ok::<cw::HasCertification>("200", "Whether held"),
        Route::new(POST, "/api/certifications/award", Community, "c_cert_write", "Award a certification",
            wait!(|s, r, p| community::finish(community::cert_write(s, r, true).await))).id("c_cert_award")
            .body::<cw::CertificationParams>().codes(C_CERT).ok::<cw::Done>("200", "Awarded"),
        Route::new(POST, "/api/certifications/revoke", Community, "c_cert_write", "Revoke a certification",
            wait!(|s, r, p| community::finish(community::cert_write(s, r, false).await))).id("c_cert_revoke")
            .body::<cw::CertificationParams>().codes(C_CERT).ok::<cw::Done>("200", "Revoked"),
        Route::new(GET, "/api/ep/get", Community, "c_ep_get", "A user's EP and warning level",
            now!(|s, r, p| community::finish(community::ep_get(s, r)))).query::<cw::UserParams>().ok::<cw::EpStatus>("200", "EP"),
        Route::new(POST, "/api/ep/add", Community, "c_ep_add", "Add EP in a company",
            wait!(|s, r, p| community::finish(community::ep_add(s, r).await))).body::<cw::EpBody>().codes(C_EP).ok::<cw::EpStatus>("200", "EP after"),
        Route::new(GET, "/api/loa/status", Community, "c_loa_status", "A user's leave of absence",
            now!(|s, r, p| community::finish(community::loa_status(s, r)))).query::<cw::UserParams>().ok::<cw::LoaStatus>("200", "Status (times in ms)"),
        Route::new(POST, "/api/loa/start", Community, "c_loa_start", "Start a leave of absence for N days",
            wait!(|s, r, p| community::finish(community::loa_start(s, r).await))).body::<cw::LoaStartBody>().codes(C_LOA).ok::<cw::LoaStatus>("200", "Started"),
        Route::new(POST, "/api/loa/end", Community, "c_loa_end", "End the active leave of absence",
            wait!(|s, r, p| community::finish(community::loa_end(s, r).await))).body::<cw::UserParams>().codes(C_LOA).ok::<cw::LoaStatus>("200", "Ended"),

        // ── admin: groups, keys, rules, blacklist, jobs ─────────────────────────────────────
        Route::new(GET, "/admin/v1/groups", Admin, "groups_list", "Groups",
            now!(|s, r, p| admin_result(admin::list_groups(s, r)))).ok::<wire::admin::GroupsPage>("200", "Groups"),
        Route::new(POST, "/admin/v1/groups", Admin, "groups_create", "Register a group",
            wait!(|s, r, p| admin_result(admin::create_group(s, r).await))).body::<wire::admin::CreateGroupBody>().codes(ADMIN_CODES).ok::<wire::admin::GroupView>("201", "Registered"),
        Route::new(GET, "/admin/v1/groups/{groupId}", Admin, "groups_get", "A group",
            now!(|s, r, p| admin_result(admin::get_group(s, p[0])))).ok::<wire::admin::GroupView>("200", "The group"),
        Route::new(PATCH, "/admin/v1/groups/{groupId}", Admin, "groups_update", "Change a group",
            wait!(|s, r, p| admin_result(admin::update_group(s, r, p[0]).await))).body::<wire::admin::UpdateGroupBody>().ok::<wire::admin::GroupView>("200", "The group"),
        Route::new(GET, "/admin/v1/groups/{groupId}/keys", Admin, "group_keys_list", "A group's API keys",
            now!(|s, r, p| admin_result(admin::list_keys(s, p[0])))).ok::<wire::admin::KeysList>("200", "Keys"),
        Route::new(POST, "/admin/v1/groups/{groupId}/keys", Admin, "group_keys_issue", "Issue a group API key (shown once)",
            wait!(|s, r, p| admin_result(admin::issue_key(s, r, p[0]).await))).body::<wire::admin::IssueKeyBody>().codes(ADMIN_CODES).ok::<wire::admin::IssuedKey>("201", "The key"),
        Route::new(DELETE, "/admin/v1/keys/{keyId}", Admin, "keys_revoke", "Revoke an API key",
            wait!(|s, r, p| admin_result(admin::revoke_key(s, p[0]).await))).ok::<wire::admin::KeyView>("200", "Revoked"),
        Route::new(GET, "/admin/v1/groups/{groupId}/rules", Admin, "rules_list", "A group's rules and rank guard",
            now!(|s, r, p| admin_result(admin::get_rules(s, p[0])))).ok::<wire::admin::RulesView>("200", "Rules"),
        Route::new(POST, "/admin/v1/groups/{groupId}/rules", Admin, "rules_add", "Add a promote/demote rule",
            wait!(|s, r, p| admin_result(admin::add_rule(s, r, p[0]).await))).body::<wire::admin::RuleBody>().codes(ADMIN_CODES).ok::<wire::admin::Rule>("201", "Added"),
        Route::new(PATCH, "/admin/v1/groups/{groupId}/rules/{ruleId}", Admin, "rules_update", "Change a rule",
            wait!(|s, r, p| admin_result(admin::patch_rule(s, r, p[0], p[1]).await))).body::<wire::admin::RulePatchBody>().ok::<wire::admin::Rule>("200", "Changed"),
        Route::new(DELETE, "/admin/v1/groups/{groupId}/rules/{ruleId}", Admin, "rules_delete", "Remove a rule",
            wait!(|s, r, p| admin_result(admin::delete_rule(s, p[0], p[1]).await))).ok::<wire::admin::Removed>("200", "Removed"),
        Route::new(GET, "/admin/v1/groups/{groupId}/blacklist", Admin, "blacklist_list", "A group's blacklist",
            now!(|s, r, p| admin_result(admin::list_blacklist(s, r, p[0])))).ok::<wire::admin::BlacklistPage>("200", "Entries"),
        Route::new(POST, "/admin/v1/groups/{groupId}/blacklist", Admin, "blacklist_add", "Blacklist a user",
            wait!(|s, r, p| admin_result(admin::add_blacklist(s, r, p[0]).await))).body::<wire::admin::BlacklistBody>().codes(ADMIN_CODES).ok::<wire::admin::BlacklistEntry>("201", "Added"),
        Route::new(DELETE, "/admin/v1/groups/{groupId}/blacklist/{robloxUserId}", Admin, "blacklist_remove", "Lift a blacklist entry",
            wait!(|s, r, p| admin_result(admin::remove_blacklist(s, p[0], p[1]).await))).ok::<wire::admin::Removed>("200", "Removed"),
        Route::new(GET, "/admin/v1/groups/{groupId}/usage", Admin, "group_usage", "A group's usage",
            now!(|s, r, p| admin_result(admin::group_usage(s, p[0])))).ok::<wire::admin::GroupUsage>("200", "Usage"),
        Route::new(GET, "/admin/v1/groups/{groupId}/audit", Admin, "group_audit", "A group's audit log",
            now!(|s, r, p| admin_result(admin::group_audit(s, r, p[0])))).ok::<wire::admin::AdminAuditPage>("200", "Entries"),
        Route::new(GET, "/admin/v1/jobs", Admin, "jobs_list", "Jobs (filter by status, e.g. dead)",
            wait!(|s, r, p| admin_result(admin::list_jobs(s, r).await))).ok::<wire::admin::JobsList>("200", "Jobs"),
        Route::new(GET, "/admin/v1/jobs/{jobId}", Admin, "jobs_get", "A job",
            wait!(|s, r, p| admin_result(admin::get_job(s, p[0]).await))).ok::<wire::JobView>("200", "The job"),
        Route::new(POST, "/admin/v1/jobs/{jobId}/retry", Admin, "jobs_retry", "Retry a dead job",
            wait!(|s, r, p| admin_result(admin::retry_job(s, p[0]).await))).codes(ADMIN_CODES).ok::<wire::JobView>("202", "Requeued"),

        // ── admin: guilds, moderation, servers, Shield ──────────────────────────────────────
        Route::new(GET, "/admin/v1/guilds", Admin, "guilds_list", "Guilds",
            now!(|s, r, p| admin_result(admin_guilds::list_guilds(s, r)))).ok::<wire::admin::GuildsList>("200", "Guilds"),
        Route::new(POST, "/admin/v1/guilds", Admin, "guilds_create", "Register a guild",
            wait!(|s, r, p| admin_result(admin_guilds::create_guild(s, r).await))).body::<wire::admin::CreateGuildBody>().codes(ADMIN_CODES).ok::<wire::admin::GuildView>("201", "Registered"),
        Route::new(GET, "/admin/v1/guilds/{guildId}", Admin, "guilds_get", "A guild",
            now!(|s, r, p| admin_result(admin_guilds::get_guild(s, p[0])))).ok::<wire::admin::GuildView>("200", "The guild"),
        Route::new(PATCH, "/admin/v1/guilds/{guildId}", Admin, "guilds_update", "Change a guild",
            wait!(|s, r, p| admin_result(admin_guilds::update_guild(s, r, p[0]).await))).body::<wire::admin::GuildBody>().ok::<wire::admin::GuildView>("200", "The guild"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/keys", Admin, "guild_keys_list", "A guild's API keys",
            now!(|s, r, p| admin_result(admin_guilds::list_keys(s, p[0])))).ok::<wire::admin::KeysList>("200", "Keys"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/keys", Admin, "guild_keys_issue", "Issue a guild API key (shown once)",
            wait!(|s, r, p| admin_result(admin_guilds::issue_key(s, r, p[0]).await))).body::<wire::admin::IssueKeyBody>().codes(ADMIN_CODES).ok::<wire::admin::IssuedKey>("201", "The key"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/bans", Admin, "guild_bans_list", "Active bans",
            now!(|s, r, p| admin_result(admin_guilds::active(s, p[0], ModKind::Ban)))).ok::<wire::admin::ModRecords>("200", "Bans"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/mutes", Admin, "guild_mutes_list", "Active mutes",
            now!(|s, r, p| admin_result(admin_guilds::active(s, p[0], ModKind::Mute)))).ok::<wire::admin::ModRecords>("200", "Mutes"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/bans", Admin, "guild_bans_create", "Ban a player",
            wait!(|s, r, p| admin_result(admin_guilds::create_mod(s, r, p[0], ModKind::Ban).await))).body::<wire::admin::ModBody>().codes(ADMIN_CODES).ok::<wire::admin::ModRecordView>("201", "Banned"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/mutes", Admin, "guild_mutes_create", "Mute a player",
            wait!(|s, r, p| admin_result(admin_guilds::create_mod(s, r, p[0], ModKind::Mute).await))).body::<wire::admin::ModBody>().codes(ADMIN_CODES).ok::<wire::admin::ModRecordView>("201", "Muted"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/bans/{robloxId}", Admin, "guild_bans_revoke", "Lift a ban",
            wait!(|s, r, p| admin_result(admin_guilds::revoke_mod(s, r, p[0], p[1], ModKind::Ban).await))).ok::<wire::admin::ModEnded>("200", "Lifted"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/mutes/{robloxId}", Admin, "guild_mutes_revoke", "Lift a mute",
            wait!(|s, r, p| admin_result(admin_guilds::revoke_mod(s, r, p[0], p[1], ModKind::Mute).await))).ok::<wire::admin::ModEnded>("200", "Lifted"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/staff", Admin, "guild_staff_get", "Staff roles, time zone, week start and the strike action",
            now!(|s, r, p| admin_result(admin_guilds::get_staff(s, p[0])))).ok::<wire::staff::StaffSettingsWire>("200", "Settings"),
        Route::new(PUT, "/admin/v1/guilds/{guildId}/staff", Admin, "guild_staff_put", "Replace the staff settings",
            wait!(|s, r, p| admin_result(admin_guilds::put_staff(s, r, p[0]).await))).body::<wire::staff::StaffSettingsWire>().ok::<wire::staff::StaffSettingsWire>("200", "Settings"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/community", Admin, "guild_community_get", "The community API's medals, certifications, EP thresholds and XP ranks",
            now!(|s, r, p| admin_result(admin_guilds::get_community(s, p[0])))).ok::<cw::CommunitySettingsWire>("200", "Settings"),
        Route::new(PUT, "/admin/v1/guilds/{guildId}/community", Admin, "guild_community_put", "Replace the community API's catalogues and thresholds",
            wait!(|s, r, p| admin_result(admin_guilds::put_community(s, r, p[0]).await))).body::<cw::CommunitySettingsWire>().ok::<cw::CommunitySettingsWire>("200", "Settings"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/servers", Admin, "guild_servers", "Live game servers",
            now!(|s, r, p| admin_result(admin_guilds::live_servers(s, p[0])))).ok::<wire::admin::LiveServers>("200", "Servers"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/games", Admin, "guild_games", "Registered games",
            now!(|s, r, p| admin_result(admin_guilds::games(s, p[0])))).ok::<wire::admin::GamesList>("200", "Games"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/servers/{serverId}/commands", Admin, "guild_server_commands", "A server's pending commands",
            now!(|s, r, p| admin_result(admin_guilds::pending(s, p[0], p[1])))).ok::<wire::admin::PendingCommands>("200", "Commands"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/commands", Admin, "guild_commands_enqueue", "Send a command to game servers",
            wait!(|s, r, p| admin_result(admin_guilds::enqueue(s, r, p[0]).await))).body::<wire::admin::CommandBody>().codes(ADMIN_CODES).ok::<wire::admin::CommandsQueued>("201", "Queued"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/audit", Admin, "guild_audit", "A guild's audit log",
            now!(|s, r, p| admin_result(admin_guilds::guild_audit(s, r, p[0])))).ok::<wire::admin::AdminAuditPage>("200", "Entries"),
        Route::new(POST, "/admin/v1/shield/flags", Admin, "shield_flag", "Flag a player in Shield",
            wait!(|s, r, p| admin_result(admin_guilds::flag(s, r).await))).body::<wire::admin::FlagBody>().codes(ADMIN_CODES).ok::<wire::admin::ShieldFlagView>("201", "Flagged"),
        Route::new(GET, "/admin/v1/shield/flags/{robloxId}", Admin, "shield_flag_get", "A Shield flag",
            now!(|s, r, p| admin_result(admin_guilds::get_flag(s, p[0])))).ok::<wire::admin::ShieldFlagView>("200", "The flag"),
        Route::new(DELETE, "/admin/v1/shield/flags/{robloxId}", Admin, "shield_unflag", "Remove a Shield flag",
            wait!(|s, r, p| admin_result(admin_guilds::unflag(s, p[0]).await))).ok::<wire::admin::Removed>("200", "Removed"),
        Route::new(PUT, "/admin/v1/shield/allowlist/{guildId}", Admin, "shield_allow", "Let a guild see Shield",
            wait!(|s, r, p| admin_result(admin_guilds::allowlist(s, p[0], true).await))).ok::<wire::admin::GuildView>("200", "Allowed"),
        Route::new(DELETE, "/admin/v1/shield/allowlist/{guildId}", Admin, "shield_disallow", "Stop a guild seeing Shield",
            wait!(|s, r, p| admin_result(admin_guilds::allowlist(s, p[0], false).await))).ok::<wire::admin::GuildView>("200", "Removed"),

        // ── admin: Discord (links, role bridge, sync-all) ───────────────────────────────────
        Route::new(GET, "/admin/v1/guilds/{guildId}/links", Admin, "links_list", "Account links",
            now!(|s, r, p| admin_result(admin_discord::list_links(s, r, p[0])))).ok::<wire::admin::LinksPage>("200", "Links"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/links", Admin, "links_import", "Import account links (JSON or CSV)",
            wait!(|s, r, p| admin_result(admin_discord::import_links(s, r, p[0]).await))).body::<wire::admin::LinksImport>().codes(ADMIN_CODES).ok::<wire::admin::LinksImported>("201", "Imported"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/links/{discordId}", Admin, "links_get", "One account link",
            now!(|s, r, p| admin_result(admin_discord::get_link(s, p[0], p[1])))).ok::<wire::admin::LinkView>("200", "The link"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/links/{discordId}", Admin, "links_remove", "Remove an account link",
            wait!(|s, r, p| admin_result(admin_discord::remove_link(s, p[0], p[1]).await))).ok::<wire::admin::Removed>("200", "Removed"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/role-bridge-key", Admin, "bridge_key_issue", "Issue the role-bridge key (shown once)",
            wait!(|s, r, p| admin_result(admin_discord::issue_bridge_key(s, p[0]).await))).ok::<wire::admin::BridgeKeyIssued>("201", "The key"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/role-bridge-key", Admin, "bridge_key_remove", "Remove the role-bridge key",
            wait!(|s, r, p| admin_result(admin_discord::remove_bridge_key(s, p[0]).await))).ok::<wire::admin::Removed>("200", "Removed"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/role-bridge/link", Admin, "bridge_website_link", "Link a NamelessMC website with its own API key",
            wait!(|s, r, p| admin_result(admin_discord::link_website(s, r, p[0]).await))).body::<wire::admin::WebsiteLinkBody>().codes(ADMIN_WEBSITE_CODES).ok::<wire::admin::WebsiteLinked>("201", "Linked"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/role-bridge/link", Admin, "bridge_website_unlink", "Unlink the NamelessMC website",
            wait!(|s, r, p| admin_result(admin_discord::unlink_website(s, p[0]).await))).ok::<wire::admin::Removed>("200", "Unlinked"),
        Route::new(POST, "/admin/v1/guilds/{guildId}/sync-all", Admin, "sync_all_start", "Start a sync-all",
            wait!(|s, r, p| admin_result(admin_discord::start_sync(s, p[0]).await))).codes(ADMIN_SYNC_CODES).ok::<wire::admin::SyncRunView>("201", "Started"),
        Route::new(GET, "/admin/v1/guilds/{guildId}/sync-all", Admin, "sync_all_progress", "Progress of a sync-all",
            now!(|s, r, p| admin_result(admin_discord::sync_progress(s, p[0])))).codes(ADMIN_SYNC_CODES).ok::<wire::admin::SyncRunView>("200", "Progress"),
        Route::new(DELETE, "/admin/v1/guilds/{guildId}/sync-all", Admin, "sync_all_cancel", "Cancel a sync-all",
            wait!(|s, r, p| admin_result(admin_discord::cancel_sync(s, p[0]).await))).codes(ADMIN_SYNC_CODES).ok::<wire::admin::SyncRunView>("200", "Cancelled"),
    ]
    .into_iter()
    .map(|r| if r.family == RoleBridge { r.open() } else { r })
    .collect()
}
