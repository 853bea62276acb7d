//! The exclusive hold one server takes on its database (SQLite here; the server's tests
//! cover PostgreSQL, where the holder is another server).

use keygate_store::{lock_path, DatabaseHold, StoreError};

#[tokio::test]
async fn a_sqlite_file_is_held_by_one_holder_at_a_time() {
    let dir = std::env::temp_dir().join(format!("keygate-hold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let database = dir.join("one.db");
    let url = format!("sqlite://{}", database.display());

    let first = DatabaseHold::take(&url).await.expect("a free database is taken");
    let holder = std::fs::read_to_string(lock_path(&database)).unwrap();
    assert!(
        holder.starts_with(&format!("keygate pid {} on host ", std::process::id())),
        "{holder}"
    );

    let Err(StoreError::Held { database: named, holder: refused_by }) =
        DatabaseHold::take(&url).await
    else {
        panic!("a held database is refused");
    };
    assert_eq!(named, format!("sqlite at {}", database.display()));
    assert_eq!(refused_by, holder.trim());

    // Another file is another database.
    let other = DatabaseHold::take(&format!("sqlite://{}", dir.join("two.db").display())).await;
    assert!(other.is_ok(), "{other:?}");

    // The lock goes with the holder; the stale lock file does not block the next one.
    drop(first);
    assert!(lock_path(&database).exists());
    let again = DatabaseHold::take(&url).await;
    assert!(again.is_ok(), "{again:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_in_memory_database_needs_no_hold() {
    let first = DatabaseHold::take("sqlite::memory:").await.unwrap();
    let second = DatabaseHold::take("sqlite::memory:").await;
    assert!(second.is_ok(), "each in-memory database is private to its connections");
    drop(first);
}
