//! Wire vocabulary shared by the handshake and the record layer: message types and sizes.
//!
//! Every TS2021 message except the initiation starts with the same 3-byte header:
//!
//! ```text
//! [0]     message type (one of the MSG_TYPE_* constants)
//! [1..3)  length of what follows, u16 big-endian
//! ```
//!
//! The initiation carries two extra leading bytes (the protocol version), see
//! [`crate::handshake`]. Sizes are derived from each other by name, as in
//! `control/controlbase/conn.go`.

/// Handshake initiation, client → server (Noise message 1).
pub const MSG_TYPE_INITIATION: u8 = 0x01;
/// Handshake response, server → client (Noise message 2).
pub const MSG_TYPE_RESPONSE: u8 = 0x02;
/// Plaintext, unauthenticated error text, server → client; a public hint only.
pub const MSG_TYPE_ERROR: u8 = 0x03;
/// Transport record carrying encrypted session bytes, both directions.
pub const MSG_TYPE_RECORD: u8 = 0x04;

/// Header of every message except the initiation: type (1) + length (2).
pub const HEADER_LEN: usize = 3;
/// Header of the initiation: version (2) + type (1) + length (2).
pub const INITIATION_HEADER_LEN: usize = 2 + HEADER_LEN;

/// Length of an X25519 public key, and of every key and hash in this protocol.
pub const KEY_LEN: usize = 32;
/// Poly1305 authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Largest frame on the wire, header included. Readers reject anything declaring more.
pub const MAX_MESSAGE_SIZE: usize = 4096;
/// Largest ciphertext (tag included) one record can carry: 4093.
pub const MAX_CIPHERTEXT_SIZE: usize = MAX_MESSAGE_SIZE - HEADER_LEN;
/// Largest plaintext one record can carry: 4077. Writers split larger writes.
pub const MAX_PLAINTEXT_SIZE: usize = MAX_CIPHERTEXT_SIZE - TAG_LEN;
/// Bytes a record adds around its plaintext: header plus tag.
pub const RECORD_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_sizes_match_the_go_constants() {
        assert_eq!(MAX_CIPHERTEXT_SIZE, 4093);
        assert_eq!(MAX_PLAINTEXT_SIZE, 4077);
        assert_eq!(MAX_PLAINTEXT_SIZE + RECORD_OVERHEAD, MAX_MESSAGE_SIZE);
        assert_eq!(INITIATION_HEADER_LEN, 5);
    }
}
