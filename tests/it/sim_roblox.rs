//! Behaviour of the Roblox Open Cloud simulator over real HTTP.
//!
//! Every test starts its own simulator on 127.0.0.1:0 and stops it at the end. Every 200 body a test receives
//! from `/cloud/v2` is validated against the official OpenAPI schema when the official spec is found
//! (`ROSTER_UPSTREAM_SPECS`, else `../shared/upstream-specs`): the folder holding `roblox-openapi.json` (see the `conformance` module).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::roblox::{
    EndOfList, Endpoint, FaultAction, FaultRule, GroupSeed, MemberSeed, RobloxSim, RobloxSimConfig,
    RoleSeed, SocialNetworkProfiles, UniverseSeed, UserRestrictionSnapshot, UserSeed,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const GROUP: u64 = 7;
const OTHER_GROUP: u64 = 8;

const GUEST: u64 = 100;
const MEMBER: u64 = 101;
const TRUSTED: u64 = 102;
const OFFICER: u64 = 103;
const ADMIN: u64 = 104;
const OWNER_ROLE: u64 = 105;

const OWNER: u64 = 1;
const ADMIN_USER: u64 = 2;
const OFFICER_USER: u64 = 3;
const OFFICER_TWO: u64 = 4;
const PLAIN: u64 = 10;
const MULTI: u64 = 11;
const TRUSTED_USER: u64 = 12;
const OUTSIDER: u64 = 999;

fn role_seed(id: u64, name: &str, rank: u8, change_rank: bool) -> RoleSeed {
    RoleSeed {
        id,
        name: name.to_owned(),
        rank,
        change_rank,
    }
}

fn member_seed(user_id: u64, role_ids: &[u64]) -> MemberSeed {
    MemberSeed {
        user_id,
        role_ids: role_ids.to_vec(),
    }
}

/// Group 7: owner 1; admin 2 (rank 100, changeRank); officers 3 and 4 (rank 50, changeRank); plain member 10;
/// member 11 holding member + trusted; trusted member 12.
/// User `PLAIN` with every field set.
fn plain_user() -> UserSeed {
    UserSeed {
        display_name: Some("Plain Person".into()),
        about: "Just a member".into(),
        locale: Some("fr-FR".into()),
        premium: true,
        id_verified: true,
        social_network_profiles: Some(SocialNetworkProfiles {
            twitch: Some("https://twitch.tv/plain".into()),
            visibility: "EVERYONE".into(),
            ..SocialNetworkProfiles::default()
        }),
        create_time: Some(
            chrono::DateTime::parse_from_rfc3339("2015-03-04T05:06:07Z")
                .unwrap()
                .into(),
        ),
        ..UserSeed::named(PLAIN, "plain_user")
    }
}

fn main_group() -> GroupSeed {
    GroupSeed {
        id: GROUP,
        name: "Roster Test Group".into(),
        description: "A group for tests".into(),
        owner_user_id: OWNER,
        roles: vec![
            role_seed(GUEST, "Guest", 0, false),
            role_seed(MEMBER, "Member", 1, false),
            role_seed(TRUSTED, "Trusted", 10, false),
            role_seed(OFFICER, "Officer", 50, true),
            role_seed(ADMIN, "Admin", 100, true),
            role_seed(OWNER_ROLE, "Owner", 255, false),
        ],
        members: vec![
            member_seed(ADMIN_USER, &[ADMIN]),
            member_seed(OFFICER_USER, &[OFFICER]),
            member_seed(OFFICER_TWO, &[OFFICER]),
            member_seed(PLAIN, &[MEMBER]),
            member_seed(MULTI, &[MEMBER, TRUSTED]),
            member_seed(TRUSTED_USER, &[TRUSTED]),
        ],
    }
}

/// Group 8: owner 50; members 10 and 60.
fn other_group() -> GroupSeed {
    GroupSeed {
        id: OTHER_GROUP,
        name: "Other Group".into(),
        description: String::new(),
        owner_user_id: 50,
        roles: vec![
            role_seed(200, "Guest", 0, false),
            role_seed(201, "Member", 1, false),
            role_seed(202, "Owner", 255, false),
        ],
        members: vec![member_seed(PLAIN, &[201]), member_seed(60, &[201])],
    }
}

/// A group with the owner (user 1) plus `extra` members with user ids 1001, 1002, ...
fn big_group(id: u64, extra: u64) -> GroupSeed {
    GroupSeed {
        id,
        name: format!("Big {id}"),
        description: String::new(),
        owner_user_id: OWNER,
        roles: vec![
            role_seed(300, "Guest", 0, false),
            role_seed(301, "Member", 1, false),
            role_seed(302, "Owner", 255, false),
        ],
        members: (1..=extra).map(|n| member_seed(1000 + n, &[301])).collect(),
    }
}

fn role(id: u64) -> String {
    format!("groups/{GROUP}/roles/{id}")
}

fn membership(user: u64) -> String {
    format!("/cloud/v2/groups/{GROUP}/memberships/{user}")
}

/// A running simulator with a client; `stop` shuts it down and checks the server task ends.
struct TestSim {
    sim: RobloxSim,
    base: String,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// A decoded answer.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    #[track_caller]
    fn expect(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
    }

    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {}", self.body);
        &self.body
    }
}

enum Body {
    Json(Value),
    Raw(&'static str),
}

impl TestSim {
    async fn start(config: RobloxSimConfig) -> Self {
        let sim = RobloxSim::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        let (bound, server) = sim
            .serve(addr, async move {
                let _ = rx.await;
            })
            .await
            .expect("the simulator binds");
        Self {
            sim,
            base: format!("http://{bound}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client builds"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The default simulator with groups 7 and 8 and the standard keys.
    async fn seeded() -> Self {
        let test = Self::start(RobloxSimConfig::default()).await;
        test.sim.seed_group(main_group()).expect("valid seed");
        test.sim.seed_group(other_group()).expect("valid seed");
        test.sim.seed_user(plain_user()).expect("valid user seed");
        let both = ["group:read", "group:write"];
        test.sim.add_api_key("owner-key", OWNER, &both);
        test.sim.add_api_key("owner-key-2", OWNER, &both);
        test.sim.add_api_key("admin-key", ADMIN_USER, &both);
        test.sim.add_api_key("officer-key", OFFICER_USER, &both);
        test.sim
            .add_api_key("officer-read-key", OFFICER_USER, &["group:read"]);
        test.sim.add_api_key("member-key", PLAIN, &both);
        test.sim.add_api_key("member-nothing-key", PLAIN, &[]);
        test.sim.add_api_key("outsider-key", OUTSIDER, &both);
        test
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the server shuts down within 5 s")
                .expect("the server task does not panic");
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Option<Body>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request = match body {
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Raw(text)) => request
                .header("content-type", "application/json")
                .body(text),
            None => request,
        };
        let response = request.send().await.expect("the request is answered");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let url_path = response.url().path().to_owned();
        let bytes = response.bytes().await.expect("the body is read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status == 200 && url_path.starts_with("/cloud/v2/") {
            conformance::check_response(method.as_str(), &url_path, &body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, key: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(key), &[], None).await
    }

    async fn list(&self, key: &str, path: &str, query: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, path, Some(key), query, None).await
    }

    async fn assign(&self, key: &str, target: &str, role_path: &str) -> Reply {
        let path = format!("/cloud/v2/groups/{GROUP}/memberships/{target}:assignRole");
        self.call(
            Method::POST,
            &path,
            Some(key),
            &[],
            Some(Body::Json(json!({ "role": role_path }))),
        )
        .await
    }

    async fn unassign(&self, key: &str, target: &str, role_path: &str) -> Reply {
        let path = format!("/cloud/v2/groups/{GROUP}/memberships/{target}:unassignRole");
        self.call(
            Method::POST,
            &path,
            Some(key),
            &[],
            Some(Body::Json(json!({ "role": role_path }))),
        )
        .await
    }

    async fn patch(&self, key: &str, target: &str, body: Value) -> Reply {
        let path = format!("/cloud/v2/groups/{GROUP}/memberships/{target}");
        self.call(Method::PATCH, &path, Some(key), &[], Some(Body::Json(body)))
            .await
    }

    /// A `/_sim` control call.
    async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(Body::Json);
        self.call(method, path, None, &[], body).await
    }

    fn member_roles(&self, group: u64, user: u64) -> Option<Vec<u64>> {
        self.sim.member(group, user).map(|member| member.role_ids)
    }
}

fn items<'a>(body: &'a Value, field: &str) -> &'a Vec<Value> {
    body[field].as_array().expect("a list field")
}

