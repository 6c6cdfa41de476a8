//! Who is staff (staff roles, members kept current by the role sync, the in-memory lookups),
//! the activity log with its counters (stats, leaderboard, profile), quotas with leave excluded,
//! and the pending actions the running sweep makes of misses.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::Method;
use roster_core::clock::ManualClock;
use serde_json::{Value, json};

use crate::harness::discord::{DApp, OFFICER, UNLINKED, discord_of, role, start_clocked};
use crate::harness::{Backend, GUILD, TestApp};

/// Discord ids of the staff: 101 and 102 are Moderators, 103 an Admin (all linked to those
/// Roblox ids); `UNLINKED` is a Moderator without a Roblox account.
pub const MOD_A: u64 = 101;
pub const MOD_B: u64 = 102;
pub const ADMIN: u64 = 103;
/// The Discord role of staff admins.
pub const ADMIN_ROLE: u64 = 5020;

/// An app whose guild has staff roles and staff members (found by a sync-all), on `clock`; the
/// staff sweep runs every second when `sweep`.
pub async fn team(clock: &ManualClock, sweep: bool, extra: Option<crate::harness::Tweak>) -> DApp {
    let tweak: crate::harness::Tweak = Arc::new(move |c| {
        c.scheduler.staff = if sweep {
            "*/1 * * * * *".into()
        } else {
            crate::harness::NEVER.into()
        };
        if let Some(e) = &extra {
            e(c);
        }
    });
    // Member writes are not what these tests are about: Discord's bucket is widened.
    let d = start_clocked(
        Backend::Sqlite,
        super::sync::fast_patches(),
        Some(tweak),
        Some(clock.clone()),
    )
    .await;
    d.link_demo_members().await;
    d.dsim
        .sim
        .add_role(GUILD, role(ADMIN_ROLE, "Staff admin", 7, 0, false))
        .expect("role");
    let a = d
        .app
        .admin(
            Method::PUT,
            &format!("/guilds/{GUILD}/staff"),
            Some(json!({
                "roles": [
                    {"discordRoleId": OFFICER.to_string(), "name": "Moderator", "rank": 1,
                     "permissions": ["moderation.read"], "gamePermissions": ["kick", "warn"]},
                    {"discordRoleId": ADMIN_ROLE.to_string(), "name": "Admin", "rank": 2,
                     "permissions": ["moderation.read", "moderation.write"], "gamePermissions": ["kick", "ban", "warn"]},
                ],
                "timeZone": "Europe/London",
                "weekStart": "monday",
                "actionTypes": ["freeze"],
            })),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    for (user, roles) in [
        (discord_of(MOD_A), vec![OFFICER]),
        (discord_of(MOD_B), vec![OFFICER]),
        (discord_of(ADMIN), vec![OFFICER, ADMIN_ROLE]),
        (UNLINKED, vec![OFFICER]),
    ] {
        d.dsim
            .sim
            .set_member_roles(GUILD, user, &roles)
            .expect("roles");
    }
    sync_all(&d).await;
    d
}

/// Runs a sync-all (the admin route, which does not wait for the interval) to its end.
pub async fn sync_all(d: &DApp) {
    let a = d
        .app
        .admin(Method::POST, &format!("/guilds/{GUILD}/sync-all"), None)
        .await;
    assert!((200..300).contains(&a.status), "{:?}", a.body);
    crate::harness::eventually_async(
        "the sync-all run completes",
        Duration::from_secs(30),
        || async {
            let a = d
                .app
                .guild(
                    Method::GET,
                    &format!("/interactions/sync/all/progress?guild_id={GUILD}"),
                    None,
                )
                .await;
            assert_eq!(a.status, 200, "{:?}", a.body);
            a.body["data"]["status"] == "completed"
        },
    )
    .await;
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.guild(Method::POST, path, Some(body)).await;
    assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    a.body["data"].clone()
}

pub async fn get(app: &TestApp, path: &str) -> Value {
    let a = app.guild(Method::GET, path, None).await;
    assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    a.body["data"].clone()
}

async fn verify(app: &TestApp, roblox: u64) -> Value {
    post(
        app,
        "/staff/roblox/verify",
        json!({"guild_id": GUILD.to_string(), "roblox_id": roblox}),
    )
    .await
}

#[tokio::test]
async fn staff_are_the_members_holding_staff_roles_as_the_sync_sees_them() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let d = team(&clock, false, None).await;
    let app = &d.app;
    let m = get(app, &format!("/staff/members/{GUILD}")).await;
    assert_eq!(
        m["members"],
        json!([
            {"discord_id": discord_of(ADMIN).to_string(), "roblox_id": ADMIN, "role_id": ADMIN_ROLE.to_string(), "role_name": "Admin", "on_duty": false},
            {"discord_id": discord_of(MOD_A).to_string(), "roblox_id": MOD_A, "role_id": OFFICER.to_string(), "role_name": "Moderator", "on_duty": false},
            {"discord_id": discord_of(MOD_B).to_string(), "roblox_id": MOD_B, "role_id": OFFICER.to_string(), "role_name": "Moderator", "on_duty": false},
            {"discord_id": UNLINKED.to_string(), "roblox_id": null, "role_id": OFFICER.to_string(), "role_name": "Moderator", "on_duty": false},
        ])
    );
    // Lookups.
    let p = get(
        app,
        &format!("/staff/permissions/{GUILD}/{}", discord_of(ADMIN)),
    )
    .await;
    assert_eq!(
        p,
        json!({"user_id": discord_of(ADMIN).to_string(), "role_name": "Admin", "permissions": ["moderation.read", "moderation.write"]})
    );
    let a = app
        .guild(
            Method::GET,
            &format!("/staff/permissions/{GUILD}/{}", discord_of(104)),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (404, Some("NOT_STAFF"))
    );
    assert_eq!(
        verify(app, MOD_A).await,
        json!({"is_staff": true, "discord_id": discord_of(MOD_A).to_string(), "role_name": "Moderator", "permissions": ["kick", "warn"]})
    );
    assert_eq!(
        verify(app, 104).await,
        json!({"is_staff": false, "discord_id": null, "role_name": null, "permissions": []})
    );
    assert_eq!(
        get(
            app,
            &format!("/guilds/{GUILD}/staff/roblox/{ADMIN}/permissions")
        )
        .await,
        json!({"roblox_id": ADMIN, "is_staff": true, "role_name": "Admin", "permissions": ["kick", "ban", "warn"]})
    );
    // A non-staff player cannot start a staff session.
    let a = app
        .guild(
            Method::POST,
            "/staff/roblox/session/start",
            Some(json!({"roblox_id": 104, "server_id": "srv"})),
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (404, Some("NOT_STAFF")),
        "{:?}",
        a.body
    );

    // A single-member sync carries role changes: 102 loses the staff role, 104 gains it.
    d.dsim
        .sim
        .set_member_roles(GUILD, discord_of(MOD_B), &[])
        .expect("roles");
    d.dsim
        .sim
        .set_member_roles(GUILD, discord_of(104), &[OFFICER])
        .expect("roles");
    for u in [discord_of(MOD_B), discord_of(104)] {
        let a = d.sync(u).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    assert_eq!(verify(app, MOD_B).await["is_staff"], false);
    assert_eq!(verify(app, 104).await["role_name"], "Moderator");
    // Removing an account link: the Roblox account is no longer staff's.
    let a = app
        .admin(
            Method::DELETE,
            &format!("/guilds/{GUILD}/links/{}", discord_of(MOD_A)),
            None,
        )
        .await;
    assert!(a.status < 300, "{:?}", a.body);
    assert_eq!(verify(app, MOD_A).await["is_staff"], false);
    // A member who left the guild is gone after the next sync-all.
    d.dsim.sim.remove_member(GUILD, discord_of(ADMIN));
    sync_all(&d).await;
    let ids: Vec<String> = get(app, &format!("/staff/members/{GUILD}")).await["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["discord_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec![
            discord_of(MOD_A).to_string(),
            discord_of(104).to_string(),
            UNLINKED.to_string()
        ]
    );
    assert_eq!(verify(app, ADMIN).await["is_staff"], false);
    // Bad settings name the field; nothing changes.
    for (body, field) in [
        (
            json!({"roles": [{"discordRoleId": "x", "name": "A"}]}),
            "roles[0].discordRoleId",
        ),
        (
            json!({"roles": [{"discordRoleId": "1", "name": "A"}, {"discordRoleId": "2", "name": "a"}]}),
            "roles[1].name",
        ),
        (
            json!({"roles": [{"discordRoleId": "1", "name": "A", "gamePermissions": ["Kick!"]}]}),
            "roles[0].gamePermissions[0]",
        ),
        (json!({"timeZone": "Mars/Olympus"}), "timeZone"),
        (json!({"weekStart": "someday"}), "weekStart"),
        (
            json!({"strikeAction": {"at": 0, "action": "review"}}),
            "strikeAction.at",
        ),
    ] {
        let a = app
            .admin(Method::PUT, &format!("/guilds/{GUILD}/staff"), Some(body))
            .await;
        assert_eq!(a.status, 400, "{field}: {:?}", a.body);
        assert!(a.body.to_string().contains(field), "{field}: {:?}", a.body);
    }
    let s = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/staff"), None)
        .await;
    assert_eq!(s.body["timeZone"], "Europe/London");
    assert_eq!(s.body["roles"].as_array().unwrap().len(), 2);
    d.app.finish().await;
}

#[tokio::test]
async fn activity_feeds_the_log_stats_leaderboard_and_profiles() {
    let t0 = Utc.with_ymd_and_hms(2026, 5, 6, 12, 0, 0).unwrap();
    let clock = ManualClock::at(t0);
    let d = team(&clock, false, None).await;
    let app = &d.app;
    // Moderation from game servers, naming the moderator by Roblox id or Discord id.
    post(
        app,
        &format!("/moderation/{GUILD}/roblox/ban"),
        json!({"identifier": "900", "reason": "Exploiting", "moderator_id": MOD_A.to_string()}),
    )
    .await;
    post(
        app,
        &format!("/moderation/{GUILD}/roblox/mute"),
        json!({"identifier": "901", "reason": "Spam", "moderator_id": discord_of(MOD_B).to_string(), "duration_seconds": 600}),
    )
    .await;
    post(
        app,
        &format!("/moderation/{GUILD}/roblox/unban"),
        json!({"identifier": "900", "moderator_id": MOD_A.to_string()}),
    )
    .await;
    // Someone who is not staff: logged, counted for nobody.
    post(
        app,
        &format!("/moderation/{GUILD}/roblox/ban"),
        json!({"identifier": "902", "reason": "Spam", "moderator_id": "999"}),
    )
    .await;
    // A session with custom actions: 30 minutes.
    let s = post(
        app,
        "/staff/roblox/session/start",
        json!({"roblox_id": MOD_A, "server_id": "srv-a"}),
    )
    .await;
    let sid = s["session_id"].as_str().unwrap().to_owned();
    let logged = post(
        app,
        "/staff/roblox/action",
        json!({"session_id": sid, "action_type": "freeze", "target_id": "903", "details": {"command": "/freeze"}}),
    )
    .await;
    assert!(logged["id"].as_u64().is_some(), "{logged:?}");
    post(
        app,
        "/staff/roblox/action",
        json!({"session_id": sid, "action_type": "warn", "target_id": "903"}),
    )
    .await;
    assert_eq!(
        get(app, &format!("/staff/members/{GUILD}")).await["members"][1]["on_duty"],
        true
    );
    for (body, field) in [
        (
            json!({"session_id": sid, "action_type": "dance"}),
            "action_type",
        ),
        (
            json!({"session_id": sid, "action_type": "warn", "details": {"x": "y".repeat(5000)}}),
            "details",
        ),
    ] {
        let a = app
            .guild(Method::POST, "/staff/roblox/action", Some(body))
            .await;
        assert_eq!(a.status, 400, "{:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(field),
            "{:?}",
            a.body
        );
    }
    let a = app
        .guild(
            Method::POST,
            "/staff/roblox/action",
            Some(json!({"session_id": "sess_01JCQ8Y2M6A4W3V1X2Y3Z4A5B6", "action_type": "warn"})),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    // Heartbeats keep it alive for 30 minutes, then it ends.
    for _ in 0..60 {
        clock.advance(chrono::Duration::seconds(30));
        post(app, "/staff/roblox/heartbeat", json!({"session_id": sid})).await;
    }
    let end = post(app, "/staff/roblox/session/end", json!({"session_id": sid})).await;
    assert_eq!(end["duration_seconds"], 1800);

    // The log, newest first, two at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<u64> = None;
    loop {
        let q = cursor.map_or_else(|| "limit=2".to_owned(), |c| format!("limit=2&cursor={c}"));
        let page = get(app, &format!("/staff/activity/{GUILD}?{q}")).await;
        for a in page["actions"].as_array().unwrap() {
            seen.push((
                a["action_type"].as_str().unwrap().to_owned(),
                a["staff_id"].as_str().unwrap().to_owned(),
                a["is_staff"].as_bool().unwrap(),
            ));
        }
        match page["next_cursor"].as_u64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let a = discord_of(MOD_A).to_string();
    let b = discord_of(MOD_B).to_string();
    assert_eq!(
        seen,
        vec![
            ("warn".into(), a.clone(), true),
            ("freeze".into(), a.clone(), true),
            ("ban".into(), "999".into(), false),
            ("unban".into(), a.clone(), true),
            ("mute".into(), b.clone(), true),
            ("ban".into(), a.clone(), true),
        ]
    );
    let stats = get(app, &format!("/staff/stats/{GUILD}")).await;
    assert_eq!(
        stats,
        json!({"total_actions": 5, "total_sessions": 1, "total_minutes": 30,
               "by_type": {"ban": 1, "freeze": 1, "mute": 1, "unban": 1, "warn": 1}})
    );
    // Score: 10 per action, 1 per minute.
    let lb = get(app, &format!("/staff/leaderboard/{GUILD}?period=week")).await;
    assert_eq!(lb["period"], "week");
    // Week of Monday 4 May, London time (BST, UTC+1).
    assert_eq!(lb["starts_at"], "2026-05-03T23:00:00Z");
    assert_eq!(
        lb["leaderboard"],
        json!([
            {"discord_id": a, "role_name": "Moderator", "score": 70, "actions": 4, "minutes": 30},
            {"discord_id": b, "role_name": "Moderator", "score": 10, "actions": 1, "minutes": 0},
        ])
    );
    // Next week the weekly board is empty; the monthly and all-time ones are not.
    clock.advance(chrono::Duration::days(7));
    assert_eq!(
        get(app, &format!("/staff/leaderboard/{GUILD}")).await["leaderboard"],
        json!([])
    );
    assert_eq!(
        get(
            app,
            &format!("/staff/leaderboard/{GUILD}?period=month&limit=1")
        )
        .await["leaderboard"][0]["score"],
        70
    );
    let a = app
        .guild(
            Method::GET,
            &format!("/staff/leaderboard/{GUILD}?period=year"),
            None,
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body["message"].as_str().unwrap().contains("period"));
    let mut p = get(
        app,
        &format!("/guilds/{GUILD}/staff/profile/{}", discord_of(MOD_A)),
    )
    .await;
    // When the sync first saw them (the job's completion time).
    assert!(p["joined_at"].as_str().unwrap().ends_with('Z'), "{p:?}");
    p["joined_at"] = Value::Null;
    assert_eq!(
        p,
        json!({"discord_id": discord_of(MOD_A).to_string(), "roblox_id": MOD_A, "role_name": "Moderator",
               "joined_at": null, "actions_total": 4, "sessions_total": 1,
               "minutes_active": 30, "open_loa": null, "active_strikes": 0})
    );
    assert_eq!(
        get(app, "/staff/action-types").await,
        json!([
            "ban", "unban", "mute", "unmute", "warn", "kick", "custom", "freeze"
        ])
    );
    d.app.finish().await;
}

#[tokio::test]
async fn quotas_exclude_leave_and_the_running_sweep_turns_misses_into_pending_actions() {
    // Sunday 3 May 2026, 12:00 London.
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 3, 11, 0, 0).unwrap());
    let d = team(&clock, true, None).await;
    let app = &d.app;
    let path = format!("/guilds/{GUILD}/staff/quota");
    let q = post(
        app,
        &path,
        json!({"name": "Weekly warns", "metric": "warn", "target": 2, "period": "week", "on_miss": "strike"}),
    )
    .await;
    let quota = q["id"].as_u64().unwrap();
    let mins = post(
        app,
        &path,
        json!({"name": "Admin minutes", "metric": "minutes", "target": 60, "period": "day", "scope": "role:Admin"}),
    )
    .await["id"]
        .as_u64()
        .unwrap();
    // Bad input names the field and writes nothing.
    for (body, field) in [
        (
            json!({"name": "x", "metric": "warn", "target": -1, "period": "week"}),
            "target",
        ),
        (
            json!({"name": "x", "metric": "dance", "target": 1, "period": "week"}),
            "metric",
        ),
        (
            json!({"name": "x", "metric": "warn", "target": 1, "period": "year"}),
            "period",
        ),
        (
            json!({"name": "x", "metric": "warn", "target": 1, "period": "week", "scope": "role:Nope"}),
            "scope",
        ),
        (
            json!({"metric": "warn", "target": 1, "period": "week"}),
            "name",
        ),
    ] {
        let a = app.guild(Method::POST, &path, Some(body)).await;
        assert_eq!(a.status, 400, "{field}: {:?}", a.body);
        assert!(
            a.body["message"].as_str().unwrap().contains(field),
            "{field}: {:?}",
            a.body
        );
    }
    let list = get(app, &path).await;
    assert_eq!(list["quotas"].as_array().unwrap().len(), 2, "{list:?}");
    // The minutes quota changes, then goes.
    let a = app
        .guild(
            Method::PATCH,
            &format!("{path}/{mins}"),
            Some(json!({"target": 30})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = app
        .guild(Method::DELETE, &format!("{path}/{mins}"), None)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(get(app, &path).await["quotas"][0]["name"], "Weekly warns");

    // The week of Monday 4 May (London): A warns twice, B once; the Admin is on leave all week.
    clock.set(Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap());
    let a = app
        .guild(
            Method::POST,
            &format!("/guilds/{GUILD}/staff/loa"),
            Some(json!({"staff_id": discord_of(ADMIN).to_string(), "starts_at": "2026-05-03T23:00:00Z", "ends_at": "2026-05-10T23:00:00Z"})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    for (who, n) in [(MOD_A, 2), (MOD_B, 1)] {
        let s = post(
            app,
            "/staff/roblox/session/start",
            json!({"roblox_id": who, "server_id": "srv"}),
        )
        .await;
        for _ in 0..n {
            post(
                app,
                "/staff/roblox/action",
                json!({"session_id": s["session_id"], "action_type": "warn"}),
            )
            .await;
        }
    }
    let p = get(app, &format!("{path}/{quota}/progress")).await;
    assert_eq!(p["period_start"], "2026-05-03T23:00:00Z");
    assert_eq!(p["period_end"], "2026-05-10T23:00:00Z");
    assert_eq!(
        p["rows"],
        json!([
            {"staff_id": discord_of(MOD_A).to_string(), "current": 2, "target": 2, "percent": 100, "status": "met"},
            {"staff_id": discord_of(MOD_B).to_string(), "current": 1, "target": 2, "percent": 50, "status": "in_progress"},
            {"staff_id": discord_of(ADMIN).to_string(), "current": 0, "target": 0, "percent": 100, "status": "on_leave"},
            {"staff_id": UNLINKED.to_string(), "current": 0, "target": 2, "percent": 0, "status": "no_roblox_link"},
        ])
    );
    // The period before the quota existed is never judged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await["pending"],
        json!([])
    );
    // The week ends: the sweep makes one pending strike, for B only, once.
    clock.set(Utc.with_ymd_and_hms(2026, 5, 10, 23, 0, 5).unwrap());
    crate::harness::eventually_async(
        "the sweep judges the week",
        Duration::from_secs(20),
        || async {
            !get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await["pending"]
                .as_array()
                .unwrap()
                .is_empty()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p = get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await;
    let rows = p["pending"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{p:?}");
    assert_eq!(rows[0]["staff_id"], discord_of(MOD_B).to_string());
    assert_eq!(rows[0]["action_type"], "strike");
    assert_eq!(rows[0]["quota_id"], quota);
    assert!(
        rows[0]["reason"].as_str().unwrap().contains("1 of 2"),
        "{rows:?}"
    );
    // Approving applies it: a strike.
    let id = rows[0]["id"].as_u64().unwrap();
    let done = post(
        app,
        &format!("/guilds/{GUILD}/staff/quota-pending/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(done["status"], "approved");
    assert!(
        done["applied"].as_str().unwrap().starts_with("strike "),
        "{done:?}"
    );
    let strikes = get(
        app,
        &format!(
            "/guilds/{GUILD}/staff/strikes?staff_id={}",
            discord_of(MOD_B)
        ),
    )
    .await;
    assert_eq!(
        strikes["strikes"].as_array().unwrap().len(),
        1,
        "{strikes:?}"
    );
    let a = app
        .guild(
            Method::POST,
            &format!("/guilds/{GUILD}/staff/quota-pending/{id}/reject"),
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (409, Some("ALREADY_DECIDED"))
    );
    assert_eq!(
        get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await["pending"],
        json!([])
    );
    assert_eq!(
        get(
            app,
            &format!("/guilds/{GUILD}/staff/quota-pending?status=all")
        )
        .await["pending"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    d.app.finish().await;
}

#[tokio::test]
async fn a_strike_threshold_asks_for_a_review() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let d = team(&clock, false, None).await;
    let app = &d.app;
    let mut s = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/staff"), None)
        .await
        .body;
    s["strikeAction"] = json!({"at": 2, "action": "review"});
    let a = app
        .admin(Method::PUT, &format!("/guilds/{GUILD}/staff"), Some(s))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let strike = |reason: &'static str| async move {
        post(
            app,
            &format!("/guilds/{GUILD}/staff/strikes"),
            json!({"staff_id": discord_of(MOD_A).to_string(), "reason": reason, "severity": 1}),
        )
        .await
    };
    strike("Late").await;
    assert_eq!(
        get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await["pending"],
        json!([])
    );
    strike("Rude").await;
    let p = get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await;
    assert_eq!(p["pending"].as_array().unwrap().len(), 1, "{p:?}");
    assert_eq!(p["pending"][0]["action_type"], "review");
    assert!(
        p["pending"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("2 active strikes")
    );
    // A third strike is past the threshold, not at it.
    strike("Again").await;
    assert_eq!(
        get(app, &format!("/guilds/{GUILD}/staff/quota-pending")).await["pending"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let reject = post(
        app,
        &format!(
            "/guilds/{GUILD}/staff/quota-pending/{}/reject",
            p["pending"][0]["id"]
        ),
        json!({}),
    )
    .await;
    assert_eq!(reject["status"], "rejected");
    assert_eq!(reject["applied"], Value::Null);
    d.app.finish().await;
}

#[tokio::test]
async fn staff_routes_have_their_own_limits() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let tweak: crate::harness::Tweak = Arc::new(|c| {
        c.guild_api.staff_write_per_minute = 1;
    });
    let d = team(&clock, false, Some(tweak)).await;
    let app = &d.app;
    // A burst of at least ten, then 429 with the wait in the body and the header.
    let mut limited = None;
    for i in 0..15 {
        let a = app
            .guild(
                Method::POST,
                &format!("/guilds/{GUILD}/staff/notes"),
                Some(
                    json!({"staff_id": discord_of(MOD_A).to_string(), "body": format!("note {i}")}),
                ),
            )
            .await;
        if a.status == 429 {
            limited = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let a = limited.expect("the write limit applies");
    assert_eq!(a.body["error"], "RATE_LIMITED");
    assert!(a.body["retry_after"].as_u64().unwrap() >= 1, "{:?}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("staff writes"));
    // Reads and the in-game calls have limits of their own.
    assert_eq!(verify(app, MOD_A).await["is_staff"], true);
    get(app, &format!("/staff/members/{GUILD}")).await;
    d.app.finish().await;
}

#[tokio::test]
async fn a_strike_threshold_can_demote_through_the_ranking_path() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap());
    let d = team(&clock, false, None).await;
    let app = &d.app;
    // 104 (rank 30 in the main group) becomes staff.
    d.dsim
        .sim
        .set_member_roles(GUILD, discord_of(104), &[OFFICER])
        .expect("roles");
    assert_eq!(d.sync(discord_of(104)).await.status, 200);
    let mut s = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/staff"), None)
        .await
        .body;
    s["strikeAction"] = json!({"at": 1, "action": "demote"});
    let a = app
        .admin(Method::PUT, &format!("/guilds/{GUILD}/staff"), Some(s))
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(app.sim.rank(crate::harness::GROUP, 104), 30);
    for reason in ["Abuse", "Again"] {
        post(
            app,
            &format!("/guilds/{GUILD}/staff/strikes"),
            json!({"staff_id": discord_of(104).to_string(), "reason": reason, "severity": 2}),
        )
        .await;
    }
    crate::harness::eventually("the demotion", Duration::from_secs(20), || {
        app.sim.rank(crate::harness::GROUP, 104) == 20
    })
    .await;
    // Once: the second strike is past the threshold.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.rank(crate::harness::GROUP, 104), 20);
    // A staff member without a linked account: the strike stands, the failure is audited.
    post(
        app,
        &format!("/guilds/{GUILD}/staff/strikes"),
        json!({"staff_id": UNLINKED.to_string(), "reason": "Abuse", "severity": 1}),
    )
    .await;
    let audit = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=strike.action"),
            None,
        )
        .await;
    let entries = audit.body["data"]["entries"]
        .as_array()
        .expect("entries")
        .clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let text = serde_json::to_string(&entries).unwrap();
    assert!(text.contains("ranking job"), "{text}");
    assert!(text.contains("no linked Roblox account"), "{text}");
    d.app.finish().await;
}
