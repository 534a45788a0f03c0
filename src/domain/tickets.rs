//! Agent tickets (02 §5): both status machines, the strict route → transition mapping, the
//! lease (`start` bumps `lease_epoch`; `complete`, `accept` and a fenced PUT check it), create
//! with its checks, the audited partial update, dependencies and their validation, comments and
//! the review state.
//!
//! Every act is one function that runs in one write transaction: it reads the ticket, decides,
//! and writes with a compare-and-swap on the status and epoch it read ([`tickets::save`]), so
//! two agents racing for one ticket cannot both win, and a refusal writes nothing.
//!
//! Deliberate differences from the reference (02 §9, ruling 11): every route moves only the
//! statuses the route names (`/approve` only suggested → open, `/unblock` only blocked →
//! in_progress, `/complete` and `/accept` only tasks), instead of any move the machine allows.

use std::collections::HashSet;

use serde_json::Value;

use crate::auth::keys::random_hex;
use crate::clock::Clock;
use crate::db::personas::Persona;
use crate::db::projects::{self as project_rows, Project};
use crate::db::tickets::{self, Comment, Edit, Filter, Kind, Priority, Source, Status, Ticket};
use crate::db::Db;
use crate::domain::agent_context::{self, ContextParts, TicketPart};
use crate::domain::personas;
use crate::domain::projects::{self, Actor, Standing};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};

pub mod review;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;
/// Shortest description of an agent-filed task.
const AGENT_MIN_DESCRIPTION: usize = 20;
/// Most tickets one session may file.
const TICKETS_PER_SESSION: i64 = 3;
/// Comments shown with a ticket.
const RECENT_COMMENTS: i64 = 3;

pub fn not_found() -> DomainError {
    DomainError::NotFound("Ticket not found".into())
}

// ---------------------------------------------------------------------------------------------
// The machines

impl Kind {
    /// The statuses this kind's machine may move to from `from` (02 §5.3), sorted.
    pub fn legal(self, from: Status) -> &'static [Status] {
        use Status::*;
        match (self, from) {
            (Kind::Task, Suggested) => &[Cancelled, Open],
            (Kind::Task, Open) => &[Cancelled, InProgress],
            (Kind::Task, InProgress) => &[Blocked, Review],
            (Kind::Task, Blocked) => &[InProgress],
            (Kind::Task, Review) => &[Done, Open],
            (Kind::Issue, Open) => &[Cancelled, InProgress],
            (Kind::Issue, InProgress) => &[Cancelled, Closed, Open],
            _ => &[],
        }
    }

    /// The status a new ticket of this kind starts in.
    fn initial(self, source: Source, reader: bool) -> Status {
        match self {
            Kind::Issue => Status::Open,
            Kind::Task if source == Source::Agent || reader => Status::Suggested,
            Kind::Task => Status::Open,
        }
    }
}

/// The contract's 400 for a move the machine does not allow.
pub fn illegal(from: Status, to: Status, kind: Kind) -> DomainError {
    DomainError::Malformed(format!(
        "Cannot transition from '{}' to '{}'. Legal transitions from '{}': {}.",
        from.as_str(),
        to.as_str(),
        from.as_str(),
        legal_listing(kind, from)
    ))
}

/// The sorted legal next statuses, or "(none — terminal state)".
fn legal_listing(kind: Kind, from: Status) -> String {
    let legal = kind.legal(from);
    if legal.is_empty() {
        return "(none — terminal state)".to_string();
    }
    legal
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A lifecycle route (02 §5.1) and the one move it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Approve,
    Start { force: bool },
    Block,
    Unblock,
    Complete,
    Accept,
    Reopen,
    Dismiss,
    Close,
}

/// What a non-editor (a reader through captured sessions) must be to act (02 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderRule {
    Never,
    Creator,
    CreatorOrResolver,
    CreatorNotResolver,
}

