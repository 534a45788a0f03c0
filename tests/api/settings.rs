//! `/settings/*`: judge settings and their save-time check, model discovery, triggers,
//! GitHub (inert), GitLab. Every outbound call goes to a fake provider on loopback: the
//! server runs with the private-hosts flags, the loopback-only tripwire, and every registry
//! provider pointed at the fake.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::fake_llm::{FakeLlm, Mode};
use crate::common::{error_of, json_of, paths, TestApp};

const KEY: &str = "sk-judge-secret-0123456789";

/// An app whose outbound calls can reach only loopback, with every provider on `fake`.
pub async fn app_with(fake: &FakeLlm, private: bool) -> TestApp {
    let root = fake.root.clone();
    TestApp::spawn_with(move |c| {
        c.outbound.llm_allow_private_hosts = private;
        c.outbound.gitlab_allow_private_hosts = private;
        c.outbound.loopback_only = true;
        c.outbound.registry_override = Some(root);
        c.outbound.completion_timeout = Duration::from_secs(2);
        c.outbound.probe_timeout = Duration::from_secs(1);
    })
    .await
}

fn assert_no_key(text: &str) {
    assert!(!text.contains(KEY), "the key leaked: {text}");
}

#[tokio::test]
async fn judge_settings_save_check_keep_and_clear_the_key() {
    let fake = FakeLlm::start("ok").await;
    let app = app_with(&fake, true).await;
    let [alice, bob] = app.users(["alice", "bob"]).await;

    let empty = json_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        empty,
        json!({"provider": "", "model": "", "key_set": false, "base_url": null})
    );

    let body = json!({"provider": "custom", "model": "llama3", "api_key": KEY,
                      "base_url": format!("{}/", fake.base_url())});
    let res = app.as_(&alice).put(paths::SETTINGS_JUDGE, body).await;
    let text = res.text().await.unwrap();
    assert_no_key(&text);
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["key_set"], true, "{saved}");
    assert_eq!(
        saved["base_url"],
        fake.base_url(),
        "trailing slash stripped"
    );
    assert_eq!(saved["warnings"], json!([]));
    // The save-time check: one streamed chat request with the key as bearer.
    let chats = fake.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(
        chats[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(chats[0].body["stream"], true);
    assert_eq!(chats[0].body["max_completion_tokens"], 16);

    // Without api_key (and the same URL) the stored key stays and nothing is checked.
    let res = app
        .as_(&alice)
        .put(
            paths::SETTINGS_JUDGE,
            json!({"provider": "custom", "model": "qwen", "base_url": fake.base_url()}),
        )
        .await;
    let kept = json_of(res, StatusCode::OK).await;
    assert_eq!(kept["key_set"], true);
    assert_eq!(fake.chats().len(), 1);
    let shown = app
        .as_(&alice)
        .get(paths::SETTINGS_JUDGE)
        .await
        .text()
        .await
        .unwrap();
    assert_no_key(&shown);
    assert_eq!(
        serde_json::from_str::<Value>(&shown).unwrap(),
        json!({"provider": "custom", "model": "qwen", "key_set": true, "base_url": fake.base_url()})
    );

    // Per user: Bob sees nothing of Alice's.
    let theirs = json_of(
        app.as_(&bob).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs["key_set"], false);

    let gone = json_of(
        app.as_(&alice).delete(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(gone, json!({"deleted": true}));
    let after = json_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["key_set"], false);
    let again = json_of(
        app.as_(&alice).delete(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["deleted"], true);
}

#[tokio::test]
async fn registry_providers_and_unknown_ones() {
    let fake = FakeLlm::start("ok").await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    let err = error_of(
        app.as_(&alice)
            .put(
                paths::SETTINGS_JUDGE,
                json!({"provider": "nope", "model": "m", "api_key": KEY}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "unknown_provider");
    assert_no_key(&err.to_string());
    // A registry provider without base_url: its endpoint (here the fake) is checked.
    let res = app
        .as_(&alice)
        .put(
            paths::SETTINGS_JUDGE,
            json!({"provider": "anthropic", "model": "claude-sonnet-4", "api_key": KEY}),
        )
        .await;
    let saved = json_of(res, StatusCode::OK).await;
    assert_eq!(saved["key_set"], true);
    assert_eq!(saved["base_url"], Value::Null);
    let chat = fake.chats().pop().unwrap();
    assert_eq!(chat.path, "/v1/messages");
    assert_eq!(chat.x_api_key.as_deref(), Some(KEY));
    let providers = json_of(
        app.as_(&alice).get(paths::LLM_PROVIDERS).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(providers["providers"].as_array().unwrap().len(), 14);
}

#[tokio::test]
async fn the_url_guard_refuses_at_save_time() {
    let fake = FakeLlm::start("ok").await;
    let strict = app_with(&fake, false).await;
    let alice = strict.user("alice").create().await;
    for url in [
        fake.base_url(),                  // loopback without the flag
        "http://10.0.0.1/v1".to_string(), // private (refused by the form check: http)
        "https://[::ffff:127.0.0.1]/v1".into(),
    ] {
        let err = error_of(
            strict
                .as_(&alice)
                .put(
                    paths::SETTINGS_JUDGE,
                    json!({"provider": "custom", "model": "m", "api_key": KEY, "base_url": url}),
                )
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("SFS_LLM_ALLOW_PRIVATE_HOSTS"),
            "{url}: {err}"
        );
        assert_no_key(&err.to_string());
    }
    let open = app_with(&fake, true).await;
    let bob = open.user("bob").create().await;
    for url in [
        "http://169.254.169.254/latest/v1",
        "http://[fd00:ec2::254]/v1",
        "http://0.0.0.0:9/v1",
        "http://user:pw@127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1#frag",
    ] {
        let res = open
            .as_(&bob)
            .put(
                paths::SETTINGS_JUDGE,
                json!({"provider": "custom", "model": "m", "base_url": url}),
            )
            .await;
        error_of(res, StatusCode::BAD_REQUEST).await;
    }
    assert!(fake.requests().is_empty(), "no refused URL was called");
}

#[tokio::test]
async fn save_time_check_outcomes() {
    let fake = FakeLlm::start("ok").await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    let put = |base: String| {
        let app = &app;
        let alice = &alice;
        async move {
            app.as_(alice)
                .put(
                    paths::SETTINGS_JUDGE,
                    json!({"provider": "custom", "model": "m", "api_key": KEY, "base_url": base}),
                )
                .await
        }
    };
    fake.set(Mode::Status(
        401,
        format!("{{\"error\":\"bad key {KEY}\"}}"),
    ));
    let err = error_of(put(fake.base_url()).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["code"], "invalid_key");
    assert_no_key(&err.to_string());

    fake.set(Mode::Html);
    let err = error_of(
        put(format!("{}/a", fake.root)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "endpoint_not_api");

    // A redirect elsewhere is not followed: refused as not an API, one request made.
    let before = fake.requests().len();
    fake.set(Mode::Redirect("http://10.0.0.1/v1/chat/completions".into()));
    let err = error_of(
        put(format!("{}/b", fake.root)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "endpoint_not_api");
    assert_eq!(fake.requests().len(), before + 1);

    fake.set(Mode::Status(503, "overloaded".into()));
    let saved = json_of(put(format!("{}/c", fake.root)).await, StatusCode::OK).await;
    assert_eq!(saved["warnings"][0]["code"], "endpoint_error", "{saved}");

    fake.set(Mode::Slow(Duration::from_secs(3)));
    let saved = json_of(put(format!("{}/d", fake.root)).await, StatusCode::OK).await;
    assert_eq!(
        saved["warnings"][0]["code"], "connection_timeout",
        "{saved}"
    );

    // Past 10 checks a minute, the save goes through unchecked.
    fake.set(Mode::Answer("ok".into()));
    let mut last = Value::Null;
    for _ in 0..8 {
        last = json_of(put(fake.base_url()).await, StatusCode::OK).await;
    }
    assert_eq!(
        last["warnings"][0]["code"], "connection_not_checked",
        "{last}"
    );
}

#[tokio::test]
async fn model_discovery() {
    let fake = FakeLlm::start("ok").await;
    let app = app_with(&fake, true).await;
    let alice = app.user("alice").create().await;
    let list = json_of(
        app.as_(&alice)
            .get(&paths::judge_models(&fake.base_url()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        list["models"],
        json!([{"id": "llama3", "owned_by": "local"}, {"id": "qwen2.5-coder", "owned_by": "local"}])
    );
    assert_eq!(list["base_url"], fake.base_url());
    assert_eq!(fake.requests().last().unwrap().path, "/v1/models");
    assert_eq!(
        fake.requests().last().unwrap().authorization,
        None,
        "no saved key for this URL"
    );

    // The saved key goes only to the saved base URL.
    app.as_(&alice)
        .put(paths::SETTINGS_JUDGE, json!({"provider": "custom", "model": "m", "api_key": KEY, "base_url": fake.base_url()}))
        .await;
    app.as_(&alice)
        .get(&paths::judge_models(&fake.base_url()))
        .await;
    assert_eq!(
        fake.requests().last().unwrap().authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    app.as_(&alice).get(&paths::judge_models(&fake.root)).await;
    let last = fake.requests().last().unwrap().clone();
    assert_eq!(
        (last.path.as_str(), last.authorization),
        ("/v1/models", None)
    );

    let err = error_of(
        app.as_(&alice)
            .get(&format!(
                "{}&api_key=x",
                paths::judge_models(&fake.base_url())
            ))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("POST"));
    let err = error_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE_MODELS).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["message"], "base_url is required");
    error_of(
        app.as_(&alice)
            .get(&paths::judge_models("http://169.254.169.254/v1"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    fake.set(Mode::Status(503, "down".into()));
    let failed = json_of(
        app.as_(&alice)
            .get(&paths::judge_models(&fake.base_url()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        failed,
        json!({"models": [], "base_url": null, "error": "Endpoint returned 503"})
    );
    fake.set(Mode::Oversized(3 * 1024 * 1024));
    let failed = json_of(
        app.as_(&alice)
            .get(&paths::judge_models(&fake.base_url()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(failed["error"], "Could not list models from this endpoint");

    // POST with a registry provider: its models endpoint with the body's key.
    fake.set(Mode::Answer("ok".into()));
    let res = app
        .as_(&alice)
        .post(
            paths::SETTINGS_JUDGE_MODELS,
            json!({"provider": "openai", "api_key": "sk-other"}),
        )
        .await;
    let listed = json_of(res, StatusCode::OK).await;
    assert_eq!(listed["provider"], "openai");
    assert_eq!(listed["models"][0]["id"], "llama3");
    assert_eq!(
        fake.requests().last().unwrap().authorization.as_deref(),
        Some("Bearer sk-other")
    );
    let err = error_of(
        app.as_(&alice)
            .post(paths::SETTINGS_JUDGE_MODELS, json!({"provider": "nope"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "unknown_provider");
    let suggested = json_of(
        app.as_(&alice)
            .post(paths::SETTINGS_JUDGE_MODELS, json!({"provider": "mistral"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(suggested["error"].is_string() && !suggested["models"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn triggers() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    for path in [
        paths::SETTINGS_AUDIT_TRIGGER,
        paths::SETTINGS_SUMMARIZE_TRIGGER,
    ] {
        assert_eq!(
            json_of(app.as_(&alice).get(path).await, StatusCode::OK).await,
            json!({"trigger": "manual"})
        );
        let set = json_of(
            app.as_(&alice)
                .put(path, json!({"trigger": "on_sync"}))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(set, json!({"trigger": "on_sync"}));
        assert_eq!(
            json_of(app.as_(&alice).get(path).await, StatusCode::OK).await["trigger"],
            "on_sync"
        );
        assert_eq!(
            json_of(app.as_(&bob).get(path).await, StatusCode::OK).await["trigger"],
            "manual"
        );
        let err = error_of(
            app.as_(&alice)
                .put(path, json!({"trigger": "hourly"}))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(
            err["message"],
            "Trigger must be 'manual', 'on_sync', or 'on_pr'"
        );
        error_of(
            app.as_(&alice).put(path, json!({})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    error_of(
        app.call(
            None,
            reqwest::Method::GET,
            paths::SETTINGS_AUDIT_TRIGGER,
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn github_settings_are_inert_without_a_github_app() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let got = json_of(
        app.as_(&alice).get(paths::SETTINGS_GITHUB).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["installation_id"], Value::Null);
    assert_eq!(
        (got["auto_comment"].clone(), got["claim_available"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(got["install_available"], false);
    let put = json_of(
        app.as_(&alice)
            .put(paths::SETTINGS_GITHUB, json!({"auto_comment": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(put, got, "the defaults are echoed, nothing is stored");
    let err = error_of(
        app.as_(&alice)
            .put(paths::SETTINGS_GITHUB, json!({"installation_id": 42}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "github_claim_disabled");
}

#[tokio::test]
async fn gitlab_settings() {
    let fake = FakeLlm::start("ok").await;
    let app = app_with(&fake, true).await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let none = json_of(
        app.as_(&alice).get(paths::SETTINGS_GITLAB).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        none,
        json!({"instance_url": "https://gitlab.com", "has_token": false, "has_webhook_secret": false, "webhook_secret": null})
    );

    let url = format!("{}/", fake.root);
    let res = app
        .as_(&alice)
        .put(
            paths::SETTINGS_GITLAB,
            json!({"instance_url": url, "access_token": KEY}),
        )
        .await;
    let text = res.text().await.unwrap();
    assert_no_key(&text);
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first["instance_url"], fake.root);
    assert_eq!(first["has_token"], true);
    let secret = first["webhook_secret"].as_str().unwrap();
    assert!(
        secret.len() == 32 && secret.chars().all(|c| c.is_ascii_hexdigit()),
        "{secret}"
    );
    let second = json_of(
        app.as_(&alice)
            .put(
                paths::SETTINGS_GITLAB,
                json!({"instance_url": fake.root, "access_token": "glpat-2"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            second["webhook_secret"].clone(),
            second["has_webhook_secret"].clone()
        ),
        (Value::Null, json!(true))
    );
    let shown = json_of(
        app.as_(&alice).get(paths::SETTINGS_GITLAB).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["webhook_secret"], Value::Null);
    assert_eq!(
        json_of(
            app.as_(&bob).get(paths::SETTINGS_GITLAB).await,
            StatusCode::OK
        )
        .await["has_token"],
        false
    );

    for bad in [
        "http://169.254.169.254",
        "https://gitlab.example.com/?x=1",
        "http://u:p@127.0.0.1",
    ] {
        let err = error_of(
            app.as_(&alice)
                .put(
                    paths::SETTINGS_GITLAB,
                    json!({"instance_url": bad, "access_token": "t"}),
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(err["code"], "invalid_gitlab_instance_url", "{bad}");
        assert!(err["message"]
            .as_str()
            .unwrap()
            .starts_with("GitLab instance URL rejected: "));
    }
    error_of(
        app.as_(&alice)
            .put(paths::SETTINGS_GITLAB, json!({"instance_url": fake.root}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let res = app.as_(&alice).delete(paths::SETTINGS_GITLAB).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        json_of(
            app.as_(&alice).get(paths::SETTINGS_GITLAB).await,
            StatusCode::OK
        )
        .await["has_token"],
        false
    );

    let strict = app_with(&fake, false).await;
    let carol = strict.user("carol").create().await;
    let err = error_of(
        strict
            .as_(&carol)
            .put(
                paths::SETTINGS_GITLAB,
                json!({"instance_url": fake.root, "access_token": "t"}),
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["code"], "invalid_gitlab_instance_url");
}
