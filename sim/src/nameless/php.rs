//! What PHP and the web server put on the wire: `json_encode`'s output, PHP's loose comparisons and string
//! conversions, and the HTML pages outside the API.

use serde_json::Value;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// The content type the API page sets before anything else (`modules/Core/pages/api/v2/index.php`).
pub(crate) const API_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// A string as `json_encode` writes it with default flags: `"`, `\` and `/` escaped, control characters and every
/// non-ASCII character as lowercase `\uXXXX` (UTF-16 surrogate pairs beyond the BMP).
pub(crate) fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            '\u{7f}' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// An object from already-encoded values, keys in the order given (PHP arrays keep insertion order).
pub(crate) fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{value}", string(key)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A list from already-encoded values.
pub(crate) fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

/// `$value == null` in PHP 8: `null`, `false`, `0`, `0.0`, `""` and empty arrays (a decoded `[]` or `{}`).
pub(crate) fn loosely_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

/// How a decoded JSON value passes a `?string` parameter without strict types.
pub(crate) enum AsString {
    /// A string (numbers as their decimal text, `true` as `"1"`, `false` as `""`).
    Text(String),
    /// Arrays and objects cannot be converted: a `TypeError` naming this type.
    TypeError(&'static str),
}

pub(crate) fn as_string(value: &Value) -> AsString {
    match value {
        Value::Null => AsString::Text(String::new()),
        Value::Bool(true) => AsString::Text("1".into()),
        Value::Bool(false) => AsString::Text(String::new()),
        Value::Number(n) => AsString::Text(n.to_string()),
        Value::String(s) => AsString::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => AsString::TypeError("array"),
    }
}

/// A response with a body and a content type.
pub(crate) fn response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An answer of the API page: its JSON content type whatever the body.
pub(crate) fn api_response(status: StatusCode, body: String) -> Response {
    response(status, API_CONTENT_TYPE, body)
}

/// `Nameless2API::throwError`: `{"error": code}` plus `"meta"` when there is one.
pub(crate) fn api_error(status: StatusCode, code: &str, meta: Option<&str>) -> Response {
    let mut fields = vec![("error", string(code))];
    if let Some(meta) = meta {
        fields.push(("meta", string(meta)));
    }
    api_response(status, object(&fields))
}

/// The web server's own 404 for a path that is neither a file nor rewritten (Apache's page).
pub(crate) fn server_not_found() -> Response {
    response(
        StatusCode::NOT_FOUND,
        "text/html; charset=iso-8859-1",
        apache_page(
            StatusCode::NOT_FOUND,
            "The requested URL was not found on this server.",
        ),
    )
}

/// NamelessMC's 404 page (`404.php` with the language file's texts), shortened to its content.
pub(crate) fn site_not_found() -> Response {
    response(
        StatusCode::NOT_FOUND,
        "text/html; charset=UTF-8",
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>404 &bull; NamelessMC</title>\n\
         </head>\n<body>\n<h2>Sorry!</h2>\n<p>We couldn't find that page.</p>\n\
         <p>If you believe this to be an error, please contact an administrator</p>\n\
         <a href=\"/\">Home</a>\n</body>\n</html>\n"
            .into(),
    )
}

/// The site's home page, shortened to a title.
pub(crate) fn home() -> Response {
    response(
        StatusCode::OK,
        "text/html; charset=UTF-8",
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Home &bull; NamelessMC</title>\n\
         </head>\n<body>\n<h1>NamelessMC</h1>\n</body>\n</html>\n"
            .into(),
    )
}

/// What a request hit by [`NamelessSim::fail_next`](super::NamelessSim::fail_next) gets: the web server's error page
/// for that status.
pub(crate) fn error_page(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| status.as_u16() >= 100)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match status.as_u16() {
        500 => {
            "The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request."
        }
        502 => {
            "The proxy server received an invalid\nresponse from an upstream server.<br />\nThe proxy server could not handle the request"
        }
        503 => {
            "The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later."
        }
        504 => {
            "The gateway did not receive a timely response\nfrom the upstream server or application."
        }
        _ => "The server could not handle the request.",
    };
    response(
        status,
        "text/html; charset=iso-8859-1",
        apache_page(status, text),
    )
}

fn apache_page(status: StatusCode, text: &str) -> String {
    let reason = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{} {reason}</title>\n\
         </head><body>\n<h1>{reason}</h1>\n<p>{text}</p>\n</body></html>\n",
        status.as_u16()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_encoded_like_json_encode() {
        assert_eq!(string("a/b"), r#""a\/b""#);
        assert_eq!(string("say \"hi\"\n"), r#""say \"hi\"\n""#);
        assert_eq!(string("é"), r#""\u00e9""#);
        assert_eq!(string("\u{1}"), r#""\u0001""#);
        assert_eq!(string("😀"), r#""\ud83d\ude00""#);
        assert_eq!(
            object(&[("b", string("1")), ("a", list([string("x")]))]),
            r#"{"b":"1","a":["x"]}"#
        );
    }

    #[test]
    fn loose_null_comparison() {
        for value in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(loosely_null(&value), "{value} == null");
        }
        for value in [json!("0"), json!(1), json!(true), json!([1]), json!("a")] {
            assert!(!loosely_null(&value), "{value} != null");
        }
    }
}
