//! Remote mode: `keygate --server URL --token …`.

use crate::helpers::{keygate, text, Run, Server};

#[test]
fn remote_mode_works_with_an_api_token() {
    let server = Server::start("remote");
    let token = server.cli(&["tokens", "create", "--description", "laptop", "--json"]).json();
    let secret = text(&token, "key");
    assert!(secret.starts_with(&format!("keygate-api-{}-", text(&token, "id"))), "{token}");
    assert_eq!(token["user"], "admin");

    let key = server.remote(secret, &["keys", "create", "--reusable", "--json"]).json();
    let id = text(&key, "id");
    assert!(text(&key, "key").starts_with("keygate-auth-"));
    let list = server.remote(secret, &["keys", "list"]);
    assert!(list.ok().contains(id), "{list:?}");
    assert_eq!(server.remote(secret, &["keys", "show", id, "--json"]).json()["id"], id);
    assert_eq!(server.remote(secret, &["keys", "revoke", id]).ok(), format!("revoked key {id}\n"));

    // KEYGATE_SERVER and KEYGATE_TOKEN work like the flags.
    let run = Run::of(
        keygate(server.dir.path())
            .env("KEYGATE_SERVER", &server.url)
            .env("KEYGATE_TOKEN", secret)
            .args(["keys", "list", "--json"]),
    );
    assert_eq!(run.json()["recentlyInvalid"][0]["id"], id);

    // The socket sees the same keys.
    assert_eq!(server.cli(&["keys", "show", id, "--json"]).json()["state"], "revoked");
}

#[test]
fn remote_mode_refuses_garbage_and_revoked_tokens_clearly() {
    let server = Server::start("badtoken");
    let run = server.remote("garbage", &["keys", "list"]);
    assert!(run.error_line().contains("invalid or missing credentials"), "{run:?}");
    let fake = format!("keygate-api-tAAAAAAAAAAAA-{}", "0".repeat(64));
    let run = server.remote(&fake, &["keys", "list"]);
    assert!(run.error_line().contains("invalid or missing credentials"), "{run:?}");

    let token = server.cli(&["tokens", "create", "--json"]).json();
    let (id, secret) = (text(&token, "id"), text(&token, "key"));
    server.remote(secret, &["keys", "list"]).ok();
    assert_eq!(server.cli(&["tokens", "revoke", id]).ok(), format!("revoked token {id}\n"));
    assert_eq!(
        server.cli(&["tokens", "revoke", id]).ok(),
        format!("token {id} was already revoked\n")
    );
    let run = server.remote(secret, &["keys", "list"]);
    assert!(run.error_line().contains("invalid or missing credentials"), "{run:?}");
    let listed = server.cli(&["tokens", "list"]);
    let row =
        listed.ok().lines().find(|l| l.starts_with(id)).expect("the token is listed").to_owned();
    assert!(row.contains("revoked"), "{row}");

    let run = server.remote(secret, &["keys", "list"]);
    assert!(!run.stderr.contains(secret), "errors never echo the token");

    let run = Run::of(keygate(server.dir.path()).args(["--server", &server.url, "keys", "list"]));
    assert!(run.error_line().contains("--server needs an API token"), "{run:?}");
    let https = server.url.replace("http://", "https://");
    let run = Run::of(
        keygate(server.dir.path()).args(["--server", &https, "--token", secret, "keys", "list"]),
    );
    assert!(run.error_line().contains("https is not supported by the CLI yet"), "{run:?}");
}
