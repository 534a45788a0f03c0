//! Agent runs (02 §7): a CI runner or a cloud agent records that a persona ran against the
//! project, starts it (getting the compiled context), and completes it with findings; the
//! severity against the run's `fail_on` gives the policy result and the exit code a CI step
//! gates on.
//!
//! The run's machine is [`RunStatus`] with its legal moves ([`RunStatus::start`],
//! [`RunStatus::finish`]); every transition is a compare-and-swap inside the write transaction
//! (`… WHERE status = <read>`), so two completes of one run cannot both land.
//!
//! Who may move a run: service keys, the user who triggered it, or a project editor; anyone else
//! with read standing gets 403 `project_edit_forbidden`.

use serde_json::Value;

use crate::auth::keys::random_hex;
use crate::clock::{self, Clock};
use crate::db::agent_runs::{
    self, CiProvider, Filter, Outcome, PolicyResult, Run, RunStatus, Severity, TriggerSource,
};
use crate::db::projects::Project;
use crate::db::Db;
use crate::domain::agent_context::{self, ContextParts, PersonaPart, TicketPart};
use crate::domain::personas;
use crate::domain::projects::{self, Actor, Standing};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};

pub const MAX_TOOL_CHARS: usize = 50;
pub const MAX_TICKET_ID_CHARS: usize = 64;
pub const MAX_TRIGGER_REF_CHARS: usize = 200;
pub const MAX_URL_CHARS: usize = 2_000;
pub const MAX_PROMPT_CHARS: usize = 20_000;
pub const MAX_CONTEXT_REFS: usize = 50;
pub const MAX_CONTEXT_REF_CHARS: usize = 500;
pub const MAX_SUMMARY_CHARS: usize = 20_000;
pub const MAX_FINDINGS: usize = 1_000;
pub const MAX_SESSION_ID_CHARS: usize = 128;

pub fn run_not_found() -> DomainError {
    DomainError::NotFound("Agent run not found".into())
}

/// A move the run's machine refuses, in the contract's words.
#[derive(Debug, Clone, PartialEq)]
pub enum IllegalMove {
    NotQueued(RunStatus),
    Terminal {
        verb: &'static str,
        status: RunStatus,
    },
}

impl From<IllegalMove> for DomainError {
    fn from(m: IllegalMove) -> DomainError {
        DomainError::Conflict(match m {
            IllegalMove::NotQueued(s) => {
                format!("Cannot start agent run: current status is '{s}', expected 'queued'.")
            }
            IllegalMove::Terminal { verb, status } => {
                format!("Cannot {verb} agent run: current status is '{status}' (already terminal).")
            }
        })
    }
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Passed | RunStatus::Failed | RunStatus::Errored | RunStatus::Cancelled
        )
    }

    /// `queued → running`.
    pub fn start(self) -> Result<RunStatus, IllegalMove> {
        match self {
            RunStatus::Queued => Ok(RunStatus::Running),
            other => Err(IllegalMove::NotQueued(other)),
        }
    }

    /// `queued | running → to` (passed, failed, errored by complete; cancelled by cancel).
    pub fn finish(self, to: RunStatus, verb: &'static str) -> Result<RunStatus, IllegalMove> {
        debug_assert!(to.is_terminal());
        if self.is_terminal() {
            return Err(IllegalMove::Terminal { verb, status: self });
        }
        Ok(to)
    }
}

/// The policy of 02 §7: no threshold (or `none`) and a `none` severity pass; otherwise the run
/// fails when its severity reaches the threshold.
pub fn policy(fail_on: Option<Severity>, severity: Severity) -> PolicyResult {
    match fail_on {
        None | Some(Severity::None) => PolicyResult::Pass,
        Some(_) if severity == Severity::None => PolicyResult::Pass,
        Some(threshold) if severity >= threshold => PolicyResult::Fail,
        Some(_) => PolicyResult::Pass,
    }
}

/// The final status, policy result and exit code of a complete asking for `asked`.
pub fn outcome_of(
    asked: RunStatus,
    fail_on: Option<Severity>,
    severity: Severity,
) -> (RunStatus, PolicyResult, i64) {
    let status = match (asked, policy(fail_on, severity)) {
        (RunStatus::Passed, PolicyResult::Fail) => RunStatus::Failed,
        (s, _) => s,
    };
    match status {
        RunStatus::Failed | RunStatus::Errored => (status, PolicyResult::Fail, 1),
        _ => (status, PolicyResult::Pass, 0),
    }
}

