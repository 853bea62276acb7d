//! [`PacketRule`]: one rule of a node's packet filter, as the engine produces it.
//!
//! The same shape as Tailscale's `tailcfg.FilterRule` (which the control protocol sends in
//! `MapResponse.PacketFilter`), except that the source list is shared: every node reached by
//! the same rule holds the same `Arc`, so computing a filter never copies address lists.
//! [`PacketRule::to_tailcfg`] makes the wire type.

use std::sync::Arc;

use keygate_tailcfg::{FilterRule, NetPortRange};

/// Traffic from any of `src_ips` to any of `dst_ports` is accepted (TCP, UDP and ICMP, as a
/// `FilterRule` without `IPProto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketRule {
    /// Sources: `*`, single addresses (`100.64.0.1`, `fd7a:115c:a1e0::1`) and prefixes
    /// (`192.0.2.0/24`).
    pub src_ips: Arc<[String]>,
    /// The receiving node's own addresses (or `*` for a rule whose destination is `*`), each
    /// with an allowed port range.
    pub dst_ports: Vec<NetPortRange>,
}

impl PacketRule {
    /// The wire form.
    pub fn to_tailcfg(&self) -> FilterRule {
        FilterRule {
            src_ips: self.src_ips.to_vec(),
            dst_ports: self.dst_ports.clone(),
            ..FilterRule::default()
        }
    }
}

/// A whole filter in wire form, for `MapResponse.PacketFilter`. An empty list denies
/// everything.
pub fn to_tailcfg(rules: &[PacketRule]) -> Vec<FilterRule> {
    rules.iter().map(PacketRule::to_tailcfg).collect()
}
