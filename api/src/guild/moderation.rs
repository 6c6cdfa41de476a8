//! Moderation: the ban/mute status checks game servers make on every join (the hot path: an
//! in-memory index, no store read), the active lists, and the pushes from game servers.

use roster_core::clock::WholeSeconds;
use roster_core::moderation::{self, Identifier, ModKind, ModRecord, NewRecord, Source};

use super::{Caller, GuildError, GuildResult, authenticate, body, ok, ok_msg};
use crate::http::Request;
use crate::state::AppState;
use crate::wire;
use crate::wire::guild::{
    ActiveBans, ActiveMutes, BanInfo, BanStatus, Banned, ModItem, MuteInfo, MuteStatus, Muted,
    PushBody, Unbanned, Unmuted,
};

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

fn list_item(r: &ModRecord) -> ModItem {
    ModItem {
        id: r.id,
        identifier: r.identifier.to_string(),
        reason: r.reason.clone(),
        expires_at: WholeSeconds::opt(r.expires_at),
        place_id: r.place_id,
        moderator_id: r.moderator_id.clone(),
        created_at: WholeSeconds(r.created_at),
    }
}

/// `GET /moderation/:guildId/roblox/bans/active` and `…/mutes/active`
pub(crate) fn active(state: &AppState, req: &Request, guild: &str, kind: ModKind) -> GuildResult {
    let caller = authenticate(state, req, Some(guild))?;
    let now = state.ctx.clock.now();
    let items: Vec<ModItem> = state
        .ctx
        .moderation
        .active(caller.guild, kind, now)
        .iter()
        .map(|r| list_item(r))
        .collect();
    Ok(match kind {
        ModKind::Ban => ok(ActiveBans { bans: items }),
        ModKind::Mute => ok(ActiveMutes { mutes: items }),
    })
}

fn pushed(
    state: &AppState,
    req: &Request,
    guild: &str,
) -> Result<(Caller, PushBody, Identifier), GuildError> {
    let b = body(req)?;
    // A body `guild_id` naming another guild is refused (403) by `authenticate`.
    let caller = authenticate(state, req, Some(guild))?;
    let push: PushBody = wire::typed(&b).map_err(|e| GuildError::bad(e.0))?;
    let id = Identifier::from_json(&push.identifier.0)?;
    Ok((caller, push, id))
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
            reason: b.reason.map(|t| t.0).unwrap_or_default(),
            moderator_id: b.moderator_id.map(|t| t.0),
            duration: b
                .duration_seconds
                .map(|d| std::time::Duration::from_secs(d.0)),
            place_id: b.place_id.map(|p| p.0),
            source: Source::Roblox,
        },
    )
    .await?;
    Ok(match kind {
        ModKind::Ban => ok(Banned {
            id: record.id,
            banned: true,
        }),
        ModKind::Mute => ok(Muted {
            id: record.id,
            muted: true,
        }),
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
        b.place_id.map(|p| p.0),
        b.moderator_id.map(|t| t.0),
        Source::Roblox,
    )
    .await?;
    let done = !ended.is_empty();
    Ok(match (kind, done) {
        (ModKind::Ban, true) => ok(Unbanned { unbanned: true }),
        (ModKind::Ban, false) => ok_msg("User was not banned", Some(Unbanned { unbanned: false })),
        (ModKind::Mute, true) => ok(Unmuted { unmuted: true }),
        (ModKind::Mute, false) => ok_msg("User was not muted", Some(Unmuted { unmuted: false })),
    })
}
