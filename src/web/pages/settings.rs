//! Settings: the user's LLM judge (provider, model, base URL; the key can be set or cleared
//! but is never shown back, only whether one is stored), the audit and summarize triggers;
//! and a project's settings (auto narrative, knowledge limits, compile schedule). The same
//! domain functions as `/api/v1/settings/*` and `PUT /api/v1/projects/{id}/settings`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::db::settings::TriggerKind;
use crate::domain::projects::{self, Need};
use crate::domain::settings::{self, JudgeSave, TRIGGERS};
use crate::domain::wiki::{self, SettingsChange};
use crate::error::ApiError;
use crate::secrets::Plain;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, button_form, csrf, notice};
use crate::web::pages::account::Empty;
use crate::web::{html, see_other, WebResult};

const PATH: &str = "/ui/settings";

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    done: Option<String>,
}

fn done_text(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "judge" => Some("Judge settings saved."),
        "judge-cleared" => Some("Judge settings and key cleared."),
        "triggers" => Some("Triggers saved."),
        "project" => Some("Project settings saved."),
        _ => None,
    }
}

/// `GET /ui/settings`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<SettingsQuery>,
) -> WebResult<Response> {
    let uid = user.principal.user.id.clone();
    let judge = settings::judge(&state.db, &uid)
        .await
        .map_err(ApiError::from)?;
    let audit = settings::trigger(&state.db, &uid, TriggerKind::Audit)
        .await
        .map_err(ApiError::from)?;
    let summarize = settings::trigger(&state.db, &uid, TriggerKind::Summarize)
        .await
        .map_err(ApiError::from)?;
    let body = html! {
        (notice(done_text(q.done.as_deref())))
        section {
            h2 { "LLM judge" }
            p.meta {
                "The model that audits your sessions. Stored key: "
                strong #key-state { @if judge.key_set { "set" } @else { "not set" } }
                " (a stored key is never shown again)."
            }
            form.card method="post" action=(format!("{PATH}/judge")) {
                (csrf(&user))
                label for="j-provider" { "Provider" }
                input #j-provider type="text" name="provider" value=(judge.provider) placeholder="anthropic, openai, google, openrouter, custom…" required;
                label for="j-model" { "Model" }
                input #j-model type="text" name="model" value=(judge.model) required;
                label for="j-base" { "Base URL (custom providers)" }
                input #j-base type="text" name="base_url" value=(judge.base_url.as_deref().unwrap_or(""));
                label for="j-key" { "API key (leave empty to keep the stored one)" }
                input #j-key type="password" name="api_key" autocomplete="off" value="";
                button type="submit" { "Save judge" }
            }
            @if judge.key_set || !judge.provider.is_empty() {
                (button_form(&user, &format!("{PATH}/judge/clear"), "Clear judge and key", "danger"))
            }
        }
        section {
            h2 { "Triggers" }
            form.card method="post" action=(format!("{PATH}/triggers")) {
                (csrf(&user))
                label for="t-audit" { "Audit sessions" }
                select #t-audit name="audit" {
                    @for t in TRIGGERS { option value=(t) selected[audit == t] { (t) } }
                }
                label for="t-summarize" { "Summarize sessions" }
                select #t-summarize name="summarize" {
                    @for t in TRIGGERS { option value=(t) selected[summarize == t] { (t) } }
                }
                button type="submit" { "Save triggers" }
            }
        }
        p.hint { "Project settings are on each " a href="/ui/projects" { "project" } "'s settings page." }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Settings", "settings", body),
    ))
}

#[derive(Deserialize)]
pub struct JudgeForm {
    provider: String,
    model: String,
    #[serde(default)]
    api_key: String,
    base_url: Option<String>,
}

/// `POST /ui/settings/judge`.
pub async fn save_judge(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<JudgeForm>,
) -> WebResult<Response> {
    settings::save_judge(
        &state.db,
        &state.clock,
        &state.sealer,
        &state.llm,
        &user.principal.user.id,
        JudgeSave {
            provider: form.provider,
            model: form.model,
            api_key: Plain::new(form.api_key),
            base_url: form
                .base_url
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
        },
    )
    .await
    .map_err(ApiError::from)?;
    Ok(see_other(&format!("{PATH}?done=judge")))
}

