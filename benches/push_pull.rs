//! Push/pull benchmark for the sync hot path (`PUT|GET /api/v1/sessions/{id}/sync`).
//!
//! By default it starts the server in this process on `127.0.0.1:0` with a temp data dir and
//! rate limits off; with `--url` it measures a server that is already running (then `--key`
//! gives the account key(s), or it signs up fresh accounts). For each concurrency level it
//! pushes N new sessions, pulls them, and pulls them again with `If-None-Match` (304s), and
//! prints one line per phase. It asserts nothing about time: it exits non-zero only when
//! requests fail.
//!
//! ```text
//! cargo bench --bench push_pull -- [--sessions 400] [--messages 40] [--concurrency 1,16]
//!                                  [--url http://127.0.0.1:8000 [--key KEY[,KEY...]]]
//! ```
//!
//! The server lets one user run 3 pushes at once and queues the rest, so the benchmark uses
//! enough accounts that no account has more than 3 workers. Worker `w` handles sessions
//! `w, w + c, w + 2c, …` (c = concurrency) with account `w % accounts`, in every phase of a
//! level, so a session is always pulled by the account that pushed it.

use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture;
use sessionfs_server::config::Config;
use sessionfs_server::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Pushes the server runs at once for one user (`Config::concurrent_pushes_per_user`).
const PUSHES_PER_USER: usize = 3;
/// Failed requests shown per phase.
const ERRORS_SHOWN: usize = 5;
const TOPICS: [&str; 5] = ["parsers", "migrations", "auth", "search", "deploys"];

