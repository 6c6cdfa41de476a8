//! The community API's records (`../shared/reference/community-api.txt`): per guild, each Roblox
//! user's XP, EP per company, medals and certifications, the catalogues they are awarded from,
//! and leave ([`leave`], shared with the staff API).
//!
//! Every change is one store transaction over the user's record (sled retries a transaction that
//! raced another, so concurrent changes to one user never lose an update), flushed before the
//! caller hears of it, with an audit entry in the same write. An XP change carrying a
//! `reference` is recorded under it: the same reference again answers the first change's
//! outcome and changes nothing. An XP change that reaches a configured threshold stages, in the
//! same write, a job raising the user to the threshold's rank in the guild's main group (through
//! the ranking job path: usage, blacklist, guard, audit; it never lowers a rank).

pub mod leave;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::error::CoreError;
use crate::groups;
use crate::ids::{GuildId, JobId, RobloxUserId};
use crate::store::{StoreError, StoreExt, Tree, TxnExt, keys};

/// The EP companies a guild has.
pub const COMPANIES: [&str; 4] = ["main", "sub1", "sub2", "sub3"];

/// The largest XP balance or amount (JavaScript's largest safe integer, so every caller's JSON
/// parser reads it exactly).
pub const MAX_XP: u64 = 9_007_199_254_740_991;

/// The largest EP amount in one change.
pub const MAX_EP_AMOUNT: u64 = 1_000_000_000;

/// A medal a guild awards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedalDef {
    /// Its name (unique in the guild, compared without case).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// A certification a guild awards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificationDef {
    /// Short code, e.g. `AFO` (unique in the guild, compared without case).
    pub reference: String,
    /// Name, e.g. `Authorised Firearms Officer`.
    pub name: String,
    /// What it certifies.
    #[serde(default)]
    pub description: String,
}

/// An XP threshold: reaching `xp` earns at least `rank` in the main group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XpRank {
    /// XP needed.
    pub xp: u64,
    /// Rank earned (1–254).
    pub rank: u8,
}

/// A guild's community settings: the catalogues and thresholds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommunitySettings {
    /// Medals that can be awarded.
    pub medals: Vec<MedalDef>,
    /// Certifications that can be awarded.
    pub certifications: Vec<CertificationDef>,
    /// Per company, EP thresholds: a user whose EP in the company is below `n` of them has
    /// warning level `n` there; the reported level is the highest over the companies.
    pub ep_warning_thresholds: BTreeMap<String, Vec<u64>>,
    /// XP thresholds that raise the user's rank in the guild's main group.
    pub xp_ranks: Vec<XpRank>,
}

