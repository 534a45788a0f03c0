//! Steps 1–8 of a compile (02 §3.6): freshness, auto-supersede, decay, retention, evidence
//! promotion, the rebuild's reset, the pending claims and the no-op's reason. Pure functions
//! over the loaded rows.

use super::*;

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

pub(super) fn promotable_evidence(e: &CompileEntry) -> bool {
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

pub(super) fn is_pending(e: &CompileEntry) -> bool {
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

pub(super) fn uncompiled_note(e: &CompileEntry) -> bool {
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
