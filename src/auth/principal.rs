//! Who is calling, checked in the contract's order (01 §1.2, 03 §0.2), and what they may reach.
//!
//! The token's hash is rate-limited before the database is asked (so bad tokens are limited
//! too); the key, its owner and the owner's primary org are read in one blocking task;
//! `last_used_at` is written at most once a minute per key, off the request path.
//!
//! Deny by default: [`Principal`] is the extractor of every route, and it refuses service keys.
//! A route that service keys may reach says so in its signature with [`Scoped<S>`], naming the
//! scopes it accepts; nothing else lets a service key in.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use rusqlite::Connection;

use crate::auth::keys::hash_token;
use crate::clock;
use crate::db::orgs::{self, Membership};
use crate::db::{api_keys, users, DbError};
use crate::domain::tiers::{self, Tier};
use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller. For a service key, `user` is the key's minter.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: users::User,
    pub key: api_keys::ApiKey,
    /// The user's primary org membership, if any.
    pub org: Option<Membership>,
}

/// How often `last_used_at` is refreshed for one key.
const TOUCH_EVERY_SECS: i64 = 60;

/// The client's address. The peer address, unless the peer is a trusted proxy: then the
/// nearest hop of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .copied()
            .find(|ip| !trusted.contains(ip))
            .or(forwarded.first().copied())
            .unwrap_or(peer),
    )
}

/// The client's address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        client_ip(parts, &state.config.trusted_proxies)
            .map(ClientIp)
            .ok_or_else(|| ApiError::internal("the server did not record the peer address"))
    }
}

/// Steps 1–8 of the pipeline: any valid key, user or service.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    Ok(authenticate_and(parts, state, |_, _| Ok(())).await?.0)
}

/// [`authenticate`], also running `also(conn, key's user id)` in the same blocking read (one
/// hop to the blocking pool for the key and what the route reads next). Its answer is only
/// returned when the key is good; an auth failure wins over it.
async fn authenticate_and<T, F>(
    parts: &Parts,
    state: &AppState,
    also: F,
) -> Result<(Principal, T), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &str) -> Result<T, DbError> + Send + 'static,
{
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("Missing or invalid Authorization header"))?;
    let key_hash = hash_token(token);
    state.limits.check_key(&key_hash)?;
    lookup(parts, state, KeyRef::Hash(key_hash), also).await
}

/// The pipeline for a presented key (a bearer token, or a key pasted into the dashboard's
/// sign-in form): rate-limited by its hash, then looked up and admitted.
pub async fn authenticate_token(
    parts: &Parts,
    state: &AppState,
    token: &str,
) -> Result<Principal, ApiError> {
    let key_hash = hash_token(token);
    state.limits.check_key(&key_hash)?;
    Ok(lookup(parts, state, KeyRef::Hash(key_hash), |_, _| Ok(()))
        .await?
        .0)
}

/// The pipeline for a key known by its id (a dashboard browser session holds the id of the key
/// it was opened with, never the key): looked up and admitted like a bearer key.
pub async fn authenticate_key_id(
    parts: &Parts,
    state: &AppState,
    key_id: String,
) -> Result<Principal, ApiError> {
    Ok(lookup(parts, state, KeyRef::Id(key_id), |_, _| Ok(()))
        .await?
        .0)
}

enum KeyRef {
    Hash(String),
    Id(String),
}

/// One blocking read: the key, its user, the user's org, and `also(conn, user id)`.
async fn lookup<T, F>(
    parts: &Parts,
    state: &AppState,
    key_ref: KeyRef,
    also: F,
) -> Result<(Principal, T), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &str) -> Result<T, DbError> + Send + 'static,
{
    let (key, user, org, extra) = state
        .db
        .read(move |conn| {
            let found = match &key_ref {
                KeyRef::Hash(hash) => api_keys::find_by_hash(conn, hash)?,
                KeyRef::Id(id) => api_keys::get(conn, id)?,
            };
            let Some(key) = found else {
                return Ok(None);
            };
            let user = users::get(conn, &key.user_id)?;
            let org = orgs::primary_membership(conn, &key.user_id)?;
            let extra = also(conn, &key.user_id)?;
            Ok::<_, DbError>(Some((key, user, org, extra)))
        })
        .await?
        .ok_or_else(|| ApiError::unauthorized("Invalid API key"))?;
    Ok((admit(parts, state, key, user, org)?, extra))
}

