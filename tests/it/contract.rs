//! The contract: the route table, the OpenAPI document generated from it (committed as
//! `docs/openapi.json`, served at `/openapi.json`), and the wire rules every family shares.
//! Every answer any test receives through the harness is also checked against the document
//! (see `spec.rs`).

use std::collections::HashSet;

use reqwest::Method;
use roster_api::routes::{Auth, Family, ROUTES};
use roster_api::wire::{self, MemberBody, SetRankBody};
use serde_json::{Map, Value, json};

use crate::harness::{Backend, GROUP, GUILD, TestApp};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// `docs/openapi.json` is the generated document. Regenerate it with
/// `ROSTER_UPDATE_OPENAPI=1 cargo nextest run -E 'test(openapi_document_is_committed)'`.
#[test]
fn openapi_document_is_committed() {
    let generated = roster_api::openapi::document_text();
    if std::env::var_os("ROSTER_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the document the route table generates; regenerate it with \
         `ROSTER_UPDATE_OPENAPI=1 cargo nextest run -E 'test(openapi_document_is_committed)'` and commit it"
    );
}

#[test]
fn the_table_is_consistent() {
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for r in ROUTES.iter() {
        assert!(
            seen.insert((r.method.clone(), r.path)),
            "{} {} is declared twice",
            r.method,
            r.path
        );
        assert!(ids.insert(r.id), "operationId {} is used twice", r.id);
        assert!(
            r.params().count() <= 4,
            "{} has too many parameters",
            r.path
        );
        assert!(
            r.answers
                .iter()
                .any(|a| a.status.starts_with('1') || a.status.starts_with('2')),
            "{} {} declares no successful answer",
            r.method,
            r.path
        );
        assert_eq!(
            Family::of(
                &r.path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            ),
            r.family,
            "{} is declared in a family its path does not lead to (unknown neighbours would answer in another envelope)",
            r.path
        );
    }
    // The families' routes, as the document lists them.
    let doc = roster_api::openapi::document();
    let count: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        count,
        ROUTES.len(),
        "every route is one operation of the document"
    );
}

#[test]
fn typed_bodies_name_the_field_and_the_rule() {
    let map = |v: Value| -> Map<String, Value> { v.as_object().cloned().expect("object") };
    let b: MemberBody = wire::typed(&map(json!({"robloxUserId": "12"}))).expect("string id");
    assert_eq!(b.roblox_user_id, wire::IdInput(12));
    let b: MemberBody = wire::typed(&map(json!({"robloxUserId": 13}))).expect("number id");
    assert_eq!(b.roblox_user_id, wire::IdInput(13));
    for bad in [
        json!(0),
        json!(-1),
        json!("1e3"),
        json!(1.5),
        json!(true),
        json!(null),
        json!(""),
    ] {
        let e =
            wire::typed::<MemberBody>(&map(json!({ "robloxUserId": bad }))).expect_err("refused");
        assert_eq!(e.0, format!("`robloxUserId` {}", wire::ID_RULE), "{bad}");
    }
    let e = wire::typed::<SetRankBody>(&map(json!({"robloxUserId": 1}))).expect_err("refused");
    assert_eq!(e.0, "`rankId` is required");
    for bad in [json!(0), json!(255), json!("5"), json!(2.5)] {
        let e = wire::typed::<SetRankBody>(&map(json!({"robloxUserId": 1, "rankId": bad})))
            .expect_err("refused");
        assert_eq!(e.0, format!("`rankId` {}", wire::RANK_RULE), "{bad}");
    }
}

