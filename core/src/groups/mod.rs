//! Groups (Roblox groups registered with Roster): plan, sealed Open Cloud key, rules, guard rank
//! and blacklist.
//!
//! The feature around groups lives beside this module: [`apikeys`], [`usage`], [`ranking`], [`idempotency`].

pub mod apikeys;
pub mod idempotency;
pub mod ranking;
pub mod usage;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::PlanLimits;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::{GroupId, RobloxUserId};
use crate::rules::{Direction, RankMatch, RankRule, RankTarget};
use crate::secrets::{Sealed, Secret};
use crate::store::{StoreExt, Tree, TxnExt, keys};

/// A subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// 100 requests a month, one key, no demote (by default).
    Starter,
    /// 1,000 requests a month, two keys.
    Pro,
    /// Unlimited.
    Max,
}

impl Plan {
    /// The configured limits of this plan.
    pub fn limits(self, ctx: &Ctx) -> PlanLimits {
        let p = &ctx.config.plans;
        match self {
            Plan::Starter => p.starter,
            Plan::Pro => p.pro,
            Plan::Max => p.max,
        }
    }

    /// `starter` / `pro` / `max`.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Max => "max",
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "starter" => Ok(Plan::Starter),
            "pro" => Ok(Plan::Pro),
            "max" => Ok(Plan::Max),
            _ => Err(CoreError::invalid("plan", "must be starter, pro or max")),
        }
    }
}

/// A registered group, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// Roblox group id.
    pub id: GroupId,
    /// Display name (for operators).
    pub name: String,
    /// Plan.
    pub plan: Plan,
    /// The Open Cloud API key, sealed with the master key.
    pub open_cloud_key: Option<Sealed>,
    /// Last four characters of the Open Cloud key, to tell keys apart.
    pub open_cloud_key_hint: Option<String>,
    /// No rule acts on or moves a member above this rank.
    pub guard_rank: Option<u8>,
    /// Promote/demote rules.
    pub rules: Vec<RankRule>,
    /// Next rule id to hand out.
    pub next_rule_id: u32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl GroupRecord {
    /// The sealing purpose of this group's Open Cloud key.
    pub fn credential_purpose(id: GroupId) -> String {
        roster_jobs::model::group_key_purpose(id)
    }
}

/// Input to [`create`].
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Roblox group id.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// Plan.
    pub plan: Plan,
    /// Open Cloud key (sealed before storing).
    pub open_cloud_key: Option<Secret>,
    /// Guard rank.
    pub guard_rank: Option<u8>,
}

/// Input to [`update`]; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    /// New name.
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<Plan>,
    /// New Open Cloud key; `Some(None)` removes it.
    pub open_cloud_key: Option<Option<Secret>>,
    /// New guard rank; `Some(None)` removes it.
    pub guard_rank: Option<Option<u8>>,
}

fn key(id: GroupId) -> [u8; 8] {
    id.to_be_bytes()
}

