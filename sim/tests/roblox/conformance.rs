//! The simulator against the official OpenAPI file (`roblox-openapi.json`).
//!
//! Validation of response bodies against `roblox-openapi.json` (OpenAPI 3.0), read once per test binary.

use std::sync::OnceLock;

use jsonschema::Validator;
use roster_sim::roblox::Endpoint;
use serde_json::{Map, Value};

use super::*;

/// Checks the simulator against the official OpenAPI file (`ROSTER_UPSTREAM_SPECS`, or
/// `../shared/upstream-specs` by default); ignored, so reported as skipped, when there is none.
#[tokio::test]
#[cfg_attr(
    not(upstream_specs),
    ignore = "upstream specs not found: set ROSTER_UPSTREAM_SPECS or place them at ../shared/upstream-specs"
)]
async fn conformance_with_the_official_spec() {
    let spec = spec().expect(
        "conformance: the official spec was not found: set ROSTER_UPSTREAM_SPECS or place it at ../shared/upstream-specs",
    );
    for endpoint in Endpoint::ALL {
        let operation = spec.operation(endpoint);
        assert_eq!(operation["operationId"], endpoint.operation_id());
        let limits = &operation["x-roblox-rate-limits"]["perApiKeyOwner"];
        assert_eq!(
            limits["period"],
            endpoint.spec_period().as_str(),
            "{endpoint:?}"
        );
        assert_eq!(
            limits["maxInPeriod"].as_u64(),
            Some(u64::from(endpoint.spec_limit())),
            "{endpoint:?}"
        );
        // The scopes the spec requires; one with a description ("Required to view permissions…") only widens
        // what the answer shows.
        let required: Vec<&str> = operation["x-roblox-scopes"]
            .as_array()
            .map(|scopes| {
                scopes
                    .iter()
                    .filter(|scope| scope.get("description").is_none())
                    .filter_map(|scope| scope["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            required,
            endpoint.required_scope().into_iter().collect::<Vec<_>>(),
            "{endpoint:?}"
        );
        // The additional user-restriction limits are spelled out in the rate-limit description.
        let description = operation["x-roblox-rate-limits"]["description"]
            .as_str()
            .unwrap_or("");
        assert_eq!(
            endpoint.spec_universe_limit().is_some(),
            description.contains("req/s"),
            "{endpoint:?}"
        );
        if let Some(limit) = endpoint.spec_universe_limit() {
            let name = match endpoint {
                Endpoint::GetUserRestriction | Endpoint::GetPlaceUserRestriction => {
                    "Get User Restriction"
                }
                Endpoint::ListUserRestrictions | Endpoint::ListPlaceUserRestrictions => {
                    "List User Restrictions"
                }
                Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                    "Update User Restrictions"
                }
                _ => "List User Restriction Logs",
            };
            assert!(
                description.contains(&format!("* {name}: {limit} req/s")),
                "{endpoint:?}: {description}"
            );
            assert!(endpoint.is_user_restriction());
            assert!(
                description.contains("* Update User Restriction: 2 req/min"),
                "{description}"
            );
        }
        assert_eq!(
            endpoint.spec_user_limit().is_some(),
            endpoint.is_user_restriction() && endpoint.is_write(),
            "{endpoint:?}"
        );
    }
    assert_eq!(Endpoint::UpdateUserRestriction.spec_user_limit(), Some(2));
    // Our request bodies are what the spec asks for.
    spec.check_request(Endpoint::AssignRole, &json!({ "role": role(TRUSTED) }));
    spec.check_request(Endpoint::UnassignRole, &json!({ "role": role(TRUSTED) }));
    spec.check_request(
        Endpoint::UpdateMembership,
        &json!({ "role": role(TRUSTED) }),
    );
    spec.check_request(Endpoint::AcceptJoinRequest, &json!({}));
    spec.check_request(Endpoint::DeclineJoinRequest, &json!({}));
    for endpoint in [
        Endpoint::UpdateUserRestriction,
        Endpoint::UpdatePlaceUserRestriction,
    ] {
        spec.check_request(endpoint, &ban(Some("3600s"), "shown", "hidden"));
        spec.check_request(endpoint, &ban(None, "", ""));
        spec.check_request(endpoint, &unban());
    }
    // The validator is strict enough to notice a wrong body.
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &json!({ "id": 7 })));
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &json!({ "id": "7", "invented": true })));

    // Drive every operation (each 200 body is validated by the helper) with every query parameter the spec
    // defines, so a parameter the simulator wrongly refuses shows up here.
    let test = TestSim::with_universes().await;
    let to_accept = seed_join_request(&test.sim, GROUP, 2001);
    let to_decline = seed_join_request(&test.sim, GROUP, 2002);
    let pending = seed_join_request(&test.sim, GROUP, 2003);
    let samples: HashMap<&str, String> = HashMap::from([
        ("maxPageSize", "5".to_owned()),
        ("pageToken", String::new()),
        ("filter", format!("user == 'users/{PLAIN}'")),
        ("updateMask", "gameJoinRestriction".to_owned()),
        ("idempotencyKey.firstSent", chrono::Utc::now().to_rfc3339()),
    ]);
    for (n, endpoint) in Endpoint::ALL.into_iter().enumerate() {
        let path = endpoint
            .path_template()
            .replace("{group_id}", &GROUP.to_string())
            .replace("{membership_id}", &MULTI.to_string())
            .replace("{role_id}", &OFFICER.to_string())
            .replace("{universe_id}", &USER_UNIVERSE.to_string())
            .replace("{place_id}", &PLACE.to_string())
            .replace("{user_restriction_id}", &PLAIN.to_string())
            .replace("{user_id}", &PLAIN.to_string())
            .replace(
                "{join_request_id}",
                if endpoint == Endpoint::AcceptJoinRequest {
                    &to_accept
                } else {
                    &to_decline
                },
            );
        let idempotency_key = format!("conformance-{n}");
        let query: Vec<(&str, &str)> = spec
            .query_parameters(endpoint)
            .into_iter()
            .map(|name| {
                let value = match name {
                    "idempotencyKey.key" => idempotency_key.as_str(),
                    _ => samples.get(name).map_or("", String::as_str),
                };
                (name, value)
            })
            .collect();
        let body = match endpoint {
            Endpoint::UpdateMembership => Some(Body::Json(json!({ "role": role(TRUSTED) }))),
            Endpoint::AssignRole => Some(Body::Json(json!({ "role": role(MEMBER) }))),
            Endpoint::UnassignRole => Some(Body::Json(json!({ "role": role(TRUSTED) }))),
            Endpoint::AcceptJoinRequest | Endpoint::DeclineJoinRequest => {
                Some(Body::Json(json!({})))
            }
            Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                Some(Body::Json(ban(Some("3600s"), "shown", "hidden")))
            }
            _ => None,
        };
        let key = if endpoint.is_user_restriction() {
            "ban-owner-key"
        } else {
            "owner-key"
        };
        let method = Method::from_bytes(endpoint.method().as_bytes()).expect("method");
        let reply = test.call(method, &path, Some(key), &query, body).await;
        assert_eq!(reply.status, 200, "{endpoint:?}: {}", reply.body);
    }
    // Restrictions in force, inherited and lifted, listed, and their logs.
    test.get("ban-owner-key", &restriction_path(USER_UNIVERSE, PLAIN))
        .await
        .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.get(
        "ban-owner-key",
        &place_restriction_path(USER_UNIVERSE, OTHER_PLACE, MULTI),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        unban(),
    )
    .await
    .ok();
    test.list(
        "ban-owner-key",
        &format!("/cloud/v2/universes/{USER_UNIVERSE}/places/{PLACE}/user-restrictions"),
        &[],
    )
    .await
    .ok();
    let logs = test
        .list("ban-owner-key", &logs_path(USER_UNIVERSE), &[])
        .await;
    assert_eq!(items(logs.ok(), "logs").len(), 4);
    // The wildcard listing and the owner's fuller role view, too.
    test.list(
        "owner-key",
        "/cloud/v2/groups/-/memberships",
        &[("filter", &format!("user == 'users/{PLAIN}'"))],
    )
    .await
    .ok();
    test.sim
        .update_config(|config| config.end_of_list = EndOfList::Omitted);
    test.list(
        "owner-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[("maxPageSize", "2")],
    )
    .await
    .ok();

    // A join request still pending, listed; then spoiled.
    let join_requests = test
        .list("owner-key", &join_requests_path(GROUP), &[])
        .await;
    let listed = items(join_requests.ok(), "groupJoinRequests");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["path"],
        format!("groups/{GROUP}/join-requests/{pending}")
    );
    for (field, value) in [
        ("user", json!(2003)),
        ("createTime", json!("just now")),
        ("state", json!("PENDING")),
    ] {
        let mut spoiled = join_requests.body.clone();
        spoiled["groupJoinRequests"][0][field] = value;
        assert!(
            !spec.response_is_valid(Endpoint::ListJoinRequests, &spoiled),
            "{field}"
        );
    }
    // Accept and decline answer `{}` where the spec has no content; anything more is caught.
    assert!(spec.response_is_valid(Endpoint::AcceptJoinRequest, &json!({})));
    assert!(!spec.response_is_valid(Endpoint::DeclineJoinRequest, &json!({ "path": "x" })));

    // Real bodies, each spoiled in one way, are caught.
    let group = test
        .get("owner-key", &format!("/cloud/v2/groups/{GROUP}"))
        .await;
    let mut spoiled = group.ok().clone();
    spoiled["memberCount"] = json!("7");
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &spoiled));
    let mut spoiled = group.body.clone();
    spoiled["createTime"] = json!("yesterday");
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &spoiled));
    let list = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[],
        )
        .await;
    let mut spoiled = list.ok().clone();
    spoiled["groupMemberships"][0]["roles"] = json!(role(MEMBER));
    assert!(!spec.response_is_valid(Endpoint::ListMemberships, &spoiled));
    let role_reply = test
        .get(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/roles/{OFFICER}"),
        )
        .await;
    let mut spoiled = role_reply.ok().clone();
    spoiled["permissions"]["kickEveryone"] = json!(true);
    assert!(!spec.response_is_valid(Endpoint::GetRole, &spoiled));
    let restriction = test
        .get("ban-owner-key", &restriction_path(USER_UNIVERSE, PLAIN))
        .await;
    let restriction = restriction.ok().clone();
    assert!(restriction["gameJoinRestriction"]["duration"].is_string());
    for (field, value) in [
        ("duration", json!(3600)),
        ("duration", json!("1h")),
        ("startTime", json!("now")),
        ("banned", json!(true)),
    ] {
        let mut spoiled = restriction.clone();
        spoiled["gameJoinRestriction"][field] = value;
        assert!(
            !spec.response_is_valid(Endpoint::GetUserRestriction, &spoiled),
            "{field}"
        );
    }
    let mut spoiled = logs.body.clone();
    spoiled["logs"][0]["moderator"]["robloxUser"] = json!(1);
    assert!(!spec.response_is_valid(Endpoint::ListUserRestrictionLogs, &spoiled));
    // A user with every field the scopes open (validated by the helper), then spoiled.
    test.sim.add_api_key(
        "user-everything-key",
        OWNER,
        &["user.advanced:read", "user.social:read"],
    );
    let user = test
        .get("user-everything-key", &format!("/cloud/v2/users/{PLAIN}"))
        .await;
    let user = user.ok().clone();
    assert_eq!(user["idVerified"], true);
    assert_eq!(user["socialNetworkProfiles"]["visibility"], "EVERYONE");
    for (field, value) in [
        ("id", json!(PLAIN)),
        ("premium", json!("yes")),
        ("createTime", json!("long ago")),
        ("isBanned", json!(false)),
    ] {
        let mut spoiled = user.clone();
        spoiled[field] = value;
        assert!(
            !spec.response_is_valid(Endpoint::GetUser, &spoiled),
            "{field}"
        );
    }
    let mut spoiled = user.clone();
    spoiled["socialNetworkProfiles"]["visibility"] = json!("EVERYBODY");
    assert!(!spec.response_is_valid(Endpoint::GetUser, &spoiled));
    test.stop().await;
}

