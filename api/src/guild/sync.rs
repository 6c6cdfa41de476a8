//! Bindings (`/bindings/*`), sync (`/interactions/sync`, `/interactions/sync/all` and its
//! progress and cancel), manual roles (`/interactions/roles/*`), the guild's Discord roles
//! (`/guilds/:guildId/roles`) and guild job status (`/guilds/:guildId/jobs/:jobId`).
//!
//! Writes become jobs; the handler waits up to `server.sync_wait` for the outcome and answers
//! with it, or with 202 and the job id to poll.

use roster_core::bindings::{self, Binding, BindingPatch, BindingRule};
use roster_core::clock::WholeSeconds;
use roster_core::guilds::GuildRecord;
use roster_core::ids::{JobId, RobloxUserId};
use roster_core::jobs::discord::{
    DiscordTarget, MemberSyncResult, RoleChange, RoleChangeStatus, RoleChanges, RoleChangesJob,
    RoleChangesResult, SyncMember, SyncMemberJob, codes,
};
use roster_core::jobs::facade::ops;
use roster_core::jobs::kind::Kind;
use roster_core::jobs::{JobKind, JobRecord, JobStatus};
use roster_core::syncs::{self, StartError, SyncRun};
use roster_core::{audit::Tenant, links};
use roster_upstream::UpstreamError;
use serde_json::{Map, Value, json};
use warp::http::StatusCode;

use super::{
    Caller, GuildError, GuildResult, authenticate, body, body_guild, guild_record, ok, ok_msg,
    opt_id, req_id,
};
use crate::http::{self, Request};
use crate::state::AppState;
use crate::wire::guild::{
    BindingCreated, BindingTest, BindingView, Bindings, Data, GuildJob, GuildJobError, JobAccepted,
    MemberSync, RoleChanged, RoleView, Roles, SyncRunView, SyncStarted, Validity,
};

fn binding_json(b: &Binding) -> BindingView {
    let (rank, min_rank, max_rank) = match b.rule {
        BindingRule::GroupRank { rank, .. } => (Some(rank), None, None),
        BindingRule::GroupRankRange {
            min_rank, max_rank, ..
        } => (None, Some(min_rank), Some(max_rank)),
        BindingRule::GroupMember { .. } => (None, None, None),
    };
    BindingView {
        id: b.id,
        kind: b.rule.type_name().to_owned(),
        group_id: b.rule.group(),
        rank,
        min_rank,
        max_rank,
        role_id: b.role_ids.first().map(u64::to_string),
        role_ids: b.role_ids.iter().map(u64::to_string).collect(),
    }
}

fn opt_rank(b: &Map<String, Value>, field: &str) -> Result<Option<u8>, GuildError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            n.filter(|n| *n <= 255)
                .map(|n| Some(n as u8))
                .ok_or_else(|| GuildError::bad(format!("`{field}` must be a rank from 0 to 255")))
        }
    }
}

fn opt_type(b: &Map<String, Value>) -> Result<Option<String>, GuildError> {
    match b.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(GuildError::bad("`type` must be a string")),
    }
}

