//! A bare control server for trying real Tailscale clients against `keygate-control`
//! without the rest of keygate (for `shared/tools/tsd-register-test.sh`).
//!
//! ```text
//! control_probe key   DB_PATH [reusable|ephemeral|tag:NAME]...   create a key, print it
//! control_probe serve DB_PATH ADDR                               serve /key and /ts2021
//! ```
//!
//! The database is a SQLite file; the machine key is kept next to it (`DB_PATH.machine.key`).
//! Logs go to stderr (`RUST_LOG` filters, default `debug`).

use std::path::PathBuf;
use std::sync::Arc;

use keygate_control::{load_or_create_machine_key, ControlConfig, ControlState};
use keygate_domain::Pepper;
use keygate_service::{Actor, NewKeyRequest, Service, ServiceConfig, SystemClock, Tailnet};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(command), Some(db)) = (args.first(), args.get(1)) else {
        eprintln!("usage: control_probe key DB_PATH [reusable|ephemeral|tag:NAME]... | serve DB_PATH ADDR");
        std::process::exit(2);
    };
    let store = keygate_store::connect(&format!("sqlite://{db}")).await.expect("database opens");
    // A fixed pepper: this is a probe, not a server.
    let service = Service::new(
        store,
        Pepper::from_bytes([1; 32]),
        Arc::new(SystemClock),
        ServiceConfig::default(),
    );
    match command.as_str() {
        "key" => {
            let mut req = NewKeyRequest::default();
            for option in &args[2..] {
                match option.as_str() {
                    "reusable" => req.reusable = true,
                    "ephemeral" => req.ephemeral = true,
                    tag => req.tags.push(tag.to_owned()),
                }
            }
            let created = service.create_auth_key(&Actor::Admin, req).await.expect("key created");
            println!("{}", created.secret.expose());
        }
        "serve" => {
            let addr = args.get(2).expect("serve needs ADDR");
            let key = load_or_create_machine_key(&PathBuf::from(format!("{db}.machine.key")))
                .expect("machine key");
            let tailnet = Tailnet::load(service, Default::default()).await.expect("tailnet loads");
            let config =
                ControlConfig { server_url: format!("http://{addr}"), ..Default::default() };
            let app = keygate_control::router(ControlState::new(tailnet, key, config));
            let listener = tokio::net::TcpListener::bind(addr).await.expect("listen");
            tracing::info!(%addr, "control probe serving");
            axum::serve(listener, app).await.expect("serve");
        }
        other => panic!("unknown command {other}"),
    }
}