/// `…` and the last four characters of a credential, to tell keys apart.
pub fn key_hint(secret: &Secret) -> String {
    let s = secret.expose();
    let tail: String = s
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn validate_name(name: &str) -> Result<(), CoreError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(CoreError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(())
}

fn validate_key(k: &Secret) -> Result<(), CoreError> {
    let s = k.expose();
    if s.len() < 8 || s.len() > 4096 || s.chars().any(|c| c.is_control() || c == ' ') {
        return Err(CoreError::invalid(
            "openCloudKey",
            "must be 8 to 4096 printable characters without spaces",
        ));
    }
    Ok(())
}

/// Registers a group.
pub async fn create(ctx: &Ctx, new: NewGroup) -> Result<GroupRecord, CoreError> {
    validate_name(&new.name)?;
    if let Some(k) = &new.open_cloud_key {
        validate_key(k)?;
    }
    if let Some(g) = new.guard_rank
        && g == 0
    {
        return Err(CoreError::invalid("guardRank", "must be between 1 and 255"));
    }
    let now = ctx.clock.now();
    let record = GroupRecord {
        id: new.id,
        name: new.name.trim().to_owned(),
        plan: new.plan,
        open_cloud_key: new.open_cloud_key.as_ref().map(|k| {
            ctx.master
                .seal(&GroupRecord::credential_purpose(new.id), k.expose())
        }),
        open_cloud_key_hint: new.open_cloud_key.as_ref().map(key_hint),
        guard_rank: new.guard_rank,
        rules: Vec::new(),
        next_rule_id: 1,
        created_at: now,
        updated_at: now,
    };
    let created = ctx.store.transact(|tx| {
        if tx.get(Tree::Groups, &key(new.id))?.is_some() {
            return Ok(false);
        }
        tx.put_json(Tree::Groups, &key(new.id), &record)?;
        Ok(true)
    })?;
    if !created {
        return Err(CoreError::AlreadyExists(format!("group {}", new.id)));
    }
    ctx.store.durable().await?;
    Ok(record)
}

/// Reads a group.
pub fn get(ctx: &Ctx, id: GroupId) -> Result<Option<GroupRecord>, CoreError> {
    Ok(ctx.store.get_json(Tree::Groups, &key(id))?)
}

/// Lists groups in id order.
pub fn list(
    ctx: &Ctx,
    after: Option<GroupId>,
    limit: usize,
) -> Result<Vec<GroupRecord>, CoreError> {
    let after_key = after.map(key);
    Ok(ctx
        .store
        .scan_json::<GroupRecord>(
            Tree::Groups,
            &[],
            after_key.as_ref().map(|k| &k[..]),
            limit,
            false,
        )?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Applies `f` to a stored group atomically and makes it durable.
async fn modify(
    ctx: &Ctx,
    id: GroupId,
    f: impl Fn(&mut GroupRecord) -> Result<(), CoreError>,
) -> Result<GroupRecord, CoreError> {
    let now = ctx.clock.now();
    let result = ctx.store.transact(|tx| {
        let Some(mut g) = tx.get_json::<GroupRecord>(Tree::Groups, &key(id))? else {
            return Ok(Err(CoreError::NotFound(format!("group {id}"))));
        };
        if let Err(e) = f(&mut g) {
            return Ok(Err(e));
        }
        g.updated_at = now;
        tx.put_json(Tree::Groups, &key(id), &g)?;
        Ok(Ok(g))
    })??;
    ctx.store.durable().await?;
    Ok(result)
}

/// Changes a group's settings.
pub async fn update(ctx: &Ctx, id: GroupId, patch: GroupPatch) -> Result<GroupRecord, CoreError> {
    if let Some(n) = &patch.name {
        validate_name(n)?;
    }
    if let Some(Some(k)) = &patch.open_cloud_key {
        validate_key(k)?;
    }
    if let Some(Some(0)) = patch.guard_rank {
        return Err(CoreError::invalid("guardRank", "must be between 1 and 255"));
    }
    let sealed = patch.open_cloud_key.as_ref().map(|k| {
        k.as_ref().map(|k| {
            (
                ctx.master
                    .seal(&GroupRecord::credential_purpose(id), k.expose()),
                key_hint(k),
            )
        })
    });
    modify(ctx, id, |g| {
        if let Some(n) = &patch.name {
            g.name = n.trim().to_owned();
        }
        if let Some(p) = patch.plan {
            g.plan = p;
        }
        if let Some(k) = &sealed {
            g.open_cloud_key = k.as_ref().map(|(s, _)| s.clone());
            g.open_cloud_key_hint = k.as_ref().map(|(_, h)| h.clone());
        }
        if let Some(gr) = patch.guard_rank {
            g.guard_rank = gr;
        }
        Ok(())
    })
    .await
}

/// Input to [`add_rule`].
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRule {
    /// Promote or demote.
    pub direction: Direction,
    /// Matching current ranks.
    pub from: RankMatch,
    /// Target.
    pub to: RankTarget,
    /// Enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Adds a rule and returns it.
pub async fn add_rule(ctx: &Ctx, id: GroupId, new: NewRule) -> Result<RankRule, CoreError> {
    let g = modify(ctx, id, |g| {
        if g.rules.len() >= 100 {
            return Err(CoreError::LimitReached(
                "a group can have at most 100 rules".into(),
            ));
        }
        let rule = RankRule {
            id: g.next_rule_id,
            direction: new.direction,
            from: new.from,
            to: new.to,
            enabled: new.enabled,
        };
        g.next_rule_id += 1;
        g.rules.push(rule);
        Ok(())
    })
    .await?;
    Ok(*g.rules.last().expect("just pushed"))
}

/// Enables or disables a rule.
pub async fn set_rule_enabled(
    ctx: &Ctx,
    id: GroupId,
    rule_id: u32,
    enabled: bool,
) -> Result<RankRule, CoreError> {
    let g = modify(ctx, id, |g| {
        let r = g
            .rules
            .iter_mut()
            .find(|r| r.id == rule_id)
            .ok_or_else(|| CoreError::NotFound(format!("rule {rule_id} of group {id}")))?;
        r.enabled = enabled;
        Ok(())
    })
    .await?;
    Ok(*g.rules.iter().find(|r| r.id == rule_id).expect("exists"))
}

/// Removes a rule.
pub async fn remove_rule(ctx: &Ctx, id: GroupId, rule_id: u32) -> Result<(), CoreError> {
    modify(ctx, id, |g| {
        let before = g.rules.len();
        g.rules.retain(|r| r.id != rule_id);
        if g.rules.len() == before {
            return Err(CoreError::NotFound(format!("rule {rule_id} of group {id}")));
        }
        Ok(())
    })
    .await
    .map(|_| ())
}

/// A blacklisted user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlacklistEntry {
    /// The user.
    pub roblox_user_id: RobloxUserId,
    /// Why.
    pub reason: String,
    /// When.
    pub added_at: DateTime<Utc>,
}

/// Adds (or updates) a blacklist entry.
pub async fn blacklist_add(
    ctx: &Ctx,
    id: GroupId,
    user: RobloxUserId,
    reason: String,
) -> Result<BlacklistEntry, CoreError> {
    if reason.chars().count() > 500 {
        return Err(CoreError::invalid(
            "reason",
            "must be at most 500 characters",
        ));
    }
    if get(ctx, id)?.is_none() {
        return Err(CoreError::NotFound(format!("group {id}")));
    }
    let entry = BlacklistEntry {
        roblox_user_id: user,
        reason,
        added_at: ctx.clock.now(),
    };
    ctx.store
        .put_json(Tree::Blacklist, &keys::pair(id.get(), user.get()), &entry)?;
    ctx.store.durable().await?;
    Ok(entry)
}

/// Removes a blacklist entry; `false` if there was none.
pub async fn blacklist_remove(
    ctx: &Ctx,
    id: GroupId,
    user: RobloxUserId,
) -> Result<bool, CoreError> {
    let k = keys::pair(id.get(), user.get());
    let existed = ctx.store.get(Tree::Blacklist, &k)?.is_some();
    ctx.store.remove(Tree::Blacklist, &k)?;
    ctx.store.durable().await?;
    Ok(existed)
}

/// The blacklist entry for a user, if any.
pub fn blacklisted(
    ctx: &Ctx,
    id: GroupId,
    user: RobloxUserId,
) -> Result<Option<BlacklistEntry>, CoreError> {
    Ok(ctx
        .store
        .get_json(Tree::Blacklist, &keys::pair(id.get(), user.get()))?)
}

/// A group's blacklist, in user id order.
pub fn blacklist(
    ctx: &Ctx,
    id: GroupId,
    after: Option<RobloxUserId>,
    limit: usize,
) -> Result<Vec<BlacklistEntry>, CoreError> {
    let after_key = after.map(|u| keys::pair(id.get(), u.get()));
    Ok(ctx
        .store
        .scan_json::<BlacklistEntry>(
            Tree::Blacklist,
            &id.to_be_bytes(),
            after_key.as_ref().map(|k| &k[..]),
            limit,
            false,
        )?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}
