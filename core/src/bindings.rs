//! Role bindings: which Discord roles a member's Roblox group ranks earn, the guild's verified
//! and unverified roles, and the nickname template. [`plan`] turns a member's ranks into the
//! roles they should hold; [`target_roles`] applies that to the roles they hold now without
//! touching roles Roster does not manage.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::error::CoreError;
use crate::guilds::DiscordSettings;
use crate::ids::GuildId;
use crate::store::{StoreExt, Tree, TxnExt, keys};

/// Most bindings one guild may have.
pub const MAX_BINDINGS: usize = 500;
/// Most roles one binding may grant.
pub const MAX_ROLES_PER_BINDING: usize = 25;
/// Discord's nickname limit, in characters.
pub const NICKNAME_MAX: usize = 32;

/// What a binding matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BindingRule {
    /// Exactly this rank in the group.
    GroupRank {
        /// Roblox group.
        group_id: u64,
        /// Rank, 1–255.
        rank: u8,
    },
    /// Any rank from `min_rank` to `max_rank` (inclusive) in the group.
    GroupRankRange {
        /// Roblox group.
        group_id: u64,
        /// Lowest rank, 1–255.
        min_rank: u8,
        /// Highest rank, `min_rank`–255.
        max_rank: u8,
    },
    /// Any member of the group (rank 1–255).
    GroupMember {
        /// Roblox group.
        group_id: u64,
    },
}

impl BindingRule {
    /// The group it looks at.
    pub fn group(&self) -> u64 {
        match *self {
            BindingRule::GroupRank { group_id, .. }
            | BindingRule::GroupRankRange { group_id, .. }
            | BindingRule::GroupMember { group_id } => group_id,
        }
    }

    /// Whether a member with `rank` in the group (0 = not a member) matches.
    pub fn matches(&self, rank: u8) -> bool {
        match *self {
            BindingRule::GroupRank { rank: r, .. } => rank == r,
            BindingRule::GroupRankRange {
                min_rank, max_rank, ..
            } => rank >= min_rank.max(1) && rank <= max_rank,
            BindingRule::GroupMember { .. } => rank >= 1,
        }
    }

    /// The wire name of its type.
    pub fn type_name(&self) -> &'static str {
        match self {
            BindingRule::GroupRank { .. } => "group_rank",
            BindingRule::GroupRankRange { .. } => "group_rank_range",
            BindingRule::GroupMember { .. } => "group_member",
        }
    }

    /// Checks the values; field names as the guild API spells them.
    pub fn validate(&self) -> Result<(), CoreError> {
        let g = self.group();
        if g == 0 || g > i64::MAX as u64 {
            return Err(CoreError::invalid("group_id", "must be a Roblox group id"));
        }
        match *self {
            BindingRule::GroupRank { rank: 0, .. } => Err(CoreError::invalid(
                "rank",
                "must be 1 to 255 (0 is a guest, who is not in the group)",
            )),
            BindingRule::GroupRankRange {
                min_rank, max_rank, ..
            } if min_rank == 0 || max_rank < min_rank => Err(CoreError::invalid(
                "min_rank",
                "must be 1 to 255 and not above max_rank",
            )),
            _ => Ok(()),
        }
    }
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Id (unique across the deployment).
    pub id: u64,
    /// What it matches.
    #[serde(flatten)]
    pub rule: BindingRule,
    /// Roles it grants.
    pub role_ids: Vec<u64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn key(guild: GuildId, id: u64) -> [u8; 16] {
    keys::pair(guild.get(), id)
}

fn validate_roles(roles: &[u64]) -> Result<Vec<u64>, CoreError> {
    if roles.is_empty() {
        return Err(CoreError::invalid("role_id", "is required"));
    }
    if roles.len() > MAX_ROLES_PER_BINDING {
        return Err(CoreError::invalid(
            "role_ids",
            format!("at most {MAX_ROLES_PER_BINDING} roles per binding"),
        ));
    }
    if roles.iter().any(|r| *r == 0 || *r > i64::MAX as u64) {
        return Err(CoreError::invalid("role_id", "must be a Discord role id"));
    }
    let mut r = roles.to_vec();
    r.sort_unstable();
    r.dedup();
    Ok(r)
}

/// Checks a binding spec without saving it.
pub fn validate(rule: &BindingRule, roles: &[u64]) -> Result<(), CoreError> {
    rule.validate()?;
    validate_roles(roles).map(drop)
}

