//! Discord jobs: role sync (one member, and the pages and batches of sync-all), role changes,
//! direct messages and bans.
//!
//! Sync reads the member's Roblox ranks (one Open Cloud membership read per bound group, for up
//! to 50 members at once), computes the roles they should hold with
//! [`roster_jobs::bindings::plan`], and sends **one** `PATCH /guilds/{g}/members/{u}` with the
//! full role list and nickname, only when something differs. Changes the bot cannot make (a role
//! at or above its highest role, a managed role, a missing permission, the server owner's
//! nickname) are reported and never attempted, so sync spends no request on a 403.

use std::collections::{HashMap, hash_map::DefaultHasher};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roster_jobs::bindings::{self, NicknameVars};
use roster_jobs::jobs::JobEnvelope;
use roster_jobs::jobs::discord::{
    DirectMessage, DirectMessageJob, DirectMessageResult, DiscordBan, DiscordBanJob,
    DiscordBanResult, DiscordTarget, MemberState, MemberSyncResult, PageMember, RoleChangeStatus,
    RoleChanges, RoleChangesJob, RoleChangesResult, Skipped, SyncBatch, SyncBatchJob,
    SyncBatchResult, SyncMember, SyncMemberJob, SyncPage, SyncPageJob, SyncPageResult, SyncSpec,
    codes,
};
use roster_jobs::secrets::Secret;
use roster_upstream::UpstreamError;
use roster_upstream::discord::{
    DiscordApi, GuildInfo, Member, Role, codes as dcodes, permissions as perms,
};
use roster_upstream::roblox::role_id_of;

use super::Handler;
use crate::runtime::{Deps, Failure, UpstreamTimer};

/// A handed-back member is retried this many times after transient failures before it counts
/// as failed.
const MAX_MEMBER_ATTEMPTS: u32 = 3;

/// The longest one sync-all batch job works before handing its remaining members back.
const BATCH_BUDGET: Duration = Duration::from_secs(30);

/// What the worker knows about a guild: roles, owner, and the bot's place in the hierarchy.
#[derive(Debug, Clone)]
pub struct GuildView {
    guild: u64,
    owner_id: u64,
    roles: HashMap<u64, Role>,
    bot_id: u64,
    bot_top: i64,
    bot_perms: u64,
    approximate_member_count: Option<u64>,
}

impl GuildView {
    fn bot_is_owner(&self) -> bool {
        self.bot_id == self.owner_id
    }

    fn has(&self, bit: u64) -> bool {
        self.bot_is_owner() || self.bot_perms & (perms::ADMINISTRATOR | bit) != 0
    }

