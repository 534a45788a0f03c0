//! Agent personas (02 §6): named roles with their own instructions, kept per project or per
//! org. A project resolves a name project-first, then in its org (for the org's members and the
//! org's own service keys), case-insensitively and active only: [`resolve_active`] is that rule,
//! and tickets and agent runs both call it.
//!
//! Deleting is a soft delete: the row stays, inactive, and its name stays reserved (a second
//! persona of the same name, in any case, is refused). The version counts real changes only.
//! Deleting or deactivating a persona that work still names is refused unless forced
//! ([`stranded_work`]).

use serde_json::Value;

use crate::auth::keys::random_hex;
use crate::clock::Clock;
use crate::db::orgs::{self, Org, OrgRole};
use crate::db::personas::{self, Owner, Persona};
use crate::db::projects::Project;
use crate::db::{agent_runs, users, Db};
use crate::domain::projects::{self, Actor};
use crate::domain::tiers::{Feature, Tier};
use crate::domain::{DomainError, DomainResult};

pub const MAX_NAME_CHARS: usize = 50;
pub const MAX_ROLE_CHARS: usize = 100;
/// Longest persona content accepted (the reference has none; 02 §9.7).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Most specializations, and the longest one.
pub const MAX_SPECIALIZATIONS: usize = 50;
pub const MAX_SPECIALIZATION_CHARS: usize = 100;

pub fn not_found() -> DomainError {
    DomainError::NotFound("Persona not found".into())
}

/// `^[A-Za-z0-9_-]{1,50}$`: the rule for persona names (and the names agent runs give).
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn invalid(field: &'static str, message: impl Into<String>, input: Value) -> DomainError {
    DomainError::Invalid {
        loc: vec!["body", field],
        message: message.into(),
        input,
    }
}

/// A name from a body: trimmed, and matching the name rule (422 otherwise).
fn clean_name(raw: &str) -> DomainResult<String> {
    let name = raw.trim();
    if !is_valid_name(name) {
        return Err(invalid(
            "name",
            "name must be 1-50 characters of letters, digits, '_' or '-'",
            raw.into(),
        ));
    }
    Ok(name.to_string())
}

fn clean_role(raw: &str) -> DomainResult<String> {
    let role = raw.trim();
    if role.is_empty() || role.chars().count() > MAX_ROLE_CHARS {
        return Err(invalid(
            "role",
            format!("role must be 1-{MAX_ROLE_CHARS} characters"),
            raw.into(),
        ));
    }
    Ok(role.to_string())
}

fn check_content(content: &str) -> DomainResult<()> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(DomainError::TooLarge(format!(
            "Persona content too long — maximum {MAX_CONTENT_CHARS} characters"
        )));
    }
    Ok(())
}

/// Specializations as stored: trimmed, blanks dropped, duplicates dropped (order kept).
fn clean_specializations(raw: Vec<String>) -> DomainResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for s in raw {
        let s = s.trim().to_string();
        if s.chars().count() > MAX_SPECIALIZATION_CHARS {
            return Err(invalid(
                "specializations",
                format!(
                    "each specialization must be at most {MAX_SPECIALIZATION_CHARS} characters"
                ),
                s.into(),
            ));
        }
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    if out.len() > MAX_SPECIALIZATIONS {
        return Err(invalid(
            "specializations",
            format!("at most {MAX_SPECIALIZATIONS} specializations"),
            Value::from(out.len()),
        ));
    }
    Ok(out)
}

/// Whether `actor` may see the personas of the project's org: the org's own service keys (the
/// boundary has already tied the key to the project's org) and its current members.
fn sees_org_personas(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
) -> DomainResult<Option<String>> {
    let Some(org) = &project.org_id else {
        return Ok(None);
    };
    let visible = match &actor.service_key {
        Some(key) => key.org_id.as_deref() == Some(org.as_str()),
        None => orgs::role_in(conn, org, &actor.user_id)?.is_some(),
    };
    Ok(visible.then(|| org.clone()))
}

/// The active persona a project means by `name` (any case): the project's own, else its org's
/// when `actor` may see the org's personas. The one resolution rule of personas, tickets and
/// agent runs; callers store `persona.name`, the canonical spelling.
pub fn resolve_active(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
    name: &str,
) -> DomainResult<Option<Persona>> {
    resolve(conn, project, actor, name, true)
}

