//! Knowledge entries (02 §3.2–3.5): add with its validation, quota, duplicate check and
//! classification; the filtered list with its retrieval side effect; the curation acts
//! (dismissal, refresh, supersede, promote, confidence, bulk-promote, dismiss-stale) and links.
//!
//! Every function takes a project the caller already holds standing on (see
//! [`crate::domain::projects::open`]); the standing decides what an edit needs.

use std::collections::HashSet;

use chrono::Duration;

use crate::clock::{self, Clock};
use crate::db::knowledge::{
    self, AuthorClass, Backlink, ClaimClass, Entry, EntryType, Filter, Freshness, LinkNode,
    LinkType, NewEntry, NewLink, Sort,
};
use crate::db::projects::Project;
use crate::db::Db;
use crate::domain::personas;
use crate::domain::projects::{Actor, Standing};
use crate::domain::tiers::Tier;
use crate::domain::{DomainError, DomainResult};

pub const MIN_CONTENT_CHARS: usize = 20;
/// Longest content accepted (the reference has no limit; 02 §9.7).
pub const MAX_CONTENT_CHARS: usize = 50_000;
/// Word overlap above which two entries are the same knowledge.
const DUPLICATE_OVERLAP: f64 = 0.85;
const DUPLICATE_WINDOW: i64 = 50;
const CLAIM_MIN_CONFIDENCE: f64 = 0.8;
const CLAIM_MIN_CHARS: usize = 50;
const CLAIMS_PER_SESSION: i64 = 5;
const READER_MAX_CONFIDENCE: f64 = 0.7;

pub fn entry_not_found() -> DomainError {
    DomainError::NotFound("Entry not found".into())
}

