//! Reading Go's `null` for nil slices and maps.
//!
//! Go marshals a nil slice or map as `null` unless the field is `omitempty`
//! (`Node.Addresses`, `FilterRule.SrcIPs`, `DERPMap.Regions`, …), and some
//! clients send `null` for fields they never filled. serde's `default` only
//! covers a *missing* field; [`null_as_default`] also maps an explicit `null`
//! to the type's default. It is applied to every non-`Option` slice and map
//! field of the wire types.
//!
//! (Bodies read through [`crate::from_slice_case_insensitive`] have `null`
//! values of known fields removed before deserialization anyway; this helper
//! covers plain `serde_json::from_slice` callers, such as our node client
//! reading a Go server's `MapResponse`.)

use serde::{Deserialize, Deserializer};

/// Deserializes `T`, reading `null` as `T::default()`.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, Default)]
    struct Lists {
        #[serde(default, deserialize_with = "null_as_default")]
        items: Vec<String>,
    }

    #[test]
    fn null_and_missing_are_empty() {
        assert!(serde_json::from_str::<Lists>(r#"{"items":null}"#).unwrap().items.is_empty());
        assert!(serde_json::from_str::<Lists>("{}").unwrap().items.is_empty());
        assert_eq!(
            serde_json::from_str::<Lists>(r#"{"items":["a"]}"#).unwrap().items,
            vec!["a".to_string()]
        );
    }
}
