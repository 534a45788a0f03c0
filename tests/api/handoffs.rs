//! Handoffs: the state machine, claim without copying bytes, comments and events, expiry,
//! validation, and tenancy (a third user sees nothing).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

const ID: &str = "ses_0123456789abcdef";

async fn post(app: &TestApp, user: &User, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app.request(Method::POST, path, Some(&user.key));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn hand_off(app: &TestApp, from: &User, to_email: &str) -> Value {
    let body = json!({"session_id": ID, "recipient_email": format!("  {} ", to_email.to_uppercase()), "message": "over to you"});
    json_of(
        post(app, from, paths::HANDOFFS, Some(body)).await,
        StatusCode::CREATED,
    )
    .await
}

struct Trio {
    app: TestApp,
    alice: User,
    bob: User,
    carol: User,
}

async fn trio() -> Trio {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let carol = app.signup("carol@example.com").await;
    app.push_new(&alice, ID, "Half-done refactor").await;
    Trio {
        app,
        alice,
        bob,
        carol,
    }
}

#[tokio::test]
async fn create_view_claim_and_pull() {
    let Trio {
        app,
        alice,
        bob,
        carol,
    } = trio().await;
    let h = hand_off(&app, &alice, "bob@example.com").await;
    let id = h["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("hnd_") && id.len() == 36, "{id}");
    assert_eq!(h["status"], "pending");
    assert_eq!(h["recipient_email"], "bob@example.com");
    assert_eq!(h["sender_email"], "alice@example.com");
    assert_eq!(h["session_title"], "Half-done refactor");
    assert_eq!(h["session_message_count"], 4);
    assert_eq!(h["handoff_kind"], "individual");

    for path in [paths::HANDOFFS_INBOX, "/api/v1/handoffs/inbox/"] {
        let inbox = json_of(app.get(&bob, path).send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(inbox["total"], 1, "{path}");
        assert_eq!(inbox["handoffs"][0]["id"], id.as_str());
    }
    let sent = json_of(
        app.get(&alice, "/api/v1/handoffs/sent/")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["total"], 1);
    let none = json_of(
        app.get(&carol, "/api/v1/handoffs/inbox/")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["total"], 0);

    // The sender looking does not mark it viewed; the recipient does, once.
    let seen = json_of(
        app.get(&alice, &paths::handoff(&id)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["viewed_at"], Value::Null);
    let seen = json_of(
        app.get(&bob, &paths::handoff(&id)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(seen["viewed_at"].is_string());
    json_of(
        app.get(&bob, &paths::handoff(&id)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;

    // The sender cannot claim their own handoff.
    error_of(
        post(&app, &alice, &paths::handoff_claim(&id), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let claimed = json_of(
        post(&app, &bob, &paths::handoff_claim(&id), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["active_ticket_payload"], Value::Null);
    let copy = claimed["recipient_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(copy.starts_with("ses_") && copy != ID);

    // Bob owns a session that shares Alice's archive: same bytes, one file on disk.
    let original = app.pull(&alice, ID, None).await.bytes().await.unwrap();
    let res = app.pull(&bob, &copy, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), original);
    assert_eq!(app.stored_files().len(), 1);
    let detail = json_of(
        app.get(&bob, &paths::session(&copy)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["parent_session_id"], ID);
    assert_eq!(detail["original_session_id"], ID);
    assert_eq!(detail["title"], "Half-done refactor");
    // Deleting Bob's copy leaves Alice's session alone.
    app.request(Method::DELETE, &paths::session_cloud(&copy), Some(&bob.key))
        .send()
        .await
        .unwrap();
    assert_eq!(app.pull(&alice, ID, None).await.status(), StatusCode::OK);

    let err = error_of(
        post(&app, &bob, &paths::handoff_claim(&id), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Handoff already claimed");
    let err = error_of(
        post(
            &app,
            &alice,
            &paths::handoff_revoke(&id),
            Some(json!({"reason": "x"})),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Cannot revoke a claimed handoff");

    // Carol, not a party, sees nothing of it.
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::POST, "/claim", None),
        (Method::POST, "/decline", Some(json!({}))),
        (Method::POST, "/revoke", Some(json!({"reason": "mine now"}))),
        (Method::GET, "/comments", None),
        (Method::POST, "/comments", Some(json!({"content": "hi"}))),
        (Method::GET, "/events", None),
    ] {
        let mut req = app.request(
            method.clone(),
            &format!("/api/v1/handoffs/{id}{suffix}"),
            Some(&carol.key),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        let err = error_of(req.send().await.unwrap(), StatusCode::NOT_FOUND).await;
        assert_eq!(err["message"], "Handoff not found", "{method} {suffix}");
    }
}

#[tokio::test]
async fn decline_revoke_comments_and_events() {
    let Trio {
        app, alice, bob, ..
    } = trio().await;
    let h = hand_off(&app, &alice, "bob@example.com").await;
    let id = h["id"].as_str().unwrap().to_string();
    error_of(
        post(&app, &alice, &paths::handoff_decline(&id), None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_of(
        post(
            &app,
            &bob,
            &paths::handoff_revoke(&id),
            Some(json!({"reason": "x"})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let c1 = json_of(
        post(
            &app,
            &bob,
            &paths::handoff_comments(&id),
            Some(json!({"content": "Which branch?"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(c1["id"].as_str().unwrap().starts_with("hcm_"));
    json_of(
        post(
            &app,
            &alice,
            &paths::handoff_comments(&id),
            Some(json!({"content": "main"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    error_of(
        post(
            &app,
            &alice,
            &paths::handoff_comments(&id),
            Some(json!({"content": ""})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let comments = json_of(
        app.get(&alice, &format!("/api/v1/handoffs/{id}/comments?limit=500"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let texts: Vec<&str> = comments
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["Which branch?", "main"]);

    let declined = json_of(
        post(&app, &bob, &paths::handoff_decline(&id), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(declined["status"], "declined");
    let err = error_of(
        post(&app, &bob, &paths::handoff_claim(&id), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Handoff is declined and cannot be claimed");
    let err = error_of(
        post(&app, &bob, &paths::handoff_decline(&id), Some(json!({}))).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Cannot decline a declined handoff");

    let events = json_of(
        app.get(&bob, &paths::handoff_events(&id))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "commented", "commented", "declined"]);

    let h2 = hand_off(&app, &alice, "bob@example.com").await;
    let id2 = h2["id"].as_str().unwrap();
    error_of(
        post(&app, &alice, &paths::handoff_revoke(id2), Some(json!({}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let revoked = json_of(
        post(
            &app,
            &alice,
            &paths::handoff_revoke(id2),
            Some(json!({"reason": "wrong person"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoke_reason"], "wrong person");
    let err = error_of(
        post(&app, &bob, &paths::handoff_claim(id2), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Handoff is revoked and cannot be claimed");
}

#[tokio::test]
async fn expiry_is_persisted_and_enforced() {
    let Trio {
        app, alice, bob, ..
    } = trio().await;
    let h = hand_off(&app, &alice, "bob@example.com").await;
    let id = h["id"].as_str().unwrap().to_string();
    // Past the default expiry (168 hours).
    app.clock().advance(Duration::hours(169));
    let err = error_of(
        app.get(&bob, &paths::handoff(&id)).send().await.unwrap(),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(err["message"], "Handoff has expired");
    error_of(
        post(&app, &bob, &paths::handoff_claim(&id), None).await,
        StatusCode::GONE,
    )
    .await;
    let err = error_of(
        post(
            &app,
            &alice,
            &paths::handoff_revoke(&id),
            Some(json!({"reason": "late"})),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Cannot revoke a expired handoff");
    error_of(
        post(&app, &bob, &paths::handoff_decline(&id), None).await,
        StatusCode::CONFLICT,
    )
    .await;
    let sent = json_of(
        app.get(&alice, paths::HANDOFFS_SENT).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["handoffs"][0]["status"], "expired");
    let events = json_of(
        app.get(&alice, &paths::handoff_events(&id))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let expired: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["actor_user_id"], Value::Null);
}

#[tokio::test]
async fn creation_rules() {
    let Trio {
        app, alice, bob, ..
    } = trio().await;
    for body in [
        json!({"session_id": ID}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "recipient_user_id": bob.id}),
        json!({"session_id": ID, "recipient_email": "   "}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "expires_in_hours": 0}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "message": "x".repeat(2001)}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "ticket_id": "tk_1"}),
    ] {
        error_of(
            post(&app, &alice, paths::HANDOFFS, Some(body.clone())).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let err = error_of(
        post(
            &app,
            &alice,
            paths::HANDOFFS,
            Some(json!({"session_id": ID, "recipient_user_id": "no-such-user"})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Recipient user not found");
    error_of(
        post(
            &app,
            &alice,
            paths::HANDOFFS,
            Some(json!({"session_id": ID, "recipient_team_id": "team_1"})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Bob cannot hand off Alice's session.
    let err = error_of(
        post(
            &app,
            &bob,
            paths::HANDOFFS,
            Some(json!({"session_id": ID, "recipient_email": "c@x.io"})),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Session not found");
    // By user id; the expiry is clamped below enterprise.
    let by_id = json_of(
        post(
            &app,
            &alice,
            paths::HANDOFFS,
            Some(json!({"session_id": ID, "recipient_user_id": bob.id, "expires_in_hours": 2000})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let inbox = json_of(
        app.get(&bob, paths::HANDOFFS_INBOX).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(inbox["handoffs"][0]["id"], by_id["id"]);
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/handoffs/{}/preview",
            by_id["id"].as_str().unwrap()
        )))
        .header("X-Preview-Token", "hpr_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Handoff not found"
    );

    let starter =
        TestApp::spawn_with(|c| c.default_tier = sessionfs_server::domain::tiers::Tier::Starter)
            .await;
    let dan = starter.signup("dan@example.com").await;
    starter.push_new(&dan, ID, "t").await;
    let res = post(
        &starter,
        &dan,
        paths::HANDOFFS,
        Some(json!({"session_id": ID, "recipient_email": "e@x.io"})),
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["feature"],
        "handoff"
    );
}

#[tokio::test]
async fn undelete_expires_pending_handoffs() {
    let Trio {
        app, alice, bob, ..
    } = trio().await;
    let h = hand_off(&app, &alice, "bob@example.com").await;
    let etag = app.pull(&alice, ID, None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    app.request(Method::DELETE, &paths::session_cloud(ID), Some(&alice.key))
        .send()
        .await
        .unwrap();
    let err = error_of(
        post(
            &app,
            &bob,
            &format!("/api/v1/handoffs/{}/claim", h["id"].as_str().unwrap()),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Source session no longer exists");
    let archive = sessionfs_server::archive::fixture::session_archive(ID, "Back", "x", 2);
    json_of(
        app.push_with(&alice, ID, archive, |b| {
            b.header("X-SessionFS-Undelete", "true")
                .header("If-Match", etag)
        })
        .await,
        StatusCode::OK,
    )
    .await;
    let sent = json_of(
        app.get(&alice, paths::HANDOFFS_SENT).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["handoffs"][0]["status"], "expired");
}