/// |A∩B| / min(|A|,|B|) over lowercase whitespace-split word sets (0 if either is empty).
pub fn word_overlap(a: &str, b: &str) -> f64 {
    let words =
        |s: &str| -> HashSet<String> { s.split_whitespace().map(str::to_lowercase).collect() };
    let (a, b) = (words(a), words(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.intersection(&b).count() as f64 / a.len().min(b.len()) as f64
}

/// Entries one user may add to one project per hour (02 §3.4).
pub fn hourly_limit(tier: Tier, platform_admin: bool) -> i64 {
    if let Some(n) = std::env::var("SFS_KNOWLEDGE_RATE_LIMIT_PER_HOUR")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return n;
    }
    if platform_admin {
        return 500;
    }
    match tier {
        Tier::Free => 20,
        Tier::Starter => 50,
        Tier::Pro | Tier::Team => 100,
        Tier::Enterprise => 200,
    }
}

/// The body of an add, already typed.
#[derive(Debug, Clone)]
pub struct AddRequest {
    pub content: String,
    pub entry_type: String,
    pub session_id: String,
    pub confidence: Option<f64>,
    pub source_context: Option<String>,
    pub entity_ref: Option<String>,
    pub entity_type: Option<String>,
    pub persona_name: Option<String>,
    pub upsert: bool,
    pub author_class: Option<AuthorClass>,
    pub force_claim: bool,
}

/// Who adds, as the add rules need it.
#[derive(Debug, Clone)]
pub struct Contributor {
    pub actor: Actor,
    pub standing: Standing,
    pub tier: Tier,
    /// `(id, name)` of a service key.
    pub service_key: Option<(String, String)>,
}

pub struct Added {
    pub entry: Entry,
    pub classification_reason: String,
    pub tip: Option<String>,
    pub upserted_from: Vec<i64>,
}

fn invalid(
    field: &'static str,
    message: impl Into<String>,
    input: serde_json::Value,
) -> DomainError {
    DomainError::Invalid {
        loc: vec!["body", field],
        message: message.into(),
        input,
    }
}

/// Adds an entry (02 §3.4), checks in the contract's order.
pub async fn add(
    db: &Db,
    clock: &Clock,
    project_id: String,
    who: Contributor,
    req: AddRequest,
) -> DomainResult<Added> {
    let entry_type = EntryType::parse(&req.entry_type).ok_or_else(|| {
        DomainError::Unprocessable(format!(
            "Invalid entry_type. Must be one of: {}",
            EntryType::listing()
        ))
    })?;
    let length = req.content.chars().count();
    if length < MIN_CONTENT_CHARS {
        return Err(DomainError::Unprocessable(
            "Content too short — minimum 20 characters required".into(),
        ));
    }
    if length > MAX_CONTENT_CHARS {
        return Err(DomainError::TooLarge(format!(
            "Content too long — maximum {MAX_CONTENT_CHARS} characters"
        )));
    }
    if let Some(c) = req.confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(invalid(
                "confidence",
                "confidence must be between 0 and 1",
                c.into(),
            ));
        }
    }
    for (field, value, max) in [
        ("entity_ref", &req.entity_ref, 200),
        ("entity_type", &req.entity_type, 50),
        ("persona_name", &req.persona_name, 64),
    ] {
        if let Some(v) = value.as_ref().filter(|v| v.chars().count() > max) {
            return Err(invalid(
                field,
                format!("{field} must be at most {max} characters"),
                v.as_str().into(),
            ));
        }
    }
    let limit = hourly_limit(who.tier, who.actor.platform_admin);
    let is_reader = who.service_key.is_none() && !who.standing.edit;
    let clock = clock.clone();
    db.write(move |tx| {
        // The persona must be one the project knows (active or retired), stored as it is spelt.
        let persona_name = match req.persona_name.as_deref() {
            None => None,
            Some(name) => {
                let project = crate::db::projects::get(tx, &project_id)?
                    .ok_or_else(crate::domain::projects::not_found)?;
                let persona = personas::resolve(tx, &project, &who.actor, name, false)?
                    .ok_or_else(|| {
                        DomainError::Unprocessable(format!(
                            "Persona '{name}' not found in this project"
                        ))
                    })?;
                Some(persona.name)
            }
        };
        let now = clock.now();
        let since = clock::format(now - Duration::hours(1));
        let recent = knowledge::count_by_author_since(tx, &project_id, &who.actor.user_id, &since)?;
        if recent >= limit {
            return Err(DomainError::TooMany {
                message: format!(
                    "Knowledge entry limit reached ({limit} per hour in this project)"
                ),
                retry_after: Some(60),
            });
        }
        let upsert_ref = if req.upsert {
            let Some(entity) = req.entity_ref.as_deref().filter(|e| !e.trim().is_empty()) else {
                return Err(DomainError::Unprocessable(
                    "upsert requires entity_ref".into(),
                ));
            };
            if is_reader {
                return Err(DomainError::EditForbidden);
            }
            Some(entity.to_string())
        } else {
            if knowledge::newest_contents(tx, &project_id, false, DUPLICATE_WINDOW)?
                .iter()
                .any(|c| word_overlap(c, &req.content) > DUPLICATE_OVERLAP)
            {
                return Err(DomainError::Conflict("Similar entry already exists".into()));
            }
            None
        };

        let author_class = if who.service_key.is_some() {
            AuthorClass::Agent
        } else {
            req.author_class.unwrap_or(AuthorClass::Human)
        };
        let mut confidence =
            req.confidence
                .unwrap_or(if matches!(req.session_id.as_str(), "manual" | "cli-ask") {
                    0.7
                } else {
                    1.0
                });
        if is_reader {
            confidence = confidence.min(READER_MAX_CONFIDENCE);
        }
        let words = req.content.split_whitespace().count();
        let specific = req
            .content
            .split_whitespace()
            .any(|w| w.contains(['/', '.', '_']) || w.chars().any(|c| c.is_ascii_digit()))
            || words >= 15;
        let mut failures = Vec::new();
        if is_reader {
            failures.push("author is a reader, not an editor".to_string());
        }
        if confidence < CLAIM_MIN_CONFIDENCE {
            failures.push(format!("confidence {confidence:.2} < 0.8"));
        }
        if length < CLAIM_MIN_CHARS {
            failures.push(format!("content length {length} < 50"));
        }
        if !specific {
            failures.push("content lacks specifics (a path, name or number, or 15+ words)".into());
        }
        if knowledge::count_claims_for_session(tx, &project_id, &req.session_id)?
            >= CLAIMS_PER_SESSION
        {
            failures.push("session already has 5 claims".into());
        }
        let claim_class = if failures.is_empty() {
            ClaimClass::Claim
        } else {
            ClaimClass::Note
        };
        let classification_reason = if failures.is_empty() {
            "Auto-promoted to claim: confidence, length and specificity gates passed".to_string()
        } else {
            format!("Classified as note: {}", failures.join("; "))
        };
        let tip = if is_reader {
            Some("Added as a reader note: a project editor can promote it to a claim.".to_string())
        } else if req.force_claim && !failures.is_empty() {
            Some(format!(
                "force_claim could not promote this entry: {}",
                failures.join("; ")
            ))
        } else if confidence >= CLAIM_MIN_CONFIDENCE && length < CLAIM_MIN_CHARS {
            Some("Expand content to 50+ characters to make this entry a claim.".to_string())
        } else if length >= CLAIM_MIN_CHARS && confidence < CLAIM_MIN_CONFIDENCE {
            Some("Increase confidence to 0.8+ to make this entry a claim.".to_string())
        } else {
            None
        };

        let at = clock::format(now);
        let id = knowledge::insert(
            tx,
            &NewEntry {
                project_id: &project_id,
                session_id: &req.session_id,
                user_id: &who.actor.user_id,
                entry_type,
                content: &req.content,
                confidence,
                source_context: req.source_context.as_deref(),
                persona_name: persona_name.as_deref(),
                author_class,
                claim_class,
                entity_ref: req.entity_ref.as_deref(),
                entity_type: req.entity_type.as_deref(),
                reader_authored: is_reader,
                service_key: who
                    .service_key
                    .as_ref()
                    .map(|(i, n)| (i.as_str(), n.as_str())),
                created_at: &at,
            },
        )?;
        let upserted_from = match upsert_ref {
            Some(entity) => {
                knowledge::supersede_entity(tx, &project_id, &entity, id, &who.actor.user_id, &at)?
            }
            None => Vec::new(),
        };
        let entry = knowledge::get(tx, &project_id, id)?
            .ok_or_else(|| DomainError::Fault("inserted entry vanished".into()))?;
        Ok(Added {
            entry,
            classification_reason,
            tip,
            upserted_from,
        })
    })
    .await
}

