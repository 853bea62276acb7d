//! Client (initiator) side of the handshake (`controlbase.ClientDeferred`).
//!
//! Split in two like Go's: [`Initiator::new`] builds message 1 so it can ride in the
//! `X-Tailscale-Handshake` header of the upgrade request (saving a round trip), and
//! [`Initiator::finish`] processes message 2 once the server has switched protocols.

use std::fmt;

use rand::{CryptoRng, RngCore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use x25519_dalek::{PublicKey, StaticSecret};

use super::symmetric::SymmetricState;
use super::{
    key_at, u16_at, Established, HandshakeError, Session, TransportKeys, INITIATION_LEN,
    INITIATION_PAYLOAD_LEN, INIT_EPHEMERAL, INIT_LENGTH, INIT_MACHINE_KEY, INIT_TAG, INIT_TYPE,
    INIT_VERSION, RESPONSE_LEN, RESPONSE_PAYLOAD_LEN, RESP_EPHEMERAL, RESP_LENGTH, RESP_TAG,
    RESP_TYPE,
};
use crate::conn::NoiseStream;
use crate::frame::{HEADER_LEN, MSG_TYPE_ERROR, MSG_TYPE_INITIATION, MSG_TYPE_RESPONSE};
use crate::keys::{MachinePrivateKey, MachinePublicKey};

/// A client handshake waiting for the server's response (message 2).
pub struct Initiator {
    state: SymmetricState,
    client_static: MachinePrivateKey,
    ephemeral: StaticSecret,
    server: MachinePublicKey,
    version: u16,
}

impl Initiator {
    /// Starts a handshake as `client_static` towards the server key `server` (from `/key`),
    /// announcing protocol `version` (the client's capability version). Returns the state to
    /// finish with and message 1 to send.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(
        client_static: &MachinePrivateKey,
        server: &MachinePublicKey,
        version: u16,
        rng: &mut R,
    ) -> Result<(Self, [u8; INITIATION_LEN]), HandshakeError> {
        Self::with_ephemeral(client_static, server, version, StaticSecret::random_from_rng(rng))
    }

    /// [`Initiator::new`] with a given ephemeral key, so tests can pin exact bytes.
    pub(crate) fn with_ephemeral(
        client_static: &MachinePrivateKey,
        server: &MachinePublicKey,
        version: u16,
        ephemeral: StaticSecret,
    ) -> Result<(Self, [u8; INITIATION_LEN]), HandshakeError> {
        let mut init = [0u8; INITIATION_LEN];
        init[INIT_VERSION].copy_from_slice(&version.to_be_bytes());
        init[INIT_TYPE] = MSG_TYPE_INITIATION;
        init[INIT_LENGTH].copy_from_slice(&(INITIATION_PAYLOAD_LEN as u16).to_be_bytes());

        let mut state = SymmetricState::initialize(version, server);

        // -> e, es, s, ss
        let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
        init[INIT_EPHEMERAL].copy_from_slice(&ephemeral_public);
        state.mix_hash(&ephemeral_public);
        let key = state.mix_dh(&ephemeral, server.as_bytes(), "es")?;
        state.encrypt_and_hash(
            key,
            client_static.public_key().as_bytes(),
            &mut init[INIT_MACHINE_KEY],
        );
        let key = state.mix_dh(client_static.secret(), server.as_bytes(), "ss")?;
        state.encrypt_and_hash(key, &[], &mut init[INIT_TAG]);

        let initiator = Self {
            state,
            client_static: client_static.clone(),
            ephemeral,
            server: *server,
            version,
        };
        Ok((initiator, init))
    }

    /// The protocol version announced in message 1.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Processes the server's reply (message 2, 51 bytes) and derives the transport keys.
    ///
    /// A `0x03` error frame given here is reported as [`HandshakeError::ServerError`].
    pub fn finish(mut self, response: &[u8]) -> Result<Established, HandshakeError> {
        if response.first() == Some(&MSG_TYPE_ERROR) {
            return Err(HandshakeError::ServerError(error_text(
                &response[HEADER_LEN.min(response.len())..],
            )));
        }
        let response: &[u8; RESPONSE_LEN] =
            response.try_into().map_err(|_| HandshakeError::WrongResponseSize)?;
        check_response_header(response)?;

        // <- e, ee, se
        let server_ephemeral = key_at(response, RESP_EPHEMERAL);
        self.state.mix_hash(&server_ephemeral);
        // The `ee` key is superseded by the `se` mix before anything is decrypted.
        self.state.mix_dh(&self.ephemeral, &server_ephemeral, "ee")?;
        let key = self.state.mix_dh(self.client_static.secret(), &server_ephemeral, "se")?;
        self.state
            .decrypt_and_hash(key, &response[RESP_TAG], &mut [])
            .map_err(|_| HandshakeError::DecryptResponse)?;

        let handshake_hash = self.state.handshake_hash();
        let (c2s, s2c) = self.state.split();
        Ok(Established {
            session: Session { peer: self.server, version: self.version, handshake_hash },
            keys: TransportKeys::initiator(&c2s, &s2c),
        })
    }
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("server", &self.server)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Checks type and length in the 3-byte response header (the start of `message`).
fn check_response_header(message: &[u8]) -> Result<(), HandshakeError> {
    if message[RESP_TYPE] != MSG_TYPE_RESPONSE {
        return Err(HandshakeError::UnexpectedResponseType(message[RESP_TYPE]));
    }
    let length = u16_at(message, RESP_LENGTH);
    if usize::from(length) != RESPONSE_PAYLOAD_LEN {
        return Err(HandshakeError::WrongResponseLength(length));
    }
    Ok(())
}

/// The server's error text, decoded leniently: it is only ever shown, never interpreted.
fn error_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads the server's reply to message 1 from `io`: the 51-byte response, or a `0x03` error
/// frame turned into [`HandshakeError::ServerError`].
///
/// Reads exactly the reply and nothing after it, so records that follow (such as the early
/// payload) stay in `io` for the [`NoiseStream`].
pub async fn read_response<S: AsyncRead + Unpin>(
    io: &mut S,
) -> Result<[u8; RESPONSE_LEN], HandshakeError> {
    let mut response = [0u8; RESPONSE_LEN];
    io.read_exact(&mut response[..HEADER_LEN]).await?;
    if response[RESP_TYPE] == MSG_TYPE_ERROR {
        let mut text = vec![0u8; usize::from(u16_at(&response, RESP_LENGTH))];
        io.read_exact(&mut text).await?;
        return Err(HandshakeError::ServerError(error_text(&text)));
    }
    check_response_header(&response)?;
    io.read_exact(&mut response[HEADER_LEN..]).await?;
    Ok(response)
}

/// Runs the client side over a raw connection (Go's `controlbase.Client`): writes message 1,
/// reads message 2, and returns the session and the encrypted stream.
///
/// Over HTTP, send message 1 in the upgrade header instead and use [`read_response`] and
/// [`Initiator::finish`] on the upgraded connection.
pub async fn connect<S, R>(
    mut io: S,
    client_static: &MachinePrivateKey,
    server: &MachinePublicKey,
    version: u16,
    rng: &mut R,
) -> Result<(Session, NoiseStream<S>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: RngCore + CryptoRng + ?Sized,
{
    let (initiator, init) = Initiator::new(client_static, server, version, rng)?;
    io.write_all(&init).await?;
    io.flush().await?;
    let response = read_response(&mut io).await?;
    let established = initiator.finish(&response)?;
    Ok((established.session, NoiseStream::new(io, established.keys)))
}