fn placeholder(param: &str) -> String {
    match param {
        "groupId" => GROUP.to_string(),
        "guildId" => GUILD.to_string(),
        "jobId" => "job_01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
        _ => "1".into(),
    }
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => placeholder(p),
                None => s.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(
    app: &TestApp,
    auth: Auth,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> crate::harness::Answer {
    let admin = format!("Bearer {}", app.admin_token);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    match auth {
        Auth::GroupKey => headers.push(("x-api-key", &app.api_key)),
        Auth::GuildKey => headers.push(("x-api-key", &app.guild_key)),
        Auth::AdminToken => headers.push(("authorization", &admin)),
        Auth::None => {}
    }
    app.request(method, path, &headers, body).await
}

/// Every entry of the table is reached by a request to its path and method: the answer comes
/// from its handler, not from the router's 404 or 405 (whose message is `no route …` or names
/// the method). Every answer is checked against the document on the way.
async fn every_route_is_reached(backend: Backend) {
    let app = TestApp::start(backend).await;
    for r in ROUTES.iter() {
        if r.path.starts_with("/ws/") {
            continue; // reached below without an upgrade
        }
        let path = concrete(r.path);
        let body = (r.method != Method::GET && r.method != Method::DELETE).then_some("{}");
        let a = call(&app, r.auth, r.method.clone(), &path, body).await;
        let said = a.body["message"]
            .as_str()
            .or(a.body["meta"].as_str())
            .unwrap_or("");
        let text = a.body.to_string();
        assert!(
            a.status != 405 && !(a.status == 404 && said.starts_with("no route")),
            "{} {path} did not reach its handler: {} {text}",
            r.method,
            a.status
        );
    }
    let ws = call(
        &app,
        Auth::GuildKey,
        Method::GET,
        &format!("/ws/guilds/{GUILD}/roblox"),
        None,
    )
    .await;
    assert_eq!(ws.status, 400);
    assert!(
        ws.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("websocket"),
        "{:?}",
        ws.body
    );
    app.finish_allowing_dead(usize::MAX).await;
}

/// Wrong methods answer 405 with `Allow` in the family's envelope (404 on the role bridge, as
/// NamelessMC's own bot does); unknown paths answer 404 in the envelope their prefix names.
async fn routing_errors_in_each_family(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = call(
        &app,
        Auth::GroupKey,
        Method::DELETE,
        &format!("/v1/groups/{GROUP}/promote"),
        None,
    )
    .await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(a.headers["allow"], "POST");
    let a = call(
        &app,
        Auth::GuildKey,
        Method::PUT,
        &format!("/guilds/{GUILD}/audit-logs"),
        None,
    )
    .await;
    assert_eq!((a.status, a.body["status"].as_str()), (405, Some("error")));
    assert_eq!(a.headers["allow"], "GET, POST");
    let a = call(
        &app,
        Auth::AdminToken,
        Method::PUT,
        "/admin/v1/groups",
        None,
    )
    .await;
    assert_eq!((a.status, a.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(a.headers["allow"], "GET, POST");
    let a = call(&app, Auth::None, Method::GET, "/applyRoleChanges", None).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (404, Some("bad_request"))
    );
    let a = call(&app, Auth::None, Method::POST, "/healthz", None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "GET");

    let a = call(
        &app,
        Auth::GuildKey,
        Method::GET,
        "/api/server/nothing",
        None,
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(
        (a.body["success"].as_bool(), a.code()),
        (Some(false), "NOT_FOUND"),
        "{:?}",
        a.body
    );
    let a = call(
        &app,
        Auth::GuildKey,
        Method::GET,
        "/moderation/x/nothing",
        None,
    )
    .await;
    assert_eq!(
        (
            a.status,
            a.body["error"].as_str(),
            a.body["status"].as_str()
        ),
        (404, Some("NOT_FOUND"), Some("error"))
    );
    let a = call(&app, Auth::None, Method::GET, "/admin/v1/nothing", None).await;
    assert_eq!(
        (a.status, a.code()),
        (401, "UNAUTHORIZED"),
        "the admin family asks for the token first"
    );
    let a = call(
        &app,
        Auth::AdminToken,
        Method::GET,
        "/admin/v1/nothing",
        None,
    )
    .await;
    assert_eq!((a.status, a.code()), (404, "NOT_FOUND"));
    app.finish().await;
}

/// A body over `server.body_limit_bytes` is 413 in the envelope of the family it was sent to.
async fn oversize_bodies_in_each_family(backend: Backend) {
    let app = TestApp::start(backend).await;
    let limit = app.ctx().config.server.body_limit_bytes as usize;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(limit));
    let a = call(
        &app,
        Auth::GroupKey,
        Method::POST,
        &format!("/v1/groups/{GROUP}/promote"),
        Some(&big),
    )
    .await;
    assert_eq!((a.status, a.code()), (413, "PAYLOAD_TOO_LARGE"));
    let a = call(
        &app,
        Auth::GuildKey,
        Method::POST,
        &format!("/moderation/{GUILD}/roblox/ban"),
        Some(&big),
    )
    .await;
    assert_eq!(
        (a.status, a.body["status"].as_str(), a.code()),
        (413, Some("error"), "PAYLOAD_TOO_LARGE"),
        "{:?}",
        a.body
    );
    assert_eq!(a.body["code"], 413);
    let a = call(
        &app,
        Auth::None,
        Method::POST,
        "/applyRoleChanges",
        Some(&big),
    )
    .await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (413, Some("bad_request")),
        "{:?}",
        a.body
    );
    let a = call(
        &app,
        Auth::None,
        Method::POST,
        "/api/group/deny-request",
        Some(&big),
    )
    .await;
    assert_eq!(
        (a.status, a.body["success"].as_bool(), a.code()),
        (413, Some(false), "PAYLOAD_TOO_LARGE")
    );
    app.finish().await;
}

/// A JSON body is read whatever its Content-Type says — as `curl -d` sends it (form), as Roblox
/// and websites send it (none, `text/plain`) — and `[]` counts as `{}`.
async fn json_bodies_whatever_the_content_type(backend: Backend) {
    let app = TestApp::start(backend).await;
    let users = [103u64, 104, 105];
    for (ct, user) in [
        (Some("application/x-www-form-urlencoded"), users[0]),
        (None, users[1]),
        (Some("text/plain"), users[2]),
    ] {
        let mut headers = vec![("x-api-key", app.api_key.as_str())];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let body = json!({"robloxUserId": user, "rankId": 10}).to_string();
        let a = app
            .request(
                Method::POST,
                &format!("/v1/groups/{GROUP}/rank"),
                &headers,
                Some(&body),
            )
            .await;
        assert_eq!(a.status, 200, "{ct:?}: {:?}", a.body);
        assert_eq!(
            (a.body["robloxUserId"].as_u64(), a.body["newRank"].as_u64()),
            (Some(user), Some(10)),
            "{:?}",
            a.body
        );
        let mut headers = vec![("x-api-key", app.guild_key.as_str())];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let ban = json!({"identifier": user.to_string(), "reason": "contract"}).to_string();
        let a = app
            .request(
                Method::POST,
                &format!("/moderation/{GUILD}/roblox/ban"),
                &headers,
                Some(&ban),
            )
            .await;
        assert!(a.status < 300, "{ct:?}: {} {:?}", a.status, a.body);
    }
    // `[]` is an empty object: the field it lacks is named.
    let a = app
        .request(
            Method::POST,
            &format!("/v1/groups/{GROUP}/promote"),
            &[("x-api-key", app.api_key.as_str())],
            Some("[]"),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "BAD_REQUEST"));
    assert_eq!(a.body["message"], "`robloxUserId` is required");
    app.finish().await;
}

async fn openapi_is_served(backend: Backend) {
    let app = TestApp::start(backend).await;
    let a = app.request(Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, roster_api::openapi::document());
    assert_eq!(a.body["openapi"], "3.1.0");
    app.finish().await;
}

crate::both_backends!(
    every_route_is_reached,
    routing_errors_in_each_family,
    oversize_bodies_in_each_family,
    json_bodies_whatever_the_content_type,
    openapi_is_served,
);

/// The harness's check refuses what the document does not declare (so every test's answers are
/// really held to it).
#[test]
fn the_harness_refuses_answers_the_document_does_not_declare() {
    let refused =
        |method: &'static str, path: &'static str, status: u16, ct: &'static str, body: Value| {
            std::panic::catch_unwind(move || {
                crate::spec::check(method, path, status, Some(ct), &body)
            })
            .is_err()
        };
    let usage = json!({"groupId": 1, "plan": "free", "period": "2026-12", "count": 1, "allowance": null,
        "overage": false, "resetsAt": "2027-01-01T00:00:00Z",
        "usage": {"period": "2026-12", "count": 1, "allowance": null, "overage": false, "resetsAt": "2027-01-01T00:00:00Z"}});
    assert!(!refused(
        "GET",
        "/v1/groups/1/usage",
        200,
        "application/json",
        usage.clone()
    ));
    let mut wrong = usage.clone();
    wrong["count"] = json!("one");
    assert!(
        refused("GET", "/v1/groups/1/usage", 200, "application/json", wrong),
        "a wrong field type"
    );
    assert!(
        refused(
            "GET",
            "/v1/groups/1/usage",
            201,
            "application/json",
            usage.clone()
        ),
        "an undeclared status"
    );
    assert!(
        refused(
            "GET",
            "/v1/groups/1/usage",
            200,
            "text/plain",
            Value::String("x".into())
        ),
        "text for JSON"
    );
    let undeclared_code = json!({"error": "TEAPOT", "message": "no"});
    assert!(
        refused(
            "GET",
            "/v1/groups/1/usage",
            418,
            "application/json",
            undeclared_code
        ),
        "an undeclared error code"
    );
    let declared_code = json!({"error": "GROUP_NOT_FOUND", "message": "no"});
    assert!(!refused(
        "GET",
        "/v1/groups/1/usage",
        404,
        "application/json",
        declared_code
    ));
    let guild_error_in_ranking_shape = json!({"error": "NOT_FOUND", "message": "no"});
    assert!(
        refused(
            "GET",
            "/moderation/1/nothing",
            404,
            "application/json",
            guild_error_in_ranking_shape
        ),
        "another family's envelope"
    );
}

