//! Wire types of the admin family (`/admin/v1/…`, the `roster admin` CLI's API): request bodies
//! and answers, separate from the stored models they are built from.
//!
//! Conventions of this family:
//! - fields are camelCase, except where an answer shows a stored record as it always has
//!   (audit entries, Shield flags, live servers, games and pending commands are snake_case);
//! - timestamps are full RFC 3339 in UTC as chrono writes them (`2026-05-02T10:00:42.152406586Z`),
//!   described as `date-time` strings;
//! - request bodies refuse unknown fields, naming the allowed ones; ids are accepted as JSON
//!   numbers or strings of digits ([`IdInput`]); for a PATCH, an absent field is left as it is and
//!   `null` clears the setting where one can be cleared.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use roster_core::groups::Plan;
use roster_core::moderation::{ModKind, Source};
use roster_core::rules::{Direction, RankMatch, RankTarget};
use roster_core::syncs::RunStatus;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::guild::{Snowflake, UserRef};
use super::{BodyError, IdInput, JobView, Usage};

/// Reads an optional field that may be `null`: absent is `None`, `null` is `Some(None)`.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

// ── shared pieces ───────────────────────────────────────────────────────────────────────────

/// A stored secret as answers show it: whether it is set and its last characters, never the value.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SecretView {
    /// Whether a value is set.
    pub configured: bool,
    /// Its last four characters (`…abcd`), when set.
    pub hint: Option<String>,
}

/// `{"removed": true}`: the thing named by the path is gone.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Removed {
    /// Always `true` (a missing thing answers 404).
    pub removed: bool,
}

impl Removed {
    /// The answer.
    pub const YES: Removed = Removed { removed: true };
}

/// A group's plan.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanName {
    /// 100 requests a month, one key (by default).
    Starter,
    /// 1,000 requests a month, two keys (by default).
    Pro,
    /// Unlimited.
    Max,
}

impl From<Plan> for PlanName {
    fn from(p: Plan) -> Self {
        match p {
            Plan::Starter => PlanName::Starter,
            Plan::Pro => PlanName::Pro,
            Plan::Max => PlanName::Max,
        }
    }
}

/// A plan in a request body: `starter`, `pro` or `max` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput(pub Plan);

impl<'de> Deserialize<'de> for PlanInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s
                .parse::<Plan>()
                .map(PlanInput)
                .map_err(|_| de::Error::custom("must be starter, pro or max")),
            _ => Err(de::Error::custom("must be starter, pro or max")),
        }
    }
}

impl JsonSchema for PlanInput {
    fn schema_name() -> Cow<'static, str> {
        "PlanInput".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`starter`, `pro` or `max` (any case).",
            "type": "string",
            "enum": ["starter", "pro", "max"]
        })
    }
}

/// The rank guard in a request body: 1 to 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardRank(pub u8);

impl<'de> Deserialize<'de> for GuardRank {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d)?
            .as_u64()
            .filter(|n| (1..=255).contains(n))
            .map(|n| GuardRank(n as u8))
            .ok_or_else(|| de::Error::custom("must be an integer from 1 to 255, or null"))
    }
}

impl JsonSchema for GuardRank {
    fn schema_name() -> Cow<'static, str> {
        "GuardRank".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "No rule acts on a member ranked above it or moves a member above it.",
            "type": "integer", "minimum": 1, "maximum": 255
        })
    }
}

/// Promote or demote.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    /// Move up.
    Promote,
    /// Move down.
    Demote,
}

impl From<Direction> for RuleDirection {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Promote => RuleDirection::Promote,
            Direction::Demote => RuleDirection::Demote,
        }
    }
}

/// The JSON Schema of a rule's `from`: a rank, or a range.
#[derive(Debug, Clone, Copy)]
pub struct RankFrom;

impl JsonSchema for RankFrom {
    fn schema_name() -> Cow<'static, str> {
        "RankFrom".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The current ranks a rule applies to: one rank, or `{\"min\", \"max\"}` (inclusive, min ≤ max).",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 255},
                {
                    "type": "object",
                    "properties": {
                        "min": {"type": "integer", "minimum": 0, "maximum": 255},
                        "max": {"type": "integer", "minimum": 0, "maximum": 255}
                    },
                    "required": ["min", "max"]
                }
            ]
        })
    }
}

