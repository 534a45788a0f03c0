//! The full-text index of knowledge entries and wiki pages (tantivy), apart from the session
//! index: its own schema, directory, lock and writer thread, so tuning one never disturbs the
//! other. Entries and pages are documents of two kinds (`kind`: `entry` | `page`); a search
//! asks for one kind.
//!
//! What it is for: ranking the entries (or pages) of one project by relevance to a piece of
//! text (the words of a ticket, a question), which SQL cannot do. It is *not* behind the entries list's
//! `search` filter: that filter is a case-insensitive substring match by contract (02 §3.3) and
//! stays in SQL, where it is exact and never lags.
//!
//! Like the session index it is derived data. The database is the truth: every change to an
//! entry (add, dismiss, refresh, supersede, promote, confidence, bulk changes, project delete)
//! and to a project's pages (put, regenerate, delete, compile) is queued here after its
//! transaction commits, without waiting; `sessionfs-server reindex`
//! and a start that finds the index missing, corrupt, half rebuilt or of another schema refill
//! it from the database. A hit is a candidate id: callers read the entry from the database
//! before they use it, so a lagging index can at worst miss or rank, never show stale data.
//!
//! On disk, under the directory given to `open` (`<data-dir>/index/knowledge`): `tantivy/`
//! holds the index, `schema-version` is written once a rebuild under this schema has completed,
//! and `.knowledge-index.lock` keeps a second process out.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tantivy::collector::TopDocs;
use tantivy::directory::error::LockError;
use tantivy::directory::{DirectoryLock, Lock, MmapDirectory};
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::{Directory, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::SearchError;

/// Bump when the schema or the analysis changes: an index of another version is rebuilt.
const SCHEMA_VERSION: &str = "knowledge-2";
const INDEX_SUBDIR: &str = "tantivy";
/// Our analyzer's name (tantivy keeps only the name in the schema: [`register_analyzer`] on
/// every open): words, lowercased, English stop words dropped, stemmed.
const ANALYZER: &str = "kb_words";
const MARKER_FILE: &str = "schema-version";
const LOCK_FILE: &str = ".knowledge-index.lock";
const WRITER_HEAP_BYTES: usize = 15_000_000;
/// How long the first uncommitted op waits for company before a commit.
const COMMIT_DELAY: Duration = Duration::from_millis(300);
/// Commit at once when this many ops are uncommitted.
const MAX_UNCOMMITTED: usize = 1_000;
/// Documents in flight between a rebuild's producer and the writer.
const REBUILD_QUEUE: usize = 256;
/// Longest content indexed (entries are short; this bounds a pathological one).
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest page text indexed (pages hold up to 200,000 characters).
const MAX_PAGE_TEXT_BYTES: usize = 1024 * 1024;

/// Where an entry stands, for filtering: only `Active` entries are relevant by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    Active,
    Dismissed,
    Superseded,
}

impl EntryStatus {
    fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Active => "active",
            EntryStatus::Dismissed => "dismissed",
            EntryStatus::Superseded => "superseded",
        }
    }
}

/// One knowledge entry as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeDoc {
    pub entry_id: i64,
    pub project_id: String,
    pub entry_type: String,
    pub claim_class: String,
    pub status: EntryStatus,
    pub content: String,
    pub entity_ref: Option<String>,
}

/// A ranked search within one project.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeQuery {
    pub project_id: String,
    /// Free text: its words are analyzed like the content; any word may match (BM25 ranks
    /// entries that match more, and rarer, words first). Never parsed as query syntax.
    pub text: String,
    /// Keep only these entry types (empty: any).
    pub entry_types: Vec<String>,
    /// Also return dismissed and superseded entries.
    pub include_inactive: bool,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnowledgeHit {
    pub entry_id: i64,
    pub score: f32,
}

/// One wiki page as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageDoc {
    pub page_id: String,
    pub project_id: String,
    pub title: String,
    pub content: String,
}

/// What the index holds: entries and pages.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexDoc {
    Entry(KnowledgeDoc),
    Page(PageDoc),
}

impl From<KnowledgeDoc> for IndexDoc {
    fn from(d: KnowledgeDoc) -> Self {
        IndexDoc::Entry(d)
    }
}

impl From<PageDoc> for IndexDoc {
    fn from(d: PageDoc) -> Self {
        IndexDoc::Page(d)
    }
}

