//! Push edge cases: hostile archives, size caps, malformed requests, dedup and concurrency.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::{gzip, session_archive, tar_of, Member};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

#[tokio::test]
async fn hostile_archives_are_refused_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let good = session_archive(ID, "t", "x", 3);
    let zeros = vec![0u8; 20 * 1024 * 1024];
    let many: Vec<Member> = (0..10_001)
        .map(|i| Member::file(&format!("f{i}"), b""))
        .collect();
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "absolute path",
            gzip(&tar_of(&[Member::file("/etc/passwd", b"x")])),
            StatusCode::BAD_REQUEST,
            "Absolute path in tar member: /etc/passwd",
        ),
        (
            "traversal",
            gzip(&tar_of(&[Member::file("../evil.txt", b"x")])),
            StatusCode::BAD_REQUEST,
            "Path traversal in tar member: ../evil.txt",
        ),
        (
            "symlink",
            gzip(&tar_of(&[Member::symlink("link", "/etc/passwd")])),
            StatusCode::BAD_REQUEST,
            "Symlink in tar archive: link",
        ),
        (
            "hardlink",
            gzip(&tar_of(&[Member::hardlink("hard", "manifest.json")])),
            StatusCode::BAD_REQUEST,
            "Symlink in tar archive: hard",
        ),
        (
            "device",
            gzip(&tar_of(&[Member::device("dev")])),
            StatusCode::BAD_REQUEST,
            "Unsupported tar member type",
        ),
        (
            "not gzip",
            b"just some text".to_vec(),
            StatusCode::BAD_REQUEST,
            "Invalid tar.gz archive: not a gzip file",
        ),
        (
            "truncated",
            good[..good.len() - 30].to_vec(),
            StatusCode::BAD_REQUEST,
            "Invalid tar.gz archive",
        ),
        (
            "oversize member",
            gzip(&tar_of(&[Member::file(
                "messages.jsonl",
                &zeros[..11 * 1024 * 1024],
            )])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Session file 'messages.jsonl'",
        ),
        (
            "gzip bomb",
            gzip(&tar_of(&[
                Member::file("a", &zeros[..9 * 1024 * 1024]),
                Member::file("b", &zeros[..9 * 1024 * 1024]),
            ])),
            StatusCode::BAD_REQUEST,
            "Invalid tar.gz archive: archive expands beyond",
        ),
        (
            "too many members",
            gzip(&tar_of(&many)),
            StatusCode::BAD_REQUEST,
            "Too many members in archive",
        ),
    ];
    let app_small = TestApp::spawn_with(|c| {
        c.max_member_bytes = 10 * 1024 * 1024;
        c.max_sync_bytes = 2 * 1024 * 1024;
    })
    .await;
    let small_user = app_small.signup("alice@example.com").await;
    for (what, bytes, status, message) in cases {
        // The second server's caps are small: its archives may expand to 16 MiB (8 x 2 MiB).
        let (target, user) = if what == "gzip bomb" || what == "oversize member" {
            (&app_small, &small_user)
        } else {
            (&app, &alice)
        };
        let res = target.push(user, ID, bytes, None).await;
        let err = error_of(res, status).await;
        assert!(
            err["message"].as_str().unwrap().starts_with(message),
            "{what}: {err}"
        );
        assert!(
            target.stored_files().is_empty(),
            "{what} left files: {:?}",
            target.stored_files()
        );
        let list = json_of(
            target.get(user, paths::SESSIONS).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(list["total"], 0, "{what} created a session");
    }
}

