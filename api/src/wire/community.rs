//! Wire types of the community family (`/api/…`, `../shared/reference/community-api.txt`).
//! Reads take their parameters in the query, writes in a JSON body; both are read into these
//! types, so an id may be a JSON number or a string of digits in either.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IdInput;

/// A whole amount, 0 or more: a JSON number or a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Amount(pub u64);

const AMOUNT_RULE: &str = "must be a whole number, 0 or more (a JSON number or a string of digits)";

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s)
                if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse().ok()
            }
            _ => None,
        };
        n.map(Amount).ok_or_else(|| de::Error::custom(AMOUNT_RULE))
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole amount, 0 or more, as a JSON number or a string of digits.",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991_u64},
                {"type": "string", "pattern": "^[0-9]{1,16}$"}
            ]
        })
    }
}

/// A join request's id: a string (or a number) of letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

const REQUEST_ID_RULE: &str =
    "must be a join request id from the list: 1 to 64 letters, digits, `-` or `_`";

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = match Value::deserialize(d)? {
            Value::String(s) => s,
            Value::Number(n) if n.is_u64() => n.to_string(),
            _ => return Err(de::Error::custom(REQUEST_ID_RULE)),
        };
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(RequestId(s))
        } else {
            Err(de::Error::custom(REQUEST_ID_RULE))
        }
    }
}

impl JsonSchema for RequestId {
    fn schema_name() -> Cow<'static, str> {
        "JoinRequestId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A join request's id, as `GET /api/group/join-requests` lists it.",
            "oneOf": [
                {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// `serverId` only.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerQuery {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
}

/// A Roblox user, and optionally the server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedQuery {
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
}

/// A Roblox user in a server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156}))]
pub struct UserParams {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
}

/// A Roblox user in a server and, optionally, a group other than the server's main group.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156}))]
pub struct GroupUserParams {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// A group linked to the server; the server's main group when left out.
    #[serde(default)]
    pub group_id: Option<IdInput>,
}

/// Body of the XP writes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156, "amount": 25, "reference": "quest-42-156"}))]
pub struct XpBody {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// How much.
    pub amount: Amount,
    /// Makes the change idempotent: the same reference again answers the first change's
    /// outcome and changes nothing (1–128 characters; kept per server).
    #[serde(default)]
    pub reference: Option<String>,
}

/// `GET /api/group/join-requests`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestsQuery {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// A group linked to the server; the server's main group when left out.
    #[serde(default)]
    pub group_id: Option<IdInput>,
    /// Only this user's request.
    #[serde(default)]
    pub roblox_id: Option<IdInput>,
    /// Page size, 1–20 (Open Cloud's maximum); 20 when left out.
    #[serde(default)]
    pub limit: Option<Amount>,
    /// The `nextPageToken` of the previous page.
    #[serde(default)]
    pub page_token: Option<String>,
}

/// Body of `POST /api/group/accept-request` and `/api/group/deny-request`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "requestId": "aBc123"}))]
pub struct JoinDecisionBody {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The join request's id.
    pub request_id: RequestId,
    /// A group linked to the server; the server's main group when left out.
    #[serde(default)]
    pub group_id: Option<IdInput>,
}

/// Body of the medal writes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156, "medalName": "Purple Heart"}))]
pub struct MedalBody {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// The medal's name (without regard to case).
    pub medal_name: String,
}

/// Body of the certification writes, and the query of the check.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156, "reference": "AFO"}))]
pub struct CertificationParams {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// The certification's reference, e.g. `AFO` (without regard to case).
    pub reference: String,
}

/// Body of `POST /api/ep/add`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156, "company": "main", "amount": 5}))]
pub struct EpBody {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// `main`, `sub1`, `sub2` or `sub3`.
    pub company: String,
    /// EP to add (1 or more).
    pub amount: Amount,
}

