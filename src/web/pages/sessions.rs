//! Home (the sessions list with its pictures) and a session: conversation, summary, metadata,
//! rename / tags / alias, trash and restore, share links, hand off.

use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::sessions::{
    check_alias, check_tags, clean_title, edit as edit_session, tool_family,
};
use crate::api::share::share_urls;
use crate::archive::messages::PageRequest;
use crate::clock;
use crate::db::dashboard;
use crate::db::sessions::{self as rows, Edit, ListFilter, SessionRow, Visibility};
use crate::domain::sessions::{self as rules, find_owned};
use crate::domain::shares::{self, MAX_EXPIRY_HOURS};
use crate::domain::tiers::Feature;
use crate::domain::{search, summaries, DomainError};
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::auth::{self, CsrfForm, WebUser};
use crate::web::layout::{self, button_form, csrf, notice, size, when};
use crate::web::pages::account::{sign_in_form, Empty};
use crate::web::{chart, conversation, html, see_other, WebResult};

const PAGE_SIZE: i64 = 25;
/// Messages per page of the conversation: a 5,000-message session opens page by page.
const MESSAGES_PER_PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    tool: Option<String>,
    tag: Option<String>,
    model: Option<String>,
    trash: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<i64>,
    done: Option<String>,
}

fn tags_of(row: &SessionRow) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

fn title_of(row: &SessionRow) -> &str {
    row.title
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or("(untitled)")
}

/// The text of a `?done=` notice (fixed texts only: nothing from the URL is shown).
fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "saved" => "Saved.",
        "deleted" => "Moved to the trash.",
        "restored" => "Restored from the trash.",
        "revoked" => "Share link revoked.",
        "handed" => "Handed off. Your teammate will find it in their handoffs inbox.",
        "claimed" => "Claimed: the session is now in your list.",
        "declined" => "Declined.",
        "commented" => "Comment added.",
        "invited" => "Invite sent.",
        "accepted" => "Invite accepted.",
        "updated" => "Updated.",
        _ => return None,
    })
}

pub fn done(done: Option<&str>) -> Markup {
    notice(done_text(done))
}

