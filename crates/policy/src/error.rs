//! What can be wrong with a policy file, and where.

use std::fmt;

use keygate_domain::{Tag, TagError};

/// One problem in a policy file: where it is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The offending entry, such as `acls[0].dst[1]` or `groups["group:eng"]`; empty for
    /// syntax errors, which serde_json finds without knowing the entry.
    pub path: String,
    pub kind: ErrorKind,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: ", self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for PolicyError {}

/// What is wrong. Each message names the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// Not HuJSON, or not the shape of a policy file (an unknown section or field, a wrong
    /// type, a duplicate key): serde_json's message.
    #[error("{0}")]
    Syntax(String),
    #[error("invalid group name {0:?}: a group is \"group:\" followed by letters, digits, '-', '_' or '.'")]
    BadGroupName(String),
    #[error("unknown group {0:?}: define it under \"groups\"")]
    UnknownGroup(String),
    #[error(
        "{0:?} in a group: groups contain users only (no groups, tags, autogroups or addresses)"
    )]
    NotAUser(String),
    #[error(transparent)]
    BadTag(#[from] TagError),
    #[error("tag {0:?} is not defined: list it under \"tagOwners\" first")]
    UndefinedTag(String),
    #[error("invalid host name {0:?}: use lowercase letters, digits, '-' and '.', starting with a letter")]
    BadHostName(String),
    #[error("invalid address {0:?}: a host is an IPv4 or IPv6 address or CIDR prefix")]
    BadAddress(String),
    #[error("invalid user {0:?}: users are keygate user names, written `alice` or `alice@keygate` (or with their own domain, `bob@example.com`)")]
    BadUser(String),
    #[error("{0:?} is neither a host defined under \"hosts\" nor a user name")]
    UnknownName(String),
    #[error("unsupported autogroup {0:?}: keygate knows autogroup:member and autogroup:tagged")]
    UnsupportedAutogroup(String),
    #[error("{0:?} cannot own tags: owners are users, groups, tags and autogroup:member")]
    BadOwner(String),
    #[error(
        "{0:?} has no ports: write it as target:ports, such as tag:web:443, alice:22,80 or *:*"
    )]
    MissingPorts(String),
    #[error("bad port {ports:?} in {entry:?}: {reason}")]
    BadPort { entry: String, ports: String, reason: &'static str },
    #[error("unsupported action {0:?}: the only action is \"accept\"")]
    BadAction(String),
    #[error("a rule needs at least one entry in {0:?}")]
    Empty(&'static str),
    #[error("{0:?} cannot be a test source: use one user, tag, host or IP address")]
    BadTestSource(String),
    #[error("{0:?} cannot be a test destination: use one user, tag, host or IP address and one port, such as tag:web:443")]
    BadTestDestination(String),
    /// A `tests` assertion does not hold.
    #[error("test failed: {}", test_failure(.src, .dst, *.expected_accept, *.accepted_by))]
    TestFailed {
        src: String,
        dst: String,
        /// `true` for an `accept` entry, `false` for a `deny` entry.
        expected_accept: bool,
        /// The rule that accepts the traffic, if one does.
        accepted_by: Option<usize>,
    },
}

fn test_failure(src: &str, dst: &str, expected_accept: bool, accepted_by: Option<usize>) -> String {
    match (expected_accept, accepted_by) {
        (true, _) => format!("{src} should reach {dst}, but no rule accepts it"),
        (false, Some(rule)) => format!("{src} should not reach {dst}, but acls[{rule}] accepts it"),
        (false, None) => format!("{src} should not reach {dst}"),
    }
}

/// Every problem found in a policy file (at least one), in the order they appear in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors(Vec<PolicyError>);

impl PolicyErrors {
    pub(crate) fn new(mut errors: Vec<PolicyError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        Self(errors)
    }

    /// The problems, by position.
    pub fn errors(&self) -> &[PolicyError] {
        &self.0
    }

    /// Whether the file is valid and only its `tests` failed.
    pub fn only_tests_failed(&self) -> bool {
        self.0.iter().all(|e| matches!(e.kind, ErrorKind::TestFailed { .. }))
    }
}

impl From<PolicyError> for PolicyErrors {
    fn from(e: PolicyError) -> Self {
        Self(vec![e])
    }
}

/// The problems joined with `; `.
impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// Why an owner may not apply a tag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagOwnerError {
    #[error("tag {0} is not defined in the policy's tagOwners, so nobody may apply it")]
    Undefined(Tag),
    #[error("{owner} may not apply tag {tag}: the policy's tagOwners does not list {owner} as an owner of {tag} (directly, or through a group or autogroup:member)")]
    NotOwner { owner: String, tag: Tag },
}
