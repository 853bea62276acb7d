//! Errors of the service layer. Each surface maps them to its own responses in one place,
//! with the status [`ServiceError::http_status`] names for every surface alike.

use std::error::Error;
use std::fmt::Write as _;
use std::time::Duration;

use keygate_domain::{DescriptionError, LifetimeError, SpecError, TagError, UserNameError};
use keygate_store::StoreError;

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request was malformed; the message says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// A value its domain type refused (a tag, a lifetime, a name…), kept typed. Shown, like
    /// [`ServiceError::Invalid`], with the domain's own message.
    #[error(transparent)]
    InvalidValue(#[from] InvalidValue),
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
    /// The server is too busy to do this now (every password-hashing slot is taken); try
    /// again after `retry_after`. HTTP surfaces answer 503 with `Retry-After`.
    #[error("the server is busy: try again in a moment")]
    Busy { retry_after: Duration },
    /// The storage failed; details are logged, not shown.
    #[error("storage failure")]
    Store(#[source] StoreError),
}

/// A value a domain type refused to be built from.
#[derive(Debug, thiserror::Error)]
pub enum InvalidValue {
    #[error(transparent)]
    Lifetime(#[from] LifetimeError),
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error(transparent)]
    Description(#[from] DescriptionError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    UserName(#[from] UserNameError),
}

impl ServiceError {
    /// The HTTP status that answers this error, on every surface that speaks HTTP.
    pub fn http_status(&self) -> u16 {
        match self {
            ServiceError::Invalid(_) | ServiceError::InvalidValue(_) => 400,
            ServiceError::Unauthenticated => 401,
            ServiceError::Forbidden(_) => 403,
            ServiceError::NotFound { .. } => 404,
            ServiceError::AlreadyExists { .. } => 409,
            ServiceError::Busy { .. } => 503,
            ServiceError::Store(_) => 500,
        }
    }

    /// Whether the request itself was refused as malformed ([`ServiceError::Invalid`] or
    /// [`ServiceError::InvalidValue`]); the message (`to_string`) says why.
    pub fn is_invalid(&self) -> bool {
        matches!(self, ServiceError::Invalid(_) | ServiceError::InvalidValue(_))
    }

    /// Whether the error is the server's own failure: its message is logged with
    /// [`cause_chain`], never shown to the caller.
    pub fn is_internal(&self) -> bool {
        matches!(self, ServiceError::Store(_))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Store(e)
    }
}

/// `?` on a domain constructor's result gives a [`ServiceError::InvalidValue`].
macro_rules! invalid_value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ServiceError {
            fn from(e: $t) -> Self {
                ServiceError::InvalidValue(e.into())
            }
        }
    )*};
}
invalid_value_from!(LifetimeError, TagError, DescriptionError, SpecError, UserNameError);

/// `e: cause: cause…`: an error with every source under it, for the log.
pub fn cause_chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_domain::{Description, TagSet};

    #[test]
    fn domain_errors_stay_typed_with_their_own_message() {
        let domain = TagSet::parse(["web"]).unwrap_err();
        let e = ServiceError::from(domain.clone());
        assert!(matches!(&e, ServiceError::InvalidValue(InvalidValue::Tag(t)) if *t == domain));
        assert_eq!(e.to_string(), domain.to_string());
        assert!(e.is_invalid() && !e.is_internal());
        assert_eq!(e.http_status(), 400);

        let e = ServiceError::from(Description::parse(&"x".repeat(51)).unwrap_err());
        assert!(matches!(e, ServiceError::InvalidValue(InvalidValue::Description(_))));
    }

    #[test]
    fn the_cause_chain_names_every_source() {
        let e = ServiceError::Store(StoreError::Corrupt {
            what: "auth_keys.tags",
            detail: "secret detail".into(),
        });
        assert_eq!(
            cause_chain(&e),
            "storage failure: corrupt stored value in auth_keys.tags: secret detail"
        );
        assert!(e.is_internal());
        assert_eq!(e.http_status(), 500);
    }
}
