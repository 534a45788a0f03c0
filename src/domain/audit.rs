//! LLM-judge audits of a session (contract 03 §7): resolving which model to call, running the
//! pipeline (`judge`) against it, and keeping the reports.
//!
//! A session under `audit_background_threshold` (500) messages is audited inline and answered
//! with its report. At or above, the audit is a **persisted job** (`audit_jobs`): one per
//! session at a time, answered 202 at once. A job survives a restart: at start every job left
//! `running` is resumed when its key is the saved judge key (read again) or no key is needed,
//! and fails with a clear message when the key came with the request (such keys are never
//! stored). Background runs write the report and a history row like synchronous ones, and a
//! failure is recorded (status `error` with its message).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::archive::BlobStore;
use crate::clock::Clock;
use crate::db::audit::{self as sql, HistoryRow, Job, JobState, KeySource};
use crate::db::sessions::{self, SessionRow};
use crate::db::{Db, DbError};
use crate::domain::judge::{self, Claim};
use crate::domain::settings::{self, SettingsError};
use crate::domain::DomainError;
use crate::llm::{self, providers, LlmError, LlmRequest, Outbound};
use crate::secrets::{Plain, Sealer};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// No claims in a session that has tool calls (§7.2: a plain body, not the envelope).
    #[error("No verifiable claims were found in this session")]
    NoClaims { tool_calls: usize, messages: usize },
    #[error(
        "Unknown provider '{0}' and no base_url: set a base_url or one of the registry's providers"
    )]
    UnknownProvider(String),
    /// The model's endpoint failed (§7.2 502 bodies); `code` for an endpoint that is not a
    /// chat API, `detail` the upstream body's head.
    #[error("{message}")]
    LlmFailed {
        code: Option<&'static str>,
        message: String,
        detail: Option<String>,
    },
    #[error("Judge LLM timed out after 120s. Try a faster model or a smaller session.")]
    LlmTimeout,
    #[error("No API key or base URL configured. Provide llm_api_key, base_url, or configure judge settings.")]
    NothingConfigured,
    #[error("No messages found in session archive")]
    NoMessages,
    #[error("No audit report found for this session")]
    NoReport,
    #[error("Audit not found")]
    NoHistoryEntry,
    #[error("finding_index out of range")]
    FindingOutOfRange,
    /// A stored report that cannot be read (our fault).
    #[error("stored audit report is damaged: {0}")]
    DamagedReport(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub type AuditResult<T> = Result<T, AuditError>;

/// What the audit needs from the server.
#[derive(Clone)]
pub struct AuditDeps {
    pub db: Db,
    pub blobs: BlobStore,
    pub clock: Clock,
    pub llm: Outbound,
    pub sealer: Sealer,
    pub default_model: String,
    pub background_threshold: usize,
}

/// The optional body of POST `/sessions/{id}/audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    pub model: Option<String>,
    pub provider: Option<String>,
    pub llm_api_key: Plain,
    pub base_url: Option<String>,
}

/// What will be called.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub provider: String,
    pub model: String,
    pub api_key: Plain,
    pub base_url: Option<String>,
    pub key_source: KeySource,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// §7.1 "Resolving what to call".
