//! What every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::PrometheusHandle;
use roster_core::Ctx;
use roster_core::secrets::Secret;
use roster_upstream::discord::DiscordApi;
use roster_upstream::roblox::{RobloxApi, RolesCache};

/// Shared handler state. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Core services.
    pub ctx: Ctx,
    /// Open Cloud client (reads only: writes go through jobs).
    pub roblox: Arc<dyn RobloxApi>,
    /// Cached role lists for reads.
    pub roles: RolesCache,
    /// Discord client (reads only: writes go through jobs).
    pub discord: Arc<dyn DiscordApi>,
    /// The deployment's bot token, for guilds without their own.
    pub discord_token: Option<Secret>,
    /// NamelessMC websites (checked when linking; pushes go through jobs).
    pub nameless: roster_upstream::nameless::NamelessClient,
    /// Prometheus renderer.
    pub metrics: Option<PrometheusHandle>,
    /// SHA-256 of the admin token.
    pub admin_token_hash: Arc<String>,
    /// Whether in-process workers are expected, and whether they are running.
    pub workers: Arc<WorkerHealth>,
    /// Per-key limiter of the guild API.
    pub guild_limiter: Arc<crate::guild::KeyLimiter>,
    /// Per-key limiters of the staff routes, by class.
    pub staff_limits: Arc<crate::guild::staff::StaffLimits>,
    /// Resolves the names of Shield flags recorded without one, in the background.
    pub shield_names: Arc<crate::shield_names::ShieldNames>,
    /// The community family's caches (server info, display names).
    pub community: Arc<crate::community::CommunityCaches>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Worker liveness as the control plane sees it (for `/readyz`).
#[derive(Debug, Default)]
pub struct WorkerHealth {
    /// In-process workers are configured.
    pub expected: AtomicBool,
    /// They are running.
    pub running: AtomicBool,
    /// Shutdown has begun.
    pub draining: AtomicBool,
}

impl WorkerHealth {
    /// Whether the worker side is fine for readiness.
    pub fn ok(&self) -> bool {
        !self.expected.load(Ordering::Relaxed) || self.running.load(Ordering::Relaxed)
    }
}
