//! Knowledge curation (02 §3.5): refresh, supersede, promote, confidence, bulk-promote,
//! dismiss-stale and backlinks — every route, its errors, standing, tenancy, and that a refusal
//! writes nothing.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, json_of, TestApp, User};

/// `key` calls `method path` with an optional JSON body (user and service keys alike).
async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    app.call(Some(key), method, path, body).await
}

/// A project for `remote`, created by `user` (in `org`, if given).
async fn create(app: &TestApp, user: &User, remote: &str, org: Option<&str>) -> Value {
    app.as_(user).create_project(remote, org).await
}

/// A service key of `org`, minted by its admin `admin`.
async fn mint(app: &TestApp, admin: &User, org: &str, scopes: Value, project_ids: Value) -> String {
    app.as_(admin).mint_key(org, scopes, project_ids).await
}

/// Alice owns org `acme` with Bob (member) and Carol (admin); Eve is an outsider.
struct World {
    alice: User,
    bob: User,
    eve: User,
    org: String,
}

async fn world(app: &TestApp) -> World {
    let [alice, bob, carol, eve] = app.users(["alice", "bob", "carol", "eve"]).await;
    let org = app
        .as_(&alice)
        .org("acme")
        .member(&bob)
        .admin(&carol)
        .create()
        .await
        .id;
    World {
        alice,
        bob,
        eve,
        org,
    }
}

/// The project's entries path and a way to add one as `user` (asserting 201).
struct Kb<'a> {
    app: &'a TestApp,
    entries: String,
    project: String,
}

