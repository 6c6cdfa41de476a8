//! Role sync: the spec a sync runs with, and guild-wide runs (sync-all).
//!
//! A sync-all run is coordinated by the control plane, in the same transactions that record job
//! outcomes, so its progress is exact and survives restarts:
//!
//! 1. [`start`] writes the run and stages the first page job (`discord.sync_page`: one
//!    `GET /guilds/{g}/members?limit=1000&after=…`).
//! 2. When a page's outcome is recorded, its kind's outcome hook ([`SyncPage`]) stages the next page job right away
//!    (pages are cheap), joins the members with their account links, and queues them in batches
//!    of 50 (one Open Cloud membership read per group per batch) under the run.
//! 3. At most `discord.sync_all_concurrency` batch jobs (`discord.sync_batch`) run at once per
//!    run; each outcome adds to the counters and stages the next queued batch. A batch that
//!    would wait too long on Discord's rate limit hands back the members it did not reach, and
//!    they are queued again.
//! 4. The run completes when the listing has ended and no batch is queued or running.
//!
//! [`cancel`] drops the queued batches; the few in flight finish. One run per guild at a time,
//! and a new one only `discord.sync_all_interval` after the previous one started.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEntry, Tenant};
use crate::bindings;
use crate::context::Ctx;
use crate::error::CoreError;
use crate::groups::{self, GroupRecord};
use crate::guilds::GuildRecord;
use crate::ids::{GroupId, GuildId};
use crate::jobs::discord::{
    DiscordTarget, MemberState, SealedKey, SyncBatchJob, SyncBatchResult, SyncPageJob,
    SyncPageResult, SyncSpec, sync_settings,
};
use crate::jobs::discord::{SyncBatch, SyncPage};
use crate::jobs::facade::{NewJob, Staging};
use crate::jobs::kind::{Done, Effects, Kind};
use crate::jobs::{JobRecord, JobStatus};
use crate::links::AccountLink;
use crate::store::{StoreError, StoreExt, Tree, Txn, TxnExt, keys};

/// Members per page read from Discord (its maximum).
pub const PAGE_SIZE: u16 = 1000;
/// Members per batch job (the most users one Open Cloud membership filter may name).
pub const BATCH_SIZE: usize = 50;

/// Builds the spec a sync of this guild runs with: its bindings, settings and the Open Cloud
/// key that reads the groups' memberships (the main group's key when Roster manages that
/// group, else the guild's own key, else another bound group's).
pub fn spec_for(ctx: &Ctx, g: &GuildRecord) -> Result<SyncSpec, CoreError> {
    let bindings = bindings::list(ctx, g.id)?;
    let mut groups: Vec<u64> = bindings.iter().map(|b| b.rule.group()).collect();
    groups.extend(g.discord.main_group.map(GroupId::get));
    groups.sort_unstable();
    groups.dedup();
    let group_key = |id: u64| -> Result<Option<SealedKey>, CoreError> {
        let Ok(gid) = GroupId::new(id) else {
            return Ok(None);
        };
        Ok(groups::get(ctx, gid)?.and_then(|r: GroupRecord| {
            r.open_cloud_key.map(|sealed| SealedKey {
                purpose: GroupRecord::credential_purpose(gid),
                sealed,
            })
        }))
    };
    let mut roblox_key = None;
    if !groups.is_empty() {
        if let Some(m) = g.discord.main_group {
            roblox_key = group_key(m.get())?;
        }
        if roblox_key.is_none() {
            roblox_key = g.moderation.open_cloud_key.clone().map(|sealed| SealedKey {
                purpose: GuildRecord::credential_purpose(g.id),
                sealed,
            });
        }
        for id in &groups {
            if roblox_key.is_some() {
                break;
            }
            roblox_key = group_key(*id)?;
        }
        if roblox_key.is_none() {
            return Err(CoreError::invalid(
                "openCloudKey",
                "no Open Cloud key can read the bound groups' ranks: register the main group in Roster with its key, or give the guild an openCloudKey",
            ));
        }
    }
    Ok(SyncSpec {
        target: DiscordTarget::of(g),
        settings: sync_settings(&g.discord),
        bindings,
        groups,
        roblox_key,
    })
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Working through the guild.
    Running,
    /// Every member was visited.
    Completed,
    /// Stopped by request.
    Cancelled,
    /// Could not list the guild's members.
    Failed,
}

