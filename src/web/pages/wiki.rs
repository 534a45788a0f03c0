//! A project's wiki: the pages, one page shown as text (never as HTML: what a page holds is
//! inert), its backlinks and revision history, and an edit form for users who may edit. The
//! same domain functions as the wiki routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::domain::projects::{self, Need};
use crate::domain::wiki::{self as rules, PutPage, Writer};
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, csrf, when};
use crate::web::{html, see_other, WebResult};

/// Revisions shown on a page.
const REVISIONS: i64 = 50;

fn base(project_id: &str) -> String {
    format!("/ui/projects/{project_id}/wiki")
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /ui/projects/{id}/wiki`.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let (project, standing) =
        projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let pages = rules::list(&state.db, project.id.clone()).await?;
    let base = base(&project.id);
    let body = html! {
        p { a href=(format!("/ui/projects/{}", project.id)) { "← " (project.name) } }
        @if pages.is_empty() { p.empty { "No wiki pages yet." } } @else {
            table {
                thead { tr { th { "Page" } th { "Type" } th { "Words" } th { "Updated" } } }
                tbody {
                    @for p in &pages {
                        tr {
                            td { a href=(format!("{base}/{}", enc(&p.slug))) { (p.title) } " " code { (p.slug) } }
                            td { (p.page_type.as_str()) }
                            td.num { (p.word_count) }
                            td { (when(&p.updated_at)) }
                        }
                    }
                }
            }
        }
        @if standing.edit {
            details.actions {
                summary { h2 { "New page" } }
                form.card method="post" action=(format!("{base}/new")) {
                    (csrf(&user))
                    label for="w-slug" { "Slug (as in the API: segments separated by /)" }
                    input #w-slug type="text" name="slug" required;
                    label for="w-title" { "Title" }
                    input #w-title type="text" name="title" required;
                    label for="w-content" { "Content (Markdown)" }
                    textarea #w-content name="content" rows="10" {}
                    button type="submit" { "Create page" }
                }
            }
        }
    };
    let title = format!("Wiki · {}", project.name);
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "projects", body),
    ))
}

/// `GET /ui/projects/{id}/wiki/{slug}`.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, slug)): Path<(String, String)>,
) -> WebResult<Response> {
    let (project, standing) =
        projects::open(&state.db, user.principal.actor(), id, Need::Read).await?;
    let (page, backlinks) = rules::get(&state.db, project.id.clone(), slug.clone()).await?;
    let (revisions, _) =
        rules::history(&state.db, project.id.clone(), slug, None, REVISIONS).await?;
    let base = base(&project.id);
    let here = format!("{base}/{}", enc(&page.slug));
    let body = html! {
        p { a href=(base) { "← Wiki" } }
        p.meta { code { (page.slug) } " · " (page.page_type.as_str()) " · " (page.word_count) " words · updated " (when(&page.updated_at)) }
        article.wiki { pre.doc { (page.content) } }
        section {
            h2 { "Backlinks" }
            @if backlinks.is_empty() { p.empty { "Nothing links here." } }
            ul {
                @for b in &backlinks {
                    li { (b.source_type.as_str()) " " code { (b.source_id) } " · " (b.link_type.as_str()) " · " (format!("{:.2}", b.confidence)) }
                }
            }
        }
        section {
            h2 { "History" }
            table {
                thead { tr { th { "Revision" } th { "Title" } th { "Words" } th { "By" } th { "When" } } }
                tbody {
                    @for r in &revisions {
                        tr {
                            td.num { (r.revision_number) }
                            td { (r.title) }
                            td.num { (r.word_count) }
                            td { (r.persona_name.as_deref().unwrap_or(&r.user_id)) }
                            td { (when(&r.revised_at)) }
                        }
                    }
                }
            }
        }
        @if standing.edit {
            details.actions {
                summary { h2 { "Edit" } }
                form.card method="post" action=(format!("{here}/edit")) {
                    (csrf(&user))
                    label for="w-title" { "Title" }
                    input #w-title type="text" name="title" value=(page.title) required;
                    label for="w-content" { "Content (Markdown)" }
                    textarea #w-content name="content" rows="14" { (page.content) }
                    button type="submit" { "Save page" }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &page.title, "projects", body),
    ))
}

#[derive(Deserialize)]
pub struct PageForm {
    slug: Option<String>,
    title: String,
    #[serde(default)]
    content: String,
}

async fn save(
    state: &AppState,
    user: &WebUser,
    id: String,
    slug: String,
    form: PageForm,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Edit).await?;
    let page = rules::put(
        &state.db,
        &state.clock,
        project.clone(),
        slug,
        Writer {
            user_id: user.principal.user.id.clone(),
            service_key: None,
        },
        PutPage {
            content: form.content,
            title: Some(form.title),
            persona_name: None,
            ticket_id: None,
            publish: None,
        },
    )
    .await?;
    Ok(see_other(&format!(
        "{}/{}",
        base(&project.id),
        enc(&page.slug)
    )))
}

/// `POST /ui/projects/{id}/wiki/new`.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<PageForm>,
) -> WebResult<Response> {
    let slug = form.slug.clone().unwrap_or_default().trim().to_string();
    save(&state, &user, id, slug, form).await
}

/// `POST /ui/projects/{id}/wiki/{slug}/edit`.
pub async fn edit(
    State(state): State<AppState>,
    Path((id, slug)): Path<(String, String)>,
    CsrfForm { user, form }: CsrfForm<PageForm>,
) -> WebResult<Response> {
    save(&state, &user, id, slug, form).await
}
