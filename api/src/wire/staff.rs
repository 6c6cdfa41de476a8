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

// ── who is staff ────────────────────────────────────────────────────────────────────────────

/// One staff member in `GET /staff/members/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StaffMemberView {
    /// Discord id.
    #[schemars(with = "Snowflake")]
    pub discord_id: String,
    /// Linked Roblox account; `null` when they have not linked one.
    pub roblox_id: Option<u64>,
    /// The Discord role that makes them staff.
    #[schemars(with = "Snowflake")]
    pub role_id: String,
    /// The staff role's name.
    pub role_name: String,
    /// Whether they have a live in-game session.
    pub on_duty: bool,
}

/// `GET /staff/members/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StaffMembers {
    /// Staff, by role rank (highest first), then Discord id.
    pub members: Vec<StaffMemberView>,
}

/// `GET /staff/permissions/{guildId}/{userId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StaffPermissions {
    /// Discord id.
    #[schemars(with = "Snowflake")]
    pub user_id: String,
    /// The staff role's name.
    pub role_name: String,
    /// Its permissions.
    pub permissions: Vec<String>,
}

/// `GET /guilds/{guildId}/staff/profile/{userId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StaffProfile {
    /// Discord id.
    #[schemars(with = "Snowflake")]
    pub discord_id: String,
    /// Linked Roblox account.
    pub roblox_id: Option<u64>,
    /// The staff role's name.
    pub role_name: String,
    /// When Roster first saw them holding a staff role.
    #[schemars(with = "Seconds")]
    pub joined_at: WholeSeconds,
    /// Actions logged for them, all time.
    pub actions_total: u64,
    /// In-game sessions, all time (credited when a session ends).
    pub sessions_total: u64,
    /// Minutes active in sessions, all time.
    pub minutes_active: u64,
    /// Their leave under way, if any.
    pub open_loa: Option<LoaView>,
    /// Strikes that count now.
    pub active_strikes: u64,
}

/// Body of `POST /staff/roblox/verify`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"guild_id": "123456789012345678", "roblox_id": 261}))]
pub struct VerifyBody {
    /// The guild (the key's when left out).
    #[serde(default)]
    pub guild_id: Option<IdInput>,
    /// The player.
    pub roblox_id: IdInput,
}

/// `POST /staff/roblox/verify`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Verified {
    /// Whether the player is staff (their linked Discord account holds a staff role).
    pub is_staff: bool,
    /// Their Discord id, when staff.
    #[schemars(with = "Option<Snowflake>")]
    pub discord_id: Option<String>,
    /// Their staff role, when staff.
    pub role_name: Option<String>,
    /// Their in-game permissions (empty when not staff).
    pub permissions: Vec<String>,
}

/// `GET /guilds/{guildId}/staff/roblox/{robloxId}/permissions`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GamePermissions {
    /// The player.
    pub roblox_id: u64,
    /// Whether they are staff.
    pub is_staff: bool,
    /// Their staff role, when staff.
    pub role_name: Option<String>,
    /// Their in-game permissions (empty when not staff).
    pub permissions: Vec<String>,
}

// ── activity ────────────────────────────────────────────────────────────────────────────────

/// Body of `POST /staff/roblox/action`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"guild_id": "123456789012345678", "session_id": "sess_01JCQ8Y2M6A4W3V1X2Y3Z4A5B6", "action_type": "custom", "target_id": "261", "details": {"command": "/freeze"}}))]
pub struct ActionBody {
    /// The guild (the key's when left out).
    #[serde(default)]
    pub guild_id: Option<IdInput>,
    /// The staff member's session (who did it).
    pub session_id: String,
    /// A built-in action type or one of the guild's (`GET /staff/action-types`).
    pub action_type: String,
    /// Whom it was about (1–64 characters).
    #[serde(default)]
    pub target_id: Option<String>,
    /// Anything else, up to 4 KiB of JSON.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

/// An id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IdOnly {
    /// The id.
    pub id: u64,
}

/// One action in `GET /staff/activity/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActionView {
    /// Id (the cursor).
    pub id: u64,
    /// The staff member (Discord id); the `moderator_id` as given when it names no staff member.
    pub staff_id: String,
    /// Whether `staff_id` is a staff member.
    pub is_staff: bool,
    /// `ban`, `unmute`, `custom`…
    pub action_type: String,
    /// Whom it was about.
    pub target_id: Option<String>,
    /// Details a game logged.
    pub details: Option<serde_json::Value>,
    /// The session it was taken in.
    pub session_id: Option<String>,
    /// When.
    #[schemars(with = "Seconds")]
    pub created_at: WholeSeconds,
}

