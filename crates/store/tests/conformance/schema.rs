//! The two migration folders describe one schema.

use std::collections::BTreeSet;
use std::path::Path;

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::support::TestDb;

/// File names in `migrations/<backend>`.
fn migration_files(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn both_migration_folders_have_the_same_files() {
    let sqlite = migration_files("sqlite");
    assert!(sqlite.contains("0001_initial.sql"), "{sqlite:?}");
    assert_eq!(sqlite, migration_files("postgres"));
}

#[test]
fn every_migration_starts_by_saying_why_it_exists() {
    for backend in ["sqlite", "postgres"] {
        for file in migration_files(backend) {
            let path =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend).join(&file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("-- Why this migration exists:"), "{}", path.display());
        }
    }
}

/// (table, column, nullable) of every table of ours; sqlx's bookkeeping and SQLite's
/// internal tables left out.
type Columns = BTreeSet<(String, String, bool)>;

async fn sqlite_columns(url: &str) -> Columns {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT m.name, p.name, p.\"notnull\" = 0 FROM sqlite_master AS m \
         JOIN pragma_table_info(m.name) AS p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
           AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().collect()
}

async fn postgres_columns(url: &str) -> Columns {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable = 'YES' \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[tokio::test]
async fn both_databases_have_the_same_tables_and_columns() {
    let (sqlite, _file) = TestDb::sqlite().await;
    let sqlite = sqlite_columns(&sqlite.url).await;
    let tables: BTreeSet<&str> = sqlite.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        tables,
        BTreeSet::from([
            "address_cursor",
            "api_tokens",
            "audit_events",
            "auth_keys",
            "console_admins",
            "console_sessions",
            "console_setup_tokens",
            "nodes",
            "oauth_clients",
            "oauth_tokens",
            "policies",
            "settings",
            "users",
        ]),
        "the SQLite schema has the tables the store uses"
    );

    let Some((pg, database)) = TestDb::postgres().await else { return };
    let postgres = postgres_columns(&pg.url).await;
    drop(pg);
    database.drop_database().await;
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "(table, column, nullable) only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
}
