//! Small HTTP helpers shared by the simulators: JSON responses, path and query decoding, timestamps.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// A response with a JSON body and `content-type: application/json`.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(error = %err, "simulator could not serialize a response body");
            return empty_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let mut response = Response::new(bytes.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A response without a body.
pub(crate) fn empty_response(status: StatusCode) -> Response {
    let mut response = Response::new(Vec::new().into());
    *response.status_mut() = status;
    response
}

/// Decodes `%XX` escapes in one path segment. `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a query string was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// A parameter the operation does not define.
    Unknown(String),
    /// A parameter given more than once.
    Repeated(String),
}

/// Parses an `application/x-www-form-urlencoded` query string, accepting only the `allowed` names, each once.
pub(crate) fn parse_query(
    raw: &str,
    allowed: &[&str],
) -> Result<HashMap<String, String>, QueryError> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            return Err(QueryError::Unknown(name.into_owned()));
        }
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(QueryError::Repeated(name.into_owned()));
        }
    }
    Ok(params)
}

/// RFC 3339 in UTC with as many fractional digits as needed (the protobuf JSON timestamp style).
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("7%3AassignRole").as_deref(),
            Some("7:assignRole")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }

    #[test]
    fn query_parsing_is_strict() {
        let params = parse_query(
            "maxPageSize=5&filter=user+%3D%3D+%27users%2F1%27",
            &["maxPageSize", "filter"],
        );
        let params = params.expect("valid query");
        assert_eq!(params["filter"], "user == 'users/1'");
        assert_eq!(
            parse_query("pageSize=5", &["maxPageSize"]),
            Err(QueryError::Unknown("pageSize".into()))
        );
        assert_eq!(
            parse_query("maxPageSize=5&maxPageSize=6", &["maxPageSize"]),
            Err(QueryError::Repeated("maxPageSize".into()))
        );
    }
}
