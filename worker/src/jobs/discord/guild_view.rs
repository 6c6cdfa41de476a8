//! The guild view cache: a guild's roles, owner and the bot's place in its hierarchy.

use std::collections::{HashMap, hash_map::DefaultHasher};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roster_jobs::jobs::discord::{role_list_hash, site_role_list};
use roster_upstream::UpstreamError;
use roster_upstream::discord::{DiscordApi, GuildInfo, Role, permissions as perms};

/// What the worker knows about a guild: roles, owner, and the bot's place in the hierarchy.
#[derive(Debug, Clone)]
pub struct GuildView {
    guild: u64,
    owner_id: u64,
    pub(super) roles: HashMap<u64, Role>,
    bot_id: u64,
    bot_top: i64,
    bot_perms: u64,
    pub(super) approximate_member_count: Option<u64>,
    /// The hash of the role list a linked website is offered
    /// (`roster_jobs::jobs::discord::role_list_hash`).
    pub(super) roles_hash: String,
}

impl GuildView {
    fn bot_is_owner(&self) -> bool {
        self.bot_id == self.owner_id
    }

    fn has(&self, bit: u64) -> bool {
        self.bot_is_owner() || self.bot_perms & (perms::ADMINISTRATOR | bit) != 0
    }

    /// Why the bot cannot add or remove `role`, if it cannot.
    pub(super) fn role_blocker(&self, role: u64) -> Option<(&'static str, String)> {
        let Some(r) = self.roles.get(&role).filter(|_| role != self.guild) else {
            return Some((
                "unknown_role",
                format!("role {role} does not exist in this guild"),
            ));
        };
        if r.managed {
            return Some((
                "managed_role",
                format!(
                    "role {:?} is managed by an integration; nobody can grant or remove it",
                    r.name
                ),
            ));
        }
        if !self.has(perms::MANAGE_ROLES) {
            return Some((
                "missing_permission",
                "the bot lacks the Manage Roles permission".into(),
            ));
        }
        if !self.bot_is_owner() && r.position >= self.bot_top {
            return Some((
                "hierarchy",
                format!(
                    "role {:?} is at or above the bot's highest role; move the bot's role above it",
                    r.name
                ),
            ));
        }
        None
    }

    /// Why the bot cannot change this member's nickname, if it cannot.
    pub(super) fn nickname_blocker(
        &self,
        user: u64,
        roles: &[u64],
    ) -> Option<(&'static str, String)> {
        if user == self.owner_id {
            return Some((
                "server_owner",
                "Discord never lets a bot change the server owner's nickname".into(),
            ));
        }
        if user == self.bot_id {
            return None;
        }
        if !self.has(perms::MANAGE_NICKNAMES) {
            return Some((
                "missing_permission",
                "the bot lacks the Manage Nicknames permission".into(),
            ));
        }
        let top = roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .map(|r| r.position)
            .max()
            .unwrap_or(0);
        if !self.bot_is_owner() && top >= self.bot_top {
            return Some((
                "hierarchy",
                "the member's highest role is at or above the bot's highest role".into(),
            ));
        }
        None
    }

    fn from_parts(info: GuildInfo, bot_id: u64, bot_roles: &[u64]) -> Self {
        let roles_hash = role_list_hash(&site_role_list(
            info.id,
            info.roles
                .iter()
                .map(|r| (r.id, r.name.as_str(), r.position)),
        ));
        let roles: HashMap<u64, Role> = info.roles.into_iter().map(|r| (r.id, r)).collect();
        let mut bot_perms = roles.get(&info.id).map_or(0, |r| r.permissions);
        let mut bot_top = 0;
        for r in bot_roles.iter().filter_map(|r| roles.get(r)) {
            bot_perms |= r.permissions;
            bot_top = bot_top.max(r.position);
        }
        Self {
            guild: info.id,
            owner_id: info.owner_id,
            roles,
            bot_id,
            bot_top,
            bot_perms,
            approximate_member_count: info.approximate_member_count,
            roles_hash,
        }
    }
}

/// When a view was read, and the view.
type CachedView = (Instant, Arc<GuildView>);

/// Guild views and bot ids, reused for `discord.guild_cache_ttl`.
#[derive(Debug, Clone)]
pub struct GuildCache {
    ttl: Duration,
    views: Arc<Mutex<HashMap<(u64, u64), CachedView>>>,
    bots: Arc<Mutex<HashMap<u64, u64>>>,
}

fn token_key(token: &str) -> u64 {
    let mut h = DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

impl GuildCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            views: Arc::default(),
            bots: Arc::default(),
        }
    }

    pub(super) async fn view(
        &self,
        api: &dyn DiscordApi,
        token: &str,
        guild: u64,
        refresh: bool,
    ) -> Result<Arc<GuildView>, UpstreamError> {
        let k = (token_key(token), guild);
        if !refresh
            && let Some((at, v)) = self.views.lock().get(&k)
            && at.elapsed() < self.ttl
        {
            metrics::counter!("roster_cache_hits_total", "cache" => "discord_guild").increment(1);
            return Ok(v.clone());
        }
        metrics::counter!("roster_cache_misses_total", "cache" => "discord_guild").increment(1);
        let cached_bot = self.bots.lock().get(&k.0).copied();
        let bot_id = match cached_bot {
            Some(b) => b,
            None => {
                let b = api.current_user_id(token).await?;
                self.bots.lock().insert(k.0, b);
                b
            }
        };
        let info = api.guild(token, guild).await?;
        let bot_roles = api
            .member(token, guild, bot_id)
            .await?
            .map(|m| m.roles)
            .unwrap_or_default();
        let view = Arc::new(GuildView::from_parts(info, bot_id, &bot_roles));
        let mut views = self.views.lock();
        if views.len() > 10_000 {
            views.clear();
        }
        views.insert(k, (Instant::now(), view.clone()));
        Ok(view)
    }
}
