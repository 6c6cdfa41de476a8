//! What the two `/_sim` control APIs share: the error shape (`{"error": "..."}` with a status),
//! JSON bodies, numeric path segments, query parameters and `GET /_sim/log?since=N`.

use serde::de::DeserializeOwned;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use crate::http_util::{QueryError, json_response, parse_query};
use crate::server::Incoming;

/// An answer, or a refusal with its status and message.
pub(crate) type ControlResult = Result<Response, (StatusCode, String)>;

/// The answer, with a refusal rendered as `{"error": "..."}`.
pub(crate) fn respond(result: ControlResult) -> Response {
    result.unwrap_or_else(|(status, message)| {
        json_response(status, &serde_json::json!({ "error": message }))
    })
}

/// The refusal of a control path no route matches.
pub(crate) fn no_route(incoming: &Incoming) -> (StatusCode, String) {
    (
        StatusCode::NOT_FOUND,
        format!("no control route {} {}", incoming.method, incoming.path),
    )
}

/// The refusal of a method a control route does not take (`allowed` are the ones it does).
pub(crate) fn not_allowed(incoming: &Incoming, allowed: &[Method]) -> (StatusCode, String) {
    let allowed: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    (
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} {} is not supported; use {}",
            incoming.method,
            incoming.path,
            allowed.join(" or ")
        ),
    )
}

/// A JSON request body.
pub(crate) fn body<T: DeserializeOwned>(body: &[u8]) -> Result<T, (StatusCode, String)> {
    serde_json::from_slice(body)
        .map_err(|err| (StatusCode::BAD_REQUEST, format!("invalid JSON body: {err}")))
}

/// A numeric path segment; `what` names it in the refusal.
pub(crate) fn id(segment: &str, what: &str) -> Result<u64, (StatusCode, String)> {
    segment.parse().map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            format!("{what} must be a number, got {segment:?}"),
        )
    })
}

fn query_error(err: QueryError) -> (StatusCode, String) {
    let message = match err {
        QueryError::Unknown(name) => format!("unknown query parameter {name:?}"),
        QueryError::Repeated(name) => format!("query parameter {name:?} given more than once"),
    };
    (StatusCode::BAD_REQUEST, message)
}

/// The `since` of `GET /_sim/log?since=N` (0 when absent).
pub(crate) fn log_since(query: &str) -> Result<u64, (StatusCode, String)> {
    let params = parse_query(query, &["since"]).map_err(query_error)?;
    match params.get("since") {
        Some(since) => since.parse().map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("since must be a sequence number, got {since:?}"),
            )
        }),
        None => Ok(0),
    }
}
