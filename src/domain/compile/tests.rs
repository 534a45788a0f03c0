//! Compile step by step with a clock that moves, on rows built in memory; then the whole
//! transaction on a real database, and the property that it is all or nothing.

use super::*;
use crate::clock::{format, parse};
use proptest::prelude::*;

fn t0() -> Timestamp {
    parse("2026-03-01T12:00:00Z").unwrap()
}

fn entry(id: i64, t: EntryType, content: &str) -> CompileEntry {
    CompileEntry {
        id,
        user_id: "u1".into(),
        persona_name: None,
        entry_type: t,
        content: content.into(),
        entity_ref: None,
        editor_authored: true,
        created_at: format(t0()),
        confidence: 0.9,
        claim_class: ClaimClass::Claim,
        dismissed: false,
        superseded_by: None,
        supersession_reason: None,
        freshness_class: Freshness::Current,
        promoted_at: None,
        compiled_at: None,
        last_relevant_at: None,
        compiled_count: 0,
    }
}

#[test]
fn step1_freshness_follows_age_and_type_window() {
    let mut rows = vec![
        entry(1, EntryType::Bug, "bug entry"),
        entry(2, EntryType::Decision, "decision entry"),
        entry(3, EntryType::Bug, "superseded bug"),
    ];
    rows[2].superseded_by = Some(1);
    // Day 0: all fresh; the superseded one changes class.
    assert_eq!(refresh_freshness(&mut rows, t0()), BTreeSet::from([3]));
    assert_eq!(rows[2].freshness_class, Freshness::Superseded);
    // Day 16: a bug (30-day window) is aging, a decision (365) still current.
    let changed = refresh_freshness(&mut rows, t0() + Duration::days(16));
    assert_eq!(changed, BTreeSet::from([1]));
    assert_eq!(rows[0].freshness_class, Freshness::Aging);
    assert_eq!(rows[1].freshness_class, Freshness::Current);
    // Day 31: the bug is stale; relevance resets the age.
    refresh_freshness(&mut rows, t0() + Duration::days(31));
    assert_eq!(rows[0].freshness_class, Freshness::Stale);
    rows[0].last_relevant_at = Some(format(t0() + Duration::days(30)));
    refresh_freshness(&mut rows, t0() + Duration::days(31));
    assert_eq!(rows[0].freshness_class, Freshness::Current);
    // Day 200: the decision is aging (half of 365 passed).
    refresh_freshness(&mut rows, t0() + Duration::days(200));
    assert_eq!(rows[1].freshness_class, Freshness::Aging);
}

#[test]
fn step2_auto_supersede_and_contradicts() {
    let base = "the cache layer uses redis with a ttl of sixty seconds for sessions";
    let mut rows = vec![
        entry(1, EntryType::Decision, base),
        entry(2, EntryType::Decision, base),
        entry(
            3,
            EntryType::Decision,
            "the cache layer uses memcached with no ttl at all here",
        ),
        entry(4, EntryType::Pattern, base),
    ];
    for (i, e) in rows.iter_mut().enumerate() {
        e.entity_ref = Some("cache".into());
        e.created_at = format(t0() + Duration::minutes(i as i64));
    }
    let (changed, links) = auto_supersede(&mut rows, &HashSet::new());
    assert_eq!(changed, BTreeSet::from([1]));
    assert_eq!(rows[0].superseded_by, Some(2));
    assert_eq!(
        rows[0].supersession_reason.as_deref(),
        Some("auto-superseded")
    );
    assert_eq!(rows[0].freshness_class, Freshness::Superseded);
    // Entry 4 is another type: a different group, untouched.
    assert_eq!(rows[3].superseded_by, None);
    let kinds: Vec<(i64, i64, LinkType)> = links
        .iter()
        .map(|l| (l.source, l.target, l.link_type))
        .collect();
    assert_eq!(
        kinds,
        vec![(2, 1, LinkType::Supersedes), (3, 2, LinkType::Contradicts)]
    );
    // Run again with those links present: nothing new.
    let existing: HashSet<(String, String)> = links
        .iter()
        .map(|l| (l.source.to_string(), l.target.to_string()))
        .collect();
    let (changed, links) = auto_supersede(&mut rows, &existing);
    assert!(changed.is_empty() && links.is_empty(), "{links:?}");
}