fn opt_roles(b: &Map<String, Value>) -> Result<Option<Vec<u64>>, GuildError> {
    if let Some(v) = b.get("role_ids").filter(|v| !v.is_null()) {
        let Value::Array(items) = v else {
            return Err(GuildError::bad("`role_ids` must be an array of role ids"));
        };
        return items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                http::parse_id_value(v).ok_or_else(|| {
                    GuildError::bad(format!("`role_ids[{i}]` must be a Discord role id"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some);
    }
    Ok(opt_id(b, "role_id")?.map(|r| vec![r]))
}

fn rule_of(b: &Map<String, Value>, base: Option<&BindingRule>) -> Result<BindingRule, GuildError> {
    let kind = match (opt_type(b)?, base) {
        (Some(k), _) => k,
        (None, Some(r)) => r.type_name().to_owned(),
        (None, None) => {
            return Err(GuildError::bad(
                "`type` is required: group_rank, group_rank_range or group_member",
            ));
        }
    };
    Ok(bindings::rule_from_parts(
        &kind,
        opt_id(b, "group_id")?,
        opt_rank(b, "rank")?,
        opt_rank(b, "min_rank")?,
        opt_rank(b, "max_rank")?,
        base,
    )?)
}

fn actor(c: &Caller) -> Option<String> {
    Some(c.key.id.to_string())
}

/// `GET /bindings/list`
pub(crate) fn list(state: &AppState, req: &Request) -> GuildResult {
    let caller = authenticate(state, req, req.query.get("guild_id").map(String::as_str))?;
    let all = bindings::list(&state.ctx, caller.guild)?;
    Ok(ok(Bindings {
        bindings: all.iter().map(binding_json).collect(),
    }))
}

/// `POST /bindings/add`
pub(crate) async fn add(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    guild_record(state, &caller)?;
    let rule = rule_of(&b, None)?;
    let roles = opt_roles(&b)?.ok_or_else(|| GuildError::bad("`role_id` is required"))?;
    let created = bindings::create(&state.ctx, caller.guild, rule, &roles, actor(&caller)).await?;
    Ok(ok_msg(
        "Binding created",
        Some(BindingCreated { id: created.id }),
    ))
}

/// `PATCH /bindings/update`
pub(crate) async fn update(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let id = req_id(&b, "binding_id")?;
    let patch = BindingPatch {
        kind: opt_type(&b)?,
        group_id: opt_id(&b, "group_id")?,
        rank: opt_rank(&b, "rank")?,
        min_rank: opt_rank(&b, "min_rank")?,
        max_rank: opt_rank(&b, "max_rank")?,
        role_ids: opt_roles(&b)?,
    };
    bindings::update(&state.ctx, caller.guild, id, patch, actor(&caller)).await?;
    Ok(ok_msg("Binding updated", None::<Value>))
}

/// `DELETE /bindings/remove/:bindingId`
pub(crate) async fn remove(state: &AppState, req: &Request, raw: &str) -> GuildResult {
    let caller = authenticate(state, req, None)?;
    let id = http::parse_id_value(&Value::String(raw.to_owned())).ok_or_else(|| {
        GuildError::bad(format!(
            "the binding id in the path must be a positive integer, got {raw:?}"
        ))
    })?;
    bindings::remove(&state.ctx, caller.guild, id, actor(&caller)).await?;
    Ok(ok_msg("Binding removed", None::<Value>))
}

/// `POST /bindings/validate`
pub(crate) fn validate(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    authenticate(state, req, body_guild(&b)?.as_deref())?;
    let outcome = rule_of(&b, None).and_then(|rule| {
        let roles = opt_roles(&b)?.ok_or_else(|| GuildError::bad("`role_id` is required"))?;
        bindings::validate(&rule, &roles).map_err(GuildError::from)
    });
    Ok(match outcome {
        Ok(()) => ok(Validity {
            valid: true,
            error: None,
        }),
        Err(e) => ok(Validity {
            valid: false,
            error: Some(e.message().to_owned()),
        }),
    })
}

fn upstream(e: UpstreamError, service: &str) -> GuildError {
    let code = if service == "Roblox" {
        "ROBLOX_API_ERROR"
    } else {
        "DISCORD_API_ERROR"
    };
    let status = match &e {
        UpstreamError::RateLimited { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    GuildError::new(status, code, format!("{service}: {e}"))
}

/// `POST /bindings/test`: does a binding spec match a user right now?
pub(crate) async fn test(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let g = guild_record(state, &caller)?;
    let discord = req_id(&b, "discord_id")?;
    let rule = rule_of(&b, None)?;
    let Some(link) = links::by_discord(state.ctx.store.as_ref(), caller.guild, discord)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?
    else {
        return Ok(ok(BindingTest {
            matches: false,
            current_rank: None,
            verified: false,
        }));
    };
    let mut spec_guild = g.clone();
    spec_guild.discord.main_group = roster_core::ids::GroupId::new(rule.group()).ok();
    let spec = syncs::spec_for(&state.ctx, &spec_guild)?;
    let key = spec
        .roblox_key
        .ok_or_else(|| GuildError::bad("no Open Cloud key can read this group"))?;
    let key = state
        .ctx
        .master
        .open(&key.purpose, &key.sealed)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?;
    let user = RobloxUserId::new(link.roblox_id).map_err(|e| GuildError::bad(e.to_string()))?;
    let membership = state
        .roblox
        .find_membership(key.expose(), rule.group(), user.get())
        .await
        .map_err(|e| upstream(e, "Roblox"))?;
    let rank = match membership {
        None => 0,
        Some(m) => {
            let roles = state
                .roles
                .get(state.roblox.as_ref(), key.expose(), rule.group(), false)
                .await
                .map_err(|e| upstream(e, "Roblox"))?;
            let held = m.role_ids();
            roles
                .iter()
                .filter(|r| r.role_id().is_some_and(|id| held.contains(&id)))
                .map(|r| r.rank)
                .max()
                .unwrap_or(0)
        }
    };
    Ok(ok(BindingTest {
        matches: rule.matches(rank),
        current_rank: Some(rank),
        verified: true,
    }))
}

/// 202 with the job to poll.
fn accepted(guild: roster_core::ids::GuildId, job: JobId) -> warp::reply::Response {
    http::json(
        StatusCode::ACCEPTED,
        &Data {
            status: "success".to_owned(),
            code: 202,
            message: Some(
                "Accepted; still running. Poll data.status_url for the result.".to_owned(),
            ),
            data: JobAccepted {
                job_id: job.to_string(),
                status_url: format!("/guilds/{guild}/jobs/{job}"),
            },
        },
    )
}

/// The guild-family error for a failed job.
fn job_error(rec: &JobRecord) -> GuildError {
    let (code, message) = rec
        .error
        .as_ref()
        .map(|e| (e.code.as_str(), e.message.clone()))
        .unwrap_or(("INTERNAL", "the job failed".into()));
    let (status, code): (StatusCode, &'static str) = match code {
        codes::NOT_IN_GUILD => (StatusCode::NOT_FOUND, "NOT_IN_GUILD"),
        codes::CANNOT_DM => (StatusCode::FORBIDDEN, "CANNOT_DM"),
        codes::DISCORD_NOT_CONFIGURED => (StatusCode::CONFLICT, "DISCORD_NOT_CONFIGURED"),
        codes::ROBLOX_API_ERROR => (StatusCode::BAD_GATEWAY, "ROBLOX_API_ERROR"),
        codes::DISCORD_API_ERROR => (StatusCode::BAD_GATEWAY, "DISCORD_API_ERROR"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
    };
    let status = if rec.status == JobStatus::Dead {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    GuildError::new(status, code, message)
}

/// Submits a job of kind `K` for the caller's guild and waits `server.sync_wait`: its id, and
/// `Some(result)` on success or `None` when still running (answer 202).
async fn run_job<K: Kind>(
    state: &AppState,
    caller: &Caller,
    payload: &K::Payload,
) -> Result<(JobId, Option<Value>), GuildError> {
    let (id, done) = ops::submit_and_wait::<K>(
        &state.ctx,
        Tenant::Guild(caller.guild),
        payload,
        json!({"actorKeyId": caller.key.id.to_string()}),
        state.ctx.config.server.sync_wait,
    )
    .await?;
    match done {
        None => Ok((id, None)),
        Some(done) if done.status == JobStatus::Succeeded => {
            Ok((id, Some(done.result.unwrap_or(Value::Null))))
        }
        Some(done) => Err(job_error(&done)),
    }
}

fn user_field(b: &Map<String, Value>) -> Result<u64, GuildError> {
    opt_id(b, "user_id")?
        .or(opt_id(b, "discord_id")?)
        .ok_or_else(|| GuildError::bad("`user_id` (a Discord user id) is required"))
}

/// `POST /interactions/sync`
pub(crate) async fn sync_one(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let g = guild_record(state, &caller)?;
    let user = user_field(&b)?;
    let spec = syncs::spec_for(&state.ctx, &g)?;
    let link = links::by_discord(state.ctx.store.as_ref(), g.id, user)
        .map_err(|e| GuildError::from(roster_core::CoreError::from(e)))?;
    let job = SyncMemberJob {
        spec,
        user_id: user,
        link,
    };
    match run_job::<SyncMember>(state, &caller, &job).await? {
        (id, None) => Ok(accepted(g.id, id)),
        (_, Some(v)) => {
            let r: MemberSyncResult = serde_json::from_value(v).unwrap_or_default();
            Ok(ok(sync_view(&r)))
        }
    }
}

fn sync_view(r: &MemberSyncResult) -> MemberSync {
    MemberSync {
        added_roles: r.added_roles.clone(),
        removed_roles: r.removed_roles.clone(),
        nickname_updated: r.nickname_updated,
        nickname: r.nickname.clone(),
        not_applied: serde_json::to_value(&r.not_applied).unwrap_or_default(),
        verified: r.verified,
    }
}

fn run_view(run: &SyncRun, now: chrono::DateTime<chrono::Utc>) -> SyncRunView {
    SyncRunView {
        run_id: run.id.to_string(),
        status: serde_json::to_value(run.status).unwrap_or_default(),
        total: run.total(),
        done: run.done,
        changed: run.changed,
        failed: run.failed,
        not_applied: run.not_applied,
        listed: run.listed,
        listing_done: run.listing_done,
        pages: run.pages,
        started_at: WholeSeconds(run.started_at),
        finished_at: WholeSeconds::opt(run.finished_at),
        eta_seconds: run.eta_seconds(now),
        members_per_minute: (run.members_per_minute(now) * 10.0).round() / 10.0,
        errors: run.errors.clone(),
        error: run.error.clone(),
    }
}

/// `POST /interactions/sync/all`
pub(crate) async fn sync_all(state: &AppState, req: &Request) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let g = guild_record(state, &caller)?;
    match syncs::start(&state.ctx, &g, actor(&caller), false).await {
        Ok(run) => Ok(ok(SyncStarted {
            queued: true,
            members: run.linked_members,
            run_id: run.id.to_string(),
        })),
        Err(e) => Err(start_error(e, state)),
    }
}

/// The guild-family error for a run that did not start.
pub fn start_error(e: StartError, state: &AppState) -> GuildError {
    match e {
        StartError::InProgress(run) => GuildError::new(
            StatusCode::CONFLICT,
            "SYNC_IN_PROGRESS",
            format!(
                "a sync-all is already running in this guild ({} of about {} members done); see /interactions/sync/all/progress",
                run.done,
                run.total()
            ),
        ),
        StartError::TooSoon(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            GuildError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "a guild may run sync-all once every {}; try again in {secs}s",
                    humantime::format_duration(state.ctx.config.discord.sync_all_interval)
                ),
            )
            .retry_after(secs.max(1))
        }
        StartError::Core(e) => e.into(),
    }
}

fn named_guild(req: &Request) -> Option<&str> {
    req.query.get("guild_id").map(String::as_str)
}

/// `GET /interactions/sync/all/progress`
pub(crate) fn progress(state: &AppState, req: &Request) -> GuildResult {
    let caller = authenticate(state, req, named_guild(req))?;
    let run = syncs::latest(&state.ctx, caller.guild)?
        .ok_or_else(|| GuildError::not_found("no sync-all has run in this guild"))?;
    Ok(ok(run_view(&run, state.ctx.clock.now())))
}

/// `POST /interactions/sync/all/cancel`
pub(crate) async fn cancel(state: &AppState, req: &Request) -> GuildResult {
    let guild = if req.body.is_empty() {
        None
    } else {
        body_guild(&body(req)?)?
    };
    let caller = authenticate(state, req, guild.as_deref().or(named_guild(req)))?;
    match syncs::cancel(&state.ctx, caller.guild, actor(&caller)).await? {
        Some(run) => Ok(ok_msg(
            "Sync cancelled",
            Some(run_view(&run, state.ctx.clock.now())),
        )),
        None => Err(GuildError::new(
            StatusCode::CONFLICT,
            "NO_SYNC_RUNNING",
            "no sync-all is running in this guild",
        )),
    }
}

/// `POST /interactions/roles/assign` and `/remove`
pub(crate) async fn role(state: &AppState, req: &Request, add: bool) -> GuildResult {
    let b = body(req)?;
    let caller = authenticate(state, req, body_guild(&b)?.as_deref())?;
    let g = guild_record(state, &caller)?;
    let user = user_field(&b)?;
    let role = req_id(&b, "role_id")?;
    let job = RoleChangesJob {
        target: DiscordTarget::of(&g),
        changes: vec![RoleChange {
            user_id: user,
            role_id: role,
            add,
        }],
        reason: format!(
            "Roster: role {} through the guild API (key {})",
            if add { "assigned" } else { "removed" },
            caller.key.label
        ),
    };
    let (id, done) = run_job::<RoleChanges>(state, &caller, &job).await?;
    let Some(v) = done else {
        return Ok(accepted(g.id, id));
    };
    let r: RoleChangesResult = serde_json::from_value(v).map_err(|e| {
        GuildError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string())
    })?;
    let status = r
        .statuses
        .first()
        .copied()
        .unwrap_or(RoleChangeStatus::None);
    let changed = matches!(status, RoleChangeStatus::Added | RoleChangeStatus::Removed);
    match status {
        RoleChangeStatus::Added | RoleChangeStatus::Removed | RoleChangeStatus::None => Ok(ok_msg(
            if add { "Role assigned" } else { "Role removed" },
            Some(RoleChanged { changed }),
        )),
        RoleChangeStatus::NoPermission => Err(GuildError::new(
            StatusCode::FORBIDDEN,
            "NO_PERMISSION",
            format!(
                "the bot cannot change role {role}: it is managed, at or above the bot's highest role, or the bot lacks Manage Roles"
            ),
        )),
        RoleChangeStatus::InvalidUser => Err(GuildError::new(
            StatusCode::NOT_FOUND,
            "NOT_IN_GUILD",
            format!("user {user} is not a member of the guild"),
        )),
        RoleChangeStatus::InvalidRole => Err(GuildError::new(
            StatusCode::NOT_FOUND,
            "UNKNOWN_ROLE",
            format!("role {role} does not exist in the guild"),
        )),
    }
}

/// The bot token an API read uses for a guild.
pub(crate) fn read_token(
    state: &AppState,
    g: &GuildRecord,
) -> Result<roster_core::secrets::Secret, GuildError> {
    match &g.discord.bot_token {
        Some(sealed) => state
            .ctx
            .master
            .open(&GuildRecord::bot_token_purpose(g.id), sealed)
            .map_err(|e| GuildError::from(roster_core::CoreError::from(e))),
        None => state.discord_token.clone().ok_or_else(|| {
            GuildError::new(
                StatusCode::CONFLICT,
                "DISCORD_NOT_CONFIGURED",
                "no Discord bot token: the operator sets discord.bot_token or the guild's botToken",
            )
        }),
    }
}

/// `GET /guilds/:guildId/roles`
pub(crate) async fn roles(state: &AppState, req: &Request, guild_raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild_raw))?;
    let g = guild_record(state, &caller)?;
    let token = read_token(state, &g)?;
    let mut roles = state
        .discord
        .roles(token.expose(), g.id.get())
        .await
        .map_err(|e| upstream(e, "Discord"))?;
    roles.retain(|r| r.id != g.id.get());
    roles.sort_by_key(|r| std::cmp::Reverse(r.position));
    Ok(ok(Roles {
        roles: roles
            .iter()
            .map(|r| RoleView {
                id: r.id.to_string(),
                name: r.name.clone(),
                color: r.color,
                position: r.position,
                managed: r.managed,
            })
            .collect(),
    }))
}

/// `GET /guilds/:guildId/jobs/:jobId`
pub(crate) fn job(state: &AppState, req: &Request, guild_raw: &str, job_raw: &str) -> GuildResult {
    let caller = authenticate(state, req, Some(guild_raw))?;
    let id: JobId = job_raw
        .parse()
        .map_err(|_| GuildError::bad(format!("{job_raw:?} is not a job id")))?;
    // The guild's own jobs, and those of its groups (rank changes and join-request decisions the
    // community API started for it).
    let g = guild_record(state, &caller)?;
    let rec = ops::get(&state.ctx, id)?
        .filter(|r| match r.tenant {
            Tenant::Guild(t) => t == caller.guild,
            Tenant::Group(t) => g.discord.main_group == Some(t) || g.linked_groups.contains(&t),
        })
        .ok_or_else(|| GuildError::not_found(format!("job {id}")))?;
    let result = match (rec.kind, &rec.result) {
        (JobKind::DiscordSyncMember, Some(v)) => {
            serde_json::from_value::<MemberSyncResult>(v.clone())
                .map(|r| serde_json::to_value(sync_view(&r)).unwrap_or_default())
                .unwrap_or_else(|_| v.clone())
        }
        (_, Some(v)) => v.clone(),
        _ => Value::Null,
    };
    Ok(ok(GuildJob {
        job_id: rec.id.to_string(),
        kind: rec.kind.as_str().to_owned(),
        status: serde_json::to_value(rec.status).unwrap_or_default(),
        result,
        error: rec.error.as_ref().map(|e| GuildJobError {
            code: e.code.clone(),
            message: e.message.clone(),
        }),
        created_at: WholeSeconds(rec.created_at),
        finished_at: WholeSeconds::opt(rec.finished_at),
    }))
}
