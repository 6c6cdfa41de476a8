//! The request log: one entry per `/api` request the simulator answered (or that the client abandoned).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Route;

/// Entries kept before the oldest are dropped, so a long benchmark cannot grow the log without bound.
pub(crate) const LOG_CAPACITY: usize = 100_000;

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

#[derive(Default)]
pub(crate) struct RequestLog {
    next_seq: u64,
    entries: VecDeque<LogEntry>,
}

impl RequestLog {
    /// Appends an entry, giving it the next sequence number.
    pub(crate) fn push(&mut self, mut entry: LogEntry) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn since(&self, seq: u64) -> Vec<LogEntry> {
        let start = self.entries.partition_point(|entry| entry.seq <= seq);
        self.entries.range(start..).cloned().collect()
    }

    /// Forgets every entry; sequence numbers keep increasing.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
