//! The simulator against the official OpenAPI file (`discord-openapi.json`).
//!
//! Validation of bodies against `discord-openapi.json` (OpenAPI 3.1, JSON Schema 2020-12), read once per test binary.

use std::sync::OnceLock;

use jsonschema::Validator;
use roster_sim::discord::Route;
use serde_json::{Map, Value};

use super::*;

#[tokio::test]
#[cfg_attr(
    not(upstream_specs),
    ignore = "upstream specs not found: set ROSTER_UPSTREAM_SPECS or place them at ../shared/upstream-specs"
)]
async fn conformance_with_the_official_spec() {
    let spec = spec().expect(
        "conformance: the official spec was not found: set ROSTER_UPSTREAM_SPECS or place it at ../shared/upstream-specs",
    );
    for route in Route::ALL {
        let operation = spec.operation(route);
        assert_eq!(operation["operationId"], route.operation_id(), "{route:?}");
        let success = route.success_status().to_string();
        assert!(
            operation["responses"].get(&success).is_some(),
            "{route:?} answers {success}, which the spec does not list"
        );
    }
    // The spec's query parameters are the ones the simulator accepts.
    assert_eq!(
        spec.query_parameters(Route::ListMembers),
        vec!["limit", "after"]
    );
    assert_eq!(spec.query_parameters(Route::GetGuild), vec!["with_counts"]);
    for route in [
        Route::GetMember,
        Route::ListRoles,
        Route::GetCurrentUser,
        Route::GetBan,
    ] {
        assert!(spec.query_parameters(route).is_empty(), "{route:?}");
    }
    // The request bodies the tests send are what the spec asks for.
    spec.check_request(
        Route::ModifyMember,
        &json!({ "nick": "x", "roles": ["1001"] }),
    );
    spec.check_request(Route::ModifyMember, &json!({ "nick": null }));
    spec.check_request(Route::CreateBan, &json!({ "delete_message_seconds": null }));
    spec.check_request(Route::CreateDm, &json!({ "recipient_id": "10" }));
    spec.check_request(
        Route::CreateMessage,
        &json!({ "content": "hi", "embeds": [{ "title": "t", "fields": [{ "name": "a", "value": "b" }] }] }),
    );
    // The validator is strict enough to notice a wrong body.
    assert!(!spec.response_is_valid(Route::GetCurrentUser, &json!({ "id": 900 })));

    // Drive every route (the helper validates each 2xx body), then spoil real bodies one way each.
    let test = TestSim::seeded().await;
    let me = test.get(TOKEN, "/users/@me").await;
    let guild = test.get(TOKEN, "/guilds/1000?with_counts=true").await;
    test.get(TOKEN, "/guilds/1000").await.ok();
    test.get(TOKEN, "/guilds/1000/roles").await.ok();
    let member = test.get(TOKEN, "/guilds/1000/members/11").await;
    test.get(TOKEN, "/guilds/1000/members?limit=1000")
        .await
        .ok();
    test.json(
        Method::PATCH,
        TOKEN,
        "/guilds/1000/members/10",
        json!({ "nick": "x", "roles": ["1001", "1002"] }),
    )
    .await
    .ok();
    test.put(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    test.delete(TOKEN, &role_path(GUILD, PLAIN, TRUSTED_ROLE))
        .await
        .no_content();
    test.with_reason(Method::PUT, TOKEN, "/guilds/1000/bans/14", "spam")
        .await
        .no_content();
    let ban = test.get(TOKEN, "/guilds/1000/bans/14").await;
    test.delete(TOKEN, "/guilds/1000/bans/14")
        .await
        .no_content();
    let dm = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "10" }),
        )
        .await;
    let channel = dm.ok()["id"].as_str().expect("id").to_owned();
    let message = test
        .json(
            Method::POST,
            TOKEN,
            &format!("/channels/{channel}/messages"),
            json!({ "content": "hi", "nonce": "abc", "tts": false, "embeds": [{ "title": "t", "url": "https://example.com",
                "author": { "name": "Roster", "icon_url": "https://example.com/a.png" }, "footer": { "text": "f" } }] }),
        )
        .await;
    message.ok();
    let dm_again = test
        .json(
            Method::POST,
            TOKEN,
            "/users/@me/channels",
            json!({ "recipient_id": "10" }),
        )
        .await;
    assert!(dm_again.ok()["last_message_id"].is_string());

    let spoil = |route: Route, body: &Value, edit: &dyn Fn(&mut Value)| {
        let mut spoiled = body.clone();
        edit(&mut spoiled);
        assert!(
            !spec.response_is_valid(route, &spoiled),
            "{route:?}: {spoiled}"
        );
    };
    spoil(Route::GetCurrentUser, me.ok(), &|b| b["id"] = json!(900));
    spoil(Route::GetGuild, guild.ok(), &|b| {
        b["invented"] = json!(true)
    });
    spoil(Route::GetGuild, &guild.body, &|b| {
        b["roles"][0]["permissions"] = json!(0)
    });
    spoil(Route::GetMember, member.ok(), &|b| {
        b["roles"] = json!([1001])
    });
    spoil(Route::GetMember, &member.body, &|b| {
        b["joined_at"] = json!("yesterday")
    });
    spoil(Route::GetBan, ban.ok(), &|b| {
        if let Some(map) = b.as_object_mut() {
            map.remove("reason");
        }
    });
    spoil(Route::CreateDm, &dm.body, &|b| b["type"] = json!(0));
    spoil(Route::CreateMessage, &message.body, &|b| {
        b["embeds"][0]["url"] = json!(5)
    });
    test.stop().await;
}

