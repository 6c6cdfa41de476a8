//! A NamelessMC 2.x website simulator: the part of a stock site that a Discord bot (the official one, or Roster in
//! its place) talks to, and the site's own call back to its bot.
//!
//! # What it simulates
//!
//! NamelessMC v2.1.2 (`NamelessMC/Nameless`, tag `v2.1.2`) serves its API from one PHP page: the site's front
//! controller `index.php` reads the `route` query parameter, and every route under `/api/v2/` goes to
//! `modules/Core/pages/api/v2/index.php`, which hands the rest of the route (`info`, `discord/submit-role-list`) to
//! `Nameless2API` (`modules/Core/classes/Misc/Nameless2API.php`) and its `Endpoints` table
//! (`core/classes/Endpoints/Endpoints.php`). The simulator answers:
//!
//! | endpoint | method | module | auth | success |
//! |---|---|---|---|---|
//! | `info` | `GET` | Core | API key | 200 `{"nameless_version", "locale", "modules"}` |
//! | `discord/update-bot-settings` | `POST` | Discord Integration | API key | 200 `{"message": "Discord settings updated successfully"}` |
//! | `discord/submit-role-list` | `POST` | Discord Integration | API key | 200 `{"message": "Discord settings updated successfully"}` |
//!
//! at `{site}/index.php?route=/api/v2/<endpoint>` (the parameter may be percent-encoded, `%2Fapi%2Fv2%2Finfo`, and
//! `/` works as well as `/index.php`), and at the path `{site}/api/v2/<endpoint>` when
//! [`NamelessSimConfig::friendly_urls`] is on. Every API answer has `Content-Type: application/json; charset=UTF-8`
//! and a body encoded the way PHP's `json_encode` does it (no spaces, `/` escaped as `\/`, non-ASCII as `\uXXXX`).
//!
//! # Request pipeline
//!
//! 1. the configured latency ([`NamelessSimConfig::latency`]);
//! 2. the web server: `/` and `/index.php` run the front controller; any other path is the web server's plain
//!    Apache-style 404 page (`text/html`), unless [`NamelessSimConfig::friendly_urls`] is on, in which case the path
//!    becomes the route (what the shipped `.htaccess` does: `index.php?route=/$1`, the request's own query appended,
//!    so a `route` in the query wins);
//! 3. the front controller: no `route` (or `route=/`) is the home page (200 HTML); the route is cut at its first `?`
//!    and stripped of trailing `/`; a route that is `/api/v2` or starts with `/api/v2/` is the API, with the endpoint
//!    being the route minus its first three `/`-separated parts; any other route is NamelessMC's own 404 page (HTML);
//! 4. [`NamelessSim::fail_next`]: an API request that a pending failure hits gets that status with an HTML error page;
//! 5. the API (`Nameless2API::__construct`): the API switched off in StaffCP is 400 `nameless:api_is_disabled` for
//!    every endpoint, known or not, before anything else; the body is read with `json_decode(php://input, true)`
//!    (anything that is not JSON reads as `null`);
//! 6. routing (`Endpoints::handle`): no endpoint with that route is 404 `nameless:invalid_api_method` with the meta
//!    `"If you are seeing this while in a browser, this means your API is functioning!"`; an endpoint with that route
//!    but not that method is 405 `nameless:invalid_api_method` with the meta `"The <route> endpoint only accepts
//!    <methods>, <method> was used."`. The Discord endpoints exist only while the Discord Integration module is
//!    enabled ([`NamelessSimConfig::discord_module`]: a disabled module's `module.php` never loads its endpoints);
//! 7. authentication (`KeyAuthEndpoint`), only once route and method matched: an `Authorization` header must be
//!    exactly `Bearer <key>` (scheme case-insensitive, one space; else 400 `nameless:missing_api_key` with the meta
//!    `"Authorization header not in expected format"`); without one, `X-API-Key: <key>` is read (neither header: 400
//!    `nameless:missing_api_key`, meta `"Missing authorization header"`); a key other than the site's is 403
//!    `nameless:invalid_api_key`;
//! 8. the endpoint.
//!
//! Errors are `{"error": "<namespace>:<code>"}` plus `"meta"` when there is one (`Nameless2API::throwError`, default
//! status 400). Every request outside `/_sim` is logged ([`LogEntry`]); one the client abandons is logged with status
//! 499.
//!
//! # The endpoints
//!
//! - **`info`** (`modules/Core/includes/endpoints/InfoEndpoint.php`): `nameless_version` ([`NamelessSimConfig::version`]),
//!   `locale` (`"en_UK"`, the installer's default language) and `modules`, the enabled modules by name in install
//!   order: `Core`, `Forum`, `Discord Integration` (when enabled), `Cookie Consent`, `Members` (the five a 2.1.2
//!   install enables, `DatabaseInitialiser::initialiseModules`).
//! - **`discord/update-bot-settings`** (`modules/Discord Integration/includes/endpoints/UpdateDiscordBotSettingsEndpoint.php`):
//!   nothing is required or validated. Each of `url`, `guild_id`, `bot_username`, `bot_user_id` that is present and
//!   not `null` is stored as a setting, in that order, through `Util::setSetting(string, ?string)` (no strict types):
//!   a number is stored as its decimal text, `true` as `"1"`, and `""` or `false` delete the setting (`Settings::set`
//!   deletes on `$value == null`). An array or object is a PHP `TypeError`, which no `catch (Exception)` catches: the
//!   exception handler prints it as plain text (the route contains `/api/v2/`) and the status stays **200**; the
//!   fields before it are stored, those after it are not. A body that is not a JSON object changes nothing and
//!   still answers 200.
//! - **`discord/submit-role-list`** (`SubmitDiscordRoleListEndpoint.php`, `Discord::saveRoles`): `roles` is stored
//!   as the site's role list, **without any validation**; when `roles` is missing or loosely equal to `null` in PHP
//!   (`null`, `false`, `0`, `""`, `[]`, `{}`, or the body is not a JSON object) the stored list is `[]`. The answer is
//!   always 200 with the same message as `update-bot-settings` (the source uses the same language term).
//!
//! # The site calling its bot
//!
//! When a member's groups change, the site sends role changes to its bot (`Discord::updateDiscordRoles`,
//! `Discord::botRequest`, `HttpClient::post`): [`NamelessSim::apply_role_changes`] does the same. It POSTs
//! `{stored url}/applyRoleChanges` (plain concatenation: a URL ending in `/` gives `//applyRoleChanges`) with the
//! body `json_encode`d as
//!
//! ```json
//! {"guild_id":"<stored guild id>","api_key":"<the site's API key>","role_changes":[{"user_id":"<discord user id>","role_id":<role id>,"action":"add"}]}
//! ```
//!
//! `guild_id` and `user_id` are strings (a setting, a `varchar` column); `role_id` is a number (a `BIGINT` column
//! read by PDO on PHP 8.1+, or `Discord::getDiscordRoleId(): ?int`); `guild_id` is `null` when no guild was stored.
//! Role ids PHP's `array_filter` would drop (0) are left out. The request has no `Content-Type` (Guzzle's `body`
//! option sets none and its curl handler suppresses curl's), `User-Agent: GuzzleHttp/7`, and a 5 s timeout for the
//! whole exchange (`HttpClient::createClient`).
//!
//! # Decisions where upstream is unverified
//!
//! - **Friendly URLs**: in a real install, whether `/api/v2/info` reaches PHP depends on the web server (the
//!   `.htaccess` shipped for Apache, a rewrite rule for nginx); the StaffCP setting only changes the links the site
//!   prints. [`NamelessSimConfig::friendly_urls`] models "the server rewrites paths"; without it a path is the
//!   server's 404 page, Apache's wording.
//! - **Pages outside the API** are reduced to three: the home page, NamelessMC's 404 page (a short HTML page with
//!   the language file's texts) for any other route (a real site has forum, profile and other pages), and the web
//!   server's 404.
//! - **Other endpoints**: a real 2.1.2 site has about twenty more (`users`, `groups/...`, `discord/set-roles`, ...).
//!   The simulator answers them as unknown (404), so a client calling something the simulator does not model fails
//!   loudly.
//! - **`version_update`**: `info` adds it when the site knows of an update; the simulator never does.
//! - **The TypeError page** of `update-bot-settings` quotes PHP 8's message with `/var/www/html` as the install
//!   folder and only the first frame of the trace.
//! - **Numbers in `update-bot-settings`** beyond `i64`, and fractions, are stored as their JSON text; PHP would print
//!   its float (e.g. `1.8446744073709552E+19`).
//! - **A JSON string as the whole body** of `submit-role-list` is taken as "no roles" like other non-objects; PHP 8
//!   may instead throw on the string offset.
//! - **[`NamelessSim::fail_next`]** answers with an Apache-style HTML error page (`text/html; charset=iso-8859-1`),
//!   what a crashed PHP-FPM or an overloaded server looks like to a client; only requests that reach the API
//!   consume it.
//! - **The call to the bot** is made with reqwest, which always sends `Accept: */*`; Guzzle sends no `Accept`. The
//!   real site sends adds and removes of one member as two requests (adds first, `GroupSyncManager::broadcastChange`);
//!   [`NamelessSim::apply_role_changes`] sends the changes it is given in one request, so callers batch as they
//!   wish. The site reads the bot's answer only when it is 2xx (Guzzle throws on 4xx and 5xx, and the site logs the
//!   failure); [`BotReply`] reports any status.
//! - **The default API key** has the real format (`SecureRandom::alphanumeric()`: 32 random bytes in base64 without
//!   `+`, `/` and `=`, about 43 characters), not a fixed length.
//!
//! # Control API
//!
//! Everything controllable in-process is also controllable over HTTP under `/_sim` with camelCase JSON bodies (not
//! logged, no latency, no failures). The routes are listed on [`NamelessSim::serve`].

