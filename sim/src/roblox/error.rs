//! Errors: [`SimError`] for in-process control calls, [`ApiError`] for the Open Cloud v2 error envelope.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http_util::json_response;

/// Why an in-process (or `/_sim`) control call was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The group has not been seeded.
    #[error("group {0} does not exist in the simulator")]
    UnknownGroup(u64),
    /// The role id is not one of the group's roles.
    #[error("role {role_id} does not exist in group {group_id}")]
    UnknownRole {
        /// The group that was searched.
        group_id: u64,
        /// The role id that was not found.
        role_id: u64,
    },
    /// A group seed breaks one of the rules listed on [`GroupSeed`](super::GroupSeed).
    #[error("invalid group seed: {0}")]
    InvalidSeed(String),
    /// The universe has not been seeded.
    #[error("universe {0} does not exist in the simulator")]
    UnknownUniverse(u64),
    /// A universe seed or place breaks one of the rules listed on [`UniverseSeed`](super::UniverseSeed) and
    /// [`RobloxSim::seed_place`](super::RobloxSim::seed_place).
    #[error("invalid universe seed: {0}")]
    InvalidUniverseSeed(String),
    /// A user seed breaks one of the rules listed on [`RobloxSim::seed_user`](super::RobloxSim::seed_user).
    #[error("invalid user seed: {0}")]
    InvalidUser(String),
    /// A join request that cannot be seeded: user id 0, or a group without an ordinary role (between guest
    /// and owner) to give the user on acceptance.
    #[error("invalid join request for user {user_id} in group {group_id}: {reason}")]
    InvalidJoinRequest {
        /// The group concerned.
        group_id: u64,
        /// The requesting user.
        user_id: u64,
        /// What is wrong.
        reason: String,
    },
    /// The user is already a member of the group, so cannot ask to join it.
    #[error("user {user_id} is already a member of group {group_id}")]
    AlreadyMember {
        /// The group concerned.
        group_id: u64,
        /// The member.
        user_id: u64,
    },
    /// The user already has a pending join request for the group (at most one is allowed).
    #[error("user {user_id} already has a pending join request for group {group_id}")]
    DuplicateJoinRequest {
        /// The group concerned.
        group_id: u64,
        /// The requesting user.
        user_id: u64,
    },
    /// A role set that no member may hold (guest role, owner role for a non-owner, owner without the owner role).
    #[error("invalid roles for user {user_id} in group {group_id}: {reason}")]
    InvalidRoles {
        /// The group concerned.
        group_id: u64,
        /// The member concerned.
        user_id: u64,
        /// What is wrong with the role set.
        reason: String,
    },
}

/// An Open Cloud v2 endpoint error: `{"code": "...", "message": "..."}` with the matching HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with the code Open Cloud pairs with `status` (see [`code_for_status`]).
    pub(crate) fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code_for_status(status.as_u16()),
            message: message.into(),
        }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn permission_denied(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn resource_exhausted() -> Self {
        Self::with_status(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Rate limit exceeded for this API key owner.",
        )
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    pub(crate) fn into_response(self) -> Response {
        json_response(
            self.status,
            &ErrorBody {
                code: self.code,
                message: &self.message,
            },
        )
    }
}

/// The Open Cloud error code for an HTTP status (research §1.6). Statuses outside that table map to `UNKNOWN`.
pub(crate) fn code_for_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 | 501 => "NOT_IMPLEMENTED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

/// The gateway's authentication failure: 401 `{"errors":[{"code":0,"message":"Invalid API Key"}]}`.
pub(crate) fn invalid_api_key() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({ "errors": [{ "code": 0, "message": "Invalid API Key" }] }),
    )
}
