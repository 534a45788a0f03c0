//! A project's agent runs: the list with the API's filters (persona, status, trigger, ticket)
//! and a run's page. The same domain functions as the agent-run routes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::db::agent_runs::{Filter, RunStatus, TriggerSource};
use crate::domain::agent_runs::{self as rules, ListQuery};
use crate::domain::projects::{self, Need};
use crate::state::AppState;
use crate::web::auth::WebUser;
use crate::web::layout::{self, when};
use crate::web::{html, WebResult};

/// Runs shown at once (the API's largest page).
const SHOWN: i64 = 200;

#[derive(Deserialize, Default)]
pub struct RunsQuery {
    persona: Option<String>,
    status: Option<String>,
    trigger: Option<String>,
    ticket: Option<String>,
}

fn some(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /ui/projects/{id}/runs`.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<RunsQuery>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let status = some(&q.status).and_then(|s| RunStatus::parse(&s));
    let trigger = some(&q.trigger).and_then(|s| TriggerSource::parse(&s));
    let filter = Filter {
        persona_name: some(&q.persona),
        status,
        trigger_source: trigger,
        ticket_id: some(&q.ticket),
    };
    let runs = rules::list(
        &state.db,
        project.clone(),
        ListQuery {
            filter,
            limit: SHOWN,
        },
    )
    .await?;
    let base = format!("/ui/projects/{}/runs", project.id);
    let body = html! {
        p { a href=(format!("/ui/projects/{}", project.id)) { "← " (project.name) } }
        form.filters method="get" action=(base) {
            label { "Persona" input type="text" name="persona" value=(q.persona.as_deref().unwrap_or("")); }
            label { "Status"
                select name="status" {
                    option value="" { "Any" }
                    @for s in RunStatus::ALL { option value=(s.as_str()) selected[status == Some(*s)] { (s.as_str()) } }
                }
            }
            label { "Trigger"
                select name="trigger" {
                    option value="" { "Any" }
                    @for s in TriggerSource::ALL { option value=(s.as_str()) selected[trigger == Some(*s)] { (s.as_str()) } }
                }
            }
            label { "Ticket" input type="text" name="ticket" value=(q.ticket.as_deref().unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        @if runs.is_empty() {
            p.empty { "No agent runs. " code { "sfs agent run <persona>" } " starts one." }
        } @else {
            table {
                thead { tr { th { "Run" } th { "Persona" } th { "Status" } th { "Trigger" } th { "Severity" } th { "Findings" } th { "Created" } } }
                tbody {
                    @for r in &runs {
                        tr {
                            td { a href=(format!("{base}/{}", r.id)) { code { (r.id) } } }
                            td { (r.persona_name) }
                            td { span.status { (r.status.as_str()) } }
                            td { (r.trigger_source.as_str()) }
                            td { (r.severity.map(|s| s.as_str()).unwrap_or("—")) }
                            td.num { (r.findings_count) }
                            td { (when(&r.created_at)) }
                        }
                    }
                }
            }
        }
    };
    let title = format!("Agent runs · {}", project.name);
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "projects", body),
    ))
}

/// `GET /ui/projects/{id}/runs/{run_id}`.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, run_id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let r = rules::get(&state.db, project.clone(), run_id).await?;
    let findings = serde_json::to_string_pretty(&r.findings).unwrap_or_default();
    let body = html! {
        p { a href=(format!("/ui/projects/{}/runs", project.id)) { "← Agent runs" } }
        dl.facts {
            dt { "Persona" } dd { (r.persona_name) }
            dt { "Tool" } dd { (r.tool) }
            dt { "Status" } dd { span.status { (r.status.as_str()) } }
            dt { "Trigger" } dd { (r.trigger_source.as_str()) @if let Some(t) = &r.trigger_ref { " · " (t) } }
            @if let Some(t) = &r.ticket_id {
                dt { "Ticket" } dd { a href=(format!("/ui/projects/{}/tickets/{t}", project.id)) { code { (t) } } }
            }
            @if let Some(ci) = r.ci_provider { dt { "CI" } dd { (ci.as_str()) @if let Some(u) = &r.ci_run_url { " · " code { (u) } } } }
            dt { "Severity" } dd { (r.severity.map(|s| s.as_str()).unwrap_or("—")) }
            dt { "Fail on" } dd { (r.fail_on.map(|s| s.as_str()).unwrap_or("—")) }
            dt { "Policy" } dd { (r.policy_result.map(|s| s.as_str()).unwrap_or("—")) }
            dt { "Exit code" } dd { (r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
            dt { "Created" } dd { (when(&r.created_at)) }
            @if let Some(s) = &r.started_at { dt { "Started" } dd { (when(s)) } }
            @if let Some(s) = &r.completed_at { dt { "Completed" } dd { (when(s)) } }
            @if let Some(d) = r.duration_seconds { dt { "Duration" } dd { (d) " s" } }
            @if let Some(s) = &r.session_id { dt { "Session" } dd { code { (s) } } }
        }
        @if let Some(summary) = &r.result_summary { h2 { "Result" } p.text { (summary) } }
        @if let Some(prompt) = &r.prompt { h2 { "Prompt" } pre.doc { (prompt) } }
        h2 { "Findings (" (r.findings_count) ")" }
        @if r.findings.is_empty() { p.empty { "None." } } @else { pre.doc { (findings) } }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &format!("Run {}", r.id), "projects", body),
    ))
}
