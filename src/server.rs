//! The HTTP server: router, middleware stack, background upkeep, graceful shutdown.
//!
//! [`serve`] is the one seam tests and `main` share: it takes a bound listener and a shutdown
//! future, so tests run the real stack on `127.0.0.1:0`.
//!
//! **Lingering close.** hyper reads a request body only when the handler asks for it; when a
//! handler answers early (a 409 on a stale `If-Match`, a 401, a 413 on a declared length) and
//! drops the body, hyper drains what is already buffered once and then closes the socket with
//! the rest of the upload unread, and the kernel answers that with a reset that can overtake the
//! response (hyperium/hyper#2384, #3078): the client sees `ReadError` instead of the envelope.
//! [`linger`] does what nginx's lingering close does, for every route at once: it shares the
//! request body with the handler, and when the response is ready while the body is not finished,
//! a detached task keeps reading and discarding it for at most [`LINGER_TIME`] and the largest
//! upload cap. hyper writes the response meanwhile; the connection then closes (or is reused)
//! with nothing unread.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api;
use crate::config::Config;
use crate::state::AppState;

/// The full application: routes plus middleware.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let linger_bytes = config.max_sync_bytes.max(api::sync::UPLOAD_CAP);
    // The dashboard's pages beside the API (its routes are not API operations: they stay out
    // of the OpenAPI document and answer HTML).
    let mut router = api::router()
        .merge(crate::web::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            track_requests,
        ))
        .with_state(state)
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(middleware::from_fn(api::envelope_errors))
        .layer(
            TraceLayer::new_for_http()
                // Method and path only: a query string can carry what must never reach a log
                // (a key pasted into `?api_key=`, share passwords, tokens).
                .make_span_with(|request: &axum::http::Request<_>| {
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        version = ?request.version(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers(tower_http::cors::Any)
                .expose_headers([HeaderName::from_static("etag")]),
        );
    }
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        linger(request, next, linger_bytes)
    }))
}

/// How long an unread request body is still read (and discarded) after the response.
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// A request body shared between the handler and [`linger`]: the handler may drop its side
/// at any time, the rest stays readable. Remembers whether the end was reached.
struct SharedBody(Arc<Mutex<(Body, bool)>>);

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (body, ended) = &mut *guard;
        let frame = Pin::new(body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            *ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1 || guard.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.size_hint()
    }
}

/// Lingering close: see the module doc. Requests without a body pass straight through.
async fn linger(request: Request, next: Next, max_bytes: u64) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let shared = Arc::new(Mutex::new((body, false)));
    let request = Request::from_parts(parts, Body::new(SharedBody(shared.clone())));
    let response = next.run(request).await;
    let rest = {
        let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let (body, ended) = &mut *guard;
        if *ended || body.is_end_stream() {
            return response;
        }
        std::mem::replace(body, Body::empty())
    };
    tokio::spawn(async move {
        let mut rest = rest.into_data_stream();
        let mut discarded = 0u64;
        let drained = tokio::time::timeout(LINGER_TIME, async {
            while let Some(chunk) = futures_util::StreamExt::next(&mut rest).await {
                match chunk {
                    Ok(bytes) => discarded += bytes.len() as u64,
                    Err(_) => return false,
                }
                if discarded > max_bytes {
                    return false;
                }
            }
            true
        })
        .await;
        if drained != Ok(true) {
            tracing::debug!(
                discarded,
                "stopped reading an unread request body; closing the connection"
            );
        }
    });
    response
}

/// Hands the memory glibc's malloc holds free back to the system (`malloc_trim`): after a burst
/// of large pushes the freed buffers otherwise stay resident for good. Once a minute, on the
/// blocking pool (it walks the heaps).
async fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of malloc's heaps; it is thread-safe.
    let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
}

