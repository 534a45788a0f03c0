//! Projects: one per repository, found by any form of its git remote (02 §2), and who may do
//! what with one (02 §0.3–0.4), decided here once for every project route.
//!
//! Standing of a user key: read ("contribute") for the owner, any member of the project's org,
//! a user with a live session on one of its remotes, and platform admins; edit for the owner and
//! org members; admin for the owner and org admins/owners; delete for the owner and platform
//! admins. Without read standing a project does not exist for the caller (404, never 403), so
//! a project's existence does not leak across tenants.
//!
//! A service key is not judged by its minter's standing but by the boundary of 02 §0.3: the
//! project must belong to the key's org and to its allowlist. A key that passes reads and
//! contributes, and curates (edit); it never renames or deletes.

use crate::auth::keys::random_hex;
use crate::clock::Clock;
use crate::db::projects::{self, Project, Repo};
use crate::db::sessions::{self, SessionRow};
use crate::db::{orgs, Db};
use crate::domain::git_remote;
use crate::domain::tiers::{Feature, Tier};
use crate::domain::{DomainError, DomainResult};

/// Who is acting on a project.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub platform_admin: bool,
    /// Set for a service key: the boundary decides, not the minter's standing.
    pub service_key: Option<ServiceKey>,
}

#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub org_id: Option<String>,
    /// Empty: every project of the org.
    pub allowlist: Vec<String>,
}

/// Why a service key may not act on a project (03 §3.7): each is a 403 whose machine code
/// travels in `details.error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Boundary {
    MissingOrg,
    CrossOrg {
        key_org_id: String,
        project_org_id: Option<String>,
    },
    NotInAllowlist {
        allowed: Vec<String>,
        requested: String,
    },
    /// A handoff whose source session is gone and which has no anchor project.
    ProjectRequired,
    /// A handoff whose session has no registered project.
    NotRegistered,
    /// A session whose remote names more than one project.
    Ambiguous {
        project_ids: Vec<String>,
    },
}

/// What the caller may do with a project (02 §0.4).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Standing {
    pub read: bool,
    pub edit: bool,
    pub admin: bool,
    pub delete: bool,
    pub transfer: bool,
}

/// The tier a level of standing names, for the extractors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Need {
    Read,
    Edit,
}

pub fn not_found() -> DomainError {
    DomainError::NotFound("Project not found".into())
}

