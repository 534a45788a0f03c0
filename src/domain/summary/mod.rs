//! The deterministic session summary (01 §5.8), also behind the handoff summary (02 §1.4).
//!
//! Pure: the same archive and [`SessionFacts`] always give the same [`Summary`], with no clock,
//! database or LLM. The root `messages.jsonl` is streamed once and only bounded state is kept
//! (one small record per tool call, capped sets), so a large archive costs time, not memory.
//!
//! The output shape is the reference's, but its bugs are not copied (README ruling 11):
//! - every `tool_use` block is one call; a `tool_result` (a block in any message, or a whole
//!   `role:"tool"` message without result blocks) is paired with its call by `tool_use_id`,
//!   falling back to the call's `id`, and never adds a call;
//! - a call's first paired result is the one parsed for test counts, so a result that appears
//!   twice cannot double the numbers, and each output line is read by at most one test parser;
//! - `branch` and `commit` are sent (from the session row).
//!
//! Choices the spec leaves open:
//! - `files_modified` / `files_read` keep first-seen order (the order work happened in, which
//!   is what the handoff's "first 10 files" should show) and accept plain file names: the
//!   reference's "must contain `/`" rule drops relative names such as `auth.py`. Grep's
//!   `pattern` is a regular expression, not a file, so only its `path` counts.
//! - `errors_encountered` are the 5 lexicographically smallest distinct matches, like
//!   `sorted(set(...))[:5]`, taken from every tool result (paired or not).
//! - pytest summaries are recognised only with their `in <N>s` duration, which keeps prose such
//!   as "3 passed checks" and other runners' lines out of the counts.
//! - error lines and `last_assistant_messages` go through [`redact_secrets`]: the handoff
//!   summary is served to anyone holding the handoff id (README ruling 8).
//! - sidechain (sub-agent) messages count for tool statistics but not for
//!   `last_assistant_messages`, which should be what the main agent last said.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Read;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::archive::messages::for_each_line;
use crate::archive::metadata::redact_secrets;
use crate::archive::ArchiveError;
use crate::clock;

mod packages;
mod test_output;

use packages::packages_in;
use test_output::{parse_tests, TestCounts};

/// Most error lines reported.
pub const MAX_ERRORS: usize = 5;
/// Most assistant messages in `last_assistant_messages`.
pub const MAX_LAST_ASSISTANT: usize = 3;
/// Error lines and assistant messages are cut to this many characters.
const SNIPPET_CHARS: usize = 200;
/// An error line must be longer than this (in characters) to be reported.
const MIN_ERROR_CHARS: usize = 15;
/// Caps for the file, package and persona lists, so a hostile archive cannot grow the cached
/// summary row without bound.
const MAX_LISTED: usize = 500;
/// Longer "paths" are not file names (PATH_MAX).
const MAX_PATH_BYTES: usize = 4096;

/// The deterministic part of `SummaryResponse`. Field order follows the reference body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    pub session_id: String,
    pub title: String,
    pub tool: String,
    pub model: Option<String>,
    pub duration_minutes: i64,
    pub message_count: i64,
    pub tool_call_count: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub files_modified: Vec<String>,
    pub files_read: Vec<String>,
    pub commands_executed: i64,
    pub tests_run: i64,
    pub tests_passed: i64,
    pub tests_failed: i64,
    pub packages_installed: Vec<String>,
    pub errors_encountered: Vec<String>,
    pub personas_active: Vec<String>,
    /// Only the handoff summary shows these; `default` lets older cached rows deserialize.
    #[serde(default)]
    pub last_assistant_messages: Vec<String>,
}

/// What the summary takes from the session row rather than from the messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionFacts<'a> {
    pub session_id: &'a str,
    /// `None` becomes `"Untitled"`.
    pub title: Option<&'a str>,
    pub tool: &'a str,
    pub model: Option<&'a str>,
    /// The manifest's `stats.message_count`, as stored; not recomputed.
    pub message_count: i64,
    pub branch: Option<&'a str>,
    pub commit: Option<&'a str>,
    pub manifest_persona: Option<&'a str>,
}

