//! Node registration: `POST /machine/register` over Noise
//! (`tailcfg.RegisterRequest`, `RegisterResponse`).
//!
//! The client sends a [`RegisterRequest`] to log in with an auth key, to
//! confirm an existing login on restart (`Auth` absent), to rotate its node
//! key (`OldNodeKey` set) or to log out (`Expiry` in the past). The server
//! answers with a [`RegisterResponse`]; authentication failures travel as
//! HTTP 200 with [`RegisterResponse::error`] set (docs/protocol.md, section "Registration").
//!
//! Input: read bodies with [`crate::from_slice_case_insensitive`]. Every field
//! is optional with a zero default: tailscale-rs sends no `OldNodeKey`,
//! `Expiry` or `Followup`, arkitekt-mesh no `NLKey`.
//!
//! Output of the request (our node client) follows Go: `Version`, `NodeKey`,
//! `OldNodeKey`, `Expiry`, `Followup` and `NodeKeySignature` are always
//! written; everything else only when set.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::hostinfo::{is_false, Hostinfo};
use crate::ids::CapabilityVersion;
use crate::key::{NLPublicKey, NodePublicKey};
use crate::user::{Login, User};

/// Client → server body of `POST /machine/register` (`tailcfg.RegisterRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterRequest {
    /// Client capability version (e.g. 133 for tailscaled 1.96). Take the
    /// version from here, never from a release table.
    #[serde(rename = "Version")]
    pub version: CapabilityVersion,
    /// The node key to register.
    #[serde(rename = "NodeKey")]
    pub node_key: NodePublicKey,
    /// The previous node key when rotating; zero otherwise.
    #[serde(rename = "OldNodeKey")]
    pub old_node_key: NodePublicKey,
    /// Tailnet-lock key (`nlpub:`), opaque; omitted on output when empty.
    #[serde(rename = "NLKey", skip_serializing_if = "NLPublicKey::is_empty")]
    pub nl_key: NLPublicKey,
    /// Credentials; absent on restart and logout. Omitted when `None`.
    #[serde(rename = "Auth", skip_serializing_if = "Option::is_none")]
    pub auth: Option<RegisterAuth>,
    /// Requested key expiry; `None` (Go zero time) = server default. A time in
    /// the past with a known `NodeKey` is a logout (Go sends Unix time 123).
    #[serde(rename = "Expiry", with = "crate::go_time::zero_is_none")]
    pub expiry: Option<OffsetDateTime>,
    /// Interactive-login URL to wait on; `""` for auth-key logins.
    #[serde(rename = "Followup")]
    pub followup: String,
    /// The client's host information; omitted when `None`.
    #[serde(rename = "Hostinfo", skip_serializing_if = "Option::is_none")]
    pub hostinfo: Option<Hostinfo>,
    /// Whether the node asks to be ephemeral (`--state=mem:`, tsnet
    /// `Ephemeral`). Omitted when false.
    #[serde(rename = "Ephemeral", skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    /// Re-signed node-key signature (tailnet lock), base64; `null` when empty.
    #[serde(rename = "NodeKeySignature", with = "crate::base64_bytes")]
    pub node_key_signature: Vec<u8>,
    /// Request-signing scheme; omitted when [`SignatureType::None`].
    #[serde(rename = "SignatureType", skip_serializing_if = "SignatureType::is_none")]
    pub signature_type: SignatureType,
    /// Request creation time (signed requests only); omitted when `None`.
    #[serde(
        rename = "Timestamp",
        with = "crate::go_time::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<OffsetDateTime>,
    /// X.509 device certificate (signed requests only), base64.
    #[serde(
        rename = "DeviceCert",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_cert: Vec<u8>,
    /// Request signature (signed requests only), base64.
    #[serde(
        rename = "Signature",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signature: Vec<u8>,
    /// Tailnet the node wants to join (`required:` prefix = mandatory).
    #[serde(rename = "Tailnet", skip_serializing_if = "String::is_empty")]
    pub tailnet: String,
}

