//! Who is using the dashboard: the browser session named by the cookie, admitted on every
//! request exactly like the key it was opened with ([`crate::auth::principal`]): a revoked or
//! expired key, or a disabled user, ends the browser session and sends the browser to sign in.
//! Forms are checked against the session's synchronizer token ([`CsrfForm`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::auth::principal::{authenticate_key_id, client_ip};
use crate::auth::Principal;
use crate::db::browser_sessions::BrowserSession;
use crate::domain::browser_sessions as sessions;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::WebError;

/// The cookie holding the browser session id.
pub const COOKIE: &str = "sfs_session";
/// The cookie of the sign-in form's token (there is no session to hold it yet).
pub const SIGN_IN_COOKIE: &str = "sfs_signin";
/// Largest form body the dashboard reads.
const FORM_LIMIT: usize = 256 * 1024;

/// A signed-in person: the key's principal (as the API would see it) and the browser session.
pub struct WebUser {
    pub principal: Principal,
    pub session: BrowserSession,
}

impl WebUser {
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a cookie only this site's own requests carry, never readable by script.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are hex")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("sfs_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Where to come back to after signing in: the request's own path and query (for a form
/// post, the home page: the form's route answers only POST).
fn here(parts: &Parts) -> String {
    if parts.method != axum::http::Method::GET {
        return "/".into();
    }
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

/// The signed-in user, or `None` (no cookie, unknown or expired session, a key or user no
/// longer admitted — the session is then ended).
pub async fn current(parts: &Parts, state: &AppState) -> Result<Option<WebUser>, WebError> {
    match resolve(parts, state).await {
        Ok(user) => Ok(Some(user)),
        Err(WebError::SignIn { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<WebUser, WebError> {
    let sign_in = |clear_cookie: bool, ended: bool| WebError::SignIn {
        next: here(parts),
        clear_cookie,
        ended,
    };
    let Some(raw) = cookie(parts, COOKIE).filter(|v| !v.is_empty()) else {
        return Err(sign_in(false, false));
    };
    let Some(session) = sessions::resolve(&state.db, &state.clock, raw).await? else {
        return Err(sign_in(true, true));
    };
    match authenticate_key_id(parts, state, session.api_key_id.clone()).await {
        Ok(principal) if !principal.is_service_key() => Ok(WebUser { principal, session }),
        Ok(_) => Err(sign_in(true, false)),
        Err(e) if matches!(e.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
            // The key was revoked, deactivated or expired, or its user disabled.
            sessions::close(&state.db, raw).await?;
            Err(sign_in(true, true))
        }
        Err(e) => Err(WebError::Api(e)),
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        resolve(parts, state).await
    }
}

/// The client's address and browser, for the list of browser sessions.
pub fn origin(parts: &Parts, state: &AppState) -> sessions::Origin {
    sessions::Origin {
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ip: client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string()),
    }
}

/// A form posted by the signed-in user, with the session's synchronizer token in `csrf_token`
/// (a post without it, or with another session's, is refused with 403 and changes nothing).
pub struct CsrfForm<T> {
    pub user: WebUser,
    pub form: T,
}

/// The fields of an urlencoded body.
pub fn fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub fn csrf_refused() -> ApiError {
    ApiError::forbidden(
        "This form has expired or did not come from this dashboard. Go back, reload the page and try again.",
    )
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| ApiError::payload_too_large("Form too large"))?;
        check_csrf(&user, &bytes)?;
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| ApiError::bad_request(format!("Form not understood: {e}")))?;
        Ok(CsrfForm { user, form })
    }
}

fn check_csrf(user: &WebUser, body: &Bytes) -> Result<(), ApiError> {
    let submitted = fields(body)
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if sessions::csrf_matches(&user.session, &submitted) {
        Ok(())
    } else {
        Err(csrf_refused())
    }
}
