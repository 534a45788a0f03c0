//! The request and response bodies of the sessions routes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct SessionPatchRequest {
    /// At most 500 characters; HTML tags are removed.
    pub title: Option<String>,
    /// 3–100 of letters, digits, `-` and `_`, starting with a letter or digit.
    pub alias: Option<String>,
    /// At most 20, each at most 50 characters.
    pub tags: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
pub struct AliasRequest {
    pub alias: String,
}

/// A session in a list.
#[derive(Serialize, ToSchema)]
pub struct SessionSummary {
    #[schema(example = "ses_0123456789abcdef")]
    pub id: String,
    pub title: Option<String>,
    pub alias: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub tags: Value,
    #[schema(example = "claude-code")]
    pub source_tool: String,
    pub model_id: Option<String>,
    pub message_count: i64,
    pub turn_count: i64,
    pub tool_use_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub blob_size_bytes: i64,
    /// SHA-256 of the archive (64 hex, unquoted); the ETag of a pull.
    pub etag: String,
    pub parent_session_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub is_deleted: bool,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    /// `cloud` or `both`.
    pub delete_scope: Option<String>,
    pub purge_after: Option<String>,
}

/// A session: the list fields plus provenance.
#[derive(Serialize, ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub original_session_id: Option<String>,
    pub source_tool_version: Option<String>,
    pub model_provider: Option<String>,
    pub duration_ms: Option<i64>,
    pub uploaded_at: String,
    /// JSON text.
    pub dlp_scan_results: Option<String>,
    pub retrieval_audit_id: Option<String>,
}

/// A restored session, with where it had been deleted from.
#[derive(Serialize, ToSchema)]
pub struct RestoredSession {
    #[serde(flatten)]
    pub session: SessionDetail,
    /// `cloud` or `both`.
    pub restored_from_scope: String,
    /// True when it had been deleted everywhere: the local copy may be gone.
    pub local_copy_may_be_missing: bool,
}

/// A page of the caller's sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub has_more: bool,
}

/// A page of a session's visible messages, read from its archive.
#[derive(Serialize, ToSchema)]
pub struct MessagesPage {
    /// The message objects as stored in `messages.jsonl`.
    pub messages: Vec<Value>,
    /// Each message's 0-based line in `messages.jsonl`.
    #[schema(value_type = Vec<u64>)]
    pub message_indexes: Vec<usize>,
    /// Visible messages in the session.
    #[schema(value_type = u64)]
    pub total: usize,
    #[schema(value_type = u64)]
    pub page: usize,
    #[schema(value_type = u64)]
    pub page_size: usize,
    pub has_more: bool,
    /// Only with `around`.
    pub target: Option<MessageTarget>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageTarget {
    #[schema(value_type = u64)]
    pub index: usize,
    /// `found`, `hidden` or `missing`.
    pub status: &'static str,
    #[schema(value_type = Option<u64>)]
    pub anchor_index: Option<usize>,
}

/// An uploaded session (the server chose its id).
#[derive(Serialize, ToSchema)]
pub struct UploadResult {
    pub session_id: String,
    pub etag: String,
    #[schema(value_type = i64)]
    pub blob_size_bytes: u64,
    pub uploaded_at: String,
}

/// A deterministic summary of a session (no model is called; the narrative fields are null).
#[derive(Serialize, ToSchema)]
pub struct SessionSummaryReport {
    pub session_id: String,
    pub title: String,
    pub tool: String,
    pub model: Option<String>,
    pub duration_minutes: i64,
    pub message_count: i64,
    pub tool_call_count: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub files_modified: Vec<String>,
    pub files_read: Vec<String>,
    pub commands_executed: i64,
    pub tests_run: i64,
    pub tests_passed: i64,
    pub tests_failed: i64,
    pub packages_installed: Vec<String>,
    pub errors_encountered: Vec<String>,
    pub personas_active: Vec<String>,
    pub what_happened: Option<String>,
    pub key_decisions: Option<Vec<String>>,
    pub outcome: Option<String>,
    pub open_issues: Option<Vec<String>>,
    pub narrative_model: Option<String>,
    pub narrative_error: Option<Value>,
    pub generated_at: String,
}
