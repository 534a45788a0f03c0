//! What the server keeps from an archive's manifest, workspace and messages (contract §4.4).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::line::{Content, Line};

/// Most text kept for search from one session's messages.
pub const MESSAGES_TEXT_CAP: usize = 100 * 1024;
const TITLE_CHARS: usize = 80;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    pub title: Option<String>,
    pub source_tool: String,
    pub source_tool_version: Option<String>,
    pub original_session_id: Option<String>,
    pub model_provider: Option<String>,
    pub model_id: Option<String>,
    pub message_count: i64,
    pub turn_count: i64,
    pub tool_use_count: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub duration_ms: Option<i64>,
    pub tags: Vec<String>,
    pub parent_session_id: Option<String>,
    pub persona_name: Option<String>,
    pub ticket_id: Option<String>,
    pub retrieval_audit_id: Option<String>,
    pub rules_source: String,
    pub rules_version: Option<String>,
    pub rules_hash: Option<String>,
    pub instruction_artifacts: Value,
    pub git_remote_url: String,
    pub git_branch: String,
    pub git_commit: String,
    pub messages_text: String,
}

/// What one pass over `messages.jsonl` gathers.
#[derive(Debug, Default)]
pub struct MessageScan {
    pub messages: i64,
    pub first_user_text: Option<String>,
    pub text: String,
}

impl MessageScan {
    /// Adds one message (a line that is a JSON object).
    pub fn add(&mut self, message: &Line) {
        self.messages += 1;
        if self.first_user_text.is_none()
            && message.role.as_deref() == Some("user")
            && !message.sidechain
        {
            self.first_user_text = first_text(&message.content)
                .filter(|t| !t.trim().is_empty())
                .map(str::to_string);
        }
        if self.text.len() < MESSAGES_TEXT_CAP {
            push_message_line(&mut self.text, &message.content);
            truncate_bytes(&mut self.text, MESSAGES_TEXT_CAP);
        }
    }
}

fn truncate_bytes(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// The first text of a message's content (a string, or its first `text` block).
fn first_text<'c>(content: &'c Content) -> Option<&'c str> {
    match content {
        Content::Text(s) => Some(s),
        Content::Blocks(blocks) => blocks
            .iter()
            .find_map(|b| (b.kind.as_deref() == Some("text")).then_some(b.text.as_deref())?),
        _ => None,
    }
}

/// Appends a message's line of searchable text to `out` (after a newline when `out` is not
/// empty): text blocks, `[tool] command` for tool calls, the first 500 chars of string tool
/// results, each part on its own line; thinking is skipped, and so are empty parts.
fn push_message_line(out: &mut String, content: &Content) {
    // A part that is empty once cleaned adds nothing, not even its separator.
    let part = |out: &mut String, pieces: &[&str]| {
        let (before, separated) = (out.len(), !out.is_empty());
        if separated {
            out.push('\n');
        }
        for piece in pieces {
            push_clean(out, piece);
        }
        if out.len() == before + usize::from(separated) {
            out.truncate(before);
        }
    };
    let blocks = match content {
        Content::Text(s) => return part(out, &[s]),
        Content::Blocks(blocks) => blocks,
        _ => return,
    };
    for block in blocks {
        match block.kind.as_deref() {
            Some("text") => {
                if let Some(text) = &block.text {
                    part(out, &[text]);
                }
            }
            Some("tool_use") => {
                let name = block.name.as_deref().unwrap_or("tool");
                match &block.command {
                    Some(cmd) => part(out, &["[", name, "] ", cmd]),
                    None => part(out, &["[", name, "]"]),
                }
            }
            Some("tool_result") => {
                if let Some(output) = &block.content {
                    let end = output
                        .char_indices()
                        .nth(500)
                        .map_or(output.len(), |(i, _)| i);
                    part(out, &[&output[..end]]);
                }
            }
            _ => {}
        }
    }
}

/// Appends `s` without its NUL bytes (SQLite text and the search index must never see them).
fn push_clean(out: &mut String, s: &str) {
    if s.contains('\0') {
        out.extend(s.split('\0'));
    } else {
        out.push_str(s);
    }
}

/// Removes NUL bytes (SQLite text and the search index must never see them).
fn clean(s: &str) -> String {
    s.replace('\0', "")
}