const USAGE: &str = "usage: cargo bench --bench push_pull -- [--sessions N] [--messages M] \
[--concurrency 1,16] [--url URL [--key KEY[,KEY...]]]";

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("push_pull: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("push_pull: {failed} requests failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("push_pull: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every phase; returns how many requests failed.
async fn run(args: Args) -> Result<usize, String> {
    let tag = run_tag();
    let server = match &args.url {
        Some(url) => Server::Remote(url.trim_end_matches('/').to_string()),
        None => Server::start().await?,
    };
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let max_concurrency = args.concurrency.iter().copied().max().unwrap_or(1);
    let keys = if args.keys.is_empty() {
        let wanted = max_concurrency.div_ceil(PUSHES_PER_USER);
        signup(&client, server.base(), &tag, wanted).await?
    } else {
        args.keys.clone()
    };
    let bench = Arc::new(Bench {
        client,
        base: server.base().to_string(),
        keys,
    });

    let generating = Instant::now();
    let batches: Vec<Arc<Batch>> = args
        .concurrency
        .iter()
        .map(|&c| Arc::new(Batch::generate(&tag, c, args.sessions, args.messages)))
        .collect();
    let archive_bytes: usize = batches
        .iter()
        .flat_map(|b| &b.sessions)
        .map(|s| s.archive.len())
        .sum();
    let archives = args.sessions * batches.len();

    println!("sessionfs-server push/pull benchmark");
    println!("server:   {}", server.describe());
    println!(
        "sessions: {} new per concurrency level, {} messages each, archives {:.1} KiB on average \
         (generated in {:.1} s, not timed)",
        args.sessions,
        args.messages,
        archive_bytes as f64 / archives as f64 / 1024.0,
        generating.elapsed().as_secs_f64(),
    );
    for batch in &batches {
        let workers = batch.concurrency.min(args.sessions);
        let accounts = bench.keys.len().min(workers);
        let per_account = workers.div_ceil(accounts);
        let note = if per_account > PUSHES_PER_USER {
            " — over the server's 3 concurrent pushes per user: pushes queue on the server"
        } else {
            ""
        };
        println!(
            "accounts: concurrency {:>3}: {workers} workers over {accounts} accounts, \
             at most {per_account} per account{note}",
            batch.concurrency
        );
    }
    println!();
    println!(
        "{:<14} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "phase", "conc", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );

    let mut outcomes = Vec::new();
    for batch in &batches {
        let phase = |name| Phase {
            name,
            concurrency: batch.concurrency,
            requests: batch.sessions.len(),
        };
        let (b, s) = (bench.clone(), batch.clone());
        let pushed = phase("push (new)")
            .run(move |i| {
                let (b, s) = (b.clone(), s.clone());
                async move { b.push(&s, i).await }
            })
            .await;
        let (b, s) = (bench.clone(), batch.clone());
        let pulled = phase("pull")
            .run(move |i| {
                let (b, s) = (b.clone(), s.clone());
                async move { b.pull(&s, i, false).await }
            })
            .await;
        let (b, s) = (bench.clone(), batch.clone());
        let unchanged = phase("pull (304)")
            .run(move |i| {
                let (b, s) = (b.clone(), s.clone());
                async move { b.pull(&s, i, true).await }
            })
            .await;
        outcomes.extend([pushed, pulled, unchanged]);
    }

    let mut failed = 0;
    for outcome in &outcomes {
        failed += outcome.errors.len();
        for error in outcome.errors.iter().take(ERRORS_SHOWN) {
            eprintln!(
                "{} at concurrency {}: {error}",
                outcome.name, outcome.concurrency
            );
        }
    }
    let throttled = outcomes
        .iter()
        .flat_map(|o| &o.errors)
        .any(|e| e.contains("429"));
    if throttled {
        eprintln!(
            "hint: the server rate-limited the benchmark; start it with --rate-limit-per-minute 0"
        );
    }
    server.stop().await;
    Ok(failed)
}

/// One timed phase: `requests` jobs spread over `concurrency` workers.
struct Phase {
    name: &'static str,
    concurrency: usize,
    requests: usize,
}

/// What a phase measured.
struct Outcome {
    name: &'static str,
    concurrency: usize,
    errors: Vec<String>,
}

impl Phase {
    /// Runs `job(i)` for every `i < requests`: worker `w` takes `w, w + concurrency, …` in
    /// order. Prints the phase's line and returns its errors.
    async fn run<F, Fut>(self, job: F) -> Outcome
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let job = Arc::new(job);
        let started = Instant::now();
        let workers: Vec<_> = (0..self.concurrency.min(self.requests))
            .map(|w| tokio::spawn(worker(job.clone(), w, self.requests, self.concurrency)))
            .collect();
        let mut latencies = Vec::with_capacity(self.requests);
        let mut errors = Vec::new();
        for worker in workers {
            match worker.await {
                Ok((l, e)) => {
                    latencies.extend(l);
                    errors.extend(e);
                }
                Err(e) => errors.push(format!("worker failed: {e}")),
            }
        }
        let elapsed = started.elapsed();
        latencies.sort_unstable();
        println!(
            "{:<14} {:>5} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            self.name,
            self.concurrency,
            latencies.len(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            millis(percentile(&latencies, 0.50)),
            millis(percentile(&latencies, 0.99)),
            millis(latencies.last().copied().unwrap_or_default()),
            errors.len(),
        );
        Outcome {
            name: self.name,
            concurrency: self.concurrency,
            errors,
        }
    }
}

/// One worker of a phase: runs `job(first)`, `job(first + step)`, … below `end`, one at a
/// time, and returns their latencies and errors.
async fn worker<F, Fut>(
    job: Arc<F>,
    first: usize,
    end: usize,
    step: usize,
) -> (Vec<Duration>, Vec<String>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for i in (first..end).step_by(step) {
        let sent = Instant::now();
        if let Err(e) = job(i).await {
            errors.push(format!("request {i}: {e}"));
        }
        latencies.push(sent.elapsed());
    }
    (latencies, errors)
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The HTTP side: a client, the server's base URL and the accounts' keys.
struct Bench {
    client: Client,
    base: String,
    keys: Vec<String>,
}

/// The sessions of one concurrency level, pushed as new by its push phase.
struct Batch {
    concurrency: usize,
    sessions: Vec<Session>,
}

struct Session {
    id: String,
    archive: Vec<u8>,
    /// Set by a successful push.
    etag: OnceLock<String>,
}

impl Batch {
    fn generate(tag: &str, concurrency: usize, count: usize, messages: usize) -> Batch {
        let sessions = (0..count)
            .map(|i| {
                let id = format!("ses_b{tag}c{concurrency}n{i}");
                let topic = TOPICS[i % TOPICS.len()];
                let archive =
                    fixture::session_archive(&id, &format!("Bench session {i}"), topic, messages);
                Session {
                    id,
                    archive,
                    etag: OnceLock::new(),
                }
            })
            .collect();
        Batch {
            concurrency,
            sessions,
        }
    }
}

impl Bench {
    fn sync_url(&self, session: &Session) -> String {
        format!("{}/api/v1/sessions/{}/sync", self.base, session.id)
    }

    /// The key of the account that owns session `i`: the one of the worker that handles it.
    fn owner(&self, batch: &Batch, i: usize) -> &str {
        &self.keys[(i % batch.concurrency) % self.keys.len()]
    }

    /// Pushes session `i` as new (expects 201) and remembers its etag.
    async fn push(&self, batch: &Batch, i: usize) -> Result<(), String> {
        let session = &batch.sessions[i];
        let part = Part::bytes(session.archive.clone())
            .file_name(format!("{}.sfs", session.id))
            .mime_str("application/gzip")
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .put(self.sync_url(session))
            .bearer_auth(self.owner(batch, i))
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(response).await);
        }
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let etag = body["etag"].as_str().ok_or("push answer has no etag")?;
        // A session is pushed once per run; a second etag (a repeated run) is ignored.
        let _ = session.etag.set(etag.to_string());
        Ok(())
    }

    /// Pulls session `i`: the whole archive (expects 200, its etag and its bytes), or, when
    /// `conditional`, with `If-None-Match` set to its etag (expects 304).
    async fn pull(&self, batch: &Batch, i: usize, conditional: bool) -> Result<(), String> {
        let session = &batch.sessions[i];
        let etag = session.etag.get().ok_or("not pulled: its push failed")?;
        let mut request = self
            .client
            .get(self.sync_url(session))
            .bearer_auth(self.owner(batch, i));
        if conditional {
            request = request.header(IF_NONE_MATCH, format!("\"{etag}\""));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        match (conditional, response.status()) {
            (true, StatusCode::NOT_MODIFIED) => {
                response.bytes().await.map_err(|e| e.to_string())?;
                Ok(())
            }
            (false, StatusCode::OK) => {
                let served = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim_matches('"').to_string());
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                if served.as_deref() != Some(etag.as_str()) {
                    return Err(format!("ETag {served:?}, pushed as {etag:?}"));
                }
                if body[..] != session.archive[..] {
                    return Err(format!(
                        "pulled {} bytes that differ from the {} pushed",
                        body.len(),
                        session.archive.len()
                    ));
                }
                Ok(())
            }
            _ => Err(unexpected(response).await),
        }
    }
}

/// "status: start of the body" for an answer the benchmark did not expect.
async fn unexpected(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    format!("{status}: {body}")
}

/// Signs up `wanted` accounts and returns their keys. Against a server whose signup limit runs
/// out, it carries on with the accounts it got (pushes then queue on the server).
async fn signup(
    client: &Client,
    base: &str,
    tag: &str,
    wanted: usize,
) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for n in 0..wanted {
        let response = client
            .post(format!("{base}/api/v1/auth/signup"))
            .json(&json!({ "email": format!("bench-{tag}-{n}@example.com") }))
            .send()
            .await
            .map_err(|e| format!("signup at {base}: {e}"))?;
        if response.status() != StatusCode::CREATED {
            let error = unexpected(response).await;
            if keys.is_empty() {
                return Err(format!("signup failed: {error} (give --key KEY)"));
            }
            eprintln!(
                "note: signup {n} failed ({error}); going on with {} accounts",
                keys.len()
            );
            break;
        }
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let key = body["raw_key"]
            .as_str()
            .ok_or("signup answer has no raw_key")?;
        keys.push(key.to_string());
    }
    Ok(keys)
}

/// Lowercase hex unique to this run, so session ids and emails are new on a reused server.
fn run_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:010x}", nanos & 0xff_ffff_ffff)
}

