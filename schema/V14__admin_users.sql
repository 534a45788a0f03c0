-- The platform admin's users list (GET /api/v1/admin/users, the dashboard's users page):
-- newest first, optionally one tier; active users only unless asked otherwise.
CREATE INDEX users_newest ON users(created_at DESC, id);
CREATE INDEX users_by_tier ON users(tier, created_at DESC, id);
