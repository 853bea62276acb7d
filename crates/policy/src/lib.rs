//! keygate's ACL policy engine: the policy file, who may apply which tag, and the packet
//! filter and peers of every node.
//!
//! The policy file is Tailscale's, in HuJSON (JSON with comments and trailing commas), with
//! the sections keygate implements: `groups`, `tagOwners`, `hosts`, `acls` and `tests`. Any
//! other section or field is an error at its line and column rather than silently ignored.
//! See [`alias`] for the names sources and destinations use, and [`DEFAULT_POLICY`] for the
//! policy in force until one is saved (allow everything).
//!
//! - [`Policy::parse`] / [`Policy::check`]: text → a compiled [`Policy`], or every problem
//!   with its position ([`PolicyErrors`]); `check` also runs the file's `tests`.
//! - [`Policy::may_own_tag`]: may this user (or tagged node) apply this tag?
//! - [`Network`]: a policy plus the current nodes ([`NodeInfo`]) → each node's packet filter
//!   ([`PacketRule`], convertible to `tailcfg.FilterRule`) and peers, updated one node at a
//!   time ([`Network::upsert`], [`Network::remove`]) with the set of nodes each change
//!   affects ([`Changes`]).
//!
//! Pure: no I/O, no async, no clock. It depends on the domain for names and tags and on
//! `keygate-tailcfg` only for the filter wire types; storage, HTTP and the live tailnet stay
//! outside.

pub mod alias;
mod assertions;
mod error;
mod file;
mod filter;
mod hujson;
mod network;
mod node;
mod policy;
mod position;
mod targets;

pub use alias::USER_DOMAIN;
pub use error::{ErrorKind, PolicyError, PolicyErrors, TagOwnerError};
pub use filter::{to_tailcfg, PacketRule};
pub use network::{Changes, Network};
pub use node::{NodeIdentity, NodeInfo};
pub use policy::{OwnerRef, Policy, DEFAULT_POLICY};
pub use targets::Endpoint;
