//! The gateway's API-key check, the scopes each operation needs, and the group permission rules
//! (who may change whose role).

use super::*;

#[tokio::test]
async fn missing_or_unknown_api_key_is_a_gateway_401() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}");
    let gateway = json!({ "errors": [{ "code": 0, "message": "Invalid API Key" }] });

    let missing = test.call(Method::GET, &path, None, &[], None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body, gateway);
    assert!(missing.header("x-ratelimit-limit").is_none());

    let unknown = test.get("no-such-key", &path).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body, gateway);

    let write = test
        .assign("no-such-key", &PLAIN.to_string(), &role(TRUSTED))
        .await;
    assert_eq!(write.status, 401);

    let log = test.sim.log();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|entry| entry.status == 401 && entry.key_owner.is_none())
    );
    assert_eq!(log[0].endpoint, Some(Endpoint::GetGroup));
    test.stop().await;
}

#[tokio::test]
async fn writes_need_the_group_write_scope() {
    let test = TestSim::seeded().await;
    let reply = test
        .assign("officer-read-key", &PLAIN.to_string(), &role(TRUSTED))
        .await;
    reply.expect(403, "PERMISSION_DENIED");
    assert_eq!(test.member_roles(GROUP, PLAIN), Some(vec![MEMBER]));
    let reply = test
        .patch(
            "officer-read-key",
            &PLAIN.to_string(),
            json!({ "role": role(TRUSTED) }),
        )
        .await;
    reply.expect(403, "PERMISSION_DENIED");

    // Reads need no scope at all.
    test.get("member-nothing-key", &format!("/cloud/v2/groups/{GROUP}"))
        .await
        .ok();
    test.list(
        "member-nothing-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[],
    )
    .await
    .ok();
    test.list(
        "member-nothing-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[],
    )
    .await
    .ok();
    test.stop().await;
}

#[tokio::test]
async fn each_permission_rule_is_enforced() {
    let test = TestSim::seeded().await;
    let plain = PLAIN.to_string();

    // No changeRank, or not a member at all.
    test.assign("member-key", &TRUSTED_USER.to_string(), &role(MEMBER))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.assign("outsider-key", &plain, &role(TRUSTED))
        .await
        .expect(403, "PERMISSION_DENIED");
    // Target ranked above or equal to the actor.
    test.assign("officer-key", &ADMIN_USER.to_string(), &role(TRUSTED))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.assign("officer-key", &OFFICER_TWO.to_string(), &role(TRUSTED))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.unassign("officer-key", &ADMIN_USER.to_string(), &role(ADMIN))
        .await
        .expect(403, "PERMISSION_DENIED");
    // Role ranked at or above the actor.
    test.assign("officer-key", &plain, &role(OFFICER))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.assign("officer-key", &plain, &role(ADMIN))
        .await
        .expect(403, "PERMISSION_DENIED");
    // Own membership, even for the owner.
    test.assign("officer-key", &OFFICER_USER.to_string(), &role(TRUSTED))
        .await
        .expect(403, "PERMISSION_DENIED");
    test.patch(
        "owner-key",
        &OWNER.to_string(),
        json!({ "role": role(ADMIN) }),
    )
    .await
    .expect(403, "PERMISSION_DENIED");
    // Guest and owner roles can never be assigned, even by the owner.
    test.assign("owner-key", &plain, &role(GUEST))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.assign("owner-key", &plain, &role(OWNER_ROLE))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.patch("owner-key", &plain, json!({ "role": role(GUEST) }))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.unassign("owner-key", &OWNER.to_string(), &role(OWNER_ROLE))
        .await
        .expect(403, "PERMISSION_DENIED");
    // Unknown role, role of another group, malformed role paths and bodies.
    test.assign("officer-key", &plain, &role(9999))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.assign("officer-key", &plain, "groups/8/roles/201")
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.assign("officer-key", &plain, "roles/102")
        .await
        .expect(400, "INVALID_ARGUMENT");
    let assign_path = format!("/cloud/v2/groups/{GROUP}/memberships/{PLAIN}:assignRole");
    for body in [
        Body::Raw("not json"),
        Body::Raw(""),
        Body::Json(json!({})),
        Body::Json(json!({ "role": 102 })),
        Body::Json(json!({ "role": role(TRUSTED), "rank": 10 })),
    ] {
        test.call(
            Method::POST,
            &assign_path,
            Some("officer-key"),
            &[],
            Some(body),
        )
        .await
        .expect(400, "INVALID_ARGUMENT");
    }
    test.patch("officer-key", &plain, json!({}))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.patch(
        "officer-key",
        &plain,
        json!({ "role": role(TRUSTED), "user": "users/12" }),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    // Not a member, unknown group.
    test.assign("officer-key", &OUTSIDER.to_string(), &role(TRUSTED))
        .await
        .expect(404, "NOT_FOUND");
    let unknown_group = "/cloud/v2/groups/77/memberships/10:assignRole";
    test.call(
        Method::POST,
        unknown_group,
        Some("officer-key"),
        &[],
        Some(Body::Json(json!({ "role": "groups/77/roles/1" }))),
    )
    .await
    .expect(404, "NOT_FOUND");
    assert_eq!(
        test.member_roles(GROUP, PLAIN),
        Some(vec![MEMBER]),
        "nothing changed so far"
    );

    // Allowed: officer gives trusted to a plain member; admin gives officer; owner gives admin.
    let reply = test.assign("officer-key", &plain, &role(TRUSTED)).await;
    let body = reply.ok();
    assert_eq!(body["role"], role(TRUSTED));
    assert_eq!(body["roles"], json!([role(MEMBER), role(TRUSTED)]));
    assert_eq!(body["user"], format!("users/{PLAIN}"));
    test.assign("admin-key", &plain, &role(OFFICER)).await.ok();
    test.assign("owner-key", &plain, &role(ADMIN)).await.ok();
    let member = test.sim.member(GROUP, PLAIN).expect("still a member");
    assert_eq!(member.role_ids, vec![MEMBER, TRUSTED, OFFICER, ADMIN]);
    assert_eq!((member.rank, member.role_name.as_str()), (100, "Admin"));
    test.stop().await;
}
