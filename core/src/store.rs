//! The `Store`: named trees of ordered keys, atomic multi-tree transactions, and durable
//! group-committed flushes. sled is the only implementation; nothing outside this module names
//! it.
//!
//! Keys are big-endian encodings of ids, so range scans come out in id order. Values are JSON
//! (small records, easy to inspect and to evolve with `#[serde(default)]`).
//!
//! Durability: sled only guarantees what has been flushed. Every write a caller is told
//! succeeded goes through [`Store::durable`] before the 2xx. Flushes are group-committed: one
//! background thread flushes, and every writer waiting at that moment is released by the same
//! fsync.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// The store's trees. The names are on-disk identifiers: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// Group id → group record.
    Groups,
    /// Key id → API key record.
    ApiKeys,
    /// SHA-256 of a key → key id.
    ApiKeyHashes,
    /// Group id ‖ user id → blacklist entry.
    Blacklist,
    /// Group id ‖ period → request count.
    Usage,
    /// Scope ‖ SHA-256(key) → idempotency record.
    Idempotency,
    /// Job id → job record.
    Jobs,
    /// Job id → () for dead-lettered jobs.
    DeadJobs,
    /// Sequence → outbox entry (jobs accepted but not yet handed to the queue backend).
    Outbox,
    /// Tenant ‖ sequence → audit entry.
    Audit,
    /// Misc singletons (schema version, admin token hash).
    Meta,
    /// Guild id → guild record.
    Guilds,
    /// Group id ‖ guild id → () for guilds linked to a group.
    GroupLinks,
    /// Guild id ‖ record id → ban or mute record.
    Moderation,
    /// Roblox user id → Shield flag.
    Shield,
    /// Guild id ‖ universe id ‖ place id → registered game.
    Games,
    /// Guild id ‖ server key ‖ command sequence → queued command for a game server.
    Commands,
    /// Guild id ‖ Discord user id → account link.
    Links,
    /// Guild id ‖ Roblox user id ‖ Discord user id → () (reverse index of `Links`).
    LinksByRoblox,
    /// Guild id ‖ binding id → role binding.
    Bindings,
    /// Guild id → the guild's latest sync-all run.
    SyncRuns,
    /// Subject (`rank:{group}:{user}`, `member:{guild}:{user}`…) → its order counters (see
    /// `jobs::order`).
    Subjects,
    /// Guild id → the community API's settings (medals, certifications, EP thresholds, XP ranks).
    CommunitySettings,
    /// Guild id ‖ Roblox user id → the user's XP, EP, medals and certifications.
    CommunityMembers,
    /// Guild id ‖ SHA-256(reference) → the XP change a `reference` made.
    CommunityRefs,
    /// Guild id ‖ leave id → leave of absence.
    Leave,
    /// Guild id ‖ person (`d` or `r` and a Discord or Roblox id) → that person's leave ids.
    LeaveByUser,
    /// Guild id ‖ strike id → staff strike.
    StaffStrikes,
    /// Guild id ‖ note id → staff note.
    StaffNotes,
    /// Session id (ULID) → in-game staff session.
    StaffSessions,
    /// Guild id ‖ Roblox id ‖ server id → the open session's id (live or not yet closed).
    OpenSessions,
    /// Guild id → staff settings (roles, time zone, week start); guild id ‖ `v` → the guild's
    /// staff version (bumped by every change to settings, members or links).
    StaffSettings,
    /// Guild id ‖ Discord id → staff member (a member holding a staff role).
    StaffMembers,
    /// Guild id ‖ action id → staff activity (moderation and custom actions).
    StaffActivity,
    /// Guild id ‖ period bucket ‖ Discord id → counters of that period (0: the guild's totals).
    StaffCounters,
    /// Guild id ‖ quota id → quota.
    StaffQuotas,
    /// Guild id ‖ pending action id → an action awaiting approval (a missed quota).
    StaffPending,
}

