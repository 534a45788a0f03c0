//! The outbound LLM client: OpenAI-compatible, Anthropic and Gemini endpoints over `reqwest`
//! with rustls. Optional: nothing in the server needs a model to work.
//!
//! **The one entry point** other code uses (the judge, compile with `llm_api_key`):
//!
//! ```ignore
//! let answer: String = llm::complete(&LlmRequest {
//!     provider: "openai".into(),          // a registry id, or any label with a base_url
//!     model: "gpt-4.1".into(),
//!     api_key: Plain::new(key),           // may be empty for a local model
//!     base_url: Some("http://127.0.0.1:11434/v1".into()), // None: the provider's endpoint
//!     system: "…".into(),
//!     user: "…".into(),
//!     max_tokens: 4096,
//! }, &state.llm).await?;                 // state.llm: Outbound (client + URL guard)
//! ```
//!
//! A custom `base_url` is always spoken to in the OpenAI-compatible format
//! (`POST <base>/chat/completions`); without one the registry decides (`providers`).
//! [`LlmError`] says what went wrong, never with the key in it.
//!
//! **Safety of every request** (contract 03 §6.2):
//! - the URL guard runs before every request ([`guard::Guard::check_form`]), and the client's
//!   DNS resolver *is* the guard: the connection goes only to addresses that lookup checked
//!   (no second lookup a rebinding attacker could answer differently);
//! - redirects are never followed, proxies from the environment are not used;
//! - timeouts (connect 10 s; a completion 120 s, discovery and connection tests 15 s);
//! - response bodies are read up to a cap (4 MiB for a completion, 2 MiB for a model list);
//! - the key goes only in a request header; upstream bodies quoted in errors have it removed.
//!
//! Retries only where safe: once without `temperature`/reasoning when a 400/422 names them as
//! unsupported (remembered per URL and model), and model discovery once at `<base>/models`
//! after a 404. Nothing else is retried.

pub mod guard;
pub mod providers;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::secrets::Plain;
use guard::{Guard, GuardError, GuardRefused, Resolver, SystemResolver, UrlKind};
use providers::{Provider, Style, TokenField};

pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(120);
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
pub const COMPLETION_BODY_CAP: usize = 4 * 1024 * 1024;
pub const MODELS_BODY_CAP: usize = 2 * 1024 * 1024;
/// Save-time connection checks one user may make per minute.
pub const PROBES_PER_MINUTE: u32 = 10;

/// One chat completion to ask for.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    pub provider: String,
    pub model: String,
    pub api_key: Plain,
    pub base_url: Option<String>,
    pub system: String,
    pub user: String,
    pub max_tokens: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the endpoint was refused: {0}")]
    Blocked(GuardError),
    #[error("unknown provider '{0}'")]
    UnknownProvider(String),
    #[error("the endpoint timed out")]
    Timeout,
    #[error("could not connect to the endpoint: {0}")]
    Connect(String),
    /// A non-2xx answer; `body` is its first 500 characters (key removed).
    #[error("the endpoint returned {status}")]
    Status { status: u16, body: String },
    /// A 2xx answer that is not the API's shape (an HTML page, a JSON without choices…).
    #[error("the endpoint did not answer as a chat API")]
    NotApi,
    #[error("the endpoint's answer is larger than {0} bytes")]
    TooLarge(usize),
    /// A redirect, which is never followed.
    #[error("the endpoint answered with a redirect (not followed)")]
    Redirect(u16),
}

/// The HTTP clients and guards for outbound calls. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    llm: Guard,
    gitlab: Guard,
    client: reqwest::Client,
    /// The operator's judge URL (`--judge-base-url`): may be private without the flag.
    operator_url: Option<String>,
    operator_client: Option<(Guard, reqwest::Client)>,
    /// Test seam: every registry provider's endpoint on this root instead of its public host.
    pub registry_override: Option<String>,
    /// (url, model) pairs that refused `temperature`/reasoning once.
    no_temperature: Arc<Mutex<HashSet<(String, String)>>>,
    completion_timeout: Duration,
    probe_timeout: Duration,
    /// Save-time connection checks per user: 10 a minute.
    probes: Arc<governor::DefaultKeyedRateLimiter<String>>,
}

