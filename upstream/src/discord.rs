//! The Discord REST v10 client: twilight-http underneath, with Roster's own rate-limit gate in
//! front, an overall timeout on every call, `X-Audit-Log-Reason` on every change, metrics, and
//! failures classified into [`UpstreamError`].
//!
//! # Rate limits
//!
//! Discord sends `X-RateLimit-Bucket`, `-Limit`, `-Remaining` and `-Reset-After` on most
//! responses, but `X-RateLimit-Scope` only on 429s (the rate-limit docs). twilight-http 0.18
//! learns a bucket only from a response carrying the scope header, so against Discord as
//! documented it would learn every bucket from a 429, and each 429 counts towards the
//! invalid-request limit (10,000 per 10 minutes, then a Cloudflare ban). So the client keeps its
//! own [`gate`](Gate) in front of twilight and learns from every successful response:
//!
//! - a route whose bucket is unknown gets one request at a time per major parameter (guild or
//!   channel) until a response names its bucket;
//! - a known bucket, counted per (bot, bucket, major parameter), grants `remaining` requests and
//!   then waits until `Reset-After` (a sliding window is empty then, a fixed one has rolled over),
//!   accounting for requests still in flight;
//! - a wait longer than `max_wait` is not waited: the call fails at once with
//!   [`UpstreamError::RateLimited`] and the time to wait, so a job can hand its slot back.
//!
//! - the global limit (50 requests a second per bot by default) is kept per bot: a request holds
//!   a slot while it is in flight and for one second after its response came back (or it
//!   failed). Discord counts a request when it arrives, which is never after its response is
//!   back, so this holds however late requests arrive and however Discord aligns its window. A
//!   counter of sends in the client's own one-second windows does not: under load the first
//!   request of a window can arrive late, and a burst at the start of the client's next window
//!   then lands in Discord's previous one (a global 429, seen in tests on a busy machine).
//!
//! twilight's own limiter stays on behind the gate as a safety net (the gate is stricter, so it
//! does not wait). twilight retries every 429 by itself, immediately when it learned nothing from the
//! 429 (a global or Cloudflare one); the client stops that with twilight's pre-flight hook: the
//! second pass through twilight's limiter for one call means a 429 came back, and the call ends
//! with [`UpstreamError::RateLimited`] (counted in `roster_upstream_429_total`) instead of
//! hammering Discord.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_http::request::AuditLogReason;
use twilight_http::response::{Response, ResponseFuture};
use twilight_model::id::Id;
use twilight_model::id::marker::{RoleMarker, UserMarker};

use crate::UpstreamError;

/// A guild member as Roster needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// User id.
    pub user_id: u64,
    /// Username.
    pub username: String,
    /// Display name, if set.
    pub global_name: Option<String>,
    /// Nickname in the guild.
    pub nick: Option<String>,
    /// Roles (without `@everyone`).
    pub roles: Vec<u64>,
    /// Whether the user is a bot.
    pub bot: bool,
}

impl Member {
    /// The name shown in the guild when no nickname is set.
    pub fn display_name(&self) -> &str {
        self.global_name.as_deref().unwrap_or(&self.username)
    }
}

/// A guild role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// Id (the guild id for `@everyone`).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Colour, `0xRRGGBB`.
    pub color: u32,
    /// Position (`@everyone` is 0).
    pub position: i64,
    /// Permission bits.
    pub permissions: u64,
    /// Managed by an integration: nobody can grant or remove it.
    pub managed: bool,
}

/// A guild's owner and roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuildInfo {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: u64,
    /// Every role, `@everyone` included.
    pub roles: Vec<Role>,
    /// Discord's approximate member count.
    pub approximate_member_count: Option<u64>,
}

/// Permission bits Roster cares about.
pub mod permissions {
    /// `ADMINISTRATOR`: every permission.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// `BAN_MEMBERS`.
    pub const BAN_MEMBERS: u64 = 1 << 2;
    /// `MANAGE_ROLES`.
    pub const MANAGE_ROLES: u64 = 1 << 28;
    /// `MANAGE_NICKNAMES`.
    pub const MANAGE_NICKNAMES: u64 = 1 << 27;
}

/// Discord's JSON error codes Roster acts on.
pub mod codes {
    /// Unknown guild.
    pub const UNKNOWN_GUILD: &str = "10004";
    /// Unknown member.
    pub const UNKNOWN_MEMBER: &str = "10007";
    /// Unknown role.
    pub const UNKNOWN_ROLE: &str = "10011";
    /// Unknown user.
    pub const UNKNOWN_USER: &str = "10013";
    /// Unknown ban.
    pub const UNKNOWN_BAN: &str = "10026";
    /// Missing access (not in the guild, or no members intent).
    pub const MISSING_ACCESS: &str = "50001";
    /// The user does not accept DMs from the bot.
    pub const CANNOT_DM: &str = "50007";
    /// Missing permissions (or the role hierarchy).
    pub const MISSING_PERMISSIONS: &str = "50013";
}