/// Reads messages.jsonl of the archive once. `Ok(None)` when the archive has no
/// messages.jsonl or it has no messages (the route answers 422 then).
pub fn summarize(
    archive: impl Read,
    facts: &SessionFacts,
) -> Result<Option<Summary>, ArchiveError> {
    let mut scan = Scan::default();
    let found = for_each_line(archive, |_, line| scan.line(line))?;
    if !found || scan.messages == 0 {
        return Ok(None);
    }
    Ok(Some(scan.finish(facts)))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CallKind {
    Command,
    Write,
    Read,
    Other,
}

struct Call {
    kind: CallKind,
    answered: bool,
}

/// Keeps first-seen order, drops repeats, stops growing at [`MAX_LISTED`].
#[derive(Default)]
struct Listed {
    order: Vec<String>,
    seen: HashSet<String>,
}

impl Listed {
    fn add(&mut self, value: &str) {
        if self.order.len() < MAX_LISTED && self.seen.insert(value.to_string()) {
            self.order.push(value.to_string());
        }
    }
}

/// Inserts into a sorted set that keeps only its `cap` smallest members.
fn insert_bounded(set: &mut BTreeSet<String>, value: String, cap: usize) {
    set.insert(value);
    while set.len() > cap {
        set.pop_last();
    }
}

#[derive(Default)]
struct Scan {
    messages: usize,
    calls: Vec<Call>,
    call_by_id: HashMap<String, usize>,
    files_modified: Listed,
    files_read: Listed,
    commands: i64,
    tests: TestCounts,
    packages: BTreeSet<String>,
    errors: BTreeSet<String>,
    personas: BTreeSet<String>,
    earliest: Option<DateTime<Utc>>,
    latest: Option<DateTime<Utc>>,
    last_assistant: VecDeque<String>,
}

impl Scan {
    fn line(&mut self, line: &[u8]) {
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(line) else {
            return;
        };
        self.messages += 1;
        if let Some(t) = message.get("timestamp").and_then(parse_time) {
            self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
            self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
        }
        if let Some(persona) = message.get("persona_name").and_then(Value::as_str) {
            self.persona(persona);
        }
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let content = message.get("content");
        if role == "assistant" && !is_sidechain(&message) {
            if let Some(text) = first_text(content) {
                self.last_assistant.push_back(snippet(text));
                if self.last_assistant.len() > MAX_LAST_ASSISTANT {
                    self.last_assistant.pop_front();
                }
            }
        }
        let mut had_result_block = false;
        if let Some(Value::Array(blocks)) = content {
            for block in blocks {
                let Value::Object(block) = block else {
                    continue;
                };
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") if role == "assistant" => self.call(block),
                    Some("tool_result") => {
                        had_result_block = true;
                        let output = output_text(block.get("content").or(block.get("output")));
                        self.result(result_key(block), &output);
                    }
                    _ => {}
                }
            }
        }
        if role == "tool" && !had_result_block {
            let output = output_text(content);
            self.result(result_key(&message), &output);
        }
    }

    fn persona(&mut self, name: &str) {
        let name = name.trim().replace('\0', "");
        if !name.is_empty() {
            insert_bounded(&mut self.personas, name, MAX_LISTED);
        }
    }

    fn call(&mut self, block: &Map<String, Value>) {
        let name = block.get("name").and_then(Value::as_str).unwrap_or("");
        let input = tool_input(block);
        let input = input.as_deref();
        let kind = classify(name, input);
        match kind {
            CallKind::Command => {
                self.commands += 1;
                if let Some(command) = input.and_then(|i| i.get("command")).and_then(Value::as_str)
                {
                    packages_in(command, &mut self.packages);
                }
            }
            CallKind::Write => {
                if let Some(path) = input
                    .and_then(|i| path_in(i, &["file_path", "path", "filename", "notebook_path"]))
                {
                    self.files_modified.add(&path);
                }
            }
            CallKind::Read => {
                let keys: &[&str] = if name.eq_ignore_ascii_case("grep") {
                    &["file_path", "path"]
                } else {
                    &["file_path", "path", "pattern"]
                };
                if let Some(path) = input.and_then(|i| path_in(i, keys)) {
                    self.files_read.add(&path);
                }
            }
            CallKind::Other => {}
        }
        let index = self.calls.len();
        self.calls.push(Call {
            kind,
            answered: false,
        });
        // Registered under both keys: spec-shaped data uses `tool_use_id`, Anthropic-shaped
        // data `id`. A later call reusing an id takes it over (results follow their call).
        for key in ["tool_use_id", "id"] {
            if let Some(id) = block.get(key).and_then(Value::as_str) {
                self.call_by_id.insert(id.to_string(), index);
            }
        }
    }

    fn result(&mut self, key: Option<&str>, output: &str) {
        for found in ERROR_LINE.find_iter(output) {
            let line = found.as_str().trim_end();
            if line.chars().count() > MIN_ERROR_CHARS {
                insert_bounded(&mut self.errors, snippet(line), MAX_ERRORS);
            }
        }
        let Some(&index) = key.and_then(|k| self.call_by_id.get(k)) else {
            return;
        };
        let call = &mut self.calls[index];
        if call.answered {
            return;
        }
        call.answered = true;
        if call.kind == CallKind::Command {
            let counts = parse_tests(output);
            self.tests.passed = self.tests.passed.saturating_add(counts.passed);
            self.tests.failed = self.tests.failed.saturating_add(counts.failed);
        }
    }

    fn finish(mut self, facts: &SessionFacts) -> Summary {
        if let Some(persona) = facts.manifest_persona {
            self.persona(persona);
        }
        let duration_minutes = match (self.earliest, self.latest) {
            (Some(first), Some(last)) if last > first => (last - first).num_minutes().max(1),
            _ => 0,
        };
        let modified = self.files_modified.seen;
        let files_read = self
            .files_read
            .order
            .into_iter()
            .filter(|p| !modified.contains(p))
            .collect();
        let tests_passed = self.tests.passed;
        let tests_failed = self.tests.failed;
        Summary {
            session_id: facts.session_id.to_string(),
            title: facts.title.unwrap_or("Untitled").to_string(),
            tool: facts.tool.to_string(),
            model: facts.model.map(str::to_string),
            duration_minutes,
            message_count: facts.message_count,
            tool_call_count: self.calls.len() as i64,
            branch: facts.branch.map(str::to_string),
            commit: facts.commit.map(str::to_string),
            files_modified: self.files_modified.order,
            files_read,
            commands_executed: self.commands,
            tests_run: tests_passed.saturating_add(tests_failed),
            tests_passed,
            tests_failed,
            packages_installed: self.packages.into_iter().collect(),
            errors_encountered: self.errors.into_iter().collect(),
            personas_active: self.personas.into_iter().collect(),
            last_assistant_messages: self.last_assistant.into_iter().rev().collect(),
        }
    }
}