/// What configures [`Outbound`].
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// A completion's whole exchange (120 s).
    pub completion_timeout: Duration,
    /// A connection test or a model list (15 s).
    pub probe_timeout: Duration,
    pub llm_allow_private_hosts: bool,
    pub gitlab_allow_private_hosts: bool,
    pub judge_base_url: Option<String>,
    pub registry_override: Option<String>,
    /// Tests: refuse every non-loopback address whatever the flags say.
    pub loopback_only: bool,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            completion_timeout: COMPLETION_TIMEOUT,
            probe_timeout: PROBE_TIMEOUT,
            llm_allow_private_hosts: false,
            gitlab_allow_private_hosts: false,
            judge_base_url: None,
            registry_override: None,
            loopback_only: false,
        }
    }
}

fn build_client(guard: &Guard) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(guard.clone()))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("sessionfs-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("build the outbound HTTP client")
}

impl Outbound {
    pub fn new(config: &OutboundConfig) -> Outbound {
        Outbound::with_resolver(config, Arc::new(SystemResolver))
    }

    /// With a resolver of the caller's (tests pass a double).
    pub fn with_resolver(config: &OutboundConfig, resolver: Arc<dyn Resolver>) -> Outbound {
        let mut llm = Guard::new(
            UrlKind::Llm,
            config.llm_allow_private_hosts,
            resolver.clone(),
        );
        let mut gitlab = Guard::new(
            UrlKind::Gitlab,
            config.gitlab_allow_private_hosts,
            resolver.clone(),
        );
        llm.loopback_only = config.loopback_only;
        gitlab.loopback_only = config.loopback_only;
        let operator_url = config
            .judge_base_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty());
        let operator_client = operator_url.as_ref().map(|_| {
            let mut g = Guard::new(UrlKind::Llm, true, resolver.clone());
            g.loopback_only = config.loopback_only;
            let c = build_client(&g);
            (g, c)
        });
        Outbound {
            client: build_client(&llm),
            llm,
            gitlab,
            operator_url,
            operator_client,
            registry_override: config
                .registry_override
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
            no_temperature: Arc::default(),
            completion_timeout: config.completion_timeout,
            probe_timeout: config.probe_timeout,
            probes: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                std::num::NonZeroU32::new(PROBES_PER_MINUTE).expect("non-zero"),
            ))),
        }
    }

    /// Takes one of the user's save-time connection checks; `false` past 10 a minute.
    pub fn allow_probe(&self, user_id: &str) -> bool {
        self.probes.check_key(&user_id.to_string()).is_ok()
    }

    pub fn llm_guard(&self) -> &Guard {
        &self.llm
    }

    pub fn gitlab_guard(&self) -> &Guard {
        &self.gitlab
    }

    /// The operator's judge base URL (`--judge-base-url`), if set.
    pub fn operator_url(&self) -> Option<&str> {
        self.operator_url.as_deref()
    }

    /// The save-time check of a user's LLM base URL (form and lookup). The operator's own URL
    /// passes with private addresses allowed.
    pub async fn check_llm_url(&self, url: &str) -> Result<String, GuardError> {
        let (guard, _) = self.pick(url);
        guard.check(url).await.map(|c| c.text)
    }

    fn pick(&self, url: &str) -> (&Guard, &reqwest::Client) {
        match (&self.operator_url, &self.operator_client) {
            // The operator's URL, or a path under it (its `/chat/completions`, `/models`).
            (Some(op), Some((g, c)))
                if url.trim_end_matches('/') == op.as_str()
                    || url.starts_with(&format!("{op}/")) =>
            {
                (g, c)
            }
            _ => (&self.llm, &self.client),
        }
    }

    /// The endpoint URL of a registry provider (or its test override).
    fn registry_base(&self, p: &Provider) -> String {
        match &self.registry_override {
            None => p.base_url.to_string(),
            Some(root) => match p.style {
                Style::Anthropic => format!("{root}/v1/messages"),
                Style::Google => format!("{root}/v1beta"),
                Style::OpenAi => format!("{root}/v1"),
            },
        }
    }

    /// Sends `build(client)` to `url` after the guard's form check, reading at most `cap`
    /// bytes of the answer. Returns the status and body.
    async fn send(
        &self,
        url: &str,
        timeout: Duration,
        cap: usize,
        build: impl FnOnce(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>, bool), LlmError> {
        let (guard, client) = self.pick(url);
        let checked = guard.check_form(url).map_err(LlmError::Blocked)?;
        let exchange = async {
            let response = build(client, checked.url).send().await.map_err(map_error)?;
            let status = response.status().as_u16();
            if response.status().is_redirection() {
                return Err(LlmError::Redirect(status));
            }
            let is_json_ish = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| !ct.starts_with("text/html"));
            let body = read_capped(response, cap).await?;
            Ok((status, body, is_json_ish))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| LlmError::Timeout)?
    }
}

