//! The compiled agent context (02 §5.6): the text a ticket `start` and an agent-run `start` hand
//! to the agent. One builder, [`compile`], for both; its parts are plain data the callers fill:
//! the persona ([`PersonaPart`]), the ticket ([`TicketPart`], filled by the tickets area with
//! the ticket, its parent and children, its completed dependencies, its recent comments and
//! the knowledge entries it refers to — see [`relevant_knowledge`]) and the project's context
//! document.
//!
//! Blocks, joined by `"\n---\n\n"`: the persona (`# You are <name> — <role>`), the ticket
//! (`# Current Ticket: <title>` …), its comments (`## Recent Comments`), and then the project's
//! context document. The contract's three blocks come first and in its order; the project
//! document (which issue 12 adds) comes last, so that when the text is cut to the tool's
//! budget the project document, the longest and least specific part, is what gets cut first.
//!
//! Budget: at most 4 × the tool's token budget characters ([`max_chars`]); a longer text is
//! cut, right-trimmed and ends with [`TRUNCATION_MARKER`], the whole within the limit.

use crate::db::knowledge;
use crate::db::DbResult;

/// Between blocks.
pub const SEPARATOR: &str = "\n---\n\n";
/// The last line of a text cut to its budget.
pub const TRUNCATION_MARKER: &str = "[… context truncated to fit the tool's budget]";
/// Most comments in the comments block (the newest, shown oldest first).
pub const MAX_COMMENTS: usize = 10;

/// Token budget of a tool (unknown tools get the default, 8000).
pub fn token_budget(tool: &str) -> usize {
    match tool.trim().to_ascii_lowercase().as_str() {
        "claude-code" | "bedrock" => 16_000,
        "cursor" | "windsurf" | "cline" | "roo-code" | "kilo-code" => 4_000,
        // codex, gemini, copilot, amp, antigravity, vertex, generic, and anything else.
        _ => 8_000,
    }
}

/// Most characters of a context compiled for `tool`.
pub fn max_chars(tool: &str) -> usize {
    4 * token_budget(tool)
}

/// Who the agent is.
#[derive(Debug, Clone)]
pub struct PersonaPart {
    pub name: String,
    pub role: String,
    pub content: String,
}

/// A ticket's parent issue, as the child's block names it.
#[derive(Debug, Clone)]
pub struct ParentPart {
    pub id: String,
    pub title: String,
    pub status: String,
}

/// A child task of an issue.
#[derive(Debug, Clone)]
pub struct ChildPart {
    pub id: String,
    pub title: String,
    pub status: String,
}

/// A knowledge entry the ticket refers to (`[<type>] <content>`).
#[derive(Debug, Clone)]
pub struct KnowledgePart {
    pub entry_type: String,
    pub content: String,
}

/// A dependency that is done and left notes.
#[derive(Debug, Clone)]
pub struct DependencyPart {
    pub id: String,
    pub title: String,
    pub notes: String,
}

/// A comment on the ticket.
#[derive(Debug, Clone)]
pub struct CommentPart {
    /// `None` shows as "user".
    pub author_persona: Option<String>,
    /// RFC 3339; the block shows its date (`YYYY-MM-DD`).
    pub created_at: String,
    pub content: String,
}

/// Everything the ticket block and the comments block show, filled by the tickets area.
#[derive(Debug, Clone, Default)]
pub struct TicketPart {
    pub title: String,
    /// `task` or `issue`.
    pub kind: String,
    pub priority: String,
    /// The status after the transition that asked for the context.
    pub status: String,
    pub parent: Option<ParentPart>,
    /// Child tasks; shown for issues only.
    pub children: Vec<ChildPart>,
    pub description: String,
    pub acceptance_criteria: Vec<String>,
    pub file_refs: Vec<String>,
    /// See [`relevant_knowledge`].
    pub knowledge: Vec<KnowledgePart>,
    /// Done dependencies with notes, in dependency order.
    pub completed_dependencies: Vec<DependencyPart>,
    /// Comments in any order; the block keeps the newest [`MAX_COMMENTS`], oldest first.
    pub comments: Vec<CommentPart>,
}

/// What to compile.
#[derive(Debug, Clone, Default)]
pub struct ContextParts<'a> {
    pub persona: Option<&'a PersonaPart>,
    pub ticket: Option<&'a TicketPart>,
    /// The project's context document; left out when blank.
    pub project_context: Option<&'a str>,
    /// The tool whose budget applies (`generic` when unsure).
    pub tool: &'a str,
}

fn persona_block(p: &PersonaPart) -> String {
    format!(
        "# You are {} — {}\n\n{}",
        p.name,
        p.role,
        p.content.trim_end()
    )
}