/// Who acts on a run.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub standing: Standing,
    /// `(id, name)` of a service key.
    pub service_key: Option<(String, String)>,
}

impl Caller {
    /// Service keys, the user who triggered the run, or an editor (02 §7).
    fn may_move(&self, run: &Run) -> DomainResult<()> {
        let triggered = run.triggered_by_user_id.as_deref() == Some(&self.actor.user_id);
        if self.service_key.is_some() || triggered || self.standing.edit {
            Ok(())
        } else {
            Err(DomainError::EditForbidden)
        }
    }
}

/// A service key also needs its minter to read the project (02 §0.3, the create and complete
/// exception): without it the project does not exist for the key.
fn minter_reads(
    conn: &rusqlite::Connection,
    caller: &Caller,
    project: &Project,
) -> DomainResult<()> {
    if caller.service_key.is_none() {
        return Ok(());
    }
    let minter = Actor {
        service_key: None,
        ..caller.actor.clone()
    };
    if projects::standing(conn, &minter, project)?.read {
        Ok(())
    } else {
        Err(projects::not_found())
    }
}

/// Whether `ticket_id` names a ticket of the project.
fn ticket_in_project(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
) -> DomainResult<bool> {
    Ok(crate::db::tickets::exists_in_project(
        conn, project_id, ticket_id,
    )?)
}

/// The ticket part of a run's compiled context (the same as the ticket's own `start`
/// compiles), if the run's ticket still exists.
fn ticket_part(
    conn: &rusqlite::Connection,
    project_id: &str,
    ticket_id: &str,
) -> DomainResult<Option<TicketPart>> {
    match crate::db::tickets::get(conn, project_id, ticket_id)? {
        Some(t) => Ok(Some(crate::domain::tickets::ticket_part(conn, &t)?)),
        None => Ok(None),
    }
}

fn invalid(field: &'static str, message: impl Into<String>, input: Value) -> DomainError {
    DomainError::Invalid {
        loc: vec!["body", field],
        message: message.into(),
        input,
    }
}

fn too_long(field: &'static str, value: &str, max: usize) -> DomainError {
    DomainError::Schema {
        kind: "string_too_long",
        loc: vec!["body", field],
        message: format!("String should have at most {max} characters"),
        input: Box::new(value.into()),
    }
}

/// A free-text field: trimmed, blank is none, at most `max` characters (422).
fn text(field: &'static str, value: Option<String>, max: usize) -> DomainResult<Option<String>> {
    match value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        Some(v) if v.chars().count() > max => Err(too_long(field, &v, max)),
        other => Ok(other),
    }
}

fn vocabulary<T>(
    field: &'static str,
    value: Option<String>,
    parse: fn(&str) -> Option<T>,
    listing: String,
) -> DomainResult<Option<T>> {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) => parse(&v).map(Some).ok_or_else(|| {
            invalid(
                field,
                format!("{field} must be one of: {listing}"),
                v.into(),
            )
        }),
    }
}

/// `${{` would be expanded by a CI runner that pastes the value into a workflow.
fn no_template(field: &'static str, value: &str) -> DomainResult<()> {
    if value.contains("${{") {
        return Err(invalid(
            field,
            format!("{field} must not contain '${{{{' (CI template expressions)"),
            value.into(),
        ));
    }
    Ok(())
}

/// The body of a create, as sent.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub persona_name: String,
    pub tool: Option<String>,
    pub trigger_source: Option<String>,
    pub ticket_id: Option<String>,
    pub trigger_ref: Option<String>,
    pub ci_provider: Option<String>,
    pub ci_run_url: Option<String>,
    pub fail_on: Option<String>,
    pub triggered_by_persona: Option<String>,
    pub prompt: Option<String>,
    pub context_refs: Vec<String>,
}

