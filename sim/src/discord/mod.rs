//! A Discord REST v10 simulator for the operations Roster uses.
//!
//! # What it simulates
//!
//! Thirteen operations of the HTTP API under `/api/v10`, as the official OpenAPI file
//! (`discord/discord-api-spec`, `specs/openapi.json`), the developer docs (`discord/discord-api-docs`) and the
//! research notes (`upstream-apis.md` §5, §6, §7.3) describe them:
//!
//! | route | method and path | success |
//! |---|---|---|
//! | [`Route::GetCurrentUser`] | `GET /users/@me` | 200 `UserPIIResponse` |
//! | [`Route::GetGuild`] | `GET /guilds/{guild_id}` (`with_counts`) | 200 `GuildWithCountsResponse` |
//! | [`Route::ListRoles`] | `GET /guilds/{guild_id}/roles` | 200 `[GuildRoleResponse]` |
//! | [`Route::GetMember`] | `GET /guilds/{guild_id}/members/{user_id}` | 200 `GuildMemberResponse` |
//! | [`Route::ListMembers`] | `GET /guilds/{guild_id}/members` (`limit`, `after`) | 200 `[GuildMemberResponse]` |
//! | [`Route::ModifyMember`] | `PATCH /guilds/{guild_id}/members/{user_id}` (`nick`, `roles`) | 200 `GuildMemberResponse` |
//! | [`Route::AddMemberRole`] | `PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}` | 204 |
//! | [`Route::RemoveMemberRole`] | `DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}` | 204 |
//! | [`Route::CreateBan`] | `PUT /guilds/{guild_id}/bans/{user_id}` | 204 |
//! | [`Route::RemoveBan`] | `DELETE /guilds/{guild_id}/bans/{user_id}` | 204 |
//! | [`Route::GetBan`] | `GET /guilds/{guild_id}/bans/{user_id}` | 200 `GuildBanResponse` |
//! | [`Route::CreateDm`] | `POST /users/@me/channels` (`recipient_id`) | 200 `PrivateChannelResponse` |
//! | [`Route::CreateMessage`] | `POST /channels/{channel_id}/messages` (`content`, `embeds`) | 200 `MessageResponse` |
//!
//! Ids are strings, times are ISO 8601 with `+00:00`, users carry `discriminator: "0"`, and every field the
//! schemas mark required is present (null where the simulator has nothing to say). The crate's tests validate every
//! 2xx body they see against the spec when it is found (`ROSTER_UPSTREAM_SPECS`, else `../shared/upstream-specs`). Errors are `{"message", "code"}`, plus an
//! `errors` tree for `50035 Invalid Form Body`, as the docs show them.
//!
//! # Request pipeline
//!
//! Every request outside `/_sim` goes through these steps, in order:
//!
//! 1. the configured latency ([`DiscordSimConfig::latency`]);
//! 2. the edge (Cloudflare in front of Discord): a client IP in ban mode gets the HTML ban page (see the invalid
//!    request limit below); a request without a `User-Agent` gets a Cloudflare `1010` page;
//! 3. routing: only `/api/v10/...` exists. An unknown path is 404 `{"message": "404: Not Found", "code": 0}`; a known
//!    path with another method is 405 `{"message": "405: Method Not Allowed", "code": 0}`;
//! 4. authentication: `Authorization: Bot <token>` naming a bot registered with [`DiscordSim::add_bot`], else 401
//!    `{"message": "401: Unauthorized", "code": 0}`;
//! 5. the global limit ([`DiscordSimConfig::global_limit_per_sec`] per bot, a fixed one-second window);
//! 6. the route's bucket ([`DiscordSimConfig::route_limits`]), counted per (bot, bucket, major parameter). From here
//!    on every response carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`, `-Reset-After` and `-Bucket`;
//! 7. fault injection ([`FaultRule`]), after the request was counted (a gateway counts before the backend fails);
//! 8. the request itself: path ids, query, `Content-Type` and body, `X-Audit-Log-Reason`, then the operation's own
//!    checks (guild, access, member, role, permission, hierarchy) in that order.
//!
//! Every such request is recorded in the request log ([`LogEntry`]) with its URL-decoded audit-log reason, rejected
//! ones included; a request the client abandons is logged with status 499. The log keeps the latest 100,000 entries.
//! Responses with status 401, 403 or 429 (except `shared`-scope 429s) count towards the invalid-request limit.
//!
//! # Rate limits
//!
//! Each [`Route`] has a [`RouteLimit`]: `limit` requests per `window`, a [`WindowKind`] and an opaque `bucket` hash.
//! Routes with the same hash share one counter, and counters are kept per bot and per major parameter (the guild id
//! for `/guilds/...`, the channel id for `/channels/...`, none for `/users/@me...`), so exhausting a bucket in one
//! guild leaves another guild's untouched. The defaults, with their sources:
//!
//! | route | limit / window | kind | source |
//! |---|---|---|---|
//! | `GetMember` | 5 / 1 s | sliding | observed: hata `rate_limit.py` (`guild_user_get`); a public table collected 2020-05-07 (`guild_member`) |
//! | `ListMembers` | 10 / 10 s | sliding | observed: hata (`guild_user_get_chunk`) |
//! | `ModifyMember` | 10 / 10 s | sliding | observed: hata (`user_edit`); the 2020 table (`modify_guild_member`) |
//! | `AddMemberRole`, `RemoveMemberRole` | 10 / 10 s, one shared bucket `b0bb9027ff6ae0c9619c2719f4a24de5` | fixed | observed: [D9] (limit 10, fixed window, that bucket hash); the 2020 table (one bucket for both, 10 per 10 000 ms); hata |
//! | `CreateMessage` | 5 / 4 s per channel | sliding | observed: hata (`message_create`, reset after 4.0) |
//! | `GetCurrentUser`, `GetGuild`, `ListRoles`, `CreateBan`, `RemoveBan`, `GetBan`, `CreateDm` | 50 / 1 s | sliding | none: no per-route limit has been observed publicly (hata marks them optimistic or unlimited, the 2020 table "global only"); a placeholder equal to the global limit, so in practice only the global limit binds |
//!
//! Bucket hashes other than [D9]'s are invented. Windows: since 2022 most routes use sliding windows, while the member
//! role routes still use a fixed one [D9]. A **fixed** window starts with the first request after the previous one
//! ended; `Reset-After` counts down to its end. A **sliding** window is modelled as a leaky bucket (GCRA) of capacity
//! `limit` that frees one slot every `window / limit`: `Reset-After` is the moving time until the bucket is empty
//! again, and a 429's `retry_after` is the time until one slot frees ([D9] quotes the announcement: "the
//! X-RateLimit-Reset-After is now a moving timestamp", "the Retry-After is the next time that you'll have 1 resource
//! available").
//!
//! The three 429 shapes follow the rate-limit docs: `user` scope (`"You are being rate limited."`, all bucket
//! headers with `Remaining: 0`, `X-RateLimit-Scope: user`), `shared` scope (`"The resource is being rate limited."`,
//! the bucket's real `Remaining`, not counted as invalid; only a [`FaultAction::RateLimit`] produces it) and `global`
//! scope (`Retry-After`, `X-RateLimit-Global: true` and `X-RateLimit-Scope: global` only; body `"global": true`).
//! `Retry-After` is always `ceil(retry_after)` (whole seconds, at least 1). `X-RateLimit-Reset` is epoch seconds with
//! millisecond precision and `X-RateLimit-Reset-After` decimal seconds, both with three decimals.
//!
//! # Decisions where upstream is unverified
//!
//! - **`X-RateLimit-Scope` only on 429s**, as the docs say ("Returned only on HTTP 429 responses"). twilight-http
//!   0.18 reads the bucket headers only when that header is present (`user` or `shared`), so against a doc-faithful
//!   server it learns a bucket only from its first 429, and every bucket overflow costs one 429 that counts towards
//!   the invalid-request limit. [`DiscordSimConfig::scope_on_every_response`] sends `X-RateLimit-Scope: user` on
//!   every response instead, for the other reading.
//! - **429 bodies have no `code`**, as in the docs' examples, although the OpenAPI `RatelimitedResponse` schema
//!   requires one (a known spec defect: discord/discord-api-spec#24).
//! - **Missing `User-Agent`** (absent or blank): 403 with a Cloudflare `1010` HTML page (the docs: requests without a
//!   valid User-Agent "may be blocked and return a Cloudflare error"). Any non-blank value is accepted: the docs ask
//!   for `DiscordBot ($url, $versionNumber)` but Discord's enforcement of the format is unknown. Not counted as an
//!   invalid request (Discord never sees it).
//! - **Invalid-request ban mode**: once [`DiscordSimConfig::invalid_request_limit`] responses with status 401, 403 or
//!   429 (not `shared`) went to one client IP within a window of [`DiscordSimConfig::invalid_request_window`]
//!   (which starts with the first such response), every later request from that IP until the window ends gets
//!   **429 with a non-JSON Cloudflare `1015` page** (`content-type: text/html`, `Retry-After` = seconds left, no
//!   `X-RateLimit-*` headers). The ban page's shape is undocumented; discord.py treats a 429 whose body is not JSON as
//!   a Cloudflare ban, which is what this mimics. Ban-page answers are not counted again.
//! - **Content-Type**: a request with a non-empty body needs `application/json` (parameters such as `charset`
//!   allowed), else 400 50035 with a request-level `CONTENT_TYPE_INVALID` error (the docs: "Failing to do so will
//!   result in a 50035"). The form types Discord also accepts are refused too: the simulator speaks JSON only. A
//!   body that is not JSON is 400 **50109** "The request body contains invalid JSON." (a documented code). An empty
//!   body needs no Content-Type and reads as `{}`.
//! - **Field errors** in `errors` use the docs' tree shape (`{"field": {"0": {"_errors": [{"code", "message"}]}}}`,
//!   `_errors` at the top for request-level errors). The codes are those seen in Discord's answers
//!   (`BASE_TYPE_REQUIRED`, `BASE_TYPE_MAX_LENGTH`, `BASE_TYPE_BAD_LENGTH`, `BASE_TYPE_STRING`, `BASE_TYPE_BOOLEAN`,
//!   `BASE_TYPE_ARRAY`, `BASE_TYPE_CHOICES`, `NUMBER_TYPE_COERCE`, `NUMBER_TYPE_MIN`, `NUMBER_TYPE_MAX`,
//!   `DICT_TYPE_CONVERT`, `SET_TYPE_ALREADY_CONTAINS_VALUE`, `URL_TYPE_INVALID_URL`, `DATE_TIME_TYPE_PARSE`), plus
//!   the simulator's own `CONTENT_TYPE_INVALID`, `UNKNOWN_QUERY_PARAMETER`, `DUPLICATE_QUERY_PARAMETER` and
//!   `UNSUPPORTED_BY_SIMULATOR`; which code Discord picks in each case, and every message, are unverified. (The
//!   OpenAPI file types these item codes as integers; the docs' examples, followed here, use strings.) Path ids that
//!   are not snowflakes are 400 50035 `NUMBER_TYPE_COERCE` naming the parameter. Fields the schema defines but the
//!   simulator does not model (voice, timeouts, stickers, components, polls, replies, group DMs, embed images) are
//!   400 50035 `UNSUPPORTED_BY_SIMULATOR`, never silently ignored; unknown fields are ignored, as Discord does.
//!   Unknown or repeated query parameters are 400 50035 (Discord probably ignores them; refusing them surfaces a
//!   misspelt parameter, as the Roblox simulator does).
//! - **X-Audit-Log-Reason** is URL-decoded the way Python's `urllib.parse.unquote` does (Discord's API is Python):
//!   malformed escapes stay as they are, invalid UTF-8 becomes U+FFFD, `+` stays `+`. An empty value means no
//!   reason. Over 512 characters (after decoding) is 400 50035 with an `audit_log_reason` `BASE_TYPE_MAX_LENGTH` error
//!   (observed 400s: discord-api-docs#811, xelA/bucket#5). The reason is logged for every route and stored as a
//!   ban's `reason`.
//! - **Guild access**: an unknown guild is 404 10004; a guild the bot is not a member of is 403 50001 "Missing
//!   Access".
//! - **Permissions**: the bot's permissions are the union of `@everyone`'s and its roles' bits; `ADMINISTRATOR`
//!   implies all, and a bot that owns the guild has all permissions and outranks everyone. The bot's "highest role" is
//!   the highest position among its roles (`@everyone` = 0). Role positions are unique within a guild (the seed
//!   checks), so comparisons never tie.
//! - **Role add/remove** (`PUT`/`DELETE .../roles/{r}`): checks, in order: guild, access, member (10007), role
//!   (10011; `@everyone` counts as unknown: it is never in a member's list), `MANAGE_ROLES`, managed role (403
//!   50013), role position strictly below the bot's highest role (403 50013). Only the role's position matters, not
//!   the target's (the permissions doc). Adding a role the member has, or removing one they lack, is a 204 no-op
//!   once every check has passed.
//! - **Modify member**: `roles` is the full replacement set; `null` clears every role like `[]`; every listed id must
//!   be a role of the guild (404 10011), duplicates are 400 50035. `MANAGE_ROLES` is needed whenever `roles` is
//!   present; each role added or removed (not the unchanged ones) must be unmanaged and below the bot's highest role
//!   (403 50013). `nick` (1–32 characters; `null` or `""` resets): the guild owner's nickname can never be changed
//!   by a bot; another member's needs `MANAGE_NICKNAMES` and a highest role strictly below the bot's; the bot's own
//!   needs `CHANGE_NICKNAME` or `MANAGE_NICKNAMES`. All checks pass before anything changes; the answer is 200 with
//!   the member.
//! - **Bans**: need `BAN_MEMBERS`. A user the simulator has never seen is 404 10013; a user who is not a member may be
//!   banned (pre-banning); a member must not be the owner and their highest role must be strictly below the bot's
//!   (403 50013). Banning removes the member. Banning an already banned user is a 204 no-op that keeps the original
//!   reason. `delete_message_seconds` (0–604800) and `delete_message_days` (0–7) are validated and otherwise ignored
//!   (no message history is kept). Unbanning or getting a user who is not banned is 404 10026.
//! - **Members list**: requires the bot's members intent ([`DiscordSim::add_bot`]), else 403 50001. `limit` defaults
//!   to 1 and must be 1–1000, `after` (a user id, default 0) must be a non-negative integer; members come in user-id
//!   order.
//! - **DMs**: `POST /users/@me/channels` returns the same channel id for the same (bot, recipient) pair every time,
//!   even when the recipient's DMs are closed; an unknown user is 404 10013. Only DM channels exist: any other
//!   channel id, or a DM channel of another bot, is 404 10003 (checked before the body). Sending succeeds only when
//!   the recipient allows DMs ([`MemberSeed::dms_open`]) **and** shares a guild with the bot (Discord refuses DMs
//!   without a mutual guild), else 403 50007. `content` is at most 2000 characters (the docs; the spec says 4000); a
//!   message needs non-empty `content` or at least one embed, else 400 50006 "Cannot send an empty message" (a
//!   documented code). Embeds support `title`, `description`, `url`, `color`, `timestamp`, `fields`, `footer` and
//!   `author` with the docs' limits (6000 characters in all) and come back as `type: "rich"`; `nonce`, `tts`, `flags`
//!   and `allowed_mentions` are accepted (the first three echoed).
//! - **Known users** are bots and everyone ever seeded as a member; removing a member keeps the user. A user's
//!   `username`, `globalName`, `dmsOpen` and `bot` are per user: the latest seed naming them wins.
//! - **Routes** other than the thirteen are 404 even where Discord has them (`/api/v9`, kicks, channels, ...), so a
//!   client calling something the simulator does not model fails loudly.
//! - **Hang** faults answer 503 `{"message": "503: Service Unavailable", "code": 0}` when the server shuts down.
//! - **[`DiscordSimConfig::rate_limits_enabled`] = false** stops every refusal by rate (route buckets, the global
//!   limit and the ban mode); requests are still counted and the headers still sent.
//!
//! # Control API
//!
//! Everything controllable in-process is also controllable over HTTP under `/_sim` with camelCase JSON bodies (not
//! rate limited, not logged, no latency). The routes are listed on [`DiscordSim::serve`].
//!
//! [D9]: https://github.com/discord/discord-api-docs/issues/7680

