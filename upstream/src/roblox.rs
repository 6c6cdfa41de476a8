//! Roblox Open Cloud v2 (groups, user restrictions, user information) over reqwest.
//!
//! - Base URL is configuration (`roblox.base_url`), so tests and `roster dev` use the simulator.
//! - Ranks change through `memberships/{id}:assignRole` / `:unassignRole`; the deprecated
//!   `PATCH memberships/{id}` is available as a fallback.
//! - Rate limits are per key owner, per endpoint, per minute. The client remembers
//!   `x-ratelimit-remaining` / `x-ratelimit-reset` per (key, endpoint) and refuses locally while
//!   a window is known to be exhausted, so a retry storm does not spend requests Roblox will
//!   reject. A 429 becomes [`UpstreamError::RateLimited`] with `retry-after` when Roblox sent
//!   one (it often does not).
//! - Errors are classified once, here: permanent (4xx other than 409/429), rate-limited, or
//!   transient (409 ABORTED, 5xx, timeouts, connection failures). Messages never contain the key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::UpstreamError;

/// The Open Cloud group endpoints Roster calls, for rate tracking and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /groups/{id}`
    GetGroup,
    /// `GET /groups/{id}/memberships`
    ListMemberships,
    /// `PATCH /groups/{id}/memberships/{id}`
    UpdateMembership,
    /// `POST …:assignRole`
    AssignRole,
    /// `POST …:unassignRole`
    UnassignRole,
    /// `GET /groups/{id}/roles`
    ListRoles,
    /// `PATCH /universes/{id}/user-restrictions/{user}`
    UpdateUserRestriction,
    /// `GET /users/{id}`
    GetUser,
    /// `GET /groups/{id}/join-requests`
    ListJoinRequests,
    /// `POST /groups/{id}/join-requests/{id}:accept`
    AcceptJoinRequest,
    /// `POST /groups/{id}/join-requests/{id}:decline`
    DeclineJoinRequest,
}

impl Endpoint {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::GetGroup => "get_group",
            Endpoint::ListMemberships => "list_memberships",
            Endpoint::UpdateMembership => "update_membership",
            Endpoint::AssignRole => "assign_role",
            Endpoint::UnassignRole => "unassign_role",
            Endpoint::ListRoles => "list_roles",
            Endpoint::UpdateUserRestriction => "update_user_restriction",
            Endpoint::GetUser => "get_user",
            Endpoint::ListJoinRequests => "list_join_requests",
            Endpoint::AcceptJoinRequest => "accept_join_request",
            Endpoint::DeclineJoinRequest => "decline_join_request",
        }
    }
}

/// `Group` (subset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `groups/7`
    pub path: String,
    /// `"7"`
    pub id: String,
    /// Name.
    pub display_name: String,
    /// `users/21557`; absent for abandoned groups.
    #[serde(default)]
    pub owner: Option<String>,
    /// Members.
    #[serde(default)]
    pub member_count: Option<u64>,
    /// Locked by Roblox moderation.
    #[serde(default)]
    pub locked: bool,
}

/// `GroupRole` (subset).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupRole {
    /// `groups/7/roles/99513316`
    pub path: String,
    /// `"99513316"`
    pub id: String,
    /// Name.
    pub display_name: String,
    /// 0–255.
    pub rank: u8,
    /// Members holding it (absent for the guest role).
    #[serde(default)]
    pub member_count: Option<u64>,
}

impl GroupRole {
    /// The numeric role id.
    pub fn role_id(&self) -> Option<u64> {
        self.id.parse().ok()
    }
}

/// `GroupMembership`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembership {
    /// `groups/7/memberships/<opaque>`
    pub path: String,
    /// `users/21557`
    pub user: String,
    /// The highest-ranked role.
    pub role: String,
    /// Every role held.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl GroupMembership {
    /// The membership id (last path segment).
    pub fn membership_id(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Role ids held (`roles`, or `role` when the list is missing).
    pub fn role_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.roles.iter().filter_map(|p| role_id_of(p)).collect();
        if ids.is_empty()
            && let Some(r) = role_id_of(&self.role)
        {
            ids.push(r);
        }
        ids
    }
}

