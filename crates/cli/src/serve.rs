//! `keygate serve`: loads the configuration and runs the server until SIGINT or SIGTERM.

use clap::Args;
use keygate_server::{telemetry, Application, Config, Overrides};

use crate::GlobalArgs;

/// Most threads tokio's blocking pool may start (its default is 512). The server's blocking
/// work is password hashing, which the service caps at one hash per core, and brief file and
/// DNS calls; a bound keeps a burst of them from starting hundreds of threads (each with its
/// stack, and 19 MiB while hashing): further blocking tasks wait in tokio's queue instead.
const MAX_BLOCKING_THREADS: usize = 16;

// No `Debug`: `--database` may hold a password.
#[derive(Args)]
pub struct ServeArgs {
    /// Address of the HTTP listener, IP:PORT [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Database URL: postgres://USER:PASSWORD@HOST/DB, or sqlite://PATH (prefer the
    /// KEYGATE_DATABASE variable for a password: a flag shows in `ps`)
    /// [default: SQLite in the data directory]
    #[arg(long, value_name = "URL", hide_env_values = true)]
    database: Option<String>,
}

/// Runs the server. Prints where it listens on stdout (first line: `listening on http://ADDR`);
/// logs go to stderr.
pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: global.data_dir.clone(),
        database: args.database,
    };
    let config = Config::load(global.config.as_deref(), &overrides)?;
    config.validate()?;
    telemetry::init(&config.log)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .map_err(anyhow::Error::new)?
        .block_on(async {
            let app = Application::build(config).await?;
            crate::output::print(&format!("{}\n", app.banner()))?;
            app.run_until_stopped().await
        })
}
