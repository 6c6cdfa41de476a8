//! Configuration: one typed struct, loaded from defaults, then `roster.toml`, then `ROSTER_*`
//! environment variables, validated at start-up with errors that name the offending key.
//!
//! Environment variables use `__` between sections: `ROSTER_SERVER__LISTEN=0.0.0.0:8080`,
//! `ROSTER_QUEUE__REDIS_URL=redis://127.0.0.1/`. Every key is documented in
//! `docs/configuration.md`; keep the two in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::secrets::Secret;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server and data directory.
    pub server: ServerConfig,
    /// Queue backend and workers.
    pub queue: QueueConfig,
    /// Roblox Open Cloud client.
    pub roblox: RobloxConfig,
    /// Plan allowances.
    pub plans: PlansConfig,
    /// Secrets: master key and admin token.
    pub security: SecurityConfig,
    /// Upkeep schedules.
    pub scheduler: SchedulerConfig,
    /// The guild API (game servers, bots, dashboards).
    pub guild_api: GuildApiConfig,
    /// The server manager (game servers and their command queues).
    pub servers: ServersConfig,
    /// The Discord client, role sync and the role bridge.
    pub discord: DiscordConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Directory for the sled store, the embedded queue and generated secrets.
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: u64,
    /// Largest request body accepted under `/admin/v1` (file imports such as account links).
    pub admin_body_limit_bytes: u64,
    /// How long a write that callers expect to be synchronous waits for its outcome before
    /// answering 202 with the job id.
    #[serde(with = "humantime_serde")]
    pub sync_wait: Duration,
    /// How long shutdown waits for in-flight requests and jobs.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long an Idempotency-Key is remembered.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// How long finished job records stay visible at `/v1/jobs/{id}`.
    #[serde(with = "humantime_serde")]
    pub job_retention: Duration,
    /// How long a client has to send a complete request head, counted from the moment the
    /// connection is ready for one (accepted, or the previous response sent). Also bounds
    /// connections that never send anything.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a client has to send a whole request body once its head is in.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// How long a kept-alive connection may stay silent after a response before it is closed.
    #[serde(with = "humantime_serde")]
    pub keep_alive_timeout: Duration,
    /// Most connections open at once (further capped by the open-files limit).
    pub max_connections: u64,
    /// The URL websites and game servers reach this Roster at (behind its reverse proxy), e.g.
    /// `https://roster.example.com`; the role bridge's URL sent to linked websites is derived
    /// from it.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("static address"),
            data_dir: PathBuf::from("./data"),
            body_limit_bytes: 64 * 1024,
            admin_body_limit_bytes: 16 * 1024 * 1024,
            sync_wait: Duration::from_secs(8),
            shutdown_grace: Duration::from_secs(20),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            job_retention: Duration::from_secs(7 * 24 * 3600),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(15),
            keep_alive_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            public_url: None,
        }
    }
}

