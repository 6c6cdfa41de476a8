//! Listing user restrictions (pagination) and their logs.

use super::*;

#[tokio::test]
async fn user_restriction_lists_paginate() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let list = restrictions_path(USER_UNIVERSE);
    let empty = test.list("ban-owner-key", &list, &[]).await;
    assert_eq!(
        empty.ok(),
        &json!({ "userRestrictions": [], "nextPageToken": "" })
    );

    // 25 users banned, in a scrambled order; one of them unbanned again (still listed).
    for n in 0..25u64 {
        let user = 2000 + (n * 7) % 25;
        test.restrict(
            "ban-owner-key",
            &restriction_path(USER_UNIVERSE, user),
            &[],
            ban(Some("600s"), "", ""),
        )
        .await
        .ok();
    }
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, 2003),
        &[],
        unban(),
    )
    .await
    .ok();
    let (all, pages) = walk(&test, "ban-owner-key", &list, "userRestrictions", &[]).await;
    assert_eq!((all.len(), pages), (25, 3));
    let users: Vec<String> = all
        .iter()
        .map(|r| r["user"].as_str().unwrap_or("").to_owned())
        .collect();
    let expected: Vec<String> = (2000..2025).map(|user| format!("users/{user}")).collect();
    assert_eq!(users, expected, "ordered by user id");
    let active: Vec<bool> = all
        .iter()
        .map(|r| r["gameJoinRestriction"]["active"] == true)
        .collect();
    assert_eq!(active.iter().filter(|a| !**a).count(), 1);
    let (all, pages) = walk(
        &test,
        "ban-owner-key",
        &list,
        "userRestrictions",
        &[("maxPageSize", "5")],
    )
    .await;
    assert_eq!(
        (all.len(), pages),
        (25, 6),
        "a full last page is followed by an empty one"
    );
    let (_, pages) = walk(
        &test,
        "ban-owner-key",
        &list,
        "userRestrictions",
        &[("maxPageSize", "1000")],
    )
    .await;
    assert_eq!(pages, 1, "clamped to 100");

    // Tokens are bound to their query; bad sizes and unknown parameters are refused.
    let first = test
        .list("ban-owner-key", &list, &[("maxPageSize", "2")])
        .await;
    let token = first.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    for (path, query) in [
        (
            list.clone(),
            vec![("maxPageSize", "3"), ("pageToken", token.as_str())],
        ),
        (list.clone(), vec![("pageToken", token.as_str())]),
        (
            list.clone(),
            vec![("maxPageSize", "2"), ("pageToken", "garbage")],
        ),
        (
            restrictions_path(GROUP_UNIVERSE),
            vec![("maxPageSize", "2"), ("pageToken", token.as_str())],
        ),
        (
            format!("/cloud/v2/universes/{USER_UNIVERSE}/places/{PLACE}/user-restrictions"),
            vec![("maxPageSize", "2"), ("pageToken", token.as_str())],
        ),
        (
            logs_path(USER_UNIVERSE),
            vec![("maxPageSize", "2"), ("pageToken", token.as_str())],
        ),
        (list.clone(), vec![("maxPageSize", "-1")]),
        (list.clone(), vec![("maxPageSize", "ten")]),
        (list.clone(), vec![("filter", "user == 'users/2000'")]),
    ] {
        test.list("ban-owner-key", &path, &query)
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    let second = test
        .list(
            "ban-owner-key",
            &list,
            &[("maxPageSize", "2"), ("pageToken", &token)],
        )
        .await;
    assert_eq!(
        items(second.ok(), "userRestrictions")[0]["user"],
        "users/2002"
    );
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_logs() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let logs = logs_path(USER_UNIVERSE);
    let empty = test.list("ban-owner-key", &logs, &[]).await;
    assert_eq!(empty.ok(), &json!({ "logs": [], "nextPageToken": "" }));

    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, PLAIN),
        &[],
        ban(Some("3600s"), "first", "p1"),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "second", "p2"),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, PLAIN),
        &[],
        unban(),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &place_restriction_path(USER_UNIVERSE, PLACE, PLAIN),
        &[],
        ban(None, "third", ""),
    )
    .await
    .ok();
    // No-op updates are not logged.
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, PLAIN),
        &[],
        json!({}),
    )
    .await
    .ok();

    let reply = test.list("ban-owner-key", &logs, &[]).await;
    let entries = items(reply.ok(), "logs").clone();
    assert_eq!(entries.len(), 4);
    let newest_first: Vec<(&str, bool, &str)> = entries
        .iter()
        .map(|log| {
            (
                log["user"].as_str().unwrap_or(""),
                log["active"] == true,
                log["displayReason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let plain = format!("users/{PLAIN}");
    let multi = format!("users/{MULTI}");
    assert_eq!(
        newest_first,
        [
            (plain.as_str(), true, "third"),
            (plain.as_str(), false, ""),
            (multi.as_str(), true, "second"),
            (plain.as_str(), true, "first"),
        ]
    );
    let first = &entries[3];
    assert_eq!(first["duration"], "3600s");
    assert_eq!(first["privateReason"], "p1");
    assert_eq!(
        first["moderator"],
        json!({ "robloxUser": format!("users/{OWNER}") })
    );
    assert_eq!(
        first["restrictionType"],
        json!({ "gameJoinRestriction": {} })
    );
    assert_eq!(first["place"], "");
    assert!(first.get("startTime").is_some());
    assert!(entries[2].get("duration").is_none());
    assert!(entries[1].get("startTime").is_none());

    // Filters.
    for (filter, expected) in [
        (format!("user == 'users/{PLAIN}'"), 3),
        (format!("user == \"users/{MULTI}\""), 1),
        (
            format!("user == 'users/{PLAIN}' && place == 'places/{PLACE}'"),
            1,
        ),
        (format!("place == 'places/{OTHER_PLACE}'"), 0),
        (format!("user == 'users/{OUTSIDER}'"), 0),
        (String::new(), 4),
    ] {
        let reply = test
            .list("ban-owner-key", &logs, &[("filter", &filter)])
            .await;
        assert_eq!(items(reply.ok(), "logs").len(), expected, "{filter}");
    }
    for filter in [
        "user = 'users/10'",
        "active == 'true'",
        "user == 'users/10' || place == 'places/600'",
        "user == 'users/10' && user == 'users/11'",
        "user == 10",
    ] {
        test.list("ban-owner-key", &logs, &[("filter", filter)])
            .await
            .expect(400, "INVALID_ARGUMENT");
    }

    // Pagination, bound to the filter.
    let filter = format!("user == 'users/{PLAIN}'");
    let (all, pages) = walk(
        &test,
        "ban-owner-key",
        &logs,
        "logs",
        &[("maxPageSize", "2"), ("filter", &filter)],
    )
    .await;
    assert_eq!((all.len(), pages), (3, 2));
    assert_eq!(
        all,
        entries
            .iter()
            .filter(|log| log["user"] == plain.as_str())
            .cloned()
            .collect::<Vec<_>>()
    );
    let page = test
        .list("ban-owner-key", &logs, &[("maxPageSize", "1")])
        .await;
    let token = page.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    test.list(
        "ban-owner-key",
        &logs,
        &[
            ("maxPageSize", "1"),
            ("filter", &filter),
            ("pageToken", &token),
        ],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}
