//! The hot paths of issue 15, against a store of a given size: pulls (next to the same file
//! served by `tower_http::services::ServeFile` in the same process, with the ratio), message
//! pages, list pages, pushes, and the process's memory at the end.
//!
//! ```text
//! cargo bench --bench hot_paths -- [--sizes 1000,10000] [--concurrency 1,16] [--requests 200]
//! ```
//!
//! The server runs in this process on `127.0.0.1:0` with a temp data dir and rate limits off;
//! client and server share the machine's cores. Archives are realistic sessions (prompts,
//! assistant text, tool calls and tool output in varied words) of about 20 KB, 200 KB and
//! 2 MB. One user's store is filled to each size (through the same domain call a push ends
//! with, against one stored archive, so filling is fast) before that size's phases run. It
//! prints figures and asserts nothing about time; it exits non-zero only when requests fail.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::{self, Limits};
use sessionfs_server::config::Config;
use sessionfs_server::db::users::ClientInfo;
use sessionfs_server::domain::sessions::{commit_push, PushConditions, StoredArchive};
use sessionfs_server::state::AppState;
use tokio::net::TcpListener;

const USAGE: &str = "usage: cargo bench --bench hot_paths -- [--sizes 1000,10000] \
[--concurrency 1,16] [--requests 200] [--phases cpu,list,messages,pull,push]
(push-small and push-large run one size of push)";

/// Pushes the server runs at once for one user.
const PUSHES_PER_USER: usize = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hot_paths: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("hot_paths: {failed} requests failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hot_paths: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    sizes: Vec<usize>,
    concurrency: Vec<usize>,
    requests: usize,
    /// The phases to run (all by default): cpu, list, messages, pull, push (or one size of
    /// push: push-small, push-large).
    phases: Vec<String>,
}

impl Args {
    fn runs(&self, phase: &str) -> bool {
        self.phases.is_empty() || self.phases.iter().any(|p| p == phase)
    }
}

impl Args {
    fn parse(argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut args = Args {
            sizes: vec![1_000, 10_000],
            concurrency: vec![1, 16],
            requests: 200,
            phases: Vec::new(),
        };
        let mut argv = argv;
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg, None),
            };
            match flag.as_str() {
                "--bench" => continue,
                "-h" | "--help" => return Ok(None),
                _ => {}
            }
            let value = match inline {
                Some(v) => v,
                None => argv.next().ok_or(format!("{flag} needs a value"))?,
            };
            let list = |v: &str| -> Result<Vec<usize>, String> {
                v.split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("{flag}: {e}"))
                    })
                    .collect()
            };
            match flag.as_str() {
                "--sizes" => args.sizes = list(&value)?,
                "--concurrency" => args.concurrency = list(&value)?,
                "--requests" => args.requests = list(&value)?.first().copied().unwrap_or(200),
                "--phases" => {
                    args.phases = value.split(',').map(|p| p.trim().to_string()).collect()
                }
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(Some(args))
    }
}

/// A small xorshift generator: the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words to build text from: common English and code-ish tokens.
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    const SEEDS: [&str; 40] = [
        "the",
        "parser",
        "returns",
        "error",
        "when",
        "migration",
        "fails",
        "token",
        "index",
        "query",
        "session",
        "archive",
        "function",
        "struct",
        "impl",
        "async",
        "await",
        "file",
        "line",
        "test",
        "assert",
        "build",
        "cargo",
        "warning",
        "unused",
        "variable",
        "config",
        "server",
        "client",
        "request",
        "response",
        "status",
        "header",
        "body",
        "json",
        "field",
        "value",
        "retry",
        "timeout",
        "cache",
    ];
    let mut words: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    for _ in 0..2_000 {
        let len = 3 + rng.below(8);
        let word: String = (0..len)
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect();
        words.push(word);
    }
    words
}

/// `base` plus up to `spread` words.
fn text(rng: &mut Rng, words: &[String], base: usize, spread: usize) -> String {
    let n = base + rng.below(spread);
    let mut out = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            out.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        // Zipf-ish: common words far more often.
        let pick = if rng.below(3) == 0 {
            rng.below(words.len())
        } else {
            rng.below(40)
        };
        out.push_str(&words[pick]);
    }
    out
}

