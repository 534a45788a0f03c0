//! Projects: the list, and one project's context document and knowledge entries (filtered by
//! type, pending or dismissed), with links to its tickets board, personas, agent runs, wiki and
//! settings (their own pages). A project the user cannot read is 404, as in the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::db::knowledge::{EntryType, Filter, Sort};
use crate::domain::knowledge::{self, ListRequest};
use crate::domain::projects::{self, Need};
use crate::state::AppState;
use crate::web::auth::WebUser;
use crate::web::layout::{self, when};
use crate::web::{html, WebResult};

const ENTRIES_PER_PAGE: i64 = 50;

/// `GET /ui/projects`.
pub async fn list(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let list = projects::list(&state.db, user.principal.actor()).await?;
    let body = html! {
        @if list.is_empty() {
            p.empty { "No projects yet. In a git checkout, run " code { "sfs project init" } "." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Repository" } th { "Sessions" } th { "Updated" } } }
                tbody {
                    @for p in &list {
                        tr {
                            td { a href=(format!("/ui/projects/{}", p.project.id)) { (p.project.name) } }
                            td { code { (p.project.git_remote_normalized) } }
                            td.num { (p.session_count) }
                            td { (when(&p.project.updated_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Projects", "projects", body),
    ))
}

#[derive(Deserialize, Default)]
pub struct EntriesQuery {
    #[serde(rename = "type")]
    entry_type: Option<String>,
    show: Option<String>,
    q: Option<String>,
    page: Option<i64>,
}

/// `GET /ui/projects/{id}`.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<EntriesQuery>,
) -> WebResult<Response> {
    let (project, standing) =
        projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let entry_type = q.entry_type.as_deref().and_then(EntryType::parse);
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let filter = Filter {
        entry_type: entry_type.map(|t| t.as_str().to_string()),
        pending: (q.show.as_deref() == Some("pending")).then_some(true),
        dismissed: Some(q.show.as_deref() == Some("dismissed")),
        search: q.q.clone().filter(|s| !s.trim().is_empty()),
        ..Filter::default()
    };
    let (entries, _) = knowledge::list(
        &state.db,
        &state.clock,
        project.id.clone(),
        ListRequest {
            filter,
            sort: Sort::CreatedAtDesc,
            cursor: None,
            page,
            limit: ENTRIES_PER_PAGE,
            used_in_answer: false,
            record: false,
        },
    )
    .await?;
    let base = format!("/ui/projects/{}", project.id);
    let body = html! {
        nav.subnav aria-label="Project" {
            ul {
                li { a href=(format!("{base}/tickets")) { "Tickets" } }
                li { a href=(format!("{base}/personas")) { "Personas" } }
                li { a href=(format!("{base}/runs")) { "Agent runs" } }
                li { a href=(format!("{base}/wiki")) { "Wiki" } }
                li { a href=(format!("{base}/settings")) { "Settings" } }
            }
        }
        dl.facts {
            dt { "Repository" } dd { code { (project.git_remote_normalized) } }
            dt { "Your access" } dd { @if standing.edit { "edit" } @else { "read" } }
            dt { "Updated" } dd { (when(&project.updated_at)) }
        }
        details.context open {
            summary { h2 { "Context document" } }
            pre.doc { (project.context_document) }
        }
        section {
            h2 { "Knowledge" }
            form.filters method="get" action=(base) {
                label { "Type"
                    select name="type" {
                        option value="" { "Any" }
                        @for t in EntryType::ALL { option value=(t.as_str()) selected[entry_type == Some(*t)] { (t.as_str()) } }
                    }
                }
                label { "Show"
                    select name="show" {
                        option value="" { "Active" }
                        option value="pending" selected[q.show.as_deref() == Some("pending")] { "Pending" }
                        option value="dismissed" selected[q.show.as_deref() == Some("dismissed")] { "Dismissed" }
                    }
                }
                label { "Words" input type="search" name="q" value=(q.q.as_deref().unwrap_or("")); }
                button type="submit" { "Filter" }
            }
            @if entries.is_empty() { p.empty { "No entries." } }
            ul.entries {
                @for e in &entries {
                    li {
                        span.tag { (e.entry_type.as_str()) } " " span.meta { (e.claim_class.as_str()) " · " (e.freshness_class.as_str()) " · confidence " (format!("{:.2}", e.confidence)) " · " (when(&e.created_at)) }
                        p { (e.content) }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(format!("{base}?page={}", page - 1)) rel="prev" { "← Newer" } }
                @if entries.len() as i64 == ENTRIES_PER_PAGE { a href=(format!("{base}?page={}", page + 1)) rel="next" { "Older →" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &project.name, "projects", body),
    ))
}