fn users_of(body: &Value) -> Vec<String> {
    items(body, "groupMemberships")
        .iter()
        .map(|membership| membership["user"].as_str().expect("user").to_owned())
        .collect()
}

/// Walks every page of a list with the given query and returns all items.
async fn walk(
    test: &TestSim,
    key: &str,
    path: &str,
    field: &str,
    query: &[(&str, &str)],
) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut params = query.to_vec();
        if !token.is_empty() {
            params.push(("pageToken", token.as_str()));
        }
        let reply = test.list(key, path, &params).await;
        let body = reply.ok();
        pages += 1;
        all.extend(items(body, field).iter().cloned());
        match body["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => break,
        }
        assert!(pages < 1000, "pagination does not end");
    }
    (all, pages)
}

/// Universe 500: owned by user 1 (the group owner), with places 600 and 601.
const USER_UNIVERSE: u64 = 500;
/// Universe 501: owned by group 7.
const GROUP_UNIVERSE: u64 = 501;
/// Universe 502: owned by group 77, which is not seeded.
const ORPHAN_UNIVERSE: u64 = 502;
const PLACE: u64 = 600;
const OTHER_PLACE: u64 = 601;

fn restriction_path(universe: u64, user: u64) -> String {
    format!("/cloud/v2/universes/{universe}/user-restrictions/{user}")
}

fn place_restriction_path(universe: u64, place: u64, user: u64) -> String {
    format!("/cloud/v2/universes/{universe}/places/{place}/user-restrictions/{user}")
}

fn restrictions_path(universe: u64) -> String {
    format!("/cloud/v2/universes/{universe}/user-restrictions")
}

fn logs_path(universe: u64) -> String {
    format!("/cloud/v2/universes/{universe}/user-restrictions:listLogs")
}

/// A `UserRestriction` body that bans.
fn ban(duration: Option<&str>, display: &str, private: &str) -> Value {
    let mut game_join = json!({
        "active": true,
        "displayReason": display,
        "privateReason": private,
        "excludeAltAccounts": false,
    });
    if let Some(duration) = duration {
        game_join["duration"] = json!(duration);
    }
    json!({ "gameJoinRestriction": game_join })
}

/// A `UserRestriction` body that unbans.
fn unban() -> Value {
    json!({ "gameJoinRestriction": { "active": false } })
}

fn seed_universe(sim: &RobloxSim, id: u64, user: Option<u64>, group: Option<u64>) {
    sim.seed_universe(UniverseSeed {
        id,
        owner_user_id: user,
        owner_group_id: group,
    })
    .expect("valid universe seed");
}

impl TestSim {
    /// [`TestSim::seeded`] plus universes 500 (user 1, places 600 and 601), 501 (group 7) and 502 (group 77,
    /// unseeded), and keys with the user-restriction scopes.
    async fn with_universes() -> Self {
        let test = Self::seeded().await;
        seed_universe(&test.sim, USER_UNIVERSE, Some(OWNER), None);
        seed_universe(&test.sim, GROUP_UNIVERSE, None, Some(GROUP));
        seed_universe(&test.sim, ORPHAN_UNIVERSE, None, Some(77));
        test.sim.seed_place(USER_UNIVERSE, PLACE).expect("place");
        test.sim
            .seed_place(USER_UNIVERSE, OTHER_PLACE)
            .expect("place");
        let both = [
            "universe.user-restriction:read",
            "universe.user-restriction:write",
        ];
        test.sim.add_api_key("ban-owner-key", OWNER, &both);
        test.sim
            .add_api_key("ban-read-key", OWNER, &["universe.user-restriction:read"]);
        test.sim
            .add_api_key("ban-write-key", OWNER, &["universe.user-restriction:write"]);
        test.sim.add_api_key("ban-admin-key", ADMIN_USER, &both);
        test.sim.add_api_key("ban-officer-key", OFFICER_USER, &both);
        test.sim.add_api_key("ban-member-key", PLAIN, &both);
        test.sim.add_api_key("ban-outsider-key", OUTSIDER, &both);
        test
    }

    /// PATCH a user restriction.
    async fn restrict(&self, key: &str, path: &str, query: &[(&str, &str)], body: Value) -> Reply {
        self.call(
            Method::PATCH,
            path,
            Some(key),
            query,
            Some(Body::Json(body)),
        )
        .await
    }

    /// Turns the additional user-restriction limits off, for tests that update many times.
    fn without_restriction_limits(&self) {
        self.sim
            .update_config(|config| config.user_restriction_limits_enabled = false);
    }
}

fn game_join(body: &Value) -> &Value {
    &body["gameJoinRestriction"]
}

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

#[tokio::test]
async fn rate_limit_headers_and_429s() {
    let test = TestSim::seeded().await;
    let group_path = format!("/cloud/v2/groups/{GROUP}");
    let first = test.get("member-key", &group_path).await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("150, 150;w=60"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("149"));
    let reset: u64 = first
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("seconds");
    assert!((59..=60).contains(&reset), "{reset}");
    let roles = test
        .list("member-key", &format!("{group_path}/roles"), &[])
        .await;
    assert_eq!(roles.header("x-ratelimit-limit"), Some("300, 300;w=60"));
    // Errors after auth carry the headers too.
    let not_found = test.get("member-key", "/cloud/v2/groups/77").await;
    assert_eq!(not_found.header("x-ratelimit-remaining"), Some("148"));

    test.sim.update_config(|config| {
        config.rate_limit_overrides.insert(Endpoint::AssignRole, 3);
    });
    // Two keys of the same owner share one quota; another owner has their own.
    let target = MULTI.to_string();
    let mut remaining = Vec::new();
    for key in ["owner-key", "owner-key-2", "owner-key"] {
        let reply = test.assign(key, &target, &role(TRUSTED)).await;
        reply.ok();
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3, 3;w=60"));
        remaining.push(
            reply
                .header("x-ratelimit-remaining")
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = test.assign("owner-key-2", &target, &role(TRUSTED)).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_none());
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    test.assign("admin-key", &target, &role(TRUSTED)).await.ok();
    // Other endpoints of the same owner are unaffected.
    test.unassign("owner-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();

    test.sim
        .update_config(|config| config.retry_after_on_429 = true);
    let limited = test.assign("owner-key", &target, &role(TRUSTED)).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    let retry: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));

    // Disabled limits still count and report, but never refuse.
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let unlimited = test.assign("owner-key", &target, &role(TRUSTED)).await;
    unlimited.ok();
    assert_eq!(unlimited.header("x-ratelimit-remaining"), Some("0"));

    let log = test.sim.log();
    let limited: Vec<_> = log.iter().filter(|entry| entry.status == 429).collect();
    assert_eq!(limited.len(), 2);
    assert!(
        limited
            .iter()
            .all(|entry| entry.fault.is_none() && entry.key_owner == Some(OWNER))
    );
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_window_resets() {
    let test = TestSim::seeded().await;
    test.sim.update_config(|config| {
        // Long enough that the second request lands in the same window even on a loaded
        // machine (the whole test suite runs in parallel).
        config.rate_limit_window = Duration::from_millis(2000);
        config.rate_limit_overrides.insert(Endpoint::GetGroup, 1);
    });
    let path = format!("/cloud/v2/groups/{GROUP}");
    let first = test.get("member-key", &path).await;
    first.ok();
    assert_eq!(first.header("x-ratelimit-limit"), Some("1, 1;w=2"));
    test.get("member-key", &path)
        .await
        .expect(429, "RESOURCE_EXHAUSTED");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    test.get("member-key", &path).await.ok();
    test.stop().await;
}

#[tokio::test]
async fn status_faults_use_the_v2_error_shape() {
    let test = TestSim::seeded().await;
    let target = PLAIN.to_string();
    for (status, code) in [
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (409, "ABORTED"),
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
    ] {
        let id = test.sim.add_fault(FaultRule {
            endpoint: Some(Endpoint::AssignRole),
            method: None,
            path_contains: None,
            action: FaultAction::Status { status },
            times: Some(1),
        });
        // Other endpoints are untouched.
        test.get("officer-key", &format!("/cloud/v2/groups/{GROUP}"))
            .await
            .ok();
        let reply = test.assign("officer-key", &target, &role(TRUSTED)).await;
        reply.expect(status, code);
        assert!(reply.header("x-ratelimit-limit").is_some());
        let entry = test.sim.log().pop().expect("logged");
        assert_eq!(entry.status, status);
        assert_eq!(entry.fault, Some(format!("status {status} (rule {id})")));
    }
    assert_eq!(
        test.member_roles(GROUP, PLAIN),
        Some(vec![MEMBER]),
        "faulted writes change nothing"
    );
    // The rules ran out: the next call goes through.
    test.assign("officer-key", &target, &role(TRUSTED))
        .await
        .ok();

    // Matchers: method and path.
    test.sim.add_fault(FaultRule {
        endpoint: None,
        method: Some("get".into()),
        path_contains: Some("/roles".into()),
        action: FaultAction::Status { status: 503 },
        times: None,
    });
    for _ in 0..2 {
        test.list(
            "officer-key",
            &format!("/cloud/v2/groups/{GROUP}/roles"),
            &[],
        )
        .await
        .expect(503, "UNAVAILABLE");
    }
    test.list(
        "officer-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[],
    )
    .await
    .ok();
    test.sim.clear_faults();
    test.list(
        "officer-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[],
    )
    .await
    .ok();
    test.stop().await;
}

#[tokio::test]
async fn rate_limit_faults_with_and_without_retry_after() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}");
    for retry_after_secs in [None, Some(7)] {
        test.sim.add_fault(FaultRule {
            endpoint: Some(Endpoint::GetGroup),
            method: None,
            path_contains: None,
            action: FaultAction::RateLimit { retry_after_secs },
            times: Some(1),
        });
        let reply = test.get("member-key", &path).await;
        reply.expect(429, "RESOURCE_EXHAUSTED");
        assert_eq!(
            reply.header("retry-after"),
            retry_after_secs.map(|s| s.to_string()).as_deref()
        );
        let remaining: u32 = reply
            .header("x-ratelimit-remaining")
            .expect("remaining")
            .parse()
            .expect("number");
        assert!(
            remaining > 0,
            "an injected 429 may come with quota left, as observed live"
        );
    }
    test.get("member-key", &path).await.ok();
    test.stop().await;
}

