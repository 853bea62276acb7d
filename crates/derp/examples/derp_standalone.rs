//! Runs the DERP relay alone on a port, open to every node key, and prints the DERP map that
//! points clients at it. For trying Tailscale's own DERP client against the relay (see
//! reference/real-clients.md §3: `TS_DEBUG_USE_DERP_HTTP=1`); never expose it: it relays for
//! anyone.
//!
//! ```text
//! cargo run -p keygate-derp --example derp_standalone -- [LISTEN_ADDR] [KEY_FILE]
//! ```
//!
//! `LISTEN_ADDR` defaults to `127.0.0.1:3340`; `KEY_FILE` to a fresh key in memory. Logs go to
//! stderr (`RUST_LOG` filters, default `keygate_derp=debug`); the DERP map JSON to stdout.

use std::sync::Arc;

use anyhow::Context as _;
use keygate_derp::{AdmitAll, DerpConfig, DerpServer, NodePrivateKey};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "keygate_derp=debug".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3340".to_owned());
    let key = match args.next() {
        Some(path) => keygate_derp::load_or_create_server_key(path.as_ref())
            .with_context(|| format!("loading the DERP key from {path}"))?,
        None => NodePrivateKey::generate(&mut rand::rngs::OsRng),
    };

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let map = keygate_derp::embedded_derp_map(&format!("http://{addr}"))
        .context("building the DERP map")?;
    println!("{}", serde_json::to_string(&map).context("encoding the DERP map")?);
    tracing::info!(%addr, "DERP relay listening (open to every node key)");

    let server = DerpServer::new(key, Arc::new(AdmitAll), DerpConfig::default());
    tokio::select! {
        result = keygate_derp::standalone::serve(listener, server.clone()) => {
            result.context("accepting connections")?;
        }
        _ = tokio::signal::ctrl_c() => server.shutdown(),
    }
    Ok(())
}
