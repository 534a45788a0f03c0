//! `sessionfs-server doctor --data-dir DIR`: checks a data dir and says, in words, what is wrong
//! and what to do. Read-only and safe beside a running server: the database is opened
//! read-only (no migrations), nothing is deleted.
//!
//! One line per check, `ok`, `WARN` or `FAIL`. The exit code is 1 when any check FAILs.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use super::mount::{filesystem_of, is_network_fs};
use super::{
    archive_path, check_integrity, human_bytes, is_hash, latest_schema_version, open_read_only,
    referenced_archives, schema_version, sessions_using, Referenced, ARCHIVES_DIR, ARCHIVES_TMP,
    DB_FILE, INDEX_DIR,
};

const GIB: u64 = 1024 * 1024 * 1024;
/// Temp files older than this are not an upload in progress.
const STALE_AFTER: Duration = Duration::from_secs(3600);
/// How many session ids a FAIL line names.
const EXAMPLES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, name: &'static str, level: Level, message: impl Into<String>) {
        self.checks.push(Check {
            name,
            level,
            message: message.into(),
        });
    }

    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.level == Level::Fail)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.level == Level::Warn)
            .count()
    }

    pub fn healthy(&self) -> bool {
        self.failures() == 0
    }

    /// The report as printed: one line per check, then a verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!("{:<4}  {}: {}\n", c.level, c.name, c.message));
        }
        out.push_str(&match (self.failures(), self.warnings()) {
            (0, 0) => "healthy\n".to_string(),
            (0, w) => format!("healthy, with {w} warning(s)\n"),
            (f, _) => format!("NOT healthy: {f} check(s) failed; see FAIL above\n"),
        });
        out
    }
}

/// `doctor --fix`: removes the archives no session names that are older than `grace` (the same
/// collection the server runs in the background, see `archive::gc`). Safe next to a running
/// server: an archive a push just stored or deduplicated is younger than the grace period, and
/// whether a row names it is asked just before each delete.
pub fn fix(
    data_dir: &Path,
    grace: std::time::Duration,
) -> Result<crate::archive::gc::Collected, String> {
    let conn = open_read_only(&data_dir.join(DB_FILE))?;
    let store = crate::archive::BlobStore::existing(&data_dir.join(ARCHIVES_DIR));
    crate::archive::gc::collect(&store, grace, |hash| {
        sessions_using(&conn, hash, 1)
            .map(|ids| !ids.is_empty())
            .map_err(|e| std::io::Error::other(format!("cannot read the database: {e}")))
    })
    .map_err(|e| format!("garbage collection stopped: {e}"))
}

/// Runs every check on `data_dir`.
pub fn doctor(data_dir: &Path) -> Report {
    let mut report = Report::default();
    if !data_dir.is_dir() {
        report.add(
            "data dir",
            Level::Fail,
            format!(
                "{} does not exist or is not a directory; is --data-dir right?",
                data_dir.display()
            ),
        );
        return report;
    }
    let archives = data_dir.join(ARCHIVES_DIR);
    let referenced = check_database(data_dir, &mut report);
    check_orphans(&archives, referenced.as_ref(), &mut report);
    check_temp_files(&archives.join(ARCHIVES_TMP), &mut report);
    check_index(&data_dir.join(INDEX_DIR), &mut report);
    check_disk_space(data_dir, &mut report);
    check_filesystem(data_dir, &mut report);
    report
}

