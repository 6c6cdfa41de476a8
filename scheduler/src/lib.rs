//! roster-scheduler: cron-driven upkeep.
//!
//! Cron only decides *when*; every sweep is an ordinary idempotent function that tolerates
//! missed, late or repeated ticks (each replica of the control plane may fire it; a missed tick
//! is not replayed, the next one catches up). Every sweep is declared once, in [`SWEEPS`]: its
//! name (the `[scheduler]` key), the config field giving its cron schedule, and its function;
//! [`run`] (started by `roster serve` and `roster dev`) schedules each entry of that table.
//!
//! Sweeps:
//! - **vacuum** (`scheduler.vacuum`): removes queue tasks finished more than
//!   `queue.vacuum_after` ago, and stale ledger entries and leases.
//! - **purge** (`scheduler.purge`): forgets Idempotency-Keys older than
//!   `server.idempotency_ttl` and finished job records older than `server.job_retention`
//!   (dead-lettered jobs stay until an operator retries them).
//! - **moderation** (`scheduler.moderation`): ends bans and mutes whose time is up, with their
//!   audit entries and unmute commands (status checks stop counting them at once, sweep or not).
//! - **servers** (`scheduler.servers`): drops game servers silent for `servers.dead_after`,
//!   expires commands older than `servers.command_ttl` (audit entry each), and wakes servers
//!   whose unacknowledged commands are due for redelivery.
//! - **staff** (`scheduler.staff`): records the end of leaves of absence and strikes whose time
//!   is up, with a `loa.expire` / `strike.expire` audit entry each (their status says so from the
//!   end on, sweep or not), and closes in-game staff sessions silent for `servers.dead_after` at
//!   their last heartbeat.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use chrono::Utc;
use roster_core::Ctx;
use roster_core::config::SchedulerConfig;
use roster_core::idempotency;
use roster_core::jobs::facade::ops;
use tokio_util::sync::CancellationToken;

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Items removed.
    pub removed: u64,
}

/// Removes finished queue tasks and stale ledger entries.
pub async fn vacuum(ctx: &Ctx) -> Result<SweepReport, String> {
    let removed = ctx
        .backend
        .vacuum(ctx.config.queue.vacuum_after)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SweepReport { removed })
}

/// Ends expired bans and mutes.
pub async fn moderation(ctx: &Ctx) -> Result<SweepReport, String> {
    let removed = roster_core::moderation::expire(ctx)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SweepReport { removed })
}

/// Records the end of finished leaves of absence and strikes, closes silent sessions (at their
/// last heartbeat) and judges quota periods that ended (misses become pending actions).
pub async fn staff(ctx: &Ctx) -> Result<SweepReport, String> {
    let leaves = roster_core::leave::expire(ctx, None)
        .await
        .map_err(|e| e.to_string())?;
    let strikes = roster_core::staff::expire_strikes(ctx, None)
        .await
        .map_err(|e| e.to_string())?;
    let sessions = roster_core::staff::close_silent_sessions(ctx)
        .await
        .map_err(|e| e.to_string())?;
    let judged = roster_core::staff::quota::judge(ctx)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SweepReport {
        removed: leaves + strikes + sessions + judged,
    })
}

/// Drops dead servers, expires old commands, wakes servers with commands due again.
pub async fn servers(ctx: &Ctx) -> Result<SweepReport, String> {
    let r = roster_core::servers::sweep(ctx)
        .await
        .map_err(|e| e.to_string())?;
    Ok(SweepReport {
        removed: r.dropped_servers + r.expired_commands,
    })
}

/// Forgets expired Idempotency-Keys and old finished job records.
pub async fn purge(ctx: &Ctx) -> Result<SweepReport, String> {
    let a = idempotency::purge(ctx).map_err(|e| e.to_string())?;
    let b = ops::purge(ctx).map_err(|e| e.to_string())?;
    ctx.store.durable().await.map_err(|e| e.to_string())?;
    Ok(SweepReport { removed: a + b })
}

/// What a running sweep returns.
pub type SweepFuture<'a> = Pin<Box<dyn Future<Output = Result<SweepReport, String>> + Send + 'a>>;

/// One sweep: declared once, scheduled by [`run`].
pub struct Sweep {
    /// Its name: the `[scheduler]` key of its schedule, and the `sweep` label of its metrics.
    pub name: &'static str,
    /// Its six-field cron schedule, read from `[scheduler]`.
    pub schedule: fn(&SchedulerConfig) -> &str,
    /// What it does.
    pub run: for<'a> fn(&'a Ctx) -> SweepFuture<'a>,
}

/// Every sweep. A field of [`SchedulerConfig`] without an entry here is a sweep that never runs
/// (a test compares the two).
pub const SWEEPS: &[Sweep] = &[
    Sweep {
        name: "vacuum",
        schedule: |c| c.vacuum.as_str(),
        run: |ctx| Box::pin(vacuum(ctx)),
    },
    Sweep {
        name: "purge",
        schedule: |c| c.purge.as_str(),
        run: |ctx| Box::pin(purge(ctx)),
    },
    Sweep {
        name: "moderation",
        schedule: |c| c.moderation.as_str(),
        run: |ctx| Box::pin(moderation(ctx)),
    },
    Sweep {
        name: "servers",
        schedule: |c| c.servers.as_str(),
        run: |ctx| Box::pin(servers(ctx)),
    },
    Sweep {
        name: "staff",
        schedule: |c| c.staff.as_str(),
        run: |ctx| Box::pin(staff(ctx)),
    },
];

async fn every(sweep: &'static Sweep, ctx: Ctx, stop: CancellationToken) {
    let name = sweep.name;
    let expr = (sweep.schedule)(&ctx.config.scheduler).to_owned();
    let schedule = match cron::Schedule::from_str(&expr) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(sweep = name, error = %e, "invalid schedule; sweep disabled");
            return;
        }
    };
    loop {
        let Some(next) = schedule.upcoming(Utc).next() else {
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        let started = std::time::Instant::now();
        let result = (sweep.run)(&ctx).await;
        metrics::histogram!("roster_sweep_seconds", "sweep" => name)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(r) => {
                metrics::counter!("roster_sweep_removed_total", "sweep" => name)
                    .increment(r.removed);
                tracing::debug!(sweep = name, removed = r.removed, "sweep done");
            }
            Err(e) => {
                metrics::counter!("roster_sweep_errors_total", "sweep" => name).increment(1);
                tracing::warn!(sweep = name, error = %e, "sweep failed; the next tick retries");
            }
        }
    }
}

/// Runs every sweep of [`SWEEPS`] on its schedule until `stop`.
pub async fn run(ctx: Ctx, stop: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for sweep in SWEEPS {
        tasks.spawn(every(sweep, ctx.clone(), stop.clone()));
    }
    while tasks.join_next().await.is_some() {}
}
