//! Discord jobs: role sync (one member, and the pages and batches of sync-all), role changes,
//! direct messages and bans.
//!
//! Sync reads the member's Roblox ranks (one Open Cloud membership read per bound group, for up
//! to 50 members at once), computes the roles they should hold with
//! [`roster_jobs::bindings::plan`], and sends **one** `PATCH /guilds/{g}/members/{u}` with the
//! full role list and nickname, only when something differs. Changes the bot cannot make (a role
//! at or above its highest role, a managed role, a missing permission, the server owner's
//! nickname) are reported and never attempted, so sync spends no request on a 403.

use std::collections::HashMap;

use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::discord::{
    DirectMessage, DirectMessageJob, DirectMessageResult, DiscordBan, DiscordBanJob,
    DiscordBanResult, DiscordTarget, PushRoleList, RoleChangeStatus, RoleChanges, RoleChangesJob,
    RoleChangesResult, SyncBatch, SyncMember, SyncPage, codes,
};
use roster_jobs::secrets::Secret;
use roster_upstream::UpstreamError;
use roster_upstream::discord::codes as dcodes;

use super::Handler;
use crate::runtime::{Deps, Failure, UpstreamTimer};

mod guild_view;
mod site;
mod sync;

pub use guild_view::{GuildCache, GuildView};
pub use site::push_role_list;
pub use sync::{sync_batch, sync_member, sync_page};

/// The bot token a target uses.
fn bot_token(deps: &Deps, target: &DiscordTarget) -> Result<Secret, Failure> {
    match &target.bot_token {
        Some(sealed) => deps
            .master
            .open(&roster_jobs::model::guild_bot_token_purpose(target.guild), sealed)
            .map_err(|_| {
                Failure::permanent(
                    codes::DISCORD_NOT_CONFIGURED,
                    "Roster could not unseal the guild's bot token (does this worker have the control plane's master key?)",
                )
            }),
        None => deps.discord_token.clone().ok_or_else(|| {
            Failure::permanent(
                codes::DISCORD_NOT_CONFIGURED,
                "no Discord bot token: set discord.bot_token, or give the guild its own botToken",
            )
        }),
    }
}

/// Classifies a Discord failure for a job.
pub(crate) fn discord_failure(e: UpstreamError) -> Failure {
    match e {
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => {
            let msg = match code.as_str() {
                dcodes::MISSING_ACCESS => format!(
                    "Discord denied access (50001 {message}): is the bot in the guild, and for member listing, is the Server Members intent enabled?"
                ),
                dcodes::MISSING_PERMISSIONS => format!(
                    "Discord refused for lack of permissions (50013 {message}): check the bot's permissions and that its role is above the roles it manages"
                ),
                dcodes::UNKNOWN_GUILD => "Discord does not know this guild (10004)".to_owned(),
                _ if status == 401 => {
                    "Discord rejected the bot token (401): set a valid token".to_owned()
                }
                _ => format!("Discord refused the request ({status} {code}): {message}"),
            };
            Failure::permanent(codes::DISCORD_API_ERROR, msg)
        }
        UpstreamError::RateLimited {
            retry_after,
            message,
        } => Failure::Retry {
            code: codes::DISCORD_API_ERROR,
            message: format!("{message}; Discord kept rate limiting"),
            after: retry_after,
        },
        UpstreamError::Transient { message, .. } => Failure::Retry {
            code: codes::DISCORD_API_ERROR,
            message,
            after: None,
        },
    }
}

fn roblox_failure(e: UpstreamError) -> Failure {
    match super::upstream_failure(e) {
        Failure::Permanent(mut err) => {
            err.code = codes::ROBLOX_API_ERROR.into();
            err.message = format!("reading Roblox ranks: {}", err.message);
            Failure::Permanent(err)
        }
        Failure::Retry { message, after, .. } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message,
            after,
        },
    }
}

