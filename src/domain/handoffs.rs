//! Handoffs: a sender offers a session to a recipient, who claims their own copy.
//!
//! The state machine (02 §1.5) is enforced strictly: `pending` → `claimed` (recipient),
//! `revoked` (sender), `declined` (recipient) or `expired` (time). Every transition is a
//! conditional update that must change exactly one row; the loser of a race gets 409. Expiry is
//! persisted (with an `expired` event) the first time any route sees it, so an expired handoff
//! can no longer be revoked or declined. A claim copies a session row that shares the sender's
//! archive blob: no bytes are copied.

use chrono::Duration;
use serde_json::{json, Value};

use crate::archive::messages::{for_each_line, is_visible};
use crate::archive::metadata::redact_secrets;
use crate::archive::BlobStore;
use crate::auth::keys::{hash_token, random_hex};
use crate::clock::{self, Clock, Timestamp};
use crate::db::handoffs::HandoffStatus::{self, Claimed, Declined, Expired, Pending, Revoked};
use crate::db::handoffs::{self, Comment, Handoff, NewHandoff};
use crate::db::sessions::{self, Visibility};
use crate::db::users::{self, User};
use crate::db::{Db, DbError};
use crate::domain::sessions::{find_owned, new_session_id};
use crate::domain::tiers::{Feature, Tier};
use crate::domain::{DomainError, DomainResult};

pub const DEFAULT_EXPIRY_HOURS: i64 = 168;
/// Longest expiry below enterprise, and for enterprise.
const MAX_HOURS: i64 = 720;
const MAX_HOURS_ENTERPRISE: i64 = 2160;
const PREVIEW_MESSAGES: usize = 6;
const PREVIEW_CHARS: usize = 400;

pub fn not_found() -> DomainError {
    DomainError::NotFound("Handoff not found".into())
}

fn is_expired(h: &Handoff, now: Timestamp) -> bool {
    clock::parse(&h.expires_at).is_none_or(|t| t <= now)
}

/// The status shown to clients: `claimed` stays claimed; anything else past its expiry is expired.
pub fn display_status(h: &Handoff, now: Timestamp) -> HandoffStatus {
    match h.status {
        Claimed => Claimed,
        _ if is_expired(h, now) => Expired,
        other => other,
    }
}

/// The legal moves of a handoff; an illegal one is the error the client sees.
impl HandoffStatus {
    /// The recipient claims (from the status shown to clients).
    pub fn claim(self) -> DomainResult<HandoffStatus> {
        match self {
            Pending => Ok(Claimed),
            Expired => Err(DomainError::Gone("Handoff has expired".into())),
            Claimed => Err(DomainError::Conflict("Handoff already claimed".into())),
            other => Err(DomainError::Conflict(format!(
                "Handoff is {other} and cannot be claimed"
            ))),
        }
    }

    /// The sender withdraws.
    pub fn revoke(self) -> DomainResult<HandoffStatus> {
        match self {
            Pending => Ok(Revoked),
            other => Err(DomainError::Conflict(format!(
                "Cannot revoke a {other} handoff"
            ))),
        }
    }

    /// The recipient turns it down.
    pub fn decline(self) -> DomainResult<HandoffStatus> {
        match self {
            Pending => Ok(Declined),
            other => Err(DomainError::Conflict(format!(
                "Cannot decline a {other} handoff"
            ))),
        }
    }

    /// Time runs out (or the session came back from the trash): only a pending one expires.
    pub fn expire(self) -> Option<HandoffStatus> {
        (self == Pending).then_some(Expired)
    }

    /// Whether the keyless summary link still answers: only while pending (README ruling 8
    /// and issue 9: an old link stops revealing anything once the handoff is over).
    pub fn summary_available(self) -> DomainResult<()> {
        match self {
            Claimed => Err(DomainError::Gone("Handoff has already been claimed".into())),
            Expired => Err(DomainError::Gone("Handoff has expired".into())),
            Revoked => Err(DomainError::Gone("Handoff has been revoked".into())),
            Declined => Err(DomainError::Gone("Handoff was declined".into())),
            Pending => Ok(()),
        }
    }
}

