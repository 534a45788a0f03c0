//! Resumable chunked uploads: initiate, parts, status, complete, abort, expiry — the path the
//! `sfs` client takes for archives over 8 MiB. Tests use a small part size so an archive of a
//! few kilobytes has several parts.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;
use sessionfs_server::domain::uploads;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

const ID: &str = "ses_0123456789abcdef";
const PART: usize = 256;

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.upload_part_size = PART as u64).await
}

/// An archive of several parts.
fn big_archive(title: &str) -> Vec<u8> {
    let archive = session_archive(ID, title, "parsers", 40);
    assert!(
        archive.len() > 2 * PART && archive.len() < 40 * PART,
        "{} bytes",
        archive.len()
    );
    archive
}

fn parts(archive: &[u8]) -> Vec<&[u8]> {
    archive.chunks(PART).collect()
}

async fn initiate(app: &TestApp, user: &User, archive: &[u8], if_match: Option<&str>) -> Value {
    json_of(
        app.initiate_upload(user, ID, archive, if_match).await,
        StatusCode::CREATED,
    )
    .await
}

fn upload_id(init: &Value) -> String {
    init["upload_id"].as_str().unwrap().to_string()
}

/// Sends every part of `archive`, in order, each accepted.
async fn send_all(app: &TestApp, user: &User, id: &str, archive: &[u8]) {
    for (i, piece) in parts(archive).iter().enumerate() {
        json_of(
            app.put_part(user, id, i as u64 + 1, piece).await,
            StatusCode::OK,
        )
        .await;
    }
}

/// `DELETE` of an upload.
async fn abort(app: &TestApp, user: &User, id: &str) -> reqwest::Response {
    app.request(Method::DELETE, &paths::upload(id), Some(&user.key))
        .send()
        .await
        .unwrap()
}

/// `POST …/uploads` with a declaration of the test's choosing.
async fn declare(
    app: &TestApp,
    user: Option<&User>,
    session: &str,
    body: Value,
) -> reqwest::Response {
    app.request(
        Method::POST,
        &paths::session_uploads(session),
        user.map(|u| u.key.as_str()),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn status(app: &TestApp, user: &User, id: &str) -> Value {
    json_of(
        app.get(user, &paths::upload(id)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

/// Part files and temp files left in the archive store (everything but stored archives).
fn leftovers(app: &TestApp) -> Vec<std::path::PathBuf> {
    let archives = app.data_dir.join("archives");
    app.stored_files()
        .into_iter()
        .filter(|p| p.strip_prefix(&archives).unwrap().starts_with("tmp"))
        .collect()
}

#[tokio::test]
async fn a_chunked_push_is_stored_like_a_push_and_pulls_back_byte_for_byte() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let archive = big_archive("chunked");
    let init = initiate(&app, &alice, &archive, None).await;
    let id = upload_id(&init);
    let pieces = parts(&archive);
    assert_eq!(init["part_size"], PART);
    assert_eq!(init["part_count"], pieces.len());
    assert_eq!(init["session_id"], ID);
    assert_eq!(status(&app, &alice, &id).await["received"], json!([]));

    // Out of order, and part 2 twice: a re-sent part is accepted and replaces the first.
    for n in (1..=pieces.len()).rev() {
        let res = app.put_part(&alice, &id, n as u64, pieces[n - 1]).await;
        let body = json_of(res, StatusCode::OK).await;
        assert_eq!(body["part_number"], n);
    }
    json_of(
        app.put_part(&alice, &id, 2, pieces[1]).await,
        StatusCode::OK,
    )
    .await;
    let st = status(&app, &alice, &id).await;
    assert_eq!(st["status"], "pending");
    assert_eq!(
        st["received"],
        json!((1..=pieces.len()).collect::<Vec<_>>())
    );
    assert_eq!(st["total_size"], archive.len());

    let res = app.complete_upload(&alice, &id, None).await;
    let done = json_of(res, StatusCode::CREATED).await;
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&archive));
    assert_eq!(done["etag"], sha);
    assert_eq!(done["session_id"], ID);
    assert_eq!(done["blob_size_bytes"], archive.len());
    assert!(done["synced_at"].is_string());

    let pulled = app.pull(&alice, ID, None).await;
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), archive.as_slice());
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));

    // A client that lost the answer completes again and gets the same answer.
    assert_eq!(status(&app, &alice, &id).await["status"], "completed");
    let again = json_of(
        app.complete_upload(&alice, &id, None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again, done);

    // The next chunked push of the session, conditional on the etag: 200, like a push.
    let update = big_archive("chunked, continued");
    let init = initiate(&app, &alice, &update, Some(&sha)).await;
    let id = upload_id(&init);
    send_all(&app, &alice, &id, &update).await;
    let done = json_of(
        app.complete_upload(&alice, &id, Some(&sha)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["etag"], hex::encode(sha2::Sha256::digest(&update)));
    let pulled = app.pull(&alice, ID, None).await;
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), update.as_slice());
    // The session is searchable like any pushed one.
    let detail = json_of(
        app.get(&alice, &paths::session(ID)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["title"], "chunked, continued");
}

