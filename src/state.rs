//! `AppState`: what every handler can reach.

use std::sync::Arc;

use crate::archive::BlobStore;
use crate::auth::rate_limit::Limiters;
use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub blobs: BlobStore,
    pub limits: Arc<Limiters>,
}

impl AppState {
    /// Opens the data dir (database, archive store) for serving.
    pub fn open(config: Config) -> Result<AppState, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create data dir {}: {e}", config.data_dir.display()))?;
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
        Ok(AppState {
            config: Arc::new(config),
            db,
            blobs,
            limits,
        })
    }
}
