//! `keygate oauth` and `keygate audit`, against a real server, and an OAuth client used over
//! real HTTP: exchange the secret for an access token, then mint a tagged key with it.

use std::io::{Read, Write};

use serde_json::Value;

use crate::helpers::{text, Server};

/// One HTTP/1.1 request to the server; the status code and body.
fn http(server: &Server, request: &str) -> (u16, String) {
    let addr = server.url.strip_prefix("http://").expect("an http URL");
    let mut stream = std::net::TcpStream::connect(addr).expect("the server accepts connections");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status code");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn post(
    server: &Server,
    path: &str,
    content_type: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let auth = auth.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let (status, body) = http(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
             {auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}")))
}

#[test]
fn an_oauth_client_mints_tagged_keys_and_everything_is_audited() {
    let server = Server::start("oauth");
    let created = server
        .cli(&[
            "oauth",
            "create",
            "--scopes",
            "auth_keys",
            "--tags",
            "tag:ci",
            "--description",
            "ci",
            "--json",
        ])
        .json();
    let id = text(&created, "id").to_owned();
    let secret = text(&created, "key").to_owned();
    assert!(secret.starts_with(&format!("keygate-client-{id}-")), "{secret}");
    assert_eq!(created["scopes"], serde_json::json!(["auth_keys"]));

    let run = server.cli(&["oauth", "create", "--scopes", "auth_keys"]);
    assert!(run.error_line().contains("needs tags"), "{run:?}");

    let (status, token) = post(
        &server,
        "/api/v2/oauth/token",
        "application/x-www-form-urlencoded",
        None,
        &format!("grant_type=client_credentials&client_secret={secret}"),
    );
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["expires_in"], 3600);
    let access = text(&token, "access_token").to_owned();
    let (status, key) = post(
        &server,
        "/api/v2/tailnet/-/keys",
        "application/json",
        Some(&access),
        r#"{"capabilities":{"devices":{"create":{"ephemeral":true,"tags":["tag:ci"]}}}}"#,
    );
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["userId"], "");
    let key_id = text(&key, "id").to_owned();

    let list = server.cli(&["oauth", "list"]);
    let row =
        list.ok().lines().find(|l| l.starts_with(&id)).expect("the client is listed").to_owned();
    assert!(row.contains("auth_keys") && row.contains("tag:ci") && row.contains("valid"), "{row}");
    assert!(!list.stdout.contains(&secret[secret.len() - 64..]));

    assert_eq!(server.cli(&["oauth", "revoke", &id]).ok(), format!("revoked OAuth client {id}\n"));
    assert_eq!(
        server.cli(&["oauth", "revoke", &id]).ok(),
        format!("OAuth client {id} was already revoked\n")
    );
    let listed = server.cli(&["oauth", "list", "--json"]).json();
    assert_eq!(listed["clients"][0]["invalid"], true);

    let audit = server.cli(&["audit", "--json"]).json();
    let actions: Vec<(&str, &str, &str)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (text(e, "actor"), text(e, "action"), text(e, "target")))
        .collect();
    let oauth_actor = format!("oauth:{id}");
    assert_eq!(
        actions,
        vec![
            ("admin", "oauth_client.revoke", id.as_str()),
            (oauth_actor.as_str(), "key.create", key_id.as_str()),
            ("admin", "oauth_client.create", id.as_str()),
        ]
    );
    let table = server.cli(&["audit", "--action", "key.create"]);
    let table = table.ok();
    assert!(table.lines().next().unwrap().starts_with("TIME"), "{table}");
    assert!(table.contains(&key_id) && !table.contains("oauth_client.create"), "{table}");
    let run = server.cli(&["audit", "--since", "yesterday"]);
    assert!(run.error_line().contains("since"), "{run:?}");

    // No secret in the server's log or the database files.
    let log = server.log_text();
    for s in [&secret, &access, &text(&key, "key").to_owned()] {
        assert!(!log.contains(&s[s.len() - 64..]), "a secret is in the server log");
    }
}