pub async fn resolve(deps: &AuditDeps, user_id: &str, req: &AuditRequest) -> AuditResult<Resolved> {
    let mut base_url = match nonempty(&req.base_url) {
        Some(u) => Some(settings::check_base_url(&deps.llm, &u).await?),
        None => None,
    };
    let mut provider = nonempty(&req.provider);
    let mut model = nonempty(&req.model);
    let mut key = req.llm_api_key.clone();
    let mut source = if key.is_empty() {
        KeySource::None
    } else {
        KeySource::Request
    };
    if key.is_empty() {
        if let Some((row, saved_key)) =
            settings::saved_judge(&deps.db, &deps.sealer, user_id).await?
        {
            let matches = match (&base_url, &provider) {
                (Some(u), _) => row.base_url.as_deref() == Some(u.as_str()),
                (None, Some(p)) => row.base_url.is_none() && &row.provider == p,
                (None, None) => true,
            };
            if matches {
                if let Some(k) = saved_key {
                    key = k;
                    source = KeySource::Saved;
                }
                model = model.or(Some(row.model).filter(|m| !m.is_empty()));
                provider = provider.or(Some(row.provider).filter(|p| !p.is_empty()));
                base_url = base_url.or(row.base_url);
            }
        }
    }
    if base_url.is_none() {
        base_url = deps.llm.operator_url().map(str::to_string);
    }
    let model = model.unwrap_or_else(|| deps.default_model.clone());
    let provider = provider.unwrap_or_else(|| providers::detect(&model).to_string());
    if key.is_empty() && base_url.is_none() {
        return Err(AuditError::NothingConfigured);
    }
    if base_url.is_none() && providers::find(&provider).is_none() {
        return Err(AuditError::UnknownProvider(provider));
    }
    Ok(Resolved {
        provider,
        model,
        api_key: key,
        base_url,
        key_source: source,
    })
}

/// The session's messages, one JSON object per line of `messages.jsonl`.
pub async fn load_messages(blobs: &BlobStore, session: &SessionRow) -> AuditResult<Vec<Value>> {
    let blobs = blobs.clone();
    let hash = session.blob_hash.clone();
    let messages = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, DomainError> {
        let file = blobs.open_blob_sync(&hash)?;
        let mut out = Vec::new();
        crate::archive::messages::for_each_line(std::io::BufReader::new(file), |_, line| {
            if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(line) {
                out.push(v);
            }
        })?;
        Ok(out)
    })
    .await
    .map_err(DomainError::from)??;
    Ok(messages)
}

/// How an LLM failure is answered (§7.2).
fn llm_failure(err: LlmError) -> AuditError {
    match err {
        LlmError::Timeout => AuditError::LlmTimeout,
        LlmError::Status { status, body } => AuditError::LlmFailed {
            code: None,
            message: format!("Judge LLM returned {status}"),
            detail: Some(body),
        },
        LlmError::NotApi | LlmError::Redirect(_) => AuditError::LlmFailed {
            code: Some("endpoint_not_api"),
            message: "The judge's base URL does not answer as an OpenAI-compatible chat API \
                      (POST <base_url>/chat/completions)."
                .into(),
            detail: None,
        },
        LlmError::Blocked(reason) => AuditError::LlmFailed {
            code: Some("endpoint_blocked"),
            message: format!("The judge endpoint was refused by the server's URL guard: {reason}"),
            detail: None,
        },
        LlmError::UnknownProvider(p) => AuditError::UnknownProvider(p),
        other => AuditError::LlmFailed {
            code: None,
            message: format!("Judge LLM request failed: {other}"),
            detail: None,
        },
    }
}

