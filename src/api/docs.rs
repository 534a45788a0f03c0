//! API docs: the OpenAPI 3.1 document, generated at build time from the `#[utoipa::path]`
//! annotations on the handlers of every area (`GET /api/openapi.json`), and two readers for it,
//! Swagger UI (`/api/docs/`) and ReDoc (`/api/redoc/`), served from files embedded in the binary.
//!
//! The UI files under `assets/` are the npm registry's `swagger-ui-dist` and `redoc` packages at
//! pinned versions, vendored by `assets/update.sh` (see `assets/versions.txt`), plus our own small
//! `index.html` and `init.js` per UI. Those pages use relative paths only and are configured so
//! that opening them makes no request that leaves the host (no CDN, no fonts, no telemetry, no
//! online validator); `tests/browser.rs` checks that with every non-loopback request blocked.
//!
//! The document is assembled here from what the areas register: each area's `router()` is an
//! `OpenApiRouter` whose `routes!(handler)` take path, method and operation from the handler's
//! `#[utoipa::path]`, and whose request and response bodies are the area's own `ToSchema` types,
//! the same ones the handlers build. [`openapi`] adds the info, the `bearer` scheme and the tags
//! of [`ApiDoc`], then the [`Contract`]. Types whose name ends in `Request` describe bodies a
//! client sends (optional fields may be left out); every other object lists fields the server
//! always sends, with `null` where the type allows it — `Contract` marks all of their
//! properties required. Routes that answer one handler on two paths register the second with
//! `api::alias`.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, Schema};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api;
use crate::api::errors::{AuthErrors, ErrorBody, ErrorEnvelope, ValidationIssue};
use crate::error::ApiError;
use crate::state::AppState;

static SWAGGER_UI: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/swagger-ui");
static REDOC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/redoc");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(swagger_redirect))
        .routes(routes!(swagger_index))
        .routes(routes!(swagger_file))
        .routes(routes!(redoc_redirect))
        .routes(routes!(redoc_index))
        .routes(routes!(redoc_file))
}

/// The document as served, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The OpenAPI document of this server: what every area registered in [`api::routes`], with
/// the info, security scheme and tags of [`ApiDoc`] and the [`Contract`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(api::routes().into_openapi());
    Contract.modify(&mut doc);
    doc
}

#[utoipa::path(
    get, path = "/api/openapi.json", tag = "docs", operation_id = "openapi_document",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 description of every route of this server, generated from the code.",
    responses((status = 200, description = "The document", content_type = "application/json", body = Object)),
    security(),
)]
async fn openapi_json() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[utoipa::path(
    get, path = "/api/docs", tag = "docs", operation_id = "swagger_ui_redirect",
    summary = "Swagger UI (redirect)",
    description = "Redirects to `/api/docs/`, so the page's relative asset paths resolve.",
    responses((status = 308, description = "Redirect to `docs/`", headers(("Location" = String)))),
    security(),
)]
async fn swagger_redirect() -> Redirect {
    Redirect::permanent("docs/")
}

#[utoipa::path(
    get, path = "/api/docs/", tag = "docs", operation_id = "swagger_ui",
    summary = "Swagger UI",
    description = "Swagger UI for this document, from files embedded in the binary; nothing is loaded from another host.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)),
    security(),
)]
async fn swagger_index(headers: HeaderMap) -> Response {
    embedded("swagger-ui", "index.html", &headers)
}

#[utoipa::path(
    get, path = "/api/docs/{file}", tag = "docs", operation_id = "swagger_ui_asset",
    summary = "Swagger UI asset",
    params(("file" = String, Path, description = "A file of the embedded Swagger UI", example = "swagger-ui.css")),
    responses(
        (status = 200, description = "The file; `ETag` is its SHA-256", headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, description = "No such file")
    ),
    security(),
)]
async fn swagger_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    embedded("swagger-ui", &file, &headers)
}

#[utoipa::path(
    get, path = "/api/redoc", tag = "docs", operation_id = "redoc_redirect",
    summary = "ReDoc (redirect)",
    description = "Redirects to `/api/redoc/`, so the page's relative asset paths resolve.",
    responses((status = 308, description = "Redirect to `redoc/`", headers(("Location" = String)))),
    security(),
)]
async fn redoc_redirect() -> Redirect {
    Redirect::permanent("redoc/")
}

#[utoipa::path(
    get, path = "/api/redoc/", tag = "docs", operation_id = "redoc",
    summary = "ReDoc",
    description = "ReDoc for this document, from files embedded in the binary, telemetry off; nothing is loaded from another host.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)),
    security(),
)]
async fn redoc_index(headers: HeaderMap) -> Response {
    embedded("redoc", "index.html", &headers)
}

#[utoipa::path(
    get, path = "/api/redoc/{file}", tag = "docs", operation_id = "redoc_asset",
    summary = "ReDoc asset",
    params(("file" = String, Path, description = "A file of the embedded ReDoc", example = "redoc.standalone.js")),
    responses(
        (status = 200, description = "The file; `ETag` is its SHA-256", headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, description = "No such file")
    ),
    security(),
)]
async fn redoc_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    embedded("redoc", &file, &headers)
}

