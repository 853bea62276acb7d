//! Start-up as a library: [`Application::build`] prepares everything that can fail (data
//! directory, pepper, database, listeners) and [`Application::run_until_stopped`] serves until
//! SIGINT or SIGTERM. Tests build it with port 0 and read the real address back.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};
use keygate_control::{ControlConfig, ControlState};
use keygate_derp::DerpServer;
use keygate_domain::Pepper;
use keygate_service::{Service, SystemClock, Tailnet, TailnetConfig};
use keygate_store::DatabaseHold;
use keygate_tailcfg::DERPMap;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin_socket::{self, AdminListener, SocketFile};
use crate::config::{url_for, Config, PEPPER_FILE};
use crate::derp_relay;
use crate::pepper_file;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A server ready to run: its listeners are bound and its database is open.
pub struct Application {
    config: Config,
    service: Service,
    tailnet: Tailnet,
    control: ControlState,
    console: keygate_console::Console,
    /// The embedded DERP relay, unless `derp.enabled` is off.
    derp: Option<DerpServer>,
    /// The admin console's one-time link to create the first admin, while none exists.
    setup_link: Option<String>,
    tcp: TcpListener,
    local_addr: SocketAddr,
    admin: AdminListener,
    admin_file: SocketFile,
    /// This process's exclusive hold on the database, kept until it exits.
    hold: DatabaseHold,
}

impl Application {
    /// Validates `config`, creates the data directory (mode 0700), loads or creates the pepper,
    /// opens the database (running migrations), and binds the HTTP listener and the admin
    /// socket. Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        raise_open_file_limit();
        config.data_dir = prepare_data_dir(&config.data_dir)?;

        // The socket first: if another server is live on this data directory, say that,
        // rather than failing later on its port or its database.
        let (admin, admin_file) = admin_socket::bind(&config.admin_socket_path())?;

        let pepper = match config.pepper_bytes()? {
            Some(bytes) => Pepper::from_bytes(bytes),
            None => {
                if config.database.as_deref().is_some_and(|u| u.starts_with("postgres")) {
                    tracing::info!("using the pepper in the data directory: a server that takes over this PostgreSQL database later needs the same `pepper`");
                }
                pepper_file::load_or_create(&config.data_dir.join(PEPPER_FILE))?
            }
        };

        // Before the store opens (and migrates): a refused server changes nothing.
        let hold = keygate_store::DatabaseHold::take(&config.database_url())
            .await
            .with_context(|| format!("taking the database ({})", config.database_display()))?;
        let store = keygate_store::connect_with(&config.database_url(), config.sqlite_synchronous)
            .await
            .with_context(|| format!("opening the database ({})", config.database_display()))?;
        tracing::info!(backend = store.backend_name(), database = %config.database_display(), "database ready");
        let service = Service::new(store, pepper, Arc::new(SystemClock), config.service_config()?);

        let tcp = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let local_addr = tcp.local_addr().context("reading the listener's address")?;

        let tailnet = Tailnet::load(
            service.clone(),
            TailnetConfig {
                ephemeral_inactivity_timeout: config.ephemeral_inactivity_timeout,
                ..TailnetConfig::default()
            },
        )
        .await
        .context("loading the tailnet's nodes")?;
        let machine_key = keygate_control::load_or_create_machine_key(
            &config.data_dir.join(keygate_control::MACHINE_KEY_FILE),
        )
        .context("loading the control protocol's machine key")?;
        let server_url = match &config.server_url {
            Some(_) => config.server_url(),
            None => url_for(local_addr),
        };
        let console = keygate_console::Console::new(
            tailnet.clone(),
            keygate_console::ConsoleConfig { server_url: server_url.clone() },
        );
        let setup_link = keygate_console::setup_link_if_needed(&service, &server_url)
            .await
            .context("creating the admin console's setup link")?;
        let (derp, derp_map) = derp_setup(&config, &tailnet, &server_url)?;
        let control = ControlState::new(
            tailnet.clone(),
            machine_key,
            ControlConfig { server_url: server_url.clone(), derp_map, ..ControlConfig::default() },
        );

        Ok(Self {
            config,
            service,
            tailnet,
            control,
            console,
            derp,
            setup_link,
            tcp,
            local_addr,
            admin,
            admin_file,
            hold,
        })
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

