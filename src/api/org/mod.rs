//! Organizations: the legacy single-org routes (`/org/*`, acting on the caller's primary org)
//! and the org-in-path routes (`/orgs/{org_id}/*`), invites on both paths, members and roles,
//! and the caller's default org. User keys only.

mod types;
pub use types::*;

use axum::extract::{Path, State};
use serde_json::Value;

use crate::api;
use crate::api::access::{self, OrgAdmin, OwnOrgAdmin};
use crate::api::extract::{Json, OptionalJson};
use crate::auth::Principal;
use crate::db::orgs::OrgRole;
use crate::db::orgs::{self, Invite, Membership, Org};
use crate::domain::accounts::normalize_email;
use crate::domain::orgs::{self as rules, InvitePath};
use crate::error::{ApiError, ApiResult};
use crate::mail;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, info))
        .routes(routes!(invite_primary))
        .routes(routes!(invite_named))
        .routes(api::alias(
            "/api/v1/orgs/{org_id}/members/invite",
            routes!(invite_named),
            "Same as `POST /api/v1/orgs/{org_id}/invite` (the reference server's path).",
        ))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(pending))
        .routes(routes!(mine))
        .routes(routes!(revoke_invite))
        .routes(routes!(resend))
        .routes(routes!(role_primary))
        .routes(routes!(role_named))
        .routes(routes!(remove_primary))
        .routes(routes!(remove_named))
        .routes(routes!(list_mine))
        .routes(routes!(members_named))
        .routes(routes!(get_default_org, put_default_org))
}

