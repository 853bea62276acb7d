//! Start-up as a library: [`Application::build`] prepares everything that can fail (data
//! directory, pepper, database, listeners) and [`Application::run_until_stopped`] serves until
//! SIGINT or SIGTERM. Tests build it with port 0 and read the real address back.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};
use keygate_domain::Pepper;
use keygate_service::{Service, SystemClock};
use serde::Serialize;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::admin_socket::{self, SocketFile};
use crate::config::{url_for, Config, PEPPER_FILE};
use crate::pepper_file;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server ready to run: its listeners are bound and its database is open.
pub struct Application {
    config: Config,
    service: Service,
    tcp: TcpListener,
    local_addr: SocketAddr,
    admin: UnixListener,
    admin_file: SocketFile,
}

impl Application {
    /// Validates `config`, creates the data directory (mode 0700), loads or creates the pepper,
    /// opens the database (running migrations), and binds the HTTP listener and the admin
    /// socket. Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        config.data_dir = prepare_data_dir(&config.data_dir)?;

        // The socket first: if another server is live on this data directory, say that,
        // rather than failing later on its port or its database.
        let (admin, admin_file) = admin_socket::bind(&config.admin_socket_path())?;

        let pepper = match config.pepper_bytes()? {
            Some(bytes) => Pepper::from_bytes(bytes),
            None => {
                if config.database.as_deref().is_some_and(|u| u.starts_with("postgres")) {
                    tracing::info!("using the pepper in the data directory: servers sharing this PostgreSQL database must all set the same `pepper`");
                }
                pepper_file::load_or_create(&config.data_dir.join(PEPPER_FILE))?
            }
        };

        let store = keygate_store::connect(&config.database_url())
            .await
            .with_context(|| format!("opening the database ({})", config.database_display()))?;
        tracing::info!(backend = store.backend_name(), database = %config.database_display(), "database ready");
        let service = Service::new(store, pepper, Arc::new(SystemClock), config.service_config()?);

        let tcp = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let local_addr = tcp.local_addr().context("reading the listener's address")?;

        Ok(Self { config, service, tcp, local_addr, admin, admin_file })
    }

    /// The address the HTTP listener is bound to (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin socket's path.
    pub fn admin_socket_path(&self) -> &Path {
        self.admin_file.path()
    }

    /// The public URL: `server_url` if set, else derived from the bound address.
    pub fn server_url(&self) -> String {
        match &self.config.server_url {
            Some(_) => self.config.server_url(),
            None => url_for(self.local_addr),
        }
    }

    /// The configuration in force (with the data directory made absolute).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The service every surface calls.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// What to tell the person who started the server: where it listens, where the admin
    /// socket is, which database (never a password), and how to create a key. One fact per
    /// line; the first is `listening on http://ADDR`.
    pub fn banner(&self) -> String {
        let default_dir = std::fs::canonicalize(Config::default().data_dir).ok();
        let hint = if default_dir.as_deref() == Some(self.config.data_dir.as_path()) {
            "keygate keys create".to_owned()
        } else {
            format!("keygate --data-dir {} keys create", self.config.data_dir.display())
        };
        format!(
            "listening on {}\nadmin socket: {}\ndatabase: {}\npublic URL: {}\ncreate a key: {hint}",
            url_for(self.local_addr),
            self.admin_socket_path().display(),
            self.config.database_display(),
            self.server_url(),
        )
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully and removes the socket.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes (or a listener fails), lets in-flight requests finish
    /// for up to [`SHUTDOWN_GRACE`], and removes the admin socket.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self { service, tcp, admin, admin_file, local_addr, .. } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which also means "stop".
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let public = axum::serve(tcp, public_router(service.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()));
        let private =
            axum::serve(admin, admin_router(service)).with_graceful_shutdown(stopped(stop_rx));
        let mut public = tokio::spawn(public.into_future());
        let mut private = tokio::spawn(private.into_future());
        tracing::info!(addr = %local_addr, socket = %admin_file.path().display(), "serving");

        let early_exit = tokio::select! {
            () = shutdown => None,
            r = &mut public => Some(("HTTP listener", r)),
            r = &mut private => Some(("admin socket", r)),
        };
        let _ = stop_tx.send(true);
        if let Some((which, result)) = early_exit {
            drop(admin_file);
            match result {
                Ok(Ok(())) => bail!("the {which} stopped unexpectedly"),
                Ok(Err(e)) => return Err(e).with_context(|| format!("serving the {which}")),
                Err(e) => return Err(e).with_context(|| format!("the {which} task failed")),
            }
        }

        tracing::info!("shutting down");
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            let _ = (&mut public).await;
            let _ = (&mut private).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still running after the grace period were cut off");
            public.abort();
            private.abort();
        }
        drop(admin_file);
        tracing::info!("stopped");
        Ok(())
    }
}

/// The routes served on the TCP listener.
pub fn public_router(service: Service) -> Router {
    Router::new().route("/health", get(health)).merge(keygate_api::router(service))
    // Later surfaces are merged here: the control protocol (`/key`, `/ts2021`) and the console.
}

/// The routes served on the admin socket: the same API, with every request marked as coming
/// from the local administrator.
pub fn admin_router(service: Service) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(keygate_api::router(service))
        .layer(axum::middleware::map_request(mark_admin))
}

async fn mark_admin(mut req: Request) -> Request {
    req.extensions_mut().insert(keygate_api::AdminChannel);
    req
}

/// Body of `GET /health`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Creates the data directory with mode 0700 if missing, and returns its absolute path.
fn prepare_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                    "the data directory is open to other users: chmod 700 it");
            }
        }
        Ok(_) => bail!("the data directory {} exists but is not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        Err(e) => {
            return Err(e).with_context(|| format!("opening the data directory {}", dir.display()))
        }
    }
    std::fs::canonicalize(dir)
        .with_context(|| format!("resolving the data directory {}", dir.display()))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}
