//! Role bindings: which Discord roles a member's Roblox group ranks earn, the guild's verified
//! and unverified roles, and the nickname template. [`plan`] turns a member's ranks into the
//! roles they should hold; [`target_roles`] applies that to the roles they hold now without
//! touching roles Roster does not manage.

use serde_json::json;

use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::store::{StoreExt, Tree, TxnExt, keys};

pub use roster_jobs::bindings::*;

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
    validate_rule(rule)?;
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
    validate_rule(&rule)?;
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
    validate_rule(&rule)?;
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

/// Checks a rule's values; field names as the guild API spells them.
pub fn validate_rule(rule: &BindingRule) -> Result<(), CoreError> {
    let g = rule.group();
    if g == 0 || g > i64::MAX as u64 {
        return Err(CoreError::invalid("group_id", "must be a Roblox group id"));
    }
    match *rule {
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

#[cfg(test)]
mod tests {
    use super::*;

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
