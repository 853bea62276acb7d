//! Opening stores: choosing the backend by URL, in-memory SQLite, reopening a file.

use keygate_domain::NodeOwner;
use keygate_store::{ConsumeOutcome, StoreError};

use crate::support::{auth_key, new_node, one_off, stored_key, user, TestDb, T0};

#[tokio::test]
async fn the_url_scheme_chooses_the_backend() {
    let memory = keygate_store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(memory.backend_name(), "sqlite");

    let (file, _guard) = TestDb::sqlite().await;
    assert_eq!(file.store.backend_name(), "sqlite");
    if let Some((pg, database)) = TestDb::postgres().await {
        assert_eq!(pg.store.backend_name(), "postgres");
        drop(pg);
        database.drop_database().await;
    }

    let Err(StoreError::Database(sqlx::Error::Configuration(e))) =
        keygate_store::connect("mysql://root:hunter2@localhost/db").await
    else {
        panic!("other schemes are refused");
    };
    let message = e.to_string();
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(!message.contains("hunter2"), "the URL's password is not repeated: {message}");
}

/// The service tests run on in-memory SQLite: it must behave like a file, including the one
/// transaction that a reader/writer split does not cover there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_sqlite_is_one_database() {
    let store = keygate_store::connect("sqlite::memory:").await.unwrap();
    let db = TestDb { store, backend: crate::support::Backend::Sqlite, url: String::new() };
    let alice = user(&db, "alice").await;
    let key = stored_key(&db, auth_key(1, Some(alice.id), one_off())).await;
    let node = new_node(1, NodeOwner::User(alice.id));
    let outcome = db.store.insert_node_consuming_key(&node, &key.id, T0).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed { .. }));
    assert_eq!(db.store.list_nodes().await.unwrap().len(), 1);
    assert_eq!(db.store.list_users().await.unwrap(), vec![alice]);

    // A second in-memory store is a different database.
    let other = keygate_store::connect("sqlite::memory:").await.unwrap();
    assert!(other.list_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn reopening_a_sqlite_file_keeps_its_data() {
    let (db, file) = TestDb::sqlite().await;
    let alice = user(&db, "alice").await;
    drop(db);
    // Migrations run again on open and find nothing to do.
    let reopened = keygate_store::connect(&file.url()).await.unwrap();
    assert_eq!(reopened.list_users().await.unwrap(), vec![alice]);
}

#[tokio::test]
async fn sqlite_files_are_created_in_write_ahead_log_mode() {
    use sqlx::Connection;

    let (db, file) = TestDb::sqlite().await;
    assert!(file.path().exists(), "connect created the file");
    // The journal mode is a property of the file, so a fresh connection reports it.
    let mut raw = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let (mode,): (String,) =
        sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut raw).await.unwrap();
    assert_eq!(mode, "wal");
}
