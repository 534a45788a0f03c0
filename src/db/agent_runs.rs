//! Agent runs of a project (02 §7): insert, read, the filtered list, and the transitions as
//! compare-and-swap updates (`… WHERE status IN (<expected>)`, one row or none).

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::db::DbResult;

stored_enum!(
    /// Where a run is in its life (02 §7 "Run FSM"); the legal moves are in
    /// `domain::agent_runs`.
    RunStatus {
        Queued => "queued",
        Running => "running",
        Passed => "passed",
        Failed => "failed",
        Errored => "errored",
        Cancelled => "cancelled",
    }
);
stored_enum!(
    /// What started a run.
    TriggerSource {
        Manual => "manual",
        Ci => "ci",
        Webhook => "webhook",
        Scheduled => "scheduled",
        Mcp => "mcp",
        Api => "api",
    }
);
stored_enum!(
    CiProvider {
        Github => "github",
        Gitlab => "gitlab",
        Bitbucket => "bitbucket",
        Circleci => "circleci",
        Jenkins => "jenkins",
        Buildkite => "buildkite",
        Azure => "azure",
        Drone => "drone",
        Other => "other",
    }
);
stored_enum!(
    /// How bad a run's findings are, in order; also a run's `fail_on` threshold.
    Severity {
        None => "none",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);
stored_enum!(PolicyResult { Pass => "pass", Fail => "fail" });

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub project_id: String,
    pub persona_name: String,
    pub tool: String,
    pub trigger_source: TriggerSource,
    pub status: RunStatus,
    pub ticket_id: Option<String>,
    pub trigger_ref: Option<String>,
    pub ci_provider: Option<CiProvider>,
    pub ci_run_url: Option<String>,
    pub result_summary: Option<String>,
    pub severity: Option<Severity>,
    pub findings_count: i64,
    pub findings: Vec<Value>,
    pub fail_on: Option<Severity>,
    pub policy_result: Option<PolicyResult>,
    pub exit_code: Option<i64>,
    pub session_id: Option<String>,
    pub triggered_by_user_id: Option<String>,
    pub triggered_by_persona: Option<String>,
    pub replayed_from: Option<String>,
    pub prompt: Option<String>,
    pub context_refs: Vec<String>,
    /// `(id, name)` of the service key that created the run.
    pub service_key: Option<(String, String)>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<i64>,
}

const COLUMNS: &str = "id, project_id, persona_name, tool, trigger_source, status, ticket_id, \
    trigger_ref, ci_provider, ci_run_url, result_summary, severity, findings_count, findings, \
    fail_on, policy_result, exit_code, session_id, triggered_by_user_id, triggered_by_persona, \
    replayed_from, prompt, context_refs, service_key_id, service_key_name, created_at, \
    started_at, completed_at, duration_seconds";

fn json_column<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn from_row(r: &Row) -> rusqlite::Result<Run> {
    let key_id: Option<String> = r.get(23)?;
    let key_name: Option<String> = r.get(24)?;
    Ok(Run {
        id: r.get(0)?,
        project_id: r.get(1)?,
        persona_name: r.get(2)?,
        tool: r.get(3)?,
        trigger_source: r.get(4)?,
        status: r.get(5)?,
        ticket_id: r.get(6)?,
        trigger_ref: r.get(7)?,
        ci_provider: r.get(8)?,
        ci_run_url: r.get(9)?,
        result_summary: r.get(10)?,
        severity: r.get(11)?,
        findings_count: r.get(12)?,
        findings: json_column(r, 13)?,
        fail_on: r.get(14)?,
        policy_result: r.get(15)?,
        exit_code: r.get(16)?,
        session_id: r.get(17)?,
        triggered_by_user_id: r.get(18)?,
        triggered_by_persona: r.get(19)?,
        replayed_from: r.get(20)?,
        prompt: r.get(21)?,
        context_refs: json_column(r, 22)?,
        service_key: key_id.map(|id| (id, key_name.unwrap_or_default())),
        created_at: r.get(25)?,
        started_at: r.get(26)?,
        completed_at: r.get(27)?,
        duration_seconds: r.get(28)?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

pub fn insert(conn: &Connection, run: &Run) -> DbResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO agent_runs ({COLUMNS}, actor_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23,
                ?24, ?25, ?26, ?27, ?28, ?29, ?30)"
        ),
        params![
            run.id,
            run.project_id,
            run.persona_name,
            run.tool,
            run.trigger_source,
            run.status,
            run.ticket_id,
            run.trigger_ref,
            run.ci_provider,
            run.ci_run_url,
            run.result_summary,
            run.severity,
            run.findings_count,
            to_json(&run.findings),
            run.fail_on,
            run.policy_result,
            run.exit_code,
            run.session_id,
            run.triggered_by_user_id,
            run.triggered_by_persona,
            run.replayed_from,
            run.prompt,
            to_json(&run.context_refs),
            run.service_key.as_ref().map(|k| &k.0),
            run.service_key.as_ref().map(|k| &k.1),
            run.created_at,
            run.started_at,
            run.completed_at,
            run.duration_seconds,
            if run.service_key.is_some() {
                "service_key"
            } else {
                "user"
            },
        ],
    )?;
    Ok(())
}

