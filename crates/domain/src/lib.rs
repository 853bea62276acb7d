//! keygate's domain model: the types and rules of a tailnet's users, pre-authentication keys,
//! API tokens and other credentials, and nodes.
//!
//! Everything here is pure: no I/O, no async, no clock and no randomness. Time is passed in as
//! a [`Timestamp`], random bytes are passed in by the caller (the service layer reads the OS
//! CSPRNG). That keeps every rule a plain function that a unit test can pin down exactly.

pub mod api_token;
pub mod audit;
pub mod auth_key;
pub mod credential;
pub mod description;
pub mod expiry;
pub mod id;
pub mod ip_pool;
pub mod node;
pub mod node_keys;
pub mod oauth;
pub mod scope;
pub mod secret;
pub mod settings;
pub mod tag;
pub mod timestamp;
pub mod user;

pub use api_token::{ApiToken, TokenRejected};
pub use audit::{AuditAction, AuditActor, AuditEvent, AuditFilter, NewAuditEvent};
pub use auth_key::{AuthKey, AuthKeySpec, KeyRejected, KeyState, SpecError};
pub use credential::{Credential, CredentialId};
pub use description::{Description, DescriptionError};
pub use expiry::{KeyLifetime, LifetimeError};
pub use id::{AuthKeyId, NodeId, TokenId, UserId};
pub use node::{NewNode, Node, NodeOwner};
pub use node_keys::{DiscoKey, KeyTextError, MachineKey, NodeKey};
pub use oauth::{OAuthClient, OAuthClientSpec, OAuthClientSpecError, OAuthToken};
pub use scope::{Scope, ScopeError, ScopeSet};
pub use secret::{Pepper, SecretHash, SecretKind, SecretParseError, SecretToken};
pub use settings::TailnetSettings;
pub use tag::{Tag, TagError, TagSet};
pub use timestamp::Timestamp;
pub use user::{User, UserName, UserNameError};
