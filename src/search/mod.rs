//! The full-text index of sessions (tantivy): BM25-ranked search with `<mark>` snippets.
//!
//! Why this shape:
//! - The index is derived data. Anything wrong with it on disk (missing, unreadable, corrupt, an
//!   older schema, a rebuild that never finished) makes [`SearchIndex::open`] start from an empty
//!   index and report that it needs a rebuild; the caller refills it with
//!   [`SearchIndex::rebuild`]. Nothing here is ever a reason not to serve.
//! - One thread owns the only `IndexWriter`; everything else sends it ops over a channel, so a
//!   push never waits for indexing. Commits are batched (see `writer.rs`) and the reader is
//!   reloaded after each one, which keeps visibility deterministic: a pushed session is
//!   searchable within about half a second, and at once after [`SearchIndex::flush`].
//! - Searching blocks (it reads segments through mmap): call it on the blocking pool.
//!
//! On disk, under the directory given to `open` (`<data-dir>/index`): `tantivy/` holds the index,
//! `schema-version` is written only once a rebuild under the current schema has completed, and
//! `.sessionfs-index.lock` keeps a second process (or a second `open`) out.

mod error;
pub mod knowledge;
mod query;
mod schema;
mod snippet;
mod stem;
mod writer;

#[cfg(test)]
mod tests;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use tantivy::directory::error::LockError;
use tantivy::directory::{DirectoryLock, Lock, MmapDirectory};
use tantivy::{Directory, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyError};

pub use error::SearchError;
use schema::{Fields, SCHEMA_VERSION};
use writer::{Op, RebuildItem, Worker, REBUILD_QUEUE};

/// Memory the writer may use for documents not yet written to a segment. Commits come every
/// half second at most (`writer.rs`), so the buffer only ever holds that long's documents (at
/// most 100 KiB of text each), and what it grows to stays resident: 20 MB (just above
/// tantivy's floor of 15 MB for one thread) instead of 50 MB, for the memory goal of issue 15.
/// The indexing cost per session is printed by `benches/hot_paths.rs` ("push CPU").
const WRITER_HEAP_BYTES: usize = 20_000_000;

const INDEX_SUBDIR: &str = "tantivy";
const MARKER_FILE: &str = "schema-version";
const LOCK_FILE: &str = ".sessionfs-index.lock";

/// One session as the index sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionDoc {
    pub session_id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub alias: Option<String>,
    pub tags: Vec<String>,
    /// Compared exactly by the tools filter.
    pub source_tool: String,
    /// Unix time in microseconds.
    pub updated_at_micros: i64,
    /// The session's `messages_text`; anything past 100 KiB is not indexed.
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchQuery {
    /// Only this user's sessions are searched.
    pub user_id: String,
    /// The user's words, taken literally: every word must match; no syntax is interpreted.
    pub q: String,
    /// Exact `source_tool` values, any of which may match; empty means any tool.
    pub tools: Vec<String>,
    /// Keep only sessions with `updated_at >= this` (unix micros).
    pub updated_since_micros: Option<i64>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    pub session_id: String,
    pub score: f32,
    /// HTML-escaped text with matches in `<mark>…</mark>`; when only the title or tags matched,
    /// the start of the text; empty when the session has no text.
    pub snippet: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// How many sessions match in all.
    pub total: usize,
}

/// What the index holds, as `/health/ready` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IndexState {
    /// Every committed change is in it.
    Ok = 0,
    /// Being refilled from the archives (new, replaced or outdated index).
    Rebuilding = 1,
    /// A commit failed, so changes are missing; a rebuild is due.
    Stale = 2,
}

impl IndexState {
    fn from_u8(v: u8) -> IndexState {
        match v {
            0 => IndexState::Ok,
            1 => IndexState::Rebuilding,
            _ => IndexState::Stale,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::Ok => "ok",
            IndexState::Rebuilding => "rebuilding",
            IndexState::Stale => "stale",
        }
    }
}

#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    ops: Option<mpsc::Sender<Op>>,
    pending: Arc<AtomicUsize>,
    state: Arc<AtomicU8>,
    worker: Option<JoinHandle<()>>,
    _lock: DirectoryLock,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.inner.dir)
            .field("pending", &self.pending())
            .finish()
    }
}

