//! Medals, certifications and EP, from catalogues configured through the admin API.

use reqwest::Method;
use serde_json::json;

use super::{assert_error, configure, get, post, user_body, user_q};
use crate::harness::{Backend, GUILD, TestApp};

fn catalogue() -> serde_json::Value {
    json!({
        "medals": [
            {"name": "Purple Heart", "description": "Wounded in the line of duty"},
            {"name": "Long Service", "description": "Five years"}
        ],
        "certifications": [
            {"reference": "AFO", "name": "Authorised Firearms Officer", "description": "Certified to use firearms in the field"},
            {"reference": "FTO", "name": "Field Training Officer", "description": "Certified to train new recruits"}
        ],
        "epWarningThresholds": {"main": [10, 5], "sub1": [3]}
    })
}

#[tokio::test]
async fn medals_are_listed_awarded_and_revoked() {
    let app = TestApp::start(Backend::Sqlite).await;
    configure(&app, catalogue()).await;
    let a = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/community"), None)
        .await;
    assert_eq!(a.body["medals"][0]["name"], "Purple Heart");

    let a = get(&app, "/api/medals/list", &[("serverId", GUILD.to_string())]).await;
    assert_eq!(
        a.body,
        json!({"medals": [
            {"name": "Purple Heart", "description": "Wounded in the line of duty"},
            {"name": "Long Service", "description": "Five years"}
        ]})
    );
    // Names match without regard to case; the answer uses the catalogue's spelling.
    let a = post(
        &app,
        "/api/medals/award",
        user_body(101, json!({"medalName": "purple heart"})),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body,
        json!({"success": true, "message": "Awarded Purple Heart to 101."})
    );
    let a = post(
        &app,
        "/api/medals/award",
        user_body(101, json!({"medalName": "Purple Heart"})),
    )
    .await;
    assert_error(&a, 409, "MEDAL_ALREADY_AWARDED");
    let a = post(
        &app,
        "/api/medals/award",
        user_body(101, json!({"medalName": "Victoria Cross"})),
    )
    .await;
    assert_error(&a, 404, "UNKNOWN_MEDAL");
    let a = get(&app, "/api/medals/user", &user_q(101)).await;
    let medals = a.body["medals"].as_array().expect("medals");
    assert_eq!(medals.len(), 1);
    assert_eq!(medals[0]["name"], "Purple Heart");
    assert_eq!(medals[0]["description"], "Wounded in the line of duty");
    assert!(
        medals[0]["awardedAt"].as_i64().unwrap() > 1_700_000_000_000,
        "milliseconds"
    );

    let a = post(
        &app,
        "/api/medals/revoke",
        user_body(101, json!({"medalName": "Purple Heart"})),
    )
    .await;
    assert_eq!(
        a.body,
        json!({"success": true, "message": "Revoked Purple Heart from 101."})
    );
    let a = post(
        &app,
        "/api/medals/revoke",
        user_body(101, json!({"medalName": "Purple Heart"})),
    )
    .await;
    assert_error(&a, 409, "MEDAL_NOT_HELD");
    let a = get(&app, "/api/medals/user", &user_q(101)).await;
    assert_eq!(a.body, json!({"medals": []}));
    let a = post(&app, "/api/medals/award", user_body(101, json!({}))).await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert!(a.body["message"].as_str().unwrap().contains("medalName"));
    // Audited.
    let a = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/audit?action=medal."),
            None,
        )
        .await;
    let actions: Vec<&str> = a.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["medal.revoke", "medal.award"]);
    app.finish().await;
}

