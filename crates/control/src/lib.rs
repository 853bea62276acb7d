//! keygate-control: the Tailscale control protocol (TS2021) that official, unmodified
//! Tailscale clients speak to enrol and stay in sync.
//!
//! ## Flow
//!
//! 1. `GET /key?v=N` ([`router`]): the node learns the server's Noise public key (the
//!    machine key, kept in the data directory by [`load_or_create_machine_key`]).
//! 2. `POST /ts2021` with `Upgrade: tailscale-control-protocol` and the first Noise message
//!    in `X-Tailscale-Handshake`: keygate runs the Noise IK responder (`keygate-noise`),
//!    answers `101 Switching Protocols`, writes the 51-byte handshake response, queues the
//!    early payload and serves cleartext HTTP/2 inside the Noise stream. The machine key the
//!    handshake proved goes to every request on that connection.
//! 3. `POST /machine/register`: the live [`keygate_service::Tailnet`] decides (new node with
//!    a pre-auth key, restart, rotation, logout, refusal); refusals travel as HTTP 200 with
//!    `RegisterResponse.Error`, which `tailscale up` prints as `backend error: …`.
//! 4. `POST /machine/map`: lite updates store what the node reports; a stream gets a full
//!    map, then one delta per tailnet change from a single fan-out task, plus keep-alives.
//!
//! Wire details and what is not supported yet: `docs/protocol.md`.
//!
//! ## Boundaries
//!
//! This crate owns the HTTP surface and the mapping between domain state and the `tailcfg`
//! wire types. Every rule (who may enrol, with which address, owner and expiry) lives in
//! `keygate-service`; the Noise transport in `keygate-noise`; the JSON types in
//! `keygate-tailcfg`. It never touches the store.
//!
//! ## Wiring
//!
//! ```ignore
//! let tailnet = Tailnet::load(service, TailnetConfig::default()).await?;
//! let key = load_or_create_machine_key(&data_dir.join(MACHINE_KEY_FILE))?;
//! let control = ControlState::new(tailnet, key, ControlConfig { server_url, ..Default::default() });
//! let app = Router::new().merge(keygate_control::router(control));
//! ```

mod config;
mod error;
pub mod limits;
mod machine;
mod machine_key;
mod map;
mod peer;
mod register;
mod render;
mod sessions;
mod state;
mod transport;

use axum::routing::{get, on, MethodFilter};
use axum::Router;

pub use config::{load_derp_map_file, ControlConfig, DerpMapError, DEFAULT_BASE_DOMAIN};
pub use error::{ControlError, ErrorBody, MIN_CAPABILITY_VERSION};
pub use machine::BODY_LIMIT;
pub use machine_key::{load_or_create_machine_key, MachineKeyError, MACHINE_KEY_FILE};
pub use peer::NoisePeer;
pub use render::{LOGIN_PROVIDER, TAGGED_DEVICES_ID, TAGGED_DEVICES_LOGIN};
pub use state::ControlState;

/// The control protocol's routes on the public listener: `GET /key` and `/ts2021` (`POST`,
/// and `GET` as some clients and proxies send it). Merge into the server's router.
pub fn router(state: ControlState) -> Router {
    Router::new()
        .route("/key", get(transport::key))
        .route("/ts2021", on(MethodFilter::POST.or(MethodFilter::GET), transport::upgrade))
        .with_state(state)
}
