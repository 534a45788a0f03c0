//! The data-dir lock: one process at a time may write a data dir.
//!
//! `serve`, `reindex`, `restore`, `demo` and (when no server runs) the `admin` commands take an
//! exclusive `flock` on `<data>/sessionfs.lock` BEFORE they touch anything else: before the
//! database is opened or migrated and before `archives/tmp/` (a running server's uploads in
//! progress) is cleaned. A second process is refused at once with the pid of the holder.
//!
//! The lock belongs to the open file, so the OS releases it when the holder exits or crashes:
//! a stale `sessionfs.lock` never blocks anyone and is never deleted (deleting a lock file
//! races with a process that has just opened it). The pid inside is for the message only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

/// The lock file inside a data dir.
pub const LOCK_FILE: &str = "sessionfs.lock";

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it (its pid, when it could be read).
    Held { pid: Option<u32>, data_dir: PathBuf },
    /// The data dir is unusable (a file, not writable, …): the message says why.
    Unusable(String),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { pid, data_dir } => {
                let who = match pid {
                    Some(pid) => format!("another sessionfs-server (pid {pid})"),
                    None => "another sessionfs-server".to_string(),
                };
                write!(
                    f,
                    "{who} is using {}; stop it first, or give this command another --data-dir",
                    data_dir.display()
                )
            }
            LockError::Unusable(message) => f.write_str(message),
        }
    }
}

impl From<LockError> for String {
    fn from(e: LockError) -> String {
        e.to_string()
    }
}

/// Held while this process owns the data dir; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Creates `data_dir` if it is missing and takes its lock, or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        ensure_data_dir(data_dir).map_err(LockError::Unusable)?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                LockError::Unusable(format!("cannot open the lock file {}: {e}", path.display()))
            })?;
        let locked = match file.try_lock_exclusive() {
            Ok(locked) => locked,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                return Err(LockError::Unusable(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )))
            }
        };
        if !locked {
            return Err(LockError::Held {
                pid: read_pid(&mut file),
                data_dir: shown(data_dir),
            });
        }
        let write_pid = |file: &mut File| -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_data()
        };
        write_pid(&mut file).map_err(|e| {
            LockError::Unusable(format!(
                "cannot write the lock file {}: {e}",
                path.display()
            ))
        })?;
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the data dir when missing; a path that is not a directory is refused with a message
/// that says so (instead of the OS's "File exists").
pub fn ensure_data_dir(data_dir: &Path) -> Result<(), String> {
    check_data_dir(data_dir)?;
    fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create the data dir {}: {e}", data_dir.display()))
}

/// Refuses a `--data-dir` that exists but is not a directory.
pub fn check_data_dir(data_dir: &Path) -> Result<(), String> {
    match fs::metadata(data_dir) {
        Ok(meta) if !meta.is_dir() => Err(format!(
            "--data-dir {} is a file, not a directory; give the directory that holds (or will \
             hold) sessionfs.db, e.g. --data-dir ./sessionfs-data",
            data_dir.display()
        )),
        _ => Ok(()),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn shown(dir: &Path) -> PathBuf {
    fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "another sessionfs-server (pid {})",
                std::process::id()
            )),
            "{message}"
        );
        drop(first);
        // Released on drop; the file stays and does not block.
        assert!(dir.path().join(LOCK_FILE).exists());
        DataDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_file_as_data_dir_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let message = DataDirLock::acquire(&file).unwrap_err().to_string();
        assert!(message.contains("is a file, not a directory"), "{message}");
    }

    #[test]
    fn a_missing_dir_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        let lock = DataDirLock::acquire(&data).unwrap();
        assert!(lock.path().is_file());
    }
}
