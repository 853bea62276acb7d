//! Reading the fields several forms share: each check returns the message shown next to its
//! field, worded as a sentence.

use keygate_domain::{Description, KeyLifetime, User};
use serde::Deserialize;

/// Fields of a form that only carries its CSRF token.
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// Tags as typed: separated by commas or spaces.
pub(crate) fn split_tags(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Domain messages start in lower case; next to a field they read as sentences.
pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// The "user" field: empty for the default user, else one of `users`.
pub(crate) fn parse_user(typed: &str, users: &[User]) -> Result<Option<String>, String> {
    match typed.trim() {
        "" => Ok(None),
        name if users.iter().any(|u| u.name.as_str() == name) => Ok(Some(name.to_owned())),
        _ => Err("Choose a user from the list.".into()),
    }
}

/// An "expires after (days)" field: empty for the default lifetime.
pub(crate) fn parse_lifetime(typed: &str) -> Result<Option<KeyLifetime>, String> {
    match typed.trim() {
        "" => Ok(None),
        text => text
            .parse::<i64>()
            .ok()
            .and_then(|d| KeyLifetime::from_days(d).ok())
            .map(Some)
            .ok_or_else(|| "Enter a number of days from 1 to 90.".into()),
    }
}

/// A "description" field.
pub(crate) fn check_description(typed: &str) -> Result<(), String> {
    Description::parse(typed).map(drop).map_err(|e| capitalise(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_commas_and_spaces() {
        assert_eq!(split_tags("tag:a, tag:b  tag:c,,"), ["tag:a", "tag:b", "tag:c"]);
        assert!(split_tags("  ").is_empty());
    }

    #[test]
    fn lifetimes_are_whole_days_from_1_to_90() {
        assert_eq!(parse_lifetime(" "), Ok(None));
        assert_eq!(parse_lifetime("30"), Ok(Some(KeyLifetime::from_days(30).unwrap())));
        for bad in ["0", "91", "x", "1.5"] {
            assert_eq!(parse_lifetime(bad), Err("Enter a number of days from 1 to 90.".into()));
        }
    }
}