pub async fn get(db: &Db, project_id: String, id: i64) -> DomainResult<Entry> {
    db.read(move |conn| knowledge::get(conn, &project_id, id)?.ok_or_else(entry_not_found))
        .await
}

/// A list request, validated.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub filter: Filter,
    pub sort: Sort,
    pub cursor: Option<i64>,
    pub page: i64,
    pub limit: i64,
    pub used_in_answer: bool,
    /// Whether a search may record its retrieval (not for a read-only service key).
    pub record: bool,
}

/// One page and the keyset cursor of the next (default sort and a full page only).
pub async fn list(
    db: &Db,
    clock: &Clock,
    project_id: String,
    req: ListRequest,
) -> DomainResult<(Vec<Entry>, Option<i64>)> {
    let offset = (req.page - 1) * req.limit;
    let entries = {
        let (pid, filter) = (project_id.clone(), req.filter.clone());
        db.read(move |conn| {
            knowledge::list(conn, &pid, &filter, req.sort, req.cursor, offset, req.limit)
        })
        .await?
    };
    if req.filter.search.is_some() && req.record && !entries.is_empty() {
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let used = req.used_in_answer;
        let clock = clock.clone();
        db.write(move |tx| knowledge::record_retrieval(tx, &ids, used, &clock.now_string()))
            .await?;
    }
    let next = (req.sort == Sort::CreatedAtDesc && entries.len() as i64 == req.limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok((entries, next))
}

/// Dismisses or undismisses an entry (02 §3.5); a request that changes nothing is a no-op.
pub async fn set_dismissed(
    db: &Db,
    clock: &Clock,
    project_id: String,
    id: i64,
    by: String,
    dismissed: bool,
    reason: Option<String>,
) -> DomainResult<Entry> {
    let clock = clock.clone();
    db.write(move |tx| {
        let entry = knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)?;
        let now = clock.now_string();
        match (entry.dismissed, dismissed) {
            (false, true) => {
                knowledge::set_dismissal(tx, id, true, Some(&now), Some(&by), reason.as_deref())?
            }
            (true, false) => knowledge::set_dismissal(tx, id, false, None, None, None)?,
            (true, true) if reason.is_some() => knowledge::set_dismissal(
                tx,
                id,
                true,
                entry.dismissed_at.as_deref(),
                entry.dismissed_by.as_deref(),
                reason.as_deref(),
            )?,
            _ => return Ok(entry),
        }
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)
    })
    .await
}

