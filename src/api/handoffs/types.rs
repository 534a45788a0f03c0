//! The request and response bodies of the handoffs routes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct HandoffRequest {
    /// One of the caller's live sessions.
    pub session_id: String,
    /// Exactly one of `recipient_email`, `recipient_user_id` and `recipient_team_id`.
    pub recipient_email: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_team_id: Option<String>,
    /// At most 2000 characters.
    pub message: Option<String>,
    pub ticket_id: Option<String>,
    pub persona_name: Option<String>,
    /// 1–2160; default 168.
    pub expires_in_hours: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Value>>)]
    pub attachments: Vec<Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct HandoffRevokeRequest {
    /// 1–500 characters.
    pub reason: String,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct HandoffDeclineRequest {
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct HandoffCommentRequest {
    /// 1–10000 characters.
    pub content: String,
}

/// A handoff.
#[derive(Serialize, ToSchema)]
#[schema(as = Handoff)]
pub struct HandoffView {
    #[schema(example = "hnd_0123456789abcdef0123456789abcdef")]
    pub id: String,
    pub session_id: String,
    /// The recipient's copy, once claimed.
    pub recipient_session_id: Option<String>,
    pub sender_email: String,
    pub recipient_email: Option<String>,
    pub recipient_user_id: Option<String>,
    pub recipient_team_id: Option<String>,
    pub message: Option<String>,
    /// `pending`, `claimed`, `revoked`, `declined` or `expired`.
    pub status: String,
    pub session_title: Option<String>,
    pub session_tool: Option<String>,
    pub session_model_id: Option<String>,
    pub session_message_count: Option<i64>,
    pub session_total_tokens: Option<i64>,
    pub created_at: String,
    pub expires_at: String,
    pub claimed_at: Option<String>,
    pub revoked_at: Option<String>,
    pub viewed_at: Option<String>,
    pub ticket_id: Option<String>,
    pub persona_name: Option<String>,
    pub revoked_by_user_id: Option<String>,
    pub revoke_reason: Option<String>,
    /// `individual`.
    pub handoff_kind: String,
    pub snapshot_persona_name: Option<String>,
    pub snapshot_ticket_title: Option<String>,
    pub sender_tier_snapshot: Option<String>,
    pub source_project_id: Option<String>,
    pub attachments: Vec<Value>,
}

/// A handoff with its comments and events (at most 200 each, oldest first).
#[derive(Serialize, ToSchema)]
pub struct HandoffDetail {
    #[serde(flatten)]
    pub handoff: HandoffView,
    pub comments: Vec<HandoffComment>,
    pub events: Vec<HandoffEvent>,
}

/// A claimed handoff; `recipient_session_id` is the caller's new copy.
#[derive(Serialize, ToSchema)]
pub struct HandoffClaim {
    #[serde(flatten)]
    pub handoff: HandoffView,
    pub active_ticket_payload: Option<Value>,
    pub dropped_attachments: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct HandoffList {
    pub handoffs: Vec<HandoffView>,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct HandoffComment {
    pub id: String,
    pub handoff_id: String,
    pub author_user_id: Option<String>,
    pub content: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct HandoffEvent {
    pub id: i64,
    pub handoff_id: String,
    /// `created`, `viewed`, `claimed`, `revoked`, `declined`, `commented`, `expired`.
    pub event_type: String,
    pub actor_user_id: Option<String>,
    #[schema(value_type = Option<Map<String, Value>>)]
    pub payload: Option<Value>,
    pub created_at: String,
}

/// What the recipient's mail link shows before they sign in.
#[derive(Serialize, ToSchema)]
pub struct HandoffPreview {
    pub title: Option<String>,
    pub sender_email: Option<String>,
    pub tool: Option<String>,
    pub message_count: Option<i64>,
    pub status: String,
    pub expires_at: String,
    /// The first messages that have text, secrets redacted.
    pub preview_messages: Vec<PreviewMessage>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PreviewMessage {
    pub role: String,
    pub text: String,
    pub index: u64,
}

/// The summary of a handoff's session (never its archive or messages).
#[derive(Serialize, ToSchema)]
pub struct HandoffSummary {
    pub session_id: String,
    pub title: String,
    pub tool: String,
    pub model: Option<String>,
    pub message_count: i64,
    /// At most 10.
    pub files_modified: Vec<String>,
    pub commands_executed: i64,
    pub tests_run: i64,
    pub tests_passed: i64,
    pub tests_failed: i64,
    /// At most 3.
    pub errors_encountered: Vec<String>,
    /// At most 3, newest first.
    pub last_assistant_messages: Vec<String>,
}