mod api;
mod control;
mod error;
mod faults;
mod form;
mod log;
mod model;
mod ops;
mod rate_limit;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::reply::Response;

use crate::server::{self, Incoming};

pub use error::SimError;
pub use faults::{FaultAction, FaultRule, RateLimitScope};
pub use log::LogEntry;
pub use model::{BanSnapshot, GuildSeed, MemberSeed, MemberSnapshot, RoleSeed};

use faults::Faults;
use log::RequestLog;
use model::World;
use rate_limit::{InvalidRequests, RateLimiter};

/// How the simulator behaves; change it at run time with [`DiscordSim::update_config`] or `PATCH /_sim/config`.
#[derive(Clone, Debug)]
pub struct DiscordSimConfig {
    /// Added to every `/api` request. Default 0.
    pub latency: Duration,
    /// Requests per second per bot token across all routes. Default 50 (the rate-limit docs).
    pub global_limit_per_sec: u32,
    /// 401, 403 and non-`shared` 429 responses per client IP within [`Self::invalid_request_window`] before the
    /// simulator answers that IP with the Cloudflare ban page. Default 10,000 (the rate-limit docs).
    pub invalid_request_limit: u32,
    /// The invalid-request window. Default 10 minutes (the rate-limit docs); tests scale it down.
    pub invalid_request_window: Duration,
    /// The bucket of every [`Route`]; [`Route::default_limit`] for routes missing from the map.
    pub route_limits: HashMap<Route, RouteLimit>,
    /// Refuse requests over a limit (route, global, invalid-request ban). Default true. When false, requests are still
    /// counted and the headers sent.
    pub rate_limits_enabled: bool,
    /// Send `X-RateLimit-Scope: user` on every response with bucket headers, not only on 429s. Default false (the
    /// docs say the header comes only with 429s).
    pub scope_on_every_response: bool,
}

