-- Agent personas (02 §6) and agent runs (02 §7).

-- A persona belongs to a project or to an org, never both. Names are ASCII
-- (`^[A-Za-z0-9_-]{1,50}$`), unique per owner case-insensitively, soft-deleted rows included
-- (a deleted name stays reserved), so NOCASE is the whole comparison.
CREATE TABLE agent_personas (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT REFERENCES projects(id) ON DELETE CASCADE,
    org_id              TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    role                TEXT NOT NULL,
    content             TEXT NOT NULL DEFAULT '',
    specializations     TEXT NOT NULL DEFAULT '[]',
    is_active           INTEGER NOT NULL DEFAULT 1,
    version             INTEGER NOT NULL DEFAULT 1,
    created_by          TEXT NOT NULL,
    represented_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    actor_type          TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id      TEXT,
    service_key_name    TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CHECK ((project_id IS NULL) <> (org_id IS NULL))
);
-- One name per project / per org; also the lookup by name and the sorted list.
CREATE UNIQUE INDEX agent_personas_project_name
    ON agent_personas(project_id, name COLLATE NOCASE) WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX agent_personas_org_name
    ON agent_personas(org_id, name COLLATE NOCASE) WHERE org_id IS NOT NULL;

-- Ticket ids are checked by the domain against the tickets of the same project (the tickets
-- table is a later migration), so `ticket_id` carries no foreign key.
CREATE TABLE agent_runs (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    persona_name         TEXT NOT NULL,
    tool                 TEXT NOT NULL DEFAULT 'generic',
    trigger_source       TEXT NOT NULL DEFAULT 'manual'
                         CHECK (trigger_source IN ('manual', 'ci', 'webhook', 'scheduled', 'mcp', 'api')),
    status               TEXT NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'passed', 'failed', 'errored', 'cancelled')),
    ticket_id            TEXT,
    trigger_ref          TEXT,
    ci_provider          TEXT CHECK (ci_provider IN ('github', 'gitlab', 'bitbucket', 'circleci',
                                     'jenkins', 'buildkite', 'azure', 'drone', 'other')),
    ci_run_url           TEXT,
    result_summary       TEXT,
    severity             TEXT CHECK (severity IN ('none', 'low', 'medium', 'high', 'critical')),
    findings_count       INTEGER NOT NULL DEFAULT 0,
    findings             TEXT NOT NULL DEFAULT '[]',
    fail_on              TEXT CHECK (fail_on IN ('none', 'low', 'medium', 'high', 'critical')),
    policy_result        TEXT CHECK (policy_result IN ('pass', 'fail')),
    exit_code            INTEGER,
    session_id           TEXT,
    triggered_by_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    triggered_by_persona TEXT,
    replayed_from        TEXT,
    prompt               TEXT,
    context_refs         TEXT NOT NULL DEFAULT '[]',
    actor_type           TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id       TEXT,
    service_key_name     TEXT,
    created_at           TEXT NOT NULL,
    started_at           TEXT,
    completed_at         TEXT,
    duration_seconds     INTEGER
);
-- The list (newest first) and its status filter; the stranding guard (queued/running runs).
CREATE INDEX agent_runs_by_status ON agent_runs(project_id, status, created_at DESC);
CREATE INDEX agent_runs_by_project ON agent_runs(project_id, created_at DESC);
-- The list's persona and ticket filters.
CREATE INDEX agent_runs_by_persona ON agent_runs(project_id, persona_name, created_at DESC);
CREATE INDEX agent_runs_by_ticket ON agent_runs(project_id, ticket_id, created_at DESC)
    WHERE ticket_id IS NOT NULL;
