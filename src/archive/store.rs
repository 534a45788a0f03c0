//! The content-addressed archive store on disk.
//!
//! An archive lives at `archives/<first two hex>/<sha256>`. Uploads are written to a temp file
//! under `archives/tmp/` (same filesystem), hashed while they stream, validated, then fsynced,
//! renamed into place and the directory fsynced — only after that may a database row name the
//! hash. Identical bytes are stored once. A temp file that is dropped (failed validation,
//! aborted upload) is deleted, so a refused push leaves nothing behind.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

/// An upload being written: the temp file, its running hash and size.
pub struct StagedUpload {
    temp: NamedTempFile,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
}

/// A finished upload, not yet in the store.
pub struct Staged {
    pub temp: NamedTempFile,
    pub hash: String,
    pub size: u64,
}

impl BlobStore {
    /// Opens the store under `root`, creating it, and clears temp files left by a crash.
    pub fn open(root: &Path) -> io::Result<BlobStore> {
        let store = BlobStore {
            root: root.to_path_buf(),
        };
        fs::create_dir_all(store.tmp_dir())?;
        for entry in fs::read_dir(store.tmp_dir())? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the archive with this hash lives. `hash` must be 64 lowercase hex characters.
    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(hash)
    }

    /// Starts an upload: a temp file the caller streams into with [`StagedUpload::write`].
    pub async fn stage(&self) -> io::Result<StagedUpload> {
        let dir = self.tmp_dir();
        let temp = tokio::task::spawn_blocking(move || NamedTempFile::new_in(dir))
            .await
            .map_err(io::Error::other)??;
        let file = tokio::fs::File::from_std(temp.reopen()?);
        Ok(StagedUpload {
            temp,
            file,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Moves a validated upload into the store (durably) and returns its hash. Blocking.
    pub fn commit(&self, staged: Staged) -> io::Result<String> {
        let target = self.path_of(&staged.hash);
        if target.exists() {
            return Ok(staged.hash); // same bytes already stored; the temp file is dropped
        }
        let dir = target.parent().expect("archive path has a parent");
        fs::create_dir_all(dir)?;
        staged.temp.as_file().sync_all()?;
        staged.temp.persist(&target).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()?;
        Ok(staged.hash)
    }

    /// Writes bytes already in memory straight into the store (blocking). Used by tools that
    /// copy archives (restore, tests); uploads go through [`BlobStore::stage`].
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let hash = hex::encode(Sha256::digest(bytes));
        let mut temp = NamedTempFile::new_in(self.tmp_dir())?;
        io::Write::write_all(&mut temp, bytes)?;
        self.commit(Staged {
            temp,
            hash,
            size: bytes.len() as u64,
        })
    }

    pub fn contains(&self, hash: &str) -> bool {
        is_hash(hash) && self.path_of(hash).is_file()
    }

    /// Opens a stored archive for streaming.
    pub async fn open_blob(&self, hash: &str) -> io::Result<tokio::fs::File> {
        if !is_hash(hash) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not an archive hash",
            ));
        }
        tokio::fs::File::open(self.path_of(hash)).await
    }

    /// Opens a stored archive for blocking reads.
    pub fn open_blob_sync(&self, hash: &str) -> io::Result<File> {
        if !is_hash(hash) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not an archive hash",
            ));
        }
        File::open(self.path_of(hash))
    }
}

impl StagedUpload {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub async fn finish(mut self) -> io::Result<Staged> {
        self.file.flush().await?;
        Ok(Staged {
            temp: self.temp,
            hash: hex::encode(self.hasher.finalize()),
            size: self.size,
        })
    }
}

pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staged_upload_lands_under_its_hash_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut up = store.stage().await.unwrap();
        up.write(b"hello ").await.unwrap();
        up.write(b"world").await.unwrap();
        let staged = up.finish().await.unwrap();
        let hash = store.commit(staged).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(b"hello world")));
        assert_eq!(fs::read(store.path_of(&hash)).unwrap(), b"hello world");
        assert_eq!(store.put(b"hello world").unwrap(), hash);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_dropped_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut up = store.stage().await.unwrap();
        up.write(b"partial").await.unwrap();
        drop(up);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}
