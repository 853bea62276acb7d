//! keygate's one typed configuration, and how it is loaded.
//!
//! Layers, each overriding the one before:
//! 1. compiled defaults ([`Config::default`]);
//! 2. a TOML file (`keygate serve --config FILE`), documented key by key in
//!    `config.example.toml` at the repository root;
//! 3. `KEYGATE_*` environment variables, `__` separating nested keys
//!    (`KEYGATE_KEYS__RECENTLY_INVALID_DAYS=7` sets `keys.recently_invalid_days`);
//! 4. command-line flags (`--listen`, `--data-dir`, `--database`).
//!
//! Every layer is merged into one TOML table and deserialised once, so a value means the same
//! whichever layer it came from. Each file, variable and flag is also checked on its own first,
//! so an unknown key or a bad value is reported with the place it came from.
//! [`Config::validate`] then checks what serde cannot (URL schemes, ranges, the pepper's length).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use keygate_domain::UserName;
use keygate_service::ServiceConfig;
use keygate_store::SqliteSync;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Prefix of the environment variables that configure the server.
pub const ENV_PREFIX: &str = "KEYGATE_";

/// `KEYGATE_*` variables that belong to the CLI's client mode, not to this config. They are
/// skipped rather than refused, so one shell can export both.
const CLIENT_ENV_VARS: &[&str] =
    &["KEYGATE_SERVER", "KEYGATE_TOKEN", "KEYGATE_SOCKET", "KEYGATE_CONFIG"];

/// File name of the SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "keygate.db";
/// File name of the admin socket inside the data directory.
pub const ADMIN_SOCKET_FILE: &str = "admin.sock";
/// File name of the generated pepper inside the data directory.
pub const PEPPER_FILE: &str = "pepper";

/// Allowed values of `keys.recently_invalid_days`.
pub const RECENTLY_INVALID_DAYS: std::ops::RangeInclusive<u32> = 1..=365;

/// The server's configuration. See `config.example.toml` for every key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP listener (API, health, later the control protocol and console).
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: SocketAddr,
    /// Where keygate keeps its files: the SQLite database, the pepper, the admin socket.
    pub data_dir: PathBuf,
    /// Database URL; `None`: SQLite at `<data_dir>/keygate.db`.
    pub database: Option<String>,
    /// When a SQLite commit counts as done: `full` (on disk, the default) or `normal`.
    pub sqlite_synchronous: SqliteSync,
    /// The public URL clients use; `None`: derived from `listen`.
    pub server_url: Option<String>,
    /// Log filter, in `tracing-subscriber`'s `EnvFilter` syntax (`info`, `keygate=debug,info`).
    pub log: String,
    /// Hex pepper mixed into every stored secret hash; `None`: generated once into
    /// `<data_dir>/pepper`. Set it to keep the pepper outside the data directory (a rebuilt
    /// server taking over a PostgreSQL database needs the old one). One server serves one
    /// database: node state lives in that process's memory.
    pub pepper: Option<SecretString>,
    /// Pre-authentication key settings.
    pub keys: KeysConfig,
    /// The user keys and tokens are created for when the administrator names none.
    pub default_user: String,
    /// How long an ephemeral node may stay offline before it is removed.
    #[serde(deserialize_with = "deserialize_duration")]
    pub ephemeral_inactivity_timeout: Duration,
    /// The embedded DERP relay and the DERP map sent to nodes.
    pub derp: DerpConfig,
}

/// The `[derp]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DerpConfig {
    /// Serve the embedded DERP relay at `/derp` and put its region in the DERP map.
    #[serde(deserialize_with = "deserialize_bool")]
    pub enabled: bool,
    /// A DERP map in Tailscale's JSON format (for example public DERP servers); its regions are
    /// sent to nodes, together with the embedded region when the relay is enabled.
    pub map_file: Option<PathBuf>,
}

impl Default for DerpConfig {
    fn default() -> Self {
        Self { enabled: true, map_file: None }
    }
}

/// The `[keys]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// How many days revoked, expired and used-up keys stay listed as "recently revoked or
    /// expired".
    #[serde(deserialize_with = "deserialize_u32")]
    pub recently_invalid_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./keygate-data"),
            database: None,
            sqlite_synchronous: SqliteSync::Full,
            server_url: None,
            log: "info".to_owned(),
            pepper: None,
            keys: KeysConfig::default(),
            default_user: "admin".to_owned(),
            ephemeral_inactivity_timeout: Duration::from_secs(3 * 60),
            derp: DerpConfig::default(),
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self { recently_invalid_days: 30 }
    }
}

/// Values given on the command line; they override every other layer.
#[derive(Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(mask_database_url))
            .finish()
    }
}

