//! Compile (02 §3.6): compile, rebuild, the compilation history, compile status, health, the
//! context document's sections, and the platform admin's restore from a compilation (03 §4.2).
//! Compile and rebuild need edit standing and a user key; the reads need read standing; the
//! sections route also admits service keys with `knowledge:read` inside their boundary.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::auth::{KnowledgeRead, Principal, ProjectEditor, ProjectReader, UserOnly};
use crate::domain::compile::{self as rules, Compiler, HistoryItem, LlmConfig, MergeMode, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(compile))
        .routes(routes!(rebuild))
        .routes(routes!(compilations))
        .routes(routes!(compile_status))
        .routes(routes!(health))
        .routes(routes!(context_section))
        .routes(routes!(restore_from_compilation))
}

fn default_model() -> String {
    "claude-sonnet-4".into()
}

/// The optional body of compile, rebuild and regenerate: a model to merge with, for this
/// request only (the key is never stored).
#[derive(Deserialize, ToSchema, Default)]
pub struct CompileRequest {
    pub llm_api_key: Option<String>,
    /// Default `claude-sonnet-4`.
    #[serde(default = "default_model")]
    pub model: String,
    pub provider: Option<String>,
    /// An OpenAI-compatible endpoint.
    pub base_url: Option<String>,
}

impl CompileRequest {
    pub fn llm(body: Option<CompileRequest>) -> Option<LlmConfig> {
        let body = body?;
        let api_key = body.llm_api_key.filter(|k| !k.trim().is_empty())?;
        Some(LlmConfig {
            api_key,
            model: body.model,
            provider: body.provider,
            base_url: body.base_url,
        })
    }
}

/// How the document was merged: `deterministic` or `llm`.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Merge {
    Deterministic,
    Llm,
}

impl From<MergeMode> for Merge {
    fn from(m: MergeMode) -> Self {
        match m {
            MergeMode::Deterministic => Merge::Deterministic,
            MergeMode::Llm => Merge::Llm,
        }
    }
}

/// A compilation (02 §3.6). A no-op has `id: 0`, null contexts and a `noop_reason`.
#[derive(Serialize, ToSchema)]
pub struct CompilationBody {
    pub id: i64,
    pub project_id: String,
    pub user_id: String,
    pub entries_compiled: i64,
    pub context_before: Option<String>,
    pub context_after: Option<String>,
    pub compiled_at: String,
    pub context_words_before: i64,
    pub context_words_after: i64,
    /// The current number of section pages (not a delta).
    pub section_pages_updated: i64,
    /// The current number of concept pages (not a delta).
    pub concept_pages_updated: i64,
    pub noop_reason: Option<String>,
    /// `manual` or `scheduled`.
    pub trigger: String,
    /// Extra: how the document was merged.
    pub merge: Merge,
    /// Extra: why an LLM merge that was asked for was not used.
    pub merge_note: Option<String>,
}

fn compiler(principal: &Principal) -> Compiler {
    Compiler {
        user_id: principal.user.id.clone(),
        service_key: principal.service_key_ref(),
    }
}

impl From<Outcome> for CompilationBody {
    fn from(o: Outcome) -> Self {
        let words = rules::word_count(&o.tx.context_after);
        let noop = o.tx.compilation_id.is_none();
        CompilationBody {
            id: o.tx.compilation_id.unwrap_or(0),
            project_id: o.project_id,
            user_id: o.user_id,
            entries_compiled: o.tx.entries_compiled,
            context_before: (!noop).then(|| o.tx.context_before.clone()),
            context_after: (!noop).then(|| o.tx.context_after.clone()),
            compiled_at: if noop {
                o.last_compiled_at.unwrap_or(o.tx.compiled_at)
            } else {
                o.tx.compiled_at
            },
            context_words_before: if noop {
                words
            } else {
                rules::word_count(&o.tx.context_before)
            },
            context_words_after: words,
            section_pages_updated: o.section_pages,
            concept_pages_updated: o.concept_pages,
            noop_reason: o.tx.noop_reason,
            trigger: "manual".into(),
            merge: o.merge.into(),
            merge_note: o.merge_note,
        }
    }
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/compile", tag = "knowledge",
    operation_id = "compile_project", summary = "Compile pending claims into the context document",
    description = "In one transaction: freshness, auto-supersede, decay (once per 30 days), \
        retention, evidence promotion, then the pending claims merged into the document, the \
        compilation recorded and the section pages rewritten; then the concept pages. With \
        nothing pending the answer is the no-op (`id: 0`, `noop_reason`). The body is optional \
        (no body, `{}` or `null`); with `llm_api_key` the merge asks that model (`model`, \
        default `claude-sonnet-4`; `provider`, else implied by the model's name; `base_url`: \
        an OpenAI-compatible endpoint, subject to the URL guard) for the updated document, \
        outside the transaction, and `merge` says `llm`; if the pending claims change \
        meanwhile it asks again (2 calls at most). Any model failure gives the deterministic \
        merge with `merge_note` saying why. The key is used for this request only: never \
        stored, never logged. User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content = Option<CompileRequest>, description = "Optional LLM settings"),
    responses(
        (status = 200, description = "The compilation (or the no-op)", body = CompilationBody),
        (status = 403, description = "Readers may not compile (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
    ),
)]
async fn compile(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    OptionalJson(body): OptionalJson<Option<CompileRequest>>,
) -> ApiResult<Json<CompilationBody>> {
    Ok(Json(run(&state, access, body, false).await?.into()))
}

