//! Idempotency-Key records: a replay within the TTL (24 h by default) gets the original
//! result without touching Roblox again; a replay while the first request still runs gets
//! CONFLICT; the same key with a different body gets BAD_REQUEST.
//!
//! A record only points at the job the first request created; the job record holds the result,
//! so replays render exactly what the first request rendered.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::Tenant;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::JobId;
use crate::store::{StoreError, Tree, Txn, TxnExt, keys};

/// A stored record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdemRecord {
    /// SHA-256 of the canonical request (method, route, body), hex.
    pub request_hash: String,
    /// The job the first request created.
    pub job_id: JobId,
    /// When the first request arrived.
    pub created_at: DateTime<Utc>,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemDecision {
    /// First time (or the old record expired): go ahead, and record.
    Fresh,
    /// Seen with the same request: answer from this job.
    Replay(JobId),
    /// Seen with a different request.
    Mismatch,
}

/// Checks a key as sent (raw header bytes): 1–255 visible ASCII characters (0x21–0x7E).
/// Returns it as text.
pub fn validate_key(key: &[u8]) -> Result<&str, CoreError> {
    let invalid = || {
        CoreError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    };
    if key.is_empty() || key.len() > 255 || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(invalid());
    }
    std::str::from_utf8(key).map_err(|_| invalid())
}

/// Hash of a canonical request.
pub fn request_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The store key of a tenant's Idempotency-Key.
pub fn record_key(tenant: Tenant, key: &str) -> Vec<u8> {
    keys::cat(&tenant.key_prefix(), &Sha256::digest(key.as_bytes()))
}

/// Decides inside a transaction; on `Fresh`, writes the record pointing at `job_id`.
pub fn check_and_record(
    tx: &dyn Txn,
    tenant: Tenant,
    key: &str,
    request_hash: &str,
    job_id: JobId,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> Result<IdemDecision, StoreError> {
    let k = record_key(tenant, key);
    if let Some(existing) = tx.get_json::<IdemRecord>(Tree::Idempotency, &k)?
        && now - existing.created_at < ttl
    {
        if existing.request_hash == request_hash {
            return Ok(IdemDecision::Replay(existing.job_id));
        }
        return Ok(IdemDecision::Mismatch);
    }
    tx.put_json(
        Tree::Idempotency,
        &k,
        &IdemRecord {
            request_hash: request_hash.to_owned(),
            job_id,
            created_at: now,
        },
    )?;
    Ok(IdemDecision::Fresh)
}

/// Deletes records older than the TTL; returns how many.
pub fn purge(ctx: &Ctx) -> Result<u64, CoreError> {
    let ttl = chrono::Duration::from_std(ctx.config.server.idempotency_ttl)
        .unwrap_or(chrono::Duration::hours(24));
    let cutoff = ctx.clock.now() - ttl;
    let mut removed = 0;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let batch = ctx
            .store
            .scan(Tree::Idempotency, &[], after.as_deref(), 1000, false)?;
        if batch.is_empty() {
            break;
        }
        for (k, v) in &batch {
            let rec: IdemRecord = crate::store::decode(Tree::Idempotency, v)?;
            if rec.created_at < cutoff {
                ctx.store.remove(Tree::Idempotency, k)?;
                removed += 1;
            }
        }
        after = batch.last().map(|(k, _)| k.clone());
    }
    Ok(removed)
}