/// `[queue]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Redis URL. When set, the queue lives in Redis (and standalone `roster worker`s can
    /// join); when unset, it lives in an embedded SQLite file in the data directory.
    pub redis_url: Option<Secret>,
    /// SQLite file for the embedded queue (default: `<data_dir>/queue.sqlite3`).
    pub sqlite_path: Option<PathBuf>,
    /// Run workers inside `roster serve` (turn off when only standalone workers should run jobs).
    pub in_process_workers: bool,
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// Fallback interval at which an idle worker looks for new jobs. Workers are woken as soon
    /// as a job is pushed (in-process, and across processes through Redis pub/sub), so this only
    /// bounds the delay when a wake-up is missed; each tick costs one query to the backend.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Worker heartbeat; a worker silent for `heartbeat_interval × missed_heartbeats` is
    /// considered dead and its jobs are handed to another worker.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// See `heartbeat_interval`.
    pub missed_heartbeats: u32,
    /// Failed attempts before a job is dead-lettered. A crash or a lost worker is not a failed
    /// attempt (see `max_interruptions`).
    pub max_attempts: u32,
    /// Attempts interrupted by a crash, a lost worker or a panic before a job is dead-lettered
    /// (`JOB_INTERRUPTED`): the bound that catches a job that kills its worker every time.
    pub max_interruptions: u32,
    /// First retry delay for transient failures and 429s without `retry-after`; doubles each
    /// attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Ceiling for one retry delay (also caps an upstream `retry-after`).
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Upper bound for one attempt of a job.
    #[serde(with = "humantime_serde")]
    pub job_timeout: Duration,
    /// Redis reply timeout (redis-rs defaults to 500 ms, which turns one slow reply into a
    /// worker error).
    #[serde(with = "humantime_serde")]
    pub redis_response_timeout: Duration,
    /// Finished queue tasks older than this are removed by the vacuum sweep.
    #[serde(with = "humantime_serde")]
    pub vacuum_after: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            sqlite_path: None,
            in_process_workers: true,
            concurrency: 128,
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(2),
            missed_heartbeats: 3,
            max_attempts: 8,
            max_interruptions: 20,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            job_timeout: Duration::from_secs(60),
            redis_response_timeout: Duration::from_secs(5),
            vacuum_after: Duration::from_secs(600),
        }
    }
}

/// How the worker changes a member's role.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RankMethod {
    /// `:assignRole` the target, then `:unassignRole` the member's other roles (Roblox's
    /// recommended calls since groups became multi-role).
    #[default]
    Assign,
    /// The deprecated `PATCH …/memberships/{id}`, kept as a fallback.
    Patch,
}

/// `[roblox]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobloxConfig {
    /// Open Cloud base URL (point it at the simulator in tests and `roster dev`).
    pub base_url: String,
    /// Timeout for one Open Cloud request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `assign` (default) or `patch`.
    pub rank_method: RankMethod,
    /// How long a worker reuses a group's role list.
    #[serde(with = "humantime_serde")]
    pub roles_cache_ttl: Duration,
}

impl Default for RobloxConfig {
    fn default() -> Self {
        Self {
            base_url: "https://apis.roblox.com".into(),
            timeout: Duration::from_secs(10),
            rank_method: RankMethod::Assign,
            roles_cache_ttl: Duration::from_secs(60),
        }
    }
}

/// A numeric limit or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Limit {
    /// At most this many.
    Count(u64),
    /// No limit.
    #[serde(serialize_with = "ser_unlimited")]
    Unlimited,
}

fn ser_unlimited<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("unlimited")
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Limit::Count(n)),
            Raw::S(s) if s.eq_ignore_ascii_case("unlimited") => Ok(Limit::Unlimited),
            Raw::S(s) => s.parse().map(Limit::Count).map_err(|_| {
                serde::de::Error::custom(format!(
                    "expected a non-negative integer or \"unlimited\", got {s:?}"
                ))
            }),
        }
    }
}

impl Limit {
    /// Whether `n` is within the limit.
    pub fn allows(self, n: u64) -> bool {
        match self {
            Limit::Count(c) => n <= c,
            Limit::Unlimited => true,
        }
    }

    /// The number, if limited.
    pub fn count(self) -> Option<u64> {
        match self {
            Limit::Count(c) => Some(c),
            Limit::Unlimited => None,
        }
    }
}

/// One plan's allowances.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Rank, promote and demote calls per calendar month (UTC); past it, calls still run and
    /// are flagged as overage.
    pub monthly_requests: Limit,
    /// API keys a group may hold at once.
    pub api_keys: Limit,
    /// Whether `/demote` is available.
    pub demote: bool,
}

/// `[plans]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlansConfig {
    /// Starter plan.
    pub starter: PlanLimits,
    /// Pro plan.
    pub pro: PlanLimits,
    /// Max plan.
    pub max: PlanLimits,
}

