//! Autosync: settings, watchlist, watch status, the status overview, capture health.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

#[tokio::test]
async fn settings_are_tier_aware_and_validated() {
    let app = TestApp::spawn_with(|c| c.max_member_bytes = 1234).await;
    let alice = app.signup("alice@example.com").await;
    let got = json_of(
        app.as_(&alice).get(paths::SYNC_SETTINGS).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        got,
        json!({"mode": "off", "debounce_seconds": 30, "max_member_bytes": 1234})
    );
    let put = |body: serde_json::Value| {
        app.request(Method::PUT, paths::SYNC_SETTINGS, Some(&alice.key))
            .json(&body)
            .send()
    };
    let set = json_of(
        put(json!({"mode": "selective", "debounce_seconds": 1}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        set,
        json!({"mode": "selective", "debounce_seconds": 5, "max_member_bytes": 1234})
    );
    let set = json_of(put(json!({"mode": "all"})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(set["debounce_seconds"], 5);
    let set = json_of(
        put(json!({"mode": "off", "debounce_seconds": 9999}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(set["debounce_seconds"], 300);
    let err = error_of(
        put(json!({"mode": "sometimes"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["message"], "Mode must be 'off', 'all', or 'selective'");
    error_of(
        put(json!({})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let again = json_of(
        app.as_(&alice).get(paths::SYNC_SETTINGS).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["mode"], "off");

    let free =
        TestApp::spawn_with(|c| c.default_tier = sessionfs_server::domain::tiers::Tier::Starter)
            .await;
    let bob = free.signup("bob@example.com").await;
    let res = free
        .request(Method::PUT, paths::SYNC_SETTINGS, Some(&bob.key))
        .json(&json!({"mode": "bogus"}))
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(err["details"]["error"], "upgrade_required");
    assert_eq!(err["details"]["feature"], "autosync");
}

#[tokio::test]
async fn watchlist_and_status() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Watched").await;
    app.as_(&alice)
        .push_new("ses_other00000000000", "Other")
        .await;

    let watch = |user: &crate::common::User, id: &str| {
        app.request(Method::POST, &paths::watch(id), Some(&user.key))
            .send()
    };
    assert_eq!(
        json_of(watch(&alice, ID).await.unwrap(), StatusCode::OK).await,
        json!({"status": "watching", "session_id": ID})
    );
    json_of(watch(&alice, ID).await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        error_of(
            watch(&alice, "ses_ffffffffffffffff").await.unwrap(),
            StatusCode::NOT_FOUND
        )
        .await["message"],
        "Session not found"
    );
    // Another user cannot watch (or learn about) Alice's session.
    error_of(watch(&bob, ID).await.unwrap(), StatusCode::NOT_FOUND).await;

    let status = |id: &str, s: &str| {
        app.request(Method::PUT, &paths::watch_status(id, s), Some(&alice.key))
            .send()
    };
    assert_eq!(
        json_of(status(ID, "queued").await.unwrap(), StatusCode::OK).await["status"],
        "queued"
    );
    let err = error_of(status(ID, "done").await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_eq!(
        err["message"],
        "Status must be one of: failed, pending, queued, synced"
    );
    assert_eq!(
        json_of(
            status("ses_ffffffffffffffff", "queued").await.unwrap(),
            StatusCode::OK
        )
        .await["status"],
        "not_watched"
    );

    let overview = json_of(
        app.as_(&alice).get(paths::SYNC_STATUS).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(overview["total_sessions"], 2);
    assert_eq!(overview["synced_sessions"], 2);
    assert_eq!(overview["watched_sessions"], 1);
    assert_eq!(overview["queued"], 1);
    assert_eq!(overview["failed"], 0);
    assert!(overview["storage_used_bytes"].as_i64().unwrap() > 0);
    assert_eq!(overview["storage_limit_bytes"], 0);
    let bobs = json_of(app.as_(&bob).get(paths::SYNC_STATUS).await, StatusCode::OK).await;
    assert_eq!(bobs["total_sessions"], 0);
    assert_eq!(bobs["storage_used_bytes"], 0);

    json_of(status(ID, "synced").await.unwrap(), StatusCode::OK).await;
    let list = json_of(
        app.as_(&alice).get(paths::SYNC_WATCHLIST).await,
        StatusCode::OK,
    )
    .await;
    let item = &list["sessions"][0];
    assert_eq!(item["session_id"], ID);
    assert_eq!(item["title"], "Watched");
    assert_eq!(item["status"], "synced");
    assert!(item["last_synced_at"].is_string());
    let bob_list = json_of(
        app.as_(&bob).get(paths::SYNC_WATCHLIST).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bob_list["sessions"], json!([]));

    let res = app.as_(&alice).delete(&paths::watch(ID)).await;
    assert_eq!(json_of(res, StatusCode::OK).await["status"], "unwatched");
    let list = json_of(
        app.as_(&alice).get(paths::SYNC_WATCHLIST).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["sessions"], json!([]));
}

#[tokio::test]
async fn capture_health_is_reported_back() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let report =
        json!({"watchers": [{"name": "claude-code", "health": "ok", "sessions_tracked": 3}]});
    let res = app
        .as_(&alice)
        .put(paths::SYNC_HEALTH, report.clone())
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await,
        json!({"status": "ok", "watchers": 1})
    );
    let got = json_of(
        app.as_(&alice).get(paths::SYNC_HEALTH).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["watchers"], report["watchers"]);
    let me = json_of(app.as_(&alice).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["capture_health"], report["watchers"]);
}