#[test]
fn step2_needs_a_confident_editor() {
    let text = "deploys run through the blue green pipeline in ci every night";
    let mut rows = vec![
        entry(1, EntryType::Pattern, text),
        entry(2, EntryType::Pattern, text),
    ];
    for e in rows.iter_mut() {
        e.entity_ref = Some("deploy".into());
    }
    rows[1].editor_authored = false;
    assert!(auto_supersede(&mut rows, &HashSet::new()).0.is_empty());
    rows[1].editor_authored = true;
    rows[1].confidence = 0.7;
    assert!(auto_supersede(&mut rows, &HashSet::new()).0.is_empty());
    rows[1].confidence = 0.8;
    assert_eq!(
        auto_supersede(&mut rows, &HashSet::new()).0,
        BTreeSet::from([1])
    );
}

#[test]
fn step3_decay_once_per_thirty_days_for_idle_entries() {
    let mut rows = vec![
        entry(1, EntryType::Decision, "idle"),
        entry(2, EntryType::Decision, "used"),
    ];
    let now = t0() + Duration::days(100);
    rows[1].last_relevant_at = Some(format(now - Duration::days(5)));
    let (changed, ran) = decay(&mut rows, None, now);
    assert!(ran);
    assert_eq!(changed, BTreeSet::from([1]));
    assert!((rows[0].confidence - 0.72).abs() < 1e-9);
    // Ten days later: not due.
    let (changed, ran) = decay(&mut rows, Some(now), now + Duration::days(10));
    assert!(!ran && changed.is_empty());
    // Thirty days later: due again.
    let (changed, ran) = decay(&mut rows, Some(now), now + Duration::days(30));
    assert!(ran && changed == BTreeSet::from([1]));
    // Dismissed and near-zero entries are left alone.
    rows[0].confidence = 0.1;
    assert!(decay(&mut rows, None, now).0.is_empty());
}

#[test]
fn step4_retention_dismisses_old_low_confidence_entries() {
    let mut rows = vec![
        entry(1, EntryType::Bug, "low"),
        entry(2, EntryType::Bug, "high"),
    ];
    rows[0].confidence = 0.2;
    assert!(retention(&mut rows, 180, t0() + Duration::days(179)).is_empty());
    assert_eq!(
        retention(&mut rows, 180, t0() + Duration::days(181)),
        BTreeSet::from([1])
    );
    assert!(rows[0].dismissed && !rows[1].dismissed);
}

#[test]
fn step5_evidence_promotion_gates() {
    let long = "the importer retries three times on a 503 response";
    let mut rows = vec![
        entry(1, EntryType::Discovery, long),
        entry(2, EntryType::Discovery, "too short to promote"),
        entry(3, EntryType::Discovery, long),
        entry(4, EntryType::Discovery, long),
    ];
    for e in rows.iter_mut() {
        e.claim_class = ClaimClass::Evidence;
    }
    rows[2].editor_authored = false;
    rows[3].confidence = 0.4;
    assert_eq!(promote_evidence(&mut rows, t0()), BTreeSet::from([1]));
    assert_eq!(rows[0].claim_class, ClaimClass::Claim);
    assert_eq!(rows[0].promoted_at, Some(format(t0())));
}

