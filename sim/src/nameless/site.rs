//! The site's request pipeline (steps listed in the module doc): latency, the web server, the front controller,
//! pending failures, then `Nameless2API` with its endpoint table, key check and the three endpoints.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;

use super::php::{self, AsString};
use super::{BotSettings, LOCALE, LogEntry, NamelessSim, NamelessSimConfig, enabled_modules};
use crate::http_util::{percent_decode, rfc3339};
use crate::server::Incoming;

/// `Nameless2API`'s error codes.
pub(crate) mod codes {
    pub(crate) const API_DISABLED: &str = "nameless:api_is_disabled";
    pub(crate) const INVALID_API_KEY: &str = "nameless:invalid_api_key";
    pub(crate) const MISSING_API_KEY: &str = "nameless:missing_api_key";
    pub(crate) const INVALID_API_METHOD: &str = "nameless:invalid_api_method";
}

/// The meta of a 404 from `Endpoints::handle`.
const NO_SUCH_ENDPOINT: &str =
    "If you are seeing this while in a browser, this means your API is functioning!";
/// The meta of a missing key (`KeyAuthEndpoint::isAuthorised`).
const NO_KEY_HEADER: &str = "Missing authorization header";
/// The meta of an `Authorization` header that is not `Bearer <key>`.
const BAD_KEY_HEADER: &str = "Authorization header not in expected format";
/// The language term `discord_integration/discord_settings_updated` (en_UK), both Discord endpoints' answer.
const SETTINGS_UPDATED: &str = "Discord settings updated successfully";
/// Where the TypeError page says NamelessMC is installed.
const INSTALL_ROOT: &str = "/var/www/html";

/// Whose `module.php` registers an endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Module {
    Core,
    Discord,
}

#[derive(Clone, Copy)]
enum Operation {
    Info,
    UpdateBotSettings,
    SubmitRoleList,
}

struct Endpoint {
    route: &'static str,
    method: &'static str,
    module: Module,
    operation: Operation,
}

/// The endpoints the simulator implements, as their classes declare them.
const ENDPOINTS: [Endpoint; 3] = [
    Endpoint {
        route: "info",
        method: "GET",
        module: Module::Core,
        operation: Operation::Info,
    },
    Endpoint {
        route: "discord/update-bot-settings",
        method: "POST",
        module: Module::Discord,
        operation: Operation::UpdateBotSettings,
    },
    Endpoint {
        route: "discord/submit-role-list",
        method: "POST",
        module: Module::Discord,
        operation: Operation::SubmitRoleList,
    },
];

/// Where a request ends up.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// The web server found nothing to serve.
    ServerNotFound,
    /// The front controller without a route.
    Home,
    /// A route that is no page of the simulated site.
    SiteNotFound,
    /// The API, with the endpoint (the route minus `/api/v2/`).
    Api(String),
}

/// Handles one request outside `/_sim`, logging it whatever happens (even if the client goes away).
pub(crate) async fn handle(
    sim: &NamelessSim,
    incoming: Incoming,
    cancel: &CancellationToken,
) -> Response {
    let config = sim.config();
    let key = sent_key(&incoming.headers);
    let key_sent = incoming.headers.contains_key(header::AUTHORIZATION)
        || incoming.headers.contains_key("x-api-key");
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
        endpoint: None,
        key_sent,
        key_valid: !config.api_key.is_empty()
            && key.as_ref().is_ok_and(|key| *key == config.api_key),
        request_body: body_for_log(&incoming.body),
        fault: None,
        finished: false,
    };
    let response = process(sim, &config, &incoming, cancel, &mut record).await;
    record.finish(response)
}

async fn process(
    sim: &NamelessSim,
    config: &NamelessSimConfig,
    incoming: &Incoming,
    cancel: &CancellationToken,
    record: &mut Record,
) -> Response {
    if !sleep_unless_cancelled(config.latency, cancel).await {
        return php::error_page(503);
    }
    match resolve(&incoming.path, &incoming.query, config.friendly_urls) {
        Target::ServerNotFound => php::server_not_found(),
        Target::Home => php::home(),
        Target::SiteNotFound => php::site_not_found(),
        Target::Api(endpoint) => {
            let response = match sim.take_failure() {
                Some(status) => {
                    record.fault = Some(format!("fail-next {status}"));
                    php::error_page(status)
                }
                None => api(sim, config, &endpoint, incoming),
            };
            record.endpoint = Some(endpoint);
            response
        }
    }
}

