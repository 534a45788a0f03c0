//! Platform-admin user routes (03 §4.3): the paged list, one user, the tier change (audited,
//! no self-demotion) and enable/disable; everyone else gets 403 "Admin access required".

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{error_of, json_of, paths, TestApp};

async fn audited(app: &TestApp, action: &'static str, target: &str) -> i64 {
    let target = target.to_string();
    app.state
        .db
        .read(move |conn| sessionfs_server::db::admin::count(conn, action, &target))
        .await
        .unwrap()
}

#[tokio::test]
async fn non_admins_are_refused_on_every_admin_user_route() {
    let app = TestApp::spawn().await;
    let [bob, carol] = app.users(["bob", "carol"]).await;
    for res in [
        app.as_(&bob).get(paths::ADMIN_USERS).await,
        app.as_(&bob).get(&paths::admin_user(&carol.id)).await,
        app.as_(&bob)
            .put(&paths::admin_user_tier(&carol.id), json!({"tier": "pro"}))
            .await,
        app.as_(&bob)
            .put(
                &paths::admin_user_active(&carol.id),
                json!({"is_active": false}),
            )
            .await,
    ] {
        assert_eq!(
            error_of(res, StatusCode::FORBIDDEN).await["message"],
            "Admin access required"
        );
    }
    // Nothing changed.
    let me = json_of(app.as_(&carol).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["email"], carol.email.as_str());
}