/// Body of `POST /api/loa/start`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(example = serde_json::json!({"serverId": "123456789012345678", "robloxId": 156, "days": 7}))]
pub struct LoaStartBody {
    /// The Discord server id: the API key's (its guild's) when left out, and it must be the
    /// key's when given.
    #[serde(default)]
    pub server_id: Option<IdInput>,
    /// The Roblox user id.
    pub roblox_id: IdInput,
    /// Length in days (1–365), from now.
    pub days: Amount,
}

/// `GET /api/server/info`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// The Discord server id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Discord's approximate member count.
    pub member_count: u64,
    /// The server icon's URL; `null` when it has none.
    pub icon_url: Option<String>,
}

/// `GET /api/user/verified`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// Whether the Roblox account is linked to a Discord account in the server.
    pub is_verified: bool,
    /// That Discord account (the most recently verified); `null` when not verified.
    pub discord_id: Option<String>,
}

/// `GET /api/user/rank`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRank {
    /// The group.
    pub group_id: u64,
    /// The user's role's name (`Guest` when not a member).
    pub rank_name: String,
    /// The rank, 0–255 (0 when not a member).
    pub rank_id: u8,
}

/// The XP routes' answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct XpBalance {
    /// Always `true`.
    pub success: bool,
    /// The balance.
    pub xp: u64,
    /// The rank job an XP threshold started (poll it at `/guilds/{guildId}/jobs/{jobId}`… or
    /// read the rank later); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_job_id: Option<String>,
    /// The rank that job raises the user to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u8>,
    /// `true` when this repeats the first change made with the same `reference`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// A join request's user.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinUser {
    /// Roblox user id.
    pub user_id: u64,
    /// Display name (the username when Roblox gives no display name).
    pub display_name: String,
}

/// One pending join request.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequestView {
    /// Its id: send it to accept or deny.
    pub id: String,
    /// Who asked.
    pub user: JoinUser,
    /// When (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// `GET /api/group/join-requests`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequests {
    /// Always `true`.
    pub success: bool,
    /// The group listed.
    pub group_id: u64,
    /// One page of requests.
    pub data: Vec<JoinRequestView>,
    /// Send as `pageToken` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Accept or deny, done.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinDecided {
    /// Always `true`.
    pub success: bool,
    /// The request.
    pub request_id: String,
    /// `accepted` or `declined`.
    pub status: String,
    /// The job that did it.
    pub job_id: String,
}

/// A write still running: poll the job.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    /// Always `true`.
    pub success: bool,
    /// `queued`.
    pub status: String,
    /// Poll it at `GET /guilds/{guildId}/jobs/{jobId}`.
    pub job_id: String,
}

/// A role.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NewRoleView {
    /// Name.
    pub name: String,
    /// Rank.
    pub rank: u8,
}

/// Promote or demote, done.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankChanged {
    /// Always `true`.
    pub success: bool,
    /// The role the user holds now.
    pub new_role: NewRoleView,
    /// Rank before.
    pub previous_rank: u8,
    /// Whether anything changed.
    pub changed: bool,
    /// The job that did it.
    pub job_id: String,
}

/// A medal.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MedalView {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// When the user got it (a user's medals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awarded_at: Option<i64>,
}

/// Medals.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Medals {
    /// The medals.
    pub medals: Vec<MedalView>,
}

/// A certification.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificationView {
    /// Reference, e.g. `AFO`.
    pub reference: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// When the user got it, in milliseconds (a user's certifications only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awarded_at: Option<i64>,
}

/// Certifications.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Certifications {
    /// The certifications.
    pub certifications: Vec<CertificationView>,
}

/// `GET /api/certifications/check`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HasCertification {
    /// Whether the user holds it.
    pub has_certification: bool,
}

/// A write's message.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Done {
    /// Always `true`.
    pub success: bool,
    /// What happened.
    pub message: String,
}

