//! The review state of a ticket (02 §5.8), derived from its trusted comments: review rounds
//! (`Codex R<N> review on tk_…: <VERDICT>`), the findings each round raises, and which later
//! clean round closed them. Only comments stamped `verdict_trusted` count; on a server without
//! a trusted-reviewer registry no comment is, and the state is `None`.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::tickets::Comment;

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*codex\s+r(\d+)\s+(?:doc\s+)?review\s+on\s+tk_[0-9a-z]+\s*:\s*(verified[-_]clean|changes[ _-]requested|no\s+changes\s+needed|approved)\b",
    )
    .expect("regex compiles")
});
static FINDING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*[•\-*]\s*(CRITICAL|HIGH|MEDIUM|LOW)\s*(?:—|-|:)\s*(.+?)\s*$")
        .expect("regex compiles")
});
static END_OF_FINDINGS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)verified clean|no change needed|verification (?:run|commands)|out of scope|residual risk|cross-checks",
    )
    .expect("regex compiles")
});

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Finding {
    pub severity: String,
    pub text: String,
    pub round: i64,
    pub raised_at: String,
    pub raised_comment_id: String,
    /// `open` or `closed`.
    pub status: String,
    pub closed_round: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Round {
    pub round: i64,
    pub verdict: String,
    pub raw_verdict: String,
    pub is_strict_verified_clean: bool,
    pub comment_id: String,
    pub timestamp: String,
    pub findings_raised: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Default)]