/// What Roster asks of Discord. Every change carries an audit-log reason.
#[async_trait]
pub trait DiscordApi: Send + Sync {
    /// The bot's own user id.
    async fn current_user_id(&self, token: &str) -> Result<u64, UpstreamError>;
    /// A guild's owner and roles.
    async fn guild(&self, token: &str, guild: u64) -> Result<GuildInfo, UpstreamError>;
    /// A guild's roles.
    async fn roles(&self, token: &str, guild: u64) -> Result<Vec<Role>, UpstreamError>;
    /// A member, or `None` when the user is not in the guild.
    async fn member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
    ) -> Result<Option<Member>, UpstreamError>;
    /// Up to `limit` (1–1000) members with user ids above `after`, in id order.
    async fn members(
        &self,
        token: &str,
        guild: u64,
        after: u64,
        limit: u16,
    ) -> Result<Vec<Member>, UpstreamError>;
    /// Adds one role.
    async fn add_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role: u64,
        reason: &str,
    ) -> Result<(), UpstreamError>;
    /// Removes one role.
    async fn remove_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role: u64,
        reason: &str,
    ) -> Result<(), UpstreamError>;
    /// Sets the member's full role list and/or nickname in one PATCH (`nick: Some(None)` resets
    /// the nickname).
    async fn modify_member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        roles: Option<&[u64]>,
        nick: Option<Option<&str>>,
        reason: &str,
    ) -> Result<Member, UpstreamError>;
    /// Opens (or reuses) the DM channel with `user` and sends `content`.
    async fn send_dm(&self, token: &str, user: u64, content: &str) -> Result<(), UpstreamError>;
    /// Bans a user from a guild.
    async fn ban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        reason: &str,
        delete_message_seconds: u32,
    ) -> Result<(), UpstreamError>;
    /// Lifts a ban; `Ok(false)` when the user was not banned.
    async fn unban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        reason: &str,
    ) -> Result<bool, UpstreamError>;
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct DiscordSettings {
    /// `host[:port]` to send requests to instead of `discord.com` (twilight's proxy setting),
    /// e.g. the simulator; `None` for Discord itself.
    pub proxy: Option<String>,
    /// Use plain HTTP to the proxy.
    pub use_http: bool,
    /// Bound for one HTTP attempt.
    pub timeout: Duration,
    /// Bound for a whole call, rate-limit waits included.
    pub call_timeout: Duration,
    /// Longest wait for a rate-limit bucket before the call gives up with `RateLimited`.
    pub max_wait: Duration,
    /// Requests per second per bot across all routes (Discord's global limit).
    pub global_limit_per_sec: u16,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            proxy: None,
            use_http: false,
            timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(15),
            global_limit_per_sec: 50,
        }
    }
}

/// The operations, for rate-limit routes and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    CurrentUser,
    GetGuild,
    ListRoles,
    GetMember,
    ListMembers,
    ModifyMember,
    AddRole,
    RemoveRole,
    CreateDm,
    CreateMessage,
    CreateBan,
    RemoveBan,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::CurrentUser => "current_user",
            Op::GetGuild => "get_guild",
            Op::ListRoles => "list_roles",
            Op::GetMember => "get_member",
            Op::ListMembers => "list_members",
            Op::ModifyMember => "modify_member",
            Op::AddRole => "add_member_role",
            Op::RemoveRole => "remove_member_role",
            Op::CreateDm => "create_dm",
            Op::CreateMessage => "create_message",
            Op::CreateBan => "create_ban",
            Op::RemoveBan => "remove_ban",
        }
    }
}

/// The Discord client. Cheap to clone; one twilight client per bot token.
#[derive(Clone)]
pub struct DiscordClient {
    settings: Arc<DiscordSettings>,
    clients: Arc<Mutex<HashMap<u64, Arc<Client>>>>,
    gate: Arc<Gate>,
}

impl std::fmt::Debug for DiscordClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordClient")
            .field("proxy", &self.settings.proxy)
            .finish_non_exhaustive()
    }
}

