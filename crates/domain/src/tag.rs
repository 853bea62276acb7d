//! ACL tags (`tag:web`), the identity of tagged nodes.

use std::collections::BTreeSet;
use std::fmt;

/// Longest tag accepted, including the `tag:` prefix.
pub const MAX_TAG_LEN: usize = 64;

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("invalid tag {0:?}: a tag is \"tag:\" followed by lowercase letters, digits and dashes, starting with a letter (for example tag:ci-runner)")]
    Syntax(String),
    #[error("invalid tag {0:?}: at most {MAX_TAG_LEN} characters")]
    TooLong(String),
}

/// A tag: `tag:` + a lowercase letter + lowercase letters, digits and dashes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(text: &str) -> Result<Self, TagError> {
        let name = text.strip_prefix("tag:").ok_or_else(|| TagError::Syntax(text.to_owned()))?;
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(first_ok && rest_ok) {
            return Err(TagError::Syntax(text.to_owned()));
        }
        if text.len() > MAX_TAG_LEN {
            return Err(TagError::TooLong(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sorted set of distinct tags; may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TagSet(BTreeSet<Tag>);

impl TagSet {
    /// Parses each tag; duplicates collapse, order is normalised.
    pub fn parse<'a>(tags: impl IntoIterator<Item = &'a str>) -> Result<Self, TagError> {
        tags.into_iter().map(|t| Tag::parse(t.trim())).collect::<Result<_, _>>().map(Self)
    }

    /// Parses a comma-separated list such as `tag:a,tag:b` (empty text is the empty set).
    pub fn parse_list(text: &str) -> Result<Self, TagError> {
        Self::parse(text.split(',').map(str::trim).filter(|t| !t.is_empty()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, tag: &Tag) -> bool {
        self.0.contains(tag)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    /// The tags as strings, sorted.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|t| t.0.clone()).collect()
    }
}

impl FromIterator<Tag> for TagSet {
    fn from_iter<I: IntoIterator<Item = Tag>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(t.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_letters_digits_and_dashes_after_a_letter() {
        for ok in ["tag:a", "tag:web", "tag:ci-runner-2", "tag:x9"] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "web",
            "tag:",
            "tag:Web",
            "tag:9lives",
            "tag:-a",
            "tag:a_b",
            "tag:a b",
            "TAG:a",
            "tag:é",
            "group:a",
        ] {
            assert!(matches!(Tag::parse(bad), Err(TagError::Syntax(_))), "{bad}");
        }
        let long = format!("tag:{}", "a".repeat(61));
        assert!(matches!(Tag::parse(&long), Err(TagError::TooLong(_))));
        assert!(Tag::parse(&format!("tag:{}", "a".repeat(60))).is_ok());
    }

    #[test]
    fn the_error_names_the_tag_and_the_rule() {
        let msg = Tag::parse("tag:Bad").unwrap_err().to_string();
        assert!(msg.contains("\"tag:Bad\"") && msg.contains("lowercase"), "{msg}");
    }

    #[test]
    fn sets_sort_and_deduplicate() {
        let s = TagSet::parse_list("tag:b, tag:a,tag:b,").unwrap();
        assert_eq!(s.to_strings(), vec!["tag:a", "tag:b"]);
        assert_eq!(s.to_string(), "tag:a,tag:b");
        assert!(TagSet::parse_list("").unwrap().is_empty());
        assert!(TagSet::parse_list("tag:a,nope").is_err());
    }
}
