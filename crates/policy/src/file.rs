//! The policy file as written: its sections and fields, before any name is resolved.
//!
//! Every struct refuses unknown fields, so a section keygate does not implement (`ssh`,
//! `grants`, `nodeAttrs`, …) or a misspelt one is an error at its position instead of being
//! silently ignored. Maps keep their entries in file order and refuse duplicate keys, which
//! JSON would otherwise let the last one win.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// `"group:eng": ["alice", "bob@keygate"]`.
    #[serde(default)]
    pub(crate) groups: Entries<Vec<String>>,
    /// `"tag:web": ["group:eng", "autogroup:member"]`. `None` when the section is absent,
    /// which keygate reads as "every user owns every tag" (see `Policy::may_own_tag`).
    #[serde(default, rename = "tagOwners")]
    pub(crate) tag_owners: Option<Entries<Vec<String>>>,
    /// `"db": "100.64.0.9"` or `"office": "192.0.2.0/24"`.
    #[serde(default)]
    pub(crate) hosts: Entries<String>,
    #[serde(default)]
    pub(crate) acls: Vec<AclRule>,
    #[serde(default)]
    pub(crate) tests: Vec<AclTest>,
}

/// One entry of `acls`: traffic from any of `src` to any of `dst` is accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AclRule {
    pub(crate) action: String,
    pub(crate) src: Vec<String>,
    /// `target:ports`.
    pub(crate) dst: Vec<String>,
}

/// One entry of `tests`: what `src` must and must not reach (`target:port`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AclTest {
    pub(crate) src: String,
    #[serde(default)]
    pub(crate) accept: Vec<String>,
    #[serde(default)]
    pub(crate) deny: Vec<String>,
}

/// A JSON object's entries in file order; a repeated key is an error.
#[derive(Debug)]
pub(crate) struct Entries<V>(pub(crate) Vec<(String, V)>);

impl<V> Default for Entries<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                let mut seen = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate key {key:?}"
                        )));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
