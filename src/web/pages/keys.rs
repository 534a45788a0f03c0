//! API keys: create (the key is shown once), list, revoke — the API's personal-key rules.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::auth::personal_key_request;
use crate::db::api_keys;
use crate::domain::accounts;
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, csrf, when};
use crate::web::{html, see_other, WebResult};

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    done: Option<String>,
}

async fn keys_page(
    state: &AppState,
    user: &WebUser,
    created: Option<(String, String)>,
    done: Option<&str>,
) -> WebResult<Markup> {
    let user_id = user.principal.user.id.clone();
    let keys = state
        .db
        .read(move |conn| api_keys::list_user_kind(conn, &user_id))
        .await?;
    let body = html! {
        @if done == Some("revoked") { p.notice role="status" { "Key revoked. Browsers signed in with it were signed out." } }
        @if let Some((name, raw)) = &created {
            section.card.created role="status" {
                h2 { "New key “" (name) "”" }
                p { "Copy it now: it is shown only once and cannot be recovered." }
                p.copyline { code #new-key { (raw) } " " button type="button" data-copy=(raw) { "Copy" } }
            }
        }
        form.card method="post" action="/ui/keys" {
            h2 { "Create a key" }
            (csrf(user))
            label for="key-name" { "Name" }
            input #key-name type="text" name="name" required maxlength="255" placeholder="laptop";
            label for="expires_in_days" { "Expires" }
            select #expires_in_days name="expires_in_days" {
                option value="" { "Never" }
                option value="30" { "In 30 days" }
                option value="90" selected { "In 90 days" }
                option value="365" { "In a year" }
            }
            button type="submit" { "Create key" }
        }
        section {
            h2 { "Your keys" }
            table {
                thead { tr { th { "Name" } th { "Prefix" } th { "Created" } th { "Last used" } th { "Expires" } th { "State" } th { span.sr { "Actions" } } } }
                tbody {
                    @for k in &keys {
                        @let active = k.is_active && k.revoked_at.is_none();
                        tr {
                            td { (k.name.as_deref().unwrap_or("")) @if k.id == user.principal.key.id { " " strong { "(this browser's key)" } } }
                            td { code { (k.key_prefix.as_deref().unwrap_or("sk_sfs_legacy")) "…" } }
                            td { (when(&k.created_at)) }
                            td { (k.last_used_at.as_deref().map(when).unwrap_or_default()) }
                            td { (k.expires_at.as_deref().map(when).unwrap_or_else(|| "never".into())) }
                            td { @if active { "active" } @else if k.revoked_at.is_some() { "revoked" } @else { "inactive" } }
                            td {
                                @if active {
                                    form.inline method="post" action=(format!("/ui/keys/{}/revoke", k.id)) {
                                        (csrf(user))
                                        label.sr for=(format!("reason-{}", k.id)) { "Reason" }
                                        input id=(format!("reason-{}", k.id)) type="text" name="reason" value="revoked in the dashboard" required maxlength="500";
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(user, "API keys", "keys", body))
}

/// `GET /ui/keys`.
pub async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<KeysQuery>,
) -> WebResult<Response> {
    Ok(html(
        StatusCode::OK,
        keys_page(&state, &user, None, q.done.as_deref()).await?,
    ))
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

/// `POST /ui/keys`: the new key is on the page this answers, and nowhere else.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<CreateForm>,
) -> WebResult<Response> {
    let days =
        match form.expires_in_days.trim() {
            "" => None,
            d => Some(d.parse::<i64>().map_err(|_| {
                crate::error::ApiError::bad_request("Expiry must be a number of days")
            })?),
        };
    let name = personal_key_request(&form.name, days)?;
    let minted = accounts::mint_user_key(
        &state.db,
        &state.clock,
        &user.principal.user.id,
        Some(name.clone()),
        days,
        true,
        None,
    )
    .await?;
    Ok(html(
        StatusCode::CREATED,
        keys_page(&state, &user, Some((name, minted.raw)), None).await?,
    ))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    reason: String,
}

/// `POST /ui/keys/{id}/revoke`: revoking the key this browser signed in with signs it out.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<RevokeForm>,
) -> WebResult<Response> {
    accounts::revoke_key(
        &state.db,
        &state.clock,
        &user.principal.user.id,
        &id,
        form.reason,
    )
    .await?;
    Ok(see_other("/ui/keys?done=revoked"))
}