/// Compile (or rebuild) for the caller, then re-index the project's entries in the knowledge
/// index: compile changes their dismissed, superseded and claim-class state. The re-index runs
/// after the commit, off the response path (a large project takes a while; the index is derived
/// data and `reindex` repairs it).
async fn run(
    state: &AppState,
    access: ProjectEditor<UserOnly>,
    body: Option<CompileRequest>,
    rebuild: bool,
) -> ApiResult<rules::Outcome> {
    let who = compiler(&access.principal);
    let outcome = rules::compile(
        &state.db,
        &state.clock,
        &state.llm,
        access.project.id,
        who,
        rebuild,
        CompileRequest::llm(body),
    )
    .await?;
    let (db, index, project_id) = (
        state.db.clone(),
        state.knowledge.clone(),
        outcome.project_id.clone(),
    );
    state.background.spawn(async move {
        crate::domain::knowledge_index::touched(&db, &index, &project_id, None).await;
        crate::domain::knowledge_index::pages_touched(&db, &index, &project_id).await;
    });
    Ok(outcome)
}

/// The answer to a rebuild.
#[derive(Serialize, ToSchema)]
pub struct RebuildBody {
    pub project_id: String,
    /// Entries whose freshness class changed.
    pub freshness_updated: i64,
    pub entries_compiled: i64,
    pub context_words: i64,
    pub section_pages_updated: i64,
    pub concept_pages_updated: i64,
    pub merge: Merge,
    pub merge_note: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/projects/{project_id}/rebuild", tag = "knowledge",
    operation_id = "rebuild_project", summary = "Recompile every active claim from an empty document",
    description = "Compile with every active claim pending again and an empty base document. \
        Body as compile (optional). User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content = Option<CompileRequest>, description = "Optional LLM settings"),
    responses(
        (status = 200, description = "What the rebuild did", body = RebuildBody),
        (status = 403, description = "Readers may not rebuild (`project_edit_forbidden`)"),
        (status = 404, description = "Project not found"),
    ),
)]
async fn rebuild(
    State(state): State<AppState>,
    access: ProjectEditor<UserOnly>,
    OptionalJson(body): OptionalJson<Option<CompileRequest>>,
) -> ApiResult<Json<RebuildBody>> {
    let o = run(&state, access, body, true).await?;
    Ok(Json(RebuildBody {
        context_words: rules::word_count(&o.tx.context_after),
        project_id: o.project_id,
        freshness_updated: o.tx.freshness_updated,
        entries_compiled: o.tx.entries_compiled,
        section_pages_updated: o.section_pages,
        concept_pages_updated: o.concept_pages,
        merge: o.merge.into(),
        merge_note: o.merge_note,
    }))
}

/// A compilation in the history.
#[derive(Serialize, ToSchema)]
pub struct HistoryBody {
    pub id: i64,
    pub project_id: String,
    pub user_id: String,
    pub entries_compiled: i64,
    pub context_before: Option<String>,
    pub context_after: Option<String>,
    pub compiled_at: String,
    pub context_words_before: i64,
    pub context_words_after: i64,
    /// Always 0 in the history.
    pub section_pages_updated: i64,
    /// Always 0 in the history.
    pub concept_pages_updated: i64,
    /// Always null in the history.
    pub noop_reason: Option<String>,
    pub trigger: String,
}

