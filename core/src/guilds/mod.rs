//! Guilds (Discord servers, the tenants of the guild API): moderation settings, linked Roblox
//! groups, Shield write permission.
//!
//! The feature around guilds lives beside this module: [`links`], [`bindings`], [`syncs`].

pub mod bindings;
pub mod links;
pub mod site;
pub mod syncs;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::CoreError;
use crate::ids::{GroupId, GuildId};
use crate::secrets::{Sealed, Secret};
use crate::store::{StoreExt, Tree, TxnExt, keys};

pub use roster_jobs::model::DiscordSettings;

/// What a ban does beyond Roster's own records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModerationSettings {
    /// Universes (experiences) whose Roblox experience bans follow this guild's bans of Roblox
    /// users, through Open Cloud user restrictions.
    pub roblox_universes: Vec<u64>,
    /// The Open Cloud key used for those restrictions (scope `universe.user-restriction:write`),
    /// sealed.
    pub open_cloud_key: Option<Sealed>,
    /// Its last four characters.
    pub open_cloud_key_hint: Option<String>,
}

/// A registered guild.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuildRecord {
    /// Discord guild id.
    pub id: GuildId,
    /// Display name.
    pub name: String,
    /// Roblox groups whose rank changes also appear in this guild's audit log.
    #[serde(default)]
    pub linked_groups: Vec<GroupId>,
    /// Moderation side effects.
    #[serde(default)]
    pub moderation: ModerationSettings,
    /// Whether this guild may write to Shield (`/shield/import`).
    #[serde(default)]
    pub shield_writer: bool,
    /// Discord: bot, role sync, role bridge.
    #[serde(default)]
    pub discord: DiscordSettings,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl GuildRecord {
    /// The sealing purpose of this guild's Open Cloud key.
    pub fn credential_purpose(id: GuildId) -> String {
        roster_jobs::model::guild_key_purpose(id)
    }

    /// The sealing purpose of this guild's bot token.
    pub fn bot_token_purpose(id: GuildId) -> String {
        roster_jobs::model::guild_bot_token_purpose(id)
    }
}

/// Changes to a guild; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct GuildPatch {
    /// Name.
    pub name: Option<String>,
    /// Linked groups (replaces the list).
    pub linked_groups: Option<Vec<GroupId>>,
    /// Universes for experience bans (replaces the list).
    pub roblox_universes: Option<Vec<u64>>,
    /// Open Cloud key; `Some(None)` removes it.
    pub open_cloud_key: Option<Option<Secret>>,
    /// Shield write permission.
    pub shield_writer: Option<bool>,
    /// Bot token; `Some(None)` falls back to the deployment's.
    pub bot_token: Option<Option<Secret>>,
    /// Main group; `Some(None)` clears it. Set, it is also linked.
    pub main_group: Option<Option<GroupId>>,
    /// Nickname template; `Some(None)` stops managing nicknames.
    pub nickname_template: Option<Option<String>>,
    /// Verified role; `Some(None)` clears it.
    pub verified_role: Option<Option<u64>>,
    /// Unverified role; `Some(None)` clears it.
    pub unverified_role: Option<Option<u64>>,
    /// Roles never removed (replaces the list).
    pub keep_roles: Option<Vec<u64>>,
    /// Ban in Discord too.
    pub ban_in_discord: Option<bool>,
    /// Role-bridge key hash and hint; `Some(None)` removes the key.
    pub role_bridge_key: Option<Option<(String, String)>>,
}

/// Whether `id` can be a Discord snowflake.
fn snowflake(id: u64) -> bool {
    id > 0 && id <= i64::MAX as u64
}

fn key(id: GuildId) -> [u8; 8] {
    id.to_be_bytes()
}