pub struct Spec {
    document: Value,
    responses: Vec<(Route, Validator)>,
}

static SPEC: OnceLock<Option<Spec>> = OnceLock::new();

/// The spec, when found (see [`crate::upstream_specs`]); panics if it is unusable.
pub fn spec() -> Option<&'static Spec> {
    SPEC.get_or_init(|| {
        let folder = crate::upstream_specs()?;
        let file = folder.join("discord-openapi.json");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|err| {
            panic!("the upstream spec {} is unreadable: {err}", file.display())
        });
        let document: Value = serde_json::from_str(&text).expect("the spec is JSON");
        let responses = Route::ALL
            .into_iter()
            .filter(|route| route.success_status() == 200)
            .map(|route| {
                let schema = &Spec::operation_in(&document, route)["responses"]["200"]["content"]
                    ["application/json"]["schema"];
                assert!(schema.is_object(), "{route:?} has no 200 JSON schema");
                (route, compile(&document, schema))
            })
            .collect();
        Some(Spec {
            document,
            responses,
        })
    })
    .as_ref()
}

/// Validates a 2xx JSON body of an `/api/v10` request, if the spec is available.
pub fn check_response(method: &str, path: &str, body: &Value) {
    let Some(spec) = spec() else {
        return;
    };
    let below = path.strip_prefix("/api/v10").expect("an API path");
    let route = Route::ALL
        .into_iter()
        .find(|route| route.method() == method && matches_template(route.path_template(), below))
        .unwrap_or_else(|| panic!("no implemented route matches {method} {path}"));
    let errors = spec.response_errors(route, body);
    assert!(
        errors.is_empty(),
        "{method} {path}: the body does not match the spec's {} schema: {errors:?}\n{body}",
        route.operation_id()
    );
}

impl Spec {
    fn operation_in(document: &Value, route: Route) -> &Value {
        let operation =
            &document["paths"][route.path_template()][route.method().to_ascii_lowercase()];
        assert!(operation.is_object(), "{route:?} is not in the spec");
        operation
    }

    pub fn operation(&self, route: Route) -> &Value {
        Self::operation_in(&self.document, route)
    }

    pub fn query_parameters(&self, route: Route) -> Vec<&str> {
        self.operation(route)["parameters"]
            .as_array()
            .map(|params| {
                params
                    .iter()
                    .filter(|param| param["in"] == "query")
                    .filter_map(|param| param["name"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn response_errors(&self, route: Route, body: &Value) -> Vec<String> {
        let (_, validator) = self
            .responses
            .iter()
            .find(|(r, _)| *r == route)
            .unwrap_or_else(|| panic!("{route:?} has no JSON response to validate"));
        validator
            .iter_errors(body)
            .map(|err| format!("{} at {}", err, err.instance_path))
            .collect()
    }

    pub fn response_is_valid(&self, route: Route, body: &Value) -> bool {
        self.response_errors(route, body).is_empty()
    }

    pub fn check_request(&self, route: Route, body: &Value) {
        let schema = &self.operation(route)["requestBody"]["content"]["application/json"]["schema"];
        let validator = compile(&self.document, schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|err| err.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{route:?} request body {body} does not match the spec: {errors:?}"
        );
    }
}

/// `/guilds/{guild_id}/members/{user_id}` against a concrete path.
fn matches_template(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// A self-contained validator: `#/components/schemas/X` refs become `#/$defs/X` (only the schemas reachable from
/// `schema` are copied), and objects that list properties forbid any other (so the simulator cannot invent
/// fields).
fn compile(document: &Value, schema: &Value) -> Validator {
    let components = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut pending = Vec::new();
    let root = translate(schema, &mut pending);
    let mut defs = Map::new();
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let target = components
            .get(&name)
            .unwrap_or_else(|| panic!("unknown schema {name}"));
        defs.insert(name.clone(), Value::Null);
        let translated = translate(target, &mut pending);
        defs.insert(name, translated);
    }
    let mut root = match root {
        Value::Object(map) => map,
        other => panic!("a schema must be an object, got {other}"),
    };
    root.insert("$defs".into(), Value::Object(defs));
    let root = Value::Object(root);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|err| panic!("the translated schema does not compile: {err}"))
}

fn translate(schema: &Value, pending: &mut Vec<String>) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "$ref" => {
                let name = value
                    .as_str()
                    .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("unsupported $ref {value}"));
                pending.push(name.to_owned());
                Value::String(format!("#/$defs/{name}"))
            }
            "properties" | "patternProperties" => Value::Object(
                value
                    .as_object()
                    .expect("an object of schemas")
                    .iter()
                    .map(|(name, property)| (name.clone(), translate(property, pending)))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" | "contains" => translate(value, pending),
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => Value::Array(
                value
                    .as_array()
                    .expect("a list of schemas")
                    .iter()
                    .map(|item| translate(item, pending))
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}
