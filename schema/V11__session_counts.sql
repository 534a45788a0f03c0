-- Each user's number of live and trashed sessions, kept by triggers on `sessions`, so the
-- unfiltered session list's total is one row read instead of a COUNT(*) that grows with the
-- store. Every path that adds, removes, trashes, restores or moves a session goes through
-- these triggers; nothing else writes this table.
CREATE TABLE session_counts (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    live    INTEGER NOT NULL DEFAULT 0,
    trashed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO session_counts (user_id, live, trashed)
    SELECT user_id, SUM(deleted_at IS NULL), SUM(deleted_at IS NOT NULL)
    FROM sessions GROUP BY user_id;

CREATE TRIGGER session_counts_insert AFTER INSERT ON sessions
BEGIN
    INSERT INTO session_counts (user_id, live, trashed)
        VALUES (NEW.user_id, NEW.deleted_at IS NULL, NEW.deleted_at IS NOT NULL)
        ON CONFLICT (user_id) DO UPDATE
        SET live = live + excluded.live, trashed = trashed + excluded.trashed;
END;

CREATE TRIGGER session_counts_delete AFTER DELETE ON sessions
BEGIN
    UPDATE session_counts
        SET live = live - (OLD.deleted_at IS NULL), trashed = trashed - (OLD.deleted_at IS NOT NULL)
        WHERE user_id = OLD.user_id;
END;

CREATE TRIGGER session_counts_update AFTER UPDATE OF user_id, deleted_at ON sessions
    WHEN OLD.user_id IS NOT NEW.user_id
      OR (OLD.deleted_at IS NULL) IS NOT (NEW.deleted_at IS NULL)
BEGIN
    UPDATE session_counts
        SET live = live - (OLD.deleted_at IS NULL), trashed = trashed - (OLD.deleted_at IS NOT NULL)
        WHERE user_id = OLD.user_id;
    INSERT INTO session_counts (user_id, live, trashed)
        VALUES (NEW.user_id, NEW.deleted_at IS NULL, NEW.deleted_at IS NOT NULL)
        ON CONFLICT (user_id) DO UPDATE
        SET live = live + excluded.live, trashed = trashed + excluded.trashed;
END;