/// The JSON Schema of a rule's `to`: a rank, or `next`.
#[derive(Debug, Clone, Copy)]
pub struct RankTo;

impl JsonSchema for RankTo {
    fn schema_name() -> Cow<'static, str> {
        "RankTo".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Where a rule sends the member: a rank from 1 to 254, or `next` (the next role up for promote, down for demote).",
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 254},
                {"type": "string", "const": "next"}
            ]
        })
    }
}

// ── groups ──────────────────────────────────────────────────────────────────────────────────

/// A promote or demote rule.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Stable id within the group.
    pub id: u32,
    /// Promote or demote.
    pub direction: RuleDirection,
    /// The current ranks it applies to.
    #[schemars(with = "RankFrom")]
    pub from: RankMatch,
    /// Where it sends the member.
    #[schemars(with = "RankTo")]
    pub to: RankTarget,
    /// Disabled rules never match.
    pub enabled: bool,
}

impl From<&roster_core::rules::RankRule> for Rule {
    fn from(r: &roster_core::rules::RankRule) -> Self {
        Self {
            id: r.id,
            direction: r.direction.into(),
            from: r.from,
            to: r.to,
            enabled: r.enabled,
        }
    }
}

/// A registered group (`GET /admin/v1/groups/{groupId}`; never the Open Cloud key).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// The Roblox group.
    pub group_id: u64,
    /// A name for operators.
    pub name: String,
    /// Its plan.
    pub plan: PlanName,
    /// Its Open Cloud key.
    pub open_cloud_key: SecretView,
    /// The rank guard; `null` when none.
    pub guard_rank: Option<u8>,
    /// Promote and demote rules.
    pub rules: Vec<Rule>,
    /// Registered at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// `GET /admin/v1/groups`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GroupsPage {
    /// Groups in id order.
    pub groups: Vec<GroupView>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next: Option<u64>,
}

/// `GET /admin/v1/groups/{groupId}/rules`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    /// Promote and demote rules.
    pub rules: Vec<Rule>,
    /// The rank guard; `null` when none.
    pub guard_rank: Option<u8>,
}

/// Body of `POST /admin/v1/groups`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroupBody {
    /// The Roblox group.
    pub group_id: IdInput,
    /// A name for operators (default `Group {groupId}`).
    #[serde(default)]
    pub name: Option<String>,
    /// The plan (default `starter`).
    #[serde(default)]
    pub plan: Option<PlanInput>,
    /// The group's Open Cloud key (stored sealed; never shown again).
    #[serde(default)]
    pub open_cloud_key: Option<String>,
    /// The rank guard.
    #[serde(default)]
    pub guard_rank: Option<GuardRank>,
}

/// Body of `PATCH /admin/v1/groups/{groupId}`: absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateGroupBody {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new plan.
    #[serde(default)]
    pub plan: Option<PlanInput>,
    /// A new Open Cloud key; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    pub open_cloud_key: Option<Option<String>>,
    /// A new rank guard; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<GuardRank>")]
    pub guard_rank: Option<Option<GuardRank>>,
}

/// Body of `POST /admin/v1/groups/{groupId}/rules`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleBody {
    /// `promote` or `demote`.
    #[schemars(with = "RuleDirection")]
    pub direction: Direction,
    /// The current ranks it applies to.
    #[schemars(with = "RankFrom")]
    pub from: RankMatch,
    /// Where it sends the member.
    #[schemars(with = "RankTo")]
    pub to: RankTarget,
    /// Default `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Body of `PATCH /admin/v1/groups/{groupId}/rules/{ruleId}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatchBody {
    /// Enable or disable the rule.
    pub enabled: bool,
}

/// A blacklisted user.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlacklistEntry {
    /// The user.
    pub roblox_user_id: u64,
    /// Why.
    pub reason: String,
    /// When.
    pub added_at: DateTime<Utc>,
}

impl From<&roster_core::groups::BlacklistEntry> for BlacklistEntry {
    fn from(e: &roster_core::groups::BlacklistEntry) -> Self {
        Self {
            roblox_user_id: e.roblox_user_id.get(),
            reason: e.reason.clone(),
            added_at: e.added_at,
        }
    }
}