/// Every example in the document is valid against the schema it illustrates.
#[test]
fn the_documents_examples_fit_their_schemas() {
    let doc = roster_api::openapi::document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut checked = 0;
    for (name, schema) in schemas {
        let Some(examples) = schema.get("examples").and_then(Value::as_array) else {
            continue;
        };
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"],
            "$ref": format!("#/components/schemas/{name}"),
        });
        let v = jsonschema::validator_for(&root).expect("schema compiles");
        for ex in examples {
            let errors: Vec<String> = v.iter_errors(ex).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "the example of {name} does not fit: {errors:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} examples");
}

/// The guild reference's routes that Roster serves are in the table under the reference's own
/// paths; the ones it does not serve yet are exactly the staff and ticket routes of later work.
/// Prints the count for the record.
#[test]
#[cfg_attr(
    not(shared_reference),
    ignore = "../shared/reference not found beside the checkout"
)]
fn conformance_guild_reference_routes_are_in_the_table() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/guild-api.txt"
    ))
    .expect("../shared/reference/guild-api.txt");
    let norm = |p: &str| -> Vec<String> {
        p.split('?')
            .next()
            .unwrap_or("")
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with(':') || s.starts_with('{') {
                    "*".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    let mut reference: Vec<(String, Vec<String>)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let m = it.next()?;
            let p = it.next()?;
            (["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m) && p.starts_with('/'))
                .then(|| (m.to_owned(), norm(p)))
        })
        .collect();
    reference.sort();
    reference.dedup();
    let served: HashSet<(String, Vec<String>)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), norm(r.path)))
        .collect();
    let (hit, missing): (Vec<_>, Vec<_>) = reference.iter().partition(|r| served.contains(*r));
    let unexpected: Vec<_> = missing
        .iter()
        .filter(|(_, p)| {
            !p.iter()
                .any(|s| s == "staff" || s == "application-submissions")
        })
        .collect();
    eprintln!(
        "guild reference: {} routes, {} in the table, {} left for the staff and ticket issues",
        reference.len(),
        hit.len(),
        missing.len()
    );
    assert!(reference.len() > 60, "the reference was not parsed");
    assert!(
        unexpected.is_empty(),
        "reference routes missing from the table: {unexpected:?}"
    );
}

