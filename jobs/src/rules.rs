//! Promote and demote rules, and how a rule turns a member's current rank into a target rank.
//!
//! A group has a list of rules. Each rule has a direction (promote or demote), matches a current
//! rank exactly or a range of ranks, and names a target: an exact rank, or "the next role up"
//! (promote) / "the next role down" (demote) among the group's roles. Disabled rules never match.
//! A group may set a guard rank: no rule acts on a member ranked above it, and no rule moves a
//! member above it. Guest (0) and owner (255) are never targets.
//!
//! When several enabled rules match, the most specific wins: an exact rank beats a range, a
//! narrower range beats a wider one, and then the lower rule id.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Promote or demote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Move up.
    Promote,
    /// Move down.
    Demote,
}

impl Direction {
    /// `promote` / `demote`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Promote => "promote",
            Direction::Demote => "demote",
        }
    }
}

/// Which current ranks a rule applies to. JSON: `5` or `{"min": 1, "max": 29}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankMatch {
    /// Exactly this rank.
    Exact(u8),
    /// Any rank in `min..=max`.
    Range {
        /// Lowest matching rank.
        min: u8,
        /// Highest matching rank.
        max: u8,
    },
}

impl RankMatch {
    fn matches(self, rank: u8) -> bool {
        match self {
            RankMatch::Exact(r) => r == rank,
            RankMatch::Range { min, max } => (min..=max).contains(&rank),
        }
    }

    /// Smaller is more specific.
    fn width(self) -> u16 {
        match self {
            RankMatch::Exact(_) => 0,
            RankMatch::Range { min, max } => u16::from(max - min) + 1,
        }
    }
}

impl Serialize for RankMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RankMatch::Exact(r) => s.serialize_u8(*r),
            RankMatch::Range { min, max } => {
                serde_json::json!({"min": min, "max": max}).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for RankMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Exact(u8),
            Range { min: u8, max: u8 },
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a rank (0-255) or {\"min\": rank, \"max\": rank}")
        })? {
            Raw::Exact(r) => Ok(RankMatch::Exact(r)),
            Raw::Range { min, max } if min <= max => Ok(RankMatch::Range { min, max }),
            Raw::Range { min, max } => Err(serde::de::Error::custom(format!(
                "range min {min} is above max {max}"
            ))),
        }
    }
}

/// Where a rule sends the member. JSON: `20` or `"next"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankTarget {
    /// This exact rank.
    Rank(u8),
    /// The next role up (promote) or down (demote).
    Next,
}

impl Serialize for RankTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RankTarget::Rank(r) => s.serialize_u8(*r),
            RankTarget::Next => s.serialize_str("next"),
        }
    }
}

impl<'de> Deserialize<'de> for RankTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Rank(u8),
            Word(String),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a rank (1-254) or \"next\""))?
        {
            Raw::Rank(r) if (1..=254).contains(&r) => Ok(RankTarget::Rank(r)),
            Raw::Rank(r) => Err(serde::de::Error::custom(format!(
                "target rank {r} cannot be assigned (guest 0 and owner 255 are not targets)"
            ))),
            Raw::Word(w) if w == "next" => Ok(RankTarget::Next),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a rank (1-254) or \"next\", got {w:?}"
            ))),
        }
    }
}

/// One rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankRule {
    /// Stable id within the group.
    pub id: u32,
    /// Promote or demote.
    pub direction: Direction,
    /// Current ranks it applies to.
    pub from: RankMatch,
    /// Target.
    pub to: RankTarget,
    /// Disabled rules never match.
    pub enabled: bool,
}

/// Why no rule produced a target; the message goes to the caller as NO_MATCHING_RULE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoMatchingRule(pub String);

/// A resolved move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// The rule that matched.
    pub rule_id: u32,
    /// The rank to move to.
    pub target: u8,
}

/// Whether any enabled rule of `direction` exists (a request with none fails fast, without a job).
pub fn has_enabled(rules: &[RankRule], direction: Direction) -> bool {
    rules.iter().any(|r| r.enabled && r.direction == direction)
}

