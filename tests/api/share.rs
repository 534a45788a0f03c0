//! Share links: create, open (archive, JSON view, page), passwords, revoke, expiry, tenancy.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;

use crate::common::paths;
use crate::common::{error_of, json_of, TestApp};

const ID: &str = "ses_0123456789abcdef";

fn token_of(link: &Value) -> String {
    link["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_public_link_serves_the_archive_view_and_page() {
    let app = TestApp::spawn_with(|c| c.public_url = "https://sfs.example.org".into()).await;
    let alice = app.signup("alice@example.com").await;
    let archive = session_archive(ID, "Shared work", "tokenizers", 4);
    json_of(
        app.as_(&alice).push(ID, archive.clone(), None).await,
        StatusCode::CREATED,
    )
    .await;

    let link = json_of(
        app.as_(&alice).share(ID, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(link["has_password"], false);
    let token = token_of(&link);
    assert_eq!(token.len(), 64);
    assert_eq!(
        link["url"],
        format!("https://sfs.example.org/api/v1/sessions/share/{token}")
    );
    assert_eq!(
        link["public_url"],
        format!("https://sfs.example.org/s/{token}")
    );

    let res = app
        .client
        .get(app.url(&paths::shared(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["etag"].to_str().unwrap().starts_with('"'));
    assert_eq!(res.bytes().await.unwrap().to_vec(), archive);

    let res = app
        .client
        .get(app.url(&paths::share_view(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let view = json_of(res, StatusCode::OK).await;
    assert_eq!(view["title"], "Shared work");
    assert_eq!(view["messages"].as_array().unwrap().len(), 4);

    let res = app
        .client
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["x-robots-tag"]
        .to_str()
        .unwrap()
        .contains("noindex"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Shared work") && html.contains("message 3 about tokenizers"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let unknown = app
        .client
        .get(app.url(&paths::shared("doesnotexist")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(unknown, StatusCode::NOT_FOUND).await["message"],
        "Share link not found"
    );
}

#[tokio::test]
async fn password_links_and_attempt_limits() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    app.as_(&alice).push_new(ID, "Secret").await;
    let link = json_of(
        app.as_(&alice)
            .share(ID, json!({"expires_in_hours": 48, "password": "hunter2"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(link["has_password"], true);
    let token = token_of(&link);
    let path = paths::shared(&token);

    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::UNAUTHORIZED).await["message"],
        "Password required"
    );
    let res = app
        .client
        .post(app.url(&path))
        .json(&json!({"password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(res, StatusCode::UNAUTHORIZED).await["message"],
        "Invalid password"
    );
    let res = app
        .client
        .post(app.url(&path))
        .json(&json!({"password": "hunter2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // The page asks for the password, then shows the conversation.
    let page = app
        .client
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(page.text().await.unwrap().contains("type=\"password\""));
    let page = app
        .client
        .post(app.url(&format!("/s/{token}")))
        .form(&[("password", "hunter2")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("message 1 about parsers"));

    // Guessing is limited per link.
    let mut limited = false;
    for _ in 0..12 {
        let res = app
            .client
            .post(app.url(&path))
            .json(&json!({"password": "guess"}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "password attempts were never limited");
}

#[tokio::test]
async fn revoked_expired_and_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice@example.com").await;
    let etag = app.as_(&alice).push_new(ID, "Shared").await;
    let link = json_of(
        app.as_(&alice)
            .share(ID, json!({"expires_in_hours": 1}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let token = token_of(&link);
    let path = paths::shared(&token);

    // Expired.
    app.clock().advance(Duration::hours(2));
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Share link has expired"
    );

    // Deleted session; pushing it back from the trash revokes its old links.
    let link = json_of(
        app.as_(&alice).share(ID, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    let path = paths::shared(&token_of(&link));
    app.as_(&alice).delete(&paths::session_cloud(ID)).await;
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Session has been deleted"
    );
    let res = app
        .push_with(&alice, ID, session_archive(ID, "Back", "x", 2), |b| {
            b.header("X-SessionFS-Undelete", "true")
                .header("If-Match", format!("\"{etag}\""))
        })
        .await;
    json_of(res, StatusCode::OK).await;
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Share link has been revoked"
    );

    // Revoked by the owner.
    let link = json_of(
        app.as_(&alice).share(ID, json!({})).await,
        StatusCode::CREATED,
    )
    .await;
    let path = paths::shared(&token_of(&link));
    let revoke = paths::share_link(ID, link["link_id"].as_str().unwrap());
    let bob = app.signup("bob@example.com").await;
    let res = app.as_(&bob).delete(&revoke).await;
    assert_eq!(
        error_of(res, StatusCode::NOT_FOUND).await["message"],
        "Share link not found"
    );
    assert_eq!(
        app.client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let res = app.as_(&alice).delete(&revoke).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(
        error_of(res, StatusCode::GONE).await["message"],
        "Share link has been revoked"
    );
    let res = app.as_(&alice).delete(&paths::share_link(ID, "nope")).await;
    error_of(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn only_the_owner_shares_and_expiry_is_bounded() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Mine").await;
    error_of(
        app.as_(&bob).share(ID, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    for hours in [0, -5, 721] {
        error_of(
            app.as_(&alice)
                .share(ID, json!({"expires_in_hours": hours}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let res = app.as_(&alice).post_empty(&paths::session_share(ID)).await;
    let link = json_of(res, StatusCode::CREATED).await;
    assert!(link["expires_at"].as_str().unwrap().ends_with('Z'));
}