impl SearchIndex {
    /// Opens the index in `dir` (creating it) and starts the writer thread. Returns whether the
    /// index must be refilled with [`SearchIndex::rebuild`]: true for a new, replaced or
    /// incompletely rebuilt index. Fails only when `dir` is unusable or already open.
    pub fn open(dir: &Path) -> Result<(SearchIndex, bool), String> {
        let shown = dir.display();
        fs::create_dir_all(dir).map_err(|e| format!("cannot create index dir {shown}: {e}"))?;
        let lock = lock_dir(dir)?;
        let marker = fs::read_to_string(dir.join(MARKER_FILE)).ok();
        let complete = marker.as_deref().map(str::trim) == Some(SCHEMA_VERSION);
        let index_dir = dir.join(INDEX_SUBDIR);
        // An index written under another schema version is never reused, even if it opens.
        let reusable = (marker.is_none() || complete) && index_dir.join("meta.json").exists();
        let (opened, replaced) = match reusable.then(|| open_existing(&index_dir)) {
            Some(Ok(opened)) => (opened, false),
            Some(Err(OpenError::Locked(why))) => return Err(why),
            Some(Err(OpenError::Unusable(why))) => {
                tracing::warn!(dir = %shown, reason = %why, "search index unusable; starting empty");
                (create_empty(&index_dir)?, true)
            }
            None => (create_empty(&index_dir)?, true),
        };
        let needs_rebuild = replaced || !complete;
        if needs_rebuild {
            // Until a rebuild completes, a restart must rebuild again.
            remove_marker(dir)?;
        }
        let index = SearchIndex::start(dir, opened, lock);
        if needs_rebuild {
            index.set_state(IndexState::Rebuilding);
        }
        Ok((index, needs_rebuild))
    }

    /// What the index holds now.
    pub fn state(&self) -> IndexState {
        IndexState::from_u8(self.inner.state.load(Ordering::Relaxed))
    }

    fn set_state(&self, state: IndexState) {
        self.inner.state.store(state as u8, Ordering::Relaxed);
    }

    /// Claims a due rebuild: true (and the state becomes `Rebuilding`) when the index was
    /// stale, so two upkeep rounds never start two rebuilds.
    pub fn begin_repair(&self) -> bool {
        self.inner
            .state
            .compare_exchange(
                IndexState::Stale as u8,
                IndexState::Rebuilding as u8,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    fn start(dir: &Path, opened: Opened, lock: DirectoryLock) -> SearchIndex {
        let Opened {
            index,
            reader,
            writer,
            fields,
        } = opened;
        let pending = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(AtomicU8::new(IndexState::Ok as u8));
        let (ops, inbox) = mpsc::channel();
        let worker = Worker::new(
            writer,
            reader.clone(),
            fields,
            pending.clone(),
            state.clone(),
            dir.to_path_buf(),
        );
        let handle = std::thread::Builder::new()
            .name("search-writer".into())
            .spawn(move || worker.run(inbox))
            .expect("spawn the search writer thread");
        SearchIndex {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                index,
                reader,
                fields,
                ops: Some(ops),
                pending,
                state,
                worker: Some(handle),
                _lock: lock,
            }),
        }
    }

    /// Queues the session for indexing, replacing any earlier version. Does not wait.
    pub fn upsert(&self, doc: SessionDoc) {
        self.send(Op::Upsert(Box::new(doc)));
    }

    /// Queues the removal of the session. Does not wait.
    pub fn remove(&self, session_id: &str) {
        self.send(Op::Remove(session_id.to_string()));
    }

    fn send(&self, op: Op) {
        self.inner.pending.fetch_add(1, Ordering::Relaxed);
        let sent = match &self.inner.ops {
            Some(ops) => ops.send(op).is_ok(),
            None => false,
        };
        if !sent {
            self.inner.pending.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("search writer has stopped; an index update was dropped");
        }
    }

    /// Searches the caller's sessions. Blocking.
    pub fn search(&self, request: &SearchQuery) -> Result<SearchPage, SearchError> {
        let searcher = self.inner.reader.searcher();
        query::run(&self.inner.index, &searcher, &self.inner.fields, request)
    }

    /// Returns once every op queued before the call is committed and visible to search.
    pub fn flush(&self) {
        let (reply, done) = mpsc::sync_channel(1);
        if let Some(ops) = &self.inner.ops {
            if ops.send(Op::Flush(reply)).is_ok() {
                let _ = done.recv();
            }
        }
    }

