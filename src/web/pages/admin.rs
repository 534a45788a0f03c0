//! For platform admins: every account with its tier and state (paged, filtered); change a
//! tier, enable or disable an account. The same domain functions as the admin API
//! (`/api/v1/admin/users…`), audited with the admin's id and source `dashboard`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::db::users::UserFilter;
use crate::domain::admin;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, csrf, when};
use crate::web::{html, see_other, WebResult};

const PER_PAGE: i64 = 50;

fn require_admin(user: &WebUser) -> Result<(), ApiError> {
    if user.principal.is_platform_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Admin access required"))
    }
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    tier: Option<String>,
    q: Option<String>,
    page: Option<i64>,
}

/// `GET /ui/admin/users`.
pub async fn users(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<UsersQuery>,
) -> WebResult<Response> {
    require_admin(&user)?;
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let tier = q.tier.clone().filter(|t| !t.is_empty());
    let search = q.q.clone().filter(|t| !t.trim().is_empty());
    let filter = UserFilter {
        tier: tier.clone(),
        search: search.clone(),
        include_inactive: true,
    };
    let (total, list) = admin::users_page(&state.db, filter, page, PER_PAGE).await?;
    let query = format!(
        "tier={}&q={}",
        enc(tier.as_deref().unwrap_or("")),
        enc(search.as_deref().unwrap_or(""))
    );
    let body = html! {
        form.filters method="get" action="/ui/admin/users" {
            label { "Tier"
                select name="tier" {
                    option value="" { "Any" }
                    @for t in admin::TIERS { option value=(t) selected[tier.as_deref() == Some(t)] { (t) } }
                }
            }
            label { "Email contains" input type="search" name="q" value=(search.as_deref().unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        p.meta { (total) " users" }
        table {
            thead { tr { th { "Email" } th { "Tier" } th { "Sessions" } th { "Verified" } th { "Created" } th { "State" } th { span.sr { "Actions" } } } }
            tbody {
                @for s in &list {
                    @let u = &s.user;
                    tr {
                        td { (u.email) }
                        td {
                            form.inline method="post" action=(format!("/ui/admin/users/{}/tier", u.id)) {
                                (csrf(&user))
                                label.sr for=(format!("tier-{}", u.id)) { "Tier of " (u.email) }
                                select id=(format!("tier-{}", u.id)) name="tier" {
                                    @for t in admin::TIERS { option value=(t) selected[u.tier == t] { (t) } }
                                }
                                button type="submit" { "Set" }
                            }
                        }
                        td.num { (s.session_count) }
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
        nav.pager aria-label="Pages" {
            @if page > 1 { a href=(format!("/ui/admin/users?{query}&page={}", page - 1)) rel="prev" { "← Newer" } }
            @if page * PER_PAGE < total { a href=(format!("/ui/admin/users?{query}&page={}", page + 1)) rel="next" { "Older →" } }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Users", "admin", body),
    ))
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
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
    admin::set_active_by_id(
        &state.db,
        &state.clock,
        &user.principal.user.id,
        &id,
        form.active == "1",
        None,
        "dashboard",
    )
    .await?;
    Ok(see_other("/ui/admin/users"))
}

#[derive(Deserialize)]
pub struct TierForm {
    tier: String,
}

/// `POST /ui/admin/users/{id}/tier`.
pub async fn set_tier(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<TierForm>,
) -> WebResult<Response> {
    require_admin(&user)?;
    admin::change_tier(
        &state.db,
        &state.clock,
        &user.principal.user.id,
        &id,
        &form.tier,
        None,
        "dashboard",
    )
    .await?;
    Ok(see_other("/ui/admin/users"))
}
