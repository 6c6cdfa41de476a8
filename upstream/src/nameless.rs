//! NamelessMC website API v2: the three calls its official Discord bot makes, which Roster makes
//! in its place when a stock site is linked to a guild's role bridge (`docs/role-bridge.md`).
//!
//! - `GET info`: the site's version and enabled modules (checks the URL, the key, that the API is
//!   on and that the Discord Integration module is enabled);
//! - `POST discord/update-bot-settings`: tells the site its bot's URL, username, user id and guild;
//! - `POST discord/submit-role-list`: the guild's roles, offered on the site's group-sync page.
//!
//! The API URL is the one the site's StaffCP shows (`https://site/index.php?route=/api/v2`);
//! endpoints are appended to it (`…?route=/api/v2/info`), which works whether or not the site
//! uses friendly URLs. The key goes in `Authorization: Bearer`. Errors are JSON
//! `{"error": "namespace:code", "meta"?}`; [`UpstreamError::Permanent`] carries that code, or
//! [`NOT_NAMELESS`] when the answer is not the API's (a wrong URL).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::UpstreamError;

/// The code of a refusal whose body is not NamelessMC's API error JSON: the URL is not a
/// NamelessMC v2 API.
pub const NOT_NAMELESS: &str = "not_a_nameless_api";

/// NamelessMC's error codes Roster acts on.
pub mod codes {
    /// The site's API is disabled in StaffCP.
    pub const API_DISABLED: &str = "nameless:api_is_disabled";
    /// No key was sent.
    pub const MISSING_API_KEY: &str = "nameless:missing_api_key";
    /// The key is not the site's.
    pub const INVALID_API_KEY: &str = "nameless:invalid_api_key";
    /// No such endpoint (also the Discord endpoints of a site whose Discord module is off).
    pub const INVALID_API_METHOD: &str = "nameless:invalid_api_method";
}

/// The module whose endpoints Roster needs.
pub const DISCORD_MODULE: &str = "Discord Integration";

/// `GET info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteInfo {
    /// E.g. `2.1.2`.
    pub nameless_version: String,
    /// Enabled modules by name.
    #[serde(default)]
    pub modules: Vec<String>,
}

/// `POST discord/update-bot-settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotSettings {
    /// Where the site sends `applyRoleChanges` (Roster's public role-bridge URL).
    pub url: String,
    /// The Discord guild.
    pub guild_id: String,
    /// The bot's username.
    pub bot_username: String,
    /// The bot's user id.
    pub bot_user_id: String,
}

/// One entry of `POST discord/submit-role-list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteRole {
    /// The Discord role id (a number, as the official bot sends it).
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// The API URL a site URL names: as given when it already names the API (a `route=` query or a
/// path ending in `/api/v2`), else the site's root with `index.php?route=/api/v2` appended.
/// Only `http` and `https` URLs.
pub fn api_url(site_url: &str) -> Result<String, String> {
    let s = site_url.trim();
    let parsed = reqwest::Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("must be an http:// or https:// URL".into());
    }
    if parsed.fragment().is_some() || parsed.username() != "" || parsed.password().is_some() {
        return Err("must not carry credentials or a #fragment".into());
    }
    let s = s.trim_end_matches('/');
    if let Some(q) = parsed.query() {
        let route = q
            .split('&')
            .find_map(|p| p.strip_prefix("route="))
            .map(|r| r.replace("%2F", "/").replace("%2f", "/"));
        return match route {
            Some(r) if r.trim_end_matches('/') == "/api/v2" => Ok(s.to_owned()),
            _ => Err(
                "its query must be `route=/api/v2` (the API URL the site's StaffCP shows)".into(),
            ),
        };
    }
    if parsed.path().trim_end_matches('/').ends_with("/api/v2") {
        return Ok(s.to_owned());
    }
    let root = s.trim_end_matches("/index.php");
    Ok(format!("{root}/index.php?route=/api/v2"))
}

/// The bridge URL a website is given (where it sends `applyRoleChanges`): an http(s) URL
/// without a query, credentials or fragment, no trailing `/` (the site appends
/// `/applyRoleChanges`).
pub fn bridge_url(raw: &str) -> Result<String, String> {
    let u = raw.trim();
    let ok = reqwest::Url::parse(u).is_ok_and(|p| {
        matches!(p.scheme(), "http" | "https")
            && p.host_str().is_some()
            && p.query().is_none()
            && p.fragment().is_none()
            && p.username().is_empty()
            && p.password().is_none()
    });
    if !ok {
        return Err(
            "must be an http(s) URL without a query, e.g. https://roster.example.com".into(),
        );
    }
    Ok(u.trim_end_matches('/').to_owned())
}

