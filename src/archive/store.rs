//! The content-addressed archive store on disk.
//!
//! An archive lives at `archives/<first two hex>/<sha256>`. Uploads are written to a temp file
//! under `archives/tmp/` (same filesystem), hashed while they stream, validated, then fsynced,
//! renamed into place and the directory fsynced — only after that may a database row name the
//! hash. Identical bytes are stored once. A temp file that is dropped (failed validation,
//! aborted upload) is deleted, so a refused push leaves nothing behind.
//!
//! The 256 shard directories are created once when the store opens and `archives/` is fsynced
//! then, so the first archive of a shard can never lose its directory's own entry on power loss.
//! When the bytes are already stored (dedup), the shard directory is fsynced again before the
//! answer: the first writer may still be between its rename and its directory fsync, and a
//! second push must not be acknowledged on an entry that is not yet durable.
//!
//! Every committed upload is *pinned* ([`BlobPin`]) until its database row is committed, and
//! its file's mtime is refreshed on a dedup hit: garbage collection (`archive::gc`) skips pinned
//! hashes and files younger than its grace period, deciding and deleting under the pin lock.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use super::message_index::IndexFiles;

/// Under `tmp/`: the parts of resumable uploads, kept across restarts.
pub const UPLOADS_DIR: &str = "uploads";

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    /// The messages index of each archive (`message-index/` next to the store's root).
    index: IndexFiles,
    /// Hashes whose upload is between its store commit and its database commit, with counts.
    pins: Arc<Mutex<HashMap<String, usize>>>,
}

/// Keeps garbage collection away from a hash until dropped (after the row naming it is
/// committed, or the push failed).
#[derive(Debug)]
pub struct BlobPin {
    pins: Arc<Mutex<HashMap<String, usize>>>,
    hash: String,
}

impl Drop for BlobPin {
    fn drop(&mut self) {
        let mut pins = lock(&self.pins);
        if let Some(n) = pins.get_mut(&self.hash) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.hash);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What [`BlobStore::remove_if_unreferenced`] did with one archive.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// Deleted; it held this many bytes.
    Removed(u64),
    /// Younger than the grace period, pinned by a push in flight, or referenced.
    Kept,
}

/// `message-index/`, next to the store's root (`archives/`), so the store's own directory
/// holds nothing but archives.
fn index_root(root: &Path) -> PathBuf {
    match root.parent() {
        Some(parent) => parent.join("message-index"),
        None => root.join("message-index"),
    }
}

/// Bytes an upload gathers in memory before they are written to its temp file: every write to
/// a `tokio::fs::File` is a hop to the blocking pool, and multipart chunks are small, so a
/// small archive is written in one hop and a large one in a few dozen instead of hundreds.
const STAGING_BUFFER: usize = 256 * 1024;