/// The id at the end of `groups/G/roles/R`.
pub fn role_id_of(path: &str) -> Option<u64> {
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    (parts.next()? == "roles").then_some(())?;
    id.parse().ok()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRoles {
    #[serde(default)]
    group_roles: Vec<GroupRole>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMemberships {
    #[serde(default)]
    group_memberships: Vec<GroupMembership>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Open Cloud `User` (the public fields Roster reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RobloxUser {
    /// The user id, as a string.
    pub id: String,
    /// The unique username.
    pub name: String,
    /// The display name.
    #[serde(default)]
    pub display_name: String,
}

/// A Roblox experience ban to apply (`active`) or lift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameJoinRestriction {
    /// Banned (true) or not.
    pub active: bool,
    /// Length in whole seconds; `None` is permanent.
    pub duration_seconds: Option<u64>,
    /// Kept by Roblox, not shown (≤ 1000 characters).
    pub private_reason: String,
    /// Shown to the player (≤ 400 characters).
    pub display_reason: String,
}

/// What Roster needs from Roblox Open Cloud.
#[async_trait]
pub trait RobloxApi: Send + Sync {
    /// Reads a group.
    async fn get_group(&self, key: &str, group: u64) -> Result<Group, UpstreamError>;
    /// Every role of a group, by rank.
    async fn list_roles(&self, key: &str, group: u64) -> Result<Vec<GroupRole>, UpstreamError>;
    /// A user's membership, or `None` if not a member.
    async fn find_membership(
        &self,
        key: &str,
        group: u64,
        user: u64,
    ) -> Result<Option<GroupMembership>, UpstreamError>;
    /// Memberships of up to 50 users across groups (`groups/-` with `user in [...]`).
    async fn memberships_of(
        &self,
        key: &str,
        group: Option<u64>,
        users: &[u64],
    ) -> Result<Vec<GroupMembership>, UpstreamError>;
    /// Adds a role to a member.
    async fn assign_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError>;
    /// Removes a role from a member.
    async fn unassign_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError>;
    /// Deprecated: replaces a member's role.
    async fn update_membership_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError>;
    /// Applies or lifts a user's experience ban in a universe (Open Cloud user restrictions).
    async fn update_user_restriction(
        &self,
        key: &str,
        universe: u64,
        user: u64,
        restriction: &GameJoinRestriction,
    ) -> Result<serde_json::Value, UpstreamError>;
    /// A user's public information (`GET /cloud/v2/users/{id}`; any valid key, no scope needed),
    /// or `None` when Roblox has no such user (404).
    async fn get_user(&self, key: &str, user: u64) -> Result<Option<RobloxUser>, UpstreamError>;
    /// One page (at most 20) of a group's pending join requests, optionally only `user`'s.
    async fn list_join_requests(
        &self,
        key: &str,
        group: u64,
        user: Option<u64>,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<JoinRequestPage, UpstreamError>;
    /// Accepts (`true`) or declines a join request by its id (the last segment of its `path`).
    async fn handle_join_request(
        &self,
        key: &str,
        group: u64,
        request: &str,
        accept: bool,
    ) -> Result<(), UpstreamError>;
}

/// `GroupJoinRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    /// `groups/7/join-requests/{id}`
    pub path: String,
    /// When it was made.
    #[serde(default)]
    pub create_time: Option<String>,
    /// `users/156`
    pub user: String,
}

impl JoinRequest {
    /// The request's id: the last segment of its path (opaque; not the user id).
    pub fn id(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// The requesting user's id.
    pub fn user_id(&self) -> Option<u64> {
        self.user.strip_prefix("users/")?.parse().ok()
    }
}

/// `ListGroupJoinRequestsResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestPage {
    /// The requests.
    #[serde(default)]
    pub group_join_requests: Vec<JoinRequest>,
    /// The next page's token; empty or absent at the end.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    remaining: u64,
    resets_at: Instant,
}

/// The Open Cloud client.
#[derive(Debug, Clone)]
pub struct RobloxClient {
    http: reqwest::Client,
    base: String,
    windows: Arc<Mutex<HashMap<(String, Endpoint), Window>>>,
}

impl RobloxClient {
    /// A client for `base_url` (e.g. `https://apis.roblox.com`) with a per-request timeout.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .user_agent(concat!("Roster/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Permanent {
                status: 0,
                code: "CLIENT".into(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            windows: Arc::default(),
        })
    }

    fn fingerprint(key: &str) -> String {
        hex::encode(&Sha256::digest(key.as_bytes())[..8])
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        key: &str,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<T, UpstreamError> {
        let fp = Self::fingerprint(key);
        if let Some(w) = self.windows.lock().get(&(fp.clone(), endpoint)).copied() {
            let now = Instant::now();
            if w.remaining == 0 && w.resets_at > now {
                metrics::counter!("roster_upstream_local_throttle_total", "service" => "roblox", "endpoint" => endpoint.as_str()).increment(1);
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(w.resets_at - now),
                    message: format!(
                        "Open Cloud {} quota for this key's owner is used up for the current window",
                        endpoint.as_str()
                    ),
                });
            }
        }
        let url = format!("{}/cloud/v2/{}", self.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .header("x-api-key", key)
            .query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let started = Instant::now();
        let result = req.send().await;
        let elapsed = started.elapsed().as_secs_f64();
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                metrics::counter!("roster_upstream_requests_total", "service" => "roblox", "endpoint" => endpoint.as_str(), "status" => "error").increment(1);
                return Err(UpstreamError::Transient {
                    status: None,
                    message: format!("Open Cloud {} {what}", endpoint.as_str()),
                });
            }
        };
        let status = resp.status();
        metrics::counter!("roster_upstream_requests_total", "service" => "roblox", "endpoint" => endpoint.as_str(), "status" => status.as_str().to_owned()).increment(1);
        metrics::histogram!("roster_upstream_request_seconds", "service" => "roblox", "endpoint" => endpoint.as_str()).record(elapsed);
        self.note_window(&fp, endpoint, resp.headers());
        if status.is_success() {
            let bytes = resp.bytes().await.map_err(|_| UpstreamError::Transient {
                status: Some(status.as_u16()),
                message: format!("Open Cloud {} response was cut off", endpoint.as_str()),
            })?;
            // Operations whose answer is empty (`:accept`, `:decline`) read as `{}`.
            let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                b"{}"
            } else {
                &bytes
            };
            return serde_json::from_slice(bytes).map_err(|e| UpstreamError::Transient {
                status: Some(status.as_u16()),
                message: format!(
                    "Open Cloud {} returned an unexpected body: {e}",
                    endpoint.as_str()
                ),
            });
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let body = resp.bytes().await.unwrap_or_default();
        let (code, message) = parse_error(&body);
        Err(classify(status, code, message, retry_after, endpoint))
    }

    fn note_window(&self, fp: &str, endpoint: Endpoint, headers: &reqwest::header::HeaderMap) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next()?.trim().parse::<u64>().ok());
        let reset = headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next()?.trim().parse::<f64>().ok());
        if let (Some(remaining), Some(reset)) = (remaining, reset) {
            // Never trust a reset further out than a minute for a per-minute quota: windows of
            // other lengths (the daily one) must not stall the client for hours.
            let reset = Duration::from_secs_f64(reset.clamp(0.0, 60.0));
            let mut w = self.windows.lock();
            if w.len() > 10_000 {
                let now = Instant::now();
                w.retain(|_, v| v.resets_at > now);
            }
            w.insert(
                (fp.to_owned(), endpoint),
                Window {
                    remaining,
                    resets_at: Instant::now() + reset,
                },
            );
        }
    }
}