/// The run `id` of the project (a run of another project is none).
pub fn get(conn: &Connection, project_id: &str, id: &str) -> DbResult<Option<Run>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM agent_runs WHERE id = ?1 AND project_id = ?2"),
            params![id, project_id],
            from_row,
        )
        .optional()?)
}

/// Filters of the list; `None` is "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exact, as stored (the canonical persona name).
    pub persona_name: Option<String>,
    pub status: Option<RunStatus>,
    pub trigger_source: Option<TriggerSource>,
    pub ticket_id: Option<String>,
}

/// The project's runs matching `filter`, newest first, at most `limit`.
pub fn list(
    conn: &Connection,
    project_id: &str,
    filter: &Filter,
    limit: i64,
) -> DbResult<Vec<Run>> {
    let mut sql = format!("SELECT {COLUMNS} FROM agent_runs WHERE project_id = ?");
    let mut args: Vec<String> = vec![project_id.to_string()];
    if let Some(p) = &filter.persona_name {
        sql.push_str(" AND persona_name = ?");
        args.push(p.clone());
    }
    if let Some(s) = filter.status {
        sql.push_str(" AND status = ?");
        args.push(s.as_str().to_string());
    }
    if let Some(t) = filter.trigger_source {
        sql.push_str(" AND trigger_source = ?");
        args.push(t.as_str().to_string());
    }
    if let Some(t) = &filter.ticket_id {
        sql.push_str(" AND ticket_id = ?");
        args.push(t.clone());
    }
    sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `queued → running` if the run is still queued; whether it moved.
pub fn mark_running(conn: &Connection, id: &str, at: &str) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE agent_runs SET status = 'running', started_at = ?2
         WHERE id = ?1 AND status = 'queued'",
        params![id, at],
    )?;
    Ok(n == 1)
}

/// The result of a finished run, as written by complete and cancel.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: RunStatus,
    pub result_summary: Option<String>,
    pub severity: Option<Severity>,
    pub findings: Option<Vec<Value>>,
    pub policy_result: PolicyResult,
    pub exit_code: i64,
    pub session_id: Option<String>,
    pub completed_at: String,
    pub duration_seconds: Option<i64>,
}

/// Finishes the run if it is still `from` (queued or running, as read in this transaction);
/// whether it moved. Findings and summary are left as they are when the outcome has none.
pub fn finish(conn: &Connection, id: &str, from: RunStatus, o: &Outcome) -> DbResult<bool> {
    let n = conn.execute(
        "UPDATE agent_runs SET status = ?3,
            result_summary = COALESCE(?4, result_summary),
            severity = COALESCE(?5, severity),
            findings = COALESCE(?6, findings),
            findings_count = COALESCE(?7, findings_count),
            policy_result = ?8, exit_code = ?9,
            session_id = COALESCE(?10, session_id),
            completed_at = ?11, duration_seconds = ?12
         WHERE id = ?1 AND status = ?2",
        params![
            id,
            from,
            o.status,
            o.result_summary,
            o.severity,
            o.findings.as_ref().map(to_json),
            o.findings.as_ref().map(|f| f.len() as i64),
            o.policy_result,
            o.exit_code,
            o.session_id,
            o.completed_at,
            o.duration_seconds,
        ],
    )?;
    Ok(n == 1)
}

/// Queued or running runs of the project for persona `name` (any case): the stranding guard.
pub fn count_open_for_persona(conn: &Connection, project_id: &str, name: &str) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM agent_runs
         WHERE project_id = ?1 AND status IN ('queued', 'running')
           AND persona_name = ?2 COLLATE NOCASE",
        params![project_id, name],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use crate::db::test_support::{migrated, query_plan};

    #[test]
    fn every_query_path_has_an_index() {
        let (_dir, conn) = migrated();
        for (sql, index) in [
            (
                "SELECT id FROM agent_runs WHERE project_id = 'p' ORDER BY created_at DESC, id DESC",
                "agent_runs_by_project",
            ),
            (
                "SELECT id FROM agent_runs WHERE project_id = 'p' AND status = 'queued' ORDER BY created_at DESC",
                "agent_runs_by_status",
            ),
            (
                "SELECT id FROM agent_runs WHERE project_id = 'p' AND persona_name = 'atlas' ORDER BY created_at DESC",
                "agent_runs_by_persona",
            ),
            (
                "SELECT id FROM agent_runs WHERE project_id = 'p' AND ticket_id = 'tk' ORDER BY created_at DESC",
                "agent_runs_by_ticket",
            ),
            (
                "SELECT COUNT(*) FROM agent_runs WHERE project_id = 'p' AND status IN ('queued', 'running') AND persona_name = 'a' COLLATE NOCASE",
                "agent_runs_by_status",
            ),
        ] {
            let p = query_plan(&conn, sql);
            assert!(p.contains(index), "{sql}: {p}");
        }
    }
}