impl Default for DiscordSimConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            global_limit_per_sec: 50,
            invalid_request_limit: 10_000,
            invalid_request_window: Duration::from_secs(600),
            route_limits: Route::ALL
                .into_iter()
                .map(|route| (route, route.default_limit()))
                .collect(),
            rate_limits_enabled: true,
            scope_on_every_response: false,
        }
    }
}

impl DiscordSimConfig {
    /// The limit in force for `route`.
    pub fn route_limit(&self, route: Route) -> RouteLimit {
        self.route_limits
            .get(&route)
            .cloned()
            .unwrap_or_else(|| route.default_limit())
    }
}

/// How a bucket's window moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WindowKind {
    /// `limit` requests per window; the window starts with the first request after the previous one ended.
    Fixed,
    /// A leaky bucket of capacity `limit` that frees one slot every `window / limit`.
    Sliding,
}

/// One route's bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteLimit {
    /// Requests allowed per window (`X-RateLimit-Limit`). At least 1.
    pub limit: u32,
    /// The window. Longer than zero.
    pub window: Duration,
    /// Fixed or sliding.
    pub kind: WindowKind,
    /// The opaque `X-RateLimit-Bucket` hash; routes with the same hash share one counter (give them the same
    /// limit, window and kind).
    pub bucket: String,
}

