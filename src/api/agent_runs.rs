//! Agent runs (02 §7) under `/api/v1/projects/{project_id}/agent-runs`: create, list, get and
//! complete take service keys with `agent_runs:read` / `agent_runs:write` inside their project
//! boundary; start and cancel are user keys only. Moving a run needs a service key, the user
//! who triggered it, or an editor (403 `project_edit_forbidden` otherwise).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{Json, QueryPairs};
use crate::auth::{AgentRunsRead, AgentRunsWrite, Principal, ProjectReader, UserOnly};
use crate::db::agent_runs::{
    CiProvider, Filter, PolicyResult, Run, RunStatus, Severity, TriggerSource,
};
use crate::domain::agent_runs::{self as rules, Caller, Completion, ListQuery, NewRun};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_run))
        .routes(routes!(start))
        .routes(routes!(complete))
        .routes(routes!(cancel))
}

/// An agent run as answered.
#[derive(Serialize, ToSchema)]
pub struct RunBody {
    /// `run_` + 16 hex.
    pub id: String,
    pub project_id: String,
    /// The persona's canonical name.
    pub persona_name: String,
    pub tool: String,
    pub trigger_source: TriggerSource,
    pub status: RunStatus,
    pub ticket_id: Option<String>,
    pub trigger_ref: Option<String>,
    pub ci_provider: Option<CiProvider>,
    pub ci_run_url: Option<String>,
    pub result_summary: Option<String>,
    pub severity: Option<Severity>,
    pub findings_count: i64,
    pub findings: Vec<Value>,
    pub fail_on: Option<Severity>,
    pub policy_result: Option<PolicyResult>,
    /// 0 pass, 1 fail; set when the run finishes.
    pub exit_code: Option<i64>,
    pub session_id: Option<String>,
    pub triggered_by_user_id: Option<String>,
    pub triggered_by_persona: Option<String>,
    pub replayed_from: Option<String>,
    pub prompt: Option<String>,
    pub context_refs: Vec<String>,
    /// `user` or `service_key`: who created the run.
    pub actor_type: String,
    pub service_key_id: Option<String>,
    pub service_key_name: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// Whole seconds from start to finish (none if it never started).
    pub duration_seconds: Option<i64>,
}

impl From<Run> for RunBody {
    fn from(r: Run) -> Self {
        let (service_key_id, service_key_name) = match r.service_key {
            Some((id, name)) => (Some(id), Some(name)),
            None => (None, None),
        };
        RunBody {
            actor_type: if service_key_id.is_some() {
                "service_key"
            } else {
                "user"
            }
            .into(),
            service_key_id,
            service_key_name,
            id: r.id,
            project_id: r.project_id,
            persona_name: r.persona_name,
            tool: r.tool,
            trigger_source: r.trigger_source,
            status: r.status,
            ticket_id: r.ticket_id,
            trigger_ref: r.trigger_ref,
            ci_provider: r.ci_provider,
            ci_run_url: r.ci_run_url,
            result_summary: r.result_summary,
            severity: r.severity,
            findings_count: r.findings_count,
            findings: r.findings,
            fail_on: r.fail_on,
            policy_result: r.policy_result,
            exit_code: r.exit_code,
            session_id: r.session_id,
            triggered_by_user_id: r.triggered_by_user_id,
            triggered_by_persona: r.triggered_by_persona,
            replayed_from: r.replayed_from,
            prompt: r.prompt,
            context_refs: r.context_refs,
            created_at: r.created_at,
            started_at: r.started_at,
            completed_at: r.completed_at,
            duration_seconds: r.duration_seconds,
        }
    }
}

fn caller<A, const E: bool>(access: &crate::auth::project::ProjectAccess<A, E>) -> Caller {
    caller_of(&access.principal, access.standing)
}