/// [`resolve_active`], with soft-deleted personas too when `active_only` is false (knowledge
/// entries keep naming a persona after it is retired).
pub fn resolve(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
    name: &str,
    active_only: bool,
) -> DomainResult<Option<Persona>> {
    let name = name.trim();
    if !is_valid_name(name) {
        return Ok(None);
    }
    let usable = |p: &Persona| p.is_active || !active_only;
    if let Some(p) = personas::find(conn, &Owner::Project(project.id.clone()), name)? {
        if usable(&p) {
            return Ok(Some(p));
        }
    }
    let Some(org) = sees_org_personas(conn, project, actor)? else {
        return Ok(None);
    };
    Ok(personas::find(conn, &Owner::Org(org), name)?.filter(usable))
}

/// Open work that still names a persona, counted for the stranding guard.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stranded {
    pub tickets: i64,
    pub runs: i64,
    pub handoffs: i64,
}

impl Stranded {
    fn any(self) -> bool {
        self.tickets + self.runs + self.handoffs > 0
    }
}

/// Non-terminal tickets of the project assigned to `name` (any case).
fn open_tickets_assigned(
    conn: &rusqlite::Connection,
    project_id: &str,
    name: &str,
) -> DomainResult<i64> {
    Ok(crate::db::tickets::count_unfinished_assigned(
        conn, project_id, name,
    )?)
}

/// Pending handoffs anchored to the project with persona `name`.
///
/// Handoffs on this server carry neither a persona nor a project anchor (V2), so none can be
/// stranded; when handoffs gain them, count the pending ones here.
fn pending_handoffs_with(
    _conn: &rusqlite::Connection,
    _project_id: &str,
    _name: &str,
) -> DomainResult<i64> {
    Ok(0)
}

/// What deleting or deactivating the project persona `name` would strand (02 §6). Nothing when
/// an active org persona of the same name, visible to `actor`, takes over the name.
pub fn stranded_work(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
    name: &str,
) -> DomainResult<Stranded> {
    if let Some(org) = sees_org_personas(conn, project, actor)? {
        if personas::find(conn, &Owner::Org(org), name)?.is_some_and(|p| p.is_active) {
            return Ok(Stranded::default());
        }
    }
    Ok(Stranded {
        tickets: open_tickets_assigned(conn, &project.id, name)?,
        runs: agent_runs::count_open_for_persona(conn, &project.id, name)?,
        handoffs: pending_handoffs_with(conn, &project.id, name)?,
    })
}

fn guard(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
    name: &str,
) -> DomainResult<()> {
    let s = stranded_work(conn, project, actor, name)?;
    if s.any() {
        return Err(DomainError::Conflict(format!(
            "Persona '{name}' is still assigned to {} non-terminal ticket(s), {} queued/running \
             agent run(s) and {} pending handoff(s). Reassign them first, or pass force=true to \
             leave them stranded.",
            s.tickets, s.runs, s.handoffs
        )));
    }
    Ok(())
}

/// The body of a create, already typed.
#[derive(Debug, Clone, Default)]
pub struct NewPersona {
    pub name: String,
    pub role: String,
    pub content: String,
    pub specializations: Vec<String>,
    /// Org personas only: an email or user id of a member the persona represents.
    pub represented_user: Option<String>,
}

/// The body of an update: `None` leaves a field as it is. `represented_user` is
/// `Some(None)` to clear it (org personas only).
#[derive(Debug, Clone, Default)]
pub struct PersonaPatch {
    pub role: Option<String>,
    pub content: Option<String>,
    pub specializations: Option<Vec<String>>,
    pub is_active: Option<bool>,
    pub represented_user: Option<Option<String>>,
}

/// Who acts, as the persona rules need it.
#[derive(Debug, Clone)]
pub struct Author {
    pub actor: Actor,
    /// `(id, name)` of a service key.
    pub service_key: Option<(String, String)>,
}

