//! `GET /health` (and `/api/v1/health`): cheap liveness, no auth, no database.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/health", get(health))
}

async fn health() -> Json<Value> {
    Json(
        json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION"), "service": "sessionfs-api"}),
    )
}
