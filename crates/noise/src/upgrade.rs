//! The HTTP/1.1 upgrade that starts a TS2021 connection (`control/controlhttp`,
//! `controlhttpserver.AcceptHTTP`; `reference/protocol.md` §3.1), as plain strings and bytes
//! so the server's axum code and the client's hyper code can share it.
//!
//! ```text
//! client:  POST /ts2021 HTTP/1.1
//!          Upgrade: tailscale-control-protocol
//!          Connection: upgrade
//!          X-Tailscale-Handshake: <standard base64 with padding of the 101-byte initiation>
//!
//! server:  HTTP/1.1 101 Switching Protocols
//!          Upgrade: tailscale-control-protocol
//!          Connection: upgrade
//!
//!          then, on the raw connection, the 51-byte handshake response (or a 0x03 error
//!          frame), then Noise records
//! ```
//!
//! The client compares the `Upgrade` value of the 101 exactly, so the server must send
//! [`UPGRADE_PROTOCOL`] verbatim. The WebSocket variant used by js/wasm clients
//! (`Upgrade: websocket`, handshake in a query parameter) is not handled here.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::handshake::INITIATION_LEN;

/// Value of the `Upgrade` header, both in the request and in the 101 reply.
pub const UPGRADE_PROTOCOL: &str = "tailscale-control-protocol";
/// Request header carrying the base64 handshake initiation.
pub const HANDSHAKE_HEADER: &str = "X-Tailscale-Handshake";
/// Path of the upgrade request (`POST`; Headscale also routes `GET` for WebSocket).
pub const UPGRADE_PATH: &str = "/ts2021";
/// A complete 101 reply that every known client accepts, for servers that write the reply
/// themselves on the raw socket (followed, in the same write, by the handshake response).
pub const SWITCHING_PROTOCOLS_RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: tailscale-control-protocol\r\n\
Connection: upgrade\r\n\
\r\n";

/// Longest `X-Tailscale-Handshake` value worth decoding. A valid one is 136 characters; the
/// slack lets a wrong-size initiation decode so the client gets the precise handshake error.
const MAX_HANDSHAKE_HEADER_LEN: usize = 1024;

/// Why an upgrade request was refused, before any Noise processing. Each maps to a 400 whose
/// body is this error's text (Go's wording, so clients and logs read the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// No `Upgrade` header.
    #[error("missing next protocol")]
    MissingUpgrade,
    /// An `Upgrade` value other than [`UPGRADE_PROTOCOL`].
    #[error("unknown next protocol")]
    UnknownProtocol,
    /// No (or an empty) `X-Tailscale-Handshake` header.
    #[error("missing Tailscale handshake header")]
    MissingHandshake,
    /// The handshake header is not standard padded base64, or is absurdly long.
    #[error("invalid tailscale handshake header")]
    InvalidHandshake,
}

/// Encodes an initiation for the `X-Tailscale-Handshake` header (client side).
pub fn encode_handshake_header(initiation: &[u8; INITIATION_LEN]) -> String {
    STANDARD.encode(initiation)
}

/// Decodes an `X-Tailscale-Handshake` value into the initiation bytes (server side).
///
/// Only the base64 is checked here. The size is checked by [`crate::accept`], which produces
/// the "wrong handshake initiation size" error frame the client expects after the 101.
pub fn decode_handshake_header(value: &str) -> Result<Vec<u8>, UpgradeError> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty() {
        return Err(UpgradeError::MissingHandshake);
    }
    if value.len() > MAX_HANDSHAKE_HEADER_LEN {
        return Err(UpgradeError::InvalidHandshake);
    }
    STANDARD.decode(value).map_err(|_| UpgradeError::InvalidHandshake)
}

/// Validates an upgrade request's `Upgrade` and `X-Tailscale-Handshake` header values (as
/// found, `None` when absent) and returns the initiation bytes for [`crate::accept`].
///
/// The `Upgrade` value is compared case-insensitively, as Go's server does since it
/// lower-cases it. `websocket` is reported as [`UpgradeError::UnknownProtocol`]; a server
/// that supports the WebSocket variant checks for it first.
pub fn check_upgrade_request(
    upgrade: Option<&str>,
    handshake: Option<&str>,
) -> Result<Vec<u8>, UpgradeError> {
    let upgrade = upgrade.map(str::trim).unwrap_or_default();
    if upgrade.is_empty() {
        return Err(UpgradeError::MissingUpgrade);
    }
    if !upgrade.eq_ignore_ascii_case(UPGRADE_PROTOCOL) {
        return Err(UpgradeError::UnknownProtocol);
    }
    decode_handshake_header(handshake.ok_or(UpgradeError::MissingHandshake)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_with_padding() {
        let init = [7u8; INITIATION_LEN];
        let encoded = encode_handshake_header(&init);
        assert_eq!(encoded.len(), 136);
        assert!(encoded.ends_with('='), "101 bytes need one padding character");
        assert_eq!(decode_handshake_header(&encoded).unwrap(), init);
    }

    #[test]
    fn real_client_header_prefix_decodes() {
        // Headers from real clients start with version, type 0x01, length 96: `00 85 01 00 60`
        // for capver 133, which base64-encodes to "AIUBAG".
        let mut init = [0u8; INITIATION_LEN];
        init[..5].copy_from_slice(&[0x00, 0x85, 0x01, 0x00, 0x60]);
        let encoded = encode_handshake_header(&init);
        assert!(encoded.starts_with("AIUBAG"), "{encoded}");
    }

    #[test]
    fn bad_headers_are_refused_with_go_wording() {
        let valid = encode_handshake_header(&[1; INITIATION_LEN]);
        assert_eq!(check_upgrade_request(None, Some(&valid)), Err(UpgradeError::MissingUpgrade));
        assert_eq!(
            check_upgrade_request(Some("websocket"), Some(&valid)),
            Err(UpgradeError::UnknownProtocol)
        );
        assert_eq!(
            check_upgrade_request(Some(UPGRADE_PROTOCOL), None),
            Err(UpgradeError::MissingHandshake)
        );
        assert_eq!(
            check_upgrade_request(Some(UPGRADE_PROTOCOL), Some("")),
            Err(UpgradeError::MissingHandshake)
        );
        assert_eq!(
            check_upgrade_request(Some(UPGRADE_PROTOCOL), Some("not base64!")),
            Err(UpgradeError::InvalidHandshake)
        );
        // URL-safe alphabet and missing padding are not standard base64.
        let unpadded = valid.trim_end_matches('=');
        assert_eq!(decode_handshake_header(unpadded), Err(UpgradeError::InvalidHandshake));
        assert_eq!(decode_handshake_header(&"A".repeat(2000)), Err(UpgradeError::InvalidHandshake));
        assert_eq!(UpgradeError::MissingUpgrade.to_string(), "missing next protocol");
    }

    #[test]
    fn upgrade_value_is_case_insensitive_and_wrong_sizes_still_decode() {
        let short = STANDARD.encode([1u8; 50]);
        assert_eq!(
            check_upgrade_request(Some("Tailscale-Control-Protocol"), Some(&short)).unwrap(),
            [1u8; 50]
        );
    }

    #[test]
    fn switching_protocols_reply_is_exact() {
        assert_eq!(
            SWITCHING_PROTOCOLS_RESPONSE,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: upgrade\r\n\r\n"
        );
    }
}
