//! The request log: one entry per Open Cloud request the simulator answered (or that the client abandoned).

use serde::{Deserialize, Serialize};

use super::Endpoint;
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
