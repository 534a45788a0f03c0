//! HTTP routes, one module per area of the API document. Handlers are thin: extract,
//! authorize, call a domain or db function, shape the response.

pub mod access;
pub mod admin;
pub mod agent_runs;
pub mod audit;
pub mod auth;
pub mod autosync;
pub mod billing;
pub mod compile;
pub mod docs;
pub mod errors;
pub mod extract;
pub mod handoffs;
pub mod health;
pub mod knowledge;
pub mod org;
pub mod pages;
pub mod personas;
pub mod projects;
pub mod search;
pub mod service_keys;
pub mod sessions;
pub mod settings;
pub mod share;
pub mod sync;
pub mod tickets;
pub mod uploads;
pub mod wiki;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::openapi::path::{Operation, Paths};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::error::ApiError;
use crate::state::AppState;

/// Every API route with its document entry: each area registers its handlers once, with
/// `OpenApiRouter::routes(routes!(handler))`, and the `#[utoipa::path]` annotation on the
/// handler gives both the route (path, method) and its operation in the document.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(sessions::router())
        .merge(search::router())
        .merge(sync::router())
        .merge(uploads::router())
        .merge(autosync::router())
        .merge(share::router())
        .merge(handoffs::router())
        .merge(projects::router())
        .merge(knowledge::router())
        .merge(personas::router())
        .merge(agent_runs::router())
        .merge(tickets::router())
        .merge(compile::router())
        .merge(wiki::router())
        .merge(org::router())
        .merge(service_keys::router())
        .merge(admin::router())
        .merge(billing::router())
        .merge(settings::router())
        .merge(audit::router())
        .merge(docs::router())
}

/// The axum router of every API route (the OpenAPI half is [`docs::openapi`]).
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(not_found)
}

/// The same handler at a second path (both paths of ruling 2, the trailing-slash spellings the
/// CLI uses): documented as a copy of the first path's operation, with `_alias` appended to its
/// operation id and `note` before its description.
pub fn alias(
    path: &str,
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
    note: &str,
) -> UtoipaMethodRouter<AppState> {
    let mut aliased = Paths::new();
    for (_, mut item) in paths.paths {
        for op in operations(&mut item) {
            op.operation_id = op.operation_id.take().map(|id| format!("{id}_alias"));
            op.description = Some(match op.description.take() {
                Some(d) => format!("{note}\n\n{d}"),
                None => note.to_string(),
            });
        }
        aliased.paths.insert(path.to_string(), item);
    }
    (schemas, aliased, method_router)
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request<Body>,
) -> Response {
    match projects::remote_fallback(&state, request).await {
        Some(response) => response,
        None => ApiError::not_found("Not Found").into_response(),
    }
}

/// Rewrites error responses that did not come from [`ApiError`] (axum's 405, a body-limit 413,
/// a timeout's 408, a rejection's plain text) into the contract's envelope. HTML pages and
/// JSON errors pass through untouched.
pub async fn envelope_errors(request: Request<Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let text = match to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    let mut err = ApiError::new(status, message);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(message = %err.message, "unhandled server error");
        err.message = "Internal server error".into();
    }
    err.into_response()
}

/// The operations of a path item, whatever their methods.
pub(crate) fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
