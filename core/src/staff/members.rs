//! Who is staff (`../shared/reference/guild-api.txt`, "Staff (basic)" and "Roblox activity
//! tracking"): staff roles are configured per guild (a Discord role → a staff role name, a rank
//! order, permissions, and in-game permissions); staff **members** are the guild's Discord members
//! holding one of those roles, as the role sync last saw them, joined with their account links.
//!
//! The role sync keeps the members current: every page of a sync-all run records the staff among
//! the members it lists (and forgets those of its range it no longer lists: they left the guild),
//! and every single-member sync records that member's roles after the sync. A change of the
//! configured roles applies to the members already known at once; members who hold a newly
//! configured role are found by the next sync-all.
//!
//! Lookups (`verify`, `…/roblox/:robloxId/permissions`, `/staff/members`) are answered from an
//! in-memory index per guild ([`StaffIndex`]), rebuilt when the guild's **staff version** moved:
//! one counter in the store that every change to the settings, the members or the guild's account
//! links bumps in the same transaction, so a lookup never serves a stale answer after a change
//! committed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry, Tenant};
use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::GuildId;
use crate::jobs::discord::PageMember;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

/// Most staff roles per guild.
pub const MAX_ROLES: usize = 50;
/// Most permissions per role (each list).
pub const MAX_PERMISSIONS: usize = 50;

/// A staff role: a Discord role, and what holding it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffRole {
    /// The Discord role.
    pub discord_role_id: u64,
    /// The staff role's name (`Moderator`); unique in the guild.
    pub name: String,
    /// Order: a member holding several staff roles has the one with the highest rank.
    pub rank: u32,
    /// Permissions in Roster and the dashboard (`moderation.read`…).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// In-game permissions (`kick`, `ban`, `warn`…), answered to game servers.
    #[serde(default)]
    pub game_permissions: Vec<String>,
}

/// Day a week starts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeekStart {
    /// Monday (ISO weeks).
    #[default]
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl WeekStart {
    /// As a chrono weekday.
    pub fn weekday(self) -> chrono::Weekday {
        match self {
            WeekStart::Monday => chrono::Weekday::Mon,
            WeekStart::Tuesday => chrono::Weekday::Tue,
            WeekStart::Wednesday => chrono::Weekday::Wed,
            WeekStart::Thursday => chrono::Weekday::Thu,
            WeekStart::Friday => chrono::Weekday::Fri,
            WeekStart::Saturday => chrono::Weekday::Sat,
            WeekStart::Sunday => chrono::Weekday::Sun,
        }
    }
}

/// What happens when a staff member reaches a number of active strikes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrikeAction {
    /// Active strikes that trigger it (reaching the number, not each strike past it).
    pub at: u32,
    /// `demote` (one rank down in the guild's main group, through the ranking job path; needs a
    /// linked Roblox account) or `review` (a pending action for staff to approve or reject).
    pub action: String,
}

/// A guild's staff settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StaffSettings {
    /// Staff roles.
    pub roles: Vec<StaffRole>,
    /// IANA time zone that days, weeks and months (quotas, the leaderboard) follow.
    pub time_zone: String,
    /// The day weeks start on.
    pub week_start: WeekStart,
    /// Action at N active strikes (off when `None`).
    pub strike_action: Option<StrikeAction>,
    /// Action types games may log besides the built-in ones.
    pub action_types: Vec<String>,
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            roles: Vec::new(),
            time_zone: "UTC".into(),
            week_start: WeekStart::Monday,
            strike_action: None,
            action_types: Vec::new(),
        }
    }
}

/// Whether `s` is a permission or action type: 1–64 of `a-z 0-9 . _ : -`.
pub fn token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b':' | b'-')
        })
}

fn tokens(field: String, list: &[String]) -> Result<(), CoreError> {
    if list.len() > MAX_PERMISSIONS {
        return Err(CoreError::invalid(
            field,
            format!("at most {MAX_PERMISSIONS} entries"),
        ));
    }
    for (i, p) in list.iter().enumerate() {
        if !token_ok(p) {
            return Err(CoreError::invalid(
                format!("{field}[{i}]"),
                "must be 1 to 64 of a-z, 0-9, '.', '_', ':' and '-'",
            ));
        }
    }
    Ok(())
}

