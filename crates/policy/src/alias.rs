//! The names a policy uses for sources and destinations ("aliases"), and ports.
//!
//! | written | means |
//! |---|---|
//! | `*` | everyone and everything |
//! | `alice`, `alice@keygate` | user `alice`'s nodes (not tagged ones) |
//! | `bob@example.com` | user `bob@example.com`'s nodes |
//! | `group:eng` | the nodes of every user in the group |
//! | `tag:web` | nodes tagged `tag:web` |
//! | `autogroup:member` | every user-owned (untagged) node |
//! | `autogroup:tagged` | every tagged node |
//! | `db` (defined under `hosts`) | the host's address or prefix |
//! | `100.64.0.9`, `100.64.0.0/10`, `fd7a:115c:a1e0::/48` | addresses |
//!
//! A bare name is a host when `hosts` defines it, and a user otherwise; `NAME@keygate` always
//! means the user (keygate's users are shown to Tailscale clients as `NAME@keygate`), so a host
//! never shadows a user for good. Destinations add `:ports`: `*`, `22`, `80,443`,
//! `1000-2000`, or a mix such as `22,8000-8999`. IPv6 destinations may be bracketed
//! (`[fd7a::1]:22`); without brackets the last colon starts the ports, as in Tailscale.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use keygate_domain::{Tag, UserName};
use keygate_tailcfg::PortRange;

use crate::error::ErrorKind;

/// The domain of keygate's own users in their login names (`alice@keygate`).
pub const USER_DOMAIN: &str = "keygate";

/// A source or destination as written, resolved against the file's definitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Alias {
    All,
    User(UserName),
    Group(String),
    Tag(Tag),
    Member,
    Tagged,
    /// A host defined under `hosts`, or an address or prefix written out.
    Prefix(IpNet),
}

/// What the file defines, for resolving aliases.
pub(crate) struct Names<'a> {
    pub(crate) groups: &'a HashMap<String, Vec<UserName>>,
    pub(crate) hosts: &'a HashMap<String, IpNet>,
    /// Tags listed under `tagOwners`.
    pub(crate) tags: &'a HashSet<Tag>,
}

/// Resolves a source or destination (without ports).
pub(crate) fn parse_alias(text: &str, names: &Names<'_>) -> Result<Alias, ErrorKind> {
    if text == "*" {
        return Ok(Alias::All);
    }
    if text.starts_with("group:") {
        return if names.groups.contains_key(text) {
            Ok(Alias::Group(text.to_owned()))
        } else {
            Err(ErrorKind::UnknownGroup(text.to_owned()))
        };
    }
    if text.starts_with("tag:") {
        let tag = Tag::parse(text)?;
        return if names.tags.contains(&tag) {
            Ok(Alias::Tag(tag))
        } else {
            Err(ErrorKind::UndefinedTag(text.to_owned()))
        };
    }
    if text.starts_with("autogroup:") {
        return match text {
            "autogroup:member" => Ok(Alias::Member),
            "autogroup:tagged" => Ok(Alias::Tagged),
            _ => Err(ErrorKind::UnsupportedAutogroup(text.to_owned())),
        };
    }
    if let Some(prefix) = parse_prefix(text) {
        return Ok(Alias::Prefix(prefix));
    }
    if let Some(prefix) = names.hosts.get(text) {
        return Ok(Alias::Prefix(*prefix));
    }
    if text.contains('@') {
        return parse_user(text).map(Alias::User);
    }
    if looks_like_address(text) {
        return Err(ErrorKind::BadAddress(text.to_owned()));
    }
    UserName::parse(text).map(Alias::User).map_err(|_| ErrorKind::UnknownName(text.to_owned()))
}

/// A user as a policy names it: `alice`, `alice@keygate` (both user `alice`) or
/// `bob@example.com`.
pub(crate) fn parse_user(text: &str) -> Result<UserName, ErrorKind> {
    let name = match text.rsplit_once('@') {
        Some((local, USER_DOMAIN)) if !local.contains('@') => local,
        _ => text,
    };
    UserName::parse(name).map_err(|_| ErrorKind::BadUser(text.to_owned()))
}

/// An IP address (as a single-address prefix) or a CIDR prefix, host bits cleared.
pub(crate) fn parse_prefix(text: &str) -> Option<IpNet> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    text.parse::<IpNet>().ok().map(|net| net.trunc())
}

