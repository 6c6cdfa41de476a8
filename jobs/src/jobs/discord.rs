//! Discord jobs: sync one member, the pages and batches of a guild-wide sync, role changes
//! (manual and role-bridge), direct messages and bans. Payloads carry everything a worker needs
//! (bindings, settings, sealed credentials, current member state where known), since workers
//! never open the store.

use serde::{Deserialize, Serialize};

use super::DISCORD_QUEUE;
use super::kind::Kind;
use super::order::member_subject;
use crate::bindings::Binding;
use crate::ids::GuildId;
use crate::model::{AccountLink, DiscordSettings};
use crate::secrets::Sealed;

/// Error codes Discord jobs fail with (the guild family's vocabulary).
pub mod codes {
    /// Discord refused or failed; the message says why.
    pub const DISCORD_API_ERROR: &str = "DISCORD_API_ERROR";
    /// Roblox refused or failed while reading ranks.
    pub const ROBLOX_API_ERROR: &str = "ROBLOX_API_ERROR";
    /// No bot token is configured, or it could not be opened.
    pub const DISCORD_NOT_CONFIGURED: &str = "DISCORD_NOT_CONFIGURED";
    /// The user is not a member of the guild.
    pub const NOT_IN_GUILD: &str = "NOT_IN_GUILD";
    /// The user does not accept direct messages from the bot.
    pub const CANNOT_DM: &str = "CANNOT_DM";
    /// The job payload is unreadable (a bug or a version mismatch).
    pub const BAD_PAYLOAD: &str = "BAD_PAYLOAD";
    /// A linked NamelessMC website refused or could not be reached; the message says why.
    pub const WEBSITE_API_ERROR: &str = "WEBSITE_API_ERROR";
}

/// An Open Cloud key and the purpose it was sealed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedKey {
    /// Sealing purpose ([`crate::model::group_key_purpose`] or [`crate::model::guild_key_purpose`]).
    pub purpose: String,
    /// The sealed key.
    pub sealed: Sealed,
}

/// Which guild, and with which bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscordTarget {
    /// The guild.
    pub guild: GuildId,
    /// The guild's own bot token, sealed for [`crate::model::guild_bot_token_purpose`]; `None` uses
    /// the worker's `discord.bot_token`.
    pub bot_token: Option<Sealed>,
}

/// A guild as a Discord job targets it (the control plane's guild record).
pub trait DiscordGuild {
    /// Its id.
    fn guild_id(&self) -> GuildId;
    /// Its Discord settings.
    fn discord(&self) -> &DiscordSettings;
}

impl DiscordTarget {
    /// The target of a guild.
    pub fn of(g: &impl DiscordGuild) -> Self {
        Self {
            guild: g.guild_id(),
            bot_token: g.discord().bot_token.clone(),
        }
    }
}

/// Everything needed to compute a member's roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// Guild and bot.
    pub target: DiscordTarget,
    /// Verified/unverified roles, kept roles, nickname template, main group (no secrets).
    pub settings: DiscordSettings,
    /// The guild's bindings.
    pub bindings: Vec<Binding>,
    /// Groups whose ranks matter (binding groups and the main group).
    pub groups: Vec<u64>,
    /// The key that reads those groups' memberships; `None` when no group matters.
    pub roblox_key: Option<SealedKey>,
}

/// A member as the guild listing showed them, with their link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberState {
    /// Discord user id.
    pub user_id: u64,
    /// Roles now.
    pub roles: Vec<u64>,
    /// Nickname now.
    pub nick: Option<String>,
    /// Display name (global name or username).
    pub discord_name: String,
    /// A bot (never synced).
    pub bot: bool,
    /// Their account link, if any.
    pub link: Option<AccountLink>,
    /// Times this member was handed back after a transient failure.
    #[serde(default)]
    pub attempts: u32,
}

/// Sync one member (`/interactions/sync`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncMemberJob {
    /// How to sync.
    pub spec: SyncSpec,
    /// The Discord user.
    pub user_id: u64,
    /// Their link, if any.
    pub link: Option<AccountLink>,
}

/// Something sync would have done and did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// `add_role`, `remove_role` or `nickname`.
    pub action: String,
    /// The role, for role actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// `hierarchy`, `managed_role`, `unknown_role`, `missing_permission`, `server_owner`.
    pub reason: String,
    /// For people.
    pub message: String,
}

/// What syncing one member did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSyncResult {
    /// Discord user.
    pub user_id: String,
    /// Roles added.
    pub added_roles: Vec<String>,
    /// Roles removed.
    pub removed_roles: Vec<String>,
    /// Whether the nickname was changed.
    pub nickname_updated: bool,
    /// The nickname set, when changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Changes not attempted, and why.
    pub not_applied: Vec<Skipped>,
    /// Whether the member has a Roblox link.
    pub verified: bool,
    /// Whether a write was sent.
    pub changed: bool,
    /// The hash of the guild's role list as the sync saw it ([`role_list_hash`]), so a linked
    /// website's list is pushed again when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_hash: Option<String>,
    /// The member's roles after the sync (what staff membership follows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<u64>>,
}