/// A short, stable, non-reversible id of a token (never log the token itself).
fn fingerprint(token: &str) -> u64 {
    let d = Sha256::digest(token.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

fn permanent(status: u16, code: &str, message: impl Into<String>) -> UpstreamError {
    UpstreamError::Permanent {
        status,
        code: code.to_owned(),
        message: message.into(),
    }
}

impl DiscordClient {
    /// A client with these settings.
    pub fn new(settings: DiscordSettings) -> Self {
        // twilight's TLS stack needs a process-wide rustls provider; installing twice is harmless.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Self {
            gate: Arc::new(Gate::new(settings.global_limit_per_sec)),
            settings: Arc::new(settings),
            clients: Arc::default(),
        }
    }

    fn client(&self, token: &str) -> (u64, Arc<Client>) {
        let fp = fingerprint(token);
        let mut clients = self.clients.lock();
        let c = clients
            .entry(fp)
            .or_insert_with(|| {
                let mut b = Client::builder()
                    .token(format!("Bot {}", token.trim()))
                    .timeout(self.settings.timeout)
                    .ratelimiter(Some(twilight_http_ratelimiting::RateLimiter::new(
                        self.settings.global_limit_per_sec.max(1),
                    )));
                if let Some(p) = &self.settings.proxy {
                    b = b.proxy(p.clone(), self.settings.use_http);
                }
                Arc::new(b.build())
            })
            .clone();
        (fp, c)
    }

    /// Runs one call: gate, twilight, gate update, metrics, classification, overall timeout.
    async fn call<T, F>(
        &self,
        token: &str,
        op: Op,
        major: u64,
        make: F,
    ) -> Result<Response<T>, UpstreamError>
    where
        T: Unpin + Send,
        F: FnOnce(&Client) -> ResponseFuture<T> + Send,
    {
        let (fp, client) = self.client(token);
        let bound = self.settings.call_timeout;
        let run = async {
            let ticket = self
                .gate
                .acquire(fp, op, major, self.settings.max_wait)
                .await
                .inspect_err(|_| {
                    metrics::counter!("roster_upstream_local_throttle_total", "service" => "discord", "endpoint" => op.as_str()).increment(1);
                })?;
            // Handed back even when the call is dropped mid-flight (its overall timeout, or the
            // job's), so a slot is never lost.
            let mut ticket = Held {
                gate: &self.gate,
                ticket: Some(ticket),
            };
            let mut fut = make(&client);
            let passes = Arc::new(AtomicU32::new(0));
            let p = passes.clone();
            // The second pass through twilight's limiter means a 429 came back: stop there.
            fut.set_pre_flight(move || p.fetch_add(1, Ordering::Relaxed) == 0);
            let started = Instant::now();
            let result = fut.await;
            metrics::histogram!("roster_upstream_request_seconds", "service" => "discord", "endpoint" => op.as_str())
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(resp) => {
                    let status = resp.status().get();
                    metrics::counter!("roster_upstream_requests_total", "service" => "discord", "endpoint" => op.as_str(), "status" => status.to_string()).increment(1);
                    if let Some(t) = ticket.ticket.take() {
                        self.gate.complete(t, Headers::read(&resp));
                    }
                    Ok(resp)
                }
                Err(e) => {
                    let err = self.classify(op, e, passes.load(Ordering::Relaxed) > 1);
                    let hint = match &err {
                        UpstreamError::RateLimited { retry_after, .. } => {
                            Some(retry_after.unwrap_or(Duration::from_secs(1)))
                        }
                        _ => None,
                    };
                    if let Some(t) = ticket.ticket.take() {
                        self.gate.fail(t, hint);
                    }
                    Err(err)
                }
            }
        };
        match tokio::time::timeout(bound, run).await {
            Ok(r) => r,
            Err(_) => {
                metrics::counter!("roster_upstream_requests_total", "service" => "discord", "endpoint" => op.as_str(), "status" => "timeout").increment(1);
                Err(UpstreamError::Transient {
                    status: None,
                    message: format!(
                        "Discord {} did not finish within {}s",
                        op.as_str(),
                        bound.as_secs_f64()
                    ),
                })
            }
        }
    }

    fn classify(&self, op: Op, e: twilight_http::Error, limited: bool) -> UpstreamError {
        let what = op.as_str();
        let count = |status: &str| {
            metrics::counter!("roster_upstream_requests_total", "service" => "discord", "endpoint" => what, "status" => status.to_owned()).increment(1);
        };
        match e.kind() {
            ErrorType::RequestCanceled if limited => {
                count("429");
                metrics::counter!("roster_upstream_429_total", "service" => "discord", "endpoint" => what).increment(1);
                UpstreamError::RateLimited {
                    retry_after: None,
                    message: format!("Discord rate limited {what} (429)"),
                }
            }
            ErrorType::Response { body, status, .. } => {
                let status = status.get();
                count(&status.to_string());
                let (code, message) = parse_error(body);
                match status {
                    429 => {
                        metrics::counter!("roster_upstream_429_total", "service" => "discord", "endpoint" => what).increment(1);
                        UpstreamError::RateLimited {
                            retry_after: None,
                            message: format!("Discord rate limited {what} (429)"),
                        }
                    }
                    500..=599 => UpstreamError::Transient {
                        status: Some(status),
                        message: format!("Discord {what} failed with {status}: {message}"),
                    },
                    _ => permanent(status, &code, message),
                }
            }
            ErrorType::Unauthorized => {
                count("401");
                permanent(
                    401,
                    "0",
                    "Discord rejected the bot token (401: Unauthorized); set a valid token",
                )
            }
            ErrorType::RequestTimedOut => {
                count("timeout");
                UpstreamError::Transient {
                    status: None,
                    message: format!("Discord {what} timed out"),
                }
            }
            ErrorType::Parsing { body } => {
                // A non-JSON error page (Cloudflare) or an unexpected body.
                count("unparsed");
                let text: String = String::from_utf8_lossy(body).chars().take(120).collect();
                UpstreamError::Transient {
                    status: None,
                    message: format!("Discord {what} answered with an unreadable body: {text}"),
                }
            }
            ErrorType::Validation
            | ErrorType::BuildingRequest
            | ErrorType::CreatingHeader { .. } => {
                count("invalid");
                permanent(0, "CLIENT", format!("invalid {what} request: {e}"))
            }
            _ => {
                count("error");
                UpstreamError::Transient {
                    status: None,
                    message: format!("Discord {what} request failed"),
                }
            }
        }
    }

    async fn list<T>(
        op: Op,
        resp: Response<twilight_http::response::marker::ListBody<T>>,
    ) -> Result<Vec<T>, UpstreamError>
    where
        T: serde::de::DeserializeOwned + Unpin + Send,
    {
        resp.models().await.map_err(|e| UpstreamError::Transient {
            status: None,
            message: format!("Discord {} returned an unexpected body: {e}", op.as_str()),
        })
    }

    async fn body<T>(op: Op, resp: Response<T>) -> Result<T, UpstreamError>
    where
        T: serde::de::DeserializeOwned + Unpin + Send,
    {
        resp.model().await.map_err(|e| UpstreamError::Transient {
            status: None,
            message: format!("Discord {} returned an unexpected body: {e}", op.as_str()),
        })
    }
}

