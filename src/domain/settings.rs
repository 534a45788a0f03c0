//! Per-user settings (contract 03 §6): the LLM judge (provider, model, sealed key, base URL)
//! with its save-time connection check and model discovery; the audit and summarize triggers;
//! GitHub preferences (inert without a GitHub App); GitLab (guarded URL, sealed token, webhook
//! secret shown once). Keys are never returned: only `key_set`.

use serde_json::Value;

use crate::clock::Clock;
use crate::db::settings::{self as sql, GitlabRow, JudgeRow, SealedTable, TriggerKind};
use crate::db::{Db, DbError};
use crate::domain::DomainError;
use crate::llm::guard::GuardError;
use crate::llm::{self, providers, LlmError, LlmRequest, ModelInfo, Outbound};
use crate::secrets::{Plain, Sealer, SecretError};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("Unknown provider '{0}'. Use one of the registry's providers or set a base_url.")]
    UnknownProvider(String),
    /// An LLM base URL the guard refused.
    #[error(
        "base_url rejected: {0}. Private, loopback and plain-http endpoints (a local Ollama or \
         vLLM) need SFS_LLM_ALLOW_PRIVATE_HOSTS=true (--llm-allow-private-hosts) on the server."
    )]
    UrlRefused(GuardError),
    /// The save-time check refused the settings (`endpoint_blocked`, `invalid_key`,
    /// `endpoint_not_api`).
    #[error("{message}")]
    SaveCheck { code: &'static str, message: String },
    #[error("base_url is required")]
    BaseUrlRequired,
    #[error(
        "api_key must not be sent in the query string; use POST /api/v1/settings/judge/models"
    )]
    KeyInQuery,
    #[error("Trigger must be 'manual', 'on_sync', or 'on_pr'")]
    BadTrigger,
    #[error("GitLab instance URL rejected: {0}")]
    GitlabUrl(GuardError),
    /// Linking a GitHub installation needs the GitHub App this server does not have.
    #[error(
        "Linking a GitHub installation needs a GitHub App, which this server is not configured \
         with"
    )]
    GithubClaimDisabled,
    /// A stored secret cannot be opened (another install secret, damage).
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub type SettingsResult<T> = Result<T, SettingsError>;

/// The trigger values.
pub const TRIGGERS: [&str; 3] = ["manual", "on_sync", "on_pr"];

/// What GET `/settings/judge` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeView {
    pub provider: String,
    pub model: String,
    pub key_set: bool,
    pub base_url: Option<String>,
}

/// A save-time outcome that did not block the save.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

fn judge_purpose(user_id: &str) -> String {
    SealedTable::Judge.purpose(user_id)
}

pub async fn judge(db: &Db, user_id: &str) -> SettingsResult<JudgeView> {
    let uid = user_id.to_string();
    let row = db.read(move |c| sql::judge(c, &uid)).await?;
    Ok(match row {
        None => JudgeView {
            provider: String::new(),
            model: String::new(),
            key_set: false,
            base_url: None,
        },
        Some(r) => JudgeView {
            provider: r.provider,
            model: r.model,
            key_set: r.sealed_key.is_some(),
            base_url: r.base_url,
        },
    })
}

/// The saved judge row and its key opened, if any.
pub async fn saved_judge(
    db: &Db,
    sealer: &Sealer,
    user_id: &str,
) -> SettingsResult<Option<(JudgeRow, Option<Plain>)>> {
    let uid = user_id.to_string();
    let Some(row) = db.read(move |c| sql::judge(c, &uid)).await? else {
        return Ok(None);
    };
    let key = match &row.sealed_key {
        Some(sealed) => Some(sealer.open(sealed, &judge_purpose(user_id))?),
        None => None,
    };
    Ok(Some((row, key)))
}

/// Checks a user-supplied LLM base URL (form and lookup); returns it trimmed.
pub async fn check_base_url(out: &Outbound, url: &str) -> SettingsResult<String> {
    out.check_llm_url(url)
        .await
        .map_err(SettingsError::UrlRefused)
}

/// What PUT `/settings/judge` carries.
#[derive(Debug, Clone)]
pub struct JudgeSave {
    pub provider: String,
    pub model: String,
    pub api_key: Plain,
    pub base_url: Option<String>,
}

