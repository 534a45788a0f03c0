//! Compile and rebuild (02 §3.6): fold the project's fresh claims into its context document.
//!
//! The rules are pure functions over the loaded rows, one per step of the contract, so each is
//! tested alone with a clock that moves:
//!
//! 1. [`refresh_freshness`] — current / aging / stale / superseded by age and type;
//! 2. [`auto_supersede`] — near-identical newer entries of one entity supersede older ones;
//! 3. [`decay`] — at most once per 30 days, confidence × 0.8 for entries not relevant in 90 days;
//! 4. [`retention`] — dismiss low-confidence entries older than `kb_retention_days`;
//! 5. [`promote_evidence`] — extracted evidence written by editors becomes a claim;
//! 6. [`clear_compiled`] — rebuild only: every active claim is pending again;
//! 7. [`pending`] — the claims to fold in, best first;
//! 8. [`noop_reason`] — nothing to fold in: steps 1–5 are kept and the no-op answer given;
//! 9. [`deterministic_merge`] (or [`merge_with_llm`]) and [`enforce_budget`];
//! 10. the save, with [`manifest`];
//! 11. [`section_pages`] — one page per entry type;
//! 12. after the commit, [`concept_clusters`] → concept pages (errors logged, never answered).
//!
//! [`compile_in`] runs steps 1–11 in ONE write transaction: each step's writes, then the next;
//! any error rolls every step back (the writer's savepoint), so a compile is all or nothing.
//! Its `hook` lets tests fail it after any step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::Duration;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::keys::random_hex;
use crate::clock::{self, Clock, Timestamp};
use crate::db::compile::{
    self as rows, CompilationKind, CompileEntry, CompileSettings, NewCompilation,
};
use crate::db::knowledge::{self, ClaimClass, EntryType, Freshness, LinkNode, LinkType, NewLink};
use crate::db::wiki::{self, Page, PageType};
use crate::db::Db;
use crate::domain::projects::not_found;
use crate::domain::{DomainError, DomainResult};

/// Below this confidence a fact is "unverified".
pub const LOW_CONFIDENCE: f64 = 0.5;
const AUTO_SUPERSEDE_OVERLAP: f64 = 0.9;
const CONTRADICTS_OVERLAP: f64 = 0.5;
const DECAY_PERIOD_DAYS: i64 = 30;
const DECAY_IDLE_DAYS: i64 = 90;
const DECAY_FACTOR: f64 = 0.8;
const RETENTION_MAX_CONFIDENCE: f64 = 0.3;
const EVIDENCE_MIN_CONFIDENCE: f64 = 0.5;
const EVIDENCE_MIN_CHARS: usize = 30;
const CONCEPT_MIN_ENTRIES: usize = 15;
const CONCEPT_MIN_CLUSTER: usize = 5;
const CONCEPT_MAX_CLUSTERS: usize = 10;
pub const EMPTY_DOCUMENT: &str = "# Project Context";

/// The steps of a compile, in order (a failure can be injected after any of them in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Freshness,
    AutoSupersede,
    Decay,
    Retention,
    EvidencePromotion,
    Rebuild,
    Save,
    SectionPages,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Freshness,
        Step::AutoSupersede,
        Step::Decay,
        Step::Retention,
        Step::EvidencePromotion,
        Step::Rebuild,
        Step::Save,
        Step::SectionPages,
    ];
}

/// The section heading and page of each entry type.
pub fn heading(t: EntryType) -> &'static str {
    match t {
        EntryType::Decision => "Key Decisions",
        EntryType::Pattern => "Patterns & Conventions",
        EntryType::Discovery => "Discoveries",
        EntryType::Convention => "Coding Conventions",
        EntryType::Bug => "Known Issues & Workarounds",
        EntryType::Dependency => "Dependencies & Integrations",
    }
}

pub fn section_page_slug(t: EntryType) -> &'static str {
    match t {
        EntryType::Decision => "key-decisions",
        EntryType::Pattern => "patterns",
        EntryType::Discovery => "discoveries",
        EntryType::Convention => "coding-conventions",
        EntryType::Bug => "known-issues",
        EntryType::Dependency => "dependencies",
    }
}

/// Entry types in alphabetical order (the merge's order).
fn types_alphabetical() -> Vec<EntryType> {
    let mut types = EntryType::ALL.to_vec();
    types.sort_by_key(|t| t.as_str());
    types
}

/// Days after which an entry of a type is stale (half of it: aging).
pub fn freshness_window_days(t: EntryType) -> i64 {
    match t {
        EntryType::Bug => 30,
        EntryType::Dependency => 60,
        EntryType::Pattern | EntryType::Discovery => 90,
        EntryType::Convention => 180,
        EntryType::Decision => 365,
    }
}

/// A section's slug: the heading lowercased, runs of anything not alphanumeric turned into
/// one `_`, no `_` at either end (`Patterns & Conventions` → `patterns_conventions`).
pub fn section_slug(heading: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in heading.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

pub fn word_count(text: &str) -> i64 {
    text.split_whitespace().count() as i64
}

fn at(text: &str, fallback: Timestamp) -> Timestamp {
    clock::parse(text).unwrap_or(fallback)
}

fn is_active_claim(e: &CompileEntry) -> bool {
    e.claim_class == ClaimClass::Claim && !e.dismissed && e.superseded_by.is_none()
}

fn relevant_since(e: &CompileEntry, now: Timestamp) -> Timestamp {
    at(e.last_relevant_at.as_deref().unwrap_or(&e.created_at), now)
}

/// Step 1: every entry's freshness; returns the ids whose class changed.
pub fn refresh_freshness(entries: &mut [CompileEntry], now: Timestamp) -> BTreeSet<i64> {
    let mut changed = BTreeSet::new();
    for e in entries.iter_mut() {
        let class = if e.superseded_by.is_some() {
            Freshness::Superseded
        } else {
            let window = Duration::days(freshness_window_days(e.entry_type));
            let age = now - relevant_since(e, now);
            if age < window / 2 {
                Freshness::Current
            } else if age < window {
                Freshness::Aging
            } else {
                Freshness::Stale
            }
        };
        if class != e.freshness_class {
            e.freshness_class = class;
            changed.insert(e.id);
        }
    }
    changed
}

/// A link compile adds between two entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedLink {
    pub source: i64,
    pub target: i64,
    pub link_type: LinkType,
    pub confidence: f64,
}