/// The web server and the front controller (`index.php`): which page a request reaches.
fn resolve(path: &str, query: &str, friendly_urls: bool) -> Target {
    // PHP's `$_GET`: the last `route` wins.
    let query_route = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "route")
        .last()
        .map(|(_, value)| value.into_owned());
    let route = if path == "/" || path == "/index.php" {
        query_route
    } else if friendly_urls {
        // `.htaccess`: `RewriteRule ^(.*)$ index.php?route=/$1 [QSA]`, on the decoded path.
        let Some(decoded) = percent_decode(path) else {
            return Target::ServerNotFound;
        };
        Some(query_route.unwrap_or(decoded))
    } else {
        return Target::ServerNotFound;
    };
    let Some(route) = route else {
        return Target::Home;
    };
    if route == "/" {
        return Target::Home;
    }
    // `rtrim(strtok($_GET['route'], '?'), '/')`.
    let route = route
        .trim_start_matches('?')
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    if route == "/api/v2" || route.starts_with("/api/v2/") {
        // `Nameless2API`: `implode('/', array_slice(explode('/', $route), 3))`.
        Target::Api(route.split('/').skip(3).collect::<Vec<_>>().join("/"))
    } else {
        Target::SiteNotFound
    }
}

/// `Nameless2API::__construct` and `Endpoints::handle`.
fn api(
    sim: &NamelessSim,
    config: &NamelessSimConfig,
    endpoint: &str,
    incoming: &Incoming,
) -> Response {
    if !config.api_enabled {
        return php::api_error(StatusCode::BAD_REQUEST, codes::API_DISABLED, None);
    }
    // `$_POST = json_decode(file_get_contents('php://input'), true);`
    let post: Option<Value> = serde_json::from_slice(&incoming.body).ok();
    let method = incoming.method.as_str();
    let candidates: Vec<&Endpoint> = ENDPOINTS
        .iter()
        .filter(|candidate| {
            candidate.route == endpoint
                && (candidate.module == Module::Core || config.discord_module)
        })
        .collect();
    if candidates.is_empty() {
        return php::api_error(
            StatusCode::NOT_FOUND,
            codes::INVALID_API_METHOD,
            Some(NO_SUCH_ENDPOINT),
        );
    }
    let Some(found) = candidates
        .iter()
        .find(|candidate| candidate.method == method)
    else {
        let methods: Vec<&str> = candidates
            .iter()
            .map(|candidate| candidate.method)
            .collect();
        let meta = format!(
            "The {endpoint} endpoint only accepts {}, {method} was used.",
            methods.join(", ")
        );
        return php::api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::INVALID_API_METHOD,
            Some(&meta),
        );
    };
    match sent_key(&incoming.headers) {
        Err(meta) => {
            return php::api_error(StatusCode::BAD_REQUEST, codes::MISSING_API_KEY, Some(meta));
        }
        // `validateKey`: `die('API key is null')` when the site has no key setting.
        Ok(_) if config.api_key.is_empty() => {
            return php::api_response(StatusCode::OK, "API key is null".into());
        }
        Ok(key) if key != config.api_key => {
            return php::api_error(StatusCode::FORBIDDEN, codes::INVALID_API_KEY, None);
        }
        Ok(_) => {}
    }
    match found.operation {
        Operation::Info => info(config),
        Operation::UpdateBotSettings => update_bot_settings(sim, post.as_ref()),
        Operation::SubmitRoleList => submit_role_list(sim, post.as_ref()),
    }
}

