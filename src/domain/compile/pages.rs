//! Steps 10–12: the source manifest, the section pages (one per entry type) and, after the
//! commit, the concept pages of clustered claims.

use super::*;

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

pub(super) const STOPWORDS: &[&str] = &[
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

pub(super) fn content_words(text: &str) -> Vec<String> {
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

pub(super) fn write_section_pages(
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