/// `POST /ui/settings/judge/clear`.
pub async fn clear_judge(
    State(state): State<AppState>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    settings::delete_judge(&state.db, &user.principal.user.id)
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&format!("{PATH}?done=judge-cleared")))
}

#[derive(Deserialize)]
pub struct TriggersForm {
    audit: String,
    summarize: String,
}

/// `POST /ui/settings/triggers`.
pub async fn save_triggers(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<TriggersForm>,
) -> WebResult<Response> {
    let uid = &user.principal.user.id;
    settings::set_trigger(&state.db, uid, TriggerKind::Audit, &form.audit)
        .await
        .map_err(ApiError::from)?;
    settings::set_trigger(&state.db, uid, TriggerKind::Summarize, &form.summarize)
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&format!("{PATH}?done=triggers")))
}

fn project_settings_path(id: &str) -> String {
    format!("/ui/projects/{id}/settings")
}

/// `GET /ui/projects/{id}/settings`.
pub async fn project_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<SettingsQuery>,
) -> WebResult<Response> {
    let (p, standing) = projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let action = project_settings_path(&p.id);
    let body = html! {
        p { a href=(format!("/ui/projects/{}", p.id)) { "← " (p.name) } }
        (notice(done_text(q.done.as_deref())))
        form.card method="post" action=(action) {
            (csrf(&user))
            fieldset disabled[!standing.edit] {
                legend { "Knowledge and compile" }
                label.check { input type="checkbox" name="auto_narrative" value="1" checked[p.auto_narrative]; "Auto narrative" }
                label for="s-retention" { "Knowledge retention (days)" }
                input #s-retention type="number" min="1" name="kb_retention_days" value=(p.kb_retention_days);
                label for="s-words" { "Most words of compiled context" }
                input #s-words type="number" min="1" name="kb_max_context_words" value=(p.kb_max_context_words);
                label for="s-limit" { "Most pages per section" }
                input #s-limit type="number" min="1" name="kb_section_page_limit" value=(p.kb_section_page_limit);
                label for="s-schedule" { "Compile schedule" }
                select #s-schedule name="compile_schedule" {
                    @for s in ["off", "nightly", "weekly"] { option value=(s) selected[p.compile_schedule == s] { (s) } }
                }
                label for="s-claims" { "Compile after this many new claims (empty: never)" }
                input #s-claims type="number" min="1" name="compile_after_claims" value=(p.compile_after_claims.map(|n| n.to_string()).unwrap_or_default());
                button type="submit" { "Save project settings" }
            }
            @if !standing.edit { p.hint { "You can read this project but not change its settings." } }
        }
    };
    let title = format!("Settings · {}", p.name);
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "projects", body),
    ))
}

#[derive(Deserialize)]
pub struct ProjectForm {
    auto_narrative: Option<String>,
    kb_retention_days: Option<String>,
    kb_max_context_words: Option<String>,
    kb_section_page_limit: Option<String>,
    compile_schedule: Option<String>,
    compile_after_claims: Option<String>,
}

fn number(field: &'static str, raw: Option<String>) -> Result<Option<i64>, ApiError> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::validation(
                "int_parsing",
                &["body", field],
                "Input should be a valid integer",
                s.into(),
            )
        }),
    }
}

/// `POST /ui/projects/{id}/settings`.
pub async fn save_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<ProjectForm>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Edit).await?;
    let change = SettingsChange {
        auto_narrative: form.auto_narrative.is_some(),
        kb_retention_days: number("kb_retention_days", form.kb_retention_days)?,
        kb_max_context_words: number("kb_max_context_words", form.kb_max_context_words)?,
        kb_section_page_limit: number("kb_section_page_limit", form.kb_section_page_limit)?,
        compile_schedule: form.compile_schedule.filter(|s| !s.is_empty()),
        compile_after_claims: Some(number("compile_after_claims", form.compile_after_claims)?),
    };
    let id = project.id.clone();
    wiki::update_settings(&state.db, &state.clock, project, change).await?;
    Ok(see_other(&format!(
        "{}?done=project",
        project_settings_path(&id)
    )))
}