#[tokio::test]
async fn latency_fault_and_configured_latency_delay_answers() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/groups/{GROUP}");
    test.sim.add_fault(FaultRule {
        endpoint: None,
        method: None,
        path_contains: None,
        action: FaultAction::Latency { ms: 150 },
        times: Some(1),
    });
    let started = Instant::now();
    test.get("member-key", &path).await.ok();
    assert!(started.elapsed() >= Duration::from_millis(150));
    let entry = test.sim.log().pop().expect("logged");
    assert!(entry.duration_ms >= 150.0, "{}", entry.duration_ms);
    assert_eq!(entry.status, 200);
    assert!(
        entry
            .fault
            .as_deref()
            .is_some_and(|fault| fault.starts_with("latency 150ms"))
    );

    test.sim
        .update_config(|config| config.latency = Duration::from_millis(100));
    let started = Instant::now();
    test.get("no-such-key", &path).await; // latency applies to every request, rejected ones too
    assert!(started.elapsed() >= Duration::from_millis(100));
    let entry = test.sim.log().pop().expect("logged");
    assert!(entry.duration_ms >= 100.0);
    assert!(entry.fault.is_none());
    test.stop().await;
}

#[tokio::test]
async fn hang_fault_times_the_client_out_and_does_not_block_shutdown() {
    let test = TestSim::seeded().await;
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::ListMemberships),
        method: None,
        path_contains: None,
        action: FaultAction::Hang,
        times: Some(1),
    });
    let url = format!("{}/cloud/v2/groups/{GROUP}/memberships", test.base);
    let started = Instant::now();
    let result = test
        .client
        .get(&url)
        .header("x-api-key", "member-key")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let err = result.expect_err("the simulator never answers");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The rule fired once: the next request is answered.
    test.list(
        "member-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[],
    )
    .await
    .ok();

    // A second hang still in flight when the server stops.
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::GetGroup),
        method: None,
        path_contains: None,
        action: FaultAction::Hang,
        times: None,
    });
    let pending = tokio::spawn(
        test.client
            .get(format!("{}/cloud/v2/groups/{GROUP}", test.base))
            .header("x-api-key", "member-key")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sim = test.sim.clone();
    test.stop().await;
    let response = pending
        .await
        .expect("the task completes")
        .expect("a request hanging at shutdown is answered, not dropped");
    assert_eq!(response.status().as_u16(), 503);
    let hung: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|entry| {
            entry
                .fault
                .as_deref()
                .is_some_and(|fault| fault.starts_with("hang"))
        })
        .collect();
    assert_eq!(hung.len(), 2);
    assert!(
        hung.iter()
            .all(|entry| entry.status == 499 || entry.status == 503)
    );
}

