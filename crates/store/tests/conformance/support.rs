//! The harness: a fresh database per test on each backend, and fixtures.
//!
//! Each test is an `async fn(TestDb)` written once; [`conformance!`] turns it into
//! `sqlite::<name>` and `postgres::<name>` test functions.
//! - SQLite: a new database file under the system temp directory, removed afterwards.
//! - PostgreSQL: `TEST_POSTGRES_URL` is an admin URL (e.g. from `scripts/postgres.sh start`);
//!   each test creates a database with a random name there and drops it afterwards (best
//!   effort). Without the variable the PostgreSQL tests print one "skipped" line and pass,
//!   unless `TEST_REQUIRE_POSTGRES=1` (set by CI), which makes them fail instead.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keygate_domain::{
    ip_pool, AuthKey, AuthKeyId, AuthKeySpec, DiscoKey, KeyLifetime, MachineKey, NewNode, NodeKey,
    NodeOwner, SecretHash, Timestamp, User, UserId, UserName,
};
use keygate_store::Store;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

/// Generates `sqlite::$test` and `postgres::$test` for each `async fn $test(db: TestDb)` in
/// the calling module. Multi-threaded runtimes, so the concurrency tests really race.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    $crate::support::on_sqlite(super::$test).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    $crate::support::on_postgres(super::$test).await;
                }
            )*
        }
    };
}
pub(crate) use conformance;

/// The instant every test starts from: 2023-11-14T22:13:20Z.
pub const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const DAY: Duration = Duration::from_secs(86_400);
/// How many callers race in the concurrency tests.
pub const RACERS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A store on a fresh, migrated database, plus what tests need to reach it directly.
#[derive(Clone)]
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    /// The database's URL, for raw connections that bypass the store.
    pub url: String,
}

/// Runs `test` on a fresh SQLite file database.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let file = TempDbFile::new();
    let db = TestDb::connect(Backend::Sqlite, file.url()).await;
    run_then_clean_up(test(db), async {}).await;
    drop(file);
}

/// Runs `test` on a fresh PostgreSQL database, or skips (see the module docs).
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_admin_url() else { return };
    let database = PgTestDatabase::create(&admin_url).await;
    let db = TestDb::connect(Backend::Postgres, database.url.clone()).await;
    run_then_clean_up(test(db), database.drop_database()).await;
}

/// Runs `test` to completion (in its own task, so a panic is caught), then `clean_up`, then
/// re-raises the test's panic, if any.
async fn run_then_clean_up(
    test: impl Future<Output = ()> + Send + 'static,
    clean_up: impl Future<Output = ()>,
) {
    let outcome = tokio::spawn(test).await;
    clean_up.await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

impl TestDb {
    async fn connect(backend: Backend, url: String) -> Self {
        let store = keygate_store::connect(&url).await.expect("the test database opens");
        Self { store, backend, url }
    }

    /// A fresh SQLite file database; the file is removed when the returned guard drops.
    pub async fn sqlite() -> (Self, TempDbFile) {
        let file = TempDbFile::new();
        (Self::connect(Backend::Sqlite, file.url()).await, file)
    }

    /// A fresh PostgreSQL database, when the tests may use one; drop it with
    /// [`PgTestDatabase::drop_database`].
    pub async fn postgres() -> Option<(Self, PgTestDatabase)> {
        let database = PgTestDatabase::create(&postgres_admin_url()?).await;
        Some((Self::connect(Backend::Postgres, database.url.clone()).await, database))
    }

    /// Runs one statement on a new connection of its own, bypassing the store. `args` are
    /// bound as `$1`, `$2`… in order.
    pub async fn raw_execute(&self, sql: &str, args: &[RawArg]) -> Result<u64, sqlx::Error> {
        macro_rules! run {
            ($conn:ty) => {{
                let mut conn = <$conn>::connect(&self.url).await?;
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = match arg {
                        RawArg::OptInt(v) => query.bind(*v),
                        RawArg::Text(v) => query.bind(v.clone()),
                        RawArg::Bytes(v) => query.bind(v.clone()),
                        RawArg::Bool(v) => query.bind(*v),
                    };
                }
                let done = conn.execute(query).await?;
                conn.close().await?;
                Ok(done.rows_affected())
            }};
        }
        match self.backend {
            Backend::Sqlite => run!(SqliteConnection),
            Backend::Postgres => run!(PgConnection),
        }
    }
}

/// An argument of [`TestDb::raw_execute`].
pub enum RawArg {
    OptInt(Option<i64>),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// A database file path that is unique to this test, and removed (with its WAL and
/// shared-memory files) on drop.
pub struct TempDbFile {
    path: PathBuf,
}

impl TempDbFile {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("keygate-store-test-{}.db", unique_suffix()));
        Self { path }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }
}

impl Drop for TempDbFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
}