pub fn is_recipient(h: &Handoff, user: &User) -> bool {
    h.recipient_email.as_deref() == Some(user.email.as_str())
        || h.recipient_user_id.as_deref() == Some(user.id.as_str())
        || h.recipient_id.as_deref() == Some(user.id.as_str())
}

pub fn is_party(h: &Handoff, user: &User) -> bool {
    h.sender_id == user.id || is_recipient(h, user)
}

/// Records an observed expiry: `pending` → `expired` with an `expired` event (no actor).
fn persist_expiry(conn: &rusqlite::Connection, h: &Handoff, now: Timestamp) -> DomainResult<()> {
    let Some(to) = h.status.expire().filter(|_| is_expired(h, now)) else {
        return Ok(());
    };
    if handoffs::transition(conn, &h.id, h.status, to)? {
        handoffs::add_event(
            conn,
            &h.id,
            "expired",
            None,
            &json!({}),
            &clock::format(now),
        )?;
    }
    Ok(())
}

/// Loads a handoff inside a write transaction for `user` (a party), with its expiry persisted.
fn load_party(
    conn: &rusqlite::Connection,
    id: &str,
    user: &User,
    now: Timestamp,
) -> DomainResult<Handoff> {
    let h = handoffs::get(conn, id)?
        .filter(|h| is_party(h, user))
        .ok_or_else(not_found)?;
    persist_expiry(conn, &h, now)?;
    handoffs::get(conn, id)?.ok_or_else(not_found)
}

/// A handoff the caller is party to (404 otherwise), expiry persisted when first observed.
pub async fn load(db: &Db, clock: &Clock, user: &User, id: &str) -> DomainResult<Handoff> {
    let (u, key) = (user.clone(), id.to_string());
    let h = db
        .read(move |conn| Ok::<_, DbError>(handoffs::get(conn, &key)?.filter(|h| is_party(h, &u))))
        .await?
        .ok_or_else(not_found)?;
    let now = clock.now();
    if h.status.expire().is_some() && is_expired(&h, now) {
        let (u, key) = (user.clone(), id.to_string());
        return db.write(move |tx| load_party(tx, &key, &u, now)).await;
    }
    Ok(h)
}

/// A handoff as asked for, before the rules are applied.
pub struct CreateRequest {
    pub session_id: String,
    pub recipient_email: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_team_id: Option<String>,
    pub message: Option<String>,
    pub ticket_id: Option<String>,
    pub persona_name: Option<String>,
    pub expires_in_hours: Option<i64>,
    /// How many attachments were asked for.
    pub attachments: usize,
}

/// A handoff request that passed the rules: exactly one (known kind of) recipient.
struct Checked {
    session_id: String,
    recipient_email: Option<String>,
    recipient_user_id: Option<String>,
    message: Option<String>,
    expires_in_hours: Option<i64>,
}

/// A text field: trimmed, blank → None, at most `max` characters (422 otherwise).
fn text_field(
    value: Option<String>,
    name: &'static str,
    max: usize,
    lower: bool,
) -> DomainResult<Option<String>> {
    let Some(raw) = value else { return Ok(None) };
    let trimmed = raw.trim();
    if trimmed.chars().count() > max {
        return Err(DomainError::Schema {
            kind: "string_too_long",
            loc: vec!["body", name],
            message: format!("String should have at most {max} characters"),
            input: Box::new(Value::from(raw.clone())),
        });
    }
    Ok((!trimmed.is_empty()).then(|| {
        if lower {
            trimmed.to_lowercase()
        } else {
            trimmed.to_string()
        }
    }))
}