/// The key as `KeyAuthEndpoint::isAuthorised` reads it: `Authorization: Bearer <key>` (exactly two parts after
/// PHP's `trim`, split on single spaces), else `X-API-Key`. `Err` carries the meta of the 400.
fn sent_key(headers: &HeaderMap) -> Result<String, &'static str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = String::from_utf8_lossy(value.as_bytes());
        let trimmed = value.trim_matches([' ', '\t', '\n', '\r', '\0', '\u{b}']);
        let parts: Vec<&str> = trimmed.split(' ').collect();
        return match parts.as_slice() {
            [scheme, key] if scheme.eq_ignore_ascii_case("Bearer") => Ok((*key).to_owned()),
            _ => Err(BAD_KEY_HEADER),
        };
    }
    headers
        .get("x-api-key")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .ok_or(NO_KEY_HEADER)
}

/// `InfoEndpoint`.
fn info(config: &NamelessSimConfig) -> Response {
    let version = if config.version.is_empty() {
        "null".to_owned()
    } else {
        php::string(&config.version)
    };
    let modules = php::list(enabled_modules(config).into_iter().map(php::string));
    php::api_response(
        StatusCode::OK,
        php::object(&[
            ("nameless_version", version),
            ("locale", php::string(LOCALE)),
            ("modules", modules),
        ]),
    )
}

/// A field of `update-bot-settings`: its name, the setting it goes to, where the stored value is kept, and the line
/// of `UpdateDiscordBotSettingsEndpoint.php` that stores it.
struct BotField {
    name: &'static str,
    setting: &'static str,
    slot: fn(&mut BotSettings) -> &mut Option<String>,
    line: u32,
}

/// In the order the endpoint stores them.
const BOT_FIELDS: [BotField; 4] = [
    BotField {
        name: "url",
        setting: "discord_bot_url",
        slot: |bot| &mut bot.url,
        line: 21,
    },
    BotField {
        name: "guild_id",
        setting: "discord",
        slot: |bot| &mut bot.guild_id,
        line: 29,
    },
    BotField {
        name: "bot_username",
        setting: "discord_bot_username",
        slot: |bot| &mut bot.bot_username,
        line: 37,
    },
    BotField {
        name: "bot_user_id",
        setting: "discord_bot_user_id",
        slot: |bot| &mut bot.bot_user_id,
        line: 49,
    },
];

/// `UpdateDiscordBotSettingsEndpoint`: every field present and not null is stored, in order; nothing is required.
fn update_bot_settings(sim: &NamelessSim, post: Option<&Value>) -> Response {
    let fields = post.and_then(Value::as_object);
    let mut site = sim.inner.site.lock();
    for field in &BOT_FIELDS {
        let Some(value) = fields
            .and_then(|fields| fields.get(field.name))
            .filter(|value| !value.is_null())
        else {
            continue;
        };
        match php::as_string(value) {
            // `Settings::set` deletes the setting when `$new_value == null`, which `""` is.
            AsString::Text(text) => {
                *(field.slot)(&mut site.bot) = (!text.is_empty()).then_some(text)
            }
            AsString::TypeError(given) => return type_error(field, given),
        }
    }
    php::api_response(
        StatusCode::OK,
        php::object(&[("message", php::string(SETTINGS_UPDATED))]),
    )
}

/// The plain-text page `ErrorHandler::catchException` prints for an API request; the status stays 200.
fn type_error(field: &BotField, given: &str) -> Response {
    let endpoint_file = format!(
        "{INSTALL_ROOT}/modules/Discord Integration/includes/endpoints/UpdateDiscordBotSettingsEndpoint.php"
    );
    let body = format!(
        "Util::setSetting(): Argument #2 ($new_value) must be of type ?string, {given} given, called in \
         {endpoint_file} on line {line} in {INSTALL_ROOT}/core/classes/Core/Util.php on line 189\n\
         #0 {endpoint_file}({line}): Util::setSetting('{setting}', Array)",
        line = field.line,
        setting = field.setting,
    );
    php::api_response(StatusCode::OK, body)
}

