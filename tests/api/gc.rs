//! Archive garbage collection: what no row names goes after the grace period; what a row
//! names (live or trashed) and what a push in flight is about to name stays.

use std::time::Duration;

use reqwest::StatusCode;
use sessionfs_server::archive::fixture::session_archive;
use sessionfs_server::server::collect_archives;

use crate::common::paths;
use crate::common::{json_of, TestApp};

const ONE: &str = "ses_0000000000000001";
const TWO: &str = "ses_0000000000000002";

#[tokio::test]
async fn a_replaced_archive_is_collected_after_the_grace_period_and_live_ones_stay() {
    let app = TestApp::spawn_with(|c| c.gc_grace = Duration::ZERO).await;
    let alice = app.signup("alice@example.com").await;
    let old = app.as_(&alice).push_new(ONE, "first").await;
    let newer = session_archive(ONE, "second", "parsers", 6);
    let new = json_of(
        app.as_(&alice).push(ONE, newer.clone(), Some(&old)).await,
        StatusCode::OK,
    )
    .await["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let trashed = app.as_(&alice).push_new(TWO, "trashed").await;
    let res = app.as_(&alice).delete(&paths::session(TWO)).await;
    assert!(res.status().is_success(), "{}", res.status());

    let done = collect_archives(&app.state).await.unwrap();
    assert_eq!(done.removed, 1, "{done:?}");
    assert!(
        !app.state.blobs.contains(&old),
        "the replaced archive is gone"
    );
    assert!(app.state.blobs.contains(&new));
    assert!(
        app.state.blobs.contains(&trashed),
        "a trashed session keeps its archive"
    );
    let pulled = app.as_(&alice).pull(ONE, None).await;
    assert_eq!(pulled.status(), StatusCode::OK);
    assert_eq!(pulled.bytes().await.unwrap().to_vec(), newer);
    // Nothing more to collect.
    assert_eq!(collect_archives(&app.state).await.unwrap().removed, 0);
}

#[tokio::test]
async fn nothing_goes_inside_the_grace_period() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let old = app.as_(&alice).push_new(ONE, "first").await;
    app.as_(&alice)
        .push(ONE, session_archive(ONE, "second", "x", 5), Some(&old))
        .await;
    assert_eq!(collect_archives(&app.state).await.unwrap().removed, 0);
    assert!(app.state.blobs.contains(&old));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_running_all_the_time_never_hurts_a_push_of_the_same_bytes() {
    let app = TestApp::spawn_with(|c| c.gc_grace = Duration::ZERO).await;
    let alice = app.signup("alice@example.com").await;
    // Every push sends the same bytes: each one may dedup onto a file that the collector is
    // just looking at, while no row names it yet.
    let bytes = session_archive(ONE, "same", "x", 3);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (state, stop) = (app.state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                collect_archives(&state).await.unwrap();
                runs += 1;
            }
            runs
        })
    };
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = format!("ses_{i:016}");
        let res = app.as_(&alice).push(&id, bytes.clone(), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        // The session replaced right away leaves its archive unreferenced: fair game.
        if i % 2 == 0 {
            let body = json_of(res, StatusCode::CREATED).await;
            let etag = body["etag"].as_str().unwrap();
            let other = session_archive(&id, &format!("v{i}"), "x", 2);
            assert_eq!(
                app.as_(&alice).push(&id, other, Some(etag)).await.status(),
                StatusCode::OK
            );
        }
        ids.push(id);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(collector.await.unwrap() > 0);
    for id in ids {
        assert_eq!(
            app.as_(&alice).pull(&id, None).await.status(),
            StatusCode::OK,
            "{id}"
        );
    }
}