/// The pipeline (§7.1): claims and evidence, windows, one call per window, findings.
/// Returns the findings and the report's warnings.
pub async fn judge_messages(
    out: &Outbound,
    r: &Resolved,
    messages: Arc<Vec<Value>>,
) -> AuditResult<(Vec<Value>, Vec<String>)> {
    let m = messages.clone();
    let (evidence, claims, tool_calls) = tokio::task::spawn_blocking(move || {
        let evidence = judge::gather_evidence(&m);
        let claims = judge::extract_claims(&m, &evidence);
        let tool_calls = m
            .iter()
            .filter_map(|x| x["content"].as_array())
            .flatten()
            .filter(|b| b["type"] == "tool_use")
            .count();
        (evidence, claims, tool_calls)
    })
    .await
    .map_err(DomainError::from)?;
    let mut warnings = Vec::new();
    if tool_calls == 0 {
        warnings.push(
            "The session has no tool calls: claims can only be judged as unverified (limited \
             evidence)."
                .to_string(),
        );
    }
    if claims.is_empty() {
        if tool_calls > 0 {
            return Err(AuditError::NoClaims {
                tool_calls,
                messages: messages.len(),
            });
        }
        return Ok((vec![], warnings));
    }
    let mut findings = Vec::new();
    let mut last_error = None;
    let mut succeeded = 0;
    for (start, end) in judge::windows(messages.len(), &claims) {
        let in_window: Vec<&Claim> = claims
            .iter()
            .filter(|c| (start..end).contains(&c.message_index))
            .collect();
        let prompt = judge::build_prompt(&messages, &in_window, &evidence);
        let request = LlmRequest {
            provider: r.provider.clone(),
            model: r.model.clone(),
            api_key: r.api_key.clone(),
            base_url: r.base_url.clone(),
            system: judge::SYSTEM_PROMPT.to_string(),
            user: prompt,
            max_tokens: 4096,
        };
        match llm::complete(&request, out).await {
            Ok(answer) => {
                succeeded += 1;
                findings.extend(judge::parse_answer(&answer, &in_window));
            }
            Err(e) => {
                tracing::warn!(error = %e, model = %r.model, "judge window failed");
                last_error = Some(e);
            }
        }
    }
    if succeeded == 0 {
        if let Some(e) = last_error {
            return Err(llm_failure(e));
        }
    }
    Ok((judge::dedupe(findings), warnings))
}

fn audit_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    format!("aud_{}", hex::encode(b))
}

/// Runs an audit to its end and keeps it: the latest report and a history row. Returns the
/// report and the history id.
async fn run_and_store(
    deps: &AuditDeps,
    user_id: &str,
    session_id: &str,
    r: &Resolved,
    messages: Arc<Vec<Value>>,
) -> AuditResult<(Value, String)> {
    let started = Instant::now();
    let (findings, warnings) = judge_messages(&deps.llm, r, messages).await?;
    let summary = judge::summary(&findings);
    let now = deps.clock.now_string();
    let report = json!({
        "session_id": session_id,
        "model": r.model,
        "timestamp": now,
        "provider": "",
        "base_url": "",
        "execution_time_ms": 0,
        "findings": findings,
        "summary": summary,
        "warnings": warnings,
    });
    let id = audit_id();
    let int = |k: &str| summary[k].as_i64().unwrap_or(0);
    let row = HistoryRow {
        id: id.clone(),
        session_id: session_id.to_string(),
        model: r.model.clone(),
        provider: r.provider.clone(),
        base_url: r.base_url.clone().unwrap_or_default(),
        trust_score: summary["trust_score"].as_f64().unwrap_or(0.0),
        total_claims: int("total_claims"),
        verified: int("verified"),
        unverified: int("unverified"),
        hallucinations: int("hallucinations"),
        findings: report["findings"].to_string(),
        execution_time_ms: started.elapsed().as_millis() as i64,
        created_at: now.clone(),
    };
    let (uid, sid, text) = (
        user_id.to_string(),
        session_id.to_string(),
        report.to_string(),
    );
    deps.db
        .write(move |tx| {
            sql::put_latest(tx, &uid, &sid, &text, &now)?;
            sql::insert_history(tx, &uid, &row)
        })
        .await?;
    Ok((report, id))
}

/// What POST `/sessions/{id}/audit` answers.
pub enum Outcome {
    /// Audited inline: the report.
    Report(Value),
    /// A background job runs (or was already running) for these many messages.
    Accepted {
        messages: usize,
        already_running: bool,
    },
}

