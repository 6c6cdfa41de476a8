//! API keys: scoped to exactly one group, shown once at creation, stored only as a SHA-256 hash,
//! revocable, with a label and a last-used time.
//!
//! Lookups go through an in-memory cache keyed by the hash (the control plane is the only
//! process that reads keys, so revocation invalidates the cache directly). `last_used_at` is
//! kept in memory and written back at most once a minute per key, so authentication costs no
//! store write.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::CoreError;
use crate::groups;
use crate::ids::{GroupId, GuildId};
use crate::secrets::{random_token, token_hash};
use crate::store::{StoreExt, Tree, TxnExt};

/// What a key may act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum KeyScope {
    /// One Roblox group (the ranking API).
    Group(GroupId),
    /// One Discord guild (the guild API: moderation, Shield, servers, audit).
    Guild(GuildId),
}

/// A stored key (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    /// Public id, `key_…`.
    pub id: String,
    /// Scope.
    pub scope: KeyScope,
    /// Operator's label.
    pub label: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last successful authentication (approximate to a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// In-memory view of keys by hash.
#[derive(Debug, Default)]
pub struct KeyCache {
    by_hash: RwLock<HashMap<String, Option<Arc<ApiKeyRecord>>>>,
    last_used: RwLock<HashMap<String, DateTime<Utc>>>,
}

/// The prefix of every Roster API key.
pub const KEY_PREFIX: &str = "rst_";

/// Issues a key for `scope`; returns the record and the key, which is not stored anywhere.
pub async fn issue(
    ctx: &Ctx,
    scope: KeyScope,
    label: &str,
) -> Result<(ApiKeyRecord, String), CoreError> {
    let label = label.trim();
    if label.chars().count() > 100 {
        return Err(CoreError::invalid(
            "label",
            "must be at most 100 characters",
        ));
    }
    match scope {
        KeyScope::Group(gid) => {
            let group = groups::get(ctx, gid)?
                .ok_or_else(|| CoreError::NotFound(format!("group {gid}")))?;
            let limit = group.plan.limits(ctx).api_keys;
            let active = list(ctx, scope)?
                .iter()
                .filter(|k| k.revoked_at.is_none())
                .count() as u64;
            if !limit.allows(active + 1) {
                return Err(CoreError::LimitReached(format!(
                    "the {} plan allows {} API key(s) per group and group {gid} has {active}; revoke one first or change plan",
                    group.plan.as_str(),
                    limit.count().unwrap_or(0),
                )));
            }
        }
        KeyScope::Guild(gid) => {
            if crate::guilds::get(ctx, gid)?.is_none() {
                return Err(CoreError::NotFound(format!("guild {gid}")));
            }
        }
    }
    let token = random_token(KEY_PREFIX);
    let record = ApiKeyRecord {
        id: format!("key_{}", ulid::Ulid::generate()),
        scope,
        label: if label.is_empty() {
            "default".into()
        } else {
            label.into()
        },
        hash: token_hash(&token),
        prefix: token.chars().take(KEY_PREFIX.len() + 4).collect(),
        created_at: ctx.clock.now(),
        last_used_at: None,
        revoked_at: None,
    };
    ctx.store.transact(|tx| {
        tx.put_json(Tree::ApiKeys, record.id.as_bytes(), &record)?;
        tx.insert(
            Tree::ApiKeyHashes,
            record.hash.as_bytes(),
            record.id.as_bytes().to_vec(),
        )?;
        Ok(())
    })?;
    ctx.store.durable().await?;
    ctx.keys.by_hash.write().remove(&record.hash);
    Ok((record, token))
}

/// Keys of a scope (revoked ones included), newest first.
pub fn list(ctx: &Ctx, scope: KeyScope) -> Result<Vec<ApiKeyRecord>, CoreError> {
    let mut out: Vec<ApiKeyRecord> = ctx
        .store
        .scan_json::<ApiKeyRecord>(Tree::ApiKeys, b"key_", None, usize::MAX, true)?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|k| k.scope == scope)
        .collect();
    let used = ctx.keys.last_used.read();
    for k in &mut out {
        if let Some(t) = used.get(&k.hash) {
            k.last_used_at = Some(*t);
        }
    }
    Ok(out)
}

/// Reads one key record.
pub fn get(ctx: &Ctx, id: &str) -> Result<Option<ApiKeyRecord>, CoreError> {
    Ok(ctx.store.get_json(Tree::ApiKeys, id.as_bytes())?)
}

/// Revokes a key; it stops working immediately.
pub async fn revoke(ctx: &Ctx, id: &str) -> Result<ApiKeyRecord, CoreError> {
    let now = ctx.clock.now();
    let rec = ctx.store.transact(|tx| {
        let Some(mut k) = tx.get_json::<ApiKeyRecord>(Tree::ApiKeys, id.as_bytes())? else {
            return Ok(None);
        };
        if k.revoked_at.is_none() {
            k.revoked_at = Some(now);
        }
        tx.put_json(Tree::ApiKeys, id.as_bytes(), &k)?;
        tx.remove(Tree::ApiKeyHashes, k.hash.as_bytes())?;
        Ok(Some(k))
    })?;
    let rec = rec.ok_or_else(|| CoreError::NotFound(format!("API key {id}")))?;
    ctx.store.durable().await?;
    ctx.keys.by_hash.write().insert(rec.hash.clone(), None);
    Ok(rec)
}

/// Finds the live key record for a presented key, or `None` if unknown or revoked.
pub fn authenticate(ctx: &Ctx, presented: &str) -> Result<Option<Arc<ApiKeyRecord>>, CoreError> {
    if presented.is_empty() || presented.len() > 200 {
        return Ok(None);
    }
    let hash = token_hash(presented);
    let cached = ctx.keys.by_hash.read().get(&hash).cloned();
    let rec = match cached {
        Some(r) => r,
        None => {
            let rec = match ctx.store.get(Tree::ApiKeyHashes, hash.as_bytes())? {
                Some(id) => ctx
                    .store
                    .get_json::<ApiKeyRecord>(Tree::ApiKeys, &id)?
                    .filter(|k| k.revoked_at.is_none())
                    .map(Arc::new),
                None => None,
            };
            let mut cache = ctx.keys.by_hash.write();
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(hash.clone(), rec.clone());
            rec
        }
    };
    if let Some(r) = &rec {
        touch(ctx, r);
    }
    Ok(rec)
}

/// Records use in memory; persists at most once a minute per key.
fn touch(ctx: &Ctx, rec: &ApiKeyRecord) {
    let now = ctx.clock.now();
    let stale = {
        let used = ctx.keys.last_used.read();
        match used.get(&rec.hash) {
            Some(t) => now - *t > chrono::Duration::seconds(60),
            None => true,
        }
    };
    if !stale {
        return;
    }
    ctx.keys.last_used.write().insert(rec.hash.clone(), now);
    let id = rec.id.clone();
    let _ = ctx.store.transact(|tx| {
        if let Some(mut k) = tx.get_json::<ApiKeyRecord>(Tree::ApiKeys, id.as_bytes())? {
            k.last_used_at = Some(now);
            tx.put_json(Tree::ApiKeys, id.as_bytes(), &k)?;
        }
        Ok(())
    });
}