/// Step 2: among active entries with an `entity_ref`, grouped by (entity_ref, type), oldest
/// first, a newer entry (confidence ≥ 0.8, by an editor or a key) whose words overlap an older
/// one's by more than 0.9 supersedes it; 0.5–0.9 is a contradiction. `existing` holds the
/// (source, target) pairs already linked; no pair is linked twice.
pub fn auto_supersede(
    entries: &mut [CompileEntry],
    existing: &HashSet<(String, String)>,
) -> (BTreeSet<i64>, Vec<PlannedLink>) {
    let mut groups: BTreeMap<(String, &'static str), Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(entity) = &e.entity_ref {
            if !e.dismissed && e.superseded_by.is_none() {
                groups
                    .entry((entity.clone(), e.entry_type.as_str()))
                    .or_default()
                    .push(i);
            }
        }
    }
    let mut changed = BTreeSet::new();
    let mut links = Vec::new();
    let mut linked: HashSet<(i64, i64)> = HashSet::new();
    let has_link = |linked: &HashSet<(i64, i64)>, s: i64, t: i64| {
        linked.contains(&(s, t)) || existing.contains(&(s.to_string(), t.to_string()))
    };
    for (_, mut members) in groups {
        members.sort_by(|&a, &b| {
            (&entries[a].created_at, entries[a].id).cmp(&(&entries[b].created_at, entries[b].id))
        });
        for (pos, &older) in members.iter().enumerate() {
            for &newer in &members[pos + 1..] {
                if entries[older].superseded_by.is_some() {
                    break;
                }
                let n = &entries[newer];
                if n.superseded_by.is_some() || n.confidence < 0.8 || !n.editor_authored {
                    continue;
                }
                let overlap =
                    crate::domain::knowledge::word_overlap(&entries[older].content, &n.content);
                let (source, target) = (n.id, entries[older].id);
                if overlap > AUTO_SUPERSEDE_OVERLAP {
                    let o = &mut entries[older];
                    o.superseded_by = Some(source);
                    o.supersession_reason = Some("auto-superseded".into());
                    o.freshness_class = Freshness::Superseded;
                    changed.insert(target);
                    if !has_link(&linked, source, target) {
                        linked.insert((source, target));
                        links.push(PlannedLink {
                            source,
                            target,
                            link_type: LinkType::Supersedes,
                            confidence: overlap,
                        });
                    }
                } else if overlap > CONTRADICTS_OVERLAP && !has_link(&linked, source, target) {
                    linked.insert((source, target));
                    links.push(PlannedLink {
                        source,
                        target,
                        link_type: LinkType::Contradicts,
                        confidence: overlap,
                    });
                }
            }
        }
    }
    (changed, links)
}

/// Step 3: when no decay ran in the last 30 days, confidence × 0.8 for active entries above
/// 0.1 not relevant in the last 90 days. Returns the changed ids and whether the decay ran
/// (then `last_decay_at` becomes now).
pub fn decay(
    entries: &mut [CompileEntry],
    last_decay_at: Option<Timestamp>,
    now: Timestamp,
) -> (BTreeSet<i64>, bool) {
    let due = last_decay_at.is_none_or(|t| now - t >= Duration::days(DECAY_PERIOD_DAYS));
    let mut changed = BTreeSet::new();
    if !due {
        return (changed, false);
    }
    let idle_since = now - Duration::days(DECAY_IDLE_DAYS);
    for e in entries.iter_mut() {
        if !e.dismissed && e.confidence > 0.1 && relevant_since(e, now) < idle_since {
            e.confidence *= DECAY_FACTOR;
            changed.insert(e.id);
        }
    }
    (changed, true)
}

/// Step 4: dismiss (the flag only) entries under 0.3 confidence older than the retention.
pub fn retention(
    entries: &mut [CompileEntry],
    retention_days: i64,
    now: Timestamp,
) -> BTreeSet<i64> {
    let cutoff = now - Duration::days(retention_days.max(0));
    let mut changed = BTreeSet::new();
    for e in entries.iter_mut() {
        if !e.dismissed
            && e.confidence < RETENTION_MAX_CONFIDENCE
            && at(&e.created_at, now) < cutoff
        {
            e.dismissed = true;
            changed.insert(e.id);
        }
    }
    changed
}

fn promotable_evidence(e: &CompileEntry) -> bool {
    e.claim_class == ClaimClass::Evidence
        && !e.dismissed
        && e.confidence >= EVIDENCE_MIN_CONFIDENCE
        && e.content.chars().count() >= EVIDENCE_MIN_CHARS
        && e.editor_authored
}

/// Step 5: evidence written by an editor or a key, confident and long enough, becomes a claim.
pub fn promote_evidence(entries: &mut [CompileEntry], now: Timestamp) -> BTreeSet<i64> {
    let mut changed = BTreeSet::new();
    for e in entries.iter_mut().filter(|e| promotable_evidence(e)) {
        e.claim_class = ClaimClass::Claim;
        e.promoted_at = Some(clock::format(now));
        changed.insert(e.id);
    }
    changed
}

/// Step 6 (rebuild): every active claim is pending again.
pub fn clear_compiled(entries: &mut [CompileEntry]) -> BTreeSet<i64> {
    let mut changed = BTreeSet::new();
    for e in entries.iter_mut() {
        if is_active_claim(e) && e.compiled_at.is_some() {
            e.compiled_at = None;
            changed.insert(e.id);
        }
    }
    changed
}

fn is_pending(e: &CompileEntry) -> bool {
    is_active_claim(e)
        && e.compiled_at.is_none()
        && matches!(e.freshness_class, Freshness::Current | Freshness::Aging)
}

