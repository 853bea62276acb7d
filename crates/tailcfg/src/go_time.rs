//! Go `time.Time` values on the wire.
//!
//! Go marshals `time.Time` as an RFC 3339 string with up to nine fractional
//! digits, trailing zeros dropped (`time.RFC3339Nano`), e.g.
//! `"2025-09-25T05:41:06.417127373Z"`. Its zero value is year 1:
//! `"0001-01-01T00:00:00Z"`, which Go code reads as "unset" (`IsZero`).
//!
//! Two field shapes exist in `tailcfg`, each with a serde helper module here:
//!
//! | Go field | Rust field | helper | `None` on output | zero time on input |
//! |---|---|---|---|---|
//! | `time.Time` | `Option<OffsetDateTime>` | [`zero_is_none`] | `"0001-01-01T00:00:00Z"` (or omitted with `skip_serializing_if = "Option::is_none"` for `omitzero` fields) | `None` |
//! | `*time.Time` | `Option<OffsetDateTime>` | [`nullable`] | `null` (normally omitted) | `Some(GO_ZERO_TIME)` |
//!
//! The distinction matters for deltas: `PeerChange.KeyExpiry` pointing at the
//! zero time means "now never expires", which differs from "unchanged" (nil).
//! Both helpers read `null` and `""` as `None` for tolerance.

use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

/// Go's zero `time.Time`: 0001-01-01 00:00:00 UTC.
pub const GO_ZERO_TIME: OffsetDateTime = datetime!(0001-01-01 0:00 UTC);

/// Text form of [`GO_ZERO_TIME`] as Go marshals it.
pub const GO_ZERO_TIME_TEXT: &str = "0001-01-01T00:00:00Z";

/// Whether `t` is the same instant as Go's zero time.
pub fn is_go_zero(t: &OffsetDateTime) -> bool {
    *t == GO_ZERO_TIME
}

/// Formats like Go's `time.RFC3339Nano` in UTC: `Z` suffix, fraction only when
/// non-zero and without trailing zeros. Fails for years outside 0..=9999, as
/// Go's `MarshalJSON` does.
pub fn format(t: OffsetDateTime) -> Result<String, time::error::Format> {
    t.to_offset(UtcOffset::UTC).format(&Rfc3339)
}

/// Parses an RFC 3339 timestamp (any offset, up to nanosecond precision).
pub fn parse(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

/// Reads an optional timestamp string: `null` and `""` are `None`.
/// Serializes `t` as Go's RFC 3339 text (the part both helpers below share).
fn serialize_time<S: serde::Serializer>(
    t: OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = format(t).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

fn deserialize_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    let text: Option<String> = serde::Deserialize::deserialize(deserializer)?;
    match text.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => parse(text).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Serde helper for Go `time.Time` fields: `None` is the zero time.
///
/// Serializes `None` as `"0001-01-01T00:00:00Z"`; reads the zero time, `null`
/// and `""` as `None`.
pub mod zero_is_none {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Serializes `None` as Go's zero time, `Some(t)` as RFC 3339.
    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_str(super::GO_ZERO_TIME_TEXT),
            Some(t) => super::serialize_time(*t, serializer),
        }
    }

    /// Reads RFC 3339; the zero time, `null` and `""` become `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Ok(super::deserialize_text(deserializer)?.filter(|t| !super::is_go_zero(t)))
    }
}

/// Serde helper for Go `*time.Time` fields: `None` is nil.
///
/// Serializes `None` as `null` (pair it with
/// `skip_serializing_if = "Option::is_none"`); the zero time stays
/// `Some(GO_ZERO_TIME)`.
pub mod nullable {
    use serde::{Deserializer, Serializer};
    use time::OffsetDateTime;

    /// Serializes `None` as `null`, `Some(t)` as RFC 3339.
    pub fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(t) => super::serialize_time(*t, serializer),
        }
    }

    /// Reads RFC 3339; `null` and `""` become `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        super::deserialize_text(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Fields {
        #[serde(with = "zero_is_none", default)]
        value: Option<OffsetDateTime>,
        #[serde(with = "nullable", default, skip_serializing_if = "Option::is_none")]
        pointer: Option<OffsetDateTime>,
    }

    #[test]
    fn zero_time_reads_as_none_and_writes_as_year_one() {
        let parsed: Fields = serde_json::from_str(r#"{"value":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(parsed.value, None);
        assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"{"value":"0001-01-01T00:00:00Z"}"#);
        for absent in [r#"{}"#, r#"{"value":null}"#, r#"{"value":""}"#] {
            let parsed: Fields = serde_json::from_str(absent).unwrap();
            assert_eq!(parsed.value, None, "{absent}");
        }
    }

    #[test]
    fn pointer_fields_keep_the_zero_time() {
        let parsed: Fields = serde_json::from_str(r#"{"pointer":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(parsed.pointer, Some(GO_ZERO_TIME));
        let json = serde_json::to_value(&parsed).unwrap();
        assert_eq!(json["pointer"], "0001-01-01T00:00:00Z");
        let absent: Fields = serde_json::from_str(r#"{"pointer":null}"#).unwrap();
        assert_eq!(absent.pointer, None);
        assert!(serde_json::to_value(&absent).unwrap().get("pointer").is_none());
    }

    #[test]
    fn nanoseconds_round_trip_like_go() {
        let text = "2025-09-25T05:41:06.417127373Z";
        let t = parse(text).unwrap();
        assert_eq!(t.nanosecond(), 417_127_373);
        assert_eq!(format(t).unwrap(), text);
        // Trailing zeros are dropped and whole seconds have no fraction.
        assert_eq!(format(datetime!(2026-03-24 5:41:06.5 UTC)).unwrap(), "2026-03-24T05:41:06.5Z");
        assert_eq!(format(datetime!(2026-03-24 5:41:06 UTC)).unwrap(), "2026-03-24T05:41:06Z");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = parse("2026-01-01T02:00:00+02:00").unwrap();
        assert_eq!(format(t).unwrap(), "2026-01-01T00:00:00Z");
        assert!(is_go_zero(&parse(GO_ZERO_TIME_TEXT).unwrap()));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(serde_json::from_str::<Fields>(r#"{"value":"yesterday"}"#).is_err());
        assert!(serde_json::from_str::<Fields>(r#"{"value":12}"#).is_err());
    }
}