/// A guild-wide sync.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    /// Run id.
    pub id: u64,
    /// Guild.
    pub guild: GuildId,
    /// Status.
    pub status: RunStatus,
    /// Who asked (a key id, or `admin`).
    pub requested_by: Option<String>,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished (completed, cancelled or failed).
    pub finished_at: Option<DateTime<Utc>>,
    /// The spec every batch runs with (a snapshot taken at the start).
    pub spec: SyncSpec,
    /// Linked members when the run started.
    pub linked_members: u64,
    /// Discord's approximate member count (bots included), from the first page.
    pub approximate_members: Option<u64>,
    /// Pages read.
    pub pages: u32,
    /// Whether a page job is queued or running.
    pub page_in_flight: bool,
    /// Whether the last page has been read.
    pub listing_done: bool,
    /// Members listed (bots excluded).
    pub listed: u64,
    /// Bots listed (never synced).
    pub bots: u64,
    /// Members synced.
    pub done: u64,
    /// Of which changed.
    pub changed: u64,
    /// Members that failed.
    pub failed: u64,
    /// Role changes or nicknames not attempted (hierarchy and the like).
    pub not_applied: u64,
    /// Batch jobs running.
    pub in_flight: u32,
    /// Queue of batches waiting: sequence numbers `queue_head..queue_tail`.
    pub queue_head: u64,
    /// See `queue_head`.
    pub queue_tail: u64,
    /// Up to 20 failure messages.
    pub errors: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
}

impl SyncRun {
    /// Members the run expects to visit: exact once listing ended, otherwise the best estimate.
    pub fn total(&self) -> u64 {
        if self.listing_done {
            self.listed
        } else {
            let approx = self
                .approximate_members
                .map(|a| a.saturating_sub(self.bots))
                .unwrap_or(0);
            approx.max(self.listed).max(self.linked_members)
        }
    }

    /// Seconds until done at the rate so far, while running.
    pub fn eta_seconds(&self, now: DateTime<Utc>) -> Option<u64> {
        if self.status != RunStatus::Running {
            return None;
        }
        let elapsed = (now - self.started_at).num_milliseconds().max(1) as f64 / 1000.0;
        let visited = (self.done + self.failed) as f64;
        if visited < 1.0 {
            return None;
        }
        let left = self.total().saturating_sub(self.done + self.failed) as f64;
        Some((left * elapsed / visited).ceil() as u64)
    }

    /// Members per minute so far.
    pub fn members_per_minute(&self, now: DateTime<Utc>) -> f64 {
        let end = self.finished_at.unwrap_or(now);
        let secs = (end - self.started_at).num_milliseconds().max(1) as f64 / 1000.0;
        (self.done + self.failed) as f64 * 60.0 / secs
    }
}

fn run_key(guild: GuildId) -> [u8; 8] {
    guild.to_be_bytes()
}

fn batch_key(guild: GuildId, seq: u64) -> [u8; 16] {
    keys::pair(guild.get(), seq)
}

/// The guild's latest run.
pub fn latest(ctx: &Ctx, guild: GuildId) -> Result<Option<SyncRun>, CoreError> {
    Ok(ctx.store.get_json(Tree::SyncRuns, &run_key(guild))?)
}

/// Stages sync-all jobs; shared by the API (start) and the outcome recorder (follow-ups).
#[derive(Debug, Clone)]
pub struct Coordinator {
    /// Batch jobs in flight per run.
    pub concurrency: u32,
    /// Attempts per job.
    pub max_attempts: u32,
}

impl Coordinator {
    /// From the configuration.
    pub fn from_config(c: &crate::config::Config) -> Self {
        Self {
            concurrency: c.discord.sync_all_concurrency.max(1),
            max_attempts: c.queue.max_attempts,
        }
    }