impl<'a> Kb<'a> {
    fn new(app: &'a TestApp, project: &Value) -> Kb<'a> {
        let project = project["id"].as_str().unwrap().to_string();
        Kb {
            app,
            entries: format!("/api/v1/projects/{project}/entries"),
            project,
        }
    }

    async fn add(&self, user: &User, body: Value) -> Value {
        json_of(
            call(
                self.app,
                &user.key,
                Method::POST,
                &format!("{}/add", self.entries),
                Some(body),
            )
            .await,
            StatusCode::CREATED,
        )
        .await
    }

    async fn get(&self, user: &User, id: &Value) -> Value {
        json_of(
            self.app
                .get(user, &format!("{}/{id}", self.entries))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await
    }

    async fn put(&self, key: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        call(
            self.app,
            key,
            Method::PUT,
            &format!("{}/{path}", self.entries),
            body,
        )
        .await
    }

    async fn post(&self, key: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        call(
            self.app,
            key,
            Method::POST,
            &format!("{}/{path}", self.entries),
            body,
        )
        .await
    }

    /// Calls every route with `key`, expecting `status`; returns the error envelopes.
    async fn refusals(
        &self,
        key: &str,
        routes: Vec<(Method, String, Option<Value>)>,
        status: StatusCode,
    ) -> Vec<Value> {
        let mut errors = Vec::new();
        for (method, path, body) in routes {
            let path = format!("{}/{path}", self.entries);
            errors.push(error_of(call(self.app, key, method, &path, body).await, status).await);
        }
        errors
    }

    fn links(&self, target_type: &str, target_id: &str) -> String {
        format!(
            "/api/v1/projects/{}/links/{target_type}/{target_id}",
            self.project
        )
    }
}

const FIRST: &str = "The parser in src/parse.rs rejects tabs in keys since version 2.3 shipped";
const SECOND: &str = "Release builds strip debug symbols through profile.release in Cargo.toml";
const THIRD: &str = "Integration tests spawn one server per test through tests/common/app.rs";

#[tokio::test]
async fn refresh_supersede_and_backlinks() {
    let app = TestApp::spawn().await;
    app.clock().set(app.clock().now());
    let alice = app.signup("alice@example.com").await;
    let kb = Kb::new(&app, &create(&app, &alice, "acme/app", None).await);
    let old = kb.add(&alice, json!({"content": FIRST})).await;
    let new = kb.add(&alice, json!({"content": SECOND})).await;
    let third = kb.add(&alice, json!({"content": THIRD})).await;

    // Refresh: relevant now, current.
    app.clock().advance(Duration::days(3));
    let now = app.clock().now_string();
    let got = json_of(
        kb.put(&alice.key, &format!("{}/refresh", old["id"]), None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        got,
        json!({"id": old["id"], "freshness_class": "current", "last_relevant_at": now})
    );
    assert_eq!(kb.get(&alice, &old["id"]).await["last_relevant_at"], now);
    error_of(
        kb.put(&alice.key, "9999/refresh", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_of(
        kb.put(&alice.key, "abc/refresh", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Supersede: refusals in the contract's order and words, none writing anything.
    let path = format!("{}/supersede", old["id"]);
    let body = |by: &Value, reason: &str| Some(json!({"superseding_id": by, "reason": reason}));
    let err = error_of(
        kb.put(&alice.key, "9999/supersede", body(&new["id"], "r"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Entry not found");
    let err = error_of(
        kb.put(&alice.key, &path, body(&json!(9999), "r")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Superseding entry not found");
    let err = error_of(
        kb.put(&alice.key, &path, body(&old["id"], "r")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "An entry cannot supersede itself");
    error_of(
        kb.put(&alice.key, &path, body(&json!("x"), "r")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        kb.put(
            &alice.key,
            &path,
            Some(json!({"superseding_id": new["id"]})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        kb.put(&alice.key, "1.5/supersede", body(&new["id"], "r"))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.count("knowledge_links").await, 0);
    assert_eq!(
        kb.get(&alice, &old["id"]).await["freshness_class"],
        "current"
    );

    let got = json_of(
        kb.put(&alice.key, &path, body(&new["id"], "moved to profiles"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        got,
        json!({"superseded_entry_id": old["id"], "superseding_entry_id": new["id"],
            "reason": "moved to profiles"})
    );
    let entry = kb.get(&alice, &old["id"]).await;
    assert_eq!(entry["superseded_by"], new["id"]);
    assert_eq!(entry["supersession_reason"], "moved to profiles");
    assert_eq!(entry["freshness_class"], "superseded");
    assert_eq!(entry["dismissed"], false);

    // The link, seen from its target.
    let links = json_of(
        app.get(&alice, &kb.links("entry", &old["id"].to_string()))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        links,
        json!([{"source_type": "entry", "source_id": new["id"].to_string(),
            "link_type": "supersedes", "confidence": 1.0}])
    );
    for (t, id) in [
        ("entry", new["id"].to_string()),
        ("ticket", old["id"].to_string()),
    ] {
        let none = json_of(
            app.get(&alice, &kb.links(t, &id)).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(none, json!([]));
    }

    // A repeat is a duplicate link: 409, and the entry keeps its first reason.
    let err = error_of(
        kb.put(&alice.key, &path, body(&new["id"], "second thoughts"))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "duplicate_resource");
    assert_eq!(
        kb.get(&alice, &old["id"]).await["supersession_reason"],
        "moved to profiles"
    );
    assert_eq!(app.count("knowledge_links").await, 1);

    // The contract sets no rule on dismissed entries: a dismissed entry may supersede or be
    // superseded, and stays dismissed.
    json_of(
        kb.put(&alice.key, &third["id"].to_string(), Some(json!({})))
            .await,
        StatusCode::OK,
    )
    .await;
    json_of(
        kb.put(
            &alice.key,
            &format!("{}/supersede", third["id"]),
            body(&new["id"], "folded in"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let entry = kb.get(&alice, &third["id"]).await;
    assert_eq!(entry["dismissed"], true);
    assert_eq!(entry["superseded_by"], new["id"]);
}

#[tokio::test]
async fn promote_and_confidence() {
    let app = TestApp::spawn().await;
    app.clock().set(app.clock().now());
    let alice = app.signup("alice@example.com").await;
    let kb = Kb::new(&app, &create(&app, &alice, "acme/app", None).await);
    // `manual` entries default to 0.7: a note.
    let note = kb.add(&alice, json!({"content": FIRST})).await;
    assert_eq!(note["claim_class"], "note");
    let promote = format!("{}/promote", note["id"]);
    let confidence = format!("{}/confidence", note["id"]);

    let err = error_of(
        kb.put(&alice.key, &promote, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["message"], "Cannot promote: confidence 0.7 < 0.8");

    // Confidence: range-checked, never promotes.
    for bad in [
        json!({"confidence": 1.5}),
        json!({"confidence": -0.1}),
        json!({}),
        json!({"confidence": "high"}),
    ] {
        error_of(
            kb.put(&alice.key, &confidence, Some(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(kb.get(&alice, &note["id"]).await["confidence"], 0.7);
    error_of(
        kb.put(
            &alice.key,
            "9999/confidence",
            Some(json!({"confidence": 0.9})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let got = json_of(
        kb.put(&alice.key, &confidence, Some(json!({"confidence": 0.9})))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["confidence"], 0.9);
    assert_eq!(got["claim_class"], "note");

    let got = json_of(kb.put(&alice.key, &promote, None).await, StatusCode::OK).await;
    assert_eq!(got["claim_class"], "claim");
    assert_eq!(got["promoted_by"], alice.id);
    assert_eq!(got["promoted_at"], app.clock().now_string());
    let err = error_of(
        kb.put(&alice.key, &promote, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Entry is already a claim");

    // Short content, and a near-duplicate of a claim (added by upsert, which skips the add
    // duplicate check).
    let short = kb
        .add(
            &alice,
            json!({"content": "Tabs break the key parser", "confidence": 0.9}),
        )
        .await;
    let err = error_of(
        kb.put(&alice.key, &format!("{}/promote", short["id"]), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        "Cannot promote: content length 25 < 50 chars"
    );
    let twin = kb
        .add(
            &alice,
            json!({"content": format!("{FIRST} now"), "upsert": true, "entity_ref": "twin",
                "confidence": 0.5}),
        )
        .await;
    assert_eq!(twin["claim_class"], "note");
    json_of(
        kb.put(
            &alice.key,
            &format!("{}/confidence", twin["id"]),
            Some(json!({"confidence": 0.9})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let err = error_of(
        kb.put(&alice.key, &format!("{}/promote", twin["id"]), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err["message"],
        "Cannot promote: near-duplicate of existing claim"
    );
    assert_eq!(kb.get(&alice, &twin["id"]).await["claim_class"], "note");
    error_of(
        kb.put(&alice.key, "x/promote", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    error_of(
        kb.put(&alice.key, "9999/promote", None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn bulk_promote_dry_run_then_write_and_reader_notes() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let kb = Kb::new(
        &app,
        &create(&app, &w.alice, "acme/app", Some(&w.org)).await,
    );
    let eligible = kb.add(&w.alice, json!({"content": FIRST})).await;
    let short = kb
        .add(&w.alice, json!({"content": "Tabs break the key parser"}))
        .await;
    let low = kb
        .add(&w.bob, json!({"content": SECOND, "confidence": 0.3}))
        .await;
    let dismissed = kb.add(&w.alice, json!({"content": THIRD})).await;
    json_of(
        kb.put(&w.alice.key, &dismissed["id"].to_string(), Some(json!({})))
            .await,
        StatusCode::OK,
    )
    .await;
    // Eve reads through a captured session: her note is a reader's.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    let reader = kb
        .add(
            &w.eve,
            json!({"content": "Reader observation: CI caches target/ between runs on main"}),
        )
        .await;
    assert_eq!(reader["claim_class"], "note");

    let options = json!({"min_confidence": 0.6});
    let dry = json_of(
        kb.post(&w.alice.key, "bulk-promote", Some(options.clone()))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        dry,
        json!({"promoted": 1, "skipped": 3,
            "reasons": {"already_claim": 0, "dismissed": 1, "superseded": 0, "wrong_type": 0,
                "too_short": 1, "low_confidence": 1, "duplicate": 0},
            "promoted_ids": [eligible["id"]], "dry_run": true, "reader_notes_excluded": 1})
    );
    assert_eq!(
        kb.get(&w.alice, &eligible["id"]).await["claim_class"],
        "note"
    );

    // Wrong type, and readers' notes on request.
    let typed = json_of(
        kb.post(
            &w.alice.key,
            "bulk-promote",
            Some(json!({"min_confidence": 0.6, "entry_type": "bug", "include_reader_notes": true})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(typed["reader_notes_excluded"], 0);
    assert_eq!(typed["reasons"]["wrong_type"], 4);
    assert_eq!(typed["promoted"], 0);

    // The real run does what the dry run said; set_confidence raises the promoted notes.
    let real = json_of(
        kb.post(
            &w.alice.key,
            "bulk-promote",
            Some(json!({"set_confidence": 0.85, "dry_run": false, "min_length": 30})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(real["dry_run"], false);
    assert_eq!(real["promoted_ids"], json!([eligible["id"], low["id"]]));
    for id in [&eligible["id"], &low["id"]] {
        let e = kb.get(&w.alice, id).await;
        assert_eq!(e["claim_class"], "claim");
        assert_eq!(e["confidence"], 0.85);
        assert_eq!(e["promoted_by"], w.alice.id);
    }
    assert_eq!(kb.get(&w.alice, &short["id"]).await["claim_class"], "note");

    for bad in [
        json!({"min_length": 0}),
        json!({"min_confidence": 2.0}),
        json!({"set_confidence": -1.0}),
        json!({"entry_type": "x".repeat(65)}),
        json!({"dry_run": "no"}),
    ] {
        error_of(
            kb.post(&w.alice.key, "bulk-promote", Some(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn dismiss_stale_after_ninety_days() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let kb = Kb::new(&app, &create(&app, &alice, "acme/app", None).await);
    let stale = kb
        .add(&alice, json!({"content": FIRST, "confidence": 0.3}))
        .await;
    let confident = kb
        .add(&alice, json!({"content": SECOND, "confidence": 0.9}))
        .await;
    let refreshed = kb
        .add(&alice, json!({"content": THIRD, "confidence": 0.2}))
        .await;
    app.clock().advance(Duration::days(91));
    json_of(
        kb.put(&alice.key, &format!("{}/refresh", refreshed["id"]), None)
            .await,
        StatusCode::OK,
    )
    .await;
    let fresh = kb
        .add(
            &alice,
            json!({"content": "A fresh low-confidence hunch about flaky network tests", "confidence": 0.1}),
        )
        .await;

    let got = json_of(
        kb.post(&alice.key, "dismiss-stale", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got, json!({"dismissed_count": 1}));
    let e = kb.get(&alice, &stale["id"]).await;
    assert_eq!(e["dismissed"], true);
    assert_eq!(e["dismissed_at"], Value::Null);
    for id in [&confident["id"], &refreshed["id"], &fresh["id"]] {
        assert_eq!(kb.get(&alice, id).await["dismissed"], false);
    }
    let again = json_of(
        kb.post(&alice.key, "dismiss-stale", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["dismissed_count"], 0);
}

#[tokio::test]
async fn curation_standing_scopes_and_tenancy() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let kb = Kb::new(
        &app,
        &create(&app, &w.alice, "acme/app", Some(&w.org)).await,
    );
    let a = kb.add(&w.alice, json!({"content": FIRST})).await;
    let b = kb.add(&w.alice, json!({"content": SECOND})).await;
    let a_id = a["id"].clone();
    let (a, b) = (a["id"].to_string(), b["id"].to_string());
    let editor_routes = || {
        let body = Some;
        vec![
            (Method::PUT, format!("{a}/refresh"), None),
            (
                Method::PUT,
                format!("{a}/supersede"),
                body(json!({"superseding_id": b.parse::<i64>().unwrap(), "reason": "r"})),
            ),
            (Method::PUT, format!("{a}/promote"), None),
            (
                Method::PUT,
                format!("{a}/confidence"),
                body(json!({"confidence": 0.9})),
            ),
            (Method::POST, "bulk-promote".to_string(), body(json!({}))),
            (Method::POST, "dismiss-stale".to_string(), None),
        ]
    };
    let links = kb.links("entry", &a);

    // An outsider gets 404 on every route, the links too.
    for err in kb
        .refusals(&w.eve.key, editor_routes(), StatusCode::NOT_FOUND)
        .await
    {
        assert_eq!(err["message"], "Project not found");
    }
    error_of(
        app.get(&w.eve, &links).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;

    // A reader through a captured session reads the links but curates nothing.
    app.push_new(&w.eve, "ses_0123456789abcdef", "work on app")
        .await;
    for err in kb
        .refusals(&w.eve.key, editor_routes(), StatusCode::FORBIDDEN)
        .await
    {
        assert_eq!(err["code"], "project_edit_forbidden");
    }
    json_of(
        app.get(&w.eve, &links).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.count("knowledge_links").await, 0);
    let entry = kb.get(&w.alice, &a_id).await;
    assert_eq!(entry["freshness_class"], "current");
    assert_eq!(entry["confidence"], 0.7);

    // An org member edits.
    let got = json_of(
        kb.put(
            &w.bob.key,
            &format!("{a}/confidence"),
            Some(json!({"confidence": 0.95})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(got["confidence"], 0.95);

    // Service keys: `knowledge:write` reaches refresh/supersede/promote; the user-only routes
    // refuse every service key; `knowledge:read` is not enough to curate.
    let writer = mint(
        &app,
        &w.alice,
        &w.org,
        json!(["knowledge:write"]),
        Value::Null,
    )
    .await;
    let read_only = mint(
        &app,
        &w.alice,
        &w.org,
        json!(["knowledge:read"]),
        Value::Null,
    )
    .await;
    let res = kb.put(&read_only, &format!("{a}/refresh"), None).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "insufficient_scope"
    );
    json_of(
        kb.put(&writer, &format!("{a}/refresh"), None).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        kb.put(&writer, &format!("{a}/promote"), None).await,
        StatusCode::OK,
    )
    .await;
    json_of(
        kb.put(
            &writer,
            &format!("{a}/supersede"),
            Some(json!({"superseding_id": b.parse::<i64>().unwrap(), "reason": "r"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let user_only = editor_routes().into_iter().skip(3).collect();
    for err in kb.refusals(&writer, user_only, StatusCode::FORBIDDEN).await {
        assert_eq!(err["code"], "service_key_not_allowed");
    }
    let res = call(&app, &writer, Method::GET, &links, None).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["code"],
        "service_key_not_allowed"
    );

    // A key of another org is outside the boundary.
    let zed = app.signup("zed@example.com").await;
    let other_org = json_of(
        call(
            &app,
            &zed.key,
            Method::POST,
            "/api/v1/org",
            Some(json!({"name": "Zed", "slug": "zed"})),
        )
        .await,
        StatusCode::OK,
    )
    .await["org_id"]
        .as_str()
        .unwrap()
        .to_string();
    let foreign = mint(
        &app,
        &zed,
        &other_org,
        json!(["knowledge:write"]),
        Value::Null,
    )
    .await;
    let res = kb.put(&foreign, &format!("{a}/refresh"), None).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "cross_org_denied"
    );
}