/// Who curates: the user (a service key's backing user) and the key, if it is one.
#[derive(Debug, Clone)]
pub struct Curator {
    pub user_id: String,
    /// `(id, name)` of a service key.
    pub service_key: Option<(String, String)>,
}

impl Curator {
    fn by(&self) -> knowledge::WrittenBy<'_> {
        self.service_key
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()))
    }
}

fn unit_interval(field: &'static str, value: f64) -> DomainResult<()> {
    if !(0.0..=1.0).contains(&value) {
        return Err(invalid(
            field,
            format!("{field} must be between 0 and 1"),
            value.into(),
        ));
    }
    Ok(())
}

/// The answer to a refresh.
pub struct Refreshed {
    pub id: i64,
    pub freshness_class: Freshness,
    pub last_relevant_at: String,
}

/// Marks an entry still valid (02 §3.5 refresh): relevant now, `current`.
pub async fn refresh(
    db: &Db,
    clock: &Clock,
    project_id: String,
    id: i64,
    who: Curator,
) -> DomainResult<Refreshed> {
    let clock = clock.clone();
    db.write(move |tx| {
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)?;
        let now = clock.now_string();
        knowledge::refresh(tx, id, &now, who.by())?;
        Ok(Refreshed {
            id,
            freshness_class: Freshness::Current,
            last_relevant_at: now,
        })
    })
    .await
}

/// Longest supersession reason accepted (the reference has no limit; 02 §9.7).
pub const MAX_REASON_CHARS: usize = 2_000;

/// Marks entry `id` superseded by `superseding_id` and links them (02 §3.5 supersede). A second
/// supersede between the same two entries is a duplicate link: refused, nothing written.
pub async fn supersede(
    db: &Db,
    clock: &Clock,
    project_id: String,
    id: i64,
    superseding_id: i64,
    reason: String,
    who: Curator,
) -> DomainResult<()> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(
            "reason",
            format!("reason must be at most {MAX_REASON_CHARS} characters"),
            reason.into(),
        ));
    }
    let clock = clock.clone();
    db.write(move |tx| {
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)?;
        knowledge::get(tx, &project_id, superseding_id)?
            .ok_or_else(|| DomainError::NotFound("Superseding entry not found".into()))?;
        if id == superseding_id {
            return Err(DomainError::Unprocessable(
                "An entry cannot supersede itself".into(),
            ));
        }
        knowledge::mark_superseded(tx, id, superseding_id, &reason, who.by())?;
        let (source, target) = (superseding_id.to_string(), id.to_string());
        knowledge::insert_link(
            tx,
            &NewLink {
                project_id: &project_id,
                source: (LinkNode::Entry, &source),
                target: (LinkNode::Entry, &target),
                link_type: LinkType::Supersedes,
                confidence: 1.0,
                created_at: &clock.now_string(),
                by: who.by(),
            },
        )?;
        Ok(())
    })
    .await
}

