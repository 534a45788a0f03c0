//! The `Principal` extractor: who is calling, checked in the contract's order (01 §1.2).
//!
//! The token's hash is rate-limited before the database is asked (so bad tokens are limited
//! too); the key and its owner are read in one blocking task; `last_used_at` is written at most
//! once a minute per key, off the request path. A service key reaches only routes that declare a
//! scope; plain user routes refuse it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use crate::auth::keys::hash_token;
use crate::clock;
use crate::db::{api_keys, users};
use crate::error::ApiError;
use crate::state::AppState;

/// A caller authenticated with a user key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: users::User,
    pub key: api_keys::ApiKey,
}

/// How often `last_used_at` is refreshed for one key.
const TOUCH_EVERY_SECS: i64 = 60;

/// The peer address of the request, if the server recorded it.
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("Missing or invalid Authorization header"))?;
        let key_hash = hash_token(token);
        state.limits.check_key(&key_hash)?;

        let (key, user) = state
            .db
            .read(move |conn| {
                let Some(key) = api_keys::find_by_hash(conn, &key_hash)? else {
                    return Ok(None);
                };
                let user = users::get(conn, &key.user_id)?;
                Ok(Some((key, user)))
            })
            .await?
            .ok_or_else(|| ApiError::unauthorized("Invalid API key"))?;

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
        let now = clock::now();
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
            let ip = client_ip(parts).map(|ip| ip.to_string());
            let at = clock::format(now);
            state.db.write_detached("record key use", move |tx| {
                api_keys::touch(tx, &key_id, &at, ip.as_deref())
            });
        }

        if key.key_kind == "service" {
            return Err(ApiError::forbidden("Service keys cannot call this route")
                .with_code("service_key_not_allowed")
                .detail("error", "service_key_not_allowed")
                .detail("service_key_name", key.name.clone()));
        }
        Ok(Principal { user, key })
    }
}

impl Principal {
    pub fn tier(&self) -> crate::domain::tiers::Tier {
        crate::domain::tiers::effective(&self.user.tier)
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
