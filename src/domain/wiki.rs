//! Wiki pages and project settings (02 §4): pages list/get with backlinks, history, put (create
//! or update, with a revision each time), publish, delete, regenerate; `PUT /settings` with its
//! gate rules. Writes need edit standing (the extractor) and the `project_context` feature on
//! the project's paying plan (checked here, after standing, as 02 §0.5 orders).

use std::collections::BTreeSet;

use rusqlite::Connection;
use serde_json::json;

use crate::auth::keys::random_hex;
use crate::clock::Clock;
use crate::db::compile::{self as rows, CompilationKind, NewCompilation, ProjectSettings};
use crate::db::knowledge::{self, Backlink, LinkNode};
use crate::db::projects::Project;
use crate::db::tickets::{self, Status as TicketStatus};
use crate::db::wiki::{self, NewRevision, Page, PageType, Revision};
use crate::db::{Db, DbError};
use crate::domain::compile::{answer_document, title_case, word_count, LlmConfig, LlmUnavailable};
use crate::domain::personas;
use crate::domain::projects::{self, not_found, Actor, ServiceKey};
use crate::domain::tiers::Feature;
use crate::domain::{DomainError, DomainResult};
use crate::llm::{self as client, Outbound};

/// Longest page content accepted (the reference has none; 02 §9.7).
pub const MAX_PAGE_CHARS: usize = 200_000;
pub const MAX_SLUG_CHARS: usize = 200;
pub const MAX_TITLE_CHARS: usize = 300;

pub fn page_not_found() -> DomainError {
    DomainError::NotFound("Page not found".into())
}

/// 403 `upgrade_required` (project scope) unless the project's plan has `project_context`.
pub fn require_project_context(conn: &Connection, project: &Project) -> DomainResult<()> {
    projects::require_plan(conn, project, Feature::ProjectContext)
}

/// Provenance `persona_name` of a page write (02 §4): a persona of the project, else of its
/// org when the writer sees the org's personas (any case, retired ones included, as for
/// knowledge entries); 422 otherwise.
pub fn check_persona(
    conn: &Connection,
    project: &Project,
    who: &Writer,
    name: &str,
) -> DomainResult<()> {
    // A service key got here through the project boundary: it belongs to the project's org.
    let actor = Actor {
        user_id: who.user_id.clone(),
        platform_admin: false,
        service_key: who.service_key.as_ref().map(|_| ServiceKey {
            org_id: project.org_id.clone(),
            allowlist: Vec::new(),
        }),
    };
    match personas::resolve(conn, project, &actor, name, false)? {
        Some(_) => Ok(()),
        None => Err(DomainError::Unprocessable(format!(
            "Persona '{name}' not found in this project"
        ))),
    }
}

/// Provenance `ticket_id` of a page write (02 §4): a ticket of the project whose creator or
/// resolver is the writer, or — while it is in progress — whose current lease the writer
/// started (a retrieval-audit row at the ticket's `lease_epoch`); else 422.
pub fn check_ticket(
    conn: &Connection,
    project: &Project,
    user_id: &str,
    ticket_id: &str,
) -> DomainResult<()> {
    let Some(ticket) = tickets::get(conn, &project.id, ticket_id)? else {
        return Err(DomainError::Unprocessable(format!(
            "Ticket '{ticket_id}' not found in this project"
        )));
    };
    let involved = ticket.created_by_user_id == user_id
        || ticket.resolver_user_id.as_deref() == Some(user_id)
        || (ticket.status == TicketStatus::InProgress
            && tickets::started_lease(conn, &ticket.id, user_id, ticket.lease_epoch)?);
    if involved {
        Ok(())
    } else {
        Err(DomainError::Unprocessable(format!(
            "Ticket '{ticket_id}' was not created, resolved or started by you"
        )))
    }
}

/// A slug from the path: 1–200 characters, no empty segment, no control characters.
pub fn check_slug(slug: &str) -> DomainResult<()> {
    let ok = !slug.is_empty()
        && slug.chars().count() <= MAX_SLUG_CHARS
        && slug.split('/').all(|s| !s.is_empty())
        && !slug.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid {
            loc: vec!["path", "slug"],
            message: format!(
                "slug must be 1–{MAX_SLUG_CHARS} characters without empty segments or control characters"
            ),
            input: slug.into(),
        })
    }
}