#[utoipa::path(
    post, path = "/api/v1/org", tag = "orgs", operation_id = "create_org",
    summary = "Create an organization",
    description = "The caller becomes its owner. Needs a team or enterprise account that is in no org yet.",
    request_body = OrgRequest,
    responses(
        (status = 200, description = "Created", body = OrgCreated),
        (status = 403, description = "The caller's tier cannot create organizations"),
        (status = 409, description = "Already in an org, or the slug is taken"),
        (status = 422, description = "Invalid slug"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<OrgRequest>,
) -> ApiResult<Json<OrgCreated>> {
    if !rules::valid_slug(&body.slug) {
        return Err(ApiError::invalid_value(
            &["body", "slug"],
            "slug must be 3-100 characters of a-z, 0-9 and '-', starting with a letter or digit",
            Value::from(body.slug),
        ));
    }
    let org = rules::create(
        &state.db,
        &state.clock,
        &principal.user,
        body.name,
        body.slug,
    )
    .await?;
    tracing::info!(org = %org.id, owner = %principal.user.id, "organization created");
    Ok(Json(OrgCreated {
        org_id: org.id,
        name: org.name,
        slug: org.slug,
    }))
}

fn org_view(org: &Org, seats_used: i64) -> OrgView {
    OrgView {
        id: org.id.clone(),
        name: org.name.clone(),
        slug: org.slug.clone(),
        tier: org.tier.clone(),
        seats_limit: org.seats_limit,
        seats_used,
        storage_limit_bytes: org.storage_limit_bytes,
        storage_used_bytes: 0,
    }
}

fn members_view(list: &[orgs::Member]) -> Vec<OrgMember> {
    list.iter()
        .map(|m| OrgMember {
            user_id: m.user_id.clone(),
            email: m.email.clone(),
            display_name: m.display_name.clone(),
            role: m.role.clone(),
            joined_at: m.joined_at.clone(),
        })
        .collect()
}

#[utoipa::path(
    get, path = "/api/v1/org", tag = "orgs", operation_id = "get_org",
    summary = "The caller's primary organization",
    responses((status = 200, description = "The org, its members and the caller's role (nulls without an org)", body = OrgInfo)),
)]
async fn info(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<OrgInfo>> {
    let Some(m) = principal.org.clone() else {
        return Ok(Json(OrgInfo {
            org: None,
            members: vec![],
            current_user_role: None,
        }));
    };
    let org_id = m.org.id.clone();
    let list = state
        .db
        .read(move |conn| orgs::members(conn, &org_id))
        .await?;
    Ok(Json(OrgInfo {
        org: Some(org_view(&m.org, list.len() as i64)),
        members: members_view(&list),
        current_user_role: Some(m.role.to_string()),
    }))
}

pub(crate) fn invite_email(raw: &str) -> ApiResult<String> {
    normalize_email(raw)
        .map_err(|m| ApiError::invalid_value(&["body", "email"], &m, Value::from(raw)))
}

#[utoipa::path(
    post, path = "/api/v1/org/invite", tag = "orgs", operation_id = "invite_to_org",
    summary = "Invite someone to the caller's primary organization",
    description = "Admins and owners. Any role other than `admin` becomes `member`. With mail configured the invite is mailed.",
    request_body = InviteRequest,
    responses(
        (status = 200, description = "Invited", body = InviteCreated),
        (status = 403, description = "Not an admin (`insufficient_role`), or no seat left (`seat_limit`)"),
        (status = 409, description = "An active invite exists, or already a member"),
        (status = 422, description = "Invalid email"),
    ),
)]
async fn invite_primary(
    State(state): State<AppState>,
    OwnOrgAdmin {
        principal,
        membership: m,
    }: OwnOrgAdmin,
    Json(body): Json<InviteRequest>,
) -> ApiResult<Json<InviteCreated>> {
    let email = invite_email(&body.email)?;
    // The legacy route quietly turns any other role (owner included) into member.
    let role = match body.role.parse() {
        Ok(OrgRole::Admin) => OrgRole::Admin,
        _ => OrgRole::Member,
    }
    .to_string();
    let (inv, org) = rules::invite(
        &state.db,
        &state.clock,
        &m.org.id,
        &principal.user,
        email,
        role,
        InvitePath::Primary,
    )
    .await?;
    Ok(invited(&state, &principal, inv, org))
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/invite", tag = "orgs", operation_id = "invite_to_named_org",
    summary = "Invite someone to an organization",
    description = "Admins and owners of that org.",
    params(("org_id" = String, Path, description = "The organization's id")),
    request_body = InviteRequest,
    responses(
        (status = 200, description = "Invited", body = InviteCreated),
        (status = 400, description = "Role other than `admin` or `member`"),
        (status = 403, description = "Not an admin of the org, or no seat left (`seat_limit`)"),
        (status = 404, description = "No such org"),
        (status = 409, description = "An active invite exists, or already a member"),
        (status = 422, description = "Invalid email"),
    ),
)]
async fn invite_named(
    State(state): State<AppState>,
    OrgAdmin { principal, .. }: OrgAdmin,
    Path(org_id): Path<String>,
    Json(body): Json<InviteRequest>,
) -> ApiResult<Json<InviteCreated>> {
    if !matches!(body.role.parse(), Ok(OrgRole::Admin | OrgRole::Member)) {
        return Err(ApiError::bad_request("Role must be 'admin' or 'member'"));
    }
    let email = invite_email(&body.email)?;
    let (inv, org) = rules::invite(
        &state.db,
        &state.clock,
        &org_id,
        &principal.user,
        email,
        body.role,
        InvitePath::Named,
    )
    .await?;
    Ok(invited(&state, &principal, inv, org))
}

/// Mails an invite and records when it went out; `false` when it was not sent (no mail
/// transport, or the relay refused it — which is logged, never an error for the caller).
async fn mail_invite(state: &AppState, inv: &Invite, org_name: &str, inviter: &str) -> bool {
    if !state.mailer.is_enabled() {
        return false;
    }
    let (subject, body) = mail::invite_message(
        &state.config.public_url,
        org_name,
        inviter,
        &inv.id,
        &inv.role,
    );
    match state.mailer.send_now(&inv.email, &subject, &body).await {
        Ok(()) => rules::mark_emailed(&state.db, &state.clock, &inv.id)
            .await
            .is_ok(),
        Err(e) => {
            tracing::warn!(invite = %inv.id, error = %e, "invite mail not sent");
            false
        }
    }
}

/// The answer to an invite; the mail goes out in the background.
pub(crate) fn invited(
    state: &AppState,
    principal: &Principal,
    inv: Invite,
    org: Org,
) -> Json<InviteCreated> {
    let body = InviteCreated {
        invite_id: inv.id.clone(),
        email: inv.email.clone(),
        role: inv.role.clone(),
    };
    let (state, inviter) = (state.clone(), principal.user.email.clone());
    tokio::spawn(async move { mail_invite(&state, &inv, &org.name, &inviter).await });
    Json(body)
}

