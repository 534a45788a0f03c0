-- A per-user version of the session list's order, kept by triggers on `sessions`: it changes
-- whenever a session of the user is added, removed, moved, trashed, restored or touched
-- (`updated_at`). The list remembers where deep pages begin (keyset marks) under the version it
-- read them at, and uses a mark only while the version is the same, so a deep page is a
-- range read from the mark instead of an OFFSET over every row before it.
ALTER TABLE session_counts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER session_list_version_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO session_counts (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER session_list_version_delete AFTER DELETE ON sessions
BEGIN
    UPDATE session_counts SET version = version + 1 WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER session_list_version_update AFTER UPDATE OF id, user_id, deleted_at, updated_at ON sessions
BEGIN
    UPDATE session_counts SET version = version + 1 WHERE user_id = OLD.user_id;
    INSERT INTO session_counts (user_id, version) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = version + 1;
END;