/// `GET /staff/activity/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ActivityList {
    /// Newest first.
    pub actions: Vec<ActionView>,
    /// Pass as `cursor` for older actions; `null` on the last page.
    pub next_cursor: Option<u64>,
}

/// The query of `GET /staff/activity/{guildId}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ActivityQuery {
    /// Page size, 1–200 (50).
    #[serde(default)]
    pub limit: Option<super::community::Amount>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<super::community::Amount>,
}

/// `GET /staff/stats/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Stats {
    /// Actions logged by staff.
    pub total_actions: u64,
    /// Sessions (credited when they end).
    pub total_sessions: u64,
    /// Minutes active.
    pub total_minutes: u64,
    /// Actions by type.
    pub by_type: std::collections::BTreeMap<String, u64>,
}

/// The query of `GET /staff/leaderboard/{guildId}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LeaderboardQuery {
    /// `week` (default), `month` or `all`.
    #[serde(default)]
    pub period: Option<String>,
    /// Rows, 1–100 (25).
    #[serde(default)]
    pub limit: Option<super::community::Amount>,
}

/// One leaderboard row.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeaderboardRow {
    /// Discord id.
    #[schemars(with = "Snowflake")]
    pub discord_id: String,
    /// Staff role; `null` when no longer staff.
    pub role_name: Option<String>,
    /// 10 points per action plus one per minute active.
    pub score: u64,
    /// Actions.
    pub actions: u64,
    /// Minutes active.
    pub minutes: u64,
}

/// `GET /staff/leaderboard/{guildId}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Leaderboard {
    /// The period.
    pub period: String,
    /// Its start in the guild's calendar (`null` for all time).
    #[schemars(with = "Option<Seconds>")]
    pub starts_at: Option<WholeSeconds>,
    /// Highest score first.
    pub leaderboard: Vec<LeaderboardRow>,
}

// ── quotas ──────────────────────────────────────────────────────────────────────────────────

/// One quota.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuotaView {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `actions`, `minutes`, `sessions` or an action type.
    pub metric: String,
    /// Target per period.
    pub target: u64,
    /// `day`, `week` or `month`.
    pub period: String,
    /// `everyone` or `role:<name>`.
    pub scope: String,
    /// What a miss becomes once approved: `strike`, `warning` or `notice`.
    pub on_miss: String,
}

/// `GET /guilds/{guildId}/staff/quota`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuotaList {
    /// In creation order.
    pub quotas: Vec<QuotaView>,
}

/// Body of `POST /guilds/{guildId}/staff/quota` (and, every field optional, of its PATCH).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(example = serde_json::json!({"name": "Monthly bans", "metric": "ban", "target": 20, "period": "month"}))]
pub struct QuotaBody {
    /// 1–100 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// `actions`, `minutes`, `sessions` or an action type.
    #[serde(default)]
    pub metric: Option<String>,
    /// Per period, 1 or more.
    #[serde(default)]
    pub target: Option<i64>,
    /// `day`, `week` or `month`.
    #[serde(default)]
    pub period: Option<String>,
    /// `everyone` (default) or `role:<staff role name>`.
    #[serde(default)]
    pub scope: Option<String>,
    /// `notice` (default), `warning` or `strike`.
    #[serde(default)]
    pub on_miss: Option<String>,
}

/// One row of quota progress.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProgressRowView {
    /// Discord id.
    #[schemars(with = "Snowflake")]
    pub staff_id: String,
    /// The figure so far; `null` for minutes or sessions of someone without a linked Roblox
    /// account.
    pub current: Option<u64>,
    /// The target, reduced by the share of the period on leave.
    pub target: u64,
    /// Of the target, at most 100.
    pub percent: Option<u64>,
    /// `met`, `in_progress`, `on_leave` or `no_roblox_link`.
    pub status: String,
}

/// `GET /guilds/{guildId}/staff/quota/{quotaId}/progress`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Progress {
    /// The quota.
    pub quota_id: u64,
    /// The current period's start.
    #[schemars(with = "Seconds")]
    pub period_start: WholeSeconds,
    /// Its end.
    #[schemars(with = "Seconds")]
    pub period_end: WholeSeconds,
    /// Staff in the quota's scope.
    pub rows: Vec<ProgressRowView>,
}