/// Integrity, schema, referenced archives. Returns the referenced hashes when they could be
/// read (the orphan check needs them).
fn check_database(data_dir: &Path, report: &mut Report) -> Option<HashSet<String>> {
    let path = data_dir.join(DB_FILE);
    let not_checked = |report: &mut Report, why: &str| {
        report.add("schema", Level::Warn, format!("not checked: {why}"));
        report.add("archives", Level::Warn, format!("not checked: {why}"));
    };
    if !path.is_file() {
        report.add(
            "database",
            Level::Fail,
            format!(
                "no database at {}; is --data-dir right? (a new server creates it at first start; \
                 a lost one comes back with `sessionfs-server restore`)",
                path.display()
            ),
        );
        not_checked(report, "no database");
        return None;
    }
    let conn = match open_read_only(&path) {
        Ok(conn) => conn,
        Err(e) => {
            report.add(
                "database",
                Level::Fail,
                format!("{e}; check its owner and permissions, or restore it from a backup"),
            );
            not_checked(report, "database unreadable");
            return None;
        }
    };
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let wal = fs::metadata(data_dir.join(format!("{DB_FILE}-wal")))
        .map(|m| m.len())
        .unwrap_or(0);
    let sound = match check_integrity(&conn, "quick_check") {
        Ok(()) => {
            report.add(
                "database",
                Level::Ok,
                format!(
                    "{} passes quick_check ({}{})",
                    path.display(),
                    human_bytes(size),
                    match wal {
                        0 => String::new(),
                        n => format!(" + {} WAL", human_bytes(n)),
                    }
                ),
            );
            true
        }
        Err(problem) => {
            report.add(
                "database",
                Level::Fail,
                format!(
                    "{} is corrupt (quick_check: {}); stop the server and restore the newest \
                     backup with `sessionfs-server restore --data-dir NEW --from FILE`",
                    path.display(),
                    shorten(&problem, 300)
                ),
            );
            false
        }
    };
    check_schema(&conn, sound, report);
    match referenced_archives(&conn) {
        Ok(referenced) => {
            check_referenced(&conn, &data_dir.join(ARCHIVES_DIR), &referenced, report);
            Some(referenced.into_iter().map(|r| r.hash).collect())
        }
        Err(e) => {
            let level = if sound { Level::Fail } else { Level::Warn };
            report.add(
                "archives",
                level,
                format!("not checked: cannot read the sessions table ({e})"),
            );
            None
        }
    }
}

fn check_schema(conn: &Connection, sound: bool, report: &mut Report) {
    let latest = latest_schema_version();
    match schema_version(conn) {
        Ok(Some(v)) if v == latest => {
            report.add("schema", Level::Ok, format!("version {v}, current"))
        }
        Ok(Some(v)) if v < latest => report.add(
            "schema",
            Level::Warn,
            format!(
                "version {v}; this binary migrates it to {latest} at next start (take a backup \
                 first)"
            ),
        ),
        Ok(Some(v)) => report.add(
            "schema",
            Level::Fail,
            format!(
                "version {v} is newer than this binary knows ({latest}); run the \
                 sessionfs-server version that wrote it"
            ),
        ),
        Ok(None) => report.add(
            "schema",
            Level::Fail,
            "no migration history: not a sessionfs-server database, or it never finished its \
             first start",
        ),
        Err(e) if !sound => report.add(
            "schema",
            Level::Warn,
            format!("not checked: cannot read the migration history ({e})"),
        ),
        Err(e) => report.add(
            "schema",
            Level::Fail,
            format!("cannot read the migration history ({e})"),
        ),
    }
}

/// Every referenced archive must be on disk with the size the database recorded.
fn check_referenced(
    conn: &Connection,
    archives: &Path,
    referenced: &[Referenced],
    report: &mut Report,
) {
    let mut missing = Vec::new();
    let mut wrong_size = Vec::new();
    let mut bytes = 0u64;
    for r in referenced {
        if !is_hash(&r.hash) {
            missing.push(r);
            continue;
        }
        match fs::metadata(archive_path(archives, &r.hash)) {
            Ok(meta) if meta.is_file() => {
                bytes += meta.len();
                if meta.len() != r.size {
                    wrong_size.push(r);
                }
            }
            _ => missing.push(r),
        }
    }
    let examples = |list: &[&Referenced]| -> String {
        let mut ids = Vec::new();
        for r in list {
            if ids.len() >= EXAMPLES {
                break;
            }
            match sessions_using(conn, &r.hash, EXAMPLES - ids.len()) {
                Ok(found) => ids.extend(found),
                Err(_) => break,
            }
        }
        let more: u64 = list.iter().map(|r| r.sessions).sum::<u64>();
        if more as usize > ids.len() {
            format!("{} …", ids.join(", "))
        } else {
            ids.join(", ")
        }
    };
    if missing.is_empty() && wrong_size.is_empty() {
        report.add(
            "archives",
            Level::Ok,
            format!(
                "all {} referenced archives present ({})",
                referenced.len(),
                human_bytes(bytes)
            ),
        );
        return;
    }
    if !missing.is_empty() {
        let sessions: u64 = missing.iter().map(|r| r.sessions).sum();
        report.add(
            "archives",
            Level::Fail,
            format!(
                "{} referenced archive(s) missing under {}, {} session(s) cannot be pulled \
                 (sessions: {}); copy the files back from a backup (archives/<aa>/<sha256>), or \
                 have their owners push those sessions again",
                missing.len(),
                archives.display(),
                sessions,
                examples(&missing)
            ),
        );
    }
    if !wrong_size.is_empty() {
        report.add(
            "archive sizes",
            Level::Fail,
            format!(
                "{} archive(s) differ from the size the database recorded: truncated or damaged \
                 (sessions: {}); copy them back from a backup",
                wrong_size.len(),
                examples(&wrong_size)
            ),
        );
    }
}