mod bot;
mod control;
mod log;
mod php;
mod site;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::reply::Response;

use crate::server::{self, Incoming};

pub use log::LogEntry;

use log::RequestLog;

/// The NamelessMC release the simulator follows.
pub const DEFAULT_VERSION: &str = "2.1.2";

/// The site's default language, as `info` reports it.
pub const LOCALE: &str = "en_UK";

/// The module whose endpoints a bot needs.
pub const DISCORD_MODULE: &str = "Discord Integration";

/// How the site behaves; change it at run time with [`NamelessSim::update_config`] or `PATCH /_sim/config`.
#[derive(Clone, Debug)]
pub struct NamelessSimConfig {
    /// The site's API key (StaffCP → Configuration → API). Default: a fresh key in NamelessMC's format. An empty key
    /// is a site whose key setting is missing: every key-checked endpoint then answers `API key is null` (200).
    pub api_key: String,
    /// `nameless_version` in `info`. Default [`DEFAULT_VERSION`].
    pub version: String,
    /// The API switch in StaffCP. Default true.
    pub api_enabled: bool,
    /// Whether the Discord Integration module is enabled (its endpoints exist, `info` lists it). Default true.
    pub discord_module: bool,
    /// Whether the web server rewrites paths to `index.php?route=` (`/api/v2/info` works). Default false.
    pub friendly_urls: bool,
    /// Added to every request outside `/_sim`. Default 0.
    pub latency: Duration,
}

