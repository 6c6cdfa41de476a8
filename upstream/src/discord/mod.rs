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
use sha2::{Digest, Sha256};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_http::request::AuditLogReason;
use twilight_http::response::{Response, ResponseFuture};
use twilight_model::id::Id;
use twilight_model::id::marker::{RoleMarker, UserMarker};

use crate::UpstreamError;

mod gate;
mod model;

use gate::{Gate, Headers, Held};
pub use model::{DiscordApi, GuildInfo, Member, Role, codes, permissions};

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
            icon: g.icon.map(|h| h.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

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
