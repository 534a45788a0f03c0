//! Summaries: the deterministic session summary (cached, rebuilt on POST and after a push),
//! and the handoff summary that the handoff id alone opens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::{gzip, tar_of, Member};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

/// The contract's example session: one Bash call running pytest, 5 passed and 1 failed.
fn fixture(extra_line: Option<&str>) -> Vec<u8> {
    let manifest = json!({"title": "Fix login bug", "source": {"tool": "claude-code"},
        "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-6"}, "stats": {"message_count": 4}});
    let mut lines = [
        json!({"msg_id": "m1", "role": "user", "content": [{"type": "text", "text": "Please fix the login bug in auth.py"}], "timestamp": "2026-03-20T10:00:00Z"}),
        json!({"msg_id": "m2", "role": "assistant", "content": [{"type": "text", "text": "Let me look at the file."},
            {"type": "tool_use", "tool_use_id": "tu1", "id": "tu1", "name": "Bash", "input": {"command": "pytest tests/"}}], "timestamp": "2026-03-20T10:00:10Z"}),
        json!({"msg_id": "m3", "role": "tool", "content": [{"type": "tool_result", "tool_use_id": "tu1",
            "content": "5 passed, 1 failed in 2.3s\nError: assertion failed in test_login"}], "timestamp": "2026-03-20T10:00:20Z"}),
        json!({"msg_id": "m4", "role": "assistant", "content": [{"type": "text", "text": "Fixed the hello world login handler."}], "timestamp": "2026-03-20T10:01:05Z"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>();
    if let Some(line) = extra_line {
        lines.push(line.to_string());
    }
    let workspace = json!({"git": {"remote_url": "git@github.com:acme/app.git", "branch": "main", "commit_sha": "a1b2c3d4"}});
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", lines.join("\n").as_bytes()),
        Member::file("workspace.json", workspace.to_string().as_bytes()),
    ]))
}

