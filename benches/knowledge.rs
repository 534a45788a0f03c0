//! Knowledge list benchmark: 100,000 entries in one project (`--entries N` to change), then the
//! entries list (`GET /projects/{pid}/entries`, the SQL the route runs) with every filter, every
//! sort, offset pages near the start and deep, and a keyset (`X-Next-Cursor`) walk; p50/p99/max
//! per case, and the query plan of each (every filter must name one of the project's indexes,
//! never scan the table). Then the knowledge index: rebuild time and relevance queries.
//! Prints figures; asserts nothing about time.
//!
//! `cargo bench --bench knowledge -- [--entries N] [--runs N]`

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use sessionfs_server::db::knowledge::{
    self, AuthorClass, ClaimClass, EntryType, Filter, Freshness, NewEntry, Sort,
};
use sessionfs_server::db::{Db, DbError};
use sessionfs_server::domain::knowledge_index;
use sessionfs_server::search::knowledge::{KnowledgeIndex, KnowledgeQuery};

const PROJECT: &str = "proj_00000000000000be";
const WORDS: [&str; 24] = [
    "retry",
    "backoff",
    "manifest",
    "tokio",
    "pool",
    "migration",
    "deploy",
    "workflow",
    "cache",
    "invalidation",
    "parser",
    "lifetime",
    "timeout",
    "websocket",
    "index",
    "schema",
    "upload",
    "checksum",
    "lease",
    "ticket",
    "compile",
    "wiki",
    "session",
    "handoff",
];

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A small deterministic generator (no dependency on a seed crate's output stability).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn fill(db: &Db, entries: usize) {
    db.write(|tx| {
        tx.execute_batch(
            "INSERT INTO users (id, email, tier, created_at)
                 VALUES ('u_bench', 'bench@example.com', 'team', '2026-01-01T00:00:00Z');",
        )?;
        tx.execute(
            "INSERT INTO projects (id, name, git_remote_normalized, context_document, owner_id,
                 created_at, updated_at)
             VALUES (?1, 'bench', 'bench/app', '# Project Context', 'u_bench',
                 '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            [PROJECT],
        )?;
        Ok::<_, DbError>(())
    })
    .await
    .expect("project");
    let mut rng = Lcg(42);
    let types = EntryType::ALL;
    let classes = ClaimClass::ALL;
    let fresh = Freshness::ALL;
    let mut done = 0;
    while done < entries {
        let n = (entries - done).min(5_000);
        let rows: Vec<_> = (0..n)
            .map(|i| {
                let k = done + i;
                let words: Vec<&str> = (0..12)
                    .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                    .collect();
                (
                    types[k % types.len()],
                    classes[(k / 7) % classes.len()],
                    fresh[(k / 3) % fresh.len()],
                    format!("Entry {k}: {} in src/{}.rs", words.join(" "), words[0]),
                    rng.below(100) as f64 / 100.0,
                    format!("ses_{:016x}", k % 1_000),
                    (k % 5 != 0).then(|| format!("persona{}", k % 20)),
                    if k % 4 == 0 {
                        AuthorClass::Agent
                    } else {
                        AuthorClass::Human
                    },
                    format!("from {} notes", WORDS[k % WORDS.len()]),
                    format!(
                        "2026-{:02}-{:02}T{:02}:00:00Z",
                        1 + (k / 28 / 24) % 12,
                        1 + (k / 24) % 28,
                        k % 24
                    ),
                    k % 10 == 0,
                    k % 2 == 0,
                    (k % 3 != 0).then(|| format!("2026-06-{:02}T00:00:00Z", 1 + k % 28)),
                )
            })
            .collect();
        db.write(move |tx| {
            for (
                t,
                c,
                f,
                content,
                conf,
                ses,
                persona,
                author,
                source,
                at,
                dismissed,
                compiled,
                relevant,
            ) in &rows
            {
                let id = knowledge::insert(
                    tx,
                    &NewEntry {
                        project_id: PROJECT,
                        session_id: ses,
                        user_id: "u_bench",
                        entry_type: *t,
                        content,
                        confidence: *conf,
                        source_context: Some(source),
                        persona_name: persona.as_deref(),
                        author_class: *author,
                        claim_class: *c,
                        entity_ref: None,
                        entity_type: None,
                        reader_authored: false,
                        service_key: None,
                        created_at: at,
                    },
                )?;
                tx.execute(
                    "UPDATE knowledge_entries SET freshness_class = ?2, dismissed = ?3,
                         compiled_at = CASE WHEN ?4 THEN created_at END, last_relevant_at = ?5
                     WHERE id = ?1",
                    params![id, f, dismissed, compiled, relevant],
                )?;
            }
            Ok::<_, DbError>(())
        })
        .await
        .expect("entries");
        done += n;
    }
}