#[tokio::test]
async fn request_log_records_every_request() {
    let test = TestSim::seeded().await;
    test.sim.clear_log();
    test.assign("officer-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();
    test.list(
        "member-key",
        &format!("/cloud/v2/groups/{GROUP}/memberships"),
        &[("maxPageSize", "2")],
    )
    .await
    .ok();
    test.get("member-key", "/cloud/v2/nothing")
        .await
        .expect(404, "NOT_FOUND");
    test.control(Method::GET, "/_sim/log", None).await; // control calls are not logged

    let log = test.sim.log();
    assert_eq!(log.len(), 3);
    let assign = &log[0];
    assert_eq!(assign.method, "POST");
    assert_eq!(
        assign.path,
        format!("/cloud/v2/groups/{GROUP}/memberships/{PLAIN}:assignRole")
    );
    assert_eq!(assign.endpoint, Some(Endpoint::AssignRole));
    assert_eq!(assign.key_owner, Some(OFFICER_USER));
    assert_eq!(assign.status, 200);
    assert_eq!(assign.request_body, Some(json!({ "role": role(TRUSTED) })));
    assert!(assign.duration_ms >= 0.0);
    assert!(chrono::DateTime::parse_from_rfc3339(&assign.at).is_ok());
    assert_eq!(
        log[1].path,
        format!("/cloud/v2/groups/{GROUP}/memberships?maxPageSize=2")
    );
    assert_eq!(log[1].request_body, None);
    assert_eq!(
        (log[2].endpoint, log[2].status, log[2].key_owner),
        (None, 404, None)
    );
    assert!(log.windows(2).all(|pair| pair[0].seq < pair[1].seq));

    let since = test
        .control(
            Method::GET,
            &format!("/_sim/log?since={}", log[0].seq),
            None,
        )
        .await;
    let entries = since.body.as_array().expect("an array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["path"], log[1].path);
    assert_eq!(entries[1]["status"], 404);
    test.control(Method::DELETE, "/_sim/log", None).await;
    assert!(test.sim.log().is_empty());
    test.stop().await;
}

#[tokio::test]
async fn http_control_api_drives_everything() {
    let test = TestSim::start(RobloxSimConfig::default()).await;
    let seed = serde_json::to_value(main_group()).expect("seed serializes");
    assert_eq!(seed["ownerUserId"], 1);
    assert_eq!(
        test.control(Method::POST, "/_sim/groups", Some(seed))
            .await
            .status,
        204
    );
    let bad_seed =
        json!({ "id": 9, "name": "No roles", "ownerUserId": 1, "roles": [], "members": [] });
    let refused = test
        .control(Method::POST, "/_sim/groups", Some(bad_seed))
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("guest"))
    );

    let key = json!({ "key": "http-key", "ownerUserId": OFFICER_USER, "scopes": ["group:read", "group:write"] });
    assert_eq!(
        test.control(Method::POST, "/_sim/keys", Some(key))
            .await
            .status,
        204
    );
    test.assign("http-key", &PLAIN.to_string(), &role(TRUSTED))
        .await
        .ok();

    let member = test
        .control(
            Method::GET,
            &format!("/_sim/groups/{GROUP}/members/{PLAIN}"),
            None,
        )
        .await;
    assert_eq!(member.status, 200);
    assert_eq!(
        member.body,
        json!({ "userId": PLAIN, "roleIds": [MEMBER, TRUSTED], "rank": 10, "roleName": "Trusted" })
    );
    let set = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [OFFICER] })),
        )
        .await;
    assert_eq!((set.status, set.body["rank"].as_u64()), (200, Some(50)));
    let removed = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [] })),
        )
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        test.control(
            Method::GET,
            &format!("/_sim/groups/{GROUP}/members/500"),
            None
        )
        .await
        .status,
        404
    );
    let guest = test
        .control(
            Method::PUT,
            &format!("/_sim/groups/{GROUP}/members/500"),
            Some(json!({ "roleIds": [GUEST] })),
        )
        .await;
    assert_eq!(guest.status, 400);
    let no_group = test
        .control(
            Method::PUT,
            "/_sim/groups/77/members/500",
            Some(json!({ "roleIds": [1] })),
        )
        .await;
    assert_eq!(no_group.status, 404);

    let rule = json!({ "endpoint": "getGroup", "action": { "type": "status", "status": 503 }, "times": 1 });
    let added = test.control(Method::POST, "/_sim/faults", Some(rule)).await;
    assert!(added.body["id"].as_u64().is_some());
    test.get("http-key", "/cloud/v2/groups/7")
        .await
        .expect(503, "UNAVAILABLE");
    test.get("http-key", "/cloud/v2/groups/7").await.ok();
    let rule = json!({ "action": { "type": "rateLimit", "retryAfterSecs": 2 } });
    test.control(Method::POST, "/_sim/faults", Some(rule)).await;
    let limited = test.get("http-key", "/cloud/v2/groups/7").await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_eq!(
        test.control(Method::DELETE, "/_sim/faults", None)
            .await
            .status,
        204
    );
    test.get("http-key", "/cloud/v2/groups/7").await.ok();
    let bad_rule = json!({ "action": { "type": "explode" } });
    assert_eq!(
        test.control(Method::POST, "/_sim/faults", Some(bad_rule))
            .await
            .status,
        400
    );

    let patch = json!({
        "latencyMs": 5,
        "retryAfterOn429": true,
        "endOfList": "omitted",
        "emptyLastPage": false,
        "rateLimitWindowMs": 120000,
        "rateLimitSecondWindowMs": 2000,
        "rateLimitsEnabled": true,
        "userRestrictionLimitsEnabled": false,
        "rateLimitOverrides": { "getRole": 1, "updateUserRestriction": 7 }
    });
    let config = test
        .control(Method::PATCH, "/_sim/config", Some(patch.clone()))
        .await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body, patch);
    assert_eq!(
        test.control(Method::GET, "/_sim/config", None).await.body,
        patch
    );
    let role_path = format!("/cloud/v2/groups/{GROUP}/roles/{MEMBER}");
    let first = test.get("http-key", &role_path).await;
    assert_eq!(first.header("x-ratelimit-limit"), Some("1, 1;w=120"));
    let limited = test.get("http-key", &role_path).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_some());
    let list = test
        .list(
            "http-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[("maxPageSize", "100")],
        )
        .await;
    assert!(list.ok().get("nextPageToken").is_none());
    for bad in [
        json!({ "latency": 5 }),
        json!({ "endOfList": "never" }),
        json!({ "rateLimitWindowMs": 0 }),
        json!({ "rateLimitSecondWindowMs": 0 }),
        json!({ "rateLimitOverrides": { "banEveryone": 1 } }),
    ] {
        assert_eq!(
            test.control(Method::PATCH, "/_sim/config", Some(bad))
                .await
                .status,
            400
        );
    }

    assert_eq!(
        test.control(Method::GET, "/_sim/nothing", None)
            .await
            .status,
        404
    );
    assert_eq!(
        test.control(Method::DELETE, "/_sim/groups", None)
            .await
            .status,
        405
    );
    assert!(
        test.sim
            .log()
            .iter()
            .all(|entry| entry.path.starts_with("/cloud/v2/"))
    );
    test.stop().await;
}

#[test]
fn seeds_are_validated() {
    let sim = RobloxSim::new(RobloxSimConfig::default());
    let mut no_owner_role = main_group();
    no_owner_role.roles.retain(|role| role.rank != 255);
    assert!(sim.seed_group(no_owner_role).is_err());
    let mut no_guest = main_group();
    no_guest.roles.retain(|role| role.rank != 0);
    assert!(sim.seed_group(no_guest).is_err());
    let mut duplicate_rank = main_group();
    duplicate_rank
        .roles
        .push(role_seed(999, "Also officer", 50, false));
    assert!(sim.seed_group(duplicate_rank).is_err());
    let mut owner_role_member = main_group();
    owner_role_member
        .members
        .push(member_seed(77, &[OWNER_ROLE]));
    assert!(sim.seed_group(owner_role_member).is_err());
    let mut unknown_role = main_group();
    unknown_role.members.push(member_seed(77, &[12345]));
    assert!(sim.seed_group(unknown_role).is_err());

    sim.seed_group(main_group()).expect("valid seed");
    let owner = sim.member(GROUP, OWNER).expect("the owner is a member");
    assert_eq!((owner.role_ids, owner.rank), (vec![OWNER_ROLE], 255));
    assert!(sim.set_member_roles(GROUP, OWNER, &[]).is_err());
    assert!(sim.set_member_roles(GROUP, PLAIN, &[GUEST]).is_err());
    assert!(sim.set_member_roles(77, PLAIN, &[MEMBER]).is_err());
    sim.set_member_roles(GROUP, PLAIN, &[]).expect("removal");
    assert!(sim.member(GROUP, PLAIN).is_none());
}

