//! `sessionfs-server backup --data-dir DIR --out FILE`: an online backup into one tar file.
//!
//! 1. The database is copied with `VACUUM INTO` over a read-only connection: one read
//!    transaction, so the copy is a consistent snapshot while the server keeps committing
//!    (WAL: the reader blocks nobody). The copy goes to a temp file beside `FILE`.
//! 2. The archives to copy are read from that snapshot, never from the live database.
//! 3. `FILE.partial` is written as a stream (manifest, database, archives; nothing is held
//!    whole in memory), every archive re-hashed on the way so a damaged one fails the backup
//!    instead of being saved; then fsynced and renamed to `FILE`.
//!
//! See the module docs of [`crate::ops`] for the format.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{
    archive_member, archive_path, check_integrity, count, hash_file, is_hash, open_read_only,
    referenced_archives, schema_version, sync_dir, Counts, FileEntry, HashingReader, Manifest,
    ARCHIVES_DIR, BACKUP_FORMAT, BACKUP_FORMAT_VERSION, DB_FILE, MANIFEST_FILE,
};

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub out: PathBuf,
    pub bytes: u64,
    pub manifest: Manifest,
}

/// Takes an online backup of `data_dir` into `out`. An existing `out` is refused unless
/// `overwrite`; then it is replaced only once the new backup is complete.
pub fn backup(data_dir: &Path, out: &Path, overwrite: bool) -> Result<BackupSummary, String> {
    super::lock::check_data_dir(data_dir)?;
    let db_path = data_dir.join(DB_FILE);
    if !db_path.is_file() {
        return Err(format!(
            "no database at {} (is --data-dir right?)",
            db_path.display()
        ));
    }
    if out.is_dir() {
        return Err(format!(
            "--out {} is a directory; give a file name such as {}",
            out.display(),
            out.join("sessionfs-backup.tar").display()
        ));
    }
    if out.exists() && !overwrite {
        return Err(format!(
            "--out {} already exists; refusing to overwrite a backup. Give a new file name, or \
             add --force to replace it",
            out.display()
        ));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(format!(
            "cannot write {}: directory {} does not exist",
            out.display(),
            parent.display()
        ));
    }
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);

    // 1. The snapshot, beside the output (the data dir's disk may be the one running short).
    let snapshot = tempfile::Builder::new()
        .prefix(".sessionfs-backup-")
        .suffix(".db")
        .tempfile_in(&parent)
        .map_err(|e| format!("cannot create a temp file in {}: {e}", parent.display()))?;
    snapshot_database(&db_path, snapshot.path())?;

    // 2. What the snapshot holds and references.
    let snap = open_read_only(snapshot.path())?;
    check_integrity(&snap, "quick_check").map_err(|report| {
        format!(
            "the database failed its integrity check ({report}); not backing up a damaged \
             database — run `sessionfs-server doctor --data-dir {}`",
            data_dir.display()
        )
    })?;
    let sql = |e: rusqlite::Error| format!("cannot read the database snapshot: {e}");
    let referenced = referenced_archives(&snap).map_err(sql)?;
    let users = count(&snap, "users").map_err(sql)?;
    let sessions = count(&snap, "sessions").map_err(sql)?;
    let schema = schema_version(&snap).map_err(sql)?.unwrap_or(0);
    drop(snap);

    let archives = data_dir.join(ARCHIVES_DIR);
    let mut files = Vec::with_capacity(referenced.len() + 1);
    let (db_sha, db_size) = hash_file(snapshot.path())
        .map_err(|e| format!("cannot read the database snapshot: {e}"))?;
    files.push(FileEntry {
        path: DB_FILE.into(),
        size: db_size,
        sha256: db_sha,
    });
    // The install secret travels with the database it opens (stored judge keys, GitLab tokens).
    let secret = data_dir.join(crate::secrets::SECRET_FILE);
    if secret.is_file() {
        let (sha, size) =
            hash_file(&secret).map_err(|e| format!("cannot read {}: {e}", secret.display()))?;
        files.push(FileEntry {
            path: crate::secrets::SECRET_FILE.into(),
            size,
            sha256: sha,
        });
    }
    let mut missing = Vec::new();
    let mut archive_bytes = 0u64;
    for r in &referenced {
        if !is_hash(&r.hash) {
            return Err(format!(
                "the database names an archive {:?} that is not a content address; run \
                 `sessionfs-server doctor`",
                r.hash
            ));
        }
        match fs::metadata(archive_path(&archives, &r.hash)) {
            Ok(meta) if meta.is_file() => {
                archive_bytes += meta.len();
                files.push(FileEntry {
                    path: archive_member(&r.hash),
                    size: meta.len(),
                    sha256: r.hash.clone(),
                });
            }
            _ => missing.push(r.hash.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} archive(s) the database references are not on disk (first: {}); the data dir \
             is already damaged — run `sessionfs-server doctor --data-dir {}`",
            missing.len(),
            missing[0],
            data_dir.display()
        ));
    }
    let manifest = Manifest {
        format: BACKUP_FORMAT.into(),
        format_version: BACKUP_FORMAT_VERSION,
        server_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        schema_version: schema,
        counts: Counts {
            users,
            sessions,
            archives: referenced.len() as u64,
            archive_bytes,
            database_bytes: db_size,
        },
        files,
    };

    // 3. The tar, streamed to FILE.partial, then renamed.
    let written = write_tar(&partial, &manifest, snapshot.path(), data_dir, &archives)
        .inspect_err(|_| {
            let _ = fs::remove_file(&partial);
        })?;
    drop(snapshot);
    fs::rename(&partial, out).map_err(|e| {
        let _ = fs::remove_file(&partial);
        format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            out.display()
        )
    })?;
    sync_dir(&parent).map_err(|e| format!("cannot sync {}: {e}", parent.display()))?;
    Ok(BackupSummary {
        out: out.to_path_buf(),
        bytes: written,
        manifest,
    })
}

