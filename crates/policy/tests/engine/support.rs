//! Fixtures: nodes with addresses derived from their id, and positions found by search.

use std::net::{Ipv4Addr, Ipv6Addr};

use keygate_domain::{NodeId, TagSet, UserName};
use keygate_policy::{NodeIdentity, NodeInfo, Policy, PolicyError, PolicyErrors};

/// Node `id`: owned by `owner`, a user name or a comma-separated tag list (`tag:a,tag:b`);
/// addresses `100.64.0.<id>` and `fd7a:115c:a1e0::<id>`.
pub fn node(id: u8, owner: &str) -> NodeInfo {
    let identity = if owner.starts_with("tag:") {
        NodeIdentity::Tags(TagSet::parse_list(owner).expect("fixture tags are valid"))
    } else {
        NodeIdentity::User(UserName::parse(owner).expect("fixture user names are valid"))
    };
    NodeInfo { id: NodeId(i64::from(id)), identity, ipv4: v4(id), ipv6: v6(id) }
}

pub fn v4(id: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, id)
}

pub fn v6(id: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, u16::from(id))
}

pub fn parse(text: &str) -> Policy {
    Policy::parse(text).unwrap_or_else(|e| panic!("the policy parses: {e}"))
}

/// The errors of a policy that must not parse.
pub fn errors(text: &str) -> PolicyErrors {
    match Policy::parse(text) {
        Ok(_) => panic!("the policy should not parse:\n{text}"),
        Err(e) => e,
    }
}

/// The only error of a policy that must not parse.
pub fn only_error(text: &str) -> PolicyError {
    let errors = errors(text);
    assert_eq!(errors.errors().len(), 1, "one error expected: {errors}");
    errors.errors()[0].clone()
}

/// The (line, column) where `needle` first occurs in `text`, counting characters from 1.
pub fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle:?} is in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}