/// Promotes a note to a claim when its gates pass (02 §3.5 promote).
pub async fn promote(
    db: &Db,
    clock: &Clock,
    project_id: String,
    id: i64,
    who: Curator,
) -> DomainResult<Entry> {
    let clock = clock.clone();
    db.write(move |tx| {
        let entry = knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)?;
        if entry.claim_class == ClaimClass::Claim {
            return Err(DomainError::Conflict("Entry is already a claim".into()));
        }
        let mut failures = Vec::new();
        if entry.confidence < CLAIM_MIN_CONFIDENCE {
            failures.push(format!("confidence {:.1} < 0.8", entry.confidence));
        }
        let length = entry.content.chars().count();
        if length < CLAIM_MIN_CHARS {
            failures.push(format!("content length {length} < 50 chars"));
        }
        if knowledge::newest_claim_contents(tx, &project_id, DUPLICATE_WINDOW)?
            .iter()
            .any(|c| word_overlap(&entry.content, c) > DUPLICATE_OVERLAP)
        {
            failures.push("near-duplicate of existing claim".into());
        }
        if !failures.is_empty() {
            return Err(DomainError::Unprocessable(format!(
                "Cannot promote: {}",
                failures.join("; ")
            )));
        }
        knowledge::promote(tx, id, &who.user_id, &clock.now_string(), None, who.by())?;
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)
    })
    .await
}

/// Sets an entry's confidence (02 §3.5); never promotes.
pub async fn set_confidence(
    db: &Db,
    project_id: String,
    id: i64,
    confidence: f64,
) -> DomainResult<Entry> {
    unit_interval("confidence", confidence)?;
    db.write(move |tx| {
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)?;
        knowledge::set_confidence(tx, id, confidence)?;
        knowledge::get(tx, &project_id, id)?.ok_or_else(entry_not_found)
    })
    .await
}

/// Why bulk-promote passed over a note, in the order the gates run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    AlreadyClaim,
    Dismissed,
    Superseded,
    WrongType,
    TooShort,
    LowConfidence,
    Duplicate,
}

/// Counts per skip reason (every reason present, zero when unused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCounts {
    pub already_claim: i64,
    pub dismissed: i64,
    pub superseded: i64,
    pub wrong_type: i64,
    pub too_short: i64,
    pub low_confidence: i64,
    pub duplicate: i64,
}

impl SkipCounts {
    fn bump(&mut self, reason: SkipReason) {
        *match reason {
            SkipReason::AlreadyClaim => &mut self.already_claim,
            SkipReason::Dismissed => &mut self.dismissed,
            SkipReason::Superseded => &mut self.superseded,
            SkipReason::WrongType => &mut self.wrong_type,
            SkipReason::TooShort => &mut self.too_short,
            SkipReason::LowConfidence => &mut self.low_confidence,
            SkipReason::Duplicate => &mut self.duplicate,
        } += 1;
    }
}

/// The options of a bulk-promote, already typed.
#[derive(Debug, Clone)]
pub struct BulkPromote {
    pub min_length: i64,
    pub min_confidence: f64,
    pub set_confidence: Option<f64>,
    pub entry_type: Option<String>,
    pub dry_run: bool,
    pub include_reader_notes: bool,
}

#[derive(Debug, Clone, Default)]
pub struct BulkPromoted {
    pub promoted: i64,
    pub skipped: i64,
    pub reasons: SkipCounts,
    pub promoted_ids: Vec<i64>,
    pub dry_run: bool,
    pub reader_notes_excluded: i64,
}

/// The gate a note fails before the duplicate check, if any.
fn bulk_gate(note: &knowledge::NoteGate, opts: &BulkPromote) -> Option<SkipReason> {
    if note.dismissed {
        Some(SkipReason::Dismissed)
    } else if note.superseded {
        Some(SkipReason::Superseded)
    } else if opts
        .entry_type
        .as_deref()
        .is_some_and(|t| t != note.entry_type.as_str())
    {
        Some(SkipReason::WrongType)
    } else if (note.length as i64) < opts.min_length {
        Some(SkipReason::TooShort)
    } else if opts.set_confidence.is_none() && note.confidence < opts.min_confidence {
        Some(SkipReason::LowConfidence)
    } else {
        None
    }
}