#[test]
fn step6_and_7_rebuild_clears_and_pending_orders() {
    let mut rows = vec![
        entry(1, EntryType::Bug, "a"),
        entry(2, EntryType::Bug, "b"),
        entry(3, EntryType::Bug, "c"),
        entry(4, EntryType::Bug, "d"),
        entry(5, EntryType::Bug, "e"),
    ];
    rows[0].compiled_at = Some(format(t0()));
    rows[1].confidence = 0.95;
    rows[2].claim_class = ClaimClass::Note;
    rows[3].freshness_class = Freshness::Stale;
    rows[4].entity_ref = Some("x".into());
    let now = t0();
    let order: Vec<i64> = pending(&rows, now).iter().map(|&i| rows[i].id).collect();
    assert_eq!(order, vec![2, 5]);
    assert_eq!(clear_compiled(&mut rows), BTreeSet::from([1]));
    let order: Vec<i64> = pending(&rows, now).iter().map(|&i| rows[i].id).collect();
    assert_eq!(order, vec![2, 5, 1]);
}

#[test]
fn step8_noop_reason_names_uncompiled_notes() {
    let mut rows = vec![entry(1, EntryType::Bug, "a")];
    rows[0].compiled_at = Some(format(t0()));
    assert_eq!(noop_reason(&rows), "no pending claims");
    rows.push(entry(2, EntryType::Bug, "b"));
    rows[1].claim_class = ClaimClass::Note;
    assert!(noop_reason(&rows).starts_with("1 notes uncompiled — notes do not auto-promote"));
}

#[test]
fn step9_deterministic_merge() {
    let doc = "# Project Context\n\n## Key Decisions\n- Use SQLite\n\n## Unverified\n- (unverified) maybe rust 1.85\n\n## Recent Changes\n### 2026-01-01\n- [decision] old\n";
    let mut a = entry(1, EntryType::Decision, "Use axum for HTTP");
    a.created_at = "2026-03-02T10:00:00.000000Z".into();
    let b = entry(2, EntryType::Decision, "use sqlite");
    let mut c = entry(3, EntryType::Bug, "flaky test on CI");
    c.confidence = 0.3;
    let d = entry(4, EntryType::Dependency, "tantivy 0.27 for search");
    let out = deterministic_merge(doc, &[&a, &b, &c, &d], 2000);
    assert_eq!(
        out,
        "# Project Context\n\n## Key Decisions\n- Use SQLite\n- Use axum for HTTP\n\n\
         ## Known Issues & Workarounds\n\n## Dependencies & Integrations\n- tantivy 0.27 for search\n\n\
         ## Unverified\n- (unverified) maybe rust 1.85\n- (unverified) flaky test on CI\n\n\
         ## Recent Changes\n### 2026-03-02\n- [decision] Use axum for HTTP\n\n### 2026-03-01\n\
         - [decision] use sqlite\n- [bug] flaky test on CI\n- [dependency] tantivy 0.27 for search"
    );
    // An empty document starts from the H1.
    let out = deterministic_merge("", &[&d], 2000);
    assert!(out.starts_with("# Project Context\n\n## Dependencies & Integrations\n- tantivy"));
}

#[test]
fn step9_word_budget_trims_the_longest_section() {
    let mut doc = String::from("# P\n\n## A\n");
    for i in 0..6 {
        doc.push_str(&format!("- a{i} one two\n"));
    }
    doc.push_str("\n## B\n- b1\n- b2\n");
    let before = word_count(&doc);
    let out = enforce_budget(&doc, before - 5);
    assert!(word_count(&out) <= before - 5, "{out}");
    assert!(
        !out.contains("a5") && !out.contains("a4") && out.contains("a3"),
        "{out}"
    );
    // Sections with three bullets or fewer are never cut: the loop stops.
    let out = enforce_budget(&doc, 1);
    assert!(out.contains("- a2") && out.contains("- b2"), "{out}");
}

#[test]
fn step10_manifest_by_section_slug() {
    let mut rows = vec![
        entry(1, EntryType::Pattern, "p"),
        entry(2, EntryType::Pattern, "q"),
    ];
    rows[1].dismissed = true;
    let m = manifest(&rows);
    assert_eq!(m["patterns_conventions"][0]["kb_entry_id"], 1);
    assert_eq!(m["patterns_conventions"].as_array().unwrap().len(), 1);
    assert_eq!(
        section_slug("Known Issues & Workarounds"),
        "known_issues_workarounds"
    );
}