/// Reads a body up to `cap` bytes; more is [`LlmError::TooLarge`].
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, LlmError> {
    if response.content_length().is_some_and(|n| n as usize > cap) {
        return Err(LlmError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(map_error)? {
        if body.len() + chunk.len() > cap {
            return Err(LlmError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error in our words; a guard refusal inside the resolver is told apart.
fn map_error(err: reqwest::Error) -> LlmError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(GuardRefused(g)) = e.downcast_ref::<GuardRefused>() {
            return LlmError::Blocked(g.clone());
        }
        source = e.source();
    }
    if err.is_timeout() {
        return LlmError::Timeout;
    }
    // The URL carries no secret (keys travel in headers), but keep only the cause.
    LlmError::Connect(err.without_url().to_string())
}

/// The first 500 characters of an upstream body, with `key` removed.
fn body_head(body: &[u8], key: &Plain) -> String {
    let mut text: String = String::from_utf8_lossy(body).chars().take(500).collect();
    if key.expose().len() >= 4 {
        text = text.replace(key.expose(), "[redacted]");
    }
    text
}

/// `<base>/chat/completions` unless the URL already ends with it.
pub fn chat_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        base.to_string()
    } else {
        format!("{base}/chat/completions")
    }
}

/// The answer of a chat completion: the model's text.
pub async fn complete(req: &LlmRequest, out: &Outbound) -> Result<String, LlmError> {
    let (style, url, provider) = match req.base_url.as_deref().filter(|u| !u.is_empty()) {
        Some(base) => (Style::OpenAi, chat_url(base), None),
        None => {
            let p = providers::find(&req.provider)
                .ok_or_else(|| LlmError::UnknownProvider(req.provider.clone()))?;
            let base = out.registry_base(p);
            let url = match p.style {
                Style::OpenAi => chat_url(&base),
                Style::Anthropic => base,
                Style::Google => format!("{base}/models/{}:generateContent", req.model),
            };
            (p.style, url, Some(p))
        }
    };
    match style {
        Style::OpenAi => openai_complete(req, out, &url, provider).await,
        Style::Anthropic => anthropic_complete(req, out, &url).await,
        Style::Google => google_complete(req, out, &url).await,
    }
}

fn openai_body(
    req: &LlmRequest,
    provider: Option<&Provider>,
    sampling: bool,
    stream: bool,
) -> Value {
    let token_field = match provider.map(|p| p.token_field) {
        Some(TokenField::MaxTokens) => "max_tokens",
        _ => "max_completion_tokens",
    };
    let mut body = json!({
        "model": req.model,
        "messages": [
            {"role": "system", "content": req.system},
            {"role": "user", "content": req.user},
        ],
    });
    body[token_field] = json!(req.max_tokens);
    if stream {
        body["stream"] = json!(true);
    }
    if sampling && !provider.is_some_and(|p| p.omit_temperature) {
        if providers::is_reasoning_model(&req.model) {
            if provider.is_some_and(|p| p.nested_reasoning) {
                body["reasoning"] = json!({"effort": "medium"});
            } else {
                body["reasoning_effort"] = json!("medium");
            }
        } else {
            body["temperature"] = json!(0);
        }
    }
    body
}

fn openai_request(
    client: &reqwest::Client,
    url: reqwest::Url,
    req: &LlmRequest,
    body: &Value,
    provider: Option<&Provider>,
) -> reqwest::RequestBuilder {
    let mut r = client.post(url).json(body);
    if !req.api_key.is_empty() {
        r = r.bearer_auth(req.api_key.expose());
    }
    if provider.is_some_and(|p| p.id == "openrouter") {
        r = r.header("X-Title", "sessionfs-server");
    }
    r
}

/// Does a 400/422 body say that temperature or reasoning is not supported?
fn refuses_sampling(status: u16, body: &[u8]) -> bool {
    if status != 400 && status != 422 {
        return false;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    ["temperature", "top_p", "reasoning"]
        .iter()
        .any(|w| text.contains(w))
}

async fn openai_complete(
    req: &LlmRequest,
    out: &Outbound,
    url: &str,
    provider: Option<&Provider>,
) -> Result<String, LlmError> {
    let memo = (url.to_string(), req.model.clone());
    let mut sampling = !out.no_temperature.lock().unwrap().contains(&memo);
    loop {
        let body = openai_body(req, provider, sampling, false);
        let (status, bytes, _) = out
            .send(url, out.completion_timeout, COMPLETION_BODY_CAP, |c, u| {
                openai_request(c, u, req, &body, provider)
            })
            .await?;
        if sampling && refuses_sampling(status, &bytes) {
            out.no_temperature.lock().unwrap().insert(memo.clone());
            sampling = false;
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(LlmError::Status {
                status,
                body: body_head(&bytes, &req.api_key),
            });
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| LlmError::NotApi)?;
        return match &v["choices"][0]["message"]["content"] {
            Value::String(s) => Ok(s.clone()),
            Value::Null if v["choices"].is_array() => Ok(String::new()),
            _ => Err(LlmError::NotApi),
        };
    }
}

async fn anthropic_complete(
    req: &LlmRequest,
    out: &Outbound,
    url: &str,
) -> Result<String, LlmError> {
    let body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens,
        "temperature": 0,
        "system": req.system,
        "messages": [{"role": "user", "content": req.user}],
    });
    let (status, bytes, _) = out
        .send(url, out.completion_timeout, COMPLETION_BODY_CAP, |c, u| {
            c.post(u)
                .header("x-api-key", req.api_key.expose())
                .header("anthropic-version", "2023-06-01")
                .json(&body)
        })
        .await?;
    if !(200..300).contains(&status) {
        return Err(LlmError::Status {
            status,
            body: body_head(&bytes, &req.api_key),
        });
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| LlmError::NotApi)?;
    let blocks = v["content"].as_array().ok_or(LlmError::NotApi)?;
    Ok(blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn google_complete(req: &LlmRequest, out: &Outbound, url: &str) -> Result<String, LlmError> {
    let body = json!({
        "system_instruction": {"parts": [{"text": req.system}]},
        "contents": [{"parts": [{"text": req.user}]}],
        "generationConfig": {"maxOutputTokens": req.max_tokens, "temperature": 0},
    });
    let (status, bytes, _) = out
        .send(url, out.completion_timeout, COMPLETION_BODY_CAP, |c, u| {
            c.post(u)
                .header("x-goog-api-key", req.api_key.expose())
                .json(&body)
        })
        .await?;
    if !(200..300).contains(&status) {
        return Err(LlmError::Status {
            status,
            body: body_head(&bytes, &req.api_key),
        });
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| LlmError::NotApi)?;
    let parts = v["candidates"][0]["content"]["parts"]
        .as_array()
        .ok_or(LlmError::NotApi)?;
    Ok(parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join(""))
}

/// The save-time connection check: one short streaming chat request ("reply ok" / `ping`,
/// 16 tokens). `Ok` when the endpoint answered as a chat API.
pub async fn test_chat(req: &LlmRequest, out: &Outbound) -> Result<(), LlmError> {
    let probe = LlmRequest {
        system: "You are a connection test. Reply with the single word ok.".into(),
        user: "ping".into(),
        max_tokens: 16,
        ..req.clone()
    };
    let custom = req.base_url.as_deref().filter(|u| !u.is_empty());
    let provider = match custom {
        Some(_) => None,
        None => Some(
            providers::find(&req.provider)
                .ok_or_else(|| LlmError::UnknownProvider(req.provider.clone()))?,
        ),
    };
    if provider.is_some_and(|p| p.style != Style::OpenAi) {
        // Anthropic and Gemini: a short plain completion is the test.
        let mut quick = probe;
        quick.max_tokens = 16;
        return complete(&quick, out).await.map(|_| ());
    }
    let url = match custom {
        Some(base) => chat_url(base),
        None => chat_url(&out.registry_base(provider.expect("a registry provider"))),
    };
    let body = openai_body(&probe, provider, false, true);
    let (status, bytes, json_ish) = out
        .send(&url, out.probe_timeout, 256 * 1024, |c, u| {
            openai_request(c, u, &probe, &body, provider)
        })
        .await?;
    if !(200..300).contains(&status) {
        return Err(LlmError::Status {
            status,
            body: body_head(&bytes, &req.api_key),
        });
    }
    if !json_ish || !looks_like_chat(&bytes) {
        return Err(LlmError::NotApi);
    }
    Ok(())
}

/// A streamed (`data: {...}` lines) or plain chat answer.
fn looks_like_chat(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let chunk_ok = |v: &Value| v.get("choices").is_some() || v.get("id").is_some();
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return chunk_ok(&v);
    }
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("data:"))
        .map(str::trim)
        .any(|d| d == "[DONE]" || serde_json::from_str::<Value>(d).is_ok_and(|v| chunk_ok(&v)))
}

/// One model of a discovery answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub id: String,
    pub owned_by: String,
}