fn validate(name: Option<&str>, patch: &GuildPatch) -> Result<(), CoreError> {
    if let Some(n) = name
        && (n.trim().is_empty() || n.chars().count() > 100)
    {
        return Err(CoreError::invalid("name", "must be 1 to 100 characters"));
    }
    if let Some(g) = &patch.linked_groups
        && g.len() > 50
    {
        return Err(CoreError::invalid("linkedGroups", "at most 50 groups"));
    }
    if let Some(u) = &patch.roblox_universes {
        if u.len() > 50 {
            return Err(CoreError::invalid(
                "robloxUniverses",
                "at most 50 universes",
            ));
        }
        if u.iter().any(|id| *id == 0 || *id > i64::MAX as u64) {
            return Err(CoreError::invalid(
                "robloxUniverses",
                "universe ids are positive integers",
            ));
        }
    }
    if let Some(Some(t)) = &patch.bot_token {
        let s = t.expose().trim();
        if s.len() < 20 || s.len() > 200 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CoreError::invalid(
                "botToken",
                "must be a Discord bot token (20 to 200 characters, no spaces)",
            ));
        }
    }
    if let Some(Some(t)) = &patch.nickname_template {
        crate::bindings::validate_template(t)?;
    }
    for (field, role) in [
        ("verifiedRole", patch.verified_role.flatten()),
        ("unverifiedRole", patch.unverified_role.flatten()),
    ] {
        if let Some(r) = role
            && !snowflake(r)
        {
            return Err(CoreError::invalid(field, "must be a Discord role id"));
        }
    }
    if let Some(k) = &patch.keep_roles {
        if k.len() > 250 {
            return Err(CoreError::invalid("keepRoles", "at most 250 roles"));
        }
        if k.iter().any(|r| !snowflake(*r)) {
            return Err(CoreError::invalid("keepRoles", "must be Discord role ids"));
        }
    }
    if let Some(Some(k)) = &patch.open_cloud_key {
        let s = k.expose();
        if s.len() < 8 || s.len() > 4096 || s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(CoreError::invalid(
                "openCloudKey",
                "must be 8 to 4096 printable characters without spaces",
            ));
        }
    }
    Ok(())
}

fn apply(ctx: &Ctx, g: &mut GuildRecord, patch: &GuildPatch) {
    if let Some(n) = &patch.name {
        g.name = n.trim().to_owned();
    }
    if let Some(l) = &patch.linked_groups {
        let mut l = l.clone();
        l.sort();
        l.dedup();
        g.linked_groups = l;
    }
    if let Some(u) = &patch.roblox_universes {
        let mut u = u.clone();
        u.sort_unstable();
        u.dedup();
        g.moderation.roblox_universes = u;
    }
    if let Some(k) = &patch.open_cloud_key {
        g.moderation.open_cloud_key = k.as_ref().map(|k| {
            ctx.master
                .seal(&GuildRecord::credential_purpose(g.id), k.expose())
        });
        g.moderation.open_cloud_key_hint = k.as_ref().map(crate::groups::key_hint);
    }
    if let Some(s) = patch.shield_writer {
        g.shield_writer = s;
    }
    let d = &mut g.discord;
    if let Some(t) = &patch.bot_token {
        d.bot_token = t.as_ref().map(|t| {
            ctx.master
                .seal(&GuildRecord::bot_token_purpose(g.id), t.expose().trim())
        });
        d.bot_token_hint = t.as_ref().map(crate::groups::key_hint);
    }
    if let Some(m) = patch.main_group {
        d.main_group = m;
    }
    if let Some(t) = &patch.nickname_template {
        d.nickname_template = t
            .as_ref()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
    }
    if let Some(r) = patch.verified_role {
        d.verified_role = r;
    }
    if let Some(r) = patch.unverified_role {
        d.unverified_role = r;
    }
    if let Some(k) = &patch.keep_roles {
        let mut k = k.clone();
        k.sort_unstable();
        k.dedup();
        d.keep_roles = k;
    }
    if let Some(b) = patch.ban_in_discord {
        d.ban_in_discord = b;
    }
    // The main group stays linked whatever the linked list says.
    if let Some(m) = d.main_group
        && !g.linked_groups.contains(&m)
    {
        g.linked_groups.push(m);
        g.linked_groups.sort();
    }
    if let Some(k) = &patch.role_bridge_key {
        d.role_bridge_key_hash = k.as_ref().map(|(h, _)| h.clone());
        d.role_bridge_key_hint = k.as_ref().map(|(_, hint)| hint.clone());
        // A generated key (or none) replaces a linked website's: it is no longer linked.
        d.role_bridge_site = None;
    }
}