/// Steps 4–8 for a key already found (by its hash here, by its id for a browser session of the
/// dashboard): revoked, inactive or expired keys and inactive users are refused; `last_used_at`
/// is refreshed at most once a minute.
pub fn admit(
    parts: &Parts,
    state: &AppState,
    key: api_keys::ApiKey,
    user: Option<users::User>,
    org: Option<Membership>,
) -> Result<Principal, ApiError> {
    if key.revoked_at.is_some() {
        return Err(ApiError::structured(
            StatusCode::UNAUTHORIZED,
            "api_key_revoked",
            "API key has been revoked",
        ));
    }
    if !key.is_active {
        return Err(ApiError::unauthorized("Invalid API key"));
    }
    let now = state.clock.now();
    if key
        .expires_at
        .as_deref()
        .and_then(clock::parse)
        .is_some_and(|t| t <= now)
    {
        return Err(ApiError::structured(
            StatusCode::UNAUTHORIZED,
            "api_key_expired",
            "API key has expired; please rotate",
        ));
    }
    let user = match user {
        Some(user) if user.is_active => user,
        _ => return Err(ApiError::forbidden("User account is inactive")),
    };

    let stale = key
        .last_used_at
        .as_deref()
        .and_then(clock::parse)
        .is_none_or(|t| (now - t).num_seconds() >= TOUCH_EVERY_SECS);
    if stale {
        let key_id = key.id.clone();
        let ip = client_ip(parts, &state.config.trusted_proxies).map(|ip| ip.to_string());
        let at = clock::format(now);
        state.db.write_detached("record key use", move |tx| {
            api_keys::touch(tx, &key_id, &at, ip.as_deref())
        });
    }
    Ok(Principal { user, key, org })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// A user key. A service key is refused: this route did not opt in to any scope.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Principal::user_key_and(parts, state, |_, _| Ok(()))
            .await?
            .0)
    }
}

impl Principal {
    /// The [`Principal`] extractor (a user key; service keys refused), also running
    /// `also(conn, user id)` in the same blocking read as the key: what an extractor such as
    /// `OwnedSession` reads next costs no second hop. Auth failures win over its answer.
    pub async fn user_key_and<T, F>(
        parts: &Parts,
        state: &AppState,
        also: F,
    ) -> Result<(Principal, T), ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &str) -> Result<T, DbError> + Send + 'static,
    {
        let (principal, extra) = authenticate_and(parts, state, also).await?;
        if principal.is_service_key() {
            let name = principal
                .key
                .service_key_name
                .clone()
                .or_else(|| principal.key.name.clone());
            return Err(
                ApiError::forbidden("Service keys are not allowed on this route")
                    .with_code("service_key_not_allowed")
                    .detail("error", "service_key_not_allowed")
                    .detail("service_key_name", name),
            );
        }
        Ok((principal, extra))
    }
}

/// The scopes a route accepts (any one of them is enough).
pub trait RouteScope {
    const SCOPES: &'static [&'static str];
}

/// A caller on a route that declared scopes: a user key (`*`), or a service key holding one of
/// `S::SCOPES`.
pub struct Scoped<S: RouteScope>(pub Principal, pub PhantomData<S>);

impl<S: RouteScope + Send + Sync> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        let current = principal.key.scope_list();
        if !current
            .iter()
            .any(|s| s == crate::auth::scopes::ALL || S::SCOPES.contains(&s.as_str()))
        {
            let mut required: Vec<&str> = S::SCOPES.to_vec();
            required.sort_unstable();
            return Err(ApiError::structured(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("Scope required: one of {required:?}. Key has: {current:?}."),
            )
            .detail("required", required)
            .detail("current", current));
        }
        Ok(Scoped(principal, PhantomData))
    }
}

/// Routes that create, claim, revoke, decline or comment on handoffs.
pub struct HandoffsWrite;
impl RouteScope for HandoffsWrite {
    const SCOPES: &'static [&'static str] = &["handoffs:write"];
}

impl Principal {
    pub fn is_service_key(&self) -> bool {
        self.key.key_kind == "service"
    }

    /// A platform admin (`users.tier == "admin"`), unrelated to org roles.
    pub fn is_platform_admin(&self) -> bool {
        self.user.tier == "admin"
    }

    /// The tier features are judged by: platform admins are enterprise; an org member gets the
    /// org's tier; anyone else their own.
    pub fn tier(&self) -> Tier {
        if self.is_platform_admin() {
            return Tier::Enterprise;
        }
        match &self.org {
            Some(m) => m.org.tier.parse().unwrap_or(Tier::Team),
            None => tiers::effective(&self.user.tier),
        }
    }

    /// The contract's 403 for routes that need a verified email.
    pub fn require_verified(&self) -> Result<(), ApiError> {
        if self.user.email_verified {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "Email not verified. Check your inbox for the verification link.",
            ))
        }
    }
}
