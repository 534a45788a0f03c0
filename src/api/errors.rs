//! The error envelope in the document. [`ApiError`](crate::error::ApiError) writes it; these
//! types describe it. A route declares only which error statuses it can answer and why
//! (`(status = 404, description = "No such session of the caller")`); the document assembly
//! (`api::docs`) gives every 4xx/5xx answer the [`ErrorEnvelope`] body, and every authenticated
//! operation the [`AuthErrors`].

use serde_json::{Map, Value};
use utoipa::{IntoResponses, ToSchema};

/// The error envelope every non-2xx JSON answer uses.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "404", "message": "Session not found", "details": {}}}))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The inside of the error envelope.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// The HTTP status as a string (`"404"`), or a named code (`etag_mismatch`,
    /// `PAYLOAD_TOO_LARGE`, `service_key_not_allowed`, `duplicate_resource`…).
    pub code: String,
    pub message: String,
    /// Structured detail: `error` holds a machine code (`api_key_revoked`, `upgrade_required`,
    /// `insufficient_scope`…); a 422 has `errors`, a list of `ValidationIssue` objects; a 409 push
    /// conflict has `current_etag`.
    pub details: Map<String, Value>,
}

/// One entry of `details.errors` in a 422 (the shape FastAPI gives).
#[derive(ToSchema)]
pub struct ValidationIssue {
    /// `missing`, `value_error`, `string_too_long`, `int_parsing`, `json_invalid`…
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: `["body", "email"]`, `["query", "page"]`.
    pub loc: Vec<String>,
    pub msg: String,
    pub input: Value,
}

/// What every operation that needs a key can answer besides its own errors.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AuthErrors {
    #[response(
        status = 401,
        description = "No key, or an unknown, revoked (`details.error` `api_key_revoked`) \
                       or expired (`api_key_expired`) key"
    )]
    Unauthorized(ErrorEnvelope),
    #[response(
        status = 429,
        description = "Too many requests with this key in the last minute"
    )]
    TooManyRequests(ErrorEnvelope),
}