/// One listed persona of a project: project personas first, then the org's.
pub async fn list(
    db: &Db,
    actor: Actor,
    project: Project,
    include_inactive: bool,
    include_org: bool,
) -> DomainResult<Vec<Persona>> {
    db.read(move |conn| {
        projects::require_plan(conn, &project, Feature::AgentPersonas)?;
        let mut out = personas::list(conn, &Owner::Project(project.id.clone()), include_inactive)?;
        if include_org {
            if let Some(org) = sees_org_personas(conn, &project, &actor)? {
                let shadowed: Vec<String> =
                    out.iter().map(|p| p.name.to_ascii_lowercase()).collect();
                out.extend(
                    personas::list(conn, &Owner::Org(org), include_inactive)?
                        .into_iter()
                        .filter(|p| !shadowed.contains(&p.name.to_ascii_lowercase())),
                );
            }
        }
        Ok(out)
    })
    .await
}

/// The active persona the project means by `name` (project first, then its org).
pub async fn get(db: &Db, actor: Actor, project: Project, name: String) -> DomainResult<Persona> {
    db.read(move |conn| {
        projects::require_plan(conn, &project, Feature::AgentPersonas)?;
        resolve_active(conn, &project, &actor, &name)?.ok_or_else(not_found)
    })
    .await
}

fn taken(name: &str, existing: &Persona, place: &str) -> DomainError {
    let state = if existing.is_active {
        "active"
    } else {
        "soft-deleted"
    };
    DomainError::Conflict(format!(
        "A persona named '{name}' already exists in this {place} ({state}). Persona names are \
         unique regardless of case and stay reserved after deletion{}.",
        if existing.is_active {
            ""
        } else {
            "; reactivate it with PUT {\"is_active\": true}"
        }
    ))
}

/// A new, active persona of `owner` at version 1; the caller fills in what it says.
fn new_row(owner: &Owner, created_by: &str, now: &str) -> Persona {
    let (project_id, org_id) = match owner {
        Owner::Project(id) => (Some(id.clone()), None),
        Owner::Org(id) => (None, Some(id.clone())),
    };
    Persona {
        id: format!("per_{}", random_hex(8)),
        project_id,
        org_id,
        name: String::new(),
        role: String::new(),
        content: String::new(),
        specializations: Vec::new(),
        is_active: true,
        version: 1,
        created_by: created_by.to_string(),
        represented_user_id: None,
        created_at: now.to_string(),
        updated_at: now.to_string(),
    }
}

/// Creates a project persona (edit standing, checked by the caller's extractor).
pub async fn create(
    db: &Db,
    clock: &Clock,
    who: Author,
    project: Project,
    new: NewPersona,
) -> DomainResult<Persona> {
    if new.represented_user.is_some() {
        return Err(invalid(
            "represented_user",
            "represented_user applies to org personas only",
            new.represented_user.clone().into(),
        ));
    }
    let name = clean_name(&new.name)?;
    let role = clean_role(&new.role)?;
    check_content(&new.content)?;
    let specializations = clean_specializations(new.specializations)?;
    let clock = clock.clone();
    db.write(move |tx| {
        projects::require_plan(tx, &project, Feature::AgentPersonas)?;
        let owner = Owner::Project(project.id.clone());
        if let Some(existing) = personas::find(tx, &owner, &name)? {
            return Err(taken(&name, &existing, "project"));
        }
        let now = clock.now_string();
        let row = Persona {
            name,
            role,
            content: new.content,
            specializations,
            ..new_row(&owner, &who.actor.user_id, &now)
        };
        let key = who
            .service_key
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()));
        personas::insert(tx, &row, key)?;
        Ok(row)
    })
    .await
}

/// Applies `patch` to `current`; returns whether anything changed (the version moves then).
fn apply(
    current: &mut Persona,
    patch: &PersonaPatch,
    represented: Option<Option<String>>,
) -> DomainResult<bool> {
    let before = current.clone();
    if let Some(role) = &patch.role {
        current.role = clean_role(role)?;
    }
    if let Some(content) = &patch.content {
        check_content(content)?;
        current.content = content.clone();
    }
    if let Some(specs) = &patch.specializations {
        current.specializations = clean_specializations(specs.clone())?;
    }
    if let Some(active) = patch.is_active {
        current.is_active = active;
    }
    if let Some(represented) = represented {
        current.represented_user_id = represented;
    }
    Ok(current.role != before.role
        || current.content != before.content
        || current.specializations != before.specializations
        || current.is_active != before.is_active
        || current.represented_user_id != before.represented_user_id)
}