/// Read one page of a guild's members for a sync-all run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPageJob {
    /// Guild and bot.
    pub target: DiscordTarget,
    /// The run.
    pub run_id: u64,
    /// Members with user ids above this.
    pub after: u64,
    /// Page size (1–1000).
    pub limit: u16,
}

/// One page of members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageMember {
    /// User id.
    pub user_id: u64,
    /// Roles.
    pub roles: Vec<u64>,
    /// Nickname.
    pub nick: Option<String>,
    /// Display name.
    pub discord_name: String,
    /// Bot.
    pub bot: bool,
}

/// What a page job read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPageResult {
    /// The members.
    pub members: Vec<PageMember>,
    /// Discord's approximate member count, read with the first page.
    pub approximate_member_count: Option<u64>,
}

/// Sync a batch of members (up to 50, one Open Cloud read per group) for a sync-all run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncBatchJob {
    /// How to sync.
    pub spec: SyncSpec,
    /// The run.
    pub run_id: u64,
    /// The members, as listed.
    pub members: Vec<MemberState>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncBatchResult {
    /// Members synced (changed or not).
    pub done: u64,
    /// Of which a write was sent.
    pub changed: u64,
    /// Members that could not be synced.
    pub failed: u64,
    /// Role changes or nicknames not attempted (hierarchy etc.).
    pub not_applied: u64,
    /// Members left for later because Discord's rate limit would have made this job wait
    /// too long; the coordinator queues them again.
    pub remaining: Vec<MemberState>,
    /// Up to 20 failures, for the run's report.
    pub errors: Vec<String>,
    /// The hash of the guild's role list as the batch saw it ([`role_list_hash`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_hash: Option<String>,
}

/// Add or remove roles (manual changes and the role bridge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChangesJob {
    /// Guild and bot.
    pub target: DiscordTarget,
    /// The changes, in order.
    pub changes: Vec<RoleChange>,
    /// Audit-log reason.
    pub reason: String,
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChange {
    /// Discord user.
    pub user_id: u64,
    /// Role.
    pub role_id: u64,
    /// Add (`true`) or remove.
    pub add: bool,
}

/// How one change ended (the role bridge's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleChangeStatus {
    /// Already so.
    None,
    /// Added.
    Added,
    /// Removed.
    Removed,
    /// Above the bot's highest role, managed, or the bot lacks Manage Roles.
    NoPermission,
    /// Not a member of the guild.
    InvalidUser,
    /// Not a role of the guild.
    InvalidRole,
}

impl RoleChangeStatus {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleChangeStatus::None => "none",
            RoleChangeStatus::Added => "added",
            RoleChangeStatus::Removed => "removed",
            RoleChangeStatus::NoPermission => "no_permission",
            RoleChangeStatus::InvalidUser => "invalid_user",
            RoleChangeStatus::InvalidRole => "invalid_role",
        }
    }
}

/// Result of a role-changes job: one status per change, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChangesResult {
    /// Statuses.
    pub statuses: Vec<RoleChangeStatus>,
}

/// Send a direct message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectMessageJob {
    /// Guild (for the bot and the tenant) and bot.
    pub target: DiscordTarget,
    /// Recipient.
    pub user_id: u64,
    /// Text (1–2000 characters).
    pub content: String,
}

/// Ban or unban a Discord user (a guild ban mirrored in Discord).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscordBanJob {
    /// Guild and bot.
    pub target: DiscordTarget,
    /// Discord user.
    pub user_id: u64,
    /// Ban (`true`) or lift.
    pub active: bool,
    /// Audit-log reason.
    pub reason: String,
    /// The Roster ban record.
    pub record_id: u64,
}

/// The settings a sync needs, without secrets.
pub fn sync_settings(d: &DiscordSettings) -> DiscordSettings {
    DiscordSettings {
        bot_token: None,
        bot_token_hint: None,
        role_bridge_key_hash: None,
        role_bridge_key_hint: None,
        role_bridge_site: None,
        ..d.clone()
    }
}

/// A linked NamelessMC website as a push job reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteTarget {
    /// The site's API URL.
    pub api_url: String,
    /// Its API key, sealed for [`crate::model::role_bridge_site_key_purpose`].
    pub key: Sealed,
}