    /// The live node state shared by the control protocol, the API and the console.
    pub fn tailnet(&self) -> &Tailnet {
        &self.tailnet
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
        let mut banner = format!(
            "listening on {}\nadmin socket: {}\ndatabase: {}\npublic URL: {}\ncreate a key: {hint}",
            url_for(self.local_addr),
            self.admin_socket_path().display(),
            self.config.database_display(),
            self.server_url(),
        );
        if let Some(link) = &self.setup_link {
            banner.push_str(&format!(
                "\nadmin console: create the first admin at {link} (works once, for 24 hours; or run `keygate admin create NAME`)"
            ));
        }
        banner
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully and removes the socket.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes (or a listener fails), lets in-flight requests finish
    /// for up to [`SHUTDOWN_GRACE`], and removes the admin socket.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self {
            service,
            tailnet,
            control,
            console,
            derp,
            tcp,
            admin,
            admin_file,
            local_addr,
            mut hold,
            ..
        } = self;
        if let Some(derp) = &derp {
            tokio::spawn(derp_relay::close_departed_clients(tailnet.clone(), derp.clone()));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which also means "stop".
            let _ = rx.wait_for(|stop| *stop).await;
        };

        // The client address is kept for the console's per-address sign-in limit.
        let public = axum::serve(
            tcp,
            public_router(service.clone(), tailnet.clone(), control, console, derp.clone())
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()));
        let private = axum::serve(admin, admin_router(service, tailnet))
            .with_graceful_shutdown(stopped(stop_rx));
        let mut public = tokio::spawn(public.into_future());
        let mut private = tokio::spawn(private.into_future());
        tracing::info!(addr = %local_addr, socket = %admin_file.path().display(), "serving");

        let early_exit = tokio::select! {
            () = shutdown => None,
            reason = hold.lost() => {
                // Another server serves the database now: stop at once, serving nothing more.
                let _ = stop_tx.send(true);
                public.abort();
                private.abort();
                drop(admin_file);
                bail!("stopped: {reason}");
            }
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
        // Relay connections run as detached tasks that graceful shutdown does not reach.
        if let Some(derp) = &derp {
            derp.shutdown();
        }
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

/// The routes served on the TCP listener: health, the REST API, the control protocol, the
/// admin console and (when enabled) the DERP relay.
pub fn public_router(
    service: Service,
    tailnet: Tailnet,
    control: ControlState,
    console: keygate_console::Console,
    derp: Option<DerpServer>,
) -> Router {
    let router = Router::new()
        .route("/health", get(health))
        .merge(keygate_api::router(service, tailnet))
        .merge(keygate_control::router(control))
        .merge(keygate_console::router(console));
    match derp {
        Some(derp) => router.merge(derp.router()),
        None => router,
    }
}

/// The embedded DERP relay (when `derp.enabled`) and the DERP map sent to nodes: the relay's
/// own region, plus the regions of `derp.map_file`.
fn derp_setup(
    config: &Config,
    tailnet: &Tailnet,
    server_url: &str,
) -> anyhow::Result<(Option<DerpServer>, DERPMap)> {
    let mut map = match &config.derp.map_file {
        Some(path) => keygate_control::load_derp_map_file(path)
            .with_context(|| format!("loading the DERP map {}", path.display()))?,
        None => DERPMap::default(),
    };
    if !config.derp.enabled {
        return Ok((None, map));
    }
    let key =
        keygate_derp::load_or_create_server_key(&config.data_dir.join(keygate_derp::DERP_KEY_FILE))
            .context("loading the DERP relay's key")?;
    let relay = DerpServer::new(
        key,
        Arc::new(derp_relay::TailnetAdmission(tailnet.clone())),
        keygate_derp::DerpConfig::default(),
    );
    let own = keygate_derp::embedded_derp_map(server_url)
        .with_context(|| format!("building the DERP map for {server_url}"))?;
    map.regions.extend(own.regions);
    Ok((Some(relay), map))
}

/// The routes served on the admin socket: the same API, with every request marked as coming
/// from the local administrator.
pub fn admin_router(service: Service, tailnet: Tailnet) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(keygate_api::router(service.clone(), tailnet))
        .merge(keygate_console::admin_socket_router::<keygate_api::AdminChannel>(service))
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
/// Raises the soft limit on open files to the hard limit. Every node holds a control
/// connection and usually a DERP connection; at the common soft limit of 1,024, about 500
/// nodes (or 1,000 idle sockets) would make `accept` fail for everyone. The hard limit is the
/// operator's to set (`LimitNOFILE=` in a systemd unit, `ulimit -Hn`).
fn raise_open_file_limit() {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).unwrap_or(0);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) if now > before => {
            tracing::info!(from = before, to = now, "raised the open-file limit")
        }
        Ok(now) => tracing::info!(limit = now, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, limit = before, "could not raise the open-file limit"),
    }
}

fn prepare_data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o777;
            // The directory holds the pepper, the keys and the admin socket: another user who
            // may write to it could swap any of them.
            let uid = admin_socket::current_uid()?;
            if meta.uid() != uid {
                bail!(
                    "the data directory {} belongs to user id {}, not to the user running keygate (id {uid}): chown it, or use another --data-dir",
                    dir.display(),
                    meta.uid()
                );
            }
            if mode & 0o022 != 0 {
                bail!(
                    "the data directory {} is writable by other users (mode {mode:o}): chmod 700 it",
                    dir.display()
                );
            }
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