/// A realistic session archive of about `target` compressed bytes: user prompts, assistant
/// text with tool calls, tool output.
fn realistic_archive(id: &str, target: usize, seed: u64) -> Vec<u8> {
    use archive::fixture::{gzip, tar_of, Member};
    let mut rng = Rng(seed | 1);
    let words = vocabulary(&mut rng);
    let manifest = json!({
        "sfs_version": "0.1.0", "session_id": id, "title": format!("Bench session {id}"),
        "tags": ["bench"], "created_at": "2026-03-20T10:00:00Z",
        "source": {"tool": "claude-code", "tool_version": "2.1.59"},
        "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-6"},
    });
    let workspace = json!({"root_path": "/home/dev/app",
        "git": {"remote_url": "git@github.com:acme/app.git", "branch": "main", "commit_sha": "a1b2c3d4"}});
    // Varied words compress about 3.5x with gzip; stop at that many uncompressed bytes.
    let mut lines = String::new();
    let mut i = 0usize;
    while lines.len() < target * 7 / 2 {
        let message = match i % 4 {
            0 => json!({"msg_id": format!("m{i}"), "role": "user",
                "content": [{"type": "text", "text": text(&mut rng, &words, 20, 60)}]}),
            1 => json!({"msg_id": format!("m{i}"), "role": "assistant",
                "content": [{"type": "text", "text": text(&mut rng, &words, 30, 80)},
                            {"type": "tool_use", "id": format!("t{i}"), "name": "Bash",
                             "input": {"command": format!("cargo test {}", words[rng.below(words.len())])}}]}),
            2 => json!({"msg_id": format!("m{i}"), "role": "tool",
                "content": [{"type": "tool_result", "tool_use_id": format!("t{}", i - 1),
                             "content": text(&mut rng, &words, 80, 300)}]}),
            _ => json!({"msg_id": format!("m{i}"), "role": "assistant",
                "content": [{"type": "text", "text": text(&mut rng, &words, 20, 50)}]}),
        };
        lines.push_str(&message.to_string());
        lines.push('\n');
        i += 1;
    }
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", lines.as_bytes()),
        Member::file("workspace.json", workspace.to_string().as_bytes()),
    ]))
}

/// Median CPU time of `rounds` runs of `f`, in ms (one thread, nothing else of ours running).
fn cpu_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            ms(started.elapsed())
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// Where the CPU of a push goes, stage by stage, for one archive (median of `rounds`): the
/// hash of the upload, the gunzip and tar walk alone, the messages parsed the old way (into
/// `serde_json::Value`) and the new way (typed, borrowing), the whole validation with the
/// messages index, and indexing the session's text for search (documents committed in
/// groups, as the search writer does under load).
fn push_breakdown(label: &str, bytes: &[u8], rounds: usize) -> Result<(), String> {
    use sessionfs_server::archive::line::Line;
    use sessionfs_server::archive::message_index::IndexBuilder;
    use sessionfs_server::search::{SearchIndex, SessionDoc};
    use sha2::Digest;
    let limits = Limits {
        member_bytes: u64::MAX,
        members: 1_000,
        uncompressed_bytes: u64::MAX,
    };
    let mut lines = Vec::new();
    archive::messages::for_each_line(bytes, |_, line| lines.push(line.to_vec()))
        .map_err(|e| e.to_string())?;
    let raw: usize = lines.iter().map(Vec::len).sum();
    let hash = cpu_ms(rounds, || {
        std::hint::black_box(sha2::Sha256::digest(bytes));
    });
    let gunzip = cpu_ms(rounds, || {
        let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(bytes));
        for entry in tar.entries().expect("tar") {
            let mut entry = entry.expect("entry");
            std::io::copy(&mut entry, &mut std::io::sink()).expect("read");
        }
    });
    let as_value = cpu_ms(rounds, || {
        for line in &lines {
            std::hint::black_box(serde_json::from_slice::<Value>(line).ok());
        }
    });
    let typed = cpu_ms(rounds, || {
        for line in &lines {
            std::hint::black_box(Line::parse(line));
        }
    });
    let mut meta = None;
    let inspect = cpu_ms(rounds, || {
        let mut index = IndexBuilder::new(std::io::sink());
        meta = archive::inspect_indexing(bytes, &limits, Some(&mut index)).ok();
    });
    let text = meta.map(|m| m.messages_text).unwrap_or_default();
    // Search: 64 sessions of this text, committed together.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (index, _) = SearchIndex::open(dir.path())?;
    let docs = 64;
    let started = Instant::now();
    for i in 0..docs {
        index.upsert(SessionDoc {
            session_id: format!("ses_breakdown{i:08}"),
            user_id: "u".into(),
            title: Some("Bench session".into()),
            source_tool: "claude-code".into(),
            updated_at_micros: i as i64,
            text: text.clone(),
            ..SessionDoc::default()
        });
    }
    index.flush();
    let search = ms(started.elapsed()) / docs as f64;
    drop(index);
    println!(
        "push CPU {label:>6} ({} bytes, {raw} bytes of {} message lines, {} bytes of text): \
         sha256 {hash:.2} ms, gunzip+tar {gunzip:.2} ms, lines as Value {as_value:.2} ms, \
         lines typed {typed:.2} ms, whole validation+index {inspect:.2} ms, \
         search index {search:.2} ms/session",
        bytes.len(),
        lines.len(),
        text.len()
    );
    Ok(())
}