/// A ranked search of one project's pages.
#[derive(Debug, Clone, PartialEq)]
pub struct PageQuery {
    pub project_id: String,
    /// Free text, as [`KnowledgeQuery::text`]; matches a page's title and content.
    pub text: String,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageHit {
    pub page_id: String,
    pub score: f32,
}

const KIND_ENTRY: &str = "entry";
const KIND_PAGE: &str = "page";

#[derive(Clone, Copy)]
struct Fields {
    entry_id: Field,
    project_id: Field,
    entry_type: Field,
    claim_class: Field,
    status: Field,
    content: Field,
    entity_ref: Field,
    kind: Field,
    page_id: Field,
    /// A page's project (set on pages only: replacing a project's pages deletes by it).
    page_project: Field,
    title: Field,
}

fn build_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_i64_field(
        "entry_id",
        NumericOptions::default()
            .set_indexed()
            .set_fast()
            .set_stored(),
    );
    b.add_text_field("project_id", STRING);
    b.add_text_field("entry_type", STRING);
    b.add_text_field("claim_class", STRING);
    b.add_text_field("status", STRING);
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field("content", words.clone());
    b.add_text_field("entity_ref", words.clone());
    b.add_text_field("kind", STRING);
    b.add_text_field("page_id", STRING | STORED);
    b.add_text_field("page_project", STRING);
    b.add_text_field("title", words);
    b.build()
}

impl Fields {
    fn resolve(schema: &Schema) -> Result<Fields, String> {
        let f = |name: &str| schema.get_field(name).map_err(|e| e.to_string());
        Ok(Fields {
            entry_id: f("entry_id")?,
            project_id: f("project_id")?,
            entry_type: f("entry_type")?,
            claim_class: f("claim_class")?,
            status: f("status")?,
            content: f("content")?,
            entity_ref: f("entity_ref")?,
            kind: f("kind")?,
            page_id: f("page_id")?,
            page_project: f("page_project")?,
            title: f("title")?,
        })
    }

    fn document(&self, d: &KnowledgeDoc) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.kind, KIND_ENTRY);
        doc.add_i64(self.entry_id, d.entry_id);
        doc.add_text(self.project_id, &d.project_id);
        doc.add_text(self.entry_type, &d.entry_type);
        doc.add_text(self.claim_class, &d.claim_class);
        doc.add_text(self.status, d.status.as_str());
        doc.add_text(self.content, truncate(&d.content, MAX_TEXT_BYTES));
        if let Some(entity) = &d.entity_ref {
            doc.add_text(self.entity_ref, entity);
        }
        doc
    }

    fn page_document(&self, p: &PageDoc) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.kind, KIND_PAGE);
        doc.add_text(self.page_id, &p.page_id);
        doc.add_text(self.project_id, &p.project_id);
        doc.add_text(self.page_project, &p.project_id);
        doc.add_text(self.title, truncate(&p.title, MAX_TEXT_BYTES));
        doc.add_text(self.content, truncate(&p.content, MAX_PAGE_TEXT_BYTES));
        doc
    }

    fn any_document(&self, d: &IndexDoc) -> TantivyDocument {
        match d {
            IndexDoc::Entry(e) => self.document(e),
            IndexDoc::Page(p) => self.page_document(p),
        }
    }
}

fn register_analyzer(index: &Index) {
    index
        .tokenizers()
        .register(ANALYZER, super::schema::english_analyzer());
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

enum Op {
    Upsert(Box<KnowledgeDoc>),
    RemoveProject(String),
    /// Replaces every page of a project with these.
    ReplacePages {
        project_id: String,
        pages: Vec<PageDoc>,
    },
    Flush(SyncSender<()>),
    Rebuild {
        docs: Receiver<Option<IndexDoc>>,
        reply: SyncSender<Result<usize, String>>,
    },
}

#[derive(Clone)]
pub struct KnowledgeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    ops: Option<Sender<Op>>,
    pending: Arc<AtomicUsize>,
    /// A commit failed: changes are missing until a rebuild.
    stale: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    _lock: DirectoryLock,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex")
            .field("dir", &self.inner.dir)
            .field("pending", &self.pending())
            .finish()
    }
}

