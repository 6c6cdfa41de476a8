//! The simulated universes (experiences): their owner, their places, and the user restrictions (experience bans)
//! set in them at the universe and place levels, with the change log `:listLogs` reads; plus the seeds that build
//! them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::SimError;
use super::model::World;

/// A universe (experience) to create, or replace, in the simulator.
///
/// Rules, checked by [`RobloxSim::seed_universe`](super::RobloxSim::seed_universe): the id is non-zero, and
/// exactly one owner is given, a user or a group, with a non-zero id. The owning group need not be seeded (until
/// it is, nobody may manage the universe's restrictions).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UniverseSeed {
    /// The universe id (`universes/{id}`).
    pub id: u64,
    /// The owning user, for a universe owned by a user.
    #[serde(default)]
    pub owner_user_id: Option<u64>,
    /// The owning group, for a universe owned by a group.
    #[serde(default)]
    pub owner_group_id: Option<u64>,
}

/// A user's universe-level restriction as it stands now, for assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRestrictionSnapshot {
    /// Whether the user is banned now: the restriction was set active and, if it has a duration, has not
    /// expired yet.
    pub active: bool,
    /// The duration in whole seconds; `None` for a permanent restriction.
    pub duration_secs: Option<u64>,
    /// The reason not shown to the user.
    pub private_reason: String,
    /// The reason shown to the user.
    pub display_reason: String,
    /// Whether the restriction leaves the user's alt accounts alone.
    pub exclude_alt_accounts: bool,
    /// When the restriction was last set active; `None` since an update that set it inactive.
    pub start_time: Option<DateTime<Utc>>,
}

/// Who owns a universe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UniverseOwner {
    User(u64),
    Group(u64),
}

pub(crate) struct Universe {
    pub(crate) id: u64,
    pub(crate) owner: UniverseOwner,
    pub(crate) places: BTreeSet<u64>,
    /// Universe-level restrictions, keyed by user id.
    pub(crate) restrictions: BTreeMap<u64, Restriction>,
    /// Place-level restrictions, keyed by (place id, user id).
    pub(crate) place_restrictions: BTreeMap<(u64, u64), Restriction>,
    /// Every applied update, oldest first; an entry's `seq` is its position plus one.
    pub(crate) logs: Vec<RestrictionLog>,
}

/// A restriction record: what the last update set, and when.
#[derive(Clone, Debug)]
pub(crate) struct Restriction {
    pub(crate) game_join: GameJoin,
    pub(crate) updated: DateTime<Utc>,
}

/// `UserRestriction_GameJoinRestriction` as stored. The default is the state of a user never restricted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GameJoin {
    /// What the last update set (expiry is applied when reading, see [`GameJoin::in_force`]).
    pub(crate) active: bool,
    /// Set by every update that sets `active`, cleared by one that does not.
    pub(crate) start: Option<DateTime<Utc>>,
    pub(crate) duration_secs: Option<u64>,
    pub(crate) private_reason: String,
    pub(crate) display_reason: String,
    pub(crate) exclude_alt_accounts: bool,
}

impl GameJoin {
    /// Set active and, for a timed restriction, not expired at `now`.
    pub(crate) fn in_force(&self, now: DateTime<Utc>) -> bool {
        if !self.active {
            return false;
        }
        let (Some(start), Some(secs)) = (self.start, self.duration_secs) else {
            return true;
        };
        let end = i64::try_from(secs)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|duration| start.checked_add_signed(duration));
        end.is_none_or(|end| now < end)
    }
}

/// One applied update, as `:listLogs` reports it.
#[derive(Clone, Debug)]
pub(crate) struct RestrictionLog {
    pub(crate) seq: u64,
    pub(crate) user: u64,
    pub(crate) place: Option<u64>,
    /// The user owning the API key that made the change.
    pub(crate) moderator: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) game_join: GameJoin,
}

