//! Roster's upstream clients: Roblox Open Cloud (reqwest) and Discord (twilight-http).
//!
//! Each client sits behind a trait so handlers can be exercised against the simulators or a
//! fake, and every failure is classified exactly once, here, into [`UpstreamError`]: a caller
//! never inspects status codes to decide whether to retry.

pub mod discord;
pub mod nameless;
pub mod roblox;

use std::time::Duration;

/// A classified upstream failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// Retrying will not help (bad request, no permission, not found). Fail the job with a
    /// precise code.
    #[error("upstream refused ({status} {code}): {message}")]
    Permanent {
        /// HTTP status (0 when the request never left).
        status: u16,
        /// Upstream's error code.
        code: String,
        /// Upstream's message.
        message: String,
    },
    /// Slow down: retry after `retry_after` when given, else back off exponentially.
    #[error("{message}")]
    RateLimited {
        /// The server's hint, if it sent one.
        retry_after: Option<Duration>,
        /// What was limited.
        message: String,
    },
    /// Probably temporary (5xx, timeout, connection): retry with backoff.
    #[error("{message}")]
    Transient {
        /// HTTP status, if a response came back.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
}

impl UpstreamError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, UpstreamError::Permanent { .. })
    }
}