/// Tell a linked website the guild's roles (and, when linking, its bot's settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushRoleListJob {
    /// Guild and bot.
    pub target: DiscordTarget,
    /// The website.
    pub site: SiteTarget,
    /// When linking: the bridge URL to send with the bot's settings (`update-bot-settings`)
    /// before the roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_settings_url: Option<String>,
    /// The hash of the list the site already has: the push is skipped when the guild's roles
    /// still hash to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
    /// The hash a sync saw that staged this push (`None` when linking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushRoleListResult {
    /// The hash of the guild's role list ([`role_list_hash`]).
    pub hash: String,
    /// Roles in it (without `@everyone`).
    pub roles: usize,
    /// Whether the list was sent (`false`: the site already had it).
    pub pushed: bool,
    /// Whether the bot's settings were sent.
    pub bot_settings: bool,
}

/// The role list a website is offered: every role but `@everyone` (whose id is the guild's),
/// highest first, as `(id, name)`.
pub fn site_role_list<'a>(
    guild: u64,
    roles: impl IntoIterator<Item = (u64, &'a str, i64)>,
) -> Vec<(u64, String)> {
    let mut list: Vec<(i64, u64, &str)> = roles
        .into_iter()
        .filter(|(id, _, _)| *id != guild)
        .map(|(id, name, pos)| (pos, id, name))
        .collect();
    list.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    list.into_iter()
        .map(|(_, id, name)| (id, name.to_owned()))
        .collect()
}

/// The hash of a role list from [`site_role_list`] (SHA-256, hex): equal lists, equal hashes.
pub fn role_list_hash(list: &[(u64, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (id, name) in list {
        h.update(id.to_string().as_bytes());
        h.update([0]);
        h.update(name.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Result of a direct message job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessageResult {
    /// Sent.
    pub sent: bool,
}

/// Result of a Discord ban job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscordBanResult {
    /// Whether the user is banned now.
    pub banned: bool,
    /// For an unban: whether they were banned before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_banned: Option<bool>,
}

/// `discord.sync_member`: sync one member's roles and nickname, ordered on the member.
#[derive(Debug, Clone, Copy)]
pub struct SyncMember;

impl Kind for SyncMember {
    const NAME: &'static str = "discord.sync_member";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = SyncMemberJob;
    type Result = MemberSyncResult;

    fn subjects(job: &SyncMemberJob, out: &mut Vec<String>) {
        out.push(member_subject(job.spec.target.guild.get(), job.user_id));
    }
}

/// `discord.sync_page`: read one page of a guild's members for a sync-all run. Not ordered; its
/// outcome advances the run (`roster_core::syncs`), which leaves its own audit entries.
#[derive(Debug, Clone, Copy)]
pub struct SyncPage;

impl Kind for SyncPage {
    const NAME: &'static str = "discord.sync_page";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = SyncPageJob;
    type Result = SyncPageResult;
}

/// `discord.sync_batch`: sync a batch of members for a sync-all run. Not ordered; its outcome
/// advances the run (`roster_core::syncs`).
#[derive(Debug, Clone, Copy)]
pub struct SyncBatch;

impl Kind for SyncBatch {
    const NAME: &'static str = "discord.sync_batch";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = SyncBatchJob;
    type Result = SyncBatchResult;
}

/// `discord.role_changes`: add or remove roles, ordered on every member it touches.
#[derive(Debug, Clone, Copy)]
pub struct RoleChanges;

impl Kind for RoleChanges {
    const NAME: &'static str = "discord.role_changes";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = RoleChangesJob;
    type Result = RoleChangesResult;

    fn subjects(job: &RoleChangesJob, out: &mut Vec<String>) {
        out.extend(
            job.changes
                .iter()
                .map(|c| member_subject(job.target.guild.get(), c.user_id)),
        );
    }
}

/// `discord.direct_message`: send a direct message. Not ordered (it changes nothing lasting).
#[derive(Debug, Clone, Copy)]
pub struct DirectMessage;

impl Kind for DirectMessage {
    const NAME: &'static str = "discord.direct_message";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = DirectMessageJob;
    type Result = DirectMessageResult;
}

/// `discord.push_role_list`: tell a linked NamelessMC website the guild's roles, ordered on the
/// guild's website (pushes run one at a time, in the order they were staged).
#[derive(Debug, Clone, Copy)]
pub struct PushRoleList;

impl Kind for PushRoleList {
    const NAME: &'static str = "discord.push_role_list";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = PushRoleListJob;
    type Result = PushRoleListResult;

    fn subjects(job: &PushRoleListJob, out: &mut Vec<String>) {
        out.push(format!("role-list:{}", job.target.guild));
    }
}

/// `discord.ban`: ban or unban in Discord, ordered on the member.
#[derive(Debug, Clone, Copy)]
pub struct DiscordBan;

impl Kind for DiscordBan {
    const NAME: &'static str = "discord.ban";
    const QUEUE: &'static str = DISCORD_QUEUE;
    type Payload = DiscordBanJob;
    type Result = DiscordBanResult;

    fn subjects(job: &DiscordBanJob, out: &mut Vec<String>) {
        out.push(member_subject(job.target.guild.get(), job.user_id));
    }
}
