//! The API's front door: URL forms, the key, the API and module switches, routing errors.

use super::*;

const INFO: &str = r#"{"nameless_version":"2.1.2","locale":"en_UK","modules":["Core","Forum","Discord Integration","Cookie Consent","Members"]}"#;
const MISSING_HEADER: &str =
    r#"{"error":"nameless:missing_api_key","meta":"Missing authorization header"}"#;
const BAD_HEADER: &str =
    r#"{"error":"nameless:missing_api_key","meta":"Authorization header not in expected format"}"#;
const INVALID_KEY: &str = r#"{"error":"nameless:invalid_api_key"}"#;
const API_DISABLED: &str = r#"{"error":"nameless:api_is_disabled"}"#;
const NO_ENDPOINT: &str = r#"{"error":"nameless:invalid_api_method","meta":"If you are seeing this while in a browser, this means your API is functioning!"}"#;

#[tokio::test]
async fn info_with_a_bearer_key_or_x_api_key() {
    let test = TestSite::start(config()).await;
    test.get("info", Auth::Bearer(KEY)).await.expect(200, INFO);
    test.get("info", Auth::Raw(&format!("bearer {KEY}")))
        .await
        .expect(200, INFO);
    test.get("info", Auth::XApiKey(KEY)).await.expect(200, INFO);
    let reply = test.get("info", Auth::Bearer(KEY)).await;
    assert_eq!(reply.body["nameless_version"], "2.1.2");
    test.stop().await;
}

#[tokio::test]
async fn every_url_form_of_the_route_reaches_the_api() {
    let test = TestSite::start(config()).await;
    for url in [
        format!("{}/index.php?route=%2Fapi%2Fv2%2Finfo", test.base),
        format!("{}/?route=/api/v2/info", test.base),
        format!("{}/index.php?route=/api/v2/info/", test.base),
        format!("{}/index.php?foo=bar&route=/api/v2/info", test.base),
    ] {
        test.send(test.request(Method::GET, &url, Auth::Bearer(KEY)))
            .await
            .expect(200, INFO);
    }
    test.stop().await;
}