fn string_at(v: Option<&Value>, pointer: &str) -> Option<String> {
    v.and_then(|v| v.pointer(pointer))
        .and_then(Value::as_str)
        .map(clean)
}

fn int_at(v: Option<&Value>, pointer: &str) -> Option<i64> {
    let n = v.and_then(|v| v.pointer(pointer))?;
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

fn bounded(s: Option<String>, max_chars: usize) -> Option<String> {
    s.map(|s| s.chars().take(max_chars).collect())
}

pub fn extract(manifest: Option<Value>, workspace: Option<Value>, scan: MessageScan) -> Extracted {
    let m = manifest.as_ref().filter(|v| v.is_object());
    let stat = |name: &str| int_at(m, &format!("/stats/{name}")).unwrap_or(0);
    let tags = m
        .and_then(|m| m.get("tags"))
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(Value::as_str).map(clean).collect())
        .unwrap_or_default();
    let message_count = stat("message_count");
    let title = manifest.as_ref().map(|_| {
        let shown = if message_count > 0 {
            message_count
        } else {
            scan.messages
        };
        smart_title(
            string_at(m, "/title").as_deref(),
            scan.first_user_text.as_deref(),
            shown,
        )
    });
    let model_id = string_at(m, "/model/model_id")
        .filter(|id| !matches!(id.as_str(), "" | "<synthetic>" | "synthetic"));
    let rules_hash = string_at(m, "/instruction_provenance/rules_hash").map(|h| {
        h.split_once(':')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or(h)
    });
    let w = workspace.as_ref();
    Extracted {
        title,
        source_tool: string_at(m, "/source/tool")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "unknown".into()),
        source_tool_version: string_at(m, "/source/tool_version"),
        original_session_id: string_at(m, "/source/original_session_id"),
        model_provider: string_at(m, "/model/provider"),
        model_id,
        message_count,
        turn_count: stat("turn_count"),
        tool_use_count: stat("tool_use_count"),
        total_input_tokens: stat("total_input_tokens"),
        total_output_tokens: stat("total_output_tokens"),
        duration_ms: int_at(m, "/stats/duration_ms"),
        tags,
        parent_session_id: string_at(m, "/parent_session_id")
            .or_else(|| string_at(m, "/_resume_parent_id")),
        persona_name: bounded(string_at(m, "/persona_name"), 50),
        ticket_id: bounded(string_at(m, "/ticket_id"), 64),
        retrieval_audit_id: string_at(m, "/retrieval_audit_id"),
        rules_source: string_at(m, "/instruction_provenance/rules_source")
            .unwrap_or_else(|| "none".into()),
        rules_version: m
            .and_then(|m| m.pointer("/instruction_provenance/rules_version"))
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            }),
        rules_hash,
        instruction_artifacts: m
            .and_then(|m| m.pointer("/instruction_provenance/instruction_artifacts"))
            .filter(|v| v.is_array())
            .cloned()
            .unwrap_or_else(|| Value::Array(vec![])),
        git_remote_url: string_at(w, "/git/remote_url").unwrap_or_default(),
        git_branch: string_at(w, "/git/branch").unwrap_or_default(),
        git_commit: string_at(w, "/git/commit_sha").unwrap_or_default(),
        messages_text: scan.text,
    }
}

static SECRET_PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"sk_sfs_[0-9a-f]{32}",
        r"sk-[A-Za-z0-9_-]{16,}",
        r"gh[pousr]_[A-Za-z0-9]{20,}",
        r"github_pat_[A-Za-z0-9_]{20,}",
        r"AKIA[0-9A-Z]{16}",
        r"xox[abprs]-[A-Za-z0-9-]{10,}",
        r"(?i)\b(password|passwd|secret|token|api[_-]?key)\s*[:=]\s*\S+",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("secret pattern compiles"))
    .collect()
});

static ID_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(ses_)?[0-9a-fA-F-]{12,}$").expect("id pattern compiles"));

/// Replaces secret-looking substrings with `[redacted]`.
pub fn redact_secrets(text: &str) -> String {
    SECRET_PATTERNS.iter().fold(text.to_string(), |acc, re| {
        re.replace_all(&acc, "[redacted]").into_owned()
    })
}