/// Step 7: indexes of the pending claims, by (confidence, last relevance, has an entity,
/// id), all descending.
pub fn pending(entries: &[CompileEntry], now: Timestamp) -> Vec<usize> {
    let mut out: Vec<usize> = (0..entries.len())
        .filter(|&i| is_pending(&entries[i]))
        .collect();
    out.sort_by(|&a, &b| {
        let key = |e: &CompileEntry| {
            (
                e.confidence,
                relevant_since(e, now),
                e.entity_ref.is_some(),
                e.id,
            )
        };
        key(&entries[b])
            .partial_cmp(&key(&entries[a]))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    out
}

fn uncompiled_note(e: &CompileEntry) -> bool {
    e.claim_class == ClaimClass::Note && !e.dismissed && e.compiled_at.is_none()
}

/// Step 8: why there is nothing to compile.
pub fn noop_reason(entries: &[CompileEntry]) -> String {
    let notes = entries.iter().filter(|e| uncompiled_note(e)).count();
    if notes > 0 {
        format!(
            "{notes} notes uncompiled — notes do not auto-promote to claims; promote them \
             (PUT …/entries/{{id}}/promote or POST …/entries/bulk-promote) to compile them"
        )
    } else {
        "no pending claims".into()
    }
}

fn bullet_text(content: &str) -> String {
    content.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A document as sections: the text before the first `## ` heading, then each heading with
/// its lines.
struct Sections {
    preamble: Vec<String>,
    sections: Vec<(String, Vec<String>)>,
}

impl Sections {
    fn parse(doc: &str) -> Sections {
        let mut preamble = Vec::new();
        let mut sections: Vec<(String, Vec<String>)> = Vec::new();
        for line in doc.lines() {
            if let Some(title) = line.strip_prefix("## ") {
                sections.push((title.trim().to_string(), Vec::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push(line.to_string());
            } else {
                preamble.push(line.to_string());
            }
        }
        Sections { preamble, sections }
    }

    fn render(&self) -> String {
        let mut blocks = Vec::new();
        let pre = self.preamble.join("\n").trim().to_string();
        if !pre.is_empty() {
            blocks.push(pre);
        }
        for (title, body) in &self.sections {
            let body = body.join("\n").trim().to_string();
            blocks.push(if body.is_empty() {
                format!("## {title}")
            } else {
                format!("## {title}\n{body}")
            });
        }
        blocks.join("\n\n")
    }

    fn bullets(&self) -> HashSet<String> {
        self.preamble
            .iter()
            .chain(self.sections.iter().flat_map(|(_, b)| b.iter()))
            .filter_map(|l| l.trim_start().strip_prefix("- "))
            .map(|b| b.trim().to_lowercase())
            .collect()
    }
}

/// Step 9, without a model: the current document with `## Recent Changes` dropped and the
/// `## Unverified` facts carried over; each pending claim (≥ 0.5) added as a bullet under its
/// type's heading (the heading appended when missing — placed under the existing heading, not
/// at the end as the reference does, 02 §9.4); low-confidence facts under `## Unverified`; one
/// `## Recent Changes` with the pending claims by creation date; then the word budget.
pub fn deterministic_merge(document: &str, pending: &[&CompileEntry], budget: i64) -> String {
    let mut doc = Sections::parse(document);
    let mut carried: Vec<String> = Vec::new();
    doc.sections.retain(|(title, body)| {
        if title.eq_ignore_ascii_case("Recent Changes") {
            return false;
        }
        if title.eq_ignore_ascii_case("Unverified") {
            for line in body {
                if let Some(b) = line.trim_start().strip_prefix("- ") {
                    let fact = b.trim();
                    let fact = fact.strip_prefix("(unverified) ").unwrap_or(fact);
                    carried.push(fact.to_string());
                }
            }
            return false;
        }
        true
    });
    if doc.preamble.iter().all(|l| l.trim().is_empty()) && doc.sections.is_empty() {
        doc.preamble = vec![EMPTY_DOCUMENT.to_string()];
    }
    let mut present = doc.bullets();
    let mut unverified = carried;
    for t in types_alphabetical() {
        let group: Vec<&&CompileEntry> = pending.iter().filter(|e| e.entry_type == t).collect();
        if group.is_empty() {
            continue;
        }
        let title = heading(t);
        let index = match doc.sections.iter().position(|(h, _)| h == title) {
            Some(i) => i,
            None => {
                doc.sections.push((title.to_string(), Vec::new()));
                doc.sections.len() - 1
            }
        };
        for e in group {
            let text = bullet_text(&e.content);
            if e.confidence < LOW_CONFIDENCE {
                unverified.push(text);
                continue;
            }
            if present.insert(text.to_lowercase()) {
                let body = &mut doc.sections[index].1;
                while body.last().is_some_and(|l| l.trim().is_empty()) {
                    body.pop();
                }
                body.push(format!("- {text}"));
            }
        }
    }
    let mut seen = HashSet::new();
    let facts: Vec<String> = unverified
        .into_iter()
        .filter(|f| !present.contains(&f.to_lowercase()) && seen.insert(f.to_lowercase()))
        .map(|f| format!("- (unverified) {f}"))
        .collect();
    if !facts.is_empty() {
        doc.sections.push(("Unverified".into(), facts));
    }
    if !pending.is_empty() {
        let mut by_day: BTreeMap<String, Vec<&CompileEntry>> = BTreeMap::new();
        for e in pending {
            let day = e.created_at.get(..10).unwrap_or(&e.created_at).to_string();
            by_day.entry(day).or_default().push(e);
        }
        let mut body = Vec::new();
        for (day, group) in by_day.iter().rev() {
            if !body.is_empty() {
                body.push(String::new());
            }
            body.push(format!("### {day}"));
            for e in group {
                body.push(format!(
                    "- [{}] {}",
                    e.entry_type.as_str(),
                    bullet_text(&e.content)
                ));
            }
        }
        doc.sections.push(("Recent Changes".into(), body));
    }
    enforce_budget(&doc.render(), budget)
}

/// The word budget: while the document is over it, delete the last bullet of the `##` section
/// with the most bullets (only sections with more than 3).
pub fn enforce_budget(document: &str, budget: i64) -> String {
    let mut doc = Sections::parse(document);
    let is_bullet = |l: &String| l.trim_start().starts_with("- ");
    while word_count(&doc.render()) > budget {
        let Some((index, _)) = doc
            .sections
            .iter()
            .enumerate()
            .map(|(i, (_, body))| (i, body.iter().filter(|l| is_bullet(l)).count()))
            .filter(|(_, n)| *n > 3)
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
        else {
            break;
        };
        let body = &mut doc.sections[index].1;
        if let Some(last) = body.iter().rposition(is_bullet) {
            body.remove(last);
        }
    }
    doc.render()
}

/// Step 10's manifest: for each type's section slug, the active claims behind it.
pub fn manifest(entries: &[CompileEntry]) -> Value {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries.iter().filter(|e| is_active_claim(e)) {
        out.entry(section_slug(heading(e.entry_type)))
            .or_default()
            .push(json!({
                "kb_entry_id": e.id,
                "created_by_user_id": e.user_id,
                "created_by_persona": e.persona_name,
                "promoted_at": e.promoted_at,
            }));
    }
    json!(out)
}

/// A section page as step 11 writes it; `content` none: the type has no active claims.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionPage {
    pub slug: &'static str,
    pub title: &'static str,
    pub content: Option<String>,
    pub entry_count: i64,
}

/// Step 11: one page per type, its active claims newest first, capped at `limit` by
/// (confidence, created_at) with a note of how many were left out.
pub fn section_pages(entries: &[CompileEntry], limit: i64) -> Vec<SectionPage> {
    EntryType::ALL
        .iter()
        .map(|&t| {
            let mut claims: Vec<&CompileEntry> = entries
                .iter()
                .filter(|e| e.entry_type == t && is_active_claim(e))
                .collect();
            let (slug, title) = (section_page_slug(t), heading(t));
            if claims.is_empty() {
                return SectionPage {
                    slug,
                    title,
                    content: None,
                    entry_count: 0,
                };
            }
            let total = claims.len();
            claims.sort_by(|a, b| {
                (b.confidence, &b.created_at, b.id)
                    .partial_cmp(&(a.confidence, &a.created_at, a.id))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            claims.truncate(limit.max(0) as usize);
            claims.sort_by(|a, b| (&b.created_at, b.id).cmp(&(&a.created_at, a.id)));
            let mut content = format!("# {title}\n");
            for e in &claims {
                content.push_str(&format!("\n- {}", bullet_text(&e.content)));
                if e.confidence < LOW_CONFIDENCE {
                    content.push_str(" *(unverified)*");
                }
            }
            let hidden = total - claims.len();
            if hidden > 0 {
                content.push_str(&format!(
                    "\n\n_{hidden} more entries not shown (page limit {limit})._"
                ));
            }
            content.push('\n');
            SectionPage {
                slug,
                title,
                content: Some(content),
                entry_count: total as i64,
            }
        })
        .collect()
}

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "his", "how", "its", "may", "new", "now", "old", "see",
    "two", "way", "who", "did", "get", "got", "let", "put", "say", "she", "too", "use", "used",
    "uses", "using", "with", "this", "that", "from", "they", "will", "would", "there", "their",
    "what", "about", "which", "when", "make", "like", "time", "just", "know", "take", "into",
    "your", "some", "could", "them", "than", "then", "also", "only", "other", "these", "those",
    "because", "been", "being", "were", "does", "should", "must", "each", "every", "such", "over",
    "under", "after", "before", "while", "where", "here", "more", "most", "very", "always",
    "never", "instead", "without", "within", "through", "between", "need", "needs",
];

fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOPWORDS.contains(&w.as_str()))
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

/// A concept: a phrase several claims share, and those claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub phrase: String,
    pub entry_ids: Vec<i64>,
}

impl Cluster {
    pub fn slug(&self) -> String {
        format!("concept/{}", self.phrase.replace(' ', "-"))
    }
    pub fn title(&self) -> String {
        title_case(&self.phrase.replace('-', " "))
    }
}

pub fn title_case(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Step 12's deterministic clustering: phrases of 2–3 consecutive content words (stopwords
/// left out) shared by at least 5 active claims; longer and commoner phrases first, a phrase
/// whose claims are mostly in a chosen cluster already is skipped. Nothing below 15 entries
/// and 15 active claims.
pub fn concept_clusters(entries: &[CompileEntry]) -> Vec<Cluster> {
    let claims: Vec<&CompileEntry> = entries.iter().filter(|e| is_active_claim(e)).collect();
    if entries.len() < CONCEPT_MIN_ENTRIES || claims.len() < CONCEPT_MIN_ENTRIES {
        return Vec::new();
    }
    let mut by_phrase: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for e in &claims {
        let words = content_words(&e.content);
        for n in [2, 3] {
            for w in words.windows(n) {
                by_phrase.entry(w.join(" ")).or_default().insert(e.id);
            }
        }
    }
    let mut candidates: Vec<(String, BTreeSet<i64>)> = by_phrase
        .into_iter()
        .filter(|(_, ids)| ids.len() >= CONCEPT_MIN_CLUSTER)
        .collect();
    candidates.sort_by(|(pa, a), (pb, b)| {
        let words = |p: &String| p.split(' ').count();
        (words(pb), b.len())
            .cmp(&(words(pa), a.len()))
            .then_with(|| pa.cmp(pb))
    });
    let mut chosen: Vec<Cluster> = Vec::new();
    let mut covered: Vec<BTreeSet<i64>> = Vec::new();
    for (phrase, ids) in candidates {
        if chosen.len() >= CONCEPT_MAX_CLUSTERS {
            break;
        }
        let mostly_taken = covered
            .iter()
            .any(|c| c.intersection(&ids).count() * 2 > ids.len());
        if mostly_taken {
            continue;
        }
        covered.push(ids.clone());
        chosen.push(Cluster {
            phrase,
            entry_ids: ids.into_iter().collect(),
        });
    }
    chosen
}

/// A concept page's article without a model: a summary line and one bullet per claim.
pub fn concept_article(cluster: &Cluster, entries: &HashMap<i64, &CompileEntry>) -> String {
    let mut out = format!(
        "# {}\n\nWhat the knowledge base says about \"{}\" ({} entries).\n",
        cluster.title(),
        cluster.phrase,
        cluster.entry_ids.len()
    );
    for id in &cluster.entry_ids {
        if let Some(e) = entries.get(id) {
            out.push_str(&format!(
                "\n- **[{}]** {}",
                e.entry_type.as_str(),
                bullet_text(&e.content)
            ));
        }
    }
    out.push('\n');
    out
}

/// The LLM settings a compile body may carry (used for this request only, never stored).
#[derive(Debug, Clone, Default)]
pub struct LlmConfig {
    pub api_key: String,
    pub model: String,
    pub provider: Option<String>,
    pub base_url: Option<String>,
}

/// Why a model did not merge.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmUnavailable {
    /// This server has no LLM client yet (issue 13 builds `src/llm/`).
    NoClient,
}

/// What a compile asks of a model: the document and the pending facts, grouped by type.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub document: String,
    pub pending_ids: Vec<i64>,
    pub facts: Vec<(EntryType, String)>,
}

/// THE seam for the LLM merge of 02 §3.6 step 9: given the plan, answer the updated document
/// (preserve structure, dedupe, concise, the document only). Called outside any transaction;
/// [`compile`] uses the answer only if the pending claims did not change meanwhile, and falls
/// back to the deterministic merge on any error. Until the LLM client of issue 13 lands this
/// always answers [`LlmUnavailable::NoClient`].
pub async fn merge_with_llm(_llm: &LlmConfig, _plan: &MergePlan) -> Result<String, LlmUnavailable> {
    Err(LlmUnavailable::NoClient)
}

/// How the document was merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    Deterministic,
    Llm,
}

pub const LLM_FALLBACK_NOTE: &str = "An LLM merge was requested, but this server has no LLM \
    client yet: the deterministic merge was used. The API key was not stored.";

/// Who compiles.
#[derive(Debug, Clone)]
pub struct Compiler {
    pub user_id: String,
    pub service_key: Option<(String, String)>,
}

/// What the transaction did.
#[derive(Debug, Clone, PartialEq)]
pub struct TxOutcome {
    /// `None`: nothing was pending (the no-op).
    pub compilation_id: Option<i64>,
    pub entries_compiled: i64,
    pub context_before: String,
    pub context_after: String,
    pub compiled_at: String,
    pub freshness_updated: i64,
    pub noop_reason: Option<String>,
    pub merge: MergeMode,
    /// The loaded rows after steps 1–10 (for the concept pages).
    pub entries: Vec<CompileEntry>,
}

/// Runs steps 1–11 in the caller's transaction. `hook` runs after each step's writes; an error
/// from it (or any step) is returned and the caller's transaction rolls everything back.
/// `llm_merge` is a model's document for the pending ids it was planned with.
#[allow(clippy::too_many_arguments)]
pub fn compile_in(
    tx: &Connection,
    project_id: &str,
    who: &Compiler,
    now: Timestamp,
    rebuild: bool,
    llm_merge: Option<&(Vec<i64>, String)>,
    hook: &dyn Fn(Step) -> DomainResult<()>,
) -> DomainResult<TxOutcome> {
    let settings = rows::settings(tx, project_id)?.ok_or_else(not_found)?;
    let mut entries = rows::entries(tx, project_id)?;
    let now_text = clock::format(now);
    let by = who
        .service_key
        .as_ref()
        .map(|(i, n)| (i.as_str(), n.as_str()));
    let save = |entries: &[CompileEntry], ids: &BTreeSet<i64>| -> DomainResult<()> {
        for e in entries.iter().filter(|e| ids.contains(&e.id)) {
            rows::save_entry(tx, e)?;
        }
        Ok(())
    };

    let fresh = refresh_freshness(&mut entries, now);
    save(&entries, &fresh)?;
    hook(Step::Freshness)?;

    let existing: HashSet<(String, String)> =
        rows::entry_links(tx, project_id)?.into_iter().collect();
    let (superseded, links) = auto_supersede(&mut entries, &existing);
    save(&entries, &superseded)?;
    for l in &links {
        let (s, t) = (l.source.to_string(), l.target.to_string());
        knowledge::insert_link(
            tx,
            &NewLink {
                project_id,
                source: (LinkNode::Entry, &s),
                target: (LinkNode::Entry, &t),
                link_type: l.link_type,
                confidence: l.confidence,
                created_at: &now_text,
                by,
            },
        )?;
    }
    hook(Step::AutoSupersede)?;

    let last_decay = settings.last_decay_at.as_deref().and_then(clock::parse);
    let (decayed, ran) = decay(&mut entries, last_decay, now);
    save(&entries, &decayed)?;
    if ran {
        rows::set_last_decay_at(tx, project_id, &now_text)?;
    }
    hook(Step::Decay)?;

    let retired = retention(&mut entries, settings.kb_retention_days, now);
    save(&entries, &retired)?;
    hook(Step::Retention)?;

    let promoted = promote_evidence(&mut entries, now);
    save(&entries, &promoted)?;
    hook(Step::EvidencePromotion)?;

    let base = if rebuild {
        let cleared = clear_compiled(&mut entries);
        save(&entries, &cleared)?;
        String::new()
    } else {
        settings.context_document.clone()
    };
    hook(Step::Rebuild)?;

    let order = pending(&entries, now);
    if order.is_empty() {
        return Ok(TxOutcome {
            compilation_id: None,
            entries_compiled: 0,
            context_before: settings.context_document.clone(),
            context_after: settings.context_document.clone(),
            compiled_at: now_text,
            freshness_updated: fresh.len() as i64,
            noop_reason: Some(noop_reason(&entries)),
            merge: MergeMode::Deterministic,
            entries,
        });
    }
    let pending_ids: Vec<i64> = order.iter().map(|&i| entries[i].id).collect();
    let (merged, merge) = match llm_merge {
        Some((planned, text)) if *planned == pending_ids => (
            enforce_budget(text.trim(), settings.kb_max_context_words),
            MergeMode::Llm,
        ),
        _ => {
            let picked: Vec<&CompileEntry> = order.iter().map(|&i| &entries[i]).collect();
            (
                deterministic_merge(&base, &picked, settings.kb_max_context_words),
                MergeMode::Deterministic,
            )
        }
    };

    let compiled: BTreeSet<i64> = pending_ids.iter().copied().collect();
    for e in entries.iter_mut().filter(|e| compiled.contains(&e.id)) {
        e.compiled_at = Some(now_text.clone());
        e.last_relevant_at = Some(now_text.clone());
        e.compiled_count += 1;
    }
    save(&entries, &compiled)?;
    rows::set_document(tx, project_id, &merged, &now_text)?;
    let manifest = manifest(&entries).to_string();
    let id = rows::insert_compilation(
        tx,
        &NewCompilation {
            project_id,
            user_id: &who.user_id,
            entries_compiled: compiled.len() as i64,
            context_before: Some(&settings.context_document),
            context_after: Some(&merged),
            source_manifest: &manifest,
            kind: if rebuild {
                CompilationKind::Rebuild
            } else {
                CompilationKind::Compile
            },
            page_slug: None,
            compiled_at: &now_text,
            by,
        },
    )?;
    hook(Step::Save)?;

    write_section_pages(tx, project_id, &settings, &entries, &now_text, by)?;
    hook(Step::SectionPages)?;

    Ok(TxOutcome {
        compilation_id: Some(id),
        entries_compiled: compiled.len() as i64,
        context_before: settings.context_document,
        context_after: merged,
        compiled_at: now_text,
        freshness_updated: fresh.len() as i64,
        noop_reason: None,
        merge,
        entries,
    })
}

fn write_section_pages(
    tx: &Connection,
    project_id: &str,
    settings: &CompileSettings,
    entries: &[CompileEntry],
    now: &str,
    by: knowledge::WrittenBy,
) -> DomainResult<()> {
    for page in section_pages(entries, settings.kb_section_page_limit) {
        let existing = wiki::get(tx, project_id, page.slug)?;
        match (page.content, existing) {
            (None, Some(old)) if old.page_type == PageType::Section => {
                wiki::delete(tx, &old.id)?;
            }
            (None, _) => {}
            (Some(content), Some(old)) => {
                let fresh = Page {
                    title: page.title.to_string(),
                    page_type: PageType::Section,
                    word_count: word_count(&content),
                    entry_count: page.entry_count,
                    auto_generated: true,
                    updated_at: now.to_string(),
                    content,
                    ..old.clone()
                };
                let same = fresh.content == old.content
                    && fresh.title == old.title
                    && fresh.entry_count == old.entry_count
                    && old.auto_generated
                    && old.page_type == PageType::Section;
                if !same {
                    wiki::update(tx, &fresh, by)?;
                }
            }
            (Some(content), None) => wiki::insert(
                tx,
                &Page {
                    id: format!("kp_{}", random_hex(8)),
                    project_id: project_id.to_string(),
                    slug: page.slug.to_string(),
                    title: page.title.to_string(),
                    page_type: PageType::Section,
                    word_count: word_count(&content),
                    content,
                    entry_count: page.entry_count,
                    auto_generated: true,
                    publish: false,
                    parent_slug: None,
                    created_at: now.to_string(),
                    updated_at: now.to_string(),
                },
                by,
            )?,
        }
    }
    Ok(())
}

/// Step 12, in its own transaction after the compile's: writes the concept pages of the
/// clusters, regenerates an existing one only when its claims grew by more than half, and
/// deletes concept pages whose linked entries are all dismissed (or that have none).
pub fn concept_pages_in(
    tx: &Connection,
    project_id: &str,
    entries: &[CompileEntry],
    now: &str,
) -> DomainResult<()> {
    let clusters = concept_clusters(entries);
    let by_id: HashMap<i64, &CompileEntry> = entries.iter().map(|e| (e.id, e)).collect();
    let mut kept = HashSet::new();
    for cluster in &clusters {
        let slug = cluster.slug();
        kept.insert(slug.clone());
        let count = cluster.entry_ids.len() as i64;
        let existing = wiki::get(tx, project_id, &slug)?;
        let page = match existing {
            Some(old) if old.page_type != PageType::Concept || !old.auto_generated => continue,
            Some(old) if count * 2 <= old.entry_count * 3 => continue,
            Some(old) => {
                let content = concept_article(cluster, &by_id);
                let page = Page {
                    word_count: word_count(&content),
                    content,
                    entry_count: count,
                    updated_at: now.to_string(),
                    ..old
                };
                wiki::update(tx, &page, None)?;
                rows::delete_page_links(tx, project_id, &page.id)?;
                page
            }
            None => {
                let content = concept_article(cluster, &by_id);
                let page = Page {
                    id: format!("page_{}", random_hex(8)),
                    project_id: project_id.to_string(),
                    slug: slug.clone(),
                    title: cluster.title(),
                    page_type: PageType::Concept,
                    word_count: word_count(&content),
                    content,
                    entry_count: count,
                    auto_generated: true,
                    publish: false,
                    parent_slug: None,
                    created_at: now.to_string(),
                    updated_at: now.to_string(),
                };
                wiki::insert(tx, &page, None)?;
                page
            }
        };
        for id in &cluster.entry_ids {
            let source = id.to_string();
            knowledge::insert_link(
                tx,
                &NewLink {
                    project_id,
                    source: (LinkNode::Entry, &source),
                    target: (LinkNode::Page, &page.id),
                    link_type: LinkType::Contributes,
                    confidence: 1.0,
                    created_at: now,
                    by: None,
                },
            )?;
        }
    }
    for page in wiki::of_type(tx, project_id, PageType::Concept)? {
        if kept.contains(&page.slug) || !page.auto_generated {
            continue;
        }
        let linked = rows::entries_linked_to_page(tx, project_id, &page.id)?;
        let alive = linked
            .iter()
            .any(|id| by_id.get(id).is_some_and(|e| !e.dismissed));
        if !alive {
            rows::delete_page_links(tx, project_id, &page.id)?;
            wiki::delete(tx, &page.id)?;
        }
    }
    Ok(())
}

/// A compile's answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub tx: TxOutcome,
    pub project_id: String,
    pub user_id: String,
    /// Last real compilation time, for a no-op.
    pub last_compiled_at: Option<String>,
    pub section_pages: i64,
    pub concept_pages: i64,
    pub merge: MergeMode,
    pub merge_note: Option<String>,
}