/// Records a queued run (02 §7 "Create").
pub async fn create(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    new: NewRun,
) -> DomainResult<Run> {
    let persona_name = new.persona_name.trim().to_string();
    if !personas::is_valid_name(&persona_name) {
        return Err(invalid(
            "persona_name",
            "persona_name must be 1-50 characters of letters, digits, '_' or '-'",
            new.persona_name.into(),
        ));
    }
    let tool = text("tool", new.tool, MAX_TOOL_CHARS)?.unwrap_or_else(|| "generic".into());
    let trigger_source = vocabulary(
        "trigger_source",
        new.trigger_source,
        TriggerSource::parse,
        TriggerSource::listing(),
    )?
    .unwrap_or(TriggerSource::Manual);
    let ticket_id = text("ticket_id", new.ticket_id, MAX_TICKET_ID_CHARS)?;
    let trigger_ref = text("trigger_ref", new.trigger_ref, MAX_TRIGGER_REF_CHARS)?;
    let ci_provider = vocabulary(
        "ci_provider",
        new.ci_provider,
        CiProvider::parse,
        CiProvider::listing(),
    )?;
    let ci_run_url = text("ci_run_url", new.ci_run_url, MAX_URL_CHARS)?;
    let fail_on = vocabulary("fail_on", new.fail_on, Severity::parse, Severity::listing())?;
    let triggered_by_persona = text("triggered_by_persona", new.triggered_by_persona, 100)?;
    let prompt = match new.prompt {
        Some(p) if p.chars().count() > MAX_PROMPT_CHARS => {
            return Err(too_long("prompt", &p, MAX_PROMPT_CHARS))
        }
        Some(p) if p.trim().is_empty() => None,
        other => other,
    };
    let mut context_refs = Vec::new();
    for r in new.context_refs {
        let r = r.trim().to_string();
        if r.chars().count() > MAX_CONTEXT_REF_CHARS {
            return Err(too_long("context_refs", &r, MAX_CONTEXT_REF_CHARS));
        }
        if !r.is_empty() {
            no_template("context_refs", &r)?;
            context_refs.push(r);
        }
    }
    if context_refs.len() > MAX_CONTEXT_REFS {
        return Err(invalid(
            "context_refs",
            format!("at most {MAX_CONTEXT_REFS} context_refs"),
            Value::from(context_refs.len()),
        ));
    }
    if let Some(r) = &trigger_ref {
        no_template("trigger_ref", r)?;
    }
    if let Some(p) = &prompt {
        no_template("prompt", p)?;
    }
    let clock = clock.clone();
    db.write(move |tx| {
        minter_reads(tx, &caller, &project)?;
        projects::require_plan(tx, &project, Feature::AgentRuns)?;
        let persona = personas::resolve_active(tx, &project, &caller.actor, &persona_name)?
            .ok_or_else(|| {
                DomainError::Unprocessable(format!(
                    "Persona '{persona_name}' not found or inactive in this project."
                ))
            })?;
        if let Some(t) = &ticket_id {
            if !ticket_in_project(tx, &project.id, t)? {
                return Err(DomainError::Unprocessable(format!(
                    "Ticket '{t}' not found in this project."
                )));
            }
        }
        let run = Run {
            id: format!("run_{}", random_hex(8)),
            project_id: project.id.clone(),
            persona_name: persona.name,
            tool,
            trigger_source,
            status: RunStatus::Queued,
            ticket_id,
            trigger_ref,
            ci_provider,
            ci_run_url,
            result_summary: None,
            severity: None,
            findings_count: 0,
            findings: Vec::new(),
            fail_on,
            policy_result: None,
            exit_code: None,
            session_id: None,
            triggered_by_user_id: Some(caller.actor.user_id.clone()),
            triggered_by_persona,
            replayed_from: None,
            prompt,
            context_refs,
            service_key: caller.service_key.clone(),
            created_at: clock.now_string(),
            started_at: None,
            completed_at: None,
            duration_seconds: None,
        };
        agent_runs::insert(tx, &run)?;
        Ok(run)
    })
    .await
}

/// The list's query, as sent.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: i64,
}

pub async fn list(db: &Db, project: Project, query: ListQuery) -> DomainResult<Vec<Run>> {
    db.read(move |conn| {
        projects::require_plan(conn, &project, Feature::AgentRuns)?;
        Ok(agent_runs::list(
            conn,
            &project.id,
            &query.filter,
            query.limit,
        )?)
    })
    .await
}