#[tokio::test]
async fn the_list_is_paged_filtered_and_counts_live_sessions() {
    let app = TestApp::spawn().await;
    let [root, bob, carol, dave] = app.users(["root", "bob", "carol", "dave"]).await;
    app.set_tier(&root, "admin").await;
    app.set_tier(&carol, "pro").await;
    app.push_new(&bob, "ses_00000000000000b1", "one").await;
    app.push_new(&bob, "ses_00000000000000b2", "two").await;
    app.clock().advance(chrono::Duration::seconds(1));
    app.disable(&dave).await;

    let page = json_of(
        app.as_(&root)
            .get(&format!("{}?page_size=2", paths::ADMIN_USERS))
            .await,
        StatusCode::OK,
    )
    .await;
    // Active users only (dave is disabled), newest first.
    assert_eq!(page["total"], 3);
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 2);
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    let second = json_of(
        app.as_(&root)
            .get(&format!("{}?page_size=2&page=2", paths::ADMIN_USERS))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["users"].as_array().unwrap().len(), 1);
    let all: Vec<_> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["users"].as_array().unwrap())
        .cloned()
        .collect();
    let emails: Vec<&str> = all.iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert!(!emails.contains(&dave.email.as_str()), "{emails:?}");
    let bob_row = all.iter().find(|u| u["id"] == bob.id.as_str()).unwrap();
    assert_eq!(bob_row["session_count"], 2);
    assert_eq!(bob_row["is_active"], true);
    for field in ["tier", "email_verified", "created_at"] {
        assert!(bob_row.get(field).is_some(), "{field}");
    }

    let pros = json_of(
        app.as_(&root)
            .get(&format!("{}?tier_filter=pro", paths::ADMIN_USERS))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pros["total"], 1);
    assert_eq!(pros["users"][0]["email"], carol.email.as_str());
    let found = json_of(
        app.as_(&root)
            .get(&format!("{}?search=bob", paths::ADMIN_USERS))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["total"], 1);
    let with_disabled = json_of(
        app.as_(&root)
            .get(&format!("{}?include_inactive=true", paths::ADMIN_USERS))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(with_disabled["total"], 4);

    for bad in ["page=0", "page_size=0", "page_size=201", "page=x"] {
        let res = app
            .as_(&root)
            .get(&format!("{}?{bad}", paths::ADMIN_USERS))
            .await;
        error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

#[tokio::test]
async fn one_user_shows_sessions_storage_and_keys_and_unknown_is_404() {
    let app = TestApp::spawn().await;
    let [root, bob] = app.users(["root", "bob"]).await;
    app.set_tier(&root, "admin").await;
    app.push_new(&bob, "ses_00000000000000c1", "one").await;
    let detail = json_of(
        app.as_(&root).get(&paths::admin_user(&bob.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["email"], bob.email.as_str());
    assert_eq!(detail["session_count"], 1);
    assert!(detail["storage_used_bytes"].as_i64().unwrap() > 0);
    assert_eq!(detail["api_key_count"], 1);
    assert_eq!(detail["is_active"], true);
    assert!(detail.get("display_name").is_some());

    let res = app.as_(&root).get(&paths::admin_user("nobody")).await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "User not found"
    );
}

#[tokio::test]
async fn tier_changes_are_audited_and_an_admin_cannot_demote_themselves() {
    let app = TestApp::spawn().await;
    let [root, bob] = app.users(["root", "bob"]).await;
    app.set_tier(&root, "admin").await;

    let changed = json_of(
        app.as_(&root)
            .put(
                &paths::admin_user_tier(&bob.id),
                json!({"tier": "team", "reason": "pilot"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        changed,
        json!({"user_id": bob.id, "old_tier": "enterprise", "new_tier": "team"}) // test users start on enterprise
    );
    assert_eq!(audited(&app, "tier_change", &bob.id).await, 1);
    let detail = json_of(
        app.as_(&root).get(&paths::admin_user(&bob.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["tier"], "team");

    let res = app
        .as_(&root)
        .put(
            &paths::admin_user_tier(&bob.id),
            json!({"tier": "platinum"}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Invalid tier. Must be one of: admin, enterprise, free, pro, starter, team"
    );
    let res = app
        .as_(&root)
        .put(&paths::admin_user_tier(&root.id), json!({"tier": "pro"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Cannot demote your own admin account"
    );
    let res = app
        .as_(&root)
        .put(
            &paths::admin_user_tier(&bob.id),
            json!({"tier": "pro", "reason": "x".repeat(501)}),
        )
        .await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = app
        .as_(&root)
        .put(&paths::admin_user_tier("nobody"), json!({"tier": "pro"}))
        .await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "User not found"
    );
    // Refusals changed nothing and wrote no audit row.
    assert_eq!(audited(&app, "tier_change", &bob.id).await, 1);
    let me = json_of(app.as_(&root).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["tier"], "admin");
}

#[tokio::test]
async fn disabling_a_user_stops_their_key_and_enabling_restores_it() {
    let app = TestApp::spawn().await;
    let [root, bob] = app.users(["root", "bob"]).await;
    app.set_tier(&root, "admin").await;
    let res = app
        .as_(&root)
        .put(
            &paths::admin_user_active(&bob.id),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(
        json_of(res, StatusCode::OK).await,
        json!({"user_id": bob.id, "is_active": false})
    );
    assert_eq!(audited(&app, "disable_user", &bob.id).await, 1);
    assert!(app
        .as_(&bob)
        .get(paths::ME)
        .await
        .status()
        .is_client_error());

    json_of(
        app.as_(&root)
            .put(
                &paths::admin_user_active(&bob.id),
                json!({"is_active": true}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(audited(&app, "enable_user", &bob.id).await, 1);
    json_of(app.as_(&bob).get(paths::ME).await, StatusCode::OK).await;

    let res = app
        .as_(&root)
        .put(
            &paths::admin_user_active(&root.id),
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(
        error_of(res, StatusCode::BAD_REQUEST).await["message"],
        "Cannot disable your own account"
    );
    let res = app
        .as_(&root)
        .put(
            &paths::admin_user_active("nobody"),
            json!({"is_active": false}),
        )
        .await;
    error_of(res, StatusCode::NOT_FOUND).await;
    let res = app
        .as_(&root)
        .put(&paths::admin_user_active(&bob.id), json!({}))
        .await;
    error_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
}
