//! LLM-judge audits (contract 03 §7): `/api/v1/sessions/{id}/audit*` on the caller's own
//! sessions (trash included, as the reference), 404 for anyone else's. The run's errors are
//! the plain bodies of §7.2, not the envelope.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{Json, OptionalJson};
use crate::auth::Principal;
use crate::db::sessions::{SessionRow, Visibility};
use crate::domain::audit::{self, AuditDeps, AuditRequest, Outcome};
use crate::domain::sessions::find_owned;
use crate::domain::tiers::Feature;
use crate::error::ApiResult;
use crate::secrets::Plain;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_audit, get_audit))
        .routes(routes!(list_audits))
        .routes(routes!(audit_status))
        .routes(routes!(dismiss))
        .routes(routes!(get_history_entry))
}

/// What the audit needs from the state.
pub fn deps(state: &AppState) -> AuditDeps {
    AuditDeps {
        db: state.db.clone(),
        blobs: state.blobs.clone(),
        clock: state.clock.clone(),
        llm: state.llm.clone(),
        sealer: state.sealer.clone(),
        default_model: state.config.judge_model.clone(),
        background_threshold: state.config.audit_background_threshold,
    }
}

async fn own_session(state: &AppState, principal: &Principal, id: &str) -> ApiResult<SessionRow> {
    Ok(find_owned(&state.db, &principal.user.id, id, Visibility::LiveOrDeleted).await?)
}