/// Every admin route answers 2xx at least once here, with a body its schema in the document
/// accepts (the harness checks each answer): the typed answers of the admin family cannot drift
/// from what the handlers write. The walk sets things up through the admin routes themselves.
async fn every_admin_answer_matches_its_schema(backend: Backend) {
    use roster_sim::roblox::{Endpoint, FaultAction};
    use std::collections::BTreeSet;

    let tweak: crate::harness::Tweak = std::sync::Arc::new(|c| c.queue.max_attempts = 2);
    let d = crate::harness::discord::start_with(backend, Default::default(), Some(tweak)).await;
    let app = &d.app;
    let mut reached: BTreeSet<&'static str> = BTreeSet::new();
    let mut hit = async |method: Method, path: &str, body: Option<Value>, status: u16| -> Value {
        let a = app.admin(method.clone(), path, body).await;
        assert_eq!(a.status, status, "{method} {path}: {:?}", a.body);
        let p = format!("/admin/v1{}", path.split('?').next().unwrap_or(path));
        let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
        match roster_api::routes::find(&method, &segs) {
            roster_api::routes::Found::Route(r, _) => reached.insert(r.id),
            other => panic!("{method} {p} is not a route: {other:?}"),
        };
        a.body
    };

    // Groups, keys, rules, blacklist, usage, audit.
    let g = hit(
        Method::POST,
        "/groups",
        Some(json!({"groupId": "555", "name": "Five", "plan": "PRO", "guardRank": 200, "openCloudKey": "oc-key-555-abcdef"})),
        201,
    )
    .await;
    assert_eq!(
        (g["plan"].as_str(), g["guardRank"].as_u64()),
        (Some("pro"), Some(200))
    );
    assert_eq!(g["openCloudKey"]["configured"], true);
    hit(Method::GET, "/groups?limit=1", None, 200).await;
    hit(Method::GET, "/groups/555", None, 200).await;
    let g = hit(
        Method::PATCH,
        "/groups/555",
        Some(json!({"plan": "max", "guardRank": null, "openCloudKey": null})),
        200,
    )
    .await;
    assert_eq!(
        (g["plan"].as_str(), g["guardRank"].is_null()),
        (Some("max"), true)
    );
    assert_eq!(g["openCloudKey"]["configured"], false);
    let k = hit(
        Method::POST,
        "/groups/555/keys",
        Some(json!({"label": "game"})),
        201,
    )
    .await;
    assert!(
        k["key"]
            .as_str()
            .is_some_and(|s| s.starts_with(k["prefix"].as_str().unwrap()))
    );
    assert_eq!(k["scope"], json!({"type": "group", "id": 555}));
    hit(Method::GET, "/groups/555/keys", None, 200).await;
    let key_id = k["id"].as_str().unwrap().to_owned();
    let r = hit(Method::DELETE, &format!("/keys/{key_id}"), None, 200).await;
    assert_eq!(r["active"], false);
    let range = hit(
        Method::POST,
        "/groups/555/rules",
        Some(json!({"direction": "promote", "from": {"min": 1, "max": 29}, "to": "next"})),
        201,
    )
    .await;
    let exact = hit(
        Method::POST,
        "/groups/555/rules",
        Some(json!({"direction": "demote", "from": 30, "to": 20, "enabled": false})),
        201,
    )
    .await;
    assert_eq!(
        (exact["from"].as_u64(), exact["to"].as_u64()),
        (Some(30), Some(20))
    );
    let rid = range["id"].as_u64().unwrap();
    let r = hit(
        Method::PATCH,
        &format!("/groups/555/rules/{rid}"),
        Some(json!({"enabled": false})),
        200,
    )
    .await;
    assert_eq!(r["enabled"], false);
    let rules = hit(Method::GET, "/groups/555/rules", None, 200).await;
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(2));
    hit(
        Method::DELETE,
        &format!("/groups/555/rules/{rid}"),
        None,
        200,
    )
    .await;
    hit(
        Method::POST,
        "/groups/555/blacklist",
        Some(json!({"robloxUserId": 9, "reason": "alt"})),
        201,
    )
    .await;
    let bl = hit(Method::GET, "/groups/555/blacklist", None, 200).await;
    assert_eq!(bl["blacklist"][0]["robloxUserId"], 9);
    hit(Method::DELETE, "/groups/555/blacklist/9", None, 200).await;
    hit(Method::GET, "/groups/555/usage", None, 200).await;

    // Jobs: a promote that Roblox refuses until it is dead, then an operator retry.
    app.sim.fault(
        Endpoint::AssignRole,
        FaultAction::Status { status: 503 },
        None,
    );
    let a = app.promote(101).await;
    assert_eq!(a.status, 502, "{:?}", a.body);
    let job = a.body["jobId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_job(&job).await["status"], "dead");
    let dead = hit(Method::GET, "/jobs?status=dead", None, 200).await;
    assert_eq!(dead["jobs"][0]["jobId"], job.as_str());
    hit(Method::GET, &format!("/jobs/{job}"), None, 200).await;
    app.sim.sim.clear_faults();
    hit(Method::POST, &format!("/jobs/{job}/retry"), None, 202).await;
    assert_eq!(app.wait_job(&job).await["status"], "succeeded");
    let audit = hit(
        Method::GET,
        &format!("/groups/{GROUP}/audit?limit=5"),
        None,
        200,
    )
    .await;
    assert!(!audit["entries"].as_array().unwrap().is_empty());

    // Guilds and their keys.
    let g2 = "123456789012345678";
    let v = hit(
        Method::POST,
        "/guilds",
        Some(json!({
            "guildId": g2, "linkedGroups": [555], "robloxUniverses": ["42"], "mainGroup": 555,
            "botToken": "Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.abc.def", "verifiedRole": "223456789012345678",
            "keepRoles": [323456789012345678u64], "banInDiscord": true, "shieldWriter": false,
        })),
        201,
    )
    .await;
    assert_eq!(v["name"], format!("Guild {g2}"));
    assert_eq!(v["discord"]["botToken"]["configured"], true);
    assert_eq!(v["discord"]["keepRoles"], json!(["323456789012345678"]));
    hit(Method::GET, "/guilds", None, 200).await;
    hit(Method::GET, &format!("/guilds/{g2}"), None, 200).await;
    let v = hit(
        Method::PATCH,
        &format!("/guilds/{g2}"),
        Some(json!({"name": "Two", "mainGroup": null, "botToken": null, "nicknameTemplate": " "})),
        200,
    )
    .await;
    assert_eq!(
        (v["name"].as_str(), v["discord"]["mainGroup"].is_null()),
        (Some("Two"), true)
    );
    assert_eq!(v["discord"]["botToken"]["configured"], false);
    let k = hit(Method::POST, &format!("/guilds/{g2}/keys"), None, 201).await;
    assert_eq!(k["scope"], json!({"type": "guild", "id": g2}));
    hit(Method::GET, &format!("/guilds/{g2}/keys"), None, 200).await;

    // Moderation.
    for (kind, what) in [("bans", "ban"), ("mutes", "mute")] {
        let r = hit(
            Method::POST,
            &format!("/guilds/{GUILD}/{kind}"),
            Some(json!({"identifier": 42, "reason": "spam", "durationSeconds": 3600, "moderatorId": "7"})),
            201,
        )
        .await;
        assert_eq!(
            (r["kind"].as_str(), r["source"].as_str()),
            (Some(what), Some("admin"))
        );
        let list = hit(Method::GET, &format!("/guilds/{GUILD}/{kind}"), None, 200).await;
        assert_eq!(list["records"].as_array().map(Vec::len), Some(1));
        let ended = hit(
            Method::DELETE,
            &format!("/guilds/{GUILD}/{kind}/42"),
            None,
            200,
        )
        .await;
        assert!(ended["ended"][0]["endedAt"].is_string(), "{ended:?}");
    }
    hit(Method::GET, &format!("/guilds/{GUILD}/audit"), None, 200).await;

    // Game servers and commands.
    let a = app
        .guild(
            Method::POST,
            "/roblox/games/register",
            Some(json!({"place_id": 11, "universe_id": 12, "name": "Obby"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = app
        .guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(
                json!({"server_id": "srv-1", "place_id": 11, "universe_id": 12, "player_count": 3}),
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let games = hit(Method::GET, &format!("/guilds/{GUILD}/games"), None, 200).await;
    assert_eq!(games["games"][0]["place_id"], 11);
    let live = hit(Method::GET, &format!("/guilds/{GUILD}/servers"), None, 200).await;
    assert_eq!(live["servers"][0]["server_id"], "srv-1");
    let q = hit(
        Method::POST,
        &format!("/guilds/{GUILD}/commands"),
        Some(json!({"type": "announce", "serverId": "srv-1", "reason": "hi", "data": {"text": "x"}, "ttlSeconds": 60})),
        201,
    )
    .await;
    assert_eq!(q["commands"][0]["serverId"], "srv-1");
    let p = hit(
        Method::GET,
        &format!("/guilds/{GUILD}/servers/srv-1/commands"),
        None,
        200,
    )
    .await;
    assert_eq!(p["commands"][0]["type"], "announce");

    // Shield.
    let f = hit(
        Method::POST,
        "/shield/flags",
        Some(json!({"robloxId": "777", "reason": "exploiting", "robloxUsername": "Bad777"})),
        201,
    )
    .await;
    assert_eq!(f["roblox_id"], "777");
    hit(Method::GET, "/shield/flags/777", None, 200).await;
    hit(Method::DELETE, "/shield/flags/777", None, 200).await;
    // The community API's catalogues.
    let c = hit(
        Method::GET,
        &format!("/guilds/{GUILD}/community"),
        None,
        200,
    )
    .await;
    assert_eq!(c, json!({}), "nothing configured yet");
    let c = hit(
        Method::PUT,
        &format!("/guilds/{GUILD}/community"),
        Some(json!({"medals": [{"name": "Purple Heart"}], "xpRanks": [{"xp": 10, "rank": 2}]})),
        200,
    )
    .await;
    assert_eq!(c["medals"], json!([{"name": "Purple Heart"}]));
    // Staff settings.
    let c = hit(Method::GET, &format!("/guilds/{GUILD}/staff"), None, 200).await;
    assert_eq!(
        c,
        json!({"timeZone": "UTC", "weekStart": "monday"}),
        "the defaults"
    );
    let c = hit(
        Method::PUT,
        &format!("/guilds/{GUILD}/staff"),
        Some(json!({"roles": [{"discordRoleId": "5005", "name": "Moderator", "rank": 1, "gamePermissions": ["kick"]}], "timeZone": "America/New_York"})),
        200,
    )
    .await;
    assert_eq!(c["roles"][0]["name"], "Moderator");
    let v = hit(
        Method::PUT,
        &format!("/shield/allowlist/{GUILD}"),
        None,
        200,
    )
    .await;
    assert_eq!(v["shieldWriter"], true);
    hit(
        Method::DELETE,
        &format!("/shield/allowlist/{GUILD}"),
        None,
        200,
    )
    .await;

    // Links, the role-bridge key, sync-all.
    let discord = crate::harness::discord::discord_of(101);
    let imported = hit(
        Method::POST,
        &format!("/guilds/{GUILD}/links"),
        Some(json!([{"discord_id": discord, "roblox_id": "101", "roblox_username": "Builder101", "verifiedAt": "2026-05-02T10:00:42Z"}])),
        201,
    )
    .await;
    assert_eq!(
        (imported["rows"].as_u64(), imported["created"].as_u64()),
        (Some(1), Some(1))
    );
    let links = hit(Method::GET, &format!("/guilds/{GUILD}/links"), None, 200).await;
    assert_eq!(links["total"], 1);
    let l = hit(
        Method::GET,
        &format!("/guilds/{GUILD}/links/{discord}"),
        None,
        200,
    )
    .await;
    assert_eq!(l["discordId"], discord.to_string());
    let key = hit(
        Method::POST,
        &format!("/guilds/{GUILD}/role-bridge-key"),
        None,
        201,
    )
    .await;
    assert!(
        key["key"]
            .as_str()
            .is_some_and(|k| k.ends_with(key["hint"].as_str().unwrap().trim_start_matches('…')))
    );
    hit(
        Method::DELETE,
        &format!("/guilds/{GUILD}/role-bridge-key"),
        None,
        200,
    )
    .await;
    let site = crate::role_bridge::website::Site::start().await;
    let linked = hit(
        Method::POST,
        &format!("/guilds/{GUILD}/role-bridge/link"),
        Some(json!({
            "siteUrl": site.api_url(),
            "siteKey": crate::role_bridge::website::SITE_KEY,
            "bridgeUrl": d.app.base,
        })),
        201,
    )
    .await;
    assert_eq!(linked["push"]["status"], "succeeded", "{linked:?}");
    hit(
        Method::DELETE,
        &format!("/guilds/{GUILD}/role-bridge/link"),
        None,
        200,
    )
    .await;
    let run = hit(
        Method::POST,
        &format!("/guilds/{GUILD}/sync-all"),
        None,
        201,
    )
    .await;
    assert_eq!(run["status"], "running");
    hit(Method::GET, &format!("/guilds/{GUILD}/sync-all"), None, 200).await;
    hit(
        Method::DELETE,
        &format!("/guilds/{GUILD}/links/{discord}"),
        None,
        200,
    )
    .await;

    // A cancel answers 200 only while a run is going, which no request here can hold still; it
    // answers the same `SyncRunView` as the start and the progress above, and its refusal is
    // checked against the document like every other answer.
    let c = app
        .admin(Method::DELETE, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert!(matches!(c.status, 200 | 409), "{:?}", c.body);
    if c.status == 200 {
        reached.insert("sync_all_cancel");
    }
    let missing: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.family == Family::Admin && r.id != "sync_all_cancel")
        .map(|r| r.id)
        .filter(|id| !reached.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "admin routes never answered 2xx here: {missing:?}"
    );
    d.app.finish().await;
}

crate::both_backends!(every_admin_answer_matches_its_schema);