fn list_section(out: &mut String, heading: &str, lines: impl Iterator<Item = String>) {
    let lines: Vec<String> = lines.collect();
    if lines.is_empty() {
        return;
    }
    out.push_str(&format!("\n## {heading}\n"));
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
}

fn ticket_block(t: &TicketPart) -> String {
    let mut out = format!(
        "# Current Ticket: {}\nKind: {}\nPriority: {}\nStatus: {}\n",
        t.title, t.kind, t.priority, t.status
    );
    if let Some(p) = &t.parent {
        out.push_str(&format!(
            "Parent Issue: {} — {} (status: {})\n",
            p.id, p.title, p.status
        ));
    }
    if t.kind == "issue" && !t.children.is_empty() {
        out.push_str(&format!("\n## Child Tasks ({})\n", t.children.len()));
        for c in &t.children {
            out.push_str(&format!("- {} [{}] {}\n", c.id, c.status, c.title));
        }
    }
    if !t.description.trim().is_empty() {
        out.push_str(&format!("\n## Description\n{}\n", t.description.trim_end()));
    }
    list_section(
        &mut out,
        "Acceptance Criteria",
        t.acceptance_criteria.iter().map(|c| format!("- [ ] {c}")),
    );
    list_section(
        &mut out,
        "Files to Review/Modify",
        t.file_refs.iter().map(|f| format!("- {f}")),
    );
    list_section(
        &mut out,
        "Relevant Project Knowledge",
        t.knowledge
            .iter()
            .map(|k| format!("- [{}] {}", k.entry_type, k.content)),
    );
    for d in &t.completed_dependencies {
        out.push_str(&format!(
            "\n## From completed dependency #{} ({})\n{}\n",
            d.id,
            d.title,
            d.notes.trim_end()
        ));
    }
    out.trim_end().to_string()
}

fn comments_block(comments: &[CommentPart]) -> Option<String> {
    if comments.is_empty() {
        return None;
    }
    let mut sorted: Vec<&CommentPart> = comments.iter().collect();
    sorted.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    let newest = &sorted[sorted.len().saturating_sub(MAX_COMMENTS)..];
    let mut out = String::from("## Recent Comments\n");
    for c in newest {
        let date: String = c.created_at.chars().take(10).collect();
        out.push_str(&format!(
            "**{}** ({date}): {}\n",
            c.author_persona.as_deref().unwrap_or("user"),
            c.content
        ));
    }
    Some(out.trim_end().to_string())
}

/// The compiled context text (see the module documentation).
pub fn compile(parts: &ContextParts) -> String {
    let mut blocks: Vec<String> = Vec::new();
    if let Some(p) = parts.persona {
        blocks.push(persona_block(p));
    }
    if let Some(t) = parts.ticket {
        blocks.push(ticket_block(t));
        if let Some(c) = comments_block(&t.comments) {
            blocks.push(c);
        }
    }
    if let Some(doc) = parts
        .project_context
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        blocks.push(doc.to_string());
    }
    truncate(blocks.join(SEPARATOR), max_chars(parts.tool))
}

/// `text` if it fits in `max` characters; else its head, right-trimmed, and the marker line,
/// `max` characters at most in all.
pub fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let tail = format!("\n\n{TRUNCATION_MARKER}");
    let keep = max.saturating_sub(tail.chars().count());
    let head: String = text.chars().take(keep).collect();
    format!("{}{tail}", head.trim_end())
}