impl RouteLimit {
    fn new(limit: u32, window_ms: u64, kind: WindowKind, bucket: &str) -> Self {
        Self {
            limit,
            window: Duration::from_millis(window_ms),
            kind,
            bucket: bucket.to_owned(),
        }
    }
}

/// The shared bucket of the member-role routes, as observed in [D9](https://github.com/discord/discord-api-docs/issues/7680).
pub const MEMBER_ROLE_BUCKET: &str = "b0bb9027ff6ae0c9619c2719f4a24de5";

/// The operations the simulator implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Route {
    /// `GET /users/@me`.
    GetCurrentUser,
    /// `GET /guilds/{guild_id}`.
    GetGuild,
    /// `GET /guilds/{guild_id}/roles`.
    ListRoles,
    /// `GET /guilds/{guild_id}/members/{user_id}`.
    GetMember,
    /// `GET /guilds/{guild_id}/members`.
    ListMembers,
    /// `PATCH /guilds/{guild_id}/members/{user_id}`.
    ModifyMember,
    /// `PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}`.
    AddMemberRole,
    /// `DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}`.
    RemoveMemberRole,
    /// `PUT /guilds/{guild_id}/bans/{user_id}`.
    CreateBan,
    /// `DELETE /guilds/{guild_id}/bans/{user_id}`.
    RemoveBan,
    /// `GET /guilds/{guild_id}/bans/{user_id}`.
    GetBan,
    /// `POST /users/@me/channels`.
    CreateDm,
    /// `POST /channels/{channel_id}/messages`.
    CreateMessage,
}

