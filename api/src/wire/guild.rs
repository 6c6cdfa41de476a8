//! Wire types of the guild family (`../shared/reference/guild-api.txt`): the envelope around
//! each route's `data`, request bodies of the game-server routes, and their answers.
//! Timestamps are RFC 3339 in whole seconds with `Z` ([`roster_core::clock::WholeSeconds`]).

use std::borrow::Cow;

use roster_core::clock::WholeSeconds;
use roster_core::ids::DiscordUserId;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IdInput;

/// The guild family's success envelope around a route's `data`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(rename = "Guild{T}")]
pub struct Data<T> {
    /// Always `success`.
    pub status: String,
    /// The HTTP status.
    pub code: u16,
    /// A human message, on some answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The answer.
    pub data: T,
}

/// A timestamp as the guild family writes it: RFC 3339, whole seconds, `Z`.
#[derive(Debug, Clone, Copy)]
pub struct Seconds;

impl JsonSchema for Seconds {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "RFC 3339 in whole seconds, UTC (`2026-05-02T10:00:42Z`).",
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
        })
    }
}

/// Text of at most `N` characters; a JSON number is taken as its digits (ids sent as numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const N: usize>(pub String);

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s.chars().count() <= N => Ok(Text(s)),
            Value::String(_) => Err(de::Error::custom(format!("must be at most {N} characters"))),
            Value::Number(n) => Ok(Text(n.to_string())),
            _ => Err(de::Error::custom("must be a string")),
        }
    }
}

impl<const N: usize> JsonSchema for Text<N> {
    fn schema_name() -> Cow<'static, str> {
        format!("Text{N}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": format!("Text of at most {N} characters (a number is taken as its digits)."),
            "oneOf": [{"type": "string", "maxLength": N}, {"type": "number"}]
        })
    }
}

/// A Roblox user id, or a Discord user id: a number or a string of digits.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRef(pub Value);

impl<'de> Deserialize<'de> for UserRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(UserRef)
    }
}

impl JsonSchema for UserRef {
    fn schema_name() -> Cow<'static, str> {
        "UserRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Roblox user id or a Discord user id, as a number or a string of digits.",
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[0-9]{1,20}$"}]
        })
    }
}

/// A ban or mute length: whole seconds, 1 to ten years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSecs(pub u64);

impl<'de> Deserialize<'de> for DurationSecs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d)?
            .as_u64()
            .filter(|n| *n > 0 && *n <= roster_core::moderation::MAX_DURATION.as_secs())
            .map(DurationSecs)
            .ok_or_else(|| {
                de::Error::custom(
                    "must be a positive whole number of seconds up to ten years, or null for permanent",
                )
            })
    }
}

impl JsonSchema for DurationSecs {
    fn schema_name() -> Cow<'static, str> {
        "DurationSeconds".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds, up to ten years; null or absent for permanent.",
            "type": "integer", "minimum": 1,
            "maximum": roster_core::moderation::MAX_DURATION.as_secs()
        })
    }
}

/// Body of `POST /moderation/{guildId}/roblox/ban`, `…/mute`, `…/unban`, `…/unmute`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"identifier": "261", "reason": "Exploiting", "moderator_id": "1", "duration_seconds": 3600}))]
pub struct PushBody {
    /// The player: a Roblox user id (or a Discord user id for a linked member).
    pub identifier: UserRef,
    /// Why (bans and mutes).
    #[serde(default)]
    pub reason: Option<Text<1000>>,
    /// Who did it (a Roblox or Discord id, or a name).
    #[serde(default)]
    pub moderator_id: Option<Text<64>>,
    /// How long (bans and mutes); absent or null for permanent.
    #[serde(default)]
    pub duration_seconds: Option<DurationSecs>,
    /// Only in this place (absent: every place of the guild's games).
    #[serde(default)]
    pub place_id: Option<IdInput>,
    /// The guild, if named (must be the key's).
    #[serde(default)]
    pub guild_id: Option<UserRef>,
}