/// POST `/sessions/{id}/audit` (§7.1), for the caller's own session.
pub async fn audit(
    deps: &AuditDeps,
    user_id: &str,
    session: &SessionRow,
    req: &AuditRequest,
) -> AuditResult<Outcome> {
    let resolved = resolve(deps, user_id, req).await?;
    let messages = load_messages(&deps.blobs, session).await?;
    if messages.is_empty() {
        return Err(AuditError::NoMessages);
    }
    let count = messages.len();
    let messages = Arc::new(messages);
    if count < deps.background_threshold {
        let (report, _) = run_and_store(deps, user_id, &session.id, &resolved, messages).await?;
        return Ok(Outcome::Report(report));
    }
    let job = Job {
        session_id: session.id.clone(),
        user_id: user_id.to_string(),
        state: JobState::Running,
        model: resolved.model.clone(),
        provider: resolved.provider.clone(),
        base_url: resolved.base_url.clone().unwrap_or_default(),
        key_source: resolved.key_source,
        message_count: count as i64,
        error: None,
        audit_id: None,
        started_at: deps.clock.now_string(),
    };
    let started = deps.db.write(move |tx| sql::start_job(tx, &job)).await?;
    if started {
        spawn_job(
            deps.clone(),
            user_id.to_string(),
            session.id.clone(),
            resolved,
            messages,
        );
    }
    Ok(Outcome::Accepted {
        messages: count,
        already_running: !started,
    })
}

fn spawn_job(
    deps: AuditDeps,
    user_id: String,
    session_id: String,
    r: Resolved,
    messages: Arc<Vec<Value>>,
) {
    tokio::spawn(async move {
        let result = run_and_store(&deps, &user_id, &session_id, &r, messages).await;
        let (ok, error, id) = match &result {
            Ok((_, id)) => (true, None, Some(id.clone())),
            Err(e) => (false, Some(e.to_string()), None),
        };
        if let Err(e) = &result {
            tracing::warn!(session = %session_id, error = %e, "background audit failed");
        }
        finish(&deps, &session_id, ok, error, id).await;
    });
}

async fn finish(
    deps: &AuditDeps,
    session_id: &str,
    ok: bool,
    error: Option<String>,
    id: Option<String>,
) {
    let (sid, now) = (session_id.to_string(), deps.clock.now_string());
    let done = deps
        .db
        .write(move |tx| sql::finish_job(tx, &sid, ok, error.as_deref(), id.as_deref(), &now))
        .await;
    if let Err(e) = done {
        tracing::error!(session = %session_id, error = %e, "cannot record the end of an audit job");
    }
}

/// At start: every job a stopped process left `running` is resumed, or failed cleanly when
/// its key came with the request. Returns (resumed, failed).
pub async fn resume_jobs(deps: &AuditDeps) -> Result<(usize, usize), DbError> {
    let jobs = deps.db.read(sql::running_jobs).await?;
    let (mut resumed, mut failed) = (0, 0);
    for job in jobs {
        match prepare_resume(deps, &job).await {
            Ok((r, messages)) => {
                resumed += 1;
                tracing::info!(session = %job.session_id, "resuming a background audit after a restart");
                spawn_job(
                    deps.clone(),
                    job.user_id.clone(),
                    job.session_id.clone(),
                    r,
                    messages,
                );
            }
            Err(reason) => {
                failed += 1;
                tracing::warn!(session = %job.session_id, reason = %reason, "background audit cannot resume");
                finish(deps, &job.session_id, false, Some(reason), None).await;
            }
        }
    }
    Ok((resumed, failed))
}

async fn prepare_resume(
    deps: &AuditDeps,
    job: &Job,
) -> Result<(Resolved, Arc<Vec<Value>>), String> {
    let api_key = match job.key_source {
        KeySource::Request => {
            return Err(
                "The server restarted during the audit. The API key sent with the \
                        request is never stored, so the audit could not resume; run it again."
                    .into(),
            )
        }
        KeySource::None => Plain::default(),
        KeySource::Saved => match settings::saved_judge(&deps.db, &deps.sealer, &job.user_id).await
        {
            Ok(Some((_, Some(key)))) => key,
            Ok(_) => {
                return Err(
                    "The server restarted during the audit and the saved judge key is \
                            gone; run the audit again."
                        .into(),
                )
            }
            Err(e) => return Err(format!("The audit could not resume: {e}")),
        },
    };
    let sid = job.session_id.clone();
    let session = deps
        .db
        .read(move |c| sessions::get(c, &sid))
        .await
        .map_err(|e: DbError| e.to_string())?
        .ok_or("The session is gone")?;
    let messages = load_messages(&deps.blobs, &session)
        .await
        .map_err(|e| format!("The audit could not resume: {e}"))?;
    let r = Resolved {
        provider: job.provider.clone(),
        model: job.model.clone(),
        api_key,
        base_url: Some(job.base_url.clone()).filter(|u| !u.is_empty()),
        key_source: job.key_source,
    };
    Ok((r, Arc::new(messages)))
}