/// One pending action.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingView {
    /// Id.
    pub id: u64,
    /// The staff member.
    #[schemars(with = "Snowflake")]
    pub staff_id: String,
    /// `strike`, `warning`, `notice` (a missed quota) or `review` (a strike threshold).
    pub action_type: String,
    /// Why.
    pub reason: String,
    /// The quota missed.
    pub quota_id: Option<u64>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// When it was made.
    #[schemars(with = "Seconds")]
    pub submitted_at: WholeSeconds,
    /// What approving did (`strike 42`).
    pub applied: Option<String>,
}

/// `GET /guilds/{guildId}/staff/quota-pending`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingList {
    /// Oldest first.
    pub pending: Vec<PendingView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<u64>,
}

/// The query of `GET /guilds/{guildId}/staff/quota-pending`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct PendingQuery {
    /// `pending` (default), `approved`, `rejected` or `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// Page size, 1–200 (50).
    #[serde(default)]
    pub limit: Option<super::community::Amount>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<super::community::Amount>,
}

// ── settings (admin API) ────────────────────────────────────────────────────────────────────

/// A staff role.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaffRoleWire {
    /// The Discord role.
    #[schemars(with = "Snowflake")]
    pub discord_role_id: String,
    /// The staff role's name (unique in the guild).
    pub name: String,
    /// Order: a member holding several staff roles has the highest-ranked one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rank: u32,
    /// Permissions in Roster and the dashboard (`moderation.read`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// In-game permissions answered to game servers (`kick`, `ban`, `warn`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub game_permissions: Vec<String>,
}

/// Action at N active strikes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StrikeActionWire {
    /// Active strikes that trigger it (1–100).
    pub at: u32,
    /// `demote` (one rank down in the main group) or `review` (a pending action).
    pub action: String,
}

/// `GET/PUT /admin/v1/guilds/{guildId}/staff`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(example = serde_json::json!({"roles": [{"discordRoleId": "987654321098765432", "name": "Moderator", "rank": 1, "permissions": ["moderation.read", "moderation.write"], "gamePermissions": ["kick", "ban", "warn"]}], "timeZone": "Europe/London", "weekStart": "monday"}))]
pub struct StaffSettingsWire {
    /// Staff roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<StaffRoleWire>,
    /// IANA time zone of days, weeks and months (`UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// `monday` (default) … `sunday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_start: Option<String>,
    /// Action at N active strikes (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strike_action: Option<StrikeActionWire>,
    /// Action types games may log besides the built-in ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_types: Vec<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StaffSettingsWire {
    /// Into the core settings (not yet validated); the error names the field.
    pub fn into_core(
        self,
    ) -> Result<roster_core::staff::members::StaffSettings, roster_core::CoreError> {
        use roster_core::CoreError;
        use roster_core::staff::members::{StaffRole, StaffSettings, StrikeAction, WeekStart};
        let mut roles = Vec::with_capacity(self.roles.len());
        for (i, r) in self.roles.into_iter().enumerate() {
            let id = r
                .discord_role_id
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| {
                    CoreError::invalid(
                        format!("roles[{i}].discordRoleId"),
                        "must be a Discord role id (a string of digits)",
                    )
                })?;
            roles.push(StaffRole {
                discord_role_id: id,
                name: r.name,
                rank: r.rank,
                permissions: r.permissions,
                game_permissions: r.game_permissions,
            });
        }
        let week_start = match self.week_start.as_deref() {
            None => WeekStart::Monday,
            Some(w) => serde_json::from_value(serde_json::Value::String(w.to_lowercase()))
                .map_err(|_| CoreError::invalid("weekStart", "must be monday to sunday"))?,
        };
        Ok(StaffSettings {
            roles,
            time_zone: self.time_zone.unwrap_or_else(|| "UTC".into()),
            week_start,
            strike_action: self.strike_action.map(|a| StrikeAction {
                at: a.at,
                action: a.action,
            }),
            action_types: self.action_types,
        })
    }
}

impl From<roster_core::staff::members::StaffSettings> for StaffSettingsWire {
    fn from(s: roster_core::staff::members::StaffSettings) -> Self {
        Self {
            roles: s
                .roles
                .into_iter()
                .map(|r| StaffRoleWire {
                    discord_role_id: r.discord_role_id.to_string(),
                    name: r.name,
                    rank: r.rank,
                    permissions: r.permissions,
                    game_permissions: r.game_permissions,
                })
                .collect(),
            time_zone: Some(s.time_zone),
            week_start: serde_json::to_value(s.week_start)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            strike_action: s.strike_action.map(|a| StrikeActionWire {
                at: a.at,
                action: a.action,
            }),
            action_types: s.action_types,
        }
    }
}
