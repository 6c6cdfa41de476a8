//! Request input: the JSON body (Content-Type, JSON syntax), 50035 `errors` trees, snowflakes, query parameters and
//! the `X-Audit-Log-Reason` header.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use warp::http::{HeaderMap, header};

use super::error::{ApiError, Code};
use crate::http_util::{QueryError, parse_query};

/// The longest audit-log reason Discord accepts, in characters.
pub(crate) const AUDIT_REASON_MAX: usize = 512;

/// Collects field errors into Discord's `errors` tree: `{"field": {"0": {"_errors": [{"code", "message"}]}}}`.
#[derive(Default)]
pub(crate) struct FormErrors {
    entries: Vec<(Vec<String>, &'static str, String)>,
}

impl FormErrors {
    /// Records an error at `path` (empty for a request-level error).
    pub(crate) fn add(&mut self, path: &[&str], code: &'static str, message: impl Into<String>) {
        self.entries.push((
            path.iter().map(|segment| (*segment).to_owned()).collect(),
            code,
            message.into(),
        ));
    }

    /// Records an error below an array index: `path.index`.
    pub(crate) fn add_at(
        &mut self,
        path: &[&str],
        index: usize,
        code: &'static str,
        message: impl Into<String>,
    ) {
        let index = index.to_string();
        let mut full: Vec<&str> = path.to_vec();
        full.push(&index);
        self.add(&full, code, message);
    }

    /// Moves `inner`'s errors below `path`.
    pub(crate) fn nest(&mut self, path: &[&str], inner: FormErrors) {
        for (sub, code, message) in inner.entries {
            let mut full: Vec<String> = path.iter().map(|segment| (*segment).to_owned()).collect();
            full.extend(sub);
            self.entries.push((full, code, message));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `Ok` when nothing was recorded, else 400 50035 with the tree.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::form(self.tree()))
        }
    }

    fn tree(self) -> Value {
        let mut root = Map::new();
        for (path, code, message) in self.entries {
            let mut node = &mut root;
            for segment in path {
                let child = node
                    .entry(segment)
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(child) = child else {
                    unreachable!("error tree nodes are always objects")
                };
                node = child;
            }
            let list = node
                .entry("_errors")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.push(json!({ "code": code, "message": message }));
            }
        }
        Value::Object(root)
    }
}

/// 400 50035 with one error at `path`.
pub(crate) fn form_error(
    path: &[&str],
    code: &'static str,
    message: impl Into<String>,
) -> ApiError {
    let mut errors = FormErrors::default();
    errors.add(path, code, message);
    ApiError::form(errors.tree())
}

/// The request body as JSON: `{}` when empty; 50035 without a JSON Content-Type; 50109 when it is not JSON.
pub(crate) fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        let message = if mime.is_empty() {
            "Expected a Content-Type header of application/json.".to_owned()
        } else {
            format!(
                "Content-Type {mime:?} is not supported here: the simulator accepts application/json only."
            )
        };
        return Err(form_error(&[], "CONTENT_TYPE_INVALID", message));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::new(Code::InvalidJson))
}

/// The body as an object; 50035 `DICT_TYPE_CONVERT` when it is any other JSON value.
pub(crate) fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        form_error(
            &[],
            "DICT_TYPE_CONVERT",
            "Only dictionaries may be used in a DictType",
        )
    })
}

