//! [`Policy`]: a policy file parsed, checked and compiled.
//!
//! Compiling resolves every name (groups to users, hosts to prefixes), interns equal target
//! sets once, and files each rule's destinations and sources in [`SelectorIndex`]es, so that
//! the rules concerning one node are found from its user, tags and addresses instead of by
//! scanning the policy. All of this depends on the file alone; the nodes of the moment come
//! in with [`crate::Network`].

use std::collections::{BTreeSet, HashMap, HashSet};

use ipnet::IpNet;
use keygate_domain::{Tag, UserName};
use keygate_tailcfg::PortRange;

use crate::alias::{parse_alias, parse_destination, parse_prefix, parse_user, Alias, Names};
use crate::assertions::{self, Assertion};
use crate::error::{ErrorKind, PolicyError, PolicyErrors, TagOwnerError};
use crate::file::PolicyFile;
use crate::hujson;
use crate::position::{locate, offset_of_serde, position_at, Path};
use crate::targets::{Endpoint, SelectorIndex, Targets};

/// The policy in force until an admin saves one: everyone may reach everything, as in a new
/// Tailscale tailnet, and (having no `tagOwners`) every user may apply every tag.
pub const DEFAULT_POLICY: &str = r#"// keygate's default policy: every node may reach every other node on every port, as in a
// new Tailscale tailnet. Replace it with `keygate policy set FILE`.
//
// While a policy has no "tagOwners" section, every user may create keys with any tag. Once it
// has one, a tag may only be applied by the owners listed for it there.
{
	"acls": [
		{"action": "accept", "src": ["*"], "dst": ["*:*"]},
	],
}
"#;

/// An index into [`Policy::sets`].
pub(crate) type SetId = u32;

/// One `acls` entry, compiled.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) src: SetId,
    pub(crate) dsts: Vec<Dst>,
}

/// One destination of a rule: a target set and its ports.
#[derive(Debug)]
pub(crate) struct Dst {
    pub(crate) set: SetId,
    pub(crate) ports: Vec<PortRange>,
}

/// Who owns one tag.
#[derive(Debug, Default)]
struct Owners {
    /// `autogroup:member`: every user.
    members: bool,
    users: BTreeSet<UserName>,
    /// Nodes with any of these tags may apply the tag.
    tags: BTreeSet<Tag>,
}

/// Who wants to apply a tag: a user (creating a key, or tagging a node it owns), or a tagged
/// node (re-tagging itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerRef<'a> {
    User(&'a UserName),
    Tags(&'a keygate_domain::TagSet),
}

impl std::fmt::Display for OwnerRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnerRef::User(u) => write!(f, "user {u}"),
            OwnerRef::Tags(t) => write!(f, "a node tagged {t}"),
        }
    }
}

/// A checked, compiled policy file. Immutable; share it in an `Arc`.
#[derive(Debug)]
pub struct Policy {
    /// The file as written, comments and all.
    text: String,
    /// The same text as plain JSON, at the same offsets.
    json: String,
    /// `None`: the file has no `tagOwners` section, and every user owns every tag.
    tag_owners: Option<HashMap<Tag, Owners>>,
    pub(crate) rules: Vec<Rule>,
    /// Every distinct source and destination set.
    pub(crate) sets: Vec<Targets>,
    /// For each set, the rules it is the source of.
    pub(crate) rules_by_src: Vec<Vec<u32>>,
    /// (rule, destination) pairs, filed by destination targets.
    pub(crate) dst_index: SelectorIndex<(u32, u32)>,
    /// Source sets, filed by their targets.
    pub(crate) src_index: SelectorIndex<SetId>,
    /// Every prefix any set names.
    pub(crate) prefixes: BTreeSet<IpNet>,
    tests: Vec<Assertion>,
}

impl Policy {
    /// Parses and checks a policy file (HuJSON): its syntax, its shape (unknown sections and
    /// fields are errors) and every name it uses. Does not run its `tests`; see
    /// [`Policy::check`].
    pub fn parse(text: &str) -> Result<Self, PolicyErrors> {
        let json = hujson::standardize(text)?;
        // serde also builds a struct from a JSON array (fields by position), so `[]` would pass
        // as an empty policy: the file must be an object.
        serde_json::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(&json)
            .map_err(|e| PolicyErrors::from(syntax(text, &json, &e)))?;
        let file: PolicyFile =
            serde_json::from_str(&json).map_err(|e| PolicyErrors::from(syntax(text, &json, &e)))?;
        let mut c = Compiler::default();
        let policy = c.compile(text, json, &file);
        if c.errors.is_empty() {
            Ok(policy)
        } else {
            Err(policy.positioned(c.errors))
        }
    }