/// `GET /admin/v1/groups/{groupId}/blacklist`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BlacklistPage {
    /// Entries in user-id order (page with `after` and `limit`).
    pub blacklist: Vec<BlacklistEntry>,
}

/// Body of `POST /admin/v1/groups/{groupId}/blacklist`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlacklistBody {
    /// The user.
    pub roblox_user_id: IdInput,
    /// Why (at most 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `GET /admin/v1/groups/{groupId}/usage`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupUsage {
    /// The group.
    pub group_id: u64,
    /// Its plan.
    pub plan: PlanName,
    /// This period's usage.
    pub usage: Usage,
}

// ── keys ────────────────────────────────────────────────────────────────────────────────────

/// What a key may act on.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum KeyScopeView {
    /// A Roblox group (the ranking API), by its number.
    Group(u64),
    /// A Discord guild (the guild API), by its id as a string.
    Guild(#[schemars(with = "Snowflake")] String),
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// Public id, `key_…` (revoke with `DELETE /admin/v1/keys/{keyId}`).
    pub id: String,
    /// What it may act on.
    pub scope: KeyScopeView,
    /// The operator's label.
    pub label: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Last successful use (to about a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Not revoked.
    pub active: bool,
}

impl From<&roster_core::apikeys::ApiKeyRecord> for KeyView {
    fn from(k: &roster_core::apikeys::ApiKeyRecord) -> Self {
        use roster_core::apikeys::KeyScope;
        Self {
            id: k.id.clone(),
            scope: match k.scope {
                KeyScope::Group(g) => KeyScopeView::Group(g.get()),
                KeyScope::Guild(g) => KeyScopeView::Guild(g.to_string()),
            },
            label: k.label.clone(),
            prefix: k.prefix.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            active: k.revoked_at.is_none(),
        }
    }
}

/// `GET /admin/v1/groups/{groupId}/keys` and `…/guilds/{guildId}/keys`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct KeysList {
    /// Keys, revoked ones included.
    pub keys: Vec<KeyView>,
}

/// A key just issued: the only answer that carries the key.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    /// Public id, `key_…`.
    pub id: String,
    /// What it may act on.
    pub scope: KeyScopeView,
    /// The operator's label.
    pub label: String,
    /// The key's first characters.
    pub prefix: String,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Always `null`.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Always `null`.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Always `true`.
    pub active: bool,
    /// The key: shown once, store it now.
    pub key: String,
    /// A reminder that the key is shown once.
    pub notice: String,
}

impl IssuedKey {
    /// The answer for a key just issued.
    pub fn new(rec: &roster_core::apikeys::ApiKeyRecord, key: String) -> Self {
        let v = KeyView::from(rec);
        Self {
            id: v.id,
            scope: v.scope,
            label: v.label,
            prefix: v.prefix,
            created_at: v.created_at,
            last_used_at: v.last_used_at,
            revoked_at: v.revoked_at,
            active: v.active,
            key,
            notice: "store this key now: Roster keeps only its hash and cannot show it again"
                .into(),
        }
    }
}

/// Body of `POST /admin/v1/groups/{groupId}/keys` and `…/guilds/{guildId}/keys` (the body may
/// also be empty).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKeyBody {
    /// A label for operators (at most 100 characters).
    #[serde(default)]
    pub label: Option<String>,
}

// ── audit and jobs ──────────────────────────────────────────────────────────────────────────

/// An audit entry as stored (snake_case).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AdminAuditEntry {
    /// Increasing id (the cursor).
    pub id: u64,
    /// What happened, dotted: `rank.promote`, `ban.create`, ….
    pub action: String,
    /// Who did it (an API key id, a moderator id, `admin`).
    pub actor_id: Option<String>,
    /// Whom it concerned.
    pub target_id: Option<String>,
    /// Details, by action.
    pub metadata: Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<roster_core::audit::AuditEntry> for AdminAuditEntry {
    fn from(e: roster_core::audit::AuditEntry) -> Self {
        Self {
            id: e.id,
            action: e.action,
            actor_id: e.actor_id,
            target_id: e.target_id,
            metadata: e.metadata,
            created_at: e.created_at,
        }
    }
}

/// `GET /admin/v1/groups/{groupId}/audit` and `…/guilds/{guildId}/audit`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminAuditPage {
    /// Newest first.
    pub entries: Vec<AdminAuditEntry>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<u64>,
}