impl Default for NamelessSimConfig {
    fn default() -> Self {
        Self {
            api_key: generate_api_key(),
            version: DEFAULT_VERSION.to_owned(),
            api_enabled: true,
            discord_module: true,
            friendly_urls: false,
            latency: Duration::ZERO,
        }
    }
}

/// A key as `SecureRandom::alphanumeric()` makes one: 32 random bytes, base64, without `+`, `/` and `=`.
fn generate_api_key() -> String {
    let state = RandomState::new();
    let mut bytes = Vec::with_capacity(32);
    for chunk in 0..4u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(chunk);
        bytes.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// What `discord/update-bot-settings` stored: the settings `discord_bot_url`, `discord`, `discord_bot_username` and
/// `discord_bot_user_id`, as the strings PHP stored (`None` when never set or deleted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotSettings {
    /// Where the site sends `applyRoleChanges`.
    pub url: Option<String>,
    /// The Discord guild.
    pub guild_id: Option<String>,
    /// The bot's username.
    pub bot_username: Option<String>,
    /// The bot's user id.
    pub bot_user_id: Option<String>,
}

/// One entry of the role list a bot submitted, as the site's group-sync page reads it (`id`, `name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRole {
    /// The Discord role id.
    pub id: u64,
    /// The role's name.
    pub name: String,
}

