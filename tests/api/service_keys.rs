//! Service keys: lifecycle, validation, every structured auth code they can provoke, and the
//! scope matrix (deny by default: a service key reaches only routes that declared its scope).

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp, User};

const ID: &str = "ses_0123456789abcdef";
const ID2: &str = "ses_fedcba9876543210";

/// Alice owns org `acme`; Bob is a member.
async fn setup(app: &TestApp) -> (User, User, String) {
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let org = app.as_(&alice).org("acme").member(&bob).create().await.id;
    (alice, bob, org)
}

#[tokio::test]
async fn lifecycle_and_validation() {
    let app = TestApp::spawn().await;
    let (alice, bob, org) = setup(&app).await;
    let path = paths::service_keys(&org);
    let key = app.as_(&alice).mint_service_key(&org, json!({"name": " ci-bot ", "scopes": ["handoffs:write", "tickets:read", "handoffs:write"],
        "expires_in_days": 30, "project_ids": [" p1 ", "p1", ""]}))
    .await;
    assert_eq!(key["name"], "ci-bot");
    assert_eq!(key["scopes"], json!(["handoffs:write", "tickets:read"]));
    assert_eq!(key["project_ids"], json!(["p1"]));
    assert_eq!(key["org_id"], org.as_str());
    let raw = key["key"].as_str().unwrap();
    assert_eq!(key["key_prefix"], &raw[..12]);
    assert!(key["expires_at"].is_string());

    // Members list (prefix only); outsiders and other orgs see nothing.
    let list = json_of(app.as_(&bob).get(&path).await, StatusCode::OK).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("key").is_none());
    let eve = app.signup("eve@example.com").await;
    error_of(app.as_(&eve).get(&path).await, StatusCode::NOT_FOUND).await;
    // Members cannot mint.
    let res = app
        .as_(&bob)
        .post(&path, json!({"name": "x", "scopes": ["tickets:read"]}))
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
            app.as_(&alice).post(&path, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(err["details"]["errors"][0]["loc"][1], field);
    }
    let res = app
        .as_(&alice)
        .post(
            &path,
            json!({"name": "x", "scopes": ["admin_metrics:read"]}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "platform_admin_scope"
    );
    let dated = app.as_(&alice).mint_service_key(&org, json!({"name": "dated", "scopes": ["tickets:read"], "expires_at": "2999-01-01T00:00:00Z"}))
    .await;
    assert!(dated["expires_at"]
        .as_str()
        .unwrap()
        .starts_with("2999-01-01"));

    // Rotate: a new key, the old one revoked with the reason, rotation of a revoked key refused.
    let id = key["id"].as_str().unwrap();
    let rotated = json_of(
        app.as_(&alice)
            .post_empty(&paths::service_key_rotate(&org, id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(rotated["id"], key["id"]);
    assert_eq!(rotated["scopes"], key["scopes"]);
    let new_raw = rotated["key"].as_str().unwrap();
    let err = error_of(
        app.call(Some(raw), Method::GET, paths::ME, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_revoked");
    let err = error_of(
        app.call(Some(new_raw), Method::GET, paths::ME, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["code"], "service_key_not_allowed");
    let res = app
        .as_(&alice)
        .post_empty(&paths::service_key_rotate(&org, id))
        .await;
    assert_eq!(
        error_of(res, StatusCode::CONFLICT).await["details"]["error"],
        "key_already_revoked"
    );
    let list = json_of(app.as_(&alice).get(&path).await, StatusCode::OK).await;
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
    let res = app
        .as_(&alice)
        .call(
            Method::DELETE,
            &paths::service_key(&org, new_id),
            Some(json!({"revoke_reason": "retired"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.as_(&alice)
            .delete(&paths::service_key(&org, new_id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let err = error_of(
        app.call(Some(new_raw), Method::GET, paths::ME, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_revoked");
    let res = app
        .as_(&alice)
        .delete(&paths::service_key(&org, "nope"))
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
    app.as_(&alice).push_new(ID, "Shared work").await;
    let writer = app
        .as_(&alice)
        .mint_service_key(
            &org,
            json!({"name": "agent", "scopes": ["handoffs:write"], "expires_in_days": 1}),
        )
        .await;
    let reader = app
        .as_(&alice)
        .mint_service_key(&org, json!({"name": "reader", "scopes": ["tickets:read"]}))
        .await;
    let (w, r) = (
        writer["key"].as_str().unwrap(),
        reader["key"].as_str().unwrap(),
    );

    // A service key on a route that declared no scope.
    let err = error_of(
        app.call(Some(w), Method::GET, paths::SESSIONS, None).await,
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
        app.call(Some(r), Method::POST, paths::HANDOFFS, Some(body.clone()))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "insufficient_scope");
    assert_eq!(err["details"]["required"], json!(["handoffs:write"]));
    assert_eq!(err["details"]["current"], json!(["tickets:read"]));

    // With the scope, the project boundary decides: the session has no registered project…
    let err = error_of(
        app.call(Some(w), Method::POST, paths::HANDOFFS, Some(body))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        err["details"]["error"],
        "service_key_project_not_registered"
    );
    // …and a session that is not the caller's is not found, before any boundary.
    let gone = json!({"session_id": "ses_ffffffffffffffff", "recipient_email": "bob@example.com"});
    let err = error_of(
        app.call(Some(w), Method::POST, paths::HANDOFFS, Some(gone))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(err["message"], "Session not found");

    // Expired.
    app.clock().advance(Duration::days(2));
    let err = error_of(
        app.call(Some(w), Method::POST, paths::HANDOFFS, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(err["details"]["error"], "api_key_expired");
}

/// Every authenticated route the server answers, as (method, path).
fn user_only_routes() -> Vec<(&'static str, String)> {
    vec![
        ("GET", paths::ME.to_string()),
        ("POST", paths::KEYS.to_string()),
        ("GET", paths::KEYS.to_string()),
        ("DELETE", paths::key("k1")),
        ("GET", paths::MY_API_KEYS.to_string()),
        ("POST", paths::MY_API_KEYS.to_string()),
        ("DELETE", paths::my_api_key("k1")),
        ("GET", paths::DEFAULT_ORG.to_string()),
        ("PUT", paths::DEFAULT_ORG.to_string()),
        ("GET", paths::SESSIONS.to_string()),
        ("POST", paths::SESSIONS.to_string()),
        ("GET", paths::session("ses_0123456789abcdef")),
        ("PATCH", paths::session("ses_0123456789abcdef")),
        ("DELETE", paths::session("ses_0123456789abcdef")),
        ("POST", paths::session_restore("ses_0123456789abcdef")),
        ("PUT", paths::session_sync("ses_0123456789abcdef")),
        ("GET", paths::session_sync("ses_0123456789abcdef")),
        ("GET", paths::session_messages("ses_0123456789abcdef")),
        ("PUT", paths::session_alias("ses_0123456789abcdef")),
        ("DELETE", paths::session_alias("ses_0123456789abcdef")),
        ("POST", paths::session_share("ses_0123456789abcdef")),
        ("DELETE", paths::share_link("ses_0123456789abcdef", "l1")),
        ("GET", paths::SYNC_SETTINGS.to_string()),
        ("PUT", paths::SYNC_SETTINGS.to_string()),
        ("GET", paths::SYNC_WATCHLIST.to_string()),
        ("POST", paths::watch("ses_0123456789abcdef")),
        ("DELETE", paths::watch("ses_0123456789abcdef")),
        ("PUT", paths::watch_status("ses_0123456789abcdef", "synced")),
        ("GET", paths::SYNC_STATUS.to_string()),
        ("GET", paths::HANDOFFS_INBOX.to_string()),
        ("GET", paths::HANDOFFS_SENT.to_string()),
        ("GET", paths::handoff("hnd_0000000000000000")),
        ("GET", paths::handoff_comments("hnd_0000000000000000")),
        ("GET", paths::handoff_events("hnd_0000000000000000")),
        ("POST", paths::ORG.to_string()),
        ("GET", paths::ORG.to_string()),
        ("POST", paths::ORG_INVITE.to_string()),
        ("POST", paths::invite_accept("i1")),
        ("POST", paths::invite_decline("i1")),
        ("GET", paths::ORG_INVITES.to_string()),
        ("GET", paths::MY_INVITES.to_string()),
        ("DELETE", paths::org_invite_by_id("i1")),
        ("POST", paths::invite_resend("o1", "i1")),
        ("POST", paths::org_invite("o1")),
        ("PUT", paths::member_role("u1")),
        ("DELETE", paths::my_org_member("u1")),
        ("GET", paths::ORGS.to_string()),
        ("POST", paths::service_keys("o1")),
        ("GET", paths::service_keys("o1")),
        ("DELETE", paths::service_key("o1", "k1")),
        ("POST", paths::service_key_rotate("o1", "k1")),
        ("POST", paths::admin_user_api_keys("u1")),
        ("GET", paths::BILLING_STATUS.to_string()),
        ("POST", paths::BILLING_CHECKOUT.to_string()),
        ("POST", paths::BILLING_PORTAL.to_string()),
        ("GET", paths::org_personas("o1")),
        ("POST", paths::org_personas("o1")),
        ("GET", paths::org_persona("o1", "atlas")),
        ("PUT", paths::org_persona("o1", "atlas")),
        ("DELETE", paths::org_persona("o1", "atlas")),
        ("POST", paths::agent_run_start(PROJECT, RUN)),
        ("POST", paths::agent_run_cancel(PROJECT, RUN)),
    ]
    .into_iter()
    .chain(ticket_user_only_routes())
    .collect()
}

const PROJECT: &str = "proj_0000000000000000";
const TICKET: &str = "tk_0000000000000000";

/// Ticket routes for user keys only (02 §5.1).
fn ticket_user_only_routes() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> =
        ["reopen", "block", "unblock", "approve", "dismiss", "close"]
            .iter()
            .map(|a| ("POST", paths::ticket_action(PROJECT, TICKET, a)))
            .collect();
    out.push(("PUT", paths::ticket_action(PROJECT, TICKET, "watch")));
    out.push(("DELETE", paths::ticket_action(PROJECT, TICKET, "watch")));
    out.push(("GET", paths::ticket_action(PROJECT, TICKET, "watchers")));
    out
}

/// Routes that declared a scope, and the scope.
fn scoped_routes() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("POST", paths::HANDOFFS.to_string(), "handoffs:write"),
        (
            "POST",
            paths::handoff_claim("hnd_0000000000000000"),
            "handoffs:write",
        ),
        (
            "POST",
            paths::handoff_revoke("hnd_0000000000000000"),
            "handoffs:write",
        ),
        (
            "POST",
            paths::handoff_decline("hnd_0000000000000000"),
            "handoffs:write",
        ),
        (
            "POST",
            paths::handoff_comments("hnd_0000000000000000"),
            "handoffs:write",
        ),
        ("GET", paths::personas(PROJECT), "personas:read"),
        ("GET", paths::persona(PROJECT, "atlas"), "personas:read"),
        ("POST", paths::personas(PROJECT), "personas:write"),
        ("PUT", paths::persona(PROJECT, "atlas"), "personas:write"),
        ("DELETE", paths::persona(PROJECT, "atlas"), "personas:write"),
        ("GET", paths::agent_runs(PROJECT), "agent_runs:read"),
        ("GET", paths::agent_run(PROJECT, RUN), "agent_runs:read"),
        ("POST", paths::agent_runs(PROJECT), "agent_runs:write"),
        (
            "POST",
            paths::agent_run_complete(PROJECT, RUN),
            "agent_runs:write",
        ),
        ("GET", paths::tickets(PROJECT), "tickets:read"),
        ("POST", paths::tickets(PROJECT), "tickets:write"),
        ("GET", paths::ticket(PROJECT, TICKET), "tickets:read"),
        ("PUT", paths::ticket(PROJECT, TICKET), "tickets:write"),
        (
            "GET",
            paths::ticket_action(PROJECT, TICKET, "comments"),
            "tickets:read",
        ),
        (
            "POST",
            paths::ticket_action(PROJECT, TICKET, "comments"),
            "tickets:write",
        ),
        (
            "GET",
            paths::ticket_action(PROJECT, TICKET, "review-state"),
            "tickets:read",
        ),
        ("GET", paths::ticket_by_id(TICKET), "tickets:read"),
    ]
    .into_iter()
    .chain(
        ["start", "complete", "accept", "resolve", "escalate"]
            .iter()
            .map(|a| {
                (
                    "POST",
                    paths::ticket_action(PROJECT, TICKET, a),
                    "tickets:write",
                )
            }),
    )
    .collect()
}

/// An agent run id that names no run.
const RUN: &str = "run_0000000000000000";

#[tokio::test]
async fn scope_matrix() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 0).await;
    let (alice, _bob, org) = setup(&app).await;
    let every_scope: Vec<&str> = sessionfs_server::auth::scopes::VOCABULARY
        .iter()
        .copied()
        .filter(|s| !sessionfs_server::auth::scopes::PLATFORM_ONLY.contains(s))
        .collect();
    let all = app
        .as_(&alice)
        .mint_service_key(&org, json!({"name": "all", "scopes": every_scope}))
        .await;
    let all = all["key"].as_str().unwrap();
    for (method, path) in &user_only_routes() {
        let res = app
            .call(Some(all), method.parse().unwrap(), path, Some(json!({})))
            .await;
        let err = error_of(res, StatusCode::FORBIDDEN).await;
        assert_eq!(err["code"], "service_key_not_allowed", "{method} {path}");
    }
    for (method, path, scope) in &scoped_routes() {
        let others: Vec<&str> = every_scope.iter().copied().filter(|s| s != scope).collect();
        let without = app
            .as_(&alice)
            .mint_service_key(&org, json!({"name": "without", "scopes": others}))
            .await;
        let res = app
            .call(
                Some(without["key"].as_str().unwrap()),
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
        let with = app
            .as_(&alice)
            .mint_service_key(&org, json!({"name": "with", "scopes": [scope]}))
            .await;
        let res = app.call(Some(with["key"].as_str().unwrap()), method.parse().unwrap(), path, Some(json!({"session_id": ID, "recipient_email": "b@x.io", "content": "c", "reason": "r"}))).await;
        let body: Value = res.json().await.unwrap();
        let code = body["error"]["details"]["error"].as_str().unwrap_or("");
        assert!(
            code != "insufficient_scope" && body["error"]["code"] != "service_key_not_allowed",
            "{method} {path} with {scope}: {body}"
        );
    }
    // The same routes accept user keys (their scopes are ["*"]).
    let res = app.as_(&alice).claim("hnd_0000000000000000").await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Handoff not found"
    );
}

/// A service key acts on handoffs only through the project of the source session (03 §0.2
/// step 11): every boundary code, provoked on create, claim, comment and revoke.
#[tokio::test]
async fn handoff_boundary_goes_through_the_sessions_project() {
    let app = TestApp::spawn().await;
    let [alice, bob, eve] = app.users(["alice", "bob", "eve"]).await;
    let org = app.as_(&alice).org("acme").admin(&bob).create().await.id;
    app.as_(&alice).push_new(ID, "Shared work").await; // on remote acme/app
    let w = app
        .as_(&alice)
        .mint_key(&org, json!(["handoffs:write"]), Value::Null)
        .await;
    let body = json!({"session_id": ID, "recipient_email": "bob@example.com"});
    // No project has the session's remote yet.
    let err = error_of(create(&app, &w, body.clone()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(err["code"], "403");
    assert_eq!(
        err["details"]["error"],
        "service_key_project_not_registered"
    );

    // The org registers the repository: the key's org owns the session's project.
    let project = app.as_(&alice).create_project("acme/app", Some(&org)).await;
    let pid = project["id"].as_str().unwrap();
    let listed = app
        .as_(&alice)
        .mint_key(
            &org,
            json!(["handoffs:write"]),
            json!(["proj_0000000000000000"]),
        )
        .await;
    let err = error_of(
        create(&app, &listed, body.clone()).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "project_not_in_allowlist");
    assert_eq!(err["details"]["requested_project_id"], pid);
    assert_eq!(
        err["details"]["allowed_project_ids"],
        json!(["proj_0000000000000000"])
    );
    let allowed = app
        .as_(&alice)
        .mint_key(&org, json!(["handoffs:write"]), json!([pid]))
        .await;
    let h = json_of(
        create(&app, &allowed, body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let hid = h["id"].as_str().unwrap();
    let h2 = json_of(create(&app, &w, body.clone()).await, StatusCode::CREATED).await;

    // Another org's key, on its own session of this project, is outside its org.
    let evil = app.as_(&eve).org("evil").create().await.id;
    app.as_(&eve).push_new(ID2, "Eve's copy").await; // also acme/app
    let foreign = app
        .as_(&eve)
        .mint_key(&evil, json!(["handoffs:write"]), Value::Null)
        .await;
    let err = error_of(
        create(
            &app,
            &foreign,
            json!({"session_id": ID2, "recipient_email": "bob@example.com"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(err["details"]["error"], "cross_org_denied");
    assert_eq!(err["details"]["key_org_id"], evil.as_str());
    assert_eq!(err["details"]["project_org_id"], org.as_str());
    // A key that is not a party learns nothing about the handoff (404 before the boundary).
    let res = app
        .call(
            Some(&foreign),
            Method::POST,
            &paths::handoff_comments(hid),
            Some(json!({"content": "hi"})),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Handoff not found"
    );

    // The recipient's keys: one outside the allowlist, one inside.
    let bob_listed = app
        .as_(&bob)
        .mint_key(
            &org,
            json!(["handoffs:write"]),
            json!(["proj_0000000000000000"]),
        )
        .await;
    let res = app
        .call(
            Some(&bob_listed),
            Method::POST,
            &paths::handoff_claim(hid),
            None,
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
        "project_not_in_allowlist"
    );
    let bob_key = app
        .as_(&bob)
        .mint_key(&org, json!(["handoffs:write"]), Value::Null)
        .await;
    let claimed = json_of(
        app.call(
            Some(&bob_key),
            Method::POST,
            &paths::handoff_claim(hid),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(claimed["recipient_session_id"].is_string());
    json_of(
        app.call(
            Some(&w),
            Method::POST,
            &paths::handoff_comments(hid),
            Some(json!({"content": "thanks"})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // The source session is deleted: nothing anchors the handoff to a project any more.
    app.as_(&alice).delete(&paths::session_cloud(ID)).await;
    let h2id = h2["id"].as_str().unwrap();
    for (path, body) in [
        (
            paths::handoff_comments(h2id),
            json!({"content": "still there?"}),
        ),
        (paths::handoff_revoke(h2id), json!({"reason": "gone"})),
        (paths::handoff_decline(h2id), json!({})),
    ] {
        let k = if path.ends_with("decline") {
            &bob_key
        } else {
            &w
        };
        let res = app.call(Some(k), Method::POST, &path, Some(body)).await;
        assert_eq!(
            error_of(res, StatusCode::FORBIDDEN).await["details"]["error"],
            "service_key_project_required",
            "{path}"
        );
    }
    // A user key is not bound by projects: Alice still comments with her own key.
    json_of(
        app.as_(&alice)
            .post(
                &paths::handoff_comments(h2id),
                json!({"content": "user key"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
}

/// `POST /handoffs` with key `k`.
async fn create(app: &TestApp, k: &str, body: Value) -> reqwest::Response {
    app.call(Some(k), Method::POST, paths::HANDOFFS, Some(body))
        .await
}
