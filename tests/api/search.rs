//! Search: BM25 ranking on a generated corpus, snippets, filters, tenancy, and an index that
//! follows deletes, restores and renames.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::{gzip, session_archive, tar_of, Member};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

/// Searches until `expect(results)` holds or 5 s pass; returns the last answer.
async fn search_until(
    app: &TestApp,
    user: &User,
    query: &str,
    expect: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = app
            .get(user, &paths::query(paths::SESSIONS_SEARCH, query))
            .send()
            .await
            .unwrap();
        let body = json_of(res, StatusCode::OK).await;
        if expect(&body) || Instant::now() > deadline {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].as_str().unwrap().to_string())
        .collect()
}

fn session_with(title: &str, tool: &str, lines: &[&str]) -> Vec<u8> {
    let manifest = json!({"title": title, "source": {"tool": tool}, "tags": ["corpus"]});
    let messages: Vec<String> = lines.iter().enumerate().map(|(i, text)| {
        json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": [{"type": "text", "text": text}]}).to_string()
    }).collect();
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", messages.join("\n").as_bytes()),
    ]))
}

#[tokio::test]
async fn ranking_snippets_filters_and_tenancy() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let topics = [
        "database migrations",
        "css grid layout",
        "kubernetes probes",
        "rust lifetimes",
        "python packaging",
    ];
    for i in 0..25 {
        let id = format!("ses_corpus{i:010}");
        let topic = topics[i % topics.len()];
        let archive = session_with(
            &format!("Work on {topic}"),
            "claude-code",
            &[
                &format!("let us look at {topic}"),
                &format!("done with {topic} step {i}"),
            ],
        );
        assert_eq!(
            app.as_(&alice).push(&id, archive, None).await.status(),
            StatusCode::CREATED
        );
    }
    let titled = session_with(
        "Tokenizer crash in the parser",
        "codex",
        &["the build fails", "found it"],
    );
    let mentioned = session_with(
        "Weekly notes",
        "claude-code",
        &[
            "we saw a tokenizer crash once, unrelated",
            "moving on to other things",
            "and more things",
        ],
    );
    app.as_(&alice)
        .push("ses_titled0000000001", titled, None)
        .await;
    app.as_(&alice)
        .push("ses_mention000000001", mentioned, None)
        .await;
    app.as_(&bob)
        .push(
            "ses_bobtokenizer0001",
            session_with(
                "Tokenizer crash for bob",
                "codex",
                &["bob's tokenizer crash"],
            ),
            None,
        )
        .await;

    let body = search_until(&app, &alice, "q=tokenizer%20crash", |b| b["total"] == 2).await;
    assert_eq!(
        ids(&body),
        vec!["ses_titled0000000001", "ses_mention000000001"],
        "title matches rank first: {body}"
    );
    assert_eq!(body["query"], "tokenizer crash");
    assert_eq!(body["page_size"], 20);
    let snippet = body["results"][1]["matches"][0]["snippet"]
        .as_str()
        .unwrap();
    assert!(snippet.contains("<mark>"), "{snippet}");
    let first = &body["results"][0];
    assert_eq!(first["title"], "Tokenizer crash in the parser");
    assert_eq!(first["source_tool"], "codex");

    // Filters and paging.
    let codex = search_until(&app, &alice, "q=tokenizer&tool=codex", |_| true).await;
    assert_eq!(ids(&codex), vec!["ses_titled0000000001"]);
    let recent = search_until(&app, &alice, "q=tokenizer&days=1", |_| true).await;
    assert_eq!(recent["total"], 2);
    let paged = search_until(&app, &alice, "q=work&page=2&page_size=10", |_| true).await;
    assert_eq!(paged["total"], 25);
    assert_eq!(paged["results"].as_array().unwrap().len(), 10);
    // Odd syntax is just words.
    search_until(&app, &alice, "q=%22tokenizer%20AND%20(crash%20-", |_| true).await;

    // Bob only sees Bob's.
    let bobs = search_until(&app, &bob, "q=tokenizer", |b| b["total"] == 1).await;
    assert_eq!(ids(&bobs), vec!["ses_bobtokenizer0001"]);

    for bad in [
        "",
        "q=",
        &format!("q={}", "x".repeat(501)),
        "q=a&page_size=51",
        "q=a&days=0",
    ] {
        let res = app
            .as_(&alice)
            .get(&paths::query(paths::SESSIONS_SEARCH, bad))
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

#[tokio::test]
async fn the_index_follows_deletes_restores_and_renames() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let id = "ses_0123456789abcdef";
    app.as_(&alice)
        .push(
            id,
            session_archive(id, "Flaky retries", "exponential backoff", 4),
            None,
        )
        .await;
    let found = search_until(&app, &alice, "q=backoff", |b| b["total"] == 1).await;
    assert_eq!(ids(&found), vec![id]);

    app.as_(&alice).delete(&paths::session_cloud(id)).await;
    let gone = search_until(&app, &alice, "q=backoff", |b| b["total"] == 0).await;
    assert_eq!(gone["results"], json!([]));
    app.as_(&alice)
        .post_empty(&paths::session_restore(id))
        .await;
    let back = search_until(&app, &alice, "q=backoff", |b| b["total"] == 1).await;
    assert_eq!(ids(&back), vec![id]);

    app.as_(&alice)
        .put(&paths::session_alias(id), json!({"alias": "zebra-fix"}))
        .await;
    let by_alias = search_until(&app, &alice, "q=zebra", |b| b["total"] == 1).await;
    assert_eq!(by_alias["results"][0]["alias"], "zebra-fix");

    let free =
        TestApp::spawn_with(|c| c.default_tier = sessionfs_server::domain::tiers::Tier::Free).await;
    let carol = free.signup("carol@example.com").await;
    let res = free
        .get(&carol, &paths::query(paths::SESSIONS_SEARCH, "q=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "upgrade_required"
    );
}
