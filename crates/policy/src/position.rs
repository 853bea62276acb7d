//! Where things are in a policy file: paths such as `acls[0].dst[1]`, and their line and
//! column in the text.
//!
//! serde_json reports positions only for the errors it finds itself. For the errors found
//! after parsing (an unknown group, a failing test) we keep the path of the offending entry and
//! find it again in the standardized text with [`locate`], a scanner that trusts the text to
//! be valid JSON (serde_json has just parsed it) and only counts its way to the entry.
//!
//! Lines and columns are 1-based; columns count characters, not bytes.

use std::fmt;

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// The value of this key of an object.
    Key(String),
    /// The key itself (for errors about a name being defined, such as a bad group name).
    KeyName(String),
    /// This element of an array.
    Index(usize),
}

/// A path from the top of the document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(pub(crate) Vec<Seg>);

impl Path {
    pub(crate) fn key(name: &str) -> Self {
        Self(vec![Seg::Key(name.to_owned())])
    }

    /// This path, one step further.
    pub(crate) fn at(&self, seg: Seg) -> Self {
        let mut segs = self.0.clone();
        segs.push(seg);
        Self(segs)
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        self.at(Seg::Index(i))
    }

    /// The value under key `name`: a field such as `src`, or a map entry such as `group:eng`.
    pub(crate) fn field(&self, name: &str) -> Self {
        self.at(Seg::Key(name.to_owned()))
    }

    pub(crate) fn entry_name(&self, name: &str) -> Self {
        self.at(Seg::KeyName(name.to_owned()))
    }
}

/// `acls[0].dst[1]`, `groups["group:eng"][2]`: keys that are plain words follow a dot, others
/// are quoted in brackets.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) | Seg::KeyName(k)
                    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Key(k) | Seg::KeyName(k) => write!(f, "[{k:?}]")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The (line, column) of byte `offset` of `text`.
pub(crate) fn position_at(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    // A byte-order mark is invisible in editors: it takes no column.
    let line_start =
        before.rfind('\n').map_or(if text.starts_with('\u{feff}') { 3 } else { 0 }, |i| i + 1);
    (line, text[line_start.min(offset)..offset].chars().count() + 1)
}

/// The byte offset of serde_json's (line, column), which counts columns in bytes.
pub(crate) fn offset_of_serde(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2).map_or(text.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// The byte offset in `json` (valid JSON) where the value at `path` starts, or for
/// [`Seg::KeyName`] where that key's string starts; `None` if the path is not there.
pub(crate) fn locate(json: &str, path: &Path) -> Option<usize> {
    let mut c = Cursor { s: json.as_bytes(), i: 0 };
    for seg in &path.0 {
        c.ws();
        match seg {
            Seg::Key(name) | Seg::KeyName(name) => {
                c.expect(b'{')?;
                loop {
                    c.ws();
                    if c.peek()? == b'}' {
                        return None;
                    }
                    let key_start = c.i;
                    let key = c.string(json)?;
                    c.ws();
                    c.expect(b':')?;
                    if key == *name {
                        if matches!(seg, Seg::KeyName(_)) {
                            return Some(key_start);
                        }
                        break;
                    }
                    c.skip_value()?;
                    c.ws();
                    if c.peek()? == b',' {
                        c.i += 1;
                    }
                }
            }
            Seg::Index(n) => {
                c.expect(b'[')?;
                for _ in 0..*n {
                    c.ws();
                    if c.peek()? == b']' {
                        return None;
                    }
                    c.skip_value()?;
                    c.ws();
                    if c.peek()? == b',' {
                        c.i += 1;
                    }
                }
                c.ws();
                if c.peek()? == b']' {
                    return None;
                }
            }
        }
    }
    c.ws();
    Some(c.i)
}

/// A read position in JSON text.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// Skips a string and returns its decoded value.
    fn string(&mut self, text: &str) -> Option<String> {
        let start = self.i;
        self.skip_string()?;
        serde_json::from_str(text.get(start..self.i)?).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                _ => self.i += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.skip_string(),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                loop {
                    self.ws();
                    match self.peek()? {
                        c if c == close => {
                            self.i += 1;
                            return Some(());
                        }
                        b',' | b':' => self.i += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "{\n  \"groups\": {\"group:a\": [\"x\", \"y\"]},\n  \"acls\": [\n    {\"src\": [\"*\"], \"dst\": [\"a:1\", {\"n\": [1, 2]}, \"b\\\"c:2\"]}\n  ]\n}";

    fn at(path: &Path) -> (usize, usize) {
        position_at(DOC, locate(DOC, path).expect("found"))
    }

    #[test]
    fn finds_values_by_key_and_index() {
        assert_eq!(at(&Path::key("acls").index(0).field("dst").index(0)), (4, 28));
        assert_eq!(at(&Path::key("acls").index(0).field("dst").index(2)), (4, 50));
        assert_eq!(at(&Path::key("groups").field("group:a").index(1)), (2, 31));
    }

    #[test]
    fn finds_key_names() {
        assert_eq!(at(&Path::key("groups").entry_name("group:a")), (2, 14));
    }

    #[test]
    fn missing_paths_are_none() {
        assert_eq!(locate(DOC, &Path::key("tests")), None);
        assert_eq!(locate(DOC, &Path::key("acls").index(1)), None);
        assert_eq!(locate(DOC, &Path::key("acls").index(0).field("dst").index(3)), None);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(position_at("é:x", 3), (1, 3));
        assert_eq!(position_at("a\nbc", 3), (2, 2));
        assert_eq!(position_at("\u{feff}ab", 4), (1, 2), "a byte-order mark takes no column");
        // serde's byte columns map back to offsets.
        assert_eq!(offset_of_serde("a\nbc", 2, 2), 3);
    }

    #[test]
    fn paths_display_like_code() {
        let p = Path::key("groups").field("group:eng").index(2);
        assert_eq!(p.to_string(), "groups[\"group:eng\"][2]");
        assert_eq!(Path::key("acls").index(0).field("dst").index(1).to_string(), "acls[0].dst[1]");
    }
}
