//! keygate-server: configuration, wiring and listeners.
//!
//! It loads the one typed [`Config`], opens the store, builds the [`keygate_service::Service`],
//! and serves the surfaces (`/health`, the REST API, the control protocol, the console and the
//! DERP relay on TCP; the same API on the admin socket, where every request is the local
//! administrator). It holds no business rules: every
//! decision is the service layer's.

mod admin_socket;
pub mod app;
pub mod config;
mod derp_relay;
mod pepper_file;
pub mod telemetry;

pub use app::{admin_router, public_router, Application};
pub use config::{Config, ConfigError, Overrides, SecretString};