/// A successful update made with an idempotency key, kept so a retry gets the same answer.
pub(crate) struct IdempotentWrite {
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) first_sent: Option<DateTime<Utc>>,
    /// The request (path, update mask, body) the key was first used for.
    pub(crate) request: String,
    pub(crate) response: serde_json::Value,
}

impl Universe {
    /// The restriction a reader of `place` (or of the universe, for `None`) sees for `user`, and whether it is
    /// inherited from the universe. At the universe level it is the universe record. At a place level it is,
    /// in order: the place's record if it is in force; the universe's if that is; the place's record; the
    /// universe's record (inherited). `None` when the user has no record at all.
    pub(crate) fn effective(
        &self,
        place: Option<u64>,
        user: u64,
        now: DateTime<Utc>,
    ) -> Option<(&Restriction, bool)> {
        let universe_level = self.restrictions.get(&user);
        let Some(place) = place else {
            return universe_level.map(|restriction| (restriction, false));
        };
        let own = self.place_restrictions.get(&(place, user));
        if let Some(own) = own.filter(|r| r.game_join.in_force(now)) {
            return Some((own, false));
        }
        if let Some(inherited) = universe_level.filter(|r| r.game_join.in_force(now)) {
            return Some((inherited, true));
        }
        own.map(|r| (r, false))
            .or_else(|| universe_level.map(|r| (r, true)))
    }

    /// Users with a record visible from `place` (or the universe), in id order, after `after`.
    pub(crate) fn listed_users(&self, place: Option<u64>, after: Option<u64>) -> Vec<u64> {
        let after = |user: &u64| after.is_none_or(|after| *user > after);
        let mut users: BTreeSet<u64> = self.restrictions.keys().copied().filter(after).collect();
        if let Some(place) = place {
            users.extend(
                self.place_restrictions
                    .range((place, 0)..=(place, u64::MAX))
                    .map(|(&(_, user), _)| user)
                    .filter(after),
            );
        }
        users.into_iter().collect()
    }

    /// Replaces the user's game-join restriction at `place` (or the universe) and logs the change.
    pub(crate) fn apply(
        &mut self,
        place: Option<u64>,
        user: u64,
        mut game_join: GameJoin,
        moderator: u64,
        now: DateTime<Utc>,
    ) {
        game_join.start = game_join.active.then_some(now);
        let restriction = Restriction {
            game_join: game_join.clone(),
            updated: now,
        };
        match place {
            Some(place) => self.place_restrictions.insert((place, user), restriction),
            None => self.restrictions.insert(user, restriction),
        };
        let seq = u64::try_from(self.logs.len()).unwrap_or(u64::MAX) + 1;
        self.logs.push(RestrictionLog {
            seq,
            user,
            place,
            moderator,
            at: now,
            game_join,
        });
    }
}

impl World {
    /// Builds a universe from a seed after checking its rules, then inserts it (replacing one with the same id).
    pub(crate) fn seed_universe(&mut self, seed: UniverseSeed) -> Result<(), SimError> {
        let invalid =
            |reason: &str| SimError::InvalidUniverseSeed(format!("universe {}: {reason}", seed.id));
        if seed.id == 0 {
            return Err(invalid("the universe id must be non-zero"));
        }
        let owner = match (seed.owner_user_id, seed.owner_group_id) {
            (Some(0), _) | (_, Some(0)) => return Err(invalid("owner ids must be non-zero")),
            (Some(user), None) => UniverseOwner::User(user),
            (None, Some(group)) => UniverseOwner::Group(group),
            _ => {
                return Err(invalid(
                    "exactly one of ownerUserId and ownerGroupId is required",
                ));
            }
        };
        self.universes.insert(
            seed.id,
            Universe {
                id: seed.id,
                owner,
                places: BTreeSet::new(),
                restrictions: BTreeMap::new(),
                place_restrictions: BTreeMap::new(),
                logs: Vec::new(),
            },
        );
        Ok(())
    }