/// Every binding of a guild, by id.
pub fn list(ctx: &Ctx, guild: GuildId) -> Result<Vec<Binding>, CoreError> {
    Ok(ctx
        .store
        .scan_json::<Binding>(
            Tree::Bindings,
            &guild.to_be_bytes(),
            None,
            MAX_BINDINGS + 1,
            false,
        )?
        .into_iter()
        .map(|(_, b)| b)
        .collect())
}

/// Adds a binding.
pub async fn create(
    ctx: &Ctx,
    guild: GuildId,
    rule: BindingRule,
    roles: &[u64],
    actor: Option<String>,
) -> Result<Binding, CoreError> {
    rule.validate()?;
    let roles = validate_roles(roles)?;
    let now = ctx.clock.now();
    let id = ctx.store.next_id()?;
    let audit_id = ctx.store.next_id()?;
    let binding = Binding {
        id,
        rule,
        role_ids: roles,
        created_at: now,
        updated_at: now,
    };
    let existing = list(ctx, guild)?;
    if existing.len() >= MAX_BINDINGS {
        return Err(CoreError::LimitReached(format!(
            "a guild can have at most {MAX_BINDINGS} bindings"
        )));
    }
    if let Some(dup) = existing
        .iter()
        .find(|b| b.rule == binding.rule && b.role_ids == binding.role_ids)
    {
        return Err(CoreError::AlreadyExists(format!(
            "an identical binding (id {})",
            dup.id
        )));
    }
    ctx.store.transact(|tx| {
        tx.put_json(Tree::Bindings, &key(guild, id), &binding)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "binding.create".into(),
                actor_id: actor.clone(),
                target_id: Some(id.to_string()),
                metadata: json!({"binding": &binding}),
                created_at: now,
            },
        )
    })?;
    ctx.store.durable().await?;
    Ok(binding)
}

/// Changes to a binding; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct BindingPatch {
    /// Type (switching type needs the new type's fields).
    pub kind: Option<String>,
    /// Group.
    pub group_id: Option<u64>,
    /// Rank (`group_rank`).
    pub rank: Option<u8>,
    /// Lowest rank (`group_rank_range`).
    pub min_rank: Option<u8>,
    /// Highest rank (`group_rank_range`).
    pub max_rank: Option<u8>,
    /// Roles (replaces the list).
    pub role_ids: Option<Vec<u64>>,
}

/// Builds a rule from a type name and fields, falling back to `base` for missing ones.
pub fn rule_from_parts(
    kind: &str,
    group_id: Option<u64>,
    rank: Option<u8>,
    min_rank: Option<u8>,
    max_rank: Option<u8>,
    base: Option<&BindingRule>,
) -> Result<BindingRule, CoreError> {
    let base_group = base.map(BindingRule::group);
    let group_id = group_id
        .or(base_group)
        .ok_or_else(|| CoreError::invalid("group_id", "is required"))?;
    let (base_rank, base_min, base_max) = match base {
        Some(BindingRule::GroupRank { rank, .. }) => (Some(*rank), Some(*rank), Some(*rank)),
        Some(BindingRule::GroupRankRange {
            min_rank, max_rank, ..
        }) => (None, Some(*min_rank), Some(*max_rank)),
        _ => (None, None, None),
    };
    let rule = match kind {
        "group_rank" => BindingRule::GroupRank {
            group_id,
            rank: rank
                .or(base_rank)
                .ok_or_else(|| CoreError::invalid("rank", "is required for group_rank"))?,
        },
        "group_rank_range" => BindingRule::GroupRankRange {
            group_id,
            min_rank: min_rank.or(base_min).ok_or_else(|| {
                CoreError::invalid("min_rank", "is required for group_rank_range")
            })?,
            max_rank: max_rank.or(base_max).ok_or_else(|| {
                CoreError::invalid("max_rank", "is required for group_rank_range")
            })?,
        },
        "group_member" => BindingRule::GroupMember { group_id },
        other => {
            return Err(CoreError::invalid(
                "type",
                format!(
                    "{other:?} is not a binding type: use group_rank, group_rank_range or group_member"
                ),
            ));
        }
    };
    rule.validate()?;
    Ok(rule)
}

