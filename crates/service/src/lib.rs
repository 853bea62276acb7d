//! keygate's service layer: every use case (create a key, revoke it, enrol a node, …) as one
//! method on [`Service`], on top of the [`keygate_store::Store`] trait.
//!
//! The REST API, the admin channel, the console and the control protocol all call these
//! methods, so a rule is enforced in one place whichever surface a request came through.
//! This crate knows nothing of HTTP, Noise or concrete databases; it reads the clock through
//! [`Clock`] and randomness through the OS CSPRNG, so tests can move time by hand.

mod api_tokens;
mod auth_keys;
mod clock;
mod error;
mod ip_allocator;
mod nodes;
mod random;
mod service;
mod settings;
mod tailnet;
mod users;

pub use api_tokens::{CreatedToken, TokenSpec};
pub use auth_keys::{CreatedKey, KeyListing, NewKeyRequest, PresentedKeyError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::ServiceError;
pub use service::{Actor, Service, ServiceConfig};
/// Re-exported so surfaces can match on revocations without depending on the store.
pub use keygate_store::RevokeOutcome;
pub use nodes::{ClientUpdate, RegisterNode, RegisterOutcome, Refusal};
pub use tailnet::{NodeEntry, Snapshot, Tailnet, TailnetChange, TailnetConfig, TailnetEvent};
