//! What the db tests share: a migrated database in a temporary folder, and the query plan of
//! a statement (to check that every query path reads through an index).

use rusqlite::{params_from_iter, Connection, Params};
use tempfile::TempDir;

/// A migrated writer connection over a database in a fresh temporary folder (kept alive by
/// the returned [`TempDir`]).
pub fn migrated() -> (TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = super::open_writer_connection(&dir.path().join("test.db")).unwrap();
    (dir, conn)
}

/// The detail lines of `EXPLAIN QUERY PLAN sql`, joined by ` | `, with every parameter bound
/// to NULL.
pub fn query_plan(conn: &Connection, sql: &str) -> String {
    let count = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .parameter_count();
    let nulls = vec![rusqlite::types::Null; count];
    query_plan_with(conn, sql, params_from_iter(nulls.iter()))
}

/// [`query_plan`] with `params` bound.
pub fn query_plan_with(conn: &Connection, sql: &str, params: impl Params) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    rows.join(" | ")
}