/// A title reads like language: it has letters, is not an id or hash, not markup or a path.
fn looks_natural(title: &str) -> bool {
    let t = title.trim();
    t.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && !ID_LIKE.is_match(t)
        && !t.starts_with(['<', '/', '{', '['])
}

/// The first line of a user message worth showing: not blank, not markup the tools inject.
fn usable_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('<') && looks_natural(l))
}

/// Cuts at the end of the first sentence, then to 80 characters with an ellipsis.
fn shorten(text: &str) -> String {
    let mut end = text.len();
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b'.' | b'?' | b'!')
            && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace())
        {
            end = i + 1;
            break;
        }
    }
    let sentence = text[..end].trim();
    if sentence.chars().count() <= TITLE_CHARS {
        return sentence.to_string();
    }
    let mut cut: String = sentence.chars().take(TITLE_CHARS - 1).collect();
    if let Some(space) = cut.rfind(' ').filter(|&i| i > TITLE_CHARS / 2) {
        cut.truncate(space);
    }
    format!("{}…", cut.trim_end())
}

/// The session's display title (contract §4.4).
pub fn smart_title(
    manifest_title: Option<&str>,
    first_user_text: Option<&str>,
    messages: i64,
) -> String {
    let chosen = manifest_title
        .filter(|t| looks_natural(t))
        .map(str::trim)
        .or_else(|| first_user_text.and_then(usable_line));
    match chosen {
        Some(text) => shorten(&redact_secrets(text)),
        None => format!("Untitled session ({messages} messages)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn titles() {
        assert_eq!(smart_title(Some("Fix login bug"), None, 4), "Fix login bug");
        assert_eq!(
            smart_title(
                Some("3f2a9c1e-77aa-4d1b"),
                Some("Please fix auth.py now. Then tests."),
                2
            ),
            "Please fix auth.py now."
        );
        assert_eq!(
            smart_title(None, Some("<command>x</command>\n\n"), 3),
            "Untitled session (3 messages)"
        );
        let long = "word ".repeat(40);
        let t = smart_title(Some(&long), None, 1);
        assert!(t.ends_with('…') && t.chars().count() <= 80, "{t}");
        assert_eq!(
            smart_title(
                Some("use key sk_sfs_0123456789abcdef0123456789abcdef here"),
                None,
                1
            ),
            "use key [redacted] here"
        );
    }

    #[test]
    fn message_text_and_first_user_message() {
        let mut scan = MessageScan::default();
        for m in [
            json!({"role": "user", "is_sidechain": true, "content": "side"}),
            json!({"role": "user", "content": [{"type": "text", "text": "Real question"}]}),
            json!({"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"},
                   {"type": "tool_use", "name": "Bash", "input": {"command": "ls -la"}}]}),
            json!({"role": "tool", "content": [{"type": "tool_result", "content": "a\u{0}b"}]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "\u{0}"},
                   {"type": "text", "text": ""}, {"type": "text", "text": "after"}]}),
            json!({"role": "assistant", "content": "\u{0}"}),
        ] {
            let raw = m.to_string();
            scan.add(&Line::parse(raw.as_bytes()).unwrap());
        }
        assert_eq!(scan.first_user_text.as_deref(), Some("Real question"));
        assert_eq!(scan.text, "side\nReal question\n[Bash] ls -la\nab\nafter");
        assert_eq!(scan.messages, 6);
    }

    #[test]
    fn manifest_fields() {
        let manifest = json!({"source": {"tool": "codex"}, "model": {"model_id": "<synthetic>"},
            "stats": {"message_count": 3}, "tags": ["a", 1, "b"], "_resume_parent_id": "ses_parent01",
            "instruction_provenance": {"rules_hash": "sha256:abc", "rules_source": "file"}});
        let e = extract(Some(manifest), None, MessageScan::default());
        assert_eq!(e.source_tool, "codex");
        assert_eq!(e.model_id, None);
        assert_eq!(e.tags, vec!["a", "b"]);
        assert_eq!(e.parent_session_id.as_deref(), Some("ses_parent01"));
        assert_eq!(e.rules_hash.as_deref(), Some("abc"));
        assert_eq!(e.title.as_deref(), Some("Untitled session (3 messages)"));
        let none = extract(None, None, MessageScan::default());
        assert_eq!(none.title, None);
        assert_eq!(none.source_tool, "unknown");
    }
}