/// `GET /admin/v1/jobs?status=dead`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobsList {
    /// Dead jobs in id order.
    pub jobs: Vec<JobView>,
}

// ── guilds ──────────────────────────────────────────────────────────────────────────────────

/// A guild's Discord settings.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscordView {
    /// The bot token.
    pub bot_token: SecretView,
    /// The group whose ranks name roles and nicknames.
    pub main_group: Option<u64>,
    /// The nickname template; `null`: nicknames are not changed.
    pub nickname_template: Option<String>,
    /// The role verified members get.
    #[schemars(with = "Option<Snowflake>")]
    pub verified_role: Option<String>,
    /// The role unverified members get.
    #[schemars(with = "Option<Snowflake>")]
    pub unverified_role: Option<String>,
    /// Roles a sync never takes away.
    #[schemars(with = "Vec<Snowflake>")]
    pub keep_roles: Vec<String>,
    /// Whether bans also ban in Discord.
    pub ban_in_discord: bool,
    /// The role-bridge key (a generated `rbk_` key, or a linked website's own key).
    pub role_bridge_key: SecretView,
    /// The NamelessMC website linked with `role-bridge link`, if any.
    pub role_bridge_website: Option<WebsiteView>,
}

/// A linked NamelessMC website (never its key).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebsiteView {
    /// The site's API URL.
    pub api_url: String,
    /// Where the site sends role changes.
    pub bridge_url: String,
    /// Linked at.
    pub linked_at: DateTime<Utc>,
    /// Whether the site has the guild's current role list as Roster last saw it.
    pub roles_pushed: bool,
    /// Whether a push to the site is on its way.
    pub push_pending: bool,
}

/// A registered guild (never its secrets).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuildView {
    /// The Discord guild.
    #[schemars(with = "Snowflake")]
    pub guild_id: String,
    /// A name for operators.
    pub name: String,
    /// Roblox groups linked to it.
    pub linked_groups: Vec<u64>,
    /// Roblox universes its moderation covers.
    pub roblox_universes: Vec<u64>,
    /// Its Open Cloud key (for bans in Roblox).
    pub open_cloud_key: SecretView,
    /// Whether it may see and write Shield.
    pub shield_writer: bool,
    /// Discord settings.
    pub discord: DiscordView,
    /// Registered at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// `GET /admin/v1/guilds`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuildsList {
    /// Guilds in id order (page with `after` and `limit`).
    pub guilds: Vec<GuildView>,
}

