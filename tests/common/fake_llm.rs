//! A fake LLM provider on loopback (127.0.0.1 only): OpenAI-compatible chat completions
//! (plain and streamed), the Anthropic Messages API, and model lists; switchable to answer
//! slowly, with an error status, a redirect, an oversized body, an HTML page, or to hold every
//! chat request until released. Records what it was sent (paths, auth headers, bodies).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub enum Mode {
    /// Answer every chat request with this text.
    Answer(String),
    /// Answer with this status and body.
    Status(u16, String),
    /// Answer after this long.
    Slow(Duration),
    /// 307 to this location.
    Redirect(String),
    /// A body of this many bytes.
    Oversized(usize),
    /// An HTML page (not an API).
    Html,
    /// Hold chat requests until `release()`; `held()` resolves when one arrives.
    Hold,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    pub body: Value,
}

struct Inner {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
    release: Notify,
}

#[derive(Clone)]
pub struct FakeLlm {
    /// `http://127.0.0.1:<port>`: the provider root (chat under `/v1`).
    pub root: String,
    inner: Arc<Inner>,
}

impl FakeLlm {
    pub async fn start(answer: &str) -> FakeLlm {
        let inner = Arc::new(Inner {
            mode: Mutex::new(Mode::Answer(answer.to_string())),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            release: Notify::new(),
        });
        // Any prefix: `<anything>/chat/completions`, `<anything>/messages`, `<anything>/models`.
        let app = Router::new().fallback(dispatch).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm { root, inner }
    }

    /// The OpenAI-compatible base URL (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.root)
    }

    pub fn set(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Chat requests (completions and messages) received.
    pub fn chats(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/chat/completions") || r.path.ends_with("/messages"))
            .collect()
    }

    /// Resolves once a chat request is being held (mode [`Mode::Hold`]).
    pub async fn held(&self) {
        self.inner.arrived.notified().await
    }

    pub fn release(&self) {
        self.inner.release.notify_waiters();
    }
}

fn record(inner: &Inner, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    inner.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        authorization: h("authorization"),
        x_api_key: h("x-api-key"),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
}

async fn special(inner: &Inner, mode: &Mode) -> Option<Response> {
    match mode {
        Mode::Answer(_) => None,
        Mode::Status(code, body) => Some(
            (
                StatusCode::from_u16(*code).unwrap(),
                [("content-type", "application/json")],
                body.clone(),
            )
                .into_response(),
        ),
        Mode::Slow(d) => {
            tokio::time::sleep(*d).await;
            None
        }
        Mode::Redirect(to) => Some(
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", to.as_str())],
                "",
            )
                .into_response(),
        ),
        Mode::Oversized(n) => Some(
            (
                [("content-type", "application/json")],
                format!("{{\"pad\":\"{}\"}}", "x".repeat(*n)),
            )
                .into_response(),
        ),
        Mode::Html => Some(
            (
                [("content-type", "text/html")],
                "<html><body>Welcome to nginx!</body></html>",
            )
                .into_response(),
        ),
        Mode::Hold => {
            let released = inner.release.notified();
            inner.arrived.notify_one();
            released.await;
            None
        }
    }
}

async fn chat(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, &uri, &headers, &body);
    let mode = inner.mode.lock().unwrap().clone();
    if let Some(r) = special(&inner, &mode).await {
        return r;
    }
    let answer = match &*inner.mode.lock().unwrap() {
        Mode::Answer(a) => a.clone(),
        _ => "[]".to_string(),
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if uri.path().ends_with("/messages") {
        return axum::Json(json!({
            "id": "msg_fake", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": answer}],
        }))
        .into_response();
    }
    if request["stream"] == true {
        let chunk =
            json!({"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {"content": "ok"}}]});
        let text = format!("data: {chunk}\n\ndata: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], text).into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
    }))
    .into_response()
}

async fn models(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap) -> Response {
    record(&inner, &uri, &headers, b"");
    let mode = inner.mode.lock().unwrap().clone();
    if let Some(r) = special(&inner, &mode).await {
        return r;
    }
    axum::Json(json!({"object": "list", "data": [
        {"id": "llama3", "owned_by": "local"},
        {"id": "qwen2.5-coder", "owned_by": "local"},
    ]}))
    .into_response()
}

async fn dispatch(
    State(inner): State<Arc<Inner>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if method == axum::http::Method::POST
        && (path.ends_with("/chat/completions") || path.ends_with("/messages"))
    {
        return chat(State(inner), uri, headers, body).await;
    }
    if method == axum::http::Method::GET && path.ends_with("/models") {
        return models(State(inner), uri, headers).await;
    }
    record(&inner, &uri, &headers, &body);
    (StatusCode::NOT_FOUND, "not found").into_response()
}