/// Counts each routed request by its route template (never the raw path, so ids do not
/// multiply the series) and status, and times it.
async fn track_requests(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = matched
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    state.metrics.observe_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics` on the metrics listener.
async fn metrics(State(state): State<AppState>) -> Response {
    let totals = state.db.read(crate::db::sessions::storage_totals).await;
    let Ok((sessions, stored_archives, stored_bytes)) = totals else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let gauges = crate::metrics::Gauges {
        sessions,
        stored_archives,
        stored_bytes,
        index_lag: state.search.pending() as i64,
        writer_queue: state.db.writer_queue_depth() as i64,
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
        .into_response()
}

/// The metrics listener's router.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests.
/// With a `metrics` listener, Prometheus metrics are served there for as long.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics_task = metrics.map(|listener| {
        let app = metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(error = %err, "metrics listener failed");
            }
        })
    });
    let audits = api::audit::deps(&state);
    tokio::spawn(async move {
        match crate::domain::audit::resume_jobs(&audits).await {
            Ok((0, 0)) => {}
            Ok((resumed, failed)) => {
                tracing::info!(
                    resumed,
                    failed,
                    "background audits left running by the last process"
                )
            }
            Err(err) => tracing::error!(error = %err, "cannot resume background audits"),
        }
        match crate::domain::settings::unreadable_secrets(&audits.db, &audits.sealer).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "stored judge keys / GitLab tokens were sealed under another install secret (a \
                 data dir restored without its secret.key, or a different --secret-file): they \
                 cannot be used until their owners save them again"
            ),
            Err(err) => tracing::error!(error = %err, "cannot check stored secrets"),
        }
    });
    let upkept = state.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            upkept.limits.prune();
            repair_search(&upkept).await;
            crate::domain::knowledge_index::repair(&upkept.db, &upkept.knowledge).await;
            let (db, blobs, clock) = (&upkept.db, &upkept.blobs, &upkept.clock);
            match crate::domain::uploads::sweep(db, blobs, clock).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(uploads = n, "removed expired chunked uploads"),
                Err(err) => tracing::error!(error = %err, "expired upload cleanup failed"),
            }
            release_free_memory().await;
        }
    });
    let gc_state = state.clone();
    let gc = tokio::spawn(async move {
        let mut tick = tokio::time::interval(GC_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(err) = collect_archives(&gc_state).await {
                tracing::error!(error = %err, "archive garbage collection failed");
            }
        }
    });
    // Responses go out as several writes (headers, then the streamed archive); without
    // TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to every pull.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    upkeep.abort();
    gc.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    result
}

/// Rebuilds the search index from the archives when a failed commit left it stale. Returns
/// whether a rebuild ran and succeeded.
pub async fn repair_search(state: &AppState) -> bool {
    if !state.search.begin_repair() {
        return false;
    }
    tracing::warn!("search index is stale after a failed commit; rebuilding it from the archives");
    let (db, blobs, search) = (state.db.clone(), state.blobs.clone(), state.search.clone());
    let result = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| {
            crate::domain::search::rebuild(conn, &blobs, &search)
                .map_err(crate::error::ApiError::internal)
        })
    })
    .await;
    match result {
        Ok(Ok(n)) => {
            tracing::info!(sessions = n, "search index rebuilt");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e.message, "search index rebuild failed; retrying later");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "search index rebuild task failed; retrying later");
            false
        }
    }
}

/// How often the background task collects unreferenced archives.
pub const GC_INTERVAL: Duration = Duration::from_secs(600);

/// One garbage collection of the archive store (see `archive::gc`), on the blocking pool.
pub async fn collect_archives(
    state: &AppState,
) -> crate::error::ApiResult<crate::archive::gc::Collected> {
    let (db, blobs, grace) = (state.db.clone(), state.blobs.clone(), state.config.gc_grace);
    let done = tokio::task::spawn_blocking(move || {
        crate::archive::gc::collect(&blobs, grace, |hash| {
            let named = db.read_blocking(|conn| crate::db::sessions::names_blob(conn, hash))?;
            Ok::<_, crate::domain::DomainError>(named)
        })
    })
    .await??;
    if done.removed > 0 {
        tracing::info!(
            removed = done.removed,
            bytes = done.removed_bytes,
            scanned = done.scanned,
            "removed archives no session names"
        );
    }
    Ok(done)
}

/// A server ready to run: its state and its bound listeners.
pub struct Started {
    pub state: AppState,
    pub api: TcpListener,
    pub metrics: Option<TcpListener>,
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Opens the data dir and binds the configured addresses.
pub async fn start(config: Config) -> Result<Started, String> {
    let (api_addr, metrics_addr) = (config.bind, config.metrics_bind);
    let state = AppState::open(config)?;
    let api = bind(api_addr).await?;
    let metrics = match metrics_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    Ok(Started {
        state,
        api,
        metrics,
    })
}

/// Completes on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // The handlers are installed now, not when the future is first polled: `main` tells systemd
    // READY=1 before serving, and a SIGTERM in between must drain, not kill the process.
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(terminate) => {},
                _ = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