/// The knowledge a ticket's `context_refs` point at: the refs that are integer ids of active
/// (not dismissed), current or aging, non-superseded claims of the project, in ref order.
pub fn relevant_knowledge(
    conn: &rusqlite::Connection,
    project_id: &str,
    context_refs: &[String],
) -> DbResult<Vec<KnowledgePart>> {
    let ids: Vec<i64> = context_refs
        .iter()
        .filter_map(|r| r.trim().parse::<i64>().ok())
        .collect();
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for id in ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(e) = knowledge::get(conn, project_id, id)? {
            let usable = !e.dismissed
                && e.claim_class == knowledge::ClaimClass::Claim
                && matches!(
                    e.freshness_class,
                    knowledge::Freshness::Current | knowledge::Freshness::Aging
                )
                && e.superseded_by.is_none();
            if usable {
                out.push(KnowledgePart {
                    entry_type: e.entry_type.as_str().to_string(),
                    content: e.content,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona() -> PersonaPart {
        PersonaPart {
            name: "atlas".into(),
            role: "Backend Architect".into(),
            content: "You design APIs.\n".into(),
        }
    }

    fn ticket() -> TicketPart {
        TicketPart {
            title: "Fix the parser".into(),
            kind: "task".into(),
            priority: "high".into(),
            status: "in_progress".into(),
            parent: Some(ParentPart {
                id: "tk_1".into(),
                title: "Parser issues".into(),
                status: "open".into(),
            }),
            description: "Tabs break keys.".into(),
            acceptance_criteria: vec!["tabs accepted".into(), "tests pass".into()],
            file_refs: vec!["src/parse.rs".into()],
            knowledge: vec![KnowledgePart {
                entry_type: "bug".into(),
                content: "Tabs in keys were rejected.".into(),
            }],
            completed_dependencies: vec![DependencyPart {
                id: "tk_0".into(),
                title: "Lexer".into(),
                notes: "Lexer emits TAB tokens.".into(),
            }],
            comments: vec![
                CommentPart {
                    author_persona: None,
                    created_at: "2026-11-02T10:00:00.000000Z".into(),
                    content: "second".into(),
                },
                CommentPart {
                    author_persona: Some("atlas".into()),
                    created_at: "2026-11-01T10:00:00.000000Z".into(),
                    content: "first".into(),
                },
            ],
            ..TicketPart::default()
        }
    }

    #[test]
    fn blocks_in_the_contract_order_and_format() {
        let (p, t) = (persona(), ticket());
        let text = compile(&ContextParts {
            persona: Some(&p),
            ticket: Some(&t),
            project_context: Some("# Project Context\n\nRust server.\n"),
            tool: "generic",
        });
        let expected = "# You are atlas — Backend Architect\n\nYou design APIs.\
\n---\n\n\
# Current Ticket: Fix the parser\n\
Kind: task\n\
Priority: high\n\
Status: in_progress\n\
Parent Issue: tk_1 — Parser issues (status: open)\n\
\n## Description\nTabs break keys.\n\
\n## Acceptance Criteria\n- [ ] tabs accepted\n- [ ] tests pass\n\
\n## Files to Review/Modify\n- src/parse.rs\n\
\n## Relevant Project Knowledge\n- [bug] Tabs in keys were rejected.\n\
\n## From completed dependency #tk_0 (Lexer)\nLexer emits TAB tokens.\
\n---\n\n\
## Recent Comments\n\
**atlas** (2026-11-01): first\n\
**user** (2026-11-02): second\
\n---\n\n\
# Project Context\n\nRust server.";
        assert_eq!(text, expected);
    }

    #[test]
    fn persona_only_and_children_of_issues() {
        let p = persona();
        let text = compile(&ContextParts {
            persona: Some(&p),
            tool: "generic",
            ..ContextParts::default()
        });
        assert_eq!(
            text,
            "# You are atlas — Backend Architect\n\nYou design APIs."
        );
        let issue = TicketPart {
            title: "Parser issues".into(),
            kind: "issue".into(),
            priority: "medium".into(),
            status: "in_progress".into(),
            children: vec![ChildPart {
                id: "tk_2".into(),
                title: "Fix tabs".into(),
                status: "open".into(),
            }],
            ..TicketPart::default()
        };
        let text = compile(&ContextParts {
            ticket: Some(&issue),
            tool: "generic",
            ..ContextParts::default()
        });
        assert!(
            text.ends_with("Status: in_progress\n\n## Child Tasks (1)\n- tk_2 [open] Fix tabs"),
            "{text}"
        );
    }

    #[test]
    fn only_the_ten_newest_comments_oldest_first() {
        let comments: Vec<CommentPart> = (0..15)
            .map(|i| CommentPart {
                author_persona: None,
                created_at: format!("2026-11-{:02}T00:00:00.000000Z", i + 1),
                content: format!("c{i}"),
            })
            .collect();
        let block = comments_block(&comments).unwrap();
        let lines: Vec<&str> = block.lines().skip(1).collect();
        assert_eq!(lines.len(), 10);
        assert!(lines[0].ends_with("c5"), "{}", lines[0]);
        assert!(lines[9].ends_with("c14"), "{}", lines[9]);
    }

    #[test]
    fn budgets_and_truncation() {
        assert_eq!(max_chars("claude-code"), 64_000);
        assert_eq!(max_chars("cursor"), 16_000);
        assert_eq!(max_chars("codex"), 32_000);
        assert_eq!(max_chars("something-new"), 32_000);
        let p = PersonaPart {
            name: "a".into(),
            role: "r".into(),
            content: "word ".repeat(10_000),
        };
        let text = compile(&ContextParts {
            persona: Some(&p),
            tool: "cursor",
            ..ContextParts::default()
        });
        assert!(text.chars().count() <= 16_000);
        assert!(text.ends_with(TRUNCATION_MARKER));
        assert!(text.starts_with("# You are a — r"));
        assert!(!text.contains("  \n"));
        let short = truncate("é".repeat(10), 10);
        assert_eq!(short, "é".repeat(10));
    }
}