impl Drop for Inner {
    /// Closing the channel lets the writer commit what is pending and stop.
    fn drop(&mut self) {
        self.ops.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl KnowledgeIndex {
    /// Opens the index in `dir` (creating it) and starts its writer thread. Returns whether it
    /// must be refilled with [`KnowledgeIndex::rebuild`] (new, replaced, outdated or
    /// incompletely rebuilt). Fails only when `dir` is unusable or already open.
    pub fn open(dir: &Path) -> Result<(KnowledgeIndex, bool), String> {
        let shown = dir.display();
        fs::create_dir_all(dir).map_err(|e| format!("cannot create index dir {shown}: {e}"))?;
        let lock = lock_dir(dir)?;
        let marker = fs::read_to_string(dir.join(MARKER_FILE)).ok();
        let complete = marker.as_deref().map(str::trim) == Some(SCHEMA_VERSION);
        let index_dir = dir.join(INDEX_SUBDIR);
        let existing = if complete && index_dir.join("meta.json").exists() {
            match Index::open_in_dir(&index_dir) {
                Ok(index) if index.schema() == build_schema() => Some(index),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(dir = %shown, error = %e, "knowledge index unusable; starting empty");
                    None
                }
            }
        } else {
            None
        };
        let needs_rebuild = existing.is_none();
        let index = match existing {
            Some(index) => index,
            None => {
                remove_marker(dir)?;
                if index_dir.exists() {
                    fs::remove_dir_all(&index_dir)
                        .map_err(|e| format!("cannot clear knowledge index {shown}: {e}"))?;
                }
                fs::create_dir_all(&index_dir)
                    .map_err(|e| format!("cannot create {}: {e}", index_dir.display()))?;
                Index::create_in_dir(&index_dir, build_schema())
                    .map_err(|e| format!("cannot create knowledge index {shown}: {e}"))?
            }
        };
        register_analyzer(&index);
        let fields = Fields::resolve(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| format!("knowledge index reader: {e}"))?;
        let writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_HEAP_BYTES)
            .map_err(|e| format!("knowledge index writer: {e}"))?;
        let pending = Arc::new(AtomicUsize::new(0));
        let stale = Arc::new(AtomicBool::new(false));
        let (ops, inbox) = mpsc::channel();
        let worker = Worker {
            writer,
            reader: reader.clone(),
            fields,
            pending: pending.clone(),
            stale: stale.clone(),
            dir: dir.to_path_buf(),
            uncommitted: 0,
            first_uncommitted: None,
        };
        let handle = std::thread::Builder::new()
            .name("knowledge-index".into())
            .spawn(move || worker.run(inbox))
            .map_err(|e| format!("cannot start the knowledge index writer: {e}"))?;
        Ok((
            KnowledgeIndex {
                inner: Arc::new(Inner {
                    dir: dir.to_path_buf(),
                    index,
                    reader,
                    fields,
                    ops: Some(ops),
                    pending,
                    stale,
                    worker: Some(handle),
                    _lock: lock,
                }),
            },
            needs_rebuild,
        ))
    }

    /// Queues an entry for indexing, replacing any earlier version of it. Does not wait.
    pub fn upsert(&self, doc: KnowledgeDoc) {
        self.send(Op::Upsert(Box::new(doc)));
    }

    /// Queues the replacement of a project's pages by `pages` (all of them). Does not wait.
    pub fn replace_pages(&self, project_id: &str, pages: Vec<PageDoc>) {
        self.send(Op::ReplacePages {
            project_id: project_id.to_string(),
            pages,
        });
    }

    /// Queues the removal of every entry and page of a project. Does not wait.
    pub fn remove_project(&self, project_id: &str) {
        self.send(Op::RemoveProject(project_id.to_string()));
    }

