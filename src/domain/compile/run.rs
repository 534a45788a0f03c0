//! The compile itself: [`compile_in`] runs steps 1–11 in one transaction; [`compile`] plans,
//! asks the model (outside any transaction), writes, then the concept pages.

use super::*;
use crate::db::DbError;
use crate::llm::Outbound;

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
    /// A model's document was given but planned on other inputs (the deterministic merge was
    /// used).
    pub llm_stale: bool,
    /// The loaded rows after steps 1–10 (for the concept pages).
    pub entries: Vec<CompileEntry>,
}

/// Runs steps 1–11 in the caller's transaction. `hook` runs after each step's writes; an error
/// from it (or any step) is returned and the caller's transaction rolls everything back.
/// `llm_merge` is a model's document with the inputs it was planned on: used only if the
/// pending claims and the base document are still those, else the deterministic merge is
/// (and `llm_stale` says so).
#[allow(clippy::too_many_arguments)]
pub fn compile_in(
    tx: &Connection,
    project_id: &str,
    who: &Compiler,
    now: Timestamp,
    rebuild: bool,
    llm_merge: Option<&LlmMerge>,
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
            llm_stale: false,
            entries,
        });
    }
    let pending_ids: Vec<i64> = order.iter().map(|&i| entries[i].id).collect();
    let llm_stale = llm_merge.is_some_and(|m| m.pending_ids != pending_ids || m.document != base);
    let (merged, merge) = match llm_merge {
        Some(m) if !llm_stale => (
            enforce_budget(m.text.trim(), settings.kb_max_context_words),
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
        llm_stale,
        entries,
    })
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

/// Why a compile transaction gave up: the domain's error, or a model's document planned on
/// inputs that moved meanwhile (rolled back, to be planned and asked again).
enum Attempt {
    Failed(DomainError),
    Replan,
}

impl From<DbError> for Attempt {
    fn from(e: DbError) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<DomainError> for Attempt {
    fn from(e: DomainError) -> Self {
        Attempt::Failed(e)
    }
}

/// Compile (or rebuild) a project: with a model, plan and ask it outside any transaction;
/// run [`compile_in`] in one write (which uses the model's document only if the pending
/// claims and the document are still those it was planned on: else the write rolls back and
/// the model is asked again, at most [`MAX_LLM_CALLS`] times, then the deterministic merge);
/// then the concept pages. A model that fails gives the deterministic merge and a note.
pub async fn compile(
    db: &Db,
    clock: &Clock,
    out: &Outbound,
    project_id: String,
    who: Compiler,
    rebuild: bool,
    llm: Option<LlmConfig>,
) -> DomainResult<Outcome> {
    let mut unavailable: Option<LlmUnavailable> = None;
    let mut calls = 0;
    let tx_outcome = loop {
        let mut llm_merge = None;
        if let (Some(cfg), None) = (&llm, &unavailable) {
            let plan = {
                let (pid, now) = (project_id.clone(), clock.now());
                db.read(move |conn| plan(conn, &pid, now, rebuild)).await?
            };
            if !plan.pending_ids.is_empty() {
                calls += 1;
                match merge_with_llm(out, cfg, &plan).await {
                    Ok(text) => {
                        llm_merge = Some(LlmMerge {
                            pending_ids: plan.pending_ids,
                            document: plan.document,
                            text,
                        })
                    }
                    Err(why) => {
                        tracing::warn!(project = %project_id, model = %cfg.model, reason = ?why,
                            "LLM merge failed; the deterministic merge is used");
                        unavailable = Some(why);
                    }
                }
            }
        }
        let may_replan = llm_merge.is_some() && calls < MAX_LLM_CALLS;
        let (pid, who, clock) = (project_id.clone(), who.clone(), clock.clone());
        let written = db
            .write(move |tx| {
                let o = compile_in(
                    tx,
                    &pid,
                    &who,
                    clock.now(),
                    rebuild,
                    llm_merge.as_ref(),
                    &|_| Ok(()),
                )?;
                if o.llm_stale && may_replan {
                    return Err(Attempt::Replan);
                }
                Ok(o)
            })
            .await;
        match written {
            Ok(o) => {
                if o.llm_stale {
                    unavailable = Some(LlmUnavailable::Moved);
                }
                break o;
            }
            Err(Attempt::Replan) => continue,
            Err(Attempt::Failed(e)) => return Err(e),
        }
    };
    let merge_note = unavailable.map(|u| u.note());
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
