-- Per-user settings for the LLM judge and the integrations, and the judge's audits.
-- Secrets (the judge API key, the GitLab token) are stored sealed by src/secrets.rs
-- ("v1:<key id>:<base64 nonce+ciphertext>"), never in clear.

CREATE TABLE user_judge_settings (
    user_id           TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    encrypted_api_key TEXT,              -- NULL: no key stored
    base_url          TEXT,              -- NULL: the provider's own endpoint
    updated_at        TEXT NOT NULL
);

-- The audit and summarize triggers (manual / on_sync / on_pr); a missing row means manual.
CREATE TABLE user_triggers (
    user_id           TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    audit_trigger     TEXT NOT NULL DEFAULT 'manual'
                      CHECK (audit_trigger IN ('manual', 'on_sync', 'on_pr')),
    summarize_trigger TEXT NOT NULL DEFAULT 'manual'
                      CHECK (summarize_trigger IN ('manual', 'on_sync', 'on_pr'))
);

CREATE TABLE gitlab_settings (
    user_id                TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    instance_url           TEXT NOT NULL,
    encrypted_access_token TEXT NOT NULL,
    webhook_secret         TEXT,
    updated_at             TEXT NOT NULL
);

-- The latest report of a session (what GET /sessions/{id}/audit answers; dismissals rewrite it).
CREATE TABLE session_audits (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    report     TEXT NOT NULL,            -- the report JSON of contract 03 §7.3
    updated_at TEXT NOT NULL
);

-- Every completed run (synchronous and background), newest first per session.
CREATE TABLE audit_reports (
    id                TEXT PRIMARY KEY,  -- aud_ + 16 hex
    session_id        TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    provider          TEXT NOT NULL,
    base_url          TEXT NOT NULL,
    trust_score       REAL NOT NULL,
    total_claims      INTEGER NOT NULL,
    verified          INTEGER NOT NULL,
    unverified        INTEGER NOT NULL,
    hallucinations    INTEGER NOT NULL,
    findings          TEXT NOT NULL,     -- JSON array
    execution_time_ms INTEGER NOT NULL,
    created_at        TEXT NOT NULL
);
CREATE INDEX audit_reports_by_session ON audit_reports(user_id, session_id, created_at DESC);

-- Background audits (sessions of 500 messages or more): one job per session at a time. A job
-- survives a restart: `running` rows are resumed at start when their key is the saved one, and
-- failed cleanly when the key came with the request (it is never stored).
-- key_source: 'saved' (the judge settings' key, read again on resume), 'request' (sent with
-- the POST, never stored: not resumable) or 'none' (no key needed).
CREATE TABLE audit_jobs (
    session_id    TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state         TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    model         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    key_source    TEXT NOT NULL CHECK (key_source IN ('saved', 'request', 'none')),
    message_count INTEGER NOT NULL,
    error         TEXT,
    audit_id      TEXT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX audit_jobs_by_state ON audit_jobs(state);