/// What a refusal means to the operator, with what to do about it.
pub fn explain(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Permanent { code, message, .. } => match code.as_str() {
            codes::INVALID_API_KEY | codes::MISSING_API_KEY => "the website rejected the API key: copy it again from the site's StaffCP → Configuration → API (regenerating it there invalidates the old one)".into(),
            codes::API_DISABLED => "the website's API is disabled: enable it in StaffCP → Configuration → API".into(),
            codes::INVALID_API_METHOD => "the website has no Discord endpoints: enable the Discord Integration module in StaffCP → Modules".into(),
            _ => message.clone(),
        },
        UpstreamError::RateLimited { message, .. } | UpstreamError::Transient { message, .. } => {
            format!("{message}: is the website up and reachable from Roster?")
        }
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct NamelessClient {
    http: reqwest::Client,
}

impl NamelessClient {
    /// A client whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Permanent {
                status: 0,
                code: "CLIENT".into(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self { http })
    }

    /// `GET info`.
    pub async fn info(&self, api: &str, key: &str) -> Result<SiteInfo, UpstreamError> {
        let body = self.call(api, key, "info", None).await?;
        serde_json::from_slice(&body).map_err(|_| UpstreamError::Permanent {
            status: 200,
            code: NOT_NAMELESS.into(),
            message: "the answer to `info` is not NamelessMC's (no nameless_version)".into(),
        })
    }

    /// `POST discord/update-bot-settings`.
    pub async fn update_bot_settings(
        &self,
        api: &str,
        key: &str,
        settings: &BotSettings,
    ) -> Result<(), UpstreamError> {
        let body = serde_json::to_value(settings).expect("settings serialize");
        self.call(api, key, "discord/update-bot-settings", Some(body))
            .await
            .map(drop)
    }

    /// `POST discord/submit-role-list`.
    pub async fn submit_role_list(
        &self,
        api: &str,
        key: &str,
        roles: &[SiteRole],
    ) -> Result<(), UpstreamError> {
        let body = serde_json::json!({ "roles": roles });
        self.call(api, key, "discord/submit-role-list", Some(body))
            .await
            .map(drop)
    }

    async fn call(
        &self,
        api: &str,
        key: &str,
        endpoint: &'static str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, UpstreamError> {
        let url = format!("{}/{endpoint}", api.trim_end_matches('/'));
        let req = match &body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        };
        let started = Instant::now();
        let result = req.bearer_auth(key).send().await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                };
                metrics::counter!("roster_upstream_requests_total", "service" => "nameless", "endpoint" => endpoint, "status" => "error").increment(1);
                return Err(UpstreamError::Transient {
                    status: None,
                    message: format!("the site's `{endpoint}` request {what}"),
                });
            }
        };
        let status = resp.status();
        metrics::counter!("roster_upstream_requests_total", "service" => "nameless", "endpoint" => endpoint, "status" => status.as_str().to_owned()).increment(1);
        metrics::histogram!("roster_upstream_request_seconds", "service" => "nameless", "endpoint" => endpoint)
            .record(started.elapsed().as_secs_f64());
        if status.is_redirection() {
            let to = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("elsewhere")
                .to_owned();
            return Err(UpstreamError::Permanent {
                status: status.as_u16(),
                code: NOT_NAMELESS.into(),
                message: format!(
                    "the site redirected `{endpoint}` to {to}: give the URL it redirects to"
                ),
            });
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|_| UpstreamError::Transient {
            status: Some(status.as_u16()),
            message: format!("the site's `{endpoint}` answer was cut off"),
        })?;
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
            // NamelessMC's codes are always `namespace:code`; another JSON error is not its API.
            .filter(|c| c.contains(':'));
        if status.is_success() && code.is_none() {
            return Ok(bytes.to_vec());
        }
        let s = status.as_u16();
        Err(match code {
            _ if s == 429 => UpstreamError::RateLimited {
                retry_after,
                message: format!("the site rate limited `{endpoint}`"),
            },
            _ if s >= 500 || s == 408 => UpstreamError::Transient {
                status: Some(s),
                message: format!("the site answered `{endpoint}` with HTTP {s}"),
            },
            Some(code) => UpstreamError::Permanent {
                status: s,
                message: format!("the site refused `{endpoint}` (HTTP {s} {code})"),
                code,
            },
            None => UpstreamError::Permanent {
                status: s,
                code: NOT_NAMELESS.into(),
                message: format!(
                    "HTTP {s} without NamelessMC's error JSON for `{endpoint}`: is this the site's API URL?"
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::api_url;

    #[test]
    fn site_urls_name_the_api() {
        let ok = |s: &str| api_url(s).unwrap();
        assert_eq!(
            ok("https://mc.example.com"),
            "https://mc.example.com/index.php?route=/api/v2"
        );
        assert_eq!(
            ok("https://mc.example.com/"),
            "https://mc.example.com/index.php?route=/api/v2"
        );
        assert_eq!(
            ok("https://example.com/forum/index.php"),
            "https://example.com/forum/index.php?route=/api/v2"
        );
        assert_eq!(
            ok("https://mc.example.com/index.php?route=/api/v2/"),
            "https://mc.example.com/index.php?route=/api/v2"
        );
        assert_eq!(
            ok("https://mc.example.com/index.php?route=%2Fapi%2Fv2"),
            "https://mc.example.com/index.php?route=%2Fapi%2Fv2"
        );
        assert_eq!(
            ok("http://127.0.0.1:8080/api/v2"),
            "http://127.0.0.1:8080/api/v2"
        );
        for bad in [
            "mc.example.com",
            "ftp://mc.example.com",
            "https://user:pw@mc.example.com",
            "https://mc.example.com/index.php?route=/forum",
            "https://mc.example.com/#x",
        ] {
            assert!(api_url(bad).is_err(), "{bad}");
        }
    }
}