/// The models URL of a custom base: `…/models` as is, `…/v1` + `/models`, else `/v1/models`.
pub fn models_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/models") {
        base.to_string()
    } else if base.ends_with("/v1") {
        format!("{base}/models")
    } else {
        format!("{base}/v1/models")
    }
}

/// Parses a model list: `data` or else `models`, first 1000 items.
pub fn parse_models(v: &Value) -> Option<Vec<ModelInfo>> {
    let list = v
        .get("data")
        .and_then(Value::as_array)
        .or_else(|| v.get("models").and_then(Value::as_array))?;
    Some(
        list.iter()
            .take(1000)
            .filter_map(|item| match item {
                Value::String(s) => Some(ModelInfo {
                    id: s.chars().take(200).collect(),
                    owned_by: String::new(),
                }),
                Value::Object(o) => {
                    let id = o
                        .get("id")
                        .or_else(|| o.get("model"))
                        .or_else(|| o.get("name"))
                        .and_then(Value::as_str)?;
                    Some(ModelInfo {
                        id: id.trim_start_matches("models/").chars().take(200).collect(),
                        owned_by: o
                            .get("owned_by")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    })
                }
                _ => None,
            })
            .collect(),
    )
}

/// Discovery from a custom OpenAI-compatible base URL (GET, 15 s, 2 MiB, retry once at
/// `<base>/models` after a 404).
pub async fn list_models(
    base: &str,
    key: &Plain,
    out: &Outbound,
) -> Result<Vec<ModelInfo>, LlmError> {
    let first = models_url(base);
    match fetch_models(&first, key, Style::OpenAi, out).await {
        Err(LlmError::Status { status: 404, .. }) => {
            let second = format!("{}/models", base.trim_end_matches('/'));
            if second == first {
                return Err(LlmError::Status {
                    status: 404,
                    body: String::new(),
                });
            }
            fetch_models(&second, key, Style::OpenAi, out).await
        }
        other => other,
    }
}