/// Most medals or certifications in a catalogue.
const MAX_CATALOGUE: usize = 500;

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl CommunitySettings {
    /// Checks the settings; the error names the field (`medals[2].name`).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.medals.len() > MAX_CATALOGUE {
            return Err(CoreError::invalid(
                "medals",
                format!("at most {MAX_CATALOGUE} medals"),
            ));
        }
        for (i, m) in self.medals.iter().enumerate() {
            if !text_ok(&m.name, 100) {
                return Err(CoreError::invalid(
                    format!("medals[{i}].name"),
                    "must be 1 to 100 characters without control characters",
                ));
            }
            if m.description.chars().count() > 1000 {
                return Err(CoreError::invalid(
                    format!("medals[{i}].description"),
                    "must be at most 1000 characters",
                ));
            }
            if self.medals[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&m.name))
            {
                return Err(CoreError::invalid(
                    format!("medals[{i}].name"),
                    format!(
                        "{:?} is already a medal (names are compared without case)",
                        m.name
                    ),
                ));
            }
        }
        if self.certifications.len() > MAX_CATALOGUE {
            return Err(CoreError::invalid(
                "certifications",
                format!("at most {MAX_CATALOGUE} certifications"),
            ));
        }
        for (i, c) in self.certifications.iter().enumerate() {
            if c.reference.is_empty()
                || c.reference.len() > 16
                || !c
                    .reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(CoreError::invalid(
                    format!("certifications[{i}].reference"),
                    "must be 1 to 16 letters, digits, `-` or `_`",
                ));
            }
            if !text_ok(&c.name, 100) {
                return Err(CoreError::invalid(
                    format!("certifications[{i}].name"),
                    "must be 1 to 100 characters without control characters",
                ));
            }
            if c.description.chars().count() > 1000 {
                return Err(CoreError::invalid(
                    format!("certifications[{i}].description"),
                    "must be at most 1000 characters",
                ));
            }
            if self.certifications[..i]
                .iter()
                .any(|o| o.reference.eq_ignore_ascii_case(&c.reference))
            {
                return Err(CoreError::invalid(
                    format!("certifications[{i}].reference"),
                    format!("{:?} is already a certification", c.reference),
                ));
            }
        }
        for (company, thresholds) in &self.ep_warning_thresholds {
            if !COMPANIES.contains(&company.as_str()) {
                return Err(CoreError::invalid(
                    format!("epWarningThresholds.{company}"),
                    format!("unknown company; use one of {}", COMPANIES.join(", ")),
                ));
            }
            if thresholds.len() > 10 {
                return Err(CoreError::invalid(
                    format!("epWarningThresholds.{company}"),
                    "at most 10 thresholds",
                ));
            }
        }
        if self.xp_ranks.len() > 50 {
            return Err(CoreError::invalid("xpRanks", "at most 50 thresholds"));
        }
        for (i, t) in self.xp_ranks.iter().enumerate() {
            if !(1..=254).contains(&t.rank) {
                return Err(CoreError::invalid(
                    format!("xpRanks[{i}].rank"),
                    "must be from 1 to 254",
                ));
            }
            if t.xp == 0 || t.xp > MAX_XP {
                return Err(CoreError::invalid(
                    format!("xpRanks[{i}].xp"),
                    format!("must be from 1 to {MAX_XP}"),
                ));
            }
            if let Some(prev) = i.checked_sub(1).map(|p| self.xp_ranks[p])
                && (t.xp <= prev.xp || t.rank <= prev.rank)
            {
                return Err(CoreError::invalid(
                    format!("xpRanks[{i}]"),
                    "thresholds must rise in both xp and rank, in order",
                ));
            }
        }
        Ok(())
    }

    /// The medal named `name` (without case).
    pub fn medal(&self, name: &str) -> Option<&MedalDef> {
        let name = name.trim();
        self.medals
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The certification `reference` (without case).
    pub fn certification(&self, reference: &str) -> Option<&CertificationDef> {
        let r = reference.trim();
        self.certifications
            .iter()
            .find(|c| c.reference.eq_ignore_ascii_case(r))
    }

    /// The rank `xp` earns, if any.
    pub fn rank_for(&self, xp: u64) -> Option<u8> {
        self.xp_ranks
            .iter()
            .filter(|t| t.xp <= xp)
            .map(|t| t.rank)
            .max()
    }

    /// The warning level of an EP balance (see [`Self::ep_warning_thresholds`]).
    pub fn warning_level(&self, ep: &BTreeMap<String, u64>) -> u32 {
        self.ep_warning_thresholds
            .iter()
            .map(|(company, ts)| {
                let have = ep.get(company).copied().unwrap_or(0);
                ts.iter().filter(|t| have < **t).count() as u32
            })
            .max()
            .unwrap_or(0)
    }
}

/// A medal or certification a user holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Award {
    /// The medal's name or the certification's reference, as the catalogue spells it.
    pub key: String,
    /// When.
    pub awarded_at: DateTime<Utc>,
    /// The API key that awarded it.
    #[serde(default)]
    pub awarded_by: Option<String>,
}

