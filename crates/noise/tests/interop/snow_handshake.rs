//! Cross-checks our handshake against `snow`, an independent Noise implementation.
//!
//! snow runs the same `Noise_IK_25519_ChaChaPoly_BLAKE2s` pattern with Tailscale's prologue;
//! only the framing differs (snow produces the 96- and 48-byte Noise payloads, we add the 5- and
//! 3-byte headers). snow's transport mode uses little-endian nonces, so it is used only for
//! the handshake: its raw split keys drive our [`RecordCipher`], and a final test shows that
//! snow's own transport disagrees with Tailscale's from the second record on.

use keygate_noise::handshake::{INITIATION_LEN, RESPONSE_LEN};
use keygate_noise::{accept, Initiator, MachinePrivateKey, RecordCipher, RecordError};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};

const PATTERN: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
const VERSION: u16 = 133;
const PROLOGUE: &[u8] = b"Tailscale Control Protocol v133";

/// Yields the same byte forever, so `Initiator::new` / `accept` pick a chosen ephemeral key.
struct ConstantRng(u8);

impl RngCore for ConstantRng {
    fn next_u32(&mut self) -> u32 {
        u32::from_ne_bytes([self.0; 4])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_ne_bytes([self.0; 8])
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        dest.fill(self.0);
        Ok(())
    }
}

// Test-only: a constant "random" source is exactly what pinning vectors needs.
impl CryptoRng for ConstantRng {}

fn snow_builder<'a>() -> snow::Builder<'a> {
    snow::Builder::new(PATTERN.parse().expect("snow knows the IK pattern"))
}

/// Tailscale initiation header for a 96-byte Noise payload.
fn with_initiation_header(payload: &[u8]) -> Vec<u8> {
    let mut message = VERSION.to_be_bytes().to_vec();
    message.extend_from_slice(&[0x01, 0x00, 0x60]);
    message.extend_from_slice(payload);
    message
}

/// Seals three records with `tx` and checks `rx` opens them, so keys and nonce sequences agree.
fn assert_records_flow(tx: &mut RecordCipher, rx: &mut RecordCipher) {
    for n in 0..3u8 {
        let mut frame = Vec::new();
        tx.seal(&[n; 33], &mut frame).unwrap();
        assert_eq!(rx.open(&mut frame).unwrap(), &[n; 33], "record {n}");
    }
}

#[test]
fn snow_initiator_completes_with_our_responder() {
    let server = MachinePrivateKey::generate(&mut OsRng);
    let client = MachinePrivateKey::generate(&mut OsRng);
    let mut initiator = snow_builder()
        .local_private_key(&*client.to_bytes())
        .unwrap()
        .remote_public_key(server.public_key().as_bytes())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut payload = [0u8; 96];
    assert_eq!(initiator.write_message(&[], &mut payload).unwrap(), 96);

    let mut accepted = accept(&server, &with_initiation_header(&payload), &mut OsRng).unwrap();
    assert_eq!(accepted.session.peer, client.public_key());
    assert_eq!(accepted.session.version, VERSION);

    initiator.read_message(&accepted.response[3..], &mut []).unwrap();
    assert!(initiator.is_handshake_finished());
    assert_eq!(initiator.get_handshake_hash(), accepted.session.handshake_hash);

    let (c2s, s2c) = initiator.dangerously_get_raw_split();
    assert_records_flow(&mut RecordCipher::new(&c2s), &mut accepted.keys.rx);
    assert_records_flow(&mut accepted.keys.tx, &mut RecordCipher::new(&s2c));
}