/// Why the configuration could not be loaded. Every message names where the bad value came
/// from and never repeats a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}: {message}")]
    File { path: PathBuf, line: usize, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("--{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl Config {
    /// Loads the configuration from the defaults, `file` (if any), the process environment and
    /// `overrides`. Does not validate: call [`Config::validate`].
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?,
            ),
            None => None,
        };
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(ENV_PREFIX) && name != "RUST_LOG" {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::Env {
                var: name.to_owned(),
                message: "the value is not valid UTF-8".to_owned(),
            })?;
            env.push((name.to_owned(), value));
        }
        Self::from_layers(file.zip(text.as_deref()), env, overrides)
    }

    /// Builds the configuration from explicit layers: a file's path and text, environment
    /// variables (any; only `KEYGATE_*` and `RUST_LOG` are read), and command-line overrides.
    pub fn from_layers(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();

        if let Some((path, text)) = file {
            let file_error = |e: toml::de::Error| ConfigError::File {
                path: path.to_owned(),
                line: e.span().map_or(1, |s| line_of(text, s.start)),
                message: e.message().trim().to_owned(),
            };
            // Deserialising the file alone reports unknown keys and bad values with their line.
            toml::from_str::<Config>(text).map_err(file_error)?;
            let table: toml::Table = toml::from_str(text).map_err(file_error)?;
            merge(&mut merged, table);
        }

        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        let has_keygate_log = env.iter().any(|(k, _)| k == "KEYGATE_LOG");
        for (var, value) in &env {
            // RUST_LOG is honoured as a fallback for KEYGATE_LOG, as most Rust programs do.
            let path = if var == "RUST_LOG" && !has_keygate_log {
                vec!["log".to_owned()]
            } else if let Some(rest) = var.strip_prefix(ENV_PREFIX) {
                if CLIENT_ENV_VARS.contains(&var.as_str()) {
                    continue;
                }
                rest.to_lowercase().split("__").map(str::to_owned).collect()
            } else {
                continue;
            };
            // An empty variable counts as unset, as in most shells' `VAR= command` idiom.
            if value.is_empty() {
                continue;
            }
            let layer = single_value(&path, value)
                .map_err(|message| ConfigError::Env { var: var.clone(), message })?;
            check(&layer).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
            merge(&mut merged, layer);
        }

        let flags = [
            ("listen", overrides.listen.clone()),
            ("data-dir", overrides.data_dir.as_ref().map(|p| p.to_string_lossy().into_owned())),
            ("database", overrides.database.clone()),
        ];
        for (flag, value) in flags {
            let Some(value) = value else { continue };
            let key = flag.replace('-', "_");
            let layer = single_value(&[key], &value)
                .map_err(|message| ConfigError::Flag { flag, message })?;
            check(&layer).map_err(|message| ConfigError::Flag { flag, message })?;
            merge(&mut merged, layer);
        }

        Config::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError::Invalid {
            key: "configuration",
            message: e.message().trim().to_owned(),
        })
    }

    /// Checks the values serde cannot: URL schemes, ranges, the pepper's form, the log filter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.data_dir.as_os_str().is_empty() {
            return invalid(
                "data_dir",
                "it is empty: name a directory such as ./keygate-data".into(),
            );
        }
        if let Some(url) = &self.database {
            let known =
                ["sqlite:", "postgres://", "postgresql://"].iter().any(|p| url.starts_with(p));
            if !known {
                return invalid(
                    "database",
                    format!(
                        "unsupported URL {:?}: use sqlite://PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST/DATABASE",
                        mask_database_url(url)
                    ),
                );
            }
        }
        if let Some(url) = &self.server_url {
            let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
            let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'));
            if !host_ok || url.chars().any(char::is_whitespace) {
                return invalid(
                    "server_url",
                    format!("{url:?} is not an http:// or https:// URL with a host, such as https://keygate.example.com"),
                );
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return invalid("log", format!("filter {:?}: {e}", self.log));
        }
        if let Some(pepper) = &self.pepper {
            if parse_pepper(pepper.expose()).is_none() {
                return invalid(
                    "pepper",
                    "expected 64 hexadecimal characters (32 bytes), for example from `openssl rand -hex 32`".into(),
                );
            }
        }
        if !RECENTLY_INVALID_DAYS.contains(&self.keys.recently_invalid_days) {
            return invalid(
                "keys.recently_invalid_days",
                format!(
                    "{} is out of range: choose from {} to {} days",
                    self.keys.recently_invalid_days,
                    RECENTLY_INVALID_DAYS.start(),
                    RECENTLY_INVALID_DAYS.end()
                ),
            );
        }
        if let Err(e) = UserName::parse(&self.default_user) {
            return invalid("default_user", e.to_string());
        }
        if self.ephemeral_inactivity_timeout.is_zero() {
            return invalid(
                "ephemeral_inactivity_timeout",
                "it must be longer than zero, such as \"3m\"".into(),
            );
        }
        Ok(())
    }

    /// The database URL to connect to: `database`, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.sqlite_path().display()),
        }
    }

    /// The SQLite file used when no `database` is set.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join(SQLITE_FILE)
    }

    /// The database, for showing to people: the backend and where, never a password.
    pub fn database_display(&self) -> String {
        match &self.database {
            None => format!("sqlite at {}", self.sqlite_path().display()),
            Some(url) if url.starts_with("sqlite:") => format!("sqlite at {url}"),
            Some(url) => format!("postgres at {}", mask_database_url(url)),
        }
    }

    /// Where the admin socket lives.
    pub fn admin_socket_path(&self) -> PathBuf {
        self.data_dir.join(ADMIN_SOCKET_FILE)
    }

    /// The public URL: `server_url`, or one derived from `listen` (an unspecified address
    /// becomes loopback, since `0.0.0.0` is not an address a client can dial).
    pub fn server_url(&self) -> String {
        match &self.server_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => url_for(self.listen),
        }
    }

    /// The configured pepper as bytes; `None` when it is to be generated in the data directory.
    /// Call [`Config::validate`] first.
    pub fn pepper_bytes(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        match &self.pepper {
            None => Ok(None),
            Some(p) => parse_pepper(p.expose()).map(Some).ok_or(ConfigError::Invalid {
                key: "pepper",
                message: "expected 64 hexadecimal characters (32 bytes)".into(),
            }),
        }
    }

    /// The service layer's tunables.
    pub fn service_config(&self) -> Result<ServiceConfig, ConfigError> {
        let default_user = UserName::parse(&self.default_user)
            .map_err(|e| ConfigError::Invalid { key: "default_user", message: e.to_string() })?;
        Ok(ServiceConfig {
            recently_invalid_window: Duration::from_secs(
                u64::from(self.keys.recently_invalid_days) * 86_400,
            ),
            default_user,
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(mask_database_url))
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("server_url", &self.server_url)
            .field("log", &self.log)
            .field("pepper", &self.pepper)
            .field("keys", &self.keys)
            .field("default_user", &self.default_user)
            .field("ephemeral_inactivity_timeout", &self.ephemeral_inactivity_timeout)
            .finish()
    }
}