impl Default for PlansConfig {
    fn default() -> Self {
        Self {
            starter: PlanLimits {
                monthly_requests: Limit::Count(100),
                api_keys: Limit::Count(1),
                demote: false,
            },
            pro: PlanLimits {
                monthly_requests: Limit::Count(1000),
                api_keys: Limit::Count(2),
                demote: true,
            },
            max: PlanLimits {
                monthly_requests: Limit::Unlimited,
                api_keys: Limit::Unlimited,
                demote: true,
            },
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// 32-byte master key, base64 or hex. Seals Open Cloud keys at rest and in job payloads.
    /// When unset, one is generated into `<data_dir>/master.key` (mode 0600) on first run.
    /// Standalone workers need the same key.
    pub master_key: Option<Secret>,
    /// Bearer token for `/admin/v1`. When unset, one is generated into
    /// `<data_dir>/admin.token` (mode 0600) and printed on first run.
    pub admin_token: Option<Secret>,
}

/// `[guild_api]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuildApiConfig {
    /// Requests per minute one guild API key may make (every guild endpoint, the ban-status hot
    /// path included); past it, 429 with `Retry-After`.
    pub rate_limit_per_minute: u32,
    /// Staff routes games call all the time (heartbeats, `verify`, permission lookups, custom
    /// actions): requests a minute per key, on top of the overall limit.
    pub staff_hot_per_minute: u32,
    /// Staff session start and end: requests a minute per key.
    pub staff_session_per_minute: u32,
    /// Staff reads (members, activity, stats, leaderboard, quotas, profiles…): requests a minute
    /// per key.
    pub staff_read_per_minute: u32,
    /// Staff writes (leave, strikes, notes, quotas, pending decisions): requests a minute per key.
    pub staff_write_per_minute: u32,
}

impl Default for GuildApiConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 60_000,
            staff_hot_per_minute: 30_000,
            staff_session_per_minute: 6_000,
            staff_read_per_minute: 600,
            staff_write_per_minute: 300,
        }
    }
}

/// `[servers]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServersConfig {
    /// A game server with no heartbeat (and no websocket) for this long is gone.
    #[serde(with = "humantime_serde")]
    pub dead_after: Duration,
    /// A command handed to a server and not acknowledged within this time is delivered again.
    #[serde(with = "humantime_serde")]
    pub command_visibility: Duration,
    /// A command not acknowledged within this time of being queued expires (logged).
    #[serde(with = "humantime_serde")]
    pub command_ttl: Duration,
    /// Longest `?wait=` a long-poll for commands may ask for.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
}

impl Default for ServersConfig {
    fn default() -> Self {
        Self {
            dead_after: Duration::from_secs(90),
            command_visibility: Duration::from_secs(30),
            command_ttl: Duration::from_secs(300),
            max_wait: Duration::from_secs(25),
        }
    }
}

/// `[discord]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// `host:port` of a Discord-compatible API to call instead of `discord.com` (the
    /// simulator, in tests and `roster dev`). Unset: Discord itself.
    pub proxy: Option<String>,
    /// Talk plain HTTP (not HTTPS) to `proxy`.
    pub use_http: bool,
    /// The bot token guilds use unless they have their own. Without one (and without a
    /// guild token), Discord jobs fail with `DISCORD_NOT_CONFIGURED`.
    pub bot_token: Option<Secret>,
    /// Bound for one HTTP request to Discord.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Bound for one Discord call, rate-limit waits included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Longest a call waits for a rate-limit bucket; past it the call gives up and its job
    /// retries later (or, for sync-all, hands the member back to the queue).
    #[serde(with = "humantime_serde")]
    pub max_rate_limit_wait: Duration,
    /// Requests per second per bot across all routes (Discord's global limit is 50).
    pub global_limit_per_sec: u16,
    /// How long a worker reuses a guild's roles, owner and the bot's own roles.
    #[serde(with = "humantime_serde")]
    pub guild_cache_ttl: Duration,
    /// A guild may start a sync-all once per this interval (`/interactions/sync/all`; 429
    /// with `Retry-After` otherwise). Operators can bypass it through the admin API.
    #[serde(with = "humantime_serde")]
    pub sync_all_interval: Duration,
    /// Batch jobs (50 members each) one sync-all run keeps in flight.
    pub sync_all_concurrency: u32,
    /// How long `/applyRoleChanges` and `/roleChange` wait for the changes before answering
    /// (websites give up after 5 s); changes not finished by then are reported `pending` and
    /// still applied.
    #[serde(with = "humantime_serde")]
    pub role_bridge_deadline: Duration,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            proxy: None,
            use_http: false,
            bot_token: None,
            timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(15),
            global_limit_per_sec: 50,
            guild_cache_ttl: Duration::from_secs(60),
            sync_all_interval: Duration::from_secs(3600),
            sync_all_concurrency: 4,
            role_bridge_deadline: Duration::from_secs(4),
        }
    }
}