/// Compile (or rebuild) a project: plan, ask the model if a key was given (outside the
/// transaction), run [`compile_in`] in one write, then the concept pages.
pub async fn compile(
    db: &Db,
    clock: &Clock,
    project_id: String,
    who: Compiler,
    rebuild: bool,
    llm: Option<LlmConfig>,
) -> DomainResult<Outcome> {
    let mut merge_note = None;
    let mut llm_merge = None;
    if let Some(llm) = &llm {
        let plan = {
            let (pid, now) = (project_id.clone(), clock.now());
            db.read(move |conn| plan(conn, &pid, now, rebuild)).await?
        };
        match merge_with_llm(llm, &plan).await {
            Ok(text) => llm_merge = Some((plan.pending_ids, text)),
            Err(LlmUnavailable::NoClient) => merge_note = Some(LLM_FALLBACK_NOTE.to_string()),
        }
    }
    let tx_outcome = {
        let (pid, who, clock) = (project_id.clone(), who.clone(), clock.clone());
        db.write(move |tx| {
            compile_in(
                tx,
                &pid,
                &who,
                clock.now(),
                rebuild,
                llm_merge.as_ref(),
                &|_| Ok(()),
            )
        })
        .await?
    };
    if tx_outcome.compilation_id.is_some() {
        let (pid, entries, now) = (
            project_id.clone(),
            tx_outcome.entries.clone(),
            clock.now_string(),
        );
        if let Err(err) = db
            .write(move |tx| concept_pages_in(tx, &pid, &entries, &now))
            .await
        {
            tracing::warn!(project = %project_id, error = %err, "concept pages not written");
        }
    }
    let (section_pages, concept_pages, last_compiled_at) = {
        let pid = project_id.clone();
        db.read(move |conn| {
            Ok::<_, DomainError>((
                wiki::count_of_type(conn, &pid, PageType::Section)?,
                wiki::count_of_type(conn, &pid, PageType::Concept)?,
                rows::latest_compilation(conn, &pid)?.map(|c| c.compiled_at),
            ))
        })
        .await?
    };
    Ok(Outcome {
        project_id,
        user_id: who.user_id,
        last_compiled_at,
        section_pages,
        concept_pages,
        merge: tx_outcome.merge,
        merge_note,
        tx: tx_outcome,
    })
}

