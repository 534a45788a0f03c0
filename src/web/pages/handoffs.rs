//! Handoffs: create (from a session's page), inbox and sent, one handoff with its comments;
//! claim, decline, revoke, comment — the API's domain calls.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::db::handoffs::{self, HandoffStatus};
use crate::domain::handoffs::{self as rules, display_status, CreateRequest};
use crate::mail;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, button_form, csrf, when};
use crate::web::pages::account::Empty;
use crate::web::pages::sessions::done;
use crate::web::{html, see_other, WebResult};

#[derive(Deserialize)]
pub struct HandoffForm {
    recipient_email: String,
    #[serde(default)]
    message: String,
}

/// `POST /ui/sessions/{id}/handoff`.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<HandoffForm>,
) -> WebResult<Response> {
    let p = &user.principal;
    let request = CreateRequest {
        session_id: id.clone(),
        recipient_email: Some(form.recipient_email.trim().to_string()).filter(|e| !e.is_empty()),
        recipient_user_id: None,
        recipient_team_id: None,
        message: Some(form.message.trim().to_string()).filter(|m| !m.is_empty()),
        ticket_id: None,
        persona_name: None,
        expires_in_hours: None,
        attachments: 0,
    };
    let (handoff, _) = rules::create(
        &state.db,
        &state.clock,
        &state.blobs,
        &p.user,
        p.tier(),
        request,
    )
    .await?;
    if let Some(to) = &handoff.recipient_email {
        let (subject, body) = mail::handoff_message(
            &state.config.public_url,
            &p.user.email,
            handoff.session_title.as_deref().unwrap_or(""),
            &handoff.id,
            handoff.message.as_deref(),
        );
        state.mailer.send(to, &subject, &body);
    }
    Ok(see_other(&format!(
        "/ui/handoffs/{}?done=handed",
        handoff.id
    )))
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// `GET /ui/handoffs`: inbox and sent.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let (id, email) = (
        user.principal.user.id.clone(),
        user.principal.user.email.clone(),
    );
    let (inbox, sent) = state
        .db
        .read(move |conn| {
            Ok::<_, crate::db::DbError>((
                handoffs::inbox(conn, &id, &email)?,
                handoffs::sent(conn, &id)?,
            ))
        })
        .await?;
    let now = state.clock.now();
    let table = |list: &[handoffs::Handoff], inbox: bool| {
        html! {
            @if list.is_empty() { p.empty { "None." } } @else {
                table {
                    thead { tr { th { "Session" } th { @if inbox { "From" } @else { "To" } } th { "Status" } th { "Sent" } th { "Expires" } } }
                    tbody {
                        @for h in list {
                            tr {
                                td { a href=(format!("/ui/handoffs/{}", h.id)) { (h.session_title.as_deref().filter(|t| !t.is_empty()).unwrap_or("(untitled)")) } }
                                td { @if inbox { (h.sender_email.as_deref().unwrap_or("unknown")) } @else { (h.recipient_email.as_deref().unwrap_or("")) } }
                                td { span class=(format!("status {}", display_status(h, now))) { (display_status(h, now).to_string()) } }
                                td { (when(&h.created_at)) }
                                td { (when(&h.expires_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        (done(q.done.as_deref()))
        section { h2 { "Inbox" } (table(&inbox, true)) }
        section { h2 { "Sent" } (table(&sent, false)) }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Handoffs", "handoffs", body),
    ))
}

/// `GET /ui/handoffs/{id}`: a party sees it, anyone else gets 404.
pub async fn view(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> WebResult<Response> {
    let h = rules::view(&state.db, &state.clock, &user.principal.user, &id).await?;
    let key = h.id.clone();
    let comments = state
        .db
        .read(move |conn| handoffs::comments(conn, &key, 200))
        .await?;
    let status = display_status(&h, state.clock.now());
    let recipient = rules::is_recipient(&h, &user.principal.user);
    let sender = h.sender_id == user.principal.user.id;
    let base = format!("/ui/handoffs/{}", h.id);
    let title = h
        .session_title
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "(untitled)".into());
    let body = html! {
        (done(q.done.as_deref()))
        dl.facts {
            dt { "From" } dd { (h.sender_email.as_deref().unwrap_or("unknown")) }
            dt { "To" } dd { (h.recipient_email.as_deref().unwrap_or("")) }
            dt { "Status" } dd { span class=(format!("status {status}")) { (status.to_string()) } }
            dt { "Tool" } dd { (h.session_tool.as_deref().unwrap_or("")) " · " (h.session_model_id.as_deref().unwrap_or("unknown model")) }
            dt { "Messages" } dd { (h.session_message_count.unwrap_or(0)) }
            dt { "Sent" } dd { (when(&h.created_at)) }
            dt { "Expires" } dd { (when(&h.expires_at)) }
            @if let Some(m) = &h.message { dt { "Message" } dd { (m) } }
            @if let Some(copy) = &h.recipient_session_id { @if recipient { dt { "Your copy" } dd { a href=(format!("/ui/sessions/{copy}")) { "Open the claimed session" } } } }
        }
        @if status == HandoffStatus::Pending {
            div.actions-row {
                @if recipient {
                    (button_form(&user, &format!("{base}/claim"), "Claim", "primary"))
                    (button_form(&user, &format!("{base}/decline"), "Decline", "danger"))
                }
                @if sender {
                    form.inline method="post" action=(format!("{base}/revoke")) {
                        (csrf(&user))
                        label for="reason" { "Reason" }
                        input #reason type="text" name="reason" required maxlength="500";
                        button.danger type="submit" { "Revoke" }
                    }
                }
            }
        }
        section {
            h2 { "Comments" }
            @if comments.is_empty() { p.empty { "No comments yet." } }
            ul.comments {
                @for c in &comments {
                    li { p { (c.content) } p.meta { (when(&c.created_at)) } }
                }
            }
            form.card method="post" action=(format!("{base}/comment")) {
                (csrf(&user))
                label for="content" { "Add a comment" }
                textarea #content name="content" rows="3" required maxlength="10000" {}
                button type="submit" { "Comment" }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "handoffs", body),
    ))
}

/// `POST /ui/handoffs/{id}/claim`.
pub async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let h = rules::claim(&state.db, &state.clock, &user.principal.user, &id).await?;
    if let Some(copy) = &h.recipient_session_id {
        crate::domain::search::refresh(&state.db, &state.blobs, &state.search, copy).await?;
        return Ok(see_other(&format!("/ui/sessions/{copy}?done=claimed")));
    }
    Ok(see_other(&format!("/ui/handoffs/{}?done=claimed", h.id)))
}

/// `POST /ui/handoffs/{id}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let h = rules::decline(&state.db, &state.clock, &user.principal.user, &id, None).await?;
    Ok(see_other(&format!("/ui/handoffs/{}?done=declined", h.id)))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    reason: Option<String>,
}

/// `POST /ui/handoffs/{id}/revoke` (the sender, with a reason).
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<RevokeForm>,
) -> WebResult<Response> {
    let h = rules::revoke(
        &state.db,
        &state.clock,
        &user.principal.user,
        &id,
        form.reason.unwrap_or_default(),
    )
    .await?;
    Ok(see_other(&format!("/ui/handoffs/{}?done=revoked", h.id)))
}

#[derive(Deserialize)]
pub struct CommentForm {
    content: String,
}

/// `POST /ui/handoffs/{id}/comment`.
pub async fn comment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<CommentForm>,
) -> WebResult<Response> {
    crate::api::handoffs::check_comment(&form.content)?;
    rules::comment(
        &state.db,
        &state.clock,
        &user.principal.user,
        &id,
        form.content,
    )
    .await?;
    Ok(see_other(&format!("/ui/handoffs/{id}?done=commented")))
}
