//! For platform admins: every account with its tier and state; enable or disable one (the
//! operator's `admin enable-user` / `disable-user`, audited with the admin's id).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::domain::admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, csrf, when};
use crate::web::{html, see_other, WebResult};

fn require_admin(user: &WebUser) -> Result<(), ApiError> {
    if user.principal.is_platform_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Platform admin required"))
    }
}

/// `GET /ui/admin/users`.
pub async fn users(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    require_admin(&user)?;
    let list = admin::list_users(&state.db).await?;
    let body = html! {
        table {
            thead { tr { th { "Email" } th { "Tier" } th { "Verified" } th { "Created" } th { "State" } th { span.sr { "Actions" } } } }
            tbody {
                @for u in &list {
                    tr {
                        td { (u.email) }
                        td { (u.tier) }
                        td { @if u.email_verified { "yes" } @else { "no" } }
                        td { (when(&u.created_at)) }
                        td { @if u.is_active { "active" } @else { "disabled" } }
                        td {
                            @if u.id != user.principal.user.id {
                                form.inline method="post" action=(format!("/ui/admin/users/{}/active", u.id)) {
                                    (csrf(&user))
                                    input type="hidden" name="active" value=(if u.is_active { "0" } else { "1" });
                                    button type="submit" class=(if u.is_active { "danger" } else { "" }) {
                                        @if u.is_active { "Disable" } @else { "Enable" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Users", "admin", body),
    ))
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: String,
}

/// `POST /ui/admin/users/{id}/active`.
pub async fn set_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<ActiveForm>,
) -> WebResult<Response> {
    require_admin(&user)?;
    let list = admin::list_users(&state.db).await?;
    let target = list
        .iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    admin::set_active_by(
        &state.db,
        &state.clock,
        &target.email,
        form.active == "1",
        Some(user.principal.user.id.clone()),
        "dashboard",
    )
    .await?;
    Ok(see_other("/ui/admin/users"))
}
