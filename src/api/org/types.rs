//! The request and response bodies of the org routes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct OrgRequest {
    pub name: String,
    /// 3–100 of `a-z`, `0-9` and `-`, starting with a letter or digit.
    pub slug: String,
}

#[derive(Deserialize, ToSchema)]
pub struct InviteRequest {
    pub email: String,
    /// `admin` or `member` (default).
    #[serde(default = "member")]
    #[schema(value_type = Option<String>)]
    pub role: String,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct InviteDeclineRequest {
    pub reason: Option<String>,
    /// Another name for `reason`.
    pub decline_reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `admin` or `member`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct DefaultOrg {
    pub default_org_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct DefaultOrgRequest {
    /// An org the caller is a member of, or null to clear.
    pub org_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgCreated {
    pub org_id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Org)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub tier: String,
    pub seats_limit: i64,
    pub seats_used: i64,
    pub storage_limit_bytes: i64,
    pub storage_used_bytes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OrgMember {
    pub user_id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub joined_at: String,
}

/// The caller's primary org (all null/empty without one).
#[derive(Serialize, ToSchema)]
pub struct OrgInfo {
    pub org: Option<OrgView>,
    pub members: Vec<OrgMember>,
    pub current_user_role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteCreated {
    pub invite_id: String,
    pub email: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteAccepted {
    pub org_id: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteDeclined {
    pub invite_id: String,
    pub declined_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct PendingInvites {
    pub invites: Vec<PendingInvite>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingInvite {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MyInvites {
    pub invites: Vec<MyInvite>,
}

#[derive(Serialize, ToSchema)]
pub struct MyInvite {
    pub invite_id: String,
    pub org_id: String,
    pub org_name: String,
    pub role: String,
    pub invited_by_email: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteRevoked {
    /// The invite's id.
    pub revoked: String,
}

#[derive(Serialize, ToSchema)]
pub struct InviteResent {
    pub invite_id: String,
    pub email: String,
    pub last_emailed_at: Option<String>,
    /// False when no mail transport is configured or the relay refused it.
    pub sent: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RoleChanged {
    pub user_id: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberRemoved {
    /// The member's user id.
    pub removed: String,
    pub projects_transferred: i64,
    pub pending_transfers_cancelled: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MyOrgs {
    pub orgs: Vec<OrgMembership>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgMembership {
    pub org_id: String,
    pub name: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrgMembers {
    pub org_id: String,
    pub members: Vec<OrgMember>,
    pub seats_used: i64,
    pub seats_limit: i64,
    pub current_user_role: String,
}

fn member() -> String {
    "member".into()
}
