//! Operator tools that work on a data dir from the command line: `backup`, `restore`, `doctor`,
//! `demo`, and the data-dir lock that the writing ones take first ([`lock`]).
//!
//! None of them needs the server stopped. `backup` and `doctor` only read: the database is
//! opened read-only (no migrations, no WAL checkpoint forced), the archive store is walked
//! without touching `archives/tmp/` (the server's uploads in progress live there).
//!
//! # The backup file
//!
//! One uncompressed tar (the archives are gzip already; compressing them again gains nothing),
//! written as `FILE.partial` and renamed to `FILE` once complete and fsynced. Its members, in
//! this order and nothing else:
//!
//! | member | what |
//! | --- | --- |
//! | `MANIFEST.json` | [`Manifest`]: format and version, server version, created_at, schema version, counts, and the size and SHA-256 of every other member |
//! | `sessionfs.db` | a consistent snapshot of the database (`VACUUM INTO` inside one read transaction, so concurrent pushes neither block nor tear it) |
//! | `archives/<aa>/<sha256>` | every archive the snapshot references, each named by its content address |
//!
//! The archive list is read FROM THE SNAPSHOT: an archive is on disk before any row names it,
//! so everything the snapshot references exists, and archives pushed after the snapshot are
//! simply not part of it. The search index is not backed up: it is derived data, rebuilt when
//! the server starts on a restored data dir.
//!
//! The snapshot and the tar are both written beside `FILE`, so that disk needs about twice the
//! database plus the archives while a backup runs; the snapshot is deleted at the end.
//!
//! A read-only SQLite connection cannot remove a WAL file when it closes: run on a stopped
//! server's data dir, `backup` and `doctor` may leave an empty `sessionfs.db-wal` and
//! `sessionfs.db-shm` behind. They are harmless; the server reuses them at its next start.

pub mod backup;
pub mod demo;
pub mod doctor;
pub mod lock;
pub mod mount;
pub mod restore;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use backup::{backup, BackupSummary};
pub use doctor::{doctor, Level, Report};
pub use restore::{restore, RestoreSummary};

/// The database file inside a data dir (as `Config::database_path`).
pub const DB_FILE: &str = "sessionfs.db";
/// The archive store inside a data dir (as `Config::archive_dir`).
pub const ARCHIVES_DIR: &str = "archives";
/// Uploads in progress, inside the archive store.
pub const ARCHIVES_TMP: &str = "tmp";
/// The search index inside a data dir (as `Config::index_dir`).
pub const INDEX_DIR: &str = "index";
/// The manifest member of a backup.
pub const MANIFEST_FILE: &str = "MANIFEST.json";
/// `Manifest::format` of every backup this server writes.
pub const BACKUP_FORMAT: &str = "sessionfs-server-backup";
/// The newest backup format this binary writes and reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;

mod embedded {
    refinery::embed_migrations!("schema");
}

/// The newest schema version this binary's migrations reach.
pub fn latest_schema_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// The schema version recorded in a database (`None`: never migrated).
pub fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table'
                        AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !has_history {
        return Ok(None);
    }
    conn.query_row(
        "SELECT MAX(version) FROM refinery_schema_history",
        [],
        |r| r.get(0),
    )
}