    /// [`Policy::parse`], then [`Policy::run_tests`]: what saving a policy requires.
    pub fn check(text: &str) -> Result<Self, PolicyErrors> {
        let policy = Self::parse(text)?;
        policy.run_tests()?;
        Ok(policy)
    }

    /// The default policy ([`DEFAULT_POLICY`]).
    pub fn default_policy() -> Self {
        Self::parse(DEFAULT_POLICY).expect("the default policy is valid (a unit test checks)")
    }

    /// Checks the file's `tests` assertions; each failure names its `accept` or `deny` entry.
    pub fn run_tests(&self) -> Result<(), PolicyErrors> {
        let failures = assertions::run(self, &self.tests);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(self.positioned(failures))
        }
    }

    /// The file as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file as JSON: comments and trailing commas gone.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.json).unwrap_or(serde_json::Value::Null)
    }

    /// Number of `acls` rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Whether the file has a `tagOwners` section. Without one, every user owns every tag.
    pub fn has_tag_owners(&self) -> bool {
        self.tag_owners.is_some()
    }

    /// Whether `owner` may apply `tag` (to a key it creates, or to a node): it is listed for
    /// the tag under `tagOwners` directly, through a group, or through `autogroup:member`;
    /// a tagged node owns the tags whose owners list one of its tags. A policy without a
    /// `tagOwners` section (such as the default) lets everyone apply every tag.
    pub fn may_own_tag(&self, owner: &OwnerRef<'_>, tag: &Tag) -> bool {
        self.check_tag_owner(owner, tag).is_ok()
    }

    /// [`Policy::may_own_tag`], with the reason when not.
    pub fn check_tag_owner(&self, owner: &OwnerRef<'_>, tag: &Tag) -> Result<(), TagOwnerError> {
        let Some(map) = &self.tag_owners else { return Ok(()) };
        let owners = map.get(tag).ok_or_else(|| TagOwnerError::Undefined(tag.clone()))?;
        let owns = match owner {
            OwnerRef::User(u) => owners.members || owners.users.contains(*u),
            OwnerRef::Tags(tags) => tags.iter().any(|t| owners.tags.contains(t)),
        };
        if owns {
            Ok(())
        } else {
            Err(TagOwnerError::NotOwner { owner: owner.to_string(), tag: tag.clone() })
        }
    }

    /// Whether traffic from `src` to `dst` on `port` is accepted: the index of the first rule
    /// that accepts it. This is what `tests` assertions check.
    pub fn allows(&self, src: &Endpoint, dst: &Endpoint, port: u16) -> Option<usize> {
        self.rules.iter().position(|rule| {
            self.sets[rule.src as usize].contains_endpoint(src)
                && rule.dsts.iter().any(|d| {
                    self.sets[d.set as usize].contains_endpoint(dst)
                        && d.ports.iter().any(|p| p.first <= port && port <= p.last)
                })
        })
    }

    /// Errors with their line and column, found from their paths.
    fn positioned(&self, errors: Vec<(Path, ErrorKind)>) -> PolicyErrors {
        let errors = errors
            .into_iter()
            .map(|(path, kind)| {
                let offset = locate(&self.json, &path).unwrap_or(0);
                let (line, column) = position_at(&self.text, offset);
                PolicyError { line, column, path: path.to_string(), kind }
            })
            .collect();
        PolicyErrors::new(errors)
    }
}