impl Tree {
    /// All trees, in a fixed order.
    pub const ALL: [Tree; 37] = [
        Tree::Groups,
        Tree::ApiKeys,
        Tree::ApiKeyHashes,
        Tree::Blacklist,
        Tree::Usage,
        Tree::Idempotency,
        Tree::Jobs,
        Tree::DeadJobs,
        Tree::Outbox,
        Tree::Audit,
        Tree::Meta,
        Tree::Guilds,
        Tree::GroupLinks,
        Tree::Moderation,
        Tree::Shield,
        Tree::Games,
        Tree::Commands,
        Tree::Links,
        Tree::LinksByRoblox,
        Tree::Bindings,
        Tree::SyncRuns,
        Tree::Subjects,
        Tree::CommunitySettings,
        Tree::CommunityMembers,
        Tree::CommunityRefs,
        Tree::Leave,
        Tree::LeaveByUser,
        Tree::StaffStrikes,
        Tree::StaffNotes,
        Tree::StaffSessions,
        Tree::OpenSessions,
        Tree::StaffSettings,
        Tree::StaffMembers,
        Tree::StaffActivity,
        Tree::StaffCounters,
        Tree::StaffQuotas,
        Tree::StaffPending,
    ];

    fn name(self) -> &'static str {
        match self {
            Tree::Groups => "groups",
            Tree::ApiKeys => "api_keys",
            Tree::ApiKeyHashes => "api_key_hashes",
            Tree::Blacklist => "blacklist",
            Tree::Usage => "usage",
            Tree::Idempotency => "idempotency",
            Tree::Jobs => "jobs",
            Tree::DeadJobs => "dead_jobs",
            Tree::Outbox => "outbox",
            Tree::Audit => "audit",
            Tree::Meta => "meta",
            Tree::Guilds => "guilds",
            Tree::GroupLinks => "group_links",
            Tree::Moderation => "moderation",
            Tree::Shield => "shield",
            Tree::Games => "games",
            Tree::Commands => "commands",
            Tree::Links => "links",
            Tree::LinksByRoblox => "links_by_roblox",
            Tree::Bindings => "bindings",
            Tree::SyncRuns => "sync_runs",
            Tree::Subjects => "subjects",
            Tree::CommunitySettings => "community_settings",
            Tree::CommunityMembers => "community_members",
            Tree::CommunityRefs => "community_refs",
            Tree::Leave => "leave",
            Tree::LeaveByUser => "leave_by_user",
            Tree::StaffStrikes => "staff_strikes",
            Tree::StaffNotes => "staff_notes",
            Tree::StaffSessions => "staff_sessions",
            Tree::OpenSessions => "open_sessions",
            Tree::StaffSettings => "staff_settings",
            Tree::StaffMembers => "staff_members",
            Tree::StaffActivity => "staff_activity",
            Tree::StaffCounters => "staff_counters",
            Tree::StaffQuotas => "staff_quotas",
            Tree::StaffPending => "staff_pending",
        }
    }

    fn index(self) -> usize {
        Tree::ALL
            .iter()
            .position(|t| *t == self)
            .expect("every tree is in ALL")
    }
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is held by another process.
    #[error(
        "the data directory {0} is in use by another Roster process (sled allows one process per data directory); stop it or choose another --data-dir"
    )]
    Locked(String),
    /// sled reported corruption at open.
    #[error(
        "the store in {path} is corrupted ({detail}); restore it from a backup or move it aside to start empty"
    )]
    Corrupt {
        /// The data directory.
        path: String,
        /// sled's description.
        detail: String,
    },
    /// Any other I/O or storage failure.
    #[error("store error: {0}")]
    Io(String),
    /// A stored value failed to decode.
    #[error("stored value in tree {tree} is unreadable: {detail}")]
    Decode {
        /// Tree name.
        tree: &'static str,
        /// serde's description.
        detail: String,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// Key/value pairs, as scans return them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads and writes inside one transaction.
pub trait Txn {
    /// Reads a key (sees this transaction's own writes).
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a key.
    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    /// Deletes a key.
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError>;
}

/// Typed helpers on any [`Txn`].
pub trait TxnExt: Txn {
    /// Reads and decodes a JSON value.
    fn get_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(tree, key)?.map(|v| decode(tree, &v)).transpose()
    }
    /// Encodes and writes a JSON value.
    fn put_json<T: Serialize>(&self, tree: Tree, key: &[u8], value: &T) -> Result<(), StoreError> {
        self.insert(tree, key, encode(value))
    }
}

impl<T: Txn + ?Sized> TxnExt for T {}