pub async fn get(db: &Db, project: Project, run_id: String) -> DomainResult<Run> {
    db.read(move |conn| {
        projects::require_plan(conn, &project, Feature::AgentRuns)?;
        agent_runs::get(conn, &project.id, &run_id)?.ok_or_else(run_not_found)
    })
    .await
}

/// A started run and its compiled context.
pub struct Started {
    pub run: Run,
    pub compiled_context: String,
}

/// `queued → running` with the compiled context of the run's persona (re-resolved: gone →
/// 422 and the run stays queued), its ticket if it still exists, and the project's context
/// document. `tool` overrides the stored tool for the budget only.
pub async fn start(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    run_id: String,
    tool: Option<String>,
) -> DomainResult<Started> {
    let clock = clock.clone();
    db.write(move |tx| {
        projects::require_plan(tx, &project, Feature::AgentRuns)?;
        let mut run = agent_runs::get(tx, &project.id, &run_id)?.ok_or_else(run_not_found)?;
        caller.may_move(&run)?;
        let next = run.status.start()?;
        let persona = personas::resolve_active(tx, &project, &caller.actor, &run.persona_name)?
            .ok_or_else(|| {
                DomainError::Unprocessable(format!(
                    "Persona '{}' not found or inactive in this project.",
                    run.persona_name
                ))
            })?;
        let ticket = match &run.ticket_id {
            Some(t) => ticket_part(tx, &project.id, t)?,
            None => None,
        };
        let now = clock.now_string();
        if !agent_runs::mark_running(tx, &run.id, &now)? {
            return Err(DomainError::Conflict(
                "Agent run changed concurrently; re-fetch it and retry.".into(),
            ));
        }
        let persona_part = PersonaPart {
            name: persona.name,
            role: persona.role,
            content: persona.content,
        };
        let compiled_context = agent_context::compile(&ContextParts {
            persona: Some(&persona_part),
            ticket: ticket.as_ref(),
            project_context: Some(&project.context_document),
            tool: tool.as_deref().unwrap_or(&run.tool),
        });
        run.status = next;
        run.started_at = Some(now);
        Ok(Started {
            run,
            compiled_context,
        })
    })
    .await
}

/// The body of a complete, as sent.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub status: Option<String>,
    pub result_summary: Option<String>,
    pub severity: Option<String>,
    pub findings: Vec<Value>,
    pub session_id: Option<String>,
}

/// Finishes a queued or running run with its result (02 §7 "Complete").
pub async fn complete(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    run_id: String,
    body: Completion,
) -> DomainResult<Run> {
    let asked = match body.status.map(|s| s.trim().to_ascii_lowercase()) {
        None => RunStatus::Passed,
        Some(s) => match RunStatus::parse(&s) {
            Some(st @ (RunStatus::Passed | RunStatus::Failed | RunStatus::Errored)) => st,
            _ => {
                return Err(invalid(
                    "status",
                    "status must be one of: passed, failed, errored",
                    s.into(),
                ))
            }
        },
    };
    let severity = vocabulary(
        "severity",
        body.severity,
        Severity::parse,
        Severity::listing(),
    )?
    .unwrap_or(Severity::None);
    let result_summary = match body.result_summary {
        Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => {
            return Err(too_long("result_summary", &s, MAX_SUMMARY_CHARS))
        }
        other => other,
    };
    if body.findings.len() > MAX_FINDINGS {
        return Err(invalid(
            "findings",
            format!("at most {MAX_FINDINGS} findings"),
            Value::from(body.findings.len()),
        ));
    }
    if let Some(f) = body.findings.iter().find(|f| !f.is_object()) {
        return Err(DomainError::Schema {
            kind: "dict_type",
            loc: vec!["body", "findings"],
            message: "Input should be a valid dictionary".into(),
            input: Box::new(f.clone()),
        });
    }
    let session_id = text("session_id", body.session_id, MAX_SESSION_ID_CHARS)?;
    let clock = clock.clone();
    db.write(move |tx| {
        minter_reads(tx, &caller, &project)?;
        projects::require_plan(tx, &project, Feature::AgentRuns)?;
        let run = agent_runs::get(tx, &project.id, &run_id)?.ok_or_else(run_not_found)?;
        caller.may_move(&run)?;
        let (status, policy_result, exit_code) = outcome_of(asked, run.fail_on, severity);
        run.status.finish(status, "complete")?;
        let now = clock.now();
        let outcome = Outcome {
            status,
            result_summary,
            severity: Some(severity),
            findings: Some(body.findings),
            policy_result,
            exit_code,
            session_id,
            completed_at: clock::format(now),
            duration_seconds: seconds_since(run.started_at.as_deref(), now),
        };
        if !agent_runs::finish(tx, &run.id, run.status, &outcome)? {
            return Err(DomainError::Conflict(
                "Concurrent completion detected; re-fetch the agent run.".into(),
            ));
        }
        agent_runs::get(tx, &project.id, &run.id)?.ok_or_else(run_not_found)
    })
    .await
}