impl Move {
    pub const ALL: [Move; 10] = [
        Move::Approve,
        Move::Start { force: false },
        Move::Start { force: true },
        Move::Block,
        Move::Unblock,
        Move::Complete,
        Move::Accept,
        Move::Reopen,
        Move::Dismiss,
        Move::Close,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Move::Approve => "approve",
            Move::Start { .. } => "start",
            Move::Block => "block",
            Move::Unblock => "unblock",
            Move::Complete => "complete",
            Move::Accept => "accept",
            Move::Reopen => "reopen",
            Move::Dismiss => "dismiss",
            Move::Close => "close",
        }
    }

    /// Where the move goes.
    pub fn target(self, kind: Kind) -> Status {
        match self {
            Move::Approve => Status::Open,
            Move::Start { .. } | Move::Unblock => Status::InProgress,
            Move::Block => Status::Blocked,
            Move::Complete => Status::Review,
            Move::Accept => Status::Done,
            Move::Reopen => Status::Open,
            Move::Dismiss => Status::Cancelled,
            Move::Close if kind == Kind::Issue => Status::Closed,
            Move::Close => Status::Done,
        }
    }

    /// The statuses this route moves from, for a ticket of `kind` (the strict mapping).
    pub fn sources(self, kind: Kind) -> &'static [Status] {
        use Status::*;
        match (self, kind) {
            (Move::Approve, Kind::Task) => &[Suggested],
            (Move::Start { force: true }, Kind::Task) => &[Open, Blocked],
            (Move::Start { .. }, _) => &[Open],
            (Move::Block, Kind::Task) => &[InProgress],
            (Move::Unblock, Kind::Task) => &[Blocked],
            (Move::Complete, Kind::Task) => &[InProgress],
            (Move::Accept, Kind::Task) => &[Review],
            (Move::Reopen, Kind::Task) => &[Review],
            (Move::Reopen, Kind::Issue) => &[InProgress],
            (Move::Dismiss, Kind::Task) => &[Suggested, Open],
            (Move::Dismiss, Kind::Issue) => &[Open, InProgress],
            (Move::Close, Kind::Issue) => &[InProgress],
            _ => &[],
        }
    }

    fn reader_rule(self) -> ReaderRule {
        match self {
            Move::Approve | Move::Close => ReaderRule::Never,
            Move::Dismiss | Move::Reopen => ReaderRule::Creator,
            Move::Start { .. } | Move::Complete | Move::Block | Move::Unblock => {
                ReaderRule::CreatorOrResolver
            }
            Move::Accept => ReaderRule::CreatorNotResolver,
        }
    }

    /// `Ok` when this route may move a `kind` ticket out of `from`; else the route's refusal:
    /// 409 for `start` and `accept` (02 §5.6), the machine's 400 for the others.
    pub fn check(self, kind: Kind, from: Status) -> DomainResult<Status> {
        let to = self.target(kind);
        if self.sources(kind).contains(&from) {
            return Ok(to);
        }
        match self {
            Move::Start { force } => {
                let expected = if force && kind == Kind::Task {
                    "['blocked', 'open']"
                } else {
                    "['open']"
                };
                Err(DomainError::Conflict(format!(
                    "Cannot start ticket: current status is '{}', expected one of {expected}. \
                     Another agent may hold it; `force=true` recovers a blocked task.",
                    from.as_str()
                )))
            }
            Move::Accept => Err(DomainError::Conflict(format!(
                "Cannot accept ticket: current status is '{}', expected 'review'. \
                 Legal transitions from '{}': {}.",
                from.as_str(),
                from.as_str(),
                legal_listing(kind, from)
            ))),
            _ => Err(illegal(from, to, kind)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Callers

/// Who acts on a project's tickets, with their standing on it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub standing: Standing,
    /// `(id, name)` of a service key.
    pub service_key: Option<(String, String)>,
}

impl Caller {
    /// A user key with read but not edit standing (a captured-session reader).
    fn is_reader(&self) -> bool {
        self.service_key.is_none() && !self.standing.edit
    }

    fn key(&self) -> tickets::KeyRef<'_> {
        self.service_key
            .as_ref()
            .map(|(id, name)| (id.as_str(), name.as_str()))
    }

    fn user(&self) -> &str {
        &self.actor.user_id
    }

    /// The actor rule of 02 §5.6 for `mv` on `t`.
    fn may(&self, mv: Move, t: &Ticket) -> DomainResult<()> {
        if !self.is_reader() {
            return Ok(());
        }
        let created = t.created_by_user_id == self.user();
        let resolved = t.resolver_user_id.as_deref() == Some(self.user());
        let ok = match mv.reader_rule() {
            ReaderRule::Never => false,
            ReaderRule::Creator => created,
            ReaderRule::CreatorOrResolver => created || resolved,
            ReaderRule::CreatorNotResolver => created && !resolved,
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::EditForbidden)
        }
    }
}

/// The moves `caller` may make on `t` now, in [`Move::ALL`] order (a forced start only where
/// a plain one is not possible): what a dashboard offers as buttons. Each one, made, passes the
/// same checks [`transition`] runs (lease aside).
pub fn offered_moves(caller: &Caller, t: &Ticket) -> Vec<Move> {
    let mut moves: Vec<Move> = Move::ALL
        .into_iter()
        .filter(|mv| mv.sources(t.kind).contains(&t.status))
        .filter(|mv| *mv != Move::Close || caller.standing.admin)
        .filter(|mv| caller.may(*mv, t).is_ok())
        .collect();
    if moves.contains(&Move::Start { force: false }) {
        moves.retain(|mv| *mv != Move::Start { force: true });
    }
    moves
}

/// The project plan must have `agent_tickets` (Team+); checked after access (02 §0.5).
pub async fn require_feature(db: &Db, project: &Project) -> DomainResult<()> {
    let project = project.clone();
    db.read(move |conn| projects::require_plan(conn, &project, Feature::AgentTickets))
        .await
}

fn load(conn: &rusqlite::Connection, project_id: &str, id: &str) -> DomainResult<Ticket> {
    tickets::get(conn, project_id, id)?.ok_or_else(not_found)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(8))
}

// ---------------------------------------------------------------------------------------------
// Personas

/// The active persona `name` means in this project: the one rule of personas (project first,
/// then its org, any case; `personas::resolve_active`).
fn resolve_persona(
    conn: &rusqlite::Connection,
    project: &Project,
    actor: &Actor,
    name: &str,
) -> DomainResult<Option<Persona>> {
    personas::resolve_active(conn, project, actor, name)
}

// ---------------------------------------------------------------------------------------------
// Views

/// A ticket as answered, with what the route adds.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub ticket: Ticket,
    pub child_ticket_ids: Vec<String>,
    /// Filled by GET (detail and by id); `None` elsewhere.
    pub dependents: Option<Vec<String>>,
    pub recent_comments: Option<Vec<Comment>>,
    pub project_name: Option<String>,
    pub comment_count: Option<i64>,
}

impl TicketView {
    fn plain(ticket: Ticket) -> TicketView {
        TicketView {
            ticket,
            child_ticket_ids: Vec::new(),
            dependents: None,
            recent_comments: None,
            project_name: None,
            comment_count: None,
        }
    }
}

/// The project's tickets (02 §5.4), newest first.
pub async fn list(db: &Db, project_id: String, filter: Filter) -> DomainResult<Vec<TicketView>> {
    db.read(move |conn| {
        Ok(tickets::list(conn, &project_id, &filter)?
            .into_iter()
            .map(|(ticket, kids)| TicketView {
                child_ticket_ids: kids,
                ..TicketView::plain(ticket)
            })
            .collect())
    })
    .await
}

