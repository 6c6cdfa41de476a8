//! Role bindings as a sync job carries them: which Discord roles a member's Roblox group ranks
//! earn ([`plan`]), applied to the roles they hold now ([`target_roles`]), and the nickname
//! template ([`render_nickname`]). Stored and edited by the control plane (`roster_core::bindings`).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::DiscordSettings;

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
}