/// One role change the site asks its bot to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleChangeRequest {
    /// The member's Discord user id (sent as a string).
    pub user_id: u64,
    /// The Discord role id (sent as a number).
    pub role_id: u64,
    /// `add` when true, `remove` when false.
    pub add: bool,
}

/// The bot's answer to `applyRoleChanges`, whatever its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotReply {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// The site's stored state.
#[derive(Default)]
struct Site {
    bot: BotSettings,
    /// The submitted role list, as stored (JSON), `None` before any submission.
    roles: Option<serde_json::Value>,
    /// API requests still to fail, and with which status.
    fail_next: Option<(u32, u16)>,
}

struct Inner {
    config: RwLock<NamelessSimConfig>,
    site: Mutex<Site>,
    log: Mutex<RequestLog>,
}

/// Cheap-to-clone handle to one simulated site. Serve it with [`NamelessSim::serve`] (as many times as you like:
/// every server shares the state) and control it through the methods below or the `/_sim` routes.
#[derive(Clone)]
pub struct NamelessSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for NamelessSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamelessSim")
            .field("config", &*self.inner.config.read())
            .finish_non_exhaustive()
    }
}

impl NamelessSim {
    /// A freshly installed site: no bot settings, no role list, no pending failures.
    pub fn new(config: NamelessSimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                site: Mutex::new(Site::default()),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Serves on `addr` (use `127.0.0.1:0` in tests) until `shutdown` resolves. Returns the bound address at once and
    /// the server task, which ends once in-flight requests are answered.
    ///
    /// Besides the site, the server answers the control API (camelCase JSON; errors are `{"error": "..."}`):
    ///
    /// | route | body | answer |
    /// |---|---|---|
    /// | `GET /_sim/config` | | 200 `{"apiKey", "version", "apiEnabled", "discordModule", "friendlyUrls", "latencyMs"}` |
    /// | `PATCH /_sim/config` | any of those fields | 200, the new config; 400 for an empty `version` |
    /// | `GET /_sim/bot-settings` | | 200 [`BotSettings`] (`{"url", "guildId", "botUsername", "botUserId"}`, `null` when unset) |
    /// | `GET /_sim/roles` | | 200, the stored role list exactly as stored (JSON); 404 before any submission |
    /// | `POST /_sim/apply-role-changes` | `{"roleChanges": [{"userId", "roleId", "action": "add"\|"remove"}]}` | 200 `{"status", "body"}`, the bot's answer; 409 when no bot URL is stored; 502 when the request failed (`{"error"}` says why) |
    /// | `POST /_sim/fail-next` | `{"count", "status"}` (status 400–599; count 0 cancels) | 204 |
    /// | `GET /_sim/log?since=N` | | 200 `[`[`LogEntry`]`, ..]`, entries with `seq > N` (all without `since`) |
    /// | `DELETE /_sim/log` | | 204 |
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let sim = self.clone();
        server::serve(addr, shutdown, move |incoming, cancel| {
            let sim = sim.clone();
            async move { sim.dispatch(incoming, cancel).await }
        })
        .await
    }

    async fn dispatch(&self, incoming: Incoming, cancel: CancellationToken) -> Response {
        if incoming.path == "/_sim" || incoming.path.starts_with("/_sim/") {
            control::handle(self, &incoming).await
        } else {
            site::handle(self, incoming, &cancel).await
        }
    }

