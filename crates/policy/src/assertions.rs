//! The `tests` section: assertions about who may reach what, checked whenever a policy is
//! saved, so an edit cannot silently cut off (or open up) access that someone relied on.
//!
//! An assertion is about identities, not about the nodes of the moment: `"src": "alice"` means
//! "a node of alice's", `tag:web:443` "port 443 of a node tagged tag:web". Addresses match only
//! rules written with addresses (hosts, IPs, CIDRs), since which addresses a user's nodes get
//! is not known when the policy is saved.

use crate::alias::{parse_alias, parse_destination, Alias, Names};
use crate::error::ErrorKind;
use crate::file::AclTest;
use crate::position::Path;
use crate::targets::Endpoint;
use crate::Policy;

/// One `tests` entry, resolved.
#[derive(Debug)]
pub(crate) struct Assertion {
    src_text: String,
    src: Endpoint,
    checks: Vec<Check>,
}

/// One `accept` or `deny` destination of an assertion.
#[derive(Debug)]
struct Check {
    path: Path,
    dst_text: String,
    dst: Endpoint,
    port: u16,
    accept: bool,
}

/// Resolves the `tests` section; problems go to `errors`, and an entry with a problem is left
/// out.
pub(crate) fn parse_tests(
    tests: &[AclTest],
    names: &Names<'_>,
    errors: &mut Vec<(Path, ErrorKind)>,
) -> Vec<Assertion> {
    let mut out = Vec::new();
    for (i, test) in tests.iter().enumerate() {
        let path = Path::key("tests").index(i);
        let src = match parse_alias(&test.src, names) {
            Ok(alias) => endpoint(alias).ok_or_else(|| ErrorKind::BadTestSource(test.src.clone())),
            Err(e) => Err(e),
        };
        let mut checks = Vec::new();
        let lists = [("accept", &test.accept, true), ("deny", &test.deny, false)];
        for (field, list, accept) in lists {
            for (j, text) in list.iter().enumerate() {
                let path = path.field(field).index(j);
                match parse_check(text, names) {
                    Ok((dst, port)) => {
                        checks.push(Check { path, dst_text: text.clone(), dst, port, accept })
                    }
                    Err(e) => errors.push((path, e)),
                }
            }
        }
        match src {
            Ok(src) => out.push(Assertion { src_text: test.src.clone(), src, checks }),
            Err(e) => errors.push((path.field("src"), e)),
        }
    }
    out
}

/// A test destination: one identity or address, and one port.
fn parse_check(text: &str, names: &Names<'_>) -> Result<(Endpoint, u16), ErrorKind> {
    let (alias, ports) = parse_destination(text, names)?;
    let bad = || ErrorKind::BadTestDestination(text.to_owned());
    let port = match ports.as_slice() {
        [range] if range.first == range.last => range.first,
        _ => return Err(bad()),
    };
    Ok((endpoint(alias).ok_or_else(bad)?, port))
}

/// The single identity or address an alias names, if it names one.
fn endpoint(alias: Alias) -> Option<Endpoint> {
    match alias {
        Alias::User(u) => Some(Endpoint::User(u)),
        Alias::Tag(t) => Some(Endpoint::Tags(std::iter::once(t).collect())),
        Alias::Prefix(p) if p.prefix_len() == p.max_prefix_len() => Some(Endpoint::Ip(p.addr())),
        _ => None,
    }
}

/// Runs every assertion against `policy`: the failures, with the entry each is about.
pub(crate) fn run(policy: &Policy, assertions: &[Assertion]) -> Vec<(Path, ErrorKind)> {
    let mut failures = Vec::new();
    for a in assertions {
        for check in &a.checks {
            let accepted_by = policy.allows(&a.src, &check.dst, check.port);
            if accepted_by.is_some() != check.accept {
                failures.push((
                    check.path.clone(),
                    ErrorKind::TestFailed {
                        src: a.src_text.clone(),
                        dst: check.dst_text.clone(),
                        expected_accept: check.accept,
                        accepted_by,
                    },
                ));
            }
        }
    }
    failures
}
