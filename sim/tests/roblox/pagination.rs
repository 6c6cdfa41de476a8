//! Pagination of memberships and roles: page sizes, ordering, page tokens and the end of a list.

use super::*;

#[tokio::test]
async fn membership_pages_are_clamped_ordered_and_complete() {
    let test = TestSim::seeded().await;
    test.sim.seed_group(big_group(9, 249)).expect("valid seed");
    let path = "/cloud/v2/groups/9/memberships";

    let default = test.list("owner-key", path, &[]).await;
    assert_eq!(items(default.ok(), "groupMemberships").len(), 10);
    let clamped = test
        .list("owner-key", path, &[("maxPageSize", "500")])
        .await;
    assert_eq!(items(clamped.ok(), "groupMemberships").len(), 100);
    let zero = test.list("owner-key", path, &[("maxPageSize", "0")]).await;
    assert_eq!(items(zero.ok(), "groupMemberships").len(), 10);
    for bad in ["-1", "ten", "1.5", "99999999999"] {
        test.list("owner-key", path, &[("maxPageSize", bad)])
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    test.list("owner-key", path, &[("pageSize", "5")])
        .await
        .expect(400, "INVALID_ARGUMENT");

    let (all, pages) = walk(
        &test,
        "owner-key",
        path,
        "groupMemberships",
        &[("maxPageSize", "500")],
    )
    .await;
    assert_eq!(all.len(), 250);
    assert_eq!(pages, 3);
    let users: Vec<u64> = all
        .iter()
        .map(|m| {
            m["user"].as_str().expect("user")[6..]
                .parse()
                .expect("numeric user")
        })
        .collect();
    let mut sorted = users.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(users, sorted, "ordered by user id, without duplicates");
    assert_eq!(users[0], OWNER);

    let (roles, _) = walk(
        &test,
        "owner-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        "groupRoles",
        &[],
    )
    .await;
    let ranks: Vec<u64> = roles
        .iter()
        .map(|r| r["rank"].as_u64().expect("rank"))
        .collect();
    assert_eq!(ranks, vec![0, 1, 10, 50, 100, 255]);
    test.stop().await;
}

#[tokio::test]
async fn role_pages_default_to_10_and_clamp_to_20() {
    let test = TestSim::seeded().await;
    let mut seed = big_group(9, 0);
    seed.roles = (0..=24u8)
        .map(|n| {
            role_seed(
                400 + u64::from(n),
                &format!("Rank {n}"),
                if n == 24 { 255 } else { n },
                false,
            )
        })
        .collect();
    test.sim.seed_group(seed).expect("valid seed");
    let path = "/cloud/v2/groups/9/roles";
    let default = test.list("owner-key", path, &[]).await;
    assert_eq!(items(default.ok(), "groupRoles").len(), 10);
    let clamped = test
        .list("owner-key", path, &[("maxPageSize", "100")])
        .await;
    assert_eq!(items(clamped.ok(), "groupRoles").len(), 20);
    let (all, pages) = walk(
        &test,
        "owner-key",
        path,
        "groupRoles",
        &[("maxPageSize", "100")],
    )
    .await;
    assert_eq!((all.len(), pages), (25, 2));
    test.list("owner-key", path, &[("filter", "rank == 1")])
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}

#[tokio::test]
async fn page_tokens_are_bound_to_their_query() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}/memberships");
    let filter = format!("role == '{}'", role(MEMBER));
    let first = test
        .list(
            "owner-key",
            &path,
            &[("maxPageSize", "1"), ("filter", &filter)],
        )
        .await;
    let token = first.ok()["nextPageToken"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert!(!token.is_empty());

    // Same query: fine.
    let second = test
        .list(
            "owner-key",
            &path,
            &[
                ("maxPageSize", "1"),
                ("filter", &filter),
                ("pageToken", &token),
            ],
        )
        .await;
    assert_eq!(users_of(second.ok()), vec![format!("users/{MULTI}")]);
    // Another filter, no filter, another page size, another group, another collection, garbage.
    let other_filter = format!("role == '{}'", role(TRUSTED));
    for query in [
        vec![
            ("maxPageSize", "1"),
            ("filter", other_filter.as_str()),
            ("pageToken", token.as_str()),
        ],
        vec![("maxPageSize", "1"), ("pageToken", token.as_str())],
        vec![
            ("maxPageSize", "2"),
            ("filter", filter.as_str()),
            ("pageToken", token.as_str()),
        ],
        vec![("filter", filter.as_str()), ("pageToken", token.as_str())],
        vec![
            ("maxPageSize", "1"),
            ("filter", filter.as_str()),
            ("pageToken", "garbage"),
        ],
    ] {
        test.list("owner-key", &path, &query)
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    let other_group = format!("/cloud/v2/groups/{OTHER_GROUP}/memberships");
    test.list(
        "owner-key",
        &other_group,
        &[
            ("maxPageSize", "1"),
            ("filter", &filter),
            ("pageToken", &token),
        ],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.list(
        "owner-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[("maxPageSize", "1"), ("pageToken", &token)],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}

#[tokio::test]
async fn end_of_list_is_an_empty_string_or_omitted() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}/memberships");
    let reply = test
        .list("owner-key", &path, &[("maxPageSize", "100")])
        .await;
    assert_eq!(reply.ok()["nextPageToken"], json!(""));

    test.sim
        .update_config(|config| config.end_of_list = EndOfList::Omitted);
    let reply = test
        .list("owner-key", &path, &[("maxPageSize", "100")])
        .await;
    assert!(reply.ok().get("nextPageToken").is_none(), "{}", reply.body);
    let roles = test
        .list("owner-key", &format!("/cloud/v2/groups/{GROUP}/roles"), &[])
        .await;
    assert!(roles.ok().get("nextPageToken").is_none());

    // A filter matching nobody is an empty page with the same end marker.
    let nobody = test
        .list(
            "owner-key",
            &path,
            &[("filter", &format!("user == 'users/{OUTSIDER}'"))],
        )
        .await;
    assert_eq!(nobody.ok(), &json!({ "groupMemberships": [] }));
    test.stop().await;
}

#[tokio::test]
async fn a_list_that_fills_its_last_page_ends_with_an_empty_page() {
    let test = TestSim::seeded().await;
    test.sim.seed_group(big_group(9, 19)).expect("valid seed"); // 20 members with the owner
    let path = "/cloud/v2/groups/9/memberships";
    let (all, pages) = walk(&test, "owner-key", path, "groupMemberships", &[]).await;
    assert_eq!(
        (all.len(), pages),
        (20, 3),
        "two full pages and an empty one"
    );

    let first = test.list("owner-key", path, &[]).await;
    let token = first.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let second = test.list("owner-key", path, &[("pageToken", &token)]).await;
    let token = second.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(
        !token.is_empty(),
        "the full last page still carries a token"
    );
    let third = test.list("owner-key", path, &[("pageToken", &token)]).await;
    assert_eq!(
        third.ok(),
        &json!({ "groupMemberships": [], "nextPageToken": "" })
    );

    test.sim
        .update_config(|config| config.empty_last_page = false);
    let (all, pages) = walk(&test, "owner-key", path, "groupMemberships", &[]).await;
    assert_eq!((all.len(), pages), (20, 2));
    test.stop().await;
}
