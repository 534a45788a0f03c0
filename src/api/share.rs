//! Share links: create and revoke (owner), open by token (anyone with the link): the raw
//! archive for tools, JSON for scripts, and a page for people at the link's `public_url`.

use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::OptionalJson;
use crate::api::pages::{self, ConversationHeader};
use crate::api::sync::{stream_archive, GzipArchive};
use crate::archive::messages::PageRequest;
use crate::auth::Principal;
use crate::db::sessions::{SessionRow, Visibility};
use crate::domain::sessions as session_rules;
use crate::domain::shares::{self, MAX_EXPIRY_HOURS};
use crate::domain::DomainError;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most messages a share page or view shows.
const SHOWN_MESSAGES: usize = 2000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(revoke))
        .routes(routes!(archive_open, archive_with_password))
        .routes(routes!(view_open, view_with_password))
        .routes(routes!(page_open, page_with_password))
}

#[derive(Deserialize, ToSchema)]
pub struct ShareLinkRequest {
    /// 1–720; default 24.
    #[serde(default = "default_hours")]
    #[schema(value_type = Option<i64>)]
    pub expires_in_hours: i64,
    /// At most 256 characters; opening the link then needs it.
    pub password: Option<String>,
}

impl Default for ShareLinkRequest {
    fn default() -> Self {
        ShareLinkRequest {
            expires_in_hours: default_hours(),
            password: None,
        }
    }
}

fn default_hours() -> i64 {
    24
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/share", tag = "share", operation_id = "create_share_link",
    summary = "Create a share link",
    description = "A link to one session for anyone who has it, optionally password-protected, expiring \
after at most 30 days. The body may be empty. Needs a verified email.",
    params(("id" = String, Path, description = "Session id or alias")),
    request_body(content = Option<ShareLinkRequest>, description = "Optional"),
    responses(
        (status = 201, description = "The link", body = ShareLink),
        (status = 403, description = "Email not verified"),
        (status = 404, description = "No such live session of the caller"),
        (status = 422, description = "`expires_in_hours` out of range, or password too long"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ShareLinkRequest>,
) -> ApiResult<Response> {
    principal.require_verified()?;
    check_request(body.expires_in_hours, body.password.as_deref())?;
    let session =
        session_rules::find_owned(&state.db, &principal.user.id, &id, Visibility::Live).await?;
    let link = shares::create(
        &state.db,
        &state.clock,
        &session,
        body.expires_in_hours,
        body.password,
    )
    .await?;
    tracing::info!(session = %session.id, link = %link.link_id, "share link created");
    let (url, public_url) = share_urls(&state, &link.token);
    let body = ShareLink {
        link_id: link.link_id,
        url,
        public_url,
        expires_at: link.expires_at,
        has_password: link.has_password,
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The rules of a share request (also the dashboard's): expiry in 1–720 hours, a password of
/// at most 256 characters.
pub(crate) fn check_request(expires_in_hours: i64, password: Option<&str>) -> ApiResult<()> {
    if !(1..=MAX_EXPIRY_HOURS).contains(&expires_in_hours) {
        return Err(ApiError::validation(
            "less_than_equal",
            &["body", "expires_in_hours"],
            format!("Input should be between 1 and {MAX_EXPIRY_HOURS}"),
            Value::from(expires_in_hours),
        ));
    }
    if password.is_some_and(|p| p.chars().count() > 256) {
        return Err(ApiError::validation(
            "string_too_long",
            &["body", "password"],
            "String should have at most 256 characters",
            Value::Null,
        ));
    }
    Ok(())
}

/// A link's archive URL and its page for people (`/s/{token}`).
pub(crate) fn share_urls(state: &AppState, token: &str) -> (String, String) {
    let base = &state.config.public_url;
    (
        format!("{base}/api/v1/sessions/share/{token}"),
        format!("{base}/s/{token}"),
    )
}

#[utoipa::path(
    delete, path = "/api/v1/sessions/{id}/share/{link_id}", tag = "share", operation_id = "revoke_share_link",
    summary = "Revoke a share link",
    params(
        ("id" = String, Path, description = "Session id or alias"),
        ("link_id" = String, Path, description = "The link's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such link on a session of the caller"),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, link_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let session = session_rules::find_owned(
        &state.db,
        &principal.user.id,
        &id,
        Visibility::LiveOrDeleted,
    )
    .await
    .map_err(|e| match e {
        DomainError::NotFound(_) => ApiError::not_found("Share link not found"),
        e => e.into(),
    })?;
    shares::revoke(
        &state.db,
        &state.clock,
        &principal.user.id,
        &session.id,
        &link_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, ToSchema)]
pub struct SharePasswordRequest {
    pub password: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/sessions/share/{token}", tag = "share", operation_id = "open_share_archive",
    summary = "A shared session's archive",
    description = "For tools. A link with a password answers 401; send it with POST.",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The archive", content_type = "application/gzip", body = GzipArchive,
            headers(("ETag" = String, description = "The archive's SHA-256, quoted"))),
        (status = 401, description = "The link needs a password"),
        (status = 404, description = "No such link"),
        (status = 410, description = "The link expired or was revoked, or the session was deleted"),
        (status = 429, description = "Too many wrong passwords"),
    ),
    security(),
)]
async fn archive_open(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let session = shares::open(&state.db, &state.clock, &state.limits, &token, None).await?;
    stream_archive(&state, &session.blob_hash).await
}

#[utoipa::path(
    post, path = "/api/v1/sessions/share/{token}", tag = "share", operation_id = "open_share_archive_with_password",
    summary = "A shared session's archive, with the link's password",
    params(("token" = String, Path, description = "The link's token")),
    request_body(content = Option<SharePasswordRequest>, description = "The password, for a protected link"),
    responses(
        (status = 200, description = "The archive", content_type = "application/gzip", body = GzipArchive,
            headers(("ETag" = String, description = "The archive's SHA-256, quoted"))),
        (status = 401, description = "Missing or wrong password"),
        (status = 404, description = "No such link"),
        (status = 410, description = "The link expired or was revoked, or the session was deleted"),
        (status = 429, description = "Too many wrong passwords"),
    ),
    security(),
)]
async fn archive_with_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    OptionalJson(body): OptionalJson<SharePasswordRequest>,
) -> ApiResult<Response> {
    let session = shares::open(
        &state.db,
        &state.clock,
        &state.limits,
        &token,
        body.password,
    )
    .await?;
    stream_archive(&state, &session.blob_hash).await
}