    /// Why the bot cannot add or remove `role`, if it cannot.
    fn role_blocker(&self, role: u64) -> Option<(&'static str, String)> {
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
    fn nickname_blocker(&self, user: u64, roles: &[u64]) -> Option<(&'static str, String)> {
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

    async fn view(
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

/// The bot token a target uses.
fn bot_token(deps: &Deps, target: &DiscordTarget) -> Result<Secret, Failure> {
    match &target.bot_token {
        Some(sealed) => deps
            .master
            .open(&roster_jobs::model::guild_bot_token_purpose(target.guild), sealed)
            .map_err(|_| {
                Failure::permanent(
                    codes::DISCORD_NOT_CONFIGURED,
                    "Roster could not unseal the guild's bot token (does this worker have the control plane's master key?)",
                )
            }),
        None => deps.discord_token.clone().ok_or_else(|| {
            Failure::permanent(
                codes::DISCORD_NOT_CONFIGURED,
                "no Discord bot token: set discord.bot_token, or give the guild its own botToken",
            )
        }),
    }
}

/// Classifies a Discord failure for a job.
pub(crate) fn discord_failure(e: UpstreamError) -> Failure {
    match e {
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => {
            let msg = match code.as_str() {
                dcodes::MISSING_ACCESS => format!(
                    "Discord denied access (50001 {message}): is the bot in the guild, and for member listing, is the Server Members intent enabled?"
                ),
                dcodes::MISSING_PERMISSIONS => format!(
                    "Discord refused for lack of permissions (50013 {message}): check the bot's permissions and that its role is above the roles it manages"
                ),
                dcodes::UNKNOWN_GUILD => "Discord does not know this guild (10004)".to_owned(),
                _ if status == 401 => {
                    "Discord rejected the bot token (401): set a valid token".to_owned()
                }
                _ => format!("Discord refused the request ({status} {code}): {message}"),
            };
            Failure::permanent(codes::DISCORD_API_ERROR, msg)
        }
        UpstreamError::RateLimited {
            retry_after,
            message,
        } => Failure::Retry {
            code: codes::DISCORD_API_ERROR,
            message: format!("{message}; Discord kept rate limiting"),
            after: retry_after,
        },
        UpstreamError::Transient { message, .. } => Failure::Retry {
            code: codes::DISCORD_API_ERROR,
            message,
            after: None,
        },
    }
}

fn roblox_failure(e: UpstreamError) -> Failure {
    match super::upstream_failure(e) {
        Failure::Permanent(mut err) => {
            err.code = codes::ROBLOX_API_ERROR.into();
            err.message = format!("reading Roblox ranks: {}", err.message);
            Failure::Permanent(err)
        }
        Failure::Retry { message, after, .. } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message,
            after,
        },
    }
}

/// A member's rank and rank name in each group they belong to.
type Ranks = HashMap<u64, (u8, String)>;

/// Reads the ranks of `users` in every group of the spec: one Open Cloud call per group per 50
/// users.
async fn read_ranks(
    deps: &Deps,
    spec: &SyncSpec,
    users: &[u64],
    timer: &mut UpstreamTimer,
) -> Result<HashMap<u64, Ranks>, Failure> {
    let mut out: HashMap<u64, Ranks> = HashMap::new();
    if users.is_empty() || spec.groups.is_empty() {
        return Ok(out);
    }
    let Some(key) = &spec.roblox_key else {
        return Err(Failure::permanent(
            codes::ROBLOX_API_ERROR,
            "no Open Cloud key to read ranks with",
        ));
    };
    let key = deps.master.open(&key.purpose, &key.sealed).map_err(|_| {
        Failure::permanent(
            codes::ROBLOX_API_ERROR,
            "Roster could not unseal the Open Cloud key (does this worker have the control plane's master key?)",
        )
    })?;
    for group in &spec.groups {
        for chunk in users.chunks(50) {
            let found = timer
                .time(
                    deps.roblox
                        .memberships_of(key.expose(), Some(*group), chunk),
                )
                .await
                .map_err(roblox_failure)?;
            if found.is_empty() {
                continue;
            }
            let mut roles = timer
                .time(
                    deps.roles
                        .get(deps.roblox.as_ref(), key.expose(), *group, false),
                )
                .await
                .map_err(roblox_failure)?;
            for m in found {
                let Some(user) = m
                    .user
                    .strip_prefix("users/")
                    .and_then(|u| u.parse::<u64>().ok())
                else {
                    continue;
                };
                let mut held = m.roles.clone();
                if held.is_empty() {
                    held.push(m.role.clone());
                }
                let ids: Vec<u64> = held.iter().filter_map(|p| role_id_of(p)).collect();
                if ids
                    .iter()
                    .any(|id| !roles.iter().any(|r| r.role_id() == Some(*id)))
                {
                    roles = timer
                        .time(
                            deps.roles
                                .get(deps.roblox.as_ref(), key.expose(), *group, true),
                        )
                        .await
                        .map_err(roblox_failure)?;
                }
                let best = roles
                    .iter()
                    .filter(|r| r.role_id().is_some_and(|id| ids.contains(&id)))
                    .max_by_key(|r| r.rank);
                if let Some(r) = best
                    && r.rank > 0
                {
                    out.entry(user)
                        .or_default()
                        .insert(*group, (r.rank, r.display_name.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// The write a member needs.
#[derive(Debug, Default)]
struct Patch {
    roles: Option<Vec<u64>>,
    nick: Option<Option<String>>,
}

/// Works out what syncing one member changes, without doing it.
fn compute(
    view: &GuildView,
    spec: &SyncSpec,
    m: &MemberState,
    ranks: Option<&Ranks>,
) -> (Patch, MemberSyncResult) {
    let mut res = MemberSyncResult {
        user_id: m.user_id.to_string(),
        verified: m.link.is_some(),
        ..Default::default()
    };
    let rank_map: HashMap<u64, u8> = ranks
        .map(|r| r.iter().map(|(g, (rank, _))| (*g, *rank)).collect())
        .unwrap_or_default();
    let plan = bindings::plan(&spec.settings, &spec.bindings, m.link.is_some(), &rank_map);
    let target = bindings::target_roles(&m.roles, &plan, &spec.settings.keep_roles);
    let mut final_roles: Vec<u64> = m.roles.clone();
    for r in target.iter().filter(|r| !m.roles.contains(r)) {
        match view.role_blocker(*r) {
            None => {
                final_roles.push(*r);
                res.added_roles.push(r.to_string());
            }
            Some((reason, message)) => res.not_applied.push(Skipped {
                action: "add_role".into(),
                role_id: Some(r.to_string()),
                reason: reason.into(),
                message,
            }),
        }
    }
    for r in m.roles.iter().filter(|r| !target.contains(r)) {
        match view.role_blocker(*r) {
            None => {
                final_roles.retain(|x| x != r);
                res.removed_roles.push(r.to_string());
            }
            Some((reason, message)) => res.not_applied.push(Skipped {
                action: "remove_role".into(),
                role_id: Some(r.to_string()),
                reason: reason.into(),
                message,
            }),
        }
    }
    let mut patch = Patch::default();
    if !res.added_roles.is_empty() || !res.removed_roles.is_empty() {
        final_roles.sort_unstable();
        patch.roles = Some(final_roles);
    }
    if let (Some(template), Some(link)) = (&spec.settings.nickname_template, &m.link) {
        let rank_name = spec
            .settings
            .main_group
            .and_then(|g| ranks.and_then(|r| r.get(&g.get())))
            .map(|(_, name)| name.as_str())
            .unwrap_or("");
        let wanted = bindings::render_nickname(
            template,
            &NicknameVars {
                roblox_username: &link.roblox_username,
                roblox_display_name: link.roblox_display_name.as_deref(),
                rank_name,
                discord_name: &m.discord_name,
            },
        );
        let wanted = Some(wanted).filter(|w| !w.is_empty());
        if wanted != m.nick && wanted.is_some() {
            match view.nickname_blocker(m.user_id, &m.roles) {
                None => {
                    res.nickname = wanted.clone();
                    patch.nick = Some(wanted);
                }
                Some((reason, message)) => res.not_applied.push(Skipped {
                    action: "nickname".into(),
                    role_id: None,
                    reason: reason.into(),
                    message,
                }),
            }
        }
    }
    (patch, res)
}

const SYNC_REASON: &str = "Roster role sync (Roblox group ranks)";

/// Sends the member's patch, if any.
async fn apply(
    deps: &Deps,
    token: &str,
    guild: u64,
    user: u64,
    patch: &Patch,
    res: &mut MemberSyncResult,
    timer: &mut UpstreamTimer,
) -> Result<(), UpstreamError> {
    if patch.roles.is_none() && patch.nick.is_none() {
        return Ok(());
    }
    let nick = patch.nick.as_ref().map(|n| n.as_deref());
    timer
        .time(deps.discord.modify_member(
            token,
            guild,
            user,
            patch.roles.as_deref(),
            nick,
            SYNC_REASON,
        ))
        .await?;
    res.changed = true;
    res.nickname_updated = patch.nick.is_some();
    Ok(())
}

fn state_of(m: &Member, link: Option<roster_jobs::model::AccountLink>) -> MemberState {
    MemberState {
        user_id: m.user_id,
        roles: m.roles.clone(),
        nick: m.nick.clone(),
        discord_name: m.display_name().to_owned(),
        bot: m.bot,
        link,
        attempts: 0,
    }
}

/// `discord.sync_member`.
pub async fn sync_member(
    deps: &Deps,
    job: SyncMemberJob,
    timer: &mut UpstreamTimer,
) -> Result<MemberSyncResult, Failure> {
    let token = bot_token(deps, &job.spec.target)?;
    let guild = job.spec.target.guild.get();
    let view = timer
        .time(
            deps.guilds
                .view(deps.discord.as_ref(), token.expose(), guild, false),
        )
        .await
        .map_err(discord_failure)?;
    let member = timer
        .time(deps.discord.member(token.expose(), guild, job.user_id))
        .await
        .map_err(discord_failure)?
        .ok_or_else(|| {
            Failure::permanent(
                codes::NOT_IN_GUILD,
                format!("user {} is not a member of the guild", job.user_id),
            )
        })?;
    let state = state_of(&member, job.link.clone());
    let ranks = match &state.link {
        Some(l) => read_ranks(deps, &job.spec, &[l.roblox_id], timer)
            .await?
            .remove(&l.roblox_id)
            .unwrap_or_default(),
        None => Ranks::new(),
    };
    let (patch, mut res) = compute(&view, &job.spec, &state, Some(&ranks));
    apply(
        deps,
        token.expose(),
        guild,
        job.user_id,
        &patch,
        &mut res,
        timer,
    )
    .await
    .map_err(discord_failure)?;
    Ok(res)
}

/// `discord.sync_page`.
pub async fn sync_page(
    deps: &Deps,
    job: SyncPageJob,
    timer: &mut UpstreamTimer,
) -> Result<SyncPageResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let approximate_member_count = if job.after == 0 {
        timer
            .time(
                deps.guilds
                    .view(deps.discord.as_ref(), token.expose(), guild, true),
            )
            .await
            .map_err(discord_failure)?
            .approximate_member_count
    } else {
        None
    };
    let members = timer
        .time(
            deps.discord
                .members(token.expose(), guild, job.after, job.limit),
        )
        .await
        .map_err(discord_failure)?;
    Ok(SyncPageResult {
        members: members
            .iter()
            .map(|m| PageMember {
                user_id: m.user_id,
                roles: m.roles.clone(),
                nick: m.nick.clone(),
                discord_name: m.display_name().to_owned(),
                bot: m.bot,
            })
            .collect(),
        approximate_member_count,
    })
}

/// `discord.sync_batch`.
pub async fn sync_batch(
    deps: &Deps,
    job: SyncBatchJob,
    timer: &mut UpstreamTimer,
) -> Result<SyncBatchResult, Failure> {
    let token = bot_token(deps, &job.spec.target)?;
    let guild = job.spec.target.guild.get();
    let view = timer
        .time(
            deps.guilds
                .view(deps.discord.as_ref(), token.expose(), guild, false),
        )
        .await
        .map_err(discord_failure)?;
    let linked: Vec<u64> = job
        .members
        .iter()
        .filter_map(|m| m.link.as_ref().map(|l| l.roblox_id))
        .collect();
    let ranks = read_ranks(deps, &job.spec, &linked, timer).await?;
    let mut out = SyncBatchResult::default();
    // Stay well inside the attempt timeout: a guild where everyone needs a change is paced
    // by Discord's member bucket, so a batch may not finish in one go; it hands the rest back.
    let budget = (deps.retry.attempt_timeout / 2).min(BATCH_BUDGET);
    let started = Instant::now();
    let mut members = job.members.iter();
    while let Some(m) = members.next() {
        if m.bot {
            continue;
        }
        if started.elapsed() > budget {
            out.remaining.push(m.clone());
            out.remaining.extend(members.cloned());
            break;
        }
        let r = m.link.as_ref().and_then(|l| ranks.get(&l.roblox_id));
        let empty = Ranks::new();
        let (patch, mut res) = compute(&view, &job.spec, m, Some(r.unwrap_or(&empty)));
        out.not_applied += res.not_applied.len() as u64;
        match apply(
            deps,
            token.expose(),
            guild,
            m.user_id,
            &patch,
            &mut res,
            timer,
        )
        .await
        {
            Ok(()) => {
                out.done += 1;
                if res.changed {
                    out.changed += 1;
                }
            }
            Err(UpstreamError::RateLimited { .. }) => {
                // Hand this member and the rest back rather than hold the slot.
                out.not_applied -= res.not_applied.len() as u64;
                out.remaining.push(m.clone());
                out.remaining.extend(members.cloned());
                break;
            }
            Err(UpstreamError::Permanent { code, .. }) if code == dcodes::UNKNOWN_MEMBER => {
                // Left the guild since the listing: nothing to sync.
                out.done += 1;
            }
            Err(e @ UpstreamError::Transient { .. }) => {
                if m.attempts + 1 >= MAX_MEMBER_ATTEMPTS {
                    out.failed += 1;
                    if out.errors.len() < 20 {
                        out.errors.push(format!("member {}: {e}", m.user_id));
                    }
                } else {
                    let mut again = m.clone();
                    again.attempts += 1;
                    out.remaining.push(again);
                }
            }
            Err(e) => {
                out.failed += 1;
                if out.errors.len() < 20 {
                    out.errors.push(format!("member {}: {e}", m.user_id));
                }
            }
        }
    }
    Ok(out)
}

/// `discord.role_changes`.
pub async fn role_changes(
    deps: &Deps,
    job: RoleChangesJob,
    timer: &mut UpstreamTimer,
) -> Result<RoleChangesResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let mut view = timer
        .time(
            deps.guilds
                .view(deps.discord.as_ref(), token.expose(), guild, false),
        )
        .await
        .map_err(discord_failure)?;
    // A role the cached view lacks may be new: look again once before calling it invalid.
    if job
        .changes
        .iter()
        .any(|c| !view.roles.contains_key(&c.role_id))
    {
        view = timer
            .time(
                deps.guilds
                    .view(deps.discord.as_ref(), token.expose(), guild, true),
            )
            .await
            .map_err(discord_failure)?;
    }
    let mut members: HashMap<u64, Option<Vec<u64>>> = HashMap::new();
    let mut statuses = Vec::with_capacity(job.changes.len());
    for c in &job.changes {
        if let std::collections::hash_map::Entry::Vacant(slot) = members.entry(c.user_id) {
            let m = timer
                .time(deps.discord.member(token.expose(), guild, c.user_id))
                .await
                .map_err(discord_failure)?;
            slot.insert(m.map(|m| m.roles));
        }
        let Some(Some(roles)) = members.get_mut(&c.user_id) else {
            statuses.push(RoleChangeStatus::InvalidUser);
            continue;
        };
        let status = match view.role_blocker(c.role_id) {
            Some(("unknown_role", _)) => RoleChangeStatus::InvalidRole,
            Some(_) => RoleChangeStatus::NoPermission,
            None if c.add == roles.contains(&c.role_id) => RoleChangeStatus::None,
            None => {
                let call = if c.add {
                    deps.discord
                        .add_role(token.expose(), guild, c.user_id, c.role_id, &job.reason)
                } else {
                    deps.discord.remove_role(
                        token.expose(),
                        guild,
                        c.user_id,
                        c.role_id,
                        &job.reason,
                    )
                };
                match timer.time(call).await {
                    Ok(()) => {
                        if c.add {
                            roles.push(c.role_id);
                            RoleChangeStatus::Added
                        } else {
                            roles.retain(|r| *r != c.role_id);
                            RoleChangeStatus::Removed
                        }
                    }
                    Err(UpstreamError::Permanent { code, .. }) => match code.as_str() {
                        dcodes::UNKNOWN_MEMBER | dcodes::UNKNOWN_USER => {
                            RoleChangeStatus::InvalidUser
                        }
                        dcodes::UNKNOWN_ROLE => RoleChangeStatus::InvalidRole,
                        _ => RoleChangeStatus::NoPermission,
                    },
                    Err(e) => return Err(discord_failure(e)),
                }
            }
        };
        statuses.push(status);
    }
    Ok(RoleChangesResult { statuses })
}

/// `discord.direct_message`.
pub async fn direct_message(
    deps: &Deps,
    job: DirectMessageJob,
    timer: &mut UpstreamTimer,
) -> Result<DirectMessageResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    match timer
        .time(
            deps.discord
                .send_dm(token.expose(), job.user_id, &job.content),
        )
        .await
    {
        Ok(()) => Ok(DirectMessageResult { sent: true }),
        Err(UpstreamError::Permanent { code, .. }) if code == dcodes::CANNOT_DM => {
            Err(Failure::permanent(
                codes::CANNOT_DM,
                format!(
                    "user {} does not accept direct messages from the bot (or shares no server with it)",
                    job.user_id
                ),
            ))
        }
        Err(UpstreamError::Permanent { code, .. }) if code == dcodes::UNKNOWN_USER => {
            Err(Failure::permanent(
                codes::NOT_IN_GUILD,
                format!("Discord does not know user {}", job.user_id),
            ))
        }
        Err(e) => Err(discord_failure(e)),
    }
}

/// `discord.ban`.
pub async fn ban(
    deps: &Deps,
    job: DiscordBanJob,
    timer: &mut UpstreamTimer,
) -> Result<DiscordBanResult, Failure> {
    let token = bot_token(deps, &job.target)?;
    let guild = job.target.guild.get();
    let reason = format!("Roster ban #{}: {}", job.record_id, job.reason);
    if job.active {
        timer
            .time(
                deps.discord
                    .ban(token.expose(), guild, job.user_id, &reason, 0),
            )
            .await
            .map_err(discord_failure)?;
        Ok(DiscordBanResult {
            banned: true,
            was_banned: None,
        })
    } else {
        let was = timer
            .time(
                deps.discord
                    .unban(token.expose(), guild, job.user_id, &reason),
            )
            .await
            .map_err(discord_failure)?;
        Ok(DiscordBanResult {
            banned: false,
            was_banned: Some(was),
        })
    }
}

/// The Discord kinds' handlers: the functions above.
macro_rules! discord_handler {
    ($kind:ty, $run:ident) => {
        impl Handler for $kind {
            const UNREADABLE: &'static str = codes::BAD_PAYLOAD;

            async fn run(
                deps: &Deps,
                _env: &JobEnvelope,
                job: Self::Payload,
                _plan: Option<serde_json::Value>,
                timer: &mut UpstreamTimer,
            ) -> Result<Self::Result, Failure> {
                $run(deps, job, timer).await
            }
        }
    };
}

discord_handler!(SyncMember, sync_member);
discord_handler!(SyncPage, sync_page);
discord_handler!(SyncBatch, sync_batch);
discord_handler!(RoleChanges, role_changes);
discord_handler!(DirectMessage, direct_message);
discord_handler!(DiscordBan, ban);