#[test]
fn step11_section_pages_cap_and_unverified() {
    let mut rows: Vec<CompileEntry> = (1..=4)
        .map(|i| {
            let mut e = entry(i, EntryType::Bug, &format!("bug number {i}"));
            e.created_at = format(t0() + Duration::days(i));
            e
        })
        .collect();
    rows[0].confidence = 0.4;
    let pages = section_pages(&rows, 3);
    let bugs = pages.iter().find(|p| p.slug == "known-issues").unwrap();
    assert_eq!(bugs.entry_count, 4);
    assert_eq!(
        bugs.content.as_deref().unwrap(),
        "# Known Issues & Workarounds\n\n- bug number 4\n- bug number 3\n- bug number 2\n\n\
         _1 more entries not shown (page limit 3)._\n"
    );
    let all = section_pages(&rows, 30);
    let bugs = all.iter().find(|p| p.slug == "known-issues").unwrap();
    assert!(bugs
        .content
        .as_deref()
        .unwrap()
        .contains("- bug number 1 *(unverified)*"));
    assert!(all
        .iter()
        .filter(|p| p.slug != "known-issues")
        .all(|p| p.content.is_none()));
}

#[test]
fn step12_concept_clusters_are_deterministic() {
    let mut rows: Vec<CompileEntry> = (1..=16)
        .map(|i| {
            entry(
                i,
                EntryType::Pattern,
                &format!("item{i} alpha{i} gamma{i} delta{i}"),
            )
        })
        .collect();
    for e in rows.iter_mut().take(6) {
        e.content = format!("The rate limiter budget resets hourly ({})", e.id);
    }
    let clusters = concept_clusters(&rows);
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    // Equal trigrams: the first in alphabetical order wins; the others overlap it.
    assert_eq!(clusters[0].phrase, "budget resets hourly");
    assert_eq!(clusters[0].slug(), "concept/budget-resets-hourly");
    assert_eq!(clusters[0].title(), "Budget Resets Hourly");
    assert_eq!(clusters[0].entry_ids, vec![1, 2, 3, 4, 5, 6]);
    assert!(concept_clusters(&rows[..14]).is_empty());
}

#[test]
fn sections_skip_comment_only_bodies() {
    let doc = crate::domain::projects::TEMPLATE.to_string() + "\n## Key Decisions 2\n- x\n";
    let sections = document_sections(&doc);
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].0, "key_decisions_2");
    assert_eq!(sections[0].2, "- x");
}

#[test]
fn health_flags_claims_the_document_does_not_know() {
    let rows = vec![entry(1, EntryType::Bug, "Websocket reconnects flood logs")];
    let h = health_of(&rows, "# P\n## A\nnothing", 2000, 0, None, t0());
    assert!(h.potentially_stale);
    assert_eq!((h.pending_entries, h.section_count), (1, 1));
    assert!(h
        .recommendations
        .iter()
        .any(|r| r.contains("No compilation yet")));
    let h = health_of(&rows, "# P\nwebsocket reconnects", 2000, 1, None, t0());
    assert!(!h.potentially_stale);
}

// ---------------------------------------------------------------------------------------------
// The transaction, on a real database.

fn database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::db::open_writer_connection(&dir.path().join("c.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO users (id, email, tier, email_verified, created_at)
             VALUES ('u1', 'u1@example.com', 'pro', 1, '2026-01-01T00:00:00.000000Z');
         INSERT INTO projects (id, name, git_remote_normalized, context_document, owner_id,
             created_at, updated_at)
             VALUES ('proj_1', 'p', 'a/b', '# Project Context', 'u1',
                 '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');",
    )
    .unwrap();
    (dir, conn)
}

/// An entry row as an add would write it.
#[derive(Debug, Clone)]
struct Seed {
    entry_type: EntryType,
    words: Vec<u8>,
    confidence: f64,
    class: ClaimClass,
    entity: Option<u8>,
    age_days: i64,
    dismissed: bool,
    reader: bool,
}