/// The storage interface the rest of core uses.
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Key/value pairs whose key starts with `prefix`, in key order (reversed if `rev`),
    /// starting strictly after `after` when given, at most `limit`.
    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
        rev: bool,
    ) -> Result<Entries, StoreError>;
    /// Runs `f` atomically over all trees. `f` may run more than once on conflicts, so it must
    /// only communicate through its return value.
    fn transact_dyn(
        &self,
        f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Writes one key outside a transaction (not yet durable).
    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    /// Deletes one key outside a transaction (not yet durable).
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError>;
    /// A monotonic id (unique across restarts).
    fn next_id(&self) -> Result<u64, StoreError>;
    /// Number of keys in a tree (walks the tree: for metrics and tests, not hot paths).
    fn len(&self, tree: Tree) -> usize;
    /// Makes every write that happened before this call durable (group commit).
    fn durable(&self) -> futures::future::BoxFuture<'static, Result<(), StoreError>>;
    /// Flushes synchronously (shutdown).
    fn flush_blocking(&self) -> Result<(), StoreError>;
}

/// Typed helpers on any [`Store`].
pub trait StoreExt: Store {
    /// Runs `f` in a transaction and returns its result.
    fn transact<T>(
        &self,
        mut f: impl FnMut(&dyn Txn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut out = None;
        self.transact_dyn(&mut |tx| {
            out = Some(f(tx)?);
            Ok(())
        })?;
        Ok(out.expect("a committed transaction ran its closure"))
    }
    /// Reads and decodes a JSON value.
    fn get_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get(tree, key)?.map(|v| decode(tree, &v)).transpose()
    }
    /// Encodes and writes a JSON value (not yet durable).
    fn put_json<T: Serialize>(&self, tree: Tree, key: &[u8], value: &T) -> Result<(), StoreError> {
        self.insert(tree, key, encode(value))
    }
    /// Decoded values under a prefix.
    fn scan_json<T: DeserializeOwned>(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.scan(tree, prefix, after, limit, rev)?
            .into_iter()
            .map(|(k, v)| Ok((k, decode(tree, &v)?)))
            .collect()
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize to JSON")
}

/// Decodes a record.
pub fn decode<T: DeserializeOwned>(tree: Tree, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        tree: tree.name(),
        detail: e.to_string(),
    })
}

/// Key-building helpers: concatenations of big-endian fields.
pub mod keys {
    /// `a ‖ b` for two u64s.
    pub fn pair(a: u64, b: u64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&a.to_be_bytes());
        k[8..].copy_from_slice(&b.to_be_bytes());
        k
    }

    /// `prefix ‖ rest`.
    pub fn cat(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(prefix.len() + rest.len());
        k.extend_from_slice(prefix);
        k.extend_from_slice(rest);
        k
    }
}

/// The sled-backed store.
pub struct SledStore {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    flusher: Arc<Flusher>,
    flush_thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

struct FlushState {
    /// Highest write generation requested to be durable.
    requested: u64,
    /// Highest generation known durable.
    done: u64,
    /// Last flush error, reported to the waiters of that round.
    error: Option<String>,
    stop: bool,
}

/// A writer waiting for its generation to be flushed.
type FlushWaiter = (u64, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Group commit: writers bump `requested` and wait; one thread flushes in rounds.
struct Flusher {
    state: Mutex<FlushState>,
    wake_flusher: Condvar,
    generation: AtomicU64,
    waiters: Mutex<Vec<FlushWaiter>>,
}

impl SledStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("store");
        let db = sled::Config::new()
            .path(&path)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| classify_open_error(&path, e))?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let flusher = Arc::new(Flusher {
            state: Mutex::new(FlushState {
                requested: 0,
                done: 0,
                error: None,
                stop: false,
            }),
            wake_flusher: Condvar::new(),
            generation: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
        });
        let f = flusher.clone();
        let flush_db = db.clone();
        let flush_thread = std::thread::Builder::new()
            .name("roster-store-flush".into())
            .spawn(move || flush_loop(f, flush_db))
            .map_err(|e| StoreError::Io(format!("cannot start flush thread: {e}")))?;
        Ok(Self {
            db,
            trees,
            flusher,
            flush_thread: Some(flush_thread),
        })
    }

    fn tree(&self, t: Tree) -> &sled::Tree {
        &self.trees[t.index()]
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.flusher.state.lock().stop = true;
        self.flusher.wake_flusher.notify_all();
        let _ = self.db.flush();
        // The flush thread holds a handle on the database; wait for it so the data directory
        // is released (and can be reopened) when the store is gone.
        if let Some(t) = self.flush_thread.take() {
            let _ = t.join();
        }
    }
}