/// An upload being written: the temp file, its running hash and size.
pub struct StagedUpload {
    temp: NamedTempFile,
    file: tokio::io::BufWriter<tokio::fs::File>,
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
            index: IndexFiles::new(index_root(root)),
            pins: Arc::default(),
        };
        fs::create_dir_all(store.uploads_dir())?;
        for entry in fs::read_dir(store.tmp_dir())? {
            let entry = entry?;
            // The parts of resumable uploads survive a restart (the client resumes them);
            // everything else in the temp area is an upload a crash interrupted.
            if entry.file_name() != UPLOADS_DIR {
                let _ = fs::remove_file(entry.path());
            }
        }
        // Index files a crash left half written (the indexes themselves are rebuilt on use).
        store.index.clear_temp();
        let mut created = false;
        for shard in 0..=255u8 {
            let dir = store.root.join(hex::encode([shard]));
            if !dir.is_dir() {
                fs::create_dir(&dir)?;
                created = true;
            }
        }
        if created {
            File::open(&store.root)?.sync_all()?;
        }
        Ok(store)
    }

    /// The store under `root` as it is, touching nothing (no shard creation, no temp-file
    /// cleanup): for tools that run next to a live server, such as `doctor --fix`.
    pub fn existing(root: &Path) -> BlobStore {
        BlobStore {
            root: root.to_path_buf(),
            index: IndexFiles::new(index_root(root)),
            pins: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The messages index files of the stored archives.
    pub fn message_index(&self) -> &IndexFiles {
        &self.index
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `tmp/uploads/`: one directory per resumable upload, holding its received parts.
    fn uploads_dir(&self) -> PathBuf {
        self.tmp_dir().join(UPLOADS_DIR)
    }

    /// The directory of one resumable upload. `upload_id` must be a checked id (no separators).
    fn upload_dir(&self, upload_id: &str) -> PathBuf {
        self.uploads_dir().join(upload_id)
    }

    /// Where the archive with this hash lives. `hash` must be 64 lowercase hex characters.
    pub fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(hash)
    }

    /// Starts an upload: a temp file the caller streams into with [`StagedUpload::write`].
    pub async fn stage(&self) -> io::Result<StagedUpload> {
        Self::stage_in(self.tmp_dir()).await
    }

    /// Starts one part of resumable upload `upload_id`: a temp file in the upload's directory,
    /// moved to its place by [`BlobStore::commit_part`].
    pub async fn stage_part(&self, upload_id: &str) -> io::Result<StagedUpload> {
        let dir = self.upload_dir(upload_id);
        let create = dir.clone();
        tokio::task::spawn_blocking(move || fs::create_dir_all(create))
            .await
            .map_err(io::Error::other)??;
        Self::stage_in(dir).await
    }

    /// Makes a received part durable as part `n` of its upload (replacing an earlier copy).
    /// Blocking.
    pub fn commit_part(&self, upload_id: &str, n: u64, staged: Staged) -> io::Result<()> {
        let dir = self.upload_dir(upload_id);
        staged.temp.as_file().sync_all()?;
        staged
            .temp
            .persist(dir.join(n.to_string()))
            .map_err(|e| e.error)?;
        File::open(&dir)?.sync_all()
    }

    /// Concatenates parts `1..=count` of an upload, in order and a buffer at a time, into one
    /// staged file, hashing and counting it. Blocking.
    pub fn assemble(&self, upload_id: &str, count: u64) -> io::Result<Staged> {
        let dir = self.upload_dir(upload_id);
        let mut temp = NamedTempFile::new_in(self.tmp_dir())?;
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        let mut buf = vec![0u8; 256 * 1024];
        for n in 1..=count {
            let mut part = File::open(dir.join(n.to_string()))?;
            loop {
                let read = io::Read::read(&mut part, &mut buf)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buf[..read]);
                io::Write::write_all(&mut temp, &buf[..read])?;
                size += read as u64;
            }
        }
        io::Write::flush(&mut temp)?;
        Ok(Staged {
            temp,
            hash: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Deletes an upload's parts. Blocking.
    pub fn remove_upload(&self, upload_id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.upload_dir(upload_id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The upload directories on disk not changed for `age`. Blocking.
    pub fn upload_ids_older_than(&self, age: std::time::Duration) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.uploads_dir())? {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            if modified.elapsed().unwrap_or_default() >= age {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(out)
    }

    async fn stage_in(dir: PathBuf) -> io::Result<StagedUpload> {
        let temp = tokio::task::spawn_blocking(move || NamedTempFile::new_in(dir))
            .await
            .map_err(io::Error::other)??;
        let file = tokio::io::BufWriter::with_capacity(
            STAGING_BUFFER,
            tokio::fs::File::from_std(temp.as_file().try_clone()?),
        );
        Ok(StagedUpload {
            temp,
            file,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Keeps garbage collection away from `hash` while the returned pin lives.
    pub fn pin(&self, hash: &str) -> BlobPin {
        *lock(&self.pins).entry(hash.to_string()).or_default() += 1;
        BlobPin {
            pins: self.pins.clone(),
            hash: hash.to_string(),
        }
    }

    /// Moves a validated upload into the store (durably) and returns its hash, pinned until
    /// the caller drops the pin (after its row is committed). Blocking.
    pub fn commit(&self, staged: Staged) -> io::Result<(String, BlobPin)> {
        let pin = self.pin(&staged.hash);
        let target = self.path_of(&staged.hash);
        let dir = target.parent().expect("archive path has a parent");
        if target.exists() {
            // Same bytes already stored; the temp file is dropped. Refresh the mtime (the GC
            // grace period counts from the last push that named the file) and make sure the
            // entry is durable before answering.
            File::options()
                .write(true)
                .open(&target)?
                .set_modified(SystemTime::now())?;
            File::open(dir)?.sync_all()?;
            return Ok((staged.hash, pin));
        }
        staged.temp.as_file().sync_all()?;
        if let Err(e) = staged.temp.persist(&target) {
            if e.error.kind() != io::ErrorKind::NotFound || dir.is_dir() {
                return Err(e.error);
            }
            // The shard directories are made when the store opens; one removed since then is
            // made again (durably) rather than failing every push to it.
            fs::create_dir_all(dir)?;
            File::open(&self.root)?.sync_all()?;
            e.file.persist(&target).map_err(|e| e.error)?;
        }
        File::open(dir)?.sync_all()?;
        Ok((staged.hash, pin))
    }

    /// Deletes the archive `hash` if no push in flight pinned it, its file is older than
    /// `grace` and `referenced` says no row names it — all decided under the pin lock, so a
    /// push of the same bytes either sees the file gone and writes it again, or pins it first.
    /// Blocking.
    pub fn remove_if_unreferenced<E>(
        &self,
        hash: &str,
        grace: std::time::Duration,
        referenced: impl FnOnce(&str) -> Result<bool, E>,
    ) -> Result<Removal, E>
    where
        E: From<io::Error>,
    {
        let pins = lock(&self.pins);
        if !is_hash(hash) || pins.contains_key(hash) {
            return Ok(Removal::Kept);
        }
        let path = self.path_of(hash);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Kept),
            Err(e) => return Err(e.into()),
        };
        let age = meta
            .modified()?
            .elapsed()
            .unwrap_or(std::time::Duration::ZERO);
        if age < grace || referenced(hash)? {
            return Ok(Removal::Kept);
        }
        fs::remove_file(&path)?;
        // Derived from the archive; a failure only leaves a file nothing reads.
        if let Err(e) = self.index.remove(hash) {
            tracing::warn!(
                hash,
                "cannot remove the messages index of a collected archive: {e}"
            );
        }
        drop(pins);
        Ok(Removal::Removed(meta.len()))
    }

    /// Every archive hash on disk (temp files excluded). Blocking.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_hash(&name) && name.starts_with(&*shard.file_name().to_string_lossy()) {
                    out.push(name);
                }
            }
        }
        Ok(out)
    }

    /// Writes bytes already in memory straight into the store (blocking). Used by tools that
    /// copy archives (restore, tests); uploads go through [`BlobStore::stage`].
    pub fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let hash = hex::encode(Sha256::digest(bytes));
        let mut temp = NamedTempFile::new_in(self.tmp_dir())?;
        io::Write::write_all(&mut temp, bytes)?;
        let (hash, _pin) = self.commit(Staged {
            temp,
            hash,
            size: bytes.len() as u64,
        })?;
        Ok(hash)
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

    /// Opens a stored archive for a pull and reads its first `head` bytes, all in one blocking
    /// call: the file, its length and those bytes (the whole archive when it is small).
    /// Blocking.
    pub fn open_with_head(&self, hash: &str, head: usize) -> io::Result<OpenedBlob> {
        let file = self.open_blob_sync(hash)?;
        let len = file.metadata()?.len();
        let first = read_up_to(&file, head.min(len as usize))?;
        Ok(OpenedBlob { file, len, first })
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

/// A stored archive opened for streaming, with its first bytes already read.
pub struct OpenedBlob {
    pub file: File,
    pub len: u64,
    pub first: Vec<u8>,
}

/// Reads up to `n` bytes from the file's current position (fewer only at its end).
fn read_up_to(file: &File, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    io::Read::read_to_end(&mut io::Read::take(file, n as u64), &mut buf)?;
    Ok(buf)
}

impl OpenedBlob {
    /// The archive's bytes after [`OpenedBlob::first`] as a stream of `chunk`-byte reads, each
    /// one hop to the blocking pool (a 2 MB archive is a handful of hops, not hundreds of
    /// 4 KiB reads). Memory per stream: one chunk.
    pub fn rest(
        self,
        chunk: usize,
    ) -> impl futures_util::Stream<Item = io::Result<bytes::Bytes>> + Send + 'static {
        let remaining = self.len.saturating_sub(self.first.len() as u64);
        futures_util::stream::try_unfold(
            (self.file, remaining),
            move |(file, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = chunk.min(remaining as usize);
                let (file, bytes) = tokio::task::spawn_blocking(move || {
                    let bytes = read_up_to(&file, want)?;
                    Ok::<_, io::Error>((file, bytes))
                })
                .await
                .map_err(io::Error::other)??;
                if bytes.is_empty() {
                    // Shorter than when it was opened: never true of a stored archive.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "archive shrank while it was served",
                    ));
                }
                let left = remaining - bytes.len() as u64;
                Ok(Some((bytes::Bytes::from(bytes), (file, left))))
            },
        )
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

    fn temp_files(store: &BlobStore) -> usize {
        fs::read_dir(store.tmp_dir())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_file())
            .count()
    }

    #[tokio::test]
    async fn staged_upload_lands_under_its_hash_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut up = store.stage().await.unwrap();
        up.write(b"hello ").await.unwrap();
        up.write(b"world").await.unwrap();
        let staged = up.finish().await.unwrap();
        let (hash, _pin) = store.commit(staged).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(b"hello world")));
        assert_eq!(fs::read(store.path_of(&hash)).unwrap(), b"hello world");
        assert_eq!(store.put(b"hello world").unwrap(), hash);
        assert_eq!(temp_files(&store), 0);
    }

    #[test]
    fn a_shard_directory_removed_after_open_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let hash = hex::encode(Sha256::digest(b"shard gone"));
        fs::remove_dir(store.root().join(&hash[..2])).unwrap();
        assert_eq!(store.put(b"shard gone").unwrap(), hash);
        assert_eq!(fs::read(store.path_of(&hash)).unwrap(), b"shard gone");
        assert_eq!(temp_files(&store), 0);
    }

    #[tokio::test]
    async fn a_dropped_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut up = store.stage().await.unwrap();
        up.write(b"partial").await.unwrap();
        drop(up);
        assert_eq!(temp_files(&store), 0);
    }

    #[tokio::test]
    async fn upload_parts_survive_a_restart_and_assemble_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        for (n, bytes) in [(2u64, &b"world"[..]), (1, &b"hello "[..])] {
            let mut part = store.stage_part("upl_x").await.unwrap();
            part.write(bytes).await.unwrap();
            store
                .commit_part("upl_x", n, part.finish().await.unwrap())
                .unwrap();
        }
        let mut stray = store.stage().await.unwrap();
        stray.write(b"interrupted").await.unwrap();
        std::mem::forget(stray); // a crash: the temp file stays behind
        let store = BlobStore::open(dir.path()).unwrap();
        assert_eq!(temp_files(&store), 0, "the restart empties tmp/");
        let whole = store.assemble("upl_x", 2).unwrap();
        assert_eq!(whole.hash, hex::encode(Sha256::digest(b"hello world")));
        assert_eq!(whole.size, 11);
        store.remove_upload("upl_x").unwrap();
        assert!(store
            .upload_ids_older_than(std::time::Duration::ZERO)
            .unwrap()
            .is_empty());
    }
}