fn seed_text(s: &Seed) -> String {
    const WORDS: [&str; 8] = [
        "cache",
        "redis",
        "deploy",
        "pipeline",
        "schema",
        "migration",
        "token",
        "budget",
    ];
    let mut out: Vec<&str> = s.words.iter().map(|w| WORDS[*w as usize % 8]).collect();
    out.extend(["is", "described", "here", "in", "detail"]);
    out.join(" ")
}

fn insert(conn: &Connection, s: &Seed, now: Timestamp) {
    conn.execute(
        "INSERT INTO knowledge_entries (project_id, session_id, user_id, entry_type, content,
            confidence, author_class, claim_class, entity_ref, created_at, dismissed,
            reader_authored)
         VALUES ('proj_1', 'manual', 'u1', ?1, ?2, ?3, 'human', ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            s.entry_type,
            seed_text(s),
            s.confidence,
            s.class,
            s.entity.map(|e| format!("ent{e}")),
            format(now - Duration::days(s.age_days)),
            s.dismissed,
            s.reader
        ],
    )
    .unwrap();
}

/// Every row of the tables compile writes, as text.
fn snapshot(conn: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "knowledge_entries",
        "projects",
        "knowledge_pages",
        "context_compilations",
        "knowledge_links",
        "wiki_page_revisions",
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut line = format!("{table}:");
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    line.push_str(&format!("{v:?}|"));
                }
                Ok(line)
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

fn who() -> Compiler {
    Compiler {
        user_id: "u1".into(),
        service_key: None,
    }
}

/// Runs compile in a savepoint as the writer does: committed on `Ok`, rolled back on `Err`.
fn run(
    conn: &mut Connection,
    now: Timestamp,
    rebuild: bool,
    hook: &dyn Fn(Step) -> DomainResult<()>,
) -> DomainResult<TxOutcome> {
    let sp = conn.savepoint().unwrap();
    let out = compile_in(&sp, "proj_1", &who(), now, rebuild, None, hook);
    if out.is_ok() {
        sp.commit().unwrap();
    }
    out
}

#[test]
fn compile_then_noop_then_rebuild_on_a_database() {
    let (_dir, mut conn) = database();
    let now = t0();
    for (i, t) in [EntryType::Decision, EntryType::Bug, EntryType::Bug]
        .iter()
        .enumerate()
    {
        insert(
            &conn,
            &Seed {
                entry_type: *t,
                words: vec![i as u8, i as u8 + 1, i as u8 + 2],
                confidence: 0.9,
                class: ClaimClass::Claim,
                entity: None,
                age_days: 1,
                dismissed: false,
                reader: false,
            },
            now,
        );
    }
    let out = run(&mut conn, now, false, &|_| Ok(())).unwrap();
    assert_eq!(out.entries_compiled, 3);
    assert!(out.compilation_id.is_some());
    assert!(out
        .context_after
        .contains("## Key Decisions\n- cache redis deploy"));
    assert!(out.context_after.contains("## Known Issues & Workarounds"));
    let pages: Vec<String> = wiki::list(&conn, "proj_1")
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    let compiled: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM knowledge_entries WHERE compiled_at IS NOT NULL AND compiled_count = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(compiled, 3);

    // Nothing new: the no-op, the document untouched, no compilation row.
    let later = now + Duration::hours(1);
    let out = run(&mut conn, later, false, &|_| Ok(())).unwrap();
    assert_eq!((out.compilation_id, out.entries_compiled), (None, 0));
    assert_eq!(out.noop_reason.as_deref(), Some("no pending claims"));
    assert_eq!(rows::count_compilations(&conn, "proj_1").unwrap(), 1);

    // Rebuild: every active claim again, from an empty document.
    let out = run(&mut conn, later, true, &|_| Ok(())).unwrap();
    assert_eq!(out.entries_compiled, 3);
    assert!(out
        .context_after
        .starts_with("# Project Context\n\n## Known Issues"));
    assert_eq!(rows::count_compilations(&conn, "proj_1").unwrap(), 2);
}