/// `proj_` + 16 lowercase hex.
pub fn is_project_id(value: &str) -> bool {
    value.len() == 21
        && value.starts_with("proj_")
        && value[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The §0.3 check for a service key against a loaded project.
pub fn check_boundary(key: &ServiceKey, project: &Project) -> Result<(), Boundary> {
    let Some(key_org) = &key.org_id else {
        return Err(Boundary::MissingOrg);
    };
    if project.org_id.as_deref() != Some(key_org.as_str()) {
        return Err(Boundary::CrossOrg {
            key_org_id: key_org.clone(),
            project_org_id: project.org_id.clone(),
        });
    }
    if !key.allowlist.is_empty() && !key.allowlist.contains(&project.id) {
        return Err(Boundary::NotInAllowlist {
            allowed: key.allowlist.clone(),
            requested: project.id.clone(),
        });
    }
    Ok(())
}

/// The project a session's remote names. Sessions carry no project id on this server: their
/// remote decides (02 §1.3). A remote that names more than one project is refused rather
/// than guessed (`service_key_project_ambiguous`, 03 §0.2 step 11).
pub fn project_of_remote(
    conn: &rusqlite::Connection,
    remote: &str,
) -> DomainResult<Option<Project>> {
    if remote.is_empty() {
        return Ok(None);
    }
    let mut found = projects::all_by_remote(conn, remote)?;
    if found.len() > 1 {
        return Err(DomainError::Boundary(Boundary::Ambiguous {
            project_ids: found.into_iter().map(|p| p.id).collect(),
        }));
    }
    Ok(found.pop())
}

/// The boundary of a service key acting on a handoff (03 §0.2 step 11): the source session
/// (`None` or deleted: gone) must belong to a project, and that project must pass §0.3.
pub fn check_session_boundary(
    conn: &rusqlite::Connection,
    key: &ServiceKey,
    session: Option<&SessionRow>,
) -> DomainResult<()> {
    let Some(session) = session.filter(|s| !s.is_deleted()) else {
        return Err(DomainError::Boundary(Boundary::ProjectRequired));
    };
    let project = project_of_remote(conn, &session.git_remote_normalized)?
        .ok_or(DomainError::Boundary(Boundary::NotRegistered))?;
    check_boundary(key, &project).map_err(DomainError::Boundary)
}

/// [`check_session_boundary`] for `actor` on session `session_id` (a no-op for user keys).
/// With `owner`, the session must be that user's live session, else 404 "Session not found"
/// (a new handoff: the sender's session is looked up before the boundary, 02 §1.3).
pub async fn session_boundary(
    db: &Db,
    actor: Actor,
    session_id: String,
    owner: Option<String>,
) -> DomainResult<()> {
    let Some(key) = actor.service_key else {
        return Ok(());
    };
    db.read(move |conn| {
        let session = sessions::get(conn, &session_id)?;
        if let Some(owner) = owner {
            if !session
                .as_ref()
                .is_some_and(|s| s.user_id == owner && !s.is_deleted())
            {
                return Err(DomainError::NotFound("Session not found".into()));
            }
        }
        check_session_boundary(conn, &key, session.as_ref())
    })
    .await
}

/// The caller's standing on a loaded project (one or two indexed reads).
pub fn standing(
    conn: &rusqlite::Connection,
    actor: &Actor,
    project: &Project,
) -> DomainResult<Standing> {
    if let Some(key) = &actor.service_key {
        check_boundary(key, project).map_err(DomainError::Boundary)?;
        return Ok(Standing {
            read: true,
            edit: true,
            ..Standing::default()
        });
    }
    let owner = project.owner_id == actor.user_id;
    let role = match &project.org_id {
        Some(org) => orgs::role_in(conn, org, &actor.user_id)?,
        None => None,
    };
    let member = role.is_some();
    let org_admin = role.is_some_and(|r| r.is_admin());
    let read = owner
        || member
        || actor.platform_admin
        || projects::has_session_on(conn, &project.id, &actor.user_id)?;
    Ok(Standing {
        read,
        edit: owner || member,
        admin: owner || org_admin,
        delete: owner || actor.platform_admin,
        transfer: if project.org_id.is_some() {
            org_admin
        } else {
            owner
        },
    })
}

/// The project's paying plan (02 §0.5): its org's tier for an org project, else its owner's
/// effective tier (their primary org's, or their own; platform admins are enterprise).
pub fn plan_tier(conn: &rusqlite::Connection, project: &Project) -> DomainResult<Tier> {
    if let Some(org) = &project.org_id {
        if let Some(org) = orgs::get_org(conn, org)? {
            return Ok(org.tier.parse().unwrap_or(Tier::Team));
        }
    }
    let Some(owner) = crate::db::users::get(conn, &project.owner_id)? else {
        return Ok(Tier::Free);
    };
    if owner.tier == "admin" {
        return Ok(Tier::Enterprise);
    }
    Ok(match orgs::primary_membership(conn, &owner.id)? {
        Some(m) => m.org.tier.parse().unwrap_or(Tier::Team),
        None => crate::domain::tiers::effective(&owner.tier),
    })
}

/// `Ok` when the project's plan has `feature`, else 403 `upgrade_required` for the project.
pub fn require_plan(
    conn: &rusqlite::Connection,
    project: &Project,
    feature: Feature,
) -> DomainResult<()> {
    plan_tier(conn, project)?.require_for_project(feature, &project.id)
}

/// Loads a project by id for a caller who needs `need`: missing or unreadable → 404,
/// readable but not editable → 403 `project_edit_forbidden`.
pub async fn open(
    db: &Db,
    actor: Actor,
    project_id: String,
    need: Need,
) -> DomainResult<(Project, Standing)> {
    db.read(move |conn| {
        let project = projects::get(conn, &project_id)?.ok_or_else(not_found)?;
        let standing = standing(conn, &actor, &project)?;
        require(standing, need)?;
        Ok((project, standing))
    })
    .await
}

fn require(standing: Standing, need: Need) -> DomainResult<()> {
    if !standing.read {
        return Err(not_found());
    }
    if need == Need::Edit && !standing.edit {
        return Err(DomainError::EditForbidden);
    }
    Ok(())
}

/// The project a path value names: a `proj_…` id (when `by_id`), else the value as given and
/// then its normalized form.
fn resolve(conn: &rusqlite::Connection, value: &str, by_id: bool) -> DomainResult<Option<Project>> {
    if by_id && is_project_id(value) {
        return Ok(projects::get(conn, value)?);
    }
    if let Some(p) = projects::by_remote(conn, value)? {
        return Ok(Some(p));
    }
    let normalized = git_remote::normalize(value);
    if normalized.is_empty() || normalized == value {
        return Ok(None);
    }
    Ok(projects::by_remote(conn, &normalized)?)
}

/// A project with the caller's standing and its repositories (`GET /projects/{remote or id}`).
pub async fn find(db: &Db, actor: Actor, value: String) -> DomainResult<ProjectView> {
    db.read(move |conn| {
        let missing = || DomainError::NotFound("No project context found".into());
        let project = resolve(conn, &value, true)?.ok_or_else(missing)?;
        let standing = standing(conn, &actor, &project)?;
        if !standing.read {
            return Err(missing());
        }
        let repos = projects::repos(conn, &project.id)?;
        Ok(ProjectView {
            project,
            standing,
            repos: Some(repos),
            session_count: 0,
        })
    })
    .await
}

/// A project as answered: the row, the caller's standing, and what the route adds.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub standing: Standing,
    pub repos: Option<Vec<Repo>>,
    pub session_count: i64,
}

/// Every project the caller may read, newest change first.
pub async fn list(db: &Db, actor: Actor) -> DomainResult<Vec<ProjectView>> {
    db.read(move |conn| {
        let rows = projects::readable_by(conn, &actor.user_id)?;
        let mut out = Vec::with_capacity(rows.len());
        for (project, session_count) in rows {
            // The org role is already known to be some for org projects listed through
            // membership; standing reads at most one membership row per project.
            let standing = standing(conn, &actor, &project)?;
            out.push(ProjectView {
                project,
                standing,
                repos: None,
                session_count,
            });
        }
        Ok(out)
    })
    .await
}

pub struct NewProject {
    pub name: String,
    pub git_remote: String,
    pub org_id: Option<String>,
}

/// The context document of a new project.
pub const TEMPLATE: &str = "# Project Context\n\n\
## Overview\n<!-- What this project is and who it is for. -->\n\n\
## Architecture\n<!-- The main parts and how they talk to each other. -->\n\n\
## Conventions\n<!-- Naming, layout, testing and review habits. -->\n\n\
## API Contracts\n<!-- Interfaces other code relies on. -->\n\n\
## Key Decisions\n<!-- Choices made and why. -->\n\n\
## Team\n<!-- Who works on what. -->\n";

/// Creates a project (02 §2.4) with its primary, unverified repository row.
pub async fn create(
    db: &Db,
    clock: &Clock,
    actor: Actor,
    caller_tier: Tier,
    new: NewProject,
) -> DomainResult<ProjectView> {
    let remote = new.git_remote.trim().to_string();
    if remote.is_empty() {
        return Err(invalid(
            "git_remote_normalized",
            "must not be blank",
            &remote,
        ));
    }
    if remote.starts_with("reclaimed:") {
        return Err(invalid(
            "git_remote_normalized",
            "must not start with 'reclaimed:'",
            &remote,
        ));
    }
    let remote = git_remote::normalize(&remote);
    let name = clean_name(&new.name)?;
    let org_id = new.org_id.filter(|o| !o.trim().is_empty());
    let clock = clock.clone();
    db.write(move |tx| {
        let tier = match &org_id {
            Some(org) => {
                if orgs::role_in(tx, org, &actor.user_id)?.is_none() {
                    return Err(DomainError::Forbidden(
                        "You are not a member of the requested org".into(),
                    ));
                }
                let org = orgs::get_org(tx, org)?.ok_or_else(|| {
                    DomainError::Forbidden("You are not a member of the requested org".into())
                })?;
                org.tier.parse().unwrap_or(Tier::Team)
            }
            None => caller_tier,
        };
        tier.require(Feature::ProjectContext)?;
        if projects::remote_taken(tx, &remote)? {
            return Err(DomainError::Conflict(
                "Project already exists for this repository".into(),
            ));
        }
        let now = clock.now_string();
        let project = Project {
            id: format!("proj_{}", random_hex(8)),
            name,
            git_remote_normalized: remote.clone(),
            context_document: TEMPLATE.to_string(),
            owner_id: actor.user_id.clone(),
            org_id,
            auto_narrative: false,
            kb_retention_days: 180,
            kb_max_context_words: 2000,
            kb_section_page_limit: 30,
            compile_schedule: "nightly".into(),
            compile_after_claims: None,
            last_scheduled_compile_at: None,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let repo = Repo {
            id: format!("repo_{}", random_hex(8)),
            project_id: project.id.clone(),
            git_remote_normalized: remote,
            provider: None,
            provider_repo_id: None,
            is_primary: true,
            verified: false,
            verification_method: Some("legacy_backfill".into()),
            added_by_user_id: Some(actor.user_id.clone()),
            created_at: now,
        };
        projects::insert(tx, &project, &repo)?;
        let standing = standing(tx, &actor, &project)?;
        Ok(ProjectView {
            project,
            standing,
            repos: None,
            session_count: 0,
        })
    })
    .await
}

/// Largest context document accepted (the reference has none; 02 §9.7).
pub const MAX_CONTEXT_BYTES: usize = 1024 * 1024;

/// Replaces the context document of the project a remote names (`PUT /projects/{remote}/context`);
/// returns its length in characters.
pub async fn set_context(
    db: &Db,
    clock: &Clock,
    actor: Actor,
    remote: String,
    document: String,
) -> DomainResult<usize> {
    if document.len() > MAX_CONTEXT_BYTES {
        return Err(DomainError::TooLarge(format!(
            "Context document too large (max {MAX_CONTEXT_BYTES} bytes)"
        )));
    }
    let clock = clock.clone();
    db.write(move |tx| {
        let project = resolve(tx, &remote, false)?.ok_or_else(not_found)?;
        require(standing(tx, &actor, &project)?, Need::Edit)?;
        projects::set_context(tx, &project.id, &document, &clock.now_string())?;
        Ok(document.chars().count())
    })
    .await
}

/// Renames a project (admin standing).
pub async fn rename(
    db: &Db,
    clock: &Clock,
    actor: Actor,
    project_id: String,
    name: String,
) -> DomainResult<ProjectView> {
    let name = clean_name(&name)?;
    let clock = clock.clone();
    db.write(move |tx| {
        let project = projects::get(tx, &project_id)?.ok_or_else(not_found)?;
        let standing = standing(tx, &actor, &project)?;
        require(standing, Need::Read)?;
        if !standing.admin {
            return Err(DomainError::Forbidden(
                "Only the project owner or an org admin can rename this project".into(),
            ));
        }
        let now = clock.now_string();
        projects::rename(tx, &project.id, &name, &now)?;
        let repos = projects::repos(tx, &project.id)?;
        Ok(ProjectView {
            project: Project {
                name,
                updated_at: now,
                ..project
            },
            standing,
            repos: Some(repos),
            session_count: 0,
        })
    })
    .await
}

/// Deletes a project with everything it owns (owner or platform admin).
pub async fn delete(db: &Db, actor: Actor, project_id: String) -> DomainResult<String> {
    db.write(move |tx| {
        let project = projects::get(tx, &project_id)?.ok_or_else(not_found)?;
        let standing = standing(tx, &actor, &project)?;
        require(standing, Need::Read)?;
        if !standing.delete {
            return Err(DomainError::Forbidden(
                "Only the project owner or an admin can delete this project".into(),
            ));
        }
        projects::delete(tx, &project.id)?;
        Ok(project.id)
    })
    .await
}

/// A project name: no NUL, at most 255 characters, HTML tags stripped, trimmed, not empty.
pub fn clean_name(raw: &str) -> DomainResult<String> {
    if raw.contains('\0') {
        return Err(invalid("name", "must not contain NUL characters", raw));
    }
    if raw.chars().count() > 255 {
        return Err(invalid("name", "must be at most 255 characters", raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let name = out.trim().to_string();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty", raw));
    }
    Ok(name)
}

fn invalid(field: &'static str, rule: &str, input: &str) -> DomainError {
    DomainError::Invalid {
        loc: vec!["body", field],
        message: format!("{field} {rule}"),
        input: input.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(id: &str, remote: &str, repo_remote: &str, org: Option<&str>) -> (Project, Repo) {
        let p = Project {
            id: id.into(),
            name: "app".into(),
            git_remote_normalized: remote.into(),
            context_document: TEMPLATE.into(),
            owner_id: "u1".into(),
            org_id: org.map(Into::into),
            auto_narrative: false,
            kb_retention_days: 180,
            kb_max_context_words: 2000,
            kb_section_page_limit: 30,
            compile_schedule: "nightly".into(),
            compile_after_claims: None,
            last_scheduled_compile_at: None,
            created_at: format!("2026-01-01T00:00:0{}Z", &id[id.len() - 1..]),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        let r = Repo {
            id: format!("repo_{id}"),
            project_id: id.into(),
            git_remote_normalized: repo_remote.into(),
            provider: None,
            provider_repo_id: None,
            is_primary: true,
            verified: false,
            verification_method: None,
            added_by_user_id: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        (p, r)
    }

    /// A remote resolves to one project, to none, or (in a database whose linked repositories
    /// and primary remotes disagree, which the create route never writes) to several: then a
    /// service key is refused with `service_key_project_ambiguous` instead of a guess.
    #[test]
    fn session_boundary_resolves_the_remote_or_refuses() {
        let (_dir, conn) = crate::db::test_support::migrated();
        conn.execute_batch(
            "INSERT INTO users (id, email, tier, created_at) VALUES ('u1', 'u1@example.com', 'team', '2026-01-01T00:00:00Z');
             INSERT INTO organizations (id, name, slug, tier, seats_limit, created_at) VALUES ('o1', 'Acme', 'acme', 'team', 5, '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        let key = ServiceKey {
            org_id: Some("o1".into()),
            allowlist: vec![],
        };
        let (a, ra) = project("proj_000000000000000a", "acme/app", "acme/app", Some("o1"));
        projects::insert(&conn, &a, &ra).unwrap();
        assert_eq!(
            project_of_remote(&conn, "acme/app").unwrap().unwrap().id,
            a.id
        );
        assert!(project_of_remote(&conn, "acme/other").unwrap().is_none());
        assert!(project_of_remote(&conn, "").unwrap().is_none());

        // A second project whose primary remote is the same (its linked repo differs).
        let (b, rb) = project(
            "proj_000000000000000b",
            "acme/app",
            "acme/legacy",
            Some("o1"),
        );
        projects::insert(&conn, &b, &rb).unwrap();
        match project_of_remote(&conn, "acme/app") {
            Err(DomainError::Boundary(Boundary::Ambiguous { project_ids })) => {
                assert_eq!(project_ids, vec![a.id.clone(), b.id.clone()]);
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
        // The unambiguous remote of b passes the boundary; another org's key does not.
        assert_eq!(
            project_of_remote(&conn, "acme/legacy").unwrap().unwrap().id,
            b.id
        );
        let foreign = ServiceKey {
            org_id: Some("o2".into()),
            allowlist: vec![],
        };
        assert!(matches!(
            check_boundary(&foreign, &b),
            Err(Boundary::CrossOrg { .. })
        ));
        assert!(check_boundary(&key, &b).is_ok());
    }

    #[test]
    fn project_ids_and_names() {
        assert!(is_project_id("proj_0123456789abcdef"));
        assert!(!is_project_id("proj_0123456789ABCDEF"));
        assert!(!is_project_id("proj_0123"));
        assert!(!is_project_id("acme/app"));
        assert_eq!(clean_name("  <b>My</b> App ").unwrap(), "My App");
        assert!(clean_name("<i></i>").is_err());
        assert!(clean_name("a\0b").is_err());
        assert!(clean_name(&"x".repeat(256)).is_err());
    }
}