/// `queued | running → cancelled` (02 §7 "Cancel"): passes, exit code 0.
pub async fn cancel(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    run_id: String,
) -> DomainResult<Run> {
    let clock = clock.clone();
    db.write(move |tx| {
        projects::require_plan(tx, &project, Feature::AgentRuns)?;
        let run = agent_runs::get(tx, &project.id, &run_id)?.ok_or_else(run_not_found)?;
        caller.may_move(&run)?;
        let status = run.status.finish(RunStatus::Cancelled, "cancel")?;
        let now = clock.now();
        let outcome = Outcome {
            status,
            result_summary: None,
            severity: None,
            findings: None,
            policy_result: PolicyResult::Pass,
            exit_code: 0,
            session_id: None,
            completed_at: clock::format(now),
            duration_seconds: seconds_since(run.started_at.as_deref(), now),
        };
        if !agent_runs::finish(tx, &run.id, run.status, &outcome)? {
            return Err(DomainError::Conflict(
                "Agent run changed concurrently; re-fetch it and retry.".into(),
            ));
        }
        agent_runs::get(tx, &project.id, &run.id)?.ok_or_else(run_not_found)
    })
    .await
}

fn seconds_since(started_at: Option<&str>, now: clock::Timestamp) -> Option<i64> {
    started_at
        .and_then(clock::parse)
        .map(|t| (now - t).num_seconds().max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_machine() {
        use RunStatus::*;
        assert_eq!(Queued.start(), Ok(Running));
        for s in [Running, Passed, Failed, Errored, Cancelled] {
            assert_eq!(s.start(), Err(IllegalMove::NotQueued(s)));
        }
        for from in [Queued, Running] {
            for to in [Passed, Failed, Errored, Cancelled] {
                assert_eq!(from.finish(to, "complete"), Ok(to));
            }
        }
        for from in [Passed, Failed, Errored, Cancelled] {
            assert!(from.finish(Cancelled, "cancel").is_err());
        }
        let msg = DomainError::from(Passed.finish(Failed, "complete").unwrap_err()).to_string();
        assert_eq!(
            msg,
            "Cannot complete agent run: current status is 'passed' (already terminal)."
        );
        let msg = DomainError::from(Running.start().unwrap_err()).to_string();
        assert_eq!(
            msg,
            "Cannot start agent run: current status is 'running', expected 'queued'."
        );
    }

    #[test]
    fn the_policy() {
        use Severity::{Critical, High, Low, Medium};
        let none = Severity::None;
        assert_eq!(policy(None, Critical), PolicyResult::Pass);
        assert_eq!(policy(Some(none), Critical), PolicyResult::Pass);
        assert_eq!(policy(Some(Low), none), PolicyResult::Pass);
        assert_eq!(policy(Some(High), Medium), PolicyResult::Pass);
        assert_eq!(policy(Some(High), High), PolicyResult::Fail);
        assert_eq!(policy(Some(High), Critical), PolicyResult::Fail);
        assert_eq!(
            outcome_of(RunStatus::Passed, Some(Medium), High),
            (RunStatus::Failed, PolicyResult::Fail, 1)
        );
        assert_eq!(
            outcome_of(RunStatus::Passed, Some(Critical), High),
            (RunStatus::Passed, PolicyResult::Pass, 0)
        );
        assert_eq!(
            outcome_of(RunStatus::Errored, None, none),
            (RunStatus::Errored, PolicyResult::Fail, 1)
        );
        assert_eq!(
            outcome_of(RunStatus::Failed, None, none),
            (RunStatus::Failed, PolicyResult::Fail, 1)
        );
    }
}