pub struct Spec {
    document: Value,
    responses: Vec<(Endpoint, Validator)>,
}

static SPEC: OnceLock<Option<Spec>> = OnceLock::new();

/// The spec, when found (see [`crate::upstream_specs`]); panics if it is unusable.
pub fn spec() -> Option<&'static Spec> {
    SPEC.get_or_init(|| {
        let folder = crate::upstream_specs()?;
        let file = folder.join("roblox-openapi.json");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|err| {
            panic!("the upstream spec {} is unreadable: {err}", file.display())
        });
        let document: Value = serde_json::from_str(&text).expect("the spec is JSON");
        let responses = Endpoint::ALL
            .into_iter()
            .map(|endpoint| {
                let ok = &Spec::operation_in(&document, endpoint)["responses"]["200"];
                let schema = match ok["content"].as_object() {
                    // "200 OK" with no content (accept, decline): the simulator answers `{}`, as grpc-gateway
                    // renders an empty message, so nothing else is allowed.
                    Some(content) if content.is_empty() => {
                        json!({ "type": "object", "maxProperties": 0 })
                    }
                    _ => ok["content"]["application/json"]["schema"].clone(),
                };
                (endpoint, compile(&document, &schema))
            })
            .collect();
        Some(Spec {
            document,
            responses,
        })
    })
    .as_ref()
}