#[utoipa::path(
    post, path = "/api/v1/org/invite/{invite_id}/accept", tag = "orgs", operation_id = "accept_invite",
    summary = "Accept an invite",
    params(("invite_id" = String, Path, description = "The invite's id")),
    responses(
        (status = 200, description = "Joined", body = InviteAccepted),
        (status = 400, description = "Already accepted, declined, or expired"),
        (status = 403, description = "The invite is for another address, or no seat left"),
        (status = 404, description = "No such invite"),
        (status = 409, description = "Already in an organization"),
    ),
)]
async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    Path(invite_id): Path<String>,
) -> ApiResult<Json<InviteAccepted>> {
    let (org_id, role) =
        rules::accept(&state.db, &state.clock, &principal.user, &invite_id).await?;
    tracing::info!(org = %org_id, user = %principal.user.id, %role, "invite accepted");
    Ok(Json(InviteAccepted { org_id, role }))
}

#[utoipa::path(
    post, path = "/api/v1/org/invite/{invite_id}/decline", tag = "orgs", operation_id = "decline_invite",
    summary = "Decline an invite",
    description = "The body may be empty.",
    params(("invite_id" = String, Path, description = "The invite's id")),
    request_body(content = Option<InviteDeclineRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Declined", body = InviteDeclined),
        (status = 400, description = "Already accepted, declined, or expired"),
        (status = 403, description = "The invite is for another address"),
        (status = 404, description = "No such invite"),
    ),
)]
async fn decline(
    State(state): State<AppState>,
    principal: Principal,
    Path(invite_id): Path<String>,
    OptionalJson(body): OptionalJson<InviteDeclineRequest>,
) -> ApiResult<Json<InviteDeclined>> {
    let reason = body
        .reason
        .or(body.decline_reason)
        .map(|r| r.trim().chars().take(1000).collect::<String>())
        .filter(|r| !r.is_empty());
    let (id, at) =
        rules::decline(&state.db, &state.clock, &principal.user, &invite_id, reason).await?;
    Ok(Json(InviteDeclined {
        invite_id: id,
        declined_at: at,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/org/invites", tag = "orgs", operation_id = "list_org_invites",
    summary = "Active invites of the caller's primary organization",
    description = "Admins and owners.",
    responses(
        (status = 200, description = "The invites", body = PendingInvites),
        (status = 403, description = "Not an admin (`insufficient_role`)"),
    ),
)]
async fn pending(
    State(state): State<AppState>,
    OwnOrgAdmin { membership: m, .. }: OwnOrgAdmin,
) -> ApiResult<Json<PendingInvites>> {
    let (org_id, now) = (m.org.id.clone(), state.clock.now_string());
    let list = state
        .db
        .read(move |conn| orgs::active_invites(conn, &org_id, &now))
        .await?;
    let invites = list
        .into_iter()
        .map(|i| PendingInvite {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: i.created_at,
            expires_at: i.expires_at,
        })
        .collect();
    Ok(Json(PendingInvites { invites }))
}

#[utoipa::path(
    get, path = "/api/v1/org/invites/me", tag = "orgs", operation_id = "list_my_invites",
    summary = "Active invites to the caller's address",
    responses((status = 200, description = "The invites, newest first", body = MyInvites)),
)]
async fn mine(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<MyInvites>> {
    let email = principal.user.email.clone();
    let now = state.clock.now_string();
    let list = state
        .db
        .read(move |conn| orgs::invites_for_me(conn, &email, &now))
        .await?;
    let invites = list
        .into_iter()
        .map(
            |(i, org_name, by): (Invite, String, Option<String>)| MyInvite {
                invite_id: i.id,
                org_id: i.org_id,
                org_name,
                role: i.role,
                invited_by_email: by,
                created_at: i.created_at,
                expires_at: i.expires_at,
            },
        )
        .collect();
    Ok(Json(MyInvites { invites }))
}

#[utoipa::path(
    delete, path = "/api/v1/org/invites/{invite_id}", tag = "orgs", operation_id = "delete_invite",
    summary = "Delete an invite of the caller's primary organization",
    params(("invite_id" = String, Path, description = "The invite's id")),
    responses(
        (status = 200, description = "Deleted", body = InviteRevoked),
        (status = 403, description = "Not an admin (`insufficient_role`)"),
        (status = 404, description = "No such invite in the org"),
    ),
)]
async fn revoke_invite(
    State(state): State<AppState>,
    OwnOrgAdmin { membership: m, .. }: OwnOrgAdmin,
    Path(invite_id): Path<String>,
) -> ApiResult<Json<InviteRevoked>> {
    let org_id = m.org.id.clone();
    rules::delete_invite(&state.db, &org_id, &invite_id).await?;
    Ok(Json(InviteRevoked { revoked: invite_id }))
}