    /// Replaces the whole content with `docs` in one commit (searches see the old content until
    /// it lands) and returns how many were indexed. Ops queued before the call are superseded;
    /// ops queued during it are applied after it. Blocking; `docs` is consumed on this thread,
    /// so it may read the database or archives as it goes.
    ///
    /// Read the list of sessions lazily, from the iterator's first `next()`: the rebuild is
    /// queued before that, so a change committed after the read reaches the index after the
    /// rebuild. A list read before the call can miss a change queued in between.
    pub fn rebuild(&self, docs: impl Iterator<Item = SessionDoc>) -> Result<usize, String> {
        let ops = self.inner.ops.as_ref().ok_or("search writer has stopped")?;
        let (feed, items) = mpsc::sync_channel(REBUILD_QUEUE);
        let (reply, answer) = mpsc::sync_channel(1);
        ops.send(Op::Rebuild { docs: items, reply })
            .map_err(|_| "search writer has stopped")?;
        for doc in docs {
            if feed.send(RebuildItem::Doc(Box::new(doc))).is_err() {
                break; // the writer gave up; its answer says why
            }
        }
        let _ = feed.send(RebuildItem::End);
        let done = answer
            .recv()
            .map_err(|_| "search writer stopped during the rebuild".to_string())
            .and_then(|result| result)
            .and_then(|count| write_marker(&self.inner.dir).map(|()| count));
        if done.is_err() {
            self.set_state(IndexState::Stale);
        }
        done
    }

    /// Ops queued or applied but not yet committed (the index lag).
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }
}

impl Drop for Inner {
    /// Closing the channel lets the writer commit what is pending and stop; waiting for it
    /// means the directory lock is released only once the writer is gone.
    fn drop(&mut self) {
        self.ops.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

struct Opened {
    index: Index,
    reader: IndexReader,
    writer: IndexWriter,
    fields: Fields,
}

enum OpenError {
    /// Another writer holds the index: not ours to replace.
    Locked(String),
    /// Missing, corrupt or foreign: replace it.
    Unusable(String),
}

fn lock_dir(dir: &Path) -> Result<DirectoryLock, String> {
    let shown = dir.display();
    let directory =
        MmapDirectory::open(dir).map_err(|e| format!("cannot open index dir {shown}: {e}"))?;
    let lock = Lock {
        filepath: PathBuf::from(LOCK_FILE),
        is_blocking: false,
    };
    directory.acquire_lock(&lock).map_err(|e| match e {
        LockError::LockBusy => format!("search index {shown} is in use by another process"),
        other => format!("cannot lock index dir {shown}: {other}"),
    })
}

fn open_existing(index_dir: &Path) -> Result<Opened, OpenError> {
    let index = Index::open_in_dir(index_dir).map_err(unusable)?;
    if index.schema() != schema::build_schema() {
        return Err(OpenError::Unusable("schema differs".into()));
    }
    finish_open(index).map_err(|e| match e {
        TantivyError::LockFailure(..) => OpenError::Locked(format!(
            "search index {} is locked by another writer",
            index_dir.display()
        )),
        other => unusable(other),
    })
}

fn unusable(err: TantivyError) -> OpenError {
    OpenError::Unusable(err.to_string())
}

fn create_empty(index_dir: &Path) -> Result<Opened, String> {
    let shown = index_dir.display();
    if index_dir.exists() {
        fs::remove_dir_all(index_dir)
            .map_err(|e| format!("cannot clear search index {shown}: {e}"))?;
    }
    fs::create_dir_all(index_dir).map_err(|e| format!("cannot create {shown}: {e}"))?;
    let index = Index::builder()
        .schema(schema::build_schema())
        .create_in_dir(index_dir)
        .map_err(|e| format!("cannot create search index {shown}: {e}"))?;
    finish_open(index).map_err(|e| format!("cannot open new search index {shown}: {e}"))
}

/// Registers our analyzer, opens every segment for reading and takes the writer.
fn finish_open(index: Index) -> tantivy::Result<Opened> {
    schema::register_analyzer(&index);
    let fields = Fields::resolve(&index.schema()).map_err(TantivyError::SchemaError)?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
    Ok(Opened {
        index,
        reader,
        writer,
        fields,
    })
}

pub(crate) fn remove_marker(dir: &Path) -> Result<(), String> {
    match fs::remove_file(dir.join(MARKER_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot reset the search index marker: {e}")),
    }
}

/// Records that the index holds a complete rebuild under this schema (temp file, fsync, rename).
fn write_marker(dir: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write the search index marker: {e}");
    let temp = dir.join(format!("{MARKER_FILE}.tmp"));
    let mut file = fs::File::create(&temp).map_err(fail)?;
    file.write_all(SCHEMA_VERSION.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&temp, dir.join(MARKER_FILE)).map_err(fail)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(fail)
}
