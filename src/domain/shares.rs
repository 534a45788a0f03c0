//! Share links: a token that opens one session without an account.
//!
//! The token (48 random bytes, URL-safe base64) is shown once; only its SHA-256 is stored.
//! Expiry is bounded. An optional password is hashed with argon2 on the blocking pool, and
//! attempts against one link are rate-limited.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::Duration;
use rand::RngCore;

use crate::auth::keys::{hash_token, new_id};
use crate::auth::rate_limit::Limiters;
use crate::clock::{self, Clock};
use crate::db::sessions::{self, SessionRow};
use crate::db::shares::{self, NewShareLink};
use crate::db::{Db, DbError};
use crate::domain::{DomainError, DomainResult};

/// Longest a share link may live (30 days).
pub const MAX_EXPIRY_HOURS: i64 = 720;

pub struct CreatedShare {
    pub link_id: String,
    pub token: String,
    pub expires_at: String,
    pub has_password: bool,
}

fn new_token() -> String {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn hash_password(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| DomainError::Fault(format!("argon2: {e}")))
    })
    .await?
}

async fn password_matches(stored: String, given: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| DomainError::Fault(format!("stored share hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(given.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// Creates a link to `session` (already checked to be the caller's live session).
pub async fn create(
    db: &Db,
    clock: &Clock,
    session: &SessionRow,
    hours: i64,
    password: Option<String>,
) -> DomainResult<CreatedShare> {
    let password = password.filter(|p| !p.is_empty());
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let token = new_token();
    let token_hash = hash_token(&token);
    let link_id = new_id();
    let now = clock.now();
    let expires_at = clock::format(now + Duration::hours(hours));
    let has_password = password_hash.is_some();
    let (session_id, user_id) = (session.id.clone(), session.user_id.clone());
    let (id, expires) = (link_id.clone(), expires_at.clone());
    let created_at = clock::format(now);
    db.write(move |tx| {
        shares::insert(
            tx,
            &NewShareLink {
                id: &id,
                session_id: &session_id,
                user_id: &user_id,
                token_hash: &token_hash,
                password_hash: password_hash.as_deref(),
                expires_at: &expires,
                created_at: &created_at,
            },
        )
    })
    .await?;
    Ok(CreatedShare {
        link_id,
        token,
        expires_at,
        has_password,
    })
}

/// Revokes a link of the caller's session.
pub async fn revoke(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    session_id: &str,
    link_id: &str,
) -> DomainResult<()> {
    let (user_id, session_id, link_id) = (
        user_id.to_string(),
        session_id.to_string(),
        link_id.to_string(),
    );
    let clock = clock.clone();
    let found = db
        .write(move |tx| shares::revoke(tx, &user_id, &session_id, &link_id, &clock.now_string()))
        .await?;
    if found {
        Ok(())
    } else {
        Err(DomainError::NotFound("Share link not found".into()))
    }
}

/// Opens a link: the shared session, if the link is live and the password (if any) is right.
pub async fn open(
    db: &Db,
    clock: &Clock,
    limits: &Limiters,
    token: &str,
    password: Option<String>,
) -> DomainResult<SessionRow> {
    let token_hash = hash_token(token);
    let lookup = token_hash.clone();
    let (link, session) = db
        .read(move |conn| {
            let Some(link) = shares::find_by_token_hash(conn, &lookup)? else {
                return Ok(None);
            };
            let session = sessions::get(conn, &link.session_id)?;
            Ok::<_, DbError>(Some((link, session)))
        })
        .await?
        .ok_or_else(|| DomainError::NotFound("Share link not found".into()))?;
    if link.revoked_at.is_some() {
        return Err(DomainError::Gone("Share link has been revoked".into()));
    }
    if clock::parse(&link.expires_at).is_none_or(|t| t < clock.now()) {
        return Err(DomainError::Gone("Share link has expired".into()));
    }
    if let Some(stored) = link.password_hash {
        let Some(given) = password.filter(|p| !p.is_empty()) else {
            return Err(DomainError::PasswordRequired);
        };
        if !limits.allow_share_password(&token_hash) {
            return Err(DomainError::TooMany {
                message: "Too many password attempts for this link. Try again later.".into(),
                retry_after: None,
            });
        }
        if !password_matches(stored, given).await? {
            return Err(DomainError::WrongPassword);
        }
    }
    let session = session
        .filter(|s| s.user_id == link.user_id)
        .ok_or_else(|| DomainError::NotFound("Session not found".into()))?;
    if session.is_deleted() {
        return Err(DomainError::Gone("Session has been deleted".into()));
    }
    Ok(session)
}
