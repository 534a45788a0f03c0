//! The HTTP server: router, middleware stack, background upkeep, graceful shutdown.
//!
//! [`serve`] is the one seam tests and `main` share: it takes a bound listener and a shutdown
//! future, so tests run the real stack on `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

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
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api;
use crate::config::Config;
use crate::state::AppState;

/// The full application: routes plus middleware.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let mut router = api::router()
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
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
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
    router
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
    let limits = state.limits.clone();
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.prune();
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
    if let Some(task) = metrics_task {
        task.abort();
    }
    result
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
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