#[tokio::test]
async fn bad_parts_are_refused_and_leave_nothing() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let archive = big_archive("parts");
    let id = upload_id(&initiate(&app, &alice, &archive, None).await);
    let pieces = parts(&archive);

    // Wrong hash.
    let wrong = "0".repeat(64);
    let err = error_of(
        app.put_part_claiming(&alice, &id, 1, pieces[0], &wrong)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["code"], "part_checksum_mismatch");
    // No hash at all.
    let res = app
        .request(Method::PUT, &paths::upload_part(&id, 1), Some(&alice.key))
        .body(pieces[0].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["code"],
        "part_sha256_required"
    );
    // More bytes than a part may have.
    let oversize = vec![7u8; PART + 1];
    let err = error_of(
        app.put_part(&alice, &id, 1, &oversize).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(err["code"], "part_too_large");
    assert_eq!(err["details"]["expected_size"], PART);
    // Fewer bytes than the part must have.
    let err = error_of(
        app.put_part(&alice, &id, 1, &pieces[0][..10]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["code"], "part_size_mismatch");
    // Beyond the declared total, and part 0.
    let beyond = pieces.len() as u64 + 1;
    for n in [0, beyond] {
        let err = error_of(
            app.put_part(&alice, &id, n, pieces[0]).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(err["code"], "part_out_of_range");
    }
    // The last part may not be sent at full part size.
    let last = pieces.len() as u64;
    let err = error_of(
        app.put_part(&alice, &id, last, &vec![1u8; PART]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert_eq!(err["code"], "part_too_large");

    assert_eq!(status(&app, &alice, &id).await["received"], json!([]));
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn complete_refuses_missing_parts_and_a_wrong_whole() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let archive = big_archive("complete");
    let pieces = parts(&archive);
    let id = upload_id(&initiate(&app, &alice, &archive, None).await);
    json_of(
        app.put_part(&alice, &id, 1, pieces[0]).await,
        StatusCode::OK,
    )
    .await;
    let err = error_of(
        app.complete_upload(&alice, &id, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "missing_parts");
    assert_eq!(
        err["details"]["missing"],
        json!((2..=pieces.len()).collect::<Vec<_>>())
    );
    assert_eq!(app.count("sessions").await, 0);

    // Declared with another archive's hash: every part is right, the whole is not.
    let other = big_archive("other");
    use sha2::Digest;
    let res = declare(
        &app,
        Some(&alice),
        ID,
        json!({"total_size": archive.len(), "sha256": hex::encode(sha2::Sha256::digest(&other))}),
    )
    .await;
    let id = upload_id(&json_of(res, StatusCode::CREATED).await);
    send_all(&app, &alice, &id, &archive).await;
    let err = error_of(
        app.complete_upload(&alice, &id, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["code"], "checksum_mismatch");
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(
        app.pull(&alice, ID, None).await.status(),
        StatusCode::NOT_FOUND
    );
    // Only the parts remain, and an abort removes them.
    let res = abort(&app, &alice, &id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get(&alice, &paths::upload(&id)).send().await.unwrap();
    error_of(res, StatusCode::NOT_FOUND).await;
    assert!(leftovers(&app)
        .iter()
        .all(|p| !p.to_string_lossy().contains(&id)));
}

/// The push of a complete landed but its answer was lost (or the server stopped before the
/// upload was marked completed): the repeated complete answers the push's success, not a
/// conflict with its own result.
#[tokio::test]
async fn a_complete_whose_push_already_landed_answers_its_success() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let first = app.push_new(&alice, ID, "first").await;
    let archive = big_archive("landed");
    let id = upload_id(&initiate(&app, &alice, &archive, Some(&first)).await);
    send_all(&app, &alice, &id, &archive).await;
    // The same bytes reach the session first (what the lost complete had done).
    let landed = json_of(
        app.push(&alice, ID, archive.clone(), Some(&first)).await,
        StatusCode::OK,
    )
    .await;
    let body = json_of(
        app.complete_upload(&alice, &id, Some(&first)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["etag"], landed["etag"]);
    assert_eq!(body["session_id"], ID);
    let pulled = app.pull(&alice, ID, None).await.bytes().await.unwrap();
    assert_eq!(pulled.as_ref(), archive.as_slice());
}

#[tokio::test]
async fn a_stale_if_match_at_complete_is_an_etag_conflict() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let first = app.push_new(&alice, ID, "first").await;
    let archive = big_archive("chunked");
    let id = upload_id(&initiate(&app, &alice, &archive, Some(&first)).await);
    send_all(&app, &alice, &id, &archive).await;
    // Another device pushes meanwhile.
    let res = app
        .push(
            &alice,
            ID,
            session_archive(ID, "second", "x", 3),
            Some(&first),
        )
        .await;
    let second = json_of(res, StatusCode::OK).await["etag"]
        .as_str()
        .unwrap()
        .to_string();

    let err = error_of(
        app.complete_upload(&alice, &id, Some(&first)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "etag_mismatch");
    assert_eq!(err["details"]["current_etag"], second);
    let pulled = app.pull(&alice, ID, None).await;
    assert_eq!(pulled.headers()["etag"], format!("\"{second}\"").as_str());
    // Initiate fails fast on a stale tag too.
    let err = error_of(
        app.initiate_upload(&alice, ID, &archive, Some(&first))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "etag_mismatch");
}

#[tokio::test]
async fn another_users_upload_is_not_found_on_every_route() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let archive = big_archive("mine");
    let pieces = parts(&archive);
    let id = upload_id(&initiate(&app, &alice, &archive, None).await);
    json_of(
        app.put_part(&alice, &id, 1, pieces[0]).await,
        StatusCode::OK,
    )
    .await;

    error_of(
        app.get(&bob, &paths::upload(&id)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    error_of(
        app.put_part(&bob, &id, 2, pieces[1]).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_of(
        app.complete_upload(&bob, &id, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let res = abort(&app, &bob, &id).await;
    error_of(res, StatusCode::NOT_FOUND).await;
    // Malformed ids are just as unknown.
    error_of(
        app.get(&bob, &paths::upload("../../etc"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Bob's session id namespace: alice's id is claimed once she completes.
    assert_eq!(status(&app, &alice, &id).await["received"], json!([1]));
}

#[tokio::test]
async fn initiate_makes_the_checks_of_a_push_and_bounds_pending_uploads() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let archive = big_archive("limits");
    // Over the tier's archive cap (300 MiB by default).
    let res = declare(
        &app,
        Some(&alice),
        ID,
        json!({"total_size": 301u64 * 1024 * 1024, "sha256": "a".repeat(64)}),
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::PAYLOAD_TOO_LARGE).await["code"],
        "PAYLOAD_TOO_LARGE"
    );
    // A malformed declaration.
    let res = declare(
        &app,
        Some(&alice),
        ID,
        json!({"total_size": 10, "sha256": "nope"}),
    )
    .await;
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        err["details"]["errors"][0]["loc"],
        json!(["body", "sha256"])
    );
    // A bad session id.
    let res = declare(
        &app,
        Some(&alice),
        "nope",
        json!({"total_size": 10, "sha256": "a".repeat(64)}),
    )
    .await;
    error_of(res, StatusCode::BAD_REQUEST).await;
    // No key.
    let res = declare(
        &app,
        None,
        ID,
        json!({"total_size": 10, "sha256": "a".repeat(64)}),
    )
    .await;
    error_of(res, StatusCode::UNAUTHORIZED).await;

    // Five pending uploads at most; the sixth falls back (409 too_many_pending_uploads).
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(upload_id(&initiate(&app, &alice, &archive, None).await));
    }
    let err = error_of(
        app.initiate_upload(&alice, ID, &archive, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "too_many_pending_uploads");
    let res = abort(&app, &alice, &ids[0]).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    initiate(&app, &alice, &archive, None).await;

    // A session in the trash: 410 unless the client asks to undelete.
    let bob = app.signup("bob@example.com").await;
    const OTHER: &str = "ses_fedcba9876543210";
    app.push_new(&bob, OTHER, "gone").await;
    let res = app
        .request(Method::DELETE, &paths::session_cloud(OTHER), Some(&bob.key))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let err = error_of(
        app.initiate_upload(&bob, OTHER, &archive, None).await,
        StatusCode::GONE,
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("deleted"));
    // Alice may not upload to bob's session id.
    error_of(
        app.initiate_upload(&alice, OTHER, &archive, None).await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn abandoned_uploads_expire_and_their_parts_are_deleted() {
    let app = spawn().await;
    let alice = app.signup("alice@example.com").await;
    let archive = big_archive("abandoned");
    let pieces = parts(&archive);
    let id = upload_id(&initiate(&app, &alice, &archive, None).await);
    json_of(
        app.put_part(&alice, &id, 1, pieces[0]).await,
        StatusCode::OK,
    )
    .await;
    assert!(!leftovers(&app).is_empty());

    app.clock().advance(Duration::hours(25));
    assert_eq!(status(&app, &alice, &id).await["status"], "expired");
    let err = error_of(
        app.put_part(&alice, &id, 2, pieces[1]).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "upload_expired");
    let err = error_of(
        app.complete_upload(&alice, &id, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "upload_expired");

    let removed = uploads::sweep(&app.state.db, &app.state.blobs, app.clock())
        .await
        .unwrap();
    assert_eq!(removed, 1);
    error_of(
        app.get(&alice, &paths::upload(&id)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
    assert_eq!(app.count("sessions").await, 0);
    // Expired uploads no longer count against the pending budget.
    assert_eq!(app.count("uploads").await, 0);
}

/// The real client's library pushes a 20 MiB archive through its chunked path, is cut after
/// one part, resumes without re-sending it, and pulls the archive back byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_pushes_a_large_session_in_parts_and_resumes() {
    const TEST: &str = "the_real_client_pushes_a_large_session_in_parts_and_resumes";
    let Some(client) = crate::common::client::sfs_client(TEST) else {
        return;
    };
    let root = crate::common::client::repo_root();
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("large.sfs");
    let bytes = sessionfs_server::archive::fixture::incompressible_archive(ID, 20 * 1024 * 1024);
    std::fs::write(&archive, &bytes).unwrap();
    let output = tokio::process::Command::new(&client.python)
        .arg(root.join("tests/e2e/chunked_push.py"))
        .args([&app.base, &alice.key, ID])
        .arg(&archive)
        .arg(dir.path().join("store"))
        .arg("1")
        .env("SFS_NO_TELEMETRY", "1")
        .env("SFS_SKILL_USAGE_REPORTING", "0")
        .env("HOME", dir.path())
        .output()
        .await
        .expect("run tests/e2e/chunked_push.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok parts=3 first=1 resumed=2"), "{stdout}");
    let pulled = app.pull(&alice, ID, None).await;
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert!(leftovers(&app).is_empty(), "{:?}", leftovers(&app));
}

/// The server killed (SIGKILL) after one part and started again on the same data dir: the
/// upload and its part are still there, the rest is sent and the upload completes.
#[tokio::test]
async fn an_upload_survives_a_killed_server() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = crate::common::RunningServer::start(&data, &[]).await;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}{}", server.base, paths::SIGNUP))
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    let key = json_of(res, StatusCode::CREATED).await["raw_key"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = sessionfs_server::archive::fixture::incompressible_archive(ID, 17 * 1024 * 1024);
    let res = http
        .post(format!("{}{}", server.base, paths::session_uploads(ID)))
        .bearer_auth(&key)
        .json(&json!({"total_size": archive.len(), "sha256": hex::encode(sha2::Sha256::digest(&archive))}))
        .send()
        .await
        .unwrap();
    let init = json_of(res, StatusCode::CREATED).await;
    let id = upload_id(&init);
    let part_size = init["part_size"].as_u64().unwrap() as usize;
    let pieces: Vec<&[u8]> = archive.chunks(part_size).collect();
    assert_eq!(init["part_count"], pieces.len());
    let put = |base: String, n: usize| {
        let sha = hex::encode(sha2::Sha256::digest(pieces[n - 1]));
        http.put(format!("{base}{}", paths::upload_part(&id, n as u64)))
            .bearer_auth(&key)
            .header("X-Part-SHA256", sha)
            .body(pieces[n - 1].to_vec())
            .send()
    };
    json_of(put(server.base.clone(), 1).await.unwrap(), StatusCode::OK).await;
    drop(server); // SIGKILL

    let server = crate::common::RunningServer::start(&data, &[]).await;
    let res = http
        .get(format!("{}{}", server.base, paths::upload(&id)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let st = json_of(res, StatusCode::OK).await;
    assert_eq!(st["status"], "pending");
    assert_eq!(st["received"], json!([1]));
    for n in 2..=pieces.len() {
        json_of(put(server.base.clone(), n).await.unwrap(), StatusCode::OK).await;
    }
    let res = http
        .post(format!("{}{}", server.base, paths::upload_complete(&id)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::CREATED).await;
    let res = http
        .get(format!("{}{}", server.base, paths::session_sync(ID)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().as_ref(), archive.as_slice());
}
