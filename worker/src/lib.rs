//! roster-worker: the job handlers and the apalis runtime that runs them, both inside
//! `roster serve` and as standalone `roster worker` processes.
//!
//! Workers never open the store: a job's payload carries what the handler needs, sealed where
//! secret, and outcomes travel back to the control plane through the queue backend.

pub mod jobs;
pub mod pool;
pub mod runtime;

pub use pool::{Source, run};
pub use runtime::{Deps, RetrySettings};
