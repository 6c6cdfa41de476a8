//! Wire types of the guild family's staff routes (`../shared/reference/guild-api.txt`, "Staff: LOA").

use chrono::{DateTime, Utc};
use roster_core::clock::WholeSeconds;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::IdInput;
use super::guild::{Seconds, Snowflake};

/// One leave of absence.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LoaView {
    /// The leave.
    pub id: u64,
    /// The staff member's Discord id; `null` for a Roblox player's leave (the community API)
    /// who has no linked Discord account.
    #[schemars(with = "Option<Snowflake>")]
    pub staff_id: Option<String>,
    /// Their Roblox id, when known.
    pub roblox_id: Option<u64>,
    /// Start.
    #[schemars(with = "Seconds")]
    pub starts_at: WholeSeconds,
    /// End (when it was ended, for one ended early).
    #[schemars(with = "Seconds")]
    pub ends_at: WholeSeconds,
    /// Why.
    pub reason: Option<String>,
    /// `pending`, `active`, `expired` or `cancelled`.
    pub status: String,
}

/// `GET /guilds/{guildId}/staff/loa`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LoaList {
    /// Leaves in creation order.
    pub loas: Vec<LoaView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<u64>,
}

/// The query of `GET /guilds/{guildId}/staff/loa`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LoaQuery {
    /// Only this staff member's leaves.
    #[serde(default)]
    pub staff_id: Option<IdInput>,
    /// Only leaves with this status (`pending`, `active`, `expired`, `cancelled`).
    #[serde(default)]
    pub status: Option<String>,
    /// Page size, 1–200 (50).
    #[serde(default)]
    pub limit: Option<super::community::Amount>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<super::community::Amount>,
}

/// Body of `POST /guilds/{guildId}/staff/loa`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"staff_id": "123456789012345678", "starts_at": "2026-05-10T00:00:00Z", "ends_at": "2026-05-17T00:00:00Z", "reason": "Vacation"}))]
pub struct LoaCreate {
    /// The staff member's Discord id.
    pub staff_id: IdInput,
    /// Start (RFC 3339); it may be in the future (the leave is `pending` until then).
    pub starts_at: DateTime<Utc>,
    /// End (RFC 3339), after the start, at most 365 days later.
    pub ends_at: DateTime<Utc>,
    /// Why (up to 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Body of `PATCH /guilds/{guildId}/staff/loa/{loaId}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"ends_at": "2026-05-20T00:00:00Z"}))]
pub struct LoaPatch {
    /// New start.
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// New end.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// New reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// `cancelled` cancels the leave (it stays in the history); no other value is accepted.
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /guilds/{guildId}/staff/loa/expire`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Expired {
    /// Leaves newly marked expired.
    pub expired: u64,
}

/// One strike.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StrikeView {
    /// The strike.
    pub id: u64,
    /// The staff member's Discord id.
    #[schemars(with = "Snowflake")]
    pub staff_id: String,
    /// Why.
    pub reason: String,
    /// 1 to 3.
    pub severity: u8,
    /// When it stops counting; `null` never.
    #[schemars(with = "Option<Seconds>")]
    pub expires_at: Option<WholeSeconds>,
    /// Whether it counts now (not removed, not expired).
    pub active: bool,
    /// When it was issued.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /guilds/{guildId}/staff/strikes`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StrikeList {
    /// Strikes in creation order.
    pub strikes: Vec<StrikeView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<u64>,
}

/// The query of the strike and note lists.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct StaffQuery {
    /// Only this staff member's.
    #[serde(default)]
    pub staff_id: Option<IdInput>,
    /// Strikes only: `true` for the ones that count now, `false` for the others.
    #[serde(default)]
    pub active: Option<String>,
    /// Page size, 1–200 (50).
    #[serde(default)]
    pub limit: Option<super::community::Amount>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<super::community::Amount>,
}

/// Body of `POST /guilds/{guildId}/staff/strikes`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"staff_id": "123456789012345678", "reason": "Missed quota", "severity": 1}))]
pub struct StrikeCreate {
    /// The staff member's Discord id.
    pub staff_id: IdInput,
    /// Why (1–500 characters).
    pub reason: String,
    /// 1 to 3.
    pub severity: u8,
    /// When it stops counting; by default 30, 90 or 180 days after it is issued, by severity.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Body of `PATCH /guilds/{guildId}/staff/strikes/{strikeId}/update`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"severity": 2}))]
pub struct StrikePatch {
    /// New reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// New severity.
    #[serde(default)]
    pub severity: Option<u8>,
    /// New expiry; `null` for never.
    #[serde(default, deserialize_with = "super::admin::nullable")]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// One note.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NoteView {
    /// The note.
    pub id: u64,
    /// The staff member it is about (Discord id).
    #[schemars(with = "Snowflake")]
    pub staff_id: String,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author_id: String,
    /// When.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /guilds/{guildId}/staff/notes`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NoteList {
    /// Notes in creation order.
    pub notes: Vec<NoteView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<u64>,
}

/// Body of `POST /guilds/{guildId}/staff/notes`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"staff_id": "123456789012345678", "body": "Trial period extended by 2 weeks", "author_id": "234567890123456789"}))]
pub struct NoteCreate {
    /// The staff member's Discord id.
    pub staff_id: IdInput,
    /// The text (1–2000 characters).
    pub body: String,
    /// Who wrote it (a Discord id); the API key when left out.
    #[serde(default)]
    pub author_id: Option<IdInput>,
}

/// Body of `PATCH /guilds/{guildId}/staff/notes/{noteId}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct NotePatch {
    /// The new text (1–2000 characters).
    pub body: String,
}

/// Body of `POST /staff/roblox/session/start`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"guild_id": "123456789012345678", "roblox_id": 261, "place_id": 1818, "server_id": "abc-123"}))]
pub struct SessionStart {
    /// The guild (the key's when left out).
    #[serde(default)]
    pub guild_id: Option<IdInput>,
    /// The staff member's Roblox id.
    pub roblox_id: IdInput,
    /// The place.
    #[serde(default)]
    pub place_id: Option<IdInput>,
    /// The game server's `JobId` (1–100 characters).
    pub server_id: String,
}

/// `POST /staff/roblox/session/start`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionStarted {
    /// Send it with heartbeats and at the end.
    pub session_id: String,
    /// When it started (the live session's start, when one was already running).
    #[schemars(with = "Seconds")]
    pub started_at: WholeSeconds,
}

