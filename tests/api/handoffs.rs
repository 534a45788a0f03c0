//! Handoffs: the state machine, claim without copying bytes, comments and events, expiry,
//! validation, and tenancy (a third user sees nothing).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

#[tokio::test]
async fn create_view_claim_and_pull() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol] = app.users(["alice", "bob", "carol"]).await;
    app.as_(&alice).push_new(ID, "Half-done refactor").await;
    let h = app.as_(&alice).handoff(ID, "  BOB@EXAMPLE.COM ").await;
    let id = h["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("hnd_") && id.len() == 36, "{id}");
    assert_eq!(h["status"], "pending");
    assert_eq!(h["recipient_email"], "bob@example.com");
    assert_eq!(h["sender_email"], "alice@example.com");
    assert_eq!(h["session_title"], "Half-done refactor");
    assert_eq!(h["session_message_count"], 4);
    assert_eq!(h["handoff_kind"], "individual");

    for path in [paths::HANDOFFS_INBOX, &paths::slash(paths::HANDOFFS_INBOX)] {
        let inbox = json_of(app.as_(&bob).get(path).await, StatusCode::OK).await;
        assert_eq!(inbox["total"], 1, "{path}");
        assert_eq!(inbox["handoffs"][0]["id"], id.as_str());
    }
    let sent = json_of(
        app.as_(&alice)
            .get(&paths::slash(paths::HANDOFFS_SENT))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["total"], 1);
    let none = json_of(
        app.as_(&carol)
            .get(&paths::slash(paths::HANDOFFS_INBOX))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["total"], 0);

    // The sender looking does not mark it viewed; the recipient does, once.
    let seen = json_of(
        app.as_(&alice).get(&paths::handoff(&id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["viewed_at"], Value::Null);
    let seen = json_of(
        app.as_(&bob).get(&paths::handoff(&id)).await,
        StatusCode::OK,
    )
    .await;
    assert!(seen["viewed_at"].is_string());
    json_of(
        app.as_(&bob).get(&paths::handoff(&id)).await,
        StatusCode::OK,
    )
    .await;

    // The sender cannot claim their own handoff.
    error_of(app.as_(&alice).claim(&id).await, StatusCode::NOT_FOUND).await;
    let claimed = json_of(app.as_(&bob).claim(&id).await, StatusCode::OK).await;
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["active_ticket_payload"], Value::Null);
    let copy = claimed["recipient_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(copy.starts_with("ses_") && copy != ID);

    // Bob owns a session that shares Alice's archive: same bytes, one file on disk.
    let original = app.as_(&alice).pull(ID, None).await.bytes().await.unwrap();
    let res = app.as_(&bob).pull(&copy, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), original);
    assert_eq!(app.stored_files().len(), 1);
    let detail = json_of(
        app.as_(&bob).get(&paths::session(&copy)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["parent_session_id"], ID);
    assert_eq!(detail["original_session_id"], ID);
    assert_eq!(detail["title"], "Half-done refactor");
    // Deleting Bob's copy leaves Alice's session alone.
    app.as_(&bob).delete(&paths::session_cloud(&copy)).await;
    assert_eq!(
        app.as_(&alice).pull(ID, None).await.status(),
        StatusCode::OK
    );

    let err = error_of(app.as_(&bob).claim(&id).await, StatusCode::CONFLICT).await;
    assert_eq!(err["message"], "Handoff already claimed");
    let err = error_of(
        app.as_(&alice)
            .post(&paths::handoff_revoke(&id), json!({"reason": "x"}))
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
        let path = format!("{}{suffix}", paths::handoff(&id));
        let res = app.as_(&carol).call(method.clone(), &path, body).await;
        let err = error_of(res, StatusCode::NOT_FOUND).await;
        assert_eq!(err["message"], "Handoff not found", "{method} {suffix}");
    }
}

#[tokio::test]
async fn decline_revoke_comments_and_events() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Half-done refactor").await;
    let h = app.as_(&alice).handoff(ID, "  BOB@EXAMPLE.COM ").await;
    let id = h["id"].as_str().unwrap().to_string();
    error_of(
        app.as_(&alice)
            .post_empty(&paths::handoff_decline(&id))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_of(
        app.as_(&bob)
            .post(&paths::handoff_revoke(&id), json!({"reason": "x"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let c1 = json_of(
        app.as_(&bob)
            .post(
                &paths::handoff_comments(&id),
                json!({"content": "Which branch?"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(c1["id"].as_str().unwrap().starts_with("hcm_"));
    json_of(
        app.as_(&alice)
            .post(&paths::handoff_comments(&id), json!({"content": "main"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    error_of(
        app.as_(&alice)
            .post(&paths::handoff_comments(&id), json!({"content": ""}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let comments = json_of(
        app.as_(&alice)
            .get(&paths::query(&paths::handoff_comments(&id), "limit=500"))
            .await,
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
        app.as_(&bob).post_empty(&paths::handoff_decline(&id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(declined["status"], "declined");
    let err = error_of(app.as_(&bob).claim(&id).await, StatusCode::CONFLICT).await;
    assert_eq!(err["message"], "Handoff is declined and cannot be claimed");
    let err = error_of(
        app.as_(&bob)
            .post(&paths::handoff_decline(&id), json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Cannot decline a declined handoff");

    let events = json_of(
        app.as_(&bob).get(&paths::handoff_events(&id)).await,
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

    let h2 = app.as_(&alice).handoff(ID, "  BOB@EXAMPLE.COM ").await;
    let id2 = h2["id"].as_str().unwrap();
    error_of(
        app.as_(&alice)
            .post(&paths::handoff_revoke(id2), json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let revoked = json_of(
        app.as_(&alice)
            .post(
                &paths::handoff_revoke(id2),
                json!({"reason": "wrong person"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoke_reason"], "wrong person");
    let err = error_of(app.as_(&bob).claim(id2).await, StatusCode::CONFLICT).await;
    assert_eq!(err["message"], "Handoff is revoked and cannot be claimed");
}

#[tokio::test]
async fn expiry_is_persisted_and_enforced() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Half-done refactor").await;
    let h = app.as_(&alice).handoff(ID, "  BOB@EXAMPLE.COM ").await;
    let id = h["id"].as_str().unwrap().to_string();
    // Past the default expiry (168 hours).
    app.clock().advance(Duration::hours(169));
    let err = error_of(
        app.as_(&bob).get(&paths::handoff(&id)).await,
        StatusCode::GONE,
    )
    .await;
    assert_eq!(err["message"], "Handoff has expired");
    error_of(app.as_(&bob).claim(&id).await, StatusCode::GONE).await;
    let err = error_of(
        app.as_(&alice)
            .post(&paths::handoff_revoke(&id), json!({"reason": "late"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(err["message"], "Cannot revoke a expired handoff");
    error_of(
        app.as_(&bob).post_empty(&paths::handoff_decline(&id)).await,
        StatusCode::CONFLICT,
    )
    .await;
    let sent = json_of(
        app.as_(&alice).get(paths::HANDOFFS_SENT).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["handoffs"][0]["status"], "expired");
    let events = json_of(
        app.as_(&alice).get(&paths::handoff_events(&id)).await,
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
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Half-done refactor").await;
    for body in [
        json!({"session_id": ID}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "recipient_user_id": bob.id}),
        json!({"session_id": ID, "recipient_email": "   "}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "expires_in_hours": 0}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "message": "x".repeat(2001)}),
        json!({"session_id": ID, "recipient_email": "b@x.io", "ticket_id": "tk_1"}),
    ] {
        error_of(
            app.as_(&alice).post(paths::HANDOFFS, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let err = error_of(
        app.as_(&alice)
            .post(
                paths::HANDOFFS,
                json!({"session_id": ID, "recipient_user_id": "no-such-user"}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Recipient user not found");
    error_of(
        app.as_(&alice)
            .post(
                paths::HANDOFFS,
                json!({"session_id": ID, "recipient_team_id": "team_1"}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Bob cannot hand off Alice's session.
    let err = error_of(
        app.as_(&bob)
            .post(
                paths::HANDOFFS,
                json!({"session_id": ID, "recipient_email": "c@x.io"}),
            )
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Session not found");
    // By user id; the expiry is clamped below enterprise.
    let by_id = json_of(
        app.as_(&alice)
            .post(
                paths::HANDOFFS,
                json!({"session_id": ID, "recipient_user_id": bob.id, "expires_in_hours": 2000}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let inbox = json_of(
        app.as_(&bob).get(paths::HANDOFFS_INBOX).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(inbox["handoffs"][0]["id"], by_id["id"]);
    let res = app
        .client
        .get(app.url(&paths::handoff_preview(by_id["id"].as_str().unwrap())))
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
    starter.as_(&dan).push_new(ID, "t").await;
    let res = starter
        .as_(&dan)
        .post(
            paths::HANDOFFS,
            json!({"session_id": ID, "recipient_email": "e@x.io"}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["feature"],
        "handoff"
    );
}

#[tokio::test]
async fn undelete_expires_pending_handoffs() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Half-done refactor").await;
    let h = app.as_(&alice).handoff(ID, "  BOB@EXAMPLE.COM ").await;
    let etag = app.as_(&alice).pull(ID, None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    app.as_(&alice).delete(&paths::session_cloud(ID)).await;
    let err = error_of(
        app.as_(&bob).claim(h["id"].as_str().unwrap()).await,
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
        app.as_(&alice).get(paths::HANDOFFS_SENT).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(sent["handoffs"][0]["status"], "expired");
}