/// `GET /`: the sign-in page, or the user's sessions with the pictures on top.
pub async fn home(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<ListQuery>,
) -> WebResult<Response> {
    let Some(user) = auth::current(&parts, &state).await? else {
        return Ok(sign_in_form(&state, StatusCode::OK, "/", None));
    };
    let page = q.page.unwrap_or(1).clamp(1, i64::from(u32::MAX));
    let trash = q.trash.as_deref() == Some("1");
    let filter = ListFilter {
        source_tools: q
            .tool
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(tool_family)
            .unwrap_or_default(),
        tag: q.tag.clone().filter(|t| !t.is_empty()),
        deleted: trash,
        models: q
            .model
            .clone()
            .filter(|m| !m.is_empty())
            .into_iter()
            .collect(),
        sort_by_model: q.sort.as_deref() == Some("model"),
        ascending: q.order.as_deref() == Some("asc"),
    };
    let user_id = user.principal.user.id.clone();
    let since = clock::format(state.clock.now() - Duration::days(29));
    let (found, total, per_day, storage) = state
        .db
        .read(move |conn| {
            let (found, total) =
                rows::list(conn, &user_id, &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
            let per_day = dashboard::sessions_per_day(conn, &user_id, &since)?;
            let storage = dashboard::storage_by_tool(conn, &user_id)?;
            Ok::<_, crate::db::DbError>((found, total, per_day, storage))
        })
        .await?;
    let live_storage: Vec<(String, i64)> = storage
        .iter()
        .filter(|(_, _, live)| *live)
        .map(|(t, b, _)| (t.clone(), *b))
        .collect();
    let today = state.clock.now().date_naive();
    let limit = user.principal.tier().storage_limit_bytes();
    let link = |page: i64| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("tool", &q.tool),
            ("tag", &q.tag),
            ("model", &q.model),
            ("trash", &q.trash),
            ("sort", &q.sort),
            ("order", &q.order),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("page", &page.to_string());
        format!("/?{}", pairs.finish())
    };
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let body = html! {
        (done(q.done.as_deref()))
        @if !trash && page == 1 {
            section.pictures aria-label="Activity" {
                div { h2 { "Sessions per day" } (chart::sessions_per_day(&per_day, today, 30)) }
                div { h2 { "Storage" } (chart::storage(&live_storage, limit)) }
            }
        }
        form.filters method="get" action="/" role="search" aria-label="Filter sessions" {
            label { "Tool" input type="text" name="tool" value=(q.tool.as_deref().unwrap_or("")) placeholder="claude-code"; }
            label { "Tag" input type="text" name="tag" value=(q.tag.as_deref().unwrap_or("")); }
            label { "Model" input type="text" name="model" value=(q.model.as_deref().unwrap_or("")); }
            label { "Sort"
                select name="sort" {
                    option value="updated_at" selected[q.sort.as_deref() != Some("model")] { "Last updated" }
                    option value="model" selected[q.sort.as_deref() == Some("model")] { "Model" }
                }
            }
            label { "Order"
                select name="order" {
                    option value="desc" selected[q.order.as_deref() != Some("asc")] { "Descending" }
                    option value="asc" selected[q.order.as_deref() == Some("asc")] { "Ascending" }
                }
            }
            label.check { input type="checkbox" name="trash" value="1" checked[trash]; "Trash" }
            button type="submit" { "Filter" }
        }
        p.meta { (total) " session" @if total != 1 { "s" } @if trash { " in the trash" } }
        @if found.is_empty() {
            p.empty { @if trash { "The trash is empty." } @else { "No sessions yet. Push one with " code { "sfs push <session-id>" } "." } }
        } @else {
            table.sessions {
                thead { tr { th { "Title" } th { "Tool" } th { "Model" } th { "Messages" } th { "Size" } th { @if trash { "Deleted" } @else { "Updated" } } @if trash { th { span.sr { "Actions" } } } } }
                tbody {
                    @for row in &found {
                        tr {
                            td {
                                @if trash { (title_of(row)) } @else { a href=(format!("/ui/sessions/{}", row.id)) { (title_of(row)) } }
                                @for tag in tags_of(row) { " " span.tag { (tag) } }
                            }
                            td { (row.source_tool) }
                            td { (row.model_id.as_deref().unwrap_or("")) }
                            td.num { (row.message_count) }
                            td.num { (size(row.blob_size_bytes)) }
                            td { (when(row.deleted_at.as_deref().unwrap_or(&row.updated_at))) }
                            @if trash { td { (button_form(&user, &format!("/ui/sessions/{}/restore", row.id), "Restore", "")) } }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a href=(link(page - 1)) rel="prev" { "← Newer" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a href=(link(page + 1)) rel="next" { "Older →" } }
            }
        }
    };
    let title = if trash { "Trash" } else { "Sessions" };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, title, "sessions", body),
    ))
}

#[derive(Deserialize, Default)]
pub struct ViewQuery {
    page: Option<usize>,
    done: Option<String>,
}

/// `GET /ui/sessions/{id}`: another user's session (or an unknown one) is 404.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ViewQuery>,
) -> WebResult<Response> {
    let row = find_owned(&state.db, &user.principal.user.id, &id, Visibility::Live).await?;
    Ok(html(
        StatusCode::OK,
        session_page(
            &state,
            &user,
            &row,
            q.page.unwrap_or(1),
            q.done.as_deref(),
            None,
        )
        .await?,
    ))
}

/// A just-created share link, shown once on the session's page.
struct NewLink {
    public_url: String,
    expires_at: String,
    has_password: bool,
}

