//! What a caller may call: each route names its requirement as the type of its first
//! extractor ([`Authorized`]), so a missing credential (401) or scope (403) is answered before
//! the body is even read.
//!
//! | requirement | admin socket | user API token | OAuth access token |
//! |---|---|---|---|
//! | [`KeysRead`] | yes | its own keys | `auth_keys:read` (or `auth_keys`, `all`, `all:read`) |
//! | [`KeysCreate`], [`KeysRevoke`] | yes | its own keys | `auth_keys` (or `all`) |
//! | [`People`] | yes | yes | no |
//! | [`AdminOnly`] | yes | no | no |
//!
//! The service checks the same rules again (scopes in `Actor::require_scope`, ownership in its
//! queries), so this table is about answering early and uniformly, not the only guard.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use keygate_domain::Scope;
use keygate_service::{Actor, Service, ServiceError};

use crate::auth::Caller;
use crate::error::ApiError;

/// What a route requires of its caller.
pub(crate) trait Requirement {
    fn check(actor: &Actor) -> Result<(), ServiceError>;
}

/// An authenticated caller that meets requirement `R`.
pub(crate) struct Authorized<R>(pub Actor, pub PhantomData<R>);

impl<S, R> FromRequestParts<S> for Authorized<R>
where
    Service: FromRef<S>,
    S: Send + Sync,
    R: Requirement,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Caller(actor) = Caller::from_request_parts(parts, state).await?;
        R::check(&actor)?;
        Ok(Self(actor, PhantomData))
    }
}

/// Listing and reading auth keys.
pub(crate) struct KeysRead;

impl Requirement for KeysRead {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        actor.require_scope(Scope::AuthKeysRead, "reading auth keys")
    }
}

/// Creating auth keys (and, for admins, OAuth clients).
pub(crate) struct KeysCreate;

impl Requirement for KeysCreate {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        actor.require_scope(Scope::AuthKeys, "creating auth keys")
    }
}

/// Revoking auth keys (and, for admins, OAuth clients).
pub(crate) struct KeysRevoke;

impl Requirement for KeysRevoke {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        actor.require_scope(Scope::AuthKeys, "revoking auth keys")
    }
}

/// Routes about people and the tailnet's settings: admins and user tokens, not OAuth tokens
/// (which stand for no user and have no scope for these here).
pub(crate) struct People;

impl Requirement for People {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        match actor {
            Actor::Admin | Actor::User(_) => Ok(()),
            Actor::OAuth(_) => Err(ServiceError::Forbidden(
                "this needs an administrator or a user's API token: OAuth access tokens may \
                 only use the keys and devices routes"
                    .into(),
            )),
        }
    }
}

/// Administration: users, API tokens, OAuth clients, settings changes, the audit log.
pub(crate) struct AdminOnly;

impl Requirement for AdminOnly {
    fn check(actor: &Actor) -> Result<(), ServiceError> {
        match actor {
            Actor::Admin => Ok(()),
            Actor::User(_) | Actor::OAuth(_) => {
                Err(ServiceError::Forbidden("this needs an administrator".into()))
            }
        }
    }
}