/// The recipient and expiry rules: exactly one recipient, a message of at most 2000
/// characters, 1–2160 hours; no teams, tickets, personas or attachments on this server yet.
fn check(req: CreateRequest) -> DomainResult<Checked> {
    let email = text_field(req.recipient_email, "recipient_email", 255, true)?;
    let user_id = text_field(req.recipient_user_id, "recipient_user_id", 36, false)?;
    let team_id = text_field(req.recipient_team_id, "recipient_team_id", 64, false)?;
    let recipients = [email.is_some(), user_id.is_some(), team_id.is_some()]
        .iter()
        .filter(|r| **r)
        .count();
    if recipients != 1 {
        return Err(DomainError::Invalid {
            loc: vec!["body"],
            message:
                "Exactly one of recipient_email, recipient_user_id or recipient_team_id is required"
                    .into(),
            input: Value::Null,
        });
    }
    let message = text_field(req.message, "message", 2000, false)?;
    if let Some(hours) = req.expires_in_hours {
        if !(1..=2160).contains(&hours) {
            return Err(DomainError::Schema {
                kind: "less_than_equal",
                loc: vec!["body", "expires_in_hours"],
                message: "Input should be between 1 and 2160".into(),
                input: Box::new(Value::from(hours)),
            });
        }
    }
    if team_id.is_some() {
        return Err(DomainError::NotFound("Team not found".into()));
    }
    // Tickets, personas and attachments live in a session's project; this server has no
    // registered projects for a session to belong to yet.
    if text_field(req.ticket_id, "ticket_id", 64, false)?.is_some()
        || text_field(req.persona_name, "persona_name", 50, false)?.is_some()
        || req.attachments > 0
    {
        return Err(DomainError::Unprocessable(
            "ticket_id, persona_name and attachments need the session's project to be registered"
                .into(),
        ));
    }
    Ok(Checked {
        session_id: req.session_id,
        recipient_email: email,
        recipient_user_id: user_id,
        message,
        expires_in_hours: req.expires_in_hours,
    })
}

/// The stored preview of a handoff: its first messages with text, redacted and cut short.
fn preview_of(blobs: &BlobStore, hash: &str) -> DomainResult<Value> {
    let file = blobs.open_blob_sync(hash)?;
    let mut lines: Vec<Value> = Vec::new();
    for_each_line(file, |index, line| {
        if lines.len() >= PREVIEW_MESSAGES {
            return;
        }
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        if !is_visible(&m) {
            return;
        }
        let text: Vec<&str> = match m.get("content") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(blocks)) => blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect(),
            _ => vec![],
        };
        let text = text.join("\n");
        if text.trim().is_empty() {
            return;
        }
        let text: String = redact_secrets(&text).chars().take(PREVIEW_CHARS).collect();
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        lines.push(json!({"role": role, "text": text, "index": index}));
    })?;
    Ok(Value::Array(lines))
}

/// Creates a pending handoff of one of the sender's live sessions. Returns it and the preview
/// token (shown to the recipient's mail, never stored in clear).
pub async fn create(
    db: &Db,
    clock: &Clock,
    blobs: &BlobStore,
    sender: &User,
    tier: Tier,
    req: CreateRequest,
) -> DomainResult<(Handoff, String)> {
    tier.require(Feature::Handoff)?;
    let req = check(req)?;
    let session = find_owned(db, &sender.id, &req.session_id, Visibility::Live).await?;
    if let Some(uid) = req.recipient_user_id.clone() {
        if db.read(move |conn| users::get(conn, &uid)).await?.is_none() {
            return Err(DomainError::NotFound("Recipient user not found".into()));
        }
    }
    let cap = if tier >= Tier::Enterprise {
        MAX_HOURS_ENTERPRISE
    } else {
        MAX_HOURS
    };
    let hours = req
        .expires_in_hours
        .unwrap_or(DEFAULT_EXPIRY_HOURS)
        .min(cap);
    let blobs = blobs.clone();
    let hash = session.blob_hash.clone();
    let preview = tokio::task::spawn_blocking(move || preview_of(&blobs, &hash)).await??;
    let preview_token = format!("hpr_{}", random_hex(32));
    // 128 random bits: the id is the capability for the keyless summary (ruling 8).
    let id = format!("hnd_{}", random_hex(16));
    let sender_id = sender.id.clone();
    let token_hash = hash_token(&preview_token);
    let tier_name = tier.to_string();
    let now = clock.now();
    let handoff = db
        .write(move |tx| {
            let at = clock::format(now);
            handoffs::insert(
                tx,
                &NewHandoff {
                    id: &id,
                    session_id: &session.id,
                    sender_id: &sender_id,
                    recipient_email: req.recipient_email.as_deref(),
                    recipient_user_id: req.recipient_user_id.as_deref(),
                    message: req.message.as_deref(),
                    session_title: session.title.as_deref(),
                    session_tool: &session.source_tool,
                    session_model_id: session.model_id.as_deref(),
                    session_message_count: session.message_count,
                    session_total_tokens: session.total_input_tokens + session.total_output_tokens,
                    sender_tier_snapshot: &tier_name,
                    preview_token_hash: &token_hash,
                    preview: &preview.to_string(),
                    created_at: &at,
                    expires_at: &clock::format(now + Duration::hours(hours)),
                },
            )?;
            let payload = json!({"handoff_kind": "individual", "expires_in_hours": hours,
                "attachment_count": 0, "has_ticket": false, "has_persona": false});
            handoffs::add_event(tx, &id, "created", Some(&sender_id), &payload, &at)?;
            handoffs::get(tx, &id)?.ok_or_else(|| DomainError::Fault("new handoff vanished".into()))
        })
        .await?;
    Ok((handoff, preview_token))
}