    /// Adds a place to a universe; place ids are unique across universes.
    pub(crate) fn seed_place(&mut self, universe_id: u64, place_id: u64) -> Result<(), SimError> {
        if place_id == 0 {
            return Err(SimError::InvalidUniverseSeed(format!(
                "universe {universe_id}: place ids must be non-zero"
            )));
        }
        if let Some(other) = self
            .universes
            .values()
            .find(|universe| universe.id != universe_id && universe.places.contains(&place_id))
        {
            return Err(SimError::InvalidUniverseSeed(format!(
                "universe {universe_id}: place {place_id} already belongs to universe {}",
                other.id
            )));
        }
        self.universes
            .get_mut(&universe_id)
            .ok_or(SimError::UnknownUniverse(universe_id))?
            .places
            .insert(place_id);
        Ok(())
    }

    pub(crate) fn restriction_snapshot(
        &self,
        universe_id: u64,
        user_id: u64,
        now: DateTime<Utc>,
    ) -> Option<UserRestrictionSnapshot> {
        let restriction = self
            .universes
            .get(&universe_id)?
            .restrictions
            .get(&user_id)?;
        let game_join = &restriction.game_join;
        Some(UserRestrictionSnapshot {
            active: game_join.in_force(now),
            duration_secs: game_join.duration_secs,
            private_reason: game_join.private_reason.clone(),
            display_reason: game_join.display_reason.clone(),
            exclude_alt_accounts: game_join.exclude_alt_accounts,
            start_time: game_join.start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banned(start: DateTime<Utc>, duration_secs: Option<u64>) -> GameJoin {
        GameJoin {
            active: true,
            start: Some(start),
            duration_secs,
            ..GameJoin::default()
        }
    }

    #[test]
    fn timed_restrictions_expire() {
        let start = Utc::now();
        let hour = banned(start, Some(3600));
        assert!(hour.in_force(start));
        assert!(hour.in_force(start + TimeDelta::seconds(3599)));
        assert!(!hour.in_force(start + TimeDelta::seconds(3600)));
        assert!(banned(start, None).in_force(start + TimeDelta::days(10_000)));
        assert!(banned(start, Some(315_576_000_000)).in_force(start));
        assert!(!GameJoin::default().in_force(start));
    }

    #[test]
    fn place_view_prefers_what_is_in_force() {
        let now = Utc::now();
        let mut world = World::default();
        world
            .seed_universe(UniverseSeed {
                id: 1,
                owner_user_id: Some(5),
                owner_group_id: None,
            })
            .expect("valid seed");
        world.seed_place(1, 10).expect("valid place");
        let universe = world.universes.get_mut(&1).expect("seeded");
        universe.apply(None, 7, banned(now, None), 5, now);
        universe.apply(Some(10), 7, GameJoin::default(), 5, now);
        let (seen, inherited) = universe.effective(Some(10), 7, now).expect("a record");
        assert!(inherited && seen.game_join.active);
        universe.apply(None, 7, GameJoin::default(), 5, now);
        let (seen, inherited) = universe.effective(Some(10), 7, now).expect("a record");
        assert!(!inherited && !seen.game_join.active);
        assert!(universe.effective(Some(10), 8, now).is_none());
        assert_eq!(universe.listed_users(Some(10), None), vec![7]);
        assert_eq!(universe.logs.len(), 3);
        assert!(world.seed_place(2, 10).is_err());
        assert!(world.seed_place(1, 0).is_err());
    }

    #[test]
    fn seeds_need_exactly_one_owner() {
        let mut world = World::default();
        for (user, group) in [
            (None, None),
            (Some(1), Some(2)),
            (Some(0), None),
            (None, Some(0)),
        ] {
            let seed = UniverseSeed {
                id: 3,
                owner_user_id: user,
                owner_group_id: group,
            };
            assert!(world.seed_universe(seed).is_err(), "{user:?} {group:?}");
        }
        let seed = UniverseSeed {
            id: 0,
            owner_user_id: Some(1),
            owner_group_id: None,
        };
        assert!(world.seed_universe(seed).is_err());
    }
}