/// serde_json's error (on `json`, the standardized `text`) at its position, the
/// " at line L column C" it appends left off.
fn syntax(text: &str, json: &str, e: &serde_json::Error) -> PolicyError {
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if message.ends_with(&suffix) {
        message.truncate(message.len() - suffix.len());
    }
    let mut offset = offset_of_serde(json, e.line(), e.column());
    // serde_json counts the bytes it consumed, so a value it refused without consuming (a map
    // where a list belongs) is reported at the whitespace (or comment) before it: move on to
    // the value.
    let bytes = json.as_bytes();
    while offset < bytes.len() && bytes[offset].is_ascii_whitespace() {
        offset += 1;
    }
    // serde_json stops at the closing quote of an unknown or repeated key; point at the key's
    // opening quote instead.
    if message.starts_with("unknown field") || message.starts_with("duplicate key") {
        let before = &bytes[..(offset + 1).min(bytes.len())];
        if let Some(close) = before.iter().rposition(|&b| b == b'"') {
            if let Some(open) = before[..close].iter().rposition(|&b| b == b'"') {
                offset = open;
            }
        }
    }
    let (line, column) = position_at(text, offset);
    PolicyError { line, column, path: String::new(), kind: ErrorKind::Syntax(message) }
}

/// Compiles a parsed file, collecting every problem with its path.
#[derive(Default)]
struct Compiler {
    errors: Vec<(Path, ErrorKind)>,
    sets: Vec<Targets>,
    set_ids: HashMap<Targets, SetId>,
}

impl Compiler {
    fn compile(&mut self, text: &str, json: String, file: &PolicyFile) -> Policy {
        let groups = self.groups(file);
        let hosts = self.hosts(file);
        let tag_names = self.tag_names(file);
        let names = Names { groups: &groups, hosts: &hosts, tags: &tag_names };
        let tag_owners = self.tag_owners(file, &names);
        let rules = self.rules(file, &names, &groups);
        let tests = assertions::parse_tests(&file.tests, &names, &mut self.errors);

        let mut rules_by_src = vec![Vec::new(); self.sets.len()];
        let mut dst_index = SelectorIndex::default();
        let mut src_index = SelectorIndex::default();
        for (r, rule) in rules.iter().enumerate() {
            let r = index_u32(r);
            if rules_by_src[rule.src as usize].is_empty() {
                src_index.add(&self.sets[rule.src as usize], rule.src);
            }
            rules_by_src[rule.src as usize].push(r);
            for (d, dst) in rule.dsts.iter().enumerate() {
                dst_index.add(&self.sets[dst.set as usize], (r, index_u32(d)));
            }
        }
        let prefixes = self.sets.iter().flat_map(|s| s.prefixes.iter().copied()).collect();
        Policy {
            text: text.to_owned(),
            json,
            tag_owners,
            rules,
            sets: std::mem::take(&mut self.sets),
            rules_by_src,
            dst_index,
            src_index,
            prefixes,
            tests,
        }
    }

    fn error(&mut self, path: Path, kind: ErrorKind) {
        self.errors.push((path, kind));
    }

