//! Groups and roles: the group resource, role fields by caller, and unknown routes.

use super::*;

#[tokio::test]
async fn role_fields_depend_on_who_is_asking() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}/roles");
    let query = [("maxPageSize", "20")];
    let by_id = |body: &Value| -> HashMap<u64, Value> {
        items(body, "groupRoles")
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().expect("id").parse().expect("numeric id"),
                    r.clone(),
                )
            })
            .collect()
    };

    let owner = test.list("owner-key", &path, &query).await;
    let owner = by_id(owner.ok());
    for role in owner.values() {
        assert!(
            role.get("description").is_some()
                && role.get("createTime").is_some()
                && role.get("updateTime").is_some()
        );
        assert!(role.get("permissions").is_some());
    }
    assert!(
        owner[&GUEST].get("memberCount").is_none(),
        "no member count for the guest role"
    );
    assert_eq!(owner[&TRUSTED]["memberCount"], 2);
    assert_eq!(owner[&MEMBER]["memberCount"], 2);
    assert_eq!(owner[&OFFICER]["permissions"]["changeRank"], true);
    assert_eq!(owner[&OWNER_ROLE]["permissions"]["changeRank"], true);
    assert_eq!(owner[&MEMBER]["permissions"]["changeRank"], false);

    let officer = test.list("officer-key", &path, &query).await;
    let officer = by_id(officer.ok());
    let with_permissions: BTreeSet<u64> = officer
        .iter()
        .filter(|(_, role)| role.get("permissions").is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(with_permissions, BTreeSet::from([GUEST, OFFICER]));
    assert!(
        officer
            .values()
            .all(|role| role.get("description").is_none() && role.get("createTime").is_none())
    );

    let multi_key = "multi-key";
    test.sim.add_api_key(multi_key, MULTI, &["group:read"]);
    let multi = test.list(multi_key, &path, &query).await;
    let with_permissions: BTreeSet<u64> = by_id(multi.ok())
        .iter()
        .filter(|(_, role)| role.get("permissions").is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(with_permissions, BTreeSet::from([GUEST, MEMBER, TRUSTED]));

    // Without group:read only the guest role's permissions show.
    let unscoped = test.list("member-nothing-key", &path, &query).await;
    let with_permissions: BTreeSet<u64> = by_id(unscoped.ok())
        .iter()
        .filter(|(_, role)| role.get("permissions").is_some())
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(with_permissions, BTreeSet::from([GUEST]));

    let one = test.get("owner-key", &format!("{path}/{OFFICER}")).await;
    assert_eq!(one.ok()["path"], role(OFFICER));
    assert_eq!(one.body["rank"], 50);
    assert_eq!(one.body["displayName"], "Officer");
    test.get("owner-key", &format!("{path}/9999"))
        .await
        .expect(404, "NOT_FOUND");
    test.get("owner-key", &format!("{path}/x"))
        .await
        .expect(400, "INVALID_ARGUMENT");
    test.stop().await;
}

#[tokio::test]
async fn get_group_and_unknown_routes() {
    let test = TestSim::seeded().await;
    let group = test
        .get("member-key", &format!("/cloud/v2/groups/{GROUP}"))
        .await;
    let body = group.ok();
    assert_eq!(body["path"], "groups/7");
    assert_eq!(body["id"], "7");
    assert_eq!(body["displayName"], "Roster Test Group");
    assert_eq!(body["owner"], "users/1");
    assert_eq!(body["memberCount"], 7);
    test.get("member-key", "/cloud/v2/groups/77")
        .await
        .expect(404, "NOT_FOUND");
    test.get("member-key", "/cloud/v2/groups/7?view=full")
        .await
        .expect(400, "INVALID_ARGUMENT");

    test.get("member-key", "/cloud/v2/universes/1")
        .await
        .expect(404, "NOT_FOUND");
    test.get("member-key", "/cloud/v2/groups/7/memberships/10:kick")
        .await
        .expect(404, "NOT_FOUND");
    test.get("member-key", "/v1/groups/7")
        .await
        .expect(404, "NOT_FOUND");
    let wrong_method = test
        .call(
            Method::DELETE,
            "/cloud/v2/groups/7",
            Some("member-key"),
            &[],
            None,
        )
        .await;
    wrong_method.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong_method.header("allow"), Some("GET"));
    let wrong_method = test
        .call(
            Method::POST,
            &membership(PLAIN),
            Some("owner-key"),
            &[],
            None,
        )
        .await;
    wrong_method.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(wrong_method.header("allow"), Some("PATCH"));
    test.stop().await;
}