/// A user's community record in a guild.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MemberRecord {
    /// XP balance.
    pub xp: u64,
    /// EP per company.
    pub ep: BTreeMap<String, u64>,
    /// Medals held.
    pub medals: Vec<Award>,
    /// Certifications held.
    pub certifications: Vec<Award>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a community operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommunityError {
    /// A field is wrong (400).
    #[error("`{field}` {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Something named does not exist (404 with `code`).
    #[error("{message}")]
    NotFound {
        /// Machine code.
        code: &'static str,
        /// What.
        message: String,
    },
    /// The state does not allow it (409 with `code`).
    #[error("{message}")]
    Conflict {
        /// Machine code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// Storage or another core failure.
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<StoreError> for CommunityError {
    fn from(e: StoreError) -> Self {
        CommunityError::Core(e.into())
    }
}

fn settings_key(guild: GuildId) -> [u8; 8] {
    guild.to_be_bytes()
}

fn member_key(guild: GuildId, user: RobloxUserId) -> [u8; 16] {
    keys::pair(guild.get(), user.get())
}

/// A guild's settings (defaults when never set).
pub fn settings(ctx: &Ctx, guild: GuildId) -> Result<CommunitySettings, CoreError> {
    Ok(ctx
        .store
        .get_json(Tree::CommunitySettings, &settings_key(guild))?
        .unwrap_or_default())
}

/// Replaces a guild's settings. Awards already made of medals or certifications no longer in the
/// catalogue stay on the users' records (and are listed with an empty description).
pub async fn set_settings(
    ctx: &Ctx,
    guild: GuildId,
    settings: CommunitySettings,
) -> Result<CommunitySettings, CoreError> {
    settings.validate()?;
    ctx.store
        .put_json(Tree::CommunitySettings, &settings_key(guild), &settings)?;
    ctx.store.durable().await?;
    Ok(settings)
}

/// A user's record (empty when they have none).
pub fn member(ctx: &Ctx, guild: GuildId, user: RobloxUserId) -> Result<MemberRecord, CoreError> {
    Ok(ctx
        .store
        .get_json(Tree::CommunityMembers, &member_key(guild, user))?
        .unwrap_or_default())
}

/// An XP change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "amount", rename_all = "lowercase")]
pub enum XpOp {
    /// Set the balance.
    Set(u64),
    /// Add to it.
    Add(u64),
    /// Take from it (never below zero).
    Subtract(u64),
}

impl XpOp {
    fn name(self) -> &'static str {
        match self {
            XpOp::Set(_) => "set",
            XpOp::Add(_) => "add",
            XpOp::Subtract(_) => "subtract",
        }
    }

    fn amount(self) -> u64 {
        match self {
            XpOp::Set(n) | XpOp::Add(n) | XpOp::Subtract(n) => n,
        }
    }
}

/// What an XP change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct XpOutcome {
    /// Balance before.
    pub previous: u64,
    /// Balance after.
    pub xp: u64,
    /// A rank job the change started (an XP threshold was reached).
    #[serde(default)]
    pub rank_job: Option<JobId>,
    /// The rank that job raises to.
    #[serde(default)]
    pub rank: Option<u8>,
    /// This answer repeats the first change made with the same `reference`.
    #[serde(skip)]
    pub replayed: bool,
}

/// The record of a change made with a `reference`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefRecord {
    user: u64,
    change: XpOp,
    outcome: XpOutcome,
    at: DateTime<Utc>,
}

fn ref_key(guild: GuildId, reference: &str) -> Vec<u8> {
    keys::cat(&guild.to_be_bytes(), &Sha256::digest(reference.as_bytes()))
}

/// Checks a `reference`: 1 to 128 printable characters.
pub fn validate_reference(r: &str) -> Result<(), CommunityError> {
    if r.is_empty() || r.chars().count() > 128 || r.chars().any(char::is_control) {
        return Err(CommunityError::Invalid {
            field: "reference",
            message: "must be 1 to 128 characters without control characters".into(),
        });
    }
    Ok(())
}

fn audit_entry(
    id: u64,
    action: &str,
    actor: &str,
    user: RobloxUserId,
    metadata: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(id, action, actor, user, metadata, now)
}

