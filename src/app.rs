//! Assembly of Roster's processes: the control plane (`roster serve`) and the standalone
//! worker (`roster worker`).
//!
//! Shutdown is one cancellation token. When it fires: the API stops accepting connections and
//! finishes in-flight requests, workers stop taking tasks and finish the attempts in flight,
//! the outcome recorder keeps recording until both are done (so drained jobs are recorded and
//! waiting requests answered), then the relay and the scheduler stop and the store is flushed.
//! All of it is bounded by `server.shutdown_grace`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use roster_api::shield_names::ShieldNames;
use roster_api::{AppState, WorkerHealth};
use roster_core::Ctx;
use roster_core::apikeys::KeyCache;
use roster_core::clock::{SharedClock, SystemClock};
use roster_core::config::Config;
use roster_core::jobs::backend::{QueueBackend, RedisBackend, SqliteBackend};
use roster_core::jobs::facade::{Jobs, OutcomeHub};
use roster_core::jobs::{recorder, relay};
use roster_core::secrets::{MasterKey, random_token, token_hash, write_private};
use roster_core::store::{SledStore, Store};
use roster_upstream::discord::{DiscordClient, DiscordSettings};
use roster_upstream::roblox::{RobloxApi, RobloxClient, RolesCache};
use roster_worker::{Deps, RetrySettings, Source};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The process-wide Prometheus recorder (installed once; later calls reuse it).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let h = PrometheusBuilder::new().install_recorder().ok()?;
            let upkeep = h.clone();
            std::thread::Builder::new()
                .name("roster-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(h)
        })
        .clone()
}

/// Options for starting the control plane that are not configuration (tests use them).
#[derive(Clone, Default)]
pub struct Options {
    /// Time source (default: the system clock).
    pub clock: Option<SharedClock>,
    /// A listener to serve on instead of binding `server.listen`.
    pub listener: Option<Arc<std::sync::Mutex<Option<tokio::net::TcpListener>>>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").finish_non_exhaustive()
    }
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// Where the API listens.
    pub addr: std::net::SocketAddr,
    /// The admin token, if this start generated it (print it once).
    pub generated_admin_token: Option<String>,
    /// Core services (tests and `roster dev` seed through them).
    pub ctx: Ctx,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl ControlPlane {
    /// The token that stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops and waits for the orderly shutdown.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.done.await.context("control plane task panicked")?
    }

    /// Waits until the control plane has stopped (after the token fired).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("control plane task panicked")?
    }
}

