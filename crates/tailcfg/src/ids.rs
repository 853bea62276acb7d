//! Integer and string identifiers used across the wire types.
//!
//! Go's `tailcfg.ID` family are `int64`s sent as JSON numbers. Control
//! servers should keep them positive and at most 2^53 − 1 (JavaScript's
//! `Number.MAX_SAFE_INTEGER`); zero means "none". They are plain aliases here:
//! the storage layer has its own newtypes and converts at the edge.

/// Client capability version (`tailcfg.CapabilityVersion`, a Go `int`):
/// `RegisterRequest.Version`, `MapRequest.Version`, `Node.Cap`.
pub type CapabilityVersion = i64;

/// A node's numeric ID (`tailcfg.NodeID`), unique per control server.
pub type NodeID = i64;

/// A node's string ID (`tailcfg.StableNodeID`), e.g. `"n1"`.
pub type StableNodeID = String;

/// A user's ID (`tailcfg.UserID`).
pub type UserID = i64;

/// A login's ID (`tailcfg.LoginID`); unused by clients.
pub type LoginID = i64;

/// A DERP region ID (`tailcfg.DERPRegionID`). 900–999 are reserved for
/// self-hosted regions; zero means "none".
pub type DERPRegionID = i64;

/// Largest ID that survives a round trip through a JavaScript number.
pub const MAX_SAFE_ID: i64 = (1 << 53) - 1;