impl Route {
    /// Every implemented route.
    pub const ALL: [Route; 13] = [
        Route::GetCurrentUser,
        Route::GetGuild,
        Route::ListRoles,
        Route::GetMember,
        Route::ListMembers,
        Route::ModifyMember,
        Route::AddMemberRole,
        Route::RemoveMemberRole,
        Route::CreateBan,
        Route::RemoveBan,
        Route::GetBan,
        Route::CreateDm,
        Route::CreateMessage,
    ];

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Route::GetCurrentUser
            | Route::GetGuild
            | Route::ListRoles
            | Route::GetMember
            | Route::ListMembers
            | Route::GetBan => "GET",
            Route::ModifyMember => "PATCH",
            Route::AddMemberRole | Route::CreateBan => "PUT",
            Route::RemoveMemberRole | Route::RemoveBan => "DELETE",
            Route::CreateDm | Route::CreateMessage => "POST",
        }
    }

    /// The path template (below `/api/v10`) exactly as the spec's `paths` key spells it.
    pub fn path_template(self) -> &'static str {
        match self {
            Route::GetCurrentUser => "/users/@me",
            Route::GetGuild => "/guilds/{guild_id}",
            Route::ListRoles => "/guilds/{guild_id}/roles",
            Route::GetMember | Route::ModifyMember => "/guilds/{guild_id}/members/{user_id}",
            Route::ListMembers => "/guilds/{guild_id}/members",
            Route::AddMemberRole | Route::RemoveMemberRole => {
                "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
            }
            Route::CreateBan | Route::RemoveBan | Route::GetBan => {
                "/guilds/{guild_id}/bans/{user_id}"
            }
            Route::CreateDm => "/users/@me/channels",
            Route::CreateMessage => "/channels/{channel_id}/messages",
        }
    }

    /// The spec's `operationId`.
    pub fn operation_id(self) -> &'static str {
        match self {
            Route::GetCurrentUser => "get_my_user",
            Route::GetGuild => "get_guild",
            Route::ListRoles => "list_guild_roles",
            Route::GetMember => "get_guild_member",
            Route::ListMembers => "list_guild_members",
            Route::ModifyMember => "update_guild_member",
            Route::AddMemberRole => "add_guild_member_role",
            Route::RemoveMemberRole => "delete_guild_member_role",
            Route::CreateBan => "ban_user_from_guild",
            Route::RemoveBan => "unban_user_from_guild",
            Route::GetBan => "get_guild_ban",
            Route::CreateDm => "create_dm",
            Route::CreateMessage => "create_message",
        }
    }

    /// The status of a successful answer (204 means no body).
    pub fn success_status(self) -> u16 {
        match self {
            Route::AddMemberRole
            | Route::RemoveMemberRole
            | Route::CreateBan
            | Route::RemoveBan => 204,
            _ => 200,
        }
    }

    /// The default bucket; the module doc lists each number's source.
    pub fn default_limit(self) -> RouteLimit {
        use WindowKind::{Fixed, Sliding};
        match self {
            Route::GetMember => {
                RouteLimit::new(5, 1_000, Sliding, "80c17d2f203122d936070c88c8d10f33")
            }
            Route::ListMembers => {
                RouteLimit::new(10, 10_000, Sliding, "8e8e7a5c1bd4d1b2f6f3ab2d1c3f9e41")
            }
            Route::ModifyMember => {
                RouteLimit::new(10, 10_000, Sliding, "3d6f8f24c7a2b2a5b0f5f1a3c7e9d2b8")
            }
            Route::AddMemberRole | Route::RemoveMemberRole => {
                RouteLimit::new(10, 10_000, Fixed, MEMBER_ROLE_BUCKET)
            }
            Route::CreateMessage => {
                RouteLimit::new(5, 4_000, Sliding, "b1c8e2f3a4d5c6b7a8f9e0d1c2b3a4f5")
            }
            Route::GetCurrentUser => {
                RouteLimit::new(50, 1_000, Sliding, "5f2a1e9c3b7d4e8f6a0b2c4d6e8f0a1b")
            }
            Route::GetGuild => {
                RouteLimit::new(50, 1_000, Sliding, "c4e1a9f7b3d5e2c8a6f0b4d2e8c1a7f3")
            }
            Route::ListRoles => {
                RouteLimit::new(50, 1_000, Sliding, "9a7c5e3b1d8f6a4c2e0b9d7f5a3c1e8b")
            }
            Route::CreateBan => {
                RouteLimit::new(50, 1_000, Sliding, "e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1")
            }
            Route::RemoveBan => {
                RouteLimit::new(50, 1_000, Sliding, "f1d3b5a7c9e0f2d4b6a8c0e1f3d5b7a9")
            }
            Route::GetBan => {
                RouteLimit::new(50, 1_000, Sliding, "a8c6e4b2d0f9a7c5e3b1d9f7a5c3e1b0")
            }
            Route::CreateDm => {
                RouteLimit::new(50, 1_000, Sliding, "d9b7f5a3c1e8b6d4f2a0c9e7b5d3f1a2")
            }
        }
    }
}

