//! Sessions: the push/pull loop, listing, detail, messages, aliases, delete and restore,
//! uploads, and tenancy.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::{gzip, session_archive, tar_of, Member};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

#[tokio::test]
async fn the_push_pull_loop() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let first = session_archive(ID, "Fix login bug", "authentication", 6);

    // Push a new session.
    let res = app
        .push_with(&alice, ID, first.clone(), |b| {
            b.header("X-Client-Version", "0.26.0")
                .header("X-Client-Platform", "Linux")
                .header("X-Client-Device", "laptop")
        })
        .await;
    let pushed = json_of(res, StatusCode::CREATED).await;
    let etag = pushed["etag"].as_str().unwrap().to_string();
    assert_eq!(etag.len(), 64);
    assert_eq!(pushed["session_id"], ID);
    assert_eq!(pushed["blob_size_bytes"], first.len());
    assert!(pushed["synced_at"].as_str().unwrap().ends_with('Z'));
    let me = json_of(app.as_(&alice).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["last_client_version"], "0.26.0");
    assert_eq!(me["last_client_device"], "laptop");

    // List and detail.
    let list = json_of(app.as_(&alice).get(paths::SESSIONS).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["has_more"], false);
    let item = &list["sessions"][0];
    assert_eq!(item["title"], "Fix login bug");
    assert_eq!(item["source_tool"], "claude-code");
    assert_eq!(item["etag"], etag.as_str());
    assert_eq!(item["tags"], json!(["generated"]));
    let detail = json_of(
        app.as_(&alice).get(&paths::session(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["model_provider"], "anthropic");
    assert_eq!(detail["message_count"], 6);
    assert!(detail["uploaded_at"].is_string());

    // Messages.
    let msgs = json_of(
        app.as_(&alice)
            .get(&paths::query(
                &paths::session_messages(ID),
                "page=2&page_size=4",
            ))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(msgs["total"], 6);
    assert_eq!(msgs["message_indexes"], json!([4, 5]));
    assert_eq!(msgs["has_more"], false);
    assert_eq!(
        msgs["messages"][0]["content"][0]["text"],
        "message 4 about authentication"
    );

    // Pull, then a conditional pull.
    let res = app.as_(&alice).pull(ID, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], format!("\"{etag}\"").as_str());
    assert_eq!(res.headers()["content-type"], "application/gzip");
    assert_eq!(res.bytes().await.unwrap().to_vec(), first);
    let res = app.as_(&alice).pull(ID, Some(&etag)).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(res.headers().get("etag").is_none());

    // A stale push is refused with the current etag; a push on top of it succeeds.
    let second = session_archive(ID, "Fix login bug", "authentication and sessions", 8);
    let res = app
        .as_(&alice)
        .push(ID, second.clone(), Some(&"0".repeat(64)))
        .await;
    let err = error_of(res, StatusCode::CONFLICT).await;
    assert_eq!(err["code"], "etag_mismatch");
    assert_eq!(err["details"]["current_etag"], etag.as_str());
    let res = app.as_(&alice).push(ID, second.clone(), Some(&etag)).await;
    let updated = json_of(res, StatusCode::OK).await;
    let etag2 = updated["etag"].as_str().unwrap().to_string();
    assert_ne!(etag2, etag);
    assert_eq!(
        app.as_(&alice).pull(ID, Some(&etag)).await.status(),
        StatusCode::OK
    );

    // Delete; a push then gets 410 and changes nothing; restore; pull works again.
    let res = app.as_(&alice).delete(&paths::session_cloud(ID)).await;
    let deleted = json_of(res, StatusCode::OK).await;
    assert_eq!(deleted["is_deleted"], true);
    assert_eq!(deleted["delete_scope"], "cloud");
    assert!(deleted["purge_after"].is_string());
    let res = app.as_(&alice).push(ID, first.clone(), None).await;
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Session is deleted. Send X-SessionFS-Undelete: true to restore."
    );
    assert_eq!(
        app.as_(&alice).pull(ID, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .as_(&alice)
        .post_empty(&paths::session_restore(ID))
        .await;
    let restored = json_of(res, StatusCode::OK).await;
    assert_eq!(restored["is_deleted"], false);
    assert_eq!(restored["restored_from_scope"], "cloud");
    assert_eq!(restored["local_copy_may_be_missing"], false);
    let res = app.as_(&alice).pull(ID, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().to_vec(), second);
    let res = app
        .as_(&alice)
        .post_empty(&paths::session_restore(ID))
        .await;
    assert_eq!(
        error_of(res, StatusCode::CONFLICT).await["message"],
        "Session is not deleted"
    );
}

#[tokio::test]
async fn undelete_by_push_and_delete_scopes() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = app.as_(&alice).push_new(ID, "Parser work").await;
    let res = app.as_(&alice).delete(&paths::session(ID)).await;
    assert!(res.headers().get("x-deprecation-warning").is_some());
    json_of(res, StatusCode::OK).await;
    let res = app
        .as_(&alice)
        .delete(&paths::query(&paths::session(ID), "scope=everywhere"))
        .await;
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Session already deleted"
    );

    let trash = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "deleted=true&page_size=100"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(trash["total"], 1);
    assert_eq!(trash["sessions"][0]["delete_scope"], "cloud");
    let live = json_of(app.as_(&alice).get(paths::SESSIONS).await, StatusCode::OK).await;
    assert_eq!(live["total"], 0);

    let again = session_archive(ID, "Parser work", "parsers again", 4);
    let res = app
        .push_with(&alice, ID, again.clone(), |b| {
            b.header("X-SessionFS-Undelete", "TRUE")
                .header("If-Match", format!("\"{etag}\""))
        })
        .await;
    json_of(res, StatusCode::OK).await;
    let detail = json_of(
        app.as_(&alice).get(&paths::session(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["is_deleted"], false);

    let res = app
        .as_(&alice)
        .delete(&paths::query(&paths::session(ID), "scope=everywhere"))
        .await;
    assert_eq!(json_of(res, StatusCode::OK).await["delete_scope"], "both");
    let res = app
        .as_(&alice)
        .post_empty(&paths::session_restore(ID))
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await["local_copy_may_be_missing"],
        true
    );
    let res = app
        .as_(&alice)
        .delete(&paths::query(&paths::session(ID), "scope=local"))
        .await;
    error_of(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .as_(&alice)
        .post_empty(&paths::session_restore("ses_ffffffffffffffff"))
        .await;
    error_of(res, StatusCode::GONE).await;
}

#[tokio::test]
async fn another_user_sees_nothing() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Alice's work").await;
    let res = app
        .as_(&alice)
        .put(&paths::session_alias(ID), json!({"alias": "secret-work"}))
        .await;
    json_of(res, StatusCode::OK).await;

    for target in [ID, "secret-work"] {
        let checks = [
            (Method::GET, paths::session(target), None),
            (Method::GET, paths::session_sync(target), None),
            (Method::GET, paths::session_messages(target), None),
            (
                Method::DELETE,
                paths::query(&paths::session(target), "scope=cloud"),
                None,
            ),
            (
                Method::PUT,
                paths::session_alias(target),
                Some(json!({"alias": "mine"})),
            ),
            (Method::DELETE, paths::session_alias(target), None),
            (
                Method::PATCH,
                paths::session(target),
                Some(json!({"title": "hijacked"})),
            ),
        ];
        for (method, path, body) in checks {
            let res = app.as_(&bob).call(method.clone(), &path, body).await;
            let err = error_of(res, StatusCode::NOT_FOUND).await;
            assert_eq!(err["message"], "Session not found", "{method} {path}");
        }
        let res = app
            .as_(&bob)
            .post_empty(&paths::session_restore(target))
            .await;
        error_of(res, StatusCode::GONE).await;
    }
    // Bob cannot take over the id by pushing to it.
    let res = app
        .as_(&bob)
        .push(ID, session_archive(ID, "Bob", "x", 2), None)
        .await;
    assert_eq!(
        error_of(res, StatusCode::CONFLICT).await["message"],
        "Session ID already claimed by another user"
    );
    let list = json_of(app.as_(&bob).get(paths::SESSIONS).await, StatusCode::OK).await;
    assert_eq!(list["total"], 0);
    // Alice's session is untouched.
    let detail = json_of(
        app.as_(&alice).get(&paths::session(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["title"], "Alice's work");
    assert_eq!(detail["alias"], "secret-work");
}

#[tokio::test]
async fn list_pages_and_filters() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    for i in 0..5 {
        app.as_(&alice)
            .push_new(&format!("ses_list000000000{i}"), &format!("Session {i}"))
            .await;
    }
    let gemini = gzip(&tar_of(&[Member::file(
        "manifest.json",
        br#"{"source":{"tool":"gemini-cli"},"tags":["infra"],"model":{"model_id":"gemini-2"}}"#,
    )]));
    assert_eq!(
        app.as_(&alice)
            .push("ses_gemini0000000001", gemini, None)
            .await
            .status(),
        StatusCode::CREATED
    );

    let page = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "page=1&page_size=2"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["sessions"][0]["id"], "ses_gemini0000000001");
    let last = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "page=3&page_size=2"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(last["has_more"], false);
    let asc = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "order=asc&page_size=1"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(asc["sessions"][0]["id"], "ses_list0000000000");

    for (query, total) in [
        ("source_tool=gemini", 1),
        ("source_tool=gemini-cli", 1),
        ("source_tool=claude-code", 5),
        ("tag=infra", 1),
        ("tag=generated", 5),
        ("model=gemini-2", 1),
        ("model=unknown", 0),
        ("page_size=100", 6),
    ] {
        let body = json_of(
            app.as_(&alice)
                .get(&paths::query(paths::SESSIONS, query))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["total"], total, "{query}");
    }
    let sorted = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "sort=model&order=asc"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sorted["sessions"][0]["model_id"], "claude-sonnet-4-6");
    for bad in [
        "page_size=101",
        "page=0",
        "page_size=x",
        "deleted=maybe",
        "sort=title",
    ] {
        let res = app
            .as_(&alice)
            .get(&paths::query(paths::SESSIONS, bad))
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

/// The unfiltered totals are kept by the database (not counted per request): they follow
/// pushes, re-pushes, the trash, restores and undeletes, per user, and agree with a count.
#[tokio::test]
async fn list_totals_follow_every_change() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let totals = |user| {
        let app = &app;
        async move {
            let mut out = Vec::new();
            for query in ["page_size=1", "deleted=true&page_size=1", "tag=generated"] {
                let body = json_of(
                    app.as_(user)
                        .get(&paths::query(paths::SESSIONS, query))
                        .await,
                    StatusCode::OK,
                )
                .await;
                out.push(body["total"].as_i64().unwrap());
            }
            out
        }
    };
    let ids: Vec<String> = (0..4).map(|i| format!("ses_totals00000000{i}")).collect();
    for id in &ids {
        app.as_(&alice).push_new(id, "Totals").await;
    }
    app.as_(&bob)
        .push_new("ses_totalsbob0000001", "Bob's")
        .await;
    assert_eq!(totals(&alice).await, [4, 0, 4]);
    // A re-push replaces the archive: no new session.
    let res = app
        .as_(&alice)
        .push(&ids[0], session_archive(&ids[0], "Again", "again", 4), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(totals(&alice).await, [4, 0, 4]);
    for id in &ids[..2] {
        json_of(
            app.as_(&alice).delete(&paths::session(id)).await,
            StatusCode::OK,
        )
        .await;
    }
    assert_eq!(totals(&alice).await, [2, 2, 2]);
    json_of(
        app.as_(&alice)
            .post_empty(&paths::session_restore(&ids[0]))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(totals(&alice).await, [3, 1, 3]);
    // Pushing to a trashed session with the undelete header brings it back.
    let res = app
        .push_with(
            &alice,
            &ids[1],
            session_archive(&ids[1], "Back", "back", 4),
            |b| b.header("X-SessionFS-Undelete", "true"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(totals(&alice).await, [4, 0, 4]);
    assert_eq!(totals(&bob).await, [1, 0, 1]);
    // The last page holds the rest, in order.
    let page = json_of(
        app.as_(&alice)
            .get(&paths::query(paths::SESSIONS, "page=2&page_size=3"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn aliases_and_renames() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice).push_new(ID, "First").await;
    app.as_(&alice)
        .push_new("ses_second0000000000", "Second")
        .await;
    let set = |id: &str, alias: &str| {
        app.request(Method::PUT, &paths::session_alias(id), Some(&alice.key))
            .json(&json!({ "alias": alias }))
            .send()
    };
    assert_eq!(
        json_of(set(ID, "login-fix").await.unwrap(), StatusCode::OK).await["alias"],
        "login-fix"
    );
    let err = error_of(
        set("ses_second0000000000", "login-fix").await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Alias 'login-fix' is already in use");
    let err = error_of(
        set(ID, "a b").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", "alias"]));
    error_of(
        set(ID, "ab").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let by_alias = json_of(
        app.as_(&alice).get(&paths::session("login-fix")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_alias["id"], ID);
    assert_eq!(
        app.as_(&alice).pull("login-fix", None).await.status(),
        StatusCode::OK
    );
    let err = error_of(
        app.as_(&alice).get(&paths::session("x!")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["message"], "Invalid session ID or alias format");

    let res = app
        .as_(&alice)
        .patch(
            &paths::session(ID),
            json!({"title": "New <b>name</b>", "tags": ["a"]}),
        )
        .await;
    let patched = json_of(res, StatusCode::OK).await;
    assert_eq!(patched["title"], "New name");
    assert_eq!(patched["tags"], json!(["a"]));
    let res = app.as_(&alice).patch(&paths::session(ID), json!({})).await;
    error_of(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .as_(&alice)
        .patch(&paths::session(ID), json!({"title": "<i></i>"}))
        .await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let res = app.as_(&alice).delete(&paths::session_alias(ID)).await;
    assert_eq!(json_of(res, StatusCode::OK).await["alias"], Value::Null);
    error_of(
        app.as_(&alice).get(&paths::session("login-fix")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn upload_assigns_a_new_id() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let form = || {
        let part = reqwest::multipart::Part::bytes(session_archive(ID, "Uploaded", "x", 2))
            .file_name("s.tar.gz");
        reqwest::multipart::Form::new().part("file", part)
    };
    let res = app
        .request(
            Method::POST,
            &paths::query(
                paths::SESSIONS,
                "source_tool=codex&title=Uploaded%20%3Cb%3Evia%3C%2Fb%3E%20POST&tags=%5B%22x%22%5D",
            ),
            Some(&alice.key),
        )
        .multipart(form())
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::CREATED).await;
    let id = body["session_id"].as_str().unwrap();
    assert!(id.starts_with("ses_") && id.len() == 20 && id != ID);
    let detail = json_of(
        app.as_(&alice).get(&paths::session(id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["title"], "Uploaded via POST");
    assert_eq!(detail["source_tool"], "codex");
    assert_eq!(detail["tags"], json!(["x"]));

    let res = app
        .request(Method::POST, paths::SESSIONS, Some(&alice.key))
        .multipart(form())
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        err["details"]["errors"][0]["loc"],
        json!(["query", "source_tool"])
    );
    let res = app
        .request(
            Method::POST,
            &paths::query(paths::SESSIONS, "source_tool=Bad%20Tool"),
            Some(&alice.key),
        )
        .multipart(form())
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .as_(&alice)
        .post_empty(&paths::query(paths::SESSIONS, "source_tool=codex"))
        .await;
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", "file"]));
}

#[tokio::test]
async fn messages_paging_options() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let lines = [
        r#"{"role":"user","content":"first"}"#,
        r#"{"role":"assistant","content":"side","is_sidechain":true}"#,
        r#"{"role":"assistant","content":"second"}"#,
    ]
    .join("\n");
    let archive = gzip(&tar_of(&[Member::file("messages.jsonl", lines.as_bytes())]));
    assert_eq!(
        app.as_(&alice).push(ID, archive, None).await.status(),
        StatusCode::CREATED
    );
    let path = paths::session_messages(ID);
    let newest = json_of(
        app.as_(&alice)
            .get(&format!("{path}?order=newest&page_size=1"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(newest["messages"][0]["content"], "second");
    assert_eq!(newest["total"], 2);
    let around = json_of(
        app.as_(&alice)
            .get(&format!("{path}?around=1&page_size=1"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        around["target"],
        json!({"index": 1, "status": "hidden", "anchor_index": 0})
    );
    assert_eq!(around["message_indexes"], json!([0]));
    error_of(
        app.as_(&alice).get(&format!("{path}?page_size=101")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn free_tier_cannot_push_but_can_list() {
    let app =
        TestApp::spawn_with(|c| c.default_tier = sessionfs_server::domain::tiers::Tier::Free).await;
    let alice = app.signup("alice@example.com").await;
    let res = app
        .as_(&alice)
        .push(ID, session_archive(ID, "t", "x", 2), None)
        .await;
    let err = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(err["details"]["error"], "upgrade_required");
    assert_eq!(err["details"]["feature"], "cloud_sync");
    assert_eq!(err["details"]["current_tier"], "free");
    let res = app
        .as_(&alice)
        .put(&paths::session_alias(ID), json!({"alias": "abc"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["feature"],
        "aliases_cloud"
    );
    assert_eq!(
        app.as_(&alice).get(paths::SESSIONS).await.status(),
        StatusCode::OK
    );
}