async fn session_page(
    state: &AppState,
    user: &WebUser,
    row: &SessionRow,
    page: usize,
    done_code: Option<&str>,
    new_link: Option<NewLink>,
) -> WebResult<maud::Markup> {
    let page = page.max(1);
    let (blobs, hash) = (state.blobs.clone(), row.blob_hash.clone());
    let req = PageRequest {
        page,
        page_size: MESSAGES_PER_PAGE,
        newest_first: false,
        around: None,
    };
    let found = tokio::task::spawn_blocking(move || {
        if !blobs.contains(&hash) {
            return Err(ApiError::not_found("Session blob not found"));
        }
        // The messages index written at push time, as the API's message pages read it.
        blobs
            .message_index()
            .read_page(&hash, || blobs.open_blob_sync(&hash), req)
            .map_err(ApiError::from)
    })
    .await
    .map_err(ApiError::from)??;
    let summary =
        match summaries::for_session(&state.db, &state.clock, &state.blobs, row, false).await {
            Ok((s, _)) => Some(s),
            Err(DomainError::NoMessages) => None,
            Err(e) => return Err(e.into()),
        };
    let (uid, sid, now) = (
        row.user_id.clone(),
        row.id.clone(),
        state.clock.now_string(),
    );
    let links = state
        .db
        .read(move |conn| dashboard::active_shares(conn, &uid, &sid, &now))
        .await?;
    let total = found.as_ref().map(|p| p.total).unwrap_or(0);
    let pages = total.div_ceil(MESSAGES_PER_PAGE).max(1);
    let base = format!("/ui/sessions/{}", row.id);
    let pull = format!("sfs pull {}", row.alias.as_deref().unwrap_or(&row.id));
    let tags = tags_of(row).join(", ");
    let aliases = user.principal.tier().has(Feature::AliasesCloud);
    let body = html! {
        (done(done_code))
        @if let Some(link) = &new_link {
            section.card.created role="status" {
                h2 { "Share link created" }
                p { "Anyone with this link can read the conversation until " (when(&link.expires_at))
                    @if link.has_password { ", with the password" } ". It is shown only now." }
                p.copyline { a #share-url href=(link.public_url) { (link.public_url) } " " button type="button" data-copy=(link.public_url) { "Copy" } }
            }
        }
        dl.facts {
            dt { "Tool" } dd { (row.source_tool) @if let Some(v) = &row.source_tool_version { " " (v) } }
            dt { "Model" } dd { (row.model_id.as_deref().unwrap_or("unknown")) }
            dt { "Messages" } dd { (row.message_count) " (" (row.turn_count) " turns, " (row.tool_use_count) " tool calls)" }
            dt { "Tokens" } dd { (row.total_input_tokens) " in · " (row.total_output_tokens) " out" }
            dt { "Size" } dd { (size(row.blob_size_bytes)) }
            dt { "Created" } dd { (when(&row.created_at)) }
            dt { "Updated" } dd { (when(&row.updated_at)) }
            @if !row.git_remote_normalized.is_empty() { dt { "Repository" } dd { (row.git_remote_normalized) @if !row.git_branch.is_empty() { " @ " (row.git_branch) } } }
            dt { "Id" } dd { code { (row.id) } }
            dt { "Pull" } dd.copyline { code #pull { (pull) } " " button type="button" data-copy=(pull) { "Copy" } }
        }
        @if let Some(s) = &summary {
            details.summary open[page == 1] {
                summary { h2 { "Summary" } }
                dl.facts {
                    dt { "Duration" } dd { (s.duration_minutes) " min" }
                    dt { "Commands" } dd { (s.commands_executed) }
                    dt { "Tests" } dd { (s.tests_run) " run, " (s.tests_passed) " passed, " (s.tests_failed) " failed" }
                    @if !s.files_modified.is_empty() { dt { "Files changed" } dd { ul.plain { @for f in &s.files_modified { li { code { (f) } } } } } }
                    @if !s.packages_installed.is_empty() { dt { "Packages" } dd { (s.packages_installed.join(", ")) } }
                    @if !s.errors_encountered.is_empty() { dt { "Errors" } dd { ul.plain { @for e in s.errors_encountered.iter().take(10) { li { code { (e) } } } } } }
                }
            }
        }
        details.actions {
            summary { h2 { "Manage" } }
            div.grid {
                form.card method="post" action=(format!("{base}/edit")) {
                    h3 { "Rename and tag" }
                    (csrf(user))
                    label for="title" { "Title" }
                    input #title type="text" name="title" value=(row.title.as_deref().unwrap_or("")) maxlength="500" required;
                    label for="tags" { "Tags (comma-separated)" }
                    input #tags type="text" name="tags" value=(tags);
                    button type="submit" { "Save" }
                }
                @if aliases {
                    form.card method="post" action=(format!("{base}/alias")) {
                        h3 { "Alias" }
                        (csrf(user))
                        label for="alias" { "Alias (3–100 letters, digits, - and _)" }
                        input #alias type="text" name="alias" value=(row.alias.as_deref().unwrap_or(""));
                        button type="submit" { "Set alias" }
                    }
                }
                form.card method="post" action=(format!("{base}/share")) {
                    h3 { "Share link" }
                    (csrf(user))
                    label for="expires_in_hours" { "Expires after" }
                    select #expires_in_hours name="expires_in_hours" {
                        option value="1" { "1 hour" }
                        option value="24" selected { "1 day" }
                        option value="168" { "7 days" }
                        option value=(MAX_EXPIRY_HOURS) { "30 days" }
                    }
                    label for="share-password" { "Password (optional)" }
                    input #share-password type="password" name="password" maxlength="256" autocomplete="new-password";
                    button type="submit" { "Create share link" }
                    @if !links.is_empty() {
                        h4 { "Active links" }
                        ul.plain {
                            @for l in &links {
                                li {
                                    "Created " (when(&l.created_at)) ", expires " (when(&l.expires_at))
                                    @if l.has_password { " · password" }
                                }
                            }
                        }
                    }
                }
                form.card method="post" action=(format!("{base}/handoff")) {
                    h3 { "Hand off" }
                    (csrf(user))
                    label for="recipient_email" { "Teammate's email" }
                    input #recipient_email type="email" name="recipient_email" required autocomplete="off";
                    label for="handoff-message" { "Message (optional)" }
                    textarea #handoff-message name="message" rows="3" maxlength="2000" {}
                    button type="submit" { "Hand off" }
                }
                div.card {
                    h3 { "Trash" }
                    p.hint { "A trashed session can be restored for 30 days; its share links stop working." }
                    (button_form(user, &format!("{base}/delete"), "Move to trash", "danger"))
                }
            }
            @if !links.is_empty() {
                div.revoke-links {
                    @for l in &links {
                        (button_form(user, &format!("{base}/share/{}/revoke", l.id), &format!("Revoke link of {}", when(&l.created_at)), "danger"))
                    }
                }
            }
        }
        section.conversation aria-label="Conversation" {
            h2 { "Conversation" }
            @match &found {
                Some(p) => {
                    p.meta { "Messages " (p.message_indexes.first().copied().unwrap_or(0)) "–" (p.message_indexes.last().copied().unwrap_or(0)) " of " (total) " shown (page " (page) " of " (pages) ")" }
                    @for (m, i) in p.messages.iter().zip(&p.message_indexes) { (conversation::message(*i, m)) }
                },
                None => p.empty { "This session has no messages to show." },
            }
            @if pages > 1 {
                nav.pager aria-label="Conversation pages" {
                    @if page > 1 { a href=(format!("{base}?page={}", page - 1)) rel="prev" { "← Earlier" } }
                    span { "Page " (page) " of " (pages) }
                    @if page < pages { a href=(format!("{base}?page={}", page + 1)) rel="next" { "Later →" } }
                }
            }
        }
    };
    Ok(layout::page(user, title_of(row), "sessions", body))
}

#[derive(Deserialize)]
pub struct EditForm {
    title: String,
    #[serde(default)]
    tags: String,
}

/// `POST /ui/sessions/{id}/edit`: the API's rules for titles and tags.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<EditForm>,
) -> WebResult<Response> {
    let title = clean_title(&form.title, "body")?;
    if title.is_empty() {
        return Err(ApiError::invalid_value(
            &["body", "title"],
            "Title must not be empty",
            form.title.into(),
        )
        .into());
    }
    let tags: Vec<String> = form
        .tags
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    check_tags(&tags)
        .map_err(|m| ApiError::invalid_value(&["body", "tags"], &m, serde_json::json!(tags)))?;
    let change = Edit {
        title: Some(title),
        tags: Some(tags),
        alias: None,
    };
    let row = edit_session(&state, &user.principal, &id, change).await?;
    Ok(see_other(&format!("/ui/sessions/{}?done=saved", row.id)))
}

