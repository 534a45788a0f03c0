//! The one way to reach the database.
//!
//! Reads run on the blocking pool with a connection from an r2d2 pool ([`Db::read`]). Every write
//! goes to ONE writer thread ([`Db::write`]) that owns the only writing connection: it takes the
//! jobs that are waiting, runs them in one `BEGIN IMMEDIATE` transaction (each job inside its own
//! savepoint, so one job's error undoes only that job), commits once and then answers each job.
//! With `synchronous=FULL` a commit costs an fsync; group commit shares it between concurrent
//! requests, and a single writer means "database is locked" never reaches a user. When SQLite
//! rolls a batch's transaction back by itself (a full disk, an I/O error) the whole batch fails
//! and nothing of it lands; a full writer queue answers 503 with `Retry-After` (see `writer`).

/// A vocabulary stored as text: the enum, its wire/database spelling, parsing, and its SQL
/// mapping. (Fully qualified, so any module of `db` declared below can use it.)
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
            /// Every spelling, joined by `", "`, for error messages.
            pub fn listing() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| rusqlite::types::FromSqlError::Other(
                    format!("unknown {}: {text}", stringify!($name)).into()))
            }
        }
    };
}

pub mod admin;
pub mod agent_runs;
pub mod api_keys;
pub mod audit;
pub mod browser_sessions;
pub mod compile;
pub mod dashboard;
mod error;
pub mod handoffs;
pub mod knowledge;
pub mod orgs;
pub mod personas;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod shares;
pub mod summaries;
pub mod sync;
pub mod tickets;
pub mod uploads;
pub mod users;
pub mod wiki;

#[cfg(test)]
pub(crate) mod test_support;
mod writer;

pub use error::{DbError, DbResult};

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

mod embedded {
    refinery::embed_migrations!("schema");
}

/// Handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<SqliteConnectionManager>,
    writer: writer::Writer,
    path: PathBuf,
}

/// The SQL function `fold(text)`: `text` lowercased by Unicode's rules (SQLite's `lower()`
/// folds ASCII only), NULL for NULL. The entries list's `search` compares folded texts.
pub const FOLD_FUNCTION: &str = "fold";

fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        FOLD_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(ctx
                .get::<Option<String>>(0)?
                .map(|text| text.to_lowercase()))
        },
    )
}

/// Prepared statements each connection keeps (rusqlite's default is 16): the hot paths —
/// auth, a session by id, a push's writes, list pages — reuse theirs instead of parsing SQL
/// on every request.
const STATEMENT_CACHE: usize = 128;

/// Pragmas and functions every connection gets. `synchronous=FULL`: an acknowledged write is
/// on disk.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    register_functions(conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;",
    )
}

/// Opens the writing connection: WAL mode, pragmas, migrations.
pub fn open_writer_connection(path: &Path) -> Result<Connection, String> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| format!("cannot enable WAL on {}: {e}", path.display()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "database {} refused WAL mode (got {mode})",
            path.display()
        ));
    }
    configure(&conn).map_err(|e| e.to_string())?;
    embedded::migrations::runner()
        .run(&mut conn)
        .map_err(|e| format!("migrations failed on {}: {e}", path.display()))?;
    Ok(conn)
}

/// `PRAGMA quick_check`: `Ok(())` when the database is sound, else what SQLite reported.
pub fn quick_check(conn: &Connection) -> Result<(), String> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| e.to_string())?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(rows.join("; "))
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`, checks it, migrates it and starts the
    /// writer thread. Refuses a database that fails `quick_check`.
    pub fn open(path: &Path, read_connections: u32) -> Result<Db, String> {
        let conn = open_writer_connection(path)?;
        quick_check(&conn).map_err(|report| {
            format!(
                "database {} failed its integrity check ({report}); restore it from a backup \
                 or run `sessionfs-server doctor` to inspect it",
                path.display()
            )
        })?;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|conn: &mut Connection| configure(conn));
        let pool = Pool::builder()
            .max_size(read_connections.max(1))
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| format!("cannot open read pool: {e}"))?;
        Ok(Db {
            pool,
            writer: writer::Writer::start(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a pooled read-only connection on the blocking pool. `f` may fail with any
    /// error a [`DbError`] converts into (the domain's, inside a domain rule).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(DbError::from)?;
            f(&conn)
        })
        .await
        .map_err(DbError::from)?
    }

    /// Runs `f` with a pooled read-only connection on the calling thread. For blocking work
    /// that is already off the async workers (rebuilds, command-line tools).
    pub fn read_blocking<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.pool.get().map_err(DbError::from)?;
        f(&conn)
    }

    /// Runs `f` inside the writer's next transaction and waits until that transaction has been
    /// committed. An `Err` from `f` rolls back `f`'s changes only and is returned as is.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction) -> Result<T, E> + Send + 'static,
    {
        self.writer.submit(f).await
    }

    /// Queues a write nobody waits for (bookkeeping such as `last_used_at`). Failures are logged.
    pub fn write_detached<E, F>(&self, what: &'static str, f: F)
    where
        E: From<DbError> + std::fmt::Display + Send + 'static,
        F: FnOnce(&rusqlite::Transaction) -> Result<(), E> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            if let Err(err) = writer.submit(f).await {
                tracing::warn!(what, error = %err, "background write failed");
            }
        });
    }

    /// Number of jobs waiting for the writer (for metrics and tests).
    pub fn writer_queue_depth(&self) -> usize {
        self.writer.queue_depth()
    }
}