/// Changes a user's XP atomically; with a `reference`, at most once.
pub async fn change_xp(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
    change: XpOp,
    reference: Option<&str>,
    actor: &str,
) -> Result<XpOutcome, CommunityError> {
    if change.amount() > MAX_XP {
        return Err(CommunityError::Invalid {
            field: "amount",
            message: format!("must be from 0 to {MAX_XP}"),
        });
    }
    if let Some(r) = reference {
        validate_reference(r)?;
    }
    let settings = settings(ctx, guild)?;
    // The main group, when XP earns ranks there.
    let main = if settings.xp_ranks.is_empty() {
        None
    } else {
        crate::guilds::get(ctx, guild)?
            .and_then(|g| g.discord.main_group)
            .map(|g| groups::get(ctx, g))
            .transpose()?
            .flatten()
    };
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    enum Done {
        Fresh(XpOutcome),
        Replay(XpOutcome),
        Reused(RefRecord),
        TooLarge(u64),
    }
    let done = ctx
        .commit(|tx, jobs| {
            if let Some(r) = reference
                && let Some(prev) =
                    tx.get_json::<RefRecord>(Tree::CommunityRefs, &ref_key(guild, r))?
            {
                jobs.unchanged();
                if prev.user == user.get() && prev.change == change {
                    let mut o = prev.outcome;
                    o.replayed = true;
                    return Ok(Done::Replay(o));
                }
                return Ok(Done::Reused(prev));
            }
            let key = member_key(guild, user);
            let mut m: MemberRecord = tx
                .get_json(Tree::CommunityMembers, &key)?
                .unwrap_or_default();
            let previous = m.xp;
            let xp = match change {
                XpOp::Set(n) => n,
                XpOp::Add(n) => match previous.checked_add(n).filter(|x| *x <= MAX_XP) {
                    Some(x) => x,
                    None => {
                        jobs.unchanged();
                        return Ok(Done::TooLarge(previous));
                    }
                },
                XpOp::Subtract(n) => previous.saturating_sub(n),
            };
            m.xp = xp;
            m.updated_at = Some(now);
            tx.put_json(Tree::CommunityMembers, &key, &m)?;
            let mut outcome = XpOutcome {
                previous,
                xp,
                rank_job: None,
                rank: None,
                replayed: false,
            };
            if let Some(group) = &main
                && let Some(rank) = settings.rank_for(xp)
                && settings.rank_for(previous) < Some(rank)
            {
                outcome.rank_job =
                    crate::ranking::stage_raise(ctx, tx, jobs, group, user, rank, actor)?;
                outcome.rank = outcome.rank_job.map(|_| rank);
            }
            if let Some(r) = reference {
                tx.put_json(
                    Tree::CommunityRefs,
                    &ref_key(guild, r),
                    &RefRecord {
                        user: user.get(),
                        change,
                        outcome: outcome.clone(),
                        at: now,
                    },
                )?;
            }
            let mut meta = serde_json::json!({
                "previousXp": previous,
                "xp": xp,
                "amount": change.amount(),
            });
            if let Some(r) = reference {
                meta["reference"] = r.into();
            }
            if let Some(j) = outcome.rank_job {
                meta["rankJobId"] = j.to_string().into();
            }
            audit::append_in(
                tx,
                Tenant::Guild(guild),
                &audit_entry(
                    audit_id,
                    &format!("xp.{}", change.name()),
                    actor,
                    user,
                    meta,
                    now,
                ),
            )?;
            Ok(Done::Fresh(outcome))
        })
        .await?;
    match done {
        Done::Fresh(o) => {
            metrics::counter!("roster_community_xp_changes_total", "op" => change.name())
                .increment(1);
            Ok(o)
        }
        Done::Replay(o) => Ok(o),
        Done::Reused(prev) => Err(CommunityError::Conflict {
            code: "REFERENCE_REUSED",
            message: format!(
                "reference was already used for another change ({} {} XP for user {})",
                prev.change.name(),
                prev.change.amount(),
                prev.user
            ),
        }),
        Done::TooLarge(have) => Err(CommunityError::Invalid {
            field: "amount",
            message: format!("would take the balance ({have}) above {MAX_XP}"),
        }),
    }
}

/// Which catalogue an award comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardKind {
    /// Medals.
    Medal,
    /// Certifications.
    Certification,
}

impl AwardKind {
    fn noun(self) -> &'static str {
        match self {
            AwardKind::Medal => "medal",
            AwardKind::Certification => "certification",
        }
    }
}