/// Body of `POST /roblox/games/register`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RegisterBody {
    /// The place.
    pub place_id: IdInput,
    /// Its universe (experience).
    pub universe_id: IdInput,
    /// A name for operators.
    #[serde(default)]
    pub name: Option<Text<100>>,
    /// The guild, if named (must be the key's).
    #[serde(default)]
    pub guild_id: Option<UserRef>,
}

/// Body of `POST /roblox/servers/heartbeat`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"server_id": "srv-1", "place_id": 1818, "universe_id": 121, "player_count": 12}))]
pub struct HeartbeatBody {
    /// The server's `game.JobId`.
    pub server_id: Text<100>,
    /// Its place.
    #[serde(default)]
    pub place_id: Option<IdInput>,
    /// Its universe.
    #[serde(default)]
    pub universe_id: Option<IdInput>,
    /// Players in it (0 to 10000).
    #[serde(default)]
    pub player_count: Option<PlayerCount>,
    /// The guild, if named (must be the key's).
    #[serde(default)]
    pub guild_id: Option<UserRef>,
}

/// Players in a server: 0 to 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerCount(pub u32);

impl<'de> Deserialize<'de> for PlayerCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d)?
            .as_u64()
            .filter(|n| *n <= 10_000)
            .map(|n| PlayerCount(n as u32))
            .ok_or_else(|| de::Error::custom("must be a whole number from 0 to 10000"))
    }
}

impl JsonSchema for PlayerCount {
    fn schema_name() -> Cow<'static, str> {
        "PlayerCount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0, "maximum": 10000})
    }
}

/// A ban's details.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BanInfo<'a> {
    /// The record.
    pub id: u64,
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub moderator_id: Option<&'a str>,
    /// When it ends (null: permanent).
    #[schemars(with = "Option<Seconds>")]
    pub expires_at: Option<WholeSeconds>,
    /// When it began.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /moderation/{guildId}/ban-status/{identifier}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"banned": true, "ban_info": {"id": 41, "reason": "Exploiting", "moderator_id": "1", "expires_at": "2026-12-05T10:00:42Z", "created_at": "2026-12-04T10:00:42Z"}}))]
pub struct BanStatus<'a> {
    /// Whether the player is banned here.
    pub banned: bool,
    /// The ban, when banned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_info: Option<BanInfo<'a>>,
}

/// A mute's details.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MuteInfo<'a> {
    /// The record.
    pub id: u64,
    /// Why.
    pub reason: &'a str,
    /// When it ends (null: permanent).
    #[schemars(with = "Option<Seconds>")]
    pub expires_at: Option<WholeSeconds>,
}

/// `GET /moderation/{guildId}/mute-status/{identifier}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MuteStatus<'a> {
    /// Whether the player is muted here.
    pub muted: bool,
    /// The mute, when muted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_info: Option<MuteInfo<'a>>,
}

/// An active ban or mute in a list.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModItem {
    /// The record.
    pub id: u64,
    /// The player.
    pub identifier: String,
    /// Why.
    pub reason: String,
    /// When it ends (null: permanent).
    #[schemars(with = "Option<Seconds>")]
    pub expires_at: Option<WholeSeconds>,
    /// Only in this place.
    pub place_id: Option<u64>,
    /// Who.
    pub moderator_id: Option<String>,
    /// When it began.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /moderation/{guildId}/roblox/bans/active`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActiveBans {
    /// Active bans.
    pub bans: Vec<ModItem>,
}

/// `GET /moderation/{guildId}/roblox/mutes/active`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActiveMutes {
    /// Active mutes.
    pub mutes: Vec<ModItem>,
}

/// The answer to a ban.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Banned {
    /// The record.
    pub id: u64,
    /// Always `true`.
    pub banned: bool,
}

/// The answer to a mute.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Muted {
    /// The record.
    pub id: u64,
    /// Always `true`.
    pub muted: bool,
}

