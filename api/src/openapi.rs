//! The OpenAPI 3.1 document, generated from the route table ([`crate::routes::ROUTES`]) and the
//! wire types' JSON Schemas ([`crate::wire`], by schemars). Served at `GET /openapi.json`
//! without authentication and committed as `docs/openapi.json` (a test fails when they differ).
//!
//! Why schemars and not utoipa or aide: the paths come from our own table (warp has no route
//! introspection for aide, and utoipa's path macros would declare every route a second time);
//! all we need from a library is each type's JSON Schema, and schemars 1.x writes JSON Schema
//! 2020-12, which is OpenAPI 3.1's schema dialect.

use std::sync::LazyLock;

use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::routes::{Auth, Body, Family, ROUTES, Route};
use crate::wire;

static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec_pretty(&document()).expect("the document serializes"));

/// `GET /openapi.json`.
pub fn serve() -> Response {
    let mut r = Response::new(DOCUMENT.clone().into());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The document as committed in `docs/openapi.json` (pretty, with a final newline).
pub fn document_text() -> String {
    let mut s = String::from_utf8(DOCUMENT.clone()).expect("JSON is UTF-8");
    s.push('\n');
    s
}

/// The families' tags, in the document's order.
const TAGS: &[(Family, &str)] = &[
    (
        Family::Ranking,
        "Ranking API (`/v1`): set, promote and demote group members from games and bots. Group API key in `X-Api-Key`.",
    ),
    (
        Family::Guild,
        "Guild API: moderation for game servers, Shield, the server manager, audit, account links, role bindings and sync. Guild API key in `X-Api-Key` or `Authorization: Bearer`.",
    ),
    (
        Family::RoleBridge,
        "Role bridge for NamelessMC websites: the body carries `guild_id` and the bridge key in `api_key`; bodies are JSON whatever the `Content-Type`.",
    ),
    (
        Family::Admin,
        "Operator API (`/admin/v1`): the `roster admin` CLI is its client. Admin token as `Authorization: Bearer`.",
    ),
    (
        Family::Community,
        "Community API (`/api`, `community-api.txt`): server info, verification, rank, XP, join requests, promote/demote, medals, certifications, EP and leave, for game servers and websites. Reads take their parameters in the query, writes in a JSON body. Guild API key in `X-Api-Key` or `Authorization: Bearer`; `serverId` must be the key's guild. Errors: `{\"success\": false, \"error\": CODE, \"message\"}`.",
    ),
    (Family::Ops, "Health, readiness, metrics and this document."),
];

/// Builds the document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = Contract::Serialize;
        })
        .into_generator();
    // Request bodies are described as they are read (optional fields are optional), answers as
    // they are written; both land in `components/schemas`.
    let mut requests = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = Contract::Deserialize;
        })
        .into_generator();
    let ranking_error: Value = generator.subschema_for::<wire::RankingError>().to_value();
    let guild_error: Value = generator.subschema_for::<wire::GuildErrorBody>().to_value();
    let admin_error: Value = generator.subschema_for::<wire::AdminErrorBody>().to_value();
    let bridge_reply: Value = generator.subschema_for::<wire::BridgeReply>().to_value();
    let community_error: Value = generator.subschema_for::<wire::CommunityError>().to_value();

    let mut paths = Map::new();
    for r in ROUTES.iter() {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(r.id));
        op.insert("summary".into(), json!(r.summary));
        op.insert("tags".into(), json!([r.family.name()]));
        op.insert(
            "security".into(),
            match r.auth {
                Auth::None => json!([]),
                Auth::GroupKey => json!([{"groupKey": []}]),
                Auth::GuildKey => json!([{"guildKey": []}, {"guildBearer": []}]),
                Auth::AdminToken => json!([{"adminToken": []}]),
            },
        );
        let mut params: Vec<Value> = r.params().map(path_param).collect();
        if let Some(q) = r.query {
            params.extend(query_params(&q(&mut requests).to_value()));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = r.request {
            let schema = body(&mut requests);
            op.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "description": "JSON. Read whatever the `Content-Type` says; `[]` counts as an empty object.",
                    "content": {"application/json": {"schema": schema}},
                }),
            );
        }
        let mut responses = Map::new();
        for a in &r.answers {
            let content = match a.body {
                Body::Json(f) => json!({"application/json": {"schema": f(&mut generator)}}),
                Body::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
            };
            responses.insert(
                a.status.into(),
                json!({"description": a.description, "content": content}),
            );
        }
        let codes = codes_of(r);
        let (client, server) = match r.family {
            Family::Ranking => (
                coded(&ranking_error, &codes, "error"),
                coded(
                    &ranking_error,
                    &["SERVICE_UNAVAILABLE", "ROBLOX_API_ERROR"],
                    "error",
                ),
            ),
            Family::Guild => (
                coded(&guild_error, &codes, "error"),
                coded(
                    &guild_error,
                    &[
                        "SERVICE_UNAVAILABLE",
                        "INTERNAL",
                        "ROBLOX_API_ERROR",
                        "DISCORD_API_ERROR",
                    ],
                    "error",
                ),
            ),
            Family::Admin => {
                // A route's own codes may be an upstream's failure (`WEBSITE_UNREACHABLE`, 502).
                let mut server = vec!["SERVICE_UNAVAILABLE"];
                server.extend(r.codes.iter().filter(|c| c.ends_with("_UNREACHABLE")));
                (
                    coded(&admin_error, &codes, "error"),
                    coded(&admin_error, &server, "error"),
                )
            }
            Family::RoleBridge => (bridge_reply.clone(), bridge_reply.clone()),
            Family::Community => (
                coded(&community_error, &codes, "error"),
                community_error.clone(),
            ),
            Family::Ops => (json!({"type": "string"}), json!({"type": "string"})),
        };
        let media = if r.family == Family::Ops {
            "text/plain"
        } else {
            "application/json"
        };
        if !responses.contains_key("4XX") {
            responses.insert(
                "4XX".into(),
                json!({
                    "description": error_description(r.family, &codes),
                    "content": {media: {"schema": client}},
                }),
            );
        }
        if !responses.contains_key("5XX") {
            responses.insert(
                "5XX".into(),
                json!({
                    "description": "Roster or an upstream is unavailable; retry later.",
                    "content": {media: {"schema": server}},
                }),
            );
        }
        op.insert("responses".into(), Value::Object(responses));
        let item = paths
            .entry(r.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[r.method.as_str().to_ascii_lowercase()] = Value::Object(op);
    }
    let mut schemas = generator.take_definitions(true);
    for (name, schema) in requests.take_definitions(true) {
        if let Some(existing) = schemas.get(&name) {
            assert_eq!(
                existing, &schema,
                "{name} is described differently as a request and as an answer"
            );
        }
        schemas.insert(name, schema);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Roster",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every route Roster serves, generated from its route table. Each family keeps its callers' envelope: see the tags. Ids are accepted as JSON numbers or strings where the references show both.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "`roster serve` on its default address"}],
        "tags": TAGS.iter().map(|(f, d)| json!({"name": f.name(), "description": d})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "groupKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A group API key (`roster admin key issue`)."},
                "guildKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A guild API key."},
                "guildBearer": {"type": "http", "scheme": "bearer", "description": "A guild API key as a bearer token."},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "The operator's admin token (`security.admin_token`)."},
            },
        },
    })
}

