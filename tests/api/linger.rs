//! Early refusals of an upload reach the client (lingering close, `src/server.rs`): a 409 sent
//! before the body is read must not be overtaken by a reset.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sessionfs_server::archive::fixture::incompressible_archive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestApp;

const ID: &str = "ses_0123456789abcdef";

/// A valid archive of about `mb` MiB that does not compress.
fn big_archive(mb: usize) -> Vec<u8> {
    incompressible_archive("x", mb * 1024 * 1024)
}

/// The real client's library, 30 stale pushes of a 3 MiB archive in one process: every one a
/// `SyncConflictError` at the first attempt (no `ReadError`, no retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_client_sees_every_conflict_at_the_first_attempt() {
    let Some(client) = crate::common::client::sfs_client(
        "the_real_client_sees_every_conflict_at_the_first_attempt",
    ) else {
        return;
    };
    let root = crate::common::client::repo_root();
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice).push_new(ID, "first").await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("stale.sfs");
    std::fs::write(&archive, big_archive(3)).unwrap();
    let output = tokio::process::Command::new(&client.python)
        .arg(root.join("tests/e2e/push_conflict_loop.py"))
        .args([&app.base, &alice.key, ID])
        .arg(&archive)
        .arg("30")
        .env("SFS_NO_TELEMETRY", "1")
        .env("SFS_SKILL_USAGE_REPORTING", "0")
        .env("HOME", dir.path())
        .output()
        .await
        .expect("run tests/e2e/push_conflict_loop.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok 30"), "{stdout}");
}

/// Sends a stale push over a raw socket: headers, then a large body in slow pieces, reading
/// the answer only after the whole body was sent, as simple clients do.
async fn slow_stale_push(base: &str, key: &str, body_len: usize) -> (u16, Value) {
    let addr = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let boundary = "lingerboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.sfs\"\r\n\
         Content-Type: application/gzip\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() + body_len + tail.len();
    let request = format!(
        "PUT /api/v1/sessions/{ID}/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         If-Match: \"{}\"\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {total}\r\n\r\n{head}",
        "0".repeat(64)
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        // A refused peer would reset us here; the point is that it must not.
        socket.write_all(&chunk[..n]).await.expect("body accepted");
        sent += n;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    socket.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .read(&mut buf)
            .await
            .expect("read the answer, not a reset");
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if length.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a full response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).expect("a JSON envelope"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stale_push_over_a_raw_socket_reads_the_409_envelope_every_time() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = app.as_(&alice).push_new(ID, "first").await;
    for _ in 0..5 {
        let (status, body) = slow_stale_push(&app.base, &alice.key, 1024 * 1024).await;
        assert_eq!(status, StatusCode::CONFLICT.as_u16(), "{body}");
        assert_eq!(body["error"]["code"], "etag_mismatch", "{body}");
        assert_eq!(body["error"]["details"]["current_etag"], etag.as_str());
    }
    // A refusal by the auth extractor, before the handler runs, lingers the same way.
    let (status, body) = slow_stale_push(&app.base, "sk_sfs_not_a_key", 1024 * 1024).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED.as_u16(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}
