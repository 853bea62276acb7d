//! keygate's service layer: every use case (create a key, revoke it, enrol a node, approve
//! it, …) as one method, on top of the [`keygate_store::Store`] trait.
//!
//! Two values carry the use cases, and every surface (the REST API, the admin channel, the
//! console, the control protocol, the DERP relay) calls their methods, so a rule is enforced
//! in one place whichever surface a request came through:
//!
//! - [`Service`]: users, auth keys, API tokens, OAuth clients, console admins, settings, the
//!   audit log, and reading the ACL policy. It holds the store, which only this crate sees.
//! - [`Tailnet`]: the live tailnet, owner of node state and its only writer. Node use cases
//!   (enrolment, re-registration, logout, updates from clients, approval, tags, expiry,
//!   deletion, sessions, ephemeral clean-up) and saving the ACL policy are its methods: each
//!   writes the store through one write path and then the in-memory state, publishing a
//!   [`TailnetEvent`] that surfaces fan out. See `tailnet/mod.rs`.
//!
//! Modules, and what each imports (no module imports one that imports it back):
//!
//! - node use cases: `nodes` (registration; also `auth_keys`, to check a presented key),
//!   `node_admin` (what admins and API callers do to nodes) and `lifecycle` (start, sessions,
//!   timers) import `tailnet`, and the first two `node_terms` (rules both apply). `tailnet`
//!   (`mod`: the write paths; `state`: the in-memory state, its fields private; `entry`,
//!   `events`, `config`: its public types) imports `policy`, `ip_allocator`, `service`,
//!   `actor` and `error`, and none of the node use cases;
//! - the other use cases (`admins`, `api_tokens`, `audit`, `auth_keys`, `oauth`, `policy`,
//!   `settings`, `users`) import `service` ([`Service`]), `actor` ([`Actor`]), `error`, and
//!   some `users`, `random` or (`auth_keys`) `oauth`; `service` imports `clock`, `actor`
//!   imports `error`.
//!
//! This crate knows nothing of HTTP, Noise or concrete databases; it reads the clock and
//! sleeps through [`Clock`] and draws randomness from the OS CSPRNG, so tests can move time
//! by hand ([`ManualClock`]).

mod actor;
mod admins;
mod api_tokens;
mod audit;
mod auth_keys;
mod clock;
mod credentials;
mod error;
mod ip_allocator;
mod lifecycle;
mod node_admin;
mod node_terms;
mod nodes;
mod oauth;
mod password_hashing;
mod policy;
mod random;
mod service;
mod settings;
mod tailnet;
mod users;

pub use actor::{Actor, OAuthGrant};
pub use admins::{
    check_admin_password, parse_admin_name, AdminSession, ConsoleAdmin, ConsoleAdminId,
    ConsoleSecret, CsrfToken, SignedIn, ADMIN_PASSWORD_MAX_CHARS, ADMIN_PASSWORD_MIN_CHARS,
    CONSOLE_SESSION_LIFETIME, SETUP_TOKEN_LIFETIME,
};
pub use api_tokens::{CreatedToken, TokenSpec};
pub use auth_keys::{CreatedKey, KeyListing, NewKeyRequest, PresentedKeyError};
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use credentials::Listing;
pub use error::{cause_chain, InvalidValue, ServiceError};
/// Re-exported so surfaces can match on revocations without depending on the store.
pub use keygate_store::RevokeOutcome;
pub use lifecycle::heartbeat_interval;
pub use nodes::{ClientUpdate, Refusal, RegisterNode, RegisterOutcome};
pub use oauth::{
    AccessTokenError, AccessTokenRequest, CreatedOAuthClient, IssuedAccessToken, NewOAuthClient,
};
pub use password_hashing::{HashSlot, PasswordHashing, PASSWORD_HASH_RETRY_AFTER};
pub use policy::{CurrentPolicy, SetPolicyError, MAX_POLICY_BYTES};
pub use service::{Service, ServiceConfig};
pub use tailnet::{
    MapView, NodeEntry, PolicyEffects, Snapshot, Tailnet, TailnetChange, TailnetConfig,
    TailnetEvent, DEFAULT_BASE_DOMAIN, DEFAULT_EPHEMERAL_INACTIVITY_TIMEOUT,
};
