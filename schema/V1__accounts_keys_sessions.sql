-- Accounts, API keys, email verification and sessions.
-- Timestamps are RFC 3339 UTC text with microseconds and a trailing Z, so they sort as text.

CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    email                TEXT NOT NULL UNIQUE,
    display_name         TEXT,
    tier                 TEXT NOT NULL,
    email_verified       INTEGER NOT NULL DEFAULT 0,
    is_active            INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    sync_mode            TEXT NOT NULL DEFAULT 'off',
    sync_debounce        INTEGER NOT NULL DEFAULT 30,
    last_client_version  TEXT,
    last_client_platform TEXT,
    last_client_device   TEXT,
    last_sync_at         TEXT,
    default_org_id       TEXT,
    capture_health       TEXT
);

CREATE TABLE api_keys (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash           TEXT NOT NULL UNIQUE,
    key_prefix         TEXT,
    name               TEXT,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT,
    last_used_ip       TEXT,
    is_active          INTEGER NOT NULL DEFAULT 1,
    key_kind           TEXT NOT NULL DEFAULT 'user' CHECK (key_kind IN ('user', 'service')),
    scopes             TEXT NOT NULL DEFAULT '["*"]',
    expires_at         TEXT,
    revoked_at         TEXT,
    revoke_reason      TEXT,
    created_by_user_id TEXT
);
CREATE INDEX api_keys_by_user ON api_keys(user_id, created_at);

-- One row per verification link sent; only the SHA-256 of the token is kept.
CREATE TABLE email_verifications (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX email_verifications_by_user ON email_verifications(user_id);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blob_hash             TEXT NOT NULL,
    blob_size_bytes       INTEGER NOT NULL,
    title                 TEXT,
    alias                 TEXT,
    tags                  TEXT NOT NULL DEFAULT '[]',
    source_tool           TEXT NOT NULL DEFAULT 'unknown',
    source_tool_version   TEXT,
    original_session_id   TEXT,
    model_provider        TEXT,
    model_id              TEXT,
    message_count         INTEGER NOT NULL DEFAULT 0,
    turn_count            INTEGER NOT NULL DEFAULT 0,
    tool_use_count        INTEGER NOT NULL DEFAULT 0,
    total_input_tokens    INTEGER NOT NULL DEFAULT 0,
    total_output_tokens   INTEGER NOT NULL DEFAULT 0,
    duration_ms           INTEGER,
    parent_session_id     TEXT,
    persona_name          TEXT,
    ticket_id             TEXT,
    retrieval_audit_id    TEXT,
    rules_source          TEXT NOT NULL DEFAULT 'none',
    rules_version         TEXT,
    rules_hash            TEXT,
    instruction_artifacts TEXT NOT NULL DEFAULT '[]',
    git_remote_normalized TEXT NOT NULL DEFAULT '',
    git_branch            TEXT NOT NULL DEFAULT '',
    git_commit            TEXT NOT NULL DEFAULT '',
    dlp_scan_results      TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    uploaded_at           TEXT NOT NULL,
    deleted_at            TEXT,
    deleted_by            TEXT,
    delete_scope          TEXT,
    purge_after           TEXT
);
-- The list (live and trash views) and every "caller's sessions" query.
CREATE INDEX sessions_by_owner ON sessions(user_id, deleted_at IS NOT NULL, updated_at DESC, id);
-- Aliases are unique per user among live sessions.
CREATE UNIQUE INDEX sessions_alias ON sessions(user_id, alias)
    WHERE alias IS NOT NULL AND deleted_at IS NULL;
-- Blob garbage collection asks "is this hash referenced?".
CREATE INDEX sessions_by_blob ON sessions(blob_hash);