fn id<M>(raw: u64, what: &str) -> Result<Id<M>, UpstreamError> {
    Id::new_checked(raw).ok_or_else(|| permanent(400, "CLIENT", format!("{what} id must not be 0")))
}

/// Reads `{"message", "code"}`.
fn parse_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => (
            v.get("code")
                .map(|c| c.to_string().trim_matches('"').to_owned())
                .unwrap_or_else(|| "0".into()),
            v.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        ),
        Err(_) => (
            "0".into(),
            String::from_utf8_lossy(body).chars().take(120).collect(),
        ),
    }
}

fn member(m: twilight_model::guild::Member) -> Member {
    Member {
        user_id: m.user.id.get(),
        username: m.user.name,
        global_name: m.user.global_name,
        nick: m.nick,
        roles: m.roles.iter().map(|r| r.get()).collect(),
        bot: m.user.bot,
    }
}

fn role(r: twilight_model::guild::Role) -> Role {
    Role {
        id: r.id.get(),
        name: r.name,
        color: r.colors.primary_color,
        position: r.position,
        permissions: r.permissions.bits(),
        managed: r.managed,
    }
}

/// Audit-log reasons are at most 512 characters.
fn reason(r: &str) -> String {
    r.chars().take(512).collect()
}

#[async_trait]
impl DiscordApi for DiscordClient {
    async fn current_user_id(&self, token: &str) -> Result<u64, UpstreamError> {
        let r = self
            .call(token, Op::CurrentUser, 0, |c| {
                c.current_user().into_future()
            })
            .await?;
        Ok(Self::body(Op::CurrentUser, r).await?.id.get())
    }

    async fn guild(&self, token: &str, guild: u64) -> Result<GuildInfo, UpstreamError> {
        let g = id(guild, "guild")?;
        let r = self
            .call(token, Op::GetGuild, guild, |c| {
                c.guild(g).with_counts(true).into_future()
            })
            .await?;
        let g = Self::body(Op::GetGuild, r).await?;
        Ok(GuildInfo {
            id: g.id.get(),
            name: g.name,
            owner_id: g.owner_id.get(),
            roles: g.roles.into_iter().map(role).collect(),
            approximate_member_count: g.approximate_member_count,
        })
    }

    async fn roles(&self, token: &str, guild: u64) -> Result<Vec<Role>, UpstreamError> {
        let g = id(guild, "guild")?;
        let r = self
            .call(token, Op::ListRoles, guild, |c| c.roles(g).into_future())
            .await?;
        Ok(Self::list(Op::ListRoles, r)
            .await?
            .into_iter()
            .map(role)
            .collect())
    }