struct Inner {
    config: RwLock<DiscordSimConfig>,
    world: Mutex<World>,
    /// Bot token (without `Bot `) → the bot's user id.
    bots: RwLock<HashMap<String, u64>>,
    limiter: Mutex<RateLimiter>,
    invalid: Mutex<InvalidRequests>,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
}

/// Cheap-to-clone handle to one simulator's shared state. Serve it with [`DiscordSim::serve`] (as many times as you
/// like: every server shares the state) and control it through the methods below or the `/_sim` routes.
#[derive(Clone)]
pub struct DiscordSim {
    inner: Arc<Inner>,
}

impl fmt::Debug for DiscordSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordSim")
            .field("config", &*self.inner.config.read())
            .finish_non_exhaustive()
    }
}

impl DiscordSim {
    /// A simulator with no guilds, no bots and no faults.
    pub fn new(config: DiscordSimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                world: Mutex::new(World::default()),
                bots: RwLock::new(HashMap::new()),
                limiter: Mutex::new(RateLimiter::default()),
                invalid: Mutex::new(InvalidRequests::default()),
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Serves on `addr` (use `127.0.0.1:0` in tests) until `shutdown` resolves. Returns the bound address at once and
    /// the server task, which ends once in-flight requests are answered (hanging ones get 503).
    ///
    /// Besides `/api/v10`, the server answers the control API (camelCase JSON; errors are `{"error": "..."}`):
    ///
    /// | route | body | answer |
    /// |---|---|---|
    /// | `POST /_sim/guilds` | [`GuildSeed`] | 204; 400 on an invalid seed |
    /// | `POST /_sim/guilds/{g}/roles` | [`RoleSeed`] | 204; 404 no such guild; 400 invalid role (`@everyone`'s id, a used id or position, a bad name) |
    /// | `PATCH /_sim/guilds/{g}/roles/{r}` | `{"name"}` | 204; 404 no such guild or role (`@everyone` included); 400 bad name |
    /// | `DELETE /_sim/guilds/{g}/roles/{r}` | | 204, the role also taken from its members; 404 no such guild or role (`@everyone` included) |
    /// | `GET /_sim/guilds/{g}/members/{u}` | | 200 [`MemberSnapshot`]; 404 if not a member or no such guild |
    /// | `PUT /_sim/guilds/{g}/members/{u}` | [`MemberSeed`] (its `userId` must be `u`) | 200 [`MemberSnapshot`]; 404 no such guild; 400 invalid member |
    /// | `DELETE /_sim/guilds/{g}/members/{u}` | | 204 (also when not a member) |
    /// | `PUT /_sim/guilds/{g}/members/{u}/roles` | `{"roleIds": [..]}` | 200 [`MemberSnapshot`]; 404 no such guild or member; 400 unknown role |
    /// | `GET /_sim/guilds/{g}/bans` | | 200 `[`[`BanSnapshot`]`, ..]` |
    /// | `POST /_sim/bots` | `{"token", "userId", "username", "membersIntent"?}` | 204 |
    /// | `GET /_sim/users/{u}/dms` | | 200 `["content", ..]`, the messages sent to the user |
    /// | `PUT /_sim/users/{u}/dms` | `{"open": bool}` | 204; 404 unknown user |
    /// | `POST /_sim/faults` | [`FaultRule`] | 200 `{"id": n}` |
    /// | `DELETE /_sim/faults` | | 204 |
    /// | `GET /_sim/log?since=N` | | 200 `[`[`LogEntry`]`, ..]`, entries with `seq > N` (all without `since`) |
    /// | `DELETE /_sim/log` | | 204 |
    /// | `DELETE /_sim/rate-limits` | | 204, every bucket, global window and invalid-request counter forgotten |
    /// | `GET /_sim/config` | | 200, the config in the `PATCH` shape with every field |
    /// | `PATCH /_sim/config` | `{"latencyMs"?, "globalLimitPerSec"?, "invalidRequestLimit"?, "invalidRequestWindowMs"?, "rateLimitsEnabled"?, "scopeOnEveryResponse"?, "routeLimits"?: {"<route>": {"limit", "windowMs", "kind", "bucket"}}}` | 200, the new config; `routeLimits` replaces the listed routes only |
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let sim = self.clone();
        server::serve(addr, shutdown, move |incoming, cancel| {
            let sim = sim.clone();
            async move { sim.dispatch(incoming, cancel).await }
        })
        .await
    }

