//! Fault injection: rules that make matching Discord requests fail, get rate limited, slow down or hang.

use serde::{Deserialize, Serialize};

use super::Route;
use crate::faults::Rule;

/// Makes matching `/api/v10` requests misbehave. Every matcher is optional (`None` matches anything).
///
/// Rules are checked after authentication and after the request has been counted against the global limit and its
/// bucket (a gateway counts requests before the backend fails them), oldest rule first; the first rule that matches
/// fires, and only one rule fires per request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Only requests to this route.
    pub route: Option<Route>,
    /// Only requests with this HTTP method (case-insensitive).
    pub method: Option<String>,
    /// Only requests whose path (with query) contains this text.
    pub path_contains: Option<String>,
    /// What happens to a matching request.
    pub action: FaultAction,
    /// How many matching requests the rule fires for; `None` = until cleared.
    pub times: Option<u32>,
}

/// The scope of an injected 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RateLimitScope {
    /// The bot's own per-route limit: `Remaining: 0`, counted as an invalid request.
    User,
    /// A limit on the resource shared by every app: the bucket's real `Remaining`, not counted as invalid.
    Shared,
    /// The bot's global limit: no bucket headers, `X-RateLimit-Global: true`.
    Global,
}

impl RateLimitScope {
    /// The `X-RateLimit-Scope` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitScope::User => "user",
            RateLimitScope::Shared => "shared",
            RateLimitScope::Global => "global",
        }
    }
}

/// What a [`FaultRule`] does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultAction {
    /// Answer with this status (400–599) and `{"message", "code"}`: `code` defaults to 0; the message is Discord's
    /// for a known code (e.g. 50013 "Missing Permissions", 130000 "API resource is currently overloaded...") and
    /// `"<status>: <reason>"` otherwise. The bucket headers are sent as usual.
    Status {
        /// The HTTP status to send.
        status: u16,
        /// The JSON error code.
        code: Option<u32>,
    },
    /// Answer 429 in the given scope with `retry_after` seconds (`Retry-After` is its ceiling). For `user`, the
    /// bucket headers say `Remaining: 0` and `Reset-After: retry_after`.
    RateLimit {
        /// `user`, `shared` or `global`.
        scope: RateLimitScope,
        /// Seconds, with decimals.
        retry_after: f64,
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
            FaultAction::Status {
                status,
                code: Some(code),
            } => format!("status {status} code {code}"),
            FaultAction::Status { status, code: None } => format!("status {status}"),
            FaultAction::RateLimit { scope, retry_after } => {
                format!("rateLimit {} {retry_after}s", scope.as_str())
            }
            FaultAction::Latency { ms } => format!("latency {ms}ms"),
            FaultAction::Hang => "hang".to_owned(),
        };
        format!("{what} (rule {rule_id})")
    }

    /// Why `POST /_sim/faults` refuses the action, if it does.
    pub(crate) fn invalid_reason(&self) -> Option<String> {
        match self {
            FaultAction::Status { status, .. } if !(400..=599).contains(status) => Some(format!(
                "action.status must be between 400 and 599, got {status}"
            )),
            FaultAction::RateLimit { retry_after, .. }
                if !retry_after.is_finite() || *retry_after < 0.0 || *retry_after > 86_400.0 =>
            {
                Some(format!(
                    "action.retryAfter must be between 0 and 86400 seconds, got {retry_after}"
                ))
            }
            _ => None,
        }
    }
}

impl Rule for FaultRule {
    type Operation = Route;
    type Action = FaultAction;

    fn operation(&self) -> Option<Route> {
        self.route
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
            route: Some(Route::AddMemberRole),
            method: None,
            path_contains: None,
            action: FaultAction::Status {
                status: 503,
                code: None,
            },
            times: Some(1),
        });
        let second = faults.add(FaultRule {
            route: None,
            method: Some("put".into()),
            path_contains: Some("/guilds/7/".into()),
            action: FaultAction::Hang,
            times: None,
        });
        let path = "/api/v10/guilds/7/members/1/roles/2";
        assert_eq!(
            faults.fire(Route::AddMemberRole, "PUT", path).map(|f| f.0),
            Some(first)
        );
        assert_eq!(
            faults.fire(Route::AddMemberRole, "PUT", path).map(|f| f.0),
            Some(second)
        );
        assert_eq!(
            faults.fire(Route::GetGuild, "GET", "/api/v10/guilds/7"),
            None
        );
        faults.clear();
        assert_eq!(faults.fire(Route::AddMemberRole, "PUT", path), None);
    }

    #[test]
    fn actions_use_the_documented_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"route":"addMemberRole","action":{"type":"rateLimit","scope":"shared","retryAfter":1.5},"times":2}"#,
        )
        .expect("valid rule");
        assert_eq!(
            rule.action,
            FaultAction::RateLimit {
                scope: RateLimitScope::Shared,
                retry_after: 1.5
            }
        );
        let status: FaultAction =
            serde_json::from_str(r#"{"type":"status","status":403,"code":50013}"#)
                .expect("valid action");
        assert_eq!(
            status,
            FaultAction::Status {
                status: 403,
                code: Some(50013)
            }
        );
        let hang: FaultAction = serde_json::from_str(r#"{"type":"hang"}"#).expect("valid action");
        assert_eq!(hang, FaultAction::Hang);
    }
}
