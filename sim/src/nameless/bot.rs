//! The site calling its bot: `Discord::updateDiscordRoles` builds the body, `Discord::botRequest` appends the path
//! to the stored bot URL, and `HttpClient::post` sends it with Guzzle (a `body` string: no `Content-Type`; Guzzle's
//! default `User-Agent`; `timeout` 5 s for the whole exchange; up to 5 redirects).

use std::time::Duration;

use super::php;
use super::{BotReply, RoleChangeRequest};

/// Appended to the stored bot URL as it is (`BOT_URL . '/applyRoleChanges'`).
pub(crate) const PATH: &str = "/applyRoleChanges";

/// `HttpClient::createClient`'s `'timeout' => 5.0`.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);

/// Guzzle 7's `Utils::defaultUserAgent()`.
pub(crate) const USER_AGENT: &str = "GuzzleHttp/7";

/// Guzzle's default `allow_redirects` `max`.
const MAX_REDIRECTS: usize = 5;

/// The JSON `Discord::updateDiscordRoles` sends, encoded as `json_encode` does (no spaces, keys in this order).
/// `guild_id` is the stored setting (a string, `null` when unset), `api_key` the site's key (`null` when the site
/// has none), each `user_id` a string and each `role_id` a number; role id 0 is dropped as `array_filter` drops it.
pub(crate) fn request_body(
    guild_id: Option<&str>,
    api_key: Option<&str>,
    changes: &[RoleChangeRequest],
) -> String {
    let text_or_null = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), php::string);
    let role_changes = changes
        .iter()
        .filter(|change| change.role_id != 0)
        .map(|change| {
            php::object(&[
                ("user_id", php::string(&change.user_id.to_string())),
                ("role_id", change.role_id.to_string()),
                (
                    "action",
                    php::string(if change.add { "add" } else { "remove" }),
                ),
            ])
        });
    php::object(&[
        ("guild_id", text_or_null(guild_id)),
        ("api_key", text_or_null(api_key)),
        ("role_changes", php::list(role_changes)),
    ])
}

/// POSTs `body` to `url` and reads the answer, whatever its status.
pub(crate) async fn post(url: &str, body: String) -> Result<BotReply, String> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .no_proxy()
        .build()
        .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
    let failed = |err: reqwest::Error| {
        if err.is_timeout() {
            format!("POST {url} timed out after {} s", TIMEOUT.as_secs())
        } else {
            format!("POST {url} failed: {err}")
        }
    };
    let response = client.post(url).body(body).send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(failed)?;
    Ok(BotReply { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_what_namelessmc_sends() {
        let changes = [
            RoleChangeRequest {
                user_id: 111,
                role_id: 222,
                add: true,
            },
            RoleChangeRequest {
                user_id: 111,
                role_id: 0,
                add: true,
            },
            RoleChangeRequest {
                user_id: 111,
                role_id: 333,
                add: false,
            },
        ];
        assert_eq!(
            request_body(Some("999"), Some("key"), &changes),
            r#"{"guild_id":"999","api_key":"key","role_changes":[{"user_id":"111","role_id":222,"action":"add"},{"user_id":"111","role_id":333,"action":"remove"}]}"#
        );
        assert_eq!(
            request_body(None, None, &[]),
            r#"{"guild_id":null,"api_key":null,"role_changes":[]}"#
        );
    }
}