/// Changes a binding.
pub async fn update(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    patch: BindingPatch,
    actor: Option<String>,
) -> Result<Binding, CoreError> {
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let current: Binding = ctx
        .store
        .get_json(Tree::Bindings, &key(guild, id))?
        .ok_or_else(|| CoreError::NotFound(format!("binding {id}")))?;
    let kind = patch
        .kind
        .clone()
        .unwrap_or_else(|| current.rule.type_name().to_owned());
    let rule = rule_from_parts(
        &kind,
        patch.group_id,
        patch.rank,
        patch.min_rank,
        patch.max_rank,
        Some(&current.rule),
    )?;
    let roles = match &patch.role_ids {
        Some(r) => validate_roles(r)?,
        None => current.role_ids.clone(),
    };
    let updated = Binding {
        rule,
        role_ids: roles,
        updated_at: now,
        ..current.clone()
    };
    let found = ctx.store.transact(|tx| {
        if tx.get(Tree::Bindings, &key(guild, id))?.is_none() {
            return Ok(false);
        }
        tx.put_json(Tree::Bindings, &key(guild, id), &updated)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "binding.update".into(),
                actor_id: actor.clone(),
                target_id: Some(id.to_string()),
                metadata: json!({"before": &current, "after": &updated}),
                created_at: now,
            },
        )?;
        Ok(true)
    })?;
    if !found {
        return Err(CoreError::NotFound(format!("binding {id}")));
    }
    ctx.store.durable().await?;
    Ok(updated)
}

/// Removes a binding.
pub async fn remove(
    ctx: &Ctx,
    guild: GuildId,
    id: u64,
    actor: Option<String>,
) -> Result<(), CoreError> {
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let removed = ctx.store.transact(|tx| {
        let Some(b) = tx.get_json::<Binding>(Tree::Bindings, &key(guild, id))? else {
            return Ok(false);
        };
        tx.remove(Tree::Bindings, &key(guild, id))?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "binding.remove".into(),
                actor_id: actor.clone(),
                target_id: Some(id.to_string()),
                metadata: json!({"binding": b}),
                created_at: now,
            },
        )?;
        Ok(true)
    })?;
    if !removed {
        return Err(CoreError::NotFound(format!("binding {id}")));
    }
    ctx.store.durable().await?;
    Ok(())
}

/// The roles a member should hold and the roles Roster manages in a guild.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolePlan {
    /// Roles the member should hold.
    pub wanted: BTreeSet<u64>,
    /// Every role bindings, the verified and the unverified role can grant.
    pub managed: BTreeSet<u64>,
    /// Bindings that matched.
    pub matched: Vec<u64>,
}

/// The roles a member should hold. `ranks` has the member's rank in each group they belong to
/// (a group missing from it: not a member); `linked` is whether they have a Roblox link.
pub fn plan(
    settings: &DiscordSettings,
    bindings: &[Binding],
    linked: bool,
    ranks: &HashMap<u64, u8>,
) -> RolePlan {
    let mut p = RolePlan::default();
    p.managed.extend(settings.verified_role);
    p.managed.extend(settings.unverified_role);
    for b in bindings {
        p.managed.extend(b.role_ids.iter().copied());
    }
    if !linked {
        p.wanted.extend(settings.unverified_role);
        return p;
    }
    p.wanted.extend(settings.verified_role);
    for b in bindings {
        let rank = ranks.get(&b.rule.group()).copied().unwrap_or(0);
        if b.rule.matches(rank) {
            p.wanted.extend(b.role_ids.iter().copied());
            p.matched.push(b.id);
        }
    }
    p
}

/// The member's role list after sync: unmanaged roles kept, wanted roles added, managed roles
/// that are not wanted removed unless listed in `keep`. Sorted.
pub fn target_roles(current: &[u64], plan: &RolePlan, keep: &[u64]) -> Vec<u64> {
    let mut out: BTreeSet<u64> = current
        .iter()
        .copied()
        .filter(|r| !plan.managed.contains(r) || plan.wanted.contains(r) || keep.contains(r))
        .collect();
    out.extend(plan.wanted.iter().copied());
    out.into_iter().collect()
}

/// The placeholders a nickname template may use.
pub const PLACEHOLDERS: [&str; 4] = [
    "roblox-username",
    "roblox-display-name",
    "rank-name",
    "discord-name",
];