/// Saves judge settings after the save-time check (§6.3). An empty `api_key` keeps the
/// stored key.
pub async fn save_judge(
    db: &Db,
    clock: &Clock,
    sealer: &Sealer,
    out: &Outbound,
    user_id: &str,
    save: JudgeSave,
) -> SettingsResult<(JudgeView, Vec<Warning>)> {
    let provider = save.provider.trim().to_string();
    let model = save.model.trim().to_string();
    let base_url = match save.base_url.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => Some(check_base_url(out, u).await?),
        _ => None,
    };
    if base_url.is_none() && providers::find(&provider).is_none() {
        return Err(SettingsError::UnknownProvider(provider));
    }
    let existing = saved_judge(db, sealer, user_id).await;
    // A stored key that cannot be opened any more is replaced or dropped, never an error here.
    let (existing_row, existing_key) = match existing {
        Ok(Some((row, key))) => (Some(row), key),
        Ok(None) | Err(SettingsError::Secret(_)) => (None, None),
        Err(e) => return Err(e),
    };
    let url_changed =
        base_url.is_some() && base_url != existing_row.as_ref().and_then(|r| r.base_url.clone());
    let key_sent = !save.api_key.is_empty();
    let mut warnings = Vec::new();
    if url_changed || key_sent {
        if out.allow_probe(user_id) {
            let key = if key_sent {
                save.api_key.clone()
            } else {
                existing_key.clone().unwrap_or_default()
            };
            let probe = LlmRequest {
                provider: provider.clone(),
                model: model.clone(),
                api_key: key,
                base_url: base_url.clone(),
                system: String::new(),
                user: String::new(),
                max_tokens: 16,
            };
            if let Some(w) = judge_probe_outcome(llm::test_chat(&probe, out).await, url_changed)? {
                warnings.push(w);
            }
        } else {
            warnings.push(Warning {
                code: "connection_not_checked",
                message: "Too many connection checks in the last minute; the settings were \
                          saved without checking the endpoint."
                    .into(),
            });
        }
    }
    let sealed_key = if key_sent {
        Some(sealer.seal(&save.api_key, &judge_purpose(user_id)))
    } else {
        existing_row.as_ref().and_then(|r| r.sealed_key.clone())
    };
    let row = JudgeRow {
        provider,
        model,
        sealed_key,
        base_url,
    };
    let (uid, now, stored) = (user_id.to_string(), clock.now_string(), row.clone());
    db.write(move |tx| sql::put_judge(tx, &uid, &stored, &now))
        .await?;
    Ok((
        JudgeView {
            provider: row.provider,
            model: row.model,
            key_set: row.sealed_key.is_some(),
            base_url: row.base_url,
        },
        warnings,
    ))
}

/// What the save-time check's result means: refuse (422), warn, or nothing.
fn judge_probe_outcome(
    result: Result<(), LlmError>,
    url_changed: bool,
) -> SettingsResult<Option<Warning>> {
    let refuse = |code, message: &str| {
        Err(SettingsError::SaveCheck {
            code,
            message: message.to_string(),
        })
    };
    let warn = |code, message: String| Ok(Some(Warning { code, message }));
    match result {
        Ok(()) => Ok(None),
        Err(LlmError::Blocked(reason)) => refuse(
            "endpoint_blocked",
            &format!("The endpoint was refused by the server's URL guard: {reason}"),
        ),
        Err(LlmError::Status {
            status: 401 | 403, ..
        }) => refuse(
            "invalid_key",
            "The endpoint refused the API key (401/403). Check the key and try again.",
        ),
        Err(LlmError::Status {
            status: 404 | 405, ..
        })
        | Err(LlmError::NotApi)
        | Err(LlmError::Redirect(_))
            if url_changed =>
        {
            refuse(
                "endpoint_not_api",
                "The base URL does not answer as an OpenAI-compatible chat API (expected \
                 POST <base_url>/chat/completions). Check the URL, e.g. it usually ends in /v1.",
            )
        }
        Err(LlmError::Status { status, .. }) => warn(
            "endpoint_error",
            format!("Saved, but the connection check failed: endpoint returned {status}"),
        ),
        Err(LlmError::Timeout) => warn(
            "connection_timeout",
            "Saved, but the connection check timed out".into(),
        ),
        Err(LlmError::Connect(_)) => warn(
            "connection_failed",
            "Saved, but the endpoint could not be reached".into(),
        ),
        Err(e) => warn(
            "connection_check_failed",
            format!("Saved, but the connection check failed: {e}"),
        ),
    }
}

pub async fn delete_judge(db: &Db, user_id: &str) -> SettingsResult<()> {
    let uid = user_id.to_string();
    db.write(move |tx| sql::delete_judge(tx, &uid)).await?;
    Ok(())
}