/// Declares the guild settings a body may carry once, for both the create and the update body.
macro_rules! guild_bodies {
    ($($(#[$m:meta])* $field:ident: $ty:ty,)*) => {
        /// Body of `PATCH /admin/v1/guilds/{guildId}`: absent fields stay as they are; `null`
        /// clears a setting that can be cleared.
        #[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct GuildBody {
            $($(#[$m])* pub $field: $ty,)*
        }

        /// Body of `POST /admin/v1/guilds`.
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct CreateGuildBody {
            /// The Discord guild.
            pub guild_id: IdInput,
            $($(#[$m])* pub $field: $ty,)*
        }

        impl CreateGuildBody {
            /// The guild id and its settings.
            pub fn split(self) -> (IdInput, GuildBody) {
                (self.guild_id, GuildBody { $($field: self.$field,)* })
            }
        }
    };
}

guild_bodies! {
    /// A name for operators (1 to 100 characters; default `Guild {guildId}` on create).
    #[serde(default)]
    name: Option<String>,
    /// Roblox groups linked to the guild (at most 50).
    #[serde(default)]
    linked_groups: Option<Vec<IdInput>>,
    /// Roblox universes its moderation covers.
    #[serde(default)]
    roblox_universes: Option<Vec<IdInput>>,
    /// The Open Cloud key for bans in Roblox; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    open_cloud_key: Option<Option<String>>,
    /// Whether the guild may see and write Shield.
    #[serde(default)]
    shield_writer: Option<bool>,
    /// The Discord bot token (a `Bot ` prefix is dropped); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    bot_token: Option<Option<String>>,
    /// The group whose ranks name roles and nicknames; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<IdInput>")]
    main_group: Option<Option<IdInput>>,
    /// The nickname template; `null` or blank: nicknames are not changed.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<String>")]
    nickname_template: Option<Option<String>>,
    /// The role verified members get; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<IdInput>")]
    verified_role: Option<Option<IdInput>>,
    /// The role unverified members get; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(with = "Option<IdInput>")]
    unverified_role: Option<Option<IdInput>>,
    /// Roles a sync never takes away (at most 250).
    #[serde(default)]
    keep_roles: Option<Vec<IdInput>>,
    /// Whether bans also ban in Discord.
    #[serde(default)]
    ban_in_discord: Option<bool>,
}

// ── moderation ──────────────────────────────────────────────────────────────────────────────

/// A ban or a mute.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModKindName {
    /// A ban.
    Ban,
    /// A mute.
    Mute,
}

impl From<ModKind> for ModKindName {
    fn from(k: ModKind) -> Self {
        match k {
            ModKind::Ban => ModKindName::Ban,
            ModKind::Mute => ModKindName::Mute,
        }
    }
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModSource {
    /// A game server (the guild API).
    Roblox,
    /// An operator (this API).
    Admin,
    /// Discord.
    Discord,
}

impl From<Source> for ModSource {
    fn from(s: Source) -> Self {
        match s {
            Source::Roblox => ModSource::Roblox,
            Source::Admin => ModSource::Admin,
            Source::Discord => ModSource::Discord,
        }
    }
}

/// A ban or mute record.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModRecordView {
    /// The record.
    pub id: u64,
    /// Ban or mute.
    pub kind: ModKindName,
    /// The player: `roblox:N` or `discord:N`.
    pub identifier: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub moderator_id: Option<String>,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it ends; `null`: permanent.
    pub expires_at: Option<DateTime<Utc>>,
    /// Only in this place.
    pub place_id: Option<u64>,
    /// Where it came from.
    pub source: ModSource,
    /// When it was lifted or ran out.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who lifted it.
    pub ended_by: Option<String>,
}

impl From<&roster_core::moderation::ModRecord> for ModRecordView {
    fn from(r: &roster_core::moderation::ModRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind.into(),
            identifier: r.identifier.to_string(),
            reason: r.reason.clone(),
            moderator_id: r.moderator_id.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            place_id: r.place_id,
            source: r.source.into(),
            ended_at: r.ended_at,
            ended_by: r.ended_by.clone(),
        }
    }
}

/// `GET /admin/v1/guilds/{guildId}/bans` and `…/mutes`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModRecords {
    /// Active records.
    pub records: Vec<ModRecordView>,
}

/// `DELETE /admin/v1/guilds/{guildId}/bans/{robloxId}` and `…/mutes/…`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ModEnded {
    /// The records lifted (at least one; none answers 404).
    pub ended: Vec<ModRecordView>,
}

/// Body of `POST /admin/v1/guilds/{guildId}/bans` and `…/mutes`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModBody {
    /// The player: a Roblox user id, a Discord user id, or `roblox:N` / `discord:N`.
    pub identifier: UserRef,
    /// Why (at most 1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who did it.
    #[serde(default)]
    pub moderator_id: Option<String>,
    /// How long; absent or `null` for permanent.
    #[serde(default)]
    pub duration_seconds: Option<super::guild::DurationSecs>,
    /// Only in this place.
    #[serde(default)]
    pub place_id: Option<IdInput>,
}

// ── servers and commands ────────────────────────────────────────────────────────────────────

/// A live game server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveServerView {
    /// Roblox's `game.JobId`.
    pub server_id: String,
    /// Its place.
    pub place_id: Option<u64>,
    /// Its universe.
    pub universe_id: Option<u64>,
    /// Players, as last reported.
    pub player_count: Option<u32>,
    /// Last heartbeat.
    pub last_seen: DateTime<Utc>,
    /// Connected by websocket now.
    pub websocket: bool,
}

impl From<roster_core::servers::LiveServer> for LiveServerView {
    fn from(s: roster_core::servers::LiveServer) -> Self {
        Self {
            server_id: s.server_id,
            place_id: s.place_id,
            universe_id: s.universe_id,
            player_count: s.player_count,
            last_seen: s.last_seen,
            websocket: s.websocket,
        }
    }
}

/// `GET /admin/v1/guilds/{guildId}/servers`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveServers {
    /// Servers heard from within `servers.dead_after`.
    pub servers: Vec<LiveServerView>,
}