#[derive(Deserialize)]
pub struct AliasForm {
    alias: String,
}

/// `POST /ui/sessions/{id}/alias`: an empty alias removes it.
pub async fn set_alias(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<AliasForm>,
) -> WebResult<Response> {
    let alias = form.alias.trim().to_string();
    let change = if alias.is_empty() {
        Edit {
            alias: Some(None),
            ..Edit::default()
        }
    } else {
        user.principal.tier().require(Feature::AliasesCloud)?;
        check_alias(&alias)?;
        Edit {
            alias: Some(Some(alias)),
            ..Edit::default()
        }
    };
    let row = edit_session(&state, &user.principal, &id, change).await?;
    Ok(see_other(&format!("/ui/sessions/{}?done=saved", row.id)))
}

/// `POST /ui/sessions/{id}/delete`: to the trash (scope `cloud`, as `sfs delete --cloud`).
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let scope = rules::delete_scope(Some("cloud"))?;
    let row =
        rules::soft_delete(&state.db, &state.clock, &user.principal.user.id, &id, scope).await?;
    state.search.remove(&row.id);
    Ok(see_other("/?done=deleted"))
}

/// `POST /ui/sessions/{id}/restore`.
pub async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let (row, _) = rules::restore(&state.db, &user.principal.user.id, &id).await?;
    search::refresh(&state.db, &state.blobs, &state.search, &row.id).await?;
    Ok(see_other(&format!("/ui/sessions/{}?done=restored", row.id)))
}

