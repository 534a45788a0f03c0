//! Health: `GET /health` (and `/api/v1/health`) is cheap liveness — no database, no disk.
//! `GET /health/ready` is readiness: the database answers and the archive store is there (503
//! with what failed otherwise). It also reports the search index's real state (`ok`,
//! `rebuilding`, or `stale` after a failed commit, with a rebuild scheduled); the index is
//! derived data and searches still answer from its last commit, so that state alone does not
//! make the server unready. The caller needs no key, so no OS error text is ever shown: the
//! detail goes to the log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api;
use crate::search::IndexState;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(api::alias(
            "/api/v1/health",
            routes!(health),
            "Same as `GET /health`.",
        ))
        .routes(routes!(ready))
}

#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    summary = "Liveness",
    description = "Answers without touching the database or the disk: for liveness probes. \
`sfs auth login` and `sfs doctor` call it.",
    responses((status = 200, description = "The server is up", body = Health)),
    security(),
)]
async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy",
        version: env!("CARGO_PKG_VERSION"),
        service: "sessionfs-api",
    })
}

#[utoipa::path(
    get, path = "/health/ready", tag = "health", operation_id = "ready",
    summary = "Readiness",
    description = "Checks the database and the archive store, and reports the search index's state \
(`ok`, `rebuilding`, `stale…`; a stale index does not fail readiness).",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: `checks` says which check failed", body = Readiness),
    ),
    security(),
)]
async fn ready(State(state): State<AppState>) -> Response {
    let database = match state
        .db
        .read(|conn| {
            Ok::<_, crate::error::ApiError>(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
        })
        .await
    {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {}", e.message),
    };
    let store = state.blobs.root().to_path_buf();
    let archive_store = match tokio::fs::metadata(store.join("tmp")).await {
        Ok(meta) if meta.is_dir() => "ok".to_string(),
        Ok(_) => "error: archive temp directory is not a directory".to_string(),
        Err(e) => {
            tracing::error!(error = %e, dir = %store.display(), "readiness: archive store unusable");
            "error: archive store unusable (see the server log)".to_string()
        }
    };
    let healthy = database == "ok" && archive_store == "ok";
    let search_index = match state.search.state() {
        IndexState::Stale => "stale: a commit failed; a rebuild is scheduled",
        other => other.as_str(),
    };
    let checks = ReadinessChecks {
        database,
        archive_store,
        search_index: search_index.to_string(),
    };
    let (status, word) = if healthy {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body = Readiness {
        status: word,
        checks,
        writer_queue_depth: state.db.writer_queue_depth() as u64,
        search_index_lag: state.search.pending() as u64,
    };
    (status, Json(body)).into_response()
}

/// Liveness.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "healthy")]
    pub status: &'static str,
    pub version: &'static str,
    #[schema(example = "sessionfs-api")]
    pub service: &'static str,
}

/// Readiness: each check is `ok` or `error: …`.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub checks: ReadinessChecks,
    /// Writes waiting for the database writer.
    pub writer_queue_depth: u64,
    /// Sessions waiting to be (re)indexed.
    pub search_index_lag: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: String,
    pub archive_store: String,
    pub search_index: String,
}
