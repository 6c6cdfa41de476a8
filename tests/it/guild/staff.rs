//! Staff leaves of absence (`/guilds/{guildId}/staff/loa`), on the same records as the
//! community API's `/api/loa/*`, and the leave sweep of the running process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::{Clock as _, ManualClock};
use serde_json::{Value, json};

use crate::harness::{Backend, GUILD, TestApp, TestOpts};

const STAFF: u64 = 810_000_000_000_000_042;

fn at(day: u32) -> String {
    format!("2026-05-{day:02}T00:00:00Z")
}

async fn start(clock: &ManualClock, sweep: bool) -> TestApp {
    let tweak: crate::harness::Tweak = Arc::new(move |c| {
        // Every second, or never (so a test that calls the endpoint does not race it).
        c.scheduler.staff = if sweep {
            "*/1 * * * * *".into()
        } else {
            crate::harness::NEVER.into()
        };
    });
    TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            tweak: Some(tweak),
            ..TestOpts::default()
        },
    )
    .await
}

async fn create(app: &TestApp, staff: u64, from: u32, to: u32) -> crate::harness::Answer {
    app.guild(
        Method::POST,
        &format!("/guilds/{GUILD}/staff/loa"),
        Some(json!({"staff_id": staff.to_string(), "starts_at": at(from), "ends_at": at(to), "reason": "Vacation"})),
    )
    .await
}

async fn list(app: &TestApp, query: &str) -> Vec<Value> {
    let a = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/staff/loa?{query}"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["data"]["loas"].as_array().expect("loas").clone()
}