/// Awards (`give`) or revokes a medal or certification; returns the catalogue's spelling of its
/// name (medals) or reference (certifications).
pub async fn set_award(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
    kind: AwardKind,
    key: &str,
    give: bool,
    actor: &str,
) -> Result<String, CommunityError> {
    let settings = settings(ctx, guild)?;
    let canonical = match kind {
        AwardKind::Medal => settings.medal(key).map(|m| m.name.clone()),
        AwardKind::Certification => settings.certification(key).map(|c| c.reference.clone()),
    }
    .ok_or_else(|| CommunityError::NotFound {
        code: match kind {
            AwardKind::Medal => "UNKNOWN_MEDAL",
            AwardKind::Certification => "UNKNOWN_CERTIFICATION",
        },
        message: format!("this server has no {} {:?}", kind.noun(), key.trim()),
    })?;
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let changed = ctx.store.transact(|tx| {
        let k = member_key(guild, user);
        let mut m: MemberRecord = tx.get_json(Tree::CommunityMembers, &k)?.unwrap_or_default();
        let list = match kind {
            AwardKind::Medal => &mut m.medals,
            AwardKind::Certification => &mut m.certifications,
        };
        let held = list
            .iter()
            .position(|a| a.key.eq_ignore_ascii_case(&canonical));
        match (give, held) {
            (true, Some(_)) | (false, None) => return Ok(false),
            (true, None) => list.push(Award {
                key: canonical.clone(),
                awarded_at: now,
                awarded_by: Some(actor.to_owned()),
            }),
            (false, Some(i)) => {
                list.remove(i);
            }
        }
        m.updated_at = Some(now);
        tx.put_json(Tree::CommunityMembers, &k, &m)?;
        let action = format!("{}.{}", kind.noun(), if give { "award" } else { "revoke" });
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &audit_entry(
                audit_id,
                &action,
                actor,
                user,
                serde_json::json!({ kind.noun(): canonical }),
                now,
            ),
        )?;
        Ok(true)
    })?;
    if !changed {
        let (code, message) = match (kind, give) {
            (AwardKind::Medal, true) => ("MEDAL_ALREADY_AWARDED", "already holds"),
            (AwardKind::Medal, false) => ("MEDAL_NOT_HELD", "does not hold"),
            (AwardKind::Certification, true) => ("CERTIFICATION_ALREADY_AWARDED", "already holds"),
            (AwardKind::Certification, false) => ("CERTIFICATION_NOT_HELD", "does not hold"),
        };
        return Err(CommunityError::Conflict {
            code,
            message: format!("user {user} {message} the {} {canonical}", kind.noun()),
        });
    }
    ctx.store.durable().await?;
    Ok(canonical)
}

/// Checks a company name.
pub fn company(name: &str) -> Result<&'static str, CommunityError> {
    COMPANIES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name.trim()))
        .copied()
        .ok_or_else(|| CommunityError::NotFound {
            code: "UNKNOWN_COMPANY",
            message: format!(
                "{:?} is not a company; use one of {}",
                name,
                COMPANIES.join(", ")
            ),
        })
}

/// Adds EP in a company; returns the user's EP and warning level after.
pub async fn add_ep(
    ctx: &Ctx,
    guild: GuildId,
    user: RobloxUserId,
    company_name: &str,
    amount: u64,
    actor: &str,
) -> Result<(BTreeMap<String, u64>, u32), CommunityError> {
    let company = company(company_name)?;
    if amount == 0 || amount > MAX_EP_AMOUNT {
        return Err(CommunityError::Invalid {
            field: "amount",
            message: format!("must be from 1 to {MAX_EP_AMOUNT}"),
        });
    }
    let settings = settings(ctx, guild)?;
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    let ep = ctx.store.transact(|tx| {
        let k = member_key(guild, user);
        let mut m: MemberRecord = tx.get_json(Tree::CommunityMembers, &k)?.unwrap_or_default();
        let v = m.ep.entry(company.to_owned()).or_insert(0);
        *v = v.saturating_add(amount).min(MAX_XP);
        m.updated_at = Some(now);
        tx.put_json(Tree::CommunityMembers, &k, &m)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &audit_entry(
                audit_id,
                "ep.add",
                actor,
                user,
                serde_json::json!({"company": company, "amount": amount, "ep": m.ep[company]}),
                now,
            ),
        )?;
        Ok(m.ep)
    })?;
    ctx.store.durable().await?;
    let level = settings.warning_level(&ep);
    Ok((ep, level))
}