    /// Changes the configuration; takes effect for the next request.
    pub fn update_config(&self, f: impl FnOnce(&mut NamelessSimConfig)) {
        f(&mut self.inner.config.write());
    }

    /// The configuration in force.
    pub fn config(&self) -> NamelessSimConfig {
        self.inner.config.read().clone()
    }

    /// What `discord/update-bot-settings` stored.
    pub fn bot_settings(&self) -> BotSettings {
        self.inner.site.lock().bot.clone()
    }

    /// The role list the bot submitted, when it is a list of `{"id", "name"}` objects with numeric (or decimal string)
    /// ids; `None` before any submission and when the stored value has another shape (see
    /// [`NamelessSim::role_list_json`]).
    pub fn role_list(&self) -> Option<Vec<SiteRole>> {
        let stored = self.role_list_json()?;
        stored.as_array()?.iter().map(site_role).collect()
    }

    /// The role list exactly as the site stored it (the site checks nothing); `None` before any submission.
    pub fn role_list_json(&self) -> Option<serde_json::Value> {
        self.inner.site.lock().roles.clone()
    }

    /// Makes the next `count` requests that reach the API answer `status` (meant for 400–599; anything that is not
    /// an HTTP status is sent as 500) with an HTML error page instead of running; they are logged with the fault.
    /// Replaces any failures still pending; a count of 0 cancels them.
    pub fn fail_next(&self, count: u32, status: u16) {
        self.inner.site.lock().fail_next = (count > 0).then_some((count, status));
    }

    /// Every logged request still held, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.inner.log.lock().since(0)
    }

    /// Empties the request log (sequence numbers keep increasing).
    pub fn clear_log(&self) {
        self.inner.log.lock().clear();
    }

    /// The site calling its bot: POSTs `{stored bot url}/applyRoleChanges` exactly as NamelessMC 2.1.2 does (body,
    /// headers and 5 s timeout in the module doc) and returns the bot's answer, whatever its status. `Err` when no
    /// bot URL is stored or the request failed (no connection, timeout, a URL that does not parse).
    pub async fn apply_role_changes(
        &self,
        changes: &[RoleChangeRequest],
    ) -> Result<BotReply, String> {
        let (url, body) = {
            let site = self.inner.site.lock();
            let config = self.inner.config.read();
            let Some(base) = site.bot.url.clone() else {
                return Err(
                    "no bot URL is stored (discord/update-bot-settings has not set `url`)".into(),
                );
            };
            let api_key = (!config.api_key.is_empty()).then_some(config.api_key.as_str());
            let body = bot::request_body(site.bot.guild_id.as_deref(), api_key, changes);
            (format!("{base}{}", bot::PATH), body)
        };
        bot::post(&url, body).await
    }

    fn log_since(&self, seq: u64) -> Vec<LogEntry> {
        self.inner.log.lock().since(seq)
    }

    /// Uses up one pending failure, if any, and returns its status.
    fn take_failure(&self) -> Option<u16> {
        let mut site = self.inner.site.lock();
        let (left, status) = site.fail_next?;
        site.fail_next = (left > 1).then_some((left - 1, status));
        Some(status)
    }
}

/// One role-list entry as the site's group-sync page would read it.
fn site_role(value: &serde_json::Value) -> Option<SiteRole> {
    let id = match value.get("id")? {
        serde_json::Value::Number(number) => number.as_u64()?,
        serde_json::Value::String(text) => text.parse().ok()?,
        _ => return None,
    };
    let name = value.get("name")?.as_str()?.to_owned();
    Some(SiteRole { id, name })
}

/// The modules `info` lists, in install order.
fn enabled_modules(config: &NamelessSimConfig) -> Vec<&'static str> {
    let mut modules = vec!["Core", "Forum"];
    if config.discord_module {
        modules.push(DISCORD_MODULE);
    }
    modules.extend(["Cookie Consent", "Members"]);
    modules
}
