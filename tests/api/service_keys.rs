//! Service keys: lifecycle, validation, every structured auth code they can provoke, and the
//! scope matrix (deny by default: a service key reaches only routes that declared its scope).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

const ID: &str = "ses_0123456789abcdef";

async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.request(method, path, Some(key));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// Alice owns org `acme`; Bob is a member.
async fn setup(app: &TestApp) -> (User, User, String) {
    let alice = app.signup("alice@example.com").await;
    let bob = app.signup("bob@example.com").await;
    let org = json_of(
        call(
            app,
            &alice.key,
            Method::POST,
            paths::ORG,
            Some(json!({"name": "Acme", "slug": "acme"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let org = org["org_id"].as_str().unwrap().to_string();
    let inv = json_of(
        call(
            app,
            &alice.key,
            Method::POST,
            paths::ORG_INVITE,
            Some(json!({"email": "bob@example.com"})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    call(
        app,
        &bob.key,
        Method::POST,
        &format!(
            "/api/v1/org/invite/{}/accept",
            inv["invite_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    (alice, bob, org)
}

async fn mint(app: &TestApp, admin: &User, org: &str, body: Value) -> Value {
    json_of(
        call(
            app,
            &admin.key,
            Method::POST,
            &paths::service_keys(org),
            Some(body),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn lifecycle_and_validation() {
    let app = TestApp::spawn().await;
    let (alice, bob, org) = setup(&app).await;
    let path = format!("/api/v1/orgs/{org}/service-keys");
    let key = mint(
        &app,
        &alice,
        &org,
        json!({"name": " ci-bot ", "scopes": ["handoffs:write", "tickets:read", "handoffs:write"],
        "expires_in_days": 30, "project_ids": [" p1 ", "p1", ""]}),
    )
    .await;
    assert_eq!(key["name"], "ci-bot");
    assert_eq!(key["scopes"], json!(["handoffs:write", "tickets:read"]));
    assert_eq!(key["project_ids"], json!(["p1"]));
    assert_eq!(key["org_id"], org.as_str());
    let raw = key["key"].as_str().unwrap();
    assert_eq!(key["key_prefix"], &raw[..12]);
    assert!(key["expires_at"].is_string());

    // Members list (prefix only); outsiders and other orgs see nothing.
    let list = json_of(
        call(&app, &bob.key, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("key").is_none());
    let eve = app.signup("eve@example.com").await;
    error_of(
        call(&app, &eve.key, Method::GET, &path, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Members cannot mint.
    let res = call(
        &app,
        &bob.key,
        Method::POST,
        &path,
        Some(json!({"name": "x", "scopes": ["tickets:read"]})),
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "insufficient_role"
    );

    for (body, field) in [
        (json!({"name": "x", "scopes": ["*"]}), "scopes"),
        (json!({"name": "x", "scopes": ["nope:read"]}), "scopes"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "  ", "scopes": ["tickets:read"]}), "name"),
        (
            json!({"name": "x", "scopes": ["tickets:read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "scopes": ["tickets:read"], "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scopes": ["tickets:read"], "expires_at": "2999-01-01T00:00:00Z", "expires_in_days": 3}),
            "expires_at",
        ),
    ] {
        let err = error_of(
            call(&app, &alice.key, Method::POST, &path, Some(body)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(err["details"]["errors"][0]["loc"][1], field);
    }
    let res = call(
        &app,
        &alice.key,
        Method::POST,
        &path,
        Some(json!({"name": "x", "scopes": ["admin_metrics:read"]})),
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "platform_admin_scope"
    );
    let dated = mint(
        &app,
        &alice,
        &org,
        json!({"name": "dated", "scopes": ["tickets:read"], "expires_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    assert!(dated["expires_at"]
        .as_str()
        .unwrap()
        .starts_with("2999-01-01"));

    // Rotate: a new key, the old one revoked with the reason, rotation of a revoked key refused.
    let id = key["id"].as_str().unwrap();
    let rotated = json_of(
        call(
            &app,
            &alice.key,
            Method::POST,
            &format!("{path}/{id}/rotate"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(rotated["id"], key["id"]);
    assert_eq!(rotated["scopes"], key["scopes"]);
    let new_raw = rotated["key"].as_str().unwrap();
    let err = error_of(
        call(&app, raw, Method::GET, paths::ME, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_revoked");
    let err = error_of(
        call(&app, new_raw, Method::GET, paths::ME, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "service_key_not_allowed");
    let res = call(
        &app,
        &alice.key,
        Method::POST,
        &format!("{path}/{id}/rotate"),
        None,
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::CONFLICT).await["details"]["error"],
        "key_already_revoked"
    );
    let list = json_of(
        call(&app, &alice.key, Method::GET, &path, None).await,
        StatusCode::OK,
    )
    .await;
    let old = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key["id"])
        .unwrap()
        .clone();
    assert_eq!(old["revoke_reason"], "rotated by alice@example.com");
    assert_eq!(old["is_active"], false);

    // Revoke (body optional, idempotent); unknown keys and user keys are not service keys.
    let new_id = rotated["id"].as_str().unwrap();
    let res = call(
        &app,
        &alice.key,
        Method::DELETE,
        &format!("{path}/{new_id}"),
        Some(json!({"revoke_reason": "retired"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        call(
            &app,
            &alice.key,
            Method::DELETE,
            &format!("{path}/{new_id}"),
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    let err = error_of(
        call(&app, new_raw, Method::GET, paths::ME, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_revoked");
    let res = call(
        &app,
        &alice.key,
        Method::DELETE,
        &format!("{path}/nope"),
        None,
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Service key not found"
    );
}

#[tokio::test]
async fn structured_auth_codes() {
    let app = TestApp::spawn().await;
    let (alice, _bob, org) = setup(&app).await;
    app.push_new(&alice, ID, "Shared work").await;
    let writer = mint(
        &app,
        &alice,
        &org,
        json!({"name": "agent", "scopes": ["handoffs:write"], "expires_in_days": 1}),
    )
    .await;
    let reader = mint(
        &app,
        &alice,
        &org,
        json!({"name": "reader", "scopes": ["tickets:read"]}),
    )
    .await;
    let (w, r) = (
        writer["key"].as_str().unwrap(),
        reader["key"].as_str().unwrap(),
    );

    // A service key on a route that declared no scope.
    let err = error_of(
        call(&app, w, Method::GET, paths::SESSIONS, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "service_key_not_allowed");
    assert_eq!(
        err["details"],
        json!({"error": "service_key_not_allowed", "service_key_name": "agent"})
    );

    // A missing scope names what is required and what the key has.
    let body = json!({"session_id": ID, "recipient_email": "bob@example.com"});
    let err = error_of(
        call(&app, r, Method::POST, paths::HANDOFFS, Some(body.clone())).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "insufficient_scope");
    assert_eq!(err["details"]["required"], json!(["handoffs:write"]));
    assert_eq!(err["details"]["current"], json!(["tickets:read"]));

    // With the scope, the project boundary decides: the session has no registered project…
    let err = error_of(
        call(&app, w, Method::POST, paths::HANDOFFS, Some(body)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        err["details"]["error"],
        "service_key_project_not_registered"
    );
    // …and a missing session has no project at all.
    let gone = json!({"session_id": "ses_ffffffffffffffff", "recipient_email": "bob@example.com"});
    let err = error_of(
        call(&app, w, Method::POST, paths::HANDOFFS, Some(gone)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "service_key_project_required");

    // Expired.
    app.clock().advance(Duration::days(2));
    let err = error_of(
        call(&app, w, Method::POST, paths::HANDOFFS, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_expired");
}

/// Every authenticated route the server answers, as (method, path).
const USER_ONLY_ROUTES: &[(&str, &str)] = &[
    ("GET", paths::ME),
    ("POST", paths::KEYS),
    ("GET", paths::KEYS),
    ("DELETE", "/api/v1/auth/keys/k1"),
    ("GET", paths::MY_API_KEYS),
    ("POST", paths::MY_API_KEYS),
    ("DELETE", "/api/v1/auth/me/api-keys/k1"),
    ("GET", paths::DEFAULT_ORG),
    ("PUT", paths::DEFAULT_ORG),
    ("GET", paths::SESSIONS),
    ("POST", paths::SESSIONS),
    ("GET", "/api/v1/sessions/ses_0123456789abcdef"),
    ("PATCH", "/api/v1/sessions/ses_0123456789abcdef"),
    ("DELETE", "/api/v1/sessions/ses_0123456789abcdef"),
    ("POST", "/api/v1/sessions/ses_0123456789abcdef/restore"),
    ("PUT", "/api/v1/sessions/ses_0123456789abcdef/sync"),
    ("GET", "/api/v1/sessions/ses_0123456789abcdef/sync"),
    ("GET", "/api/v1/sessions/ses_0123456789abcdef/messages"),
    ("PUT", "/api/v1/sessions/ses_0123456789abcdef/alias"),
    ("DELETE", "/api/v1/sessions/ses_0123456789abcdef/alias"),
    ("POST", "/api/v1/sessions/ses_0123456789abcdef/share"),
    ("DELETE", "/api/v1/sessions/ses_0123456789abcdef/share/l1"),
    ("GET", paths::SYNC_SETTINGS),
    ("PUT", paths::SYNC_SETTINGS),
    ("GET", paths::SYNC_WATCHLIST),
    ("POST", "/api/v1/sync/watch/ses_0123456789abcdef"),
    ("DELETE", "/api/v1/sync/watch/ses_0123456789abcdef"),
    ("PUT", "/api/v1/sync/watch/ses_0123456789abcdef/synced"),
    ("GET", paths::SYNC_STATUS),
    ("GET", paths::HANDOFFS_INBOX),
    ("GET", paths::HANDOFFS_SENT),
    ("GET", "/api/v1/handoffs/hnd_0000000000000000"),
    ("GET", "/api/v1/handoffs/hnd_0000000000000000/comments"),
    ("GET", "/api/v1/handoffs/hnd_0000000000000000/events"),
    ("POST", paths::ORG),
    ("GET", paths::ORG),
    ("POST", paths::ORG_INVITE),
    ("POST", "/api/v1/org/invite/i1/accept"),
    ("POST", "/api/v1/org/invite/i1/decline"),
    ("GET", paths::ORG_INVITES),
    ("GET", paths::MY_INVITES),
    ("DELETE", "/api/v1/org/invites/i1"),
    ("POST", "/api/v1/orgs/o1/invites/i1/resend"),
    ("POST", "/api/v1/orgs/o1/invite"),
    ("PUT", "/api/v1/org/members/u1/role"),
    ("DELETE", "/api/v1/org/members/u1"),
    ("GET", paths::ORGS),
    ("POST", "/api/v1/orgs/o1/service-keys"),
    ("GET", "/api/v1/orgs/o1/service-keys"),
    ("DELETE", "/api/v1/orgs/o1/service-keys/k1"),
    ("POST", "/api/v1/orgs/o1/service-keys/k1/rotate"),
    ("POST", "/api/v1/admin/users/u1/api-keys"),
    ("GET", paths::BILLING_STATUS),
    ("POST", paths::BILLING_CHECKOUT),
    ("POST", "/api/v1/billing/portal"),
];

/// Routes that declared a scope, and the scope.
const SCOPED_ROUTES: &[(&str, &str, &str)] = &[
    ("POST", paths::HANDOFFS, "handoffs:write"),
    (
        "POST",
        "/api/v1/handoffs/hnd_0000000000000000/claim",
        "handoffs:write",
    ),
    (
        "POST",
        "/api/v1/handoffs/hnd_0000000000000000/revoke",
        "handoffs:write",
    ),
    (
        "POST",
        "/api/v1/handoffs/hnd_0000000000000000/decline",
        "handoffs:write",
    ),
    (
        "POST",
        "/api/v1/handoffs/hnd_0000000000000000/comments",
        "handoffs:write",
    ),
];

#[tokio::test]
async fn scope_matrix() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 0).await;
    let (alice, _bob, org) = setup(&app).await;
    let every_scope: Vec<&str> = sessionfs_server::auth::scopes::VOCABULARY
        .iter()
        .copied()
        .filter(|s| !sessionfs_server::auth::scopes::PLATFORM_ONLY.contains(s))
        .collect();
    let all = mint(
        &app,
        &alice,
        &org,
        json!({"name": "all", "scopes": every_scope}),
    )
    .await;
    let all = all["key"].as_str().unwrap();
    for (method, path) in USER_ONLY_ROUTES {
        let res = call(&app, all, method.parse().unwrap(), path, Some(json!({}))).await;
        let err = error_of(res, StatusCode::FORBIDDEN).await;
        assert_eq!(err["code"], "service_key_not_allowed", "{method} {path}");
    }
    for (method, path, scope) in SCOPED_ROUTES {
        let others: Vec<&str> = every_scope.iter().copied().filter(|s| s != scope).collect();
        let without = mint(
            &app,
            &alice,
            &org,
            json!({"name": "without", "scopes": others}),
        )
        .await;
        let res = call(
            &app,
            without["key"].as_str().unwrap(),
            method.parse().unwrap(),
            path,
            Some(json!({})),
        )
        .await;
        let err = error_of(res, StatusCode::FORBIDDEN).await;
        assert_eq!(
            err["details"]["error"], "insufficient_scope",
            "{method} {path} without {scope}"
        );
        let with = mint(
            &app,
            &alice,
            &org,
            json!({"name": "with", "scopes": [scope]}),
        )
        .await;
        let res = call(&app, with["key"].as_str().unwrap(), method.parse().unwrap(), path, Some(json!({"session_id": ID, "recipient_email": "b@x.io", "content": "c", "reason": "r"}))).await;
        let body: Value = res.json().await.unwrap();
        let code = body["error"]["details"]["error"].as_str().unwrap_or("");
        assert!(
            code != "insufficient_scope" && body["error"]["code"] != "service_key_not_allowed",
            "{method} {path} with {scope}: {body}"
        );
    }
    // The same routes accept user keys (their scopes are ["*"]).
    let res = call(
        &app,
        &alice.key,
        Method::POST,
        "/api/v1/handoffs/hnd_0000000000000000/claim",
        None,
    )
    .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Handoff not found"
    );
}
