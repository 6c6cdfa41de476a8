//! Group memberships: assigning and unassigning roles, PATCH, membership ids, and list filters.

use super::*;

#[tokio::test]
async fn assign_and_unassign_are_idempotent() {
    let test = TestSim::seeded().await;
    let multi = MULTI.to_string();
    let before = test.assign("officer-key", &multi, &role(TRUSTED)).await;
    let before = before.ok().clone();
    assert_eq!(before["roles"], json!([role(MEMBER), role(TRUSTED)]));
    let again = test.assign("officer-key", &multi, &role(TRUSTED)).await;
    assert_eq!(
        again.ok(),
        &before,
        "assigning a held role changes nothing, not even updateTime"
    );

    let plain = PLAIN.to_string();
    let reply = test.unassign("officer-key", &plain, &role(TRUSTED)).await;
    assert_eq!(reply.ok()["roles"], json!([role(MEMBER)]));
    assert_eq!(test.member_roles(GROUP, PLAIN), Some(vec![MEMBER]));

    let removed = test.unassign("officer-key", &multi, &role(TRUSTED)).await;
    assert_eq!(removed.ok()["roles"], json!([role(MEMBER)]));
    assert_eq!(removed.body["role"], role(MEMBER));
    test.unassign("officer-key", &multi, &role(TRUSTED))
        .await
        .ok();
    assert_eq!(test.member_roles(GROUP, MULTI), Some(vec![MEMBER]));
    // Permission checks still apply to a would-be no-op.
    test.unassign("member-key", &multi, &role(TRUSTED))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.stop().await;
}

#[tokio::test]
async fn unassigning_the_last_role_is_refused() {
    let test = TestSim::seeded().await;
    test.unassign("officer-key", &PLAIN.to_string(), &role(MEMBER))
        .await
        .expect(400, "INVALID_ARGUMENT");
    assert_eq!(test.member_roles(GROUP, PLAIN), Some(vec![MEMBER]));
    // With a second role it is fine.
    test.unassign("officer-key", &MULTI.to_string(), &role(MEMBER))
        .await
        .ok();
    assert_eq!(test.member_roles(GROUP, MULTI), Some(vec![TRUSTED]));
    test.stop().await;
}

#[tokio::test]
async fn patch_replaces_every_role_with_the_given_one() {
    let test = TestSim::seeded().await;
    let reply = test
        .patch(
            "admin-key",
            &MULTI.to_string(),
            json!({ "role": role(OFFICER) }),
        )
        .await;
    let body = reply.ok();
    assert_eq!(body["role"], role(OFFICER));
    assert_eq!(body["roles"], json!([role(OFFICER)]));
    assert_eq!(test.member_roles(GROUP, MULTI), Some(vec![OFFICER]));
    // Output-only fields and a matching `user` are accepted.
    let reply = test
        .patch(
            "admin-key",
            &MULTI.to_string(),
            json!({ "role": role(MEMBER), "user": format!("users/{MULTI}"), "roles": [] }),
        )
        .await;
    assert_eq!(reply.ok()["roles"], json!([role(MEMBER)]));
    test.stop().await;
}

#[tokio::test]
async fn membership_id_may_be_the_user_id_or_the_opaque_id() {
    let test = TestSim::seeded().await;
    let list = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[("filter", &format!("user == 'users/{PLAIN}'"))],
        )
        .await;
    let path = items(list.ok(), "groupMemberships")[0]["path"]
        .as_str()
        .expect("path")
        .to_owned();
    let opaque = path
        .strip_prefix(&format!("groups/{GROUP}/memberships/"))
        .expect("membership path shape")
        .to_owned();
    assert_ne!(opaque, PLAIN.to_string());
    assert!(
        opaque.parse::<u64>().is_err(),
        "the membership id is opaque"
    );

    let reply = test.assign("officer-key", &opaque, &role(TRUSTED)).await;
    assert_eq!(reply.ok()["path"], path);
    let reply = test
        .unassign("officer-key", &PLAIN.to_string(), &role(TRUSTED))
        .await;
    assert_eq!(reply.ok()["path"], path);
    let reply = test
        .patch("officer-key", &opaque, json!({ "role": role(TRUSTED) }))
        .await;
    assert_eq!(reply.ok()["roles"], json!([role(TRUSTED)]));

    // An opaque id of group 7 means nothing in group 8; garbage is not found either.
    let other = format!("/cloud/v2/groups/{OTHER_GROUP}/memberships/{opaque}:assignRole");
    test.call(
        Method::POST,
        &other,
        Some("owner-key"),
        &[],
        Some(Body::Json(json!({ "role": "groups/8/roles/201" }))),
    )
    .await
    .expect(403, "PERMISSION_DENIED");
    test.sim.add_api_key("other-owner", 50, &["group:write"]);
    test.call(
        Method::POST,
        &other,
        Some("other-owner"),
        &[],
        Some(Body::Json(json!({ "role": "groups/8/roles/201" }))),
    )
    .await
    .expect(404, "NOT_FOUND");
    test.assign("officer-key", "bm90LWEtbWVtYmVyc2hpcA", &role(TRUSTED))
        .await
        .expect(404, "NOT_FOUND");
    test.stop().await;
}

