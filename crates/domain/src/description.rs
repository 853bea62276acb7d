//! Free-text descriptions of keys and tokens.

use std::fmt;

/// Longest description accepted, in characters (Tailscale's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 50;

/// Why a description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("description is {0} characters long; at most {MAX_DESCRIPTION_CHARS} are allowed")]
    TooLong(usize),
    #[error("description must not contain control characters such as newlines")]
    ControlCharacter,
}

/// A description of at most [`MAX_DESCRIPTION_CHARS`] printable characters; may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Checks `text` (surrounding white space is trimmed).
    pub fn parse(text: &str) -> Result<Self, DescriptionError> {
        let text = text.trim();
        let n = text.chars().count();
        if n > MAX_DESCRIPTION_CHARS {
            return Err(DescriptionError::TooLong(n));
        }
        if text.chars().any(char::is_control) {
            return Err(DescriptionError::ControlCharacter);
        }
        Ok(Self(text.to_owned()))
    }

    /// Wraps a description read back from storage.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_characters_pass_and_fifty_one_fail() {
        assert!(Description::parse(&"é".repeat(50)).is_ok());
        assert_eq!(Description::parse(&"a".repeat(51)), Err(DescriptionError::TooLong(51)));
    }

    #[test]
    fn trims_and_refuses_control_characters() {
        assert_eq!(Description::parse("  ci runners ").unwrap().as_str(), "ci runners");
        assert_eq!(Description::parse("a\nb"), Err(DescriptionError::ControlCharacter));
        assert_eq!(Description::parse("").unwrap().as_str(), "");
    }
}
