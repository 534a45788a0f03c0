//! Who may reach what, as extractors: a route's signature says who may call it.
//!
//! - [`OwnedSession`]: the caller's live session named by the `{id}` path segment (id or
//!   alias): 400 for a value that is neither, 404 for anyone else's.
//! - [`OrgMember`] / [`OrgAdmin`]: the org named by `{org_id}` (`/orgs/{org_id}/…`): 404 when
//!   there is no such org, 403 when the caller is not a member / not an admin or owner.
//! - [`OwnOrgAdmin`]: an admin or owner of the caller's own (primary) org, the org of the
//!   legacy `/org/…` routes and of service keys: 403 `insufficient_role` otherwise; when the
//!   path names an org (`{org_id}`) it must be that org (404 otherwise).
//! - [`OwnOrgMember`]: a member of the caller's own org, named by `{org_id}` (404 otherwise).
//! - [`TeamAdmin`]: [`OwnOrgAdmin`] on a plan with team management (403 `upgrade_required`
//!   first): who manages service keys.
//!
//! One decision ([`org_standing`]) answers every org question: the org, and the caller's role
//! in it; the extractors differ only in which org they ask about and what they require.
//!
//! `ProjectReader` / `ProjectEditor` go here too when the project routes arrive: the project
//! named by `{project_id}`, 404 for a caller outside its org, 403 for a reader asked to edit.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::auth::Principal;
use crate::db::orgs::{self, Membership, Org, OrgRole};
use crate::db::sessions;
use crate::db::sessions::{SessionRow, Visibility};
use crate::domain::orgs::insufficient_role;
use crate::domain::sessions::{is_alias, is_session_id, malformed_session_id, session_not_found};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};
use crate::error::ApiError;
use crate::state::AppState;

/// A named segment of the request's path, if the route has one.
async fn path_param(parts: &mut Parts, state: &AppState, name: &str) -> Option<String> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|Path(mut p)| p.remove(name))
}

/// The caller's live session by `{id}`.
pub struct OwnedSession {
    pub principal: Principal,
    pub session: SessionRow,
}

impl FromRequestParts<AppState> for OwnedSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(OwnedSession::extract_and(parts, state, |_| ()).await?.0)
    }
}

impl OwnedSession {
    /// The extractor, also running `then(&session)` on the blocking pool in the same hop that
    /// reads the key and the session (a pull opens the archive there). Auth failures still come
    /// first, then a malformed id, then 404; `then` runs only for a found session.
    pub async fn extract_and<T: Send + 'static>(
        parts: &mut Parts,
        state: &AppState,
        then: impl FnOnce(&SessionRow) -> T + Send + 'static,
    ) -> Result<(OwnedSession, T), ApiError> {
        let id = path_param(parts, state, "id").await.unwrap_or_default();
        let well_formed = is_session_id(&id) || is_alias(&id);
        let (principal, found) = Principal::user_key_and(parts, state, move |conn, user_id| {
            if !well_formed {
                return Ok(None);
            }
            let session = sessions::find_owned(conn, user_id, &id, Visibility::Live)?;
            Ok(session.map(|session| {
                let extra = then(&session);
                (session, extra)
            }))
        })
        .await?;
        if !well_formed {
            return Err(malformed_session_id().into());
        }
        let (session, extra) = found.ok_or_else(session_not_found)?;
        Ok((OwnedSession { principal, session }, extra))
    }
}

/// The org `org_id` and the caller's role in it (None: not a member). 404 without such an org.
pub async fn org_standing(
    state: &AppState,
    user_id: &str,
    org_id: &str,
) -> DomainResult<(Org, Option<OrgRole>)> {
    let (org_id, user_id) = (org_id.to_string(), user_id.to_string());
    state
        .db
        .read(move |conn| {
            let org = orgs::get_org(conn, &org_id)?
                .ok_or_else(|| DomainError::NotFound("Org not found".into()))?;
            let role = orgs::role_in(conn, &org_id, &user_id)?;
            Ok((org, role))
        })
        .await
}

async fn path_org(
    parts: &mut Parts,
    state: &AppState,
) -> Result<(Principal, Org, Option<OrgRole>), ApiError> {
    let principal = Principal::from_request_parts(parts, state).await?;
    let org_id = path_param(parts, state, "org_id").await.unwrap_or_default();
    let (org, role) = org_standing(state, &principal.user.id, &org_id).await?;
    Ok((principal, org, role))
}

/// A member (any role) of the org named by `{org_id}`.
pub struct OrgMember {
    pub principal: Principal,
    pub org: Org,
    pub role: OrgRole,
}

impl FromRequestParts<AppState> for OrgMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (principal, org, role) = path_org(parts, state).await?;
        let role = role.ok_or_else(|| ApiError::forbidden("You are not a member of this org"))?;
        Ok(OrgMember {
            principal,
            org,
            role,
        })
    }
}

/// An admin or owner of the org named by `{org_id}`.
pub struct OrgAdmin {
    pub principal: Principal,
    pub org: Org,
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (principal, org, role) = path_org(parts, state).await?;
        match role {
            Some(role) if role.is_admin() => Ok(OrgAdmin { principal, org }),
            _ => Err(ApiError::forbidden("Admin or owner role required")),
        }
    }
}

/// The caller's own org must be the one the path names, if it names one.
async fn own_org_named(
    parts: &mut Parts,
    state: &AppState,
    membership: &Membership,
) -> Result<(), ApiError> {
    match path_param(parts, state, "org_id").await {
        Some(org_id) if org_id != membership.org.id => {
            Err(ApiError::not_found("Organization not found"))
        }
        _ => Ok(()),
    }
}

/// An admin or owner of the caller's own org.
pub struct OwnOrgAdmin {
    pub principal: Principal,
    pub membership: Membership,
}

impl OwnOrgAdmin {
    async fn decide(
        principal: Principal,
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let membership = match &principal.org {
            Some(m) if m.role.is_admin() => m.clone(),
            other => return Err(insufficient_role(other.as_ref().map(|m| m.role)).into()),
        };
        own_org_named(parts, state, &membership).await?;
        Ok(OwnOrgAdmin {
            principal,
            membership,
        })
    }
}

impl FromRequestParts<AppState> for OwnOrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        Self::decide(principal, parts, state).await
    }
}

/// A member of the caller's own org, named by `{org_id}`.
pub struct OwnOrgMember {
    pub principal: Principal,
    pub membership: Membership,
}

impl FromRequestParts<AppState> for OwnOrgMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let membership = principal
            .org
            .clone()
            .ok_or_else(|| ApiError::not_found("Organization not found"))?;
        own_org_named(parts, state, &membership).await?;
        Ok(OwnOrgMember {
            principal,
            membership,
        })
    }
}

/// An admin of the caller's own org on a plan with team management.
pub struct TeamAdmin(pub OwnOrgAdmin);

impl FromRequestParts<AppState> for TeamAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        principal.tier().require(Feature::TeamManagement)?;
        Ok(TeamAdmin(
            OwnOrgAdmin::decide(principal, parts, state).await?,
        ))
    }
}
