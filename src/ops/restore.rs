//! `sessionfs-server restore --data-dir NEW --from FILE`: a backup back into a new data dir.
//!
//! Takes the data-dir lock first ([`super::lock`]), then refuses a data dir that holds anything. Reads the tar as a stream, in the spirit of
//! `archive::inspect`: the first member must be `MANIFEST.json`; after it only regular files
//! whose names are on the allow-list ([`super::parse_member`]) AND listed in the manifest, each
//! once, with the listed size. Every member is hashed while it is written to a temp file and
//! compared with the manifest (and, for an archive, with its content address) before it is
//! renamed into place. Then the restored database must pass `PRAGMA integrity_check`, carry a
//! schema this binary knows, and find every archive it references on disk.
//!
//! Any failure removes everything the restore wrote (the directory too, when the restore
//! created it). The search index is not in the backup: the server rebuilds it when it starts.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::lock::{check_data_dir, DataDirLock, LOCK_FILE};

use super::{
    archive_path, check_integrity, count, latest_schema_version, open_read_only, parse_member,
    referenced_archives, schema_version, sessions_using, sync_dir, FileEntry, HashingReader,
    Manifest, Member, ARCHIVES_DIR, ARCHIVES_TMP, BACKUP_FORMAT, BACKUP_FORMAT_VERSION, DB_FILE,
    MANIFEST_FILE,
};

/// The manifest is small JSON; anything bigger than this is not ours.
const MANIFEST_CAP: u64 = 256 * 1024 * 1024;

/// What a restore put in place.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    pub data_dir: PathBuf,
    pub manifest: Manifest,
}

/// Restores the backup `from` into `data_dir`, which must be missing or empty.
pub fn restore(from: &Path, data_dir: &Path) -> Result<RestoreSummary, String> {
    let source = File::open(from).map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    check_data_dir(data_dir)?;
    let created = !data_dir.exists();
    let not_empty = || {
        format!(
            "refusing to restore into {}: it is not empty. Restore into a new or empty \
             directory, then point the server at it",
            data_dir.display()
        )
    };
    // A used dir without a lock file is refused without leaving one behind; with a lock file,
    // the lock names the process using it.
    if !created && !data_dir.join(LOCK_FILE).exists() && holds_something(data_dir)? {
        return Err(not_empty());
    }
    // The lock before writing: a server (or another restore) on this dir is named, and
    // nothing is written into a dir that someone else is using.
    let _lock = DataDirLock::acquire(data_dir)?;
    if holds_something(data_dir)? {
        return Err(not_empty());
    }
    match restore_into(source, from, data_dir) {
        Ok(manifest) => Ok(RestoreSummary {
            data_dir: data_dir.to_path_buf(),
            manifest,
        }),
        Err(message) => {
            let cleaned = if created {
                fs::remove_dir_all(data_dir)
            } else {
                empty_dir(data_dir)
            };
            let after = match cleaned {
                Ok(()) if created => format!("; removed {}", data_dir.display()),
                Ok(()) => format!("; {} was left empty", data_dir.display()),
                Err(e) => format!(
                    "; could not clean up {} ({e}): delete it by hand",
                    data_dir.display()
                ),
            };
            Err(format!("restore failed: {message}{after}"))
        }
    }
}

/// Whether `dir` holds anything besides the lock file.
fn holds_something(dir: &Path) -> Result<bool, String> {
    let mut entries = fs::read_dir(dir)
        .map_err(|e| format!("cannot use {} as the data dir: {e}", dir.display()))?;
    Ok(entries.any(|e| e.map_or(true, |e| e.file_name() != LOCK_FILE)))
}