#[tokio::test]
async fn certifications_as_the_reference_shows_them() {
    let app = TestApp::start(Backend::Sqlite).await;
    configure(&app, catalogue()).await;
    let a = get(
        &app,
        "/api/certifications/list",
        &[("serverId", GUILD.to_string())],
    )
    .await;
    assert_eq!(
        a.body["certifications"][0],
        json!({"reference": "AFO", "name": "Authorised Firearms Officer", "description": "Certified to use firearms in the field"})
    );
    let cert = |r: &str| user_body(123_456_789, json!({"reference": r}));
    let a = post(&app, "/api/certifications/award", cert("afo")).await;
    assert_eq!(
        a.body,
        json!({"success": true, "message": "Awarded Authorised Firearms Officer (AFO) to 123456789."})
    );
    let a = post(&app, "/api/certifications/award", cert("AFO")).await;
    assert_error(&a, 409, "CERTIFICATION_ALREADY_AWARDED");
    let a = post(&app, "/api/certifications/award", cert("XYZ")).await;
    assert_error(&a, 404, "UNKNOWN_CERTIFICATION");
    let mut q = user_q(123_456_789);
    q.push(("reference", "AFO".into()));
    let a = get(&app, "/api/certifications/check", &q).await;
    assert_eq!(a.body, json!({"hasCertification": true}));
    q.pop();
    q.push(("reference", "FTO".into()));
    let a = get(&app, "/api/certifications/check", &q).await;
    assert_eq!(a.body, json!({"hasCertification": false}));
    q.pop();
    q.push(("reference", "NOPE".into()));
    let a = get(&app, "/api/certifications/check", &q).await;
    assert_error(&a, 404, "UNKNOWN_CERTIFICATION");
    let a = get(&app, "/api/certifications/user", &user_q(123_456_789)).await;
    let certs = a.body["certifications"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["reference"], "AFO");
    assert_eq!(certs[0]["name"], "Authorised Firearms Officer");
    let a = post(&app, "/api/certifications/revoke", cert("AFO")).await;
    assert_eq!(
        a.body,
        json!({"success": true, "message": "Revoked AFO from 123456789."})
    );
    let a = post(&app, "/api/certifications/revoke", cert("AFO")).await;
    assert_error(&a, 409, "CERTIFICATION_NOT_HELD");
    // A catalogue with a duplicate reference is refused, naming it.
    let a = app
        .admin(
            Method::PUT,
            &format!("/guilds/{GUILD}/community"),
            Some(json!({"certifications": [
                {"reference": "AFO", "name": "A"}, {"reference": "afo", "name": "B"}
            ]})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("certifications[1].reference")
    );
    app.finish().await;
}

#[tokio::test]
async fn ep_per_company_with_warning_levels() {
    let app = TestApp::start(Backend::Sqlite).await;
    configure(&app, catalogue()).await;
    // Nothing yet: below both main thresholds and the sub1 one.
    let a = get(&app, "/api/ep/get", &user_q(101)).await;
    assert_eq!(a.body, json!({"ep": {}, "warningLevel": 2}));
    let add =
        |company: &str, amount: u64| user_body(101, json!({"company": company, "amount": amount}));
    let a = post(&app, "/api/ep/add", add("main", 6)).await;
    assert_eq!(
        a.body,
        json!({"success": true, "ep": {"main": 6}, "warningLevel": 1})
    );
    let a = post(&app, "/api/ep/add", add("sub1", 5)).await;
    assert_eq!(a.body["warningLevel"], 1);
    let a = post(&app, "/api/ep/add", add("MAIN", 4)).await;
    assert_eq!(
        a.body,
        json!({"success": true, "ep": {"main": 10, "sub1": 5}, "warningLevel": 0})
    );
    let a = get(&app, "/api/ep/get", &user_q(101)).await;
    assert_eq!(
        a.body,
        json!({"ep": {"main": 10, "sub1": 5}, "warningLevel": 0})
    );
    let a = post(&app, "/api/ep/add", add("sub9", 1)).await;
    assert_error(&a, 404, "UNKNOWN_COMPANY");
    let a = post(&app, "/api/ep/add", add("main", 0)).await;
    assert_error(&a, 400, "BAD_REQUEST");
    let a = post(
        &app,
        "/api/ep/add",
        user_body(101, json!({"company": "main", "amount": -3})),
    )
    .await;
    assert_error(&a, 400, "BAD_REQUEST");
    let a = app
        .admin(
            Method::PUT,
            &format!("/guilds/{GUILD}/community"),
            Some(json!({"epWarningThresholds": {"sub7": [1]}})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    app.finish().await;
}
