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
    /// The public URL clients use; `None`: derived from `listen`.
    pub server_url: Option<String>,
    /// Log filter, in `tracing-subscriber`'s `EnvFilter` syntax (`info`, `keygate=debug,info`).
    pub log: String,
    /// Hex pepper mixed into every stored secret hash; `None`: generated once into
    /// `<data_dir>/pepper`. Set it (the same on every server) when several servers share one
    /// PostgreSQL database.
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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let path = Path::new("keygate.toml");
        Config::from_layers(file.map(|t| (path, t)), env(vars), &Overrides::default())
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./keygate-data"));
        assert_eq!(c.database_url(), "sqlite://./keygate-data/keygate.db");
        assert_eq!(c.server_url(), "http://127.0.0.1:8080");
        assert_eq!(c.keys.recently_invalid_days, 30);
        assert_eq!(c.ephemeral_inactivity_timeout, Duration::from_secs(180));
        assert_eq!(c.default_user, "admin");
        c.validate().unwrap();
    }

    #[test]
    fn the_file_overrides_defaults() {
        let c = load(
            Some("listen = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/keygate\"\n[keys]\nrecently_invalid_days = 7\n"),
            &[],
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/keygate"));
        assert_eq!(c.keys.recently_invalid_days, 7);
        assert_eq!(c.log, "info", "keys not in the file keep their defaults");
        assert_eq!(
            c.server_url(),
            "http://127.0.0.1:9000",
            "an unspecified address becomes loopback"
        );
    }

    #[test]
    fn environment_overrides_the_file_and_flags_override_the_environment() {
        let file = "listen = \"0.0.0.0:9000\"\nlog = \"warn\"\n[keys]\nrecently_invalid_days = 7\n";
        let vars = [
            ("KEYGATE_LISTEN", "127.0.0.1:9001"),
            ("KEYGATE_KEYS__RECENTLY_INVALID_DAYS", "14"),
            ("KEYGATE_EPHEMERAL_INACTIVITY_TIMEOUT", "1h30m"),
            ("KEYGATE_DATABASE", "postgres://kg:hunter2@db/kg"),
            ("KEYGATE_TOKEN", "the CLI's, not ours"),
            ("HOME", "/root"),
        ];
        let c = load(Some(file), &vars).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(c.keys.recently_invalid_days, 14);
        assert_eq!(c.ephemeral_inactivity_timeout, Duration::from_secs(5400));
        assert_eq!(c.log, "warn");
        assert_eq!(c.database.as_deref(), Some("postgres://kg:hunter2@db/kg"));

        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some("/tmp/kg".into()),
            database: Some("sqlite::memory:".into()),
        };
        let c = Config::from_layers(Some((Path::new("f.toml"), file)), env(&vars), &flags).unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/kg"));
        assert_eq!(c.database.as_deref(), Some("sqlite::memory:"));
    }

    #[test]
    fn keygate_log_wins_over_rust_log_which_wins_over_the_file() {
        let file = Some("log = \"warn\"");
        assert_eq!(load(file, &[("RUST_LOG", "debug")]).unwrap().log, "debug");
        assert_eq!(
            load(file, &[("RUST_LOG", "debug"), ("KEYGATE_LOG", "trace")]).unwrap().log,
            "trace"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_naming_the_key_and_line() {
        let err =
            load(Some("log = \"info\"\nlistn = \"127.0.0.1:1\"\n"), &[]).unwrap_err().to_string();
        assert!(err.contains("keygate.toml, line 2"), "{err}");
        assert!(err.contains("unknown field `listn`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");

        let err = load(Some("[keys]\nrecently_invalid = 3\n"), &[]).unwrap_err().to_string();
        assert!(err.contains("unknown field `recently_invalid`"), "{err}");
    }

    #[test]
    fn an_unknown_environment_variable_is_an_error_naming_it() {
        let err = load(None, &[("KEYGATE_LISTN", "127.0.0.1:1")]).unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable KEYGATE_LISTN: unknown field `listn`"),
            "{err}"
        );
    }

    #[test]
    fn an_invalid_listen_address_says_what_is_expected() {
        let err = load(Some("listen = \"localhost:80\""), &[]).unwrap_err().to_string();
        assert!(err.contains("invalid listen address \"localhost:80\": expected IP:PORT"), "{err}");
        let err = load(None, &[("KEYGATE_LISTEN", "8080")]).unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable KEYGATE_LISTEN: invalid listen address \"8080\""),
            "{err}"
        );
        let flags = Overrides { listen: Some("nope".into()), ..Default::default() };
        let err = Config::from_layers(None, vec![], &flags).unwrap_err().to_string();
        assert!(err.starts_with("--listen: invalid listen address \"nope\""), "{err}");
    }

    #[test]
    fn bad_numbers_and_durations_are_named() {
        let err =
            load(None, &[("KEYGATE_KEYS__RECENTLY_INVALID_DAYS", "soon")]).unwrap_err().to_string();
        assert!(
            err.contains("KEYGATE_KEYS__RECENTLY_INVALID_DAYS")
                && err.contains("\"soon\" is not a whole number"),
            "{err}"
        );
        let err = load(Some("ephemeral_inactivity_timeout = \"5 minutes\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read duration \"5 minutes\""), "{err}");
    }

    #[test]
    fn validate_gives_precise_messages() {
        let cases: [(&str, &str); 6] = [
            (
                "database = \"mysql://u:secretpw@h/db\"",
                "invalid database: unsupported URL \"mysql://u:***@h/db\"",
            ),
            ("server_url = \"keygate.example.com\"", "invalid server_url"),
            ("pepper = \"abc\"", "invalid pepper: expected 64 hexadecimal characters"),
            (
                "[keys]\nrecently_invalid_days = 0",
                "invalid keys.recently_invalid_days: 0 is out of range: choose from 1 to 365 days",
            ),
            ("default_user = \"Admin\"", "invalid default_user: invalid user name \"Admin\""),
            ("ephemeral_inactivity_timeout = \"0s\"", "invalid ephemeral_inactivity_timeout"),
        ];
        for (file, expected) in cases {
            let err = load(Some(file), &[]).unwrap().validate().unwrap_err().to_string();
            assert!(err.starts_with(expected), "{file}: {err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
        let err = load(Some("log = \"info,[\""), &[]).unwrap().validate().unwrap_err().to_string();
        assert!(err.starts_with("invalid log: filter"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_pepper_or_a_database_password() {
        let pepper = "ab".repeat(32);
        let file = format!("pepper = \"{pepper}\"\ndatabase = \"postgres://kg:hunter2@db:5432/kg?password=hunter3\"");
        let c = load(Some(&file), &[]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.pepper_bytes().unwrap(), Some([0xab; 32]));
        let debug = format!("{c:?}");
        assert!(!debug.contains(&pepper) && !debug.contains("hunter"), "{debug}");
        assert!(debug.contains("postgres://kg:***@db:5432/kg?password=***"), "{debug}");
        assert_eq!(c.database_display(), "postgres at postgres://kg:***@db:5432/kg?password=***");
    }

    #[test]
    fn masking_leaves_urls_without_passwords_alone() {
        assert_eq!(mask_database_url("postgres://db/kg"), "postgres://db/kg");
        assert_eq!(mask_database_url("postgres://kg@db/kg"), "postgres://kg@db/kg");
        assert_eq!(mask_database_url("postgresql://kg:p%40ss@db"), "postgresql://kg:***@db");
        assert_eq!(mask_database_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn durations_read_units_and_sums() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "5", "m", "5x", "1.5h", "-1m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    /// The field names serde knows, read from its "expected one of" message, so this test
    /// follows the struct without a hand-kept list.
    fn field_names(table: &str) -> Vec<String> {
        let probe = if table.is_empty() {
            "zz_probe = 1".to_owned()
        } else {
            format!("[{table}]\nzz_probe = 1")
        };
        let message = toml::from_str::<Config>(&probe).unwrap_err().message().to_owned();
        let expected = message.split_once("expected").map_or("", |(_, rest)| rest);
        expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn config_example_documents_every_key_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml");
        let text = std::fs::read_to_string(&path)
            .expect("config.example.toml exists at the repository root");
        let parsed =
            Config::from_layers(Some((&path, &text)), vec![], &Overrides::default()).unwrap();
        assert_eq!(parsed, Config::default(), "the example's active lines are the defaults");

        let top = field_names("");
        assert!(top.len() >= 9, "{top:?}");
        let keys: Vec<String> = field_names("keys");
        assert_eq!(keys, ["recently_invalid_days"]);
        for name in top.iter().chain(&keys) {
            let documented = text.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{name} =")) || l.starts_with(&format!("[{name}]"))
            });
            assert!(documented, "config.example.toml does not document `{name}`");
        }
    }
}
