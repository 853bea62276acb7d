//! Server (responder) side of the handshake (`controlbase.Server`).

use rand::{CryptoRng, RngCore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use x25519_dalek::{PublicKey, StaticSecret};

use super::symmetric::SymmetricState;
use super::{
    key_at, u16_at, Accepted, HandshakeError, Session, TransportKeys, INITIATION_LEN,
    INITIATION_PAYLOAD_LEN, INIT_EPHEMERAL, INIT_LENGTH, INIT_MACHINE_KEY, INIT_TAG, INIT_TYPE,
    INIT_VERSION, RESPONSE_LEN, RESPONSE_PAYLOAD_LEN, RESP_EPHEMERAL, RESP_LENGTH, RESP_TAG,
    RESP_TYPE,
};
use crate::conn::NoiseStream;
use crate::frame::{INITIATION_HEADER_LEN, KEY_LEN, MSG_TYPE_INITIATION, MSG_TYPE_RESPONSE};
use crate::keys::{MachinePrivateKey, MachinePublicKey};

/// Processes a client's handshake initiation (message 1) and produces the response.
///
/// `initiation` is what the client sent, typically decoded from the `X-Tailscale-Handshake`
/// header ([`crate::upgrade::decode_handshake_header`]). The version is not policed here:
/// the caller decides what to do with [`Session::version`] once the handshake is done.
///
/// On error, send [`HandshakeError::error_frame`] if it returns one, then close.
pub fn accept<R: RngCore + CryptoRng + ?Sized>(
    server_static: &MachinePrivateKey,
    initiation: &[u8],
    rng: &mut R,
) -> Result<Accepted, HandshakeError> {
    let ephemeral = StaticSecret::random_from_rng(rng);
    accept_with_ephemeral(server_static, initiation, &ephemeral)
}

/// [`accept`] with a given ephemeral key, so tests can pin exact bytes.
pub(crate) fn accept_with_ephemeral(
    server_static: &MachinePrivateKey,
    initiation: &[u8],
    ephemeral: &StaticSecret,
) -> Result<Accepted, HandshakeError> {
    // Framing checks, in Go's order and with Go's texts.
    let init: &[u8; INITIATION_LEN] =
        initiation.try_into().map_err(|_| HandshakeError::WrongInitiationSize)?;
    check_initiation_header(init)?;
    let version = u16_at(init, INIT_VERSION);

    let mut state = SymmetricState::initialize(version, &server_static.public_key());

    // -> e, es, s, ss
    let client_ephemeral = key_at(init, INIT_EPHEMERAL);
    state.mix_hash(&client_ephemeral);
    let key = state.mix_dh(server_static.secret(), &client_ephemeral, "es")?;
    let mut machine_key = [0u8; KEY_LEN];
    state
        .decrypt_and_hash(key, &init[INIT_MACHINE_KEY], &mut machine_key)
        .map_err(|_| HandshakeError::DecryptMachineKey)?;
    let peer = MachinePublicKey::from_bytes(machine_key);
    let key = state.mix_dh(server_static.secret(), peer.as_bytes(), "ss")?;
    state
        .decrypt_and_hash(key, &init[INIT_TAG], &mut [])
        .map_err(|_| HandshakeError::DecryptInitiationTag)?;

    // <- e, ee, se
    let mut response = [0u8; RESPONSE_LEN];
    response[RESP_TYPE] = MSG_TYPE_RESPONSE;
    response[RESP_LENGTH].copy_from_slice(&(RESPONSE_PAYLOAD_LEN as u16).to_be_bytes());
    let server_ephemeral = PublicKey::from(ephemeral).to_bytes();
    response[RESP_EPHEMERAL].copy_from_slice(&server_ephemeral);
    state.mix_hash(&server_ephemeral);
    // The `ee` key is superseded by the `se` mix before anything is encrypted.
    state.mix_dh(ephemeral, &client_ephemeral, "ee")?;
    let key = state.mix_dh(ephemeral, peer.as_bytes(), "se")?;
    state.encrypt_and_hash(key, &[], &mut response[RESP_TAG]);

    let handshake_hash = state.handshake_hash();
    let (c2s, s2c) = state.split();
    Ok(Accepted {
        session: Session { peer, version, handshake_hash },
        response,
        keys: TransportKeys::responder(&c2s, &s2c),
    })
}

/// Checks type and length in the initiation header (the first 5 bytes of `message`).
fn check_initiation_header(message: &[u8]) -> Result<(), HandshakeError> {
    if message[INIT_TYPE] != MSG_TYPE_INITIATION {
        return Err(HandshakeError::UnexpectedInitiationType);
    }
    if usize::from(u16_at(message, INIT_LENGTH)) != INITIATION_PAYLOAD_LEN {
        return Err(HandshakeError::WrongInitiationLength);
    }
    Ok(())
}

/// Runs the server side over a raw connection whose first bytes are the initiation
/// (Go's `controlbase.Server` without `optionalInit`): reads message 1, answers with message 2
/// or a `0x03` error frame, and returns the session and the encrypted stream.
///
/// The HTTP `/ts2021` path uses [`accept`] instead, because there the initiation arrives in a
/// header. Wrap the call in a timeout: a silent client would otherwise hold it forever.
pub async fn accept_io<S, R>(
    mut io: S,
    server_static: &MachinePrivateKey,
    rng: &mut R,
) -> Result<(Session, NoiseStream<S>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: RngCore + CryptoRng + ?Sized,
{
    let mut init = [0u8; INITIATION_LEN];
    // Read the header first so a bad type or length is refused before waiting for 96 bytes
    // that may never come.
    io.read_exact(&mut init[..INITIATION_HEADER_LEN]).await?;
    if let Err(err) = check_initiation_header(&init) {
        return Err(refuse(&mut io, err).await);
    }
    io.read_exact(&mut init[INITIATION_HEADER_LEN..]).await?;
    let accepted = match accept(server_static, &init, rng) {
        Ok(accepted) => accepted,
        Err(err) => return Err(refuse(&mut io, err).await),
    };
    io.write_all(&accepted.response).await?;
    io.flush().await?;
    Ok((accepted.session, NoiseStream::new(io, accepted.keys)))
}

/// Sends the error's `0x03` frame, if it has one, and hands the error back.
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, err: HandshakeError) -> HandshakeError {
    if let Some(frame) = err.error_frame() {
        // Best effort: the handshake has failed either way, and the original error matters more.
        let _ = io.write_all(&frame).await;
        let _ = io.flush().await;
    }
    err
}