fn seed() -> impl Strategy<Value = Seed> {
    (
        prop::sample::select(EntryType::ALL.to_vec()),
        prop::collection::vec(0u8..8, 3..8),
        0.05f64..1.0,
        prop::sample::select(vec![
            ClaimClass::Claim,
            ClaimClass::Note,
            ClaimClass::Evidence,
        ]),
        prop::option::of(0u8..3),
        0i64..400,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(entry_type, words, confidence, class, entity, age_days, dismissed, reader)| Seed {
                entry_type,
                words,
                confidence,
                class,
                entity,
                age_days,
                dismissed,
                reader,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Compile is all or nothing: a failure after any step leaves every table as it was; the
    /// same compile without the failure then succeeds.
    #[test]
    fn compile_is_all_or_nothing(
        seeds in prop::collection::vec(seed(), 0..25),
        step in prop::sample::select(Step::ALL.to_vec()),
        rebuild in any::<bool>(),
        compile_first in any::<bool>(),
    ) {
        let (_dir, mut conn) = database();
        let now = t0() + Duration::days(400);
        for s in &seeds {
            insert(&conn, s, now);
        }
        if compile_first {
            run(&mut conn, now - Duration::days(1), false, &|_| Ok(())).unwrap();
        }
        let before = snapshot(&conn);
        let failed = run(&mut conn, now, rebuild, &|s| {
            if s == step {
                Err(DomainError::Fault(format!("injected after {s:?}")))
            } else {
                Ok(())
            }
        });
        let after = snapshot(&conn);
        match failed {
            // The step was never reached (a no-op returns before the save).
            Ok(out) => prop_assert!(
                out.compilation_id.is_none()
                    && matches!(step, Step::Save | Step::SectionPages)
            ),
            Err(_) => prop_assert_eq!(before, after),
        }
        run(&mut conn, now, rebuild, &|_| Ok(())).unwrap();
    }
}

#[test]
fn the_merge_prompt_and_the_models_answer() {
    let plan = MergePlan {
        document: String::new(),
        pending_ids: vec![2, 1],
        facts: vec![
            (EntryType::Pattern, "Handlers stay\n thin".into()),
            (EntryType::Bug, "The importer drops a line".into()),
        ],
    };
    let prompt = merge_prompt(&plan);
    assert!(prompt.contains("(empty: start one titled \"# Project Context\")"));
    // Types in alphabetical order, under their headings, one bullet per fact.
    let bug = prompt.find("### Known Issues & Workarounds (bug)").unwrap();
    let pattern = prompt.find("### Patterns & Conventions (pattern)").unwrap();
    assert!(bug < pattern, "{prompt}");
    assert!(prompt.contains("- Handlers stay thin\n"), "{prompt}");
    assert_eq!(answer_document("  # Doc\n\n- a  \n"), "# Doc\n\n- a");
    assert_eq!(
        answer_document("```markdown\n# Doc\n- a\n```"),
        "# Doc\n- a"
    );
    assert_eq!(answer_document("```\n# Doc\n```"), "# Doc");
    assert_eq!(answer_document("```\n```"), "");
    // The note never holds the key, and says what happened.
    let note = LlmUnavailable::Failed("the endpoint returned 500".into()).note();
    assert!(note.contains("returned 500") && note.contains("deterministic merge"));
    let cfg = LlmConfig {
        api_key: "sk-secret".into(),
        model: "gpt-4.1".into(),
        provider: None,
        base_url: None,
    };
    assert!(!format!("{cfg:?}").contains("sk-secret"));
    assert_eq!(cfg.provider(), "openai");
    let custom = LlmConfig {
        base_url: Some("http://127.0.0.1:1/v1".into()),
        ..cfg.clone()
    };
    assert_eq!(custom.provider(), "custom");
}
