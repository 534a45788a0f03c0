//! `AppState`: what every handler can reach.

use std::sync::Arc;

use crate::archive::BlobStore;
use crate::auth::rate_limit::Limiters;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::ops::lock::DataDirLock;
use crate::search::knowledge::KnowledgeIndex;
use crate::search::SearchIndex;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub blobs: BlobStore,
    pub limits: Arc<Limiters>,
    pub metrics: Metrics,
    pub search: SearchIndex,
    /// The knowledge entries' own index (`<data-dir>/index/knowledge`), apart from sessions'.
    pub knowledge: KnowledgeIndex,
    pub mailer: Mailer,
    /// Where every handler, domain rule and background task reads the time.
    pub clock: Clock,
    /// The data-dir lock, held as long as any clone of the state lives.
    pub data_lock: Arc<DataDirLock>,
    /// Seals and opens stored secrets (judge keys, GitLab tokens) under the install secret.
    pub sealer: crate::secrets::Sealer,
    /// The outbound LLM client and the URL guards.
    pub llm: crate::llm::Outbound,
    /// Work a request leaves running after its answer (the re-index after a compile):
    /// counted, so tests can wait until it is done.
    pub background: Background,
}

impl AppState {
    /// Opens the data dir (database, archive store) for serving.
    ///
    /// The data-dir lock comes first: a second server on the same dir is refused before it
    /// opens the database or empties `archives/tmp/` (the first server's uploads in progress).
    pub fn open(config: Config) -> Result<AppState, String> {
        AppState::open_with_clock(config, Clock::system())
    }

    /// [`AppState::open`] with a given clock (tests pass one they can move).
    pub fn open_with_clock(config: Config, clock: Clock) -> Result<AppState, String> {
        let data_lock = Arc::new(DataDirLock::acquire(&config.data_dir)?);
        let db = Db::open(&config.database_path(), config.db_read_connections)?;
        let blobs = BlobStore::open(&config.archive_dir()).map_err(|e| {
            format!(
                "cannot open archive store {}: {e}",
                config.archive_dir().display()
            )
        })?;
        let limits = Arc::new(Limiters::new(
            config.rate_limit_per_minute,
            config.signup_rate_limit_per_hour,
            config.concurrent_pushes_per_user,
            config.push_slot_wait,
        ));
        let mailer = Mailer::from_config(config.smtp_url.as_deref(), config.smtp_from.as_deref())?;
        let sealer =
            crate::secrets::load_or_create(&config.data_dir, config.secret_file.as_deref())?;
        let llm = crate::llm::Outbound::new(&config.outbound);
        let (search, needs_rebuild) = SearchIndex::open(&config.index_dir())?;
        if needs_rebuild {
            rebuild_in_background(db.clone(), blobs.clone(), search.clone());
        }
        let (knowledge, needs_rebuild) = KnowledgeIndex::open(&config.knowledge_index_dir())?;
        if needs_rebuild {
            rebuild_knowledge_in_background(db.clone(), knowledge.clone());
        }
        Ok(AppState {
            config: Arc::new(config),
            db,
            blobs,
            limits,
            metrics: Metrics::new(),
            search,
            knowledge,
            mailer,
            clock,
            data_lock,
            sealer,
            llm,
            background: Background::default(),
        })
    }
}

/// Refills a missing or replaced search index from the archives while the server serves.
fn rebuild_in_background(db: Db, blobs: crate::archive::BlobStore, search: SearchIndex) {
    std::thread::Builder::new()
        .name("search-rebuild".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            tracing::info!("search index missing or outdated; rebuilding it from the archives");
            let result = db.read_blocking(|conn| {
                crate::domain::search::rebuild(conn, &blobs, &search)
                    .map_err(crate::domain::DomainError::Fault)
            });
            match result {
                Ok(n) => tracing::info!(
                    sessions = n,
                    seconds = started.elapsed().as_secs_f64(),
                    "search index rebuilt"
                ),
                Err(e) => tracing::error!(error = %e, "search index rebuild failed"),
            }
        })
        .expect("spawn the search rebuild thread");
}

/// Refills a missing, corrupt or outdated knowledge index from the database while serving.
fn rebuild_knowledge_in_background(db: Db, index: KnowledgeIndex) {
    std::thread::Builder::new()
        .name("knowledge-rebuild".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let result = db.read_blocking(|conn| {
                crate::domain::knowledge_index::rebuild(conn, &index)
                    .map_err(crate::domain::DomainError::Fault)
            });
            match result {
                Ok(n) => tracing::info!(
                    documents = n,
                    seconds = started.elapsed().as_secs_f64(),
                    "knowledge index rebuilt"
                ),
                Err(e) => tracing::error!(error = %e, "knowledge index rebuild failed"),
            }
        })
        .expect("spawn the knowledge rebuild thread");
}

/// Tasks spawned off a request's path, tracked by tokio-util's `TaskTracker` so tests can wait
/// until they are done.
#[derive(Clone, Default)]
pub struct Background(tokio_util::task::TaskTracker);

impl Background {
    /// Spawns `task` on the runtime, tracked until it ends.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.spawn(task);
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.0.len()
    }

    /// Resolves once no spawned task runs (at once if none does). For tests: the tracker is
    /// closed while waiting (spawning still works meanwhile) and reopened after.
    pub async fn idle(&self) {
        self.0.close();
        self.0.wait().await;
        self.0.reopen();
    }
}
