//! HuJSON ("human JSON", Tailscale's policy file format): JSON plus `//` and `/* */` comments
//! and trailing commas.
//!
//! [`standardize`] turns HuJSON into plain JSON **of the same length, byte for byte at the same
//! offsets**: every byte of a comment becomes a space (newlines stay), and a trailing comma
//! becomes a space. serde_json then parses the result, and whatever line and column it reports
//! (or [`crate::position`] finds) is exact in the text the user wrote. Comments cannot hide
//! inside strings, so strings are skipped whole, escapes included.
//!
//! After `tailscale/hujson`'s `Standardize`, which does the same.

use crate::error::{ErrorKind, PolicyError};
use crate::position::position_at;

/// The JSON text of `text`, or an error for a block comment that never ends (the one HuJSON
/// mistake serde_json could not report, since the comment is blanked before it looks).
pub(crate) fn standardize(text: &str) -> Result<String, PolicyError> {
    let src = text.as_bytes();
    let mut out = src.to_vec();
    let mut i = 0;
    // A byte-order mark, which some editors write, is whitespace to us.
    if text.starts_with('\u{feff}') {
        out[..3].copy_from_slice(b"   ");
        i = 3;
    }
    // The last comma seen outside strings, while only whitespace and comments follow it.
    let mut pending_comma: Option<usize> = None;
    while i < src.len() {
        match src[i] {
            b'"' => {
                pending_comma = None;
                i += 1;
                while i < src.len() {
                    match src[i] {
                        // An escape: the next byte is part of it (even a quote).
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                while i < src.len() && src[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                let start = i;
                out[i] = b' ';
                out[i + 1] = b' ';
                i += 2;
                loop {
                    if i >= src.len() {
                        let (line, column) = position_at(text, start);
                        return Err(PolicyError {
                            line,
                            column,
                            path: String::new(),
                            kind: ErrorKind::Syntax("a /* comment is never closed with */".into()),
                        });
                    }
                    if src[i] == b'*' && src.get(i + 1) == Some(&b'/') {
                        out[i] = b' ';
                        out[i + 1] = b' ';
                        i += 2;
                        break;
                    }
                    if src[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
            }
            b',' => {
                pending_comma = Some(i);
                i += 1;
            }
            b']' | b'}' => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            _ => {
                pending_comma = None;
                i += 1;
            }
        }
    }
    // Only whole comments were replaced, and a comment starts and ends at ASCII bytes, so no
    // multi-byte character was cut: the bytes are still UTF-8. The fallback is unreachable.
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std(text: &str) -> String {
        let out = standardize(text).unwrap();
        assert_eq!(out.len(), text.len(), "offsets are kept");
        out
    }

    #[test]
    fn line_comments_become_spaces_and_keep_the_newline() {
        assert_eq!(std("{ // hi\n}"), "{      \n}");
        assert_eq!(std("// only\n[]"), "       \n[]");
    }

    #[test]
    fn block_comments_become_spaces_and_keep_their_newlines() {
        assert_eq!(std("[/* a\nb */1]"), "[    \n    1]");
    }

    #[test]
    fn trailing_commas_become_spaces_even_across_comments() {
        assert_eq!(std("[1,2,]"), "[1,2 ]");
        assert_eq!(std("{\"a\":1, // c\n}"), "{\"a\":1      \n}");
        assert_eq!(std("[1, /* x */ ]"), "[1          ]");
        // Not trailing: left for serde_json to refuse.
        assert_eq!(std("[1,,2]"), "[1,,2]");
    }

    #[test]
    fn comment_markers_inside_strings_are_text() {
        let text = r#"{"a": "// not a comment", "b": "/* nor this */", "c": "q\"//"}"#;
        assert_eq!(std(text), text);
    }

    #[test]
    fn multibyte_characters_in_comments_keep_their_byte_length() {
        let out = std("[1] // héllo ✓\n");
        assert_eq!(out.trim_end(), "[1]");
        assert_eq!(out.len(), "[1] // héllo ✓\n".len());
    }

    #[test]
    fn a_byte_order_mark_is_whitespace() {
        assert_eq!(std("\u{feff}{}"), "   {}");
    }

    #[test]
    fn an_unclosed_block_comment_is_reported_where_it_starts() {
        let err = standardize("{\n  /* open\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.to_string().contains("never closed"), "{err}");
    }
}