/// Archive files nothing references, and files that are not archives at all.
fn check_orphans(archives: &Path, referenced: Option<&HashSet<String>>, report: &mut Report) {
    let Some(referenced) = referenced else {
        report.add(
            "orphaned archives",
            Level::Warn,
            "not checked: the database could not be read",
        );
        return;
    };
    let shards = match fs::read_dir(archives) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let level = if referenced.is_empty() {
                Level::Ok
            } else {
                Level::Fail
            };
            report.add(
                "orphaned archives",
                level,
                format!("{} does not exist", archives.display()),
            );
            return;
        }
        Err(e) => {
            report.add(
                "orphaned archives",
                Level::Fail,
                format!("cannot list {}: {e}", archives.display()),
            );
            return;
        }
    };
    let (mut orphans, mut orphan_bytes, mut strays) = (0u64, 0u64, Vec::<PathBuf>::new());
    for shard in shards.flatten() {
        let name = shard.file_name().to_string_lossy().into_owned();
        if name == ARCHIVES_TMP {
            continue;
        }
        let is_shard = name.len() == 2 && shard.path().is_dir();
        if !is_shard {
            strays.push(shard.path());
            continue;
        }
        let Ok(files) = fs::read_dir(shard.path()) else {
            strays.push(shard.path());
            continue;
        };
        for file in files.flatten() {
            let hash = file.file_name().to_string_lossy().into_owned();
            let is_archive = is_hash(&hash) && hash[..2] == name && file.path().is_file();
            if !is_archive {
                strays.push(file.path());
            } else if !referenced.contains(&hash) {
                orphans += 1;
                orphan_bytes += file.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    if orphans == 0 {
        report.add("orphaned archives", Level::Ok, "none");
    } else {
        report.add(
            "orphaned archives",
            Level::Warn,
            format!(
                "{orphans} archive(s) no session references ({}), left by replaced or deleted \
                 sessions: the server removes them after --gc-grace-seconds, or run \
                 `sessionfs-server doctor --fix`",
                human_bytes(orphan_bytes)
            ),
        );
    }
    if !strays.is_empty() {
        report.add(
            "stray files",
            Level::Warn,
            format!(
                "{} file(s) in {} that are not archives (first: {}); the server ignores them — \
                 move them out",
                strays.len(),
                archives.display(),
                strays[0].display()
            ),
        );
    }
}

/// `archives/tmp/`: uploads in progress; old files are leftovers of a crash.
fn check_temp_files(tmp: &Path, report: &mut Report) {
    let Ok(entries) = fs::read_dir(tmp) else {
        report.add("temp files", Level::Ok, "none");
        return;
    };
    let now = SystemTime::now();
    let (mut fresh, mut stale, mut stale_bytes) = (0u64, 0u64, 0u64);
    for entry in entries.flatten() {
        if entry.file_name() == crate::archive::store::UPLOADS_DIR {
            continue; // resumable uploads: their own expiry removes them
        }
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        if age > STALE_AFTER {
            stale += 1;
            stale_bytes += meta.len();
        } else {
            fresh += 1;
        }
    }
    if stale > 0 {
        report.add(
            "temp files",
            Level::Warn,
            format!(
                "{stale} stale upload temp file(s) older than an hour in {} ({}); the server \
                 removes them at its next start, or delete them now",
                tmp.display(),
                human_bytes(stale_bytes)
            ),
        );
    } else if fresh > 0 {
        report.add(
            "temp files",
            Level::Ok,
            format!("{fresh} upload(s) in progress"),
        );
    } else {
        report.add("temp files", Level::Ok, "none");
    }
}

/// The search index is derived data: anything wrong is repaired at the next start.
fn check_index(index: &Path, report: &mut Report) {
    let rebuild = "it will be rebuilt at the next start (or run `sessionfs-server reindex` with \
                   the server stopped)";
    if !index.is_dir() {
        report.add(
            "search index",
            Level::Warn,
            format!("{} is missing; {rebuild}", index.display()),
        );
        return;
    }
    let marker = fs::read_to_string(index.join("schema-version")).ok();
    let Some(marker) = marker
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
    else {
        report.add(
            "search index",
            Level::Warn,
            format!(
                "no schema-version marker (a rebuild never finished, or is running now); {rebuild}"
            ),
        );
        return;
    };
    if !index.join("tantivy").join("meta.json").is_file() {
        report.add(
            "search index",
            Level::Warn,
            format!("index files missing; {rebuild}"),
        );
        return;
    }
    report.add("search index", Level::Ok, format!("present ({marker})"));
}

fn check_disk_space(data_dir: &Path, report: &mut Report) {
    match fs4::statvfs(data_dir) {
        Ok(stats) => {
            let (free, total) = (stats.available_space(), stats.total_space());
            let percent = if total == 0 {
                100.0
            } else {
                free as f64 * 100.0 / total as f64
            };
            let text = format!(
                "{:.1} GiB free of {:.1} GiB ({percent:.0}%)",
                free as f64 / GIB as f64,
                total as f64 / GIB as f64
            );
            if free < GIB || percent < 10.0 {
                report.add(
                    "disk space",
                    Level::Warn,
                    format!(
                        "{text}: low; pushes fail and the database cannot commit when the disk \
                         fills — free space, grow the disk, or move the data dir"
                    ),
                );
            } else {
                report.add("disk space", Level::Ok, text);
            }
        }
        Err(e) => report.add(
            "disk space",
            Level::Warn,
            format!("cannot read free space of {}: {e}", data_dir.display()),
        ),
    }
}

fn check_filesystem(data_dir: &Path, report: &mut Report) {
    match filesystem_of(data_dir) {
        Some(mount) => {
            let what = format!(
                "{} on {} (mounted at {})",
                mount.fs_type,
                mount.source,
                mount.mount_point.display()
            );
            let fs_type = mount.fs_type.as_str();
            if is_network_fs(fs_type) {
                report.add(
                    "filesystem",
                    Level::Fail,
                    format!(
                        "{what}: a network filesystem; SQLite's WAL needs locks and shared \
                         memory on one host and can corrupt the database here — move the data \
                         dir to a local disk"
                    ),
                );
            } else if fs_type.starts_with("fuse") || fs_type == "9p" || fs_type == "virtiofs" {
                report.add(
                    "filesystem",
                    Level::Warn,
                    format!(
                        "{what}: may not give SQLite the locking WAL needs; prefer a local disk"
                    ),
                );
            } else {
                report.add("filesystem", Level::Ok, what);
            }
        }
        None => report.add(
            "filesystem",
            Level::Warn,
            format!(
                "cannot tell which filesystem holds {} (no /proc/self/mountinfo); make sure it \
                 is a local disk, not NFS or SMB",
                data_dir.display()
            ),
        ),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut} …")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_data_dir_fails() {
        let report = doctor(Path::new("/nonexistent/sessionfs-data"));
        assert!(!report.healthy());
        assert!(report.render().contains("does not exist"));
    }
}