/// A database created for one test on the PostgreSQL server of `TEST_POSTGRES_URL`.
pub struct PgTestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDatabase {
    async fn create(admin_url: &str) -> Self {
        let name = format!("keygate_test_{}", unique_suffix());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("TEST_POSTGRES_URL accepts connections (start one with scripts/postgres.sh)");
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("the test may create databases");
        let _ = admin.close().await;
        let url = with_database(admin_url, &name);
        Self { admin_url: admin_url.to_owned(), name, url }
    }

    /// Drops the database, disconnecting whoever is still connected; failures are only
    /// reported, since the test's own result matters more.
    pub async fn drop_database(self) {
        let dropped = async {
            let mut admin = PgConnection::connect(&self.admin_url).await?;
            let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
            admin.execute(sql.as_str()).await?;
            admin.close().await
        };
        if let Err(e) = dropped.await {
            let _ = writeln!(std::io::stderr(), "could not drop test database {}: {e}", self.name);
        }
    }
}

/// `url` with its database name replaced by `database` (any `?query` kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The admin URL for PostgreSQL tests; `None` (after saying so once) to skip them.
fn postgres_admin_url() -> Option<String> {
    static SKIP_NOTICE: Once = Once::new();
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if postgres_required() => panic!(
            "TEST_POSTGRES_URL is not set, but TEST_REQUIRE_POSTGRES requires the \
             PostgreSQL conformance tests to run (start a server with scripts/postgres.sh)"
        ),
        _ => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            SKIP_NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "postgres conformance tests skipped: TEST_POSTGRES_URL not set"
                );
            });
            None
        }
    }
}

/// Whether `TEST_REQUIRE_POSTGRES` asks for the PostgreSQL tests: `1`, `true`, `yes` or `on`
/// (any case) do; unset, empty, `0`, `false`, `no` or `off` do not. Any other value is a
/// mistake, and fails the run rather than being read as either.
fn postgres_required() -> bool {
    let value = std::env::var("TEST_REQUIRE_POSTGRES").unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => true,
        "" | "0" | "false" | "no" | "off" => false,
        _ => panic!(
            "TEST_REQUIRE_POSTGRES={value:?} is neither true (1, true, yes, on) nor false \
             (0, false, no, off, or unset)"
        ),
    }
}

/// A suffix no other test (in this run or a concurrent one) uses.
fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

// ---- fixtures ----

/// Creates the user `name`.
pub async fn user(db: &TestDb, name: &str) -> User {
    let name = UserName::parse(name).expect("fixture user names are valid");
    db.store.insert_user(&name, T0).await.expect("the user is inserted")
}

/// A key id that differs for each `n`.
pub fn key_id(n: u8) -> AuthKeyId {
    let mut random = [0u8; 12];
    random[0] = n;
    AuthKeyId::from_random(&random)
}

/// A key with 30 days' lifetime, created at [`T0`] with a distinct hash per `n`.
pub fn auth_key(n: u8, creator: Option<UserId>, spec: AuthKeySpec) -> AuthKey {
    let spec = AuthKeySpec { lifetime: KeyLifetime::from_days(30).unwrap(), ..spec };
    spec.validate().expect("fixture specs are valid");
    AuthKey::new(key_id(n), creator, &spec, SecretHash([n; 32]), T0)
}

/// A one-off key.
pub fn one_off() -> AuthKeySpec {
    AuthKeySpec::default()
}

/// A reusable key allowing `limit` uses.
pub fn reusable(limit: Option<u32>) -> AuthKeySpec {
    AuthKeySpec { reusable: true, usage_limit: limit, ..AuthKeySpec::default() }
}

/// Inserts `key` and returns it.
pub async fn stored_key(db: &TestDb, key: AuthKey) -> AuthKey {
    db.store.insert_credential(&key).await.expect("the key is inserted");
    key
}

/// A node whose keys, addresses and name are all derived from `n`, so nodes with different
/// `n` never conflict.
pub fn new_node(n: u32, owner: NodeOwner) -> NewNode {
    let bytes = |kind: u8| {
        let mut b = [kind; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b
    };
    NewNode {
        machine_key: MachineKey(bytes(1)),
        node_key: NodeKey(bytes(2)),
        disco_key: DiscoKey(bytes(3)),
        hostname: format!("Host {n}"),
        given_name: format!("host-{n}"),
        owner,
        auth_key_id: None,
        ipv4: ip_pool::ipv4_at(n),
        ipv6: ip_pool::ipv6_at(n),
        hostinfo_json: format!(r#"{{"Hostname":"Host {n}"}}"#),
        endpoints: vec![format!("192.0.2.{}:41641", n % 250), "[2001:db8::1]:41641".to_owned()],
        created: T0,
        last_seen: None,
        ephemeral: false,
        authorized: true,
        key_expiry: Some(T0.plus(180 * DAY)),
    }
}
