//! Errors of the service layer. Each surface maps them to its own responses in one place.

use keygate_domain::{DescriptionError, LifetimeError, SpecError, TagError, UserNameError};
use keygate_store::StoreError;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request was malformed; the message says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// The thing named does not exist. `what` is e.g. "auth key", `id` what was asked for.
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    /// Creating something that already exists.
    #[error("{what} {id:?} already exists")]
    AlreadyExists { what: &'static str, id: String },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Credentials were missing or not accepted. The message is deliberately uniform.
    #[error("invalid or missing credentials")]
    Unauthenticated,
    /// The storage failed; details are logged, not shown.
    #[error("storage failure")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

macro_rules! invalid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ServiceError {
            fn from(e: $t) -> Self {
                ServiceError::Invalid(e.to_string())
            }
        }
    )*};
}
invalid_from!(LifetimeError, TagError, DescriptionError, SpecError, UserNameError);
