//! roster-core: Roster's domain model and the machinery under it.
//!
//! - [`config`]: the typed configuration (defaults → `roster.toml` → `ROSTER_*`).
//! - [`store`]: the `Store` trait over sled, with group-committed durable flushes.
//! - [`secrets`]: the master key, sealed credentials, token hashing.
//! - [`groups`], [`rules`], [`apikeys`], [`usage`], [`idempotency`], [`audit`]: the tenants and
//!   their rules.
//! - [`ranking`]: the checks and the single write behind a rank, promote or demote request.
//! - [`guilds`], [`moderation`], [`servers`], [`shield`]: the guild side (bans and mutes with
//!   their hot-path index, game servers and their command queues, the cross-guild Shield list).
//! - [`jobs`]: the durable job facade (outbox → queue backend → workers → outcomes).
//!
//! [`config`], [`ids`], [`secrets`], [`rules`] and the job contract come from `roster-jobs`
//! (the crate workers build on, without the store) and are re-exported here.
//!
//! This crate knows no web framework and no upstream service.

pub mod apikeys;
pub mod audit;
pub mod bindings;
pub mod clock;
pub mod context;
pub mod error;
pub mod groups;
pub mod guilds;
pub mod idempotency;
pub mod jobs;
pub mod links;
pub mod moderation;
pub mod ranking;
pub mod servers;
pub mod shield;
pub mod store;
pub mod syncs;
pub mod usage;

pub use roster_jobs::{config, ids, rules, secrets};

pub use context::Ctx;
pub use error::CoreError;