/// What a model would be asked: steps 1–7 run in memory on the current rows.
pub fn plan(
    conn: &Connection,
    project_id: &str,
    now: Timestamp,
    rebuild: bool,
) -> DomainResult<MergePlan> {
    let settings = rows::settings(conn, project_id)?.ok_or_else(not_found)?;
    let mut entries = rows::entries(conn, project_id)?;
    let existing: HashSet<(String, String)> =
        rows::entry_links(conn, project_id)?.into_iter().collect();
    refresh_freshness(&mut entries, now);
    auto_supersede(&mut entries, &existing);
    decay(
        &mut entries,
        settings.last_decay_at.as_deref().and_then(clock::parse),
        now,
    );
    retention(&mut entries, settings.kb_retention_days, now);
    promote_evidence(&mut entries, now);
    if rebuild {
        clear_compiled(&mut entries);
    }
    let order = pending(&entries, now);
    Ok(MergePlan {
        document: if rebuild {
            String::new()
        } else {
            settings.context_document
        },
        pending_ids: order.iter().map(|&i| entries[i].id).collect(),
        facts: order
            .iter()
            .map(|&i| (entries[i].entry_type, entries[i].content.clone()))
            .collect(),
    })
}

/// A compilation as the history shows it, with its word counts.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub compilation: rows::Compilation,
    pub words_before: i64,
    pub words_after: i64,
}

