//! The request log: one entry per Open Cloud request the simulator answered (or that the client abandoned).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::Endpoint;

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
    /// The operation the path matched, if any.
    pub endpoint: Option<Endpoint>,
    /// The user owning the API key, once the key was accepted.
    pub key_owner: Option<u64>,
    /// The status sent; 499 when the client went away before an answer.
    pub status: u16,
    /// The request body: parsed JSON, or the raw text as a JSON string when it is not JSON; `None` when empty.
    pub request_body: Option<serde_json::Value>,
    /// The injected fault that fired, described as e.g. `"status 503 (rule 2)"`.
    pub fault: Option<String>,
    /// Time from arrival to answer, injected latency included.
    pub duration_ms: f64,
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
