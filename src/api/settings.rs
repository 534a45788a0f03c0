//! `/api/v1/settings/*` (contract 03 §6) and the provider registry: per user, user keys only.
//! Stored keys and tokens are never returned (`key_set`, `has_token` only).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::extract::{Json, OptionalJson, QueryPairs};
use crate::auth::Principal;
use crate::db::settings::TriggerKind;
use crate::domain::settings::{self, Discovery, JudgeSave, JudgeView};
use crate::error::{ApiError, ApiResult};
use crate::llm::{providers, ModelInfo};
use crate::secrets::Plain;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_judge, put_judge, delete_judge))
        .routes(routes!(get_models, post_models))
        .routes(routes!(get_audit_trigger, put_audit_trigger))
        .routes(routes!(get_summarize_trigger, put_summarize_trigger))
        .routes(routes!(get_github, put_github))
        .routes(routes!(get_gitlab, put_gitlab, delete_gitlab))
        .routes(routes!(list_providers))
}

/// The caller's judge settings; the key itself is never shown.
#[derive(Serialize, ToSchema)]
pub struct JudgeSettings {
    pub provider: String,
    pub model: String,
    /// Whether a key is stored.
    pub key_set: bool,
    pub base_url: Option<String>,
}

impl From<JudgeView> for JudgeSettings {
    fn from(v: JudgeView) -> Self {
        JudgeSettings {
            provider: v.provider,
            model: v.model,
            key_set: v.key_set,
            base_url: v.base_url,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/settings/judge", tag = "settings", operation_id = "get_judge_settings",
    summary = "The caller's judge settings",
    responses((status = 200, description = "Provider, model, whether a key is stored, base URL", body = JudgeSettings)),
)]
async fn get_judge(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<JudgeSettings>> {
    Ok(Json(
        settings::judge(&state.db, &principal.user.id).await?.into(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct JudgeSettingsRequest {
    /// A registry id (`anthropic`, `openai`, …), or any label with a `base_url`.
    pub provider: String,
    pub model: String,
    /// Empty keeps the stored key.
    #[serde(default)]
    pub api_key: String,
    /// An OpenAI-compatible endpoint (e.g. `http://127.0.0.1:11434/v1` for Ollama, which needs
    /// `--llm-allow-private-hosts`).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// A save-time outcome that did not block the save.
#[derive(Serialize, ToSchema)]
pub struct SettingsWarning {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct JudgeSaved {
    pub provider: String,
    pub model: String,
    pub key_set: bool,
    pub base_url: Option<String>,
    pub warnings: Vec<SettingsWarning>,
}

#[utoipa::path(
    put, path = "/api/v1/settings/judge", tag = "settings", operation_id = "put_judge_settings",
    summary = "Save the caller's judge settings",
    description = "A new or changed `base_url`, or a sent `api_key`, is checked first with one short \
        chat request (10 a minute per user; past that the save carries the warning \
        `connection_not_checked`). Refused with 422 `endpoint_blocked`, `invalid_key` or \
        `endpoint_not_api`; other failures save with a warning. An empty `api_key` keeps the \
        stored key.",
    request_body = JudgeSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = JudgeSaved),
        (status = 400, description = "`base_url` refused by the URL guard"),
        (status = 422, description = "`unknown_provider`, a failed save-time check, or a bad body"),
    ),
)]
async fn put_judge(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<JudgeSettingsRequest>,
) -> ApiResult<Json<JudgeSaved>> {
    let save = JudgeSave {
        provider: body.provider,
        model: body.model,
        api_key: Plain::new(body.api_key),
        base_url: body.base_url,
    };
    let (view, warnings) = settings::save_judge(
        &state.db,
        &state.clock,
        &state.sealer,
        &state.llm,
        &principal.user.id,
        save,
    )
    .await?;
    Ok(Json(JudgeSaved {
        provider: view.provider,
        model: view.model,
        key_set: view.key_set,
        base_url: view.base_url,
        warnings: warnings
            .into_iter()
            .map(|w| SettingsWarning {
                code: w.code.to_string(),
                message: w.message,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

#[utoipa::path(
    delete, path = "/api/v1/settings/judge", tag = "settings", operation_id = "delete_judge_settings",
    summary = "Clear the caller's judge settings (and stored key)",
    responses((status = 200, description = "`deleted: true`, also when there was nothing", body = Deleted)),
)]
async fn delete_judge(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Deleted>> {
    settings::delete_judge(&state.db, &principal.user.id).await?;
    Ok(Json(Deleted { deleted: true }))
}

/// Discovered models.
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The URL asked (absent when discovery failed).
    pub base_url: Option<String>,
    /// Why discovery failed (`Endpoint returned 401`, `Connection timed out`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Discovery> for ModelList {
    fn from(d: Discovery) -> Self {
        ModelList {
            models: d.models,
            provider: d.provider,
            base_url: d.base_url,
            error: d.error,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/settings/judge/models", tag = "settings", operation_id = "discover_models",
    summary = "Models of a custom OpenAI-compatible endpoint",
    description = "`base_url` is checked by the URL guard. The saved key is sent only when the saved \
        `base_url` is this one. An upstream failure is still 200, with `models: []` and `error`.",
    params(("base_url" = String, Query, description = "The endpoint, e.g. `http://127.0.0.1:11434/v1`")),
    responses(
        (status = 200, description = "The models (or why there are none)", body = ModelList),
        (status = 400, description = "No `base_url`, a refused one, or an `api_key` in the query"),
    ),
)]
async fn get_models(
    State(state): State<AppState>,
    principal: Principal,
    query: QueryPairs,
) -> ApiResult<Json<ModelList>> {
    if query.last("api_key").is_some() {
        return Err(settings::SettingsError::KeyInQuery.into());
    }
    let base_url = query.last("base_url").unwrap_or("").to_string();
    if base_url.len() > crate::llm::guard::MAX_URL_LEN {
        return Err(ApiError::validation(
            "string_too_long",
            &["query", "base_url"],
            "String should have at most 500 characters",
            Value::Null,
        ));
    }
    let found = settings::discover_custom(
        &state.db,
        &state.sealer,
        &state.llm,
        &principal.user.id,
        &base_url,
        Plain::default(),
    )
    .await?;
    Ok(Json(found.into()))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct DiscoverRequest {
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub provider: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/settings/judge/models", tag = "settings", operation_id = "discover_models_post",
    summary = "Models of a registry provider or a custom endpoint, with a key in the body",
    description = "With `provider`: that provider's models endpoint (its suggested models when \
        discovery fails, with `error`). Without: as the GET route, with the body's key.",
    request_body = DiscoverRequest,
    responses(
        (status = 200, description = "The models", body = ModelList),
        (status = 400, description = "No `base_url`, or a refused one"),
        (status = 422, description = "`unknown_provider`, or a field too long"),
    ),
)]
async fn post_models(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<DiscoverRequest>,
) -> ApiResult<Json<ModelList>> {
    for (field, value, max) in [
        ("base_url", &body.base_url, 500),
        ("api_key", &body.api_key, 4096),
        ("provider", &body.provider.clone().unwrap_or_default(), 32),
    ] {
        if value.chars().count() > max {
            return Err(ApiError::validation(
                "string_too_long",
                &["body", field],
                format!("String should have at most {max} characters"),
                Value::Null,
            ));
        }
    }
    let key = Plain::new(body.api_key);
    let (db, sealer, llm, uid) = (&state.db, &state.sealer, &state.llm, &principal.user.id);
    let found = match body.provider.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => settings::discover_provider(db, sealer, llm, uid, p, key).await?,
        None => settings::discover_custom(db, sealer, llm, uid, &body.base_url, key).await?,
    };
    Ok(Json(found.into()))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Trigger {
    /// `manual`, `on_sync` or `on_pr`.
    pub trigger: String,
}

/// The caller's `kind` trigger.
async fn get_trigger(
    state: &AppState,
    principal: &Principal,
    kind: TriggerKind,
) -> ApiResult<Json<Trigger>> {
    let trigger = settings::trigger(&state.db, &principal.user.id, kind).await?;
    Ok(Json(Trigger { trigger }))
}

/// Sets the caller's `kind` trigger; answers the one now in force.
async fn put_trigger(
    state: &AppState,
    principal: &Principal,
    kind: TriggerKind,
    body: Trigger,
) -> ApiResult<Json<Trigger>> {
    let trigger = settings::set_trigger(&state.db, &principal.user.id, kind, &body.trigger).await?;
    Ok(Json(Trigger { trigger }))
}

#[utoipa::path(
    get, path = "/api/v1/settings/audit-trigger", tag = "settings", operation_id = "get_audit_trigger",
    summary = "When the caller's sessions are audited",
    description = "The daemon polls this every minute; with `on_sync` it asks for an audit after each upload.",
    responses((status = 200, description = "`manual` (default), `on_sync` or `on_pr`", body = Trigger)),
)]
async fn get_audit_trigger(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Trigger>> {
    get_trigger(&state, &principal, TriggerKind::Audit).await
}

#[utoipa::path(
    put, path = "/api/v1/settings/audit-trigger", tag = "settings", operation_id = "put_audit_trigger",
    summary = "Set when the caller's sessions are audited",
    request_body = Trigger,
    responses(
        (status = 200, description = "The trigger now in force", body = Trigger),
        (status = 400, description = "Not `manual`, `on_sync` or `on_pr`"),
    ),
)]
async fn put_audit_trigger(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Trigger>,
) -> ApiResult<Json<Trigger>> {
    put_trigger(&state, &principal, TriggerKind::Audit, body).await
}

#[utoipa::path(
    get, path = "/api/v1/settings/summarize-trigger", tag = "settings", operation_id = "get_summarize_trigger",
    summary = "When the caller's sessions are summarized",
    responses((status = 200, description = "`manual` (default), `on_sync` or `on_pr`", body = Trigger)),
)]
async fn get_summarize_trigger(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Trigger>> {
    get_trigger(&state, &principal, TriggerKind::Summarize).await
}

#[utoipa::path(
    put, path = "/api/v1/settings/summarize-trigger", tag = "settings", operation_id = "put_summarize_trigger",
    summary = "Set when the caller's sessions are summarized",
    request_body = Trigger,
    responses(
        (status = 200, description = "The trigger now in force", body = Trigger),
        (status = 400, description = "Not `manual`, `on_sync` or `on_pr`"),
    ),
)]
async fn put_summarize_trigger(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Trigger>,
) -> ApiResult<Json<Trigger>> {
    put_trigger(&state, &principal, TriggerKind::Summarize, body).await
}

/// GitHub integration settings. This server has no GitHub App, so nothing is ever linked:
/// the defaults, with `claim_available` and `install_available` false.
#[derive(Serialize, ToSchema)]
pub struct GithubSettings {
    pub installation_id: Option<i64>,
    pub account_login: Option<String>,
    pub account_type: Option<String>,
    pub auto_comment: bool,
    pub include_trust_score: bool,
    pub include_session_links: bool,
    pub ownership_verified: Option<bool>,
    pub needs_reverification: Option<bool>,
    pub claim_verified_github_login: Option<String>,
    pub claim_role: Option<String>,
    pub repo_verification_active: Option<bool>,
    pub proof_stale: Option<bool>,
    pub claim_available: bool,
    pub install_available: bool,
}

fn github_defaults() -> GithubSettings {
    GithubSettings {
        installation_id: None,
        account_login: None,
        account_type: None,
        auto_comment: true,
        include_trust_score: true,
        include_session_links: true,
        ownership_verified: None,
        needs_reverification: None,
        claim_verified_github_login: None,
        claim_role: None,
        repo_verification_active: None,
        proof_stale: None,
        claim_available: false,
        install_available: false,
    }
}

#[utoipa::path(
    get, path = "/api/v1/settings/github", tag = "settings", operation_id = "get_github_settings",
    summary = "GitHub integration settings (inert: no GitHub App on this server)",
    responses((status = 200, description = "The defaults; `claim_available` false", body = GithubSettings)),
)]
async fn get_github(_principal: Principal) -> Json<GithubSettings> {
    Json(github_defaults())
}

#[derive(Deserialize, ToSchema, Default)]
pub struct GithubUpdateRequest {
    pub auto_comment: Option<bool>,
    pub include_trust_score: Option<bool>,
    pub include_session_links: Option<bool>,
    /// Legacy: linking needs the GitHub App OAuth flow, which this server does not have.
    #[schema(value_type = Option<i64>)]
    pub installation_id: Option<Value>,
}

#[utoipa::path(
    put, path = "/api/v1/settings/github", tag = "settings", operation_id = "put_github_settings",
    summary = "Update GitHub preferences (nothing is linked on this server)",
    description = "With nothing linked the defaults are echoed and nothing is stored; an \
        `installation_id` is refused with 409 `github_claim_disabled`.",
    request_body = GithubUpdateRequest,
    responses(
        (status = 200, description = "The defaults", body = GithubSettings),
        (status = 409, description = "`github_claim_disabled`: no GitHub App configured"),
    ),
)]
async fn put_github(
    _principal: Principal,
    OptionalJson(body): OptionalJson<GithubUpdateRequest>,
) -> ApiResult<Json<GithubSettings>> {
    settings::update_github(&settings::GithubUpdate {
        installation_id: body.installation_id,
    })?;
    Ok(Json(github_defaults()))
}