fn is_sidechain(message: &Map<String, Value>) -> bool {
    match message.get("is_sidechain") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    }
}

/// RFC 3339, or a naive ISO 8601 date-time taken as UTC.
fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?.trim();
    clock::parse(text).or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|t| t.and_utc())
    })
}

/// String content, or the first non-blank `text` block.
fn first_text(content: Option<&Value>) -> Option<&str> {
    match content? {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Array(blocks) => blocks.iter().find_map(|b| {
            let b = b.as_object()?;
            if b.get("type").and_then(Value::as_str) != Some("text") {
                return None;
            }
            b.get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
        }),
        _ => None,
    }
}

/// Trimmed, NUL-free, secrets redacted, cut to [`SNIPPET_CHARS`] characters. Redaction runs
/// on a longer prefix so that cutting cannot leave half a secret unrecognised.
fn snippet(text: &str) -> String {
    let head: String = text.trim().chars().take(SNIPPET_CHARS * 4).collect();
    redact_secrets(&head.replace('\0', ""))
        .trim()
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// A result's key: `tool_use_id`, else OpenAI-style `tool_call_id`.
fn result_key(object: &Map<String, Value>) -> Option<&str> {
    ["tool_use_id", "tool_call_id"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
}

/// The text of a result's content: a string, or the texts of a list of blocks (or strings).
fn output_text(content: Option<&Value>) -> Cow<'_, str> {
    fn block_text(v: &Value) -> Option<&str> {
        match v {
            Value::String(s) => Some(s),
            Value::Object(o) => o.get("text").and_then(Value::as_str),
            _ => None,
        }
    }
    match content {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(Value::Array(items)) => Cow::Owned(
            items
                .iter()
                .filter_map(block_text)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Some(v @ Value::Object(_)) => Cow::Borrowed(block_text(v).unwrap_or("")),
        _ => Cow::Borrowed(""),
    }
}

/// A call's `input` object; some converters store it as a JSON string.
fn tool_input(block: &Map<String, Value>) -> Option<Cow<'_, Map<String, Value>>> {
    match block.get("input")? {
        Value::Object(o) => Some(Cow::Borrowed(o)),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Some(Cow::Owned(o)),
            _ => None,
        },
        _ => None,
    }
}

