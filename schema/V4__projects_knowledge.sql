-- Projects (one per repository), their linked repositories, and knowledge entries.

CREATE TABLE projects (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    git_remote_normalized     TEXT NOT NULL,
    context_document          TEXT NOT NULL,
    owner_id                  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id                    TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    auto_narrative            INTEGER NOT NULL DEFAULT 0,
    kb_retention_days         INTEGER NOT NULL DEFAULT 180,
    kb_max_context_words      INTEGER NOT NULL DEFAULT 2000,
    kb_section_page_limit     INTEGER NOT NULL DEFAULT 30,
    compile_schedule          TEXT NOT NULL DEFAULT 'nightly'
                              CHECK (compile_schedule IN ('off', 'nightly', 'weekly')),
    compile_after_claims      INTEGER,
    last_scheduled_compile_at TEXT,
    last_decay_at             TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX projects_by_owner ON projects(owner_id, updated_at DESC);
CREATE INDEX projects_by_org ON projects(org_id, updated_at DESC) WHERE org_id IS NOT NULL;
CREATE INDEX projects_by_remote ON projects(git_remote_normalized);

-- A remote belongs to at most one project.
CREATE TABLE project_repos (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    git_remote_normalized TEXT NOT NULL UNIQUE,
    provider              TEXT,
    provider_repo_id      TEXT,
    is_primary            INTEGER NOT NULL DEFAULT 0,
    verified              INTEGER NOT NULL DEFAULT 0,
    verification_method   TEXT,
    added_by_user_id      TEXT,
    created_at            TEXT NOT NULL
);
CREATE INDEX project_repos_by_project ON project_repos(project_id, created_at);

-- Readers through captured sessions: the caller's sessions on a remote.
CREATE INDEX sessions_by_remote ON sessions(git_remote_normalized, user_id)
    WHERE git_remote_normalized <> '';

CREATE TABLE knowledge_entries (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    session_id           TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    entry_type           TEXT NOT NULL CHECK (entry_type IN
                         ('decision', 'pattern', 'discovery', 'convention', 'bug', 'dependency')),
    content              TEXT NOT NULL,
    confidence           REAL NOT NULL,
    source_context       TEXT,
    persona_name         TEXT,
    author_class         TEXT NOT NULL CHECK (author_class IN ('human', 'agent')),
    created_at           TEXT NOT NULL,
    compiled_at          TEXT,
    dismissed            INTEGER NOT NULL DEFAULT 0,
    claim_class          TEXT NOT NULL CHECK (claim_class IN ('evidence', 'claim', 'note')),
    entity_ref           TEXT,
    entity_type          TEXT,
    freshness_class      TEXT NOT NULL DEFAULT 'current'
                         CHECK (freshness_class IN ('current', 'aging', 'stale', 'superseded')),
    superseded_by        INTEGER,
    supersession_reason  TEXT,
    promoted_at          TEXT,
    promoted_by          TEXT,
    retrieved_count      INTEGER NOT NULL DEFAULT 0,
    used_in_answer_count INTEGER NOT NULL DEFAULT 0,
    compiled_count       INTEGER NOT NULL DEFAULT 0,
    last_relevant_at     TEXT,
    dismissed_at         TEXT,
    dismissed_by         TEXT,
    dismissed_reason     TEXT,
    reader_authored      INTEGER NOT NULL DEFAULT 0,
    actor_type           TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id       TEXT,
    service_key_name     TEXT
);
-- One index per list filter (each ends in id, the final order and the keyset cursor).
CREATE INDEX knowledge_by_project ON knowledge_entries(project_id, id DESC);
CREATE INDEX knowledge_by_type ON knowledge_entries(project_id, entry_type, id DESC);
CREATE INDEX knowledge_pending ON knowledge_entries(project_id, dismissed, compiled_at, id DESC);
CREATE INDEX knowledge_by_claim_class ON knowledge_entries(project_id, claim_class, id DESC);
CREATE INDEX knowledge_by_freshness ON knowledge_entries(project_id, freshness_class, id DESC);
CREATE INDEX knowledge_by_session ON knowledge_entries(project_id, session_id, id DESC);
CREATE INDEX knowledge_by_persona ON knowledge_entries(project_id, persona_name, id DESC)
    WHERE persona_name IS NOT NULL;
CREATE INDEX knowledge_by_author_class ON knowledge_entries(project_id, author_class, id DESC);
CREATE INDEX knowledge_by_relevance ON knowledge_entries(project_id, last_relevant_at DESC, id DESC);
CREATE INDEX knowledge_by_confidence ON knowledge_entries(project_id, confidence DESC, id DESC);
CREATE INDEX knowledge_by_entity ON knowledge_entries(project_id, entity_ref)
    WHERE entity_ref IS NOT NULL;
-- The hourly per-user quota counts the caller's recent entries.
CREATE INDEX knowledge_by_author ON knowledge_entries(project_id, user_id, created_at);