#[tokio::test]
async fn many_concurrent_requests() {
    let test = TestSim::seeded().await;
    test.sim
        .update_config(|config| config.rate_limits_enabled = false);
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let client = test.client.clone();
        let base = test.base.clone();
        tasks.push(tokio::spawn(async move {
            let (method, path, body) = if n % 4 == 0 {
                let role = if n % 8 == 0 { TRUSTED } else { MEMBER };
                (
                    Method::POST,
                    format!("/cloud/v2/groups/{GROUP}/memberships/{MULTI}:assignRole"),
                    Some(json!({ "role": format!("groups/{GROUP}/roles/{role}") })),
                )
            } else {
                (
                    Method::GET,
                    format!("/cloud/v2/groups/{GROUP}/memberships"),
                    None,
                )
            };
            let mut request = client
                .request(method, format!("{base}{path}"))
                .header("x-api-key", "owner-key");
            if let Some(body) = body {
                request = request.json(&body);
            }
            request
                .send()
                .await
                .map(|response| response.status().as_u16())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("answered"), 200);
    }
    assert_eq!(test.sim.log().len(), 200);
    test.stop().await;
}

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

#[tokio::test]
async fn user_restriction_rate_limits() {
    let test = TestSim::with_universes().await;
    // Long windows so a loaded machine cannot straddle two of them.
    test.sim.update_config(|config| {
        config.rate_limit_second_window = Duration::from_secs(30);
    });
    let path = restriction_path(USER_UNIVERSE, PLAIN);

    // The owner quota is per second (here: per 30 s window).
    let reply = test.get("ban-owner-key", &path).await;
    reply.ok();
    assert_eq!(reply.header("x-ratelimit-limit"), Some("150, 150;w=30"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("149"));

    // Two updates a minute per user; the third is refused, other users are not affected.
    test.restrict("ban-owner-key", &path, &[], ban(None, "1", ""))
        .await
        .ok();
    test.restrict(
        "ban-owner-key",
        &place_restriction_path(USER_UNIVERSE, PLACE, PLAIN),
        &[],
        ban(None, "2", ""),
    )
    .await
    .ok();
    let limited = test.restrict("ban-owner-key", &path, &[], unban()).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(limited.header("retry-after").is_none());
    assert!(limited.header("x-ratelimit-limit").is_some());
    assert!(
        limited.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("2 times a minute"))
    );
    assert!(
        test.sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("banned")
            .active
    );
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(GROUP_UNIVERSE, PLAIN),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.sim
        .update_config(|config| config.retry_after_on_429 = true);
    let limited = test.restrict("ban-owner-key", &path, &[], unban()).await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    let retry: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    test.sim
        .update_config(|config| config.retry_after_on_429 = false);

    // Ten updates a second per universe, whoever sends them (5 used above in universe 500, refused ones
    // included).
    for user in 3000..3005u64 {
        test.restrict(
            "ban-owner-key",
            &restriction_path(USER_UNIVERSE, user),
            &[],
            ban(None, "", ""),
        )
        .await
        .ok();
    }
    let limited = test
        .restrict(
            "ban-owner-key",
            &restriction_path(USER_UNIVERSE, 3100),
            &[],
            ban(None, "", ""),
        )
        .await;
    limited.expect(429, "RESOURCE_EXHAUSTED");
    assert!(
        limited.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("10 requests a second"))
    );
    // Reads have their own per-universe limit.
    test.get("ban-owner-key", &path).await.ok();

    // Both windows are configurable: once they have passed, the user may be updated again.
    test.sim.update_config(|config| {
        config.rate_limit_window = Duration::from_millis(300);
        config.rate_limit_second_window = Duration::from_millis(300);
    });
    tokio::time::sleep(Duration::from_millis(350)).await;
    test.restrict("ban-owner-key", &path, &[], unban())
        .await
        .ok();
    // Disabled: no per-universe or per-user limit; the owner quota still applies (and can be overridden).
    test.sim.update_config(|config| {
        config.user_restriction_limits_enabled = false;
        config
            .rate_limit_overrides
            .insert(Endpoint::UpdateUserRestriction, 20);
        config.rate_limit_window = Duration::from_secs(60);
        config.rate_limit_second_window = Duration::from_secs(30);
    });
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            test.restrict("ban-owner-key", &path, &[], unban())
                .await
                .status,
        );
    }
    let reply = test.restrict("ban-owner-key", &path, &[], unban()).await;
    assert_eq!(reply.header("x-ratelimit-limit"), Some("20, 20;w=30"));
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    // With rate limits off, the extra limits are off as well.
    test.sim.update_config(|config| {
        config.user_restriction_limits_enabled = true;
        config.rate_limits_enabled = false;
    });
    for _ in 0..3 {
        test.restrict("ban-owner-key", &path, &[], unban())
            .await
            .ok();
    }
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_idempotency_keys() {
    let test = TestSim::with_universes().await;
    test.without_restriction_limits();
    let path = restriction_path(USER_UNIVERSE, PLAIN);
    let key = "6c3e1d1e-2b1f-4f4e-8a51-0e1d7c9b0a11";
    let sent = chrono::Utc::now().to_rfc3339();
    let query = [
        ("updateMask", "gameJoinRestriction"),
        ("idempotencyKey.key", key),
        ("idempotencyKey.firstSent", sent.as_str()),
    ];
    let first = test
        .restrict("ban-owner-key", &path, &query, ban(Some("60s"), "once", ""))
        .await;
    let first = first.ok().clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The retry gets the same answer and changes nothing.
    let retry = test
        .restrict("ban-owner-key", &path, &query, ban(Some("60s"), "once", ""))
        .await;
    assert_eq!(retry.ok(), &first);
    let logs = test
        .list("ban-owner-key", &logs_path(USER_UNIVERSE), &[])
        .await;
    assert_eq!(items(logs.ok(), "logs").len(), 1);

    // The same key for another request, or with another firstSent, is refused.
    test.restrict(
        "ban-owner-key",
        &path,
        &query,
        ban(Some("120s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &query,
        ban(Some("60s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    test.restrict(
        "ban-owner-key",
        &path,
        &[
            ("updateMask", "gameJoinRestriction"),
            ("idempotencyKey.key", key),
            ("idempotencyKey.firstSent", &later),
        ],
        ban(Some("60s"), "once", ""),
    )
    .await
    .expect(400, "INVALID_ARGUMENT");
    // Keys are per key owner: another owner may use the same key.
    test.restrict(
        "ban-admin-key",
        &restriction_path(GROUP_UNIVERSE, PLAIN),
        &query,
        ban(Some("60s"), "once", ""),
    )
    .await
    .ok();

    // Expired, future or malformed firstSent, and malformed keys.
    let old = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    for (key, first_sent) in [
        ("fresh-key", old.as_str()),
        ("fresh-key", future.as_str()),
        ("fresh-key", "yesterday"),
        ("", sent.as_str()),
        ("a key with spaces", sent.as_str()),
        ("0123456789012345678901234567890123456", sent.as_str()),
    ] {
        test.restrict(
            "ban-owner-key",
            &path,
            &[
                ("idempotencyKey.key", key),
                ("idempotencyKey.firstSent", first_sent),
            ],
            unban(),
        )
        .await
        .expect(400, "INVALID_ARGUMENT");
    }
    // A key without firstSent is fine.
    test.restrict(
        "ban-owner-key",
        &path,
        &[("idempotencyKey.key", "no-first-sent")],
        unban(),
    )
    .await
    .ok();
    assert!(
        !test
            .sim
            .user_restriction(USER_UNIVERSE, PLAIN)
            .expect("record")
            .active
    );
    test.stop().await;
}

#[tokio::test]
async fn user_restriction_faults_log_and_control_api() {
    let test = TestSim::start(RobloxSimConfig::default()).await;
    // Seeding over HTTP.
    let seed = serde_json::to_value(UniverseSeed {
        id: USER_UNIVERSE,
        owner_user_id: Some(OWNER),
        owner_group_id: None,
    })
    .expect("seed serializes");
    assert_eq!(
        seed,
        json!({ "id": USER_UNIVERSE, "ownerUserId": OWNER, "ownerGroupId": null })
    );
    assert_eq!(
        test.control(Method::POST, "/_sim/universes", Some(seed))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes",
            Some(json!({ "id": 9, "ownerGroupId": GROUP }))
        )
        .await
        .status,
        204
    );
    for bad in [
        json!({ "id": 9 }),
        json!({ "id": 9, "ownerUserId": 1, "ownerGroupId": 2 }),
        json!({ "id": 0, "ownerUserId": 1 }),
        json!({ "id": 9, "ownerUserId": 1, "owner": 2 }),
    ] {
        assert_eq!(
            test.control(Method::POST, "/_sim/universes", Some(bad))
                .await
                .status,
            400
        );
    }
    let places = format!("/_sim/universes/{USER_UNIVERSE}/places");
    assert_eq!(
        test.control(Method::POST, &places, Some(json!({ "placeId": PLACE })))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(Method::POST, &places, Some(json!({ "placeId": PLACE })))
            .await
            .status,
        204
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes/9/places",
            Some(json!({ "placeId": PLACE }))
        )
        .await
        .status,
        400,
        "a place belongs to one universe"
    );
    assert_eq!(
        test.control(
            Method::POST,
            "/_sim/universes/77/places",
            Some(json!({ "placeId": 5 }))
        )
        .await
        .status,
        404
    );
    let key = json!({
        "key": "http-ban-key",
        "ownerUserId": OWNER,
        "scopes": ["universe.user-restriction:read", "universe.user-restriction:write"],
    });
    assert_eq!(
        test.control(Method::POST, "/_sim/keys", Some(key))
            .await
            .status,
        204
    );

    let snapshot_path = format!("/_sim/universes/{USER_UNIVERSE}/user-restrictions/{PLAIN}");
    assert_eq!(
        test.control(Method::GET, &snapshot_path, None).await.status,
        404
    );

    // A faulted update changes nothing; the retry goes through; the log records both.
    let path = restriction_path(USER_UNIVERSE, PLAIN);
    test.sim.add_fault(FaultRule {
        endpoint: Some(Endpoint::UpdateUserRestriction),
        method: None,
        path_contains: None,
        action: FaultAction::Status { status: 503 },
        times: Some(1),
    });
    test.restrict(
        "http-ban-key",
        &path,
        &[],
        ban(Some("7200s"), "shown", "hidden"),
    )
    .await
    .expect(503, "UNAVAILABLE");
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    let reply = test
        .restrict(
            "http-ban-key",
            &path,
            &[("updateMask", "gameJoinRestriction")],
            ban(Some("7200s"), "shown", "hidden"),
        )
        .await;
    let start = game_join(reply.ok())["startTime"]
        .as_str()
        .expect("startTime")
        .to_owned();
    let log = test.sim.log();
    assert_eq!(
        log.iter()
            .map(|entry| (entry.endpoint, entry.status))
            .collect::<Vec<_>>(),
        [
            (Some(Endpoint::UpdateUserRestriction), 503),
            (Some(Endpoint::UpdateUserRestriction), 200)
        ]
    );
    assert!(log[0].fault.is_some());
    assert_eq!(
        log[1].path,
        format!("{path}?updateMask=gameJoinRestriction")
    );
    assert_eq!(
        log[1].request_body,
        Some(ban(Some("7200s"), "shown", "hidden"))
    );
    assert_eq!(log[1].key_owner, Some(OWNER));

    let snapshot = test.control(Method::GET, &snapshot_path, None).await;
    assert_eq!(snapshot.status, 200);
    assert_eq!(snapshot.body["active"], true);
    assert_eq!(snapshot.body["durationSecs"], 7200);
    assert_eq!(snapshot.body["privateReason"], "hidden");
    assert_eq!(snapshot.body["displayReason"], "shown");
    assert_eq!(snapshot.body["excludeAltAccounts"], false);
    let snapshot_start = chrono::DateTime::parse_from_rfc3339(
        snapshot.body["startTime"].as_str().expect("startTime"),
    )
    .expect("RFC 3339");
    assert_eq!(
        snapshot_start,
        chrono::DateTime::parse_from_rfc3339(&start).expect("RFC 3339")
    );
    let parsed: UserRestrictionSnapshot =
        serde_json::from_value(snapshot.body.clone()).expect("a snapshot");
    assert_eq!(
        Some(parsed),
        test.sim.user_restriction(USER_UNIVERSE, PLAIN)
    );
    assert_eq!(
        test.control(Method::DELETE, &snapshot_path, None)
            .await
            .status,
        405
    );
    assert_eq!(
        test.control(Method::GET, "/_sim/universes/x/user-restrictions/1", None)
            .await
            .status,
        400
    );

    // Re-seeding a universe starts it afresh.
    test.sim
        .seed_universe(UniverseSeed {
            id: USER_UNIVERSE,
            owner_user_id: Some(OWNER),
            owner_group_id: None,
        })
        .expect("valid seed");
    assert_eq!(test.sim.user_restriction(USER_UNIVERSE, PLAIN), None);
    test.get(
        "http-ban-key",
        &place_restriction_path(USER_UNIVERSE, PLACE, PLAIN),
    )
    .await
    .expect(404, "NOT_FOUND");
    test.stop().await;
}

/// `GET /cloud/v2/users/{user_id}`: the spec's `User` with only the fields the key's scopes open, 400 for a
/// malformed id, 404 for an unknown user, the gateway's 401, the strict query string, 405, and the per-owner
/// rate limit (1000 a minute) with its headers.
#[tokio::test]
async fn get_user_shape_scopes_errors_and_limits() {
    let test = TestSim::seeded().await;
    let path = format!("/cloud/v2/users/{PLAIN}");
    // Any valid key sees the public fields; no scope is needed.
    let public = test.get("member-nothing-key", &path).await;
    assert_eq!(
        public.ok(),
        &json!({
            "path": format!("users/{PLAIN}"),
            "createTime": "2015-03-04T05:06:07Z",
            "id": PLAIN.to_string(),
            "name": "plain_user",
            "displayName": "Plain Person",
            "about": "Just a member",
            "locale": "fr-FR",
            "premium": true,
        })
    );
    assert_eq!(public.header("x-ratelimit-limit"), Some("1000, 1000;w=60"));
    // Each scope opens its field, and only that one.
    test.sim
        .add_api_key("user-advanced-key", OWNER, &["user.advanced:read"]);
    test.sim
        .add_api_key("user-social-key", OWNER, &["user.social:read"]);
    let advanced = test.get("user-advanced-key", &path).await;
    assert_eq!(advanced.ok()["idVerified"], true);
    assert!(advanced.body.get("socialNetworkProfiles").is_none());
    let social = test.get("user-social-key", &path).await;
    assert_eq!(
        social.ok()["socialNetworkProfiles"],
        json!({"twitch": "https://twitch.tv/plain", "visibility": "EVERYONE"})
    );
    assert!(social.body.get("idVerified").is_none());
    // A user seeded with a name only: defaults for the rest.
    test.sim
        .seed_user(UserSeed::named(MULTI, "multi"))
        .expect("seed");
    let multi = test
        .get("user-social-key", &format!("/cloud/v2/users/{MULTI}"))
        .await;
    assert_eq!(multi.ok()["displayName"], "multi");
    assert_eq!(multi.body["locale"], "en-US");
    assert_eq!(
        multi.body["socialNetworkProfiles"],
        json!({"visibility": "SOCIAL_NETWORK_VISIBILITY_UNSPECIFIED"})
    );
    // Errors.
    test.get("member-key", "/cloud/v2/users/123456")
        .await
        .expect(404, "NOT_FOUND");
    for bad in ["abc", "0", "010", "-5", "1.5"] {
        test.get("member-key", &format!("/cloud/v2/users/{bad}"))
            .await
            .expect(400, "INVALID_ARGUMENT");
    }
    let missing = test.call(Method::GET, &path, None, &[], None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.body["errors"][0]["message"], "Invalid API Key");
    assert_eq!(test.get("no-such-key", &path).await.status, 401);
    test.list("member-key", &path, &[("view", "FULL")])
        .await
        .expect(400, "INVALID_ARGUMENT");
    let post = test
        .call(Method::POST, &path, Some("member-key"), &[], None)
        .await;
    post.expect(405, "NOT_IMPLEMENTED");
    assert_eq!(post.header("allow"), Some("GET"));
    // The per-owner limit, shared by the owner's keys (an owner that has not called it yet).
    test.sim.update_config(|config| {
        config.rate_limit_overrides.insert(Endpoint::GetUser, 2);
    });
    test.sim.add_api_key("outsider-key-2", OUTSIDER, &[]);
    test.get("outsider-key", &path).await.ok();
    let second = test.get("outsider-key-2", &path).await;
    second.ok();
    assert_eq!(second.header("x-ratelimit-limit"), Some("2, 2;w=60"));
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    test.get("outsider-key", &path)
        .await
        .expect(429, "RESOURCE_EXHAUSTED");
    test.get("admin-key", &path).await.ok();
    // Seeds are checked.
    assert!(test.sim.seed_user(UserSeed::named(0, "zero")).is_err());
    assert!(test.sim.seed_user(UserSeed::named(5, "")).is_err());
    test.stop().await;
}

/// Checks the simulator against the official OpenAPI file (`ROSTER_UPSTREAM_SPECS`, or
/// `../shared/upstream-specs` by default); ignored, so reported as skipped, when there is none.
#[tokio::test]
#[cfg_attr(
    not(upstream_specs),
    ignore = "upstream specs not found: set ROSTER_UPSTREAM_SPECS or place them at ../shared/upstream-specs"
)]
async fn conformance_with_the_official_spec() {
    let spec = conformance::spec().expect(
        "conformance: the official spec was not found: set ROSTER_UPSTREAM_SPECS or place it at ../shared/upstream-specs",
    );
    for endpoint in Endpoint::ALL {
        let operation = spec.operation(endpoint);
        assert_eq!(operation["operationId"], endpoint.operation_id());
        let limits = &operation["x-roblox-rate-limits"]["perApiKeyOwner"];
        assert_eq!(
            limits["period"],
            endpoint.spec_period().as_str(),
            "{endpoint:?}"
        );
        assert_eq!(
            limits["maxInPeriod"].as_u64(),
            Some(u64::from(endpoint.spec_limit())),
            "{endpoint:?}"
        );
        // The scopes the spec requires; one with a description ("Required to view permissions…") only widens
        // what the answer shows.
        let required: Vec<&str> = operation["x-roblox-scopes"]
            .as_array()
            .map(|scopes| {
                scopes
                    .iter()
                    .filter(|scope| scope.get("description").is_none())
                    .filter_map(|scope| scope["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            required,
            endpoint.required_scope().into_iter().collect::<Vec<_>>(),
            "{endpoint:?}"
        );
        // The additional user-restriction limits are spelled out in the rate-limit description.
        let description = operation["x-roblox-rate-limits"]["description"]
            .as_str()
            .unwrap_or("");
        assert_eq!(
            endpoint.spec_universe_limit().is_some(),
            description.contains("req/s"),
            "{endpoint:?}"
        );
        if let Some(limit) = endpoint.spec_universe_limit() {
            let name = match endpoint {
                Endpoint::GetUserRestriction | Endpoint::GetPlaceUserRestriction => {
                    "Get User Restriction"
                }
                Endpoint::ListUserRestrictions | Endpoint::ListPlaceUserRestrictions => {
                    "List User Restrictions"
                }
                Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                    "Update User Restrictions"
                }
                _ => "List User Restriction Logs",
            };
            assert!(
                description.contains(&format!("* {name}: {limit} req/s")),
                "{endpoint:?}: {description}"
            );
            assert!(endpoint.is_user_restriction());
            assert!(
                description.contains("* Update User Restriction: 2 req/min"),
                "{description}"
            );
        }
        assert_eq!(
            endpoint.spec_user_limit().is_some(),
            endpoint.is_user_restriction() && endpoint.is_write(),
            "{endpoint:?}"
        );
    }
    assert_eq!(Endpoint::UpdateUserRestriction.spec_user_limit(), Some(2));
    // Our request bodies are what the spec asks for.
    spec.check_request(Endpoint::AssignRole, &json!({ "role": role(TRUSTED) }));
    spec.check_request(Endpoint::UnassignRole, &json!({ "role": role(TRUSTED) }));
    spec.check_request(
        Endpoint::UpdateMembership,
        &json!({ "role": role(TRUSTED) }),
    );
    for endpoint in [
        Endpoint::UpdateUserRestriction,
        Endpoint::UpdatePlaceUserRestriction,
    ] {
        spec.check_request(endpoint, &ban(Some("3600s"), "shown", "hidden"));
        spec.check_request(endpoint, &ban(None, "", ""));
        spec.check_request(endpoint, &unban());
    }
    // The validator is strict enough to notice a wrong body.
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &json!({ "id": 7 })));
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &json!({ "id": "7", "invented": true })));

    // Drive every operation (each 200 body is validated by the helper) with every query parameter the spec
    // defines, so a parameter the simulator wrongly refuses shows up here.
    let test = TestSim::with_universes().await;
    let samples: HashMap<&str, String> = HashMap::from([
        ("maxPageSize", "5".to_owned()),
        ("pageToken", String::new()),
        ("filter", format!("user == 'users/{PLAIN}'")),
        ("updateMask", "gameJoinRestriction".to_owned()),
        ("idempotencyKey.firstSent", chrono::Utc::now().to_rfc3339()),
    ]);
    for (n, endpoint) in Endpoint::ALL.into_iter().enumerate() {
        let path = endpoint
            .path_template()
            .replace("{group_id}", &GROUP.to_string())
            .replace("{membership_id}", &MULTI.to_string())
            .replace("{role_id}", &OFFICER.to_string())
            .replace("{universe_id}", &USER_UNIVERSE.to_string())
            .replace("{place_id}", &PLACE.to_string())
            .replace("{user_restriction_id}", &PLAIN.to_string())
            .replace("{user_id}", &PLAIN.to_string());
        let idempotency_key = format!("conformance-{n}");
        let query: Vec<(&str, &str)> = spec
            .query_parameters(endpoint)
            .into_iter()
            .map(|name| {
                let value = match name {
                    "idempotencyKey.key" => idempotency_key.as_str(),
                    _ => samples.get(name).map_or("", String::as_str),
                };
                (name, value)
            })
            .collect();
        let body = match endpoint {
            Endpoint::UpdateMembership => Some(Body::Json(json!({ "role": role(TRUSTED) }))),
            Endpoint::AssignRole => Some(Body::Json(json!({ "role": role(MEMBER) }))),
            Endpoint::UnassignRole => Some(Body::Json(json!({ "role": role(TRUSTED) }))),
            Endpoint::UpdateUserRestriction | Endpoint::UpdatePlaceUserRestriction => {
                Some(Body::Json(ban(Some("3600s"), "shown", "hidden")))
            }
            _ => None,
        };
        let key = if endpoint.is_user_restriction() {
            "ban-owner-key"
        } else {
            "owner-key"
        };
        let method = Method::from_bytes(endpoint.method().as_bytes()).expect("method");
        let reply = test.call(method, &path, Some(key), &query, body).await;
        assert_eq!(reply.status, 200, "{endpoint:?}: {}", reply.body);
    }
    // Restrictions in force, inherited and lifted, listed, and their logs.
    test.get("ban-owner-key", &restriction_path(USER_UNIVERSE, PLAIN))
        .await
        .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        ban(None, "", ""),
    )
    .await
    .ok();
    test.get(
        "ban-owner-key",
        &place_restriction_path(USER_UNIVERSE, OTHER_PLACE, MULTI),
    )
    .await
    .ok();
    test.restrict(
        "ban-owner-key",
        &restriction_path(USER_UNIVERSE, MULTI),
        &[],
        unban(),
    )
    .await
    .ok();
    test.list(
        "ban-owner-key",
        &format!("/cloud/v2/universes/{USER_UNIVERSE}/places/{PLACE}/user-restrictions"),
        &[],
    )
    .await
    .ok();
    let logs = test
        .list("ban-owner-key", &logs_path(USER_UNIVERSE), &[])
        .await;
    assert_eq!(items(logs.ok(), "logs").len(), 4);
    // The wildcard listing and the owner's fuller role view, too.
    test.list(
        "owner-key",
        "/cloud/v2/groups/-/memberships",
        &[("filter", &format!("user == 'users/{PLAIN}'"))],
    )
    .await
    .ok();
    test.sim
        .update_config(|config| config.end_of_list = EndOfList::Omitted);
    test.list(
        "owner-key",
        &format!("/cloud/v2/groups/{GROUP}/roles"),
        &[("maxPageSize", "2")],
    )
    .await
    .ok();

    // Real bodies, each spoiled in one way, are caught.
    let group = test
        .get("owner-key", &format!("/cloud/v2/groups/{GROUP}"))
        .await;
    let mut spoiled = group.ok().clone();
    spoiled["memberCount"] = json!("7");
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &spoiled));
    let mut spoiled = group.body.clone();
    spoiled["createTime"] = json!("yesterday");
    assert!(!spec.response_is_valid(Endpoint::GetGroup, &spoiled));
    let list = test
        .list(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/memberships"),
            &[],
        )
        .await;
    let mut spoiled = list.ok().clone();
    spoiled["groupMemberships"][0]["roles"] = json!(role(MEMBER));
    assert!(!spec.response_is_valid(Endpoint::ListMemberships, &spoiled));
    let role_reply = test
        .get(
            "owner-key",
            &format!("/cloud/v2/groups/{GROUP}/roles/{OFFICER}"),
        )
        .await;
    let mut spoiled = role_reply.ok().clone();
    spoiled["permissions"]["kickEveryone"] = json!(true);
    assert!(!spec.response_is_valid(Endpoint::GetRole, &spoiled));
    let restriction = test
        .get("ban-owner-key", &restriction_path(USER_UNIVERSE, PLAIN))
        .await;
    let restriction = restriction.ok().clone();
    assert!(restriction["gameJoinRestriction"]["duration"].is_string());
    for (field, value) in [
        ("duration", json!(3600)),
        ("duration", json!("1h")),
        ("startTime", json!("now")),
        ("banned", json!(true)),
    ] {
        let mut spoiled = restriction.clone();
        spoiled["gameJoinRestriction"][field] = value;
        assert!(
            !spec.response_is_valid(Endpoint::GetUserRestriction, &spoiled),
            "{field}"
        );
    }
    let mut spoiled = logs.body.clone();
    spoiled["logs"][0]["moderator"]["robloxUser"] = json!(1);
    assert!(!spec.response_is_valid(Endpoint::ListUserRestrictionLogs, &spoiled));
    // A user with every field the scopes open (validated by the helper), then spoiled.
    test.sim.add_api_key(
        "user-everything-key",
        OWNER,
        &["user.advanced:read", "user.social:read"],
    );
    let user = test
        .get("user-everything-key", &format!("/cloud/v2/users/{PLAIN}"))
        .await;
    let user = user.ok().clone();
    assert_eq!(user["idVerified"], true);
    assert_eq!(user["socialNetworkProfiles"]["visibility"], "EVERYONE");
    for (field, value) in [
        ("id", json!(PLAIN)),
        ("premium", json!("yes")),
        ("createTime", json!("long ago")),
        ("isBanned", json!(false)),
    ] {
        let mut spoiled = user.clone();
        spoiled[field] = value;
        assert!(
            !spec.response_is_valid(Endpoint::GetUser, &spoiled),
            "{field}"
        );
    }
    let mut spoiled = user.clone();
    spoiled["socialNetworkProfiles"]["visibility"] = json!("EVERYBODY");
    assert!(!spec.response_is_valid(Endpoint::GetUser, &spoiled));
    test.stop().await;
}