/// The visible messages of a shared session, at most [`SHOWN_MESSAGES`], and how many there are.
async fn shown_messages(state: &AppState, session: &SessionRow) -> ApiResult<(Vec<Value>, usize)> {
    let blobs = state.blobs.clone();
    let hash = session.blob_hash.clone();
    let req = PageRequest {
        page: 1,
        page_size: SHOWN_MESSAGES,
        newest_first: false,
        around: None,
    };
    let page = tokio::task::spawn_blocking(move || {
        blobs
            .message_index()
            .read_page(&hash, || blobs.open_blob_sync(&hash), req)
    })
    .await??;
    Ok(page.map(|p| (p.messages, p.total)).unwrap_or_default())
}

fn private(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

/// Failures of the JSON view all look alike (404), so a link reveals nothing about its state.
async fn view(state: &AppState, token: &str, password: Option<String>) -> ApiResult<Response> {
    let session = match shares::open(&state.db, &state.clock, &state.limits, token, password).await
    {
        Ok(session) => session,
        Err(
            e @ (DomainError::PasswordRequired
            | DomainError::WrongPassword
            | DomainError::TooMany { .. }),
        ) => return Err(e.into()),
        Err(_) => return Err(ApiError::not_found("Share link not found")),
    };
    let (messages, _) = shown_messages(state, &session).await?;
    let body = SharedSessionView {
        title: session.title,
        tool: session.source_tool,
        model: session.model_id,
        created_at: session.created_at,
        message_count: session.message_count,
        messages,
        owner_display_name: None,
    };
    Ok(private(axum::Json(body).into_response()))
}

#[utoipa::path(
    get, path = "/api/v1/share/{token}/view", tag = "share", operation_id = "view_share",
    summary = "A shared session as JSON",
    description = "Title, tool, model and up to 2000 messages. Every failure other than a password one is the same 404.",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The session", body = SharedSessionView),
        (status = 401, description = "The link needs a password"),
        (status = 404, description = "No usable link"),
        (status = 429, description = "Too many wrong passwords"),
    ),
    security(),
)]
async fn view_open(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    view(&state, &token, None).await
}