#[allow(non_snake_case)]
pub struct SeverityCounts {
    pub CRITICAL: i64,
    pub HIGH: i64,
    pub MEDIUM: i64,
    pub LOW: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct ReviewState {
    pub open_findings: Vec<Finding>,
    pub closed_findings: Vec<Finding>,
    pub last_verdict: Option<String>,
    pub last_raw_verdict: Option<String>,
    pub last_verdict_is_strict_verified_clean: bool,
    pub severity_counts: SeverityCounts,
    pub last_review_comment_id: Option<String>,
    pub last_implementer_comment_id: Option<String>,
    pub updated_at: Option<String>,
    pub rounds: Vec<Round>,
}

/// `(display verdict, strict)` of a raw verdict.
fn display(raw: &str) -> (&'static str, bool) {
    let norm: String = raw
        .to_ascii_uppercase()
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match norm.as_str() {
        "VERIFIED CLEAN" => ("VERIFIED-CLEAN", true),
        "NO CHANGES NEEDED" | "APPROVED" => ("VERIFIED-CLEAN", false),
        _ => ("CHANGES_REQUESTED", false),
    }
}

/// The review state of `comments` (oldest first); `None` without a trusted review round.
pub fn compute(comments: &[Comment]) -> Option<ReviewState> {
    let mut rounds: Vec<Round> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    for c in comments.iter().filter(|c| c.verdict_trusted) {
        let mut lines = c.content.lines();
        let Some(caps) = lines.by_ref().find_map(|l| HEADER.captures(l)) else {
            continue;
        };
        let round: i64 = caps[1].parse().unwrap_or(0);
        let raw = caps[2].to_string();
        let (verdict, strict) = display(&raw);
        let mut raised = 0;
        for line in lines {
            if END_OF_FINDINGS.is_match(line) {
                break;
            }
            if let Some(f) = FINDING.captures(line) {
                raised += 1;
                findings.push(Finding {
                    severity: f[1].to_string(),
                    text: f[2].to_string(),
                    round,
                    raised_at: c.created_at.clone(),
                    raised_comment_id: c.id.clone(),
                    status: "open".into(),
                    closed_round: None,
                });
            }
        }
        rounds.push(Round {
            round,
            verdict: verdict.into(),
            raw_verdict: raw,
            is_strict_verified_clean: strict,
            comment_id: c.id.clone(),
            timestamp: c.created_at.clone(),
            findings_raised: raised,
        });
    }
    if rounds.is_empty() {
        return None;
    }
    rounds.sort_by_key(|r| r.round);
    for f in &mut findings {
        if let Some(r) = rounds
            .iter()
            .find(|r| r.round > f.round && r.verdict == "VERIFIED-CLEAN")
        {
            f.status = "closed".into();
            f.closed_round = Some(r.round);
        }
    }
    let (closed, open): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| f.status == "closed");
    let mut counts = SeverityCounts::default();
    for f in &open {
        match f.severity.as_str() {
            "CRITICAL" => counts.CRITICAL += 1,
            "HIGH" => counts.HIGH += 1,
            "MEDIUM" => counts.MEDIUM += 1,
            _ => counts.LOW += 1,
        }
    }
    let last = rounds.last().cloned();
    Some(ReviewState {
        open_findings: open,
        closed_findings: closed,
        last_verdict: last.as_ref().map(|r| r.verdict.clone()),
        last_raw_verdict: last.as_ref().map(|r| r.raw_verdict.clone()),
        last_verdict_is_strict_verified_clean: last.is_some_and(|r| r.is_strict_verified_clean),
        severity_counts: counts,
        last_review_comment_id: comments
            .iter()
            .rev()
            .find(|c| c.verdict_trusted)
            .map(|c| c.id.clone()),
        last_implementer_comment_id: comments
            .iter()
            .rev()
            .find(|c| !c.verdict_trusted)
            .map(|c| c.id.clone()),
        updated_at: comments.last().map(|c| c.created_at.clone()),
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: &str, trusted: bool, content: &str) -> Comment {
        Comment {
            id: id.into(),
            ticket_id: "tk_1".into(),
            author_user_id: "u".into(),
            author_persona: Some("codex".into()),
            content: content.into(),
            session_id: None,
            source: "sessionfs".into(),
            verdict_trusted: trusted,
            created_at: format!("2026-11-01T00:00:0{}.000000Z", &id[1..]),
        }
    }

    #[test]
    fn untrusted_comments_make_no_state() {
        let c = comment(
            "c1",
            false,
            "Codex R1 review on tk_1: CHANGES REQUESTED\n- HIGH: x",
        );
        assert_eq!(compute(&[c]), None);
    }

    #[test]
    fn rounds_raise_and_close_findings() {
        let cs = vec![
            comment(
                "c1",
                true,
                "Codex R1 review on tk_ab: CHANGES REQUESTED\n• HIGH — lease not checked\n- low: ignored case\n* MEDIUM: docs\nOut of scope\n- CRITICAL: not a finding",
            ),
            comment("c2", false, "fixed"),
            comment("c3", true, "codex r2 doc review on tk_ab: verified_clean"),
        ];
        let s = compute(&cs).unwrap();
        assert_eq!(s.rounds.len(), 2);
        assert_eq!(s.closed_findings.len(), 2);
        assert!(s.open_findings.is_empty());
        assert_eq!(s.closed_findings[0].closed_round, Some(2));
        assert_eq!(s.last_verdict.as_deref(), Some("VERIFIED-CLEAN"));
        assert!(s.last_verdict_is_strict_verified_clean);
        assert_eq!(s.last_review_comment_id.as_deref(), Some("c3"));
        assert_eq!(s.last_implementer_comment_id.as_deref(), Some("c2"));
        assert_eq!(s.rounds[0].findings_raised, 2);
    }

    #[test]
    fn approved_is_clean_but_not_strict() {
        let s = compute(&[comment("c1", true, "Codex R3 review on tk_1: APPROVED")]).unwrap();
        assert_eq!(s.last_verdict.as_deref(), Some("VERIFIED-CLEAN"));
        assert!(!s.last_verdict_is_strict_verified_clean);
        let s = compute(&[comment(
            "c1",
            true,
            "Codex R1 review on tk_1: changes-requested\n- LOW: nit",
        )])
        .unwrap();
        assert_eq!(s.severity_counts.LOW, 1);
        assert_eq!(s.last_verdict.as_deref(), Some("CHANGES_REQUESTED"));
    }
}