    async fn member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
    ) -> Result<Option<Member>, UpstreamError> {
        let (g, u) = (id(guild, "guild")?, id::<UserMarker>(user, "user")?);
        match self
            .call(token, Op::GetMember, guild, |c| {
                c.guild_member(g, u).into_future()
            })
            .await
        {
            Ok(r) => Ok(Some(member(Self::body(Op::GetMember, r).await?))),
            Err(UpstreamError::Permanent { code, .. })
                if code == codes::UNKNOWN_MEMBER || code == codes::UNKNOWN_USER =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn members(
        &self,
        token: &str,
        guild: u64,
        after: u64,
        limit: u16,
    ) -> Result<Vec<Member>, UpstreamError> {
        let g = id(guild, "guild")?;
        let limit = limit.clamp(1, 1000);
        let r = self
            .call(token, Op::ListMembers, guild, |c| {
                let mut req = c.guild_members(g).limit(limit);
                if let Some(a) = Id::<UserMarker>::new_checked(after) {
                    req = req.after(a);
                }
                req.into_future()
            })
            .await?;
        Ok(Self::list(Op::ListMembers, r)
            .await?
            .into_iter()
            .map(member)
            .collect())
    }

    async fn add_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role_id: u64,
        why: &str,
    ) -> Result<(), UpstreamError> {
        let (g, u, r) = (
            id(guild, "guild")?,
            id::<UserMarker>(user, "user")?,
            id::<RoleMarker>(role_id, "role")?,
        );
        let why = reason(why);
        self.call(token, Op::AddRole, guild, |c| {
            c.add_guild_member_role(g, u, r).reason(&why).into_future()
        })
        .await
        .map(drop)
    }

    async fn remove_role(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        role_id: u64,
        why: &str,
    ) -> Result<(), UpstreamError> {
        let (g, u, r) = (
            id(guild, "guild")?,
            id::<UserMarker>(user, "user")?,
            id::<RoleMarker>(role_id, "role")?,
        );
        let why = reason(why);
        self.call(token, Op::RemoveRole, guild, |c| {
            c.remove_guild_member_role(g, u, r)
                .reason(&why)
                .into_future()
        })
        .await
        .map(drop)
    }

    async fn modify_member(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        roles: Option<&[u64]>,
        nick: Option<Option<&str>>,
        why: &str,
    ) -> Result<Member, UpstreamError> {
        let (g, u) = (id(guild, "guild")?, id::<UserMarker>(user, "user")?);
        let roles: Option<Vec<Id<RoleMarker>>> = roles
            .map(|rs| rs.iter().map(|r| id(*r, "role")).collect())
            .transpose()?;
        let why = reason(why);
        let r = self
            .call(token, Op::ModifyMember, guild, |c| {
                let mut req = c.update_guild_member(g, u).reason(&why);
                if let Some(rs) = &roles {
                    req = req.roles(rs);
                }
                if let Some(n) = nick {
                    req = req.nick(n);
                }
                req.into_future()
            })
            .await?;
        Ok(member(Self::body(Op::ModifyMember, r).await?))
    }

    async fn send_dm(&self, token: &str, user: u64, content: &str) -> Result<(), UpstreamError> {
        let u = id::<UserMarker>(user, "user")?;
        let r = self
            .call(token, Op::CreateDm, 0, |c| {
                c.create_private_channel(u).into_future()
            })
            .await?;
        let channel = Self::body(Op::CreateDm, r).await?.id;
        self.call(token, Op::CreateMessage, channel.get(), |c| {
            c.create_message(channel).content(content).into_future()
        })
        .await
        .map(drop)
    }

    async fn ban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        why: &str,
        delete_message_seconds: u32,
    ) -> Result<(), UpstreamError> {
        let (g, u) = (id(guild, "guild")?, id::<UserMarker>(user, "user")?);
        let why = reason(why);
        self.call(token, Op::CreateBan, guild, |c| {
            c.create_ban(g, u)
                .delete_message_seconds(delete_message_seconds.min(604_800))
                .reason(&why)
                .into_future()
        })
        .await
        .map(drop)
    }

    async fn unban(
        &self,
        token: &str,
        guild: u64,
        user: u64,
        why: &str,
    ) -> Result<bool, UpstreamError> {
        let (g, u) = (id(guild, "guild")?, id::<UserMarker>(user, "user")?);
        let why = reason(why);
        match self
            .call(token, Op::RemoveBan, guild, |c| {
                c.delete_ban(g, u).reason(&why).into_future()
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(UpstreamError::Permanent { code, .. }) if code == codes::UNKNOWN_BAN => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The rate-limit headers of a successful response.
#[derive(Debug, Clone)]
struct Headers {
    bucket: Arc<str>,
    limit: u32,
    remaining: u32,
    reset_after: Duration,
}

impl Headers {
    fn read<T>(resp: &Response<T>) -> Option<Self> {
        let (mut bucket, mut limit, mut remaining, mut reset_after) = (None, None, None, None);
        for (name, value) in resp.headers() {
            let value = std::str::from_utf8(value).ok().map(str::trim);
            if name.eq_ignore_ascii_case("x-ratelimit-bucket") {
                bucket = value.filter(|v| !v.is_empty()).map(Arc::from);
            } else if name.eq_ignore_ascii_case("x-ratelimit-limit") {
                limit = value.and_then(|v| v.parse::<u32>().ok());
            } else if name.eq_ignore_ascii_case("x-ratelimit-remaining") {
                remaining = value.and_then(|v| v.parse::<u32>().ok());
            } else if name.eq_ignore_ascii_case("x-ratelimit-reset-after") {
                reset_after = value
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(3600.0)));
            }
        }
        Some(Self {
            bucket: bucket?,
            limit: limit.filter(|l| *l > 0)?,
            remaining: remaining?,
            reset_after: reset_after?,
        })
    }
}

/// How long a request holds its global slot after its response came back.
const GLOBAL_PERIOD: Duration = Duration::from_secs(1);

/// Roster's rate-limit gate (see the module docs).
#[derive(Debug)]
struct Gate {
    /// Requests per [`GLOBAL_PERIOD`] per bot.
    global_limit: u32,
    state: Mutex<GateState>,
    changed: tokio::sync::Notify,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new(50)
    }
}