/// What a phase measured.
struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
    errors: Vec<String>,
}

/// Runs `job(i)` for `i < requests` over `concurrency` workers (worker `w` takes
/// `w, w + c, …`).
async fn measure<F, Fut>(requests: usize, concurrency: usize, job: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let job = Arc::new(job);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.min(requests))
        .map(|w| {
            let job = job.clone();
            tokio::spawn(async move {
                let (mut lat, mut err) = (Vec::new(), Vec::new());
                for i in (w..requests).step_by(concurrency) {
                    let sent = Instant::now();
                    if let Err(e) = job(i).await {
                        err.push(format!("request {i}: {e}"));
                    }
                    lat.push(sent.elapsed());
                }
                (lat, err)
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for w in workers {
        match w.await {
            Ok((l, e)) => {
                latencies.extend(l);
                errors.extend(e);
            }
            Err(e) => errors.push(format!("worker failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |q: f64| {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    Figures {
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        errors,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Bench {
    client: Client,
    base: String,
    static_base: String,
    /// Accounts that push (at most 3 workers each).
    pushers: Vec<String>,
    /// The account whose store grows, and that owns the pulled sessions.
    owner_key: String,
    failed: std::sync::atomic::AtomicUsize,
}

impl Bench {
    fn row(&self, phase: &str, size: usize, c: usize, f: &Figures, extra: &str) {
        println!(
            "{:<30} {:>9} {:>4} {:>10.1} {:>9.2} {:>9.2} {:>6}  {extra}",
            phase,
            size,
            c,
            f.rate,
            ms(f.p50),
            ms(f.p99),
            f.errors.len()
        );
        for e in f.errors.iter().take(3) {
            eprintln!("{phase} c={c}: {e}");
        }
        self.failed
            .fetch_add(f.errors.len(), std::sync::atomic::Ordering::Relaxed);
    }

    async fn get(
        &self,
        url: String,
        key: Option<&str>,
        expect_len: Option<usize>,
    ) -> Result<(), String> {
        let mut request = self.client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status != StatusCode::OK {
            return Err(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        match expect_len {
            Some(n) if body.len() != n => Err(format!("{} bytes, expected {n}", body.len())),
            _ => Ok(()),
        }
    }

    async fn push(&self, key: &str, id: &str, bytes: Vec<u8>) -> Result<String, String> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(format!("{id}.sfs"))
            .mime_str("application/gzip")
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .put(format!("{}/api/v1/sessions/{id}/sync", self.base))
            .bearer_auth(key)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status != StatusCode::CREATED && status != StatusCode::OK {
            return Err(format!("{status}: {body}"));
        }
        Ok(body["etag"].as_str().unwrap_or_default().to_string())
    }
}

async fn signup(client: &Client, base: &str, n: usize) -> Result<(String, String), String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let response = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": format!("hot-{nanos}-{n}@example.com")}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    let key = body["raw_key"].as_str().ok_or(format!("signup: {body}"))?;
    let user = body["user_id"].as_str().ok_or(format!("signup: {body}"))?;
    Ok((key.to_string(), user.to_string()))
}

/// Resident memory of this process (client and server), from /proc.
fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The 1-minute load average, to print next to figures measured on a shared machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn run(args: Args) -> Result<usize, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.rate_limit_per_minute = 0;
    config.signup_rate_limit_per_hour = 0;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    config.bind = listener.local_addr().map_err(|e| e.to_string())?;
    let base = format!("http://{}", config.bind);
    let archive_dir = config.archive_dir();
    let state = AppState::open(config)?;
    let serving = state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sessionfs_server::server::serve(
        serving,
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));

    // The comparison: the archive store served as static files by tower_http in this process.
    let static_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let static_base = format!(
        "http://{}",
        static_listener.local_addr().map_err(|e| e.to_string())?
    );
    let files =
        axum::Router::new().fallback_service(tower_http::services::ServeDir::new(&archive_dir));
    // TCP_NODELAY as the server itself sets it: without it, ServeFile's separate header and
    // body writes meet the client's delayed ACK and small files stall ~40 ms.
    let static_listener = axum::serve::ListenerExt::tap_io(static_listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(static_listener, files).await });

    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let mut pushers = Vec::new();
    for n in 0..max_c.div_ceil(PUSHES_PER_USER) {
        pushers.push(signup(&client, &base, n).await?.0);
    }
    let (owner_key, owner_id) = signup(&client, &base, 999).await?;
    let bench = Arc::new(Bench {
        client,
        base: base.clone(),
        static_base,
        pushers,
        owner_key,
        failed: Default::default(),
    });

    // The pulled and paged sessions, owned by the store's user.
    let generating = Instant::now();
    let kinds = [
        ("20 KB", 20_000usize),
        ("200 KB", 200_000),
        ("2 MB", 2_000_000),
    ];
    let mut pulled = Vec::new();
    for (n, (label, size)) in kinds.iter().enumerate() {
        let id = format!("ses_hot{n}large{size}");
        let bytes = realistic_archive(&id, *size, 7 + n as u64);
        let etag = bench.push(&bench.owner_key, &id, bytes.clone()).await?;
        let messages: usize = {
            let response = bench
                .client
                .get(format!("{base}/api/v1/sessions/{id}/messages?page_size=1"))
                .bearer_auth(&bench.owner_key)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            body["total"].as_u64().unwrap_or(0) as usize
        };
        pulled.push((label.to_string(), id, etag, bytes.len(), messages));
    }
    let small_push = realistic_archive("ses_hotpushtemplate", 18_000, 99);
    let big_push = realistic_archive("ses_hotpushbig", 2_200_000, 98);
    println!("sessionfs-server hot paths (issue 15)");
    println!(
        "in-process server at {base}; client and server share this process and its {} cores; \
         release build: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        !cfg!(debug_assertions)
    );
    for (label, id, _, len, messages) in &pulled {
        println!("archive {label:>6}: {id} {len} bytes, {messages} visible messages");
    }
    println!(
        "push archives: {} and {} bytes (corpus generated in {:.1} s, not timed)",
        small_push.len(),
        big_push.len(),
        generating.elapsed().as_secs_f64()
    );
    if args.runs("cpu") {
        push_breakdown("18 KB", &small_push, 20)?;
        push_breakdown("2.2 MB", &big_push, 5)?;
    }
    println!();
    println!(
        "{:<30} {:>9} {:>4} {:>10} {:>9} {:>9} {:>6}  vs ServeFile",
        "phase", "sessions", "c", "req/s", "p50 ms", "p99 ms", "errors"
    );

    // One stored archive the store's filler sessions all name.
    let filler = {
        let bytes = realistic_archive("ses_hotfiller", 20_000, 5);
        let hash = state.blobs.put(&bytes).map_err(|e| e.to_string())?;
        let limits = Limits {
            member_bytes: u64::MAX,
            members: 1_000,
            uncompressed_bytes: u64::MAX,
        };
        let meta = archive::inspect(&bytes[..], &limits).map_err(|e| e.to_string())?;
        (hash, bytes.len() as u64, meta)
    };
    let mut stored = kinds.len();
    let mut pushed = 0usize;
    for &size in &args.sizes {
        // Fill the owner's store to `size` sessions, 64 writes in flight (group commit).
        let filling = Instant::now();
        let clock = state.clock.clone();
        while stored < size {
            let batch = (size - stored).min(2_000);
            let mut tasks = tokio::task::JoinSet::new();
            for k in 0..batch {
                let (db, clock, owner) = (state.db.clone(), clock.clone(), owner_id.clone());
                let archive = StoredArchive {
                    hash: filler.0.clone(),
                    size: filler.1,
                    meta: filler.2.clone(),
                    pin: None,
                };
                let id = format!("ses_fill{:08}", stored + k);
                tasks.spawn(async move {
                    commit_push(
                        &db,
                        &clock,
                        &owner,
                        &id,
                        false,
                        PushConditions::default(),
                        archive,
                        ClientInfo::default(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
                });
                if tasks.len() >= 64 {
                    if let Some(done) = tasks.join_next().await {
                        done.map_err(|e| e.to_string())??;
                    }
                }
            }
            while let Some(done) = tasks.join_next().await {
                done.map_err(|e| e.to_string())??;
            }
            stored += batch;
        }
        eprintln!(
            "(store filled to {size} sessions of one user in {:.1} s)",
            filling.elapsed().as_secs_f64()
        );
        println!(
            "-- store of {size} sessions; load average {}; resident {:.0} MB",
            load_average(),
            resident_mb().unwrap_or(0.0)
        );

        for &c in &args.concurrency {
            let n = args.requests.max(c);
            // Lists: page 1 and a page in the middle of the store, newest and oldest first.
            let lists = [
                ("list page 1", 1usize, ""),
                ("list deep page", size / 40, ""),
                ("list page 1, order=asc", 1, "&order=asc"),
                ("list deep page, order=asc", size / 40, "&order=asc"),
            ];
            for (label, page, order) in lists.into_iter().filter(|_| args.runs("list")) {
                let b = bench.clone();
                let url = format!(
                    "{base}/api/v1/sessions?page={}&page_size=20{order}",
                    page.max(1)
                );
                let f = measure(n, c, move |_| {
                    let (b, url) = (b.clone(), url.clone());
                    async move { b.get(url, Some(&b.owner_key), None).await }
                })
                .await;
                bench.row(label, size, c, &f, "");
            }
            // Message pages of each session: page 1, and the last page.
            for (label, id, _, _, messages) in pulled.iter().filter(|_| args.runs("messages")) {
                for (which, page) in [("first", 1usize), ("last", messages.div_ceil(50).max(1))] {
                    let b = bench.clone();
                    let url =
                        format!("{base}/api/v1/sessions/{id}/messages?page={page}&page_size=50");
                    let f = measure(n, c, move |_| {
                        let (b, url) = (b.clone(), url.clone());
                        async move { b.get(url, Some(&b.owner_key), None).await }
                    })
                    .await;
                    bench.row(&format!("messages {label} {which} page"), size, c, &f, "");
                }
            }
            // Pulls, and the same file from ServeFile.
            for (label, id, etag, len, _) in pulled.iter().filter(|_| args.runs("pull")) {
                let requests = if *len > 1_000_000 { n / 2 } else { n };
                let (b, url, len) = (
                    bench.clone(),
                    format!("{base}/api/v1/sessions/{id}/sync"),
                    *len,
                );
                let ours = measure(requests, c, move |_| {
                    let (b, url) = (b.clone(), url.clone());
                    async move { b.get(url, Some(&b.owner_key), Some(len)).await }
                })
                .await;
                let file_url = format!("{}/{}/{}", bench.static_base, &etag[..2], etag);
                let b = bench.clone();
                let file = measure(requests, c, move |_| {
                    let (b, url) = (b.clone(), file_url.clone());
                    async move { b.get(url, None, Some(len)).await }
                })
                .await;
                let extra = format!(
                    "ServeFile {:.1}/s p50 {:.2} ms: ratio {:.2}",
                    file.rate,
                    ms(file.p50),
                    ours.rate / file.rate
                );
                bench.row(&format!("pull {label}"), size, c, &ours, &extra);
                bench
                    .failed
                    .fetch_add(file.errors.len(), std::sync::atomic::Ordering::Relaxed);
            }
            // Pushes of new sessions (by the pushing accounts, not the store's owner).
            let pushes = [
                ("push 18 KB", "push-small", &small_push, n),
                ("push 2.2 MB", "push-large", &big_push, (n / 4).max(c)),
            ];
            let pushes = pushes
                .into_iter()
                .filter(|(_, phase, _, _)| args.runs("push") || args.runs(phase));
            for (label, _, template, requests) in pushes {
                let b = bench.clone();
                let template = Arc::new(template.clone());
                let first = pushed;
                pushed += requests;
                let f = measure(requests, c, move |i| {
                    let (b, template) = (b.clone(), template.clone());
                    async move {
                        // A distinct archive per push: a changed byte in the gzip header's mtime
                        // field makes it new bytes (a new hash) with the same content.
                        let mut bytes = (*template).clone();
                        let stamp = (first + i) as u32;
                        bytes[4..8].copy_from_slice(&stamp.to_le_bytes());
                        let key = &b.pushers[(i % c) % b.pushers.len()];
                        b.push(key, &format!("ses_hotpush{:08}", first + i), bytes)
                            .await
                            .map(|_| ())
                    }
                })
                .await;
                bench.row(label, size, c, &f, "");
            }
        }
    }
    if let Some(rss) = resident_mb() {
        println!(
            "\nresident memory of the process (server + client) after the run: {rss:.0} MB \
             (load average {})",
            load_average()
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    Ok(bench.failed.load(std::sync::atomic::Ordering::Relaxed))
}