/// Reads an error body in any of Roblox's three shapes.
fn parse_error(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let short: String = text.chars().take(200).collect();
            return ("UNKNOWN".into(), short);
        }
    };
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    if let Some(e) = v.get("error").and_then(s) {
        let m = v.get("message").and_then(s).unwrap_or_default();
        return (e, m);
    }
    if let Some(first) = v.get("errors").and_then(|e| e.get(0)) {
        let code = first
            .get("code")
            .map(|c| c.to_string().trim_matches('"').to_owned())
            .unwrap_or_else(|| "0".into());
        let m = first.get("message").and_then(s).unwrap_or_default();
        return (code, m);
    }
    let code = v
        .get("code")
        .map(|c| {
            c.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| c.to_string())
        })
        .unwrap_or_else(|| "UNKNOWN".into());
    let m = v
        .get("message")
        .and_then(s)
        .or_else(|| v.get("title").and_then(s))
        .unwrap_or_default();
    (code, m)
}

fn classify(
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<Duration>,
    endpoint: Endpoint,
) -> UpstreamError {
    let message: String = message.chars().take(300).collect();
    match status.as_u16() {
        429 => {
            metrics::counter!("roster_upstream_429_total", "service" => "roblox", "endpoint" => endpoint.as_str()).increment(1);
            UpstreamError::RateLimited {
                retry_after,
                message: format!("Open Cloud {} rate limited (429 {code})", endpoint.as_str()),
            }
        }
        409 | 499 | 500 | 502..=504 => UpstreamError::Transient {
            status: Some(status.as_u16()),
            message: format!(
                "Open Cloud {} failed with {} {code}: {message}",
                endpoint.as_str(),
                status.as_u16()
            ),
        },
        s => UpstreamError::Permanent {
            status: s,
            code,
            message,
        },
    }
}

