//! Errors: [`SimError`] for in-process control calls, [`ApiError`] for Discord's JSON error body, and the
//! Cloudflare pages the edge answers with.

use serde_json::{Map, Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::http_util::json_response;

/// Why an in-process (or `/_sim`) control call was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The guild has not been seeded.
    #[error("guild {0} does not exist in the simulator")]
    UnknownGuild(u64),
    /// The role id is not one of the guild's assignable roles.
    #[error("role {role_id} is not an assignable role of guild {guild_id}")]
    UnknownRole {
        /// The guild that was searched.
        guild_id: u64,
        /// The role id that was not found (or is `@everyone`).
        role_id: u64,
    },
    /// The user is not a member of the guild.
    #[error("user {user_id} is not a member of guild {guild_id}")]
    UnknownMember {
        /// The guild that was searched.
        guild_id: u64,
        /// The user who is not a member.
        user_id: u64,
    },
    /// The user has never been seen by the simulator.
    #[error("user {0} is not known to the simulator")]
    UnknownUser(u64),
    /// A guild or member seed breaks one of the rules listed on [`GuildSeed`](super::GuildSeed).
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
}

/// A Discord JSON error code with its canonical message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    UnknownChannel,
    UnknownGuild,
    UnknownMember,
    UnknownRole,
    UnknownUser,
    UnknownBan,
    MissingAccess,
    EmptyMessage,
    CannotMessageUser,
    MissingPermissions,
    InvalidFormBody,
    InvalidJson,
}

impl Code {
    pub(crate) fn number(self) -> u32 {
        match self {
            Code::UnknownChannel => 10003,
            Code::UnknownGuild => 10004,
            Code::UnknownMember => 10007,
            Code::UnknownRole => 10011,
            Code::UnknownUser => 10013,
            Code::UnknownBan => 10026,
            Code::MissingAccess => 50001,
            Code::EmptyMessage => 50006,
            Code::CannotMessageUser => 50007,
            Code::MissingPermissions => 50013,
            Code::InvalidFormBody => 50035,
            Code::InvalidJson => 50109,
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Code::UnknownChannel
            | Code::UnknownGuild
            | Code::UnknownMember
            | Code::UnknownRole
            | Code::UnknownUser
            | Code::UnknownBan => StatusCode::NOT_FOUND,
            Code::MissingAccess | Code::CannotMessageUser | Code::MissingPermissions => {
                StatusCode::FORBIDDEN
            }
            Code::EmptyMessage | Code::InvalidFormBody | Code::InvalidJson => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// The message Discord sends with a JSON error code, for the codes the simulator knows.
pub(crate) fn message_for_code(code: u32) -> Option<&'static str> {
    Some(match code {
        10003 => "Unknown Channel",
        10004 => "Unknown Guild",
        10007 => "Unknown Member",
        10011 => "Unknown Role",
        10013 => "Unknown User",
        10026 => "Unknown Ban",
        50001 => "Missing Access",
        50006 => "Cannot send an empty message",
        50007 => "Cannot send messages to this user",
        50013 => "Missing Permissions",
        50035 => "Invalid Form Body",
        50109 => "The request body contains invalid JSON.",
        130000 => "API resource is currently overloaded. Try again a little later",
        _ => return None,
    })
}

/// A Discord error answer: `{"message", "code"}` (and `errors` for 50035) with its status.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) errors: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: Code) -> Self {
        Self {
            status: code.status(),
            code: code.number(),
            message: message_for_code(code.number())
                .unwrap_or("Unknown error")
                .to_owned(),
            errors: None,
        }
    }

    /// A code-0 error in Discord's `"<status>: <reason>"` form (401, 404, 405, 5xx).
    pub(crate) fn general(status: StatusCode) -> Self {
        Self {
            status,
            code: 0,
            message: format!(
                "{}: {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            ),
            errors: None,
        }
    }

    /// 400 50035 with the given `errors` tree.
    pub(crate) fn form(errors: Value) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(Code::InvalidFormBody)
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("message".into(), Value::String(self.message));
        body.insert("code".into(), Value::from(self.code));
        if let Some(errors) = self.errors {
            body.insert("errors".into(), errors);
        }
        json_response(self.status, &Value::Object(body))
    }
}

/// A 429 JSON body (`user` and `shared` scopes, and `global`).
pub(crate) fn rate_limited_body(message: &str, retry_after: f64, global: bool) -> Value {
    json!({ "message": message, "retry_after": round_ms(retry_after), "global": global })
}

/// Seconds rounded to milliseconds, as Discord sends them.
pub(crate) fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// A Cloudflare HTML error page.
fn cloudflare_page(status: StatusCode, error_code: u16, title: &str, text: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head><title>{title} | discord.com | Cloudflare</title></head>\n\
         <body>\n<h1>Error {error_code}</h1>\n<h2>{title}</h2>\n<p>{text}</p>\n\
         <p>Cloudflare Ray ID: 0000000000000000 &bull; Performance &amp; security by Cloudflare</p>\n</body>\n</html>\n"
    );
    let mut response = Response::new(html.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    headers.insert(header::SERVER, HeaderValue::from_static("cloudflare"));
    response
}

/// The page for a client IP banned for too many invalid requests: 429 `1015` with `Retry-After`.
pub(crate) fn cloudflare_banned(retry_after_secs: u64) -> Response {
    let mut response = cloudflare_page(
        StatusCode::TOO_MANY_REQUESTS,
        1015,
        "You are being rate limited",
        "The owner of this website (discord.com) has banned you temporarily from accessing this website.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The page for a request without a User-Agent: 403 `1010`.
pub(crate) fn cloudflare_browser_signature() -> Response {
    cloudflare_page(
        StatusCode::FORBIDDEN,
        1010,
        "Access denied",
        "The owner of this website (discord.com) has banned your access based on your browser's signature.",
    )
}
