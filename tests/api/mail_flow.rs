//! Mail through a real SMTP conversation (a sink on loopback): the verification link works,
//! invites arrive with their accept link, resend reports what it did.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::paths;
use crate::common::smtp_sink::{Sink, FROM};
use crate::common::{json_of, TestApp, User};

#[tokio::test]
async fn verification_and_invite_mail() {
    let mut sink = Sink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(url);
        c.smtp_from = Some(FROM.into());
        c.require_email_verification = true;
        c.public_url = "https://sfs.example.org".into();
    })
    .await;

    // Signup mails a verification link; following it verifies the account.
    let res = app
        .request(Method::POST, paths::SIGNUP, None)
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::CREATED).await;
    let alice = User::from_signup("alice@example.com", &body);
    let mail = sink.next_mail().await;
    assert_eq!(mail.rcpt_to, vec!["alice@example.com"]);
    let text = mail.body();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("https://sfs.example.org/api/v1/auth/verify?token="))
        .expect("a verification link")
        .to_string();
    let path = link.trim_start_matches("https://sfs.example.org");
    let res = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me = json_of(app.as_(&alice).get(paths::ME).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], true);

    // An invite arrives with its accept route; resend sends again and says so.
    json_of(
        app.as_(&alice)
            .post(paths::ORG, json!({"name": "Acme", "slug": "acme"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let inv = json_of(
        app.as_(&alice)
            .post(paths::ORG_INVITE, json!({"email": "bob@example.com"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let id = inv["invite_id"].as_str().unwrap();
    let mail = sink.next_mail().await;
    assert_eq!(mail.rcpt_to, vec!["bob@example.com"]);
    assert!(mail.header("Subject").unwrap().contains("Acme"));
    assert!(mail.body().contains(&format!(
        "https://sfs.example.org/api/v1/org/invite/{id}/accept"
    )));
    let me = json_of(app.as_(&alice).get(paths::ME).await, StatusCode::OK).await;
    let org = me["org_id"].as_str().unwrap();
    let resent = json_of(
        app.as_(&alice)
            .post_empty(&paths::invite_resend(org, id))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resent["sent"], true);
    assert!(resent["last_emailed_at"].is_string());
    assert!(sink.next_mail().await.body().contains(id));
}
