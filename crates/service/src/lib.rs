//! keygate's service layer: every use case (create a key, revoke it, enrol a node, …) as one
//! method on [`Service`], on top of the [`keygate_store::Store`] trait.
//!
//! The REST API, the admin channel, the console and the control protocol all call these
//! methods, so a rule is enforced in one place whichever surface a request came through.
//! This crate knows nothing of HTTP, Noise or concrete databases; it reads the clock through
//! [`Clock`] and randomness through the OS CSPRNG, so tests can move time by hand.

mod admins;
mod api_tokens;
mod audit;
mod auth_keys;
mod clock;
mod error;
mod ip_allocator;
mod lifecycle;
mod node_admin;
mod nodes;
mod oauth;
mod password_hashing;
mod policy;
mod random;
mod service;
mod settings;
mod tailnet;
mod users;

pub use admins::{
    check_admin_password, parse_admin_name, AdminSession, ConsoleAdmin, ConsoleAdminId,
    ConsoleSecret, CsrfToken, SignedIn, ADMIN_PASSWORD_MAX_CHARS, ADMIN_PASSWORD_MIN_CHARS,
    CONSOLE_SESSION_LIFETIME, SETUP_TOKEN_LIFETIME,
};
pub use api_tokens::{CreatedToken, TokenSpec};
pub use auth_keys::{CreatedKey, KeyListing, NewKeyRequest, PresentedKeyError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{cause_chain, InvalidValue, ServiceError};
/// Re-exported so surfaces can match on revocations without depending on the store.
pub use keygate_store::RevokeOutcome;
pub use lifecycle::{heartbeat_interval, DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT};
pub use nodes::{ClientUpdate, Refusal, RegisterNode, RegisterOutcome};
pub use oauth::{
    AccessTokenError, AccessTokenRequest, CreatedOAuthClient, IssuedAccessToken, NewOAuthClient,
    OAuthGrant,
};
pub use password_hashing::{HashSlot, PasswordHashing, PASSWORD_HASH_RETRY_AFTER};
pub use policy::{CurrentPolicy, SetPolicyError, MAX_POLICY_BYTES};
pub use service::{Actor, Service, ServiceConfig};
pub use tailnet::{
    MapView, NodeEntry, PolicyEffects, Snapshot, Tailnet, TailnetChange, TailnetConfig,
    TailnetEvent, DEFAULT_BASE_DOMAIN,
};