/// The latest report (with dismissals).
pub async fn latest(db: &Db, user_id: &str, session_id: &str) -> AuditResult<Value> {
    let (uid, sid) = (user_id.to_string(), session_id.to_string());
    let text = db
        .read(move |c| sql::latest(c, &uid, &sid))
        .await?
        .ok_or(AuditError::NoReport)?;
    serde_json::from_str(&text).map_err(|e| AuditError::DamagedReport(e.to_string()))
}

pub async fn history(db: &Db, user_id: &str, session_id: &str) -> AuditResult<Vec<HistoryRow>> {
    let (uid, sid) = (user_id.to_string(), session_id.to_string());
    Ok(db.read(move |c| sql::history(c, &uid, &sid)).await?)
}

pub async fn history_entry(db: &Db, user_id: &str, audit_id: &str) -> AuditResult<HistoryRow> {
    let (uid, aid) = (user_id.to_string(), audit_id.to_string());
    db.read(move |c| sql::history_entry(c, &uid, &aid))
        .await?
        .ok_or(AuditError::NoHistoryEntry)
}

/// `running`, `completed`, `error` (with its message) or `not_started`.
pub async fn status(
    db: &Db,
    user_id: &str,
    session_id: &str,
) -> AuditResult<(&'static str, Option<String>)> {
    let (uid, sid) = (user_id.to_string(), session_id.to_string());
    let (job, report) = db
        .read(move |c| Ok::<_, DbError>((sql::job(c, &sid)?, sql::latest(c, &uid, &sid)?)))
        .await?;
    Ok(match job {
        Some(j) if j.user_id == user_id && j.state == JobState::Running => ("running", None),
        Some(j) if j.user_id == user_id && j.state == JobState::Failed => ("error", j.error),
        _ if report.is_some() => ("completed", None),
        Some(j) if j.user_id == user_id && j.state == JobState::Completed => ("completed", None),
        _ => ("not_started", None),
    })
}

/// A dismissal of one finding (POST `/audit/dismiss`).
#[derive(Debug, Clone)]
pub struct Dismissal {
    pub finding_index: i64,
    pub dismissed: bool,
    pub reason: String,
    /// Who dismissed it (the caller's email).
    pub by: String,
}

/// Marks a finding of the latest report dismissed (or not).
pub async fn dismiss(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    session_id: &str,
    d: Dismissal,
) -> AuditResult<()> {
    let (uid, sid, now) = (
        user_id.to_string(),
        session_id.to_string(),
        clock.now_string(),
    );
    db.write(move |tx| {
        let text = sql::latest(tx, &uid, &sid)?.ok_or(AuditError::NoReport)?;
        let mut report: Value =
            serde_json::from_str(&text).map_err(|e| AuditError::DamagedReport(e.to_string()))?;
        let finding = usize::try_from(d.finding_index)
            .ok()
            .and_then(|i| report["findings"].get_mut(i))
            .ok_or(AuditError::FindingOutOfRange)?;
        finding["dismissed"] = json!(d.dismissed);
        finding["dismissed_by"] = json!(if d.dismissed { d.by } else { String::new() });
        finding["dismissed_reason"] = json!(if d.dismissed { d.reason } else { String::new() });
        sql::put_latest(tx, &uid, &sid, &report.to_string(), &now)?;
        Ok(())
    })
    .await
}