/// The result of model discovery: the models, the URL asked, or why it failed.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub models: Vec<ModelInfo>,
    pub base_url: Option<String>,
    pub provider: Option<String>,
    pub error: Option<String>,
}

fn discovery_error(e: &LlmError) -> String {
    match e {
        LlmError::Status { status, .. } => format!("Endpoint returned {status}"),
        LlmError::Timeout => "Connection timed out".into(),
        _ => "Could not list models from this endpoint".into(),
    }
}

/// GET discovery (and POST without a provider): a custom OpenAI-compatible endpoint. The saved
/// key is used only when the saved base URL is this one.
pub async fn discover_custom(
    db: &Db,
    sealer: &Sealer,
    out: &Outbound,
    user_id: &str,
    base_url: &str,
    body_key: Plain,
) -> SettingsResult<Discovery> {
    if base_url.trim().is_empty() {
        return Err(SettingsError::BaseUrlRequired);
    }
    let url = check_base_url(out, base_url).await?;
    let key = if !body_key.is_empty() {
        body_key
    } else {
        match saved_judge(db, sealer, user_id).await {
            Ok(Some((row, Some(key)))) if row.base_url.as_deref() == Some(url.as_str()) => key,
            _ => Plain::default(),
        }
    };
    Ok(match llm::list_models(&url, &key, out).await {
        Ok(models) => Discovery {
            models,
            base_url: Some(url),
            provider: None,
            error: None,
        },
        Err(e) => Discovery {
            models: vec![],
            base_url: None,
            provider: None,
            error: Some(discovery_error(&e)),
        },
    })
}

/// POST discovery with a registry provider: its live list (or its suggestions).
pub async fn discover_provider(
    db: &Db,
    sealer: &Sealer,
    out: &Outbound,
    user_id: &str,
    provider: &str,
    body_key: Plain,
) -> SettingsResult<Discovery> {
    let p = providers::find(provider)
        .ok_or_else(|| SettingsError::UnknownProvider(provider.to_string()))?;
    let suggested: Vec<ModelInfo> = p
        .suggested
        .iter()
        .map(|id| ModelInfo {
            id: id.to_string(),
            owned_by: p.id.to_string(),
        })
        .collect();
    let key = if !body_key.is_empty() {
        body_key
    } else {
        match saved_judge(db, sealer, user_id).await {
            Ok(Some((row, Some(key)))) if row.provider == p.id && row.base_url.is_none() => key,
            _ => Plain::default(),
        }
    };
    if key.is_empty() {
        return Ok(Discovery {
            models: suggested,
            base_url: None,
            provider: Some(p.id.into()),
            error: Some("An API key is needed to list this provider's models".into()),
        });
    }
    Ok(match llm::list_provider_models(p, &key, out).await {
        Ok((url, models)) => Discovery {
            models: if models.is_empty() { suggested } else { models },
            base_url: Some(url),
            provider: Some(p.id.into()),
            error: None,
        },
        Err(e) => Discovery {
            models: suggested,
            base_url: None,
            provider: Some(p.id.into()),
            error: Some(discovery_error(&e)),
        },
    })
}

pub async fn trigger(db: &Db, user_id: &str, kind: TriggerKind) -> SettingsResult<String> {
    let uid = user_id.to_string();
    let value = db.read(move |c| sql::trigger(c, &uid, kind)).await?;
    Ok(value.unwrap_or_else(|| TRIGGERS[0].to_string()))
}

pub async fn set_trigger(
    db: &Db,
    user_id: &str,
    kind: TriggerKind,
    value: &str,
) -> SettingsResult<String> {
    if !TRIGGERS.contains(&value) {
        return Err(SettingsError::BadTrigger);
    }
    let (uid, v) = (user_id.to_string(), value.to_string());
    db.write(move |tx| sql::set_trigger(tx, &uid, kind, &v))
        .await?;
    Ok(value.to_string())
}

/// GitHub preferences a PUT may carry.
#[derive(Debug, Clone, Default)]
pub struct GithubUpdate {
    pub installation_id: Option<Value>,
}

/// PUT `/settings/github`: nothing is ever linked here; with no GitHub App an
/// `installation_id` is refused (409 `github_claim_disabled`), anything else echoes the
/// defaults and stores nothing.
pub fn update_github(update: &GithubUpdate) -> SettingsResult<()> {
    match &update.installation_id {
        Some(v) if !v.is_null() => Err(SettingsError::GithubClaimDisabled),
        _ => Ok(()),
    }
}