pub async fn list(db: &Db, project_id: String) -> DomainResult<Vec<Page>> {
    db.read(move |conn| Ok(wiki::list(conn, &project_id)?))
        .await
}

/// A page with the links pointing at it.
pub async fn get(db: &Db, project_id: String, slug: String) -> DomainResult<(Page, Vec<Backlink>)> {
    db.read(move |conn| {
        let page = wiki::get(conn, &project_id, &slug)?.ok_or_else(page_not_found)?;
        let links = knowledge::backlinks(conn, &project_id, LinkNode::Page, &page.id)?;
        Ok((page, links))
    })
    .await
}

/// One page of a slug's revisions and the cursor of the next.
pub async fn history(
    db: &Db,
    project_id: String,
    slug: String,
    cursor: Option<i64>,
    limit: i64,
) -> DomainResult<(Vec<Revision>, Option<i64>)> {
    db.read(move |conn| {
        let revisions = wiki::revisions(conn, &project_id, &slug, cursor, limit)?;
        if revisions.is_empty()
            && cursor.is_none()
            && wiki::get(conn, &project_id, &slug)?.is_none()
        {
            return Err(page_not_found());
        }
        let next = (revisions.len() as i64 == limit)
            .then(|| revisions.last().map(|r| r.id))
            .flatten();
        Ok((revisions, next))
    })
    .await
}

/// The body of a page write.
#[derive(Debug, Clone)]
pub struct PutPage {
    pub content: String,
    pub title: Option<String>,
    pub persona_name: Option<String>,
    pub ticket_id: Option<String>,
    pub publish: Option<bool>,
}

/// Who writes a page.
#[derive(Debug, Clone)]
pub struct Writer {
    pub user_id: String,
    pub service_key: Option<(String, String)>,
}

/// Creates or updates a page and appends its revision.
pub async fn put(
    db: &Db,
    clock: &Clock,
    project: Project,
    slug: String,
    who: Writer,
    body: PutPage,
) -> DomainResult<Page> {
    check_slug(&slug)?;
    if body.content.chars().count() > MAX_PAGE_CHARS {
        return Err(DomainError::TooLarge(format!(
            "Page content too long — maximum {MAX_PAGE_CHARS} characters"
        )));
    }
    if let Some(t) = &body.title {
        if t.trim().is_empty() || t.chars().count() > MAX_TITLE_CHARS {
            return Err(DomainError::Invalid {
                loc: vec!["body", "title"],
                message: format!("title must be 1–{MAX_TITLE_CHARS} characters"),
                input: t.as_str().into(),
            });
        }
    }
    let clock = clock.clone();
    db.write(move |tx| {
        require_project_context(tx, &project)?;
        if let Some(name) = &body.persona_name {
            check_persona(tx, &project, &who, name)?;
        }
        if let Some(ticket) = &body.ticket_id {
            check_ticket(tx, &project, &who.user_id, ticket)?;
        }
        let now = clock.now_string();
        let by = who
            .service_key
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()));
        let words = word_count(&body.content);
        let page = match wiki::get(tx, &project.id, &slug)? {
            Some(old) => {
                let page = Page {
                    title: body.title.clone().unwrap_or(old.title.clone()),
                    publish: body.publish.unwrap_or(old.publish),
                    content: body.content.clone(),
                    word_count: words,
                    updated_at: now.clone(),
                    ..old
                };
                wiki::update(tx, &page, by)?;
                page
            }
            None => {
                let page = Page {
                    id: format!("page_{}", random_hex(8)),
                    project_id: project.id.clone(),
                    slug: slug.clone(),
                    title: body
                        .title
                        .clone()
                        .unwrap_or_else(|| title_case(&slug.replace('-', " "))),
                    page_type: PageType::Section,
                    content: body.content.clone(),
                    word_count: words,
                    entry_count: 0,
                    auto_generated: false,
                    publish: body.publish.unwrap_or(false),
                    parent_slug: None,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                };
                wiki::insert(tx, &page, by)?;
                page
            }
        };
        wiki::insert_revision(
            tx,
            &NewRevision {
                project_id: &project.id,
                page_slug: &slug,
                title: &page.title,
                content: &page.content,
                word_count: words,
                user_id: &who.user_id,
                persona_name: body.persona_name.as_deref(),
                ticket_id: body.ticket_id.as_deref(),
                revised_at: &now,
                by,
            },
        )
        .map_err(|e| match e {
            DbError::Duplicate(_) => DomainError::Conflict("retry".into()),
            other => other.into(),
        })?;
        Ok(page)
    })
    .await
}