/// A registered game.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GameView {
    /// The place.
    pub place_id: u64,
    /// Its universe.
    pub universe_id: u64,
    /// A name for operators.
    pub name: String,
    /// First registration.
    pub registered_at: DateTime<Utc>,
}

impl From<roster_core::servers::Game> for GameView {
    fn from(g: roster_core::servers::Game) -> Self {
        Self {
            place_id: g.place_id,
            universe_id: g.universe_id,
            name: g.name,
            registered_at: g.registered_at,
        }
    }
}

/// `GET /admin/v1/guilds/{guildId}/games`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GamesList {
    /// Registered games.
    pub games: Vec<GameView>,
}

/// A command waiting for its server (as stored, snake_case).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingCommand {
    /// `cmd_…`.
    pub id: String,
    /// Order in the server's queue.
    pub seq: u64,
    /// The server it is for.
    pub server_id: String,
    /// `kick`, `ban`, `announce`, … or an integration's own type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The player, when it has one.
    pub target_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The command's own data.
    pub data: Option<Value>,
    /// Queued at.
    pub issued_at: DateTime<Utc>,
    /// Dropped if not acknowledged by then.
    pub expires_at: DateTime<Utc>,
    /// Times handed out.
    pub deliveries: u32,
    /// Not handed out again before this.
    pub invisible_until: Option<DateTime<Utc>>,
}

impl From<roster_core::servers::Command> for PendingCommand {
    fn from(c: roster_core::servers::Command) -> Self {
        Self {
            id: c.id,
            seq: c.seq,
            server_id: c.server_id,
            kind: c.kind,
            target_id: c.target_id,
            reason: c.reason,
            data: c.data,
            issued_at: c.issued_at,
            expires_at: c.expires_at,
            deliveries: c.deliveries,
            invisible_until: c.invisible_until,
        }
    }
}

/// `GET /admin/v1/guilds/{guildId}/servers/{serverId}/commands`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PendingCommands {
    /// Commands not acknowledged yet, in order.
    pub commands: Vec<PendingCommand>,
}

/// One command queued.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueuedCommand {
    /// The server it is for.
    pub server_id: String,
    /// `cmd_…`.
    pub id: String,
    /// Dropped if not acknowledged by then.
    pub expires_at: DateTime<Utc>,
}

/// The answer to `POST /admin/v1/guilds/{guildId}/commands`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommandsQueued {
    /// One per server addressed (none when no server is live).
    pub commands: Vec<QueuedCommand>,
}

/// Body of `POST /admin/v1/guilds/{guildId}/commands`: give exactly one of `serverId`,
/// `placeId`, `universeId` or `all: true`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandBody {
    /// What to do: `kick`, `announce`, … (1 to 50 letters, digits, `_`, `.` or `-`).
    #[serde(rename = "type")]
    pub kind: Loose,
    /// The player.
    #[serde(default)]
    pub target_id: Option<Loose>,
    /// Why (at most 500 characters).
    #[serde(default)]
    pub reason: Option<Loose>,
    /// The command's own data (at most 8 KiB of JSON).
    #[serde(default)]
    pub data: Option<Value>,
    /// Dropped if not acknowledged within this (1 second to 7 days; default from config).
    #[serde(default)]
    pub ttl_seconds: Option<IdInput>,
    /// One server (its `game.JobId`).
    #[serde(default)]
    pub server_id: Option<Loose>,
    /// Every live server of a place.
    #[serde(default)]
    pub place_id: Option<IdInput>,
    /// Every live server of a universe.
    #[serde(default)]
    pub universe_id: Option<IdInput>,
    /// Every live server of the guild.
    #[serde(default)]
    pub all: Option<bool>,
}

/// Text, or a number taken as its digits (ids sent as numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose(pub String);

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Loose(s)),
            Value::Number(n) => Ok(Loose(n.to_string())),
            _ => Err(de::Error::custom("must be a string")),
        }
    }
}

impl JsonSchema for Loose {
    fn schema_name() -> Cow<'static, str> {
        "TextOrNumber".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Text (a number is taken as its digits).",
            "oneOf": [{"type": "string"}, {"type": "number"}]
        })
    }
}

// ── Shield ──────────────────────────────────────────────────────────────────────────────────

