//! The web dashboard: server-rendered pages for people, in the same binary as the API.
//!
//! - **Templates** are [maud](https://maud.lambda.xyz) macros: Rust code checked by the
//!   compiler (a typo in a field is a build error), escaping every interpolated value by
//!   default, and no template files to ship or find at run time.
//! - **Same rules as the API.** Handlers here are thin like the API's: they extract the signed-in
//!   user ([`auth::WebUser`]) and call the same domain functions (and the same validation
//!   helpers) the API routes call; nothing here decides who may see or change what.
//! - **Sign-in** pastes an API key (field `api_key`); the server opens a browser session (V12,
//!   `crate::domain::browser_sessions`) and the browser keeps only its random id in an
//!   HttpOnly, SameSite=Strict cookie (Secure when `--public-url` is https). Every form carries
//!   the session's synchronizer token (field `csrf_token`), checked by [`auth::CsrfForm`].
//! - **Assets** (`assets/web/`: one stylesheet, a few lines of script) are embedded with
//!   include_dir; every page carries a CSP that allows only this server's own files.
//! - **Adding a page**: a module in `src/web/pages/`, its routes in [`router`], and (for a
//!   top-level page) one line in [`layout::NAV`].

pub mod auth;
mod chart;
mod conversation;
mod layout;
mod pages;

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use include_dir::{include_dir, Dir};
use maud::Markup;

use crate::error::ApiError;
use crate::state::AppState;

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/web");

/// Every page and form of the dashboard. Pages live under `/ui/` except the home page `/`.
pub fn router() -> Router<AppState> {
    use pages::*;
    Router::new()
        .route("/", get(sessions::home))
        .route("/ui", get(|| async { Redirect::to("/") }))
        .route(
            "/ui/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/ui/sign-out", post(account::sign_out))
        .route("/ui/account", get(account::page))
        .route(
            "/ui/account/browser-sessions/{handle}/revoke",
            post(account::revoke_browser_session),
        )
        .route("/ui/search", get(search::page))
        .route("/ui/sessions/{id}", get(sessions::view))
        .route("/ui/sessions/{id}/edit", post(sessions::edit))
        .route("/ui/sessions/{id}/alias", post(sessions::set_alias))
        .route("/ui/sessions/{id}/delete", post(sessions::delete))
        .route("/ui/sessions/{id}/restore", post(sessions::restore))
        .route("/ui/sessions/{id}/share", post(sessions::share))
        .route(
            "/ui/sessions/{id}/share/{link_id}/revoke",
            post(sessions::revoke_share),
        )
        .route("/ui/sessions/{id}/handoff", post(handoffs::create))
        .route("/ui/handoffs", get(handoffs::list))
        .route("/ui/handoffs/{id}", get(handoffs::view))
        .route("/ui/handoffs/{id}/claim", post(handoffs::claim))
        .route("/ui/handoffs/{id}/decline", post(handoffs::decline))
        .route("/ui/handoffs/{id}/revoke", post(handoffs::revoke))
        .route("/ui/handoffs/{id}/comment", post(handoffs::comment))
        .route("/ui/keys", get(keys::page).post(keys::create))
        .route("/ui/keys/{id}/revoke", post(keys::revoke))
        .route("/ui/org", get(org::page))
        .route("/ui/org/invite", post(org::invite))
        .route("/ui/org/members/{user_id}/role", post(org::change_role))
        .route("/ui/org/members/{user_id}/remove", post(org::remove_member))
        .route("/ui/org/invites/{id}/delete", post(org::delete_invite))
        .route("/ui/org/invites/{id}/accept", post(org::accept))
        .route("/ui/org/invites/{id}/decline", post(org::decline))
        .route("/ui/projects", get(projects::list))
        .route("/ui/projects/{id}", get(projects::view))
        .route(
            "/ui/projects/{id}/tickets",
            get(tickets::list).post(tickets::create),
        )
        .route("/ui/projects/{id}/tickets/{ticket_id}", get(tickets::view))
        .route(
            "/ui/projects/{id}/tickets/{ticket_id}/move",
            post(tickets::move_ticket),
        )
        .route(
            "/ui/projects/{id}/tickets/{ticket_id}/comment",
            post(tickets::comment),
        )
        .route(
            "/ui/projects/{id}/personas",
            get(personas::project_list).post(personas::project_create),
        )
        .route(
            "/ui/projects/{id}/personas/{persona_id}/edit",
            post(personas::project_edit),
        )
        .route(
            "/ui/projects/{id}/personas/{persona_id}/delete",
            post(personas::project_delete),
        )
        .route(
            "/ui/org/personas",
            get(personas::org_list).post(personas::org_create),
        )
        .route(
            "/ui/org/personas/{persona_id}/edit",
            post(personas::org_edit),
        )
        .route(
            "/ui/org/personas/{persona_id}/delete",
            post(personas::org_delete),
        )
        .route("/ui/projects/{id}/runs", get(runs::list))
        .route("/ui/projects/{id}/runs/{run_id}", get(runs::view))
        .route("/ui/projects/{id}/wiki", get(wiki::list))
        .route("/ui/projects/{id}/wiki/new", post(wiki::create))
        .route("/ui/projects/{id}/wiki/{slug}", get(wiki::view))
        .route("/ui/projects/{id}/wiki/{slug}/edit", post(wiki::edit))
        .route(
            "/ui/projects/{id}/settings",
            get(settings::project_page).post(settings::save_project),
        )
        .route("/ui/settings", get(settings::page))
        .route("/ui/settings/judge", post(settings::save_judge))
        .route("/ui/settings/judge/clear", post(settings::clear_judge))
        .route("/ui/settings/triggers", post(settings::save_triggers))
        .route("/ui/admin/users", get(admin::users))
        .route("/ui/admin/users/{id}/active", post(admin::set_active))
        .route("/ui/admin/users/{id}/tier", post(admin::set_tier))
        .route("/ui/assets/{*path}", get(asset))
}