/// `[scheduler]`: six-field cron expressions (`sec min hour day month weekday`), UTC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Remove finished tasks from the queue backend.
    pub vacuum: String,
    /// Forget Idempotency-Keys older than `server.idempotency_ttl` and job records older than
    /// `server.job_retention`.
    pub purge: String,
    /// End bans and mutes whose time is up (audit entries, unmute commands).
    pub moderation: String,
    /// Drop dead game servers, expire old commands, wake servers whose commands are due again.
    pub servers: String,
    /// Record the end of leaves of absence and strikes whose time is up (audit entries).
    pub staff: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            vacuum: "0 * * * * *".into(),
            purge: "30 */10 * * * *".into(),
            moderation: "*/5 * * * * *".into(),
            servers: "*/5 * * * * *".into(),
            staff: "15 * * * * *".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `roster=debug,warn`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be parsed into the typed config.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value parsed but is not acceptable.
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid {
        /// Dotted key, e.g. `queue.concurrency`.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The config file named explicitly does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl Config {
    /// Loads defaults, then `file` (if given, it must exist; otherwise `./roster.toml` if
    /// present), then `ROSTER_*` variables from `env`, and validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = toml::Value::try_from(Config::default())
            .map_err(|e| ConfigError::Parse(format!("defaults do not serialize: {e}")))?;
        let mut tree = defaults.clone();
        let file = match file {
            Some(p) if !p.exists() => return Err(ConfigError::MissingFile(p.to_path_buf())),
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("roster.toml")).filter(|p| p.exists()),
        };
        if let Some(p) = file {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| ConfigError::Parse(format!("cannot read {}: {e}", p.display())))?;
            let parsed: toml::Value = toml::from_str(&text)
                .map_err(|e| ConfigError::Parse(format!("{}: {e}", p.display())))?;
            merge(&mut tree, parsed);
        }
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("ROSTER_") && k.contains("__"))
            .collect();
        vars.sort();
        for (k, v) in vars {
            let path: Vec<String> = k["ROSTER_".len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            let typed = typed_env_value(&defaults, &path, &v);
            set_path(&mut tree, &path, typed);
        }
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Parse(format!("`{path}`: {}", e.inner()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &'static str, problem: impl Into<String>) -> ConfigError {
            ConfigError::Invalid {
                key,
                problem: problem.into(),
            }
        }
        let q = &self.queue;
        if q.concurrency == 0 || q.concurrency > 10_000 {
            return Err(bad("queue.concurrency", "must be between 1 and 10000"));
        }
        if q.max_attempts == 0 || q.max_attempts > 100 {
            return Err(bad("queue.max_attempts", "must be between 1 and 100"));
        }
        if q.max_interruptions == 0 || q.max_interruptions > 1000 {
            return Err(bad("queue.max_interruptions", "must be between 1 and 1000"));
        }
        if q.missed_heartbeats == 0 {
            return Err(bad("queue.missed_heartbeats", "must be at least 1"));
        }
        if q.heartbeat_interval < Duration::from_millis(100) {
            return Err(bad("queue.heartbeat_interval", "must be at least 100ms"));
        }
        if q.poll_interval.is_zero() || q.poll_interval > Duration::from_secs(60) {
            return Err(bad("queue.poll_interval", "must be between 1ms and 60s"));
        }
        if q.retry_base.is_zero() || q.retry_base > q.retry_max {
            return Err(bad(
                "queue.retry_base",
                "must be positive and not above queue.retry_max",
            ));
        }
        if q.job_timeout < Duration::from_millis(100) {
            return Err(bad("queue.job_timeout", "must be at least 100ms"));
        }
        if let Some(url) = &q.redis_url {
            let parsed = url::Url::parse(url.expose())
                .map_err(|e| bad("queue.redis_url", format!("is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                return Err(bad(
                    "queue.redis_url",
                    "must start with redis://, rediss:// or unix://",
                ));
            }
        }
        if let Some(u) = &self.server.public_url {
            let parsed = url::Url::parse(u)
                .map_err(|e| bad("server.public_url", format!("is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https")
                || parsed.query().is_some()
                || parsed.fragment().is_some()
            {
                return Err(bad(
                    "server.public_url",
                    "must be an http(s) URL without a query or fragment",
                ));
            }
        }
        let base = url::Url::parse(&self.roblox.base_url)
            .map_err(|e| bad("roblox.base_url", format!("is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("roblox.base_url", "must be an http(s) URL"));
        }
        if self.roblox.timeout.is_zero() {
            return Err(bad("roblox.timeout", "must be positive"));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(bad("server.body_limit_bytes", "must be at least 1024"));
        }
        if self.server.admin_body_limit_bytes < self.server.body_limit_bytes {
            return Err(bad(
                "server.admin_body_limit_bytes",
                "must be at least server.body_limit_bytes",
            ));
        }
        if self.server.sync_wait > Duration::from_secs(60) {
            return Err(bad("server.sync_wait", "must be at most 60s"));
        }
        let s = &self.server;
        for (key, d) in [
            ("server.header_read_timeout", s.header_read_timeout),
            ("server.body_read_timeout", s.body_read_timeout),
            ("server.keep_alive_timeout", s.keep_alive_timeout),
        ] {
            if d < Duration::from_millis(10) || d > Duration::from_secs(3600) {
                return Err(bad(key, "must be between 10ms and 1h"));
            }
        }
        if s.keep_alive_timeout > s.header_read_timeout {
            return Err(bad(
                "server.keep_alive_timeout",
                "must not exceed server.header_read_timeout (which also bounds idle connections)",
            ));
        }
        if s.max_connections < 16 {
            return Err(bad("server.max_connections", "must be at least 16"));
        }
        if let Some(k) = &self.security.master_key {
            crate::secrets::MasterKey::parse(k.expose())
                .map_err(|e| bad("security.master_key", e.to_string()))?;
        }
        if let Some(t) = &self.security.admin_token
            && t.expose().len() < 16
        {
            return Err(bad(
                "security.admin_token",
                "must be at least 16 characters",
            ));
        }
        if self.guild_api.rate_limit_per_minute == 0 {
            return Err(bad("guild_api.rate_limit_per_minute", "must be at least 1"));
        }
        for (name, v) in [
            (
                "guild_api.staff_hot_per_minute",
                self.guild_api.staff_hot_per_minute,
            ),
            (
                "guild_api.staff_session_per_minute",
                self.guild_api.staff_session_per_minute,
            ),
            (
                "guild_api.staff_read_per_minute",
                self.guild_api.staff_read_per_minute,
            ),
            (
                "guild_api.staff_write_per_minute",
                self.guild_api.staff_write_per_minute,
            ),
        ] {
            if v == 0 {
                return Err(bad(name, "must be at least 1"));
            }
        }
        let sv = &self.servers;
        if sv.dead_after < Duration::from_secs(5) {
            return Err(bad("servers.dead_after", "must be at least 5s"));
        }
        if sv.command_visibility.is_zero() || sv.command_visibility > sv.command_ttl {
            return Err(bad(
                "servers.command_visibility",
                "must be positive and not above servers.command_ttl",
            ));
        }
        if sv.max_wait > Duration::from_secs(60) {
            return Err(bad("servers.max_wait", "must be at most 60s"));
        }
        let d = &self.discord;
        if let Some(p) = &d.proxy
            && (p.is_empty() || p.contains('/') || p.contains(' '))
        {
            return Err(bad(
                "discord.proxy",
                "must be host:port (no scheme, no path), e.g. 127.0.0.1:7001",
            ));
        }
        if let Some(t) = &d.bot_token {
            let t = t.expose().trim();
            if t.len() < 20 || t.chars().any(char::is_whitespace) {
                return Err(bad(
                    "discord.bot_token",
                    "must be a Discord bot token (at least 20 characters, no spaces, without the `Bot ` prefix)",
                ));
            }
        }
        if d.timeout.is_zero() || d.call_timeout < d.timeout + d.max_rate_limit_wait {
            return Err(bad(
                "discord.call_timeout",
                "must be at least discord.timeout + discord.max_rate_limit_wait",
            ));
        }
        if d.global_limit_per_sec == 0 {
            return Err(bad("discord.global_limit_per_sec", "must be at least 1"));
        }
        if d.sync_all_concurrency == 0 || d.sync_all_concurrency > 64 {
            return Err(bad(
                "discord.sync_all_concurrency",
                "must be between 1 and 64",
            ));
        }
        if d.role_bridge_deadline.is_zero() || d.role_bridge_deadline > Duration::from_secs(30) {
            return Err(bad(
                "discord.role_bridge_deadline",
                "must be between 1ms and 30s (websites give up after 5s)",
            ));
        }
        for (key, expr) in [
            ("scheduler.vacuum", &self.scheduler.vacuum),
            ("scheduler.purge", &self.scheduler.purge),
            ("scheduler.moderation", &self.scheduler.moderation),
            ("scheduler.servers", &self.scheduler.servers),
        ] {
            if expr.parse::<cron::Schedule>().is_err() {
                return Err(bad(
                    key,
                    format!("is not a six-field cron expression: {expr:?}"),
                ));
            }
        }
        if self.log.format == LogFormat::Json && self.log.level.is_empty() {
            return Err(bad("log.level", "must not be empty"));
        }
        Ok(())
    }

    /// Where the embedded SQLite queue lives.
    pub fn sqlite_path(&self) -> PathBuf {
        self.queue
            .sqlite_path
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("queue.sqlite3"))
    }
}

/// Deep-merges `over` into `base` (tables merge, everything else replaces).
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn set_path(tree: &mut toml::Value, path: &[String], value: toml::Value) {
    let mut cur = tree;
    for (i, seg) in path.iter().enumerate() {
        let toml::Value::Table(t) = cur else { return };
        if i + 1 == path.len() {
            t.insert(seg.clone(), value);
            return;
        }
        cur = t
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
}

/// Environment values are strings; read them as the type the default at that key has, so
/// `ROSTER_QUEUE__CONCURRENCY=12` is a number and `ROSTER_SECURITY__ADMIN_TOKEN=1234…` stays
/// a string. A value that does not parse stays a string and fails deserialization with the key
/// named.
fn typed_env_value(defaults: &toml::Value, path: &[String], raw: &str) -> toml::Value {
    let mut cur = Some(defaults);
    for seg in path {
        cur = cur.and_then(|v| v.get(seg));
    }
    match cur {
        Some(toml::Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(raw.to_owned())),
        Some(toml::Value::Boolean(_)) => raw
            .trim()
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .unwrap_or_else(|_| toml::Value::String(raw.to_owned())),
        // Limits are an integer or "unlimited".
        Some(toml::Value::String(s)) if s == "unlimited" => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(raw.to_owned())),
        _ if path
            .last()
            .is_some_and(|k| k == "monthly_requests" || k == "api_keys") =>
        {
            raw.trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .unwrap_or_else(|_| toml::Value::String(raw.to_owned()))
        }
        _ => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.queue.max_attempts, 8);
        assert_eq!(c.queue.max_interruptions, 20);
        assert!(c.queue.redis_url.is_none());
    }

    #[test]
    fn env_overrides_and_names_keys() {
        let c = Config::load(
            None,
            env(&[
                ("ROSTER_QUEUE__CONCURRENCY", "12"),
                ("ROSTER_SERVER__SYNC_WAIT", "2s"),
                ("ROSTER_PLANS__STARTER__MONTHLY_REQUESTS", "unlimited"),
            ]),
        )
        .unwrap();
        assert_eq!(c.queue.concurrency, 12);
        assert_eq!(c.server.sync_wait, Duration::from_secs(2));
        assert_eq!(c.plans.starter.monthly_requests, Limit::Unlimited);

        let e = Config::load(None, env(&[("ROSTER_QUEUE__CONCURRENCY", "lots")])).unwrap_err();
        assert!(e.to_string().contains("queue.concurrency"), "{e}");
        let e = Config::load(None, env(&[("ROSTER_QUEUE__CONCURRENCY", "0")])).unwrap_err();
        assert!(e.to_string().contains("queue.concurrency"), "{e}");
        let e = Config::load(None, env(&[("ROSTER_QUEUE__REDIS_URL", "http://x")])).unwrap_err();
        assert!(e.to_string().contains("queue.redis_url"), "{e}");
        let c = Config::load(
            None,
            env(&[
                ("ROSTER_SERVER__HEADER_READ_TIMEOUT", "8s"),
                ("ROSTER_SERVER__MAX_CONNECTIONS", "64"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(8));
        assert_eq!(c.server.max_connections, 64);
        let e =
            Config::load(None, env(&[("ROSTER_SERVER__KEEP_ALIVE_TIMEOUT", "20s")])).unwrap_err();
        assert!(e.to_string().contains("server.keep_alive_timeout"), "{e}");
        let e = Config::load(None, env(&[("ROSTER_SERVER__MAX_CONNECTIONS", "2")])).unwrap_err();
        assert!(e.to_string().contains("server.max_connections"), "{e}");
        let e = Config::load(None, env(&[("ROSTER_QUEUE__MAX_INTERRUPTIONS", "0")])).unwrap_err();
        assert!(e.to_string().contains("queue.max_interruptions"), "{e}");
        let e = Config::load(None, env(&[("ROSTER_SERVER__NOPE", "1")])).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn public_url_is_an_http_url_without_query() {
        let c = Config::load(
            None,
            env(&[(
                "ROSTER_SERVER__PUBLIC_URL",
                "https://roster.example.com/base",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.server.public_url.as_deref(),
            Some("https://roster.example.com/base")
        );
        for bad in [
            "roster.example.com",
            "ftp://x",
            "https://x/?a=1",
            "https://x/#f",
        ] {
            let e = Config::load(None, env(&[("ROSTER_SERVER__PUBLIC_URL", bad)])).unwrap_err();
            assert!(e.to_string().contains("server.public_url"), "{bad}: {e}");
        }
    }

    #[test]
    fn toml_file_is_read() {
        let dir = std::env::temp_dir().join(format!("roster-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("roster.toml");
        std::fs::write(
            &p,
            "[server]\nlisten = \"127.0.0.1:9999\"\n[queue]\nmax_attempts = 3\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), env(&[("ROSTER_QUEUE__MAX_ATTEMPTS", "4")])).unwrap();
        assert_eq!(c.server.listen.port(), 9999);
        assert_eq!(c.queue.max_attempts, 4, "environment wins over the file");
        std::fs::write(&p, "[server]\nlisten = \"nowhere\"\n").unwrap();
        let e = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(e.to_string().contains("server.listen"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
