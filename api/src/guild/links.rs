//! Account-link lookups: `/lookup/discord/:id`, `/lookup/roblox/:id`, `/lookup/status`,
//! `/reverse`, `/guilds/:guildId/members` and `/guilds/:guildId/verified-users`. Discord ids are
//! strings and Roblox ids numbers, as the reference shows them.

use roster_core::clock::WholeSeconds;
use roster_core::ids::DiscordUserId;
use roster_core::links::{self, AccountLink};
use serde_json::Value;

use super::{GuildError, GuildResult, authenticate, body, body_guild, ok};
use crate::http::{Request, parse_id_value};
use crate::state::AppState;
use crate::wire::guild::{
    Link, LinkShort, MembersPage, ReverseResults, StatusResults, VerifiedStatus,
};

/// Most ids one batch lookup may name.
pub const MAX_BATCH: usize = 100;

fn discord(id: u64) -> DiscordUserId {
    // Stored links hold valid (positive) Discord ids.
    DiscordUserId::new(id).unwrap_or_else(|_| DiscordUserId::new(u64::MAX).expect("positive"))
}

fn full(l: &AccountLink) -> Link<'_> {
    Link {
        discord_id: discord(l.discord_id),
        roblox_id: l.roblox_id,
        roblox_username: &l.roblox_username,
        verified_at: WholeSeconds(l.verified_at),
    }
}

fn short(l: &AccountLink) -> LinkShort<'_> {
    LinkShort {
        roblox_id: l.roblox_id,
        discord_id: discord(l.discord_id),
        roblox_username: &l.roblox_username,
    }
}

fn path_id(raw: &str, what: &str) -> Result<u64, GuildError> {
    parse_id_value(&Value::String(raw.to_owned())).ok_or_else(|| {
        GuildError::bad(format!(
            "{what} in the path must be a positive integer, got {raw:?}"
        ))
    })
}

fn not_verified(what: String) -> GuildError {
    GuildError::new(
        warp::http::StatusCode::NOT_FOUND,
        "NOT_VERIFIED",
        format!("{what} has no verified Roblox link in this guild"),
    )
}

/// `GET /lookup/discord/:discordId`
pub(crate) fn by_discord(state: &AppState, req: &Request, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    let id = path_id(raw, "the Discord id")?;
    let link = links::by_discord(state.ctx.store.as_ref(), caller.guild, id)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?
        .ok_or_else(|| not_verified(format!("Discord user {id}")))?;
    Ok(ok(full(&link)))
}

/// `GET /lookup/roblox/:robloxId`
pub(crate) fn by_roblox(state: &AppState, req: &Request, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    let id = path_id(raw, "the Roblox id")?;
    let found = links::by_roblox(state.ctx.store.as_ref(), caller.guild, id)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?;
    // Several Discord accounts may link one Roblox account: the most recently verified wins.
    let link = found
        .iter()
        .max_by_key(|l| l.verified_at)
        .ok_or_else(|| not_verified(format!("Roblox user {id}")))?;
    Ok(ok(full(link)))
}

fn id_list(
    b: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<u64>>, GuildError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > MAX_BATCH {
                return Err(GuildError::bad(format!(
                    "`{field}` may name at most {MAX_BATCH} ids"
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    parse_id_value(v).ok_or_else(|| {
                        GuildError::bad(format!("`{field}[{i}]` must be a positive integer id"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(_) => Err(GuildError::bad(format!(
            "`{field}` must be an array of ids"
        ))),
    }
}

/// `POST /lookup/status`
pub(crate) fn status(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let store = state.ctx.store.as_ref();
    let db = |e| GuildError::from(roster_core::CoreError::from(e));
    let results: Vec<VerifiedStatus> =
        match (id_list(&b, "discord_ids")?, id_list(&b, "roblox_ids")?) {
            (Some(ids), None) => ids
                .iter()
                .map(|id| {
                    Ok(
                        match links::by_discord(store, caller.guild, *id).map_err(db)? {
                            Some(l) => VerifiedStatus {
                                discord_id: Some(discord(*id)),
                                verified: true,
                                roblox_id: Some(l.roblox_id),
                            },
                            None => VerifiedStatus {
                                discord_id: Some(discord(*id)),
                                verified: false,
                                roblox_id: None,
                            },
                        },
                    )
                })
                .collect::<Result<_, GuildError>>()?,
            (None, Some(ids)) => ids
                .iter()
                .map(|id| {
                    let found = links::by_roblox(store, caller.guild, *id).map_err(db)?;
                    Ok(match found.iter().max_by_key(|l| l.verified_at) {
                        Some(l) => VerifiedStatus {
                            roblox_id: Some(*id),
                            verified: true,
                            discord_id: Some(discord(l.discord_id)),
                        },
                        None => VerifiedStatus {
                            roblox_id: Some(*id),
                            verified: false,
                            discord_id: None,
                        },
                    })
                })
                .collect::<Result<_, GuildError>>()?,
            (Some(_), Some(_)) => {
                return Err(GuildError::bad(
                    "send either `discord_ids` or `roblox_ids`, not both",
                ));
            }
            (None, None) => {
                return Err(GuildError::bad(
                    "`discord_ids` or `roblox_ids` (an array of up to 100 ids) is required",
                ));
            }
        };
    Ok(ok(StatusResults { results }))
}

/// `POST /reverse`
pub(crate) fn reverse(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let ids = id_list(&b, "roblox_ids")?.ok_or_else(|| {
        GuildError::bad("`roblox_ids` (an array of up to 100 Roblox ids) is required")
    })?;
    let mut found = Vec::new();
    for id in ids {
        found.extend(
            links::by_roblox(state.ctx.store.as_ref(), caller.guild, id)
                .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?,
        );
    }
    Ok(ok(ReverseResults {
        results: found.iter().map(short).collect(),
    }))
}

/// `?limit=` (1–1000, default 1000) and `?after=` (a Discord id) of the member listings.
fn paging(req: &Request) -> Result<(usize, Option<u64>), GuildError> {
    let limit = match req.query.get("limit") {
        None => 1000,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| GuildError::bad("`limit` must be 1 to 1000"))?,
    };
    let after = match req.query.get("after") {
        None => None,
        Some(a) => Some(path_id(a, "`after`")?),
    };
    Ok((limit, after))
}

/// `GET /guilds/:guildId/members`: verified members, with the total.
pub(crate) fn members(state: &AppState, req: &Request, guild_raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild_raw))?;
    let (limit, after) = paging(req)?;
    let store = state.ctx.store.as_ref();
    let db = |e| GuildError::from(roster_core::CoreError::from(e));
    let page = links::list(store, caller.guild, after, limit).map_err(db)?;
    let total = links::count(store, caller.guild).map_err(db)?;
    let next = (page.len() == limit).then(|| page.last().map(|l| discord(l.discord_id)));
    Ok(ok(MembersPage {
        members: page.iter().map(short).collect(),
        total: total as u64,
        next_after: next.flatten(),
    }))
}

/// `GET /guilds/:guildId/verified-users`: the same records as a bare array.
pub(crate) fn verified_users(state: &AppState, req: &Request, guild_raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild_raw))?;
    let (limit, after) = paging(req)?;
    let page = links::list(state.ctx.store.as_ref(), caller.guild, after, limit)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?;
    Ok(ok(page.iter().map(short).collect::<Vec<_>>()))
}