    fn job<K: Kind>(&self, guild: GuildId, payload: &K::Payload, now: DateTime<Utc>) -> NewJob {
        NewJob::new::<K>(
            Tenant::Guild(guild),
            payload,
            json!({"sync": true}),
            now,
            self.max_attempts,
        )
    }

    fn stage_page(
        &self,
        tx: &dyn Txn,
        jobs: &mut Staging,
        run: &mut SyncRun,
        after: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let payload = SyncPageJob {
            target: run.spec.target.clone(),
            run_id: run.id,
            after,
            limit: PAGE_SIZE,
        };
        jobs.stage_owned(tx, self.job::<SyncPage>(run.guild, &payload, now))?;
        run.page_in_flight = true;
        Ok(())
    }

    /// Stages queued batches up to the concurrency.
    fn pump(
        &self,
        tx: &dyn Txn,
        jobs: &mut Staging,
        run: &mut SyncRun,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        while run.status == RunStatus::Running
            && run.in_flight < self.concurrency
            && run.queue_head < run.queue_tail
        {
            let k = batch_key(run.guild, run.queue_head);
            run.queue_head += 1;
            let Some(members) = tx.get_json::<Vec<MemberState>>(Tree::SyncRuns, &k)? else {
                continue;
            };
            tx.remove(Tree::SyncRuns, &k)?;
            let payload = SyncBatchJob {
                spec: run.spec.clone(),
                run_id: run.id,
                members,
            };
            jobs.stage_owned(tx, self.job::<SyncBatch>(run.guild, &payload, now))?;
            run.in_flight += 1;
        }
        Ok(())
    }

    fn enqueue(tx: &dyn Txn, run: &mut SyncRun, members: &[MemberState]) -> Result<(), StoreError> {
        for chunk in members.chunks(BATCH_SIZE) {
            tx.put_json(
                Tree::SyncRuns,
                &batch_key(run.guild, run.queue_tail),
                &chunk.to_vec(),
            )?;
            run.queue_tail += 1;
        }
        Ok(())
    }

    fn finish_if_done(
        tx: &dyn Txn,
        run: &mut SyncRun,
        now: DateTime<Utc>,
        audit_id: u64,
    ) -> Result<(), StoreError> {
        if run.status == RunStatus::Running
            && run.listing_done
            && !run.page_in_flight
            && run.in_flight == 0
            && run.queue_head >= run.queue_tail
        {
            run.status = RunStatus::Completed;
            run.finished_at = Some(now);
            audit::append_in(
                tx,
                Tenant::Guild(run.guild),
                &AuditEntry {
                    id: audit_id,
                    action: "sync_all.complete".into(),
                    actor_id: run.requested_by.clone(),
                    target_id: Some(run.id.to_string()),
                    metadata: json!({
                        "members": run.listed, "done": run.done, "changed": run.changed,
                        "failed": run.failed, "notApplied": run.not_applied,
                    }),
                    created_at: now,
                },
            )?;
        }
        Ok(())
    }
}

/// Why a run did not start.
#[derive(Debug)]
pub enum StartError {
    /// A run is going on.
    InProgress(Box<SyncRun>),
    /// The last run started too recently; try again after this long.
    TooSoon(Duration),
    /// Something else.
    Core(CoreError),
}

impl From<CoreError> for StartError {
    fn from(e: CoreError) -> Self {
        StartError::Core(e)
    }
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        StartError::Core(e.into())
    }
}