fn detail(conn: &rusqlite::Connection, ticket: Ticket) -> DomainResult<TicketView> {
    let child_ticket_ids = tickets::children(conn, &ticket.project_id, &ticket.id)?;
    let dependents = tickets::dependents(conn, &ticket.id)?
        .into_iter()
        .filter(|d| d.project_id == ticket.project_id)
        .map(|d| d.id)
        .collect();
    let recent = tickets::recent_comments(conn, &ticket.id, RECENT_COMMENTS)?;
    Ok(TicketView {
        child_ticket_ids,
        dependents: Some(dependents),
        recent_comments: Some(recent),
        ..TicketView::plain(ticket)
    })
}

/// One ticket with its children, dependents and newest comments.
pub async fn get(db: &Db, project_id: String, id: String) -> DomainResult<TicketView> {
    db.read(move |conn| {
        let ticket = load(conn, &project_id, &id)?;
        detail(conn, ticket)
    })
    .await
}

/// A ticket by id alone (`GET /api/v1/tickets/{id}`): the caller must be able to read its
/// project (and its plan must have tickets); anything else is "Ticket not found".
pub async fn get_by_id(db: &Db, actor: Actor, id: String) -> DomainResult<TicketView> {
    db.read(move |conn| {
        let ticket = tickets::get_any(conn, &id)?.ok_or_else(not_found)?;
        let project = project_rows::get(conn, &ticket.project_id)?.ok_or_else(not_found)?;
        match projects::standing(conn, &actor, &project) {
            Ok(s) if s.read => {}
            Ok(_) | Err(DomainError::Boundary(_)) => return Err(not_found()),
            Err(e) => return Err(e),
        }
        projects::require_plan(conn, &project, Feature::AgentTickets)?;
        let count = tickets::count_comments(conn, &ticket.id)?;
        let mut view = detail(conn, ticket)?;
        view.project_name = Some(project.name);
        view.comment_count = Some(count);
        Ok(view)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Create

/// The body of a create, typed.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assigned_to: Option<String>,
    pub context_refs: Vec<String>,
    pub file_refs: Vec<String>,
    pub related_sessions: Vec<String>,
    pub acceptance_criteria: Vec<String>,
    pub depends_on: Vec<String>,
    pub source: Source,
    pub created_by_session_id: Option<String>,
    pub created_by_persona: Option<String>,
    pub kind: Kind,
    pub parent_ticket_id: Option<String>,
}

/// A title trimmed and within 1..=200 characters (422 otherwise).
pub fn clean_title(title: &str) -> DomainResult<String> {
    let title = title.trim();
    let n = title.chars().count();
    if n == 0 {
        return Err(DomainError::Schema {
            kind: "string_too_short",
            loc: vec!["body", "title"],
            message: "String should have at least 1 character".into(),
            input: Box::new(Value::from(title)),
        });
    }
    if n > MAX_TITLE_CHARS {
        return Err(DomainError::Schema {
            kind: "string_too_long",
            loc: vec!["body", "title"],
            message: format!("String should have at most {MAX_TITLE_CHARS} characters"),
            input: Box::new(Value::from(title)),
        });
    }
    Ok(title.to_string())
}

/// Order-keeping dedup.
fn dedup(list: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    list.iter()
        .filter(|d| seen.insert(d.as_str()))
        .cloned()
        .collect()
}

/// 02 §5.7: dedup, same project, no self-dependency, no cycle. Returns the list to store.
fn validate_depends_on(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
    wanted: &[String],
) -> DomainResult<Vec<String>> {
    let deps = dedup(wanted);
    let others: Vec<String> = deps.iter().filter(|d| *d != ticket_id).cloned().collect();
    let found: HashSet<String> = tickets::existing_in_project(conn, project_id, &others)?
        .into_iter()
        .collect();
    let mut unknown: Vec<&String> = others.iter().filter(|d| !found.contains(*d)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        let listing = unknown
            .iter()
            .map(|d| format!("'{d}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DomainError::Malformed(format!(
            "depends_on references unknown or cross-project ticket(s): [{listing}]. \
             Dependencies must exist in the same project."
        )));
    }
    if deps.iter().any(|d| d == ticket_id) {
        return Err(DomainError::Malformed(
            "A ticket cannot depend on itself".into(),
        ));
    }
    // From each new dependency, walk the existing edges; reaching the ticket is a cycle.
    for dep in &deps {
        let mut stack = vec![dep.clone()];
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(node) = stack.pop() {
            if node == ticket_id {
                return Err(DomainError::Malformed(format!(
                    "Adding dependency on '{dep}' would create a cycle reaching '{ticket_id}'."
                )));
            }
            if seen.insert(node.clone()) {
                stack.extend(tickets::depends_on(conn, &node)?);
            }
        }
    }
    Ok(deps)
}

/// Creates a ticket (02 §5.4), checks in the contract's order.
pub async fn create(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    req: NewTicket,
) -> DomainResult<TicketView> {
    let title = clean_title(&req.title)?;
    if req.kind == Kind::Issue {
        if !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only a project admin may create issues".into(),
            ));
        }
        if req.parent_ticket_id.is_some() {
            return Err(DomainError::Malformed(
                "An issue cannot have a parent ticket".into(),
            ));
        }
    }
    if req.source == Source::Agent && req.kind == Kind::Task {
        if req.acceptance_criteria.iter().all(|c| c.trim().is_empty()) {
            return Err(DomainError::Malformed(
                "Agent-created tickets require at least one acceptance criterion".into(),
            ));
        }
        if req.description.trim().chars().count() < AGENT_MIN_DESCRIPTION {
            return Err(DomainError::Malformed(format!(
                "Agent-created tickets require a description of at least \
                 {AGENT_MIN_DESCRIPTION} characters"
            )));
        }
    }
    let clock = clock.clone();
    db.write(move |tx| {
        if let Some(parent) = &req.parent_ticket_id {
            let parent = tickets::get(tx, &project.id, parent)?.ok_or_else(|| {
                DomainError::Unprocessable(format!(
                    "Parent ticket '{parent}' not found in this project"
                ))
            })?;
            if parent.kind != Kind::Issue {
                return Err(DomainError::Unprocessable(format!(
                    "Parent ticket '{}' is not an issue (kind='{}')",
                    parent.id,
                    parent.kind.as_str()
                )));
            }
        }
        if req.source == Source::Agent && req.kind == Kind::Task {
            if let Some(session) = &req.created_by_session_id {
                if tickets::count_by_session(tx, session)? >= TICKETS_PER_SESSION {
                    return Err(DomainError::TooMany {
                        message: "Maximum 3 tickets per session".into(),
                        retry_after: None,
                    });
                }
            }
        }
        let id = new_id("tk_");
        let depends_on = validate_depends_on(tx, &project.id, &id, &req.depends_on)?;
        let assigned_to = match &req.assigned_to {
            Some(name) => Some(
                resolve_persona(tx, &project, &caller.actor, name)?
                    .map(|p| p.name)
                    .unwrap_or_else(|| name.clone()),
            ),
            None => None,
        };
        let now = clock.now_string();
        let ticket = Ticket {
            id,
            project_id: project.id.clone(),
            title,
            description: req.description,
            priority: req.priority,
            assigned_to,
            created_by_user_id: caller.user().to_string(),
            created_by_session_id: req.created_by_session_id,
            created_by_persona: req.created_by_persona,
            source: req.source,
            kind: req.kind,
            status: req.kind.initial(req.source, caller.is_reader()),
            parent_ticket_id: req.parent_ticket_id,
            lease_epoch: 0,
            context_refs: req.context_refs,
            file_refs: req.file_refs,
            related_sessions: req.related_sessions,
            acceptance_criteria: req.acceptance_criteria,
            resolver_session_id: None,
            resolver_user_id: None,
            completion_notes: None,
            changed_files: Vec::new(),
            knowledge_entry_ids: Vec::new(),
            depends_on,
            created_at: now.clone(),
            updated_at: now.clone(),
            resolved_at: None,
        };
        tickets::insert(tx, &ticket, caller.key())?;
        if caller.service_key.is_none() {
            tickets::watch(tx, &ticket.id, caller.user(), &now)?;
        }
        Ok(TicketView::plain(ticket))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

/// What `complete` records.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub notes: String,
    pub changed_files: Vec<String>,
    pub knowledge_entry_ids: Vec<String>,
    pub resolver_session_id: Option<String>,
}

/// What a lifecycle route carries besides the move.
#[derive(Debug, Clone, Default)]
pub struct MoveRequest {
    /// The caller's lease (complete, accept): a stale one is refused.
    pub lease_epoch: Option<i64>,
    pub completion: Option<Completion>,
    /// The tool the agent runs in (start: the context budget).
    pub tool: Option<String>,
}

/// What `start` answers.
#[derive(Debug, Clone)]
pub struct Started {
    pub ticket: TicketView,
    pub compiled_context: String,
    pub retrieval_audit_id: String,
    pub persona_name: Option<String>,
}

/// The outcome of a move: the ticket, and for `start` what the agent works from.
#[derive(Debug, Clone)]
pub enum Moved {
    Ticket(Box<TicketView>),
    Started(Box<Started>),
}

/// The 409 for a lease the ticket has moved past (complete, accept, comments).
pub fn stale_lease(given: i64, current: i64) -> DomainError {
    DomainError::Conflict(format!(
        "Stale ticket lease: provided lease_epoch={given}, current lease_epoch={current}."
    ))
}

/// Makes `mv` on ticket `id`: the actor rule, the lease fence, the route's move, its side
/// effects — one transaction.
pub async fn transition(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    mv: Move,
    req: MoveRequest,
) -> DomainResult<Moved> {
    let clock = clock.clone();
    db.write(move |tx| {
        let before = load(tx, &project.id, &id)?;
        if mv == Move::Close && before.kind == Kind::Task {
            return Err(DomainError::Malformed(format!(
                "Cannot close ticket '{}': kind='task'. Only issues can be closed; \
                 tasks finish through complete and accept.",
                before.id
            )));
        }
        if mv == Move::Close && !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only the project owner or an org admin can close an issue".into(),
            ));
        }
        caller.may(mv, &before)?;
        if let Some(given) = req.lease_epoch {
            if given != before.lease_epoch {
                return Err(stale_lease(given, before.lease_epoch));
            }
        }
        let mut persona = None;
        if let (Move::Start { .. }, Some(name)) = (mv, &before.assigned_to) {
            let found = resolve_persona(tx, &project, &caller.actor, name)?;
            let Some(found) = found else {
                return Err(DomainError::Malformed(format!(
                    "Ticket is assigned to '{name}', which is not an active persona of this \
                     project or its org; reassign it before starting."
                )));
            };
            persona = Some(found);
        }
        let to = mv.check(before.kind, before.status)?;
        let now = clock.now_string();
        let mut after = before.clone();
        after.status = to;
        after.updated_at = now.clone();
        match mv {
            Move::Start { .. } => after.lease_epoch += 1,
            Move::Complete => {
                let c = req.completion.clone().unwrap_or_default();
                after.completion_notes = Some(c.notes);
                after.changed_files = c.changed_files;
                after.knowledge_entry_ids = c.knowledge_entry_ids;
                after.resolver_session_id = c.resolver_session_id;
                after.resolver_user_id = Some(caller.user().to_string());
            }
            Move::Accept | Move::Close => after.resolved_at = Some(now.clone()),
            _ => {}
        }
        if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
            return Err(DomainError::Conflict(
                "Ticket changed during the request (concurrent update); re-fetch and retry.".into(),
            ));
        }
        match mv {
            Move::Approve => {
                tickets::insert_edit(
                    tx,
                    &Edit {
                        id: new_id("te_"),
                        ticket_id: &after.id,
                        edited_by_user_id: caller.user(),
                        field_name: "status",
                        old_value: json_text(&Value::from(before.status.as_str())),
                        new_value: json_text(&Value::from(after.status.as_str())),
                        edited_at: &now,
                        lease_epoch: after.lease_epoch,
                    },
                    caller.key(),
                )?;
            }
            Move::Accept => unblock_dependents(tx, &caller, &after, &now)?,
            Move::Start { .. } => {
                let tool = req.tool.clone().unwrap_or_else(|| "generic".into());
                let text = compiled_context(tx, &project, &after, persona.as_ref(), &tool)?;
                let audit = new_id_long("ra_");
                tickets::insert_retrieval_audit(
                    tx,
                    &tickets::RetrievalAudit {
                        id: &audit,
                        project_id: &project.id,
                        ticket_id: &after.id,
                        persona_name: persona.as_ref().map(|p| p.name.as_str()),
                        lease_epoch: after.lease_epoch,
                        tool: &tool,
                        context_chars: text.chars().count() as i64,
                        created_by_user_id: caller.user(),
                        created_at: &now,
                    },
                    caller.key(),
                )?;
                return Ok(Moved::Started(Box::new(Started {
                    ticket: TicketView::plain(after),
                    compiled_context: text,
                    retrieval_audit_id: audit,
                    persona_name: persona.map(|p| p.name),
                })));
            }
            _ => {}
        }
        Ok(Moved::Ticket(Box::new(TicketView::plain(after))))
    })
    .await
}