/// Body of `POST /staff/roblox/session/end` and `POST /staff/roblox/heartbeat`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"session_id": "sess_01JCQ8Y2M6A4W3V1X2Y3Z4A5B6"}))]
pub struct SessionRef {
    /// The session.
    pub session_id: String,
    /// The guild (the key's when left out).
    #[serde(default)]
    pub guild_id: Option<IdInput>,
}

/// `POST /staff/roblox/session/end`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionEnded {
    /// The session.
    pub session_id: String,
    /// Time credited: from its start to its end (its last heartbeat, when its server went silent).
    pub duration_seconds: i64,
}

/// `POST /staff/roblox/heartbeat`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Alive {
    /// `false`: the session is over (ended, or silent too long); start a new one.
    pub alive: bool,
}

/// Body of `POST /staff/roblox/heartbeat/batch` (a Roster extension): one request per game
/// server and interval for every tracked staff member on it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"server_id": "abc-123", "session_ids": ["sess_01JCQ8Y2M6A4W3V1X2Y3Z4A5B6"]}))]
pub struct HeartbeatBatch {
    /// The guild (the key's when left out).
    #[serde(default)]
    pub guild_id: Option<IdInput>,
    /// The game server (for logs).
    #[serde(default)]
    pub server_id: Option<String>,
    /// The sessions (1–500).
    pub session_ids: Vec<String>,
}

/// One session's answer in a batch.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionAlive {
    /// The session.
    pub session_id: String,
    /// Whether it is alive.
    pub alive: bool,
}

/// `POST /staff/roblox/heartbeat/batch`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HeartbeatBatchResult {
    /// Per session, in the order sent.
    pub sessions: Vec<SessionAlive>,
}