    /// `groups`: names checked, members resolved to users.
    fn groups(&mut self, file: &PolicyFile) -> HashMap<String, Vec<UserName>> {
        let section = Path::key("groups");
        let mut groups = HashMap::new();
        for (name, members) in &file.groups.0 {
            let valid_name = name.strip_prefix("group:").is_some_and(|rest| {
                !rest.is_empty()
                    && rest.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
            if !valid_name {
                self.error(section.entry_name(name), ErrorKind::BadGroupName(name.clone()));
            }
            let mut users = Vec::new();
            for (i, member) in members.iter().enumerate() {
                let path = section.field(name).index(i);
                let not_a_user = member == "*"
                    || ["group:", "tag:", "autogroup:"].iter().any(|p| member.starts_with(p))
                    || parse_prefix(member).is_some();
                if not_a_user {
                    self.error(path, ErrorKind::NotAUser(member.clone()));
                    continue;
                }
                match parse_user(member) {
                    Ok(u) => users.push(u),
                    Err(e) => self.error(path, e),
                }
            }
            // Kept even with a bad name, so that its uses do not each add an error.
            groups.insert(name.clone(), users);
        }
        groups
    }

    /// `hosts`: names checked, addresses parsed.
    fn hosts(&mut self, file: &PolicyFile) -> HashMap<String, IpNet> {
        let section = Path::key("hosts");
        let mut hosts = HashMap::new();
        for (name, address) in &file.hosts.0 {
            let mut chars = name.chars();
            let valid_name = name.len() <= 63
                && chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
            if !valid_name {
                self.error(section.entry_name(name), ErrorKind::BadHostName(name.clone()));
            }
            match parse_prefix(address) {
                Some(prefix) => {
                    hosts.insert(name.clone(), prefix);
                }
                None => self.error(section.field(name), ErrorKind::BadAddress(address.clone())),
            }
        }
        hosts
    }

    /// The tags `tagOwners` defines (with their syntax checked).
    fn tag_names(&mut self, file: &PolicyFile) -> HashSet<Tag> {
        let section = Path::key("tagOwners");
        let mut tags = HashSet::new();
        for (name, _) in file.tag_owners.iter().flat_map(|t| &t.0) {
            match Tag::parse(name) {
                Ok(tag) => {
                    tags.insert(tag);
                }
                Err(e) => self.error(section.entry_name(name), e.into()),
            }
        }
        tags
    }

    /// `tagOwners`: each tag's owners resolved.
    fn tag_owners(&mut self, file: &PolicyFile, names: &Names<'_>) -> Option<HashMap<Tag, Owners>> {
        let section = Path::key("tagOwners");
        let entries = file.tag_owners.as_ref()?;
        let mut map = HashMap::new();
        for (name, owners) in &entries.0 {
            let mut resolved = Owners::default();
            for (i, owner) in owners.iter().enumerate() {
                let path = section.field(name).index(i);
                let result = add_owner(&mut resolved, owner, names);
                if let Err(e) = result {
                    self.error(path, e);
                }
            }
            if let Ok(tag) = Tag::parse(name) {
                map.insert(tag, resolved);
            }
        }
        Some(map)
    }

    /// `acls`, compiled.
    fn rules(
        &mut self,
        file: &PolicyFile,
        names: &Names<'_>,
        groups: &HashMap<String, Vec<UserName>>,
    ) -> Vec<Rule> {
        let mut rules = Vec::with_capacity(file.acls.len());
        for (i, acl) in file.acls.iter().enumerate() {
            let path = Path::key("acls").index(i);
            if acl.action != "accept" {
                self.error(path.field("action"), ErrorKind::BadAction(acl.action.clone()));
            }
            if acl.src.is_empty() {
                self.error(path.field("src"), ErrorKind::Empty("src"));
            }
            if acl.dst.is_empty() {
                self.error(path.field("dst"), ErrorKind::Empty("dst"));
            }
            let mut src = Targets::default();
            for (j, text) in acl.src.iter().enumerate() {
                match parse_alias(text, names) {
                    Ok(alias) => src.add(&alias, groups),
                    Err(e) => self.error(path.field("src").index(j), e),
                }
            }
            let mut dsts = Vec::with_capacity(acl.dst.len());
            for (j, text) in acl.dst.iter().enumerate() {
                match parse_destination(text, names) {
                    Ok((alias, ports)) => {
                        let mut targets = Targets::default();
                        targets.add(&alias, groups);
                        dsts.push(Dst { set: self.intern(targets), ports });
                    }
                    Err(e) => self.error(path.field("dst").index(j), e),
                }
            }
            let src = self.intern(src);
            rules.push(Rule { src, dsts });
        }
        rules
    }

    /// The id of `targets`, shared with every equal set.
    fn intern(&mut self, targets: Targets) -> SetId {
        if let Some(id) = self.set_ids.get(&targets) {
            return *id;
        }
        let id = index_u32(self.sets.len());
        self.sets.push(targets.clone());
        self.set_ids.insert(targets, id);
        id
    }
}

/// Adds `owner`, an entry of a tag's list under `tagOwners`, to `owners`.
fn add_owner(owners: &mut Owners, owner: &str, names: &Names<'_>) -> Result<(), ErrorKind> {
    if owner == "autogroup:member" {
        owners.members = true;
        return Ok(());
    }
    if owner.starts_with("group:") || owner.starts_with("tag:") {
        match parse_alias(owner, names)? {
            Alias::Group(g) => {
                owners.users.extend(names.groups.get(&g).into_iter().flatten().cloned())
            }
            Alias::Tag(t) => {
                owners.tags.insert(t);
            }
            _ => return Err(ErrorKind::BadOwner(owner.to_owned())),
        }
        return Ok(());
    }
    // Hosts, addresses and other autogroups own nothing; a bare name here is always a user.
    if owner == "*" || owner.contains(':') || parse_prefix(owner).is_some() {
        return Err(ErrorKind::BadOwner(owner.to_owned()));
    }
    owners.users.insert(parse_user(owner)?);
    Ok(())
}

/// A position in a list of rules or sets. A policy file small enough to be accepted (the API
/// takes at most a few megabytes) has far fewer than 2^32 of either.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