#[derive(Debug, Default)]
struct GateState {
    /// (bot, route) → the route's bucket hash and limit, once a response named them.
    routes: HashMap<(u64, Op), (Arc<str>, u32)>,
    /// (bot, bucket, major) → counter.
    buckets: HashMap<(u64, Arc<str>, u64), Bucket>,
    /// (bot, route, major) → requests in flight while the bucket is unknown.
    probes: HashMap<(u64, Op, u64), u32>,
    /// bot → its global slots.
    global: HashMap<u64, GlobalSlots>,
}

/// One bot's global slots: requests in flight, and when the finished ones free theirs.
#[derive(Debug, Default)]
struct GlobalSlots {
    in_flight: u32,
    /// Ascending.
    frees_at: std::collections::VecDeque<Instant>,
}

impl GlobalSlots {
    /// `Ok` when a slot is free at `now`; else when to look again (`None`: when a request in
    /// flight finishes).
    fn check(&mut self, limit: u32, now: Instant) -> Result<(), Option<Instant>> {
        while self.frees_at.front().is_some_and(|t| *t <= now) {
            self.frees_at.pop_front();
        }
        let held = self.in_flight as usize + self.frees_at.len();
        if held < limit as usize {
            Ok(())
        } else {
            Err(self.frees_at.front().copied())
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    limit: u32,
    remaining: u32,
    reset_at: Instant,
    in_flight: u32,
}

/// A ticket that goes back to its gate as failed when dropped unused.
struct Held<'a> {
    gate: &'a Gate,
    ticket: Option<Ticket>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.gate.fail(t, None);
        }
    }
}

/// A granted request; hand it back with [`Gate::complete`] or [`Gate::fail`].
#[derive(Debug)]
struct Ticket {
    bot: u64,
    op: Op,
    major: u64,
    bucket: Option<Arc<str>>,
}

impl Gate {
    fn new(global_limit: u16) -> Self {
        Self {
            global_limit: u32::from(global_limit.max(1)),
            state: Mutex::default(),
            changed: tokio::sync::Notify::new(),
        }
    }