/// Removes everything inside `dir`, our lock file too: the dir was empty before the restore
/// began and is left as it was found.
fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Checks the manifest and indexes its files by member name.
fn check_manifest(manifest: &Manifest) -> Result<HashMap<String, FileEntry>, String> {
    if manifest.format != BACKUP_FORMAT {
        return Err(format!(
            "not a sessionfs-server backup (format {:?})",
            manifest.format
        ));
    }
    if manifest.format_version == 0 || manifest.format_version > BACKUP_FORMAT_VERSION {
        return Err(format!(
            "backup format version {} is not supported by this sessionfs-server {} (it reads up \
             to version {BACKUP_FORMAT_VERSION}); use the version that wrote it ({})",
            manifest.format_version,
            env!("CARGO_PKG_VERSION"),
            manifest.server_version
        ));
    }
    if manifest.schema_version > latest_schema_version() {
        return Err(format!(
            "the backup's database has schema version {}, newer than this sessionfs-server {} \
             knows ({}); restore it with the version that wrote it ({})",
            manifest.schema_version,
            env!("CARGO_PKG_VERSION"),
            latest_schema_version(),
            manifest.server_version
        ));
    }
    let mut files = HashMap::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let member = parse_member(&entry.path)
            .ok_or_else(|| format!("MANIFEST.json lists an unexpected file {:?}", entry.path))?;
        match &member {
            Member::Manifest => return Err("MANIFEST.json lists itself".into()),
            Member::Archive(hash) if *hash != entry.sha256 => {
                return Err(format!(
                    "MANIFEST.json gives {} a checksum other than its name",
                    entry.path
                ))
            }
            _ => {}
        }
        if !super::is_hash(&entry.sha256) {
            return Err(format!(
                "MANIFEST.json gives {} a malformed sha256",
                entry.path
            ));
        }
        if files.insert(entry.path.clone(), entry.clone()).is_some() {
            return Err(format!("MANIFEST.json lists {} twice", entry.path));
        }
    }
    if !files.contains_key(DB_FILE) {
        return Err("MANIFEST.json lists no database".into());
    }
    Ok(files)
}

/// Streams `entry` into a temp file in `tmp_dir`, checking size and checksum, and fsyncs it.
fn receive(
    entry: impl Read,
    tmp_dir: &Path,
    expected: &FileEntry,
) -> Result<NamedTempFile, String> {
    let mut temp = NamedTempFile::new_in(tmp_dir)
        .map_err(|e| format!("cannot create a temp file in {}: {e}", tmp_dir.display()))?;
    let mut reader = HashingReader::new(entry);
    io::copy(&mut reader, temp.as_file_mut())
        .map_err(|e| format!("cannot extract {}: {e}", expected.path))?;
    let (sha, size) = reader.finish();
    if size != expected.size {
        return Err(format!(
            "{} is {size} bytes, MANIFEST.json says {} (truncated or tampered backup)",
            expected.path, expected.size
        ));
    }
    if sha != expected.sha256 {
        return Err(format!(
            "checksum mismatch for {}: sha256 {sha}, MANIFEST.json says {} (damaged or tampered \
             backup)",
            expected.path, expected.sha256
        ));
    }
    temp.as_file()
        .sync_all()
        .map_err(|e| format!("cannot sync {}: {e}", expected.path))?;
    Ok(temp)
}

