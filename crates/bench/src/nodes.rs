//! One simulated node's first steps, as tailscaled takes them: connect (Noise handshake,
//! HTTP/2), register with an auth key, and optionally open the streaming map poll.

use std::time::Duration;

use keygate_node::{
    ConnectOptions, ControlClient, MapOptions, MapStream, NodeError, NodeIdentity, RegisterOptions,
    ServerUrl,
};
use keygate_tailcfg::MapResponse;

/// Limit for connecting, registering and the first map, each.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects `identity` and registers it with `auth_key` as `hostname`.
pub async fn enrol(
    url: &ServerUrl,
    options: &ConnectOptions,
    identity: &NodeIdentity,
    auth_key: &str,
    hostname: String,
    ephemeral: bool,
) -> Result<ControlClient, NodeError> {
    let client = ControlClient::connect_with(url, identity, options).await?;
    let register = RegisterOptions {
        ephemeral,
        ..RegisterOptions::with_auth_key(auth_key.to_owned(), hostname)
    };
    timed("registering", client.login(register)).await??;
    Ok(client)
}

/// Opens the map stream (zstd, keep-alives reported so their bytes can be told apart) and
/// reads the first, full map.
pub async fn open_map(client: &ControlClient) -> Result<(MapStream, MapResponse), NodeError> {
    let options = MapOptions { report_keep_alives: true, ..MapOptions::default() };
    let mut stream = timed("opening the map stream", client.map_stream(options)).await??;
    loop {
        match timed("reading the first map", stream.next()).await?? {
            Some(message) if message.keep_alive => continue,
            Some(message) => return Ok((stream, message)),
            None => {
                return Err(NodeError::Refused("the server ended the map stream at once".into()))
            }
        }
    }
}

async fn timed<T>(
    step: &'static str,
    future: impl std::future::Future<Output = T>,
) -> Result<T, NodeError> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .map_err(|_| NodeError::Timeout { step, after: STEP_TIMEOUT })
}