/// The CSP of every dashboard page: only this server's own stylesheet, script and images;
/// forms post only here; never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML response with the headers every dashboard page carries.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response();
    secure_headers(response.headers_mut());
    response
}

fn secure_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
}

/// After a form: back to a page (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// What a dashboard handler answers when it cannot: the API's error (its status chosen in
/// `crate::error`), shown as a page; or "sign in first".
pub enum WebError {
    Api(ApiError),
    /// Not signed in (or no longer): to the sign-in page, then back to `next`.
    SignIn {
        next: String,
        clear_cookie: bool,
        ended: bool,
    },
}

pub type WebResult<T> = Result<T, WebError>;

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl From<crate::domain::DomainError> for WebError {
    fn from(e: crate::domain::DomainError) -> Self {
        WebError::Api(e.into())
    }
}

impl From<crate::db::DbError> for WebError {
    fn from(e: crate::db::DbError) -> Self {
        WebError::Api(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Api(err) => layout::error_page(&err),
            WebError::SignIn {
                next,
                clear_cookie,
                ended,
            } => {
                let mut to = format!(
                    "/ui/sign-in?next={}",
                    percent_encoding::utf8_percent_encode(
                        &next,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                if ended {
                    to.push_str("&ended=1");
                }
                let mut response = Redirect::to(&to).into_response();
                if clear_cookie {
                    response
                        .headers_mut()
                        .insert(header::SET_COOKIE, auth::clear_cookie());
                }
                secure_headers(response.headers_mut());
                response
            }
        }
    }
}

/// `GET /ui/assets/{path}`: the embedded stylesheet and script, cached for a day.
async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = ASSETS.get_file(&path) else {
        return ApiError::not_found("Not Found").into_response();
    };
    let kind = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        file.contents(),
    )
        .into_response();
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
