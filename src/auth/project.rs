//! Access to one project as extractors: [`ProjectReader`] and [`ProjectEditor`] load the project
//! named by the route's `{project_id}` and decide the caller's standing once (02 §0.3–0.4), so a
//! handler's signature says who may call it. `A` says which keys may try: [`UserOnly`], or a
//! scope a service key may hold ([`KnowledgeRead`], [`KnowledgeWrite`]).

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::auth::principal::{RouteScope, Scoped};
use crate::auth::Principal;
use crate::db::projects::Project;
use crate::domain::projects::{self, Actor, Need, ServiceKey, Standing};
use crate::error::ApiError;
use crate::state::AppState;

/// Which keys a project route admits.
pub trait ProjectAuth: Send + Sync + 'static {
    fn caller(
        parts: &mut Parts,
        state: &AppState,
    ) -> impl Future<Output = Result<Principal, ApiError>> + Send;
}

/// User keys only (a service key gets `service_key_not_allowed`).
pub struct UserOnly;
impl ProjectAuth for UserOnly {
    async fn caller(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
        Principal::from_request_parts(parts, state).await
    }
}

/// Routes that read knowledge (`knowledge:read`).
pub struct KnowledgeRead;
impl RouteScope for KnowledgeRead {
    const SCOPES: &'static [&'static str] = &["knowledge:read"];
}
/// Routes that write knowledge (`knowledge:write`).
pub struct KnowledgeWrite;
impl RouteScope for KnowledgeWrite {
    const SCOPES: &'static [&'static str] = &["knowledge:write"];
}

/// Routes that read personas (`personas:read`).
pub struct PersonasRead;
impl RouteScope for PersonasRead {
    const SCOPES: &'static [&'static str] = &["personas:read"];
}
/// Routes that write personas (`personas:write`).
pub struct PersonasWrite;
impl RouteScope for PersonasWrite {
    const SCOPES: &'static [&'static str] = &["personas:write"];
}
/// Routes that read agent runs (`agent_runs:read`).
pub struct AgentRunsRead;
impl RouteScope for AgentRunsRead {
    const SCOPES: &'static [&'static str] = &["agent_runs:read"];
}
/// Routes that record agent runs (`agent_runs:write`).
pub struct AgentRunsWrite;
impl RouteScope for AgentRunsWrite {
    const SCOPES: &'static [&'static str] = &["agent_runs:write"];
}

macro_rules! scoped_auth {
    ($($scope:ty),+) => {$(
        impl ProjectAuth for $scope {
            async fn caller(parts: &mut Parts, state: &AppState) -> Result<Principal, ApiError> {
                Ok(Scoped::<$scope>::from_request_parts(parts, state).await?.0)
            }
        }
    )+};
}
scoped_auth!(
    KnowledgeRead,
    KnowledgeWrite,
    PersonasRead,
    PersonasWrite,
    AgentRunsRead,
    AgentRunsWrite
);

/// Routes that read tickets (`tickets:read`).
pub struct TicketsRead;
impl RouteScope for TicketsRead {
    const SCOPES: &'static [&'static str] = &["tickets:read"];
}
/// Routes that write tickets (`tickets:write`).
pub struct TicketsWrite;
impl RouteScope for TicketsWrite {
    const SCOPES: &'static [&'static str] = &["tickets:write"];
}
scoped_auth!(TicketsRead, TicketsWrite);

impl Principal {
    /// The caller as the project rules see it.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.id.clone(),
            platform_admin: self.is_platform_admin(),
            service_key: self.is_service_key().then(|| ServiceKey {
                org_id: self.key.org_id.clone(),
                allowlist: self.key.project_list(),
            }),
        }
    }

    /// `(id, name)` of a service key, recorded on what it writes.
    pub fn service_key_ref(&self) -> Option<(String, String)> {
        self.is_service_key().then(|| {
            let name = self
                .key
                .service_key_name
                .clone()
                .or_else(|| self.key.name.clone())
                .unwrap_or_default();
            (self.key.id.clone(), name)
        })
    }
}

/// A caller with standing on the project of the path, and that project.
pub struct ProjectAccess<A, const EDIT: bool> {
    pub principal: Principal,
    pub project: Project,
    pub standing: Standing,
    _auth: PhantomData<A>,
}

/// Read ("contribute") standing: 404 "Project not found" without it.
pub type ProjectReader<A = UserOnly> = ProjectAccess<A, false>;
/// Edit standing: 403 `project_edit_forbidden` for a reader.
pub type ProjectEditor<A = UserOnly> = ProjectAccess<A, true>;

impl<A: ProjectAuth, const EDIT: bool> FromRequestParts<AppState> for ProjectAccess<A, EDIT> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = A::caller(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let project_id = params
            .get("project_id")
            .cloned()
            .ok_or_else(|| ApiError::internal("project route without {project_id}"))?;
        let need = if EDIT { Need::Edit } else { Need::Read };
        let (project, standing) =
            projects::open(&state.db, principal.actor(), project_id, need).await?;
        Ok(ProjectAccess {
            principal,
            project,
            standing,
            _auth: PhantomData,
        })
    }
}