/// Lists group 7's memberships with a filter.
async fn filtered(test: &TestSim, filter: &str) -> Reply {
    let path = format!("/cloud/v2/groups/{GROUP}/memberships");
    test.list(
        "member-key",
        &path,
        &[("filter", filter), ("maxPageSize", "100")],
    )
    .await
}

#[tokio::test]
async fn membership_filters() {
    let test = TestSim::seeded().await;
    let one = filtered(&test, &format!("user == 'users/{MULTI}'")).await;
    let body = one.ok();
    assert_eq!(users_of(body), vec![format!("users/{MULTI}")]);
    assert_eq!(body["groupMemberships"][0]["role"], role(TRUSTED));
    assert_eq!(
        body["groupMemberships"][0]["roles"],
        json!([role(MEMBER), role(TRUSTED)])
    );

    let holders = filtered(&test, &format!("role == '{}'", role(TRUSTED))).await;
    assert_eq!(
        users_of(holders.ok()),
        vec![format!("users/{MULTI}"), format!("users/{TRUSTED_USER}")],
        "every member holding the role, not only those whose highest role it is"
    );
    let unknown_role = filtered(&test, &format!("role == '{}'", role(9999))).await;
    assert!(users_of(unknown_role.ok()).is_empty());

    let several = filtered(
        &test,
        &format!("user in ['users/{TRUSTED_USER}', \"users/{PLAIN}\", 'users/{OUTSIDER}']"),
    )
    .await;
    assert_eq!(
        users_of(several.ok()),
        vec![format!("users/{PLAIN}"), format!("users/{TRUSTED_USER}")]
    );

    // The wildcard group searches every group.
    let wildcard = "/cloud/v2/groups/-/memberships";
    let across = test
        .list(
            "member-key",
            wildcard,
            &[("filter", &format!("user in ['users/{PLAIN}', 'users/60']"))],
        )
        .await;
    let paths: Vec<String> = items(across.ok(), "groupMemberships")
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["user"].as_str().unwrap_or(""),
                m["role"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        paths,
        vec![
            format!("users/{PLAIN} groups/{GROUP}/roles/{MEMBER}"),
            format!("users/{PLAIN} groups/{OTHER_GROUP}/roles/201"),
            "users/60 groups/8/roles/201".to_owned(),
        ]
    );
    let single = test
        .list(
            "member-key",
            wildcard,
            &[
                ("filter", &format!("user == 'users/{PLAIN}'")),
                ("maxPageSize", "1"),
            ],
        )
        .await;
    let token = single.ok()["nextPageToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let next = test
        .list(
            "member-key",
            wildcard,
            &[
                ("filter", &format!("user == 'users/{PLAIN}'")),
                ("maxPageSize", "1"),
                ("pageToken", &token),
            ],
        )
        .await;
    assert_eq!(
        next.ok()["groupMemberships"][0]["role"],
        "groups/8/roles/201"
    );

    // Refused filters.
    test.list("member-key", wildcard, &[])
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.list(
        "member-key",
        wildcard,
        &[("filter", &format!("role == '{}'", role(MEMBER)))],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    let fifty_one: Vec<String> = (1..=51).map(|n| format!("'users/{n}'")).collect();
    test.list(
        "member-key",
        wildcard,
        &[("filter", &format!("user in [{}]", fifty_one.join(", ")))],
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    for bad in [
        "user != 'users/1'",
        "displayName == 'x'",
        "user == 'users/1' && role == 'groups/7/roles/101'",
        "user == 'people/1'",
        "role == 'groups/8/roles/201'",
        "role in ['groups/7/roles/101']",
    ] {
        filtered(&test, bad).await.expect(400, "INVALID_ARGUMENT");
    }
    test.list("member-key", "/cloud/v2/groups/77/memberships", &[])
        .await
        .expect(404, "NOT_FOUND");
    test.list("member-key", "/cloud/v2/groups/abc/memberships", &[])
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}