/// Validates a 200 body of a `/cloud/v2` request, if the spec is available.
pub fn check_response(method: &str, path: &str, body: &Value) {
    let Some(spec) = spec() else {
        return;
    };
    let endpoint = Endpoint::ALL
        .into_iter()
        .find(|endpoint| {
            endpoint.method() == method && matches_template(endpoint.path_template(), path)
        })
        .unwrap_or_else(|| panic!("no implemented operation matches {method} {path}"));
    let errors = spec.response_errors(endpoint, body);
    assert!(
        errors.is_empty(),
        "{method} {path}: the body does not match the spec's {} schema: {errors:?}\n{body}",
        endpoint.operation_id()
    );
}

impl Spec {
    fn operation_in(document: &Value, endpoint: Endpoint) -> &Value {
        let operation =
            &document["paths"][endpoint.path_template()][endpoint.method().to_ascii_lowercase()];
        assert!(operation.is_object(), "{endpoint:?} is not in the spec");
        operation
    }

    pub fn operation(&self, endpoint: Endpoint) -> &Value {
        Self::operation_in(&self.document, endpoint)
    }

    pub fn query_parameters(&self, endpoint: Endpoint) -> Vec<&str> {
        self.operation(endpoint)["parameters"]
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

    fn response_errors(&self, endpoint: Endpoint, body: &Value) -> Vec<String> {
        let (_, validator) = self
            .responses
            .iter()
            .find(|(e, _)| *e == endpoint)
            .expect("every endpoint has a validator");
        validator
            .iter_errors(body)
            .map(|err| format!("{} at {}", err, err.instance_path))
            .collect()
    }

    pub fn response_is_valid(&self, endpoint: Endpoint, body: &Value) -> bool {
        self.response_errors(endpoint, body).is_empty()
    }

    pub fn check_request(&self, endpoint: Endpoint, body: &Value) {
        let schema =
            &self.operation(endpoint)["requestBody"]["content"]["application/json"]["schema"];
        let validator = compile(&self.document, schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|err| err.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{endpoint:?} request body {body} does not match the spec: {errors:?}"
        );
    }
}

/// `/cloud/v2/groups/{group_id}/memberships/{membership_id}:assignRole` against a concrete path.
fn matches_template(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| match t.split_once('}') {
                Some((_, suffix)) if t.starts_with('{') => {
                    p.len() > suffix.len()
                        && p.ends_with(suffix)
                        && !p[..p.len() - suffix.len()].contains(':')
                }
                _ => t == p,
            })
}