/// A recipient's first look sets `viewed_at` once (and records a `viewed` event).
pub async fn view(db: &Db, clock: &Clock, user: &User, id: &str) -> DomainResult<Handoff> {
    let h = load(db, clock, user, id).await?;
    let now = clock.now();
    if display_status(&h, now) == Expired {
        return Err(DomainError::Gone("Handoff has expired".into()));
    }
    if h.viewed_at.is_none() && h.sender_id != user.id {
        let (key, uid) = (h.id.clone(), user.id.clone());
        return db
            .write(move |tx| {
                let at = clock::format(now);
                if handoffs::mark_viewed(tx, &key, &at)? {
                    handoffs::add_event(tx, &key, "viewed", Some(&uid), &json!({}), &at)?;
                }
                handoffs::get(tx, &key)?.ok_or_else(not_found)
            })
            .await;
    }
    Ok(h)
}

/// The recipient claims: a new session of theirs that shares the sender's archive.
pub async fn claim(db: &Db, clock: &Clock, user: &User, id: &str) -> DomainResult<Handoff> {
    let (u, key, at) = (user.clone(), id.to_string(), clock.now());
    db.write(move |tx| {
        let h = handoffs::get(tx, &key)?.filter(|h| is_recipient(h, &u)).ok_or_else(not_found)?;
        persist_expiry(tx, &h, at)?;
        display_status(&h, at).claim()?;
        match sessions::get(tx, &h.session_id)? {
            Some(s) if !s.is_deleted() && s.user_id == h.sender_id => {}
            _ => return Err(DomainError::NotFound("Source session no longer exists".into())),
        }
        let mut new_id = new_session_id();
        while sessions::get(tx, &new_id)?.is_some() {
            new_id = new_session_id();
        }
        let now = clock::format(at);
        if !handoffs::mark_claimed(tx, &key, &u.id, &new_id, &now)? {
            return Err(DomainError::ClaimRaceLost);
        }
        sessions::copy_for_claim(tx, &h.session_id, &new_id, &u.id, &now)?;
        let payload = json!({"new_session_id": new_id, "dropped_attachment_count": 0, "active_ticket_id": null});
        handoffs::add_event(tx, &key, "claimed", Some(&u.id), &payload, &now)?;
        handoffs::get(tx, &key)?.ok_or_else(not_found)
    })
    .await
}

/// The sender withdraws a pending handoff.
pub async fn revoke(
    db: &Db,
    clock: &Clock,
    user: &User,
    id: &str,
    reason: String,
) -> DomainResult<Handoff> {
    let reason =
        text_field(Some(reason), "reason", 500, false)?.ok_or_else(|| DomainError::Invalid {
            loc: vec!["body", "reason"],
            message: "reason must not be blank".into(),
            input: Value::Null,
        })?;
    let (u, key, at) = (user.clone(), id.to_string(), clock.now());
    db.write(move |tx| {
        let h = load_party(tx, &key, &u, at)?;
        if h.sender_id != u.id {
            return Err(not_found());
        }
        let now = clock::format(at);
        h.status.revoke()?;
        if !handoffs::mark_revoked(tx, &key, &u.id, &reason, &now)? {
            return Err(DomainError::Conflict(format!(
                "Cannot revoke a {} handoff",
                h.status
            )));
        }
        handoffs::add_event(
            tx,
            &key,
            "revoked",
            Some(&u.id),
            &json!({ "reason": reason }),
            &now,
        )?;
        handoffs::get(tx, &key)?.ok_or_else(not_found)
    })
    .await
}