/// `ra_` + 24 hex.
fn new_id_long(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(12))
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// After `done` is accepted (02 §5.6): each same-project dependent that is open, blocked or
/// suggested gets a comment with the completion notes and the completed ticket's knowledge ids
/// in its `context_refs`; a blocked one whose dependencies are all done moves to in_progress.
fn unblock_dependents(
    tx: &rusqlite::Connection,
    caller: &Caller,
    done: &Ticket,
    now: &str,
) -> DomainResult<()> {
    let author = done
        .resolver_user_id
        .clone()
        .unwrap_or_else(|| done.created_by_user_id.clone());
    for dependent in tickets::dependents(tx, &done.id)? {
        if dependent.project_id != done.project_id
            || !matches!(
                dependent.status,
                Status::Open | Status::Blocked | Status::Suggested
            )
        {
            continue;
        }
        let notes = done
            .completion_notes
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or("(no completion notes were left)");
        let comment = Comment {
            id: new_id("tc_"),
            ticket_id: dependent.id.clone(),
            author_user_id: author.clone(),
            author_persona: done.assigned_to.clone(),
            content: format!(
                "Dependency #{} ({}) completed:\n\n{notes}",
                done.id, done.title
            ),
            session_id: None,
            source: "sessionfs".into(),
            verdict_trusted: false,
            created_at: now.to_string(),
        };
        tickets::insert_comment(tx, &comment, caller.key())?;
        let mut after = dependent.clone();
        after.depends_on = tickets::depends_on(tx, &dependent.id)?;
        let mut refs = after.context_refs.clone();
        for k in &done.knowledge_entry_ids {
            if !refs.contains(k) {
                refs.push(k.clone());
            }
        }
        after.context_refs = refs;
        if dependent.status == Status::Blocked {
            let mut all_done = true;
            for dep in &after.depends_on {
                let status = tickets::brief(tx, &done.project_id, dep)?.map(|b| b.0);
                if status != Some(Status::Done) {
                    all_done = false;
                    break;
                }
            }
            if all_done {
                after.status = Status::InProgress;
            }
        }
        if after != dependent {
            after.updated_at = now.to_string();
            tickets::save(tx, &after, dependent.status, dependent.lease_epoch)?;
        }
    }
    Ok(())
}