/// Quoted SHA-256 ETags of the embedded files by (UI, file name), computed on first use.
static ETAGS: LazyLock<HashMap<(&'static str, String), String>> = LazyLock::new(|| {
    [("swagger-ui", &SWAGGER_UI), ("redoc", &REDOC)]
        .into_iter()
        .flat_map(|(ui, dir)| dir.files().map(move |f| (ui, f)))
        .map(|(ui, f)| {
            let name = f.path().to_string_lossy().into_owned();
            let digest = hex::encode(Sha256::digest(f.contents()));
            ((ui, name), format!("\"{digest}\""))
        })
        .collect()
});

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// One embedded file of a UI (`swagger-ui` or `redoc`), with its ETag; 304 when the client
/// has it already.
fn embedded(ui: &'static str, name: &str, headers: &HeaderMap) -> Response {
    let dir = if ui == "redoc" { &REDOC } else { &SWAGGER_UI };
    let (Some(file), Some(etag)) = (dir.get_file(name), ETAGS.get(&(ui, name.to_string()))) else {
        return ApiError::not_found("No such docs file").into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag.as_str()));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(name))],
            file.contents(),
        )
            .into_response()
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

/// The docs pages may load and call only this server. Beyond what their configuration already
/// keeps local, this stops what no option turns off: ReDoc's sidebar credit is an `<img>` from
/// Redocly's CDN, which the browser now refuses without sending a request.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// ---------------------------------------------------------------------------------------------
// The document.

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SessionFS server API",
        version = env!("CARGO_PKG_VERSION"),
        description = "The HTTP API of a self-hosted SessionFS server, wire-compatible with the `sfs` \
client (sessionfs 0.26.0).\n\nAuthenticate with an API key (`sk_sfs_…`) as a Bearer token: \
`Authorization: Bearer sk_sfs_…`. `POST /api/v1/auth/signup` returns the first key. Routes marked \
without security are public. Every error uses one envelope: \
`{\"error\": {\"code\", \"message\", \"details\"}}`.",
        license(name = "MIT"),
    ),
    components(schemas(ErrorEnvelope, ErrorBody, ValidationIssue)),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "auth", description = "Accounts, email verification and user API keys."),
        (name = "sessions", description = "The caller's sessions: list, detail, upload, rename, alias, soft delete and restore, messages, summary."),
        (name = "sync", description = "Push and pull of `.sfs` session archives, with ETags."),
        (name = "search", description = "Full-text search over the caller's sessions."),
        (name = "share", description = "Share links, and the archive, JSON view and page a link opens (public, by token)."),
        (name = "autosync", description = "Sync settings, the watchlist, sync status and the daemon's capture health."),
        (name = "handoffs", description = "Handing a session to a teammate: create, inbox, claim, revoke, decline, comments, events."),
        (name = "projects", description = "Per-repository projects: found by git remote, with a context document agents read."),
        (name = "knowledge", description = "A project's knowledge entries: add, list, get, dismiss."),
        (name = "personas", description = "Agent personas of a project or an org: named roles with their own instructions."),
        (name = "agent_runs", description = "Agent runs of a project: queued, started with the compiled context, completed with findings and a policy result."),
        (name = "tickets", description = "Agent tickets: both status machines, the start lease, the audited update, comments."),
        (name = "orgs", description = "Organizations: members, roles, invites, the default org."),
        (name = "service-keys", description = "Org-scoped, scope-restricted keys for CI runners and agents."),
        (name = "admin", description = "Platform-admin routes."),
        (name = "billing", description = "Plan status; checkout and portal do not apply to a self-hosted server."),
        (name = "docs", description = "This document and the pages that show it."),
    ),
)]
struct ApiDoc;

/// What the annotations do not say: the Bearer scheme, the envelope body of every error answer,
/// the [`AuthErrors`] every authenticated operation can answer, and which properties are
/// always present.
struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_sfs_ + 32 hex")
                    .description(Some(
                        "An API key: a user key (from signup, `/api/v1/auth/keys` or \
                         `/api/v1/auth/me/api-keys`) or, on routes that list scopes, a service key \
                         holding one of them.",
                    ))
                    .build(),
            ),
        );
        for schema in components
            .schemas
            .iter_mut()
            .filter_map(|(name, s)| (!name.ends_with("Request")).then_some(s))
        {
            require_all(schema);
        }

        let envelope = ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "ErrorEnvelope",
            ))))
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in api::operations(item) {
                let responses = &mut op.responses.responses;
                for (status, response) in responses.iter_mut() {
                    let error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(response)) = (error, response) {
                        if response.content.is_empty() {
                            response
                                .content
                                .insert("application/json".into(), envelope.clone());
                        }
                    }
                }
                if op.security.as_ref().is_some_and(Vec::is_empty) {
                    continue; // public
                }
                for (status, response) in AuthErrors::responses() {
                    responses.entry(status).or_insert(response);
                }
            }
        }
    }
}

/// Marks every property of an object schema (or of each part of an `allOf`) required.
fn require_all(schema: &mut RefOr<Schema>) {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            object.required = object.properties.keys().cloned().collect();
        }
        RefOr::T(Schema::AllOf(all)) => all.items.iter_mut().for_each(require_all),
        _ => {}
    }
}
