//! The request log: one entry per `/api` request the simulator answered (or that the client abandoned).

use serde::{Deserialize, Serialize};

use super::Route;
use crate::request_log::Sequenced;

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Increases by one per entry, in the order requests finished; `GET /_sim/log?since=N` returns entries after N.
    pub seq: u64,
    /// When the request arrived (RFC 3339, UTC).
    pub at: String,
    /// The HTTP method.
    pub method: String,
    /// The request path with its query string, as sent.
    pub path: String,
    /// The route the path matched, if any.
    pub route: Option<Route>,
    /// The bot's user id, once its token was accepted.
    pub bot_user_id: Option<u64>,
    /// The status sent; 499 when the client went away before an answer.
    pub status: u16,
    /// The request body: parsed JSON, or the raw text as a JSON string when it is not JSON; `None` when empty.
    pub request_body: Option<serde_json::Value>,
    /// The `X-Audit-Log-Reason` header, URL-decoded (also when the request was refused).
    pub audit_log_reason: Option<String>,
    /// The injected fault that fired, described as e.g. `"status 503 (rule 2)"`.
    pub fault: Option<String>,
    /// Time from arrival to answer, injected latency included.
    pub duration_ms: f64,
    /// The `X-RateLimit-Scope` of a 429 (`user`, `shared` or `global`).
    pub scope: Option<String>,
    /// The Cloudflare page the edge answered with instead of the API: `"1015 banned"` or `"1010 no user agent"`.
    pub cloudflare: Option<String>,
}

impl Sequenced for LogEntry {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }
}

/// This simulator's request log.
pub(crate) type RequestLog = crate::request_log::RequestLog<LogEntry>;
