//! A body that is present must parse and match its type (422 naming the field), never turn
//! into the defaults; an absent or empty body still means the defaults. Query parameters too.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

const ID: &str = "ses_0123456789abcdef";

/// Sends `body` as is, with `content_type`.
async fn raw(
    app: &TestApp,
    user: &User,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    app.request(method, path, Some(&user.key))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Asserts a 422 whose first error is located at `loc`.
async fn refused_at(res: reqwest::Response, loc: Value) {
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["details"]["errors"][0]["loc"], loc, "{err}");
}

const JSON: &str = "application/json";

#[tokio::test]
async fn share_links_refuse_a_misread_body_and_create_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice).push_new(ID, "shared").await;
    let path = paths::session_share(ID);
    let cases = [
        (
            r#"{"expires_in_hours": 1.5, "password": "hunter2"}"#,
            json!(["body", "expires_in_hours"]),
        ),
        (r#"{"password": 12345}"#, json!(["body", "password"])),
        (
            r#"{"expires_in_hours": "2"}"#,
            json!(["body", "expires_in_hours"]),
        ),
        ("true", json!(["body"])),
    ];
    for (body, loc) in cases {
        refused_at(
            raw(&app, &alice, Method::POST, &path, JSON, body).await,
            loc,
        )
        .await;
    }
    let err = error_of(
        raw(
            &app,
            &alice,
            Method::POST,
            &path,
            JSON,
            r#"{"password": "x""#,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err["details"]["errors"][0]["type"], "json_invalid", "{err}");
    assert_eq!(app.count("share_links").await, 0);
    // Absent and whitespace-only bodies are the defaults: a public 24 h link.
    for body in ["", "  \n"] {
        let link = json_of(
            raw(&app, &alice, Method::POST, &path, JSON, body).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(link["has_password"], false, "{link}");
    }
    // A well-typed password is honoured.
    let link = json_of(
        raw(
            &app,
            &alice,
            Method::POST,
            &path,
            JSON,
            r#"{"password": "hunter2", "expires_in_hours": 2}"#,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(link["has_password"], true, "{link}");
}

#[tokio::test]
async fn personal_keys_refuse_a_name_of_the_wrong_type() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let keys = app.count("api_keys").await;
    for (body, loc) in [
        (r#"{"name": 123}"#, json!(["body", "name"])),
        (r#"{"name": "#, json!(["body", "9"])),
    ] {
        refused_at(
            raw(&app, &alice, Method::POST, paths::KEYS, JSON, body).await,
            loc,
        )
        .await;
    }
    assert_eq!(app.count("api_keys").await, keys);
}

#[tokio::test]
async fn default_org_is_not_cleared_by_a_body_that_does_not_parse() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let org = Value::from(app.as_(&alice).create_org("acme").await.id);
    let path = paths::DEFAULT_ORG;
    json_of(
        raw(
            &app,
            &alice,
            Method::PUT,
            path,
            JSON,
            &json!({"org_id": org}).to_string(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    for (content_type, body) in [
        ("text/plain", "acme"),
        ("text/plain", ""),
        (JSON, r#"{"org_id": 7}"#),
        (JSON, "{"),
    ] {
        let res = raw(&app, &alice, Method::PUT, path, content_type, body).await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{content_type} {body:?}"
        );
    }
    let now = json_of(app.as_(&alice).get(path).await, StatusCode::OK).await;
    assert_eq!(now["default_org_id"], org);
}

#[tokio::test]
async fn service_key_revoke_refuses_a_reason_of_the_wrong_type() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let org = app.as_(&alice).create_org("acme").await.id;
    let key = json_of(
        app.as_(&alice)
            .post(
                &paths::service_keys(&org),
                json!({"name": "ci", "scopes": ["handoffs:write"]}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let key_id = key["id"].as_str().or(key["key_id"].as_str()).unwrap();
    let path = paths::service_key(&org, key_id);
    refused_at(
        raw(
            &app,
            &alice,
            Method::DELETE,
            &path,
            JSON,
            r#"{"reason": 123}"#,
        )
        .await,
        json!(["body", "reason"]),
    )
    .await;
    let res = raw(&app, &alice, Method::DELETE, &path, JSON, "not json").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listed = json_of(
        app.as_(&alice).get(&paths::service_keys(&org)).await,
        StatusCode::OK,
    )
    .await;
    let text = listed.to_string();
    assert!(text.contains(key_id), "{text}");
    assert!(
        !text.contains("\"revoked_at\":\"20"),
        "the key was revoked: {text}"
    );
}

#[tokio::test]
async fn handoff_bodies_and_limits_are_strict() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "handed").await;
    let h = json_of(
        app.as_(&alice)
            .post(
                paths::HANDOFFS,
                json!({"session_id": ID, "recipient_email": "bob@example.com"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let id = h["id"].as_str().unwrap();
    refused_at(
        raw(
            &app,
            &bob,
            Method::POST,
            &paths::handoff_decline(id),
            JSON,
            r#"{"reason": 5}"#,
        )
        .await,
        json!(["body", "reason"]),
    )
    .await;
    refused_at(
        raw(
            &app,
            &alice,
            Method::POST,
            &paths::handoff_revoke(id),
            JSON,
            r#"{"reason": ["x"]}"#,
        )
        .await,
        json!(["body", "reason"]),
    )
    .await;
    let res = raw(
        &app,
        &bob,
        Method::POST,
        &paths::handoff_decline(id),
        JSON,
        "{,}",
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let now = json_of(
        app.as_(&alice).get(&paths::handoff(id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(now["status"], "pending", "{now}");
    for list in [paths::handoff_comments(id), paths::handoff_events(id)] {
        refused_at(
            app.as_(&alice).get(&paths::query(&list, "limit=abc")).await,
            json!(["query", "limit"]),
        )
        .await;
        // Numbers out of range are clamped (contract 02).
        json_of(
            app.as_(&alice).get(&paths::query(&list, "limit=0")).await,
            StatusCode::OK,
        )
        .await;
    }
}