/// Credentials in `RegisterRequest.Auth` (Go's `tailcfg.RegisterResponseAuth`,
/// despite the name). At most one of the two is set.
///
/// `Debug` redacts the secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterAuth {
    /// The pre-auth key, as typed by the user (a tailnet-lock wrapped key
    /// arrives with its `--TL…` suffix already stripped by the client).
    #[serde(rename = "AuthKey", skip_serializing_if = "String::is_empty")]
    pub auth_key: String,
    /// OAuth2 token from pre-1.66 Android clients; not interpreted.
    #[serde(rename = "Oauth2Token", skip_serializing_if = "Option::is_none")]
    pub oauth2_token: Option<serde_json::Value>,
}

impl std::fmt::Debug for RegisterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |present: bool| if present { "<redacted>" } else { "<none>" };
        f.debug_struct("RegisterAuth")
            .field("auth_key", &redact(!self.auth_key.is_empty()))
            .field("oauth2_token", &redact(self.oauth2_token.is_some()))
            .finish()
    }
}

/// How a register request is signed (`tailcfg.SignatureType`).
///
/// On the wire Go writes text (`"signature-none"`, `"signature-v1"`, …);
/// tailscale-rs writes the integer. Both are accepted; output is text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureType {
    /// Unsigned (0), the normal case.
    #[default]
    None,
    /// Unknown scheme (1); an error if seen.
    Unknown,
    /// RSA-PSS over the old key serialization (2); deprecated.
    V1,
    /// RSA-PSS over the current key serialization (3).
    V2,
    /// Any other number.
    Other(i64),
}

impl SignatureType {
    /// Whether this is [`SignatureType::None`].
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    fn from_number(number: i64) -> Self {
        match number {
            0 => Self::None,
            1 => Self::Unknown,
            2 => Self::V1,
            3 => Self::V2,
            other => Self::Other(other),
        }
    }
}

impl Serialize for SignatureType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => serializer.serialize_str("signature-none"),
            Self::Unknown => serializer.serialize_str("signature-unknown"),
            Self::V1 => serializer.serialize_str("signature-v1"),
            Self::V2 => serializer.serialize_str("signature-v2"),
            Self::Other(n) => serializer.collect_str(&format_args!("signature-unknown({n})")),
        }
    }
}

impl<'de> Deserialize<'de> for SignatureType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(i64),
            Text(String),
        }
        Ok(match Option::<Wire>::deserialize(deserializer)? {
            None => Self::None,
            Some(Wire::Number(n)) => Self::from_number(n),
            Some(Wire::Text(text)) => match text.as_str() {
                "" | "signature-none" => Self::None,
                "signature-v1" => Self::V1,
                "signature-v2" => Self::V2,
                _ => Self::Unknown,
            },
        })
    }
}

/// Server → client answer to `POST /machine/register`
/// (`tailcfg.RegisterResponse`).
///
/// Every field is written except an empty `NodeKeySignature`: tailscale-rs
/// fails without `Login.Provider` and `Error`, and the body accepted by all
/// five tested clients had no `NodeKeySignature` (Go reads absent as nil).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisterResponse {
    /// The node's owner.
    #[serde(rename = "User")]
    pub user: User,
    /// The owner's login; the client shows its names as the profile.
    #[serde(rename = "Login")]
    pub login: Login,
    /// The node key has expired: the client makes a new one and re-registers
    /// with `OldNodeKey` set.
    #[serde(rename = "NodeKeyExpired")]
    pub node_key_expired: bool,
    /// Device approved; `false` with an empty `AuthURL` leaves the client in
    /// `NeedsMachineAuth` until a map says otherwise.
    #[serde(rename = "MachineAuthorized")]
    pub machine_authorized: bool,
    /// Non-empty while an interactive login is pending.
    #[serde(rename = "AuthURL")]
    pub auth_url: String,
    /// Current node-key signature to re-sign (tailnet lock); omitted when empty.
    #[serde(
        rename = "NodeKeySignature",
        with = "crate::base64_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_key_signature: Vec<u8>,
    /// User-visible failure (`tailscale up` prints `backend error: <Error>`);
    /// other fields are ignored when set. Always written, `""` on success.
    #[serde(rename = "Error")]
    pub error: String,
}