#[derive(Serialize, ToSchema)]
pub struct GitlabSettings {
    pub instance_url: String,
    pub has_token: bool,
    pub has_webhook_secret: bool,
    /// Only in the answer to the save that generated it.
    pub webhook_secret: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/settings/gitlab", tag = "settings", operation_id = "get_gitlab_settings",
    summary = "GitLab integration settings",
    responses((status = 200, description = "The instance URL and whether a token and webhook secret are stored", body = GitlabSettings)),
)]
async fn get_gitlab(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<GitlabSettings>> {
    let v = settings::gitlab(&state.db, &principal.user.id).await?;
    Ok(Json(GitlabSettings {
        instance_url: v.instance_url,
        has_token: v.has_token,
        has_webhook_secret: v.has_webhook_secret,
        webhook_secret: v.webhook_secret,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct GitlabRequest {
    #[serde(default = "default_gitlab_url")]
    pub instance_url: String,
    pub access_token: String,
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

fn default_gitlab_url() -> String {
    settings::GITLAB_DEFAULT_URL.to_string()
}

#[utoipa::path(
    put, path = "/api/v1/settings/gitlab", tag = "settings", operation_id = "put_gitlab_settings",
    summary = "Save GitLab settings",
    description = "The URL passes the GitLab guard (private hosts need `--gitlab-allow-private-hosts`). \
        The token is encrypted and always replaced. Without `webhook_secret`, the first save \
        generates one and returns it once.",
    request_body = GitlabRequest,
    responses(
        (status = 200, description = "Saved", body = GitlabSettings),
        (status = 422, description = "`invalid_gitlab_instance_url`, or a bad body"),
    ),
)]
async fn put_gitlab(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<GitlabRequest>,
) -> ApiResult<Json<GitlabSettings>> {
    let v = settings::save_gitlab(
        &state.db,
        &state.clock,
        &state.sealer,
        &state.llm,
        &principal.user.id,
        settings::GitlabSave {
            instance_url: body.instance_url,
            token: Plain::new(body.access_token),
            webhook_secret: body.webhook_secret,
        },
    )
    .await?;
    Ok(Json(GitlabSettings {
        instance_url: v.instance_url,
        has_token: v.has_token,
        has_webhook_secret: v.has_webhook_secret,
        webhook_secret: v.webhook_secret,
    }))
}

#[utoipa::path(
    delete, path = "/api/v1/settings/gitlab", tag = "settings", operation_id = "delete_gitlab_settings",
    summary = "Remove the GitLab integration",
    responses((status = 204, description = "Removed")),
)]
async fn delete_gitlab(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    settings::delete_gitlab(&state.db, &principal.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    /// `openai` (chat/completions), `anthropic` or `google`.
    pub style: String,
    pub base_url: String,
    pub suggested_models: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderInfo>,
}

#[utoipa::path(
    get, path = "/api/v1/llm/providers", tag = "settings", operation_id = "list_llm_providers",
    summary = "The LLM provider registry (for pickers)",
    responses((status = 200, description = "Every provider the judge knows", body = ProviderList)),
)]
async fn list_providers(_principal: Principal) -> Json<ProviderList> {
    Json(ProviderList {
        providers: providers::REGISTRY
            .iter()
            .map(|p| ProviderInfo {
                id: p.id.into(),
                name: p.name.into(),
                style: match p.style {
                    providers::Style::OpenAi => "openai",
                    providers::Style::Anthropic => "anthropic",
                    providers::Style::Google => "google",
                }
                .into(),
                base_url: p.base_url.into(),
                suggested_models: p.suggested.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    })
}