#[utoipa::path(
    post, path = "/api/v1/share/{token}/view", tag = "share", operation_id = "view_share_with_password",
    summary = "A shared session as JSON, with the link's password",
    params(("token" = String, Path, description = "The link's token")),
    request_body(content = Option<SharePasswordRequest>, description = "The password, for a protected link"),
    responses(
        (status = 200, description = "The session", body = SharedSessionView),
        (status = 401, description = "Missing or wrong password"),
        (status = 404, description = "No usable link"),
        (status = 429, description = "Too many wrong passwords"),
    ),
    security(),
)]
async fn view_with_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    OptionalJson(body): OptionalJson<SharePasswordRequest>,
) -> ApiResult<Response> {
    view(&state, &token, body.password).await
}

/// The page at a link's `public_url`.
async fn page(state: &AppState, token: &str, password: Option<String>) -> Response {
    let tried = password.is_some();
    let session = match shares::open(&state.db, &state.clock, &state.limits, token, password).await
    {
        Ok(session) => session,
        Err(e) => {
            let e = ApiError::from(e);
            let (status, html) = match e.status {
                StatusCode::UNAUTHORIZED => (
                    StatusCode::UNAUTHORIZED,
                    pages::password_form(&format!("/s/{token}"), tried),
                ),
                StatusCode::TOO_MANY_REQUESTS => {
                    (e.status, pages::notice("Too many attempts", &e.message))
                }
                StatusCode::GONE => (
                    e.status,
                    pages::notice("This link is no longer available", &e.message),
                ),
                StatusCode::NOT_FOUND => (
                    e.status,
                    pages::notice("Link not found", "This share link does not exist."),
                ),
                _ => (
                    e.status,
                    pages::notice("Something went wrong", "Try again later."),
                ),
            };
            return pages::respond(status, html);
        }
    };
    match shown_messages(state, &session).await {
        Ok((messages, total)) => {
            let head = ConversationHeader {
                title: session.title.as_deref().unwrap_or("Untitled session"),
                tool: &session.source_tool,
                model: session.model_id.as_deref(),
                created_at: &session.created_at,
                message_count: session.message_count,
            };
            pages::respond(StatusCode::OK, pages::conversation(&head, &messages, total))
        }
        Err(_) => pages::respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::notice("Something went wrong", "The session could not be read."),
        ),
    }
}

#[utoipa::path(
    get, path = "/s/{token}", tag = "share", operation_id = "share_page",
    summary = "A shared session as a page",
    description = "The link's `public_url`: the conversation as a self-contained HTML page, or a password form.",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The conversation", content_type = "text/html", body = String),
        (status = 401, description = "The password form", content_type = "text/html", body = String),
        (status = 404, description = "No such link", content_type = "text/html", body = String),
        (status = 410, description = "The link is no longer available", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong passwords", content_type = "text/html", body = String),
    ),
    security(),
)]
async fn page_open(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    page(&state, &token, None).await
}

#[utoipa::path(
    post, path = "/s/{token}", tag = "share", operation_id = "share_page_with_password",
    summary = "A shared session as a page, with the link's password",
    description = "What the password form posts.",
    params(("token" = String, Path, description = "The link's token")),
    request_body(content = SharePasswordRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The conversation", content_type = "text/html", body = String),
        (status = 401, description = "The password form again (wrong password)", content_type = "text/html", body = String),
        (status = 404, description = "No such link", content_type = "text/html", body = String),
        (status = 410, description = "The link is no longer available", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong passwords", content_type = "text/html", body = String),
    ),
    security(),
)]
async fn page_with_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<SharePasswordRequest>,
) -> Response {
    page(&state, &token, Some(form.password.unwrap_or_default())).await
}

/// A new share link.
#[derive(Serialize, ToSchema)]
pub struct ShareLink {
    pub link_id: String,
    /// The archive, for tools: `…/api/v1/sessions/share/{token}`.
    pub url: String,
    /// The page, for people: `…/s/{token}`.
    pub public_url: String,
    pub expires_at: String,
    pub has_password: bool,
}

/// A shared session as JSON (at most 2000 messages).
#[derive(Serialize, ToSchema)]
pub struct SharedSessionView {
    pub title: Option<String>,
    pub tool: String,
    pub model: Option<String>,
    pub created_at: String,
    pub message_count: i64,
    pub messages: Vec<Value>,
    pub owner_display_name: Option<String>,
}
