//! Behaviour of the Roblox Open Cloud simulator over real HTTP.
//!
//! Every test starts its own simulator on 127.0.0.1:0 and stops it at the end. Every 200 body a test receives
//! from `/cloud/v2` is validated against the official OpenAPI schema when the official spec is found
//! (`ROSTER_UPSTREAM_SPECS`, else `../shared/upstream-specs`): the folder holding `roblox-openapi.json` (see the `conformance` module).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_sim::roblox::{
    EndOfList, Endpoint, FaultAction, FaultRule, GroupSeed, JoinRequestSnapshot, MemberSeed,
    RobloxSim, RobloxSimConfig, RoleSeed, SocialNetworkProfiles, UniverseSeed,
    UserRestrictionSnapshot, UserSeed,
};
use serde_json::{Value, json};

mod access;
mod conformance;
mod control;
mod faults;
mod groups;
mod join_requests;
mod memberships;
mod pagination;
mod rate_limits;
mod restriction_limits;
mod restriction_logs;
mod restrictions;
mod users;

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
        ..RoleSeed::default()
    }
}

fn member_seed(user_id: u64, role_ids: &[u64]) -> MemberSeed {
    MemberSeed {
        user_id,
        role_ids: role_ids.to_vec(),
    }
}

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

/// Group 7: owner 1; admin 2 (rank 100, changeRank and acceptRequests); officers 3 and 4 (rank 50, changeRank
/// only); plain member 10; member 11 holding member + trusted; trusted member 12.
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
            RoleSeed {
                accept_requests: true,
                ..role_seed(ADMIN, "Admin", 100, true)
            },
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

fn join_requests_path(group: u64) -> String {
    format!("/cloud/v2/groups/{group}/join-requests")
}

/// Seeds a pending join request from `user` to `group` and returns its id.
#[track_caller]
fn seed_join_request(sim: &RobloxSim, group: u64, user: u64) -> String {
    sim.seed_join_request(group, user)
        .expect("a valid join request seed")
}

/// A running simulator with a client; `stop` shuts it down and checks the server task ends.
struct TestSim {
    sim: RobloxSim,
    served: crate::Served,
}

impl std::ops::Deref for TestSim {
    type Target = crate::Served;

    fn deref(&self) -> &crate::Served {
        &self.served
    }
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
        let served = crate::Served::start(|addr, stop| sim.serve(addr, stop)).await;
        Self { sim, served }
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
        self.served.stop().await;
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

    /// `POST .../join-requests/{id}:{verb}` (`accept` or `decline`) in `group` with `body`.
    async fn decide(
        &self,
        key: &str,
        group: u64,
        id: &str,
        verb: &str,
        body: Option<Body>,
    ) -> Reply {
        let path = format!("{}/{id}:{verb}", join_requests_path(group));
        self.call(Method::POST, &path, Some(key), &[], body).await
    }

    /// Accepts join request `id` of group 7 with the body `{}`.
    async fn accept(&self, key: &str, id: &str) -> Reply {
        self.decide(key, GROUP, id, "accept", Some(Body::Json(json!({}))))
            .await
    }

    /// Declines join request `id` of group 7 with the body `{}`.
    async fn decline(&self, key: &str, id: &str) -> Reply {
        self.decide(key, GROUP, id, "decline", Some(Body::Json(json!({}))))
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