/// Opens a database read-only: no migrations, no writes; safe beside a running server.
pub fn open_read_only(path: &Path) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(format!("no database at {}", path.display()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One archive a database references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    pub hash: String,
    /// The size the database recorded for it.
    pub size: u64,
    /// How many session rows (live or trashed) name it.
    pub sessions: u64,
}

/// Every archive the database references, by hash. Sessions in the trash count: they can be
/// restored, so their archives must stay.
pub fn referenced_archives(conn: &Connection) -> rusqlite::Result<Vec<Referenced>> {
    let mut stmt = conn.prepare(
        "SELECT blob_hash, MAX(blob_size_bytes), COUNT(*) FROM sessions
         GROUP BY blob_hash ORDER BY blob_hash",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Referenced {
            hash: r.get(0)?,
            size: r.get::<_, i64>(1)?.max(0) as u64,
            sessions: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?;
    rows.collect()
}

/// Up to `limit` session ids whose archive is `hash`.
pub fn sessions_using(
    conn: &Connection,
    hash: &str,
    limit: usize,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare("SELECT id FROM sessions WHERE blob_hash = ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(rusqlite::params![hash, limit as i64], |r| r.get(0))?;
    rows.collect()
}

/// `SELECT COUNT(*) FROM <table>`.
fn count(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as u64)
}

/// `PRAGMA <check>` (`quick_check` or `integrity_check`): `Ok(())` or what SQLite reported
/// (the first few problems).
pub fn check_integrity(conn: &Connection, pragma: &str) -> Result<(), String> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA {pragma}(20)"))
        .map_err(|e| e.to_string())?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else if rows.is_empty() {
        Err("no answer from the integrity check".into())
    } else {
        Err(rows.join("; "))
    }
}

/// True for 64 lowercase hex characters (a content address).
pub fn is_hash(s: &str) -> bool {
    crate::archive::store::is_hash(s)
}

/// Where the archive `hash` lives under a data dir's archive store `archives`.
pub fn archive_path(archives: &Path, hash: &str) -> PathBuf {
    archives.join(&hash[..2]).join(hash)
}

/// The name of the archive `hash` inside a backup.
pub fn archive_member(hash: &str) -> String {
    format!("{ARCHIVES_DIR}/{}/{hash}", &hash[..2])
}

/// What a backup member name stands for; anything else is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Manifest,
    Database,
    /// The install secret (`secret.key`): what opens stored judge keys and GitLab tokens.
    Secret,
    Archive(String),
}

/// Parses a member name against the only names a backup may hold: `MANIFEST.json`,
/// `sessionfs.db`, `archives/<aa>/<sha256>` (with `aa` the hash's first two characters). An
/// allow-list, so absolute paths, `..`, `./`, backslashes and anything unexpected all fail.
pub fn parse_member(name: &str) -> Option<Member> {
    match name {
        MANIFEST_FILE => return Some(Member::Manifest),
        DB_FILE => return Some(Member::Database),
        crate::secrets::SECRET_FILE => return Some(Member::Secret),
        _ => {}
    }
    let mut parts = name.split('/');
    let (top, shard, hash) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || top != ARCHIVES_DIR || !is_hash(hash) || shard != &hash[..2] {
        return None;
    }
    Some(Member::Archive(hash.to_string()))
}

/// `MANIFEST.json` of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`BACKUP_FORMAT`].
    pub format: String,
    /// [`BACKUP_FORMAT_VERSION`] when written.
    pub format_version: u32,
    /// Version of the sessionfs-server that wrote it.
    pub server_version: String,
    /// RFC 3339 UTC time the database snapshot was taken.
    pub created_at: String,
    /// Schema version of the database snapshot.
    pub schema_version: i64,
    pub counts: Counts,
    /// Every member after the manifest, in order.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub users: u64,
    /// Session rows, trash included.
    pub sessions: u64,
    pub archives: u64,
    pub archive_bytes: u64,
    pub database_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A reader that hashes and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// `(sha256 hex, bytes read)`.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// SHA-256 and size of a file, streamed.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut reader = HashingReader::new(std::fs::File::open(path)?);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.finish())
}

/// fsyncs a directory so a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A byte count for people: `512 B`, `3.4 KiB`, `12.3 MiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_expected_member_names_parse() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_member("MANIFEST.json"), Some(Member::Manifest));
        assert_eq!(parse_member("sessionfs.db"), Some(Member::Database));
        assert_eq!(
            parse_member(&format!("archives/ab/{hash}")),
            Some(Member::Archive(hash.clone()))
        );
        for bad in [
            format!("archives/cd/{hash}"),
            format!("/archives/ab/{hash}"),
            format!("./archives/ab/{hash}"),
            format!("archives/ab/{hash}/x"),
            format!("archives/../ab/{hash}"),
            "archives/ab/..".to_string(),
            "../sessionfs.db".to_string(),
            "/etc/passwd".to_string(),
            "index/tantivy/meta.json".to_string(),
            "sessionfs.db-wal".to_string(),
            format!("archives/AB/{}", hash.to_uppercase()),
            String::new(),
        ] {
            assert_eq!(parse_member(&bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn the_embedded_schema_has_a_version() {
        assert!(latest_schema_version() >= 1);
    }
}
