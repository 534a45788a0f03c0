-- Resumable chunked uploads (issue 14): an upload is declared (size, sha256), its parts arrive
-- one by one (files under archives/tmp/uploads/<id>/), and complete runs the push path.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    total_size  INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    part_size   INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | completed
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    -- For a completed upload: the push's answer (HTTP status and JSON body), replayed when the
    -- client lost the response and completes again.
    result_status INTEGER,
    result_body   TEXT
);
CREATE INDEX uploads_by_user ON uploads(user_id, status, expires_at);
CREATE INDEX uploads_by_expiry ON uploads(expires_at);

CREATE TABLE upload_parts (
    upload_id   TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
