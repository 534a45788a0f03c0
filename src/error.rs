//! The one error type of the server and its wire form.
//!
//! Every failure a handler can produce is an [`ApiError`]; its `IntoResponse` writes the envelope
//! the `sfs` client reads: `{"error":{"code","message","details"}}`. `code` is the HTTP status as
//! a string unless a named code is set (`etag_mismatch`, `PAYLOAD_TOO_LARGE`, …); structured codes
//! the reference puts in `details.error` (`api_key_revoked`, `upgrade_required`, …) go there.
//! Client mistakes are 4xx; anything else is a 500 that is logged and never explains internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

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

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(e, _) = &err {
            if e.code == rusqlite::ErrorCode::ConstraintViolation
                && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            {
                return ApiError::conflict("Resource already exists")
                    .with_code("duplicate_resource")
                    .detail("status", 409);
            }
        }
        ApiError::internal(format!("database: {err}"))
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(err: r2d2::Error) -> Self {
        ApiError::internal(format!("database pool: {err}"))
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
