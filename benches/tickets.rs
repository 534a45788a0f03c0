//! Tickets benchmark (02 §5): a project with many tickets, listed with filters, and agents
//! cycling tickets through their lease.
//!
//! Starts the server in this process on `127.0.0.1:0` over a temp data dir (rate limits off),
//! signs up one user with a project, then:
//!
//! 1. **seed**: creates `--tickets` tickets (default 10,000) over 16 connections, assigned
//!    round-robin to 20 assignees, with every fifth one dismissed, so the status and assignee
//!    filters both have something to skip;
//! 2. **list**: `GET /tickets?status=open&assigned_to=<a>` and `?assigned_to=<a>` (≈ 400 and 500
//!    rows), and `?status=cancelled` (≈ 2,000 rows), each `--lists` times;
//! 3. **agents**: `--agents` concurrent agents (default 16), each taking its own tickets through
//!    start → complete (fenced with the start's lease) → accept, `--cycles` times.
//!
//! It prints requests, throughput, p50/p99/max per phase and asserts nothing about time; it
//! exits non-zero only when a request fails.
//!
//! ```text
//! cargo bench --bench tickets -- [--tickets 10000] [--lists 100] [--agents 16] [--cycles 40]
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::config::Config;
use sessionfs_server::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

const ASSIGNEES: usize = 20;
const SEED_CONCURRENCY: usize = 16;

struct Args {
    tickets: usize,
    lists: usize,
    agents: usize,
    cycles: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tickets: 10_000,
        lists: 100,
        agents: 16,
        cycles: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--tickets" => args.tickets = value("--tickets")?,
            "--lists" => args.lists = value("--lists")?,
            "--agents" => args.agents = value("--agents")?,
            "--cycles" => args.cycles = value("--cycles")?,
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

struct Bench {
    client: Client,
    base: String,
    key: String,
    tickets: String,
}

impl Bench {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status();
        let text = res.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
    }

    fn ticket(&self, id: &str, action: &str) -> String {
        format!("{}/{id}/{action}", self.tickets)
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(phase: &str, mut times: Vec<Duration>, wall: Duration, rows: Option<usize>) {
    times.sort();
    let n = times.len();
    println!(
        "{phase:<34} {n:>7} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {}",
        n as f64 / wall.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times.last().copied().unwrap_or_default()),
        rows.map(|r| format!("{r:>7}")).unwrap_or_default(),
    );
}

async fn start_server() -> Result<(String, oneshot::Sender<()>, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
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
    tokio::spawn(sessionfs_server::server::serve(
        state,
        listener,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    Ok((base, stop, dir))
}

async fn setup(base: String) -> Result<Bench, String> {
    let client = Client::new();
    let res = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": "bench@example.com"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status() != StatusCode::CREATED {
        return Err(format!("signup: {}", res.status()));
    }
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    let key = body["raw_key"].as_str().unwrap_or_default().to_string();
    let mut bench = Bench {
        client,
        base,
        key,
        tickets: String::new(),
    };
    let project = bench
        .send(
            reqwest::Method::POST,
            "/api/v1/projects/",
            Some(json!({"name": "bench", "git_remote_normalized": "bench/app"})),
        )
        .await?;
    let id = project["id"].as_str().unwrap_or_default();
    bench.tickets = format!("/api/v1/projects/{id}/tickets");
    Ok(bench)
}

/// Creates `n` tickets over [`SEED_CONCURRENCY`] connections; every fifth is dismissed.
async fn seed(bench: &Arc<Bench>, n: usize) -> Result<(), String> {
    let gate = Arc::new(Semaphore::new(SEED_CONCURRENCY));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (bench, gate) = (bench.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
            let t0 = Instant::now();
            let priority = ["low", "medium", "high", "critical"][i % 4];
            let body = json!({"title": format!("ticket {i}"),
                "assigned_to": format!("agent-{}", i % ASSIGNEES), "priority": priority});
            let t = bench
                .send(reqwest::Method::POST, &bench.tickets, Some(body))
                .await?;
            if i % 5 == 0 {
                let id = t["id"].as_str().unwrap_or_default();
                bench
                    .send(reqwest::Method::POST, &bench.ticket(id, "dismiss"), None)
                    .await?;
            }
            Ok::<_, String>(t0.elapsed())
        }));
    }
    let mut times = Vec::with_capacity(n);
    for t in tasks {
        times.push(t.await.map_err(|e| e.to_string())??);
    }
    report(
        "seed (create, 1/5 dismissed)",
        times,
        started.elapsed(),
        None,
    );
    Ok(())
}

