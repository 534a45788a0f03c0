//! Pages for people, checked in a real browser: headless Chromium (Debian's `chromium`) opens
//! them from the built server with every non-loopback request blocked
//! (`tests/browser/check_pages.mjs`, driven through playwright-core).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM=…`): `apt-get install chromium`. playwright-core is
//! installed into `tests/browser/node_modules` on first run. Set `SFS_SKIP_BROWSER_TESTS=1` to
//! skip on a machine without Chromium; CI installs it and never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::RunningServer;

use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn ensure_playwright(dir: &Path) {
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("run npm ci in tests/browser");
    assert!(status.success(), "npm ci in tests/browser failed");
}

/// Runs the browser checks; returns the script's output.
pub fn run_checks(checks: &Value) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    ensure_playwright(&dir);
    let output = Command::new("node")
        .arg(dir.join("check_pages.mjs"))
        .arg(checks.to_string())
        .env("CHROMIUM", chromium().expect("chromium is installed"))
        .output()
        .expect("run node tests/browser/check_pages.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "browser checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn skip() -> bool {
    if chromium().is_some() {
        return false;
    }
    if std::env::var_os("SFS_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("skipping browser tests: no Chromium and SFS_SKIP_BROWSER_TESTS is set");
        return true;
    }
    panic!("Chromium is needed for the browser tests: `apt-get install chromium` (or set CHROMIUM=/path, or SFS_SKIP_BROWSER_TESTS=1)");
}

async fn post_json(client: &reqwest::Client, url: String, key: Option<&str>, body: Value) -> Value {
    let mut req = client.post(url).json(&body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap()
}

#[tokio::test]
async fn share_pages_render_in_a_browser() {
    if skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = RunningServer::start(data.path(), &[]).await;
    let client = reqwest::Client::new();
    let signup = post_json(
        &client,
        format!("{}/api/v1/auth/signup", server.base),
        None,
        json!({"email": "alice@example.com"}),
    )
    .await;
    let key = signup["raw_key"].as_str().unwrap();
    let id = "ses_b10e5e55a9e00001";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(session_archive(
            id,
            "Tracing the flaky test",
            "the retry loop",
            6,
        ))
        .file_name("s.tar.gz"),
    );
    let res = client
        .put(format!("{}/api/v1/sessions/{id}/sync", server.base))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let share_url = format!("{}/api/v1/sessions/{id}/share", server.base);
    let open = post_json(&client, share_url.clone(), Some(key), json!({})).await;
    let locked = post_json(
        &client,
        share_url,
        Some(key),
        json!({"password": "correct horse"}),
    )
    .await;

    let checks = json!([
        {"name": "public share page", "url": open["public_url"], "expect": ["Tracing the flaky test", "message 5 about the retry loop"]},
        {"name": "password share page", "url": locked["public_url"], "password": "correct horse",
         "expect": ["Tracing the flaky test", "message 0 about the retry loop"]},
    ]);
    let out = run_checks(&checks);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[tokio::test]
async fn api_docs_render_from_the_binary_alone() {
    if skip() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = RunningServer::start(data.path(), &[]).await;
    // Every request that leaves the loopback interface is blocked and fails the check: the pages,
    // their scripts and styles, and the document all come from the binary.
    let checks = json!([
        {"name": "Swagger UI", "url": format!("{}/api/docs", server.base),
         "expect": ["SessionFS server API", "/api/v1/sessions/{id}/sync", "Push a session"]},
        {"name": "ReDoc", "url": format!("{}/api/redoc", server.base),
         "expect": ["SessionFS server API", "Liveness and readiness probes", "/api/v1/sessions/{id}/sync"]},
    ]);
    let out = run_checks(&checks);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}