/// The text `start` hands the agent (02 §5.6), built by the one builder from the ticket side
/// collected here.
fn compiled_context(
    tx: &rusqlite::Connection,
    project: &Project,
    t: &Ticket,
    persona: Option<&Persona>,
    tool: &str,
) -> DomainResult<String> {
    let part = ticket_part(tx, t)?;
    let persona = persona.map(|p| agent_context::PersonaPart {
        name: p.name.clone(),
        role: p.role.clone(),
        content: p.content.clone(),
    });
    let doc = project_rows::get(tx, &project.id)?
        .map(|p| p.context_document)
        .unwrap_or_default();
    Ok(agent_context::compile(&ContextParts {
        persona: persona.as_ref(),
        ticket: Some(&part),
        project_context: Some(&doc),
        tool,
    }))
}

/// The ticket side of the compiled context for ticket `ticket_id` of the project, if it exists
/// (agent runs compile the context of the ticket they name).
pub fn ticket_part_of(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
) -> DomainResult<Option<TicketPart>> {
    match tickets::get(conn, project_id, ticket_id)? {
        Some(t) => Ok(Some(ticket_part(conn, &t)?)),
        None => Ok(None),
    }
}

/// The ticket side of the compiled context: the ticket, its parent issue, its children, its
/// done dependencies with notes, its comments and the knowledge its `context_refs` name.
pub fn ticket_part(conn: &rusqlite::Connection, t: &Ticket) -> DomainResult<TicketPart> {
    let parent = match &t.parent_ticket_id {
        Some(pid) => tickets::brief(conn, &t.project_id, pid)?.map(|(status, title, _)| {
            agent_context::ParentPart {
                id: pid.clone(),
                title,
                status: status.as_str().into(),
            }
        }),
        None => None,
    };
    let children = if t.kind == Kind::Issue {
        tickets::child_summaries(conn, &t.project_id, &t.id)?
            .into_iter()
            .map(|(id, status, title)| agent_context::ChildPart {
                id,
                title,
                status: status.as_str().into(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut completed = Vec::new();
    for dep in &t.depends_on {
        if let Some((Status::Done, title, Some(notes))) = tickets::brief(conn, &t.project_id, dep)?
        {
            if !notes.trim().is_empty() {
                completed.push(agent_context::DependencyPart {
                    id: dep.clone(),
                    title,
                    notes,
                });
            }
        }
    }
    let comments = tickets::recent_comments(conn, &t.id, agent_context::MAX_COMMENTS as i64)?
        .into_iter()
        .map(|c| agent_context::CommentPart {
            author_persona: c.author_persona,
            created_at: c.created_at,
            content: c.content,
        })
        .collect();
    Ok(TicketPart {
        title: t.title.clone(),
        kind: t.kind.as_str().into(),
        priority: t.priority.as_str().into(),
        status: t.status.as_str().into(),
        parent,
        children,
        description: t.description.clone(),
        acceptance_criteria: t.acceptance_criteria.clone(),
        file_refs: t.file_refs.clone(),
        knowledge: agent_context::relevant_knowledge(conn, &t.project_id, &t.context_refs)?,
        completed_dependencies: completed,
        comments,
    })
}

// ---------------------------------------------------------------------------------------------
// PUT: partial update with the lease fence and the audit

/// The fields a PUT may change (02 §5.5); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub assigned_to: Option<String>,
    pub context_refs: Option<Vec<String>>,
    pub file_refs: Option<Vec<String>>,
    pub related_sessions: Option<Vec<String>>,
    pub acceptance_criteria: Option<Vec<String>>,
    pub depends_on: Option<Vec<String>>,
    pub lease_epoch: Option<i64>,
}

impl Patch {
    fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.assigned_to.is_none()
            && self.context_refs.is_none()
            && self.file_refs.is_none()
            && self.related_sessions.is_none()
            && self.acceptance_criteria.is_none()
            && self.depends_on.is_none()
    }

    /// Fields a non-editor creator may no longer change once the ticket is under way.
    fn guarded_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, present) in [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("priority", self.priority.is_some()),
            ("assigned_to", self.assigned_to.is_some()),
            ("acceptance_criteria", self.acceptance_criteria.is_some()),
            ("depends_on", self.depends_on.is_some()),
        ] {
            if present {
                out.push(name);
            }
        }
        out
    }
}

