//! Fault injection: rules that make matching Open Cloud requests fail, slow down or hang.

use serde::{Deserialize, Serialize};

use super::Endpoint;
use crate::faults::Rule;

/// Makes matching `/cloud/v2` requests misbehave. Every matcher is optional (`None` matches anything).
///
/// Rules are checked after authentication and after the request has been counted against its rate limit
/// (a gateway counts requests before the backend fails them), oldest rule first; the first rule that matches
/// fires, and only one rule fires per request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Only requests to this operation.
    pub endpoint: Option<Endpoint>,
    /// Only requests with this HTTP method (case-insensitive).
    pub method: Option<String>,
    /// Only requests whose path (with query) contains this text.
    pub path_contains: Option<String>,
    /// What happens to a matching request.
    pub action: FaultAction,
    /// How many matching requests the rule fires for; `None` = until cleared.
    pub times: Option<u32>,
}

/// What a [`FaultRule`] does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultAction {
    /// Answer with this status and the v2 error body: 500 → `INTERNAL`, 503 → `UNAVAILABLE`,
    /// 409 → `ABORTED`, 400 → `INVALID_ARGUMENT`, 403 → `PERMISSION_DENIED`, 404 → `NOT_FOUND`,
    /// 429 → `RESOURCE_EXHAUSTED`, 499 → `CANCELLED`, 501 → `NOT_IMPLEMENTED`, any other → `UNKNOWN`;
    /// 401 sends the gateway's `Invalid API Key` body instead. A status outside 400–599 is answered as 500
    /// (`POST /_sim/faults` refuses one).
    Status {
        /// The HTTP status to send.
        status: u16,
    },
    /// Answer 429 `RESOURCE_EXHAUSTED` with the usual `x-ratelimit-*` headers (whose `remaining` may well be
    /// non-zero, as observed live), and `retry-after` only when `retry_after_secs` is set.
    RateLimit {
        /// The `retry-after` header value, if any.
        retry_after_secs: Option<u32>,
    },
    /// Wait this long, then handle the request normally.
    Latency {
        /// The delay in milliseconds.
        ms: u64,
    },
    /// Never answer: hold the request until the client gives up or the server shuts down (then 503).
    Hang,
}

impl FaultAction {
    /// The short description recorded in the request log.
    pub(crate) fn describe(&self, rule_id: u64) -> String {
        let what = match self {
            FaultAction::Status { status } => format!("status {status}"),
            FaultAction::RateLimit {
                retry_after_secs: Some(secs),
            } => format!("rateLimit retry-after {secs}"),
            FaultAction::RateLimit {
                retry_after_secs: None,
            } => "rateLimit".to_owned(),
            FaultAction::Latency { ms } => format!("latency {ms}ms"),
            FaultAction::Hang => "hang".to_owned(),
        };
        format!("{what} (rule {rule_id})")
    }
}

impl Rule for FaultRule {
    type Operation = Endpoint;
    type Action = FaultAction;

    fn operation(&self) -> Option<Endpoint> {
        self.endpoint
    }

    fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    fn path_contains(&self) -> Option<&str> {
        self.path_contains.as_deref()
    }

    fn action(&self) -> &FaultAction {
        &self.action
    }

    fn times(&self) -> Option<u32> {
        self.times
    }
}

/// This simulator's installed rules.
pub(crate) type Faults = crate::faults::Faults<FaultRule>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_in_order_and_run_out() {
        let mut faults = Faults::default();
        let first = faults.add(FaultRule {
            endpoint: Some(Endpoint::AssignRole),
            method: None,
            path_contains: None,
            action: FaultAction::Status { status: 503 },
            times: Some(1),
        });
        let second = faults.add(FaultRule {
            endpoint: None,
            method: Some("post".into()),
            path_contains: Some("/groups/7/".into()),
            action: FaultAction::Hang,
            times: None,
        });
        let path = "/cloud/v2/groups/7/memberships/1:assignRole";
        assert_eq!(
            faults.fire(Endpoint::AssignRole, "POST", path).map(|f| f.0),
            Some(first)
        );
        assert_eq!(
            faults.fire(Endpoint::AssignRole, "POST", path).map(|f| f.0),
            Some(second)
        );
        assert_eq!(
            faults.fire(Endpoint::GetGroup, "GET", "/cloud/v2/groups/7"),
            None
        );
        faults.clear();
        assert_eq!(faults.fire(Endpoint::AssignRole, "POST", path), None);
    }

    #[test]
    fn actions_use_the_documented_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"endpoint":"assignRole","action":{"type":"rateLimit","retryAfterSecs":3},"times":2}"#,
        )
        .expect("valid rule");
        assert_eq!(
            rule.action,
            FaultAction::RateLimit {
                retry_after_secs: Some(3)
            }
        );
        let hang: FaultAction = serde_json::from_str(r#"{"type":"hang"}"#).expect("valid action");
        assert_eq!(hang, FaultAction::Hang);
    }
}
