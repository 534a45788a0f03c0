//! The knowledge index follows the entries: add, upsert, dismiss, undismiss, supersede,
//! promote, bulk-promote, dismiss-stale and project delete reach it after their commit, and a
//! rebuild from the database gives the same answers. Compile re-indexes after its commit (the
//! test waits for that task), and wiki pages are indexed on put, regenerate, delete and
//! compile. The entries list's `search` filter keeps its substring semantics (it never goes
//! through the index) and folds case for every script.

use chrono::Duration;
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

/// The page ids `relevant_pages` answers for `text`, once every queued change is committed.
async fn relevant_pages(app: &TestApp, pid: &str, text: &str) -> Vec<String> {
    app.state.knowledge.flush();
    index::relevant_pages(&app.state.db, &app.state.knowledge, pid, text, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.slug)
        .collect()
}

/// Rebuilds the index from the database alone; returns how many documents it holds.
fn rebuild(app: &TestApp) -> usize {
    let knowledge = app.state.knowledge.clone();
    app.state
        .db
        .read_blocking(|conn| {
            index::rebuild(conn, &knowledge).map_err(sessionfs_server::domain::DomainError::Fault)
        })
        .unwrap()
}

#[tokio::test]
async fn compile_reindexes_entries_and_pages_and_a_rebuild_agrees() {
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

    // A faint note that retention (compile step 4) dismisses once it is old enough: a change
    // only the re-index after compile brings to the index.
    let faded = add(&app, &alice, &pid, json!({"entry_type": "pattern", "session_id": "ses_1",
        "content": "The gateway caches tokens in Redis for fifteen minutes per tenant", "confidence": 0.2})).await;
    app.clock().advance(Duration::days(200));
    let fresh = add(&app, &alice, &pid, json!({"entry_type": "pattern", "session_id": "ses_2",
        "content": "Gateway tokens are signed with the rotating key in vault/gateway.hcl every 24 hours",
        "confidence": 0.9})).await;
    assert_eq!(relevant(&app, &pid, "gateway tokens").await.len(), 2);
    let done = json_of(
        app.as_(&alice)
            .post(&paths::project_compile(&pid), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(done["id"].as_i64().unwrap() > 0, "{done}");
    app.state.background.idle().await;
    assert_eq!(app.state.background.running(), 0);
    assert_eq!(relevant(&app, &pid, "gateway tokens").await, vec![fresh]);
    assert_eq!(indexed(&app, &pid, "gateway tokens"), vec![faded, fresh]);

    // Compile's section page is in the index: found by its title and by its content.
    assert_eq!(
        relevant_pages(&app, &pid, "patterns conventions").await,
        vec!["patterns"]
    );
    assert_eq!(
        relevant_pages(&app, &pid, "rotating vault").await,
        vec!["patterns"]
    );

    // A page put by a user is found; its update replaces it; a delete removes it; another
    // project's search never sees it.
    let put = |slug: &'static str, content: &'static str| {
        let (app, alice, pid) = (&app, &alice, &pid);
        async move {
            json_of(
                app.as_(alice)
                    .put(&paths::page(pid, slug), json!({"content": content}))
                    .await,
                StatusCode::OK,
            )
            .await
        }
    };
    put(
        "guides/deploy",
        "# Deploy\n\nBlue-green deploys through the Helm chart.",
    )
    .await;
    assert_eq!(
        relevant_pages(&app, &pid, "helm deploy").await,
        vec!["guides/deploy"]
    );
    assert!(relevant_pages(&app, &other, "helm deploy").await.is_empty());
    put(
        "guides/deploy",
        "# Deploy\n\nCanary releases with Argo Rollouts.",
    )
    .await;
    assert!(relevant_pages(&app, &pid, "helm").await.is_empty());
    assert_eq!(
        relevant_pages(&app, &pid, "canary").await,
        vec!["guides/deploy"]
    );
    put(
        "runbook",
        "# Runbook\n\nRestart the Redis replica before the gateway.",
    )
    .await;
    let both = relevant_pages(&app, &pid, "redis gateway").await;
    assert_eq!(both.len(), 2, "{both:?}");

    // Regenerate rewrites the page: the index follows.
    json_of(
        app.as_(&alice)
            .post(&paths::page_regenerate(&pid, "patterns"), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(relevant_pages(&app, &pid, "compiled knowledge entries")
        .await
        .contains(&"patterns".to_string()));

    json_of(
        app.as_(&alice)
            .delete(&paths::page(&pid, "guides/deploy"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(relevant_pages(&app, &pid, "canary").await.is_empty());

    // The same answers from an index rebuilt from the database alone (entries and pages).
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let entries_before = indexed(&app, &pid, "gateway tokens redis");
    let pages_before = sorted(relevant_pages(&app, &pid, "redis gateway patterns runbook").await);
    assert_eq!(pages_before, vec!["patterns", "runbook"]);
    assert_eq!(rebuild(&app), 2 + 2);
    assert_eq!(indexed(&app, &pid, "gateway tokens redis"), entries_before);
    assert_eq!(
        sorted(relevant_pages(&app, &pid, "redis gateway patterns runbook").await),
        pages_before
    );

    // A deleted project's pages leave the index with its entries.
    json_of(
        app.as_(&alice).delete(&paths::project(&pid)).await,
        StatusCode::OK,
    )
    .await;
    assert!(relevant_pages(&app, &pid, "redis gateway").await.is_empty());
}

/// The list's `search` folds case for every script, not only ASCII.
#[tokio::test]
async fn the_search_filter_folds_non_ascii_case() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").create().await;
    let pid = app.as_(&alice).create_project("acme/app", None).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let umlaut = add(
        &app,
        &alice,
        &pid,
        json!({"entry_type": "bug",
        "content": "Ärger mit dem Übersetzer: ÖFFNEN schlägt bei leeren Dateien fehl"}),
    )
    .await;
    let greek = add(
        &app,
        &alice,
        &pid,
        json!({"entry_type": "discovery",
        "content": "The ΣΥΣΤΗΜΑ module logs every retry of the Greek locale importer"}),
    )
    .await;
    let search = |q: &'static str| {
        let (app, alice, pid) = (&app, &alice, &pid);
        async move {
            let url = reqwest::Url::parse_with_params(
                &app.url(&paths::project_entries(pid)),
                &[("search", q)],
            )
            .unwrap();
            let path = format!("{}?{}", url.path(), url.query().unwrap());
            let list = json_of(app.as_(alice).get(&path).await, StatusCode::OK).await;
            list.as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("ärger").await, vec![umlaut]);
    assert_eq!(search("ÄRGER MIT").await, vec![umlaut]);
    assert_eq!(search("öffnen").await, vec![umlaut]);
    assert_eq!(search("übersetzer").await, vec![umlaut]);
    assert_eq!(
        search("σύστημα").await,
        Vec::<i64>::new(),
        "accents are not folded"
    );
    assert_eq!(search("συστημα").await, vec![greek]);
    // Still literal: `%` and `_` are characters, not wildcards.
    assert!(search("a%b").await.is_empty());
    assert!(search("___").await.is_empty());
}