/// A snowflake given as a string of digits or a non-negative integer.
pub(crate) fn snowflake(value: &Value) -> Option<u64> {
    match value {
        Value::String(text) => parse_snowflake(text),
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
}

/// A snowflake written as decimal digits.
pub(crate) fn parse_snowflake(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A path id: 400 50035 `NUMBER_TYPE_COERCE` naming the parameter when it is not a snowflake.
pub(crate) fn path_id(segment: &str, name: &str) -> Result<u64, ApiError> {
    parse_snowflake(segment).ok_or_else(|| {
        form_error(
            &[name],
            "NUMBER_TYPE_COERCE",
            format!("Value \"{segment}\" is not snowflake."),
        )
    })
}

/// How a JSON value is quoted in Discord's "Could not interpret" messages.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Fields the schema defines that the simulator does not model: present and non-null is 50035.
pub(crate) fn unsupported(map: &Map<String, Value>, fields: &[&str], errors: &mut FormErrors) {
    for field in fields {
        if map.get(*field).is_some_and(|value| !value.is_null()) {
            errors.add(
                &[field],
                "UNSUPPORTED_BY_SIMULATOR",
                format!("The simulator does not model {field}."),
            );
        }
    }
}

/// An optional string field: `None` when absent, `Some(None)` when null, `Some(Some(text))` otherwise. Records a
/// type error or a length error (`max` characters).
pub(crate) fn optional_string(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
    errors: &mut FormErrors,
) -> Option<Option<String>> {
    match map.get(field)? {
        Value::Null => Some(None),
        Value::String(text) => {
            if text.chars().count() > max {
                errors.add(
                    &[field],
                    "BASE_TYPE_MAX_LENGTH",
                    format!("Must be {max} or fewer in length."),
                );
            }
            Some(Some(text.clone()))
        }
        other => {
            errors.add(
                &[field],
                "BASE_TYPE_STRING",
                format!("Could not interpret \"{}\" as string.", shown(other)),
            );
            None
        }
    }
}

/// An optional boolean field; records a type error.
pub(crate) fn optional_bool(
    map: &Map<String, Value>,
    field: &str,
    errors: &mut FormErrors,
) -> Option<bool> {
    match map.get(field)? {
        Value::Null => None,
        Value::Bool(flag) => Some(*flag),
        other => {
            errors.add(
                &[field],
                "BASE_TYPE_BOOLEAN",
                format!("Could not interpret \"{}\" as boolean.", shown(other)),
            );
            None
        }
    }
}

/// An optional integer field within `min..=max`; records a type or range error.
pub(crate) fn optional_int(
    map: &Map<String, Value>,
    field: &str,
    min: i64,
    max: i64,
    errors: &mut FormErrors,
) -> Option<i64> {
    let value = map.get(field)?;
    if value.is_null() {
        return None;
    }
    let Some(number) = value.as_i64() else {
        errors.add(
            &[field],
            "NUMBER_TYPE_COERCE",
            format!("Value \"{}\" is not int.", shown(value)),
        );
        return None;
    };
    if number < min {
        errors.add(
            &[field],
            "NUMBER_TYPE_MIN",
            format!("int value should be greater than or equal to {min}."),
        );
    } else if number > max {
        errors.add(
            &[field],
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {max}."),
        );
    }
    Some(number)
}

/// The query string, accepting only `allowed` names, each once (else 50035 naming the parameter).
pub(crate) fn query(raw: &str, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    parse_query(raw, allowed).map_err(|err| match err {
        QueryError::Unknown(name) => form_error(
            &[&name],
            "UNKNOWN_QUERY_PARAMETER",
            format!("The simulator does not know the query parameter {name:?} for this route."),
        ),
        QueryError::Repeated(name) => form_error(
            &[&name],
            "DUPLICATE_QUERY_PARAMETER",
            "The parameter was given more than once.",
        ),
    })
}

/// An integer query parameter within `min..=max`.
pub(crate) fn query_int(
    params: &HashMap<String, String>,
    name: &str,
    min: u64,
    max: u64,
    errors: &mut FormErrors,
) -> Option<u64> {
    let text = params.get(name)?;
    let Some(number) = parse_snowflake(text) else {
        errors.add(
            &[name],
            "NUMBER_TYPE_COERCE",
            format!("Value \"{text}\" is not int."),
        );
        return None;
    };
    if number < min {
        errors.add(
            &[name],
            "NUMBER_TYPE_MIN",
            format!("int value should be greater than or equal to {min}."),
        );
        return None;
    }
    if number > max {
        errors.add(
            &[name],
            "NUMBER_TYPE_MAX",
            format!("int value should be less than or equal to {max}."),
        );
        return None;
    }
    Some(number)
}

/// A boolean query parameter the way the docs define them: `True`, `true`, `1` / `False`, `false`, `0`.
pub(crate) fn query_bool(
    params: &HashMap<String, String>,
    name: &str,
    errors: &mut FormErrors,
) -> Option<bool> {
    match params.get(name)?.as_str() {
        "True" | "true" | "1" => Some(true),
        "False" | "false" | "0" => Some(false),
        other => {
            errors.add(
                &[name],
                "BASE_TYPE_BOOLEAN",
                format!("Could not interpret \"{other}\" as boolean."),
            );
            None
        }
    }
}

/// The URL-decoded `X-Audit-Log-Reason`: `None` when absent or empty; 50035 when longer than 512 characters.
pub(crate) fn audit_reason(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("x-audit-log-reason") else {
        return Ok(None);
    };
    let reason = unquote(raw.as_bytes());
    if reason.is_empty() {
        return Ok(None);
    }
    if reason.chars().count() > AUDIT_REASON_MAX {
        return Err(form_error(
            &["audit_log_reason"],
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {AUDIT_REASON_MAX} or fewer in length."),
        ));
    }
    Ok(Some(reason))
}

/// The reason for the log, decoded the same way but never refused (a request rejected for its reason still logs it).
pub(crate) fn audit_reason_for_log(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-audit-log-reason")?;
    let reason = unquote(raw.as_bytes());
    (!reason.is_empty()).then_some(reason)
}

/// Python's `urllib.parse.unquote`: `%XX` escapes become bytes, malformed escapes stay, invalid UTF-8 becomes U+FFFD.
pub(crate) fn unquote(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_nest_by_path() {
        let mut errors = FormErrors::default();
        errors.add(
            &["nick"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 32 or fewer in length.",
        );
        errors.add_at(
            &["roles"],
            1,
            "NUMBER_TYPE_COERCE",
            "Value \"x\" is not snowflake.",
        );
        errors.add(&[], "CONTENT_TYPE_INVALID", "bad");
        assert_eq!(
            errors.tree(),
            json!({
                "nick": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 32 or fewer in length."}]},
                "roles": {"1": {"_errors": [{"code": "NUMBER_TYPE_COERCE", "message": "Value \"x\" is not snowflake."}]}},
                "_errors": [{"code": "CONTENT_TYPE_INVALID", "message": "bad"}]
            })
        );
    }

    #[test]
    fn unquote_is_lenient_like_python() {
        assert_eq!(
            unquote(b"Rank%20update%3A%20%E2%9C%93"),
            "Rank update: \u{2713}"
        );
        assert_eq!(unquote(b"100%"), "100%");
        assert_eq!(unquote(b"a%zzb"), "a%zzb");
        assert_eq!(unquote(b"a+b"), "a+b");
        assert_eq!(unquote(b"%FF"), "\u{FFFD}");
    }

    #[test]
    fn snowflakes() {
        assert_eq!(
            parse_snowflake("80351110224678912"),
            Some(80_351_110_224_678_912)
        );
        assert_eq!(parse_snowflake("0"), Some(0));
        assert_eq!(parse_snowflake("-1"), None);
        assert_eq!(parse_snowflake("12a"), None);
        assert_eq!(parse_snowflake(""), None);
        assert_eq!(parse_snowflake("99999999999999999999"), None);
        assert_eq!(snowflake(&json!(42)), Some(42));
        assert_eq!(snowflake(&json!("42")), Some(42));
        assert_eq!(snowflake(&json!(null)), None);
    }
}
