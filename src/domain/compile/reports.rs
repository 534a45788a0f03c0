//! What is read about compiles: the history, the compile status, the health figures and the
//! context document's sections.

use super::*;

/// A compilation as the history shows it, with its word counts.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub compilation: rows::Compilation,
    pub words_before: i64,
    pub words_after: i64,
}

pub(super) fn history_item(c: rows::Compilation) -> HistoryItem {
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
pub(super) fn pending_now(entries: &[CompileEntry]) -> (i64, i64) {
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
pub(super) fn unknown_to(document: &str, e: &CompileEntry) -> bool {
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
