//! Server-rendered HTML pages for people without the CLI: a shared conversation, its password
//! form, a handoff's summary. Self-contained (inline CSS, no script, nothing from another
//! host), `Cache-Control: no-store`, `X-Robots-Tag: noindex`, and a CSP that forbids anything
//! the page does not carry itself.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}\
header{border-bottom:1px solid #ddd;margin-bottom:1rem}h1{font-size:1.4rem;margin:.2rem 0}\
.meta{color:#666;font-size:.9rem}.msg{border:1px solid #e3e3e3;border-radius:8px;padding:.6rem .9rem;margin:.8rem 0}\
.role{font-weight:600;text-transform:capitalize;font-size:.85rem;color:#555}.user{background:#f5f9ff}\
.assistant{background:#fff}.tool{background:#fafafa}pre{background:#f4f4f4;padding:.6rem;border-radius:6px;\
overflow-x:auto;white-space:pre-wrap;word-break:break-word;font-size:.85rem}details summary{cursor:pointer;color:#555}\
form{margin:2rem 0}input{font-size:1rem;padding:.4rem}button{font-size:1rem;padding:.4rem .9rem}.err{color:#b00020}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#666}";

/// Longest text shown for one block.
const BLOCK_CHARS: usize = 8000;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn cut(text: &str) -> String {
    if text.chars().count() <= BLOCK_CHARS {
        return text.to_string();
    }
    let mut s: String = text.chars().take(BLOCK_CHARS).collect();
    s.push_str("\n… (cut)");
    s
}

/// Text with fenced code blocks (```) shown as `<pre>`, the rest as paragraphs.
fn text_html(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in cut(text).split("```").enumerate() {
        if i % 2 == 1 {
            let code = part.split_once('\n').map(|(_, rest)| rest).unwrap_or(part);
            out.push_str(&format!("<pre><code>{}</code></pre>", escape(code)));
        } else {
            for para in part.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
                out.push_str(&format!("<p>{}</p>", escape(para).replace('\n', "<br>")));
            }
        }
    }
    out
}

fn block_html(block: &Value) -> String {
    let field = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    match field("type") {
        "text" => text_html(field("text")),
        "tool_use" => {
            let input = block
                .get("input")
                .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                .unwrap_or_default();
            format!(
                "<details open><summary>Tool call: {}</summary><pre>{}</pre></details>",
                escape(field("name")),
                escape(&cut(&input))
            )
        }
        "tool_result" => {
            let output = match block.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            format!(
                "<details><summary>Tool output</summary><pre>{}</pre></details>",
                escape(&cut(&output))
            )
        }
        _ => String::new(),
    }
}

fn message_html(message: &Value) -> String {
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("message");
    let class = match role {
        "user" | "assistant" | "tool" => role,
        _ => "tool",
    };
    let body = match message.get("content") {
        Some(Value::String(s)) => text_html(s),
        Some(Value::Array(blocks)) => blocks.iter().map(block_html).collect(),
        _ => String::new(),
    };
    if body.is_empty() {
        return String::new();
    }
    let when = message
        .get("timestamp")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!(
        "<div class=\"msg {class}\"><div class=\"role\">{} <span class=\"meta\">{}</span></div>{body}</div>",
        escape(role),
        escape(when)
    )
}

/// The facts shown at the top of a shared conversation.
pub struct ConversationHeader<'a> {
    pub title: &'a str,
    pub tool: &'a str,
    pub model: Option<&'a str>,
    pub created_at: &'a str,
    pub message_count: i64,
}

pub fn conversation(head: &ConversationHeader, messages: &[Value], shown_of: usize) -> String {
    let model = head
        .model
        .map(|m| format!(" · {}", escape(m)))
        .unwrap_or_default();
    let mut body = format!(
        "<header><h1>{}</h1><p class=\"meta\">{}{model} · {} messages · {}</p></header>",
        escape(head.title),
        escape(head.tool),
        head.message_count,
        escape(head.created_at)
    );
    for m in messages {
        body.push_str(&message_html(m));
    }
    if shown_of > messages.len() {
        body.push_str(&format!(
            "<p class=\"meta\">Showing the first {} of {shown_of} messages.</p>",
            messages.len()
        ));
    }
    document(head.title, &body)
}

pub fn password_form(action: &str, wrong: bool) -> String {
    let error = if wrong {
        "<p class=\"err\">That password is not right.</p>"
    } else {
        ""
    };
    let body = format!(
        "<header><h1>This shared session is protected</h1></header>{error}\
         <form method=\"post\" action=\"{}\"><label>Password <input type=\"password\" name=\"password\" autofocus></label> \
         <button type=\"submit\">Open</button></form>",
        escape(action)
    );
    document("Protected session", &body)
}

pub fn notice(title: &str, text: &str) -> String {
    document(
        title,
        &format!(
            "<header><h1>{}</h1></header><p>{}</p>",
            escape(title),
            escape(text)
        ),
    )
}

/// A definition list of label → value pairs (values already escaped HTML).
pub fn facts(title: &str, rows: &[(&str, String)], extra_html: &str) -> String {
    let items: String = rows
        .iter()
        .map(|(k, v)| format!("<dt>{}</dt><dd>{v}</dd>", escape(k)))
        .collect();
    document(
        title,
        &format!(
            "<header><h1>{}</h1></header><dl>{items}</dl>{extra_html}",
            escape(title)
        ),
    )
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\"><title>{}</title><style>{STYLE}</style></head>\
         <body>{body}</body></html>",
        escape(title)
    )
}

/// An HTML response with the headers every page carries.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_render_escaped_with_code_and_tools() {
        let m = json!({"role": "assistant", "content": [
            {"type": "text", "text": "Try <this>:\n```rust\nfn main() {}\n```"},
            {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}}]});
        let html = message_html(&m);
        assert!(html.contains("Try &lt;this&gt;:"));
        assert!(html.contains("<pre><code>fn main() {}\n</code></pre>"));
        assert!(html.contains("Tool call: Bash"));
        assert!(!html.contains("<this>"));
    }
}