#[tokio::test]
async fn a_missing_or_malformed_key_header_is_400() {
    let test = TestSite::start(config()).await;
    test.get("info", Auth::None)
        .await
        .expect(400, MISSING_HEADER);
    for raw in [
        KEY,
        &format!("Bot {KEY}"),
        &format!("Bearer  {KEY}"),
        &format!("Bearer {KEY} extra"),
        "Bearer",
    ] {
        test.get("info", Auth::Raw(raw))
            .await
            .expect(400, BAD_HEADER);
    }
    // A malformed Authorization header is not rescued by a good X-API-Key.
    let both = test
        .request(Method::GET, &test.api_url("info"), Auth::Raw("Basic abc"))
        .header("x-api-key", KEY);
    test.send(both).await.expect(400, BAD_HEADER);
    test.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_403() {
    let test = TestSite::start(config()).await;
    test.get("info", Auth::Bearer("not-the-key"))
        .await
        .expect(403, INVALID_KEY);
    test.get("info", Auth::XApiKey("not-the-key"))
        .await
        .expect(403, INVALID_KEY);
    test.get("info", Auth::XApiKey(""))
        .await
        .expect(403, INVALID_KEY);
    // Keys compare exactly (hash_equals).
    test.get("info", Auth::Bearer(&KEY.to_lowercase()))
        .await
        .expect(403, INVALID_KEY);
    test.post(
        "discord/submit-role-list",
        Auth::Bearer("wrong"),
        r#"{"roles":[]}"#,
    )
    .await
    .expect(403, INVALID_KEY);
    assert_eq!(test.sim.role_list_json(), None, "nothing was stored");
    test.stop().await;
}

#[tokio::test]
async fn a_disabled_api_refuses_everything_before_routing_and_auth() {
    let test = TestSite::start(NamelessSimConfig {
        api_enabled: false,
        ..config()
    })
    .await;
    test.get("info", Auth::Bearer(KEY))
        .await
        .expect(400, API_DISABLED);
    test.get("info", Auth::None).await.expect(400, API_DISABLED);
    test.post("discord/update-bot-settings", Auth::Bearer(KEY), "{}")
        .await
        .expect(400, API_DISABLED);
    test.get("no/such/endpoint", Auth::None)
        .await
        .expect(400, API_DISABLED);
    test.sim.update_config(|config| config.api_enabled = true);
    test.get("info", Auth::Bearer(KEY)).await.expect(200, INFO);
    test.stop().await;
}

#[tokio::test]
async fn a_disabled_discord_module_has_no_discord_endpoints() {
    let test = TestSite::start(NamelessSimConfig {
        discord_module: false,
        ..config()
    })
    .await;
    test.get("info", Auth::Bearer(KEY)).await.expect(
        200,
        r#"{"nameless_version":"2.1.2","locale":"en_UK","modules":["Core","Forum","Cookie Consent","Members"]}"#,
    );
    for endpoint in ["discord/update-bot-settings", "discord/submit-role-list"] {
        test.post(endpoint, Auth::Bearer(KEY), r#"{"roles":[]}"#)
            .await
            .expect(404, NO_ENDPOINT);
        test.get(endpoint, Auth::Bearer(KEY))
            .await
            .expect(404, NO_ENDPOINT);
    }
    assert_eq!(test.sim.role_list_json(), None);
    test.stop().await;
}

#[tokio::test]
async fn unknown_endpoints_are_404_even_without_a_key() {
    let test = TestSite::start(config()).await;
    for endpoint in ["nope", "", "info/extra", "users", "discord/set-roles"] {
        test.get(endpoint, Auth::Bearer(KEY))
            .await
            .expect(404, NO_ENDPOINT);
    }
    test.get("nope", Auth::None).await.expect(404, NO_ENDPOINT);
    // The bare API route has no endpoint.
    let bare = format!("{}/index.php?route=/api/v2", test.base);
    test.send(test.request(Method::GET, &bare, Auth::Bearer(KEY)))
        .await
        .expect(404, NO_ENDPOINT);
    test.stop().await;
}

#[tokio::test]
async fn a_known_endpoint_with_another_method_is_405_before_auth() {
    let test = TestSite::start(config()).await;
    test.post("info", Auth::None, "").await.expect(
        405,
        r#"{"error":"nameless:invalid_api_method","meta":"The info endpoint only accepts GET, POST was used."}"#,
    );
    test.get("discord/submit-role-list", Auth::Bearer(KEY)).await.expect(
        405,
        r#"{"error":"nameless:invalid_api_method","meta":"The discord\/submit-role-list endpoint only accepts POST, GET was used."}"#,
    );
    let delete = test.request(
        Method::DELETE,
        &test.api_url("discord/update-bot-settings"),
        Auth::Bearer(KEY),
    );
    test.send(delete).await.expect(
        405,
        r#"{"error":"nameless:invalid_api_method","meta":"The discord\/update-bot-settings endpoint only accepts POST, DELETE was used."}"#,
    );
    test.stop().await;
}

#[tokio::test]
async fn paths_need_friendly_urls() {
    let test = TestSite::start(config()).await;
    let path = format!("{}/api/v2/info", test.base);
    let reply = test
        .send(test.request(Method::GET, &path, Auth::Bearer(KEY)))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("text/html; charset=iso-8859-1")
    );
    assert!(
        reply.text.contains("<title>404 Not Found</title>")
            && reply
                .text
                .contains("The requested URL was not found on this server."),
        "the web server's own page: {}",
        reply.text
    );
    assert_eq!(test.sim.log()[0].endpoint, None);

    test.sim.update_config(|config| config.friendly_urls = true);
    test.send(test.request(Method::GET, &path, Auth::Bearer(KEY)))
        .await
        .expect(200, INFO);
    let submit = format!("{}/api/v2/discord/submit-role-list", test.base);
    test.send(
        test.request(Method::POST, &submit, Auth::Bearer(KEY))
            .body(r#"{"roles":[]}"#),
    )
    .await
    .expect(200, SETTINGS_UPDATED);
    test.stop().await;
}

#[tokio::test]
async fn other_routes_are_the_sites_html_pages() {
    let test = TestSite::start(config()).await;
    let not_found = format!("{}/index.php?route=/forum", test.base);
    let reply = test
        .send(test.request(Method::GET, &not_found, Auth::None))
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.content_type.as_deref(),
        Some("text/html; charset=UTF-8")
    );
    assert!(reply.text.contains("We couldn't find that page."));
    let v1 = format!("{}/index.php?route=/api/v1/info", test.base);
    assert_eq!(
        test.send(test.request(Method::GET, &v1, Auth::Bearer(KEY)))
            .await
            .status,
        404
    );
    let home = test
        .send(test.request(Method::GET, &format!("{}/", test.base), Auth::None))
        .await;
    assert_eq!(home.status, 200);
    assert_eq!(
        home.content_type.as_deref(),
        Some("text/html; charset=UTF-8")
    );
    test.stop().await;
}

#[tokio::test]
async fn a_site_without_a_key_setting_dies() {
    let test = TestSite::start(NamelessSimConfig {
        api_key: String::new(),
        ..config()
    })
    .await;
    test.get("info", Auth::Bearer("anything"))
        .await
        .expect(200, "API key is null");
    test.get("info", Auth::None)
        .await
        .expect(400, MISSING_HEADER);
    test.stop().await;
}

#[test]
fn default_keys_look_like_namelessmc_keys() {
    let a = NamelessSimConfig::default();
    let b = NamelessSimConfig::default();
    assert_ne!(a.api_key, b.api_key, "a fresh key per site");
    for key in [&a.api_key, &b.api_key] {
        assert!(
            (30..=43).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric()),
            "32 random bytes in base64 without +, / and =: {key}"
        );
    }
    assert_eq!(a.version, "2.1.2");
    assert!(a.api_enabled && a.discord_module && !a.friendly_urls);
    assert_eq!(a.latency, Duration::ZERO);
}