/// One changed field: its name and old/new values as JSON.
struct Change {
    field: &'static str,
    old: Value,
    new: Value,
}

fn diff_fields(before: &Ticket, after: &Ticket) -> Vec<Change> {
    let mut out = Vec::new();
    let mut text = |field, old: &str, new: &str| {
        if old != new {
            out.push(Change {
                field,
                old: Value::from(old),
                new: Value::from(new),
            });
        }
    };
    text("title", &before.title, &after.title);
    text("description", &before.description, &after.description);
    text(
        "priority",
        before.priority.as_str(),
        after.priority.as_str(),
    );
    if before.assigned_to != after.assigned_to {
        out.push(Change {
            field: "assigned_to",
            old: before.assigned_to.clone().into(),
            new: after.assigned_to.clone().into(),
        });
    }
    let mut list = |field, old: &Vec<String>, new: &Vec<String>| {
        if old != new {
            out.push(Change {
                field,
                old: Value::from(old.clone()),
                new: Value::from(new.clone()),
            });
        }
    };
    list("context_refs", &before.context_refs, &after.context_refs);
    list("file_refs", &before.file_refs, &after.file_refs);
    list(
        "related_sessions",
        &before.related_sessions,
        &after.related_sessions,
    );
    list(
        "acceptance_criteria",
        &before.acceptance_criteria,
        &after.acceptance_criteria,
    );
    list("depends_on", &before.depends_on, &after.depends_on);
    out
}

/// A value as the diff comment shows it: strings quoted and cut at 200 characters, lists as
/// their length.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => {
            let cut: String = s.chars().take(200).collect();
            if s.chars().count() > 200 {
                format!("\"{cut}…\"")
            } else {
                format!("\"{cut}\"")
            }
        }
        Value::Array(items) => format!("[{} item(s)]", items.len()),
        other => other.to_string(),
    }
}

fn diff_comment(changes: &[Change], fenced: bool, reapproval: bool) -> String {
    let mut out = String::from("Ticket edited:\n");
    for c in changes {
        out.push_str(&format!(
            "- {}: {} → {}\n",
            c.field,
            shown(&c.old),
            shown(&c.new)
        ));
    }
    if !fenced {
        out.push_str("\nThis edit carried no lease_epoch: it was applied last-write-wins.\n");
    }
    if reapproval {
        out.push_str("\nThe ticket went back to 'suggested': an editor must approve it again.\n");
    }
    out.push_str("\nEvery changed field is recorded in ticket_edits.");
    out
}

/// The 409 of a fenced PUT whose epoch is behind (02 §5.5).
pub fn stale_fence(passed: i64, current: i64) -> DomainError {
    DomainError::StaleLease { passed, current }
}

/// The PUT (02 §5.5): checks, fence, dependency validation, diff, audit — one transaction.
/// Returns the ticket and whether anything changed.
pub async fn update(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    patch: Patch,
) -> DomainResult<TicketView> {
    if patch.is_empty() {
        return Err(DomainError::Malformed(
            "No updatable fields provided. lease_epoch alone is a fence, not a mutation: \
             send at least one of title, description, priority, assigned_to, context_refs, \
             file_refs, related_sessions, acceptance_criteria, depends_on."
                .into(),
        ));
    }
    let title = patch.title.as_deref().map(clean_title).transpose()?;
    let clock = clock.clone();
    db.write(move |tx| {
        let (view, _) = apply_patch(tx, &clock, &caller, &project, &id, &patch, title)?;
        Ok(view)
    })
    .await
}

