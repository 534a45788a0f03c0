//! Personas: a project's (with its org's, read-only here) and the user's org's — list, create,
//! edit, delete. The same domain functions as the persona routes; a project the user cannot
//! read is 404, a change without edit standing is the API's 403.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use crate::db::personas::Persona;
use crate::domain::orgs::insufficient_role;
use crate::domain::personas::{self as rules, Author, NewPersona, OrgCaller, PersonaPatch};
use crate::domain::projects::{self, Need};
use crate::state::AppState;
use crate::web::auth::{CsrfForm, WebUser};
use crate::web::layout::{self, button_form, csrf, when};
use crate::web::{html, see_other, WebError, WebResult};

fn author(user: &WebUser) -> Author {
    Author {
        actor: user.principal.actor(),
        service_key: None,
    }
}

fn project_path(id: &str) -> String {
    format!("/ui/projects/{id}/personas")
}

const ORG_PATH: &str = "/ui/org/personas";

/// The user's own org as a persona caller (members read; the domain checks admin for writes).
fn org_caller(user: &WebUser) -> Result<OrgCaller, WebError> {
    match &user.principal.org {
        Some(m) => Ok(OrgCaller {
            user_id: user.principal.user.id.clone(),
            org: m.org.clone(),
            role: m.role,
        }),
        None => Err(insufficient_role(None).into()),
    }
}

fn specializations(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One persona with, when `base` is given, its edit and delete forms.
fn persona_card(user: &WebUser, p: &Persona, base: Option<&str>) -> Markup {
    let slug = p.name.to_ascii_lowercase();
    html! {
        article.card.persona data-persona=(p.name) {
            h3 { (p.name) " " span.tag { (p.scope()) } @if !p.is_active { " " span.tag { "inactive" } } }
            p.meta { (p.role) " · version " (p.version) " · updated " (when(&p.updated_at)) }
            @if !p.specializations.is_empty() { p.meta { "Specializations: " (p.specializations.join(", ")) } }
            pre.doc { (p.content) }
            @if let Some(base) = base {
                details {
                    summary { "Edit " (p.name) }
                    form method="post" action=(format!("{base}/{}/edit", p.id)) {
                        (csrf(user))
                        label for=(format!("role-{slug}")) { "Role" }
                        input id=(format!("role-{slug}")) type="text" name="role" value=(p.role);
                        label for=(format!("content-{slug}")) { "Instructions" }
                        textarea id=(format!("content-{slug}")) name="content" rows="5" { (p.content) }
                        label for=(format!("spec-{slug}")) { "Specializations (comma-separated)" }
                        input id=(format!("spec-{slug}")) type="text" name="specializations" value=(p.specializations.join(", "));
                        label.check { input type="checkbox" name="is_active" value="1" checked[p.is_active]; "Active" }
                        button type="submit" { "Save" }
                    }
                }
                @if p.is_active {
                    (button_form(user, &format!("{base}/{}/delete", p.id), "Delete", "danger"))
                }
            }
        }
    }
}

fn create_form(user: &WebUser, action: &str) -> Markup {
    html! {
        details.actions {
            summary { h2 { "New persona" } }
            form.card method="post" action=(action) {
                (csrf(user))
                label for="p-name" { "Name" }
                input #p-name type="text" name="name" required maxlength="50";
                label for="p-role" { "Role" }
                input #p-role type="text" name="role" required;
                label for="p-content" { "Instructions" }
                textarea #p-content name="content" rows="5" {}
                label for="p-spec" { "Specializations (comma-separated)" }
                input #p-spec type="text" name="specializations";
                button type="submit" { "Create persona" }
            }
        }
    }
}

/// `GET /ui/projects/{id}/personas`.
pub async fn project_list(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let actor = user.principal.actor();
    let (project, standing) = projects::open(&state.db, actor.clone(), id, Need::Read).await?;
    let list = rules::list(&state.db, actor, project.clone(), true, true).await?;
    let base = project_path(&project.id);
    let body = html! {
        p { a href=(format!("/ui/projects/{}", project.id)) { "← " (project.name) } }
        @if list.is_empty() { p.empty { "No personas yet." } }
        @for p in &list {
            @let editable = standing.edit && p.project_id.is_some();
            (persona_card(&user, p, editable.then_some(base.as_str())))
        }
        @if standing.edit { (create_form(&user, &base)) }
        p.hint { "Org personas are managed on " a href=(ORG_PATH) { "the organization's personas page" } "." }
    };
    let title = format!("Personas · {}", project.name);
    Ok(html(
        StatusCode::OK,
        layout::page(&user, &title, "projects", body),
    ))
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    role: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    specializations: String,
}

impl CreateForm {
    fn into_new(self) -> NewPersona {
        NewPersona {
            name: self.name,
            role: self.role,
            content: self.content,
            specializations: specializations(&self.specializations),
            represented_user: None,
        }
    }
}

/// `POST /ui/projects/{id}/personas`.
pub async fn project_create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<CreateForm>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Edit).await?;
    rules::create(
        &state.db,
        &state.clock,
        author(&user),
        project.clone(),
        form.into_new(),
    )
    .await?;
    Ok(see_other(&project_path(&project.id)))
}