/// The answer to an unban (`false`: there was no ban).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Unbanned {
    /// Whether a ban ended.
    pub unbanned: bool,
}

/// The answer to an unmute (`false`: there was no mute).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Unmuted {
    /// Whether a mute ended.
    pub unmuted: bool,
}

/// The answer to `POST /roblox/games/register`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Registered {
    /// Always `true`.
    pub registered: bool,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HeartbeatOk {
    /// Always `true`.
    pub ok: bool,
}

/// A command for a game server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Command {
    /// `cmd_…`; acknowledge it by this id.
    pub id: String,
    /// `kick`, `ban`, `unban`, `mute`, `unmute`, `announce`, or an integration's own type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The player, when the command has one.
    pub target_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// When it was queued.
    #[schemars(with = "Seconds")]
    pub issued_at: WholeSeconds,
    /// The command's own data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// `GET /roblox/servers/{serverId}/commands`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(example = serde_json::json!({"commands": [{"id": "cmd_7", "type": "kick", "target_id": "261", "reason": "Exploiting", "issued_at": "2026-12-04T10:00:42Z"}]}))]
pub struct Commands {
    /// Commands due, oldest first (at most 100).
    pub commands: Vec<Command>,
}

/// The answer to an acknowledgement (`false`: nothing pending with that id).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Acked {
    /// Whether a pending command was acknowledged.
    pub acked: bool,
}

/// An audit entry.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditEntry<'a> {
    /// The entry.
    pub id: u64,
    /// What happened, e.g. `moderation.ban`, `rank.change`, `custom.deploy`.
    pub action: &'a str,
    /// Who (an API key id, a Roblox or Discord id).
    pub actor_id: Option<&'a str>,
    /// To whom.
    pub target_id: Option<&'a str>,
    /// Details, by action.
    pub metadata: &'a Value,
    /// When.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /guilds/{guildId}/audit-logs`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditPage<'a> {
    /// Newest first.
    pub entries: Vec<AuditEntry<'a>>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<u64>,
}

/// Body of `POST /guilds/{guildId}/audit-logs`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AuditBody {
    /// `custom.` followed by lowercase letters, digits, `.`, `_` or `-` (at most 64 characters).
    pub action: Value,
    /// Details: an object of at most 8 KiB.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// To whom.
    #[serde(default)]
    pub target_id: Option<Text<64>>,
}

/// The answer to `POST /guilds/{guildId}/audit-logs`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Created {
    /// The new entry.
    pub id: u64,
}

/// A Discord id as the guild family writes it: a string of digits.
#[derive(Debug, Clone, Copy)]
pub struct Snowflake;

impl JsonSchema for Snowflake {
    fn schema_name() -> Cow<'static, str> {
        "Snowflake".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Discord id, as a string of digits.",
            "type": "string", "pattern": "^[0-9]{1,20}$"
        })
    }
}

/// An account link (`/lookup/discord/…`, `/lookup/roblox/…`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Link<'a> {
    /// The Discord user.
    #[schemars(with = "Snowflake")]
    pub discord_id: DiscordUserId,
    /// The Roblox user.
    pub roblox_id: u64,
    /// Their Roblox username.
    pub roblox_username: &'a str,
    /// When the link was verified.
    #[schemars(with = "Seconds")]
    pub verified_at: WholeSeconds,
}

/// A member in a listing (`/guilds/{guildId}/members`, `/verified-users`, `/reverse`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinkShort<'a> {
    /// The Roblox user (first in `/reverse` answers, as the reference shows).
    pub roblox_id: u64,
    /// The Discord user.
    #[schemars(with = "Snowflake")]
    pub discord_id: DiscordUserId,
    /// Their Roblox username.
    pub roblox_username: &'a str,
}

/// One id's verification status (`POST /lookup/status`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifiedStatus {
    /// The Discord user (asked, or found).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Snowflake>")]
    pub discord_id: Option<DiscordUserId>,
    /// Whether a verified link exists.
    pub verified: bool,
    /// The Roblox user (asked, or found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roblox_id: Option<u64>,
}