#[utoipa::path(
    post, path = "/api/v1/orgs/{org_id}/invites/{invite_id}/resend", tag = "orgs", operation_id = "resend_invite",
    summary = "Mail an invite again",
    description = "`sent` is false when no mail transport is configured.",
    params(("org_id" = String, Path, description = "The organization's id"), ("invite_id" = String, Path, description = "The invite's id")),
    responses(
        (status = 200, description = "Resent (or not)", body = InviteResent),
        (status = 403, description = "Not an admin of the org"),
        (status = 404, description = "No such org or invite"),
        (status = 409, description = "Accepted, declined or expired"),
    ),
)]
async fn resend(
    State(state): State<AppState>,
    OrgAdmin { principal, org }: OrgAdmin,
    Path((org_id, invite_id)): Path<(String, String)>,
) -> ApiResult<Json<InviteResent>> {
    let inv = rules::resendable_invite(&state.db, &state.clock, &org_id, &invite_id).await?;
    let sent = mail_invite(&state, &inv, &org.name, &principal.user.email).await;
    let last = if sent {
        Some(state.clock.now_string())
    } else {
        inv.last_emailed_at.clone()
    };
    Ok(Json(InviteResent {
        invite_id: inv.id,
        email: inv.email,
        last_emailed_at: last,
        sent,
    }))
}

#[utoipa::path(
    put, path = "/api/v1/org/members/{user_id}/role", tag = "orgs", operation_id = "set_member_role",
    summary = "Change a member's role in the caller's primary organization",
    params(("user_id" = String, Path, description = "The member's user id")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "Changed", body = RoleChanged),
        (status = 400, description = "Invalid role, or a change the rules forbid (own role, last admin, owner)"),
        (status = 403, description = "Not an admin, or only the owner may do this"),
        (status = 404, description = "No such member"),
        (status = 409, description = "It would leave the org without an admin"),
    ),
)]
async fn role_primary(
    State(state): State<AppState>,
    OwnOrgAdmin {
        principal,
        membership: m,
    }: OwnOrgAdmin,
    Path(user_id): Path<String>,
    Json(body): Json<RoleRequest>,
) -> ApiResult<Json<RoleChanged>> {
    let org_id = m.org.id.clone();
    rules::change_role(
        &state.db,
        &org_id,
        &principal.user,
        &user_id,
        body.role.clone(),
    )
    .await?;
    Ok(Json(RoleChanged {
        user_id,
        role: body.role,
    }))
}

#[utoipa::path(
    put, path = "/api/v1/orgs/{org_id}/members/{user_id}/role", tag = "orgs", operation_id = "set_named_org_member_role",
    summary = "Change a member's role in an organization",
    params(("org_id" = String, Path, description = "The organization's id"), ("user_id" = String, Path, description = "The member's user id")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "Changed", body = RoleChanged),
        (status = 400, description = "Invalid role, or a change the rules forbid (own role, last admin, owner)"),
        (status = 403, description = "Not an admin, or only the owner may do this"),
        (status = 404, description = "No such member"),
        (status = 409, description = "It would leave the org without an admin"),
    ),
)]
async fn role_named(
    State(state): State<AppState>,
    OrgAdmin { principal, .. }: OrgAdmin,
    Path((org_id, user_id)): Path<(String, String)>,
    Json(body): Json<RoleRequest>,
) -> ApiResult<Json<RoleChanged>> {
    rules::change_role(
        &state.db,
        &org_id,
        &principal.user,
        &user_id,
        body.role.clone(),
    )
    .await?;
    Ok(Json(RoleChanged {
        user_id,
        role: body.role,
    }))
}

fn removed_json(user_id: &str) -> Json<MemberRemoved> {
    Json(MemberRemoved {
        removed: user_id.to_string(),
        projects_transferred: 0,
        pending_transfers_cancelled: 0,
    })
}