/// `http://ADDR` for a listening address, with unspecified addresses replaced by loopback.
pub fn url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A secret configuration value: never shown by `Debug`, wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// Replaces the password of a database URL (in the user-info part and in a `password=` query
/// parameter) with `***`.
pub fn mask_database_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user_info, host) = authority.split_at(at);
            match user_info.split_once(':') {
                Some((user, _password)) => format!("{user}:***{host}"),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Parses a duration written as numbers with units, such as `90s`, `3m`, `1h30m` or `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let unreadable = || {
        format!("cannot read duration {text:?}: write a number and a unit (s, m, h or d), such as \"3m\"")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(unreadable());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(unreadable()),
        };
        let n: u64 = number.parse().map_err(|_| unreadable())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(unreadable)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(unreadable());
    }
    Ok(Duration::from_secs(total))
}

fn parse_pepper(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// Deep-merges `layer` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A table holding only `value` at `path` (`["keys", "recently_invalid_days"]`).
fn single_value(path: &[String], value: &str) -> Result<toml::Table, String> {
    if path.iter().any(String::is_empty) {
        return Err("cannot tell which setting this is (empty name between `__` separators)".into());
    }
    let mut value = toml::Value::String(value.to_owned());
    for key in path.iter().rev() {
        let mut t = toml::Table::new();
        t.insert(key.clone(), value);
        value = toml::Value::Table(t);
    }
    match value {
        toml::Value::Table(t) => Ok(t),
        _ => Err("empty setting name".into()),
    }
}

/// Deserialises one layer alone, to report its own unknown keys and bad values.
fn check(layer: &toml::Table) -> Result<(), String> {
    Config::deserialize(toml::Value::Table(layer.clone()))
        .map(drop)
        .map_err(|e| e.message().trim().to_owned())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |t| t.matches('\n').count() + 1)
}

fn deserialize_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "invalid listen address {text:?}: expected IP:PORT, such as 127.0.0.1:8080 or [::]:443 (host names are not accepted)"
        ))
    })
}

fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(de::Error::custom)
}

/// A `bool` from a TOML boolean or from text (`true`/`false`, `on`/`off`, `1`/`0`), since
/// environment variables are always text.
fn deserialize_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct BoolVisitor;
    impl Visitor<'_> for BoolVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" | "on" | "1" | "yes" => Ok(true),
                "false" | "off" | "0" | "no" => Ok(false),
                _ => Err(E::custom(format!("{v:?} is not true or false"))),
            }
        }
    }
    d.deserialize_any(BoolVisitor)
}

/// A `u32` from a TOML integer or from text (environment variables are always text).
fn deserialize_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    struct U32Visitor;
    impl Visitor<'_> for U32Visitor {
        type Value = u32;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v)
                .map_err(|_| E::custom(format!("{v} is not a whole number from 0 to {}", u32::MAX)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v)
                .map_err(|_| E::custom(format!("{v} is not a whole number from 0 to {}", u32::MAX)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
            v.trim().parse().map_err(|_| E::custom(format!("{v:?} is not a whole number")))
        }
    }
    d.deserialize_any(U32Visitor)
}

#[cfg(test)]
mod tests;
