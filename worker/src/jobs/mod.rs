//! Job handlers, one module per job family. Every job kind is dispatched in
//! [`crate::runtime`]; add new kinds there and here.

pub mod discord;
pub mod moderation;
pub mod rank;

use roster_core::jobs::ranking::codes;
use roster_upstream::UpstreamError;

use crate::runtime::Failure;

/// Classifies an Open Cloud failure for a job: permanent errors fail at once with a message a
/// group owner can act on; rate limits and transient errors are retried.
pub(crate) fn upstream_failure(e: UpstreamError) -> Failure {
    match e {
        UpstreamError::Permanent {
            status,
            code,
            message,
        } => {
            let msg = match (status, code.as_str()) {
                (401, _) => {
                    "Roblox rejected the group's Open Cloud key (invalid, expired or revoked)"
                        .to_owned()
                }
                (403, "PERMISSION_DENIED") | (403, _) => format!(
                    "Roblox denied the change: the Open Cloud key's owner must hold rank-change permission and outrank both the member and the target role ({message})"
                ),
                (404, _) => format!("Roblox could not find the group or member ({message})"),
                _ => format!("Roblox refused the request ({status} {code}): {message}"),
            };
            Failure::permanent(codes::ROBLOX_API_ERROR, msg)
        }
        UpstreamError::RateLimited {
            retry_after,
            message,
        } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message: format!("{message}; Roblox kept rate limiting"),
            after: retry_after,
        },
        UpstreamError::Transient { message, .. } => Failure::Retry {
            code: codes::ROBLOX_API_ERROR,
            message,
            after: None,
        },
    }
}