#[derive(Deserialize, ToSchema, Default)]
pub struct AuditBody {
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Used only for this run's outbound calls; never stored or logged.
    pub llm_api_key: Option<String>,
    pub base_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditAccepted {
    /// `accepted`.
    pub status: String,
    pub session_id: String,
    pub message: String,
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/audit", tag = "audit", operation_id = "run_audit",
    summary = "Run the LLM judge on a session",
    description = "Under 500 messages the audit runs inline and answers 200 with the report; at or \
        above it runs as a background job (one per session) and answers 202; poll \
        `/audit/status`. The key, model and endpoint come from the body, else the caller's judge \
        settings, else the server's `--judge-base-url`. Errors of the run itself are plain \
        bodies `{\"error\": \"no_claims_extracted\"|\"llm_request_failed\"|\"llm_timeout\", \"message\", …}`.",
    params(("id" = String, Path, description = "Session id or alias")),
    request_body = AuditBody,
    responses(
        (status = 200, description = "The report", body = Object),
        (status = 202, description = "Started (or already running) in the background", body = AuditAccepted),
        (status = 400, description = "Nothing configured, a refused `base_url`, or no messages"),
        (status = 403, description = "The tier has no judge (`upgrade_required`)"),
        (status = 404, description = "Not the caller's session"),
        (status = 422, description = "`no_claims_extracted` (plain body) or a bad body"),
        (status = 502, description = "`llm_request_failed` (plain body)"),
        (status = 504, description = "`llm_timeout` (plain body)"),
    ),
)]
async fn run_audit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AuditBody>,
) -> ApiResult<Response> {
    principal.tier().require(Feature::JudgeManual)?;
    let session = own_session(&state, &principal, &id).await?;
    let req = AuditRequest {
        model: body.model,
        provider: body.provider,
        llm_api_key: Plain::new(body.llm_api_key.unwrap_or_default()),
        base_url: body.base_url,
    };
    Ok(
        match audit::audit(&deps(&state), &principal.user.id, &session, &req).await? {
            Outcome::Report(report) => Json(report).into_response(),
            Outcome::Accepted {
                messages,
                already_running,
            } => {
                let message = if already_running {
                    format!("An audit of this session is already running ({messages} messages). Poll GET /audit/status to check progress.")
                } else {
                    format!("Audit started in background ({messages} messages). Poll GET /audit/status to check progress.")
                };
                (
                    StatusCode::ACCEPTED,
                    Json(AuditAccepted {
                        status: "accepted".into(),
                        session_id: session.id,
                        message,
                    }),
                )
                    .into_response()
            }
        },
    )
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/audit", tag = "audit", operation_id = "get_audit",
    summary = "The latest audit report of a session",
    params(("id" = String, Path, description = "Session id or alias")),
    responses(
        (status = 200, description = "The report, with dismissals", body = Object),
        (status = 404, description = "Not the caller's session, or no report"),
    ),
)]
async fn get_audit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = own_session(&state, &principal, &id).await?;
    Ok(Json(
        audit::latest(&state.db, &principal.user.id, &session.id).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct AuditHistoryItem {
    pub id: String,
    pub session_id: String,
    pub judge_model: String,
    pub judge_provider: String,
    /// 0–100.
    pub trust_score: i64,
    pub total_claims: i64,
    pub contradiction_count: i64,
    pub execution_time_ms: i64,
    pub created_at: String,
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/audits", tag = "audit", operation_id = "list_audits",
    summary = "Audit history of a session, newest first",
    params(("id" = String, Path, description = "Session id or alias")),
    responses(
        (status = 200, description = "Every run, synchronous and background", body = Vec<AuditHistoryItem>),
        (status = 404, description = "Not the caller's session"),
    ),
)]
async fn list_audits(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AuditHistoryItem>>> {
    let session = own_session(&state, &principal, &id).await?;
    let rows = audit::history(&state.db, &principal.user.id, &session.id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditHistoryItem {
                id: r.id,
                session_id: r.session_id,
                judge_model: r.model,
                judge_provider: r.provider,
                trust_score: (r.trust_score * 100.0).round() as i64,
                total_claims: r.total_claims,
                contradiction_count: r.hallucinations,
                execution_time_ms: r.execution_time_ms,
                created_at: r.created_at,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct AuditStatus {
    /// `running`, `completed`, `error` (a background run failed; see `error`) or `not_started`.
    pub status: String,
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/audit/status", tag = "audit", operation_id = "audit_status",
    summary = "Whether an audit of the session is running or done",
    params(("id" = String, Path, description = "Session id or alias")),
    responses(
        (status = 200, description = "The status", body = AuditStatus),
        (status = 404, description = "Not the caller's session"),
    ),
)]
async fn audit_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditStatus>> {
    let session = own_session(&state, &principal, &id).await?;
    let (status, error) = audit::status(&state.db, &principal.user.id, &session.id).await?;
    Ok(Json(AuditStatus {
        status: status.into(),
        session_id: session.id,
        error,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct DismissBody {
    pub finding_index: i64,
    #[serde(default = "yes")]
    pub dismissed: bool,
    #[serde(default)]
    pub reason: String,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
pub struct Dismissed {
    pub status: String,
    pub finding_index: i64,
    pub dismissed: bool,
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/audit/dismiss", tag = "audit", operation_id = "dismiss_finding",
    summary = "Dismiss (or restore) a finding of the latest report",
    params(("id" = String, Path, description = "Session id or alias")),
    request_body = DismissBody,
    responses(
        (status = 200, description = "Done", body = Dismissed),
        (status = 400, description = "`finding_index` out of range"),
        (status = 404, description = "Not the caller's session, or no report"),
    ),
)]
async fn dismiss(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<DismissBody>,
) -> ApiResult<Json<Dismissed>> {
    let session = own_session(&state, &principal, &id).await?;
    let (index, dismissed) = (body.finding_index, body.dismissed);
    audit::dismiss(
        &state.db,
        &state.clock,
        &principal.user.id,
        &session.id,
        audit::Dismissal {
            finding_index: body.finding_index,
            dismissed: body.dismissed,
            reason: body.reason,
            by: principal.user.email.clone(),
        },
    )
    .await?;
    Ok(Json(Dismissed {
        status: "ok".into(),
        finding_index: index,
        dismissed,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/sessions/audits/{audit_id}", tag = "audit", operation_id = "get_audit_history_entry",
    summary = "One run of the audit history, with its findings",
    params(("audit_id" = String, Path, description = "`aud_…` id")),
    responses(
        (status = 200, description = "The run", body = Object),
        (status = 404, description = "No such run of the caller"),
    ),
)]
async fn get_history_entry(
    State(state): State<AppState>,
    principal: Principal,
    Path(audit_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = audit::history_entry(&state.db, &principal.user.id, &audit_id).await?;
    let findings: Value = serde_json::from_str(&r.findings).unwrap_or(Value::Array(vec![]));
    Ok(Json(serde_json::json!({
        "id": r.id, "session_id": r.session_id, "model": r.model, "provider": r.provider,
        "base_url": r.base_url, "trust_score": r.trust_score, "total_claims": r.total_claims,
        "verified": r.verified, "unverified": r.unverified, "hallucinations": r.hallucinations,
        "findings": findings, "execution_time_ms": r.execution_time_ms, "created_at": r.created_at,
    })))
}