async fn lists(bench: &Bench, rounds: usize) -> Result<(), String> {
    for (name, query) in [
        (
            "list status=open&assigned_to",
            "status=open&assigned_to=AGENT-{a}",
        ),
        ("list assigned_to", "assigned_to=agent-{a}"),
        ("list status=cancelled", "status=cancelled"),
    ] {
        let mut times = Vec::with_capacity(rounds);
        let mut rows = 0;
        let started = Instant::now();
        for r in 0..rounds {
            let q = query.replace("{a}", &(r % ASSIGNEES).to_string());
            let t0 = Instant::now();
            let list = bench
                .send(
                    reqwest::Method::GET,
                    &format!("{}?{q}", bench.tickets),
                    None,
                )
                .await?;
            times.push(t0.elapsed());
            rows = list.as_array().map(Vec::len).unwrap_or(0);
        }
        report(name, times, started.elapsed(), Some(rows));
    }
    Ok(())
}

/// One agent's cycles; the latencies of its starts, completes and accepts.
async fn agent(bench: Arc<Bench>, ids: Vec<String>) -> Result<[Vec<Duration>; 3], String> {
    let mut out: [Vec<Duration>; 3] = Default::default();
    for id in ids {
        let t0 = Instant::now();
        let started = bench
            .send(reqwest::Method::POST, &bench.ticket(&id, "start"), None)
            .await?;
        out[0].push(t0.elapsed());
        let lease = started["ticket"]["lease_epoch"].clone();
        let t0 = Instant::now();
        bench
            .send(
                reqwest::Method::POST,
                &bench.ticket(&id, "complete"),
                Some(json!({"notes": "done", "lease_epoch": lease})),
            )
            .await?;
        out[1].push(t0.elapsed());
        let t0 = Instant::now();
        bench
            .send(
                reqwest::Method::POST,
                &format!("{}?lease_epoch={lease}", bench.ticket(&id, "accept")),
                None,
            )
            .await?;
        out[2].push(t0.elapsed());
    }
    Ok(out)
}

async fn agents(bench: &Arc<Bench>, agents: usize, cycles: usize) -> Result<(), String> {
    let mut work = Vec::with_capacity(agents);
    for a in 0..agents {
        let mut ids = Vec::with_capacity(cycles);
        for c in 0..cycles {
            let t = bench
                .send(
                    reqwest::Method::POST,
                    &bench.tickets,
                    Some(json!({"title": format!("agent {a} cycle {c}")})),
                )
                .await?;
            ids.push(t["id"].as_str().unwrap_or_default().to_string());
        }
        work.push(ids);
    }
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|ids| tokio::spawn(agent(bench.clone(), ids)))
        .collect();
    let mut all: [Vec<Duration>; 3] = Default::default();
    for t in tasks {
        let times = t.await.map_err(|e| e.to_string())??;
        for (slot, t) in all.iter_mut().zip(times) {
            slot.extend(t);
        }
    }
    let wall = started.elapsed();
    let cycles_done = all[0].len();
    let mut every: Vec<Duration> = all.iter().flatten().copied().collect();
    for (name, times) in ["start", "complete", "accept"].iter().zip(all) {
        report(&format!("agents: {name}"), times, wall, None);
    }
    every.sort();
    println!(
        "agents: {agents} concurrent, {cycles_done} cycles in {:.2} s = {:.0} cycles/s \
         ({:.0} requests/s, p99 {:.2} ms over all three)",
        wall.as_secs_f64(),
        cycles_done as f64 / wall.as_secs_f64(),
        (3 * cycles_done) as f64 / wall.as_secs_f64(),
        ms(percentile(&every, 0.99)),
    );
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    let (base, stop, _dir) = start_server().await?;
    let bench = Arc::new(setup(base).await?);
    println!(
        "{:<34} {:>7} {:>9} {:>8} {:>8} {:>8} {:>7}",
        "phase", "reqs", "req/s", "p50 ms", "p99 ms", "max ms", "rows"
    );
    seed(&bench, args.tickets).await?;
    lists(&bench, args.lists).await?;
    agents(&bench, args.agents, args.cycles).await?;
    let _ = stop.send(());
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tickets bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickets bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}
