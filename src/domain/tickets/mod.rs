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
//!
//! Layout: [`machine`] (the machines and the route → move mapping), [`lifecycle`] (moves and the
//! lease), [`create`], [`edits`] (the audited PUT and escalate), [`dependencies`], [`comments`],
//! [`watchers`], [`views`] (reads), [`context`] (the ticket side of `start`'s compiled context)
//! and [`review`]. This file: who acts ([`Caller`]) and the helpers they share. Every public
//! item is re-exported here, so callers keep `domain::tickets::…`.

use serde_json::Value;

use crate::auth::keys::random_hex;
use crate::db::personas::Persona;
use crate::db::projects::Project;
use crate::db::tickets::{self, Ticket};
use crate::db::Db;
use crate::domain::personas;
use crate::domain::projects::{self, Actor, Standing};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};

mod comments;
mod context;
mod create;
mod dependencies;
mod edits;
mod lifecycle;
mod machine;
pub mod review;
mod views;
mod watchers;

use machine::ReaderRule;

pub use comments::{add_comment, comments, review_state, NewComment};
pub use context::{ticket_part, ticket_part_of};
pub use create::{clean_title, create, NewTicket};
pub use edits::{escalate, stale_fence, update, Escalation, Patch};
pub use lifecycle::{stale_lease, transition, Completion, MoveRequest, Moved, Started};
pub use machine::{illegal, Move};
pub use views::{get, get_by_id, list, TicketView};
pub use watchers::{set_watch, watchers};

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

/// `ra_` + 24 hex.
fn new_id_long(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(12))
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
