//! The small HTTP toolkit under every family: a parsed request, JSON responses, body and
//! query helpers. Routing is the route table's ([`crate::routes`]), which answers unknown
//! routes and wrong methods in each family's envelope.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

/// A request as handlers see it.
#[derive(Debug)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path, percent-decoded per segment, without empty segments.
    pub segments: Vec<String>,
    /// Raw path.
    pub path: String,
    /// Query parameters (last one wins).
    pub query: HashMap<String, String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Request id (from `x-request-id` or generated).
    pub request_id: String,
}

impl Request {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Path segment `i`.
    pub fn seg(&self, i: usize) -> Option<&str> {
        self.segments.get(i).map(String::as_str)
    }
}

/// Splits a path into decoded, non-empty segments (`//x` and `/x/` both give `["x"]`).
/// A segment with a malformed escape is kept as sent.
pub fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).unwrap_or_else(|| s.to_owned()))
        .collect()
}

fn percent_decode(segment: &str) -> Option<String> {
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

/// Parses a query string.
pub fn parse_query(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A JSON response.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(bytes.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = Response::new(body.into().into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Adds a header (ignoring invalid values).
pub fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

pub use crate::wire::BodyError;

/// Parses a JSON object body, whatever the `Content-Type` says (see [`crate::wire`]).
pub fn json_object(req: &Request) -> Result<serde_json::Map<String, serde_json::Value>, BodyError> {
    crate::wire::object(req)
}

/// A required positive integer id field (a JSON number, or a string of digits).
pub fn id_field(
    body: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<u64, BodyError> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => Err(BodyError(format!("`{field}` is required"))),
        Some(v) => parse_id_value(v).ok_or_else(|| {
            BodyError(format!(
                "`{field}` must be a positive integer up to 9223372036854775807"
            ))
        }),
    }
}

/// A positive integer from a JSON number or digit string.
pub fn parse_id_value(v: &serde_json::Value) -> Option<u64> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_u64()?,
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()?
        }
        _ => return None,
    };
    (n > 0 && n <= i64::MAX as u64).then_some(n)
}

/// An integer field in a range (a JSON number only).
pub fn int_field(
    body: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    min: i64,
    max: i64,
) -> Result<i64, BodyError> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => Err(BodyError(format!("`{field}` is required"))),
        Some(v) => v
            .as_i64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| BodyError(format!("`{field}` must be an integer from {min} to {max}"))),
    }
}
