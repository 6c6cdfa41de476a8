//! Shield names: flags recorded without a `roblox_username` (most `/shield/import` rows, operator
//! flags) get it from Open Cloud user info (`GET /cloud/v2/users/{id}`), in the background.
//!
//! - **Never on the hot path.** A Shield check or import only *asks* for a name ([`ShieldNames::request`],
//!   which never waits and never fails); one task in the control plane resolves the names one at a
//!   time and writes each into its flag, so the next answer carries it. A check that finds a flag
//!   without a name answers `null` this once.
//! - **Whose key.** The Open Cloud key of the guild that asked (the importing guild, or the guild
//!   whose check found the flag without a name): public user information needs no scope, so the
//!   guild's `openCloudKey` serves. A guild without one asks nothing.
//! - **Cached.** Answers are kept in a [`UserNames`] cache of at most [`CACHE_ENTRIES`] names, each for
//!   [`CACHE_AGE`]; users Roblox does not know are remembered as such for as long.
//! - **Retries.** A name not resolved (rate limited, Roblox unavailable, queue full, a restart) is
//!   asked for again by the next check that finds the flag without one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use roster_core::Ctx;
use roster_core::guilds::{self, GuildRecord};
use roster_core::ids::GuildId;
use roster_upstream::roblox::{RobloxApi, UserNames};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most names the cache holds.
pub const CACHE_ENTRIES: usize = 10_000;
/// How long a cached name (or "no such user") is used.
pub const CACHE_AGE: Duration = Duration::from_secs(24 * 3600);
/// Most names waiting to be resolved; asks beyond it are dropped (a later check asks again).
const QUEUE: usize = 10_000;

/// The handle checks and imports ask through. Cheap to share.
#[derive(Debug)]
pub struct ShieldNames {
    tx: mpsc::Sender<(u64, GuildId)>,
    waiting: Arc<Mutex<HashSet<u64>>>,
}

impl ShieldNames {
    /// Starts the resolver; it runs until `stop`.
    pub fn start(
        ctx: Ctx,
        roblox: Arc<dyn RobloxApi>,
        stop: CancellationToken,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let waiting: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let names = UserNames::new(CACHE_ENTRIES, CACHE_AGE);
        let task = tokio::spawn(run(ctx, roblox, names, rx, waiting.clone(), stop));
        (Arc::new(Self { tx, waiting }), task)
    }

    /// Asks for `user`'s name to be resolved with `guild`'s Open Cloud key. Never waits; a user
    /// already waiting is not queued twice.
    pub fn request(&self, user: u64, guild: GuildId) {
        if !self.waiting.lock().insert(user) {
            return;
        }
        if self.tx.try_send((user, guild)).is_err() {
            self.waiting.lock().remove(&user);
            metrics::counter!("roster_shield_names_dropped_total").increment(1);
        }
    }
}

async fn run(
    ctx: Ctx,
    roblox: Arc<dyn RobloxApi>,
    names: UserNames,
    mut rx: mpsc::Receiver<(u64, GuildId)>,
    waiting: Arc<Mutex<HashSet<u64>>>,
    stop: CancellationToken,
) {
    loop {
        let (user, guild) = tokio::select! {
            next = rx.recv() => match next {
                Some(n) => n,
                None => return,
            },
            _ = stop.cancelled() => return,
        };
        tokio::select! {
            _ = resolve(&ctx, roblox.as_ref(), &names, user, guild) => {}
            _ = stop.cancelled() => return,
        }
        waiting.lock().remove(&user);
    }
}

/// Resolves one name and writes it into the user's flag; failures are logged and left for a
/// later ask.
async fn resolve(ctx: &Ctx, roblox: &dyn RobloxApi, names: &UserNames, user: u64, guild: GuildId) {
    let key = match guilds::get(ctx, guild) {
        Ok(Some(g)) => match &g.moderation.open_cloud_key {
            Some(sealed) => match ctx
                .master
                .open(&GuildRecord::credential_purpose(guild), sealed)
            {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(guild = %guild, error = %e, "cannot open the guild's Open Cloud key");
                    return;
                }
            },
            None => return,
        },
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the guild for a Shield name");
            return;
        }
    };
    match names.get(roblox, key.expose(), user).await {
        Ok(Some(name)) => match roster_core::shield::fill_username(ctx, user, &name) {
            Ok(_) => metrics::counter!("roster_shield_names_resolved_total").increment(1),
            Err(e) => tracing::warn!(user, error = %e, "cannot record a Shield name"),
        },
        Ok(None) => tracing::debug!(user, "Roblox has no such user; the flag keeps no name"),
        Err(e) => {
            tracing::info!(user, error = %e, "Shield name not resolved; a later check asks again")
        }
    }
}
