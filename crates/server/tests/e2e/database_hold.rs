//! One database, one server: a second server on the same database (through another data
//! directory) is refused with a line naming the database and the holder; the hold ends with
//! the server. On PostgreSQL too, when `TEST_POSTGRES_URL` names a server.

use std::time::Duration;

use keygate_server::Application;
use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::{config_in, TestDir};

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_until_the_first_is_gone() {
    let dir = TestDir::new("hold");
    let database = format!("sqlite://{}", dir.path().join("shared.db").display());
    let mut first_config = config_in(&dir);
    first_config.data_dir = dir.path().join("a");
    first_config.database = Some(database.clone());
    let mut second_config = config_in(&dir);
    second_config.data_dir = dir.path().join("b");
    second_config.database = Some(database);

    let first = Application::build(first_config).await.unwrap();
    let err = Application::build(second_config.clone())
        .await
        .err()
        .expect("a second server on the same database is refused");
    let message = format!("{err:#}");
    assert!(message.contains("shared.db is already in use by keygate pid"), "{message}");
    assert!(message.contains(&format!("pid {} on host", std::process::id())), "{message}");
    assert!(message.contains("one keygate server serves one database"), "{message}");
    assert!(!second_config.data_dir.join("admin.sock").exists(), "the refused server left nothing");

    drop(first);
    let second = Application::build(second_config).await;
    assert!(
        second.is_ok(),
        "the database is free once the first server is gone: {:?}",
        second.err()
    );
}

/// The admin URL of the test PostgreSQL server, or `None` to skip (a failure when
/// `TEST_REQUIRE_POSTGRES` is set).
fn postgres_admin_url() -> Option<String> {
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("TEST_REQUIRE_POSTGRES").unwrap_or_default();
            assert!(
                !matches!(required.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"),
                "TEST_REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not"
            );
            None
        }
    }
}

/// Creates a fresh database on the test server and returns its URL.
async fn fresh_postgres_database(admin_url: &str, name: &str) -> String {
    let name = format!("keygate_hold_{name}_{}", std::process::id());
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await
        .unwrap();
    admin.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.unwrap();
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let base = &base[..base.rfind('/').unwrap()];
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[tokio::test]
async fn a_second_server_on_the_same_postgres_database_is_refused_naming_the_holder() {
    let Some(admin_url) = postgres_admin_url() else { return };
    let url = fresh_postgres_database(&admin_url, "refused").await;
    let other_url = fresh_postgres_database(&admin_url, "other").await;
    let dir = TestDir::new("pghold");
    let config = |data: &str, database: &str| {
        let mut config = config_in(&dir);
        config.data_dir = dir.path().join(data);
        config.database = Some(database.to_owned());
        config
    };

    let first = Application::build(config("a", &url)).await.unwrap();
    let err = Application::build(config("b", &url)).await.err().expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("postgres database \"keygate_hold_refused_"), "{message}");
    assert!(
        message.contains(&format!("in use by keygate pid {} on host", std::process::id())),
        "{message}"
    );
    assert!(message.contains("backend pid"), "{message}");

    // Advisory locks belong to one database: another database on the same server is free.
    let elsewhere = Application::build(config("c", &other_url)).await;
    assert!(elsewhere.is_ok(), "{:?}", elsewhere.err());

    // PostgreSQL releases the lock when the holder's session ends.
    drop(first);
    let mut second = None;
    for _ in 0..50 {
        match Application::build(config("b", &url)).await {
            Ok(app) => {
                second = Some(app);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(second.is_some(), "the database is free once the first server is gone");
}

#[tokio::test]
async fn a_server_whose_hold_was_taken_over_stops() {
    let Some(admin_url) = postgres_admin_url() else { return };
    let url = fresh_postgres_database(&admin_url, "takeover").await;
    let dir = TestDir::new("pgtake");
    let config = |data: &str| {
        let mut config = config_in(&dir);
        config.data_dir = dir.path().join(data);
        config.database = Some(url.clone());
        config
    };
    let first = Application::build(config("a")).await.unwrap();
    let running = tokio::spawn(first.run_until(std::future::pending()));

    // Cut the first server's holding session (as a database restart or a network failure
    // would), and let a second server take the database meanwhile.
    let mut admin = PgConnection::connect(&url).await.unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name LIKE 'keygate hold%' AND datname = current_database()",
        )
        .await
        .unwrap();
    let mut second = None;
    for _ in 0..50 {
        match Application::build(config("b")).await {
            Ok(app) => {
                second = Some(app);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(second.is_some(), "the second server took the released database");

    // The first notices at its next check of the connection and stops with the reason.
    let ended = tokio::time::timeout(Duration::from_secs(60), running).await;
    let result = ended.expect("the first server stops").expect("it did not panic");
    let message = format!("{:#}", result.expect_err("it stops with an error"));
    assert!(message.contains("another server took the database"), "{message}");
}
