//! A session's conversation as markup: text with fenced code blocks, tool calls and their
//! results (folded when long), thinking folded. Every piece of message content is text to
//! maud, so markup, scripts and `javascript:` links in a message render as inert text; no link
//! is ever made from message content.

use maud::{html, Markup};
use serde_json::Value;

/// Longest text shown for one block; the rest is cut with a note.
const BLOCK_CHARS: usize = 20_000;

fn cut(text: &str) -> (String, bool) {
    if text.chars().count() <= BLOCK_CHARS {
        return (text.to_string(), false);
    }
    (text.chars().take(BLOCK_CHARS).collect(), true)
}

/// Text with ``` fences shown as code blocks (the fence's language as a label).
fn text(text: &str) -> Markup {
    let (text, was_cut) = cut(text);
    html! {
        @for (i, part) in text.split("```").enumerate() {
            @if i % 2 == 1 {
                @let (lang, code) = part.split_once('\n').unwrap_or(("", part));
                figure.code {
                    @if !lang.trim().is_empty() { figcaption { (lang.trim()) } }
                    pre { code { (code) } }
                }
            } @else {
                @for para in part.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
                    p.text { (para) }
                }
            }
        }
        @if was_cut { p.meta { "… (cut: the block is longer than " (BLOCK_CHARS) " characters)" } }
    }
}

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn tool_output(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => pretty(other),
        None => String::new(),
    }
}

fn block(b: &Value) -> Markup {
    let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
    match field("type") {
        "text" => text(field("text")),
        "thinking" | "redacted_thinking" => {
            let body = if field("thinking").is_empty() {
                field("text")
            } else {
                field("thinking")
            };
            let (body, _) = cut(body);
            html! { details.thinking { summary { "Thinking" } pre { (body) } } }
        }
        "tool_use" => {
            let (input, _) = cut(&b.get("input").map(pretty).unwrap_or_default());
            html! {
                details.tool open {
                    summary { "Tool call: " code { (field("name")) } }
                    pre { code { (input) } }
                }
            }
        }
        "tool_result" => {
            let (output, _) = cut(&tool_output(b.get("content")));
            let error = b.get("is_error").and_then(Value::as_bool) == Some(true);
            html! {
                details.tool {
                    summary { @if error { "Tool error" } @else { "Tool result" } " (" (output.lines().count()) " lines)" }
                    pre { code { (output) } }
                }
            }
        }
        "image" => html! { p.meta { "[image]" } },
        _ => html! {},
    }
}

/// One message, numbered by its index in the session.
pub fn message(index: usize, m: &Value) -> Markup {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("message");
    let class = match role {
        "user" | "assistant" | "system" => role,
        _ => "tool",
    };
    let when = m.get("timestamp").and_then(Value::as_str).unwrap_or("");
    html! {
        article class=(format!("msg {class}")) id=(format!("m{index}")) {
            header.msg-head {
                span.role { (role) }
                span.meta { "#" (index) @if !when.is_empty() { " · " (crate::web::layout::when(when)) } }
            }
            @match m.get("content") {
                Some(Value::String(s)) => (text(s)),
                Some(Value::Array(blocks)) => { @for b in blocks { (block(b)) } },
                _ => {},
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostile_content_is_inert() {
        let m = json!({"role": "user", "content": [
            {"type": "text", "text": "<script>alert(1)</script> [x](javascript:alert(1)) <a href=\"javascript:x\">y</a>"},
            {"type": "thinking", "thinking": "<img src=x onerror=alert(1)>"},
            {"type": "tool_use", "name": "<b>Bash</b>", "input": {"command": "</pre><script>"}}]});
        let html = message(3, &m).into_string();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<a href"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<details class=\"thinking\">"));
    }

    #[test]
    fn code_fences_become_code_blocks() {
        let html = message(
            0,
            &json!({"role": "assistant", "content": "Run:\n```sh\nls -la\n```\ndone"}),
        )
        .into_string();
        assert!(html.contains("<figcaption>sh</figcaption><pre><code>ls -la\n</code></pre>"));
    }
}
