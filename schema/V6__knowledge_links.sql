-- Links between knowledge entries and pages (02 §3.5 supersede, §3.6 compile, §4 backlinks).
-- Ids are text: entry ids as decimal strings, pages by page id.
CREATE TABLE knowledge_links (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    source_type      TEXT NOT NULL CHECK (source_type IN ('entry', 'page')),
    source_id        TEXT NOT NULL,
    target_type      TEXT NOT NULL CHECK (target_type IN ('entry', 'page')),
    target_id        TEXT NOT NULL,
    link_type        TEXT NOT NULL CHECK (link_type IN ('supersedes', 'contradicts', 'contributes')),
    confidence       REAL NOT NULL,
    created_at       TEXT NOT NULL,
    actor_type       TEXT NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'service_key')),
    service_key_id   TEXT,
    service_key_name TEXT,
    UNIQUE (project_id, source_type, source_id, target_type, target_id)
);
-- Backlinks of one target (GET /links/{target_type}/{target_id}).
CREATE INDEX knowledge_links_by_target ON knowledge_links(project_id, target_type, target_id);

-- The new curation query paths are covered by V4's indexes (checked by EXPLAIN QUERY PLAN in
-- db::knowledge tests): bulk-promote reads notes through knowledge_by_claim_class, the promote
-- duplicate window reads the newest claims through knowledge_by_claim_class, dismiss-stale
-- narrows by (project_id, dismissed) through knowledge_pending.
