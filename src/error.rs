//! The one error type of the server and its wire form.
//!
//! Every failure a handler can produce is an [`ApiError`]; its `IntoResponse` writes the envelope
//! the `sfs` client reads: `{"error":{"code","message","details"}}`. `code` is the HTTP status as
//! a string unless a named code is set (`etag_mismatch`, `PAYLOAD_TOO_LARGE`, …); structured codes
//! the reference puts in `details.error` (`api_key_revoked`, `upgrade_required`, …) go there.
//! Client mistakes are 4xx; anything else is a 500 that is logged and never explains internals.
//!
//! The layers below speak their own errors ([`DbError`], [`ArchiveError`], [`SearchError`],
//! [`DomainError`]); the `From` impls at the end of this file are the only place they are given
//! a status. Our faults among them become the generic 500 through [`ApiError::internal`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::archive::ArchiveError;
use crate::db::DbError;
use crate::domain::projects::Boundary;
use crate::domain::DomainError;
use crate::search::SearchError;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Named code for `error.code`; `None` means the status as a string.
    pub code: Option<&'static str>,
    pub message: String,
    /// Boxed: errors travel in every `Result`, so the common `Ok` path stays small.
    pub details: Box<Map<String, Value>>,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: None,
            message: message.into(),
            details: Box::default(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, message)
    }
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// A server fault: logged in full, answered with a generic 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// A structured error whose machine code travels in `details.error`.
    pub fn structured(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self::new(status, message).detail("error", error)
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 422 in the shape FastAPI gives: one entry of `details.errors`.
    pub fn validation(kind: &str, loc: &[&str], msg: impl Into<String>, input: Value) -> Self {
        let entry = json!({"type": kind, "loc": loc, "msg": msg.into(), "input": input});
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Validation error")
            .detail("errors", json!([entry]))
    }

    /// 422 for a field that is absent.
    pub fn missing(loc: &[&str]) -> Self {
        Self::validation("missing", loc, "Field required", Value::Null)
    }

    /// 422 for a value that failed a rule, with the rule's text in `ctx.error` as pydantic does.
    pub fn invalid_value(loc: &[&str], msg: &str, input: Value) -> Self {
        let mut err = Self::validation("value_error", loc, format!("Value error, {msg}"), input);
        if let Some(Value::Array(list)) = err.details.get_mut("errors") {
            list[0]["ctx"] = json!({ "error": msg });
        }
        err
    }

    pub fn code_str(&self) -> String {
        self.code
            .map(str::to_string)
            .unwrap_or_else(|| self.status.as_u16().to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.code_str(),
            "message": self.message,
            "details": Value::Object(*self.details),
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

// The lower layers' errors become the envelope here, and only here: one `From` per layer.

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Duplicate(_) => ApiError::conflict("Resource already exists")
                .with_code("duplicate_resource")
                .detail("status", 409),
            DbError::QueueFull => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy; retry shortly",
            )
            .retry_after(1),
            fault => ApiError::internal(fault),
        }
    }
}

/// For the SQL a handler still runs itself: classified once, by [`DbError`].
impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        DbError::from(err).into()
    }
}