fn history_item(c: rows::Compilation) -> HistoryItem {
    HistoryItem {
        words_before: c.context_before.as_deref().map_or(0, word_count),
        words_after: c.context_after.as_deref().map_or(0, word_count),
        compilation: c,
    }
}

/// The newest `limit` compilations (page regenerates included, 02 §9.5).
pub async fn compilations(
    db: &Db,
    project_id: String,
    limit: i64,
) -> DomainResult<Vec<HistoryItem>> {
    db.read(move |conn| {
        Ok(rows::compilations(conn, &project_id, limit)?
            .into_iter()
            .map(history_item)
            .collect())
    })
    .await
}

/// `GET …/compile-status`.
#[derive(Debug, Clone)]
pub struct CompileStatus {
    pub last_compile_at: Option<String>,
    pub pending_claims: i64,
    pub compile_needed: bool,
    pub compile_schedule: String,
    pub compile_after_claims: Option<i64>,
    pub last_scheduled_compile_at: Option<String>,
    pub next_scheduled_at: Option<String>,
    pub history: Vec<HistoryItem>,
}

/// Claims a compile would fold in now, counting the evidence step 5 would promote.
fn pending_now(entries: &[CompileEntry]) -> (i64, i64) {
    let pending = entries.iter().filter(|e| is_pending(e)).count() as i64;
    let evidence = entries
        .iter()
        .filter(|e| {
            promotable_evidence(e)
                && e.compiled_at.is_none()
                && e.superseded_by.is_none()
                && matches!(e.freshness_class, Freshness::Current | Freshness::Aging)
        })
        .count() as i64;
    (pending, evidence)
}