fn classify_open_error(path: &Path, e: sled::Error) -> StoreError {
    let shown = path.display().to_string();
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            path: shown,
            detail: e.to_string(),
        },
        sled::Error::Io(ref io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("lock")
                || io.raw_os_error() == Some(11) =>
        {
            StoreError::Locked(shown)
        }
        other => StoreError::Io(format!("cannot open store at {shown}: {other}")),
    }
}

fn flush_loop(f: Arc<Flusher>, db: sled::Db) {
    loop {
        let target = {
            let mut st = f.state.lock();
            while st.requested <= st.done && !st.stop {
                f.wake_flusher.wait(&mut st);
            }
            if st.stop && st.requested <= st.done {
                return;
            }
            st.requested
        };
        let started = std::time::Instant::now();
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        metrics::histogram!("roster_store_flush_seconds").record(started.elapsed().as_secs_f64());
        {
            let mut st = f.state.lock();
            st.done = st.done.max(target);
            st.error = result.as_ref().err().cloned();
        }
        let mut waiters = f.waiters.lock();
        let mut i = 0;
        while i < waiters.len() {
            if waiters[i].0 <= target {
                let (_, tx) = waiters.swap_remove(i);
                let _ = tx.send(result.clone());
            } else {
                i += 1;
            }
        }
    }
}

struct SledTxn<'a> {
    views: &'a [TransactionalTree],
}

fn txn_err(e: sled::transaction::UnabortableTransactionError) -> StoreError {
    StoreError::Io(format!("transaction: {e}"))
}

impl Txn for SledTxn<'_> {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.views[tree.index()]
            .get(key)
            .map(|o| o.map(|v| v.to_vec()))
            .map_err(txn_err)
    }
    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.views[tree.index()]
            .insert(key, value)
            .map(|_| ())
            .map_err(txn_err)
    }
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
        self.views[tree.index()]
            .remove(key)
            .map(|_| ())
            .map_err(txn_err)
    }
}

impl Store for SledStore {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        tree: Tree,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
        rev: bool,
    ) -> Result<Entries, StoreError> {
        let t = self.tree(tree);
        let mut out = Vec::new();
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match (after, rev) {
                (None, false) => Box::new(t.scan_prefix(prefix)),
                (None, true) => Box::new(t.scan_prefix(prefix).rev()),
                (Some(a), false) => {
                    let start = std::ops::Bound::Excluded(a.to_vec());
                    Box::new(
                        t.range::<Vec<u8>, _>((start, std::ops::Bound::Unbounded))
                            .take_while({
                                let p = prefix.to_vec();
                                move |r| r.as_ref().map(|(k, _)| k.starts_with(&p)).unwrap_or(true)
                            }),
                    )
                }
                (Some(a), true) => {
                    let end = std::ops::Bound::Excluded(a.to_vec());
                    Box::new(
                        t.range::<Vec<u8>, _>((std::ops::Bound::Unbounded, end))
                            .rev()
                            .take_while({
                                let p = prefix.to_vec();
                                move |r| r.as_ref().map(|(k, _)| k.starts_with(&p)).unwrap_or(true)
                            }),
                    )
                }
            };
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                continue;
            }
            out.push((k.to_vec(), v.to_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn transact_dyn(
        &self,
        f: &mut dyn FnMut(&dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let cell = RefCell::new(f);
        let res: Result<(), TransactionError<StoreError>> =
            self.trees.as_slice().transaction(|views| {
                let txn = SledTxn { views };
                let mut f = cell.borrow_mut();
                (f)(&txn).map_err(ConflictableTransactionError::Abort)
            });
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    fn insert(&self, tree: Tree, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.tree(tree).insert(key, value)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
        self.tree(tree).remove(key)?;
        Ok(())
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1)
    }

    fn len(&self, tree: Tree) -> usize {
        self.tree(tree).len()
    }

    fn durable(&self) -> futures::future::BoxFuture<'static, Result<(), StoreError>> {
        let generation = self.flusher.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flusher.waiters.lock().push((generation, tx));
        {
            let mut st = self.flusher.state.lock();
            st.requested = st.requested.max(generation);
        }
        self.flusher.wake_flusher.notify_one();
        Box::pin(async move {
            match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(StoreError::Io(format!("flush failed: {e}"))),
                Err(_) => Err(StoreError::Io("store closed before flushing".into())),
            }
        })
    }

    fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}
