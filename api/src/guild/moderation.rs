//! Moderation: the ban/mute status checks game servers make on every join (the hot path: an
//! in-memory index, no store read), the active lists, and the pushes from game servers.

use roster_core::clock::WholeSeconds;
use roster_core::moderation::{self, Identifier, ModKind, ModRecord, NewRecord, Source};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Caller, GuildError, GuildResult, authenticate, body, ok, ok_msg, opt_id, opt_str};
use crate::http::Request;
use crate::state::AppState;

fn place_param(req: &Request) -> Result<Option<u64>, GuildError> {
    match req.query.get("place_id") {
        None => Ok(None),
        Some(p) if p.is_empty() => Ok(None),
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| GuildError::bad("`place_id` must be a positive integer")),
    }
}

fn ident(raw: &str) -> Result<Identifier, GuildError> {
    Identifier::parse(raw).map_err(GuildError::from)
}

#[derive(Serialize)]
struct BanInfo<'a> {
    id: u64,
    reason: &'a str,
    moderator_id: Option<&'a str>,
    expires_at: Option<WholeSeconds>,
    created_at: WholeSeconds,
}

#[derive(Serialize)]
struct BanStatus<'a> {
    banned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ban_info: Option<BanInfo<'a>>,
}

#[derive(Serialize)]
struct MuteInfo<'a> {
    id: u64,
    reason: &'a str,
    expires_at: Option<WholeSeconds>,
}

#[derive(Serialize)]
struct MuteStatus<'a> {
    muted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mute_info: Option<MuteInfo<'a>>,
}

/// `GET /moderation/:guildId/ban-status/:identifier` (the hot path: an index lookup, no I/O).
pub(crate) fn ban_status(state: &AppState, req: &Request, guild: &str, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild))?;
    let id = ident(raw)?;
    let place = place_param(req)?;
    let now = state.ctx.clock.now();
    Ok(
        match state
            .ctx
            .moderation
            .check(caller.guild, ModKind::Ban, id, place, now)
        {
            Some(r) => ok_msg(
                "User is banned",
                Some(BanStatus {
                    banned: true,
                    ban_info: Some(BanInfo {
                        id: r.id,
                        reason: &r.reason,
                        moderator_id: r.moderator_id.as_deref(),
                        expires_at: WholeSeconds::opt(r.expires_at),
                        created_at: WholeSeconds(r.created_at),
                    }),
                }),
            ),
            None => ok_msg(
                "User is not banned",
                Some(BanStatus {
                    banned: false,
                    ban_info: None,
                }),
            ),
        },
    )
}

/// `GET /moderation/:guildId/mute-status/:identifier`
pub(crate) fn mute_status(state: &AppState, req: &Request, guild: &str, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild))?;
    let id = ident(raw)?;
    let place = place_param(req)?;
    let now = state.ctx.clock.now();
    Ok(
        match state
            .ctx
            .moderation
            .check(caller.guild, ModKind::Mute, id, place, now)
        {
            Some(r) => ok(MuteStatus {
                muted: true,
                mute_info: Some(MuteInfo {
                    id: r.id,
                    reason: &r.reason,
                    expires_at: WholeSeconds::opt(r.expires_at),
                }),
            }),
            None => ok(MuteStatus {
                muted: false,
                mute_info: None,
            }),
        },
    )
}

fn list_item(r: &ModRecord) -> Value {
    json!({
        "id": r.id, "identifier": r.identifier.to_string(), "reason": r.reason,
        "expires_at": WholeSeconds::opt(r.expires_at), "place_id": r.place_id, "moderator_id": r.moderator_id,
        "created_at": WholeSeconds(r.created_at),
    })
}

/// `GET /moderation/:guildId/roblox/bans/active` and `…/mutes/active`
pub(crate) fn active(state: &AppState, req: &Request, guild: &str, kind: ModKind) -> GuildResult {
    let caller = authenticate(state, req, Some(guild))?;
    let now = state.ctx.clock.now();
    let items: Vec<Value> = state
        .ctx
        .moderation
        .active(caller.guild, kind, now)
        .iter()
        .map(|r| list_item(r))
        .collect();
    Ok(match kind {
        ModKind::Ban => ok(json!({ "bans": items })),
        ModKind::Mute => ok(json!({ "mutes": items })),
    })
}

fn duration_field(
    b: &serde_json::Map<String, Value>,
) -> Result<Option<std::time::Duration>, GuildError> {
    match b.get("duration_seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 && n <= moderation::MAX_DURATION.as_secs() => {
                Ok(Some(std::time::Duration::from_secs(n)))
            }
            _ => Err(GuildError::bad(
                "`duration_seconds` must be a positive whole number of seconds up to ten years, or null for permanent",
            )),
        },
    }
}

fn pushed(
    state: &AppState,
    req: &Request,
    guild: &str,
) -> Result<(Caller, serde_json::Map<String, Value>, Identifier), GuildError> {
    let b = body(req)?;
    // A body `guild_id` naming another guild is refused (403) by `authenticate`.
    let caller = authenticate(state, req, Some(guild))?;
    let id = match b.get("identifier") {
        Some(v) => Identifier::from_json(v)?,
        None => {
            return Err(GuildError::bad(
                "`identifier` is required (a Roblox or Discord user id)",
            ));
        }
    };
    Ok((caller, b, id))
}

/// `POST /moderation/:guildId/roblox/ban` and `…/mute`
pub(crate) async fn create(
    state: &AppState,
    req: &Request,
    guild: &str,
    kind: ModKind,
) -> GuildResult {
    let (caller, b, identifier) = pushed(state, req, guild)?;
    let record = moderation::create(
        &state.ctx,
        NewRecord {
            guild: caller.guild,
            kind,
            identifier,
            reason: opt_str(&b, "reason", 1000)?.unwrap_or_default(),
            moderator_id: opt_str(&b, "moderator_id", 64)?,
            duration: duration_field(&b)?,
            place_id: opt_id(&b, "place_id")?,
            source: Source::Roblox,
        },
    )
    .await?;
    Ok(match kind {
        ModKind::Ban => ok(json!({"id": record.id, "banned": true})),
        ModKind::Mute => ok(json!({"id": record.id, "muted": true})),
    })
}

/// `POST /moderation/:guildId/roblox/unban` and `…/unmute`
pub(crate) async fn revoke(
    state: &AppState,
    req: &Request,
    guild: &str,
    kind: ModKind,
) -> GuildResult {
    let (caller, b, identifier) = pushed(state, req, guild)?;
    let ended = moderation::revoke(
        &state.ctx,
        caller.guild,
        kind,
        identifier,
        opt_id(&b, "place_id")?,
        opt_str(&b, "moderator_id", 64)?,
        Source::Roblox,
    )
    .await?;
    let done = !ended.is_empty();
    Ok(match (kind, done) {
        (ModKind::Ban, true) => ok(json!({"unbanned": true})),
        (ModKind::Ban, false) => ok_msg("User was not banned", Some(json!({"unbanned": false}))),
        (ModKind::Mute, true) => ok(json!({"unmuted": true})),
        (ModKind::Mute, false) => ok_msg("User was not muted", Some(json!({"unmuted": false}))),
    })
}