pub async fn status(db: &Db, clock: &Clock, project_id: String) -> DomainResult<CompileStatus> {
    let now = clock.now();
    db.read(move |conn| {
        let settings = rows::project_settings(conn, &project_id)?.ok_or_else(not_found)?;
        let entries = rows::entries(conn, &project_id)?;
        let (pending, evidence) = pending_now(&entries);
        let pending_claims = pending + evidence;
        let last = rows::latest_compilation(conn, &project_id)?.map(|c| c.compiled_at);
        let stale = last
            .as_deref()
            .and_then(clock::parse)
            .is_none_or(|t| now - t > Duration::hours(24));
        let next = match (
            settings.compile_schedule.as_str(),
            settings
                .last_scheduled_compile_at
                .as_deref()
                .and_then(clock::parse),
        ) {
            ("nightly", Some(t)) => Some(clock::format(t + Duration::hours(24))),
            ("weekly", Some(t)) => Some(clock::format(t + Duration::days(7))),
            _ => None,
        };
        let history = rows::compilations(conn, &project_id, 10)?
            .into_iter()
            .map(history_item)
            .collect();
        Ok(CompileStatus {
            last_compile_at: last,
            pending_claims,
            compile_needed: (pending_claims >= 1 && stale) || pending_claims >= 20,
            compile_schedule: settings.compile_schedule,
            compile_after_claims: settings.compile_after_claims,
            last_scheduled_compile_at: settings.last_scheduled_compile_at,
            next_scheduled_at: next,
            history,
        })
    })
    .await
}

/// `GET …/health`.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub total_entries: i64,
    pub pending_entries: i64,
    pub uncompiled_notes: i64,
    pub auto_promotable_evidence: i64,
    pub compiled_entries: i64,
    pub dismissed_entries: i64,
    pub total_compilations: i64,
    pub last_compilation_at: Option<String>,
    pub word_count: i64,
    pub section_count: i64,
    pub potentially_stale: bool,
    pub recommendations: Vec<String>,
    pub stale_entry_count: i64,
    pub low_confidence_count: i64,
    pub decayed_count: i64,
}

/// A pending claim the document seems not to know: its first three words longer than four
/// characters all absent from the document.
fn unknown_to(document: &str, e: &CompileEntry) -> bool {
    let doc = document.to_lowercase();
    let words: Vec<String> = e
        .content
        .split_whitespace()
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 4)
        .take(3)
        .collect();
    !words.is_empty() && words.iter().all(|w| !doc.contains(w.as_str()))
}

/// The health figures of a project's knowledge (pure: rows, document, budget, history).
pub fn health_of(
    entries: &[CompileEntry],
    document: &str,
    budget: i64,
    total_compilations: i64,
    last_compilation_at: Option<String>,
    now: Timestamp,
) -> Health {
    let count = |f: &dyn Fn(&CompileEntry) -> bool| entries.iter().filter(|e| f(e)).count() as i64;
    let (pending_entries, auto_promotable_evidence) = pending_now(entries);
    let uncompiled_notes = count(&uncompiled_note);
    let stale_entry_count = count(&|e| e.freshness_class == Freshness::Stale && !e.dismissed);
    let low_confidence_count = count(&|e| !e.dismissed && e.confidence < 0.3);
    let old = now - Duration::days(DECAY_IDLE_DAYS);
    let decayed_count = count(&|e| {
        !e.dismissed
            && (0.1..LOW_CONFIDENCE).contains(&e.confidence)
            && at(&e.created_at, now) < old
    });
    let words = word_count(document);
    let mut recommendations = Vec::new();
    if stale_entry_count > 10 {
        recommendations.push(format!(
            "{stale_entry_count} entries are stale: refresh the ones still true and dismiss the rest (POST …/entries/dismiss-stale)."
        ));
    }
    if low_confidence_count > 5 {
        recommendations.push(format!(
            "{low_confidence_count} entries have confidence below 0.3: review or dismiss them."
        ));
    }
    if pending_entries + auto_promotable_evidence > 0 {
        recommendations.push(format!(
            "{} claims are waiting: run `sfs project compile`.",
            pending_entries + auto_promotable_evidence
        ));
    }
    if uncompiled_notes > 0 {
        recommendations.push(format!(
            "{uncompiled_notes} notes are not compiled (notes do not auto-promote): bulk-promote the good ones (POST …/entries/bulk-promote)."
        ));
    }
    if budget > 0 && words * 4 > budget * 3 {
        recommendations.push(format!(
            "The context document uses {words} of its {budget}-word budget: prune it or raise kb_max_context_words."
        ));
    }
    if total_compilations == 0 {
        recommendations.push("No compilation yet: run `sfs project compile`.".into());
    }
    Health {
        total_entries: entries.len() as i64,
        pending_entries,
        uncompiled_notes,
        auto_promotable_evidence,
        compiled_entries: count(&|e| e.compiled_at.is_some()),
        dismissed_entries: count(&|e| e.dismissed),
        total_compilations,
        last_compilation_at,
        word_count: words,
        section_count: document.lines().filter(|l| l.starts_with("## ")).count() as i64,
        potentially_stale: entries
            .iter()
            .any(|e| is_pending(e) && unknown_to(document, e)),
        recommendations,
        stale_entry_count,
        low_confidence_count,
        decayed_count,
    }
}

