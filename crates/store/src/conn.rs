//! The seam between the shared SQL and the two drivers.
//!
//! Every query in this crate is written once, as SQL text both databases accept (sqlx's SQLite
//! driver understands PostgreSQL's `$1` placeholders) plus a slice of [`Arg`]s. [`Conn`] runs
//! such a query on either driver's connection. Keeping the argument types to a closed,
//! portable set (integers, booleans, text, bytes) is what lets the table modules be plain
//! functions generic over [`Conn`], instead of functions carrying a dozen `Encode`/`Decode`
//! bounds per database, or every method written twice.
//!
//! Queries go through sqlx's per-connection prepared-statement cache, so the SQL text of each
//! query is parsed once per connection, not once per call.

use std::future::Future;

use keygate_domain::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Database, Encode, FromRow, Type};

/// One bound query argument, of a type both databases store natively.
#[derive(Clone, Debug)]
pub(crate) enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    Text(&'a str),
    /// Text made for the query, such as a tag list rendered from its set.
    OwnedText(String),
    OptText(Option<&'a str>),
    Bytes(&'a [u8]),
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::OwnedText(v)
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::OptText(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

/// Timestamps are stored as unix milliseconds.
impl From<Timestamp> for Arg<'_> {
    fn from(v: Timestamp) -> Self {
        Arg::Int(v.unix_millis())
    }
}

impl From<Option<Timestamp>> for Arg<'_> {
    fn from(v: Option<Timestamp>) -> Self {
        Arg::OptInt(v.map(Timestamp::unix_millis))
    }
}

/// A row struct that decodes from both drivers' rows. `#[derive(sqlx::FromRow)]` on a struct
/// of portable field types (and tuples such as `(i64,)`) gives exactly this.
pub(crate) trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// A database connection (or transaction, through `DerefMut`) that runs shared SQL.
///
/// The futures are declared `Send` so that generic callers can hold them across `.await`
/// inside the `Send` futures that `#[async_trait]` requires.
pub(crate) trait Conn: Send {
    /// The first row, if any.
    fn fetch_optional<'a, R: Record>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Option<R>, sqlx::Error>> + Send + 'a;

    /// Exactly one row (for `INSERT … RETURNING`); `RowNotFound` otherwise.
    fn fetch_one<'a, R: Record>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<R, sqlx::Error>> + Send + 'a;

    /// Every row.
    fn fetch_all<'a, R: Record>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<Vec<R>, sqlx::Error>> + Send + 'a;

    /// Runs a statement; the number of rows it changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [Arg<'a>],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;
}

/// Encodes `args` for database `DB`. The one place that needs to know each argument type is
/// encodable by the driver; the `where` clause holds for both of ours.
fn arguments<'a, DB>(args: &'a [Arg<'a>]) -> Result<DB::Arguments<'a>, sqlx::Error>
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    let mut out = DB::Arguments::<'a>::default();
    for arg in args {
        match arg {
            Arg::Int(v) => out.add(*v),
            Arg::OptInt(v) => out.add(*v),
            Arg::Bool(v) => out.add(*v),
            Arg::Text(v) => out.add(*v),
            Arg::OwnedText(v) => out.add(v.as_str()),
            Arg::OptText(v) => out.add(*v),
            Arg::Bytes(v) => out.add(*v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// Implements [`Conn`] for a driver's connection type. The bodies are identical for both
/// drivers but name the concrete database, which keeps sqlx's executor machinery concrete
/// (generic sqlx executors need higher-ranked bounds that do not compose with `Send`).
macro_rules! impl_conn {
    ($conn:ty, $db:ty) => {
        impl Conn for $conn {
            async fn fetch_optional<'a, R: Record>(
                &'a mut self,
                sql: &'a str,
                args: &'a [Arg<'a>],
            ) -> Result<Option<R>, sqlx::Error> {
                let args = arguments::<$db>(args)?;
                sqlx::query_as_with::<$db, R, _>(sql, args).fetch_optional(self).await
            }

            async fn fetch_one<'a, R: Record>(
                &'a mut self,
                sql: &'a str,
                args: &'a [Arg<'a>],
            ) -> Result<R, sqlx::Error> {
                let args = arguments::<$db>(args)?;
                sqlx::query_as_with::<$db, R, _>(sql, args).fetch_one(self).await
            }

            async fn fetch_all<'a, R: Record>(
                &'a mut self,
                sql: &'a str,
                args: &'a [Arg<'a>],
            ) -> Result<Vec<R>, sqlx::Error> {
                let args = arguments::<$db>(args)?;
                sqlx::query_as_with::<$db, R, _>(sql, args).fetch_all(self).await
            }

            async fn execute<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [Arg<'a>],
            ) -> Result<u64, sqlx::Error> {
                let args = arguments::<$db>(args)?;
                Ok(sqlx::query_with::<$db, _>(sql, args).execute(self).await?.rows_affected())
            }
        }
    };
}

impl_conn!(sqlx::SqliteConnection, sqlx::Sqlite);
impl_conn!(sqlx::PgConnection, sqlx::Postgres);