impl StaffSettings {
    /// Checks the settings; the error names the field (`roles[2].name`).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.roles.len() > MAX_ROLES {
            return Err(CoreError::invalid(
                "roles",
                format!("at most {MAX_ROLES} staff roles"),
            ));
        }
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (i, r) in self.roles.iter().enumerate() {
            let n = r.name.trim();
            if n.is_empty() || n.chars().count() > 64 || n != r.name {
                return Err(CoreError::invalid(
                    format!("roles[{i}].name"),
                    "must be 1 to 64 characters without surrounding spaces",
                ));
            }
            if !names.insert(n.to_lowercase()) {
                return Err(CoreError::invalid(
                    format!("roles[{i}].name"),
                    format!("{n:?} is already the name of another staff role"),
                ));
            }
            if r.discord_role_id == 0 || !ids.insert(r.discord_role_id) {
                return Err(CoreError::invalid(
                    format!("roles[{i}].discordRoleId"),
                    "must be a Discord role id used by one staff role only",
                ));
            }
            tokens(format!("roles[{i}].permissions"), &r.permissions)?;
            tokens(format!("roles[{i}].gamePermissions"), &r.game_permissions)?;
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(CoreError::invalid(
                "timeZone",
                format!(
                    "{:?} is not an IANA time zone (like Europe/London or UTC)",
                    self.time_zone
                ),
            ));
        }
        if let Some(a) = &self.strike_action {
            if !(1..=100).contains(&a.at) {
                return Err(CoreError::invalid("strikeAction.at", "must be 1 to 100"));
            }
            if !matches!(a.action.as_str(), "demote" | "review") {
                return Err(CoreError::invalid(
                    "strikeAction.action",
                    "must be demote or review",
                ));
            }
        }
        tokens("actionTypes".into(), &self.action_types)?;
        if self.action_types.len() > MAX_PERMISSIONS {
            return Err(CoreError::invalid("actionTypes", "at most 50"));
        }
        Ok(())
    }

    /// The time zone (UTC when the stored one no longer parses).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The staff role a member holding `roles` has: the configured one of highest rank.
    pub fn role_of(&self, roles: &[u64]) -> Option<usize> {
        self.roles
            .iter()
            .enumerate()
            .filter(|(_, r)| roles.contains(&r.discord_role_id))
            .max_by_key(|(i, r)| (r.rank, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    }

    /// A role by name (case-insensitive).
    pub fn role_named(&self, name: &str) -> Option<&StaffRole> {
        self.roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

/// A staff member as stored: a Discord member holding a staff role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffMember {
    /// Discord id.
    pub discord_id: u64,
    /// Their Discord roles as last seen.
    pub roles: Vec<u64>,
    /// When they were first seen holding a staff role.
    pub joined_at: DateTime<Utc>,
    /// When the sync last saw them.
    pub seen_at: DateTime<Utc>,
    /// The sync-all run that last listed them (or, for a single-member sync, the guild's latest
    /// run then).
    #[serde(default)]
    pub seen_run: u64,
}

fn settings_key(guild: GuildId) -> [u8; 8] {
    guild.to_be_bytes()
}

fn version_key(guild: GuildId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&guild.to_be_bytes());
    k[8] = b'v';
    k
}

fn member_key(guild: GuildId, discord: u64) -> [u8; 16] {
    keys::pair(guild.get(), discord)
}

/// Bumps the guild's staff version (call in every transaction that changes its settings, staff
/// members or account links).
pub fn bump_in(tx: &dyn Txn, guild: GuildId) -> Result<(), StoreError> {
    let k = version_key(guild);
    let v = tx
        .get(Tree::StaffSettings, &k)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes);
    tx.insert(Tree::StaffSettings, &k, (v + 1).to_be_bytes().to_vec())
}

