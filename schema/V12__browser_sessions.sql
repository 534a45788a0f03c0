-- Browser sessions of the web dashboard. A person signs in by pasting an API key; the browser
-- then holds only a random 256-bit session id in an HttpOnly cookie. Only its SHA-256 is kept
-- here, with the key it was opened with (the key itself is never stored again) and the CSRF
-- synchronizer token of the session's forms.
CREATE TABLE browser_sessions (
    id_hash       TEXT PRIMARY KEY,
    -- A short public handle for listing and revoking ("bs_" + 16 hex), never the cookie value.
    handle        TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    api_key_id    TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    -- Absolute end, fixed at sign-in; the idle end is last_seen_at + the idle limit.
    expires_at    TEXT NOT NULL,
    user_agent    TEXT,
    ip            TEXT
);
CREATE INDEX browser_sessions_by_user ON browser_sessions(user_id, created_at DESC);
CREATE INDEX browser_sessions_by_key ON browser_sessions(api_key_id);
CREATE INDEX browser_sessions_by_expiry ON browser_sessions(expires_at);

-- Revoking or deactivating a key, or disabling its user, ends its browser sessions at once,
-- whichever code path (API, CLI, admin) made the change.
CREATE TRIGGER browser_sessions_end_on_key_revoke
AFTER UPDATE OF revoked_at, is_active ON api_keys
WHEN NEW.revoked_at IS NOT NULL OR NEW.is_active = 0
BEGIN
    DELETE FROM browser_sessions WHERE api_key_id = NEW.id;
END;

CREATE TRIGGER browser_sessions_end_on_user_disable
AFTER UPDATE OF is_active ON users
WHEN NEW.is_active = 0
BEGIN
    DELETE FROM browser_sessions WHERE user_id = NEW.id;
END;
