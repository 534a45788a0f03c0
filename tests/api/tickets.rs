//! Tickets (02 §5): both status machines route by route, the lease under concurrent agents,
//! the audited PUT, dependencies, comments, escalate, watchers, tenancy and standing.

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::common::{error_of, json_of, paths, ProjectWorld, TestApp, User};

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| c.rate_limit_per_minute = 0).await
}

/// The shared world with Dave reading the project through a captured session, and its board.
async fn world(app: &TestApp) -> (ProjectWorld<'_>, Board<'_>) {
    let w = app.world_with().reader().create().await;
    let board = Board {
        app,
        project: w.project.clone(),
    };
    (w, board)
}

/// The tickets of one project, and what people do with them.
struct Board<'a> {
    app: &'a TestApp,
    project: String,
}

impl Board<'_> {
    fn list_path(&self) -> String {
        paths::tickets(&self.project)
    }
    fn path(&self, id: &str) -> String {
        paths::ticket(&self.project, id)
    }
    fn act(&self, id: &str, action: &str) -> String {
        paths::ticket_action(&self.project, id, action)
    }

    async fn try_create(&self, key: &str, body: Value) -> Response {
        self.app
            .call(Some(key), Method::POST, &self.list_path(), Some(body))
            .await
    }

    /// Creates a ticket as `user` (asserting 201); returns it.
    async fn create(&self, user: &User, body: Value) -> Value {
        json_of(self.try_create(&user.key, body).await, StatusCode::CREATED).await
    }

    /// A human task titled `title` (open); returns its id.
    async fn task(&self, user: &User, title: &str) -> String {
        let t = self.create(user, json!({"title": title})).await;
        assert_eq!(t["status"], "open");
        t["id"].as_str().unwrap().to_string()
    }

    async fn get(&self, user: &User, id: &str) -> Value {
        json_of(self.app.as_(user).get(&self.path(id)).await, StatusCode::OK).await
    }

    /// `POST …/{action}` without a body (`complete` gets its required notes).
    async fn mv(&self, key: &str, id: &str, action: &str) -> Response {
        let (action, body) = match action {
            "complete" => ("complete", Some(json!({"notes": "done it"}))),
            other => (other, None),
        };
        self.app
            .call(Some(key), Method::POST, &self.act(id, action), body)
            .await
    }

    /// `action` as `user`, asserting 200; returns the ticket.
    async fn ok(&self, user: &User, id: &str, action: &str) -> Value {
        let body = json_of(self.mv(&user.key, id, action).await, StatusCode::OK).await;
        if action.starts_with("start") {
            body["ticket"].clone()
        } else {
            body
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The machines, written out again from the contract (02 §5.3) so the server is checked against
// an independent copy.

fn legal(kind: &str, from: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = match (kind, from) {
        ("task", "suggested") => vec!["open", "cancelled"],
        ("task", "open") => vec!["in_progress", "cancelled"],
        ("task", "in_progress") => vec!["blocked", "review"],
        ("task", "blocked") => vec!["in_progress"],
        ("task", "review") => vec!["done", "open"],
        ("issue", "open") => vec!["in_progress", "cancelled"],
        ("issue", "in_progress") => vec!["closed", "open", "cancelled"],
        _ => vec![],
    };
    v.sort();
    v
}

fn listing(kind: &str, from: &str) -> String {
    let l = legal(kind, from);
    if l.is_empty() {
        "(none — terminal state)".into()
    } else {
        l.join(", ")
    }
}

/// The strict mapping: `(sources, target)` of a route for a kind.
fn route(kind: &str, route: &str) -> (Vec<&'static str>, &'static str) {
    match (route, kind) {
        ("approve", "task") => (vec!["suggested"], "open"),
        ("approve", _) => (vec![], "open"),
        ("start", _) => (vec!["open"], "in_progress"),
        ("start?force=true", "task") => (vec!["open", "blocked"], "in_progress"),
        ("start?force=true", _) => (vec!["open"], "in_progress"),
        ("block", "task") => (vec!["in_progress"], "blocked"),
        ("block", _) => (vec![], "blocked"),
        ("unblock", "task") => (vec!["blocked"], "in_progress"),
        ("unblock", _) => (vec![], "in_progress"),
        ("complete", "task") => (vec!["in_progress"], "review"),
        ("complete", _) => (vec![], "review"),
        ("accept" | "resolve", "task") => (vec!["review"], "done"),
        ("accept" | "resolve", _) => (vec![], "done"),
        ("reopen", "task") => (vec!["review"], "open"),
        ("reopen", _) => (vec!["in_progress"], "open"),
        ("dismiss", "task") => (vec!["suggested", "open"], "cancelled"),
        ("dismiss", _) => (vec!["open", "in_progress"], "cancelled"),
        ("close", "issue") => (vec!["in_progress"], "closed"),
        ("close", _) => (vec![], "closed"),
        other => panic!("no route {other:?}"),
    }
}

const ROUTES: [&str; 11] = [
    "approve",
    "start",
    "start?force=true",
    "block",
    "unblock",
    "complete",
    "accept",
    "resolve",
    "reopen",
    "dismiss",
    "close",
];

/// A ticket of `kind` brought to `status` by legal moves, by Alice (owner).
async fn ticket_in(b: &Board<'_>, alice: &User, kind: &str, status: &str) -> String {
    let body = match (kind, status) {
        ("task", "suggested") => json!({"title": "agent task", "source": "agent",
            "description": "A description long enough for an agent.", "acceptance_criteria": ["works"]}),
        ("task", _) => json!({"title": "a task"}),
        _ => json!({"title": "an issue", "kind": "issue"}),
    };
    let t = b.create(alice, body).await;
    let id = t["id"].as_str().unwrap().to_string();
    let path: &[&str] = match (kind, status) {
        (_, "suggested") | (_, "open") => &[],
        (_, "in_progress") => &["start"],
        ("task", "blocked") => &["start", "block"],
        ("task", "review") => &["start", "complete"],
        ("task", "done") => &["start", "complete", "accept"],
        ("issue", "closed") => &["start", "close"],
        (_, "cancelled") => &["dismiss"],
        other => panic!("no way to {other:?}"),
    };
    for step in path {
        b.ok(alice, &id, step).await;
    }
    assert_eq!(b.get(alice, &id).await["status"], status);
    id
}

#[tokio::test]
async fn every_state_and_route_of_both_machines() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let cases: [(&str, &[&str]); 2] = [
        (
            "task",
            &[
                "suggested",
                "open",
                "in_progress",
                "blocked",
                "review",
                "done",
                "cancelled",
            ],
        ),
        ("issue", &["open", "in_progress", "closed", "cancelled"]),
    ];
    for (kind, statuses) in cases {
        for status in statuses {
            for r in ROUTES {
                let id = ticket_in(&b, &w.alice, kind, status).await;
                let before = b.get(&w.alice, &id).await;
                let res = b.mv(&w.alice.key, &id, r).await;
                let (sources, target) = route(kind, r);
                let case = format!("{kind} {status} /{r}");
                if sources.contains(status) {
                    let body = json_of(res, StatusCode::OK).await;
                    let t = if r.starts_with("start") {
                        &body["ticket"]
                    } else {
                        &body
                    };
                    assert_eq!(t["status"], target, "{case}");
                    let epoch = before["lease_epoch"].as_i64().unwrap();
                    let bumped = if r.starts_with("start") { 1 } else { 0 };
                    assert_eq!(t["lease_epoch"], epoch + bumped, "{case}");
                    continue;
                }
                let (code, message) = match r {
                    "start" | "start?force=true" => {
                        let expected = if kind == "task" && r.contains("force") {
                            "['blocked', 'open']"
                        } else {
                            "['open']"
                        };
                        (
                            StatusCode::CONFLICT,
                            format!("Cannot start ticket: current status is '{status}', expected one of {expected}."),
                        )
                    }
                    "accept" | "resolve" => (
                        StatusCode::CONFLICT,
                        format!(
                            "Cannot accept ticket: current status is '{status}', expected 'review'. \
                             Legal transitions from '{status}': {}.",
                            listing(kind, status)
                        ),
                    ),
                    "close" if kind == "task" => (
                        StatusCode::BAD_REQUEST,
                        format!("Cannot close ticket '{id}': kind='task'."),
                    ),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        format!(
                            "Cannot transition from '{status}' to '{target}'. Legal transitions \
                             from '{status}': {}.",
                            listing(kind, status)
                        ),
                    ),
                };
                let err = error_of(res, code).await;
                let got = err["message"].as_str().unwrap();
                assert!(got.starts_with(&message), "{case}: {got} / {message}");
                if code == StatusCode::BAD_REQUEST && !(r == "close" && kind == "task") {
                    assert_eq!(got, message, "{case}");
                }
                assert_eq!(
                    b.get(&w.alice, &id).await,
                    before,
                    "{case}: nothing changed"
                );
            }
        }
    }
}