/// Updates a project persona found by name in any case, inactive ones included (so
/// `{is_active: true}` reactivates one). Deactivating runs the stranding guard unless `force`.
pub async fn update(
    db: &Db,
    clock: &Clock,
    who: Author,
    project: Project,
    name: String,
    patch: PersonaPatch,
    force: bool,
) -> DomainResult<Persona> {
    if patch.represented_user.is_some() {
        return Err(invalid(
            "represented_user",
            "represented_user applies to org personas only",
            Value::Null,
        ));
    }
    let clock = clock.clone();
    db.write(move |tx| {
        projects::require_plan(tx, &project, Feature::AgentPersonas)?;
        let Some(mut persona) = personas::find(tx, &Owner::Project(project.id.clone()), &name)?
        else {
            if let Some(org) = sees_org_personas(tx, &project, &who.actor)? {
                if let Some(p) = personas::find(tx, &Owner::Org(org.clone()), &name)? {
                    return Err(DomainError::NotFound(format!(
                        "'{}' is an org-level persona of this project's organization; manage it \
                         at /api/v1/orgs/{org}/personas/{} (org admins), or create a project \
                         persona of the same name to override it here.",
                        p.name, p.name
                    )));
                }
            }
            return Err(not_found());
        };
        let deactivating = persona.is_active && patch.is_active == Some(false);
        if deactivating && !force {
            guard(tx, &project, &who.actor, &persona.name)?;
        }
        if apply(&mut persona, &patch, None)? {
            persona.version += 1;
            persona.updated_at = clock.now_string();
            personas::update(tx, &persona)?;
        }
        Ok(persona)
    })
    .await
}

/// Soft-deletes the active project persona `name`: inactive, version + 1, name still reserved.
pub async fn delete(
    db: &Db,
    clock: &Clock,
    who: Author,
    project: Project,
    name: String,
    force: bool,
) -> DomainResult<()> {
    let clock = clock.clone();
    db.write(move |tx| {
        projects::require_plan(tx, &project, Feature::AgentPersonas)?;
        let mut persona = personas::find(tx, &Owner::Project(project.id.clone()), &name)?
            .filter(|p| p.is_active)
            .ok_or_else(not_found)?;
        if !force {
            guard(tx, &project, &who.actor, &persona.name)?;
        }
        persona.is_active = false;
        persona.version += 1;
        persona.updated_at = clock.now_string();
        personas::update(tx, &persona)?;
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Org personas (`/api/v1/orgs/{org_id}/personas`): members read, admins and owners write, the
// member a persona represents may change its role, content and specializations.

/// A caller of an org persona route: the org and their role in it (a member; the extractor
/// refused everyone else).
#[derive(Debug, Clone)]
pub struct OrgCaller {
    pub user_id: String,
    pub org: Org,
    pub role: OrgRole,
}

fn org_plan(org: &Org) -> DomainResult<()> {
    org.tier
        .parse::<Tier>()
        .unwrap_or(Tier::Team)
        .require(Feature::AgentPersonas)
}

fn require_org_admin(caller: &OrgCaller) -> DomainResult<()> {
    if caller.role.is_admin() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "Only org admins and owners may manage org personas".into(),
        ))
    }
}

/// The member of `org_id` an email or user id names (422 when it names no member).
fn member_named(conn: &rusqlite::Connection, org_id: &str, who: &str) -> DomainResult<String> {
    let who = who.trim();
    let user = if who.contains('@') {
        users::find_by_email(conn, who)?
    } else {
        users::get(conn, who)?
    };
    match user {
        Some(u) if orgs::role_in(conn, org_id, &u.id)?.is_some() => Ok(u.id),
        _ => Err(invalid(
            "represented_user",
            "represented_user must be the email or user id of a member of this org",
            who.into(),
        )),
    }
}

