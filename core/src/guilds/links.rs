//! Account links: a Discord user ↔ a Roblox account, per guild, with the Roblox username and the
//! time the link was verified. Kept by Discord id, with a reverse index by Roblox id.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::store::{Store, StoreError, StoreExt, Tree, TxnExt, keys};

pub use roster_jobs::model::AccountLink;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// New links.
    pub created: u64,
    /// Links whose Roblox account, username or display name changed.
    pub updated: u64,
    /// Links that were already exactly so.
    pub unchanged: u64,
}

fn key(guild: GuildId, discord: u64) -> [u8; 16] {
    keys::pair(guild.get(), discord)
}

fn reverse_key(guild: GuildId, roblox: u64, discord: u64) -> Vec<u8> {
    keys::cat(&keys::pair(guild.get(), roblox), &discord.to_be_bytes())
}

/// Checks one link's fields; `at` names the row for bulk imports.
pub fn validate(link: &AccountLink, at: &str) -> Result<(), CoreError> {
    let field = |f: &str| {
        if at.is_empty() {
            f.to_owned()
        } else {
            format!("{at}.{f}")
        }
    };
    if link.discord_id < 1_000_000 || link.discord_id > i64::MAX as u64 {
        return Err(CoreError::invalid(
            field("discordId"),
            "must be a Discord user id (a snowflake)",
        ));
    }
    if link.roblox_id == 0 || link.roblox_id > i64::MAX as u64 {
        return Err(CoreError::invalid(
            field("robloxId"),
            "must be a positive Roblox user id",
        ));
    }
    let n = link.roblox_username.chars().count();
    if !(3..=20).contains(&n)
        || !link
            .roblox_username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(CoreError::invalid(
            field("robloxUsername"),
            "must be a Roblox username (3 to 20 letters, digits or underscores)",
        ));
    }
    if let Some(d) = &link.roblox_display_name
        && (d.trim().is_empty() || d.chars().count() > 32)
    {
        return Err(CoreError::invalid(
            field("robloxDisplayName"),
            "must be 1 to 32 characters",
        ));
    }
    Ok(())
}

/// Creates or replaces links (one Discord account links to one Roblox account per guild),
/// in transactions of up to 500. Validates every row before writing any.
pub async fn import(
    ctx: &Ctx,
    guild: GuildId,
    links: &[AccountLink],
    actor: Option<String>,
) -> Result<ImportReport, CoreError> {
    for (i, l) in links.iter().enumerate() {
        validate(l, &format!("links[{i}]"))?;
    }
    let mut report = ImportReport::default();
    for chunk in links.chunks(500) {
        let r = ctx.store.transact(|tx| {
            let mut r = ImportReport::default();
            crate::staff::members::bump_in(tx, guild)?;
            for l in chunk {
                let k = key(guild, l.discord_id);
                match tx.get_json::<AccountLink>(Tree::Links, &k)? {
                    Some(old) if old == *l => {
                        r.unchanged += 1;
                        continue;
                    }
                    Some(old) => {
                        tx.remove(
                            Tree::LinksByRoblox,
                            &reverse_key(guild, old.roblox_id, old.discord_id),
                        )?;
                        r.updated += 1;
                    }
                    None => r.created += 1,
                }
                tx.put_json(Tree::Links, &k, l)?;
                tx.insert(
                    Tree::LinksByRoblox,
                    &reverse_key(guild, l.roblox_id, l.discord_id),
                    Vec::new(),
                )?;
            }
            Ok(r)
        })?;
        report.created += r.created;
        report.updated += r.updated;
        report.unchanged += r.unchanged;
    }
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    ctx.store.transact(|tx| {
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "links.import".into(),
                actor_id: actor.clone(),
                target_id: None,
                metadata: json!({"rows": links.len(), "report": &report}),
                created_at: now,
            },
        )
    })?;
    ctx.store.durable().await?;
    Ok(report)
}

/// Removes a Discord user's link; `false` when there was none.
pub async fn remove(
    ctx: &Ctx,
    guild: GuildId,
    discord: u64,
    actor: Option<String>,
) -> Result<bool, CoreError> {
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let removed = ctx.store.transact(|tx| {
        let Some(old) = tx.get_json::<AccountLink>(Tree::Links, &key(guild, discord))? else {
            return Ok(false);
        };
        tx.remove(Tree::Links, &key(guild, discord))?;
        crate::staff::members::bump_in(tx, guild)?;
        tx.remove(
            Tree::LinksByRoblox,
            &reverse_key(guild, old.roblox_id, discord),
        )?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "link.remove".into(),
                actor_id: actor.clone(),
                target_id: Some(discord.to_string()),
                metadata: json!({"robloxId": old.roblox_id}),
                created_at: now,
            },
        )?;
        Ok(true)
    })?;
    if removed {
        ctx.store.durable().await?;
    }
    Ok(removed)
}

/// A Discord user's link.
pub fn by_discord(
    store: &dyn Store,
    guild: GuildId,
    discord: u64,
) -> Result<Option<AccountLink>, StoreError> {
    store.get_json(Tree::Links, &key(guild, discord))
}

/// Links to a Roblox account (usually one), by Discord id.
pub fn by_roblox(
    store: &dyn Store,
    guild: GuildId,
    roblox: u64,
) -> Result<Vec<AccountLink>, StoreError> {
    let prefix = keys::pair(guild.get(), roblox);
    let mut out = Vec::new();
    for (k, _) in store.scan(Tree::LinksByRoblox, &prefix, None, 100, false)? {
        let Some(raw) = k.get(16..24).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            continue;
        };
        if let Some(l) = by_discord(store, guild, u64::from_be_bytes(raw))? {
            out.push(l);
        }
    }
    Ok(out)
}

/// Links in Discord-id order, after `after`.
pub fn list(
    store: &dyn Store,
    guild: GuildId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<AccountLink>, StoreError> {
    let after = after.map(|a| key(guild, a));
    Ok(store
        .scan_json::<AccountLink>(
            Tree::Links,
            &guild.to_be_bytes(),
            after.as_ref().map(|k| &k[..]),
            limit,
            false,
        )?
        .into_iter()
        .map(|(_, l)| l)
        .collect())
}

/// Number of links in a guild.
pub fn count(store: &dyn Store, guild: GuildId) -> Result<u64, StoreError> {
    let prefix = guild.to_be_bytes();
    let mut n = 0u64;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan(Tree::Links, &prefix, after.as_deref(), 5_000, false)?;
        n += page.len() as u64;
        match page.last() {
            Some((k, _)) if page.len() == 5_000 => after = Some(k.clone()),
            _ => return Ok(n),
        }
    }
}