#[utoipa::path(
    delete, path = "/api/v1/org/members/{user_id}", tag = "orgs", operation_id = "remove_member",
    summary = "Remove a member from the caller's primary organization",
    params(("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 200, description = "Removed (their sessions stay theirs)", body = MemberRemoved),
        (status = 400, description = "Removing oneself, or the last admin"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such member"),
        (status = 409, description = "The member is the owner"),
    ),
)]
async fn remove_primary(
    State(state): State<AppState>,
    OwnOrgAdmin {
        principal,
        membership: m,
    }: OwnOrgAdmin,
    Path(user_id): Path<String>,
) -> ApiResult<Json<MemberRemoved>> {
    let org_id = m.org.id.clone();
    rules::remove_member(&state.db, &org_id, &principal.user, &user_id).await?;
    tracing::info!(org = %org_id, member = %user_id, by = %principal.user.id, "member removed");
    Ok(removed_json(&user_id))
}

#[utoipa::path(
    delete, path = "/api/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", operation_id = "remove_named_org_member",
    summary = "Remove a member from an organization",
    params(("org_id" = String, Path, description = "The organization's id"), ("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 200, description = "Removed (their sessions stay theirs)", body = MemberRemoved),
        (status = 400, description = "Removing oneself, or the last admin"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such member"),
        (status = 409, description = "The member is the owner"),
    ),
)]
async fn remove_named(
    State(state): State<AppState>,
    OrgAdmin { principal, .. }: OrgAdmin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<MemberRemoved>> {
    rules::remove_member(&state.db, &org_id, &principal.user, &user_id).await?;
    tracing::info!(org = %org_id, member = %user_id, by = %principal.user.id, "member removed");
    Ok(removed_json(&user_id))
}

#[utoipa::path(
    get, path = "/api/v1/orgs", tag = "orgs", operation_id = "list_my_orgs",
    summary = "The caller's memberships",
    responses((status = 200, description = "Every org the caller belongs to", body = MyOrgs)),
)]
async fn list_mine(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<MyOrgs>> {
    let user_id = principal.user.id.clone();
    let list = state
        .db
        .read(move |conn| orgs::memberships(conn, &user_id))
        .await?;
    let orgs = list
        .into_iter()
        .map(|m: Membership| OrgMembership {
            org_id: m.org.id,
            name: m.org.name,
            role: m.role.to_string(),
        })
        .collect();
    Ok(Json(MyOrgs { orgs }))
}

#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/members", tag = "orgs", operation_id = "list_org_members",
    summary = "An organization's members",
    description = "Any member of the org.",
    params(("org_id" = String, Path, description = "The organization's id")),
    responses(
        (status = 200, description = "The members", body = OrgMembers),
        (status = 403, description = "Not a member"),
        (status = 404, description = "No such org"),
    ),
)]
async fn members_named(
    State(state): State<AppState>,
    access::OrgMember { org, role, .. }: access::OrgMember,
) -> ApiResult<Json<OrgMembers>> {
    let list = rules::members(&state.db, &org.id).await?;
    Ok(Json(OrgMembers {
        org_id: org.id,
        members: members_view(&list),
        seats_used: list.len() as i64,
        seats_limit: org.seats_limit,
        current_user_role: role.to_string(),
    }))
}

#[utoipa::path(
    get, path = "/api/v1/auth/me/default-org", tag = "orgs", operation_id = "get_default_org",
    summary = "The caller's default organization",
    responses((status = 200, description = "The default org (null when none is chosen)", body = DefaultOrg)),
)]
async fn get_default_org(principal: Principal) -> Json<DefaultOrg> {
    Json(DefaultOrg {
        default_org_id: principal.user.default_org_id,
    })
}

#[utoipa::path(
    put, path = "/api/v1/auth/me/default-org", tag = "orgs", operation_id = "set_default_org",
    summary = "Choose the caller's default organization",
    request_body = DefaultOrgRequest,
    responses(
        (status = 200, description = "Chosen", body = DefaultOrg),
        (status = 403, description = "Not a member of that org"),
    ),
)]
async fn put_default_org(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<DefaultOrgRequest>,
) -> ApiResult<Json<DefaultOrg>> {
    rules::set_default_org(&state.db, &principal.user.id, body.org_id.clone()).await?;
    Ok(Json(DefaultOrg {
        default_org_id: body.org_id,
    }))
}