/// Turns an OpenAPI 3.0 schema into a self-contained JSON Schema 2020-12 validator.
fn compile(document: &Value, schema: &Value) -> Validator {
    let components = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let translated = translate(schema, components, 0);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&translated)
        .unwrap_or_else(|err| panic!("the translated schema does not compile: {err}\n{translated}"))
}

/// Inlines `$ref`s to `#/components/schemas`, turns `nullable: true` into a type union, checks protobuf
/// durations by pattern, and forbids properties the spec does not list (so the simulator cannot invent
/// fields).
fn translate(schema: &Value, components: &Map<String, Value>, depth: usize) -> Value {
    assert!(depth < 32, "schema nesting too deep (a recursive $ref?)");
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
        let target = components
            .get(name)
            .unwrap_or_else(|| panic!("unknown schema {name}"));
        return translate(target, components, depth + 1);
    }
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "nullable" => continue,
            // `format: duration` means a protobuf Duration here (`"3600s"`), not JSON Schema's ISO 8601.
            "format" if value == "duration" => {
                out.insert(
                    "pattern".into(),
                    Value::String(r"^-?[0-9]+(\.[0-9]{1,9})?s$".into()),
                );
                continue;
            }
            "properties" => Value::Object(
                value
                    .as_object()
                    .expect("properties is an object")
                    .iter()
                    .map(|(name, property)| {
                        (name.clone(), translate(property, components, depth + 1))
                    })
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => translate(value, components, depth + 1),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .expect("a list of schemas")
                    .iter()
                    .map(|item| translate(item, components, depth + 1))
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if map.get("nullable") == Some(&Value::Bool(true))
        && let Some(kind) = out.get("type").cloned()
    {
        out.insert(
            "type".into(),
            Value::Array(vec![kind, Value::String("null".into())]),
        );
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}
