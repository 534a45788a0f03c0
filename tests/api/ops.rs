//! Operations: readiness, Prometheus metrics, client addresses behind a trusted proxy.

use std::net::IpAddr;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

#[tokio::test]
async fn readiness_reports_its_checks() {
    let app = TestApp::spawn().await;
    let ready = json_of(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["archive_store"], "ok");
    std::fs::remove_dir_all(app.data_dir.join("archives/tmp")).unwrap();
    let res = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["status"], "not_ready");
    assert!(body["checks"]["archive_store"]
        .as_str()
        .unwrap()
        .starts_with("error"));
}

#[tokio::test]
async fn metrics_listener_serves_the_named_series() {
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let metrics = sessionfs_server::server::metrics_app(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, metrics).await });
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice)
        .push_new("ses_0123456789abcdef", "Metered")
        .await;
    app.as_(&alice).get(paths::SESSIONS).await;
    app.as_(&alice)
        .get(&paths::session("ses_ffffffffffffffff"))
        .await;

    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    // The route labels are route templates as the metrics name them: data under test, kept
    // literal.
    for expected in [
        r#"sessionfs_http_requests_total{method="GET",route="/api/v1/sessions",status="200"} 1"#,
        r#"sessionfs_http_requests_total{method="GET",route="/api/v1/sessions/{id}",status="404"} 1"#,
        r#"sessionfs_http_requests_total{method="PUT",route="/api/v1/sessions/{id}/sync",status="201"} 1"#,
        "sessionfs_http_request_duration_seconds_bucket",
        r#"sessionfs_pushes_total{outcome="created"} 1"#,
        "sessionfs_sessions 1",
        "sessionfs_archives_stored 1",
        "sessionfs_archive_bytes_stored ",
        "sessionfs_search_index_lag ",
        "sessionfs_db_writer_queue_depth ",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // The API listener does not serve metrics.
    error_of(
        app.client.get(app.url("/metrics")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn client_addresses_behind_a_trusted_proxy() {
    let signup = |app: &TestApp, email: &str, forwarded: &str| {
        app.request(Method::POST, paths::SIGNUP, None)
            .header("X-Forwarded-For", forwarded)
            .json(&json!({ "email": email }))
            .send()
    };
    let proxied = TestApp::spawn_with(|c| {
        c.signup_rate_limit_per_hour = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse::<IpAddr>().unwrap()];
    })
    .await;
    assert_eq!(
        signup(&proxied, "a@example.com", "10.0.0.1")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        signup(&proxied, "b@example.com", "203.0.113.9, 10.0.0.2")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let res = signup(&proxied, "c@example.com", "10.0.0.1").await.unwrap();
    error_of(res, StatusCode::TOO_MANY_REQUESTS).await;

    // Without a trusted proxy the header is ignored: everyone is 127.0.0.1.
    let direct = TestApp::spawn_with(|c| c.signup_rate_limit_per_hour = 1).await;
    assert_eq!(
        signup(&direct, "a@example.com", "10.0.0.1")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let res = signup(&direct, "b@example.com", "10.0.0.2").await.unwrap();
    error_of(res, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_index_commit_is_reported_stale_and_repaired() {
    use sessionfs_server::search::IndexState;
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    for _ in 0..200 {
        if app.state.search.state() == IndexState::Ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(app.state.search.state(), IndexState::Ok);
    // The index files vanish under the writer: its next commit fails.
    let tantivy = app.data_dir.join("index/tantivy");
    std::fs::remove_dir_all(&tantivy).unwrap();
    app.as_(&alice)
        .push_new("ses_0000000000000001", "quokka notes")
        .await;
    let search = app.state.search.clone();
    tokio::task::spawn_blocking(move || search.flush())
        .await
        .unwrap();
    assert_eq!(app.state.search.state(), IndexState::Stale);
    let ready = json_of(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let index = ready["checks"]["search_index"].as_str().unwrap();
    assert!(index.starts_with("stale"), "{ready}");
    let text = ready.to_string();
    assert!(
        !text.contains("os error") && !text.contains("No such file"),
        "{text}"
    );

    // The scheduled rebuild repairs it once the disk is usable again.
    std::fs::create_dir_all(&tantivy).unwrap();
    assert!(sessionfs_server::server::repair_search(&app.state).await);
    assert_eq!(app.state.search.state(), IndexState::Ok);
    let ready = json_of(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["checks"]["search_index"], "ok", "{ready}");
}