/// What GET `/settings/gitlab` shows.
#[derive(Debug, Clone)]
pub struct GitlabView {
    pub instance_url: String,
    pub has_token: bool,
    pub has_webhook_secret: bool,
    /// Only on the save that generated it.
    pub webhook_secret: Option<String>,
}

pub const GITLAB_DEFAULT_URL: &str = "https://gitlab.com";

pub async fn gitlab(db: &Db, user_id: &str) -> SettingsResult<GitlabView> {
    let uid = user_id.to_string();
    let row = db.read(move |c| sql::gitlab(c, &uid)).await?;
    Ok(match row {
        None => GitlabView {
            instance_url: GITLAB_DEFAULT_URL.into(),
            has_token: false,
            has_webhook_secret: false,
            webhook_secret: None,
        },
        Some(r) => GitlabView {
            instance_url: r.instance_url,
            has_token: true,
            has_webhook_secret: r.webhook_secret.is_some(),
            webhook_secret: None,
        },
    })
}

/// What PUT `/settings/gitlab` carries.
#[derive(Debug, Clone)]
pub struct GitlabSave {
    pub instance_url: String,
    pub token: Plain,
    pub webhook_secret: Option<String>,
}

/// PUT `/settings/gitlab`: the URL through the GitLab guard, the token sealed (always
/// replaced), the webhook secret stored when sent, generated (and returned once) on first save.
pub async fn save_gitlab(
    db: &Db,
    clock: &Clock,
    sealer: &Sealer,
    out: &Outbound,
    user_id: &str,
    save: GitlabSave,
) -> SettingsResult<GitlabView> {
    let GitlabSave {
        instance_url,
        token,
        webhook_secret,
    } = save;
    let url = out
        .gitlab_guard()
        .check(&instance_url)
        .await
        .map_err(SettingsError::GitlabUrl)?
        .text;
    let sealed = sealer.seal(&token, &SealedTable::Gitlab.purpose(user_id));
    let (uid, now) = (user_id.to_string(), clock.now_string());
    let generated = {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let sent = webhook_secret.filter(|s| !s.is_empty());
    let instance_url = url.clone();
    let (shown, stored_secret) = db
        .write(move |tx| {
            let existing = sql::gitlab(tx, &uid)?;
            let (shown, secret) = match (sent, existing.and_then(|r| r.webhook_secret)) {
                (Some(s), _) => (None, Some(s)),
                (None, Some(old)) => (None, Some(old)),
                (None, None) => (Some(generated.clone()), Some(generated)),
            };
            let row = GitlabRow {
                instance_url: url.clone(),
                sealed_token: sealed,
                webhook_secret: secret.clone(),
            };
            sql::put_gitlab(tx, &uid, &row, &now)?;
            Ok::<_, DbError>((shown, secret))
        })
        .await?;
    Ok(GitlabView {
        instance_url,
        has_token: true,
        has_webhook_secret: stored_secret.is_some(),
        webhook_secret: shown,
    })
}

pub async fn delete_gitlab(db: &Db, user_id: &str) -> SettingsResult<()> {
    let uid = user_id.to_string();
    db.write(move |tx| sql::delete_gitlab(tx, &uid)).await?;
    Ok(())
}

/// Re-seals every stored secret from `old` to `new` in one transaction; returns how many.
/// Values `old` cannot open are left as they are and counted in the second number.
pub async fn reseal_all(db: &Db, old: Sealer, new: Sealer) -> Result<(usize, usize), DbError> {
    db.write(move |tx| {
        let mut done = 0;
        let mut unreadable = 0;
        for v in sql::sealed_values(tx)? {
            let purpose = v.table.purpose(&v.user_id);
            match old.open(&v.sealed, &purpose) {
                Ok(plain) => {
                    sql::replace_sealed(tx, v.table, &v.user_id, &new.seal(&plain, &purpose))?;
                    done += 1;
                }
                Err(_) => unreadable += 1,
            }
        }
        Ok((done, unreadable))
    })
    .await
}

/// Stored secrets the sealer cannot open (sealed under another install secret): for the
/// start-up warning after a restore without `secret.key`.
pub async fn unreadable_secrets(db: &Db, sealer: &Sealer) -> Result<usize, DbError> {
    let id = sealer.key_id().to_string();
    db.read(move |c| {
        Ok(sql::sealed_values(c)?
            .iter()
            .filter(|v| Sealer::key_id_of(&v.sealed) != Some(id.as_str()))
            .count())
    })
    .await
}
