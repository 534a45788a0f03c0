//! Compile, rebuild and page regenerate with a model (02 §3.6 step 9, §4 regenerate), against a
//! fake provider on loopback: the model's document is used (`merge: "llm"`); a provider
//! failure, an unknown provider or an empty answer gives the deterministic merge with a
//! `merge_note`; claims added while the model works make compile plan and ask again (twice at
//! most); nothing pending means no call. The key goes to the provider only: it is in no
//! response, no file of the data dir and no line of the server's log.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::fake_llm::{FakeLlm, Mode};
use crate::common::{json_of, paths, RunningServer, TestApp, User};

const KEY: &str = "sk-compile-secret-24680";
const MERGED: &str = "# Project Context\n\n## Key Decisions\n- Sessions live in SQLite, WAL mode.";
const DECISION: &str =
    "We store sessions in SQLite (data/sessions.db) in WAL mode with synchronous=FULL";
const BUG: &str =
    "The importer at src/import.rs drops the last message when a file ends without newline";
const PATTERN: &str =
    "Handlers stay thin: extract, one domain call, a typed response (see src/api/knowledge.rs)";

/// A server whose outbound calls may reach the fake provider (and nothing but loopback).
async fn app(fake: &FakeLlm) -> TestApp {
    let root = fake.root.clone();
    TestApp::spawn_with(move |c| {
        c.outbound.llm_allow_private_hosts = true;
        c.outbound.loopback_only = true;
        c.outbound.registry_override = Some(root);
        c.outbound.completion_timeout = Duration::from_secs(5);
    })
    .await
}