fn restore_into(source: File, from: &Path, data_dir: &Path) -> Result<Manifest, String> {
    let shown = from.display();
    let broken = |e: io::Error| format!("cannot read {shown} as a backup (tar): {e}");
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, source));
    let mut entries = archive.entries().map_err(broken)?;

    // The manifest comes first.
    let mut first = match entries.next() {
        Some(entry) => entry.map_err(broken)?,
        None => return Err(format!("{shown} is empty")),
    };
    if first.path_bytes().as_ref() != MANIFEST_FILE.as_bytes()
        || first.header().entry_type() != tar::EntryType::Regular
    {
        return Err(format!(
            "{shown} does not start with {MANIFEST_FILE}: not a sessionfs-server backup"
        ));
    }
    if first.size() > MANIFEST_CAP {
        return Err(format!("{MANIFEST_FILE} is implausibly large"));
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(broken)?;
    drop(first);
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| format!("{MANIFEST_FILE} is not readable: {e}"))?;
    let expected = check_manifest(&manifest)?;

    let archives = data_dir.join(ARCHIVES_DIR);
    let tmp = archives.join(ARCHIVES_TMP);
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut touched: BTreeSet<PathBuf> = BTreeSet::new();

    for entry in entries {
        let entry = entry.map_err(broken)?;
        let raw = entry.path_bytes();
        let name = std::str::from_utf8(&raw)
            .map_err(|_| format!("unexpected member with a non-UTF-8 name in {shown}"))?
            .to_string();
        drop(raw);
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(format!(
                "unexpected member {name:?} of type {:?} (a backup holds only regular files; \
                 links and directories are refused)",
                entry.header().entry_type()
            ));
        }
        let member = parse_member(&name).ok_or_else(|| {
            format!(
                "unexpected member {name:?} (absolute paths, `..` and unknown names are refused)"
            )
        })?;
        let listed = expected
            .get(&name)
            .ok_or_else(|| format!("member {name} is not listed in {MANIFEST_FILE}"))?;
        if !seen.insert(name.clone()) {
            return Err(format!("member {name} appears twice"));
        }
        if entry.size() != listed.size {
            return Err(format!(
                "{name} is {} bytes, {MANIFEST_FILE} says {} (tampered backup)",
                entry.size(),
                listed.size
            ));
        }
        let temp = receive(entry, &tmp, listed)?;
        let target = match member {
            Member::Database => data_dir.join(DB_FILE),
            Member::Secret => data_dir.join(crate::secrets::SECRET_FILE),
            Member::Archive(hash) => archive_path(&archives, &hash),
            Member::Manifest => return Err(format!("{MANIFEST_FILE} appears twice")),
        };
        let dir = target
            .parent()
            .expect("a member has a parent dir")
            .to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        temp.persist_noclobber(&target)
            .map_err(|e| format!("cannot place {}: {}", target.display(), e.error))?;
        touched.insert(dir);
    }
    if seen.len() != expected.len() {
        let absent: Vec<&String> = expected.keys().filter(|k| !seen.contains(*k)).collect();
        return Err(format!(
            "the backup is incomplete: {} file(s) listed in {MANIFEST_FILE} are not in it \
             (first: {})",
            absent.len(),
            absent[0]
        ));
    }
    touched.insert(archives.clone());
    touched.insert(data_dir.to_path_buf());
    for dir in &touched {
        sync_dir(dir).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }

    verify_database(data_dir, &manifest)?;
    Ok(manifest)
}

/// The restored database is sound, of a known schema, and finds every archive it references.
fn verify_database(data_dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let conn = open_read_only(&data_dir.join(DB_FILE))?;
    check_integrity(&conn, "integrity_check").map_err(|report| {
        format!("the restored database fails PRAGMA integrity_check: {report}")
    })?;
    let sql = |e: rusqlite::Error| format!("cannot read the restored database: {e}");
    let version = schema_version(&conn).map_err(sql)?.unwrap_or(0);
    if version != manifest.schema_version {
        return Err(format!(
            "the restored database has schema version {version}, {MANIFEST_FILE} says {}",
            manifest.schema_version
        ));
    }
    let sessions = count(&conn, "sessions").map_err(sql)?;
    if sessions != manifest.counts.sessions {
        return Err(format!(
            "the restored database holds {sessions} sessions, {MANIFEST_FILE} says {}",
            manifest.counts.sessions
        ));
    }
    let archives = data_dir.join(ARCHIVES_DIR);
    let referenced = referenced_archives(&conn).map_err(sql)?;
    let missing: Vec<&str> = referenced
        .iter()
        .filter(|r| !super::is_hash(&r.hash) || !archive_path(&archives, &r.hash).is_file())
        .map(|r| r.hash.as_str())
        .collect();
    if let Some(first) = missing.first() {
        let ids = if super::is_hash(first) {
            sessions_using(&conn, first, 3).map_err(sql)?.join(", ")
        } else {
            String::new()
        };
        return Err(format!(
            "{} archive(s) the restored database references are not in the backup (first: \
             {first}, used by {ids})",
            missing.len()
        ));
    }
    Ok(())
}