/// Promotes every eligible note at once (02 §3.5 bulk-promote); writes only without `dry_run`.
/// A dry run answers exactly what the real run would do: an eligible note joins the duplicate
/// window either way.
pub async fn bulk_promote(
    db: &Db,
    clock: &Clock,
    project: Project,
    who: Curator,
    opts: BulkPromote,
) -> DomainResult<BulkPromoted> {
    for (field, value) in [
        ("min_confidence", Some(opts.min_confidence)),
        ("set_confidence", opts.set_confidence),
    ] {
        if let Some(v) = value {
            unit_interval(field, v)?;
        }
    }
    if !(1..=10_000).contains(&opts.min_length) {
        return Err(invalid(
            "min_length",
            "min_length must be between 1 and 10000",
            opts.min_length.into(),
        ));
    }
    if let Some(t) = opts.entry_type.as_ref().filter(|t| t.chars().count() > 64) {
        return Err(invalid(
            "entry_type",
            "entry_type must be at most 64 characters",
            t.as_str().into(),
        ));
    }
    let clock = clock.clone();
    db.write(move |tx| {
        let mut result = BulkPromoted {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        let notes = knowledge::notes(
            tx,
            &project.id,
            &project.owner_id,
            project.org_id.as_deref(),
        )?;
        let mut candidates = Vec::new();
        for note in &notes {
            if !opts.include_reader_notes && !note.editor_authored {
                result.reader_notes_excluded += 1;
            } else if let Some(reason) = bulk_gate(note, &opts) {
                result.reasons.bump(reason);
                result.skipped += 1;
            } else {
                candidates.push(note.id);
            }
        }
        let mut window = knowledge::newest_claim_contents(tx, &project.id, DUPLICATE_WINDOW)?;
        for (id, content) in knowledge::contents(tx, &project.id, &candidates)? {
            if window
                .iter()
                .any(|c| word_overlap(&content, c) > DUPLICATE_OVERLAP)
            {
                result.reasons.bump(SkipReason::Duplicate);
                result.skipped += 1;
                continue;
            }
            result.promoted += 1;
            result.promoted_ids.push(id);
            window.push(content);
        }
        if !opts.dry_run {
            let now = clock.now_string();
            for id in &result.promoted_ids {
                knowledge::promote(tx, *id, &who.user_id, &now, opts.set_confidence, who.by())?;
            }
        }
        Ok(result)
    })
    .await
}

/// Days without relevance after which a low-confidence entry is stale.
const STALE_AFTER_DAYS: i64 = 90;

/// Dismisses stale low-confidence entries (02 §3.5 dismiss-stale); returns how many.
pub async fn dismiss_stale(db: &Db, clock: &Clock, project_id: String) -> DomainResult<i64> {
    let clock = clock.clone();
    db.write(move |tx| {
        let before = clock::format(clock.now() - Duration::days(STALE_AFTER_DAYS));
        Ok(knowledge::dismiss_stale(tx, &project_id, &before)?)
    })
    .await
}

/// Links whose target is (`target_type`, `target_id`); an unknown target type has none.
pub async fn backlinks(
    db: &Db,
    project_id: String,
    target_type: String,
    target_id: String,
) -> DomainResult<Vec<Backlink>> {
    let Some(node) = LinkNode::parse(&target_type) else {
        return Ok(Vec::new());
    };
    db.read(move |conn| Ok(knowledge::backlinks(conn, &project_id, node, &target_id)?))
        .await
}

#[cfg(test)]
mod tests {
    use super::word_overlap;

    #[test]
    fn overlap_is_over_the_smaller_set() {
        assert_eq!(word_overlap("", "a b"), 0.0);
        assert_eq!(word_overlap("A b c", "a B c d e f"), 1.0);
        assert!((word_overlap("a b c d", "a b x y") - 0.5).abs() < 1e-9);
    }
}