    async fn dispatch(&self, incoming: Incoming, cancel: CancellationToken) -> Response {
        if incoming.path == "/_sim" || incoming.path.starts_with("/_sim/") {
            control::handle(self, &incoming)
        } else {
            api::handle(self, incoming, &cancel).await
        }
    }

    /// Registers a bot: its token (sent as `Authorization: Bot <token>`), its user, and whether it has the privileged
    /// members intent (needed to list members). Registering a token again replaces it. To act in a guild the bot
    /// must also be a member of it (a [`MemberSeed`] with its user id and the roles that give it permissions).
    pub fn add_bot(&self, token: &str, user_id: u64, username: &str, members_intent: bool) {
        self.inner
            .world
            .lock()
            .add_bot_user(user_id, username, members_intent);
        self.inner.bots.write().insert(token.to_owned(), user_id);
    }

    /// Creates a guild, replacing one with the same id (roles, members and bans). The rules are on [`GuildSeed`].
    pub fn seed_guild(&self, seed: GuildSeed) -> Result<(), SimError> {
        self.inner.world.lock().seed_guild(seed)
    }

    /// Creates a role in a seeded guild (as an admin would in Discord's client), under the rules on [`GuildSeed`]: not
    /// `@everyone`, an unused id, a 1–100 character name, a position of at least 1 that no other role of the guild
    /// holds. Nobody holds the new role.
    pub fn add_role(&self, guild: u64, role: RoleSeed) -> Result<(), SimError> {
        self.inner.world.lock().add_role(guild, role)
    }