/// `discord.role_changes`.
pub async fn role_changes(
    deps: &Deps,
    job: RoleChangesJob,
    timer: &mut UpstreamTimer,
) -> Result<RoleChangesResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let mut view = timer
        .time(
            deps.guilds
                .view(deps.discord.as_ref(), token.expose(), guild, false),
        )
        .await
        .map_err(discord_failure)?;
    // A role the cached view lacks may be new: look again once before calling it invalid.
    if job
        .changes
        .iter()
        .any(|c| !view.roles.contains_key(&c.role_id))
    {
        view = timer
            .time(
                deps.guilds
                    .view(deps.discord.as_ref(), token.expose(), guild, true),
            )
            .await
            .map_err(discord_failure)?;
    }
    let mut members: HashMap<u64, Option<Vec<u64>>> = HashMap::new();
    let mut statuses = Vec::with_capacity(job.changes.len());
    for c in &job.changes {
        if let std::collections::hash_map::Entry::Vacant(slot) = members.entry(c.user_id) {
            let m = timer
                .time(deps.discord.member(token.expose(), guild, c.user_id))
                .await
                .map_err(discord_failure)?;
            slot.insert(m.map(|m| m.roles));
        }
        let Some(Some(roles)) = members.get_mut(&c.user_id) else {
            statuses.push(RoleChangeStatus::InvalidUser);
            continue;
        };
        let status = match view.role_blocker(c.role_id) {
            Some(("unknown_role", _)) => RoleChangeStatus::InvalidRole,
            // Already so: nothing to send, whether or not the bot could change the role (the
            // official bot answers `none` for removing a role above it that the member lacks).
            _ if c.add == roles.contains(&c.role_id) => RoleChangeStatus::None,
            Some(_) => RoleChangeStatus::NoPermission,
            None => {
                let call = if c.add {
                    deps.discord
                        .add_role(token.expose(), guild, c.user_id, c.role_id, &job.reason)
                } else {
                    deps.discord.remove_role(
                        token.expose(),
                        guild,
                        c.user_id,
                        c.role_id,
                        &job.reason,
                    )
                };
                match timer.time(call).await {
                    Ok(()) => {
                        if c.add {
                            roles.push(c.role_id);
                            RoleChangeStatus::Added
                        } else {
                            roles.retain(|r| *r != c.role_id);
                            RoleChangeStatus::Removed
                        }
                    }
                    Err(UpstreamError::Permanent { code, .. }) => match code.as_str() {
                        dcodes::UNKNOWN_MEMBER | dcodes::UNKNOWN_USER => {
                            RoleChangeStatus::InvalidUser
                        }
                        dcodes::UNKNOWN_ROLE => RoleChangeStatus::InvalidRole,
                        _ => RoleChangeStatus::NoPermission,
                    },
                    Err(e) => return Err(discord_failure(e)),
                }
            }
        };
        statuses.push(status);
    }
    Ok(RoleChangesResult { statuses })
}

/// `discord.direct_message`.
pub async fn direct_message(
    deps: &Deps,
    job: DirectMessageJob,
    timer: &mut UpstreamTimer,
) -> Result<DirectMessageResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    match timer
        .time(
            deps.discord
                .send_dm(token.expose(), job.user_id, &job.content),
        )
        .await
    {
        Ok(()) => Ok(DirectMessageResult { sent: true }),
        Err(UpstreamError::Permanent { code, .. }) if code == dcodes::CANNOT_DM => {
            Err(Failure::permanent(
                codes::CANNOT_DM,
                format!(
                    "user {} does not accept direct messages from the bot (or shares no server with it)",
                    job.user_id
                ),
            ))
        }
        Err(UpstreamError::Permanent { code, .. }) if code == dcodes::UNKNOWN_USER => {
            Err(Failure::permanent(
                codes::NOT_IN_GUILD,
                format!("Discord does not know user {}", job.user_id),
            ))
        }
        Err(e) => Err(discord_failure(e)),
    }
}

/// `discord.ban`.
pub async fn ban(
    deps: &Deps,
    job: DiscordBanJob,
    timer: &mut UpstreamTimer,
) -> Result<DiscordBanResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let reason = format!("Roster ban #{}: {}", job.record_id, job.reason);
    if job.active {
        timer
            .time(
                deps.discord
                    .ban(token.expose(), guild, job.user_id, &reason, 0),
            )
            .await
            .map_err(discord_failure)?;
        Ok(DiscordBanResult {
            banned: true,
            was_banned: None,
        })
    } else {
        let was = timer
            .time(
                deps.discord
                    .unban(token.expose(), guild, job.user_id, &reason),
            )
            .await
            .map_err(discord_failure)?;
        Ok(DiscordBanResult {
            banned: false,
            was_banned: Some(was),
        })
    }
}

/// The Discord kinds' handlers: the functions above.
macro_rules! discord_handler {
    ($kind:ty, $run:ident) => {
        impl Handler for $kind {
            const UNREADABLE: &'static str = codes::BAD_PAYLOAD;

            async fn run(
                deps: &Deps,
                _env: &JobEnvelope,
                job: Self::Payload,
                _plan: Option<serde_json::Value>,
                timer: &mut UpstreamTimer,
            ) -> Result<Self::Result, Failure> {
                $run(deps, job, timer).await
            }
        }
    };
}

discord_handler!(SyncMember, sync_member);
discord_handler!(SyncPage, sync_page);
discord_handler!(SyncBatch, sync_batch);
discord_handler!(RoleChanges, role_changes);
discord_handler!(DirectMessage, direct_message);
discord_handler!(DiscordBan, ban);
discord_handler!(PushRoleList, push_role_list);