#[tokio::test]
async fn session_summary_is_correct_cached_and_rebuilt() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = json_of(
        app.as_(&alice).push(ID, fixture(None), None).await,
        StatusCode::CREATED,
    )
    .await["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let path = paths::session_summary(ID);
    let s = json_of(app.as_(&alice).get(&path).await, StatusCode::OK).await;
    assert_eq!(s["title"], "Fix login bug");
    assert_eq!(s["tool"], "claude-code");
    assert_eq!(s["model"], "claude-sonnet-4-6");
    assert_eq!(s["message_count"], 4);
    assert_eq!(s["tool_call_count"], 1, "one call, counted once");
    assert_eq!(s["commands_executed"], 1);
    assert_eq!(
        (
            s["tests_run"].clone(),
            s["tests_passed"].clone(),
            s["tests_failed"].clone()
        ),
        (json!(6), json!(5), json!(1))
    );
    assert_eq!(
        s["errors_encountered"],
        json!(["Error: assertion failed in test_login"])
    );
    assert_eq!(s["duration_minutes"], 1);
    assert_eq!(s["branch"], "main");
    assert_eq!(s["commit"], "a1b2c3d4");
    assert_eq!(s["what_happened"], Value::Null);
    assert!(s.get("last_assistant_messages").is_none());
    let generated = s["generated_at"].clone();

    // Cached until the archive changes; POST always rebuilds.
    let again = json_of(app.as_(&alice).get(&path).await, StatusCode::OK).await;
    assert_eq!(again["generated_at"], generated);
    let rebuilt = json_of(app.as_(&alice).post_empty(&path).await, StatusCode::OK).await;
    assert_ne!(rebuilt["generated_at"], generated);
    let extra = json!({"role": "assistant", "content": [{"type": "tool_use", "id": "tu2", "name": "Bash", "input": {"command": "pip install requests==2.0"}}]});
    json_of(
        app.as_(&alice)
            .push(ID, fixture(Some(&extra.to_string())), Some(&etag))
            .await,
        StatusCode::OK,
    )
    .await;
    let fresh = json_of(app.as_(&alice).get(&path).await, StatusCode::OK).await;
    assert_eq!(fresh["tool_call_count"], 2);
    assert_eq!(fresh["packages_installed"], json!(["requests"]));

    // By alias; nobody else's.
    app.as_(&alice)
        .put(&paths::session_alias(ID), json!({"alias": "login"}))
        .await;
    json_of(
        app.as_(&alice).get(&paths::session_summary("login")).await,
        StatusCode::OK,
    )
    .await;
    let bob = app.signup("bob@example.com").await;
    error_of(app.as_(&bob).get(&path).await, StatusCode::NOT_FOUND).await;
    error_of(app.as_(&bob).post_empty(&path).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn summary_errors() {
    let app =
        TestApp::spawn_with(|c| c.default_tier = sessionfs_server::domain::tiers::Tier::Free).await;
    let alice = app.user("alice").tier("starter").create().await;
    let bare = gzip(&tar_of(&[Member::file("manifest.json", b"{}")]));
    json_of(
        app.as_(&alice).push(ID, bare, None).await,
        StatusCode::CREATED,
    )
    .await;
    let err = error_of(
        app.as_(&alice).get(&paths::session_summary(ID)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        "Could not generate summary — no messages found"
    );
    app.set_tier(&alice, "free").await;
    let res = app
        .as_(&alice)
        .post_empty(&paths::session_summary(ID))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["feature"],
        "summary_deterministic"
    );
}

#[tokio::test]
async fn handoff_summary_needs_only_the_id() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    json_of(
        app.as_(&alice).push(ID, fixture(None), None).await,
        StatusCode::CREATED,
    )
    .await;
    let body = json!({"session_id": ID, "recipient_email": "bob@example.com", "message": "please finish the login fix"});
    let h = json_of(
        app.as_(&alice).post(paths::HANDOFFS, body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let id = h["id"].as_str().unwrap();

    let s = json_of(
        app.client
            .get(app.url(&paths::handoff_summary(id)))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(s["title"], "Fix login bug");
    assert_eq!(s["tests_failed"], 1);
    assert_eq!(
        s["last_assistant_messages"][0],
        "Fixed the hello world login handler."
    );
    assert!(s.get("messages").is_none());
    let page = app
        .client
        .get(app.url(&format!("/h/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Fix login bug")
            && html.contains("please finish the login fix")
            && html.contains("sfs pull-handoff")
    );

    error_of(
        app.client
            .get(app.url(&paths::handoff_summary("hnd_0000000000000000")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.as_(&alice)
        .post(&paths::handoff_revoke(id), json!({"reason": "oops"}))
        .await;
    let err = error_of(
        app.client
            .get(app.url(&paths::handoff_summary(id)))
            .send()
            .await
            .unwrap(),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(err["message"], "Handoff has been revoked");
    assert_eq!(
        app.client
            .get(app.url(&format!("/h/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn a_finished_handoff_is_gone_without_a_key_but_not_for_its_parties() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol] = app.users(["alice", "bob", "carol"]).await;
    json_of(
        app.as_(&alice).push(ID, fixture(None), None).await,
        StatusCode::CREATED,
    )
    .await;
    let hand_off = || async {
        let body = json!({"session_id": ID, "recipient_email": "bob@example.com"});
        let h = json_of(
            app.as_(&alice).post(paths::HANDOFFS, body.clone()).await,
            StatusCode::CREATED,
        )
        .await;
        let id = h["id"].as_str().unwrap().to_string();
        // 128 random bits: `hnd_` and 32 hex digits.
        assert!(
            id.len() == 36 && id[4..].chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        id
    };
    let summary = |id: String, key: Option<String>| {
        let app = &app;
        async move {
            app.request(Method::GET, &paths::handoff_summary(&id), key.as_deref())
                .send()
                .await
                .unwrap()
        }
    };
    let claimed = hand_off().await;
    json_of(app.as_(&bob).claim(&claimed).await, StatusCode::OK).await;
    let expired = hand_off().await;
    // Past the longest possible expiry (90 days): the second handoff has expired.
    app.clock().advance(chrono::Duration::days(91));
    for id in [claimed, expired] {
        error_of(summary(id.clone(), None).await, StatusCode::GONE).await;
        // A third user's key opens nothing more than no key.
        error_of(
            summary(id.clone(), Some(carol.key.clone())).await,
            StatusCode::GONE,
        )
        .await;
        let page = app
            .client
            .get(app.url(&format!("/h/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::GONE);
        for party in [&alice, &bob] {
            let s = json_of(
                summary(id.clone(), Some(party.key.clone())).await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(s["title"], "Fix login bug");
        }
        // A key that is sent must be valid.
        error_of(
            summary(id.clone(), Some("sk_sfs_bogus".into())).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
}

#[tokio::test]
async fn a_session_whose_archive_is_missing_is_our_fault() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = app.as_(&alice).push_new(ID, "lost").await;
    std::fs::remove_file(app.state.blobs.path_of(&etag)).unwrap();
    let err = error_of(
        app.as_(&alice)
            .post_empty(&paths::session_summary(ID))
            .await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert_eq!(err["message"], "Internal server error");
}
