//! The writer thread: the one owner of the tantivy `IndexWriter`, with batched commits.
//!
//! A commit is an fsync and a new segment, so one per push would be slow and leave many tiny
//! segments. Instead ops accumulate and are committed when the first uncommitted op is
//! [`COMMIT_DELAY`] old, when [`MAX_UNCOMMITTED`] are waiting, on a flush, at the end of a
//! rebuild, and when the index is closed. The reader is reloaded right after every commit (its
//! reload policy is manual), so once a flush has answered, every earlier op is visible to search.
//!
//! A failed commit loses the ops it carried, so the index no longer matches the database: the worker marks it *stale* (shared with
//! [`super::SearchIndex::state`]), removes the completeness marker so a restart rebuilds it,
//! and the server's upkeep task schedules a rebuild. A successful rebuild clears the mark.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::{IndexReader, IndexWriter, Term};

use super::schema::Fields;
use super::SessionDoc;

/// How long the first uncommitted op may wait for company.
pub(super) const COMMIT_DELAY: Duration = Duration::from_millis(500);

/// Commit at once when this many ops are uncommitted.
pub(super) const MAX_UNCOMMITTED: usize = 1_000;

/// Documents a rebuild may have in flight between its producer and the writer: enough to keep
/// the writer busy, few enough (at up to 100 KiB each) to keep memory low.
pub(super) const REBUILD_QUEUE: usize = 64;

pub(super) enum Op {
    Upsert(Box<SessionDoc>),
    Remove(String),
    /// Commit what is pending, then answer.
    Flush(SyncSender<()>),
    /// Replace the whole content with the documents that arrive on `docs`, in one commit.
    Rebuild {
        docs: Receiver<RebuildItem>,
        reply: SyncSender<Result<usize, String>>,
    },
}

pub(super) enum RebuildItem {
    Doc(Box<SessionDoc>),
    /// The producer finished; without it (the producer panicked or gave up) the rebuild is
    /// rolled back rather than committed half done.
    End,
}

pub(super) struct Worker {
    pub writer: IndexWriter,
    pub reader: IndexReader,
    pub fields: Fields,
    /// Ops sent but not yet committed, shared with [`super::SearchIndex::pending`].
    pub pending: Arc<AtomicUsize>,
    /// The index's [`super::IndexState`], shared with [`super::SearchIndex::state`].
    pub state: Arc<AtomicU8>,
    /// The index directory (its completeness marker is removed when a commit fails).
    pub dir: std::path::PathBuf,
    uncommitted: usize,
    first_uncommitted: Option<Instant>,
}

impl Worker {
    pub(super) fn new(
        writer: IndexWriter,
        reader: IndexReader,
        fields: Fields,
        pending: Arc<AtomicUsize>,
        state: Arc<AtomicU8>,
        dir: std::path::PathBuf,
    ) -> Worker {
        Worker {
            writer,
            reader,
            fields,
            pending,
            state,
            dir,
            uncommitted: 0,
            first_uncommitted: None,
        }
    }