async fn project(app: &TestApp, user: &User) -> String {
    app.as_(user).create_project("acme/app", None).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Adds a confident claim (asserting 201); returns its id.
async fn claim(app: &TestApp, user: &User, pid: &str, entry_type: &str, content: &str) -> i64 {
    let body = json!({"content": content, "entry_type": entry_type, "confidence": 0.9,
        "session_id": format!("ses_{}", content.len())});
    let added = json_of(
        app.as_(user)
            .post(&paths::project_entries_add(pid), body)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added["claim_class"], "claim", "{added}");
    added["id"].as_i64().unwrap()
}

fn llm_body(fake: &FakeLlm) -> Value {
    json!({"llm_api_key": KEY, "base_url": fake.base_url(), "model": "llama3"})
}

async fn compile(app: &TestApp, user: &User, pid: &str, body: Value) -> Value {
    json_of(
        app.as_(user).post(&paths::project_compile(pid), body).await,
        StatusCode::OK,
    )
    .await
}

/// The user message of the `n`-th chat the provider received.
fn prompt(fake: &FakeLlm, n: usize) -> String {
    let chat = &fake.chats()[n];
    chat.body["messages"][1]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no user message in {}", chat.body))
        .to_string()
}

/// Every file under `dir` (database, WAL, indexes) holds no `secret`.
fn assert_not_stored(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_not_stored(&path, secret);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the key is stored in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn compile_merges_with_the_model_and_falls_back_when_it_fails() {
    let fake = FakeLlm::start(&format!("```markdown\n{MERGED}\n```")).await;
    let app = app(&fake).await;
    let [alice] = app.users(["alice"]).await;
    let pid = project(&app, &alice).await;
    claim(&app, &alice, &pid, "decision", DECISION).await;

    // The model's document (unwrapped from its code fence) is the new context document.
    let done = compile(&app, &alice, &pid, llm_body(&fake)).await;
    assert_eq!(done["merge"], "llm", "{done}");
    assert_eq!(done["merge_note"], Value::Null);
    assert_eq!(done["entries_compiled"], 1);
    assert_eq!(done["context_after"], MERGED);
    assert_eq!(done["section_pages_updated"], 1);
    let chats = fake.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].path, "/v1/chat/completions");
    assert_eq!(
        chats[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(chats[0].body["model"], "llama3");
    let asked = prompt(&fake, 0);
    assert!(
        asked.contains(DECISION) && asked.contains("Key Decisions"),
        "{asked}"
    );
    let stored = json_of(
        app.as_(&alice).get(&paths::project(&pid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["context_document"], MERGED);

    // The provider fails: the deterministic merge, on top of the model's document.
    fake.set(Mode::Status(500, r#"{"error": "overloaded"}"#.into()));
    claim(&app, &alice, &pid, "bug", BUG).await;
    let done = compile(&app, &alice, &pid, llm_body(&fake)).await;
    assert_eq!(done["merge"], "deterministic", "{done}");
    let note = done["merge_note"].as_str().unwrap();
    assert!(
        note.contains("returned 500") && note.contains("deterministic merge"),
        "{note}"
    );
    let after = done["context_after"].as_str().unwrap();
    assert!(after.starts_with(MERGED) && after.contains(BUG), "{after}");
    assert!(after.contains("## Known Issues & Workarounds"), "{after}");

    // Nothing pending: no call at all, and no note.
    let calls = fake.chats().len();
    let noop = compile(&app, &alice, &pid, llm_body(&fake)).await;
    assert_eq!(
        (noop["id"].as_i64(), noop["merge_note"].clone()),
        (Some(0), Value::Null)
    );
    assert_eq!(fake.chats().len(), calls);

    // A provider nobody knows (and no base URL): the note says so.
    claim(&app, &alice, &pid, "pattern", PATTERN).await;
    let done = compile(
        &app,
        &alice,
        &pid,
        json!({"llm_api_key": KEY, "provider": "nope", "model": "x"}),
    )
    .await;
    assert_eq!(done["merge"], "deterministic");
    assert!(
        done["merge_note"]
            .as_str()
            .unwrap()
            .contains("unknown provider 'nope'"),
        "{done}"
    );
    assert_eq!(done["entries_compiled"], 1);

    // Without a provider the model's name picks it: the default model is Anthropic's.
    fake.set(Mode::Answer(MERGED.into()));
    claim(
        &app,
        &alice,
        &pid,
        "convention",
        "Every migration is a new file schema/V<n>__<what>.sql; old ones are frozen",
    )
    .await;
    let done = compile(&app, &alice, &pid, json!({"llm_api_key": KEY})).await;
    assert_eq!(done["merge"], "llm", "{done}");
    let last = fake.chats().pop().unwrap();
    assert_eq!(last.path, "/v1/messages");
    assert_eq!(last.x_api_key.as_deref(), Some(KEY));
    assert_eq!(last.body["model"], "claude-sonnet-4");

    // Rebuild asks the model too, from an empty document.
    let rebuilt = json_of(
        app.as_(&alice)
            .post(&paths::project_rebuild(&pid), llm_body(&fake))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rebuilt["merge"], "llm", "{rebuilt}");
    assert_eq!(rebuilt["entries_compiled"], 4);
    let asked = prompt(&fake, fake.chats().len() - 1);
    assert!(asked.contains("(empty"), "{asked}");
    for text in [DECISION, BUG, PATTERN] {
        assert!(asked.contains(text), "{asked}");
    }

    // The key is in no answer and no file.
    let history = app
        .as_(&alice)
        .get(&paths::project_compilations(&pid))
        .await
        .text()
        .await
        .unwrap();
    assert!(!history.contains(KEY));
    assert_not_stored(&app.data_dir, KEY);
}

#[tokio::test]
async fn claims_added_while_the_model_works_make_compile_ask_again() {
    let fake = FakeLlm::start(MERGED).await;
    let app = app(&fake).await;
    let [alice] = app.users(["alice"]).await;
    let pid = project(&app, &alice).await;
    claim(&app, &alice, &pid, "decision", DECISION).await;

    // The first answer is planned on one claim; a second arrives meanwhile: compile rolls
    // back, plans again and asks again; the second answer is used.
    fake.set(Mode::Hold);
    let (done, ()) = tokio::join!(compile(&app, &alice, &pid, llm_body(&fake)), async {
        fake.held().await;
        claim(&app, &alice, &pid, "bug", BUG).await;
        fake.set(Mode::Answer(MERGED.into()));
        fake.release();
    });
    assert_eq!(done["merge"], "llm", "{done}");
    assert_eq!(done["entries_compiled"], 2);
    assert_eq!(fake.chats().len(), 2);
    assert!(!prompt(&fake, 0).contains(BUG) && prompt(&fake, 1).contains(BUG));
    let history = json_of(
        app.as_(&alice)
            .get(&paths::project_compilations(&pid))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.as_array().unwrap().len(), 1, "one compilation");

    // The claims move during both calls: the deterministic merge, and the note says why.
    fake.set(Mode::Hold);
    claim(&app, &alice, &pid, "pattern", PATTERN).await;
    let third = "Deploys run from .github/workflows/release.yml on every tagged commit of main";
    let fourth =
        "The web UI is server-rendered with maud in src/web/; no JavaScript framework is used";
    let (done, ()) = tokio::join!(compile(&app, &alice, &pid, llm_body(&fake)), async {
        fake.held().await;
        claim(&app, &alice, &pid, "convention", third).await;
        fake.release();
        fake.held().await;
        claim(&app, &alice, &pid, "discovery", fourth).await;
        fake.set(Mode::Answer(MERGED.into()));
        fake.release();
    });
    assert_eq!(done["merge"], "deterministic", "{done}");
    assert!(
        done["merge_note"]
            .as_str()
            .unwrap()
            .contains("changed while the model was merging"),
        "{done}"
    );
    assert_eq!(done["entries_compiled"], 3);
    let after = done["context_after"].as_str().unwrap();
    assert!(after.contains(third) && after.contains(fourth), "{after}");
    assert_eq!(fake.chats().len(), 4);
}

#[tokio::test]
async fn regenerate_writes_the_models_article_or_lists_the_entries() {
    const ARTICLE: &str = "# Key Decisions\n\nSessions are kept in SQLite in WAL mode.";
    let fake = FakeLlm::start(ARTICLE).await;
    let app = app(&fake).await;
    let [alice] = app.users(["alice"]).await;
    let pid = project(&app, &alice).await;
    // The page's sources: entries naming a word of its title ("Decisions").
    let adr = "Architecture decisions are recorded in docs/adr/ as numbered Markdown files";
    claim(&app, &alice, &pid, "decision", adr).await;
    compile(&app, &alice, &pid, json!({})).await;
    assert!(fake.chats().is_empty(), "no key, no call");

    let regenerate = |body: Value| {
        let (app, alice, pid) = (&app, &alice, &pid);
        async move {
            json_of(
                app.as_(alice)
                    .post(&paths::page_regenerate(pid, "key-decisions"), body)
                    .await,
                StatusCode::OK,
            )
            .await
        }
    };
    let done = regenerate(llm_body(&fake)).await;
    assert_eq!(done["merge_note"], Value::Null, "{done}");
    assert_eq!(done["word_count"], 11);
    let asked = prompt(&fake, 0);
    assert!(
        asked.contains("Title: Key Decisions") && asked.contains(adr),
        "{asked}"
    );
    let page = json_of(
        app.as_(&alice)
            .get(&paths::page(&pid, "key-decisions"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["content"], ARTICLE);

    fake.set(Mode::Status(503, "{}".into()));
    let done = regenerate(llm_body(&fake)).await;
    assert!(
        done["merge_note"]
            .as_str()
            .unwrap()
            .contains("returned 503"),
        "{done}"
    );
    let page = json_of(
        app.as_(&alice)
            .get(&paths::page(&pid, "key-decisions"))
            .await,
        StatusCode::OK,
    )
    .await;
    let content = page["content"].as_str().unwrap();
    assert!(
        content.starts_with("# Key Decisions\n\nCompiled from 1 knowledge entries."),
        "{content}"
    );
}

/// The real binary at debug level: a compile with a key that works and one that fails leave
/// the key in no log line and no file.
#[tokio::test]
async fn the_key_is_never_logged_or_stored() {
    let fake = FakeLlm::start(MERGED).await;
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let flags = ["--llm-allow-private-hosts", "--log", "debug"];
    let server = RunningServer::start_with_log(&data, &flags, Some(&log)).await;
    let http = reqwest::Client::new();
    let call = |method: Method, path: String, key: Option<String>, body: Value| {
        let mut req = http
            .request(method, format!("{}{path}", server.base))
            .json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let signup = call(
        Method::POST,
        paths::SIGNUP.into(),
        None,
        json!({"email": "alice@example.com"}),
    )
    .await
    .unwrap();
    let user = json_of(signup, StatusCode::CREATED).await["raw_key"]
        .as_str()
        .unwrap()
        .to_string();
    let created = call(
        Method::POST,
        paths::PROJECTS.into(),
        Some(user.clone()),
        json!({"name": "app", "git_remote_normalized": "acme/app"}),
    )
    .await
    .unwrap();
    let pid = json_of(created, StatusCode::CREATED).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (content, answer) in [
        (DECISION, None),
        (BUG, Some(Mode::Status(500, "{}".into()))),
    ] {
        if let Some(mode) = answer {
            fake.set(mode);
        }
        let added = call(
            Method::POST,
            paths::project_entries_add(&pid),
            Some(user.clone()),
            json!({"content": content, "entry_type": "decision", "confidence": 0.9}),
        )
        .await
        .unwrap();
        json_of(added, StatusCode::CREATED).await;
        let done = call(
            Method::POST,
            format!("{}?api_key={KEY}", paths::project_compile(&pid)),
            Some(user.clone()),
            llm_body(&fake),
        )
        .await
        .unwrap();
        let done = json_of(done, StatusCode::OK).await;
        assert_eq!(done["entries_compiled"], 1, "{done}");
    }
    assert_eq!(fake.chats().len(), 2);
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("LLM merge failed"), "{log}");
    assert!(!log.contains(KEY), "the key is in the server log");
    assert_not_stored(&data, KEY);
}