/// Validation of response bodies against `roblox-openapi.json` (OpenAPI 3.0), read once per test binary.
mod conformance {
    use std::sync::OnceLock;

    use jsonschema::Validator;
    use roster_sim::roblox::Endpoint;
    use serde_json::{Map, Value};

    pub struct Spec {
        document: Value,
        responses: Vec<(Endpoint, Validator)>,
    }

    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();

    /// The spec, when found (see [`crate::harness::upstream_specs`]); panics if it is unusable.
    pub fn spec() -> Option<&'static Spec> {
        SPEC.get_or_init(|| {
            let folder = crate::harness::upstream_specs()?;
            let file = folder.join("roblox-openapi.json");
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|err| panic!("the upstream spec {} is unreadable: {err}", file.display()));
            let document: Value = serde_json::from_str(&text).expect("the spec is JSON");
            let responses = Endpoint::ALL
                .into_iter()
                .map(|endpoint| {
                    let schema = &Spec::operation_in(&document, endpoint)["responses"]["200"]["content"]
                        ["application/json"]["schema"];
                    (endpoint, compile(&document, schema))
                })
                .collect();
            Some(Spec { document, responses })
        })
        .as_ref()
    }

    /// Validates a 200 body of a `/cloud/v2` request, if the spec is available.
    pub fn check_response(method: &str, path: &str, body: &Value) {
        let Some(spec) = spec() else {
            return;
        };
        let endpoint = Endpoint::ALL
            .into_iter()
            .find(|endpoint| {
                endpoint.method() == method && matches_template(endpoint.path_template(), path)
            })
            .unwrap_or_else(|| panic!("no implemented operation matches {method} {path}"));
        let errors = spec.response_errors(endpoint, body);
        assert!(
            errors.is_empty(),
            "{method} {path}: the body does not match the spec's {} schema: {errors:?}\n{body}",
            endpoint.operation_id()
        );
    }

    impl Spec {
        fn operation_in(document: &Value, endpoint: Endpoint) -> &Value {
            let operation = &document["paths"][endpoint.path_template()]
                [endpoint.method().to_ascii_lowercase()];
            assert!(operation.is_object(), "{endpoint:?} is not in the spec");
            operation
        }

        pub fn operation(&self, endpoint: Endpoint) -> &Value {
            Self::operation_in(&self.document, endpoint)
        }

        pub fn query_parameters(&self, endpoint: Endpoint) -> Vec<&str> {
            self.operation(endpoint)["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|param| param["in"] == "query")
                        .filter_map(|param| param["name"].as_str())
                        .collect()
                })
                .unwrap_or_default()
        }

        fn response_errors(&self, endpoint: Endpoint, body: &Value) -> Vec<String> {
            let (_, validator) = self
                .responses
                .iter()
                .find(|(e, _)| *e == endpoint)
                .expect("every endpoint has a validator");
            validator
                .iter_errors(body)
                .map(|err| format!("{} at {}", err, err.instance_path))
                .collect()
        }

        pub fn response_is_valid(&self, endpoint: Endpoint, body: &Value) -> bool {
            self.response_errors(endpoint, body).is_empty()
        }

        pub fn check_request(&self, endpoint: Endpoint, body: &Value) {
            let schema =
                &self.operation(endpoint)["requestBody"]["content"]["application/json"]["schema"];
            let validator = compile(&self.document, schema);
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|err| err.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{endpoint:?} request body {body} does not match the spec: {errors:?}"
            );
        }
    }

    /// `/cloud/v2/groups/{group_id}/memberships/{membership_id}:assignRole` against a concrete path.
    fn matches_template(template: &str, path: &str) -> bool {
        let template: Vec<&str> = template.split('/').collect();
        let path: Vec<&str> = path.split('/').collect();
        template.len() == path.len()
            && template
                .iter()
                .zip(&path)
                .all(|(t, p)| match t.split_once('}') {
                    Some((_, suffix)) if t.starts_with('{') => {
                        p.len() > suffix.len()
                            && p.ends_with(suffix)
                            && !p[..p.len() - suffix.len()].contains(':')
                    }
                    _ => t == p,
                })
    }

    /// Turns an OpenAPI 3.0 schema into a self-contained JSON Schema 2020-12 validator.
    fn compile(document: &Value, schema: &Value) -> Validator {
        let components = document["components"]["schemas"]
            .as_object()
            .expect("components.schemas");
        let translated = translate(schema, components, 0);
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&translated)
            .unwrap_or_else(|err| {
                panic!("the translated schema does not compile: {err}\n{translated}")
            })
    }

    /// Inlines `$ref`s to `#/components/schemas`, turns `nullable: true` into a type union, checks protobuf
    /// durations by pattern, and forbids properties the spec does not list (so the simulator cannot invent
    /// fields).
    fn translate(schema: &Value, components: &Map<String, Value>, depth: usize) -> Value {
        assert!(depth < 32, "schema nesting too deep (a recursive $ref?)");
        let Value::Object(map) = schema else {
            return schema.clone();
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
            let target = components
                .get(name)
                .unwrap_or_else(|| panic!("unknown schema {name}"));
            return translate(target, components, depth + 1);
        }
        let mut out = Map::new();
        for (key, value) in map {
            let value = match key.as_str() {
                "nullable" => continue,
                // `format: duration` means a protobuf Duration here (`"3600s"`), not JSON Schema's ISO 8601.
                "format" if value == "duration" => {
                    out.insert(
                        "pattern".into(),
                        Value::String(r"^-?[0-9]+(\.[0-9]{1,9})?s$".into()),
                    );
                    continue;
                }
                "properties" => Value::Object(
                    value
                        .as_object()
                        .expect("properties is an object")
                        .iter()
                        .map(|(name, property)| {
                            (name.clone(), translate(property, components, depth + 1))
                        })
                        .collect(),
                ),
                "items" | "additionalProperties" | "not" => translate(value, components, depth + 1),
                "allOf" | "anyOf" | "oneOf" => Value::Array(
                    value
                        .as_array()
                        .expect("a list of schemas")
                        .iter()
                        .map(|item| translate(item, components, depth + 1))
                        .collect(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        if map.get("nullable") == Some(&Value::Bool(true))
            && let Some(kind) = out.get("type").cloned()
        {
            out.insert(
                "type".into(),
                Value::Array(vec![kind, Value::String("null".into())]),
            );
        }
        if out.contains_key("properties") && !out.contains_key("additionalProperties") {
            out.insert("additionalProperties".into(), Value::Bool(false));
        }
        Value::Object(out)
    }
}