    /// Serves ops until every sender is gone, then commits what is left and waits for merges.
    pub(super) fn run(mut self, inbox: Receiver<Op>) {
        loop {
            let op = match self.first_uncommitted {
                None => match inbox.recv() {
                    Ok(op) => op,
                    Err(_) => break,
                },
                Some(first) => {
                    let wait = (first + COMMIT_DELAY).saturating_duration_since(Instant::now());
                    match inbox.recv_timeout(wait) {
                        Ok(op) => op,
                        Err(RecvTimeoutError::Timeout) => {
                            self.commit();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            self.apply(op);
            if self.commit_due() {
                self.commit();
            }
        }
        self.commit();
        if let Err(err) = self.writer.wait_merging_threads() {
            tracing::warn!(error = %err, "search index: merge at shutdown failed");
        }
    }

    fn commit_due(&self) -> bool {
        self.uncommitted >= MAX_UNCOMMITTED
            || self
                .first_uncommitted
                .is_some_and(|first| first.elapsed() >= COMMIT_DELAY)
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Upsert(doc) => {
                self.replace(&doc);
                self.note_uncommitted();
            }
            Op::Remove(session_id) => {
                self.writer.delete_term(self.id_term(&session_id));
                self.note_uncommitted();
            }
            Op::Flush(reply) => {
                self.commit();
                let _ = reply.send(());
            }
            Op::Rebuild { docs, reply } => {
                let result = self.rebuild(docs);
                let _ = reply.send(result);
            }
        }
    }

    fn note_uncommitted(&mut self) {
        self.uncommitted += 1;
        self.first_uncommitted.get_or_insert_with(Instant::now);
    }

    fn id_term(&self, session_id: &str) -> Term {
        Term::from_field_text(self.fields.session_id, session_id)
    }

    /// Deletes any document of this session and adds the new one; both land in the same commit.
    fn replace(&self, doc: &SessionDoc) {
        self.writer.delete_term(self.id_term(&doc.session_id));
        if let Err(err) = self.writer.add_document(self.fields.document(doc)) {
            tracing::error!(error = %err, session_id = %doc.session_id, "search index: add failed");
        }
    }

    /// Commits the pending ops and reloads the reader. A failure loses those ops: the index is
    /// marked stale (a rebuild from the archives repairs it) and the writer is rolled back.
    fn commit(&mut self) {
        if self.uncommitted == 0 {
            return;
        }
        let committed = std::mem::take(&mut self.uncommitted);
        self.first_uncommitted = None;
        if let Err(err) = self.commit_and_reload() {
            tracing::error!(error = %err, ops = committed, "search index: commit failed; the index is stale until it is rebuilt");
            self.mark_stale();
        }
        self.pending.fetch_sub(committed, Ordering::Relaxed);
    }

    fn mark_stale(&mut self) {
        self.state
            .store(super::IndexState::Stale as u8, Ordering::Relaxed);
        if let Err(err) = super::remove_marker(&self.dir) {
            tracing::error!(error = %err, "search index: cannot remove the completeness marker");
        }
        // No rollback here: the rebuild replaces every document anyway, and a tantivy rollback
        // that fails (the directory is unusable) leaves the writer without its lock, so a
        // second one would panic the writer thread.
    }

    fn commit_and_reload(&mut self) -> tantivy::Result<()> {
        self.writer.commit()?;
        self.reader.reload()
    }

    /// Clears the index and adds every document the producer sends, then commits once, so a
    /// search sees either the old content or the whole new one. Ops already applied are
    /// committed first: `delete_all_documents` drops only finished segments, not documents still
    /// in the indexing buffer.
    fn rebuild(&mut self, docs: Receiver<RebuildItem>) -> Result<usize, String> {
        self.commit();
        let result = self.fill_from(docs).and_then(|count| {
            self.commit_and_reload().map_err(|e| e.to_string())?;
            Ok(count)
        });
        match &result {
            Ok(_) => self
                .state
                .store(super::IndexState::Ok as u8, Ordering::Relaxed),
            Err(_) => {
                self.state
                    .store(super::IndexState::Stale as u8, Ordering::Relaxed);
                if let Err(err) = self.writer.rollback() {
                    tracing::error!(error = %err, "search index: rollback after a failed rebuild failed");
                }
            }
        }
        result
    }

    fn fill_from(&mut self, docs: Receiver<RebuildItem>) -> Result<usize, String> {
        self.writer
            .delete_all_documents()
            .map_err(|e| e.to_string())?;
        let mut count = 0;
        loop {
            match docs.recv() {
                Ok(RebuildItem::Doc(doc)) => {
                    self.writer.delete_term(self.id_term(&doc.session_id));
                    self.writer
                        .add_document(self.fields.document(&doc))
                        .map_err(|e| e.to_string())?;
                    count += 1;
                }
                Ok(RebuildItem::End) => return Ok(count),
                Err(_) => return Err("the rebuild was abandoned before its end".into()),
            }
        }
    }
}