impl From<ArchiveError> for ApiError {
    fn from(err: ArchiveError) -> Self {
        match err {
            ArchiveError::Invalid(_) | ArchiveError::Unreadable(_) => {
                ApiError::bad_request(err.to_string())
            }
            ArchiveError::MemberTooLarge {
                ref name,
                size_bytes,
                limit_bytes,
            } => ApiError::payload_too_large(err.to_string())
                .detail("error", "session_too_large")
                .detail("file", name.as_str())
                .detail("size_bytes", size_bytes)
                .detail("limit_bytes", limit_bytes)
                .detail(
                    "suggestion",
                    "Try /compact in your AI tool to start a fresh session, or ask your server \
                     operator for a larger limit.",
                ),
            ArchiveError::UploadUnreadable(_)
            | ArchiveError::StoredUnopenable(_)
            | ArchiveError::StoredDamaged(_) => ApiError::internal(err),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        ApiError::internal(format!("search: {err}"))
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        use DomainError as E;
        let message = err.to_string();
        match err {
            E::NotFound(_) => ApiError::not_found(message),
            E::Malformed(_) => ApiError::bad_request(message),
            E::Invalid { loc, input, .. } => ApiError::invalid_value(&loc, &message, input),
            E::Schema {
                kind, loc, input, ..
            } => ApiError::validation(kind, &loc, message, *input),
            E::Unprocessable(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            E::Refused { code, .. } => ApiError::structured(StatusCode::FORBIDDEN, code, message),
            E::Clash { code, .. } => ApiError::structured(StatusCode::CONFLICT, code, message),
            E::PasswordRequired | E::WrongPassword => ApiError::unauthorized(message),
            E::Forbidden(_) => ApiError::forbidden(message),
            E::InsufficientRole { current } => {
                ApiError::structured(StatusCode::FORBIDDEN, "insufficient_role", message)
                    .detail("current_role", current.as_deref().unwrap_or("none"))
                    .detail("required_role", "admin")
            }
            E::SeatLimit { used, limit } => {
                ApiError::structured(StatusCode::FORBIDDEN, "seat_limit", message)
                    .detail("seats_used", used)
                    .detail("seats_limit", limit)
            }
            E::UpgradeRequired {
                feature,
                current,
                required,
            } => ApiError::structured(StatusCode::FORBIDDEN, "upgrade_required", message)
                .detail("feature", feature)
                .detail("current_tier", current.to_string())
                .detail("required_tier", required.to_string()),
            E::SectionNotFound { slug, available } => ApiError::not_found(message)
                .detail("error", format!("Section '{slug}' not found"))
                .detail("available_slugs", available),
            E::ProjectUpgradeRequired {
                feature,
                current,
                required,
                project_id,
            } => ApiError::structured(StatusCode::FORBIDDEN, "upgrade_required", message)
                .detail("feature", feature)
                .detail("current_tier", current.to_string())
                .detail("required_tier", required.to_string())
                .detail("upgrade_url", UPGRADE_URL)
                .detail("plan_scope", "project")
                .detail("project_id", project_id),
            E::Boundary(b) => boundary(b, message),
            E::EditForbidden => ApiError::forbidden(message)
                .with_code("project_edit_forbidden")
                .detail("error", "project_edit_forbidden"),
            E::TooLarge(_) => ApiError::payload_too_large(message),
            E::Conflict(_) => ApiError::conflict(message),
            E::StaleEtag { current, .. } => ApiError::conflict(message)
                .with_code("etag_mismatch")
                .detail("current_etag", current),
            E::ClaimRaceLost => ApiError::conflict(message).detail("error", "claim_race_lost"),
            E::Gone(_) => ApiError::gone(message),
            E::NoMessages => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            E::TooMany {
                retry_after: Some(seconds),
                ..
            } => ApiError::too_many(message).retry_after(seconds),
            E::TooMany { .. } => ApiError::too_many(message),
            E::Fault(_) | E::Io(_) | E::Task(_) => ApiError::internal(message),
            E::StaleLease { passed, current } => {
                ApiError::structured(StatusCode::CONFLICT, "stale_lease_epoch", message)
                    .detail("passed_lease_epoch", passed)
                    .detail("current_lease_epoch", current)
            }
            E::EditForbiddenFields(fields) => ApiError::forbidden(message)
                .with_code("project_edit_forbidden")
                .detail("error", "project_edit_forbidden")
                .detail("fields", fields),
            E::Db(e) => e.into(),
            E::Archive(e) => e.into(),
            E::Search(e) => e.into(),
            E::Upload(e) => e.into(),
        }
    }
}

impl From<crate::domain::uploads::UploadError> for ApiError {
    fn from(err: crate::domain::uploads::UploadError) -> Self {
        use crate::domain::uploads::UploadError as U;
        let message = err.to_string();
        match err {
            U::NotFound => ApiError::not_found(message),
            U::TooManyPending { limit } => ApiError::conflict(message)
                .with_code("too_many_pending_uploads")
                .detail("limit", limit),
            U::Expired => ApiError::conflict(message).with_code("upload_expired"),
            U::NotPending => ApiError::conflict(message).with_code("upload_not_pending"),
            U::PartOutOfRange { n, count } => ApiError::bad_request(message)
                .with_code("part_out_of_range")
                .detail("part_number", n)
                .detail("part_count", count),
            U::PartTooLarge { n, expected } => ApiError::payload_too_large(message)
                .with_code("part_too_large")
                .detail("part_number", n)
                .detail("expected_size", expected),
            U::PartSize { n, got, expected } => ApiError::bad_request(message)
                .with_code("part_size_mismatch")
                .detail("part_number", n)
                .detail("size", got)
                .detail("expected_size", expected),
            U::PartHashMissing => ApiError::bad_request(message).with_code("part_sha256_required"),
            U::PartChecksum { n } => ApiError::bad_request(message)
                .with_code("part_checksum_mismatch")
                .detail("part_number", n),
            U::MissingParts { missing } => ApiError::conflict(message)
                .with_code("missing_parts")
                .detail("missing", missing),
            U::Checksum => ApiError::bad_request(message).with_code("checksum_mismatch"),
        }
    }
}

/// Where an `upgrade_required` answer sends the user.
const UPGRADE_URL: &str = "https://sessionfs.dev/pricing";

/// The service-key boundary codes of 03 §3.7, in `details.error`.
fn boundary(b: Boundary, message: String) -> ApiError {
    let err = |code| ApiError::structured(StatusCode::FORBIDDEN, code, message.clone());
    match b {
        Boundary::MissingOrg => err("service_key_missing_org"),
        Boundary::CrossOrg {
            key_org_id,
            project_org_id,
        } => err("cross_org_denied")
            .detail("key_org_id", key_org_id)
            .detail("project_org_id", project_org_id),
        Boundary::NotInAllowlist { allowed, requested } => err("project_not_in_allowlist")
            .detail("allowed_project_ids", allowed)
            .detail("requested_project_id", requested),
        Boundary::ProjectRequired => err("service_key_project_required"),
        Boundary::NotRegistered => err("service_key_project_not_registered"),
        Boundary::Ambiguous { project_ids } => {
            err("service_key_project_ambiguous").detail("project_ids", project_ids)
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        ApiError::internal(format!("io: {err}"))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("blocking task: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_writer_queue_is_503_with_retry_after() {
        let answer = ApiError::from(DbError::QueueFull);
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.retry_after, Some(1));
    }

    #[test]
    fn our_faults_are_500_without_their_text() {
        let io = std::io::Error::other("Input/output error (os error 5)");
        let answer = ApiError::from(ArchiveError::UploadUnreadable(io));
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!answer.message.contains("os error"), "{}", answer.message);
    }
}