/// Starts a sync-all run. `ignore_interval` (operators) skips the once-per-interval limit, not
/// the one-run-at-a-time rule.
pub async fn start(
    ctx: &Ctx,
    g: &GuildRecord,
    requested_by: Option<String>,
    ignore_interval: bool,
) -> Result<SyncRun, StartError> {
    let spec = spec_for(ctx, g)?;
    let coordinator = Coordinator::from_config(&ctx.config);
    let interval = ctx.config.discord.sync_all_interval;
    let linked = crate::links::count(ctx.store.as_ref(), g.id)?;
    let now = ctx.clock.now();
    let id = ctx.store.next_id()?;
    let audit_id = ctx.store.next_id()?;
    ctx.commit(|tx, jobs| {
        if let Some(prev) = tx.get_json::<SyncRun>(Tree::SyncRuns, &run_key(g.id))? {
            if prev.status == RunStatus::Running {
                jobs.unchanged();
                return Ok(Err(StartError::InProgress(Box::new(prev))));
            }
            let next = prev.started_at
                + chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::zero());
            if !ignore_interval && next > now {
                let wait = (next - now).to_std().unwrap_or_default();
                jobs.unchanged();
                return Ok(Err(StartError::TooSoon(wait)));
            }
        }
        let mut run = SyncRun {
            id,
            guild: g.id,
            status: RunStatus::Running,
            requested_by: requested_by.clone(),
            started_at: now,
            finished_at: None,
            spec: spec.clone(),
            linked_members: linked,
            approximate_members: None,
            pages: 0,
            page_in_flight: false,
            listing_done: false,
            listed: 0,
            bots: 0,
            done: 0,
            changed: 0,
            failed: 0,
            not_applied: 0,
            in_flight: 0,
            queue_head: 0,
            queue_tail: 0,
            errors: Vec::new(),
            error: None,
        };
        coordinator.stage_page(tx, jobs, &mut run, 0, now)?;
        tx.put_json(Tree::SyncRuns, &run_key(g.id), &run)?;
        audit::append_in(
            tx,
            Tenant::Guild(g.id),
            &AuditEntry {
                id: audit_id,
                action: "sync_all.start".into(),
                actor_id: requested_by.clone(),
                target_id: Some(id.to_string()),
                metadata: json!({"linkedMembers": linked, "bindings": spec.bindings.len()}),
                created_at: now,
            },
        )?;
        Ok(Ok(run))
    })
    .await?
}

/// Cancels the running run; `None` when none runs.
pub async fn cancel(
    ctx: &Ctx,
    guild: GuildId,
    by: Option<String>,
) -> Result<Option<SyncRun>, CoreError> {
    let now = ctx.clock.now();
    let audit_id = ctx.store.next_id()?;
    let run = ctx
        .commit(|tx, jobs| {
        let Some(mut run) = tx.get_json::<SyncRun>(Tree::SyncRuns, &run_key(guild))? else {
            jobs.unchanged();
            return Ok(None);
        };
        if run.status != RunStatus::Running {
            jobs.unchanged();
            return Ok(None);
        }
        for seq in run.queue_head..run.queue_tail {
            tx.remove(Tree::SyncRuns, &batch_key(guild, seq))?;
        }
        run.queue_head = run.queue_tail;
        run.status = RunStatus::Cancelled;
        run.finished_at = Some(now);
        tx.put_json(Tree::SyncRuns, &run_key(guild), &run)?;
        audit::append_in(
            tx,
            Tenant::Guild(guild),
            &AuditEntry {
                id: audit_id,
                action: "sync_all.cancel".into(),
                actor_id: by.clone(),
                target_id: Some(run.id.to_string()),
                metadata: json!({"done": run.done, "changed": run.changed, "inFlight": run.in_flight}),
                created_at: now,
            },
        )?;
        Ok(Some(run))
    })
        .await?;
    Ok(run)
}

/// Advances a run when one of its page jobs finished: the [`SyncPage`] kind's outcome hook, in
/// the transaction that records the outcome.
pub(crate) fn on_page_outcome(
    done: &Done<'_, SyncPage>,
    fx: &mut Effects<'_>,
) -> Result<(), StoreError> {
    let p = &done.payload;
    advance(done.record, p.run_id, p.target.guild, Step::Page(p), fx)
}

/// Advances a run when one of its batch jobs finished: the [`SyncBatch`] kind's outcome hook.
pub(crate) fn on_batch_outcome(
    done: &Done<'_, SyncBatch>,
    fx: &mut Effects<'_>,
) -> Result<(), StoreError> {
    let p = &done.payload;
    advance(
        done.record,
        p.run_id,
        p.spec.target.guild,
        Step::Batch(p),
        fx,
    )
}

