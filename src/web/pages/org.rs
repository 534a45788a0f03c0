//! The organization: members and roles, invites (send, delete; accept or decline your own),
//! service keys with their scopes — the API's org rules.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::api::org::{invite_email, invited};
use crate::db::orgs::{self, Membership, OrgRole};
use crate::domain::orgs::{self as rules, insufficient_role, InvitePath};
use crate::domain::service_keys;
use crate::domain::tiers::Feature;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, button_form, csrf, when};
use crate::web::pages::account::Empty;
use crate::web::pages::sessions::done;
use crate::web::{html, see_other, WebError, WebResult};

#[derive(Deserialize, Default)]
pub struct OrgQuery {
    done: Option<String>,
}

/// The caller's own org when they are its admin or owner (the API's `OwnOrgAdmin`).
fn own_admin(user: &WebUser) -> Result<Membership, WebError> {
    match &user.principal.org {
        Some(m) if m.role.is_admin() => Ok(m.clone()),
        other => Err(insufficient_role(other.as_ref().map(|m| m.role)).into()),
    }
}

/// `GET /ui/org`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<OrgQuery>,
) -> WebResult<Response> {
    let membership = user.principal.org.clone();
    let admin = membership.as_ref().is_some_and(|m| m.role.is_admin());
    let (org_id, email, now) = (
        membership.as_ref().map(|m| m.org.id.clone()),
        user.principal.user.email.clone(),
        state.clock.now_string(),
    );
    let (members, invites, mine) = state
        .db
        .read(move |conn| {
            let (members, invites) = match &org_id {
                Some(id) => (
                    orgs::members(conn, id)?,
                    if admin {
                        orgs::active_invites(conn, id, &now)?
                    } else {
                        vec![]
                    },
                ),
                None => (vec![], vec![]),
            };
            Ok::<_, crate::db::DbError>((
                members,
                invites,
                orgs::invites_for_me(conn, &email, &now)?,
            ))
        })
        .await?;
    let team = user.principal.tier().has(Feature::TeamManagement);
    let service = match (&membership, admin && team) {
        (Some(m), true) => service_keys::list(&state.db, &m.org.id).await?,
        _ => vec![],
    };
    let body = html! {
        (done(q.done.as_deref()))
        @if !mine.is_empty() {
            section.card {
                h2 { "Invites for you" }
                ul.plain {
                    @for (inv, org_name, inviter) in &mine {
                        li {
                            strong { (org_name) } " as " (inv.role) @if let Some(by) = inviter { " (from " (by) ")" } " "
                            (button_form(&user, &format!("/ui/org/invites/{}/accept", inv.id), "Accept", "primary"))
                            (button_form(&user, &format!("/ui/org/invites/{}/decline", inv.id), "Decline", ""))
                        }
                    }
                }
            }
        }
        @match &membership {
            None => p.empty { "You are not in an organization. Create one with the API (" code { "POST /api/v1/org" } ") or accept an invite." },
            Some(m) => {
                dl.facts {
                    dt { "Organization" } dd { (m.org.name) " (" code { (m.org.slug) } ")" }
                    dt { "Plan" } dd { (m.org.tier) }
                    dt { "Your role" } dd { (m.role.to_string()) }
                }
                p { a href="/ui/org/personas" { "The org's personas" } }
                section {
                    h2 { "Members" }
                    table {
                        thead { tr { th { "Email" } th { "Role" } th { "Joined" } @if admin { th { span.sr { "Actions" } } } } }
                        tbody {
                            @for mem in &members {
                                tr {
                                    td { (mem.email) }
                                    td { (mem.role) }
                                    td { (when(&mem.joined_at)) }
                                    @if admin {
                                        td {
                                            @if mem.role != "owner" && mem.user_id != user.principal.user.id {
                                                form.inline method="post" action=(format!("/ui/org/members/{}/role", mem.user_id)) {
                                                    (csrf(&user))
                                                    label.sr for=(format!("role-{}", mem.user_id)) { "Role of " (mem.email) }
                                                    select id=(format!("role-{}", mem.user_id)) name="role" {
                                                        option value="member" selected[mem.role == "member"] { "Member" }
                                                        option value="admin" selected[mem.role == "admin"] { "Admin" }
                                                    }
                                                    button type="submit" { "Change role" }
                                                }
                                                (button_form(&user, &format!("/ui/org/members/{}/remove", mem.user_id), "Remove", "danger"))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if admin {
                    section {
                        h2 { "Invites" }
                        @if invites.is_empty() { p.empty { "No open invites." } } @else {
                            table {
                                thead { tr { th { "Email" } th { "Role" } th { "Sent" } th { "Expires" } th { span.sr { "Actions" } } } }
                                tbody {
                                    @for inv in &invites {
                                        tr { td { (inv.email) } td { (inv.role) } td { (when(&inv.created_at)) } td { (when(&inv.expires_at)) }
                                            td { (button_form(&user, &format!("/ui/org/invites/{}/delete", inv.id), "Delete", "danger")) } }
                                    }
                                }
                            }
                        }
                        form.card method="post" action="/ui/org/invite" {
                            h3 { "Invite someone" }
                            (csrf(&user))
                            label for="invite-email" { "Email" }
                            input #invite-email type="email" name="email" required autocomplete="off";
                            label for="invite-role" { "Role" }
                            select #invite-role name="role" { option value="member" selected { "Member" } option value="admin" { "Admin" } }
                            button type="submit" { "Send invite" }
                        }
                    }
                }
                @if admin && team {
                    section {
                        h2 { "Service keys" }
                        p.hint { "Keys for CI runners and agents; create and rotate them with the API (" code { "/api/v1/orgs/{org_id}/service-keys" } ")." }
                        @if service.is_empty() { p.empty { "No service keys." } } @else {
                            table {
                                thead { tr { th { "Name" } th { "Scopes" } th { "Created" } th { "Expires" } th { "State" } } }
                                tbody {
                                    @for k in &service {
                                        tr {
                                            td { (k.service_key_name.as_deref().or(k.name.as_deref()).unwrap_or("")) }
                                            td { @for s in k.scope_list() { code { (s) } " " } }
                                            td { (when(&k.created_at)) }
                                            td { (k.expires_at.as_deref().map(when).unwrap_or_else(|| "never".into())) }
                                            td { @if k.revoked_at.is_some() { "revoked" } @else { "active" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Organization", "org", body),
    ))
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
    role: String,
}

/// `POST /ui/org/invite`: as `POST /api/v1/org/invite` (any role but admin becomes member).
pub async fn invite(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<InviteForm>,
) -> WebResult<Response> {
    let m = own_admin(&user)?;
    let email = invite_email(&form.email)?;
    let role = match form.role.parse() {
        Ok(OrgRole::Admin) => OrgRole::Admin,
        _ => OrgRole::Member,
    }
    .to_string();
    let (inv, org) = rules::invite(
        &state.db,
        &state.clock,
        &m.org.id,
        &user.principal.user,
        email,
        role,
        InvitePath::Primary,
    )
    .await?;
    let _ = invited(&state, &user.principal, inv, org);
    Ok(see_other("/ui/org?done=invited"))
}

/// `POST /ui/org/invites/{id}/delete`.
pub async fn delete_invite(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let m = own_admin(&user)?;
    rules::delete_invite(&state.db, &m.org.id, &id).await?;
    Ok(see_other("/ui/org?done=updated"))
}

/// `POST /ui/org/invites/{id}/accept`.
pub async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    rules::accept(&state.db, &state.clock, &user.principal.user, &id).await?;
    Ok(see_other("/ui/org?done=accepted"))
}

/// `POST /ui/org/invites/{id}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    rules::decline(&state.db, &state.clock, &user.principal.user, &id, None).await?;
    Ok(see_other("/ui/org?done=declined"))
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /ui/org/members/{user_id}/role`: as `PUT /api/v1/org/members/{user_id}/role`.
pub async fn change_role(
    State(state): State<AppState>,
    Path(member): Path<String>,
    CsrfForm { user, form }: CsrfForm<RoleForm>,
) -> WebResult<Response> {
    let m = own_admin(&user)?;
    rules::change_role(
        &state.db,
        &m.org.id,
        &user.principal.user,
        &member,
        form.role,
    )
    .await?;
    Ok(see_other("/ui/org?done=updated"))
}

/// `POST /ui/org/members/{user_id}/remove`: as `DELETE /api/v1/org/members/{user_id}`.
pub async fn remove_member(
    State(state): State<AppState>,
    Path(member): Path<String>,
    CsrfForm { user, .. }: CsrfForm<Empty>,
) -> WebResult<Response> {
    let m = own_admin(&user)?;
    rules::remove_member(&state.db, &m.org.id, &user.principal.user, &member).await?;
    Ok(see_other("/ui/org?done=updated"))
}
