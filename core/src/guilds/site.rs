//! A NamelessMC website linked to a guild's role bridge (`roster admin guild role-bridge link`):
//! the site's own API key becomes the key the bridge accepts, and the site learns its bot's
//! settings and the guild's role list from `discord.push_role_list` jobs — staged when linking,
//! and again whenever a role sync sees the guild's roles differ from what the site last accepted.
//! The API checks the site before [`link`] is called (it is an upstream call).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{GuildRecord, key};
use crate::audit::Tenant;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::{GuildId, JobId};
use crate::jobs::discord::{DiscordTarget, PushRoleList, PushRoleListJob, SiteTarget};
use crate::jobs::facade::NewJob;
use crate::jobs::kind::{Done, Effects, JobAudit};
use crate::secrets::Secret;
use crate::store::{StoreError, Tree, TxnExt};

pub use roster_jobs::model::{RoleBridgeSite, role_bridge_site_key_purpose};

/// A push job for `g`'s site (which must be linked).
fn push_job(
    g: &GuildRecord,
    site: &RoleBridgeSite,
    bot_settings_url: Option<String>,
    seen: Option<String>,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> NewJob {
    let payload = PushRoleListJob {
        target: DiscordTarget::of(g),
        site: SiteTarget {
            api_url: site.api_url.clone(),
            key: site.key.clone(),
        },
        bot_settings_url,
        pushed: site.roles_pushed.clone(),
        seen,
    };
    NewJob::new::<PushRoleList>(
        Tenant::Guild(g.id),
        &payload,
        json!({"actorKeyId": "role-bridge"}),
        now,
        max_attempts,
    )
}

/// Links the website at `api_url` (already checked) to `guild`'s role bridge: its `key` (sealed)
/// becomes the key the bridge accepts, replacing a generated `rbk_` key, and a job is staged
/// that sends the site the bot's settings (`bridge_url`) and the guild's roles. Returns the
/// guild and that job.
pub async fn link(
    ctx: &Ctx,
    guild: GuildId,
    api_url: String,
    site_key: &Secret,
    bridge_url: String,
) -> Result<(GuildRecord, JobId), CoreError> {
    let now = ctx.clock.now();
    let sealed = ctx
        .master
        .seal(&role_bridge_site_key_purpose(guild), site_key.expose());
    let hash = crate::secrets::token_hash(site_key.expose());
    let hint = crate::groups::key_hint(site_key);
    let max_attempts = ctx.config.queue.max_attempts;
    let out = ctx
        .commit(|tx, jobs| {
            let Some(mut g) = tx.get_json::<GuildRecord>(Tree::Guilds, &key(guild))? else {
                jobs.unchanged();
                return Ok(None);
            };
            let site = RoleBridgeSite {
                api_url: api_url.clone(),
                key: sealed.clone(),
                bridge_url: bridge_url.clone(),
                linked_at: now,
                roles_pushed: None,
                push_staged: true,
                push_failed: None,
            };
            g.discord.role_bridge_key_hash = Some(hash.clone());
            g.discord.role_bridge_key_hint = Some(hint.clone());
            let job = push_job(&g, &site, Some(bridge_url.clone()), None, now, max_attempts);
            g.discord.role_bridge_site = Some(site);
            g.updated_at = now;
            tx.put_json(Tree::Guilds, &key(guild), &g)?;
            let id = job.id();
            jobs.stage_owned(tx, job)?;
            Ok(Some((g, id)))
        })
        .await?;
    out.ok_or_else(|| CoreError::NotFound(format!("guild {guild}")))
}

/// Unlinks the guild's website: its key stops working at once and nothing more is pushed to it.
/// The site keeps the bot settings it was given (its admin turns the integration off there).
/// Returns the guild and whether a site was linked.
pub async fn unlink(ctx: &Ctx, guild: GuildId) -> Result<(GuildRecord, bool), CoreError> {
    let now = ctx.clock.now();
    let out = ctx
        .commit(|tx, jobs| {
            let Some(mut g) = tx.get_json::<GuildRecord>(Tree::Guilds, &key(guild))? else {
                jobs.unchanged();
                return Ok(None);
            };
            if g.discord.role_bridge_site.take().is_none() {
                jobs.unchanged();
                return Ok(Some((g, false)));
            }
            g.discord.role_bridge_key_hash = None;
            g.discord.role_bridge_key_hint = None;
            g.updated_at = now;
            tx.put_json(Tree::Guilds, &key(guild), &g)?;
            Ok(Some((g, true)))
        })
        .await?;
    out.ok_or_else(|| CoreError::NotFound(format!("guild {guild}")))
}

/// Stages a push when a sync of `guild` saw its roles hash to `hash` and the linked site (if
/// any) last accepted another list, unless a push is already on its way. Called by the sync
/// kinds' outcome hooks.
pub(crate) fn on_roles_seen(
    fx: &mut Effects<'_>,
    guild: GuildId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(mut g) = fx.tx.get_json::<GuildRecord>(Tree::Guilds, &key(guild))? else {
        return Ok(());
    };
    let Some(site) = g.discord.role_bridge_site.as_mut() else {
        return Ok(());
    };
    if site.push_staged
        || site.roles_pushed.as_deref() == Some(hash)
        || site.push_failed.as_deref() == Some(hash)
    {
        return Ok(());
    }
    site.push_staged = true;
    let site = site.clone();
    let job = push_job(
        &g,
        &site,
        None,
        Some(hash.to_owned()),
        now,
        fx.config.queue.max_attempts,
    );
    fx.tx.put_json(Tree::Guilds, &key(guild), &g)?;
    fx.jobs.stage_owned(fx.tx, job)
}

/// The outcome of a push: remember what the site accepted (while the same site is linked),
/// allow the next push, and leave an audit entry unless nothing was sent.
pub(crate) fn on_push_outcome(
    done: &Done<'_, PushRoleList>,
    fx: &mut Effects<'_>,
) -> Result<(), StoreError> {
    let guild = done.payload.target.guild;
    let result = done.result();
    if let Some(mut g) = fx.tx.get_json::<GuildRecord>(Tree::Guilds, &key(guild))?
        && let Some(site) = g.discord.role_bridge_site.as_mut()
        && site.api_url == done.payload.site.api_url
        && site.key == done.payload.site.key
    {
        site.push_staged = false;
        match &result {
            Some(r) => {
                site.roles_pushed = Some(r.hash.clone());
                site.push_failed = None;
            }
            None => site.push_failed = done.payload.seen.clone(),
        }
        fx.tx.put_json(Tree::Guilds, &key(guild), &g)?;
    }
    if result
        .as_ref()
        .is_some_and(|r| !r.pushed && !r.bot_settings)
    {
        return Ok(());
    }
    fx.audit(JobAudit {
        action: "role_bridge.website_push",
        target: done.payload.site.api_url.clone(),
        details: None,
    });
    Ok(())
}