fn caller_of(principal: &Principal, standing: crate::domain::projects::Standing) -> Caller {
    Caller {
        actor: principal.actor(),
        standing,
        service_key: principal.service_key_ref(),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateRunRequest {
    /// A persona of the project or its org (any case; the canonical name is stored).
    pub persona_name: String,
    /// Token-budget hint (default `generic`, at most 50 characters).
    pub tool: Option<String>,
    /// manual (default), ci, webhook, scheduled, mcp, api; any case.
    pub trigger_source: Option<String>,
    /// A ticket of this project.
    pub ticket_id: Option<String>,
    /// At most 200 characters.
    pub trigger_ref: Option<String>,
    /// github, gitlab, bitbucket, circleci, jenkins, buildkite, azure, drone, other.
    pub ci_provider: Option<String>,
    pub ci_run_url: Option<String>,
    /// none, low, medium, high, critical: the severity at which `complete` fails the run.
    pub fail_on: Option<String>,
    pub triggered_by_persona: Option<String>,
    /// At most 20,000 characters.
    pub prompt: Option<String>,
    /// At most 50, each at most 500 characters; blanks are dropped.
    #[serde(default)]
    pub context_refs: Vec<String>,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/agent-runs", tag = "agent_runs",
    operation_id = "create_agent_run", summary = "Record a queued agent run",
    description = "The persona must resolve to an active persona of the project or its org; \
        `${{` is refused in `trigger_ref`, `prompt` and `context_refs`.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = CreateRunRequest,
    responses(
        (status = 201, description = "The queued run", body = RunBody),
        (status = 403, description = "The project's plan lacks agent runs (`upgrade_required`), or a service key outside its boundary"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "A bad field, an unknown or inactive persona, or a ticket of no such id in the project"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    access: ProjectReader<AgentRunsWrite>,
    Json(b): Json<CreateRunRequest>,
) -> ApiResult<Response> {
    let new = NewRun {
        persona_name: b.persona_name,
        tool: b.tool,
        trigger_source: b.trigger_source,
        ticket_id: b.ticket_id,
        trigger_ref: b.trigger_ref,
        ci_provider: b.ci_provider,
        ci_run_url: b.ci_run_url,
        fail_on: b.fail_on,
        triggered_by_persona: b.triggered_by_persona,
        prompt: b.prompt,
        context_refs: b.context_refs,
    };
    let run = rules::create(
        &state.db,
        &state.clock,
        caller(&access),
        access.project,
        new,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(RunBody::from(run))).into_response())
}

fn vocabulary<T>(
    q: &QueryPairs,
    name: &str,
    parse: fn(&str) -> Option<T>,
    listing: String,
) -> ApiResult<Option<T>> {
    match q.last(name) {
        None | Some("") => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            ApiError::validation(
                "enum",
                &["query", name],
                format!("Input should be one of: {listing}"),
                Value::from(v),
            )
        }),
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/agent-runs", tag = "agent_runs",
    operation_id = "list_agent_runs", summary = "Agent runs of a project, newest first",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("persona_name" = Option<String>, Query, description = "Exact persona name"),
        ("status" = Option<String>, Query, description = "queued, running, passed, failed, errored, cancelled"),
        ("trigger_source" = Option<String>, Query, description = "manual, ci, webhook, scheduled, mcp, api"),
        ("ticket_id" = Option<String>, Query, description = "Runs of one ticket"),
        ("limit" = Option<i64>, Query, description = "1–200, default 50"),
    ),
    responses(
        (status = 200, description = "The runs", body = Vec<RunBody>),
        (status = 403, description = "The project's plan lacks agent runs"),
        (status = 404, description = "Project not found"),
        (status = 422, description = "A bad status, trigger source or limit"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    access: ProjectReader<AgentRunsRead>,
    q: QueryPairs,
) -> ApiResult<Json<Vec<RunBody>>> {
    let filter = Filter {
        persona_name: q.last("persona_name").map(str::to_string),
        status: vocabulary(&q, "status", RunStatus::parse, RunStatus::listing())?,
        trigger_source: vocabulary(
            &q,
            "trigger_source",
            TriggerSource::parse,
            TriggerSource::listing(),
        )?,
        ticket_id: q.last("ticket_id").map(str::to_string),
    };
    let query = ListQuery {
        filter,
        limit: q.int("limit", 50, 1, 200)?,
    };
    let runs = rules::list(&state.db, access.project, query).await?;
    Ok(Json(runs.into_iter().map(RunBody::from).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/agent-runs/{run_id}", tag = "agent_runs",
    operation_id = "get_agent_run", summary = "One agent run",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("run_id" = String, Path, description = "Run id"),
    ),
    responses(
        (status = 200, description = "The run", body = RunBody),
        (status = 403, description = "The project's plan lacks agent runs"),
        (status = 404, description = "Project or run not found"),
    ),
)]
async fn get_run(
    State(state): State<AppState>,
    access: ProjectReader<AgentRunsRead>,
    Path((_, run_id)): Path<(String, String)>,
) -> ApiResult<Json<RunBody>> {
    let run = rules::get(&state.db, access.project, run_id).await?;
    Ok(Json(run.into()))
}

/// A started run and the context to give the agent.
#[derive(Serialize, ToSchema)]
pub struct StartResponse {
    pub run: RunBody,
    /// The persona, the run's ticket (if any) and the project's context document, cut to the
    /// tool's budget.
    pub compiled_context: String,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/agent-runs/{run_id}/start", tag = "agent_runs",
    operation_id = "start_agent_run", summary = "Start a queued run",
    description = "No body. `tool` overrides the run's tool for the context budget only. The \
        persona is resolved again: a persona deleted since the run was queued is 422 and the \
        run stays queued.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("run_id" = String, Path, description = "Run id"),
        ("tool" = Option<String>, Query, description = "Tool whose budget applies"),
    ),
    responses(
        (status = 200, description = "Running, with the compiled context", body = StartResponse),
        (status = 403, description = "Neither the triggering user nor an editor (`project_edit_forbidden`), or the plan lacks agent runs"),
        (status = 404, description = "Project or run not found"),
        (status = 409, description = "The run is not queued"),
        (status = 422, description = "The run's persona is gone"),
    ),
)]
async fn start(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
    Path((_, run_id)): Path<(String, String)>,
    q: QueryPairs,
) -> ApiResult<Json<StartResponse>> {
    let tool = q
        .last("tool")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let started = rules::start(
        &state.db,
        &state.clock,
        caller(&access),
        access.project,
        run_id,
        tool,
    )
    .await?;
    Ok(Json(StartResponse {
        run: started.run.into(),
        compiled_context: started.compiled_context,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CompleteRunRequest {
    /// passed (default), failed or errored; a `passed` run whose severity reaches its
    /// `fail_on` is stored as failed.
    pub status: Option<String>,
    pub result_summary: Option<String>,
    /// none (default), low, medium, high, critical.
    pub severity: Option<String>,
    /// Finding objects (at most 1,000).
    #[serde(default)]
    pub findings: Vec<Value>,
    pub session_id: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/agent-runs/{run_id}/complete", tag = "agent_runs",
    operation_id = "complete_agent_run", summary = "Record a run's result",
    description = "From queued or running. The policy: no `fail_on` (or `none`) or a `none` \
        severity passes; otherwise the run fails when its severity reaches `fail_on`. Failed \
        and errored runs answer `policy_result` fail and `exit_code` 1; others pass with 0.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("run_id" = String, Path, description = "Run id"),
    ),
    request_body = CompleteRunRequest,
    responses(
        (status = 200, description = "The finished run", body = RunBody),
        (status = 403, description = "Neither a service key, the triggering user nor an editor (`project_edit_forbidden`), or the plan lacks agent runs"),
        (status = 404, description = "Project or run not found"),
        (status = 409, description = "Already terminal"),
        (status = 422, description = "A bad status, severity or finding"),
    ),
)]
async fn complete(
    State(state): State<AppState>,
    access: ProjectReader<AgentRunsWrite>,
    Path((_, run_id)): Path<(String, String)>,
    Json(b): Json<CompleteRunRequest>,
) -> ApiResult<Json<RunBody>> {
    let body = Completion {
        status: b.status,
        result_summary: b.result_summary,
        severity: b.severity,
        findings: b.findings,
        session_id: b.session_id,
    };
    let run = rules::complete(
        &state.db,
        &state.clock,
        caller(&access),
        access.project,
        run_id,
        body,
    )
    .await?;
    Ok(Json(run.into()))
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/agent-runs/{run_id}/cancel", tag = "agent_runs",
    operation_id = "cancel_agent_run", summary = "Cancel a queued or running run",
    description = "No body. The run ends `cancelled` with `policy_result` pass and exit code 0.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("run_id" = String, Path, description = "Run id"),
    ),
    responses(
        (status = 200, description = "The cancelled run", body = RunBody),
        (status = 403, description = "Neither the triggering user nor an editor (`project_edit_forbidden`), or the plan lacks agent runs"),
        (status = 404, description = "Project or run not found"),
        (status = 409, description = "Already terminal"),
    ),
)]
async fn cancel(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
    Path((_, run_id)): Path<(String, String)>,
) -> ApiResult<Json<RunBody>> {
    let run = rules::cancel(
        &state.db,
        &state.clock,
        caller(&access),
        access.project,
        run_id,
    )
    .await?;
    Ok(Json(run.into()))
}
