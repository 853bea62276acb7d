//! The secrets a run hands out never reach the disk: not the database files, not the log.

use crate::helpers::{create_key, text, Server};

#[test]
fn no_secret_reaches_the_database_files_or_the_debug_log() {
    let mut server = Server::start("secrets");
    let mut secrets = Vec::new();
    let mut key_ids = Vec::new();

    for args in [
        &[][..],
        &["--reusable"],
        &["--uses", "5", "--ephemeral"],
        &["--preauthorized", "--tags", "tag:ci"],
    ] {
        let key = create_key(&server, args);
        key_ids.push(text(&key, "id").to_owned());
        secrets.push(text(&key, "key").to_owned());
    }
    let human = server.cli(&["keys", "create", "--description", "human form"]);
    secrets.push(human.ok().lines().next().unwrap().to_owned());

    let token = server.cli(&["tokens", "create", "--json"]).json();
    let api_secret = text(&token, "key").to_owned();
    secrets.push(api_secret.clone());
    let human = server.cli(&["tokens", "create"]);
    secrets.push(human.ok().lines().next().unwrap().to_owned());

    let remote_key = server.remote(&api_secret, &["keys", "create", "--json"]).json();
    secrets.push(text(&remote_key, "key").to_owned());
    server.remote(&api_secret, &["keys", "list"]).ok();
    server.cli(&["keys", "revoke", &key_ids[0]]).ok();
    server.cli(&["tokens", "revoke", text(&token, "id")]).ok();
    // A refused token is logged as a failure; its text must not be either.
    let refused = server.remote(&api_secret, &["keys", "list"]);
    assert!(!refused.status.success());

    let status = server.stop();
    assert!(status.success(), "keygate serve exits cleanly on SIGTERM: {status}");
    assert!(!server.socket().exists(), "the admin socket is removed on exit");

    for s in &secrets {
        assert!(s.starts_with("keygate-auth-") || s.starts_with("keygate-api-"), "{s:?}");
    }
    let mut database = Vec::new();
    for file in ["keygate.db", "keygate.db-wal", "keygate.db-shm"] {
        if let Ok(bytes) = std::fs::read(server.data_dir.join(file)) {
            database.extend(bytes);
        }
    }
    let log = std::fs::read(&server.log).unwrap();
    assert!(
        contains(&database, key_ids[1].as_bytes()),
        "the scan reads the database that holds the keys"
    );
    assert!(String::from_utf8_lossy(&log).contains("DEBUG"), "the server logged at debug level");

    for secret in &secrets {
        let hex = secret.rsplit('-').next().unwrap();
        assert_eq!(hex.len(), 64);
        for (name, bytes) in [("database", &database), ("log", &log)] {
            assert!(!contains(bytes, secret.as_bytes()), "a secret is in the {name}");
            assert!(!contains(bytes, hex.as_bytes()), "a secret's random part is in the {name}");
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
