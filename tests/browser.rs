//! Pages for people, checked in a real browser: headless Chromium (Debian's `chromium`) opens
//! them from the built server with every non-loopback request blocked
//! (`tests/browser/check_pages.mjs`, driven through playwright-core).
//!
//! Needs `/usr/bin/chromium` (or `CHROMIUM=…`): `apt-get install chromium`; and Node.js with
//! npm. playwright-core is installed into `tests/browser/node_modules` on first run (`npm ci`,
//! once, under a lock shared by the tests). Without Chromium or Node the tests are skipped with
//! a loud warning saying how to get them; `SFS_SKIP_BROWSER_TESTS=1` skips them on purpose.
//! `.ci/run` sets `SFS_REQUIRE_ALL_TESTS=1`, which turns every such skip into a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{loud, skip_because, with_setup_lock, RunningServer};

use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `npm ci` in tests/browser, once: under a lock, so two tests never run it in the same folder
/// at the same time (the second waits, then finds playwright-core installed).
fn ensure_playwright(dir: &Path) {
    with_setup_lock("browser-npm-ci", || {
        if dir
            .join("node_modules/playwright-core/package.json")
            .exists()
        {
            return;
        }
        loud("browser tests: installing playwright-core (npm ci in tests/browser)…");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("run npm ci in tests/browser");
        assert!(status.success(), "npm ci in tests/browser failed");
    });
}

/// The Chromium to use when the browser tests can run here; `None` (after a loud warning)
/// when they are skipped.
fn ready(test: &str) -> Option<PathBuf> {
    if std::env::var_os("SFS_SKIP_BROWSER_TESTS").is_some() {
        skip_because(
            test,
            "SFS_SKIP_BROWSER_TESTS is set",
            "unset SFS_SKIP_BROWSER_TESTS",
        );
        return None;
    }
    let Some(chromium) = chromium() else {
        skip_because(
            test,
            "Chromium is missing (looked for /usr/bin/chromium, or the path in CHROMIUM)",
            "`sudo apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM=/path/to/chromium \
             (any Chromium or Chrome build); SFS_SKIP_BROWSER_TESTS=1 skips these tests on purpose",
        );
        return None;
    };
    let has = |program: &str| Command::new(program).arg("--version").output().is_ok();
    if !has("node") || !has("npm") {
        skip_because(
            test,
            "Node.js is missing (node and npm)",
            "`sudo apt-get install nodejs npm`",
        );
        return None;
    }
    ensure_playwright(&browser_dir());
    Some(chromium)
}

/// Runs the browser checks; returns the script's output.
pub fn run_checks(chromium: &Path, checks: &Value) -> String {
    let dir = browser_dir();
    let output = Command::new("node")
        .arg(dir.join("check_pages.mjs"))
        .arg(checks.to_string())
        .env("CHROMIUM", chromium)
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
    let Some(chromium) = ready("share_pages_render_in_a_browser") else {
        return;
    };
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
    let out = run_checks(&chromium, &checks);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

#[tokio::test]
async fn api_docs_render_from_the_binary_alone() {
    let Some(chromium) = ready("api_docs_render_from_the_binary_alone") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = RunningServer::start(data.path(), &[]).await;
    // Every request that leaves the loopback interface is blocked and fails the check: the pages,
    // their scripts and styles, and the document all come from the binary.
    let checks = json!([
        // Tags start folded (assets/swagger-ui/init.js); the deep link opens one, and the last
        // tag's description shows that every tag rendered.
        {"name": "Swagger UI", "url": format!("{}/api/docs#/sync", server.base),
         "expect": ["SessionFS server API", "/api/v1/sessions/{id}/sync", "Push a session",
                    "Agent tickets: both status machines"]},
        {"name": "ReDoc", "url": format!("{}/api/redoc", server.base),
         "expect": ["SessionFS server API", "Liveness and readiness probes", "/api/v1/sessions/{id}/sync"]},
    ]);
    let out = run_checks(&chromium, &checks);
    assert!(out.contains("2 passed, 0 failed"), "{out}");
}

/// Where screenshots of the dashboard are kept (a test artifact, under the target dir).
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-artifacts/dashboard")
}

