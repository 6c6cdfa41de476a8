//! User restrictions (experience bans): ban and unban, durations and bodies, update masks, ids and
//! scopes, who may manage a universe, and place restrictions with inheritance.

use super::*;

#[tokio::test]
async fn user_restrictions_ban_and_unban() {
    let test = TestSim::with_universes().await;
    let path = restriction_path(USER_UNIVERSE, PLAIN);

    // A user never restricted reads as not restricted.
    let never = test.get("ban-owner-key", &path).await;
    assert_eq!(
        never.ok(),
        &json!({
            "path": format!("universes/{USER_UNIVERSE}/user-restrictions/{PLAIN}"),
            "user": format!("users/{PLAIN}"),
            "gameJoinRestriction": {
                "active": false,
                "privateReason": "",
                "displayReason": "",
                "excludeAltAccounts": false,
                "inherited": false,
            },
        })
    );
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);

    // Ban for an hour.
    let before = chrono::Utc::now();
    let banned = test
        .restrict(
            "ban-owner-key",
            &path,
            &[("updateMask", "gameJoinRestriction")],
            ban(Some("3600s"), "Breaking rule 3", "reported by a moderator"),
        )
        .await;
    let body = banned.ok().clone();
    assert_eq!(
        body["path"],
        format!("universes/{USER_UNIVERSE}/user-restrictions/{PLAIN}")
    );
    assert_eq!(body["user"], format!("users/{PLAIN}"));
    let restriction = game_join(&body);
    assert_eq!(restriction["active"], true);
    assert_eq!(restriction["duration"], "3600s");
    assert_eq!(restriction["displayReason"], "Breaking rule 3");
    assert_eq!(restriction["privateReason"], "reported by a moderator");
    assert_eq!(restriction["excludeAltAccounts"], false);
    assert_eq!(restriction["inherited"], false);
    let start =
        chrono::DateTime::parse_from_rfc3339(restriction["startTime"].as_str().expect("startTime"))
            .expect("RFC 3339");
    assert!(start >= before);
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["updateTime"].as_str().expect("updateTime"))
            .is_ok()
    );
    assert_eq!(test.get("ban-owner-key", &path).await.ok(), &body);
    let snapshot = test
        .sim
        .user_restriction(USER_UNIVERSE, PLAIN)
        .expect("restricted");
    assert!(snapshot.active);
    assert_eq!(snapshot.duration_secs, Some(3600));
    assert_eq!(snapshot.display_reason, "Breaking rule 3");
    assert_eq!(snapshot.private_reason, "reported by a moderator");
    assert!(!snapshot.exclude_alt_accounts);
    assert_eq!(snapshot.start_time, Some(start.with_timezone(&chrono::Utc)));
    // Other users and universes are untouched.
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, MULTI), None);
    assert_eq!(test.sim.user_restriction(GROUP_UNIVERSE, PLAIN), None);

    // Unban: the restriction is replaced as a whole.
    let unbanned = test.restrict("ban-owner-key", &path, &[], unban()).await;
    let restriction = game_join(unbanned.ok());
    assert_eq!(restriction["active"], false);
    assert!(restriction.get("startTime").is_none());
    assert!(restriction.get("duration").is_none());
    assert_eq!(restriction["displayReason"], "");
    let snapshot = test
        .sim
        .user_restriction(USER_UNIVERSE, PLAIN)
        .expect("still has a record");
    assert!(!snapshot.active);
    assert_eq!(snapshot.start_time, None);
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_durations_and_bodies() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let path = restriction_path(USER_UNIVERSE, PLAIN);

    // Permanent: no duration, or a null one; excludeAltAccounts is kept.
    let mut permanent = ban(None, "shown", "hidden");
    permanent["gameJoinRestriction"]["duration"] = Value::Null;
    permanent["gameJoinRestriction"]["excludeAltAccounts"] = json!(true);
    let reply = test.restrict("ban-owner-key", &path, &[], permanent).await;
    assert!(game_join(reply.ok()).get("duration").is_none());
    assert_eq!(game_join(&reply.body)["excludeAltAccounts"], true);
    let snapshot = test
        .sim
        .user_restriction(USER_UNIVERSE, PLAIN)
        .expect("banned");
    assert_eq!((snapshot.active, snapshot.duration_secs), (true, None));
    assert!(snapshot.exclude_alt_accounts);

    // Whole seconds with zero fractions are fine; the longest duration the spec allows too.
    for (duration, expected) in [
        ("86400.000s", "86400s"),
        ("315576000000s", "315576000000s"),
        ("1s", "1s"),
    ] {
        let reply = test
            .restrict("ban-owner-key", &path, &[], ban(Some(duration), "", ""))
            .await;
        assert_eq!(game_join(reply.ok())["duration"], expected);
    }

    // Malformed or out-of-range durations, over-long reasons, wrong types and unknown fields.
    let long = |n: usize| "x".repeat(n);
    let mut bad_bodies = Vec::new();
    for duration in [
        "3600",
        "1h",
        "0s",
        "-60s",
        "1.5s",
        "",
        "315576000001s",
        "PT1H",
    ] {
        bad_bodies.push(ban(Some(duration), "", ""));
    }
    bad_bodies.push(ban(None, &long(401), ""));
    bad_bodies.push(ban(None, "", &long(1001)));
    bad_bodies.push(json!({ "gameJoinRestriction": { "active": "yes" } }));
    bad_bodies.push(json!({ "gameJoinRestriction": { "active": true, "banned": true } }));
    bad_bodies.push(json!({ "gameJoinRestriction": { "active": true }, "reason": "x" }));
    bad_bodies.push(json!({ "gameJoinRestriction": { "duration": 3600 } }));
    for body in bad_bodies {
        test.restrict("ban-owner-key", &path, &[], body)
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    for raw in ["not json", ""] {
        test.call(
            Method::PATCH,
            &path,
            Some("ban-owner-key"),
            &[],
            Some(Body::Raw(raw)),
        )
        .await
        .expect(400, "INVALID_ARGUMENT");
    }
    // The longest reasons are fine (characters, not bytes).
    let reply = test
        .restrict(
            "ban-owner-key",
            &path,
            &[],
            ban(None, &"é".repeat(400), &"é".repeat(1000)),
        )
        .await;
    assert_eq!(
        game_join(reply.ok())["displayReason"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(400)
    );
    // Output-only fields and path are accepted and ignored.
    let mut echoed = reply.body.clone();
    echoed["gameJoinRestriction"]["startTime"] = json!("2020-01-01T00:00:00Z");
    echoed["gameJoinRestriction"]["inherited"] = json!(true);
    echoed["user"] = json!("users/424242");
    echoed["path"] = json!("universes/1/user-restrictions/2");
    let reply = test.restrict("ban-owner-key", &path, &[], echoed).await;
    let body = reply.ok();
    assert_eq!(body["user"], format!("users/{PLAIN}"));
    assert_eq!(game_join(body)["inherited"], false);
    assert_ne!(game_join(body)["startTime"], "2020-01-01T00:00:00Z");

    // A timed restriction expires.
    test.restrict("ban-owner-key", &path, &[], ban(Some("1s"), "short", ""))
        .await
        .ok();
    assert!(
        test.sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("banned")
            .active
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = test.get("ban-owner-key", &path).await;
    let restriction = game_join(expired.ok());
    assert_eq!(restriction["active"], false);
    assert_eq!(restriction["duration"], "1s");
    assert_eq!(restriction["displayReason"], "short");
    assert!(restriction.get("startTime").is_some());
    let snapshot = test
        .sim
        .user_restriction(USER_UNIVERSE, PLAIN)
        .expect("record");
    assert!(!snapshot.active);
    assert!(snapshot.start_time.is_some());
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_update_masks() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let path = restriction_path(USER_UNIVERSE, PLAIN);
    test.restrict("ban-owner-key", &path, &[], ban(None, "a", "b"))
        .await
        .ok();

    // Without a mask and without gameJoinRestriction nothing changes.
    let before = test.get("ban-owner-key", &path).await.ok().clone();
    let same = test.restrict("ban-owner-key", &path, &[], json!({})).await;
    assert_eq!(same.ok(), &before);
    let same = test
        .restrict(
            "ban-owner-key",
            &path,
            &[("updateMask", "")],
            json!({ "user": "users/10" }),
        )
        .await;
    assert_eq!(same.ok(), &before);

    // Masks into gameJoinRestriction, other fields and malformed lists are refused.
    for mask in [
        "gameJoinRestriction.active",
        "game_join_restriction.duration",
        "user",
        "updateTime",
        "gameJoinRestriction,",
        "gameJoinRestriction, user",
    ] {
        test.restrict("ban-owner-key", &path, &[("updateMask", mask)], unban())
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    assert!(
        test.sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("banned")
            .active
    );

    // Every accepted spelling; a mask naming gameJoinRestriction with a body without it clears it.
    for mask in ["game_join_restriction", "*", "gameJoinRestriction"] {
        test.restrict(
            "ban-owner-key",
            &path,
            &[("updateMask", mask)],
            ban(None, mask, ""),
        )
        .await
        .ok();
        assert_eq!(
            test.sim
                .user_restriction(USER_UNIVERSE, PLAIN)
                .expect("banned")
                .display_reason,
            mask
        );
    }
    let cleared = test
        .restrict(
            "ban-owner-key",
            &path,
            &[("updateMask", "gameJoinRestriction")],
            json!({}),
        )
        .await;
    assert_eq!(game_join(cleared.ok())["active"], false);

    // Query strings are strict.
    test.restrict(
        "ban-owner-key",
        &path,
        &[("update_mask", "gameJoinRestriction")],
        unban(),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.restrict(
        "ban-owner-key",
        &path,
        &[
            ("updateMask", "gameJoinRestriction"),
            ("updateMask", "gameJoinRestriction"),
        ],
        unban(),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.get("ban-owner-key", &format!("{path}?view=full"))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_scopes_ids_and_unknown_universes() {
    let test = TestSim::with_universes().await;
    let path = restriction_path(USER_UNIVERSE, PLAIN);

    // Reads need :read, updates :write; group scopes do not count.
    test.get("ban-read-key", &path).await.ok();
    test.list("ban-read-key", &restrictions_path(USER_UNIVERSE), &[])
        .await
        .ok();
    test.list("ban-read-key", &logs_path(USER_UNIVERSE), &[])
        .await
        .ok();
    let denied = test
        .restrict("ban-read-key", &path, &[], ban(None, "", ""))
        .await;
    denied.expect(403, "PERMISSION_DENIED");
    assert!(
        denied.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("universe.user-restriction:write"))
    );
    test.get("ban-write-key", &path)
        .await
        .expect(403, "PERMISSION_DENIED");
    test.list("ban-write-key", &logs_path(USER_UNIVERSE), &[])
        .await
        .expect(403, "PERMISSION_DENIED");
    for key in ["owner-key", "member-nothing-key"] {
        test.get(key, &path).await.expect(403, "PERMISSION_DENIED");
        test.restrict(key, &path, &[], ban(None, "", ""))
            .await
            .expect(403, "PERMISSION_DENIED");
    }
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    test.restrict("ban-write-key", &path, &[], ban(None, "", ""))
        .await
        .ok();
    assert!(test.sim.user_restriction(USER_UNIVERSE, PLAIN).is_some());

    // Unknown universes and places are 404 (after the scope check); bad ids 400; unknown routes 404.
    for path in [
        restriction_path(77, PLAIN),
        restrictions_path(77),
        logs_path(77),
        place_restriction_path(USER_UNIVERSE, 999, PLAIN),
        place_restriction_path(GROUP_UNIVERSE, PLACE, PLAIN),
        format!("/cloud/v2/universes/{USER_UNIVERSE}/places/999/user-restrictions"),
    ] {
        test.get("ban-owner-key", &path)
            .await
            .expect(404, "NOT_FOUND");
    }
    test.restrict(
        "ban-owner-key",
        &restriction_path(77, PLAIN),
        &[],
        ban(None, "", ""),
    )
    .await
    .expect(404, "NOT_FOUND");
    test.get("owner-key", &restriction_path(77, PLAIN))
        .await
        .expect(403, "PERMISSION_DENIED");
    for path in [
        "/cloud/v2/universes/abc/user-restrictions/10",
        "/cloud/v2/universes/500/user-restrictions/0",
        "/cloud/v2/universes/500/user-restrictions/-10",
        "/cloud/v2/universes/500/user-restrictions/users%2F10",
        "/cloud/v2/universes/500/places/x/user-restrictions/10",
        "/cloud/v2/universes/0/user-restrictions",
    ] {
        test.get("ban-owner-key", path)
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    for path in [
        "/cloud/v2/universes/500",
        "/cloud/v2/universes/500/user-restrictions/10:ban",
        "/cloud/v2/universes/500/places/600/user-restrictions:listLogs",
    ] {
        test.get("ban-owner-key", path)
            .await
            .expect(404, "NOT_FOUND");
    }
    let wrong = test
        .call(Method::DELETE, &path, Some("ban-owner-key"), &[], None)
        .await;
    wrong.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong.header("allow"), Some("GET, PATCH"));
    let wrong = test
        .call(
            Method::POST,
            &restrictions_path(USER_UNIVERSE),
            Some("ban-owner-key"),
            &[],
            None,
        )
        .await;
    wrong.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong.header("allow"), Some("GET"));
    test.stop().await;
}

#[tokio::test]
async fn who_may_manage_a_universe() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    // A user-owned universe: only its owner.
    let path = restriction_path(USER_UNIVERSE, MULTI);
    for key in ["ban-admin-key", "ban-member-key", "ban-outsider-key"] {
        test.get(key, &path).await.expect(403, "PERMISSION_DENIED");
        test.restrict(key, &path, &[], ban(None, "", ""))
            .await
            .expect(403, "PERMISSION_DENIED");
        test.list(key, &logs_path(USER_UNIVERSE), &[])
            .await
            .expect(403, "PERMISSION_DENIED");
    }
    test.restrict("ban-owner-key", &path, &[], ban(None, "", ""))
        .await
        .ok();

    // A group-owned universe: the group's owner, and members whose highest role has changeRank.
    let path = restriction_path(GROUP_UNIVERSE, MULTI);
    for (n, key) in ["ban-owner-key", "ban-admin-key", "ban-officer-key"]
        .into_iter()
        .enumerate()
    {
        let reason = format!("by {key}");
        let reply = test.restrict(key, &path, &[], ban(None, &reason, "")).await;
        assert_eq!(game_join(reply.ok())["displayReason"], reason.as_str());
        test.get(key, &path).await.ok();
        let logs = test.list(key, &logs_path(GROUP_UNIVERSE), &[]).await;
        assert_eq!(items(logs.ok(), "logs").len(), n + 1);
    }
    let moderators: Vec<String> = items(
        test.list("ban-owner-key", &logs_path(GROUP_UNIVERSE), &[])
            .await
            .ok(),
        "logs",
    )
    .iter()
    .map(|log| {
        log["moderator"]["robloxUser"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    })
    .collect();
    assert_eq!(
        moderators,
        [OFFICER_USER, ADMIN_USER, OWNER].map(|user| format!("users/{user}"))
    );
    for key in ["ban-member-key", "ban-outsider-key"] {
        test.restrict(key, &path, &[], unban())
            .await
            .expect(403, "PERMISSION_DENIED");
        test.get(key, &path).await.expect(403, "PERMISSION_DENIED");
    }
    assert!(
        test.sim
            .user_restriction(GROUP_UNIVERSE, MULTI)
            .expect("banned")
            .active
    );
    // Losing changeRank loses access.
    test.sim
        .set_member_roles(GROUP, OFFICER_USER, &[TRUSTED])
        .expect("demotion");
    test.get("ban-officer-key", &path)
        .await
        .expect(403, "PERMISSION_DENIED");

    // A universe whose group is not seeded: nobody.
    test.get("ban-owner-key", &restriction_path(ORPHAN_UNIVERSE, MULTI))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.stop().await;
}

#[tokio::test]
async fn place_restrictions_and_inheritance() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let at_place = place_restriction_path(USER_UNIVERSE, PLACE, PLAIN);

    // A place ban leaves the universe and the other place alone.
    let reply = test
        .restrict(
            "ban-owner-key",
            &at_place,
            &[("updateMask", "gameJoinRestriction")],
            ban(Some("60s"), "place", ""),
        )
        .await;
    let body = reply.ok();
    assert_eq!(
        body["path"],
        format!("universes/{USER_UNIVERSE}/places/{PLACE}/user-restrictions/{PLAIN}")
    );
    assert_eq!(game_join(body)["inherited"], false);
    assert_eq!(game_join(body)["active"], true);
    let universe_level = test
        .get("ban-owner-key", &restriction_path(USER_UNIVERSE, PLAIN))
        .await;
    assert_eq!(game_join(universe_level.ok())["active"], false);
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    let other = test
        .get(
            "ban-owner-key",
            &place_restriction_path(USER_UNIVERSE, OTHER_PLACE, PLAIN),
        )
        .await;
    assert_eq!(game_join(other.ok())["active"], false);

    // A universe ban is inherited by every place without one in force.
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "universe", ""),
    )
    .await
    .ok();
    let inherited = test
        .get(
            "ban-owner-key",
            &place_restriction_path(USER_UNIVERSE, OTHER_PLACE, MULTI),
        )
        .await;
    let body = inherited.ok();
    assert_eq!(
        body["path"],
        format!("universes/{USER_UNIVERSE}/places/{OTHER_PLACE}/user-restrictions/{MULTI}")
    );
    assert_eq!(game_join(body)["active"], true);
    assert_eq!(game_join(body)["inherited"], true);
    assert_eq!(game_join(body)["displayReason"], "universe");

    // The place list holds users with a record at the place or the universe; the universe list only the latter.
    let place_list = test
        .list(
            "ban-owner-key",
            &format!("/cloud/v2/universes/{USER_UNIVERSE}/places/{PLACE}/user-restrictions"),
            &[],
        )
        .await;
    let users: Vec<&str> = items(place_list.ok(), "userRestrictions")
        .iter()
        .map(|r| r["user"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(users, [format!("users/{PLAIN}"), format!("users/{MULTI}")]);
    let universe_list = test
        .list("ban-owner-key", &restrictions_path(USER_UNIVERSE), &[])
        .await;
    assert_eq!(items(universe_list.ok(), "userRestrictions").len(), 1);

    // Logs name the place of place-level changes; filters pick by user and place.
    let logs = test
        .list("ban-owner-key", &logs_path(USER_UNIVERSE), &[])
        .await;
    let places: Vec<&str> = items(logs.ok(), "logs")
        .iter()
        .map(|log| log["place"].as_str().unwrap_or("?"))
        .collect();
    let place = format!("places/{PLACE}");
    assert_eq!(places, ["", place.as_str()]);
    let by_place = test
        .list(
            "ban-owner-key",
            &logs_path(USER_UNIVERSE),
            &[("filter", &format!("place == 'places/{PLACE}'"))],
        )
        .await;
    assert_eq!(items(by_place.ok(), "logs").len(), 1);
    test.stop().await;
}