/// Mints `n` service keys of `org` with the ticket scopes.
async fn agents(app: &TestApp, admin: &User, org: &str, n: usize) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..n {
        let key = app
            .as_(admin)
            .mint_service_key(
                org,
                json!({"name": format!("agent-{i}"), "scopes": ["tickets:read", "tickets:write"]}),
            )
            .await;
        keys.push(key["key"].as_str().unwrap().to_string());
    }
    keys
}

#[tokio::test]
async fn concurrent_starts_one_winner_one_epoch_looped() {
    const AGENTS: usize = 8;
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let keys = agents(&app, &w.alice, &w.org, AGENTS).await;
    for round in 0..100 {
        let id = b.task(&w.alice, "contested").await;
        let barrier = Arc::new(tokio::sync::Barrier::new(AGENTS));
        let mut racers = Vec::new();
        for key in &keys {
            let (client, url) = (app.client.clone(), app.url(&b.act(&id, "start")));
            let (key, barrier) = (key.clone(), barrier.clone());
            racers.push(tokio::spawn(async move {
                let req = client.post(url).bearer_auth(key);
                barrier.wait().await;
                let res = req.send().await.unwrap();
                (res.status(), res.text().await.unwrap())
            }));
        }
        let mut wins = 0;
        for r in racers {
            let (status, text) = r.await.unwrap();
            match status {
                StatusCode::OK => wins += 1,
                StatusCode::CONFLICT => assert!(
                    text.contains("Cannot start ticket: current status is 'in_progress'"),
                    "{text}"
                ),
                other => panic!("round {round}: {other} {text}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let t = b.get(&w.alice, &id).await;
        assert_eq!(t["lease_epoch"], 1, "round {round}");
        assert_eq!(t["status"], "in_progress");
    }
    assert_eq!(app.count("retrieval_audit_contexts").await, 100);
}

#[tokio::test]
async fn a_stale_agent_cannot_complete_after_another_start_looped() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let keys = agents(&app, &w.alice, &w.org, 2).await;
    let (first, second) = (&keys[0], &keys[1]);
    for _ in 0..100 {
        let id = b.task(&w.alice, "handed over").await;
        let started = json_of(b.mv(first, &id, "start").await, StatusCode::OK).await;
        let lease = started["ticket"]["lease_epoch"].as_i64().unwrap();
        assert!(started["retrieval_audit_id"]
            .as_str()
            .unwrap()
            .starts_with("ra_"));
        b.ok(&w.alice, &id, "block").await;
        let taken = json_of(b.mv(second, &id, "start?force=true").await, StatusCode::OK).await;
        assert_eq!(taken["ticket"]["lease_epoch"], lease + 1);
        let before = b.get(&w.alice, &id).await;
        let res = app
            .call(
                Some(first),
                Method::POST,
                &b.act(&id, "complete"),
                Some(json!({"notes": "stale work", "lease_epoch": lease})),
            )
            .await;
        let err = error_of(res, StatusCode::CONFLICT).await;
        assert_eq!(
            err["message"],
            format!(
                "Stale ticket lease: provided lease_epoch={lease}, current lease_epoch={}.",
                lease + 1
            )
        );
        assert_eq!(b.get(&w.alice, &id).await, before);
        let res = app
            .call(
                Some(second),
                Method::POST,
                &b.act(&id, "complete"),
                Some(json!({"notes": "fresh work", "lease_epoch": lease + 1})),
            )
            .await;
        let done = json_of(res, StatusCode::OK).await;
        assert_eq!(done["status"], "review");
        assert_eq!(done["completion_notes"], "fresh work");
        assert_eq!(done["lease_epoch"], lease + 1, "complete keeps the lease");
    }
}

#[tokio::test]
async fn create_list_get_and_by_id() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let issue = b
        .create(
            &w.alice,
            json!({"title": "  Parser issues  ", "kind": "issue", "priority": "high"}),
        )
        .await;
    assert_eq!(issue["title"], "Parser issues");
    assert_eq!(issue["kind"], "issue");
    assert_eq!(issue["status"], "open");
    let iid = issue["id"].as_str().unwrap();
    assert!(iid.starts_with("tk_") && iid.len() == 19, "{iid}");
    let child = b
        .create(
            &w.bob,
            json!({"title": "Fix tabs", "parent_ticket_id": iid, "assigned_to": "Atlas",
                "acceptance_criteria": ["tabs parse"], "file_refs": ["src/parse.rs"]}),
        )
        .await;
    let cid = child["id"].as_str().unwrap();
    for (key, value) in [
        ("priority", json!("medium")),
        ("assigned_to", json!("Atlas")),
        ("lease_epoch", json!(0)),
        ("depends_on", json!([])),
        ("child_ticket_ids", json!([])),
        ("jira", Value::Null),
        ("jira_publish_in_progress", json!(false)),
        ("created_by_user_id", json!(w.bob.id)),
        ("resolved_at", Value::Null),
    ] {
        assert_eq!(child[key], value, "{key}");
    }
    let dep = b
        .create(
            &w.bob,
            json!({"title": "Follows", "depends_on": [cid, cid]}),
        )
        .await;
    assert_eq!(dep["depends_on"], json!([cid]), "duplicates dropped");

    // List: newest first, filters.
    let list = json_of(app.as_(&w.bob).get(&b.list_path()).await, StatusCode::OK).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [dep["id"].as_str().unwrap(), cid, iid]);
    assert_eq!(list[2]["child_ticket_ids"], json!([cid]));
    for (query, expected) in [
        ("kind=issue", vec![iid]),
        ("assigned_to=atlas", vec![cid]),
        ("priority=high", vec![iid]),
        ("status=done", vec![]),
    ] {
        let list = json_of(
            app.as_(&w.bob)
                .get(&paths::query(&b.list_path(), query))
                .await,
            StatusCode::OK,
        )
        .await;
        let got: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{query}");
    }
    let err = error_of(
        app.as_(&w.bob)
            .get(&paths::query(&b.list_path(), "kind=epic"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(err["message"], "kind must be one of: ['issue', 'task']");

    // GET: dependents and the three newest comments.
    for n in 0..4 {
        let res = app
            .as_(&w.bob)
            .post(
                &b.act(cid, "comments"),
                json!({"content": format!("note {n}")}),
            )
            .await;
        json_of(res, StatusCode::CREATED).await;
    }
    let got = b.get(&w.bob, cid).await;
    assert_eq!(got["dependents"], json!([dep["id"]]));
    let recent: Vec<&str> = got["recent_comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(recent, ["note 3", "note 2", "note 1"]);
    let by_id = json_of(
        app.as_(&w.carol).get(&paths::ticket_by_id(cid)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_id["project_name"], "app");
    assert_eq!(by_id["comment_count"], 4);
    assert_eq!(by_id["parent_ticket_id"], iid);
    for who in [&w.eve] {
        let err = error_of(
            app.as_(who).get(&paths::ticket_by_id(cid)).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(err["message"], "Ticket not found");
    }
    let err = error_of(
        app.as_(&w.bob)
            .get(&paths::ticket_by_id("tk_0000000000000000"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Ticket not found");
    let err = error_of(
        app.as_(&w.bob).get(&b.path("tk_0000000000000000")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Ticket not found");
}

#[tokio::test]
async fn create_refusals_write_nothing() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let task = b.task(&w.alice, "a task").await;
    let agent = |extra: Value| {
        let mut body = json!({"title": "agent", "source": "agent",
            "description": "Twenty characters or more here.", "acceptance_criteria": ["ok"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases: Vec<(&User, Value, StatusCode, &str)> = vec![
        (&w.alice, json!({"title": "   "}), StatusCode::UNPROCESSABLE_ENTITY, "Validation error"),
        (&w.alice, json!({"title": "x".repeat(201)}), StatusCode::UNPROCESSABLE_ENTITY, "Validation error"),
        (&w.alice, json!({"title": "t", "priority": "urgent"}), StatusCode::UNPROCESSABLE_ENTITY, "Validation error"),
        (&w.alice, json!({"title": "t", "kind": "epic"}), StatusCode::UNPROCESSABLE_ENTITY, "Validation error"),
        (&w.alice, json!({"title": "t", "source": "robot"}), StatusCode::UNPROCESSABLE_ENTITY, "Validation error"),
        (&w.bob, json!({"title": "t", "kind": "issue"}), StatusCode::FORBIDDEN, "Only a project admin may create issues"),
        (&w.alice, json!({"title": "t", "kind": "issue", "parent_ticket_id": task}), StatusCode::BAD_REQUEST, "An issue cannot have a parent ticket"),
        (&w.alice, json!({"title": "t", "parent_ticket_id": "tk_0000000000000000"}), StatusCode::UNPROCESSABLE_ENTITY, "Parent ticket 'tk_0000000000000000' not found in this project"),
        (&w.alice, json!({"title": "t", "parent_ticket_id": task}), StatusCode::UNPROCESSABLE_ENTITY, "is not an issue"),
        (&w.alice, agent(json!({"acceptance_criteria": []})), StatusCode::BAD_REQUEST, "Agent-created tickets require at least one acceptance criterion"),
        (&w.alice, agent(json!({"description": "too short"})), StatusCode::BAD_REQUEST, "Agent-created tickets require a description"),
        (&w.alice, json!({"title": "t", "depends_on": ["tk_ffffffffffffffff", "tk_0000000000000000"]}), StatusCode::BAD_REQUEST,
            "depends_on references unknown or cross-project ticket(s): ['tk_0000000000000000', 'tk_ffffffffffffffff']. Dependencies must exist in the same project."),
    ];
    for (who, body, status, message) in cases {
        let err = error_of(b.try_create(&who.key, body.clone()).await, status).await;
        assert!(
            err["message"].as_str().unwrap().contains(message),
            "{body}: {err}"
        );
    }
    assert_eq!(app.count("tickets").await, 1);

    // An agent task lands suggested; three per session.
    for n in 0..3 {
        let t = b
            .create(
                &w.alice,
                agent(json!({"created_by_session_id": "ses_x", "title": format!("a{n}")})),
            )
            .await;
        assert_eq!(t["status"], "suggested");
    }
    let err = error_of(
        b.try_create(
            &w.alice.key,
            agent(json!({"created_by_session_id": "ses_x"})),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(err["message"], "Maximum 3 tickets per session");
    // A reader's task is suggested too.
    let t = b.create(&w.dave, json!({"title": "from a reader"})).await;
    assert_eq!(t["status"], "suggested");
}

#[tokio::test]
async fn put_is_partial_fenced_and_audited() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.bob, "original").await;
    let put = |user: &User, body: Value| {
        let path = b.path(&id);
        let key = user.key.clone();
        let app = &app;
        async move { app.call(Some(&key), Method::PUT, &path, Some(body)).await }
    };

    // lease_epoch alone is a fence, not a mutation.
    let err = error_of(
        put(&w.bob, json!({"lease_epoch": 0})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("lease_epoch alone"));
    // Neither creator nor admin.
    let err = error_of(
        put(&w.dave, json!({"title": "x"})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("Only the ticket creator or a project admin may update this ticket"));
    assert_eq!(app.count("ticket_edits").await, 0);

    // A real change: one edit row per field and one system comment.
    let t = json_of(
        put(&w.bob, json!({"title": "renamed", "priority": "high", "file_refs": ["a.rs"], "description": ""})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["title"], "renamed");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["lease_epoch"], 0, "an unfenced PUT keeps the lease");
    assert_eq!(
        app.count("ticket_edits").await,
        3,
        "description did not change"
    );
    let comments = json_of(
        app.as_(&w.bob).get(&b.act(&id, "comments")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(comments.as_array().unwrap().len(), 1);
    let c = &comments[0];
    assert_eq!(c["author_persona"], "system");
    assert_eq!(c["author_user_id"], w.bob.id);
    let text = c["content"].as_str().unwrap();
    assert!(
        text.contains("- title: \"original\" → \"renamed\""),
        "{text}"
    );
    assert!(
        text.contains("- file_refs: [0 item(s)] → [1 item(s)]"),
        "{text}"
    );
    assert!(text.contains("no lease_epoch"), "{text}");

    // A no-op writes nothing.
    json_of(
        put(&w.bob, json!({"title": "renamed", "priority": "high"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(app.count("ticket_edits").await, 3);
    assert_eq!(app.count("ticket_comments").await, 1);

    // The admin may edit; a fenced PUT moves the lease on; a stale one is refused whole.
    let t = json_of(
        put(&w.carol, json!({"description": "more", "lease_epoch": 0})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(t["lease_epoch"], 1);
    let before = b.get(&w.bob, &id).await;
    let err = error_of(
        put(&w.bob, json!({"title": "late", "lease_epoch": 0})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["code"], "409");
    assert_eq!(
        err["message"],
        "Ticket lease_epoch has advanced since you read it. Re-fetch the ticket and retry."
    );
    assert_eq!(
        err["details"],
        json!({"error": "stale_lease_epoch", "passed_lease_epoch": 0, "current_lease_epoch": 1})
    );
    assert_eq!(b.get(&w.bob, &id).await, before);
    // Bob (member, not admin) may not edit Alice's ticket.
    let other = b.task(&w.alice, "alice's").await;
    let res = app
        .call(
            Some(&w.bob.key),
            Method::PUT,
            &b.path(&other),
            Some(json!({"title": "mine"})),
        )
        .await;
    error_of(res, StatusCode::FORBIDDEN).await;

    // An executing agent's lease goes stale after a fenced PUT (02 §9.3, kept for compatibility).
    let started = b.ok(&w.bob, &id, "start").await;
    let lease = started["lease_epoch"].as_i64().unwrap();
    json_of(
        put(
            &w.bob,
            json!({"description": "scope", "lease_epoch": lease}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let res = app
        .call(
            Some(&w.bob.key),
            Method::POST,
            &b.act(&id, "complete"),
            Some(json!({"notes": "n", "lease_epoch": lease})),
        )
        .await;
    error_of(res, StatusCode::CONFLICT).await;
    // A reader-creator may not change guarded fields once work started.
    let mine = b.create(&w.dave, json!({"title": "reader's"})).await;
    let mine = mine["id"].as_str().unwrap();
    b.ok(&w.alice, mine, "approve").await;
    b.ok(&w.dave, mine, "start").await;
    let res = app
        .call(
            Some(&w.dave.key),
            Method::PUT,
            &b.path(mine),
            Some(json!({"title": "new", "file_refs": []})),
        )
        .await;
    let err = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(err["code"], "project_edit_forbidden");
    assert_eq!(err["details"]["fields"], json!(["title"]));
}

#[tokio::test]
async fn depends_on_validation_and_cycles() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let [a, bb, c] = [
        b.task(&w.alice, "a").await,
        b.task(&w.alice, "b").await,
        b.task(&w.alice, "c").await,
    ];
    let put = |id: &str, deps: Value| {
        let path = b.path(id);
        let app = &app;
        let key = w.alice.key.clone();
        async move {
            app.call(
                Some(&key),
                Method::PUT,
                &path,
                Some(json!({"depends_on": deps})),
            )
            .await
        }
    };
    json_of(put(&bb, json!([a])).await, StatusCode::OK).await;
    json_of(put(&c, json!([bb, bb])).await, StatusCode::OK).await;
    assert_eq!(b.get(&w.alice, &c).await["depends_on"], json!([bb]));
    let edits = app.count("ticket_edits").await;
    let err = error_of(put(&a, json!([c])).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        err["message"],
        format!("Adding dependency on '{c}' would create a cycle reaching '{a}'.")
    );
    let err = error_of(put(&a, json!([a])).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(err["message"], "A ticket cannot depend on itself");
    // Another project's ticket is unknown here.
    let ob = Board {
        app: &app,
        project: w.other_project().await,
    };
    let foreign = ob.task(&w.alice, "elsewhere").await;
    let err = error_of(put(&a, json!([foreign])).await, StatusCode::BAD_REQUEST).await;
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("depends_on references unknown"));
    assert_eq!(
        app.count("ticket_edits").await,
        edits,
        "refusals write nothing"
    );
    assert_eq!(b.get(&w.alice, &a).await["depends_on"], json!([]));
}

#[tokio::test]
async fn accept_tells_and_unblocks_dependents() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let first = b.task(&w.alice, "Lexer").await;
    let waiting = b
        .create(
            &w.alice,
            json!({"title": "Parser", "depends_on": [first], "context_refs": ["7"]}),
        )
        .await;
    let waiting = waiting["id"].as_str().unwrap();
    b.ok(&w.alice, waiting, "start").await;
    b.ok(&w.alice, waiting, "block").await;
    let started = b.ok(&w.alice, &first, "start").await;
    let res = app
        .as_(&w.alice)
        .post(&b.act(&first, "complete"), json!({"notes": "Lexer emits TAB tokens.", "knowledge_entry_ids": ["7", "9"], "lease_epoch": started["lease_epoch"]}))
        .await;
    json_of(res, StatusCode::OK).await;
    // `resolve` with the lease as the CLI sends it.
    let res = app
        .as_(&w.alice)
        .post_empty(&paths::query(
            &b.act(&first, "resolve"),
            &format!("lease_epoch={}", started["lease_epoch"]),
        ))
        .await;
    let done = json_of(res, StatusCode::OK).await;
    assert_eq!(done["status"], "done");
    assert!(done["resolved_at"].is_string());
    let t = b.get(&w.alice, waiting).await;
    assert_eq!(t["status"], "in_progress", "all dependencies done");
    assert_eq!(t["context_refs"], json!(["7", "9"]));
    let comments = json_of(
        app.as_(&w.alice).get(&b.act(waiting, "comments")).await,
        StatusCode::OK,
    )
    .await;
    let text = comments[0]["content"].as_str().unwrap();
    assert_eq!(
        text,
        format!("Dependency #{first} (Lexer) completed:\n\nLexer emits TAB tokens.")
    );
    // The next start of the dependent carries the notes in its context.
    b.ok(&w.alice, waiting, "complete").await;
    b.ok(&w.alice, waiting, "reopen").await;
    let started = json_of(b.mv(&w.alice.key, waiting, "start").await, StatusCode::OK).await;
    let ctx = started["compiled_context"].as_str().unwrap();
    assert!(ctx.contains("# Current Ticket: Parser"), "{ctx}");
    assert!(
        ctx.contains(&format!(
            "## From completed dependency #{first} (Lexer)\nLexer emits TAB tokens."
        )),
        "{ctx}"
    );
    assert!(ctx.contains("## Recent Comments"), "{ctx}");
    assert_eq!(started["persona_name"], Value::Null);
}

#[tokio::test]
async fn comments_page_fence_and_validate() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.alice, "talk").await;
    let post = |body: Value| {
        let path = b.act(&id, "comments");
        let app = &app;
        let key = w.alice.key.clone();
        async move { app.call(Some(&key), Method::POST, &path, Some(body)).await }
    };
    let mut made = Vec::new();
    for n in 0..5 {
        let c = json_of(
            post(json!({"content": format!(" c{n} "), "author_persona": "atlas"})).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(c["content"], format!("c{n}"));
        assert_eq!(c["source"], "sessionfs");
        assert!(c["id"].as_str().unwrap().starts_with("tc_"));
        made.push(c);
    }
    let page = |q: String| {
        let path = paths::query(&b.act(&id, "comments"), &q);
        let app = &app;
        let user = w.bob.clone();
        async move { app.as_(&user).get(&path).await }
    };
    let all = json_of(page("limit=2".into()).await, StatusCode::OK).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["id"], made[0]["id"]);
    let since = made[2]["created_at"].as_str().unwrap();
    let after = json_of(
        page(format!(
            "since={}&since_id={}",
            urlencode(since),
            made[2]["id"].as_str().unwrap()
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(after[0]["id"], made[3]["id"]);
    for bad in ["limit=0", "limit=501", "since=yesterday"] {
        error_of(page(bad.into()).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    for body in [
        json!({"content": "   "}),
        json!({"content": "x".repeat(10_001)}),
        json!({}),
    ] {
        error_of(post(body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let err = error_of(
        post(json!({"content": "late", "lease_epoch": 3})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        err["message"],
        "Stale ticket lease: provided lease_epoch=3, current lease_epoch=0."
    );
    let err = error_of(
        post(json!({"content": "to jira", "send_to_jira": true})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["details"]["error"], "jira_comment_sync_off");
    assert_eq!(app.count("ticket_comments").await, 5);
    // A reader may comment; the review state is null without trusted reviewers.
    json_of(
        app.as_(&w.dave)
            .post(&b.act(&id, "comments"), json!({"content": "from a reader"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let rs = json_of(
        app.as_(&w.dave).get(&b.act(&id, "review-state")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rs, json!({"ticket_id": id, "review_state": null}));
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn escalate_raises_one_level_with_audit() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let t = b
        .create(&w.alice, json!({"title": "slow", "priority": "high"}))
        .await;
    let id = t["id"].as_str().unwrap();
    let res = app
        .as_(&w.alice)
        .post(&b.act(id, "escalate"), json!({"reason": "customers wait"}))
        .await;
    let e = json_of(res, StatusCode::OK).await;
    assert_eq!(e["escalated"], true);
    assert_eq!(e["escalated_from"], "high");
    assert_eq!(e["escalated_to"], "critical");
    assert_eq!(e["priority"], "critical");
    let comments = json_of(
        app.as_(&w.alice).get(&b.act(id, "comments")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(comments.as_array().unwrap().len(), 2);
    assert_eq!(comments[0]["author_persona"], "system");
    assert_eq!(
        comments[1]["content"],
        "Escalated high → critical: customers wait"
    );
    assert_eq!(app.count("ticket_edits").await, 1);
    let e = json_of(
        app.as_(&w.alice).post_empty(&b.act(id, "escalate")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(e["escalated"], false);
    assert_eq!(
        app.count("ticket_comments").await,
        2,
        "nothing written at critical"
    );
    error_of(
        app.as_(&w.bob).post_empty(&b.act(id, "escalate")).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn watchers_follow_and_unfollow() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.alice, "watched").await;
    let list = json_of(
        app.as_(&w.bob).get(&b.act(&id, "watchers")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1, "the creator follows");
    let on = json_of(
        app.as_(&w.bob).put(&b.act(&id, "watch"), json!({})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(on["watching"], true);
    let list = json_of(
        app.as_(&w.bob).get(&b.act(&id, "watchers")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    json_of(
        app.as_(&w.bob).delete(&b.act(&id, "watch")).await,
        StatusCode::OK,
    )
    .await;
    let list = json_of(
        app.as_(&w.bob).get(&b.act(&id, "watchers")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list[0]["email"], w.alice.email);
}

/// Every route of a ticket: `(method, path, body)`.
fn every_route(b: &Board<'_>, id: &str) -> Vec<(Method, String, Option<Value>)> {
    let mut out = vec![
        (Method::GET, b.list_path(), None),
        (Method::POST, b.list_path(), Some(json!({"title": "t"}))),
        (Method::GET, b.path(id), None),
        (Method::PUT, b.path(id), Some(json!({"title": "t"}))),
        (
            Method::POST,
            b.act(id, "complete"),
            Some(json!({"notes": "n"})),
        ),
        (Method::GET, b.act(id, "comments"), None),
        (
            Method::POST,
            b.act(id, "comments"),
            Some(json!({"content": "c"})),
        ),
        (Method::GET, b.act(id, "review-state"), None),
        (Method::PUT, b.act(id, "watch"), None),
        (Method::DELETE, b.act(id, "watch"), None),
        (Method::GET, b.act(id, "watchers"), None),
    ];
    for action in [
        "start", "accept", "resolve", "reopen", "block", "unblock", "approve", "dismiss", "close",
        "escalate",
    ] {
        out.push((Method::POST, b.act(id, action), None));
    }
    out
}

#[tokio::test]
async fn outsiders_get_404_on_every_route() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.alice, "private").await;
    let before = b.get(&w.alice, &id).await;
    for (method, path, body) in every_route(&b, &id) {
        let res = app
            .call(Some(&w.eve.key), method.clone(), &path, body)
            .await;
        let err = error_of(res, StatusCode::NOT_FOUND).await;
        assert_eq!(err["message"], "Project not found", "{method} {path}");
    }
    assert_eq!(b.get(&w.alice, &id).await, before);
    assert_eq!(app.count("tickets").await, 1);
}

#[tokio::test]
async fn standing_readers_members_and_other_orgs_keys() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.alice, "alice's").await;
    // A reader (no edit standing): approve never, execute only their own, no PUT of others'.
    let readers_own = b.create(&w.dave, json!({"title": "dave's"})).await;
    let readers_own = readers_own["id"].as_str().unwrap();
    for action in ["start", "approve", "dismiss"] {
        let err = error_of(b.mv(&w.dave.key, &id, action).await, StatusCode::FORBIDDEN).await;
        assert_eq!(err["code"], "project_edit_forbidden", "{action}");
    }
    let err = error_of(
        b.mv(&w.dave.key, readers_own, "approve").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "project_edit_forbidden");
    b.ok(&w.carol, readers_own, "approve").await;
    b.ok(&w.dave, readers_own, "start").await;
    b.ok(&w.dave, readers_own, "complete").await;
    // …and may not accept what they resolved.
    let err = error_of(
        b.mv(&w.dave.key, readers_own, "accept").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "project_edit_forbidden");
    b.ok(&w.alice, readers_own, "accept").await;

    // A member is not an admin: no issue, no close.
    let issue = b
        .create(&w.carol, json!({"title": "epic", "kind": "issue"}))
        .await;
    let issue = issue["id"].as_str().unwrap();
    b.ok(&w.bob, issue, "start").await;
    let err = error_of(
        b.mv(&w.bob.key, issue, "close").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "403");
    b.ok(&w.carol, issue, "close").await;

    // Another org's service key: cross_org_denied; user-only routes refuse service keys.
    let key = w
        .foreign_key(json!(["tickets:read", "tickets:write"]))
        .await;
    let before = b.get(&w.alice, &id).await;
    for (method, path, body) in every_route(&b, &id) {
        let res = app.call(Some(&key), method.clone(), &path, body).await;
        let err = error_of(res, StatusCode::FORBIDDEN).await;
        let user_only = [
            "reopen", "block", "unblock", "approve", "dismiss", "close", "watch", "watchers",
        ]
        .iter()
        .any(|a| path.ends_with(a));
        if user_only {
            assert_eq!(err["code"], "service_key_not_allowed", "{method} {path}");
        } else {
            assert_eq!(
                err["details"]["error"], "cross_org_denied",
                "{method} {path}"
            );
        }
    }
    let err = error_of(
        app.call(Some(&key), Method::GET, &paths::ticket_by_id(&id), None)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Ticket not found");
    assert_eq!(b.get(&w.alice, &id).await, before);

    // The org's own key works inside the boundary, and PUT still needs creator or admin.
    let own = agents(&app, &w.alice, &w.org, 1).await.remove(0);
    json_of(
        app.call(Some(&own), Method::GET, &paths::ticket_by_id(&id), None)
            .await,
        StatusCode::OK,
    )
    .await;
    let t = json_of(
        b.try_create(&own, json!({"title": "by a bot"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(t["created_by_user_id"], w.alice.id, "the key's minter");
    let res = app
        .call(
            Some(&own),
            Method::PUT,
            &b.path(&id),
            Some(json!({"title": "bot edit"})),
        )
        .await;
    json_of(res, StatusCode::OK).await;
}

#[tokio::test]
async fn the_projects_plan_must_have_agent_tickets() {
    let app = spawn().await;
    let frank = app.user("frank").tier("pro").create().await;
    let project = app.as_(&frank).create_project("frank/app", None).await;
    let b = Board {
        app: &app,
        project: project["id"].as_str().unwrap().to_string(),
    };
    let err = error_of(
        app.as_(&frank).get(&b.list_path()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "upgrade_required");
    assert_eq!(err["details"]["feature"], "agent_tickets");
    assert_eq!(err["details"]["plan_scope"], "project");
    assert_eq!(err["details"]["required_tier"], "team");
    assert_eq!(
        err["message"],
        "This feature requires the project's plan to be team or above."
    );
    app.set_tier(&frank, "team").await;
    json_of(app.as_(&frank).get(&b.list_path()).await, StatusCode::OK).await;
}

#[tokio::test]
async fn lifecycle_bodies_may_be_absent_empty_or_null() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let id = b.task(&w.alice, "bodies").await;
    for (action, body) in [
        ("start", json!({})),
        ("block", Value::Null),
        ("unblock", json!({})),
    ] {
        let res = app.as_(&w.alice).post(&b.act(&id, action), body).await;
        json_of(res, StatusCode::OK).await;
    }
    json_of(
        app.as_(&w.alice)
            .post(&b.act(&id, "complete"), json!({"notes": "n"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let res = app
        .as_(&w.alice)
        .post(&b.act(&id, "accept"), json!({"lease_epoch": 0}))
        .await;
    let err = error_of(res, StatusCode::CONFLICT).await;
    assert_eq!(
        err["message"],
        "Stale ticket lease: provided lease_epoch=0, current lease_epoch=1."
    );
    let res = app
        .as_(&w.alice)
        .post(&b.act(&id, "accept"), Value::Null)
        .await;
    assert_eq!(json_of(res, StatusCode::OK).await["status"], "done");
    let err = error_of(
        app.as_(&w.alice)
            .post(&b.act(&id, "complete"), json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", "notes"]));
}

#[tokio::test]
async fn start_hands_the_assigned_persona_and_its_context() {
    let app = spawn().await;
    let (w, b) = world(&app).await;
    let res = app
        .as_(&w.alice)
        .post(
            &paths::personas(&b.project),
            json!({"name": "atlas", "role": "Backend Architect", "content": "You design APIs."}),
        )
        .await;
    json_of(res, StatusCode::CREATED).await;
    let t = b
        .create(
            &w.alice,
            json!({"title": "Design the API", "assigned_to": "ATLAS",
            "acceptance_criteria": ["documented"]}),
        )
        .await;
    assert_eq!(t["assigned_to"], "atlas", "the canonical name is stored");
    let id = t["id"].as_str().unwrap();
    let started = json_of(
        b.mv(&w.alice.key, id, "start?tool=cursor").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(started["persona_name"], "atlas");
    let ctx = started["compiled_context"].as_str().unwrap();
    assert!(
        ctx.starts_with("# You are atlas — Backend Architect\n\nYou design APIs.\n---\n\n# Current Ticket: Design the API\nKind: task\nPriority: medium\nStatus: in_progress\n"),
        "{ctx}"
    );
    assert!(ctx.contains("- [ ] documented"), "{ctx}");
    assert!(ctx.chars().count() <= 16_000, "cursor's budget");

    // A name that is no active persona is stored as given and cannot be started.
    let t = b
        .create(
            &w.alice,
            json!({"title": "Nobody's", "assigned_to": "ghost"}),
        )
        .await;
    assert_eq!(t["assigned_to"], "ghost");
    let id = t["id"].as_str().unwrap();
    let before = b.get(&w.alice, id).await;
    let err = error_of(
        b.mv(&w.alice.key, id, "start").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        err["message"].as_str().unwrap().contains("'ghost'"),
        "{err}"
    );
    assert_eq!(b.get(&w.alice, id).await, before);
}