#[derive(Deserialize)]
pub struct ShareForm {
    expires_in_hours: i64,
    #[serde(default)]
    password: String,
}

/// `POST /ui/sessions/{id}/share`: the link is shown once, on the page this answers.
pub async fn share(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<ShareForm>,
) -> WebResult<Response> {
    user.principal.require_verified()?;
    let password = Some(form.password).filter(|p| !p.is_empty());
    crate::api::share::check_request(form.expires_in_hours, password.as_deref())?;
    let row = find_owned(&state.db, &user.principal.user.id, &id, Visibility::Live).await?;
    let link = shares::create(
        &state.db,
        &state.clock,
        &row,
        form.expires_in_hours,
        password,
    )
    .await?;
    let (_, public_url) = share_urls(&state, &link.token);
    let created = NewLink {
        public_url,
        expires_at: link.expires_at,
        has_password: link.has_password,
    };
    Ok(html(
        StatusCode::CREATED,
        session_page(&state, &user, &row, 1, None, Some(created)).await?,
    ))
}

/// `POST /ui/sessions/{id}/share/{link_id}/revoke`.
pub async fn revoke_share(
    State(state): State<AppState>,
    Path((id, link_id)): Path<(String, String)>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let row = find_owned(&state.db, &user.principal.user.id, &id, Visibility::Live).await?;
    shares::revoke(
        &state.db,
        &state.clock,
        &user.principal.user.id,
        &row.id,
        &link_id,
    )
    .await?;
    Ok(see_other(&format!("/ui/sessions/{}?done=revoked", row.id)))
}