impl From<HistoryItem> for HistoryBody {
    fn from(h: HistoryItem) -> Self {
        let c = h.compilation;
        HistoryBody {
            id: c.id,
            project_id: c.project_id,
            user_id: c.user_id,
            entries_compiled: c.entries_compiled,
            context_before: c.context_before,
            context_after: c.context_after,
            compiled_at: c.compiled_at,
            context_words_before: h.words_before,
            context_words_after: h.words_after,
            section_pages_updated: 0,
            concept_pages_updated: 0,
            noop_reason: None,
            trigger: c.trigger,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/compilations", tag = "knowledge",
    operation_id = "list_compilations", summary = "Compilation history, newest first",
    description = "`limit` 1–100 (default 20). Wiki page regenerates are listed too (02 §9.5). \
        User keys only.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("limit" = Option<i64>, Query, description = "1–100, default 20"),
    ),
    responses(
        (status = 200, description = "The compilations", body = Vec<HistoryBody>),
        (status = 404, description = "Project not found"),
        (status = 422, description = "`limit` out of range"),
    ),
)]
async fn compilations(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
    q: QueryPairs,
) -> ApiResult<Json<Vec<HistoryBody>>> {
    let limit = q.int("limit", 20, 1, 100)?;
    let items = rules::compilations(&state.db, access.project.id, limit).await?;
    Ok(Json(items.into_iter().map(HistoryBody::from).collect()))
}

