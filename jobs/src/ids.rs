//! Domain identifiers.
//!
//! Every id that crosses an API boundary is a newtype that validates on construction, so a
//! `GroupId` in a handler is known to be a real Roblox group id shape (a positive 64-bit
//! integer that fits Roblox's int64), and a `RankId` is known to be 0–255.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {expected}, got {got}")]
pub struct IdError {
    /// Which kind of id.
    pub what: &'static str,
    /// What a valid one looks like.
    pub expected: &'static str,
    /// What was given (shortened).
    pub got: String,
}

/// Roblox ids are positive and fit an int64 (Roblox's own APIs type them as int64).
const MAX_ROBLOX_ID: u64 = i64::MAX as u64;

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("{cut}…")
    } else {
        s.to_owned()
    }
}

macro_rules! roblox_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Validates a raw id: positive and at most `i64::MAX`.
            pub fn new(raw: u64) -> Result<Self, IdError> {
                if raw == 0 || raw > MAX_ROBLOX_ID {
                    return Err(IdError {
                        what: $what,
                        expected: "a positive integer up to 9223372036854775807",
                        got: raw.to_string(),
                    });
                }
                Ok(Self(raw))
            }

            /// The raw number.
            pub fn get(self) -> u64 {
                self.0
            }

            /// Big-endian bytes, for ordered store keys.
            pub fn to_be_bytes(self) -> [u8; 8] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let raw: u64 = s.trim().parse().map_err(|_| IdError {
                    what: $what,
                    expected: "a positive integer up to 9223372036854775807",
                    got: shorten(s),
                })?;
                Self::new(raw)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = u64::deserialize(d)?;
                Self::new(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

roblox_id!(
    /// A Roblox group id.
    GroupId,
    "groupId"
);
roblox_id!(
    /// A Roblox user id.
    RobloxUserId,
    "robloxUserId"
);
roblox_id!(
    /// A Roblox group role id (distinct from its rank).
    RoleId,
    "roleId"
);

/// A Discord snowflake: any positive 64-bit integer. Discord sends snowflakes as strings; Roster
/// accepts them as strings or numbers and writes them as strings.
macro_rules! snowflake {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            /// Validates a raw id (positive).
            pub fn new(raw: u64) -> Result<Self, IdError> {
                if raw == 0 {
                    return Err(IdError {
                        what: $what,
                        expected: "a Discord id (a positive integer, usually 17 to 20 digits)",
                        got: raw.to_string(),
                    });
                }
                Ok(Self(raw))
            }

            /// The raw number.
            pub fn get(self) -> u64 {
                self.0
            }

            /// Big-endian bytes, for ordered store keys.
            pub fn to_be_bytes(self) -> [u8; 8] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let t = s.trim();
                if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError {
                        what: $what,
                        expected: "a Discord id (a positive integer, usually 17 to 20 digits)",
                        got: shorten(s),
                    });
                }
                let raw: u64 = t.parse().map_err(|_| IdError {
                    what: $what,
                    expected: "a Discord id that fits 64 bits",
                    got: shorten(s),
                })?;
                Self::new(raw)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    N(u64),
                    S(String),
                }
                match Raw::deserialize(d)? {
                    Raw::N(n) => Self::new(n).map_err(serde::de::Error::custom),
                    Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

snowflake!(
    /// A Discord guild (server) id.
    GuildId,
    "guildId"
);
snowflake!(
    /// A Discord user id.
    DiscordUserId,
    "discordId"
);

/// A role's rank within a group: 0 is the guest role, 255 the owner.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct RankId(pub u8);

impl RankId {
    /// The guest rank (non-members).
    pub const GUEST: RankId = RankId(0);
    /// The owner rank.
    pub const OWNER: RankId = RankId(255);

    /// Validates a raw number: 0–255.
    pub fn new(raw: i64) -> Result<Self, IdError> {
        u8::try_from(raw).map(RankId).map_err(|_| IdError {
            what: "rankId",
            expected: "an integer from 0 to 255",
            got: raw.to_string(),
        })
    }

    /// The raw rank.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for RankId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A job id: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub ulid::Ulid);

impl JobId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self(ulid::Ulid::generate())
    }

    /// The 16 bytes of the ULID, big-endian (time-ordered).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    /// From 16 store-key bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(ulid::Ulid::from_bytes(b))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job_{}", self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for JobId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = s.strip_prefix("job_").unwrap_or(s);
        ulid::Ulid::from_string(raw)
            .map(JobId)
            .map_err(|_| IdError {
                what: "jobId",
                expected: "a job id like job_01JD6Z3X8Q4V5N7R9T2W4Y6A8C",
                got: shorten(s),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roblox_ids_validate() {
        assert!(GroupId::new(0).is_err());
        assert!(GroupId::new(u64::MAX).is_err());
        assert_eq!(GroupId::new(7).unwrap().get(), 7);
        assert!("abc".parse::<GroupId>().is_err());
        assert!("-1".parse::<RobloxUserId>().is_err());
        assert_eq!("261".parse::<RobloxUserId>().unwrap().get(), 261);
        let e: Result<GroupId, _> = serde_json::from_str("0");
        assert!(e.is_err());
    }

    #[test]
    fn rank_ids_validate() {
        assert!(RankId::new(256).is_err());
        assert!(RankId::new(-1).is_err());
        assert_eq!(RankId::new(255).unwrap(), RankId::OWNER);
    }

    #[test]
    fn job_ids_round_trip() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        assert_eq!(JobId::from_bytes(id.to_bytes()), id);
        assert!("job_nope".parse::<JobId>().is_err());
    }
}