pub async fn health(db: &Db, clock: &Clock, project_id: String) -> DomainResult<Health> {
    let now = clock.now();
    db.read(move |conn| {
        let settings = rows::settings(conn, &project_id)?.ok_or_else(not_found)?;
        let entries = rows::entries(conn, &project_id)?;
        let total = rows::count_compilations(conn, &project_id)?;
        let last = rows::latest_compilation(conn, &project_id)?.map(|c| c.compiled_at);
        Ok(health_of(
            &entries,
            &settings.context_document,
            settings.kb_max_context_words,
            total,
            last,
            now,
        ))
    })
    .await
}

/// The `## ` sections of a document as (slug, heading, body); sections whose body is only
/// HTML comments (the template's placeholders) are left out.
pub fn document_sections(document: &str) -> Vec<(String, String, String)> {
    let doc = Sections::parse(document);
    doc.sections
        .into_iter()
        .filter_map(|(title, body)| {
            let body = body.join("\n").trim().to_string();
            let mut rest = body.as_str();
            loop {
                rest = rest.trim_start();
                match rest
                    .strip_prefix("<!--")
                    .and_then(|r| r.find("-->").map(|i| &r[i + 3..]))
                {
                    Some(after) => rest = after,
                    None => break,
                }
            }
            if rest.trim().is_empty() {
                return None;
            }
            Some((section_slug(&title), title, body))
        })
        .collect()
}

/// A section of the context document with the claims behind it.
#[derive(Debug, Clone)]
pub struct Section {
    pub slug: String,
    pub title: String,
    pub content: String,
    /// The latest compilation's manifest entries for this slug, each with `compile_id`.
    pub source_entries: Vec<Value>,
}

pub async fn section(db: &Db, project_id: String, slug: String) -> DomainResult<Section> {
    db.read(move |conn| {
        let settings = rows::settings(conn, &project_id)?.ok_or_else(not_found)?;
        let sections = document_sections(&settings.context_document);
        let Some((slug, _, content)) = sections.iter().find(|(s, _, _)| *s == slug).cloned() else {
            return Err(DomainError::SectionNotFound {
                slug,
                available: sections.into_iter().map(|(s, _, _)| s).collect(),
            });
        };
        let mut source_entries = Vec::new();
        if let Some(c) = rows::latest_compilation(conn, &project_id)? {
            let manifest: Value = serde_json::from_str(&c.source_manifest).unwrap_or(Value::Null);
            for item in manifest[&slug].as_array().into_iter().flatten() {
                let mut item = item.clone();
                item["compile_id"] = json!(c.id);
                source_entries.push(item);
            }
        }
        Ok(Section {
            title: title_case(&slug.replace('_', " ")),
            slug,
            content,
            source_entries,
        })
    })
    .await
}

/// What an admin restore did (or would do).
#[derive(Debug, Clone)]
pub struct Restored {
    pub compiled_at: Option<String>,
    pub context_words_restored: i64,
    pub entries_compiled_at_restored: i64,
}

/// 03 §4.2: put back the context document a compilation produced and stamp its entries with
/// its time, with an admin audit row, in one transaction; a dry run writes nothing.
pub async fn restore_from_compilation(
    db: &Db,
    clock: &Clock,
    admin_id: String,
    project_id: String,
    compilation_id: i64,
    dry_run: bool,
) -> DomainResult<Restored> {
    let clock = clock.clone();
    let work = move |tx: &Connection, write: bool| -> DomainResult<Restored> {
        if rows::settings(tx, &project_id)?.is_none() {
            return Err(DomainError::NotFound(format!(
                "Project {project_id} not found"
            )));
        }
        let c = rows::compilation(tx, &project_id, compilation_id)?.ok_or_else(|| {
            DomainError::NotFound(format!(
                "Compilation {compilation_id} not found in project {project_id}"
            ))
        })?;
        let document = c.context_after.clone().unwrap_or_default();
        if document.trim().is_empty() {
            return Err(DomainError::Unprocessable(format!(
                "Compilation {compilation_id} has no context to restore"
            )));
        }
        let manifest: Value = serde_json::from_str(&c.source_manifest).unwrap_or(Value::Null);
        let ids: BTreeSet<i64> = manifest
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .filter_map(|item| item["kb_entry_id"].as_i64())
            .collect();
        let out = Restored {
            compiled_at: Some(c.compiled_at.clone()),
            context_words_restored: word_count(&document),
            entries_compiled_at_restored: ids.len() as i64,
        };
        if write {
            let now = clock.now_string();
            rows::set_document(tx, &project_id, &document, &now)?;
            let ids: Vec<i64> = ids.into_iter().collect();
            rows::set_compiled_at(tx, &project_id, &ids, &c.compiled_at)?;
            crate::db::admin::record(
                tx,
                Some(&admin_id),
                "restore_from_compilation",
                "project",
                &project_id,
                &json!({
                    "compilation_id": compilation_id,
                    "context_words_restored": out.context_words_restored,
                    "entries_compiled_at_restored": out.entries_compiled_at_restored,
                }),
                "api",
                &now,
            )?;
        }
        Ok(out)
    };
    if dry_run {
        db.read(move |conn| work(conn, false)).await
    } else {
        db.write(move |tx| work(tx, true)).await
    }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