/// Reads the admin token: configured, or from `<data_dir>/admin.token`, generating it on first
/// run. Returns the token and whether it was generated now.
fn admin_token(config: &Config) -> anyhow::Result<(String, bool)> {
    if let Some(t) = &config.security.admin_token {
        return Ok((t.expose().to_owned(), false));
    }
    let path = config.server.data_dir.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 16 => Ok((t.trim().to_owned(), false)),
        Ok(_) => bail!(
            "{} is empty or too short; delete it to generate a new admin token",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let t = random_token("rst_admin_");
            write_private(&path, &t)?;
            Ok((t, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Loads the master key: configured, or `<data_dir>/master.key` (created on first run when
/// `create` is set).
pub fn master_key(config: &Config, create: bool) -> anyhow::Result<MasterKey> {
    if let Some(k) = &config.security.master_key {
        return Ok(MasterKey::parse(k.expose())?);
    }
    let path = config.server.data_dir.join("master.key");
    if !create && !path.exists() {
        bail!(
            "no master key: set security.master_key (ROSTER_SECURITY__MASTER_KEY) to the control plane's key, or run where {} exists",
            path.display()
        );
    }
    let (key, created) = MasterKey::load_or_create(&path)?;
    if created {
        tracing::info!(path = %path.display(), fingerprint = key.fingerprint(), "generated a new master key (back it up: sealed credentials cannot be opened without it)");
    }
    Ok(key)
}

/// Connects to Redis, retrying for up to `patience`.
async fn connect_redis(
    url: &str,
    config: &Config,
    patience: Duration,
) -> anyhow::Result<RedisBackend> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match RedisBackend::connect(url, &config.queue).await {
            Ok(b) => return Ok(b),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "cannot reach Redis yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => bail!("cannot reach Redis at queue.redis_url: {e}"),
        }
    }
}

/// How long a call to a linked NamelessMC website may take.
pub const WEBSITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Discord client from `[discord]`.
fn discord_client(config: &Config) -> DiscordClient {
    let d = &config.discord;
    DiscordClient::new(DiscordSettings {
        proxy: d.proxy.clone(),
        use_http: d.use_http,
        timeout: d.timeout,
        call_timeout: d.call_timeout,
        max_wait: d.max_rate_limit_wait,
        global_limit_per_sec: d.global_limit_per_sec,
    })
}

fn worker_deps(
    config: &Config,
    backend: Arc<dyn QueueBackend>,
    master: MasterKey,
    stop: CancellationToken,
) -> anyhow::Result<Deps> {
    let roblox: Arc<dyn RobloxApi> = Arc::new(
        RobloxClient::new(&config.roblox.base_url, config.roblox.timeout)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    Ok(Deps {
        backend,
        roblox,
        discord: Arc::new(discord_client(config)),
        nameless: roster_upstream::nameless::NamelessClient::new(WEBSITE_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        discord_token: config.discord.bot_token.clone(),
        guilds: roster_worker::jobs::discord::GuildCache::new(config.discord.guild_cache_ttl),
        roles: RolesCache::new(config.roblox.roles_cache_ttl),
        master,
        rank_method: config.roblox.rank_method,
        retry: RetrySettings::from_config(config),
        shutdown: stop,
        inflight: Arc::default(),
        release: CancellationToken::new(),
        turns: Arc::default(),
    })
}

/// Starts the control plane.
pub async fn start(config: Config, options: Options) -> anyhow::Result<ControlPlane> {
    // Before anything records a metric: what is recorded before the recorder exists is lost
    // (the queue's first WAL checkpoint runs as it opens).
    let metrics = metrics_handle();
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.server.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            config.server.data_dir.display()
        )
    })?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&config.server.data_dir)?);
    let master = master_key(&config, true)?;
    let (token, generated) = admin_token(&config)?;
    let clock: SharedClock = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));

    let (backend, source): (Arc<dyn QueueBackend>, Source) = match &config.queue.redis_url {
        Some(url) => {
            let b = connect_redis(url.expose(), &config, Duration::from_secs(30)).await?;
            (Arc::new(b.clone()), Source::Redis(b))
        }
        None => {
            let path = config.sqlite_path();
            let b = SqliteBackend::open(&path, &config.queue)
                .await
                .with_context(|| format!("cannot open the embedded queue at {}", path.display()))?;
            (Arc::new(b.clone()), Source::Sqlite(b))
        }
    };

    let relay_wake = Arc::new(Notify::new());
    let hub = Arc::new(OutcomeHub::default());
    let jobs = Arc::new(Jobs::new(
        relay_wake.clone(),
        hub.clone(),
        config.queue.max_attempts,
    ));
    let ctx = Ctx {
        config: config.clone(),
        store: store.clone(),
        clock,
        master: master.clone(),
        jobs,
        backend: backend.clone(),
        keys: Arc::new(KeyCache::default()),
        moderation: Arc::default(),
        staff: Arc::default(),
        servers: Arc::default(),
    };
    let active = roster_core::moderation::load_index(&ctx)?;
    tracing::info!(active, "loaded active bans and mutes");

    let shutdown = CancellationToken::new();
    let intake_stop = CancellationToken::new();
    let background_stop = CancellationToken::new();
    let workers = Arc::new(WorkerHealth::default());

    // Background loops.
    let relay_task = tokio::spawn(relay::run(
        store.clone(),
        backend.clone(),
        relay_wake.clone(),
        background_stop.clone(),
    ));
    let recorder_task = tokio::spawn(recorder::run(
        store.clone(),
        backend.clone(),
        hub.clone(),
        relay_wake.clone(),
        config.clone(),
        background_stop.clone(),
    ));
    let scheduler_task = tokio::spawn(roster_scheduler::run(ctx.clone(), background_stop.clone()));
    let worker_task = if config.queue.in_process_workers {
        workers.expected.store(true, Ordering::Relaxed);
        workers.running.store(true, Ordering::Relaxed);
        let deps = worker_deps(
            &config,
            backend.clone(),
            master.clone(),
            intake_stop.clone(),
        )?;
        let cfg = config.queue.clone();
        let stop = intake_stop.clone();
        let grace = config.server.shutdown_grace;
        let health = workers.clone();
        Some(tokio::spawn(async move {
            let r = roster_worker::run(deps, source, cfg, "serve", stop, grace).await;
            health.running.store(false, Ordering::Relaxed);
            r
        }))
    } else {
        None
    };

    // The API.
    let roblox: Arc<dyn RobloxApi> = Arc::new(
        RobloxClient::new(&config.roblox.base_url, config.roblox.timeout)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let (shield_names, shield_names_task) =
        ShieldNames::start(ctx.clone(), roblox.clone(), background_stop.clone());
    let state = AppState {
        ctx: ctx.clone(),
        roblox,
        roles: RolesCache::new(config.roblox.roles_cache_ttl),
        discord: Arc::new(discord_client(&config)),
        discord_token: config.discord.bot_token.clone(),
        nameless: roster_upstream::nameless::NamelessClient::new(WEBSITE_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        metrics,
        admin_token_hash: Arc::new(token_hash(&token)),
        workers: workers.clone(),
        guild_limiter: Arc::new(roster_api::guild::KeyLimiter::new(
            config.guild_api.rate_limit_per_minute,
        )),
        staff_limits: Arc::new(roster_api::guild::staff::StaffLimits::new(
            &config.guild_api,
        )),
        shield_names,
        community: Arc::default(),
    };
    {
        let limiter = state.guild_limiter.clone();
        let staff_limits = state.staff_limits.clone();
        let stop = background_stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {
                        limiter.retain_recent();
                        staff_limits.retain_recent();
                    }
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    let listener = match options
        .listener
        .as_ref()
        .and_then(|l| l.lock().ok()?.take())
    {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (server.listen)", config.server.listen)
            })?,
    };
    let http_stop = intake_stop.clone();
    let (addr, http_task) =
        roster_api::serve(state, listener, async move { http_stop.cancelled().await })?;
    tracing::info!(%addr, backend = backend.kind().as_str(), "Roster control plane listening");

    let sd = shutdown.clone();
    let grace = config.server.shutdown_grace;
    let store_for_exit = store.clone();
    let done = tokio::spawn(async move {
        sd.cancelled().await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        workers.draining.store(true, Ordering::Relaxed);
        intake_stop.cancel();
        let drain = async {
            let _ = http_task.await;
            if let Some(w) = worker_task {
                match w.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "worker drain incomplete"),
                    Err(e) => tracing::error!(error = %e, "worker task panicked"),
                }
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(
                grace_s = grace.as_secs_f64(),
                "shutdown grace elapsed with work still in flight; it will be resumed on the next start"
            );
        }
        // Let the recorder take the outcomes of the last drained jobs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        background_stop.cancel();
        let _ = tokio::join!(relay_task, recorder_task, scheduler_task, shield_names_task);
        tokio::task::spawn_blocking(move || store_for_exit.flush_blocking())
            .await
            .context("flush task panicked")??;
        tracing::info!("Roster stopped cleanly");
        Ok(())
    });

    Ok(ControlPlane {
        addr,
        generated_admin_token: generated.then_some(token),
        ctx,
        shutdown,
        done,
    })
}

/// Runs a standalone worker until `stop` fires, then drains. Needs a Redis queue.
pub async fn run_worker(config: Config, stop: CancellationToken) -> anyhow::Result<()> {
    let Some(url) = config.queue.redis_url.clone() else {
        bail!(
            "roster worker needs a Redis queue: set queue.redis_url (ROSTER_QUEUE__REDIS_URL or --redis-url). With the embedded SQLite queue, jobs run inside `roster serve`."
        );
    };
    let master = master_key(&config, false)?;
    let backend = connect_redis(url.expose(), &config, Duration::from_secs(30)).await?;
    let shared: Arc<dyn QueueBackend> = Arc::new(backend.clone());
    let deps = worker_deps(&config, shared, master, stop.clone())?;
    tracing::info!(
        concurrency = config.queue.concurrency,
        "Roster worker running"
    );
    match roster_worker::run(
        deps,
        Source::Redis(backend),
        config.queue.clone(),
        "worker",
        stop,
        config.server.shutdown_grace,
    )
    .await
    {
        Ok(()) => {
            tracing::info!("Roster worker stopped cleanly");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "Roster worker stopped before its jobs drained");
            Ok(())
        }
    }
}