impl RegisterResponse {
    /// A failure answer carrying only `message` (sent with HTTP 200).
    pub fn error(message: impl Into<String>) -> Self {
        Self { error: message.into(), ..Self::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_slice_case_insensitive;
    use serde_json::json;

    fn node_hex(byte: &str) -> String {
        byte.repeat(32)
    }

    /// Register body of tailscaled 1.96.4 (capver 133), every field Go sends.
    fn tailscaled_body() -> String {
        json!({
            "Version": 133,
            "NodeKey": format!("nodekey:{}", node_hex("a1")),
            "OldNodeKey": format!("nodekey:{}", node_hex("00")),
            "NLKey": format!("nlpub:{}", node_hex("b2")),
            "Auth": {"AuthKey": "keygate-auth-0123456789ab-secret"},
            "Expiry": "0001-01-01T00:00:00Z",
            "Followup": "",
            "Hostinfo": {
                "IPNVersion": "1.96.4-t8cf541dfd-g62bc84ce7",
                "BackendLogID": "f00dfeed",
                "OS": "linux",
                "OSVersion": "Debian 12.8 (bookworm); kernel=6.1.0",
                "Container": true,
                "Distro": "debian",
                "DistroVersion": "12.8",
                "DistroCodeName": "bookworm",
                "Desktop": false,
                "Hostname": "tsd-probe",
                "NoLogsNoSupport": true,
                "Machine": "x86_64",
                "GoArch": "amd64",
                "GoArchVar": "v1",
                "GoVersion": "go1.26.1",
                "Userspace": true,
                "UserspaceRouter": true,
                "AppConnector": false,
                "StateEncrypted": false,
                "Services": [{"Proto": "peerapi-dns-proxy", "Port": 1}]
            },
            "NodeKeySignature": null
        })
        .to_string()
    }

    #[test]
    fn parses_tailscaled_1_96_body() {
        let req: RegisterRequest =
            from_slice_case_insensitive(tailscaled_body().as_bytes()).unwrap();
        assert_eq!(req.version, 133);
        assert_eq!(req.node_key.as_bytes(), &[0xa1; 32]);
        assert!(req.old_node_key.is_zero());
        assert!(!req.nl_key.is_zero());
        assert_eq!(req.auth.as_ref().unwrap().auth_key, "keygate-auth-0123456789ab-secret");
        assert_eq!(req.expiry, None);
        assert!(req.node_key_signature.is_empty());
        let hostinfo = req.hostinfo.unwrap();
        assert_eq!(hostinfo.ipn_version, "1.96.4-t8cf541dfd-g62bc84ce7");
        assert_eq!(hostinfo.hostname, "tsd-probe");
        assert_eq!(hostinfo.userspace, Some(true));
        assert_eq!(hostinfo.app_connector, Some(false));
        assert_eq!(hostinfo.services[0].proto, "peerapi-dns-proxy");
        assert!(hostinfo.extra.is_empty(), "every field is known: {:?}", hostinfo.extra);
    }

    #[test]
    fn parses_tailscale_rs_body_with_odd_casing() {
        let body = json!({
            "Version": 130,
            "NodeKey": format!("nodekey:{}", node_hex("c3")),
            "NLKey": format!("nlpub:{}", node_hex("d4")),
            "Auth": {"AuthKey": "tskey-rs"},
            "HostInfo": {"App": "tailscale-rs", "Hostname": "rs-probe", "IpnVersion": "0.6.1"}
        });
        let req: RegisterRequest =
            from_slice_case_insensitive(body.to_string().as_bytes()).unwrap();
        assert_eq!(req.version, 130);
        assert!(req.old_node_key.is_zero());
        assert_eq!(req.expiry, None);
        assert_eq!(req.followup, "");
        let hostinfo = req.hostinfo.expect("HostInfo is matched case-insensitively");
        assert_eq!(hostinfo.ipn_version, "0.6.1");
        assert_eq!(hostinfo.app, "tailscale-rs");
        assert!(hostinfo.extra.is_empty());
    }

    #[test]
    fn parses_arkitekt_body_without_nl_key() {
        let body = json!({
            "Version": 142,
            "NodeKey": format!("nodekey:{}", node_hex("e5")),
            "OldNodeKey": format!("nodekey:{}", node_hex("00")),
            "Auth": {"AuthKey": "key"},
            "Hostinfo": {"App": "arkitekt", "IPNVersion": "arkitekt-mesh/0.8.0", "OS": "linux",
                         "GoArch": "x86_64", "Hostname": "ark"}
        });
        let req: RegisterRequest =
            from_slice_case_insensitive(body.to_string().as_bytes()).unwrap();
        assert_eq!(req.version, 142);
        assert!(req.nl_key.is_zero());
        assert_eq!(req.hostinfo.unwrap().go_arch, "x86_64");
    }

    #[test]
    fn logout_expiry_and_signature_type_parse() {
        let body = r#"{"NodeKey":null,"Expiry":"1970-01-01T00:02:03Z","SignatureType":"signature-v2","Ephemeral":true}"#;
        let req: RegisterRequest = from_slice_case_insensitive(body.as_bytes()).unwrap();
        assert_eq!(req.expiry.unwrap().unix_timestamp(), 123);
        assert_eq!(req.signature_type, SignatureType::V2);
        assert!(req.ephemeral);
        let numeric: RegisterRequest = serde_json::from_str(r#"{"SignatureType":0}"#).unwrap();
        assert_eq!(numeric.signature_type, SignatureType::None);
    }

    #[test]
    fn request_serializes_like_go() {
        let req = RegisterRequest {
            version: 133,
            node_key: NodePublicKey::from_bytes([0xa1; 32]),
            auth: Some(RegisterAuth { auth_key: "k".into(), oauth2_token: None }),
            ..RegisterRequest::default()
        };
        let zero = format!("nodekey:{}", "0".repeat(64));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "Version": 133,
                "NodeKey": format!("nodekey:{}", node_hex("a1")),
                "OldNodeKey": zero,
                "Auth": {"AuthKey": "k"},
                "Expiry": "0001-01-01T00:00:00Z",
                "Followup": "",
                "NodeKeySignature": null
            })
        );
    }