/// The body of a PUT inside a transaction; `true` when something changed.
fn apply_patch(
    tx: &rusqlite::Connection,
    clock: &Clock,
    caller: &Caller,
    project: &Project,
    id: &str,
    patch: &Patch,
    title: Option<String>,
) -> DomainResult<(TicketView, bool)> {
    let before = load(tx, &project.id, id)?;
    let creator = before.created_by_user_id == caller.user();
    if !creator && !caller.standing.admin {
        return Err(DomainError::Forbidden(
            "Only the ticket creator or a project admin may update this ticket.".into(),
        ));
    }
    if caller.is_reader()
        && !matches!(before.status, Status::Suggested | Status::Open)
        && !patch.guarded_fields().is_empty()
    {
        return Err(DomainError::EditForbiddenFields(patch.guarded_fields()));
    }
    let mut after = before.clone();
    if let Some(given) = patch.lease_epoch {
        if given != before.lease_epoch {
            return Err(stale_fence(given, before.lease_epoch));
        }
        after.lease_epoch = given + 1;
    }
    if let Some(deps) = &patch.depends_on {
        after.depends_on = validate_depends_on(tx, &project.id, &before.id, deps)?;
    }
    if let Some(t) = title {
        after.title = t;
    }
    if let Some(d) = &patch.description {
        after.description = d.clone();
    }
    if let Some(p) = patch.priority {
        after.priority = p;
    }
    if let Some(a) = &patch.assigned_to {
        after.assigned_to = Some(
            resolve_persona(tx, project, &caller.actor, a)?
                .map(|p| p.name)
                .unwrap_or_else(|| a.clone()),
        );
    }
    for (slot, value) in [
        (&mut after.context_refs, &patch.context_refs),
        (&mut after.file_refs, &patch.file_refs),
        (&mut after.related_sessions, &patch.related_sessions),
        (&mut after.acceptance_criteria, &patch.acceptance_criteria),
    ] {
        if let Some(v) = value {
            *slot = v.clone();
        }
    }
    let mut changes = diff_fields(&before, &after);
    let fenced = patch.lease_epoch.is_some();
    if changes.is_empty() {
        if fenced {
            // A fenced no-op still takes the lease (02 §5.5, kept for compatibility).
            let now = clock.now_string();
            after.updated_at = now;
            if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
                return Err(stale_fence(before.lease_epoch, before.lease_epoch + 1));
            }
            return Ok((TicketView::plain(after), false));
        }
        return Ok((TicketView::plain(before), false));
    }
    let reapproval = caller.is_reader() && before.status == Status::Open;
    if reapproval {
        after.status = Status::Suggested;
        changes.push(Change {
            field: "status",
            old: Value::from(before.status.as_str()),
            new: Value::from(after.status.as_str()),
        });
    }
    let now = clock.now_string();
    after.updated_at = now.clone();
    if !tickets::save(tx, &after, before.status, before.lease_epoch)? {
        return Err(DomainError::Conflict(
            "Ticket changed during the request (concurrent update); re-fetch and retry.".into(),
        ));
    }
    if patch.depends_on.is_some() && after.depends_on != before.depends_on {
        tickets::set_dependencies(tx, &after.id, &after.depends_on)?;
    }
    for c in &changes {
        tickets::insert_edit(
            tx,
            &Edit {
                id: new_id("te_"),
                ticket_id: &after.id,
                edited_by_user_id: caller.user(),
                field_name: c.field,
                old_value: json_text(&c.old),
                new_value: json_text(&c.new),
                edited_at: &now,
                lease_epoch: after.lease_epoch,
            },
            caller.key(),
        )?;
    }
    tickets::insert_comment(
        tx,
        &Comment {
            id: new_id("tc_"),
            ticket_id: after.id.clone(),
            author_user_id: caller.user().to_string(),
            author_persona: Some("system".into()),
            content: diff_comment(&changes, fenced, reapproval),
            session_id: None,
            source: "sessionfs".into(),
            verdict_trusted: false,
            created_at: now,
        },
        caller.key(),
    )?;
    Ok((TicketView::plain(after), true))
}

/// What `escalate` answers.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub ticket: TicketView,
    pub from: Priority,
    pub to: Option<Priority>,
}