#[tokio::test]
async fn leaves_are_created_changed_cancelled_and_deleted() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let app = start(&clock, false).await;
    // A future leave is pending.
    let a = create(&app, STAFF, 10, 17).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let id = a.body["data"]["id"].as_u64().expect("id");
    let l = list(&app, "").await;
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0],
        json!({"id": id, "staff_id": STAFF.to_string(), "roblox_id": null, "starts_at": at(10),
               "ends_at": at(17), "reason": "Vacation", "status": "pending"})
    );
    // Overlapping another of the same member's is refused; touching end to start is not.
    let a = create(&app, STAFF, 15, 20).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (409, Some("LOA_ALREADY_ACTIVE")),
        "{:?}",
        a.body
    );
    let a = create(&app, STAFF, 17, 19).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let second = a.body["data"]["id"].as_u64().unwrap();
    // Bad input names the field; nothing is written.
    for (body, field) in [
        (
            json!({"staff_id": STAFF.to_string(), "starts_at": at(25), "ends_at": at(24)}),
            "ends_at",
        ),
        (
            json!({"staff_id": "x", "starts_at": at(25), "ends_at": at(26)}),
            "staff_id",
        ),
        (
            json!({"staff_id": STAFF.to_string(), "starts_at": "tomorrow", "ends_at": at(26)}),
            "starts_at",
        ),
        (
            json!({"staff_id": STAFF.to_string(), "ends_at": at(26)}),
            "starts_at",
        ),
    ] {
        let a = app
            .guild(
                Method::POST,
                &format!("/guilds/{GUILD}/staff/loa"),
                Some(body),
            )
            .await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(field),
            "{field}: {:?}",
            a.body
        );
    }
    assert_eq!(list(&app, "").await.len(), 2);
    // Change: moving the first onto the second is refused; moving its end is fine.
    let path = format!("/guilds/{GUILD}/staff/loa/{id}");
    let a = app
        .guild(Method::PATCH, &path, Some(json!({"ends_at": at(18)})))
        .await;
    assert_eq!(a.status, 409, "{:?}", a.body);
    let a = app
        .guild(
            Method::PATCH,
            &path,
            Some(json!({"ends_at": at(16), "reason": "Exams"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["message"].as_str()),
        (200, Some("LOA updated")),
        "{:?}",
        a.body
    );
    let l = list(&app, "status=pending").await;
    assert_eq!(l[0]["ends_at"], at(16));
    assert_eq!(l[0]["reason"], "Exams");
    // Time passes: active, by the clock.
    clock.set(Utc.with_ymd_and_hms(2026, 5, 12, 0, 0, 0).unwrap());
    let active = list(&app, "status=active").await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], id);
    // Cancel: it stays, cancelled, and can no longer change.
    let a = app
        .guild(Method::PATCH, &path, Some(json!({"status": "cancelled"})))
        .await;
    assert_eq!(a.body["message"], "LOA cancelled", "{:?}", a.body);
    assert_eq!(list(&app, "status=cancelled").await.len(), 1);
    let a = app
        .guild(Method::PATCH, &path, Some(json!({"reason": "x"})))
        .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (409, Some("LOA_FINISHED")),
        "{:?}",
        a.body
    );
    let a = app
        .guild(Method::PATCH, &path, Some(json!({"status": "active"})))
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // Delete: gone.
    let a = app
        .guild(
            Method::DELETE,
            &format!("/guilds/{GUILD}/staff/loa/{second}"),
            None,
        )
        .await;
    assert_eq!(a.body["message"], "LOA deleted", "{:?}", a.body);
    let a = app
        .guild(
            Method::DELETE,
            &format!("/guilds/{GUILD}/staff/loa/{second}"),
            None,
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    // Another guild's leave is not this guild's to see or change.
    let other = roster_core::ids::GuildId::new(900_000_000_000_000_099).unwrap();
    let theirs = roster_core::leave::start(
        app.ctx(),
        other,
        roster_core::leave::Person::Discord(STAFF),
        None,
        roster_core::leave::NewLeave {
            starts_at: clock.now(),
            ends_at: clock.now() + chrono::Duration::days(1),
            reason: None,
        },
        "test",
    )
    .await
    .unwrap();
    let a = app
        .guild(
            Method::PATCH,
            &format!("/guilds/{GUILD}/staff/loa/{}", theirs.id),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    assert_eq!(list(&app, "").await.len(), 1);
    // Expire: a leave whose end has passed is marked once.
    assert_eq!(create(&app, STAFF, 13, 14).await.status, 200);
    let expire = async || {
        let a = app
            .guild(
                Method::POST,
                &format!("/guilds/{GUILD}/staff/loa/expire"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["data"]["expired"].as_u64().unwrap()
    };
    assert_eq!(expire().await, 0, "nothing has ended yet");
    clock.set(Utc.with_ymd_and_hms(2026, 5, 15, 0, 0, 0).unwrap());
    assert_eq!(expire().await, 1);
    assert_eq!(expire().await, 0, "already marked");
    app.finish().await;
}

#[tokio::test]
async fn one_model_for_the_community_and_staff_apis() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let app = start(&clock, false).await;
    // Roblox 104 is linked to Discord STAFF.
    let a = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/links"),
            Some(json!({"links": [{"discordId": STAFF.to_string(), "robloxId": 104, "robloxUsername": "Builder104"}]})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let key = app.guild_key.clone();
    let a = app
        .request(
            Method::POST,
            "/api/loa/start",
            &[("x-api-key", &key)],
            Some(&json!({"serverId": GUILD.to_string(), "robloxId": 104, "days": 3}).to_string()),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // The staff side sees it as the member's, and will not overlap it.
    let l = list(&app, &format!("staff_id={STAFF}")).await;
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(
        (l[0]["roblox_id"].as_u64(), l[0]["status"].as_str()),
        (Some(104), Some("active"))
    );
    let a = create(&app, STAFF, 2, 3).await;
    assert_eq!(a.status, 409, "{:?}", a.body);
    // A leave the staff side creates shows on the community side.
    let id = l[0]["id"].as_u64().unwrap();
    let a = app
        .guild(
            Method::PATCH,
            &format!("/guilds/{GUILD}/staff/loa/{id}"),
            Some(json!({"status": "cancelled"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = create(&app, STAFF, 1, 9).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let s = app
        .request(
            Method::GET,
            "/api/loa/status?robloxId=104",
            &[("x-api-key", &key)],
            None,
        )
        .await;
    assert_eq!(s.body["active"], true, "{:?}", s.body);
    assert_eq!(
        s.body["endsAt"],
        Utc.with_ymd_and_hms(2026, 5, 9, 0, 0, 0)
            .unwrap()
            .timestamp_millis()
    );
    app.finish().await;
}

#[tokio::test]
async fn the_running_sweep_expires_finished_leaves() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let app = start(&clock, true).await;
    assert_eq!(create(&app, STAFF, 2, 4).await.status, 200);
    assert_eq!(create(&app, STAFF + 1, 2, 20).await.status, 200);
    // The status follows the clock at once; the sweep (every second here) records the end.
    clock.set(Utc.with_ymd_and_hms(2026, 5, 5, 0, 0, 0).unwrap());
    assert_eq!(list(&app, "status=expired").await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = app
            .guild(
                Method::GET,
                &format!("/guilds/{GUILD}/audit-logs?action=loa.expire"),
                None,
            )
            .await;
        let entries = log.body["data"]["entries"].as_array().unwrap().clone();
        if !entries.is_empty() {
            assert_eq!(entries.len(), 1, "{entries:?}");
            assert_eq!(entries[0]["target_id"], STAFF.to_string());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running sweep recorded no loa.expire"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The other is still active, and stays unmarked.
    assert_eq!(list(&app, "status=active").await.len(), 1);
    app.finish().await;
}

#[tokio::test]
async fn strikes_count_until_removed_or_expired_and_notes_keep_their_author() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let app = start(&clock, false).await;
    let base = format!("/guilds/{GUILD}/staff/strikes");
    let issue = |body: Value| app.guild(Method::POST, &base, Some(body));
    let a = issue(json!({"staff_id": STAFF.to_string(), "reason": "Missed quota", "severity": 1}))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let first = a.body["data"]["id"].as_u64().unwrap();
    let a = issue(json!({"staff_id": STAFF.to_string(), "reason": "Abuse", "severity": 3, "expires_at": "2026-06-01T00:00:00Z"})).await;
    let second = a.body["data"]["id"].as_u64().unwrap();
    for (body, field) in [
        (
            json!({"staff_id": STAFF.to_string(), "reason": "x", "severity": 4}),
            "severity",
        ),
        (
            json!({"staff_id": STAFF.to_string(), "reason": " ", "severity": 1}),
            "reason",
        ),
        (
            json!({"staff_id": STAFF.to_string(), "reason": "x", "severity": 1, "expires_at": "2026-04-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"reason": "x", "severity": 1}), "staff_id"),
    ] {
        let a = issue(body).await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(field),
            "{field}: {:?}",
            a.body
        );
    }
    let list = async |q: &str| {
        let a = app.guild(Method::GET, &format!("{base}?{q}"), None).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        a.body["data"]["strikes"].as_array().unwrap().clone()
    };
    let all = list("").await;
    assert_eq!(all.len(), 2);
    // Severity 1 lasts 30 days by default.
    assert_eq!(all[0]["expires_at"], "2026-05-31T12:00:00Z");
    assert_eq!(all[0]["active"], true);
    // Edit, then remove (it stays listed, inactive), then delete.
    let a = app
        .guild(
            Method::PATCH,
            &format!("{base}/{first}/update"),
            Some(json!({"severity": 2, "reason": "Missed quota twice"})),
        )
        .await;
    assert_eq!(a.body["message"], "Strike updated", "{:?}", a.body);
    let a = app
        .guild(
            Method::PATCH,
            &format!("{base}/{first}/update"),
            Some(json!({"expires_at": "2026-04-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    assert!(
        a.body["message"].as_str().unwrap().contains("expires_at"),
        "{:?}",
        a.body
    );
    let a = app
        .guild(Method::PATCH, &format!("{base}/{first}"), None)
        .await;
    assert_eq!(a.body["message"], "Strike removed", "{:?}", a.body);
    let inactive = list("active=false").await;
    assert_eq!(inactive.len(), 1);
    assert_eq!(
        (
            inactive[0]["severity"].as_u64(),
            inactive[0]["reason"].as_str()
        ),
        (Some(2), Some("Missed quota twice"))
    );
    // Expiry: the second stops counting on 1 June; the endpoint records it once.
    let expire = async || {
        let a = app
            .guild(Method::POST, &format!("{base}/expire"), None)
            .await;
        a.body["data"]["expired"].as_u64().unwrap()
    };
    assert_eq!(expire().await, 0);
    clock.set(Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap());
    assert_eq!(list("active=true").await.len(), 0);
    assert_eq!(expire().await, 1);
    assert_eq!(expire().await, 0);
    let a = app
        .guild(Method::DELETE, &format!("{base}/{second}"), None)
        .await;
    assert_eq!(a.body["message"], "Strike deleted", "{:?}", a.body);
    let a = app
        .guild(Method::DELETE, &format!("{base}/{second}"), None)
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    let a = app
        .guild(
            Method::PATCH,
            &format!("{base}/999999/update"),
            Some(json!({"severity": 1})),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);

    // Notes.
    let notes = format!("/guilds/{GUILD}/staff/notes");
    let a = app
        .guild(Method::POST, &notes, Some(json!({"staff_id": STAFF.to_string(), "body": "Trial period extended by 2 weeks", "author_id": "234567890123456789"})))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body["data"],
        json!({"id": a.body["data"]["id"], "staff_id": STAFF.to_string(), "body": "Trial period extended by 2 weeks",
               "author_id": "234567890123456789", "created_at": "2026-06-02T00:00:00Z"})
    );
    let id = a.body["data"]["id"].as_u64().unwrap();
    let a = app
        .guild(
            Method::PATCH,
            &format!("{notes}/{id}"),
            Some(json!({"body": "Trial over"})),
        )
        .await;
    assert_eq!(a.body["data"]["body"], "Trial over", "{:?}", a.body);
    let a = app
        .guild(
            Method::PATCH,
            &format!("{notes}/{id}"),
            Some(json!({"body": ""})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    let a = app
        .guild(Method::GET, &format!("{notes}?staff_id={STAFF}"), None)
        .await;
    assert_eq!(a.body["data"]["notes"].as_array().unwrap().len(), 1);
    let a = app
        .guild(Method::DELETE, &format!("{notes}/{id}"), None)
        .await;
    assert_eq!(a.body["message"], "Note deleted", "{:?}", a.body);
    let a = app.guild(Method::GET, &notes, None).await;
    assert_eq!(a.body["data"]["notes"], json!([]));
    // Every change is in the audit log.
    let a = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=strike.&limit=50"),
            None,
        )
        .await;
    let actions: Vec<&str> = a.body["data"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "strike.delete",
            "strike.expire",
            "strike.remove",
            "strike.update",
            "strike.create",
            "strike.create"
        ]
    );
    app.finish().await;
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.guild(Method::POST, path, Some(body)).await;
    assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    a.body["data"].clone()
}

#[tokio::test]
async fn sessions_credit_time_to_their_last_heartbeat() {
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let clock = ManualClock::at(t0);
    let d = super::staff_team::team(&clock, false, None).await;
    let app = &d.app;
    let begin = json!({"guild_id": GUILD.to_string(), "roblox_id": 101, "place_id": 1818, "server_id": "srv-a"});
    let s = post(app, "/staff/roblox/session/start", begin.clone()).await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sess_"), "{s:?}");
    assert_eq!(s["started_at"], "2026-05-01T12:00:00Z");
    // Starting again on the same server is the same session.
    clock.advance(chrono::Duration::seconds(5));
    let again = post(app, "/staff/roblox/session/start", begin.clone()).await;
    assert_eq!(again["session_id"], id.as_str());
    clock.advance(chrono::Duration::seconds(25));
    let hb = post(app, "/staff/roblox/heartbeat", json!({"session_id": id})).await;
    assert_eq!(hb, json!({"alive": true}));
    clock.advance(chrono::Duration::seconds(30));
    let end = post(app, "/staff/roblox/session/end", json!({"session_id": id})).await;
    assert_eq!(end, json!({"session_id": id, "duration_seconds": 60}));
    let hb = post(app, "/staff/roblox/heartbeat", json!({"session_id": id})).await;
    assert_eq!(hb, json!({"alive": false}), "an ended session stays ended");

    // A server that crashes: its session is credited up to its last heartbeat only.
    let crashed = post(
        app,
        "/staff/roblox/session/start",
        json!({"roblox_id": 102, "server_id": "srv-b"}),
    )
    .await;
    let crashed = crashed["session_id"].as_str().unwrap().to_owned();
    clock.advance(chrono::Duration::seconds(30));
    post(
        app,
        "/staff/roblox/heartbeat",
        json!({"session_id": crashed}),
    )
    .await;
    clock.advance(chrono::Duration::minutes(10));
    let live = post(
        app,
        "/staff/roblox/session/start",
        json!({"roblox_id": 103, "server_id": "srv-c"}),
    )
    .await;
    let live = live["session_id"].as_str().unwrap().to_owned();
    // One batched heartbeat for a server's sessions (and an unknown id).
    let batch = post(
        app,
        "/staff/roblox/heartbeat/batch",
        json!({"server_id": "srv-c", "session_ids": [live, crashed, "sess_nope"]}),
    )
    .await;
    assert_eq!(
        batch["sessions"],
        json!([{"session_id": live, "alive": true}, {"session_id": crashed, "alive": false}, {"session_id": "sess_nope", "alive": false}])
    );
    let end = post(
        app,
        "/staff/roblox/session/end",
        json!({"session_id": crashed}),
    )
    .await;
    assert_eq!(
        end["duration_seconds"], 30,
        "not the ten silent minutes: {end:?}"
    );
    // Bad input.
    for (path, body, field) in [
        (
            "/staff/roblox/session/start",
            json!({"roblox_id": 5}),
            "server_id",
        ),
        (
            "/staff/roblox/session/start",
            json!({"roblox_id": 0, "server_id": "x"}),
            "roblox_id",
        ),
        (
            "/staff/roblox/heartbeat/batch",
            json!({"session_ids": []}),
            "session_ids",
        ),
        (
            "/staff/roblox/session/start",
            json!({"guild_id": "1", "roblox_id": 5, "server_id": "x"}),
            "guild",
        ),
    ] {
        let a = app.guild(Method::POST, path, Some(body)).await;
        assert!(matches!(a.status, 400 | 403), "{path}: {:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(field),
            "{field}: {:?}",
            a.body
        );
    }
    let a = app
        .guild(
            Method::POST,
            "/staff/roblox/session/end",
            Some(json!({"session_id": "sess_nope"})),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    d.app.finish().await;
}

#[tokio::test]
async fn the_running_sweep_closes_silent_sessions() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let d = super::staff_team::team(&clock, true, None).await;
    let app = &d.app;
    let s = post(
        app,
        "/staff/roblox/session/start",
        json!({"roblox_id": 101, "server_id": "srv-a"}),
    )
    .await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.ctx().store.len(roster_core::store::Tree::OpenSessions),
        1
    );
    clock.advance(chrono::Duration::seconds(20));
    post(app, "/staff/roblox/heartbeat", json!({"session_id": id})).await;
    clock.advance(chrono::Duration::minutes(5));
    crate::harness::eventually(
        "the sweep closes the silent session",
        Duration::from_secs(20),
        || app.ctx().store.len(roster_core::store::Tree::OpenSessions) == 0,
    )
    .await;
    let end = post(app, "/staff/roblox/session/end", json!({"session_id": id})).await;
    assert_eq!(end["duration_seconds"], 20);
    d.app.finish().await;
}
