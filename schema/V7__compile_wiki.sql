-- Compile history, wiki pages (compile-generated sections and concepts, user-written pages)
-- and their revisions (02 §3.6, §4, §8). Project settings (kb_*, compile_schedule,
-- compile_after_claims, last_decay_at, auto_narrative) are already columns of `projects` (V4).

CREATE TABLE context_compilations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    entries_compiled INTEGER NOT NULL,
    context_before   TEXT,
    context_after    TEXT,
    -- JSON: {section_slug: [{kb_entry_id, created_by_user_id, created_by_persona, promoted_at}]}
    source_manifest  TEXT NOT NULL DEFAULT '{}',
    "trigger"        TEXT NOT NULL DEFAULT 'manual' CHECK ("trigger" IN ('manual', 'scheduled')),
    -- What wrote the row: a compile/rebuild of the context document, or a page regenerate.
    kind             TEXT NOT NULL DEFAULT 'compile' CHECK (kind IN ('compile', 'rebuild', 'regenerate')),
    page_slug        TEXT,
    compiled_at      TEXT NOT NULL,
    actor_type       TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id   TEXT,
    service_key_name TEXT
);
-- History newest first, the latest compilation (sections, health, status).
CREATE INDEX compilations_by_project ON context_compilations(project_id, id DESC);

CREATE TABLE knowledge_pages (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    slug             TEXT NOT NULL,
    title            TEXT NOT NULL,
    page_type        TEXT NOT NULL CHECK (page_type IN ('section', 'concept')),
    content          TEXT NOT NULL,
    word_count       INTEGER NOT NULL DEFAULT 0,
    entry_count      INTEGER NOT NULL DEFAULT 0,
    auto_generated   INTEGER NOT NULL DEFAULT 0,
    publish          INTEGER NOT NULL DEFAULT 0,
    parent_slug      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    actor_type       TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id   TEXT,
    service_key_name TEXT,
    UNIQUE (project_id, slug)
);
-- The page list (updated_at desc) and the per-type counts of compile.
CREATE INDEX knowledge_pages_by_update ON knowledge_pages(project_id, updated_at DESC, id);
CREATE INDEX knowledge_pages_by_type ON knowledge_pages(project_id, page_type);

-- Revisions outlive their page (a deleted page keeps its history).
CREATE TABLE wiki_page_revisions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    page_slug        TEXT NOT NULL,
    revision_number  INTEGER NOT NULL,
    title            TEXT NOT NULL,
    content_snapshot TEXT NOT NULL,
    word_count       INTEGER NOT NULL,
    user_id          TEXT NOT NULL,
    persona_name     TEXT,
    ticket_id        TEXT,
    revised_at       TEXT NOT NULL,
    actor_type       TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id   TEXT,
    service_key_name TEXT,
    UNIQUE (project_id, page_slug, revision_number)
);
-- History of one page, newest first, keyset by id.
CREATE INDEX wiki_revisions_by_page ON wiki_page_revisions(project_id, page_slug, revised_at DESC, id DESC);