/// `POST /lookup/status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusResults {
    /// One per id asked, in order.
    pub results: Vec<VerifiedStatus>,
}

/// `POST /reverse`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReverseResults<'a> {
    /// Every Discord account linked to the Roblox ids asked.
    pub results: Vec<LinkShort<'a>>,
}

/// `GET /guilds/{guildId}/members`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MembersPage<'a> {
    /// Verified members, by Discord id.
    pub members: Vec<LinkShort<'a>>,
    /// All verified members of the guild.
    pub total: u64,
    /// Pass as `after` for the next page; null on the last.
    #[schemars(with = "Option<Snowflake>")]
    pub next_after: Option<DiscordUserId>,
}

/// Body of `POST /lookup/status` (one of the two lists) and `POST /reverse` (`roblox_ids`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct IdsBody {
    /// Up to 100 Discord ids.
    #[serde(default)]
    pub discord_ids: Option<Vec<IdInput>>,
    /// Up to 100 Roblox ids.
    #[serde(default)]
    pub roblox_ids: Option<Vec<IdInput>>,
    /// The guild, if named (must be the key's).
    #[serde(default)]
    pub guild_id: Option<UserRef>,
}

/// A Shield flag (`/shield/check`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Flag<'a> {
    /// The player.
    pub roblox_id: &'a str,
    /// Their Roblox username (resolved through Open Cloud; `null` until known).
    pub roblox_username: Option<&'a str>,
    /// Why.
    pub reason: &'a str,
    /// Who flagged them.
    pub flagged_by: &'a str,
    /// Where the flag came from (`admin`, `import`).
    pub source: &'a str,
    /// When.
    #[schemars(with = "Seconds")]
    pub flagged_at: WholeSeconds,
}

/// `GET /shield/check/{robloxId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShieldVerdict<'a> {
    /// Whether the player is flagged.
    pub flagged: bool,
    /// The flag, when flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<Flag<'a>>,
}

/// A flagged player in a batch answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BatchFlag {
    /// The player.
    pub roblox_id: String,
    /// Their Roblox username (`null` until known).
    pub roblox_username: Option<String>,
    /// Why.
    pub reason: String,
    /// Where the flag came from.
    pub source: String,
}

/// `POST /shield/batch`: the flagged ones among the ids asked.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShieldBatch {
    /// Flagged players.
    pub flagged: Vec<BatchFlag>,
}

/// Body of `POST /shield/batch`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ShieldBatchBody {
    /// Up to 100 Roblox user ids.
    pub roblox_ids: Vec<IdInput>,
}

/// One row of a Shield import.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ImportUser {
    /// The player.
    pub roblox_id: IdInput,
    /// Why.
    pub reason: String,
    /// Their username, if the importer knows it (otherwise resolved through Open Cloud).
    #[serde(default)]
    pub roblox_username: Option<String>,
}

/// Body of `POST /shield/import` (allowlisted guilds).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ShieldImportBody {
    /// The flags.
    pub users: Vec<ImportUser>,
}

/// The answer to a Shield import.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Imported {
    /// New flags.
    pub imported: u64,
    /// Rows already flagged.
    pub skipped: u64,
}

/// A success answer with a message and no data (`Binding updated`, `Binding removed`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Message {
    /// Always `success`.
    pub status: String,
    /// The HTTP status.
    pub code: u16,
    /// What was done.
    pub message: String,
}

/// A role binding.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BindingView {
    /// The binding.
    pub id: u64,
    /// `group_rank`, `group_rank_range` or `group_member`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Roblox group.
    pub group_id: u64,
    /// The rank (`group_rank`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u8>,
    /// Lowest rank (`group_rank_range`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rank: Option<u8>,
    /// Highest rank (`group_rank_range`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rank: Option<u8>,
    /// The first role (the reference's single-role field).
    #[schemars(with = "Option<Snowflake>")]
    pub role_id: Option<String>,
    /// Every role the binding gives.
    #[schemars(with = "Vec<Snowflake>")]
    pub role_ids: Vec<String>,
}