fn version(ctx: &Ctx, guild: GuildId) -> Result<u64, StoreError> {
    Ok(ctx
        .store
        .get(Tree::StaffSettings, &version_key(guild))?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// A guild's staff settings (defaults when never set).
pub fn settings(ctx: &Ctx, guild: GuildId) -> Result<StaffSettings, StoreError> {
    Ok(ctx
        .store
        .get_json(Tree::StaffSettings, &settings_key(guild))?
        .unwrap_or_default())
}

/// Replaces a guild's staff settings (audited, durable).
pub async fn set_settings(
    ctx: &Ctx,
    guild: GuildId,
    s: StaffSettings,
    actor: &str,
) -> Result<StaffSettings, CoreError> {
    s.validate()?;
    let audit_id = ctx.store.next_id()?;
    let now = ctx.clock.now();
    ctx.store.transact(|tx| {
        tx.put_json(Tree::StaffSettings, &settings_key(guild), &s)?;
        bump_in(tx, guild)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "staff.settings".into(),
                actor_id: Some(actor.to_owned()),
                target_id: None,
                metadata: serde_json::json!({"roles": s.roles.len(), "timeZone": s.time_zone}),
                created_at: now,
            },
        )
    })?;
    ctx.store.durable().await?;
    Ok(s)
}

/// Records one member's roles (from a sync): stored while they hold a staff role, forgotten
/// otherwise. Returns whether anything changed.
fn record_member(
    tx: &dyn Txn,
    guild: GuildId,
    settings: &StaffSettings,
    user: u64,
    roles: &[u64],
    seen_run: u64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let k = member_key(guild, user);
    let old: Option<StaffMember> = tx.get_json(Tree::StaffMembers, &k)?;
    if settings.role_of(roles).is_none() {
        if old.is_some() {
            tx.remove(Tree::StaffMembers, &k)?;
            return Ok(true);
        }
        return Ok(false);
    }
    let mut sorted = roles.to_vec();
    sorted.sort_unstable();
    let changed = old.as_ref().is_none_or(|o| o.roles != sorted);
    let m = StaffMember {
        discord_id: user,
        roles: sorted,
        joined_at: old.as_ref().map_or(now, |o| o.joined_at),
        seen_at: now,
        seen_run,
    };
    tx.put_json(Tree::StaffMembers, &k, &m)?;
    Ok(changed)
}

/// A sync-all page's members (`last` when the listing ended with it): records the staff among
/// them. Members the listing no longer shows (they left the guild) are those last seen before
/// the latest sync-all whose listing completed: the index leaves them out (see [`StaffIndex`]).
pub(crate) fn apply_page(
    tx: &dyn Txn,
    guild: GuildId,
    run_id: u64,
    members: &[PageMember],
    last: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let settings: StaffSettings = tx
        .get_json(Tree::StaffSettings, &settings_key(guild))?
        .unwrap_or_default();
    if settings.roles.is_empty() {
        return Ok(());
    }
    let mut changed = last;
    for m in members.iter().filter(|m| !m.bot) {
        changed |= record_member(tx, guild, &settings, m.user_id, &m.roles, run_id, now)?;
    }
    if changed {
        bump_in(tx, guild)?;
    }
    Ok(())
}

/// One member's roles after a single-member sync.
pub(crate) fn apply_member(
    tx: &dyn Txn,
    guild: GuildId,
    user: u64,
    roles: &[u64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let settings: StaffSettings = tx
        .get_json(Tree::StaffSettings, &settings_key(guild))?
        .unwrap_or_default();
    if settings.roles.is_empty() {
        return Ok(());
    }
    let latest = tx
        .get_json::<crate::syncs::SyncRun>(Tree::SyncRuns, &guild.to_be_bytes())?
        .map_or(0, |r| r.id);
    if record_member(tx, guild, &settings, user, roles, latest, now)? {
        bump_in(tx, guild)?;
    }
    Ok(())
}

/// A staff member as the index knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffEntry {
    /// Discord id.
    pub discord_id: u64,
    /// Their linked Roblox account.
    pub roblox_id: Option<u64>,
    /// Their staff role (index into the settings' roles).
    pub role: usize,
    /// First seen as staff.
    pub joined_at: DateTime<Utc>,
}