/// The plan SQLite chooses for a list case (the route's SQL with `EXPLAIN QUERY PLAN`).
fn plan(conn: &Connection, f: &Filter, sort: Sort, cursor: Option<i64>) -> String {
    let sql = knowledge::list_sql(PROJECT, f, sort, cursor);
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.0))
        .expect("plan");
    let rows = stmt
        .query_map(rusqlite::params_from_iter(sql.1.iter()), |r| {
            r.get::<_, String>(3)
        })
        .expect("plan rows");
    rows.map(Result::unwrap).collect::<Vec<_>>().join(" | ")
}

#[tokio::main]
async fn main() {
    let entries = flag("--entries", 100_000);
    let runs = flag("--runs", 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(&dir.path().join("bench.db"), 2).expect("db");
    let started = Instant::now();
    fill(&db, entries).await;
    println!(
        "filled {entries} entries of one project in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    db.read_blocking(|c| c.execute_batch("ANALYZE").map_err(DbError::from))
        .ok();

    let f = |edit: fn(&mut Filter)| {
        let mut filter = Filter::default();
        edit(&mut filter);
        filter
    };
    let cases: Vec<(&str, Filter, Sort, Option<i64>, i64)> = vec![
        ("no filter", Filter::default(), Sort::CreatedAtDesc, None, 0),
        (
            "type=decision",
            f(|x| x.entry_type = Some("decision".into())),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "pending=true",
            f(|x| x.pending = Some(true)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "pending=false",
            f(|x| x.pending = Some(false)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "search=backoff",
            f(|x| x.search = Some("backoff".into())),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "search=(no match)",
            f(|x| x.search = Some("zzzqqq".into())),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "claim_class=claim",
            f(|x| x.claim_class = Some(ClaimClass::Claim)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "freshness_class=stale",
            f(|x| x.freshness_class = Some(Freshness::Stale)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "dismissed=true",
            f(|x| x.dismissed = Some(true)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "session_id",
            f(|x| x.session_id = Some(format!("ses_{:016x}", 7))),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "persona_name",
            f(|x| x.persona_name = Some("persona3".into())),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "author_class=agent",
            f(|x| x.author_class = Some(AuthorClass::Agent)),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "source_filter",
            f(|x| x.source_filter = Some("tokio notes".into())),
            Sort::CreatedAtDesc,
            None,
            0,
        ),
        (
            "sort=last_relevant_at_desc",
            Filter::default(),
            Sort::LastRelevantAtDesc,
            None,
            0,
        ),
        (
            "sort=confidence_desc",
            Filter::default(),
            Sort::ConfidenceDesc,
            None,
            0,
        ),
        (
            "type + sort=confidence_desc",
            f(|x| x.entry_type = Some("bug".into())),
            Sort::ConfidenceDesc,
            None,
            0,
        ),
        (
            "page 2 (offset 50)",
            Filter::default(),
            Sort::CreatedAtDesc,
            None,
            50,
        ),
        (
            "page 1000 (offset 49,950)",
            Filter::default(),
            Sort::CreatedAtDesc,
            None,
            49_950,
        ),
        (
            "page 200 of type=bug",
            f(|x| x.entry_type = Some("bug".into())),
            Sort::CreatedAtDesc,
            None,
            9_950,
        ),
        (
            "cursor (middle)",
            Filter::default(),
            Sort::CreatedAtDesc,
            Some(entries as i64 / 2),
            0,
        ),
        (
            "cursor + pending=true",
            f(|x| x.pending = Some(true)),
            Sort::CreatedAtDesc,
            Some(entries as i64 / 2),
            0,
        ),
    ];
    println!(
        "\n{:<30} {:>6} {:>9} {:>9} {:>9}  plan",
        "list case (limit 50)", "rows", "p50 ms", "p99 ms", "max ms"
    );
    for (name, filter, sort, cursor, offset) in &cases {
        let mut times = Vec::with_capacity(runs);
        let mut rows = 0;
        for _ in 0..runs {
            let (filter, sort, cursor, offset) = (filter.clone(), *sort, *cursor, *offset);
            let t = Instant::now();
            rows = db
                .read(move |c| knowledge::list(c, PROJECT, &filter, sort, cursor, offset, 50))
                .await
                .expect("list")
                .len();
            times.push(t.elapsed());
        }
        times.sort();
        let p = db
            .read_blocking(|c| Ok::<_, DbError>(plan(c, filter, *sort, *cursor)))
            .unwrap();
        println!(
            "{:<30} {:>6} {:>9.2} {:>9.2} {:>9.2}  {}",
            name,
            rows,
            ms(&times, 0.5),
            ms(&times, 0.99),
            ms(&times, 1.0),
            p
        );
    }

    // A client walking every page with X-Next-Cursor.
    let t = Instant::now();
    let (mut cursor, mut pages, mut seen) = (None, 0, 0);
    let mut page_times = Vec::new();
    loop {
        let p = Instant::now();
        let page = db
            .read(move |c| {
                knowledge::list(
                    c,
                    PROJECT,
                    &Filter::default(),
                    Sort::CreatedAtDesc,
                    cursor,
                    0,
                    200,
                )
            })
            .await
            .expect("page");
        page_times.push(p.elapsed());
        pages += 1;
        seen += page.len();
        if page.len() < 200 {
            break;
        }
        cursor = page.last().map(|e| e.id);
    }
    page_times.sort();
    println!(
        "\nkeyset walk of all {seen} entries: {pages} pages of 200 in {:.2}s (page p50 {:.2} ms, p99 {:.2} ms)",
        t.elapsed().as_secs_f64(),
        ms(&page_times, 0.5),
        ms(&page_times, 0.99)
    );

    // The knowledge index: rebuild from the database, then relevance queries.
    let (index, _) = KnowledgeIndex::open(&dir.path().join("knowledge")).expect("index");
    let t = Instant::now();
    let n = {
        let index = index.clone();
        db.read_blocking(move |c| {
            knowledge_index::rebuild(c, &index)
                .map_err(sessionfs_server::domain::DomainError::Fault)
        })
        .expect("rebuild")
    };
    println!(
        "\nknowledge index rebuilt from the database: {n} entries in {:.2}s",
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut rng = Lcg(7);
    for _ in 0..runs {
        let text = (0..3)
            .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ");
        let q = KnowledgeQuery {
            project_id: PROJECT.into(),
            text,
            entry_types: vec![],
            include_inactive: false,
            limit: 10,
        };
        let t = Instant::now();
        let hits = index.search(&q).expect("search");
        times.push(t.elapsed());
        assert!(hits.len() <= 10);
    }
    times.sort();
    println!(
        "relevance query (3 words, top 10 active): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(&times, 0.5),
        ms(&times, 0.99),
        ms(&times, 1.0)
    );
}