/// Resolves the target rank for a member at `current`, given the group's role ranks.
pub fn resolve(
    rules: &[RankRule],
    direction: Direction,
    guard: Option<u8>,
    current: u8,
    role_ranks: &[u8],
) -> Result<Resolution, NoMatchingRule> {
    if let Some(g) = guard
        && current > g
    {
        return Err(NoMatchingRule(format!(
            "the member's rank {current} is above the group's guard rank {g}; no rule may act on it"
        )));
    }
    let mut candidates: Vec<&RankRule> = rules
        .iter()
        .filter(|r| r.enabled && r.direction == direction && r.from.matches(current))
        .collect();
    if candidates.is_empty() {
        return Err(NoMatchingRule(format!(
            "no enabled {} rule matches rank {current}",
            direction.as_str()
        )));
    }
    candidates.sort_by_key(|r| (r.from.width(), r.id));
    let rule = candidates[0];
    let mut ranks: Vec<u8> = role_ranks
        .iter()
        .copied()
        .filter(|r| (1..=254).contains(r))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    let target = match (rule.to, direction) {
        (RankTarget::Rank(r), _) => {
            if !ranks.contains(&r) {
                return Err(NoMatchingRule(format!(
                    "{} rule {} targets rank {r}, but the group has no role with that rank",
                    direction.as_str(),
                    rule.id
                )));
            }
            r
        }
        (RankTarget::Next, Direction::Promote) => {
            *ranks.iter().find(|r| **r > current).ok_or_else(|| {
                NoMatchingRule(format!(
                    "promote rule {} found no role above rank {current}",
                    rule.id
                ))
            })?
        }
        (RankTarget::Next, Direction::Demote) => {
            *ranks.iter().rev().find(|r| **r < current).ok_or_else(|| {
                NoMatchingRule(format!(
                    "demote rule {} found no role below rank {current}",
                    rule.id
                ))
            })?
        }
    };
    let moves_right_way = match direction {
        Direction::Promote => target > current,
        Direction::Demote => target < current,
    };
    if !moves_right_way {
        return Err(NoMatchingRule(format!(
            "{} rule {} would move rank {current} to {target}",
            direction.as_str(),
            rule.id
        )));
    }
    if let Some(g) = guard
        && target > g
    {
        return Err(NoMatchingRule(format!(
            "{} rule {} targets rank {target}, above the group's guard rank {g}",
            direction.as_str(),
            rule.id
        )));
    }
    Ok(Resolution {
        rule_id: rule.id,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: u32, d: Direction, from: RankMatch, to: RankTarget) -> RankRule {
        RankRule {
            id,
            direction: d,
            from,
            to,
            enabled: true,
        }
    }

    const ROLES: [u8; 7] = [0, 1, 10, 20, 30, 100, 255];

    #[test]
    fn next_role_up_and_down() {
        let rules = [
            rule(
                1,
                Direction::Promote,
                RankMatch::Range { min: 1, max: 29 },
                RankTarget::Next,
            ),
            rule(
                2,
                Direction::Demote,
                RankMatch::Range { min: 10, max: 100 },
                RankTarget::Next,
            ),
        ];
        assert_eq!(
            resolve(&rules, Direction::Promote, None, 1, &ROLES)
                .unwrap()
                .target,
            10
        );
        assert_eq!(
            resolve(&rules, Direction::Promote, None, 20, &ROLES)
                .unwrap()
                .target,
            30
        );
        assert!(resolve(&rules, Direction::Promote, None, 30, &ROLES).is_err());
        assert_eq!(
            resolve(&rules, Direction::Demote, None, 10, &ROLES)
                .unwrap()
                .target,
            1
        );
        assert!(resolve(&rules, Direction::Demote, None, 1, &ROLES).is_err());
    }

    #[test]
    fn exact_beats_range_and_disabled_never_match() {
        let mut rules = vec![
            rule(
                1,
                Direction::Promote,
                RankMatch::Range { min: 1, max: 29 },
                RankTarget::Next,
            ),
            rule(
                2,
                Direction::Promote,
                RankMatch::Exact(1),
                RankTarget::Rank(20),
            ),
        ];
        assert_eq!(
            resolve(&rules, Direction::Promote, None, 1, &ROLES)
                .unwrap()
                .rule_id,
            2
        );
        rules[1].enabled = false;
        assert_eq!(
            resolve(&rules, Direction::Promote, None, 1, &ROLES)
                .unwrap()
                .target,
            10
        );
        rules[0].enabled = false;
        assert!(resolve(&rules, Direction::Promote, None, 1, &ROLES).is_err());
        assert!(!has_enabled(&rules, Direction::Promote));
    }

    #[test]
    fn guard_blocks_high_ranks() {
        let rules = [rule(
            1,
            Direction::Promote,
            RankMatch::Range { min: 1, max: 200 },
            RankTarget::Next,
        )];
        assert_eq!(
            resolve(&rules, Direction::Promote, Some(30), 20, &ROLES)
                .unwrap()
                .target,
            30
        );
        assert!(resolve(&rules, Direction::Promote, Some(25), 20, &ROLES).is_err());
        assert!(resolve(&rules, Direction::Promote, Some(25), 30, &ROLES).is_err());
    }

    #[test]
    fn missing_target_role_and_wrong_direction() {
        let rules = [
            rule(
                1,
                Direction::Promote,
                RankMatch::Exact(1),
                RankTarget::Rank(40),
            ),
            rule(
                2,
                Direction::Demote,
                RankMatch::Exact(10),
                RankTarget::Rank(20),
            ),
        ];
        assert!(
            resolve(&rules, Direction::Promote, None, 1, &ROLES)
                .unwrap_err()
                .0
                .contains("no role")
        );
        assert!(resolve(&rules, Direction::Demote, None, 10, &ROLES).is_err());
    }

    #[test]
    fn json_shapes() {
        let r: RankRule = serde_json::from_str(
            r#"{"id":1,"direction":"promote","from":{"min":1,"max":5},"to":"next","enabled":true}"#,
        )
        .unwrap();
        assert_eq!(r.from, RankMatch::Range { min: 1, max: 5 });
        assert!(serde_json::from_str::<RankTarget>("255").is_err());
        assert!(serde_json::from_str::<RankMatch>(r#"{"min":5,"max":1}"#).is_err());
        assert_eq!(
            serde_json::to_string(&RankTarget::Next).unwrap(),
            "\"next\""
        );
    }
}