/// `VACUUM INTO`: a consistent, compact copy of the live database, taken in one read
/// transaction over a read-only connection (no writer is blocked, nothing is migrated).
fn snapshot_database(db_path: &Path, target: &Path) -> Result<(), String> {
    let conn = open_read_only(db_path)?;
    let target_str = target
        .to_str()
        .ok_or_else(|| format!("the path {} is not UTF-8", target.display()))?;
    conn.execute("VACUUM INTO ?1", [target_str])
        .map_err(|e| format!("cannot snapshot the database {}: {e}", db_path.display()))?;
    File::open(target)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync the snapshot {}: {e}", target.display()))
}

/// A header for a regular file member.
fn header(path: &str, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_cksum();
    Ok(header)
}

/// Appends `source` (exactly `entry.size` bytes, hashing to `entry.sha256`) as a member.
fn append_checked(
    builder: &mut tar::Builder<impl Write>,
    entry: &FileEntry,
    source: impl Read,
    mtime: u64,
) -> Result<(), String> {
    let header = header(&entry.path, entry.size, mtime).map_err(|e| e.to_string())?;
    let mut reader = HashingReader::new(source.take(entry.size));
    builder
        .append(&header, &mut reader)
        .map_err(|e| format!("cannot write {}: {e}", entry.path))?;
    let (sha, bytes) = reader.finish();
    if bytes != entry.size || sha != entry.sha256 {
        return Err(format!(
            "{} changed or is damaged on disk (its bytes no longer match {}); nothing was \
             written — run `sessionfs-server doctor`",
            entry.path,
            if entry.path == DB_FILE {
                "the snapshot"
            } else {
                "its content address"
            }
        ));
    }
    Ok(())
}

fn write_tar(
    partial: &Path,
    manifest: &Manifest,
    snapshot: &Path,
    data_dir: &Path,
    archives: &Path,
) -> Result<u64, String> {
    let fail = |e: io::Error| format!("cannot write {}: {e}", partial.display());
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(partial).map_err(fail)?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;

    let mut manifest_json = serde_json::to_vec_pretty(manifest).map_err(|e| e.to_string())?;
    manifest_json.push(b'\n');
    let head = header(MANIFEST_FILE, manifest_json.len() as u64, mtime).map_err(fail)?;
    builder
        .append(&head, manifest_json.as_slice())
        .map_err(fail)?;

    for entry in &manifest.files {
        let source = if entry.path == DB_FILE {
            snapshot.to_path_buf()
        } else if entry.path == crate::secrets::SECRET_FILE {
            data_dir.join(crate::secrets::SECRET_FILE)
        } else {
            archive_path(archives, &entry.sha256)
        };
        let file = File::open(&source).map_err(|e| {
            format!(
                "cannot read {}: {e} (was it removed while the backup ran? run the backup again)",
                source.display()
            )
        })?;
        append_checked(&mut builder, entry, file, mtime)?;
    }
    let writer = builder.into_inner().map_err(fail)?;
    let file = writer.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)?;
    let size = file.metadata().map_err(fail)?.len();
    Ok(size)
}