    async fn acquire(
        &self,
        bot: u64,
        op: Op,
        major: u64,
        max_wait: Duration,
    ) -> Result<Ticket, UpstreamError> {
        let started = Instant::now();
        loop {
            let notified = self.changed.notified();
            let until = match self.try_acquire(bot, op, major, Instant::now()) {
                Ok(t) => {
                    let waited = started.elapsed();
                    if waited > Duration::from_millis(1) {
                        metrics::histogram!("roster_discord_rate_limit_wait_seconds", "endpoint" => op.as_str())
                            .record(waited.as_secs_f64());
                    }
                    return Ok(t);
                }
                Err(until) => until,
            };
            let now = Instant::now();
            let waited = now - started;
            // A known reset further away than `max_wait`: give up now rather than park.
            if let Some(u) = until
                && u.saturating_duration_since(now) > max_wait
            {
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(u.saturating_duration_since(now)),
                    message: format!(
                        "Discord's {} rate limit is used up for the next {:.1}s",
                        op.as_str(),
                        u.saturating_duration_since(now).as_secs_f64()
                    ),
                });
            }
            // Waiting on requests in flight (or a reset that kept moving) for too long.
            if waited > max_wait * 2 {
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(Duration::from_secs(1)),
                    message: format!("Discord's {} rate limit is busy", op.as_str()),
                });
            }
            // Wake at the reset, when a response updates the gate, or after a short while.
            let sleep_for = until
                .map(|u| u.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(250))
                .min(Duration::from_millis(250));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(sleep_for) => {}
            }
        }
    }

    /// A ticket, or when to look again (`None`: when a request in flight finishes).
    fn try_acquire(
        &self,
        bot: u64,
        op: Op,
        major: u64,
        now: Instant,
    ) -> Result<Ticket, Option<Instant>> {
        let mut s = self.state.lock();
        let global = s.global.entry(bot).or_default();
        global.check(self.global_limit, now)?;
        let bucket = Self::take_route(&mut s, bot, op, major, now)?;
        s.global.entry(bot).or_default().in_flight += 1;
        Ok(Ticket {
            bot,
            op,
            major,
            bucket,
        })
    }

    /// The route's share of a grant: a probe while its bucket is unknown (`None`), else one of
    /// the bucket's remaining requests.
    fn take_route(
        s: &mut GateState,
        bot: u64,
        op: Op,
        major: u64,
        now: Instant,
    ) -> Result<Option<Arc<str>>, Option<Instant>> {
        let Some((hash, limit)) = s.routes.get(&(bot, op)).cloned() else {
            let probes = s.probes.entry((bot, op, major)).or_default();
            if *probes > 0 {
                return Err(None);
            }
            *probes += 1;
            return Ok(None);
        };
        let b = s
            .buckets
            .entry((bot, hash.clone(), major))
            .or_insert_with(|| Bucket {
                limit,
                remaining: limit,
                reset_at: now,
                in_flight: 0,
            });
        if now >= b.reset_at {
            // The window is over (a sliding one is empty, a fixed one rolled over).
            b.remaining = b.limit.saturating_sub(b.in_flight);
        }
        if b.remaining == 0 {
            return Err(if b.reset_at > now {
                Some(b.reset_at)
            } else {
                None
            });
        }
        b.remaining -= 1;
        b.in_flight += 1;
        Ok(Some(hash))
    }

    fn release(s: &mut GateState, t: &Ticket, now: Instant) {
        if let Some(g) = s.global.get_mut(&t.bot) {
            g.in_flight = g.in_flight.saturating_sub(1);
            g.frees_at.push_back(now + GLOBAL_PERIOD);
        }
        match &t.bucket {
            None => {
                if let Some(p) = s.probes.get_mut(&(t.bot, t.op, t.major)) {
                    *p = p.saturating_sub(1);
                    if *p == 0 {
                        s.probes.remove(&(t.bot, t.op, t.major));
                    }
                }
            }
            Some(h) => {
                if let Some(b) = s.buckets.get_mut(&(t.bot, h.clone(), t.major)) {
                    b.in_flight = b.in_flight.saturating_sub(1);
                }
            }
        }
    }

    fn complete(&self, t: Ticket, headers: Option<Headers>) {
        let now = Instant::now();
        {
            let mut s = self.state.lock();
            Self::release(&mut s, &t, now);
            if let Some(h) = headers {
                s.routes.insert((t.bot, t.op), (h.bucket.clone(), h.limit));
                let reset_at = now + h.reset_after;
                let b = s
                    .buckets
                    .entry((t.bot, h.bucket, t.major))
                    .or_insert_with(|| Bucket {
                        limit: h.limit,
                        remaining: h.remaining,
                        reset_at,
                        in_flight: 0,
                    });
                let estimate = h.remaining.saturating_sub(b.in_flight);
                b.remaining = if now >= b.reset_at {
                    estimate
                } else {
                    b.remaining.min(estimate)
                };
                b.limit = h.limit;
                b.reset_at = b.reset_at.max(reset_at);
                if s.buckets.len() > 50_000 {
                    s.buckets.retain(|_, b| b.in_flight > 0 || b.reset_at > now);
                }
                if s.global.len() > 10_000 {
                    s.global.retain(|_, g| {
                        g.in_flight > 0 || g.frees_at.back().is_some_and(|t| *t > now)
                    });
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// A call failed; `limited` is the wait a 429 asked for.
    fn fail(&self, t: Ticket, limited: Option<Duration>) {
        let now = Instant::now();
        {
            let mut s = self.state.lock();
            Self::release(&mut s, &t, now);
            if let Some(wait) = limited {
                let hash = t
                    .bucket
                    .clone()
                    .or_else(|| s.routes.get(&(t.bot, t.op)).map(|(h, _)| h.clone()));
                if let Some(h) = hash {
                    let limit = s.routes.get(&(t.bot, t.op)).map_or(1, |(_, l)| *l);
                    let b = s.buckets.entry((t.bot, h, t.major)).or_insert(Bucket {
                        limit,
                        remaining: 0,
                        reset_at: now,
                        in_flight: 0,
                    });
                    b.remaining = 0;
                    b.reset_at = b.reset_at.max(now + wait);
                }
            }
        }
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(bucket: &str, limit: u32, remaining: u32, reset_after_ms: u64) -> Headers {
        Headers {
            bucket: Arc::from(bucket),
            limit,
            remaining,
            reset_after: Duration::from_millis(reset_after_ms),
        }
    }

    #[test]
    fn unknown_route_allows_one_probe_per_major() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::ModifyMember, 10, now).expect("first");
        assert!(g.try_acquire(1, Op::ModifyMember, 10, now).is_err());
        // Another guild, or another bot, probes on its own.
        let other = g
            .try_acquire(1, Op::ModifyMember, 11, now)
            .expect("other guild");
        let bot2 = g
            .try_acquire(2, Op::ModifyMember, 10, now)
            .expect("other bot");
        g.complete(t, None);
        let again = g
            .try_acquire(1, Op::ModifyMember, 10, now)
            .expect("after completion");
        g.complete(again, None);
        g.complete(other, None);
        g.complete(bot2, None);
    }

    #[test]
    fn known_bucket_grants_remaining_then_waits_for_reset() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::ModifyMember, 10, now).expect("probe");
        g.complete(t, Some(headers("b1", 10, 7, 5_000)));
        let mut granted = Vec::new();
        while let Ok(t) = g.try_acquire(1, Op::ModifyMember, 10, Instant::now()) {
            granted.push(t);
        }
        assert_eq!(
            granted.len(),
            7,
            "exactly the remaining requests are granted"
        );
        let until = g
            .try_acquire(1, Op::ModifyMember, 10, Instant::now())
            .expect_err("exhausted")
            .expect("a reset time");
        assert!(until > Instant::now() + Duration::from_millis(4_000));
        // Another guild has its own counter under the same bucket, starting full.
        let mut other = 0;
        while g
            .try_acquire(1, Op::ModifyMember, 11, Instant::now())
            .is_ok()
        {
            other += 1;
        }
        assert_eq!(other, 10);
        // Past the reset, the window is full again minus what is still in flight.
        let later = until + Duration::from_millis(1);
        let mut after = 0;
        while g.try_acquire(1, Op::ModifyMember, 10, later).is_ok() {
            after += 1;
        }
        assert_eq!(after, 10 - 7, "seven requests are still in flight");
    }

    #[test]
    fn responses_never_raise_the_count_within_a_window() {
        let g = Gate::default();
        let now = Instant::now();
        let t = g.try_acquire(1, Op::AddRole, 5, now).expect("probe");
        g.complete(t, Some(headers("b", 10, 9, 10_000)));
        let a = g.try_acquire(1, Op::AddRole, 5, Instant::now()).expect("a");
        let b = g.try_acquire(1, Op::AddRole, 5, Instant::now()).expect("b");
        // A late response that says 9 remain must not undo the two grants since.
        g.complete(a, Some(headers("b", 10, 8, 10_000)));
        let s = g.state.lock();
        let bucket = s.buckets.get(&(1, Arc::from("b"), 5)).expect("bucket");
        assert_eq!(bucket.remaining, 7, "8 per the server minus 1 in flight");
        drop(s);
        g.complete(b, None);
    }

    #[test]
    fn a_429_closes_the_bucket_for_its_wait() {
        let g = Gate::default();
        let t = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect("probe");
        g.complete(t, Some(headers("m", 5, 4, 1_000)));
        let t = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect("grant");
        g.fail(t, Some(Duration::from_secs(3)));
        let until = g
            .try_acquire(1, Op::GetMember, 5, Instant::now())
            .expect_err("closed")
            .expect("until");
        assert!(until > Instant::now() + Duration::from_millis(2_500));
    }

    #[tokio::test]
    async fn acquire_gives_up_rather_than_wait_past_max_wait() {
        let g = Gate::default();
        let t = g
            .try_acquire(1, Op::ListMembers, 5, Instant::now())
            .expect("probe");
        g.complete(t, Some(headers("l", 1, 0, 30_000)));
        match g
            .acquire(1, Op::ListMembers, 5, Duration::from_secs(1))
            .await
        {
            Err(UpstreamError::RateLimited { retry_after, .. }) => {
                assert!(retry_after.expect("hint") > Duration::from_secs(25));
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn the_global_limit_holds_a_slot_for_a_second_after_the_response() {
        let g = Gate::new(3);
        let now = Instant::now();
        // Three different routes: the bucket gate would grant each.
        let a = g.try_acquire(1, Op::GetGuild, 5, now).expect("a");
        let b = g.try_acquire(1, Op::GetMember, 5, now).expect("b");
        let c = g.try_acquire(1, Op::ListRoles, 5, now).expect("c");
        assert_eq!(
            g.try_acquire(1, Op::ModifyMember, 5, now)
                .expect_err("full"),
            None,
            "all three in flight: wait for one to finish"
        );
        // Another bot has its own slots.
        let other = g.try_acquire(2, Op::GetGuild, 5, now).expect("other bot");
        g.complete(a, None);
        // Finished, but Discord may have counted it as late as now: still held.
        let until = g
            .try_acquire(1, Op::ModifyMember, 5, Instant::now())
            .expect_err("held")
            .expect("frees at a known time");
        assert!(until >= Instant::now() + Duration::from_millis(900));
        let d = g
            .try_acquire(1, Op::ModifyMember, 5, until)
            .expect("free a second after the response");
        // A failed or dropped request holds its slot the same way.
        g.fail(b, None);
        drop(Held {
            gate: &g,
            ticket: Some(c),
        });
        let s = g.state.lock();
        let slots = s.global.get(&1).expect("bot 1");
        assert_eq!(slots.in_flight, 1, "only d is in flight");
        assert_eq!(slots.frees_at.len(), 2, "b and c hold theirs; a's is free");
        drop(s);
        g.complete(d, None);
        g.complete(other, None);
    }

    #[test]
    fn fingerprints_differ_and_hide_the_token() {
        assert_ne!(fingerprint("a.b.c"), fingerprint("a.b.d"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            parse_error(br#"{"message": "Unknown Member", "code": 10007}"#),
            ("10007".to_owned(), "Unknown Member".to_owned())
        );
        assert_eq!(parse_error(b"<html>").0, "0");
    }
}