/// Discovery from a registry provider's models endpoint.
pub async fn list_provider_models(
    p: &Provider,
    key: &Plain,
    out: &Outbound,
) -> Result<(String, Vec<ModelInfo>), LlmError> {
    let base = out.registry_base(p);
    let url = match p.style {
        Style::Anthropic => format!("{}/models", base.trim_end_matches("/messages")),
        Style::Google | Style::OpenAi => format!("{base}/models"),
    };
    let models = fetch_models(&url, key, p.style, out).await?;
    Ok((url, models))
}

async fn fetch_models(
    url: &str,
    key: &Plain,
    style: Style,
    out: &Outbound,
) -> Result<Vec<ModelInfo>, LlmError> {
    let (status, bytes, _) = out
        .send(url, out.probe_timeout, MODELS_BODY_CAP, |c, u| {
            let r = c.get(u);
            match style {
                _ if key.is_empty() => r,
                Style::OpenAi => r.bearer_auth(key.expose()),
                Style::Anthropic => r
                    .header("x-api-key", key.expose())
                    .header("anthropic-version", "2023-06-01"),
                Style::Google => r.header("x-goog-api-key", key.expose()),
            }
        })
        .await?;
    if !(200..300).contains(&status) {
        return Err(LlmError::Status {
            status,
            body: body_head(&bytes, key),
        });
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| LlmError::NotApi)?;
    parse_models(&v).ok_or(LlmError::NotApi)
}

#[cfg(test)]
mod tests;
