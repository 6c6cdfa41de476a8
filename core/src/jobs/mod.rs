//! Durable jobs in the control plane: what a job is (from `roster_jobs::jobs`, re-exported
//! here), how the control plane submits it (an outbox in the store,
//! written in the same transaction as the state change), how the relay hands it to the queue
//! backend, and how outcomes come back and are recorded.
//!
//! ```text
//!  API ──(one store txn: state + job record + outbox)──▶ sled
//!                                                   │ relay (retries while the backend is down)
//!                                                   ▼
//!                                        queue backend (SQLite | Redis) ──▶ workers
//!                                                   ▲                         │
//!        recorder (job record, audit, wake waiters) ◀── outcomes ◀────────────┘
//! ```
//!
//! Delivery is at least once. Handlers converge, and the per-job ledger in the backend (attempt
//! counts, a resolved plan, the final outcome) makes operations that are not naturally
//! idempotent (promote, demote) take effect exactly once even when a worker dies between
//! changing upstream state and acknowledging the task.

pub mod discord;
pub mod facade;
pub mod groups;
pub mod kind;
pub mod moderation;
pub mod order;
pub mod ranking;
pub mod recorder;
pub mod relay;

pub use roster_jobs::jobs::*;