pub async fn org_list(
    db: &Db,
    caller: OrgCaller,
    include_inactive: bool,
) -> DomainResult<Vec<Persona>> {
    org_plan(&caller.org)?;
    db.read(move |conn| {
        Ok(personas::list(
            conn,
            &Owner::Org(caller.org.id),
            include_inactive,
        )?)
    })
    .await
}

pub async fn org_get(db: &Db, caller: OrgCaller, name: String) -> DomainResult<Persona> {
    org_plan(&caller.org)?;
    db.read(move |conn| {
        personas::find(conn, &Owner::Org(caller.org.id), name.trim())?
            .filter(|p| p.is_active)
            .ok_or_else(not_found)
    })
    .await
}

pub async fn org_create(
    db: &Db,
    clock: &Clock,
    caller: OrgCaller,
    new: NewPersona,
) -> DomainResult<Persona> {
    org_plan(&caller.org)?;
    require_org_admin(&caller)?;
    let name = clean_name(&new.name)?;
    let role = clean_role(&new.role)?;
    check_content(&new.content)?;
    let specializations = clean_specializations(new.specializations)?;
    let clock = clock.clone();
    db.write(move |tx| {
        let owner = Owner::Org(caller.org.id.clone());
        let represented = match new.represented_user.as_deref() {
            Some(who) => Some(member_named(tx, &caller.org.id, who)?),
            None => None,
        };
        if let Some(existing) = personas::find(tx, &owner, &name)? {
            return Err(taken(&name, &existing, "organization"));
        }
        let row = Persona {
            name,
            role,
            content: new.content,
            specializations,
            represented_user_id: represented,
            ..new_row(&owner, &caller.user_id, &clock.now_string())
        };
        personas::insert(tx, &row, None)?;
        Ok(row)
    })
    .await
}

pub async fn org_update(
    db: &Db,
    clock: &Clock,
    caller: OrgCaller,
    name: String,
    patch: PersonaPatch,
) -> DomainResult<Persona> {
    org_plan(&caller.org)?;
    let clock = clock.clone();
    db.write(move |tx| {
        let mut persona = personas::find(tx, &Owner::Org(caller.org.id.clone()), name.trim())?
            .ok_or_else(not_found)?;
        let represented_self = persona.represented_user_id.as_deref() == Some(&caller.user_id);
        let admin_only = patch.is_active.is_some() || patch.represented_user.is_some();
        if !caller.role.is_admin() && (admin_only || !represented_self) {
            return Err(DomainError::Forbidden(
                "Only org admins and owners, or the member this persona represents, may update it"
                    .into(),
            ));
        }
        let represented = match &patch.represented_user {
            None => None,
            Some(None) => Some(None),
            Some(Some(who)) => Some(Some(member_named(tx, &caller.org.id, who)?)),
        };
        if apply(&mut persona, &patch, represented)? {
            persona.version += 1;
            persona.updated_at = clock.now_string();
            personas::update(tx, &persona)?;
        }
        Ok(persona)
    })
    .await
}

pub async fn org_delete(
    db: &Db,
    clock: &Clock,
    caller: OrgCaller,
    name: String,
) -> DomainResult<()> {
    org_plan(&caller.org)?;
    require_org_admin(&caller)?;
    let clock = clock.clone();
    db.write(move |tx| {
        let mut persona = personas::find(tx, &Owner::Org(caller.org.id.clone()), name.trim())?
            .filter(|p| p.is_active)
            .ok_or_else(not_found)?;
        persona.is_active = false;
        persona.version += 1;
        persona.updated_at = clock.now_string();
        personas::update(tx, &persona)?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("atlas"));
        assert!(is_valid_name("Code_Reviewer-2"));
        assert!(is_valid_name(&"a".repeat(50)));
        assert!(!is_valid_name(&"a".repeat(51)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("two words"));
        assert!(!is_valid_name("émile"));
        assert!(!is_valid_name("a/b"));
        assert_eq!(clean_name("  atlas ").unwrap(), "atlas");
        assert!(clean_role("   ").is_err());
        assert!(clean_role(&"r".repeat(101)).is_err());
        assert_eq!(
            clean_specializations(vec![
                " rust ".into(),
                "".into(),
                "rust".into(),
                "sql".into()
            ])
            .unwrap(),
            vec!["rust", "sql"]
        );
    }
}
