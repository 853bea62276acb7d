//! Tests of [`super`] (`config.rs`), kept apart to keep that file about one thing.

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
    assert_eq!(c.server_url(), "http://127.0.0.1:9000", "an unspecified address becomes loopback");
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
    let err = load(Some("log = \"info\"\nlistn = \"127.0.0.1:1\"\n"), &[]).unwrap_err().to_string();
    assert!(err.contains("keygate.toml, line 2"), "{err}");
    assert!(err.contains("unknown field `listn`"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");

    let err = load(Some("[keys]\nrecently_invalid = 3\n"), &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field `recently_invalid`"), "{err}");
}

#[test]
fn an_unknown_environment_variable_is_an_error_naming_it() {
    let err = load(None, &[("KEYGATE_LISTN", "127.0.0.1:1")]).unwrap_err().to_string();
    assert!(err.starts_with("environment variable KEYGATE_LISTN: unknown field `listn`"), "{err}");
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
    let err =
        load(Some("ephemeral_inactivity_timeout = \"5 minutes\""), &[]).unwrap_err().to_string();
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
    let file = format!(
        "pepper = \"{pepper}\"\ndatabase = \"postgres://kg:hunter2@db:5432/kg?password=hunter3\""
    );
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
    let text =
        std::fs::read_to_string(&path).expect("config.example.toml exists at the repository root");
    let parsed = Config::from_layers(Some((&path, &text)), vec![], &Overrides::default()).unwrap();
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

/// Every key `config.example.toml` documents, set or commented out, as `(table, key, value)`
/// with the value as the example writes it (a TOML literal). `table` is empty at the top level.
fn example_keys(text: &str) -> Vec<(String, String, String)> {
    let mut table = String::new();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_owned();
            continue;
        }
        let line = line.trim_start_matches(['#', ' ']);
        let Some((key, value)) = line.split_once(" = ") else { continue };
        let is_key = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if is_key && !keys.iter().any(|(t, k, _)| *t == table && k == key) {
            keys.push((table.clone(), key.to_owned(), value.trim().to_owned()));
        }
    }
    keys
}

/// A value other than the default for the keys the example sets to their defaults.
fn other_than_default(key: &str) -> Option<&'static str> {
    Some(match key {
        "listen" => "\"0.0.0.0:9999\"",
        "data_dir" => "\"/srv/keygate\"",
        "log" => "\"debug\"",
        "default_user" => "\"ops\"",
        "ephemeral_inactivity_timeout" => "\"10m\"",
        "recently_invalid_days" => "7",
        "enabled" => "false",
        "sqlite_synchronous" => "\"normal\"",
        _ => return None,
    })
}

/// The environment variable of a key, and its value: a string's text, else the literal.
fn env_var(table: &str, key: &str, literal: &str) -> (String, String) {
    let name = if table.is_empty() {
        format!("{ENV_PREFIX}{}", key.to_uppercase())
    } else {
        format!("{ENV_PREFIX}{}__{}", table.to_uppercase(), key.to_uppercase())
    };
    let value: toml::Table = toml::from_str(&format!("v = {literal}")).unwrap();
    let value = match &value["v"] {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (name, value)
}

/// TOML that sets `key` of `table` to `literal`.
fn file_line(table: &str, key: &str, literal: &str) -> String {
    if table.is_empty() {
        format!("{key} = {literal}\n")
    } else {
        format!("[{table}]\n{key} = {literal}\n")
    }
}

#[test]
fn every_key_of_config_example_can_be_set_from_the_environment() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let keys = example_keys(&text);
    // The example names every key serde knows (tables by their keys), so none is skipped.
    for table in ["", "keys", "derp"] {
        for name in field_names(table) {
            let is_table = table.is_empty() && (name == "keys" || name == "derp");
            let listed = keys.iter().any(|(t, k, _)| t == table && *k == name);
            assert!(is_table || listed, "config.example.toml lacks `{name}`: {keys:?}");
        }
    }

    let mut all_env = Vec::new();
    let mut all_file = String::new();
    let mut tables_done = Vec::new();
    for (table, key, example) in &keys {
        // A key the example leaves at its default needs another value to show it took effect.
        let literal = match load(Some(&file_line(table, key, example)), &[]) {
            Ok(c) if c == Config::default() => other_than_default(key)
                .unwrap_or_else(|| panic!("no non-default value for `{key}`: add one above")),
            _ => example.as_str(),
        };
        let (var, value) = env_var(table, key, literal);
        let from_env = load(None, &[(&var, &value)])
            .unwrap_or_else(|e| panic!("{var}={value} is refused: {e}"));
        let from_file = load(Some(&file_line(table, key, literal)), &[]).unwrap();
        assert_ne!(from_env, Config::default(), "{var}={value} changes nothing");
        assert!(from_env == from_file, "{var}={value} does not set `{key}` as the file does");

        all_env.push((var, value));
        // One header per table: the example lists each table's keys together.
        if !table.is_empty() && !tables_done.contains(table) {
            all_file.push_str(&format!("[{table}]\n"));
            tables_done.push(table.clone());
        }
        all_file.push_str(&format!("{key} = {literal}\n"));
    }
    let vars: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(
        load(None, &vars).unwrap() == load(Some(&all_file), &[]).unwrap(),
        "every key at once from the environment equals the same keys from a file"
    );
}

#[test]
fn sqlite_durability_is_full_unless_set_to_normal() {
    assert_eq!(load(None, &[]).unwrap().sqlite_synchronous, keygate_store::SqliteSync::Full);
    let c = load(Some("sqlite_synchronous = \"normal\"\n"), &[]).unwrap();
    assert_eq!(c.sqlite_synchronous, keygate_store::SqliteSync::Normal);
    let c = load(None, &[("KEYGATE_SQLITE_SYNCHRONOUS", "normal")]).unwrap();
    assert_eq!(c.sqlite_synchronous, keygate_store::SqliteSync::Normal);
    let err = load(None, &[("KEYGATE_SQLITE_SYNCHRONOUS", "off")]).unwrap_err().to_string();
    assert!(err.contains("KEYGATE_SQLITE_SYNCHRONOUS") && err.contains("full"), "{err}");
}