    #[test]
    fn auth_debug_is_redacted() {
        let auth = RegisterAuth { auth_key: "very-secret".into(), oauth2_token: None };
        let printed = format!("{auth:?}");
        assert!(!printed.contains("very-secret"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn response_matches_golden() {
        let response = RegisterResponse {
            user: User { id: 1, display_name: "probe".into(), ..User::default() },
            login: Login {
                id: 1,
                login_name: "probe@example.test".into(),
                display_name: "probe".into(),
                ..Login::default()
            },
            machine_authorized: true,
            ..RegisterResponse::default()
        };
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../tests/golden/register_response.json")).unwrap();
        let actual = serde_json::to_value(&response).unwrap();
        assert_eq!(actual, golden);
        assert_eq!(actual["Login"]["Provider"], "");
        assert_eq!(actual["Error"], "");
        assert!(actual.get("AuthURL").is_some());
        assert_eq!(serde_json::from_value::<RegisterResponse>(golden).unwrap(), response);
    }

    #[test]
    fn error_response_keeps_every_required_field() {
        let value = serde_json::to_value(RegisterResponse::error("invalid auth key")).unwrap();
        assert_eq!(value["Error"], "invalid auth key");
        assert_eq!(value["MachineAuthorized"], false);
        assert_eq!(value["Login"]["Provider"], "");
        assert_eq!(value["User"]["ID"], 0);
    }
}