    fn send(&self, op: Op) {
        self.inner.pending.fetch_add(1, Ordering::Relaxed);
        let sent = self.inner.ops.as_ref().is_some_and(|o| o.send(op).is_ok());
        if !sent {
            self.inner.pending.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("knowledge index writer has stopped; an update was dropped");
        }
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

    /// Ops queued but not yet committed.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }

    /// Whether a failed commit left changes out (the server's upkeep, a restart or `reindex`
    /// repairs it).
    pub fn is_stale(&self) -> bool {
        self.inner.stale.load(Ordering::Relaxed)
    }

    /// Claims a due repair: true (and the mark is cleared) when the index was stale, so two
    /// upkeep rounds never start two rebuilds. A failed rebuild sets the mark again.
    pub fn begin_repair(&self) -> bool {
        self.inner
            .stale
            .compare_exchange(true, false, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Replaces the whole content with `docs` in one commit and returns how many were indexed.
    /// Blocking. Ops queued before the call are superseded, ops queued during it apply after
    /// it: list the entries lazily (from the iterator's first `next()`) so a change committed
    /// after the read reaches the index after the rebuild.
    pub fn rebuild<D: Into<IndexDoc>>(
        &self,
        docs: impl Iterator<Item = D>,
    ) -> Result<usize, String> {
        let ops = self
            .inner
            .ops
            .as_ref()
            .ok_or("knowledge index writer has stopped")?;
        let (feed, items) = mpsc::sync_channel(REBUILD_QUEUE);
        let (reply, answer) = mpsc::sync_channel(1);
        ops.send(Op::Rebuild { docs: items, reply })
            .map_err(|_| "knowledge index writer has stopped")?;
        for doc in docs {
            if feed.send(Some(doc.into())).is_err() {
                break;
            }
        }
        let _ = feed.send(None);
        answer
            .recv()
            .map_err(|_| "knowledge index writer stopped during the rebuild".to_string())
            .and_then(|r| r)
            .and_then(|n| write_marker(&self.inner.dir).map(|()| n))
    }

    /// One term query per distinct analyzed word of `text` in each of `fields`.
    fn word_queries(
        &self,
        fields: &[Field],
        text: &str,
    ) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let mut words: Vec<Box<dyn Query>> = Vec::new();
        for &field in fields {
            let mut analyzer = self.inner.index.tokenizer_for_field(field)?;
            let mut stream = analyzer.token_stream(text);
            let mut seen = Vec::new();
            while let Some(token) = stream.next() {
                if !seen.contains(&token.text) {
                    seen.push(token.text.clone());
                    words.push(Box::new(TermQuery::new(
                        Term::from_field_text(field, &token.text),
                        IndexRecordOption::WithFreqs,
                    )));
                }
            }
        }
        Ok(words)
    }

    /// The pages of one project ranked by relevance to `q.text` (title and content), best
    /// first. Blocking.
    pub fn search_pages(&self, q: &PageQuery) -> Result<Vec<PageHit>, SearchError> {
        let f = &self.inner.fields;
        let words = self.word_queries(&[f.title, f.content], &q.text)?;
        if words.is_empty() || q.limit == 0 {
            return Ok(Vec::new());
        }
        let exact = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let query = BooleanQuery::new(vec![
            (Occur::Must, exact(f.kind, KIND_PAGE)),
            (Occur::Must, exact(f.page_project, &q.project_id)),
            (Occur::Must, Box::new(BooleanQuery::union(words))),
        ]);
        let searcher = self.inner.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(q.limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = doc.get_first(f.page_id).and_then(|v| v.as_str()) {
                hits.push(PageHit {
                    page_id: id.to_string(),
                    score,
                });
            }
        }
        // Equal scores: by page id, so the order is stable.
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.page_id.cmp(&b.page_id))
        });
        Ok(hits)
    }

    /// The entries of one project ranked by relevance to `q.text`, best first. Blocking.
    pub fn search(&self, q: &KnowledgeQuery) -> Result<Vec<KnowledgeHit>, SearchError> {
        let f = &self.inner.fields;
        let words = self.word_queries(&[f.content, f.entity_ref], &q.text)?;
        if words.is_empty() || q.limit == 0 {
            return Ok(Vec::new());
        }
        let exact = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, exact(f.kind, KIND_ENTRY)),
            (Occur::Must, exact(f.project_id, &q.project_id)),
            (Occur::Must, Box::new(BooleanQuery::union(words))),
        ];
        if !q.include_inactive {
            clauses.push((Occur::Must, exact(f.status, EntryStatus::Active.as_str())));
        }
        if !q.entry_types.is_empty() {
            let types = q
                .entry_types
                .iter()
                .map(|t| (Occur::Should, exact(f.entry_type, t)))
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(types))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.inner.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(q.limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = doc.get_first(f.entry_id).and_then(|v| v.as_i64()) {
                hits.push(KnowledgeHit {
                    entry_id: id,
                    score,
                });
            }
        }
        // Equal scores: newest entry first, so the order is stable.
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.entry_id.cmp(&a.entry_id))
        });
        Ok(hits)
    }
}