/// `GET /bindings/list`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Bindings {
    /// The guild's bindings.
    pub bindings: Vec<BindingView>,
}

/// The answer to `POST /bindings/add`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BindingCreated {
    /// The new binding.
    pub id: u64,
}

/// `POST /bindings/validate`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Validity {
    /// Whether the binding is valid.
    pub valid: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /bindings/test`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BindingTest {
    /// Whether the member's rank matches the binding.
    pub matches: bool,
    /// Their rank in the binding's group (`null` when not verified).
    pub current_rank: Option<u8>,
    /// Whether the member has a verified Roblox link.
    pub verified: bool,
}

/// A job accepted but still running (202): poll `status_url`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobAccepted {
    /// The job.
    pub job_id: String,
    /// `/guilds/{guildId}/jobs/{jobId}`.
    pub status_url: String,
}

/// One member's sync (`POST /interactions/sync`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MemberSync {
    /// Roles given.
    pub added_roles: Vec<String>,
    /// Roles taken.
    pub removed_roles: Vec<String>,
    /// Whether the nickname changed.
    pub nickname_updated: bool,
    /// The nickname set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// What could not be applied, and why.
    pub not_applied: Value,
    /// Whether the member has a verified link.
    pub verified: bool,
}

/// A sync-all run (`…/progress`, `…/cancel`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SyncRunView {
    /// The run.
    pub run_id: String,
    /// `running`, `completed`, `cancelled` or `failed`.
    pub status: Value,
    /// Members to visit (so far listed, until listing is done).
    pub total: u64,
    /// Members visited.
    pub done: u64,
    /// Members changed.
    pub changed: u64,
    /// Members that failed.
    pub failed: u64,
    /// Members with something not applied.
    pub not_applied: u64,
    /// Members listed so far.
    pub listed: u64,
    /// Whether the member list is complete.
    pub listing_done: bool,
    /// Pages of members read.
    pub pages: u32,
    /// When it started.
    #[schemars(with = "Seconds")]
    pub started_at: WholeSeconds,
    /// When it finished.
    #[schemars(with = "Option<Seconds>")]
    pub finished_at: Option<WholeSeconds>,
    /// Seconds left, estimated (running runs).
    pub eta_seconds: Option<u64>,
    /// Members a minute.
    pub members_per_minute: f64,
    /// Up to 20 failure messages.
    pub errors: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
}

/// The answer to `POST /interactions/sync/all`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SyncStarted {
    /// Always `true`.
    pub queued: bool,
    /// Linked members to visit.
    pub members: u64,
    /// The run.
    pub run_id: String,
}

/// The answer to `POST /interactions/roles/assign` and `…/remove`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoleChanged {
    /// Whether the member's roles changed.
    pub changed: bool,
}

/// A Discord role.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoleView {
    /// The role.
    #[schemars(with = "Snowflake")]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its colour (RGB integer).
    pub color: u32,
    /// Its position (higher is above).
    pub position: i64,
    /// Whether an integration manages it.
    pub managed: bool,
}

/// `GET /guilds/{guildId}/roles`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Roles {
    /// The guild's roles, highest first (without @everyone).
    pub roles: Vec<RoleView>,
}

/// A guild job's failure.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuildJobError {
    /// Machine code.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// `GET /guilds/{guildId}/jobs/{jobId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuildJob {
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `dead`.
    pub status: Value,
    /// Its result (a member sync's result in the sync's form).
    pub result: Value,
    /// Why it failed.
    pub error: Option<GuildJobError>,
    /// Accepted at.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
    /// Finished at.
    #[schemars(with = "Option<Seconds>")]
    pub finished_at: Option<WholeSeconds>,
}
