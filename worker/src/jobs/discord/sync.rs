//! Role sync: read the members' Roblox ranks, plan each member's roles and nickname, apply the
//! difference in one request (one member, a page of members, a batch of sync-all).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use roster_jobs::bindings::{self, NicknameVars};
use roster_jobs::jobs::discord::{
    MemberState, MemberSyncResult, PageMember, Skipped, SyncBatchJob, SyncBatchResult,
    SyncMemberJob, SyncPageJob, SyncPageResult, SyncSpec, codes,
};
use roster_upstream::UpstreamError;
use roster_upstream::discord::{Member, codes as dcodes};
use roster_upstream::roblox::role_id_of;

use crate::runtime::{Deps, Failure, UpstreamTimer};

use super::{GuildView, bot_token, discord_failure, roblox_failure};

/// A handed-back member is retried this many times after transient failures before it counts
/// as failed.
const MAX_MEMBER_ATTEMPTS: u32 = 3;

/// The longest one sync-all batch job works before handing its remaining members back.
const BATCH_BUDGET: Duration = Duration::from_secs(30);
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
        roles_hash: Some(view.roles_hash.clone()),
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
    final_roles.sort_unstable();
    res.roles = Some(final_roles.clone());
    if !res.added_roles.is_empty() || !res.removed_roles.is_empty() {
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
    let mut out = SyncBatchResult {
        roles_hash: Some(view.roles_hash.clone()),
        ..SyncBatchResult::default()
    };
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
