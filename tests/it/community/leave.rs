//! Leave of absence: status, start for N days, end; times in milliseconds.

use serde_json::json;

use super::{assert_error, get, post, user_body, user_q};
use crate::harness::{Backend, TestApp, TestOpts};

#[tokio::test]
async fn start_status_end_and_expiry() {
    use chrono::TimeZone as _;
    use roster_core::clock::Clock as _;
    let clock = roster_core::clock::ManualClock::at(
        chrono::Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap(),
    );
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            ..TestOpts::default()
        },
    )
    .await;
    let a = get(&app, "/api/loa/status", &user_q(104)).await;
    assert_eq!(
        a.body,
        json!({"active": false, "endsAt": null, "startedAt": null})
    );
    let now = clock.now().timestamp_millis();
    let a = post(&app, "/api/loa/start", user_body(104, json!({"days": 7}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["success"], true);
    assert_eq!(a.body["active"], true);
    assert_eq!(a.body["startedAt"], now);
    assert_eq!(a.body["endsAt"], now + 7 * 86_400_000);
    let a = post(&app, "/api/loa/start", user_body(104, json!({"days": 3}))).await;
    assert_error(&a, 409, "LOA_ALREADY_ACTIVE");
    for bad in [json!(0), json!(366), json!(-1), json!("x")] {
        let a = post(&app, "/api/loa/start", user_body(105, json!({"days": bad}))).await;
        assert_error(&a, 400, "BAD_REQUEST");
    }
    let a = get(&app, "/api/loa/status", &user_q(104)).await;
    assert_eq!(
        a.body,
        json!({"active": true, "endsAt": now + 7 * 86_400_000, "startedAt": now})
    );
    // Time passes: after the end it is no longer active.
    clock.advance(chrono::Duration::days(8));
    let a = get(&app, "/api/loa/status", &user_q(104)).await;
    assert_eq!(a.body["active"], false);
    let a = post(&app, "/api/loa/end", user_body(104, json!({}))).await;
    assert_error(&a, 404, "NO_ACTIVE_LOA");
    // A new one, ended early: its end is the moment it was ended.
    let a = post(&app, "/api/loa/start", user_body(104, json!({"days": 2}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    clock.advance(chrono::Duration::hours(5));
    let ended_at = clock.now().timestamp_millis();
    let a = post(&app, "/api/loa/end", user_body(104, json!({}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["active"], false);
    assert_eq!(a.body["endsAt"], ended_at);
    let a = get(&app, "/api/loa/status", &user_q(104)).await;
    assert_eq!(a.body["active"], false);
    // The same records the staff side reads.
    let leaves = roster_core::leave::of_person(
        app.ctx(),
        roster_core::ids::GuildId::new(crate::harness::GUILD).unwrap(),
        roster_core::leave::Person::Roblox(104),
    )
    .unwrap();
    assert_eq!(leaves.len(), 2);
    assert!(leaves[1].ended_early_at.is_some());
    app.finish().await;
}
