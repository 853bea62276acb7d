//! `keygate serve` refusing bad configuration, and the CLI without a server.

use crate::helpers::{keygate, Run, TestDir};

#[test]
fn a_missing_server_socket_says_how_to_start_one() {
    let dir = TestDir::new("nosock");
    let run = Run::of(keygate(dir.path()).args(["keys", "list"]));
    let line = run.error_line();
    assert!(
        line.starts_with("error: cannot reach keygate at ./keygate-data/admin.sock:"),
        "{line}"
    );
    assert!(
        line.contains(
            "is `keygate serve` running in this directory? (or pass --server URL --token …)"
        ),
        "{line}"
    );

    let run = Run::of(keygate(dir.path()).args(["--data-dir", "elsewhere", "keys", "create"]));
    assert!(run.error_line().contains("elsewhere/admin.sock"), "{run:?}");
    let run =
        Run::of(keygate(dir.path()).args(["users", "list"]).env("KEYGATE_DATA_DIR", "fromenv"));
    assert!(run.error_line().contains("fromenv/admin.sock"), "{run:?}");
}

#[test]
fn serve_with_an_unusable_config_prints_one_error_line_and_fails() {
    let dir = TestDir::new("badcfg");
    let file = dir.path().join("keygate.toml");
    std::fs::write(&file, "log = \"info\"\nlistn = \"127.0.0.1:0\"\n").unwrap();
    let run = Run::of(keygate(dir.path()).args(["serve", "--config"]).arg(&file));
    let line = run.error_line();
    assert!(line.contains("line 2") && line.contains("unknown field `listn`"), "{line}");

    let run = Run::of(keygate(dir.path()).args(["serve", "--listen", "localhost"]));
    assert!(
        run.error_line().starts_with("error: --listen: invalid listen address \"localhost\""),
        "{run:?}"
    );

    let run = Run::of(
        keygate(dir.path()).args(["serve"]).env("KEYGATE_KEYS__RECENTLY_INVALID_DAYS", "0"),
    );
    assert!(run.error_line().contains("keys.recently_invalid_days: 0 is out of range"), "{run:?}");

    let run = Run::of(keygate(dir.path()).args(["serve", "--database", "mysql://u:hunter2@db/kg"]));
    let line = run.error_line();
    assert!(line.contains("unsupported URL") && !line.contains("hunter2"), "{line}");

    let run = Run::of(keygate(dir.path()).args(["serve", "--config", "missing.toml"]));
    assert!(run.error_line().contains("cannot read config file missing.toml"), "{run:?}");

    assert!(!dir.path().join("keygate-data").exists(), "a refused start creates nothing");
}