/// A Shield flag (as stored, snake_case).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ShieldFlagView {
    /// The Roblox user, as a string of digits.
    pub roblox_id: String,
    /// Their username, when known.
    pub roblox_username: Option<String>,
    /// Why.
    pub reason: String,
    /// Who flagged them (`admin`, or a guild).
    pub flagged_by: String,
    /// How the flag came in (`admin`, `import`, …).
    pub source: String,
    /// When.
    pub flagged_at: DateTime<Utc>,
}

impl From<roster_core::shield::ShieldFlag> for ShieldFlagView {
    fn from(f: roster_core::shield::ShieldFlag) -> Self {
        Self {
            roblox_id: f.roblox_id,
            roblox_username: f.roblox_username,
            reason: f.reason,
            flagged_by: f.flagged_by,
            source: f.source,
            flagged_at: f.flagged_at,
        }
    }
}

/// Body of `POST /admin/v1/shield/flags`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagBody {
    /// The Roblox user.
    pub roblox_id: IdInput,
    /// Why (1 to 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// Their username, when known.
    #[serde(default)]
    pub roblox_username: Option<String>,
}

// ── Discord: links, role-bridge key, sync-all ───────────────────────────────────────────────

/// An account link.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    /// The Discord user.
    #[schemars(with = "Snowflake")]
    pub discord_id: String,
    /// The Roblox user.
    pub roblox_id: u64,
    /// Their Roblox username.
    pub roblox_username: String,
    /// Their Roblox display name, when known.
    pub roblox_display_name: Option<String>,
    /// When the link was verified.
    pub verified_at: DateTime<Utc>,
}

impl From<&roster_core::links::AccountLink> for LinkView {
    fn from(l: &roster_core::links::AccountLink) -> Self {
        Self {
            discord_id: l.discord_id.to_string(),
            roblox_id: l.roblox_id,
            roblox_username: l.roblox_username.clone(),
            roblox_display_name: l.roblox_display_name.clone(),
            verified_at: l.verified_at,
        }
    }
}

/// `GET /admin/v1/guilds/{guildId}/links`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinksPage {
    /// Links in Discord-id order (page with `after` and `limit`).
    pub links: Vec<LinkView>,
    /// All links of the guild.
    pub total: u64,
}

/// One link to import. Each field is also read under its snake_case name (`discord_id`, …).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkInput {
    /// The Discord user.
    #[serde(alias = "discord_id")]
    pub discord_id: IdInput,
    /// The Roblox user.
    #[serde(alias = "roblox_id")]
    pub roblox_id: IdInput,
    /// Their Roblox username.
    #[serde(alias = "roblox_username")]
    pub roblox_username: String,
    /// Their Roblox display name.
    #[serde(default, alias = "roblox_display_name")]
    pub roblox_display_name: Option<String>,
    /// When the link was verified (RFC 3339; default now).
    #[serde(default, alias = "verified_at")]
    pub verified_at: Option<String>,
}

/// Body of `POST /admin/v1/guilds/{guildId}/links`, as JSON: one link, an array of links, or
/// `{"links": [...]}`. The same rows may be sent as CSV instead, with `Content-Type: text/csv`: a
/// header line naming `discord_id`, `roblox_id` and `roblox_username` (optional:
/// `roblox_display_name`, `verified_at`), then one link per line.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum LinksImport {
    /// `{"links": [...]}`.
    Wrapped {
        /// The links.
        links: Vec<LinkInput>,
    },
    /// An array of links.
    List(Vec<LinkInput>),
    /// One link.
    One(LinkInput),
}

impl LinksImport {
    /// Reads the JSON form; each link's errors name its position (`links[2]: …`).
    pub fn read(body: &[u8]) -> Result<Vec<LinkInput>, BodyError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| BodyError(format!("the body is not JSON: {e}")))?;
        let items: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("links") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(BodyError("`links` must be an array".into())),
                None => vec![Value::Object(o)],
            },
            _ => {
                return Err(BodyError(
                    "send a link object, an array of them, or CSV".into(),
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(o) => LinkInput::read(o, &format!("links[{i}]")),
                _ => Err(BodyError(format!("links[{i}] must be an object"))),
            })
            .collect()
    }
}

