//! Browser sessions of the web dashboard: opened by pasting an API key, held by the browser as
//! a random 256-bit id in an HttpOnly cookie (stored here only as its SHA-256), ended by
//! sign-out, by revoking them from the list, by an idle or absolute expiry, and — through the
//! V12 triggers — by revoking the key or disabling the user.

use chrono::Duration;

use crate::auth::keys::{hash_token, random_hex};
use crate::clock::{self, Clock};
use crate::db::browser_sessions::{self as rows, BrowserSession, NewBrowserSession};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// A session unused this long ends.
pub const IDLE_LIMIT: Duration = Duration::hours(12);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_LIMIT: Duration = Duration::days(7);
/// `last_seen_at` is written at most this often per session (before the request goes on, so
/// the idle limit is exact).
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Where a browser signed in from (shown in the list).
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Opens a browser session for a key already admitted. Returns the cookie value (shown to the
/// browser once, never stored) and the session.
pub async fn open(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    api_key_id: &str,
    origin: Origin,
) -> DomainResult<(String, BrowserSession)> {
    let raw = random_hex(32);
    let id_hash = hash_token(&raw);
    let now = clock.now();
    let session = BrowserSession {
        handle: format!("bs_{}", random_hex(8)),
        user_id: user_id.to_string(),
        api_key_id: api_key_id.to_string(),
        csrf_token: random_hex(32),
        created_at: clock::format(now),
        last_seen_at: clock::format(now),
        expires_at: clock::format(now + ABSOLUTE_LIMIT),
        user_agent: origin.user_agent.map(|ua| ua.chars().take(300).collect()),
        ip: origin.ip,
    };
    let stored = session.clone();
    let (now_s, idle_before) = (clock::format(now), clock::format(now - IDLE_LIMIT));
    db.write(move |tx| {
        rows::delete_expired(tx, &stored.user_id, &now_s, &idle_before)?;
        rows::insert(
            tx,
            &NewBrowserSession {
                id_hash: &id_hash,
                session: &stored,
            },
        )
    })
    .await?;
    Ok((raw, session))
}

/// The live session a cookie value names. Expired sessions are removed and answer `None`.
pub async fn resolve(db: &Db, clock: &Clock, raw: &str) -> DomainResult<Option<BrowserSession>> {
    let id_hash = hash_token(raw);
    let lookup = id_hash.clone();
    let Some(session) = db
        .read(move |conn| rows::find_by_hash(conn, &lookup))
        .await?
    else {
        return Ok(None);
    };
    let now = clock.now();
    let ended = clock::parse(&session.expires_at).is_none_or(|t| t <= now)
        || clock::parse(&session.last_seen_at).is_none_or(|t| t + IDLE_LIMIT <= now);
    if ended {
        db.write(move |tx| rows::delete_by_hash(tx, &id_hash))
            .await?;
        return Ok(None);
    }
    if clock::parse(&session.last_seen_at).is_some_and(|t| now - t >= TOUCH_EVERY) {
        let at = clock::format(now);
        db.write(move |tx| rows::touch(tx, &id_hash, &at)).await?;
    }
    Ok(Some(session))
}

/// Ends the session a cookie value names (sign-out); ending an unknown one is a no-op.
pub async fn close(db: &Db, raw: &str) -> DomainResult<()> {
    let id_hash = hash_token(raw);
    db.write(move |tx| rows::delete_by_hash(tx, &id_hash))
        .await?;
    Ok(())
}

/// The user's browser sessions, newest first (expired ones are not listed).
pub async fn list(db: &Db, clock: &Clock, user_id: &str) -> DomainResult<Vec<BrowserSession>> {
    let user_id = user_id.to_string();
    let now = clock.now();
    let all = db
        .read(move |conn| rows::list_for_user(conn, &user_id))
        .await?;
    Ok(all
        .into_iter()
        .filter(|s| {
            clock::parse(&s.expires_at).is_some_and(|t| t > now)
                && clock::parse(&s.last_seen_at).is_some_and(|t| t + IDLE_LIMIT > now)
        })
        .collect())
}

/// Ends one of the user's browser sessions by its handle (not found when it is not theirs).
pub async fn revoke(db: &Db, user_id: &str, handle: &str) -> DomainResult<()> {
    let (user_id, handle) = (user_id.to_string(), handle.to_string());
    if db
        .write(move |tx| rows::delete_by_handle(tx, &user_id, &handle))
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::NotFound("Browser session not found".into()))
    }
}

/// Whether a submitted CSRF token is the session's (compared in constant time).
pub fn csrf_matches(session: &BrowserSession, submitted: &str) -> bool {
    let (a, b) = (session.csrf_token.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