struct Worker {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    pending: Arc<AtomicUsize>,
    stale: Arc<AtomicBool>,
    dir: PathBuf,
    uncommitted: usize,
    first_uncommitted: Option<Instant>,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Op>) {
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
            if self.uncommitted >= MAX_UNCOMMITTED
                || self
                    .first_uncommitted
                    .is_some_and(|t| t.elapsed() >= COMMIT_DELAY)
            {
                self.commit();
            }
        }
        self.commit();
        let _ = self.writer.wait_merging_threads();
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Upsert(doc) => {
                self.replace(&doc);
                self.note();
            }
            Op::RemoveProject(pid) => {
                self.writer
                    .delete_term(Term::from_field_text(self.fields.project_id, &pid));
                self.note();
            }
            Op::ReplacePages { project_id, pages } => {
                self.writer
                    .delete_term(Term::from_field_text(self.fields.page_project, &project_id));
                for page in &pages {
                    if let Err(e) = self.writer.add_document(self.fields.page_document(page)) {
                        tracing::error!(error = %e, page = %page.page_id, "knowledge index: add failed");
                    }
                }
                self.note();
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

    fn note(&mut self) {
        self.uncommitted += 1;
        self.first_uncommitted.get_or_insert_with(Instant::now);
    }

    fn replace(&self, doc: &KnowledgeDoc) {
        self.writer
            .delete_term(Term::from_field_i64(self.fields.entry_id, doc.entry_id));
        if let Err(e) = self.writer.add_document(self.fields.document(doc)) {
            tracing::error!(error = %e, entry = doc.entry_id, "knowledge index: add failed");
        }
    }

    fn commit(&mut self) {
        if self.uncommitted == 0 {
            return;
        }
        let n = std::mem::take(&mut self.uncommitted);
        self.first_uncommitted = None;
        if let Err(e) = self.writer.commit().and_then(|_| self.reader.reload()) {
            tracing::error!(error = %e, ops = n, "knowledge index: commit failed; stale until rebuilt");
            self.stale.store(true, Ordering::Relaxed);
            let _ = remove_marker(&self.dir);
        }
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }

    /// Clears the index, adds every document the producer sends, commits once: a search sees
    /// the old content or the whole new one. Without the producer's end mark, rolls back.
    fn rebuild(&mut self, docs: Receiver<Option<IndexDoc>>) -> Result<usize, String> {
        self.commit();
        let filled = (|| {
            self.writer
                .delete_all_documents()
                .map_err(|e| e.to_string())?;
            let mut n = 0;
            loop {
                match docs.recv() {
                    Ok(Some(doc)) => {
                        self.writer
                            .add_document(self.fields.any_document(&doc))
                            .map_err(|e| e.to_string())?;
                        n += 1;
                    }
                    Ok(None) => return Ok(n),
                    Err(_) => return Err("the rebuild was abandoned before its end".to_string()),
                }
            }
        })();
        let result = filled.and_then(|n| {
            self.writer.commit().map_err(|e| e.to_string())?;
            self.reader.reload().map_err(|e| e.to_string())?;
            Ok(n)
        });
        match &result {
            Ok(_) => self.stale.store(false, Ordering::Relaxed),
            Err(_) => {
                self.stale.store(true, Ordering::Relaxed);
                let _ = self.writer.rollback();
            }
        }
        result
    }
}

fn lock_dir(dir: &Path) -> Result<DirectoryLock, String> {
    let shown = dir.display();
    let directory =
        MmapDirectory::open(dir).map_err(|e| format!("cannot open index dir {shown}: {e}"))?;
    directory
        .acquire_lock(&Lock {
            filepath: PathBuf::from(LOCK_FILE),
            is_blocking: false,
        })
        .map_err(|e| match e {
            LockError::LockBusy => format!("knowledge index {shown} is in use by another process"),
            other => format!("cannot lock index dir {shown}: {other}"),
        })
}

fn remove_marker(dir: &Path) -> Result<(), String> {
    match fs::remove_file(dir.join(MARKER_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot reset the knowledge index marker: {e}")),
    }
}

fn write_marker(dir: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write the knowledge index marker: {e}");
    let temp = dir.join(format!("{MARKER_FILE}.tmp"));
    let mut file = fs::File::create(&temp).map_err(fail)?;
    file.write_all(SCHEMA_VERSION.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&temp, dir.join(MARKER_FILE)).map_err(fail)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(fail)
}

#[cfg(test)]
#[path = "knowledge_tests.rs"]
mod tests;
