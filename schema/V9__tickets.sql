-- Agent tickets (02 §5, §8): tickets with both status machines and their lease, dependencies,
-- comments, the per-field edit audit, retrieval-audit contexts written by `start`, watchers.
-- JSON arrays are stored as TEXT. Every written row records who wrote it (user or service key).

CREATE TABLE tickets (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    priority              TEXT NOT NULL CHECK (priority IN ('critical', 'high', 'medium', 'low')),
    assigned_to           TEXT,
    created_by_user_id    TEXT NOT NULL,
    created_by_session_id TEXT,
    created_by_persona    TEXT,
    source                TEXT NOT NULL CHECK (source IN ('human', 'agent')),
    kind                  TEXT NOT NULL CHECK (kind IN ('task', 'issue')),
    status                TEXT NOT NULL CHECK (status IN ('suggested', 'open', 'in_progress',
                          'blocked', 'review', 'done', 'cancelled', 'closed')),
    parent_ticket_id      TEXT REFERENCES tickets(id) ON DELETE SET NULL,
    lease_epoch           INTEGER NOT NULL DEFAULT 0,
    context_refs          TEXT NOT NULL DEFAULT '[]',
    file_refs             TEXT NOT NULL DEFAULT '[]',
    related_sessions      TEXT NOT NULL DEFAULT '[]',
    acceptance_criteria   TEXT NOT NULL DEFAULT '[]',
    resolver_session_id   TEXT,
    resolver_user_id      TEXT,
    completion_notes      TEXT,
    changed_files         TEXT NOT NULL DEFAULT '[]',
    knowledge_entry_ids   TEXT NOT NULL DEFAULT '[]',
    actor_type            TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id        TEXT,
    service_key_name      TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    resolved_at           TEXT
);
-- The list (newest first) and its filters; assignees compare case-insensitively.
CREATE INDEX tickets_by_project ON tickets(project_id, created_at DESC);
CREATE INDEX tickets_by_status ON tickets(project_id, status, created_at DESC);
CREATE INDEX tickets_by_assignee ON tickets(project_id, assigned_to COLLATE NOCASE, created_at DESC);
CREATE INDEX tickets_by_parent ON tickets(parent_ticket_id) WHERE parent_ticket_id IS NOT NULL;
-- "Maximum 3 tickets per session" for agent-created tasks.
CREATE INDEX tickets_by_session ON tickets(created_by_session_id)
    WHERE created_by_session_id IS NOT NULL;

-- `ticket_id` depends on `depends_on_id`; `position` keeps the order the writer gave.
CREATE TABLE ticket_dependencies (
    ticket_id     TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    depends_on_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, depends_on_id),
    CHECK (ticket_id <> depends_on_id)
) WITHOUT ROWID;
CREATE INDEX ticket_dependents ON ticket_dependencies(depends_on_id, ticket_id);

CREATE TABLE ticket_comments (
    id               TEXT PRIMARY KEY,
    ticket_id        TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author_user_id   TEXT NOT NULL,
    author_persona   TEXT,
    content          TEXT NOT NULL,
    session_id       TEXT,
    source           TEXT NOT NULL DEFAULT 'sessionfs' CHECK (source IN ('sessionfs', 'jira')),
    verdict_trusted  INTEGER NOT NULL DEFAULT 0,
    actor_type       TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id   TEXT,
    service_key_name TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX ticket_comments_by_ticket ON ticket_comments(ticket_id, created_at, id);

CREATE TABLE ticket_edits (
    id                TEXT PRIMARY KEY,
    ticket_id         TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    edited_by_user_id TEXT NOT NULL,
    edited_by_persona TEXT,
    field_name        TEXT NOT NULL,
    old_value         TEXT,
    new_value         TEXT,
    edited_at         TEXT NOT NULL,
    lease_epoch       INTEGER NOT NULL,
    actor_type        TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id    TEXT,
    service_key_name  TEXT
);
CREATE INDEX ticket_edits_by_ticket ON ticket_edits(ticket_id, edited_at);

-- What an agent was given when it started a ticket (one row per successful start).
CREATE TABLE retrieval_audit_contexts (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    ticket_id          TEXT REFERENCES tickets(id) ON DELETE SET NULL,
    persona_name       TEXT,
    lease_epoch        INTEGER NOT NULL,
    tool               TEXT NOT NULL,
    context_chars      INTEGER NOT NULL,
    created_by_user_id TEXT NOT NULL,
    actor_type         TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id     TEXT,
    service_key_name   TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX retrieval_audit_by_ticket ON retrieval_audit_contexts(ticket_id, created_at)
    WHERE ticket_id IS NOT NULL;
CREATE INDEX retrieval_audit_by_project ON retrieval_audit_contexts(project_id, created_at);

CREATE TABLE ticket_watchers (
    ticket_id  TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
) WITHOUT ROWID;
CREATE INDEX ticket_watchers_by_user ON ticket_watchers(user_id, ticket_id);
