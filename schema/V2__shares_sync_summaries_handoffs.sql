-- Share links, the autosync watchlist, cached summaries, handoffs with comments and events.

CREATE TABLE share_links (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,     -- SHA-256 of the token; the token itself is never stored
    password_hash TEXT,                     -- argon2 PHC string
    expires_at    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE INDEX share_links_by_session ON share_links(session_id);

CREATE TABLE sync_watchlist (
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    created_at     TEXT NOT NULL,
    last_synced_at TEXT,
    PRIMARY KEY (user_id, session_id)
);
CREATE INDEX sync_watchlist_newest ON sync_watchlist(user_id, created_at DESC);

CREATE TABLE session_summaries (
    session_id   TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    blob_hash    TEXT NOT NULL,             -- the archive the summary was built from
    summary      TEXT NOT NULL,             -- JSON
    created_at   TEXT NOT NULL
);

CREATE TABLE handoffs (
    id                    TEXT PRIMARY KEY,
    session_id            TEXT NOT NULL,
    sender_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    recipient_email       TEXT,
    recipient_user_id     TEXT,
    recipient_id          TEXT,             -- who claimed it
    recipient_session_id  TEXT,
    message               TEXT,
    status                TEXT NOT NULL DEFAULT 'pending',
    session_title         TEXT,
    session_tool          TEXT,
    session_model_id      TEXT,
    session_message_count INTEGER,
    session_total_tokens  INTEGER,
    sender_tier_snapshot  TEXT,
    preview_token_hash    TEXT,
    preview               TEXT NOT NULL DEFAULT '[]',
    created_at            TEXT NOT NULL,
    expires_at            TEXT NOT NULL,
    claimed_at            TEXT,
    revoked_at            TEXT,
    viewed_at             TEXT,
    revoked_by_user_id    TEXT,
    revoke_reason         TEXT
);
CREATE INDEX handoffs_sent ON handoffs(sender_id, created_at DESC);
CREATE INDEX handoffs_to_email ON handoffs(recipient_email, created_at DESC);
CREATE INDEX handoffs_to_user ON handoffs(recipient_user_id, created_at DESC);
CREATE INDEX handoffs_by_session ON handoffs(session_id);

CREATE TABLE handoff_comments (
    id             TEXT PRIMARY KEY,
    handoff_id     TEXT NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,
    author_user_id TEXT,
    content        TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX handoff_comments_by_handoff ON handoff_comments(handoff_id, created_at);

CREATE TABLE handoff_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    handoff_id    TEXT NOT NULL REFERENCES handoffs(id) ON DELETE CASCADE,
    event_type    TEXT NOT NULL,
    actor_user_id TEXT,
    payload       TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX handoff_events_by_handoff ON handoff_events(handoff_id, id);
