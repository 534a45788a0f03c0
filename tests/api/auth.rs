//! Accounts, keys and Bearer authentication.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::auth::keys::hash_token;
use sessionfs_server::cli::SignupPolicy;
use sessionfs_server::db::users;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

#[tokio::test]
async fn signup_creates_a_verified_account_with_a_working_key() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "  Alice@Example.COM "}))
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::CREATED).await;
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["message"], "Account created and verified.");
    let key = body["raw_key"].as_str().unwrap();
    assert!(key.starts_with("sk_sfs_") && key.len() == 39);

    let me = json_of(
        app.request(Method::GET, paths::ME, Some(key))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["tier"], "enterprise");
    assert_eq!(me["effective_tier"], "enterprise");
    assert_eq!(me["represented_personas"], json!([]));
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

    let dup = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(dup, StatusCode::CONFLICT).await["message"],
        "Email already registered"
    );
}

#[tokio::test]
async fn signup_validation_and_policy() {
    let app = TestApp::spawn().await;
    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(err["message"], "Validation error");
    assert_eq!(err["details"]["errors"][0]["loc"], json!(["body", "email"]));
    assert_eq!(err["details"]["errors"][0]["type"], "missing");

    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "nope"}))
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let closed = TestApp::spawn_with(|c| c.signup_policy = SignupPolicy::Closed).await;
    let res = closed
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "a@b.io"}))
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::FORBIDDEN).await;

    let domains = TestApp::spawn_with(|c| {
        c.signup_policy = SignupPolicy::Domains;
        c.signup_allowed_domains = vec!["acme.io".into()];
    })
    .await;
    let res = domains
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "a@evil.io"}))
        .send()
        .await
        .unwrap();
    error_of(res, StatusCode::FORBIDDEN).await;
    domains.signup("dev@acme.io").await;
}

#[tokio::test]
async fn signups_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.signup_rate_limit_per_hour = 5).await;
    for i in 0..5 {
        app.signup(&format!("u{i}@example.com")).await;
    }
    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "u9@example.com"}))
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(err["message"], "Too many signup attempts. Try again later.");
}

#[tokio::test]
async fn bearer_errors_follow_the_contract() {
    let app = TestApp::spawn().await;
    let me = paths::ME;
    let res = app.request(Method::GET, me, None).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::UNAUTHORIZED).await["message"],
        "Missing or invalid Authorization header"
    );
    let res = app
        .client
        .get(app.url(me))
        .header("Authorization", "bearer sk_sfs_x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::UNAUTHORIZED).await["message"],
        "Missing or invalid Authorization header"
    );
    let res = app
        .request(
            Method::GET,
            me,
            Some("sk_sfs_00000000000000000000000000000000"),
        )
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(err["message"], "Invalid API key");
    assert_eq!(err["code"], "401");
}