impl LinkInput {
    /// Reads one link; errors start with `at`. `null` counts as absent.
    pub fn read(o: &Map<String, Value>, at: &str) -> Result<LinkInput, BodyError> {
        let present: Map<String, Value> = o
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        super::typed(&present).map_err(|e| BodyError(format!("{at}: {}", e.0)))
    }
}

/// The answer to a links import.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LinksImported {
    /// Links in the body.
    pub rows: usize,
    /// New links.
    pub created: u64,
    /// Links changed.
    pub updated: u64,
    /// Links already as sent.
    pub unchanged: u64,
}

/// Body of `POST /admin/v1/guilds/{guildId}/role-bridge/link`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebsiteLinkBody {
    /// The website: its API URL as its StaffCP shows it (`https://site/index.php?route=/api/v2`),
    /// or its address (`https://site`), to which `/index.php?route=/api/v2` is added.
    pub site_url: String,
    /// The website's API key (StaffCP → Configuration → API). Roster keeps it sealed.
    pub site_key: String,
    /// Where the website should send role changes; default: `server.public_url`.
    #[serde(default)]
    pub bridge_url: Option<String>,
}

/// A website just linked.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebsiteLinked {
    /// The guild.
    #[schemars(with = "Snowflake")]
    pub guild_id: String,
    /// The website as linked.
    pub website: WebsiteView,
    /// The site's NamelessMC version.
    pub nameless_version: String,
    /// The site's key as later answers show it.
    pub key_hint: Option<String>,
    /// The job that sends the site the bot's settings and the guild's roles; finished when
    /// the answer came within `server.sync_wait`.
    pub push: JobView,
}

/// The role-bridge key just issued: the only answer that carries it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BridgeKeyIssued {
    /// The guild.
    #[schemars(with = "Snowflake")]
    pub guild_id: String,
    /// The key: shown once, give it to the website now.
    pub key: String,
    /// Its last characters, as later answers show them.
    pub hint: Option<String>,
    /// A reminder that the key is shown once.
    pub notice: String,
}

/// Where a sync-all stands.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Going.
    Running,
    /// Every member done.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Stopped by an error.
    Failed,
}

impl From<RunStatus> for RunState {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Running => RunState::Running,
            RunStatus::Completed => RunState::Completed,
            RunStatus::Cancelled => RunState::Cancelled,
            RunStatus::Failed => RunState::Failed,
        }
    }
}

/// A sync-all run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncRunView {
    /// The run.
    pub run_id: String,
    /// Where it stands.
    pub status: RunState,
    /// Members to sync (an estimate until the listing is done).
    pub total: u64,
    /// Members synced.
    pub done: u64,
    /// Of which changed.
    pub changed: u64,
    /// Members that failed.
    pub failed: u64,
    /// Changes Discord did not apply.
    pub not_applied: u64,
    /// Members listed so far.
    pub listed: u64,
    /// Bots skipped.
    pub bots: u64,
    /// Member-list pages read.
    pub pages: u32,
    /// Whether the listing is done.
    pub listing_done: bool,
    /// Batches running.
    pub in_flight: u32,
    /// Batches waiting.
    pub queued_batches: u64,
    /// Started at.
    pub started_at: DateTime<Utc>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds left, estimated (running runs).
    pub eta_seconds: Option<u64>,
    /// Pace so far.
    pub members_per_minute: f64,
    /// Who started it.
    pub requested_by: Option<String>,
    /// The last errors seen.
    pub errors: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl SyncRunView {
    /// The view of a run at `now`.
    pub fn new(run: &roster_core::syncs::SyncRun, now: DateTime<Utc>) -> Self {
        Self {
            run_id: run.id.to_string(),
            status: run.status.into(),
            total: run.total(),
            done: run.done,
            changed: run.changed,
            failed: run.failed,
            not_applied: run.not_applied,
            listed: run.listed,
            bots: run.bots,
            pages: run.pages,
            listing_done: run.listing_done,
            in_flight: run.in_flight,
            queued_batches: run.queue_tail.saturating_sub(run.queue_head),
            started_at: run.started_at,
            finished_at: run.finished_at,
            eta_seconds: run.eta_seconds(now),
            members_per_minute: run.members_per_minute(now),
            requested_by: run.requested_by.clone(),
            errors: run.errors.clone(),
            error: run.error.clone(),
        }
    }
}
