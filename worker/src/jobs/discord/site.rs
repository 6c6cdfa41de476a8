//! `discord.push_role_list`: what a linked NamelessMC website learns from its bot — the bot's
//! settings when linking (`update-bot-settings`) and the guild's role list
//! (`submit-role-list`), sent only when it differs from what the site last accepted.

use roster_jobs::jobs::discord::{
    PushRoleListJob, PushRoleListResult, codes, role_list_hash, site_role_list,
};
use roster_jobs::model::role_bridge_site_key_purpose;
use roster_upstream::UpstreamError;
use roster_upstream::nameless::{self, BotSettings, SiteRole};

use super::{bot_token, discord_failure};
use crate::runtime::{Deps, Failure, UpstreamTimer};

/// Classifies a website failure: a refusal fails the job with what to do about it; an
/// unreachable or failing site is retried.
fn site_failure(e: UpstreamError) -> Failure {
    let message = nameless::explain(&e);
    match e {
        UpstreamError::Permanent { .. } => Failure::permanent(codes::WEBSITE_API_ERROR, message),
        UpstreamError::RateLimited { retry_after, .. } => Failure::Retry {
            code: codes::WEBSITE_API_ERROR,
            message,
            after: retry_after,
        },
        UpstreamError::Transient { .. } => Failure::Retry {
            code: codes::WEBSITE_API_ERROR,
            message,
            after: None,
        },
    }
}

/// `discord.push_role_list`.
pub async fn push_role_list(
    deps: &Deps,
    job: PushRoleListJob,
    timer: &mut UpstreamTimer,
) -> Result<PushRoleListResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let key = deps
        .master
        .open(&role_bridge_site_key_purpose(job.target.guild), &job.site.key)
        .map_err(|_| {
            Failure::permanent(
                codes::WEBSITE_API_ERROR,
                "Roster could not unseal the website's API key (does this worker have the control plane's master key?)",
            )
        })?;
    let api = job.site.api_url.as_str();
    let mut bot_settings = false;
    if let Some(url) = &job.bot_settings_url {
        let bot_id = timer
            .time(deps.discord.current_user_id(token.expose()))
            .await
            .map_err(discord_failure)?;
        let bot = timer
            .time(deps.discord.member(token.expose(), guild, bot_id))
            .await
            .map_err(discord_failure)?
            .ok_or_else(|| {
                Failure::permanent(
                    codes::DISCORD_API_ERROR,
                    "the bot is not a member of the guild: invite it before linking a website",
                )
            })?;
        let settings = BotSettings {
            url: url.clone(),
            guild_id: guild.to_string(),
            bot_username: bot.username,
            bot_user_id: bot_id.to_string(),
        };
        timer
            .time(
                deps.nameless
                    .update_bot_settings(api, key.expose(), &settings),
            )
            .await
            .map_err(site_failure)?;
        bot_settings = true;
    }
    let roles = timer
        .time(deps.discord.roles(token.expose(), guild))
        .await
        .map_err(discord_failure)?;
    let list = site_role_list(
        guild,
        roles.iter().map(|r| (r.id, r.name.as_str(), r.position)),
    );
    let hash = role_list_hash(&list);
    let count = list.len();
    if !bot_settings && job.pushed.as_deref() == Some(hash.as_str()) {
        return Ok(PushRoleListResult {
            hash,
            roles: count,
            pushed: false,
            bot_settings,
        });
    }
    let site_roles: Vec<SiteRole> = list
        .into_iter()
        .map(|(id, name)| SiteRole { id, name })
        .collect();
    timer
        .time(
            deps.nameless
                .submit_role_list(api, key.expose(), &site_roles),
        )
        .await
        .map_err(site_failure)?;
    Ok(PushRoleListResult {
        hash,
        roles: count,
        pushed: true,
        bot_settings,
    })
}