#[tokio::test]
async fn legacy_keys_create_list_delete() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let res = app
        .as_(&alice)
        .post(paths::KEYS, json!({"name": "laptop"}))
        .await;
    let laptop = json_of(res, StatusCode::CREATED).await;
    assert_eq!(laptop["name"], "laptop");
    let res = app.as_(&alice).post_empty(paths::KEYS).await;
    let unnamed = json_of(res, StatusCode::CREATED).await;
    assert_eq!(unnamed["name"], Value::Null);

    let list = json_of(app.as_(&alice).get(paths::KEYS).await, StatusCode::OK).await;
    let names: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["name"])
        .collect();
    assert_eq!(
        names,
        vec![&json!("default"), &json!("laptop"), &Value::Null]
    );

    let laptop_id = laptop["key_id"].as_str().unwrap();
    let laptop_key = laptop["raw_key"].as_str().unwrap();
    let res = app.as_(&alice).delete(&paths::key(laptop_id)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .request(Method::GET, paths::ME, Some(laptop_key))
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(err["message"], "Invalid API key");
    assert_eq!(err["details"], json!({}));
    let res = app.as_(&alice).delete(&paths::key("nonexistent")).await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "API key not found"
    );

    // Another user cannot delete Alice's key.
    let bob = app.signup("bob@example.com").await;
    let other_id = unnamed["key_id"].as_str().unwrap();
    let res = app.as_(&bob).delete(&paths::key(other_id)).await;
    error_of(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn personal_keys_revoke_and_expire() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let res = app
        .as_(&alice)
        .post(
            paths::MY_API_KEYS,
            json!({"name": " ci ", "expires_in_days": 30}),
        )
        .await;
    let ci = json_of(res, StatusCode::CREATED).await;
    assert_eq!(ci["name"], "ci");
    let raw = ci["key"].as_str().unwrap().to_string();
    assert_eq!(ci["key_prefix"], raw[..12]);
    assert!(ci["expires_at"].is_string());

    let list = json_of(
        app.as_(&alice).get(paths::MY_API_KEYS).await,
        StatusCode::OK,
    )
    .await;
    let list = list.as_array().unwrap();
    assert_eq!(list[0]["id"], ci["id"]);
    assert_eq!(list[1]["key_prefix"], "sk_sfs_legacy");

    for bad in [
        json!({"name": "   "}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "expires_in_days": 731}),
    ] {
        let res = app.as_(&alice).post(paths::MY_API_KEYS, bad.clone()).await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    let id = ci["id"].as_str().unwrap();
    let path = paths::my_api_key(id);
    let res = app.as_(&alice).delete(&path).await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let bob = app.signup("bob@example.com").await;
    let res = app
        .request(Method::DELETE, &path, Some(&bob.key))
        .json(&json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Key not found"
    );
    for _ in 0..2 {
        let res = app
            .request(Method::DELETE, &path, Some(&alice.key))
            .json(&json!({"reason": "leaked"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let res = app
        .request(Method::GET, paths::ME, Some(&raw))
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(err["message"], "API key has been revoked");
    assert_eq!(err["details"]["error"], "api_key_revoked");

    // An expired key.
    let res = app
        .as_(&alice)
        .post(
            paths::MY_API_KEYS,
            json!({"name": "old", "expires_in_days": 1}),
        )
        .await;
    let old = json_of(res, StatusCode::CREATED).await;
    let res = app
        .request(Method::GET, paths::ME, old["key"].as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "valid until it expires");
    app.clock().advance(Duration::days(2));
    let res = app
        .request(Method::GET, paths::ME, old["key"].as_str())
        .send()
        .await
        .unwrap();
    let err = error_of(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(err["details"]["error"], "api_key_expired");

    // A disabled account.
    app.disable(&alice).await;
    let res = app.as_(&alice).get(paths::ME).await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "User account is inactive"
    );
}

#[tokio::test]
async fn requests_per_key_are_rate_limited() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 3).await;
    let alice = app.signup("alice@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.as_(&alice).get(paths::ME).await.status(),
            StatusCode::OK
        );
    }
    let res = app.as_(&alice).get(paths::ME).await;
    assert!(res.headers().get("retry-after").is_none());
    assert_eq!(
        error_of(res, StatusCode::TOO_MANY_REQUESTS).await["message"],
        "Rate limit exceeded"
    );
    // Bad tokens are limited too, by their own hash.
    for _ in 0..3 {
        let res = app
            .request(Method::GET, paths::ME, Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .request(Method::GET, paths::ME, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn email_verification_gates_pushes_when_required() {
    let app = TestApp::spawn_with(|c| c.require_email_verification = true).await;
    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "v@example.com"}))
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::CREATED).await;
    assert_eq!(
        body["message"],
        "Account created. Verify your email to enable cloud sync."
    );
    let user = crate::common::User::from_signup("v@example.com", &body);
    let archive =
        sessionfs_server::archive::fixture::session_archive("ses_aaaaaaaaaaaaaaaa", "t", "x", 2);
    let res = app
        .as_(&user)
        .push("ses_aaaaaaaaaaaaaaaa", archive.clone(), None)
        .await;
    assert_eq!(
        error_of(res, StatusCode::FORBIDDEN).await["message"],
        "Email not verified. Check your inbox for the verification link."
    );

    let bad = app
        .client
        .get(app.url(&paths::query(paths::VERIFY, "token=garbage")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("Verification Failed"));
    let missing = app.client.get(app.url(paths::VERIFY)).send().await.unwrap();
    error_of(missing, StatusCode::UNPROCESSABLE_ENTITY).await;

    // A link as the mailer would send it (the token is only stored hashed).
    let user_id = user.id.clone();
    app.state
        .db
        .write(move |tx| {
            users::insert_verification(
                tx,
                &hash_token("known-token"),
                &user_id,
                "v@example.com",
                "2999-01-01T00:00:00.000000Z",
                "2026-01-01T00:00:00.000000Z",
            )
        })
        .await
        .unwrap();
    for path in [
        &paths::query(paths::VERIFY, "token=known-token"),
        &paths::verify("known-token"),
    ] {
        let ok = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.text().await.unwrap().contains("Email Verified!"));
    }
    let me = json_of(app.as_(&user).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], true);
    let res = app
        .as_(&user)
        .push("ses_aaaaaaaaaaaaaaaa", archive, None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