/// Flips a page's publish flag (no revision, no `updated_at` change).
pub async fn set_publish(
    db: &Db,
    project: Project,
    slug: String,
    publish: bool,
) -> DomainResult<()> {
    db.write(move |tx| {
        require_project_context(tx, &project)?;
        let page = wiki::get(tx, &project.id, &slug)?.ok_or_else(page_not_found)?;
        wiki::set_publish(tx, &page.id, publish)?;
        Ok(())
    })
    .await
}

/// Deletes a page; its revisions and links stay.
pub async fn delete(db: &Db, project: Project, slug: String) -> DomainResult<()> {
    db.write(move |tx| {
        require_project_context(tx, &project)?;
        let page = wiki::get(tx, &project.id, &slug)?.ok_or_else(page_not_found)?;
        wiki::delete(tx, &page.id)?;
        Ok(())
    })
    .await
}

/// What a regenerate did.
#[derive(Debug, Clone)]
pub struct Regenerated {
    pub word_count: i64,
    pub entries_used: i64,
    pub merge_note: Option<String>,
}

/// The article of a regenerated page without a model.
pub fn regenerated_article(title: &str, entries: &[knowledge::Entry]) -> String {
    let mut out = format!(
        "# {title}\n\nCompiled from {} knowledge entries.\n",
        entries.len()
    );
    for e in entries {
        out.push_str(&format!(
            "\n- **[{}]** {}",
            e.entry_type.as_str(),
            e.content.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out.push('\n');
    out
}

/// The entries a regenerate writes a page from: those linked to it, else the active entries
/// naming a word of its title longer than 3 characters.
fn page_sources(
    conn: &Connection,
    project_id: &str,
    page: &Page,
) -> DomainResult<Vec<knowledge::Entry>> {
    let linked: BTreeSet<i64> = rows::entries_linked_to_page(conn, project_id, &page.id)?
        .into_iter()
        .collect();
    let words: Vec<String> = page
        .title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 3)
        .map(str::to_lowercase)
        .collect();
    Ok(rows::entries(conn, project_id)?
        .into_iter()
        .filter(|e| {
            if linked.is_empty() {
                let text = e.content.to_lowercase();
                !e.dismissed && words.iter().any(|w| text.contains(w.as_str()))
            } else {
                linked.contains(&e.id)
            }
        })
        .filter_map(|e| knowledge::get(conn, project_id, e.id).ok().flatten())
        .collect())
}

/// The page a regenerate may rewrite: an auto-generated one.
fn regenerable(conn: &Connection, project: &Project, slug: &str) -> DomainResult<Page> {
    require_project_context(conn, project)?;
    let page = wiki::get(conn, &project.id, slug)?.ok_or_else(page_not_found)?;
    if !page.auto_generated {
        return Err(DomainError::Malformed(
            "Only auto-generated pages can be regenerated".into(),
        ));
    }
    Ok(page)
}

pub const ARTICLE_SYSTEM_PROMPT: &str = "You write one page of a software project's wiki from \
    the knowledge entries it is given: a short Markdown article that starts with `# ` and the \
    title, explains what the entries say as a whole (group related facts, keep file names and \
    commands exact, drop repetition), and invents nothing. Answer with the article only: no \
    preamble, no code fences.";

/// The user message of a page article: the title and the entries.
pub fn article_prompt(title: &str, entries: &[knowledge::Entry]) -> String {
    let mut out = format!("Title: {title}\n\nKnowledge entries:\n");
    for e in entries {
        out.push_str(&format!(
            "- [{}] {}\n",
            e.entry_type.as_str(),
            e.content.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}

/// A model's article, planned on a page's content and its sources.
struct Drafted {
    page_content: String,
    source_ids: Vec<i64>,
    article: String,
}

/// Asks the model for the page's article (outside any transaction).
async fn draft_with_llm(
    db: &Db,
    out: &Outbound,
    llm: &LlmConfig,
    project: &Project,
    slug: &str,
) -> DomainResult<Result<Drafted, LlmUnavailable>> {
    let (project_, slug_) = (project.clone(), slug.to_string());
    let (page, sources) = db
        .read(move |conn| {
            let page = regenerable(conn, &project_, &slug_)?;
            let sources = page_sources(conn, &project_.id, &page)?;
            Ok::<_, DomainError>((page, sources))
        })
        .await?;
    let request = llm.request(
        ARTICLE_SYSTEM_PROMPT,
        article_prompt(&page.title, &sources),
        4096,
    );
    Ok(match client::complete(&request, out).await {
        Ok(answer) => match answer_document(&answer) {
            a if a.is_empty() => Err(LlmUnavailable::Empty),
            article => Ok(Drafted {
                page_content: page.content,
                source_ids: sources.iter().map(|e| e.id).collect(),
                article,
            }),
        },
        Err(e) => Err(LlmUnavailable::Failed(e.to_string())),
    })
}

/// Rewrites an auto-generated page from its entries (those linked to it, else active entries
/// naming a word of its title longer than 3 characters) and records a compilation row. With a
/// model, the article is the model's (asked outside the transaction, used only if the page and
/// its sources did not change meanwhile); without one, or when it fails, the article lists the
/// entries and `merge_note` says why.
pub async fn regenerate(
    db: &Db,
    clock: &Clock,
    out: &Outbound,
    project: Project,
    slug: String,
    who: Writer,
    llm: Option<LlmConfig>,
) -> DomainResult<Regenerated> {
    let drafted = match &llm {
        Some(cfg) => Some(draft_with_llm(db, out, cfg, &project, &slug).await?),
        None => None,
    };
    let clock = clock.clone();
    db.write(move |tx| {
        let page = regenerable(tx, &project, &slug)?;
        let entries = page_sources(tx, &project.id, &page)?;
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let (content, merge_note) = match drafted {
            Some(Ok(d)) if d.page_content == page.content && d.source_ids == ids => {
                (d.article, None)
            }
            Some(Ok(_)) => (
                regenerated_article(&page.title, &entries),
                Some(LlmUnavailable::PageMoved.note()),
            ),
            Some(Err(why)) => (regenerated_article(&page.title, &entries), Some(why.note())),
            None => (regenerated_article(&page.title, &entries), None),
        };
        let now = clock.now_string();
        let by = who
            .service_key
            .as_ref()
            .map(|(i, n)| (i.as_str(), n.as_str()));
        let fresh = Page {
            word_count: word_count(&content),
            entry_count: entries.len() as i64,
            content: content.clone(),
            updated_at: now.clone(),
            ..page.clone()
        };
        wiki::update(tx, &fresh, by)?;
        rows::insert_compilation(
            tx,
            &NewCompilation {
                project_id: &project.id,
                user_id: &who.user_id,
                entries_compiled: entries.len() as i64,
                context_before: Some(&page.content),
                context_after: Some(&content),
                source_manifest: &json!({}).to_string(),
                kind: CompilationKind::Regenerate,
                page_slug: Some(&slug),
                compiled_at: &now,
                by,
            },
        )?;
        Ok(Regenerated {
            word_count: fresh.word_count,
            entries_used: entries.len() as i64,
            merge_note,
        })
    })
    .await
}

/// A settings body: `None` = unchanged; `compile_after_claims: Some(None)` = clear.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub auto_narrative: bool,
    pub kb_retention_days: Option<i64>,
    pub kb_max_context_words: Option<i64>,
    pub kb_section_page_limit: Option<i64>,
    pub compile_schedule: Option<String>,
    pub compile_after_claims: Option<Option<i64>>,
}

/// Whether a settings change needs `project_context` on the project's plan: every change
/// does, except one that only turns the compile schedule off (optionally clearing
/// `compile_after_claims`) — so a downgraded project can still stop its compiles.
pub fn settings_need_feature(current: &ProjectSettings, next: &ProjectSettings) -> bool {
    if current == next {
        return false;
    }
    let rest_unchanged = ProjectSettings {
        compile_schedule: current.compile_schedule.clone(),
        compile_after_claims: current.compile_after_claims,
        ..next.clone()
    } == *current;
    let schedule_off = next.compile_schedule == "off" && current.compile_schedule != "off";
    let claims_ok = next.compile_after_claims == current.compile_after_claims
        || next.compile_after_claims.is_none();
    !(rest_unchanged && schedule_off && claims_ok)
}

/// Applies `PUT /settings`; returns the stored settings.
pub async fn update_settings(
    db: &Db,
    clock: &Clock,
    project: Project,
    change: SettingsChange,
) -> DomainResult<ProjectSettings> {
    for (field, value) in [
        ("kb_retention_days", change.kb_retention_days),
        ("kb_max_context_words", change.kb_max_context_words),
        ("kb_section_page_limit", change.kb_section_page_limit),
        (
            "compile_after_claims",
            change.compile_after_claims.flatten(),
        ),
    ] {
        if let Some(v) = value.filter(|v| *v < 1) {
            return Err(DomainError::Invalid {
                loc: vec!["body", field],
                message: format!("{field} must be at least 1"),
                input: v.into(),
            });
        }
    }
    if let Some(s) = change
        .compile_schedule
        .as_deref()
        .filter(|s| !matches!(*s, "off" | "nightly" | "weekly"))
    {
        return Err(DomainError::Invalid {
            loc: vec!["body", "compile_schedule"],
            message: "compile_schedule must be one of: off, nightly, weekly".into(),
            input: s.into(),
        });
    }
    let clock = clock.clone();
    db.write(move |tx| {
        let current = rows::project_settings(tx, &project.id)?.ok_or_else(not_found)?;
        let next = ProjectSettings {
            auto_narrative: change.auto_narrative,
            kb_retention_days: change
                .kb_retention_days
                .unwrap_or(current.kb_retention_days),
            kb_max_context_words: change
                .kb_max_context_words
                .unwrap_or(current.kb_max_context_words),
            kb_section_page_limit: change
                .kb_section_page_limit
                .unwrap_or(current.kb_section_page_limit),
            compile_schedule: change
                .compile_schedule
                .clone()
                .unwrap_or(current.compile_schedule.clone()),
            compile_after_claims: change
                .compile_after_claims
                .unwrap_or(current.compile_after_claims),
            last_scheduled_compile_at: current.last_scheduled_compile_at.clone(),
        };
        if settings_need_feature(&current, &next) {
            require_project_context(tx, &project)?;
        }
        if next != current {
            rows::set_project_settings(tx, &project.id, &next, &clock.now_string())?;
        }
        Ok(next)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ProjectSettings {
        ProjectSettings {
            auto_narrative: false,
            kb_retention_days: 180,
            kb_max_context_words: 2000,
            kb_section_page_limit: 30,
            compile_schedule: "nightly".into(),
            compile_after_claims: Some(5),
            last_scheduled_compile_at: None,
        }
    }

    #[test]
    fn only_turning_the_schedule_off_is_free() {
        let now = settings();
        let with = |f: &dyn Fn(&mut ProjectSettings)| {
            let mut s = settings();
            f(&mut s);
            s
        };
        assert!(!settings_need_feature(&now, &now));
        let off = with(&|s| s.compile_schedule = "off".into());
        assert!(!settings_need_feature(&now, &off));
        let off_cleared = with(&|s| {
            s.compile_schedule = "off".into();
            s.compile_after_claims = None;
        });
        assert!(!settings_need_feature(&now, &off_cleared));
        // Anything else needs the feature: clearing alone, weekly, narrative, a budget.
        for next in [
            with(&|s| s.compile_after_claims = None),
            with(&|s| s.compile_schedule = "weekly".into()),
            with(&|s| s.auto_narrative = true),
            with(&|s| {
                s.compile_schedule = "off".into();
                s.kb_max_context_words = 10;
            }),
            with(&|s| {
                s.compile_schedule = "off".into();
                s.compile_after_claims = Some(9);
            }),
        ] {
            assert!(settings_need_feature(&now, &next), "{next:?}");
        }
    }

    #[test]
    fn slugs() {
        for ok in ["a", "guides/setup", "concept/rate-limit"] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "a\nb", &"x".repeat(201)] {
            assert!(check_slug(bad).is_err(), "{bad:?}");
        }
    }
}
