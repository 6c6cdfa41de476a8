//! Users: `GET /cloud/v2/users/{user_id}` (`Cloud_GetUser`) over seeded users ([`UserSeed`]).
//!
//! - The spec's `User` shape: `path`, `createTime`, `id`, `name`, `displayName`, `about`, `locale` and `premium`
//!   for any valid key (public information needs no scope); `idVerified` only with `user.advanced:read`, and
//!   `socialNetworkProfiles` only with `user.social:read` (otherwise left out, not null).
//! - `user_id` must be a positive integer without leading zeros (400 `INVALID_ARGUMENT`); a user that was not
//!   seeded is 404 `NOT_FOUND`. The endpoint takes no query parameters (one is 400).
//! - Rate limit: the spec's 1000 a minute per key owner, like the other operations' per-owner windows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ApiKey;
use super::error::ApiError;
use super::filter::parse_id;
use super::model::World;
use crate::http_util::rfc3339;

/// A user to create with [`super::RobloxSim::seed_user`] (or `POST /_sim/users`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSeed {
    /// The user id (`users/{id}`).
    pub id: u64,
    /// The unique username.
    pub name: String,
    /// The display name (the username when left out).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The profile's "about" text.
    #[serde(default)]
    pub about: String,
    /// IETF language code (`en-US` when left out).
    #[serde(default)]
    pub locale: Option<String>,
    /// Premium subscriber.
    #[serde(default)]
    pub premium: bool,
    /// Identity-verified (shown with `user.advanced:read` only).
    #[serde(default)]
    pub id_verified: bool,
    /// Social profiles (shown with `user.social:read` only).
    #[serde(default)]
    pub social_network_profiles: Option<SocialNetworkProfiles>,
    /// When the account was created (the seeding time when left out).
    #[serde(default)]
    pub create_time: Option<DateTime<Utc>>,
}

impl UserSeed {
    /// A user with just an id and a name.
    pub fn named(id: u64, name: &str) -> Self {
        Self {
            id,
            name: name.to_owned(),
            display_name: None,
            about: String::new(),
            locale: None,
            premium: false,
            id_verified: false,
            social_network_profiles: None,
            create_time: None,
        }
    }
}

/// The spec's `User_SocialNetworkProfiles`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SocialNetworkProfiles {
    /// Facebook profile URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook: Option<String>,
    /// Twitter profile URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twitter: Option<String>,
    /// YouTube profile URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub youtube: Option<String>,
    /// Twitch profile URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twitch: Option<String>,
    /// Guilded profile URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guilded: Option<String>,
    /// `SOCIAL_NETWORK_VISIBILITY_UNSPECIFIED`, `NO_ONE`, `FRIENDS`, `FRIENDS_AND_FOLLOWING`,
    /// `FRIENDS_FOLLOWING_AND_FOLLOWERS` or `EVERYONE`.
    #[serde(default = "unspecified")]
    pub visibility: String,
}

impl Default for SocialNetworkProfiles {
    fn default() -> Self {
        Self {
            facebook: None,
            twitter: None,
            youtube: None,
            twitch: None,
            guilded: None,
            visibility: unspecified(),
        }
    }
}

fn unspecified() -> String {
    "SOCIAL_NETWORK_VISIBILITY_UNSPECIFIED".into()
}

const VISIBILITIES: [&str; 6] = [
    "SOCIAL_NETWORK_VISIBILITY_UNSPECIFIED",
    "NO_ONE",
    "FRIENDS",
    "FRIENDS_AND_FOLLOWING",
    "FRIENDS_FOLLOWING_AND_FOLLOWERS",
    "EVERYONE",
];

/// A seeded user.
#[derive(Clone, Debug)]
pub(crate) struct SimUser {
    seed: UserSeed,
    created: DateTime<Utc>,
}

impl World {
    /// Creates or replaces a user.
    pub(crate) fn seed_user(&mut self, seed: UserSeed, now: DateTime<Utc>) -> Result<(), String> {
        if seed.id == 0 {
            return Err("user id must be positive".into());
        }
        if seed.name.is_empty() {
            return Err("name must not be empty".into());
        }
        if let Some(p) = &seed.social_network_profiles
            && !VISIBILITIES.contains(&p.visibility.as_str())
        {
            return Err(format!("unknown visibility {:?}", p.visibility));
        }
        let created = seed.create_time.unwrap_or(now);
        self.users.insert(seed.id, SimUser { seed, created });
        Ok(())
    }
}

/// The spec's `User`, with the fields the key's scopes may see.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserJson {
    path: String,
    create_time: String,
    id: String,
    name: String,
    display_name: String,
    about: String,
    locale: String,
    premium: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    social_network_profiles: Option<SocialNetworkProfiles>,
}

/// `GET /cloud/v2/users/{user_id}`.
pub(crate) fn get_user(world: &World, segment: &str, key: &ApiKey) -> Result<UserJson, ApiError> {
    let id = parse_id(segment).ok_or_else(|| {
        ApiError::invalid_argument(format!(
            "user_id must be a positive integer, got {segment:?}"
        ))
    })?;
    let user = world
        .users
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("User {id} was not found.")))?;
    let s = &user.seed;
    Ok(UserJson {
        path: format!("users/{id}"),
        create_time: rfc3339(user.created),
        id: id.to_string(),
        name: s.name.clone(),
        display_name: s.display_name.clone().unwrap_or_else(|| s.name.clone()),
        about: s.about.clone(),
        locale: s.locale.clone().unwrap_or_else(|| "en-US".into()),
        premium: s.premium,
        id_verified: key.has_scope("user.advanced:read").then_some(s.id_verified),
        social_network_profiles: key
            .has_scope("user.social:read")
            .then(|| s.social_network_profiles.clone().unwrap_or_default()),
    })
}
