//! Dashboard page render times: starts the server in-process on loopback, fills one account
//! with sessions (one of them 5,000 messages long) and a project (500 tickets across the
//! statuses, a persona, agent runs, a wiki page), signs in through the form like a browser,
//! then fetches each main page many times and prints p50/p99/max. Asserts nothing about time.
//!
//! `cargo bench --bench web -- [--sessions N] [--tickets N] [--rounds N]`

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect;
use sessionfs_server::archive::fixture::session_archive;
use sessionfs_server::config::Config;
use sessionfs_server::domain::accounts;
use sessionfs_server::state::AppState;
use tokio::net::TcpListener;

fn flag(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn push(client: &reqwest::Client, base: &str, key: &str, id: &str, archive: Vec<u8>) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(archive).file_name("s.tar.gz"),
    );
    let res = client
        .put(format!("{base}/api/v1/sessions/{id}/sync"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("push");
    assert_eq!(res.status(), 201, "push {id}");
}

#[tokio::main]
async fn main() {
    let sessions = flag("--sessions", 500);
    let rounds = flag("--rounds", 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.rate_limit_per_minute = 0;
    config.signup_rate_limit_per_hour = 0;
    let state = AppState::open(config).expect("open data dir");
    let made = accounts::create_account(
        &state.db,
        &state.clock,
        &state.config,
        "bench@example.com".into(),
    )
    .await
    .expect("account");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = state.clone();
    tokio::spawn(async move {
        sessionfs_server::server::serve(serving, listener, None, std::future::pending())
            .await
            .expect("serve");
    });
    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();

    println!("pushing {sessions} sessions and one of 5,000 messages…");
    for i in 0..sessions {
        let id = format!("ses_be0c{i:012x}");
        let archive = session_archive(&id, &format!("Bench session {i}"), "the retry loop", 20);
        push(&client, &base, &made.raw_key, &id, archive).await;
    }
    let big = "ses_b19b19b19b190001";
    push(
        &client,
        &base,
        &made.raw_key,
        big,
        session_archive(big, "A long one", "the parser", 5000),
    )
    .await;
    let tickets = flag("--tickets", 500);
    println!("a project with {tickets} tickets…");
    let api = |method: reqwest::Method, path: String, body: serde_json::Value| {
        let req = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&made.raw_key)
            .json(&body);
        async move {
            let res = req.send().await.expect("api call");
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<serde_json::Value>().await.expect("json")
        }
    };
    let project = api(
        reqwest::Method::POST,
        "/api/v1/projects/".into(),
        serde_json::json!({"name": "bench", "git_remote_normalized": "github.com/bench/app"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut first_ticket = String::new();
    for i in 0..tickets {
        let t = api(
            reqwest::Method::POST,
            format!("/api/v1/projects/{project}/tickets"),
            serde_json::json!({"title": format!("Ticket {i}: make the thing"), "description": "Work."}),
        )
        .await;
        let id = t["id"].as_str().unwrap().to_string();
        // Spread them over the columns: a third in progress, a sixth in review.
        if i % 3 != 0 {
            api(
                reqwest::Method::POST,
                format!("/api/v1/projects/{project}/tickets/{id}/start"),
                serde_json::json!({}),
            )
            .await;
        }
        if i % 6 == 1 {
            api(
                reqwest::Method::POST,
                format!("/api/v1/projects/{project}/tickets/{id}/complete"),
                serde_json::json!({"notes": "done"}),
            )
            .await;
        }
        if i == 0 {
            first_ticket = id;
        }
    }
    api(
        reqwest::Method::POST,
        format!("/api/v1/projects/{project}/personas"),
        serde_json::json!({"name": "Atlas", "role": "Architect", "content": "You design APIs."}),
    )
    .await;
    for _ in 0..50 {
        api(
            reqwest::Method::POST,
            format!("/api/v1/projects/{project}/agent-runs"),
            serde_json::json!({"persona_name": "Atlas"}),
        )
        .await;
    }
    api(
        reqwest::Method::PUT,
        format!("/api/v1/projects/{project}/pages/guide"),
        serde_json::json!({"title": "Guide", "content": "How we work. ".repeat(500)}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await; // let the index commit

    // Sign in through the form, as a browser does.
    let page = client
        .get(format!("{base}/ui/sign-in"))
        .send()
        .await
        .unwrap();
    let form_cookie = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sfs_signin="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let res = client
        .post(format!("{base}/ui/sign-in"))
        .header(COOKIE, format!("sfs_signin={form_cookie}"))
        .form(&[
            ("csrf_token", form_cookie.as_str()),
            ("api_key", made.raw_key.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sfs_session="))
        .and_then(|c| c.split(';').next())
        .expect("signed in")
        .to_string();

    let pages = [
        ("home: chart + 25 of the sessions", "/".to_string()),
        ("sessions, page 5", "/?page=5".to_string()),
        (
            "session of 20 messages",
            "/ui/sessions/ses_be0c000000000001".to_string(),
        ),
        (
            "session of 5,000 messages, page 1",
            format!("/ui/sessions/{big}"),
        ),
        (
            "session of 5,000 messages, page 50",
            format!("/ui/sessions/{big}?page=50"),
        ),
        (
            "search, 20 hits with snippets",
            "/ui/search?q=retry".to_string(),
        ),
        ("API keys", "/ui/keys".to_string()),
        ("account (browser sessions)", "/ui/account".to_string()),
        (
            "ticket board, all tickets by status",
            format!("/ui/projects/{project}/tickets"),
        ),
        (
            "a ticket with its moves",
            format!("/ui/projects/{project}/tickets/{first_ticket}"),
        ),
        ("personas", format!("/ui/projects/{project}/personas")),
        ("agent runs, 50", format!("/ui/projects/{project}/runs")),
        (
            "wiki page, 1,500 words",
            format!("/ui/projects/{project}/wiki/guide"),
        ),
        ("settings", "/ui/settings".to_string()),
    ];
    println!();
    println!("| page | requests | p50 ms | p99 ms | max ms | bytes |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, path) in pages {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header(COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            bytes = res.bytes().await.unwrap().len();
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "| {name} | {rounds} | {:.2} | {:.2} | {:.2} | {bytes} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().unwrap().as_secs_f64() * 1000.0
        );
    }
}
