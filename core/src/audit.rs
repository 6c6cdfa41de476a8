//! The audit log: one ordered list of entries per tenant, written from job outcomes (rank
//! changes) and later from moderation, sync and custom integrations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::CoreError;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

pub use roster_jobs::model::Tenant;

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// Increasing id (the pagination cursor).
    pub id: u64,
    /// What happened, dotted: `rank.promote`, `rank.set.failed`, `ban.create`, ….
    pub action: String,
    /// Who did it (an API key id, a moderator id).
    pub actor_id: Option<String>,
    /// Whom it concerned.
    pub target_id: Option<String>,
    /// Details.
    pub metadata: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl AuditEntry {
    /// An entry: `actor` did `action` to `target` at `now`.
    pub fn new(
        id: u64,
        action: &str,
        actor: &str,
        target: impl ToString,
        metadata: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            action: action.to_owned(),
            actor_id: Some(actor.to_owned()),
            target_id: Some(target.to_string()),
            metadata,
            created_at: now,
        }
    }
}

/// Appends an entry inside a transaction. `id` must come from [`crate::store::Store::next_id`].
pub fn append_in(tx: &dyn Txn, tenant: Tenant, entry: &AuditEntry) -> Result<(), StoreError> {
    let k = keys::cat(&tenant.key_prefix(), &entry.id.to_be_bytes());
    tx.put_json(Tree::Audit, &k, entry)
}

/// Newest-first page of a tenant's entries, before `cursor` (an entry id), optionally only one
/// action (or an action prefix ending in `.`).
pub fn list(
    ctx: &Ctx,
    tenant: Tenant,
    limit: usize,
    cursor: Option<u64>,
    action: Option<&str>,
) -> Result<(Vec<AuditEntry>, Option<u64>), CoreError> {
    let prefix = tenant.key_prefix();
    let mut after = cursor.map(|c| keys::cat(&prefix, &c.to_be_bytes()));
    let mut out = Vec::new();
    loop {
        let batch = ctx.store.scan_json::<AuditEntry>(
            Tree::Audit,
            &prefix,
            after.as_deref(),
            limit.max(50),
            true,
        )?;
        let exhausted = batch.len() < limit.max(50);
        for (k, e) in batch {
            after = Some(k);
            let keep = match action {
                None => true,
                Some(a) if a.ends_with('.') => e.action.starts_with(a),
                Some(a) => e.action == a,
            };
            if keep {
                out.push(e);
                if out.len() == limit {
                    let next = out.last().map(|e| e.id);
                    return Ok((out, next));
                }
            }
        }
        if exhausted {
            return Ok((out, None));
        }
    }
}