/// The recipient turns a pending handoff down.
pub async fn decline(
    db: &Db,
    clock: &Clock,
    user: &User,
    id: &str,
    reason: Option<String>,
) -> DomainResult<Handoff> {
    let reason = text_field(reason, "reason", 500, false)?;
    let (u, key, at) = (user.clone(), id.to_string(), clock.now());
    db.write(move |tx| {
        let h = load_party(tx, &key, &u, at)?;
        if !is_recipient(&h, &u) {
            return Err(not_found());
        }
        let to = h.status.decline()?;
        if !handoffs::transition(tx, &key, h.status, to)? {
            return Err(DomainError::Conflict(format!(
                "Cannot decline a {} handoff",
                h.status
            )));
        }
        let payload = reason
            .map(|r| json!({ "reason": r }))
            .unwrap_or_else(|| json!({}));
        handoffs::add_event(
            tx,
            &key,
            "declined",
            Some(&u.id),
            &payload,
            &clock::format(at),
        )?;
        handoffs::get(tx, &key)?.ok_or_else(not_found)
    })
    .await
}

/// Either party comments, whatever the status.
pub async fn comment(
    db: &Db,
    clock: &Clock,
    user: &User,
    id: &str,
    content: String,
) -> DomainResult<Comment> {
    let (u, key, at) = (user.clone(), id.to_string(), clock.now());
    db.write(move |tx| {
        load_party(tx, &key, &u, at)?;
        let c = Comment {
            id: format!("hcm_{}", random_hex(8)),
            handoff_id: key.clone(),
            author_user_id: Some(u.id.clone()),
            content,
            created_at: clock::format(at),
        };
        handoffs::add_comment(tx, &c)?;
        handoffs::add_event(
            tx,
            &key,
            "commented",
            Some(&u.id),
            &json!({"comment_id": c.id}),
            &c.created_at,
        )?;
        Ok(c)
    })
    .await
}

/// Expires the pending handoffs of a session (it came back from the trash).
pub fn expire_for_session(
    conn: &rusqlite::Connection,
    session_id: &str,
    at: &str,
) -> DomainResult<()> {
    for id in handoffs::pending_for_session(conn, session_id)? {
        if handoffs::transition(conn, &id, Pending, Expired)? {
            handoffs::add_event(
                conn,
                &id,
                "expired",
                None,
                &json!({"reason": "session_restored"}),
                at,
            )?;
        }
    }
    Ok(())
}

/// A handoff by its preview token; every failure is the same 404.
pub async fn by_preview_token(
    db: &Db,
    clock: &Clock,
    id: &str,
    token: &str,
) -> DomainResult<Handoff> {
    let key = id.to_string();
    let h = db
        .read(move |conn| handoffs::get(conn, &key))
        .await?
        .ok_or_else(not_found)?;
    let matches = h.preview_token_hash.as_deref() == Some(hash_token(token).as_str());
    if !matches || display_status(&h, clock.now()) != Pending {
        return Err(not_found());
    }
    Ok(h)
}

/// The handoff behind a summary link (ruling 8: the id is the capability, no key needed).
/// Without a key (`viewer` is `None` or not a party) it is gone (410) once claimed, revoked,
/// declined or expired, so an old link stops revealing anything; the sender and the recipient
/// still see it with their key. The sender's live session must still exist.
pub async fn for_summary(
    db: &Db,
    clock: &Clock,
    id: &str,
    viewer: Option<&User>,
) -> DomainResult<(Handoff, sessions::SessionRow)> {
    let key = id.to_string();
    let (h, session) = db
        .read(move |conn| {
            let Some(h) = handoffs::get(conn, &key)? else {
                return Ok(None);
            };
            let session = sessions::get(conn, &h.session_id)?;
            Ok::<_, DbError>(Some((h, session)))
        })
        .await?
        .ok_or_else(not_found)?;
    if !viewer.is_some_and(|user| is_party(&h, user)) {
        display_status(&h, clock.now()).summary_available()?;
    }
    let session = session
        .filter(|s| s.user_id == h.sender_id && !s.is_deleted())
        .ok_or_else(|| DomainError::NotFound("Session not found".into()))?;
    Ok((h, session))
}
