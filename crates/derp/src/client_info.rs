//! The JSON inside the handshake boxes: `ClientInfo` (client → server) and `ServerInfo`
//! (server → client). Upstream: `derp/derp_client.go` (`ClientInfo`), `derp/derp.go`
//! (`ServerInfo`).
//!
//! Go decodes JSON field names case-insensitively, and its clients write a mix of cases
//! (`{"version":2,"CanAckPings":true}`), so each field also accepts the other common spelling.
//! Unknown fields are ignored: newer clients add fields.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a client tells the server about itself, sealed with its node key.
///
/// Example from tailscaled 1.96: `{"version":2,"CanAckPings":true}`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientInfo {
    /// Mesh key (64 hex digits) of a trusted DERP peer; absent for ordinary clients. This
    /// server has no mesh and ignores it; it is never logged.
    #[serde(rename = "meshKey", alias = "MeshKey", skip_serializing_if = "Option::is_none")]
    pub mesh_key: Option<String>,
    /// DERP protocol version the client speaks (2 today).
    #[serde(rename = "version", alias = "Version", skip_serializing_if = "is_zero")]
    pub version: i64,
    /// Whether the client answers server pings with pongs.
    #[serde(rename = "CanAckPings", alias = "canAckPings")]
    pub can_ack_pings: bool,
    /// Whether the client is a monitoring prober.
    #[serde(rename = "IsProber", alias = "isProber", skip_serializing_if = "is_false")]
    pub is_prober: bool,
    /// Opaque application name, for statistics.
    #[serde(rename = "AppName", alias = "appName", skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
}

impl fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInfo")
            .field("mesh_key", &self.mesh_key.as_ref().map(|_| "<redacted>"))
            .field("version", &self.version)
            .field("can_ack_pings", &self.can_ack_pings)
            .field("is_prober", &self.is_prober)
            .field("app_name", &self.app_name)
            .finish()
    }
}

/// What the server tells a client after accepting it, sealed to the client's node key.
///
/// This server sends `{"version":2}`: no rate limit is announced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// DERP protocol version the server speaks.
    #[serde(rename = "version", alias = "Version", skip_serializing_if = "is_zero")]
    pub version: i64,
    /// Bytes per second the server accepts from the client (0 = unspecified).
    #[serde(
        rename = "TokenBucketBytesPerSecond",
        alias = "tokenBucketBytesPerSecond",
        skip_serializing_if = "is_zero"
    )]
    pub token_bucket_bytes_per_second: i64,
    /// Burst allowance above the rate (0 = unspecified).
    #[serde(
        rename = "TokenBucketBytesBurst",
        alias = "tokenBucketBytesBurst",
        skip_serializing_if = "is_zero"
    )]
    pub token_bucket_bytes_burst: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_tailscaled_writes() {
        let info: ClientInfo =
            serde_json::from_str(r#"{"version":2,"CanAckPings":true,"Future":[1]}"#).unwrap();
        assert_eq!(info, ClientInfo { version: 2, can_ack_pings: true, ..ClientInfo::default() });
        let info: ClientInfo = serde_json::from_str(
            r#"{"meshKey":"00ff","version":2,"CanAckPings":false,"IsProber":true,"AppName":"x"}"#,
        )
        .unwrap();
        assert!(info.is_prober && info.mesh_key.is_some());
        assert!(!format!("{info:?}").contains("00ff"));
    }

    #[test]
    fn writes_the_upstream_names() {
        let info = ClientInfo { version: 2, can_ack_pings: true, ..ClientInfo::default() };
        assert_eq!(serde_json::to_string(&info).unwrap(), r#"{"version":2,"CanAckPings":true}"#);
        let server = ServerInfo { version: 2, ..ServerInfo::default() };
        assert_eq!(serde_json::to_string(&server).unwrap(), r#"{"version":2}"#);
    }
}