/// A guild's staff, in memory.
#[derive(Debug, Default)]
pub struct GuildStaff {
    /// The staff version this was built at.
    pub version: u64,
    /// Settings.
    pub settings: StaffSettings,
    /// Members by Discord id.
    pub members: BTreeMap<u64, StaffEntry>,
    by_roblox: HashMap<u64, u64>,
}

impl GuildStaff {
    /// A member by Discord id.
    pub fn get(&self, discord: u64) -> Option<&StaffEntry> {
        self.members.get(&discord)
    }

    /// A member by their linked Roblox account.
    pub fn by_roblox(&self, roblox: u64) -> Option<&StaffEntry> {
        self.by_roblox
            .get(&roblox)
            .and_then(|d| self.members.get(d))
    }

    /// A member's role.
    pub fn role(&self, e: &StaffEntry) -> &StaffRole {
        &self.settings.roles[e.role]
    }

    /// Resolves a moderator id a game or the API sent (a Roblox id of a linked staff member, or
    /// a staff member's Discord id) to the staff member.
    pub fn resolve(&self, moderator: &str) -> Option<&StaffEntry> {
        let n: u64 = moderator.trim().parse().ok()?;
        self.by_roblox(n).or_else(|| self.get(n))
    }

    /// Whether a member is in a quota's scope (`everyone` or `role:<name>`).
    pub fn in_scope(&self, e: &StaffEntry, scope: &str) -> bool {
        match scope.strip_prefix("role:") {
            Some(name) => self.role(e).name.eq_ignore_ascii_case(name),
            None => true,
        }
    }
}

/// The in-memory staff index of every guild (see the module docs).
#[derive(Debug, Default)]
pub struct StaffIndex {
    guilds: Mutex<HashMap<GuildId, Arc<GuildStaff>>>,
}

impl StaffIndex {
    /// A guild's staff: the cached index when the guild's staff version has not moved (one point
    /// read), else rebuilt from the store.
    pub fn guild(&self, ctx: &Ctx, guild: GuildId) -> Result<Arc<GuildStaff>, StoreError> {
        let v = version(ctx, guild)?;
        if let Some(g) = self.guilds.lock().get(&guild)
            && g.version == v
        {
            return Ok(g.clone());
        }
        let built = Arc::new(build(ctx, guild, v)?);
        metrics::counter!("roster_staff_index_rebuilds_total").increment(1);
        self.guilds.lock().insert(guild, built.clone());
        Ok(built)
    }
}

fn build(ctx: &Ctx, guild: GuildId, version: u64) -> Result<GuildStaff, StoreError> {
    let settings = settings(ctx, guild)?;
    // Members not seen by the latest complete listing have left the guild.
    let listed_by = ctx
        .store
        .get_json::<crate::syncs::SyncRun>(Tree::SyncRuns, &guild.to_be_bytes())?
        .filter(|r| r.listing_done)
        .map(|r| r.id);
    let mut out = GuildStaff {
        version,
        settings,
        ..GuildStaff::default()
    };
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = ctx.store.scan_json::<StaffMember>(
            Tree::StaffMembers,
            &guild.to_be_bytes(),
            after.as_deref(),
            1000,
            false,
        )?;
        let full = page.len() == 1000;
        for (_, m) in &page {
            if listed_by.is_some_and(|run| m.seen_run < run) {
                continue;
            }
            let Some(role) = out.settings.role_of(&m.roles) else {
                continue;
            };
            let roblox_id = crate::links::by_discord(ctx.store.as_ref(), guild, m.discord_id)?
                .map(|l| l.roblox_id);
            if let Some(r) = roblox_id {
                out.by_roblox.insert(r, m.discord_id);
            }
            out.members.insert(
                m.discord_id,
                StaffEntry {
                    discord_id: m.discord_id,
                    roblox_id,
                    role,
                    joined_at: m.joined_at,
                },
            );
        }
        match page.last() {
            Some((k, _)) if full => after = Some(k.clone()),
            _ => break,
        }
    }
    Ok(out)
}