/// The route's codes: the family's common ones and its own, in order, once each.
fn codes_of(r: &Route) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in r.family.common_codes().iter().chain(r.codes) {
        if !out.contains(c) {
            out.push(c);
        }
    }
    out
}

/// The family's error schema with `field` restricted to `codes`.
fn coded(base: &Value, codes: &[&str], field: &str) -> Value {
    json!({
        "allOf": [base],
        "properties": {field: {"enum": codes}},
    })
}

fn error_description(family: Family, codes: &[&str]) -> String {
    if codes.is_empty() {
        return format!("Refused, in the {} family's envelope.", family.name());
    }
    format!("Refused; `error` is one of: {}.", codes.join(", "))
}

/// The query parameters of an object schema: one per property.
fn query_params(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or_else(|| json!(""));
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "description": description,
                "schema": prop,
            })
        })
        .collect()
}

fn path_param(name: &str) -> Value {
    let numeric = matches!(
        name,
        "groupId"
            | "robloxUserId"
            | "guildId"
            | "robloxId"
            | "discordId"
            | "ruleId"
            | "loaId"
            | "strikeId"
            | "noteId"
    );
    let schema = if numeric {
        json!({"type": "string", "pattern": "^[0-9]{1,19}$"})
    } else {
        json!({"type": "string", "minLength": 1})
    };
    let description = match name {
        "groupId" => "The Roblox group id.",
        "robloxUserId" | "robloxId" => "A Roblox user id.",
        "guildId" => "The Discord guild id (the API key's guild).",
        "discordId" => "A Discord user id.",
        "jobId" => "A job id (`job_…`).",
        "identifier" => "A Roblox user id, or a username.",
        "serverId" => "The game server's `JobId`.",
        "loaId" => "A leave of absence's id.",
        "strikeId" => "A strike's id.",
        "noteId" => "A note's id.",
        _ => "",
    };
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}
