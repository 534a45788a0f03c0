//! `/sessions/{id}/audit*`: the LLM judge against a fake provider on loopback. Inline and
//! background runs, the plain error bodies of §7.2, history, status, dismissals, a restart
//! during a background audit, and no key in any answer or log line.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::{gzip, tar_of, Member};

use super::settings::app_with;
use crate::common::fake_llm::{FakeLlm, Mode};
use crate::common::{error_of, json_of, paths, RunningServer, TestApp};

const KEY: &str = "sk-audit-secret-9876543210";
const ID: &str = "ses_audit0001";
const BIG: &str = "ses_audit0big";

const ANSWER: &str = r#"```json
[{"claim_index": 1, "verdict": "hallucination", "confidence": 95, "category": "test_result",
  "evidence": "test result: FAILED. 3 passed; 1 failed", "explanation": "The tests failed.",
  "evidence_snippets": [{"source": "tool_result", "message_index": 2, "text": "1 failed"}]}]
```"#;

/// A session of `turns` × 4 messages: a request, a test run, its failing result, and the
/// assistant's claim that everything passed.
fn transcript(id: &str, turns: usize, with_tools: bool) -> Vec<u8> {
    let mut lines = String::new();
    for t in 0..turns {
        let msgs = if with_tools {
            vec![
                json!({"role": "user", "content": format!("Run the tests ({t})")}),
                json!({"role": "assistant", "content": [
                    {"type": "text", "text": "Running the test suite."},
                    {"type": "tool_use", "id": format!("tu{t}"), "name": "Bash", "input": {"command": "cargo test"}}]}),
                json!({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": format!("tu{t}"), "content": "test result: FAILED. 3 passed; 1 failed\nexit code 101"}]}),
                json!({"role": "assistant", "content": [{"type": "text", "text": format!("All tests passed in run {t}.")}]}),
            ]
        } else {
            vec![
                json!({"role": "user", "content": "hello there"}),
                json!({"role": "assistant", "content": "Hi! How can I help?"}),
            ]
        };
        for m in msgs {
            lines.push_str(&m.to_string());
            lines.push('\n');
        }
    }
    let manifest = json!({"sfs_version": "0.1.0", "session_id": id, "title": "audit me",
        "source": {"tool": "claude-code"}, "stats": {"message_count": turns * 4}});
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", lines.as_bytes()),
    ]))
}

fn judge_settings(fake: &FakeLlm) -> Value {
    json!({"provider": "custom", "model": "llama3", "api_key": KEY, "base_url": fake.base_url()})
}

#[tokio::test]
async fn an_inline_audit_keeps_its_report_history_and_dismissals() {
    let fake = FakeLlm::start(ANSWER).await;
    let app = app_with(&fake, true).await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice)
        .push(ID, transcript(ID, 1, true), None)
        .await;
    json_of(
        app.as_(&alice)
            .put(paths::SETTINGS_JUDGE, judge_settings(&fake))
            .await,
        StatusCode::OK,
    )
    .await;
    let status = json_of(
        app.as_(&alice).get(&paths::session_audit_status(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status, json!({"status": "not_started", "session_id": ID}));

    let res = app
        .as_(&alice)
        .post(&paths::session_audit(ID), json!({}))
        .await;
    let text = res.text().await.unwrap();
    assert!(!text.contains(KEY));
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["session_id"], ID);
    assert_eq!(report["model"], "llama3");
    assert_eq!(
        (report["provider"].clone(), report["base_url"].clone()),
        (json!(""), json!(""))
    );
    assert!(report["timestamp"].as_str().unwrap().ends_with('Z'));
    let f = &report["findings"][0];
    assert_eq!(f["message_index"], 3);
    assert_eq!(f["claim"], "All tests passed in run 0.");
    assert_eq!(
        (
            f["verdict"].clone(),
            f["severity"].clone(),
            f["cwe_id"].clone()
        ),
        (json!("hallucination"), json!("critical"), json!("CWE-393"))
    );
    assert_eq!(f["evidence_snippets"][0]["text"], "1 failed");
    assert_eq!(f["dismissed"], false);
    assert_eq!(report["summary"]["hallucinations"], 1);
    assert_eq!(report["summary"]["critical_count"], 1);
    assert_eq!(report["summary"]["trust_score"], 0.0);

    // What the provider was sent (§7.4).
    let chat = fake.chats().pop().unwrap();
    assert_eq!(chat.path, "/v1/chat/completions");
    assert_eq!(
        chat.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(chat.body["model"], "llama3");
    assert_eq!(chat.body["temperature"], 0);
    assert_eq!(chat.body["max_completion_tokens"], 4096);
    let prompt = chat.body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.starts_with(
            "## Claims to Verify\n\n1. [msg 3] (test_result, certain) All tests passed"
        ),
        "{prompt}"
    );
    assert!(
        prompt.contains("- [msg 2] Bash | exit_code=101 | input: cargo test"),
        "{prompt}"
    );
    assert!(chat.body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("JSON array"));

    let latest = json_of(
        app.as_(&alice).get(&paths::session_audit(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(latest, report);
    let history = json_of(
        app.as_(&alice).get(&paths::session_audits(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    let h = &history[0];
    assert!(h["id"].as_str().unwrap().starts_with("aud_"));
    assert_eq!(
        (
            h["trust_score"].clone(),
            h["contradiction_count"].clone(),
            h["judge_provider"].clone()
        ),
        (json!(0), json!(1), json!("custom"))
    );
    let entry = json_of(
        app.as_(&alice)
            .get(&paths::audit_entry(h["id"].as_str().unwrap()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry["findings"], report["findings"]);
    assert_eq!(entry["base_url"], fake.base_url());
    let status = json_of(
        app.as_(&alice).get(&paths::session_audit_status(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["status"], "completed");

    let done = json_of(
        app.as_(&alice)
            .post(
                &paths::session_audit_dismiss(ID),
                json!({"finding_index": 0, "reason": "known flake"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        done,
        json!({"status": "ok", "finding_index": 0, "dismissed": true})
    );
    let latest = json_of(
        app.as_(&alice).get(&paths::session_audit(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(latest["findings"][0]["dismissed_by"], alice.email);
    assert_eq!(latest["findings"][0]["dismissed_reason"], "known flake");
    error_of(
        app.as_(&alice)
            .post(
                &paths::session_audit_dismiss(ID),
                json!({"finding_index": 3}),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // An outsider gets 404 on every audit route.
    for res in [
        app.as_(&bob)
            .post(&paths::session_audit(ID), json!({}))
            .await,
        app.as_(&bob).get(&paths::session_audit(ID)).await,
        app.as_(&bob).get(&paths::session_audits(ID)).await,
        app.as_(&bob).get(&paths::session_audit_status(ID)).await,
        app.as_(&bob)
            .post(
                &paths::session_audit_dismiss(ID),
                json!({"finding_index": 0}),
            )
            .await,
        app.as_(&bob)
            .get(&paths::audit_entry(h["id"].as_str().unwrap()))
            .await,
    ] {
        error_of(res, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn a_request_key_is_used_not_stored_and_anthropic_is_spoken_natively() {
    let fake = FakeLlm::start(ANSWER).await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    app.as_(&alice)
        .push(ID, transcript(ID, 1, true), None)
        .await;
    let body = json!({"llm_api_key": KEY, "base_url": fake.base_url(), "model": "gpt-5"});
    let report = json_of(
        app.as_(&alice).post(&paths::session_audit(ID), body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["model"], "gpt-5");
    let chat = fake.chats().pop().unwrap();
    assert_eq!(chat.body["reasoning_effort"], "medium");
    assert!(chat.body.get("temperature").is_none());
    let settings = json_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(settings["key_set"], false, "a request key is never stored");

    // A registry provider without base_url: the Messages API with x-api-key.
    let body = json!({"llm_api_key": KEY, "model": "claude-sonnet-4"});
    json_of(
        app.as_(&alice).post(&paths::session_audit(ID), body).await,
        StatusCode::OK,
    )
    .await;
    let chat = fake.chats().pop().unwrap();
    assert_eq!(chat.path, "/v1/messages");
    assert_eq!(chat.x_api_key.as_deref(), Some(KEY));
    assert_eq!(chat.body["max_tokens"], 4096);
    let history = json_of(
        app.as_(&alice).get(&paths::session_audits(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history[0]["judge_provider"], "anthropic");
    assert_eq!(history.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn audit_run_errors_are_plain_bodies() {
    let fake = FakeLlm::start(ANSWER).await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    app.as_(&alice)
        .push(ID, transcript(ID, 1, true), None)
        .await;
    let post = |body: Value| {
        let (app, alice) = (&app, &alice);
        async move { app.as_(alice).post(&paths::session_audit(ID), body).await }
    };
    let err = error_of(post(json!({})).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(err["message"], "No API key or base URL configured. Provide llm_api_key, base_url, or configure judge settings.");
    error_of(
        post(json!({"base_url": "http://169.254.169.254/v1"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let unknown = json_of(
        post(json!({"llm_api_key": KEY, "provider": "nope"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(unknown["error"], "unknown_provider");

    let custom = json!({"llm_api_key": KEY, "base_url": fake.base_url()});
    fake.set(Mode::Status(
        500,
        format!("{{\"error\":\"boom for {KEY}\"}}"),
    ));
    let res = post(custom.clone()).await;
    let text = res.text().await.unwrap();
    assert!(!text.contains(KEY), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "llm_request_failed");
    assert_eq!(body["message"], "Judge LLM returned 500");
    assert!(body["detail"].as_str().unwrap().contains("[redacted]"));

    fake.set(Mode::Html);
    let body = json_of(post(custom.clone()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(
        (body["error"].clone(), body["code"].clone()),
        (json!("llm_request_failed"), json!("endpoint_not_api"))
    );

    fake.set(Mode::Redirect("http://10.0.0.1/v1/chat/completions".into()));
    let body = json_of(post(custom.clone()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(body["code"], "endpoint_not_api");

    fake.set(Mode::Oversized(5 * 1024 * 1024));
    let body = json_of(post(custom.clone()).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(body["error"], "llm_request_failed");

    fake.set(Mode::Slow(Duration::from_secs(4)));
    let body = json_of(post(custom.clone()).await, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(body["error"], "llm_timeout");

    // Nothing listening: connection refused is a 502, not a 500.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let body = json_of(
        post(json!({"llm_api_key": KEY, "base_url": format!("http://127.0.0.1:{port}/v1")})).await,
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(body["error"], "llm_request_failed");

    // An answer that is not JSON gives no findings, not an error.
    fake.set(Mode::Answer("I am not sure.".into()));
    let report = json_of(post(custom.clone()).await, StatusCode::OK).await;
    assert_eq!(report["findings"], json!([]));

    // Tool calls but no claim: 422 with the session's stats.
    let quiet = "ses_audit0quiet";
    let lines = [
        json!({"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Read", "input": {"file_path": "/x"}}]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "x"}]}),
    ];
    let jsonl: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let archive = gzip(&tar_of(&[
        Member::file(
            "manifest.json",
            json!({"sfs_version": "0.1.0", "session_id": quiet})
                .to_string()
                .as_bytes(),
        ),
        Member::file("messages.jsonl", jsonl.as_bytes()),
    ]));
    app.as_(&alice).push(quiet, archive, None).await;
    let body = json_of(
        app.as_(&alice)
            .post(&paths::session_audit(quiet), custom.clone())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(body["error"], "no_claims_extracted");
    assert_eq!(
        body["session_stats"],
        json!({"tool_calls": 1, "messages": 2})
    );

    // No tool calls, no claims: an empty report with a warning.
    let chat_only = "ses_audit0chat";
    app.as_(&alice)
        .push(chat_only, transcript(chat_only, 2, false), None)
        .await;
    let report = json_of(
        app.as_(&alice)
            .post(&paths::session_audit(chat_only), custom.clone())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["summary"]["total_claims"], 0);
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1);

    // The judge needs a tier that has it.
    let free = app.user("carol").tier("free").create().await;
    let theirs = "ses_audit0free";
    let err = error_of(
        app.as_(&free)
            .post(&paths::session_audit(theirs), custom)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "upgrade_required");
    error_of(
        app.as_(&alice)
            .get(&paths::session_audit("ses_nothere0"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_large_session_is_audited_in_the_background_once_at_a_time() {
    let fake = FakeLlm::start(ANSWER).await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    app.as_(&alice)
        .push(BIG, transcript(BIG, 130, true), None)
        .await;
    json_of(
        app.as_(&alice)
            .put(paths::SETTINGS_JUDGE, judge_settings(&fake))
            .await,
        StatusCode::OK,
    )
    .await;
    fake.set(Mode::Hold);
    let accepted = json_of(
        app.as_(&alice)
            .post(&paths::session_audit(BIG), json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["session_id"], BIG);
    assert!(accepted["message"]
        .as_str()
        .unwrap()
        .starts_with("Audit started in background (520 messages)."));
    fake.held().await;
    let status = json_of(
        app.as_(&alice).get(&paths::session_audit_status(BIG)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["status"], "running");
    let again = json_of(
        app.as_(&alice)
            .post(&paths::session_audit(BIG), json!({}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already running"),
        "{again}"
    );
    error_of(
        app.as_(&alice).get(&paths::session_audit(BIG)).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    fake.set(Mode::Answer(ANSWER.into()));
    fake.release();
    let status = wait_done(&app.base, &alice.key, BIG).await;
    assert_eq!(status["status"], "completed", "{status}");
    let report = json_of(
        app.as_(&alice).get(&paths::session_audit(BIG)).await,
        StatusCode::OK,
    )
    .await;
    assert!(report["summary"]["total_claims"].as_i64().unwrap() >= 1);
    let history = json_of(
        app.as_(&alice).get(&paths::session_audits(BIG)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "background runs are in the history"
    );
}

/// Polls `/audit/status` until the job is no longer running (a background job's end can only
/// be seen from outside by asking).
async fn wait_done(base: &str, key: &str, id: &str) -> Value {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let res = client
            .get(format!("{base}{}", paths::session_audit_status(id)))
            .bearer_auth(key)
            .send()
            .await;
        if let Ok(res) = res {
            if res.status() == StatusCode::OK {
                let v: Value = res.json().await.unwrap();
                if v["status"] != "running" {
                    return v;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the audit of {id} did not finish");
}

async fn call(
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// The server is killed (SIGKILL) while a background audit waits on the provider. On the next
/// start the job resumes with the saved key and completes; a job whose key came with the
/// request fails cleanly instead (such keys are never stored). Neither key is in the log.
#[tokio::test]
async fn a_background_audit_survives_a_crash() {
    let fake = FakeLlm::start(ANSWER).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let flags = ["--llm-allow-private-hosts", "--log", "debug"];
    let mut server = RunningServer::start_with_log(&data, &flags, Some(&log)).await;
    let signup = reqwest::Client::new()
        .post(format!("{}{}", server.base, paths::SIGNUP))
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    let key = json_of(signup, StatusCode::CREATED).await["raw_key"]
        .as_str()
        .unwrap()
        .to_string();
    let push = |id: &'static str| {
        let (base, key) = (server.base.clone(), key.clone());
        async move {
            let part =
                reqwest::multipart::Part::bytes(transcript(id, 130, true)).file_name("s.tar.gz");
            let res = reqwest::Client::new()
                .put(format!("{base}{}", paths::session_sync(id)))
                .bearer_auth(&key)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
        }
    };
    push(BIG).await;
    push("ses_audit0req").await;
    let saved = call(
        &server.base,
        &key,
        reqwest::Method::PUT,
        paths::SETTINGS_JUDGE,
        Some(judge_settings(&fake)),
    )
    .await;
    json_of(saved, StatusCode::OK).await;

    fake.set(Mode::Hold);
    let res = call(
        &server.base,
        &key,
        reqwest::Method::POST,
        &paths::session_audit(BIG),
        Some(json!({})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    fake.held().await;
    let other = json!({"llm_api_key": "sk-request-only-key-555", "base_url": fake.base_url()});
    let res = call(
        &server.base,
        &key,
        reqwest::Method::POST,
        &paths::session_audit("ses_audit0req"),
        Some(other),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    fake.held().await;

    server.crash();
    fake.set(Mode::Answer(ANSWER.into()));
    fake.release();
    let server = RunningServer::start_with_log(&data, &flags, Some(&log)).await;
    let resumed = wait_done(&server.base, &key, BIG).await;
    assert_eq!(resumed["status"], "completed", "{resumed}");
    let report = call(
        &server.base,
        &key,
        reqwest::Method::GET,
        &paths::session_audit(BIG),
        None,
    )
    .await;
    let report = json_of(report, StatusCode::OK).await;
    assert_eq!(report["findings"][0]["verdict"], "hallucination");
    let failed = wait_done(&server.base, &key, "ses_audit0req").await;
    assert_eq!(failed["status"], "error", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("never stored"),
        "{failed}"
    );

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("resuming a background audit"), "{log}");
    for secret in [KEY, "sk-request-only-key-555", key.as_str()] {
        assert!(!log.contains(secret), "a secret is in the server log");
    }
}

#[tokio::test]
async fn the_daemon_poll_of_the_audit_trigger_gets_200() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let res = app.as_(&alice).get(paths::SETTINGS_AUDIT_TRIGGER).await;
    assert_eq!(res.status(), StatusCode::OK);
}
