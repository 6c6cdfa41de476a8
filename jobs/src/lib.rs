//! roster-jobs: Roster's job contract and queue backends, without the store.
//!
//! - [`jobs`]: what a job is (envelope, outcome), the job kinds ([`jobs::kind::Kind`] and the
//!   registration list [`job_kinds!`]), their payloads and results, the ordering subjects, and
//!   the queue backends (SQLite, Redis).
//! - [`config`], [`ids`], [`secrets`], [`rules`], [`bindings`], [`model`]: what payloads and
//!   handlers are made of.
//!
//! Workers depend on this crate and not on `roster-core`: "the worker never opens the store" is
//! a fact of the dependency graph (this crate has no sled).

pub mod bindings;
pub mod config;
pub mod ids;
pub mod jobs;
pub mod model;
pub mod rules;
pub mod secrets;
