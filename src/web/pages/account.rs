//! Sign-in (paste an API key), sign-out, and the list of the user's signed-in browsers.

use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::auth::keys::random_hex;
use crate::auth::principal::authenticate_token;
use crate::domain::browser_sessions::{self as sessions, ABSOLUTE_LIMIT};
use crate::state::AppState;
use crate::web::auth::{self, cookie, fields, CsrfForm, WebUser, COOKIE, SIGN_IN_COOKIE};
use crate::web::layout::{self, button_form, when};
use crate::web::{html, see_other, WebResult};

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    next: Option<String>,
    ended: Option<String>,
}

/// A path on this server to return to (never another host).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The sign-in page, with a fresh form token in its own cookie.
pub fn sign_in_form(
    state: &AppState,
    status: StatusCode,
    next: &str,
    message: Option<&str>,
) -> Response {
    let token = random_hex(32);
    let body = html! {
        @if let Some(m) = message { p.error role="alert" { (m) } }
        form.card method="post" action="/ui/sign-in" {
            input type="hidden" name="csrf_token" value=(token);
            input type="hidden" name="next" value=(next);
            label for="api_key" { "API key" }
            input #api_key type="password" name="api_key" required autocomplete="current-password"
                placeholder="sk_sfs_…" autofocus;
            p.hint { "Paste a key from " code { "sfs auth signup" } " or " code { "sfs auth login" }
                " (" code { "~/.sessionfs/config" } "). The key is checked once and never kept in your browser." }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = html(status, layout::bare("Sign in", body));
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(state, SIGN_IN_COOKIE, &token, 3600),
    );
    response
}

/// `GET /ui/sign-in`.
pub async fn sign_in_page(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<SignInQuery>,
) -> WebResult<Response> {
    let next = safe_next(q.next.as_deref());
    if auth::current(&parts, &state).await?.is_some() {
        return Ok(see_other(&next));
    }
    let message = q.ended.is_some().then_some(
        "Your browser session ended (signed out, expired, or its key was revoked). Sign in again.",
    );
    Ok(sign_in_form(&state, StatusCode::OK, &next, message))
}

/// `POST /ui/sign-in`: checks the key as the API would and opens a browser session.
pub async fn sign_in(State(state): State<AppState>, request: Request) -> WebResult<Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map_err(|_| crate::error::ApiError::payload_too_large("Form too large"))?;
    let form = fields(&bytes);
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = safe_next(get("next"));
    let expected = cookie(&parts, SIGN_IN_COOKIE).unwrap_or("");
    let submitted = get("csrf_token").unwrap_or("");
    if expected.is_empty() || expected != submitted {
        return Ok(sign_in_form(
            &state,
            StatusCode::FORBIDDEN,
            &next,
            Some("The sign-in form expired. Paste your key again."),
        ));
    }
    let key = get("api_key").unwrap_or("").trim();
    if key.is_empty() {
        return Ok(sign_in_form(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &next,
            Some("Paste an API key."),
        ));
    }
    let principal = match authenticate_token(&parts, &state, key).await {
        Ok(p) if p.is_service_key() => {
            return Ok(sign_in_form(
                &state,
                StatusCode::FORBIDDEN,
                &next,
                Some("Service keys cannot sign in to the dashboard; use a personal key."),
            ))
        }
        Ok(p) => p,
        Err(e) if e.status.is_client_error() => {
            let text = layout::error_text(&e);
            return Ok(sign_in_form(&state, e.status, &next, Some(&text)));
        }
        Err(e) => return Err(e.into()),
    };
    let (raw, _) = sessions::open(
        &state.db,
        &state.clock,
        &principal.user.id,
        &principal.key.id,
        auth::origin(&parts, &state),
    )
    .await?;
    tracing::info!(user = %principal.user.id, key = %principal.key.id, "dashboard sign-in");
    let mut response = see_other(&next);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        auth::set_cookie(&state, COOKIE, &raw, ABSOLUTE_LIMIT.num_seconds()),
    );
    headers.append(
        header::SET_COOKIE,
        auth::set_cookie(&state, SIGN_IN_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /ui/sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    parts: Parts,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    if let Some(raw) = cookie(&parts, COOKIE) {
        sessions::close(&state.db, raw).await?;
    }
    let mut response = see_other("/");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::clear_cookie());
    Ok(response)
}

/// `GET /ui/account`: who you are and your signed-in browsers.
pub async fn page(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let list = sessions::list(&state.db, &state.clock, &user.principal.user.id).await?;
    let me = &user.principal;
    let body = html! {
        section {
            h2 { "You" }
            dl.facts {
                dt { "Email" } dd { (me.user.email) }
                dt { "Tier" } dd { (me.tier().to_string()) }
                dt { "Signed in with key" } dd { code { (me.key.key_prefix.as_deref().unwrap_or(&me.key.id)) "…" } }
                @if let Some(m) = &me.org { dt { "Organization" } dd { (m.org.name) " (" (m.role.to_string()) ")" } }
            }
        }
        section {
            h2 { "Signed-in browsers" }
            p.hint { "A browser session ends after 12 hours without use or 7 days after sign-in, when you sign out, or when its key is revoked." }
            table {
                thead { tr { th { "Browser" } th { "From" } th { "Signed in" } th { "Last used" } th { span.sr { "Actions" } } } }
                tbody {
                    @for s in &list {
                        tr {
                            td { (s.user_agent.as_deref().unwrap_or("unknown")) @if s.handle == user.session.handle { " " strong { "(this browser)" } } }
                            td { (s.ip.as_deref().unwrap_or("")) }
                            td { (when(&s.created_at)) }
                            td { (when(&s.last_seen_at)) }
                            td { (button_form(&user, &format!("/ui/account/browser-sessions/{}/revoke", s.handle), "Revoke", "danger")) }
                        }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Account", "account", body),
    ))
}

/// `POST /ui/account/browser-sessions/{handle}/revoke`.
pub async fn revoke_browser_session(
    State(state): State<AppState>,
    Path(handle): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    sessions::revoke(&state.db, &user.principal.user.id, &handle).await?;
    if handle == user.session.handle {
        let mut response = see_other("/");
        response
            .headers_mut()
            .insert(header::SET_COOKIE, auth::clear_cookie());
        return Ok(response);
    }
    Ok(see_other("/ui/account"))
}