/// Raises the priority one level (02 §5.9): the PUT's audit, then a comment saying so. At
/// `critical` nothing is written.
pub async fn escalate(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    reason: Option<String>,
) -> DomainResult<Escalation> {
    let clock = clock.clone();
    db.write(move |tx| {
        let before = load(tx, &project.id, &id)?;
        let creator = before.created_by_user_id == caller.user();
        if !creator && !caller.standing.admin {
            return Err(DomainError::Forbidden(
                "Only the ticket creator or a project admin may update this ticket.".into(),
            ));
        }
        let Some(next) = before.priority.next() else {
            return Ok(Escalation {
                ticket: TicketView::plain(before),
                from: Priority::Critical,
                to: None,
            });
        };
        let patch = Patch {
            priority: Some(next),
            ..Patch::default()
        };
        let (view, _) = apply_patch(tx, &clock, &caller, &project, &id, &patch, None)?;
        let reason = reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        tickets::insert_comment(
            tx,
            &Comment {
                id: new_id("tc_"),
                ticket_id: before.id.clone(),
                author_user_id: caller.user().to_string(),
                author_persona: None,
                content: format!(
                    "Escalated {} → {}{reason}",
                    before.priority.as_str(),
                    next.as_str()
                ),
                session_id: None,
                source: "sessionfs".into(),
                verdict_trusted: false,
                // After the diff comment, even within one clock tick.
                created_at: crate::clock::format(
                    crate::clock::parse(&view.ticket.updated_at)
                        .map(|t| t + chrono::Duration::microseconds(1))
                        .map_or_else(|| clock.now(), |t| t.max(clock.now())),
                ),
            },
            caller.key(),
        )?;
        Ok(Escalation {
            ticket: view,
            from: before.priority,
            to: Some(next),
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Comments

/// A page of comments (02 §5.8).
pub async fn comments(
    db: &Db,
    project_id: String,
    id: String,
    since: Option<String>,
    since_id: Option<String>,
    limit: i64,
) -> DomainResult<Vec<Comment>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        Ok(tickets::comments(
            conn,
            &id,
            since.as_deref(),
            since_id.as_deref(),
            limit,
        )?)
    })
    .await
}

/// A new comment's body, typed.
#[derive(Debug, Clone, Default)]
pub struct NewComment {
    pub content: String,
    pub author_persona: Option<String>,
    pub session_id: Option<String>,
    pub lease_epoch: Option<i64>,
    pub send_to_jira: bool,
}

/// Adds a comment; fenced by `lease_epoch` when given. Readers may comment.
pub async fn add_comment(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    req: NewComment,
) -> DomainResult<Comment> {
    let content = req.content.trim().to_string();
    let n = content.chars().count();
    if n == 0 || n > MAX_COMMENT_CHARS {
        return Err(DomainError::Schema {
            kind: if n == 0 {
                "string_too_short"
            } else {
                "string_too_long"
            },
            loc: vec!["body", "content"],
            message: if n == 0 {
                "String should have at least 1 character".into()
            } else {
                format!("String should have at most {MAX_COMMENT_CHARS} characters")
            },
            input: Box::new(Value::from(if n == 0 { content.as_str() } else { "" })),
        });
    }
    let clock = clock.clone();
    db.write(move |tx| {
        let ticket = load(tx, &project.id, &id)?;
        if let Some(given) = req.lease_epoch {
            if given != ticket.lease_epoch {
                return Err(stale_lease(given, ticket.lease_epoch));
            }
        }
        if req.send_to_jira && !caller.is_reader() {
            return Err(DomainError::Clash {
                code: "jira_comment_sync_off",
                message: "This project has no Jira link with outbound comment sync; the \
                          comment was not posted."
                    .into(),
            });
        }
        let now = clock.now_string();
        let comment = Comment {
            id: new_id("tc_"),
            ticket_id: ticket.id.clone(),
            author_user_id: caller.user().to_string(),
            author_persona: req.author_persona.clone(),
            content,
            session_id: req.session_id.clone(),
            source: "sessionfs".into(),
            // No trusted-reviewer registry on this server: no verdict is trusted.
            verdict_trusted: false,
            created_at: now.clone(),
        };
        tickets::insert_comment(tx, &comment, caller.key())?;
        if caller.service_key.is_none() {
            tickets::watch(tx, &ticket.id, caller.user(), &now)?;
        }
        Ok(comment)
    })
    .await
}

/// The review state of a ticket (02 §5.8) from its trusted comments.
pub async fn review_state(
    db: &Db,
    project_id: String,
    id: String,
) -> DomainResult<Option<review::ReviewState>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        let comments = tickets::comments(conn, &id, None, None, 500)?;
        Ok(review::compute(&comments))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Watchers

/// Follows (`true`) or unfollows a ticket; returns whether the caller now watches it.
pub async fn set_watch(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project_id: String,
    id: String,
    on: bool,
) -> DomainResult<bool> {
    let clock = clock.clone();
    db.write(move |tx| {
        load(tx, &project_id, &id)?;
        if on {
            tickets::watch(tx, &id, caller.user(), &clock.now_string())?;
        } else {
            tickets::unwatch(tx, &id, caller.user())?;
        }
        Ok(on)
    })
    .await
}

/// `(user_id, email, since)` of the ticket's watchers.
pub async fn watchers(
    db: &Db,
    project_id: String,
    id: String,
) -> DomainResult<Vec<(String, String, String)>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        Ok(tickets::watchers(conn, &id)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_moves_name_the_sorted_legal_list() {
        let err = illegal(Status::Open, Status::Review, Kind::Task).to_string();
        assert_eq!(
            err,
            "Cannot transition from 'open' to 'review'. Legal transitions from 'open': \
             cancelled, in_progress."
        );
        let err = illegal(Status::Done, Status::Open, Kind::Task).to_string();
        assert!(err.ends_with("Legal transitions from 'done': (none — terminal state)."));
    }

    #[test]
    fn every_route_move_is_a_machine_move() {
        for mv in Move::ALL {
            for kind in [Kind::Task, Kind::Issue] {
                for from in mv.sources(kind) {
                    assert!(
                        kind.legal(*from).contains(&mv.target(kind)),
                        "{mv:?} {kind:?} {from:?}"
                    );
                }
            }
        }
        for kind in [Kind::Task, Kind::Issue] {
            for s in Status::ALL {
                let mut legal = kind.legal(*s).to_vec();
                let sorted = {
                    let mut v = legal.clone();
                    v.sort_by_key(|s| s.as_str());
                    v
                };
                assert_eq!(legal, sorted, "{kind:?} {s:?} sorted");
                legal.dedup();
            }
        }
    }

    #[test]
    fn shown_values() {
        assert_eq!(shown(&Value::from("x")), "\"x\"");
        assert_eq!(shown(&Value::from(vec!["a", "b"])), "[2 item(s)]");
        let long = "y".repeat(250);
        assert!(shown(&Value::from(long)).ends_with("…\""));
    }
}
