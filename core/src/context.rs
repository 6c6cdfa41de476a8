//! The shared context of the control plane's services.

use std::sync::Arc;

use crate::apikeys::KeyCache;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::jobs::backend::QueueBackend;
use crate::jobs::facade::{Jobs, Staging};
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError, Txn};

/// Everything a core service needs. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    /// Configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: SharedClock,
    /// Seals and opens credentials.
    pub master: MasterKey,
    /// Job submission.
    pub jobs: Arc<Jobs>,
    /// The queue backend (for live job status).
    pub backend: Arc<dyn QueueBackend>,
    /// API key lookups.
    pub keys: Arc<KeyCache>,
    /// Active bans and mutes (the hot path reads this).
    pub moderation: Arc<crate::moderation::ModIndex>,
    /// Who is staff, per guild, in memory.
    pub staff: Arc<crate::staff::StaffIndex>,
    /// Live game servers, command wake-ups, websockets.
    pub servers: Arc<crate::servers::ServerHub>,
}

impl Ctx {
    /// Commits a state change and the jobs it stages in one write, flushed, with the relay
    /// woken (see [`crate::jobs::facade::commit`]).
    pub async fn commit<T>(
        &self,
        f: impl FnMut(&dyn Txn, &mut Staging) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        crate::jobs::facade::commit(self.store.as_ref(), &self.jobs, f).await
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("backend", &self.backend.kind())
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}