/// `SubmitDiscordRoleListEndpoint`: `roles` (or `[]` when it is loosely null) is saved as it is.
fn submit_role_list(sim: &NamelessSim, post: Option<&Value>) -> Response {
    let roles = post
        .and_then(Value::as_object)
        .and_then(|fields| fields.get("roles"))
        .filter(|roles| !php::loosely_null(roles))
        .cloned()
        .unwrap_or_else(|| json!([]));
    sim.inner.site.lock().roles = Some(roles);
    php::api_response(
        StatusCode::OK,
        php::object(&[("message", php::string(SETTINGS_UPDATED))]),
    )
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

fn body_for_log(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

/// Writes the log entry when the request finishes, or with status 499 if the client abandons it.
struct Record {
    sim: NamelessSim,
    arrived: DateTime<Utc>,
    started: Instant,
    method: String,
    path: String,
    endpoint: Option<String>,
    key_sent: bool,
    key_valid: bool,
    request_body: Option<Value>,
    fault: Option<String>,
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
            endpoint: self.endpoint.take(),
            status,
            key_sent: self.key_sent,
            key_valid: self.key_valid,
            request_body: self.request_body.take(),
            fault: self.fault.take(),
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
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

    fn api(endpoint: &str) -> Target {
        Target::Api(endpoint.to_owned())
    }

    #[test]
    fn the_front_controller_routes_like_index_php() {
        assert_eq!(
            resolve("/index.php", "route=/api/v2/info", false),
            api("info")
        );
        assert_eq!(
            resolve("/index.php", "route=%2Fapi%2Fv2%2Finfo", false),
            api("info")
        );
        assert_eq!(resolve("/", "route=/api/v2/info/", false), api("info"));
        assert_eq!(
            resolve(
                "/index.php",
                "route=/api/v2/discord/submit-role-list",
                false
            ),
            api("discord/submit-role-list")
        );
        assert_eq!(resolve("/index.php", "route=/api/v2", false), api(""));
        assert_eq!(
            resolve("/index.php", "route=/api/v2/info?x=1", false),
            api("info")
        );
        assert_eq!(
            resolve("/index.php", "route=/api/v1/info", false),
            Target::SiteNotFound
        );
        assert_eq!(
            resolve("/index.php", "route=api/v2/info", false),
            Target::SiteNotFound
        );
        assert_eq!(
            resolve("/index.php", "route=/x&route=/api/v2/info", false),
            api("info")
        );
        assert_eq!(resolve("/index.php", "", false), Target::Home);
        assert_eq!(resolve("/index.php", "route=/", false), Target::Home);
        assert_eq!(resolve("/api/v2/info", "", false), Target::ServerNotFound);
        assert_eq!(resolve("/api/v2/info", "", true), api("info"));
        assert_eq!(
            resolve("/api/v2/discord%2Fsubmit-role-list", "", true),
            api("discord/submit-role-list")
        );
        assert_eq!(resolve("/api/v2/info", "route=/api/v2/x", true), api("x"));
        assert_eq!(resolve("/forum", "", true), Target::SiteNotFound);
    }

    #[test]
    fn keys_are_read_like_key_auth_endpoint() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, value.parse().expect("valid header value"));
            }
            map
        };
        assert_eq!(
            sent_key(&headers(&[("authorization", "Bearer k")])),
            Ok("k".into())
        );
        assert_eq!(
            sent_key(&headers(&[("authorization", "bearer k")])),
            Ok("k".into())
        );
        assert_eq!(sent_key(&headers(&[("x-api-key", "k")])), Ok("k".into()));
        assert_eq!(sent_key(&headers(&[])), Err(NO_KEY_HEADER));
        assert_eq!(
            sent_key(&headers(&[("authorization", "Bearer  k")])),
            Err(BAD_KEY_HEADER)
        );
        assert_eq!(
            sent_key(&headers(&[("authorization", "Bot k")])),
            Err(BAD_KEY_HEADER)
        );
        assert_eq!(
            sent_key(&headers(&[("authorization", "k"), ("x-api-key", "k")])),
            Err(BAD_KEY_HEADER),
            "a malformed Authorization header hides X-API-Key"
        );
    }
}
