//! roster-core: Roster's domain model and the machinery under it.
//!
//! Machinery, at the top:
//!
//! - [`config`]: the typed configuration (defaults → `roster.toml` → `ROSTER_*`).
//! - [`store`]: the `Store` trait over sled, with group-committed durable flushes.
//! - [`secrets`]: the master key, sealed credentials, token hashing.
//! - [`audit`], [`clock`], [`context`], [`error`]: the audit log, time, the request context,
//!   the error type.
//!
//! Features, one folder each (every module is also re-exported at the crate root, so
//! `roster_core::apikeys` and `roster_core::groups::apikeys` are the same module):
//!
//! - `groups/`: [`groups`] with [`apikeys`], [`usage`], [`idempotency`] and [`ranking`] (the
//!   checks and the single write behind a rank, promote or demote request); [`rules`] come from
//!   `roster-jobs`.
//! - `guilds/`: [`guilds`] with [`links`] (account links), [`bindings`] (role bindings) and
//!   [`syncs`] (role sync and sync-all runs).
//! - `community/`: [`community`], the community API's XP, EP, medals and certifications, with
//!   [`leave`] (leave of absence, shared with the staff API).
//! - `moderation/`: [`moderation`] (bans and mutes with their hot-path index) with [`shield`]
//!   (the cross-guild Shield list).
//! - `servers/`: [`servers`], game servers (registered games, the live-server registry) and
//!   their command queues.
//! - [`staff`]: staff strikes and notes (the guild API's staff routes; leave is [`leave`]).
//! - `jobs/`: [`jobs`], the durable job facade (outbox → queue backend → workers → outcomes).
//!
//! [`config`], [`ids`], [`secrets`], [`rules`] and the job contract come from `roster-jobs`
//! (the crate workers build on, without the store) and are re-exported here.
//!
//! This crate knows no web framework and no upstream service.

// Machinery.
pub mod audit;
pub mod clock;
pub mod context;
pub mod error;
pub mod store;

// Features, one folder each.
pub mod community;
pub mod groups;
pub mod guilds;
pub mod jobs;
pub mod moderation;
pub mod servers;
pub mod staff;

// Every module keeps its path at the crate root.
pub use community::leave;
pub use groups::{apikeys, idempotency, ranking, usage};
pub use guilds::{bindings, links, syncs};
pub use moderation::shield;
pub use roster_jobs::{config, ids, rules, secrets};

pub use context::Ctx;
pub use error::CoreError;