/// Which of a run's jobs finished.
enum Step<'a> {
    Page(&'a SyncPageJob),
    Batch(&'a SyncBatchJob),
}

fn advance(
    rec: &JobRecord,
    run_id: u64,
    guild: GuildId,
    step: Step<'_>,
    fx: &mut Effects<'_>,
) -> Result<(), StoreError> {
    let coordinator = Coordinator::from_config(fx.config);
    let tx = fx.tx;
    let Some(mut run) = tx.get_json::<SyncRun>(Tree::SyncRuns, &run_key(guild))? else {
        return Ok(());
    };
    if run.id != run_id {
        return Ok(());
    }
    let now = rec.done_at();
    let note = |run: &mut SyncRun, msg: String| {
        if run.errors.len() < 20 {
            run.errors.push(msg);
        }
    };
    match step {
        Step::Page(page) => {
            run.page_in_flight = false;
            match (rec.status, rec.result.clone()) {
                (JobStatus::Succeeded, Some(result)) => {
                    let Ok(result) = serde_json::from_value::<SyncPageResult>(result) else {
                        return Ok(());
                    };
                    run.pages += 1;
                    if result.approximate_member_count.is_some() {
                        run.approximate_members = result.approximate_member_count;
                    }
                    let last = result.members.iter().map(|m| m.user_id).max();
                    let mut states = Vec::with_capacity(result.members.len());
                    for m in &result.members {
                        if m.bot {
                            run.bots += 1;
                            continue;
                        }
                        let link: Option<AccountLink> =
                            tx.get_json(Tree::Links, &keys::pair(guild.get(), m.user_id))?;
                        states.push(MemberState {
                            user_id: m.user_id,
                            roles: m.roles.clone(),
                            nick: m.nick.clone(),
                            discord_name: m.discord_name.clone(),
                            bot: false,
                            link,
                            attempts: 0,
                        });
                    }
                    run.listed += states.len() as u64;
                    crate::staff::members::apply_page(
                        tx,
                        guild,
                        run.id,
                        &result.members,
                        result.members.len() < usize::from(page.limit),
                        now,
                    )?;
                    if run.status == RunStatus::Running {
                        Coordinator::enqueue(tx, &mut run, &states)?;
                        match last {
                            Some(last) if result.members.len() >= usize::from(page.limit) => {
                                coordinator.stage_page(tx, fx.jobs, &mut run, last, now)?;
                            }
                            _ => run.listing_done = true,
                        }
                    }
                }
                _ => {
                    if run.status == RunStatus::Running {
                        let why = rec
                            .error
                            .as_ref()
                            .map(|e| format!("{}: {}", e.code, e.message))
                            .unwrap_or_else(|| "the member listing failed".into());
                        run.status = RunStatus::Failed;
                        run.error = Some(format!("could not list the guild's members ({why})"));
                        run.finished_at = Some(now);
                        for seq in run.queue_head..run.queue_tail {
                            tx.remove(Tree::SyncRuns, &batch_key(guild, seq))?;
                        }
                        run.queue_head = run.queue_tail;
                    }
                }
            }
        }
        Step::Batch(batch) => {
            run.in_flight = run.in_flight.saturating_sub(1);
            match (rec.status, rec.result.clone()) {
                (JobStatus::Succeeded, Some(result)) => {
                    let r: SyncBatchResult = serde_json::from_value(result).unwrap_or_default();
                    run.done += r.done;
                    run.changed += r.changed;
                    run.failed += r.failed;
                    run.not_applied += r.not_applied;
                    for e in r.errors {
                        note(&mut run, e);
                    }
                    if run.status == RunStatus::Running && !r.remaining.is_empty() {
                        Coordinator::enqueue(tx, &mut run, &r.remaining)?;
                    }
                }
                _ => {
                    run.failed += batch.members.len() as u64;
                    let why = rec
                        .error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.code, e.message))
                        .unwrap_or_else(|| "a batch failed".into());
                    note(
                        &mut run,
                        format!("{} members not synced: {why}", batch.members.len()),
                    );
                }
            }
        }
    }
    coordinator.pump(tx, fx.jobs, &mut run, now)?;
    if let Some(audit_id) = fx.take_id() {
        Coordinator::finish_if_done(tx, &mut run, now, audit_id)?;
    }
    tx.put_json(Tree::SyncRuns, &run_key(guild), &run)?;
    Ok(())
}