#[test]
fn our_initiator_completes_with_snow_responder() {
    let server = MachinePrivateKey::generate(&mut OsRng);
    let client = MachinePrivateKey::generate(&mut OsRng);
    let mut responder = snow_builder()
        .local_private_key(&*server.to_bytes())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let (initiator, init) =
        Initiator::new(&client, &server.public_key(), VERSION, &mut OsRng).unwrap();
    assert_eq!(responder.read_message(&init[5..], &mut []).unwrap(), 0);
    assert_eq!(responder.get_remote_static(), Some(&client.public_key().as_bytes()[..]));

    let mut response = vec![0x02, 0x00, 0x30];
    response.resize(RESPONSE_LEN, 0);
    assert_eq!(responder.write_message(&[], &mut response[3..]).unwrap(), 48);
    let mut established = initiator.finish(&response).unwrap();
    assert_eq!(responder.get_handshake_hash(), established.session.handshake_hash);

    let (c2s, s2c) = responder.dangerously_get_raw_split();
    assert_records_flow(&mut established.keys.tx, &mut RecordCipher::new(&c2s));
    assert_records_flow(&mut RecordCipher::new(&s2c), &mut established.keys.rx);
}

#[test]
fn fixed_ephemeral_keys_give_snow_identical_bytes() {
    // Same inputs as the pinned vectors in src/handshake/mod.rs.
    let client = MachinePrivateKey::from_bytes([0x11; 32]);
    let server = MachinePrivateKey::from_bytes([0x22; 32]);

    let (initiator, ours) =
        Initiator::new(&client, &server.public_key(), VERSION, &mut ConstantRng(0x33)).unwrap();
    let mut snow_initiator = snow_builder()
        .local_private_key(&*client.to_bytes())
        .unwrap()
        .remote_public_key(server.public_key().as_bytes())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&[0x33; 32])
        .build_initiator()
        .unwrap();
    let mut payload = [0u8; 96];
    snow_initiator.write_message(&[], &mut payload).unwrap();
    assert_eq!(ours.len(), INITIATION_LEN);
    assert_eq!(ours.to_vec(), with_initiation_header(&payload));
    assert_eq!(
        hex::encode(ours),
        concat!(
            "00850100607b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19",
            "a4cb8a1b1461d2949213e755bc180b5d5dbbd8c50a2a1beb69f8940d24cab460",
            "6a34cd5d41591140090e9dbe1c2e85a54c05885d3a0084bffd3dd2788b09f2b8",
            "e1689378ff",
        )
    );

    let accepted = accept(&server, &ours, &mut ConstantRng(0x44)).unwrap();
    let mut snow_responder = snow_builder()
        .local_private_key(&*server.to_bytes())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&[0x44; 32])
        .build_responder()
        .unwrap();
    snow_responder.read_message(&ours[5..], &mut []).unwrap();
    let mut snow_response = [0u8; 48];
    snow_responder.write_message(&[], &mut snow_response).unwrap();
    assert_eq!(accepted.response[3..], snow_response);
    assert_eq!(snow_responder.get_handshake_hash(), accepted.session.handshake_hash);
    initiator.finish(&accepted.response).unwrap();
}

#[test]
fn snow_transport_matches_record_zero_only() {
    // Documents the quirk: a stock Noise transport (little-endian nonce) interoperates for
    // the first record and fails from the second one on.
    let server = MachinePrivateKey::generate(&mut OsRng);
    let client = MachinePrivateKey::generate(&mut OsRng);
    let mut initiator = snow_builder()
        .local_private_key(&*client.to_bytes())
        .unwrap()
        .remote_public_key(server.public_key().as_bytes())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut payload = [0u8; 96];
    initiator.write_message(&[], &mut payload).unwrap();
    let mut accepted = accept(&server, &with_initiation_header(&payload), &mut OsRng).unwrap();
    initiator.read_message(&accepted.response[3..], &mut []).unwrap();
    let mut transport = initiator.into_transport_mode().unwrap();

    let mut record = |plaintext: &[u8]| {
        let mut frame = vec![0x04, 0, 0];
        frame.resize(3 + plaintext.len() + 16, 0);
        let n = transport.write_message(plaintext, &mut frame[3..]).unwrap();
        frame[1..3].copy_from_slice(&(n as u16).to_be_bytes());
        frame
    };
    let mut first = record(b"zero");
    let mut second = record(b"one");
    assert_eq!(accepted.keys.rx.open(&mut first).unwrap(), b"zero");
    assert_eq!(accepted.keys.rx.open(&mut second), Err(RecordError::Decrypt));
}