/// Checks a nickname template: 1–100 characters, only known placeholders, braces balanced.
pub fn validate_template(t: &str) -> Result<(), CoreError> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > 100 {
        return Err(CoreError::invalid(
            "nicknameTemplate",
            "must be 1 to 100 characters",
        ));
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            CoreError::invalid("nicknameTemplate", "has a `{` without a closing `}`")
        })?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(CoreError::invalid(
                "nicknameTemplate",
                format!(
                    "unknown placeholder {{{name}}}; use {}",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(CoreError::invalid(
            "nicknameTemplate",
            "has a `}` without an opening `{`",
        ));
    }
    Ok(())
}

/// Values for a nickname template.
#[derive(Debug, Clone, Default)]
pub struct NicknameVars<'a> {
    /// Roblox username.
    pub roblox_username: &'a str,
    /// Roblox display name (the username when unknown).
    pub roblox_display_name: Option<&'a str>,
    /// The rank's name in the main group (empty when not a member).
    pub rank_name: &'a str,
    /// The member's Discord display name.
    pub discord_name: &'a str,
}

/// Renders a template, trimmed and cut to Discord's 32 characters.
pub fn render_nickname(template: &str, v: &NicknameVars<'_>) -> String {
    let out = template
        .replace("{roblox-username}", v.roblox_username)
        .replace(
            "{roblox-display-name}",
            v.roblox_display_name.unwrap_or(v.roblox_username),
        )
        .replace("{rank-name}", v.rank_name)
        .replace("{discord-name}", v.discord_name);
    let cut: String = out.trim().chars().take(NICKNAME_MAX).collect();
    cut.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: u64, rule: BindingRule, roles: &[u64]) -> Binding {
        Binding {
            id,
            rule,
            role_ids: roles.to_vec(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn rules_match_ranks() {
        let exact = BindingRule::GroupRank {
            group_id: 1,
            rank: 200,
        };
        assert!(exact.matches(200) && !exact.matches(201) && !exact.matches(0));
        let range = BindingRule::GroupRankRange {
            group_id: 1,
            min_rank: 10,
            max_rank: 20,
        };
        assert!(range.matches(10) && range.matches(20) && !range.matches(9) && !range.matches(21));
        let member = BindingRule::GroupMember { group_id: 1 };
        assert!(member.matches(1) && member.matches(255) && !member.matches(0));
    }

    #[test]
    fn plan_and_target() {
        let settings = DiscordSettings {
            verified_role: Some(100),
            unverified_role: Some(101),
            ..Default::default()
        };
        let bindings = vec![
            b(
                1,
                BindingRule::GroupRank {
                    group_id: 7,
                    rank: 200,
                },
                &[200],
            ),
            b(2, BindingRule::GroupMember { group_id: 7 }, &[300]),
            b(3, BindingRule::GroupMember { group_id: 8 }, &[400]),
        ];
        let ranks = HashMap::from([(7u64, 200u8)]);
        let p = plan(&settings, &bindings, true, &ranks);
        assert_eq!(p.wanted, BTreeSet::from([100, 200, 300]));
        assert_eq!(p.matched, vec![1, 2]);
        // 999 is not managed: kept. 400 is managed and not wanted: removed, unless kept.
        assert_eq!(
            target_roles(&[999, 400, 101], &p, &[]),
            vec![100, 200, 300, 999]
        );
        assert_eq!(
            target_roles(&[999, 400], &p, &[400]),
            vec![100, 200, 300, 400, 999]
        );
        let unlinked = plan(&settings, &bindings, false, &ranks);
        assert_eq!(unlinked.wanted, BTreeSet::from([101]));
        assert_eq!(target_roles(&[100, 200, 5], &unlinked, &[]), vec![5, 101]);
    }

    #[test]
    fn templates() {
        assert!(validate_template("[{rank-name}] {roblox-username}").is_ok());
        assert!(validate_template("{nope}").is_err());
        assert!(validate_template("{rank-name").is_err());
        assert!(validate_template("a}").is_err());
        let v = NicknameVars {
            roblox_username: "Shedletsky",
            roblox_display_name: None,
            rank_name: "Very Long Rank Name Here",
            discord_name: "shed",
        };
        let n = render_nickname("[{rank-name}] {roblox-display-name}", &v);
        assert_eq!(n.chars().count(), 32);
        assert_eq!(n, "[Very Long Rank Name Here] Shedl");
    }
}