/// The server under test.
enum Server {
    InProcess {
        base: String,
        stop: oneshot::Sender<()>,
        serving: JoinHandle<std::io::Result<()>>,
        _dir: tempfile::TempDir,
    },
    Remote(String),
}

impl Server {
    /// Starts the server in this process: temp data dir, rate limits off.
    async fn start() -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut config = Config::for_data_dir(dir.path().join("data"));
        config.rate_limit_per_minute = 0;
        config.signup_rate_limit_per_hour = 0;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind: {e}"))?;
        config.bind = listener.local_addr().map_err(|e| e.to_string())?;
        let base = format!("http://{}", config.bind);
        let state = AppState::open(config)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(sessionfs_server::server::serve(
            state,
            listener,
            None,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Server::InProcess {
            base,
            stop,
            serving,
            _dir: dir,
        })
    }

    fn base(&self) -> &str {
        match self {
            Server::InProcess { base, .. } | Server::Remote(base) => base,
        }
    }

    fn describe(&self) -> String {
        match self {
            Server::InProcess { base, .. } => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                format!(
                    "in-process at {base} (temp data dir, rate limits off; \
                     server and client share this process and its {cores} cores)"
                )
            }
            Server::Remote(base) => format!("{base} (already running)"),
        }
    }

    async fn stop(self) {
        if let Server::InProcess { stop, serving, .. } = self {
            let _ = stop.send(());
            match serving.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("server stopped with an error: {e}"),
                Err(e) => eprintln!("server task failed: {e}"),
            }
        }
    }
}

/// The command line (cargo passes `--bench` too; it is ignored).
struct Args {
    sessions: usize,
    messages: usize,
    concurrency: Vec<usize>,
    url: Option<String>,
    keys: Vec<String>,
}

impl Args {
    /// `Ok(None)` for `--help`.
    fn parse(argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
        let mut args = Args {
            sessions: 400,
            messages: 40,
            concurrency: vec![1, 16],
            url: None,
            keys: Vec::new(),
        };
        let mut argv = argv;
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            match flag.as_str() {
                "--bench" => continue,
                "-h" | "--help" => return Ok(None),
                _ => {}
            }
            let value = match inline {
                Some(value) => value,
                None => argv.next().ok_or(format!("{flag} needs a value"))?,
            };
            match flag.as_str() {
                "--sessions" => args.sessions = count(&flag, &value)?,
                "--messages" => args.messages = count(&flag, &value)?,
                "--concurrency" => {
                    args.concurrency = value
                        .split(',')
                        .map(|c| count(&flag, c.trim()))
                        .collect::<Result<_, _>>()?
                }
                "--url" => args.url = Some(value),
                "--key" => args.keys.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(String::from),
                ),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if !args.keys.is_empty() && args.url.is_none() {
            return Err("--key needs --url (the in-process server makes its own accounts)".into());
        }
        Ok(Some(args))
    }
}

/// A whole number above zero.
fn count(flag: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number above 0, got {value:?}"
        )),
    }
}
