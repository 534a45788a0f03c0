//! The knowledge index follows the entries: add, upsert, dismiss, undismiss, supersede,
//! promote, bulk-promote, dismiss-stale and project delete reach it after their commit, and a
//! rebuild from the database gives the same answers. The entries list's `search` filter keeps
//! its substring semantics (it never goes through the index).

use reqwest::StatusCode;
use serde_json::{json, Value};
use sessionfs_server::domain::knowledge_index as index;
use sessionfs_server::search::knowledge::KnowledgeQuery;

use crate::common::paths;
use crate::common::{json_of, TestApp, User};

/// Adds an entry (asserting 201); returns its id.
async fn add(app: &TestApp, user: &User, pid: &str, body: Value) -> i64 {
    let res = app
        .as_(user)
        .post(&paths::project_entries_add(pid), body)
        .await;
    json_of(res, StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap()
}

/// The ids `relevant` answers for `text`, once every queued change is committed.
async fn relevant(app: &TestApp, pid: &str, text: &str) -> Vec<i64> {
    app.state.knowledge.flush();
    index::relevant(&app.state.db, &app.state.knowledge, pid, text, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Every id the index holds for the project's `text`, active or not.
fn indexed(app: &TestApp, pid: &str, text: &str) -> Vec<i64> {
    app.state.knowledge.flush();
    let mut ids: Vec<i64> = app
        .state
        .knowledge
        .search(&KnowledgeQuery {
            project_id: pid.into(),
            text: text.into(),
            entry_types: vec![],
            include_inactive: true,
            limit: 100,
        })
        .unwrap()
        .into_iter()
        .map(|h| h.entry_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_index_follows_every_write_and_rebuilds_from_the_database() {
    let app = TestApp::spawn().await;
    let [alice, eve] = app.users(["alice", "eve"]).await;
    let pid = app.as_(&alice).create_project("acme/app", None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.as_(&eve).create_project("eve/app", None).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let retry = add(&app, &alice, &pid, json!({"entry_type": "pattern", "session_id": "ses_1",
        "content": "The HTTP client retries idempotent requests with exponential backoff", "confidence": 0.9})).await;
    let deploy = add(&app, &alice, &pid, json!({"entry_type": "convention", "session_id": "ses_1",
        "content": "Deploys run from the release workflow on every tagged commit", "confidence": 0.9})).await;
    let note = add(
        &app,
        &alice,
        &pid,
        json!({"entry_type": "bug", "session_id": "ses_2",
        "content": "Retrying uploads twice corrupts the manifest", "confidence": 0.6}),
    )
    .await;
    add(
        &app,
        &eve,
        &other,
        json!({"content": "Retries with backoff in Eve's project as well"}),
    )
    .await;

    // Ranked, stemmed ("retry" finds "retries"/"retrying"), one project only.
    let found = relevant(&app, &pid, "why does the client retry with backoff?").await;
    assert_eq!(found[0], retry, "more matching words rank first");
    assert_eq!(found.len(), 2);
    assert!(found.contains(&note));
    assert_eq!(relevant(&app, &pid, "release tagged").await, vec![deploy]);

    // Dismissed entries drop out, and come back when undismissed.
    let entry = paths::project_entry(&pid, &note.to_string());
    json_of(app.as_(&alice).put(&entry, json!({})).await, StatusCode::OK).await;
    assert_eq!(relevant(&app, &pid, "retry").await, vec![retry]);
    json_of(
        app.as_(&alice)
            .put(&entry, json!({"dismissed": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(relevant(&app, &pid, "retry").await.len(), 2);

    // Superseded entries drop out.
    let newer = add(&app, &alice, &pid, json!({"entry_type": "bug", "session_id": "ses_3",
        "content": "Uploads retried after a timeout overwrite manifest.json (fixed in 0.4)", "confidence": 0.9})).await;
    json_of(
        app.as_(&alice)
            .put(
                &format!("{entry}/supersede"),
                json!({"superseding_id": newer, "reason": "fixed"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let now = relevant(&app, &pid, "manifest").await;
    assert_eq!(now, vec![newer]);

    // An upsert by entity_ref dismisses the older entries of that entity.
    let v1 = add(
        &app,
        &alice,
        &pid,
        json!({"entry_type": "dependency", "entity_ref": "dep:tokio",
        "content": "tokio is pinned to 1.38 because of the blocking pool change", "upsert": true}),
    )
    .await;
    let v2 = add(
        &app,
        &alice,
        &pid,
        json!({"entry_type": "dependency", "entity_ref": "dep:tokio",
        "content": "tokio moved to 1.40; the pin is gone", "upsert": true}),
    )
    .await;
    assert_eq!(relevant(&app, &pid, "tokio").await, vec![v2]);
    assert_eq!(indexed(&app, &pid, "tokio"), vec![v1, v2]);

    // The same answers from an index rebuilt from the database alone.
    let before = indexed(&app, &pid, "retry manifest tokio release");
    let knowledge = app.state.knowledge.clone();
    let n = app
        .state
        .db
        .read_blocking(|conn| {
            index::rebuild(conn, &knowledge).map_err(sessionfs_server::domain::DomainError::Fault)
        })
        .unwrap();
    assert_eq!(n, 7);
    assert_eq!(indexed(&app, &pid, "retry manifest tokio release"), before);
    assert_eq!(relevant(&app, &pid, "tokio").await, vec![v2]);

    // The list's `search` stays a substring match: inside a word, across the index's words.
    let list = json_of(
        app.as_(&alice)
            .get(&format!("{}?search=ackof", paths::project_entries(&pid)))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], retry);

    // Deleting the project empties its part of the index; the other project keeps its own.
    json_of(
        app.as_(&alice).delete(&paths::project(&pid)).await,
        StatusCode::OK,
    )
    .await;
    assert!(indexed(&app, &pid, "retry manifest tokio release").is_empty());
    assert_eq!(indexed(&app, &other, "backoff").len(), 1);
}
