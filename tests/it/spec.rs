//! Every answer the harness receives is checked against the OpenAPI document
//! (`roster_api::openapi::document()`, the same document as `docs/openapi.json`), so the document
//! cannot drift from the behaviour: an undeclared status, or a body its schema refuses, fails the
//! test that received it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use roster_api::routes::{self, Family, Found};
use serde_json::{Value, json};

static DOC: LazyLock<Value> = LazyLock::new(roster_api::openapi::document);
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Default::default);

fn validator(key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().expect("lock");
    cache
        .entry(key.to_owned())
        .or_insert_with(|| {
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": DOC["components"],
                "allOf": [schema],
            });
            Arc::new(
                jsonschema::validator_for(&root).unwrap_or_else(|e| {
                    panic!("the OpenAPI schema for {key} does not compile: {e}")
                }),
            )
        })
        .clone()
}

fn family_error_schema(f: Family) -> Option<&'static str> {
    match f {
        Family::Ranking => Some("RankingError"),
        Family::Guild => Some("GuildErrorBody"),
        Family::Admin => Some("AdminErrorBody"),
        Family::RoleBridge => Some("BridgeReply"),
        Family::Community => Some("CommunityError"),
        Family::Ops => None,
    }
}

/// Checks one answer. `body` is the parsed JSON, or a JSON string holding a non-JSON body.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &Value) {
    let path_only = path.split('?').next().unwrap_or(path);
    let segments: Vec<String> = path_only
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m: reqwest::Method = method.parse().expect("method");
    let json_body = content_type.is_some_and(|c| c.starts_with("application/json"));
    let (key, schema) = match routes::find(&m, &segs) {
        Found::Route(r, _) => {
            let op = &DOC["paths"][r.path][method.to_ascii_lowercase()];
            let responses = op["responses"].as_object().expect("responses");
            let exact = status.to_string();
            let class = format!("{}XX", status / 100);
            let Some((declared, answer)) = responses
                .get_key_value(&exact)
                .or_else(|| responses.get_key_value(&class))
            else {
                panic!(
                    "{method} {path} answered {status}, which the OpenAPI document does not declare for {} (declared: {:?}); body: {body}",
                    r.id,
                    responses.keys().collect::<Vec<_>>()
                );
            };
            let content = &answer["content"];
            if let Some(text) = content.get("text/plain") {
                assert!(
                    !json_body,
                    "{method} {path} answered {status} with JSON where the document declares text: {body}"
                );
                let _ = text;
                return;
            }
            let schema = content["application/json"]["schema"].clone();
            assert!(
                json_body,
                "{method} {path} answered {status} without a JSON Content-Type ({content_type:?}) where the document declares JSON: {body}"
            );
            (format!("{} {} {declared}", r.id, method), schema)
        }
        Found::WrongMethod(r, _) => match family_error_schema(r.family) {
            Some(name) => (
                name.to_owned(),
                json!({"$ref": format!("#/components/schemas/{name}")}),
            ),
            None => return,
        },
        Found::NotFound(f) => match family_error_schema(f) {
            Some(name) => (
                name.to_owned(),
                json!({"$ref": format!("#/components/schemas/{name}")}),
            ),
            None => return,
        },
    };
    let v = validator(&key, &schema);
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} with a body the OpenAPI document refuses ({key}): {errors:?}\nbody: {body}"
    );
}
