//! Search benchmark: builds a corpus of generated sessions (10,000 by default), then measures
//! `GET /api/v1/sessions/search` over HTTP at concurrency 1 and 16 (queries/s, p50/p99/max),
//! and the time to rebuild the index from the archives. Prints figures; asserts nothing
//! about time.
//!
//! `cargo bench --bench search -- [--sessions N] [--queries N] [--users N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use sessionfs_server::archive::{self, fixture, Limits};
use sessionfs_server::config::Config;
use sessionfs_server::db::users::ClientInfo;
use sessionfs_server::domain::accounts;
use sessionfs_server::domain::search as search_sync;
use sessionfs_server::domain::sessions::{commit_push, PushConditions, StoredArchive};
use sessionfs_server::state::AppState;

const TOPICS: [&str; 12] = [
    "tokenizer crash",
    "database migration",
    "flaky retry test",
    "kubernetes probe",
    "css grid layout",
    "rust lifetime error",
    "python packaging",
    "oauth callback",
    "vector clock",
    "memory leak",
    "websocket reconnect",
    "csv importer",
];

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let sessions = flag("--sessions", 10_000);
    let queries = flag("--queries", 2_000);
    let users = flag("--users", 4).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.rate_limit_per_minute = 0;
    config.signup_rate_limit_per_hour = 0;
    let state = AppState::open(config).expect("open data dir");

    let mut accounts_made = Vec::new();
    for u in 0..users {
        let email = format!("bench{u}@example.com");
        let made = accounts::create_account(&state.db, &state.clock, &state.config, email)
            .await
            .expect("account");
        accounts_made.push((made.user_id, made.raw_key));
    }
    let accounts_made = Arc::new(accounts_made);

    println!("building a corpus of {sessions} sessions for {users} users…");
    let started = Instant::now();
    let limits = Limits {
        member_bytes: 50 << 20,
        members: 10_000,
        uncompressed_bytes: 1 << 30,
    };
    stream::iter(0..sessions)
        .for_each_concurrent(16, |i| {
            let state = state.clone();
            let accounts_made = accounts_made.clone();
            async move {
                let id = format!("ses_bench{i:011}");
                let topic = TOPICS[i % TOPICS.len()];
                let other = TOPICS[(i * 7 + 3) % TOPICS.len()];
                let bytes = fixture::session_archive(
                    &id,
                    &format!("Session {i} on {topic}"),
                    &format!("{other} and {topic}"),
                    20,
                );
                let blobs = state.blobs.clone();
                let (hash, meta, size) = tokio::task::spawn_blocking(move || {
                    let meta = archive::inspect(&bytes[..], &limits).expect("valid archive");
                    (
                        blobs.put(&bytes).expect("store archive"),
                        meta,
                        bytes.len() as u64,
                    )
                })
                .await
                .expect("blocking task");
                let (user_id, _) = &accounts_made[i % accounts_made.len()];
                let text = meta.messages_text.clone();
                let stored = StoredArchive {
                    hash,
                    size,
                    meta,
                    pin: None,
                };
                let (_, row) = commit_push(
                    &state.db,
                    &state.clock,
                    user_id,
                    &id,
                    false,
                    PushConditions::default(),
                    stored,
                    ClientInfo::default(),
                )
                .await
                .expect("commit");
                state.search.upsert(search_sync::doc(&row, text));
            }
        })
        .await;
    let index = state.search.clone();
    tokio::task::spawn_blocking(move || index.flush())
        .await
        .expect("flush");
    println!("corpus ready in {:.1}s", started.elapsed().as_secs_f64());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let serving = state.clone();
    tokio::spawn(async move {
        sessionfs_server::server::serve(serving, listener, None, std::future::pending()).await
    });
    let client = reqwest::Client::new();

    println!(
        "{:<10} {:>5} {:>8} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "phase", "conc", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for concurrency in [1usize, 16] {
        let started = Instant::now();
        let results: Vec<(Duration, bool)> = stream::iter(0..queries)
            .map(|i| {
                let client = client.clone();
                let (_, key) = accounts_made[i % accounts_made.len()].clone();
                let q = TOPICS[i % TOPICS.len()].replace(' ', "%20");
                let url = format!("{base}/api/v1/sessions/search?q={q}&page_size=20");
                async move {
                    let t = Instant::now();
                    let ok = match client.get(url).bearer_auth(key).send().await {
                        Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    (t.elapsed(), ok)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        let errors = results.iter().filter(|(_, ok)| !ok).count();
        let mut lat: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
        lat.sort();
        println!(
            "{:<10} {:>5} {:>8} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            "search",
            concurrency,
            results.len(),
            results.len() as f64 / elapsed,
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
            errors
        );
        if errors > 0 {
            eprintln!("{errors} searches failed");
            std::process::exit(1);
        }
    }

    let (db, blobs, index) = (state.db.clone(), state.blobs.clone(), state.search.clone());
    let started = Instant::now();
    let rebuilt = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| {
            search_sync::rebuild(conn, &blobs, &index)
                .map_err(sessionfs_server::error::ApiError::internal)
        })
    })
    .await
    .expect("rebuild task")
    .expect("rebuild");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuild: {rebuilt} sessions from their archives in {seconds:.2}s ({:.0} sessions/s)",
        rebuilt as f64 / seconds
    );
}