#[derive(Deserialize)]
pub struct EditForm {
    role: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    specializations: String,
    is_active: Option<String>,
}

impl EditForm {
    fn into_patch(self) -> PersonaPatch {
        PersonaPatch {
            role: Some(self.role),
            content: Some(self.content),
            specializations: Some(specializations(&self.specializations)),
            is_active: Some(self.is_active.is_some()),
            represented_user: None,
        }
    }
}

/// The name of the project persona with this id (404 when it is not one of the project's).
async fn project_persona_name(
    state: &AppState,
    user: &WebUser,
    project: &crate::db::projects::Project,
    persona_id: &str,
) -> WebResult<String> {
    let list = rules::list(
        &state.db,
        user.principal.actor(),
        project.clone(),
        true,
        false,
    )
    .await?;
    list.into_iter()
        .find(|p| p.id == persona_id)
        .map(|p| p.name)
        .ok_or_else(|| rules::not_found().into())
}

/// `POST /ui/projects/{id}/personas/{persona_id}/edit`.
pub async fn project_edit(
    State(state): State<AppState>,
    Path((id, persona_id)): Path<(String, String)>,
    CsrfForm { user, form }: CsrfForm<EditForm>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Edit).await?;
    let name = project_persona_name(&state, &user, &project, &persona_id).await?;
    rules::update(
        &state.db,
        &state.clock,
        author(&user),
        project.clone(),
        name,
        form.into_patch(),
        false,
    )
    .await?;
    Ok(see_other(&project_path(&project.id)))
}

/// `POST /ui/projects/{id}/personas/{persona_id}/delete`.
pub async fn project_delete(
    State(state): State<AppState>,
    Path((id, persona_id)): Path<(String, String)>,
    CsrfForm { user, .. }: CsrfForm<crate::web::pages::account::Empty>,
) -> WebResult<Response> {
    let (project, _) = projects::open(&state.db, user.principal.actor(), id, Need::Edit).await?;
    let name = project_persona_name(&state, &user, &project, &persona_id).await?;
    rules::delete(
        &state.db,
        &state.clock,
        author(&user),
        project.clone(),
        name,
        false,
    )
    .await?;
    Ok(see_other(&project_path(&project.id)))
}

/// `GET /ui/org/personas`.
pub async fn org_list(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let caller = org_caller(&user)?;
    let admin = caller.role.is_admin();
    let org_name = caller.org.name.clone();
    let list = rules::org_list(&state.db, caller, true).await?;
    let body = html! {
        p.meta { "Personas every project of " (org_name) " can use (a project persona of the same name overrides one)." }
        @if list.is_empty() { p.empty { "No org personas yet." } }
        @for p in &list { (persona_card(&user, p, admin.then_some(ORG_PATH))) }
        @if admin { (create_form(&user, ORG_PATH)) }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&user, "Org personas", "org", body),
    ))
}

/// `POST /ui/org/personas`.
pub async fn org_create(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<CreateForm>,
) -> WebResult<Response> {
    let caller = org_caller(&user)?;
    rules::org_create(&state.db, &state.clock, caller, form.into_new()).await?;
    Ok(see_other(ORG_PATH))
}

async fn org_persona_name(state: &AppState, caller: &OrgCaller, id: &str) -> WebResult<String> {
    rules::org_list(&state.db, caller.clone(), true)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .map(|p| p.name)
        .ok_or_else(|| rules::not_found().into())
}

/// `POST /ui/org/personas/{persona_id}/edit`.
pub async fn org_edit(
    State(state): State<AppState>,
    Path(persona_id): Path<String>,
    CsrfForm { user, form }: CsrfForm<EditForm>,
) -> WebResult<Response> {
    let caller = org_caller(&user)?;
    let name = org_persona_name(&state, &caller, &persona_id).await?;
    rules::org_update(&state.db, &state.clock, caller, name, form.into_patch()).await?;
    Ok(see_other(ORG_PATH))
}

/// `POST /ui/org/personas/{persona_id}/delete`.
pub async fn org_delete(
    State(state): State<AppState>,
    Path(persona_id): Path<String>,
    CsrfForm { user, .. }: CsrfForm<crate::web::pages::account::Empty>,
) -> WebResult<Response> {
    let caller = org_caller(&user)?;
    let name = org_persona_name(&state, &caller, &persona_id).await?;
    rules::org_delete(&state.db, &state.clock, caller, name).await?;
    Ok(see_other(ORG_PATH))
}