    /// Renames a role (not `@everyone`); the name is 1–100 characters.
    pub fn rename_role(&self, guild: u64, role: u64, name: &str) -> Result<(), SimError> {
        self.inner.world.lock().rename_role(guild, role, name)
    }

    /// Deletes a role (not `@everyone`) and removes it from every member who held it.
    pub fn remove_role(&self, guild: u64, role: u64) -> Result<(), SimError> {
        self.inner.world.lock().remove_role(guild, role)
    }

    /// Replaces a member's roles (not `@everyone`, which every member holds implicitly).
    pub fn set_member_roles(&self, guild: u64, user: u64, roles: &[u64]) -> Result<(), SimError> {
        self.inner.world.lock().set_member_roles(guild, user, roles)
    }

    /// Adds a member to a guild, or replaces the member with that user id (keeping their join time).
    pub fn add_member(&self, guild: u64, member: MemberSeed) -> Result<(), SimError> {
        self.inner.world.lock().add_member(guild, member)
    }

    /// Removes a member from a guild (nothing happens if they are not one). The user stays known.
    pub fn remove_member(&self, guild: u64, user: u64) {
        self.inner.world.lock().remove_member(guild, user);
    }

    /// The member's roles and nickname; `None` when the user is not a member (or the guild does not exist).
    pub fn member(&self, guild: u64, user: u64) -> Option<MemberSnapshot> {
        self.inner.world.lock().member_snapshot(guild, user)
    }

    /// The guild's bans, by user id; empty when the guild does not exist.
    pub fn bans(&self, guild: u64) -> Vec<BanSnapshot> {
        self.inner.world.lock().ban_snapshots(guild)
    }

    /// The contents of every message sent to the user's DM channels (from any bot), oldest first.
    pub fn direct_messages(&self, user: u64) -> Vec<String> {
        self.inner.world.lock().direct_messages(user)
    }

    /// Opens or closes a known user's DMs (see [`MemberSeed::dms_open`]).
    pub fn set_dms_open(&self, user: u64, open: bool) -> Result<(), SimError> {
        self.inner.world.lock().set_dms_open(user, open)
    }

    /// Installs a fault rule and returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.inner.faults.lock().add(rule)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.faults.lock().clear();
    }

    /// Every logged request still held, oldest first.
    pub fn log(&self) -> Vec<LogEntry> {
        self.inner.log.lock().since(0)
    }

    /// Empties the request log (sequence numbers keep increasing).
    pub fn clear_log(&self) {
        self.inner.log.lock().clear();
    }

    /// Forgets every bucket, global window and invalid-request counter (ending any ban mode).
    pub fn reset_rate_limits(&self) {
        *self.inner.limiter.lock() = RateLimiter::default();
        *self.inner.invalid.lock() = InvalidRequests::default();
    }

    /// Changes the configuration; takes effect for the next request.
    pub fn update_config(&self, f: impl FnOnce(&mut DiscordSimConfig)) {
        f(&mut self.inner.config.write());
    }

    fn config(&self) -> DiscordSimConfig {
        self.inner.config.read().clone()
    }

    fn bot_user(&self, token: &str) -> Option<u64> {
        self.inner.bots.read().get(token).copied()
    }

    fn log_since(&self, seq: u64) -> Vec<LogEntry> {
        self.inner.log.lock().since(seq)
    }
}
