//! Shield: a cross-guild list of flagged Roblox users. Any guild key reads it; only guilds on the
//! allowlist (`shield_writer`, set by an operator) write to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::CoreError;
use crate::guilds::GuildRecord;
use crate::store::{StoreExt, Tree, TxnExt};

/// One flagged user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShieldFlag {
    /// Roblox user id, as a string (as the reference shows it).
    pub roblox_id: String,
    /// Username: the flagger's, or filled in later from Open Cloud user info
    /// ([`fill_username`]).
    pub roblox_username: Option<String>,
    /// Why.
    pub reason: String,
    /// Who flagged (the flagging guild's name, or `Roster` for operators).
    pub flagged_by: String,
    /// `manual` (operator) or `import` (a guild's import).
    pub source: String,
    /// When.
    pub flagged_at: DateTime<Utc>,
}

/// The most ids one batch check takes.
pub const MAX_BATCH: usize = 200;
/// The most users one import takes.
pub const MAX_IMPORT: usize = 5000;

/// Looks one user up.
pub fn check(ctx: &Ctx, roblox_id: u64) -> Result<Option<ShieldFlag>, CoreError> {
    Ok(ctx.store.get_json(Tree::Shield, &roblox_id.to_be_bytes())?)
}

/// Looks up to [`MAX_BATCH`] users up; returns the flagged ones.
pub fn batch(ctx: &Ctx, ids: &[u64]) -> Result<Vec<ShieldFlag>, CoreError> {
    if ids.len() > MAX_BATCH {
        return Err(CoreError::invalid(
            "roblox_ids",
            format!("at most {MAX_BATCH} ids per batch, got {}", ids.len()),
        ));
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(f) = check(ctx, *id)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// One user to import.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Roblox user id.
    pub roblox_id: u64,
    /// Why.
    pub reason: String,
    /// Username, if known.
    pub roblox_username: Option<String>,
}

/// Imports flags from an allowlisted guild. Users already flagged are skipped (the first flag
/// stands). Returns `(imported, skipped)`.
pub async fn import(
    ctx: &Ctx,
    guild: &GuildRecord,
    rows: Vec<ImportRow>,
) -> Result<(u64, u64), CoreError> {
    if !guild.shield_writer {
        return Err(CoreError::LimitReached(format!(
            "guild {} is not allowed to write to Shield; an operator must allowlist it",
            guild.id
        )));
    }
    if rows.len() > MAX_IMPORT {
        return Err(CoreError::invalid(
            "users",
            format!("at most {MAX_IMPORT} users per import, got {}", rows.len()),
        ));
    }
    for r in &rows {
        if r.reason.trim().is_empty() || r.reason.chars().count() > 500 {
            return Err(CoreError::invalid(
                "users[].reason",
                format!(
                    "user {}: a reason of 1 to 500 characters is required",
                    r.roblox_id
                ),
            ));
        }
    }
    let now = ctx.clock.now();
    let counts = ctx.store.transact(|tx| {
        let (mut imported, mut skipped) = (0u64, 0u64);
        for r in &rows {
            let k = r.roblox_id.to_be_bytes();
            if tx.get(Tree::Shield, &k)?.is_some() {
                skipped += 1;
                continue;
            }
            tx.put_json(
                Tree::Shield,
                &k,
                &ShieldFlag {
                    roblox_id: r.roblox_id.to_string(),
                    roblox_username: r.roblox_username.clone(),
                    reason: r.reason.trim().to_owned(),
                    flagged_by: guild.name.clone(),
                    source: "import".into(),
                    flagged_at: now,
                },
            )?;
            imported += 1;
        }
        Ok((imported, skipped))
    })?;
    ctx.store.durable().await?;
    Ok(counts)
}

/// Fills in the username of a flag that has none (names resolved after the flag was recorded).
/// Returns whether a flag changed; a flag that already has a name keeps it.
pub fn fill_username(ctx: &Ctx, roblox_id: u64, name: &str) -> Result<bool, CoreError> {
    let k = roblox_id.to_be_bytes();
    Ok(ctx.store.transact(|tx| {
        let Some(mut f) = tx.get_json::<ShieldFlag>(Tree::Shield, &k)? else {
            return Ok(false);
        };
        if f.roblox_username.is_some() {
            return Ok(false);
        }
        f.roblox_username = Some(name.to_owned());
        tx.put_json(Tree::Shield, &k, &f)?;
        Ok(true)
    })?)
}

/// Flags a user as an operator.
pub async fn flag(
    ctx: &Ctx,
    roblox_id: u64,
    reason: String,
    roblox_username: Option<String>,
) -> Result<ShieldFlag, CoreError> {
    if reason.trim().is_empty() || reason.chars().count() > 500 {
        return Err(CoreError::invalid("reason", "must be 1 to 500 characters"));
    }
    let f = ShieldFlag {
        roblox_id: roblox_id.to_string(),
        roblox_username,
        reason: reason.trim().to_owned(),
        flagged_by: "Roster".into(),
        source: "manual".into(),
        flagged_at: ctx.clock.now(),
    };
    ctx.store
        .put_json(Tree::Shield, &roblox_id.to_be_bytes(), &f)?;
    ctx.store.durable().await?;
    Ok(f)
}

/// Removes a flag; `false` if there was none.
pub async fn unflag(ctx: &Ctx, roblox_id: u64) -> Result<bool, CoreError> {
    let k = roblox_id.to_be_bytes();
    let existed = ctx.store.get(Tree::Shield, &k)?.is_some();
    ctx.store.remove(Tree::Shield, &k)?;
    ctx.store.durable().await?;
    Ok(existed)
}