/// One row of `compile_history`.
#[derive(Serialize, ToSchema)]
pub struct StatusHistoryItem {
    pub id: i64,
    pub compiled_at: String,
    pub trigger: String,
    pub entries_compiled: i64,
    pub context_words_before: i64,
    pub context_words_after: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CompileStatusBody {
    pub last_compile_at: Option<String>,
    /// Pending claims plus evidence a compile would promote.
    pub pending_claims: i64,
    pub compile_needed: bool,
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
    pub last_scheduled_compile_at: Option<String>,
    pub next_scheduled_at: Option<String>,
    pub compile_history: Vec<StatusHistoryItem>,
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/compile-status", tag = "knowledge",
    operation_id = "compile_status", summary = "Whether a compile is due",
    description = "`compile_needed`: something pending and no compile in 24 h, or 20+ pending. \
        User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The status", body = CompileStatusBody),
        (status = 404, description = "Project not found"),
    ),
)]
async fn compile_status(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
) -> ApiResult<Json<CompileStatusBody>> {
    let s = rules::status(&state.db, &state.clock, access.project.id).await?;
    Ok(Json(CompileStatusBody {
        last_compile_at: s.last_compile_at,
        pending_claims: s.pending_claims,
        compile_needed: s.compile_needed,
        compile_schedule: s.compile_schedule,
        compile_after_claims: s.compile_after_claims,
        last_scheduled_compile_at: s.last_scheduled_compile_at,
        next_scheduled_at: s.next_scheduled_at,
        compile_history: s
            .history
            .into_iter()
            .map(|h| StatusHistoryItem {
                id: h.compilation.id,
                compiled_at: h.compilation.compiled_at,
                trigger: h.compilation.trigger,
                entries_compiled: h.compilation.entries_compiled,
                context_words_before: h.words_before,
                context_words_after: h.words_after,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    pub project_id: String,
    pub total_entries: i64,
    pub pending_entries: i64,
    pub uncompiled_notes: i64,
    pub auto_promotable_evidence: i64,
    pub compiled_entries: i64,
    pub dismissed_entries: i64,
    pub total_compilations: i64,
    pub last_compilation_at: Option<String>,
    pub word_count: i64,
    pub section_count: i64,
    pub last_compiled: Option<String>,
    pub potentially_stale: bool,
    pub recommendations: Vec<String>,
    pub stale_entry_count: i64,
    pub low_confidence_count: i64,
    pub decayed_count: i64,
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/health", tag = "knowledge",
    operation_id = "knowledge_health", summary = "Health of the project's knowledge",
    description = "Entry counts, the document's size and sections, staleness and plain-English \
        recommendations. User keys only.",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The figures", body = HealthBody),
        (status = 404, description = "Project not found"),
    ),
)]
async fn health(
    State(state): State<AppState>,
    access: ProjectReader<UserOnly>,
) -> ApiResult<Json<HealthBody>> {
    let project_id = access.project.id.clone();
    let h = rules::health(&state.db, &state.clock, access.project.id).await?;
    Ok(Json(HealthBody {
        project_id,
        total_entries: h.total_entries,
        pending_entries: h.pending_entries,
        uncompiled_notes: h.uncompiled_notes,
        auto_promotable_evidence: h.auto_promotable_evidence,
        compiled_entries: h.compiled_entries,
        dismissed_entries: h.dismissed_entries,
        total_compilations: h.total_compilations,
        last_compiled: h.last_compilation_at.clone(),
        last_compilation_at: h.last_compilation_at,
        word_count: h.word_count,
        section_count: h.section_count,
        potentially_stale: h.potentially_stale,
        recommendations: h.recommendations,
        stale_entry_count: h.stale_entry_count,
        low_confidence_count: h.low_confidence_count,
        decayed_count: h.decayed_count,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SectionBody {
    pub slug: String,
    pub title: String,
    pub content: String,
    /// The latest compilation's manifest entries of this section
    /// (`kb_entry_id`, `created_by_user_id`, `created_by_persona`, `promoted_at`, `compile_id`).
    pub source_entries: Vec<Value>,
}

#[utoipa::path(
    get, path = "/api/v1/projects/{project_id}/context/sections/{slug}", tag = "knowledge",
    operation_id = "context_section", summary = "One section of the context document",
    description = "Sections are the `## ` headings; the slug is the heading lowercased with \
        runs of other characters turned into `_`. Sections holding only HTML comments are \
        skipped. A miss is 404 with `details.error` and `details.available_slugs`. Service keys \
        need `knowledge:read`.",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("slug" = String, Path, description = "Section slug", example = "key_decisions"),
    ),
    responses(
        (status = 200, description = "The section", body = SectionBody),
        (status = 404, description = "Project or section not found"),
    ),
)]
async fn context_section(
    State(state): State<AppState>,
    access: ProjectReader<KnowledgeRead>,
    Path((_, slug)): Path<(String, String)>,
) -> ApiResult<Json<SectionBody>> {
    let s = rules::section(&state.db, access.project.id, slug).await?;
    Ok(Json(SectionBody {
        slug: s.slug,
        title: s.title,
        content: s.content,
        source_entries: s.source_entries,
    }))
}

/// The answer to a restore (or its dry run).
#[derive(Serialize, ToSchema)]
pub struct RestoreBody {
    pub project_id: String,
    pub compilation_id: i64,
    pub compiled_at: Option<String>,
    pub context_words_restored: i64,
    pub entries_compiled_at_restored: i64,
    pub dry_run: bool,
}

#[utoipa::path(
    post, path = "/api/v1/admin/projects/{project_id}/restore-from-compilation", tag = "admin",
    operation_id = "admin_restore_from_compilation",
    summary = "Restore a project's context document from a compilation",
    description = "Platform admins only. Body `{compilation_id: int > 0, dry_run: bool = true}`. \
        Sets the document to the compilation's `context_after` and the manifest's entries' \
        `compiled_at` to its time, with an admin audit row, in one transaction; a dry run \
        writes nothing.",
    params(("project_id" = String, Path, description = "Project id")),
    request_body(content = Object, description = "`{compilation_id, dry_run?}`"),
    responses(
        (status = 200, description = "Restored (or what would be)", body = RestoreBody),
        (status = 403, description = "Admin access required"),
        (status = 404, description = "Project or compilation not found"),
        (status = 422, description = "Bad `compilation_id` or `dry_run`; an empty context"),
    ),
)]
async fn restore_from_compilation(
    State(state): State<AppState>,
    principal: Principal,
    Path(project_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<RestoreBody>> {
    if !principal.is_platform_admin() {
        return Err(ApiError::forbidden("Admin access required"));
    }
    let compilation_id = match &body["compilation_id"] {
        Value::Number(n) => n.as_i64().filter(|v| *v > 0),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "compilation_id must be a positive integer",
        )
    })?;
    let dry_run = match body.get("dry_run") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "dry_run must be a boolean",
            ))
        }
    };
    let r = rules::restore_from_compilation(
        &state.db,
        &state.clock,
        principal.user.id.clone(),
        project_id.clone(),
        compilation_id,
        dry_run,
    )
    .await?;
    Ok(Json(RestoreBody {
        project_id,
        compilation_id,
        compiled_at: r.compiled_at,
        context_words_restored: r.context_words_restored,
        entries_compiled_at_restored: r.entries_compiled_at_restored,
        dry_run,
    }))
}