const COMMAND_TOOLS: &[&str] = &["bash", "execute_command", "shell", "run_shell_command"];
const WRITE_TOOLS: &[&str] = &[
    "write",
    "edit",
    "multiedit",
    "multi_edit",
    "notebookedit",
    "write_file",
    "edit_file",
    "create_file",
];
/// Editors whose `command` says whether the call reads (`view`) or writes.
const EDITOR_TOOLS: &[&str] = &["str_replace_editor", "str_replace_based_edit_tool"];
const READ_TOOLS: &[&str] = &["read", "read_file", "glob", "grep"];

fn classify(name: &str, input: Option<&Map<String, Value>>) -> CallKind {
    let name = name.to_ascii_lowercase();
    let command = input.and_then(|i| i.get("command")).and_then(Value::as_str);
    if COMMAND_TOOLS.contains(&name.as_str()) {
        return if command.is_some() {
            CallKind::Command
        } else {
            CallKind::Other
        };
    }
    if EDITOR_TOOLS.contains(&name.as_str()) {
        return if command == Some("view") {
            CallKind::Read
        } else {
            CallKind::Write
        };
    }
    if WRITE_TOOLS.contains(&name.as_str()) {
        return CallKind::Write;
    }
    if READ_TOOLS.contains(&name.as_str()) {
        return CallKind::Read;
    }
    CallKind::Other
}

/// The first of `keys` holding a usable string: non-blank, one line, at most PATH_MAX.
fn path_in(input: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    let value = keys
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))?
        .trim();
    let usable = !value.is_empty() && value.len() <= MAX_PATH_BYTES && !value.contains('\n');
    usable.then(|| value.replace('\0', ""))
}

// ---- errors in tool output ----