/// Text that can only have been meant as an address: digits and dots (`100.64.0.300`), or
/// anything with a colon or slash, which user and host names never contain.
fn looks_like_address(text: &str) -> bool {
    text.contains(':') || text.contains('/') || text.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Splits a destination `target:ports` and resolves both halves.
pub(crate) fn parse_destination(
    text: &str,
    names: &Names<'_>,
) -> Result<(Alias, Vec<PortRange>), ErrorKind> {
    let missing = || ErrorKind::MissingPorts(text.to_owned());
    let Some((target, ports)) = text.rsplit_once(':') else {
        return Err(missing());
    };
    let target = target.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(target);
    let ports = match parse_ports(ports) {
        Ok(ports) => ports,
        // `tag:web`, `group:eng`: the colon was the prefix's, not the ports'.
        Err(_) if is_prefixed_name(text) => return Err(missing()),
        Err(reason) => {
            return Err(ErrorKind::BadPort {
                entry: text.to_owned(),
                ports: ports.to_owned(),
                reason,
            })
        }
    };
    match parse_alias(target, names) {
        Ok(alias) => Ok((alias, ports)),
        // `fd7a::1`: a whole IPv6 address whose last group read as a port.
        Err(_) if text.parse::<IpAddr>().is_ok() => Err(missing()),
        Err(e) => Err(e),
    }
}

/// `tag:x`, `group:x` or `autogroup:x` with no second colon.
fn is_prefixed_name(text: &str) -> bool {
    ["tag:", "group:", "autogroup:"]
        .iter()
        .any(|p| text.strip_prefix(p).is_some_and(|rest| !rest.contains(':')))
}

/// Ports: `*`, or a comma-separated list of ports and `low-high` ranges.
pub(crate) fn parse_ports(text: &str) -> Result<Vec<PortRange>, &'static str> {
    if text == "*" {
        return Ok(vec![PortRange::ANY]);
    }
    let port = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("ports are *, a number from 0 to 65535, a range such as 1000-2000, or a comma-separated list of them");
        }
        p.parse::<u16>().map_err(|_| "ports go up to 65535")
    };
    text.split(',')
        .map(|part| match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (port(first)?, port(last)?);
                if first > last {
                    return Err("a range runs from the lower port to the higher one");
                }
                Ok(PortRange { first, last })
            }
            None => port(part).map(|p| PortRange { first: p, last: p }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Defs {
        groups: HashMap<String, Vec<UserName>>,
        hosts: HashMap<String, IpNet>,
        tags: HashSet<Tag>,
    }

    impl Defs {
        fn new() -> Self {
            Self {
                groups: HashMap::from([("group:eng".into(), vec![user("alice")])]),
                hosts: HashMap::from([
                    ("db".into(), "100.64.0.9/32".parse().unwrap()),
                    ("alice".into(), "100.64.0.10/32".parse().unwrap()),
                ]),
                tags: HashSet::from([Tag::parse("tag:web").unwrap()]),
            }
        }

        fn names(&self) -> Names<'_> {
            Names { groups: &self.groups, hosts: &self.hosts, tags: &self.tags }
        }
    }

    fn user(name: &str) -> UserName {
        UserName::parse(name).unwrap()
    }

    fn alias(text: &str) -> Result<Alias, ErrorKind> {
        parse_alias(text, &Defs::new().names())
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn every_kind_of_alias_resolves() {
        assert_eq!(alias("*"), Ok(Alias::All));
        assert_eq!(alias("bob"), Ok(Alias::User(user("bob"))));
        assert_eq!(alias("bob@keygate"), Ok(Alias::User(user("bob"))));
        assert_eq!(alias("bob@example.com"), Ok(Alias::User(user("bob@example.com"))));
        assert_eq!(alias("group:eng"), Ok(Alias::Group("group:eng".into())));
        assert_eq!(alias("tag:web"), Ok(Alias::Tag(Tag::parse("tag:web").unwrap())));
        assert_eq!(alias("autogroup:member"), Ok(Alias::Member));
        assert_eq!(alias("autogroup:tagged"), Ok(Alias::Tagged));
        assert_eq!(alias("db"), Ok(Alias::Prefix(net("100.64.0.9/32"))));
        assert_eq!(alias("100.64.0.1"), Ok(Alias::Prefix(net("100.64.0.1/32"))));
        assert_eq!(alias("100.64.0.0/10"), Ok(Alias::Prefix(net("100.64.0.0/10"))));
        assert_eq!(alias("fd7a:115c:a1e0::1"), Ok(Alias::Prefix(net("fd7a:115c:a1e0::1/128"))));
        assert_eq!(alias("fd7a:115c:a1e0::/48"), Ok(Alias::Prefix(net("fd7a:115c:a1e0::/48"))));
    }

    #[test]
    fn a_host_shadows_a_bare_user_name_but_not_the_login_form() {
        assert_eq!(alias("alice"), Ok(Alias::Prefix(net("100.64.0.10/32"))));
        assert_eq!(alias("alice@keygate"), Ok(Alias::User(user("alice"))));
    }

    #[test]
    fn host_bits_of_prefixes_are_cleared() {
        assert_eq!(alias("100.64.1.7/16"), Ok(Alias::Prefix(net("100.64.0.0/16"))));
    }

    #[test]
    fn unknown_and_malformed_aliases_are_named() {
        assert_eq!(alias("group:ops"), Err(ErrorKind::UnknownGroup("group:ops".into())));
        assert_eq!(alias("tag:db"), Err(ErrorKind::UndefinedTag("tag:db".into())));
        assert!(matches!(alias("tag:Web"), Err(ErrorKind::BadTag(_))));
        assert_eq!(
            alias("autogroup:admin"),
            Err(ErrorKind::UnsupportedAutogroup("autogroup:admin".into()))
        );
        assert_eq!(alias("100.64.0.300"), Err(ErrorKind::BadAddress("100.64.0.300".into())));
        assert_eq!(alias("10.0.0.0/33"), Err(ErrorKind::BadAddress("10.0.0.0/33".into())));
        assert_eq!(alias("Web-Server"), Err(ErrorKind::UnknownName("Web-Server".into())));
        assert_eq!(alias("Bob@keygate"), Err(ErrorKind::BadUser("Bob@keygate".into())));
    }

    fn dst(text: &str) -> Result<(Alias, Vec<PortRange>), ErrorKind> {
        parse_destination(text, &Defs::new().names())
    }

    fn ports(list: &[(u16, u16)]) -> Vec<PortRange> {
        list.iter().map(|&(first, last)| PortRange { first, last }).collect()
    }

    #[test]
    fn destinations_split_at_the_last_colon() {
        assert_eq!(dst("*:*"), Ok((Alias::All, vec![PortRange::ANY])));
        assert_eq!(
            dst("tag:web:443"),
            Ok((Alias::Tag(Tag::parse("tag:web").unwrap()), ports(&[(443, 443)])))
        );
        assert_eq!(dst("bob:22,80"), Ok((Alias::User(user("bob")), ports(&[(22, 22), (80, 80)]))));
        assert_eq!(
            dst("100.64.0.0/10:1000-2000"),
            Ok((Alias::Prefix(net("100.64.0.0/10")), ports(&[(1000, 2000)])))
        );
        assert_eq!(
            dst("fd7a:115c:a1e0::1:22"),
            Ok((Alias::Prefix(net("fd7a:115c:a1e0::1/128")), ports(&[(22, 22)])))
        );
        assert_eq!(
            dst("[fd7a::1]:22"),
            Ok((Alias::Prefix(net("fd7a::1/128")), ports(&[(22, 22)])))
        );
        assert_eq!(
            dst("group:eng:22,8000-8999"),
            Ok((Alias::Group("group:eng".into()), ports(&[(22, 22), (8000, 8999)])))
        );
    }

    #[test]
    fn destinations_without_ports_say_so() {
        for text in ["tag:web", "bob", "*", "group:eng", "100.64.0.1", "fd7a::1"] {
            assert_eq!(dst(text), Err(ErrorKind::MissingPorts(text.into())), "{text}");
        }
    }

    #[test]
    fn bad_ports_are_named_with_a_reason() {
        for (text, bad) in [
            ("bob:http", "http"),
            ("bob:70000", "70000"),
            ("bob:2000-1000", "2000-1000"),
            ("bob:22,", "22,"),
            ("bob:", ""),
            ("bob:-5", "-5"),
        ] {
            match dst(text) {
                Err(ErrorKind::BadPort { entry, ports, .. }) => {
                    assert_eq!((entry.as_str(), ports.as_str()), (text, bad));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