async fn signup(client: &reqwest::Client, base: &str, email: &str) -> String {
    let body = post_json(
        client,
        format!("{base}/api/v1/auth/signup"),
        None,
        json!({ "email": email }),
    )
    .await;
    body["raw_key"].as_str().unwrap().to_string()
}

async fn push(client: &reqwest::Client, base: &str, key: &str, id: &str, title: &str, topic: &str) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(session_archive(id, title, topic, 8)).file_name("s.tar.gz"),
    );
    let res = client
        .put(format!("{base}/api/v1/sessions/{id}/sync"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn dashboard_flows_in_a_browser() {
    let Some(chromium) = ready("dashboard_flows_in_a_browser") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = RunningServer::start(data.path(), &[]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let alice = signup(&client, &base, "alice@example.com").await;
    let bob = signup(&client, &base, "bob@example.com").await;
    let tagged = "Tracing the flaky test";
    let other = "Upgrading the parser";
    push(
        &client,
        &base,
        &alice,
        "ses_da5b0a4d00000001",
        tagged,
        "the retry loop",
    )
    .await;
    push(
        &client,
        &base,
        &alice,
        "ses_da5b0a4d00000002",
        other,
        "grammar rules",
    )
    .await;
    let res = client
        .patch(format!("{base}/api/v1/sessions/ses_da5b0a4d00000001"))
        .bearer_auth(&alice)
        .json(&json!({"tags": ["web"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    post_json(
        &client,
        format!("{base}/api/v1/org"),
        Some(&alice),
        json!({"name": "Acme", "slug": "acme"}),
    )
    .await;
    // The pushed sessions are searchable within about half a second.
    for _ in 0..100 {
        let res: Value = client
            .get(format!("{base}/api/v1/sessions/search?q=retry"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if res["total"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A project with a persona, an agent run and a wiki page, for the project pages.
    let project = post_json(
        &client,
        format!("{base}/api/v1/projects/"),
        Some(&alice),
        json!({"name": "board", "git_remote_normalized": "github.com/acme/board"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    post_json(
        &client,
        format!("{base}/api/v1/projects/{project}/personas"),
        Some(&alice),
        json!({"name": "Atlas", "role": "Architect", "content": "You design APIs."}),
    )
    .await;
    post_json(
        &client,
        format!("{base}/api/v1/projects/{project}/agent-runs"),
        Some(&alice),
        json!({"persona_name": "Atlas", "trigger_source": "ci"}),
    )
    .await;
    let res = client
        .put(format!("{base}/api/v1/projects/{project}/pages/guide"))
        .bearer_auth(&alice)
        .json(&json!({"title": "Team guide", "content": "How we work."}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    let artifacts = artifacts_dir();
    let setup = json!({
        "base": base,
        "project": project,
        "artifacts": artifacts,
        "alice": {"key": alice},
        "bob": {"key": bob, "email": "bob@example.com"},
        "carol_email": "carol@example.com",
        "tagged_title": tagged,
        "other_title": other,
    });
    let dir = browser_dir();
    let output = Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .arg(setup.to_string())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node tests/browser/dashboard.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success() && stdout.contains(" 0 failed"),
        "dashboard browser flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for shot in [
        "sign-in",
        "sessions",
        "search",
        "session",
        "keys",
        "organization",
        "tickets-board",
        "ticket",
        "tickets-board-moved",
        "personas",
        "agent-runs",
        "agent-run",
        "wiki",
        "wiki-page",
        "settings",
        "project-settings",
        "sessions-phone-dark",
    ] {
        assert!(
            artifacts.join(format!("{shot}.png")).exists(),
            "screenshot {shot}"
        );
    }
    println!("{stdout}screenshots in {}", artifacts.display());
}
