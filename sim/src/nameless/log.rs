//! The request log: one entry per request to the site (outside `/_sim`) answered or abandoned by the client.

use serde::{Deserialize, Serialize};

use crate::request_log::Sequenced;

/// One request as the site saw it.
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
    /// The API endpoint the request reached (`info`, `discord/submit-role-list`; `""` for the bare `/api/v2`), or
    /// `None` when it never reached the API (a page, a 404).
    pub endpoint: Option<String>,
    /// The status sent; 499 when the client went away before an answer.
    pub status: u16,
    /// Whether an `Authorization` or `X-API-Key` header was sent.
    pub key_sent: bool,
    /// Whether the key those headers carry, read as the site reads it, is the site's key (whether or not the
    /// endpoint got as far as checking it).
    pub key_valid: bool,
    /// The request body: parsed JSON, or the raw text as a JSON string when it is not JSON; `None` when empty.
    pub request_body: Option<serde_json::Value>,
    /// The injected failure that answered instead of the site, e.g. `"fail-next 503"`.
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
