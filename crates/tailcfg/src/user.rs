//! Users, logins and user profiles (`tailcfg.User`, `Login`, `UserProfile`).
//!
//! `User` and `Login` appear only in [`RegisterResponse`](crate::RegisterResponse)
//! (server → client, `POST /machine/register`); `UserProfile` in
//! [`MapResponse::user_profiles`](crate::MapResponse::user_profiles).
//!
//! tailscale-rs 0.6.1 deserializes `Login` strictly: `ID`, `Provider` and
//! `LoginName` must be present, so they are always serialized (possibly as
//! `""`). See protocol.md §5.1.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{LoginID, UserID};
use crate::nullable::null_as_default;

/// A Tailscale user (`tailcfg.User`), as sent in `RegisterResponse.User`.
///
/// Serialized as `{"ID","DisplayName","ProfilePicURL"?,"Created"}`: `Created`
/// is always written (the Go zero time when `None`), matching the response
/// body every tested client accepted; `ProfilePicURL` only when non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// User ID; the client stores it as its profile's user.
    #[serde(rename = "ID")]
    pub id: UserID,
    /// Display name; overrides the login's when non-empty.
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    /// Profile picture URL; overrides the login's when non-empty.
    #[serde(rename = "ProfilePicURL", skip_serializing_if = "String::is_empty")]
    pub profile_pic_url: String,
    /// Creation time; `None` is Go's zero time.
    #[serde(rename = "Created", with = "crate::go_time::zero_is_none")]
    pub created: Option<OffsetDateTime>,
}

/// A login at an identity provider (`tailcfg.Login`), as sent in
/// `RegisterResponse.Login`. Every field is always serialized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Login {
    /// Login ID (unused by clients; required by tailscale-rs).
    #[serde(rename = "ID")]
    pub id: LoginID,
    /// Identity provider name (`"google"`, …); `""` for pre-auth keys.
    /// Always present: tailscale-rs fails with "missing field Provider".
    #[serde(rename = "Provider")]
    pub provider: String,
    /// Email or email-ish login name, e.g. `alice@example.com`.
    #[serde(rename = "LoginName")]
    pub login_name: String,
    /// Display name from the provider.
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    /// Profile picture URL; always written (as `""` when unknown), as in the
    /// register response accepted by all tested clients.
    #[serde(rename = "ProfilePicURL")]
    pub profile_pic_url: String,
}

/// Display data for a user (`tailcfg.UserProfile`), one per user referenced
/// by the self node or a peer, in `MapResponse.UserProfiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserProfile {
    /// User ID, matching `Node.User`.
    #[serde(rename = "ID")]
    pub id: UserID,
    /// Login name for display, e.g. `alice@example.com`.
    #[serde(rename = "LoginName")]
    pub login_name: String,
    /// Display name, e.g. `Alice Smith`.
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    /// Profile picture URL; omitted when empty.
    #[serde(rename = "ProfilePicURL", skip_serializing_if = "String::is_empty")]
    pub profile_pic_url: String,
    /// Groups containing this user that the server chose to reveal; omitted
    /// when empty.
    #[serde(
        rename = "Groups",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_always_carries_provider_and_picture() {
        let login = Login { id: 1, login_name: "probe@example.test".into(), ..Login::default() };
        assert_eq!(
            serde_json::to_value(&login).unwrap(),
            json!({"ID":1,"Provider":"","LoginName":"probe@example.test","DisplayName":"","ProfilePicURL":""})
        );
    }

    #[test]
    fn user_writes_zero_created_and_skips_empty_picture() {
        let user = User { id: 1, display_name: "probe".into(), ..User::default() };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({"ID":1,"DisplayName":"probe","Created":"0001-01-01T00:00:00Z"})
        );
    }

    #[test]
    fn user_profile_is_compact() {
        let profile = UserProfile {
            id: 1,
            login_name: "probe@example.test".into(),
            display_name: "probe".into(),
            ..UserProfile::default()
        };
        let value = serde_json::to_value(&profile).unwrap();
        assert_eq!(value, json!({"ID":1,"LoginName":"probe@example.test","DisplayName":"probe"}));
        assert_eq!(serde_json::from_value::<UserProfile>(value).unwrap(), profile);
    }
}