#[async_trait]
impl RobloxApi for RobloxClient {
    async fn get_group(&self, key: &str, group: u64) -> Result<Group, UpstreamError> {
        self.call(
            key,
            Endpoint::GetGroup,
            Method::GET,
            &format!("groups/{group}"),
            &[],
            None,
        )
        .await
    }

    async fn list_roles(&self, key: &str, group: u64) -> Result<Vec<GroupRole>, UpstreamError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..20 {
            let mut q = vec![("maxPageSize", "20".to_owned())];
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let page: ListRoles = self
                .call(
                    key,
                    Endpoint::ListRoles,
                    Method::GET,
                    &format!("groups/{group}/roles"),
                    &q,
                    None,
                )
                .await?;
            out.extend(page.group_roles);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => {
                    out.sort_by_key(|r| r.rank);
                    return Ok(out);
                }
            }
        }
        Err(UpstreamError::Transient {
            status: None,
            message: "Open Cloud kept paging the role list (more than 400 roles?)".into(),
        })
    }

    async fn find_membership(
        &self,
        key: &str,
        group: u64,
        user: u64,
    ) -> Result<Option<GroupMembership>, UpstreamError> {
        let found = self.memberships_of(key, Some(group), &[user]).await?;
        Ok(found
            .into_iter()
            .find(|m| m.user == format!("users/{user}")))
    }

    async fn memberships_of(
        &self,
        key: &str,
        group: Option<u64>,
        users: &[u64],
    ) -> Result<Vec<GroupMembership>, UpstreamError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        if users.len() > 50 {
            return Err(UpstreamError::Permanent {
                status: 400,
                code: "CLIENT".into(),
                message: "at most 50 users per membership filter".into(),
            });
        }
        let filter = if users.len() == 1 {
            format!("user == 'users/{}'", users[0])
        } else {
            let list: Vec<String> = users.iter().map(|u| format!("'users/{u}'")).collect();
            format!("user in [{}]", list.join(", "))
        };
        let group_seg = group.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let mut q = vec![
                ("maxPageSize", "100".to_owned()),
                ("filter", filter.clone()),
            ];
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let page: ListMemberships = self
                .call(
                    key,
                    Endpoint::ListMemberships,
                    Method::GET,
                    &format!("groups/{group_seg}/memberships"),
                    &q,
                    None,
                )
                .await?;
            out.extend(page.group_memberships);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(UpstreamError::Transient {
            status: None,
            message: "Open Cloud kept paging a filtered membership list".into(),
        })
    }

    async fn assign_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError> {
        self.call(
            key,
            Endpoint::AssignRole,
            Method::POST,
            &format!("groups/{group}/memberships/{membership}:assignRole"),
            &[],
            Some(serde_json::json!({"role": format!("groups/{group}/roles/{role}")})),
        )
        .await
    }

    async fn unassign_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError> {
        self.call(
            key,
            Endpoint::UnassignRole,
            Method::POST,
            &format!("groups/{group}/memberships/{membership}:unassignRole"),
            &[],
            Some(serde_json::json!({"role": format!("groups/{group}/roles/{role}")})),
        )
        .await
    }

    async fn update_membership_role(
        &self,
        key: &str,
        group: u64,
        membership: &str,
        role: u64,
    ) -> Result<GroupMembership, UpstreamError> {
        self.call(
            key,
            Endpoint::UpdateMembership,
            Method::PATCH,
            &format!("groups/{group}/memberships/{membership}"),
            &[],
            Some(serde_json::json!({"role": format!("groups/{group}/roles/{role}")})),
        )
        .await
    }

    async fn update_user_restriction(
        &self,
        key: &str,
        universe: u64,
        user: u64,
        restriction: &GameJoinRestriction,
    ) -> Result<serde_json::Value, UpstreamError> {
        let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
        let mut body = serde_json::json!({ "active": restriction.active });
        if restriction.active {
            if let Some(d) = restriction.duration_seconds {
                body["duration"] = format!("{}s", d.clamp(1, 315_576_000_000)).into();
            }
            if !restriction.private_reason.is_empty() {
                body["privateReason"] = cut(&restriction.private_reason, 1000).into();
            }
            if !restriction.display_reason.is_empty() {
                body["displayReason"] = cut(&restriction.display_reason, 400).into();
            }
            body["excludeAltAccounts"] = false.into();
        }
        self.call(
            key,
            Endpoint::UpdateUserRestriction,
            Method::PATCH,
            &format!("universes/{universe}/user-restrictions/{user}"),
            &[("updateMask", "gameJoinRestriction".to_owned())],
            Some(serde_json::json!({ "gameJoinRestriction": body })),
        )
        .await
    }

    async fn get_user(&self, key: &str, user: u64) -> Result<Option<RobloxUser>, UpstreamError> {
        match self
            .call(
                key,
                Endpoint::GetUser,
                Method::GET,
                &format!("users/{user}"),
                &[],
                None,
            )
            .await
        {
            Ok(u) => Ok(Some(u)),
            Err(UpstreamError::Permanent { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_join_requests(
        &self,
        key: &str,
        group: u64,
        user: Option<u64>,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<JoinRequestPage, UpstreamError> {
        let mut q = vec![("maxPageSize", page_size.clamp(1, 20).to_string())];
        if let Some(u) = user {
            q.push(("filter", format!("user == 'users/{u}'")));
        }
        if let Some(t) = page_token.filter(|t| !t.is_empty()) {
            q.push(("pageToken", t.to_owned()));
        }
        self.call(
            key,
            Endpoint::ListJoinRequests,
            Method::GET,
            &format!("groups/{group}/join-requests"),
            &q,
            None,
        )
        .await
    }

    async fn handle_join_request(
        &self,
        key: &str,
        group: u64,
        request: &str,
        accept: bool,
    ) -> Result<(), UpstreamError> {
        let (endpoint, verb) = if accept {
            (Endpoint::AcceptJoinRequest, "accept")
        } else {
            (Endpoint::DeclineJoinRequest, "decline")
        };
        let _: serde_json::Value = self
            .call(
                key,
                endpoint,
                Method::POST,
                &format!("groups/{group}/join-requests/{request}:{verb}"),
                &[],
                Some(serde_json::json!({})),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes() {
        assert_eq!(
            parse_error(br#"{"errors":[{"code":0,"message":"Invalid API Key"}]}"#),
            ("0".into(), "Invalid API Key".into())
        );
        assert_eq!(
            parse_error(br#"{"code":"PERMISSION_DENIED","message":"no"}"#),
            ("PERMISSION_DENIED".into(), "no".into())
        );
        assert_eq!(
            parse_error(br#"{"error":"BAD","message":"m"}"#),
            ("BAD".into(), "m".into())
        );
        assert_eq!(parse_error(b"<html>").0, "UNKNOWN");
    }

    #[test]
    fn role_paths() {
        assert_eq!(role_id_of("groups/7/roles/99"), Some(99));
        assert_eq!(role_id_of("groups/7/memberships/99"), None);
    }
}

/// When a role list was read, and the list.
type CachedRoles = (Instant, Arc<Vec<GroupRole>>);

/// A short-lived cache of groups' role lists (one Open Cloud call saved per rank change).
/// Keyed by group and a fingerprint of the key, since what a key may see can differ.
#[derive(Debug, Clone)]
pub struct RolesCache {
    ttl: Duration,
    map: Arc<Mutex<HashMap<(u64, String), CachedRoles>>>,
}

impl RolesCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Arc::default(),
        }
    }

    /// The group's roles, from cache or upstream. `refresh` forces a reload (use it when a
    /// membership names a role the cached list lacks).
    pub async fn get(
        &self,
        client: &dyn RobloxApi,
        key: &str,
        group: u64,
        refresh: bool,
    ) -> Result<Arc<Vec<GroupRole>>, UpstreamError> {
        let k = (group, RobloxClient::fingerprint(key));
        if !refresh
            && let Some((at, roles)) = self.map.lock().get(&k)
            && at.elapsed() < self.ttl
        {
            metrics::counter!("roster_cache_hits_total", "cache" => "roblox_roles").increment(1);
            return Ok(roles.clone());
        }
        metrics::counter!("roster_cache_misses_total", "cache" => "roblox_roles").increment(1);
        let roles = Arc::new(client.list_roles(key, group).await?);
        let mut m = self.map.lock();
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(k, (Instant::now(), roles.clone()));
        Ok(roles)
    }
}

/// What a [`UserNames`] entry holds: when it was read, and the name (`None`: no such user).
type CachedName = (Instant, Option<String>);

/// A cache of Roblox usernames by user id, bounded in size and age: at most `capacity` entries,
/// each kept `ttl` (names change rarely; a user Roblox does not know is remembered as unknown for
/// the same time, so a bad id is not asked about again and again). When full, expired entries go
/// first, then the oldest ones.
#[derive(Debug, Clone)]
pub struct UserNames {
    ttl: Duration,
    capacity: usize,
    map: Arc<Mutex<HashMap<u64, CachedName>>>,
}

impl UserNames {
    /// A cache of at most `capacity` names, each kept `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            map: Arc::default(),
        }
    }

    /// The cached answer for `user`: `Some(Some(name))`, `Some(None)` (known not to exist), or
    /// `None` (not cached, or too old).
    pub fn cached(&self, user: u64) -> Option<Option<String>> {
        let map = self.map.lock();
        let (at, name) = map.get(&user)?;
        (at.elapsed() < self.ttl).then(|| name.clone())
    }

    /// Remembers the answer for `user`.
    pub fn remember(&self, user: u64, name: Option<String>) {
        let mut map = self.map.lock();
        if map.len() >= self.capacity && !map.contains_key(&user) {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            while map.len() >= self.capacity {
                let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k)
                else {
                    break;
                };
                map.remove(&oldest);
            }
        }
        map.insert(user, (Instant::now(), name));
    }

    /// The username of `user`, from the cache or Open Cloud (with `key`); `Ok(None)` when Roblox
    /// has no such user.
    pub async fn get(
        &self,
        client: &dyn RobloxApi,
        key: &str,
        user: u64,
    ) -> Result<Option<String>, UpstreamError> {
        if let Some(hit) = self.cached(user) {
            metrics::counter!("roster_cache_hits_total", "cache" => "roblox_user_names")
                .increment(1);
            return Ok(hit);
        }
        metrics::counter!("roster_cache_misses_total", "cache" => "roblox_user_names").increment(1);
        let name = client.get_user(key, user).await?.map(|u| u.name);
        self.remember(user, name.clone());
        Ok(name)
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod user_name_tests {
    use super::*;

    #[test]
    fn bounded_in_size_and_age() {
        let names = UserNames::new(2, Duration::from_secs(3600));
        names.remember(1, Some("a".into()));
        names.remember(2, None);
        assert_eq!(names.cached(1), Some(Some("a".into())));
        assert_eq!(names.cached(2), Some(None), "unknown users are remembered");
        names.remember(3, Some("c".into()));
        assert_eq!(names.len(), 2, "never above capacity");
        assert_eq!(names.cached(1), None, "the oldest entry made room");
        assert_eq!(names.cached(3), Some(Some("c".into())));
        let short = UserNames::new(10, Duration::ZERO);
        short.remember(1, Some("a".into()));
        assert_eq!(
            short.cached(1),
            None,
            "an entry older than the age limit is not used"
        );
    }
}