/// EP and warning level.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EpStatus {
    /// Present on `POST /api/ep/add` (`true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// EP per company the user has any in.
    pub ep: BTreeMap<String, u64>,
    /// The highest warning level over the companies with thresholds (0: none).
    pub warning_level: u32,
}

/// Leave status; times in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoaStatus {
    /// Present on the writes (`true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Whether the user is on leave now.
    pub active: bool,
    /// When it ends (ended); `null` when there is none.
    pub ends_at: Option<i64>,
    /// When it started; `null` when there is none.
    pub started_at: Option<i64>,
}

/// A medal in the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MedalDefWire {
    /// Name (unique without regard to case, 1–100 characters).
    pub name: String,
    /// What it is for (up to 1000 characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A certification in the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificationDefWire {
    /// Short code: 1–16 letters, digits, `-` or `_` (unique without regard to case).
    pub reference: String,
    /// Name (1–100 characters).
    pub name: String,
    /// What it certifies (up to 1000 characters).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// An XP threshold.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct XpRankWire {
    /// XP needed (1 or more).
    pub xp: u64,
    /// The rank it earns in the main group (1–254); a user already ranked higher keeps their rank.
    pub rank: u8,
}

/// `GET`/`PUT /admin/v1/guilds/{guildId}/community`: the community API's catalogues and
/// thresholds (PUT replaces them all).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(example = serde_json::json!({
    "medals": [{"name": "Purple Heart", "description": "Wounded in the line of duty"}],
    "certifications": [{"reference": "AFO", "name": "Authorised Firearms Officer", "description": "Certified to use firearms in the field"}],
    "epWarningThresholds": {"main": [10, 5]},
    "xpRanks": [{"xp": 100, "rank": 2}, {"xp": 500, "rank": 3}]
}))]
pub struct CommunitySettingsWire {
    /// Medals that can be awarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub medals: Vec<MedalDefWire>,
    /// Certifications that can be awarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<CertificationDefWire>,
    /// Per company (`main`, `sub1`, `sub2`, `sub3`), EP thresholds: EP below `n` of them is
    /// warning level `n` there; a user's level is the highest over the companies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ep_warning_thresholds: BTreeMap<String, Vec<u64>>,
    /// XP thresholds, rising in XP and rank: reaching one raises the user to its rank in the
    /// guild's main group (never lowering), through the ranking job path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xp_ranks: Vec<XpRankWire>,
}

impl From<CommunitySettingsWire> for roster_core::community::CommunitySettings {
    fn from(w: CommunitySettingsWire) -> Self {
        use roster_core::community::{CertificationDef, MedalDef, XpRank};
        Self {
            medals: w
                .medals
                .into_iter()
                .map(|m| MedalDef {
                    name: m.name,
                    description: m.description,
                })
                .collect(),
            certifications: w
                .certifications
                .into_iter()
                .map(|c| CertificationDef {
                    reference: c.reference,
                    name: c.name,
                    description: c.description,
                })
                .collect(),
            ep_warning_thresholds: w.ep_warning_thresholds,
            xp_ranks: w
                .xp_ranks
                .into_iter()
                .map(|t| XpRank {
                    xp: t.xp,
                    rank: t.rank,
                })
                .collect(),
        }
    }
}

impl From<roster_core::community::CommunitySettings> for CommunitySettingsWire {
    fn from(s: roster_core::community::CommunitySettings) -> Self {
        Self {
            medals: s
                .medals
                .into_iter()
                .map(|m| MedalDefWire {
                    name: m.name,
                    description: m.description,
                })
                .collect(),
            certifications: s
                .certifications
                .into_iter()
                .map(|c| CertificationDefWire {
                    reference: c.reference,
                    name: c.name,
                    description: c.description,
                })
                .collect(),
            ep_warning_thresholds: s.ep_warning_thresholds,
            xp_ranks: s
                .xp_ranks
                .into_iter()
                .map(|t| XpRankWire {
                    xp: t.xp,
                    rank: t.rank,
                })
                .collect(),
        }
    }
}