#[tokio::test]
async fn size_caps() {
    let app = TestApp::spawn_with(|c| {
        c.max_sync_bytes = 6000;
        c.max_member_bytes = 2000;
    })
    .await;
    let alice = app.signup("alice@example.com").await;
    // A member over the per-file cap.
    let member = gzip(&tar_of(&[Member::file("messages.jsonl", &[b'x'; 6000])]));
    let err = error_of(
        app.as_(&alice).push(ID, member, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(err["details"]["error"], "session_too_large");
    assert_eq!(err["details"]["file"], "messages.jsonl");
    assert_eq!(err["details"]["size_bytes"], 6000);
    assert_eq!(err["details"]["limit_bytes"], 2000);
    // An archive over the whole-archive cap (incompressible bytes).
    let noise: Vec<u8> = (0..8_000).map(|_| rand::random::<u8>()).collect();
    let big = gzip(&tar_of(&[
        Member::file("blob.bin", &noise[..1900]),
        Member::file("b2", &noise[2000..3900]),
        Member::file("b3", &noise[4000..5900]),
        Member::file("b4", &noise[6000..7900]),
    ]));
    assert!(big.len() > 6000);
    let err = error_of(
        app.as_(&alice).push(ID, big, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(err["code"], "PAYLOAD_TOO_LARGE");
    assert!(app.stored_files().is_empty());
}

#[tokio::test]
async fn malformed_push_requests() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let err = error_of(
        app.as_(&alice)
            .push("not-a-session", session_archive(ID, "t", "x", 2), None)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["message"], "Invalid session ID format");

    let raw = app
        .request(Method::PUT, &paths::session_sync(ID), Some(&alice.key))
        .header("Content-Type", "application/gzip")
        .body(session_archive(ID, "t", "x", 2))
        .send()
        .await
        .unwrap();
    let err = error_of(raw, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", "file"]));

    let wrong_field = reqwest::multipart::Form::new()
        .part("upload", reqwest::multipart::Part::bytes(vec![1, 2, 3]));
    let res = app
        .request(Method::PUT, &paths::session_sync(ID), Some(&alice.key))
        .multipart(wrong_field)
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let broken = app
        .request(Method::PUT, &paths::session_sync(ID), Some(&alice.key))
        .header("Content-Type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
        .send()
        .await
        .unwrap();
    error_of(broken, StatusCode::BAD_REQUEST).await;
    assert!(app.stored_files().is_empty());
}

#[tokio::test]
async fn archive_without_manifest_gets_defaults() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let bare = gzip(&tar_of(&[Member::file("notes.txt", b"hello")]));
    json_of(
        app.as_(&alice).push(ID, bare, None).await,
        StatusCode::CREATED,
    )
    .await;
    let detail = json_of(
        app.as_(&alice).get(&paths::session(ID)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["title"], Value::Null);
    assert_eq!(detail["source_tool"], "unknown");
    assert_eq!(detail["message_count"], 0);
}

#[tokio::test]
async fn identical_bytes_are_stored_once() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let bytes = session_archive(ID, "Same", "x", 2);
    let a = json_of(
        app.as_(&alice).push(ID, bytes.clone(), None).await,
        StatusCode::CREATED,
    )
    .await;
    let b = json_of(
        app.as_(&bob)
            .push("ses_bobsession000001", bytes.clone(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(a["etag"], b["etag"]);
    let again = json_of(
        app.as_(&alice).push(ID, bytes, a["etag"].as_str()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["etag"], a["etag"]);
    assert_eq!(app.stored_files().len(), 1);
}

#[tokio::test]
async fn concurrent_pushes_all_land() {
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(app.signup(&format!("u{i}@example.com")).await);
    }
    let mut jobs = Vec::new();
    for (n, user) in users.iter().enumerate() {
        for s in 0..3 {
            jobs.push((user, format!("ses_conc{n}{s}0000000000")));
        }
    }
    let tasks = jobs.iter().map(|(user, id)| {
        app.as_(user)
            .push(id, session_archive(id, id, "concurrency", 4), None)
    });
    for res in futures_util::future::join_all(tasks).await {
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    for user in &users {
        let list = json_of(app.as_(user).get(paths::SESSIONS).await, StatusCode::OK).await;
        assert_eq!(list["total"], 3);
    }
}

#[tokio::test]
async fn racing_conditional_pushes_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = app.as_(&alice).push_new(ID, "Base").await;
    let a = app
        .as_(&alice)
        .push(ID, session_archive(ID, "A", "first writer", 4), Some(&etag));
    let b = app.as_(&alice).push(
        ID,
        session_archive(ID, "B", "second writer", 4),
        Some(&etag),
    );
    let (a, b) = tokio::join!(a, b);
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn errors_use_the_envelope() {
    let app = TestApp::spawn().await;
    let err = error_of(
        app.client
            // A path that is no route: the literal is the data under test.
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        err,
        json!({"code": "404", "message": "Not Found", "details": {}})
    );
    let err = error_of(
        app.client
            .patch(app.url(paths::HEALTH))
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    assert_eq!(err["message"], "Method Not Allowed");
    let res = app
        .client
        .post(app.url(paths::SIGNUP))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["details"]["errors"][0]["type"], "json_invalid");
    let health = json_of(
        app.client.get(app.url("/health")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["status"], "healthy");
    let health = json_of(
        app.client.get(app.url(paths::HEALTH)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["service"], "sessionfs-api");
}