static ERROR_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Error:.*|FAILED.*|Traceback.*|Exception:.*").expect("regex compiles")
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::archive::fixture::{gzip, tar_of, Member};
    use serde_json::json;

    fn archive_of(messages: &[Value]) -> Vec<u8> {
        let lines: Vec<String> = messages.iter().map(Value::to_string).collect();
        gzip(&tar_of(&[Member::file(
            "messages.jsonl",
            lines.join("\n").as_bytes(),
        )]))
    }

    fn facts() -> SessionFacts<'static> {
        SessionFacts {
            session_id: "ses_0123456789abcdef",
            tool: "claude-code",
            ..SessionFacts::default()
        }
    }

    pub(crate) fn summary_of(messages: &[Value]) -> Summary {
        summarize(&archive_of(messages)[..], &facts())
            .unwrap()
            .expect("a summary")
    }

    pub(crate) fn bash(id: &str, command: &str) -> Value {
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": command}}]})
    }

    fn result(id: &str, output: Value) -> Value {
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": output}]})
    }

    /// The archive of `fixture_archive` in spec/examples/01-auth-sessions-sync.json.
    fn spec_fixture() -> Vec<u8> {
        let manifest = json!({
            "sfs_version": "0.1.0", "session_id": "ses_0123456789abcdef", "title": "Fix login bug",
            "tags": ["auth", "bugfix"], "created_at": "2026-03-20T10:00:00Z",
            "source": {"tool": "claude-code", "tool_version": "2.1.59",
                       "original_session_id": "12fa89c0-1234"},
            "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-6"},
            "stats": {"message_count": 4, "turn_count": 2, "tool_use_count": 1,
                      "total_input_tokens": 1500, "total_output_tokens": 800, "duration_ms": 65000}
        });
        let messages = [
            json!({"msg_id": "m1", "role": "user",
                   "content": [{"type": "text", "text": "Please fix the login bug in auth.py"}],
                   "timestamp": "2026-03-20T10:00:00Z"}),
            json!({"msg_id": "m2", "parent_msg_id": "m1", "role": "assistant",
                   "content": [{"type": "text", "text": "Let me look at the file."},
                               {"type": "tool_use", "tool_use_id": "tu1", "id": "tu1",
                                "name": "Bash", "input": {"command": "pytest tests/"}}],
                   "timestamp": "2026-03-20T10:00:10Z"}),
            json!({"msg_id": "m3", "parent_msg_id": "m2", "role": "tool",
                   "content": [{"type": "tool_result", "tool_use_id": "tu1",
                                "content": "5 passed, 1 failed in 2.3s\nError: assertion failed in test_login"}],
                   "timestamp": "2026-03-20T10:00:20Z"}),
            json!({"msg_id": "m4", "parent_msg_id": "m3", "role": "assistant",
                   "content": [{"type": "text", "text": "Fixed the hello world login handler."}],
                   "timestamp": "2026-03-20T10:01:05Z"}),
        ];
        let lines: Vec<String> = messages.iter().map(Value::to_string).collect();
        let workspace = json!({"root_path": "/home/dev/app",
            "git": {"remote_url": "git@github.com:acme/app.git", "branch": "main",
                    "commit_sha": "a1b2c3d4e5f6"}});
        gzip(&tar_of(&[
            Member::file("manifest.json", manifest.to_string().as_bytes()),
            Member::file("messages.jsonl", (lines.join("\n") + "\n").as_bytes()),
            Member::file("workspace.json", workspace.to_string().as_bytes()),
            Member::file("tools.json", br#"{"tools_used":["Bash"]}"#),
        ]))
    }

    #[test]
    fn spec_fixture_counts_one_call() {
        let facts = SessionFacts {
            session_id: "ses_0123456789abcdef",
            title: Some("Fix login bug"),
            tool: "claude-code",
            model: Some("claude-sonnet-4-6"),
            message_count: 4,
            branch: Some("main"),
            commit: Some("a1b2c3d4e5f6"),
            manifest_persona: None,
        };
        let summary = summarize(&spec_fixture()[..], &facts).unwrap().unwrap();
        assert_eq!(
            summary,
            Summary {
                session_id: "ses_0123456789abcdef".into(),
                title: "Fix login bug".into(),
                tool: "claude-code".into(),
                model: Some("claude-sonnet-4-6".into()),
                duration_minutes: 1,
                message_count: 4,
                tool_call_count: 1,
                branch: Some("main".into()),
                commit: Some("a1b2c3d4e5f6".into()),
                files_modified: vec![],
                files_read: vec![],
                commands_executed: 1,
                tests_run: 6,
                tests_passed: 5,
                tests_failed: 1,
                packages_installed: vec![],
                errors_encountered: vec!["Error: assertion failed in test_login".into()],
                personas_active: vec![],
                last_assistant_messages: vec![
                    "Fixed the hello world login handler.".into(),
                    "Let me look at the file.".into()
                ],
            }
        );
        // The wire shape keeps the reference's keys (and sends branch/commit).
        let wire = serde_json::to_value(&summary).unwrap();
        for key in ["branch", "commit", "tool_call_count", "personas_active"] {
            assert!(wire.get(key).is_some(), "{key}");
        }
        let back: Summary = serde_json::from_value(wire).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn defaults_when_the_row_has_no_title() {
        let s = summary_of(&[json!({"role": "user", "content": "hi"})]);
        assert_eq!(s.title, "Untitled");
        assert_eq!(s.tool_call_count, 0);
        assert_eq!(s.duration_minutes, 0);
        assert_eq!((s.branch, s.commit, s.model), (None, None, None));
    }

    #[test]
    fn results_pair_by_tool_use_id_or_id() {
        let s = summary_of(&[
            // Anthropic shape: the call has only `id`.
            bash("toolu_1", "cargo test"),
            result(
                "toolu_1",
                json!([{"type": "text",
                        "text": "test result: ok. 3 passed; 0 failed; 0 ignored; finished in 0.01s"}]),
            ),
            // Spec shape: the call has only `tool_use_id`.
            json!({"role": "assistant", "content": [{"type": "tool_use", "tool_use_id": "tu2",
                   "name": "bash", "input": {"command": "pytest -q"}}]}),
            result("tu2", json!("===== 1 failed, 4 passed in 0.50s =====")),
            // An unpaired result adds nothing but its errors.
            result(
                "nobody",
                json!("3 passed in 0.1s\nTraceback (most recent call last):"),
            ),
        ]);
        assert_eq!(s.tool_call_count, 2);
        assert_eq!(s.commands_executed, 2);
        assert_eq!((s.tests_passed, s.tests_failed, s.tests_run), (7, 1, 8));
        assert_eq!(
            s.errors_encountered,
            vec!["Traceback (most recent call last):"]
        );
    }

    #[test]
    fn tool_messages_are_results_not_calls() {
        let s = summary_of(&[
            bash("a", "pytest"),
            // A role:"tool" message carrying a result block and a message-level id too.
            json!({"role": "tool", "tool_use_id": "a", "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": "2 passed in 1.0s"}]}),
            bash("b", "pytest"),
            // A role:"tool" message whose content is the output itself.
            json!({"role": "tool", "tool_use_id": "b", "content": "1 failed in 1.0s"}),
            // The same result repeated is not counted again.
            json!({"role": "tool", "tool_use_id": "b", "content": "1 failed in 1.0s"}),
            bash("c", "pytest"),
            json!({"role": "tool", "tool_call_id": "c",
                   "content": [{"type": "text", "text": "5 passed in 1.0s"}]}),
        ]);
        assert_eq!(s.tool_call_count, 3);
        assert_eq!((s.tests_passed, s.tests_failed), (7, 1));
    }

    #[test]
    fn file_lists_keep_first_seen_order() {
        let call = |name: &str, input: Value| {
            json!({"role": "assistant", "content": [
                {"type": "tool_use", "id": name, "name": name, "input": input}]})
        };
        let s = summary_of(&[
            call("Read", json!({"file_path": "src/b.rs"})),
            call("Write", json!({"file_path": "src/a.rs", "path": "ignored"})),
            call("edit", json!({"path": "auth.py"})),
            call("MultiEdit", json!({"file_path": "src/a.rs"})),
            call("Read", json!({"file_path": "src/a.rs"})),
            call("read", json!({"file_path": "README.md"})),
            call("Glob", json!({"pattern": "src/**/*.rs"})),
            call("Grep", json!({"pattern": "fn main"})),
            call("GREP", json!({"pattern": "fn main", "path": "src"})),
            call(
                "str_replace_editor",
                json!({"command": "view", "path": "/etc/hosts"}),
            ),
            call(
                "str_replace_editor",
                json!({"command": "create", "path": "new.txt"}),
            ),
            call("Write", json!({"file_path": 7, "filename": "notes.md"})),
            call("Write", json!({"file_path": "  "})),
            call("Read", json!("not an object")),
            call("Edit", json!("{\"file_path\": \"stringly.rs\"}")),
            call("Bash", json!({"command": ["ls"]})),
        ]);
        assert_eq!(
            s.files_modified,
            vec!["src/a.rs", "auth.py", "new.txt", "notes.md", "stringly.rs"]
        );
        assert_eq!(
            s.files_read,
            vec!["src/b.rs", "README.md", "src/**/*.rs", "src", "/etc/hosts"]
        );
        assert_eq!(s.tool_call_count, 16);
        assert_eq!(s.commands_executed, 0);
    }

    #[test]
    fn tests_count_only_command_results() {
        let s = summary_of(&[
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "r",
                   "name": "Read", "input": {"file_path": "log.txt"}}]}),
            result("r", json!("5 passed in 1.0s")),
            bash("go", "go test ./..."),
            result(
                "go",
                json!([{"type": "text", "text": "ok  \texample.com/a\t0.01s"},
                       {"type": "text", "text": "FAIL\texample.com/b\t0.01s"}]),
            ),
        ]);
        assert_eq!((s.tests_passed, s.tests_failed, s.tests_run), (1, 1, 2));
    }

    #[test]
    fn errors_are_bounded_sorted_and_cut() {
        let long = format!("Error: {}", "x".repeat(300));
        let output = format!(
            "Error: short\nzzz Exception: something went wrong\nValueError: bad value given here\n\
             Traceback (most recent call last):\nFAILED tests/test_a.py::test_x\n{long}\n\
             Error: api_key=sk-abcdefghijklmnopqrstuvwxyz leaked\nFAILED tests/test_a.py::test_x"
        );
        let s = summary_of(&[
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "w",
                   "name": "Write", "input": {"file_path": "a"}}]}),
            result("w", json!(output)),
        ]);
        let expected_long: String = long.chars().take(200).collect();
        assert_eq!(
            s.errors_encountered,
            vec![
                "Error: [redacted] leaked".to_string(),
                "Error: bad value given here".to_string(),
                expected_long,
                "Exception: something went wrong".to_string(),
                "FAILED tests/test_a.py::test_x".to_string(),
            ]
        );
    }

    #[test]
    fn duration_in_whole_minutes() {
        let at = |t: Value| json!({"role": "user", "content": "x", "timestamp": t});
        let d = |ts: Vec<Value>| summary_of(&ts.into_iter().map(at).collect::<Vec<_>>());
        assert_eq!(d(vec![json!("2026-03-20T10:00:00Z")]).duration_minutes, 0);
        assert_eq!(
            d(vec![
                json!("2026-03-20T10:00:00Z"),
                json!("2026-03-20T10:00:00Z")
            ])
            .duration_minutes,
            0
        );
        assert_eq!(
            d(vec![
                json!("2026-03-20T10:00:00Z"),
                json!("2026-03-20T10:00:30Z")
            ])
            .duration_minutes,
            1
        );
        assert_eq!(
            d(vec![
                json!("2026-03-20T12:05:59+02:00"),
                json!("garbage"),
                json!(12),
                json!("2026-03-20T08:00:00"),
                json!("2026-03-20 09:00:00.5"),
            ])
            .duration_minutes,
            125
        );
    }

    #[test]
    fn personas_and_last_assistant_messages() {
        let facts = SessionFacts {
            manifest_persona: Some("reviewer"),
            ..facts()
        };
        let messages = [
            json!({"role": "assistant", "content": "first", "persona_name": "atlas"}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "second"}],
                   "persona_name": " reviewer "}),
            json!({"role": "assistant", "content": [{"type": "thinking", "thinking": "hm"},
                   {"type": "text", "text": "  "}, {"type": "text", "text": "third"}]}),
            json!({"role": "assistant", "content": "sub-agent", "is_sidechain": true}),
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "x"}]}),
            json!({"role": "user", "content": "not assistant", "persona_name": ""}),
            json!({"role": "assistant", "content": "y".repeat(500)}),
        ];
        let s = summarize(&archive_of(&messages)[..], &facts)
            .unwrap()
            .unwrap();
        assert_eq!(s.personas_active, vec!["atlas", "reviewer"]);
        assert_eq!(
            s.last_assistant_messages,
            vec!["y".repeat(200), "third".to_string(), "second".to_string()]
        );
    }

    #[test]
    fn odd_shapes_never_panic() {
        let lines = [
            "not json",
            "[1,2]",
            "\"a string\"",
            r#"{"role": 5, "content": {"type": "tool_result"}}"#,
            r#"{"role": "assistant", "content": [1, null, "x", {"type": 3}, {"type": "tool_use"}]}"#,
            r#"{"role": "assistant", "content": [{"type": "tool_use", "id": 9, "name": null, "input": [1]}]}"#,
            r#"{"role": "tool", "content": 42, "tool_use_id": 7}"#,
            r#"{"role": "user", "content": [{"type": "tool_result", "tool_use_id": null, "content": {"text": 1}}]}"#,
            r#"{"role": "assistant", "timestamp": {"x": 1}, "persona_name": [], "is_sidechain": "yes"}"#,
        ];
        let archive = gzip(&tar_of(&[Member::file(
            "messages.jsonl",
            lines.join("\n").as_bytes(),
        )]));
        let s = summarize(&archive[..], &facts()).unwrap().unwrap();
        assert_eq!(s.tool_call_count, 2);
        assert_eq!(s.commands_executed, 0);
    }

    #[test]
    fn no_messages_gives_none() {
        let without = gzip(&tar_of(&[Member::file("manifest.json", b"{}")]));
        assert_eq!(summarize(&without[..], &facts()).unwrap(), None);
        let empty = gzip(&tar_of(&[Member::file(
            "messages.jsonl",
            b"\n\nnot json\n[]\n",
        )]));
        assert_eq!(summarize(&empty[..], &facts()).unwrap(), None);
        // Only the root member counts (README ruling 11).
        let nested = gzip(&tar_of(&[Member::file(
            "checkpoints/a/messages.jsonl",
            br#"{"role":"user","content":"hi"}"#,
        )]));
        assert_eq!(summarize(&nested[..], &facts()).unwrap(), None);
        assert!(summarize(&b"not an archive"[..], &facts()).is_err());
    }
}