/// Registers a guild.
pub async fn create(
    ctx: &Ctx,
    id: GuildId,
    name: String,
    patch: GuildPatch,
) -> Result<GuildRecord, CoreError> {
    validate(Some(&name), &patch)?;
    let now = ctx.clock.now();
    let mut record = GuildRecord {
        id,
        name: name.trim().to_owned(),
        linked_groups: Vec::new(),
        moderation: ModerationSettings::default(),
        shield_writer: false,
        discord: DiscordSettings::default(),
        created_at: now,
        updated_at: now,
    };
    apply(ctx, &mut record, &patch);
    let created = ctx.store.transact(|tx| {
        if tx.get(Tree::Guilds, &key(id))?.is_some() {
            return Ok(false);
        }
        tx.put_json(Tree::Guilds, &key(id), &record)?;
        for g in &record.linked_groups {
            tx.insert(Tree::GroupLinks, &keys::pair(g.get(), id.get()), Vec::new())?;
        }
        Ok(true)
    })?;
    if !created {
        return Err(CoreError::AlreadyExists(format!("guild {id}")));
    }
    ctx.store.durable().await?;
    Ok(record)
}

/// Reads a guild.
pub fn get(ctx: &Ctx, id: GuildId) -> Result<Option<GuildRecord>, CoreError> {
    Ok(ctx.store.get_json(Tree::Guilds, &key(id))?)
}

/// Lists guilds in id order.
pub fn list(
    ctx: &Ctx,
    after: Option<GuildId>,
    limit: usize,
) -> Result<Vec<GuildRecord>, CoreError> {
    let after_key = after.map(key);
    Ok(ctx
        .store
        .scan_json::<GuildRecord>(
            Tree::Guilds,
            &[],
            after_key.as_ref().map(|k| &k[..]),
            limit,
            false,
        )?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// Changes a guild.
pub async fn update(ctx: &Ctx, id: GuildId, patch: GuildPatch) -> Result<GuildRecord, CoreError> {
    validate(patch.name.as_deref(), &patch)?;
    let now = ctx.clock.now();
    let result = ctx.store.transact(|tx| {
        let Some(mut g) = tx.get_json::<GuildRecord>(Tree::Guilds, &key(id))? else {
            return Ok(None);
        };
        for old in &g.linked_groups {
            tx.remove(Tree::GroupLinks, &keys::pair(old.get(), id.get()))?;
        }
        apply(ctx, &mut g, &patch);
        for new in &g.linked_groups {
            tx.insert(
                Tree::GroupLinks,
                &keys::pair(new.get(), id.get()),
                Vec::new(),
            )?;
        }
        g.updated_at = now;
        tx.put_json(Tree::Guilds, &key(id), &g)?;
        Ok(Some(g))
    })?;
    let g = result.ok_or_else(|| CoreError::NotFound(format!("guild {id}")))?;
    ctx.store.durable().await?;
    Ok(g)
}

/// Guilds linked to a group (their audit logs also show the group's rank changes).
pub fn linked_to(
    store: &dyn crate::store::Store,
    group: GroupId,
) -> Result<Vec<GuildId>, crate::store::StoreError> {
    store
        .scan(Tree::GroupLinks, &group.to_be_bytes(), None, 1000, false)?
        .into_iter()
        .filter_map(|(k, _)| {
            let raw: [u8; 8] = k.get(8..16)?.try_into().ok()?;
            GuildId::new(u64::from_be_bytes(raw)).ok()
        })
        .map(Ok)
        .collect()
}

/// The prefix of role-bridge keys.
pub const ROLE_BRIDGE_KEY_PREFIX: &str = "rbk_";

/// Issues (or replaces) the guild's role-bridge key; returns the key, which is stored only as
/// a hash and shown once.
pub async fn issue_role_bridge_key(
    ctx: &Ctx,
    id: GuildId,
) -> Result<(GuildRecord, String), CoreError> {
    let token = crate::secrets::random_token(ROLE_BRIDGE_KEY_PREFIX);
    let hint = crate::groups::key_hint(&Secret::new(token.clone()));
    let g = update(
        ctx,
        id,
        GuildPatch {
            role_bridge_key: Some(Some((crate::secrets::token_hash(&token), hint))),
            ..GuildPatch::default()
        },
    )
    .await?;
    Ok((g, token))
}
