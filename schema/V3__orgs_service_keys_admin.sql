-- Organizations, members, invites; service keys on api_keys; the platform-admin audit log.

CREATE TABLE organizations (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    slug                TEXT NOT NULL UNIQUE,
    tier                TEXT NOT NULL,
    seats_limit         INTEGER NOT NULL,
    storage_limit_bytes INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL
);

CREATE TABLE org_members (
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by TEXT,
    invited_at TEXT,
    joined_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_by_user ON org_members(user_id, joined_at);

CREATE TABLE org_invites (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    invited_by      TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    accepted_at     TEXT,
    declined_at     TEXT,
    decline_reason  TEXT,
    last_emailed_at TEXT,
    UNIQUE (org_id, email)
);
CREATE INDEX org_invites_by_email ON org_invites(email);

-- Service keys: org-scoped, scope-restricted rows of api_keys (key_kind = 'service').
ALTER TABLE api_keys ADD COLUMN org_id TEXT;
ALTER TABLE api_keys ADD COLUMN service_key_name TEXT;
ALTER TABLE api_keys ADD COLUMN project_ids TEXT;
CREATE INDEX api_keys_by_org ON api_keys(org_id, created_at) WHERE org_id IS NOT NULL;

CREATE TABLE admin_actions (
    id           TEXT PRIMARY KEY,
    admin_id     TEXT,
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    details      TEXT,
    reason       TEXT,
    source       TEXT NOT NULL DEFAULT 'api',
    created_at   TEXT NOT NULL
);
CREATE INDEX admin_actions_newest ON admin_actions(created_at DESC);
