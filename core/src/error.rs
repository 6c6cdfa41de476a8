//! The error type of core's services. Each API family maps these to its own envelope.

use crate::store::StoreError;

/// What went wrong in a core service, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A field has an unacceptable value.
    #[error("`{field}`: {message}")]
    Invalid {
        /// The field, as the caller named it.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A plan limit stops the request.
    #[error("{0}")]
    LimitReached(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed credential could not be opened (wrong master key).
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

impl CoreError {
    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
