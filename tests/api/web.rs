//! The web dashboard over HTTP, as a browser would use it: sign-in by key → a browser session
//! cookie; CSRF tokens on forms; tenancy (404 for another user's ids); hostile content inert;
//! a revoked key, a disabled user, sign-out or expiry ends the browser session.

use chrono::Duration;
use regex::Regex;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{redirect, Response, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture::session_archive;

use crate::common::app::{json_of, TestApp, User};
use crate::common::paths::{self, ui, ui_project};

/// A signed-in browser: its session cookie and the token its forms carry.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter()
        .filter_map(|c| c.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn csrf_in(html: &str) -> String {
    Regex::new(r#"name="csrf_token" value="([0-9a-f]{64})""#)
        .unwrap()
        .captures(html)
        .expect("a form with a csrf_token")[1]
        .to_string()
}

/// The sign-in form's answer to `key` (not followed).
async fn submit_key(app: &TestApp, key: &str) -> Response {
    let client = no_redirects();
    let page = client.get(app.url(ui::SIGN_IN)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let form_cookie = cookie_value(&set_cookies(&page), "sfs_signin").expect("form cookie");
    let token = csrf_in(&page.text().await.unwrap());
    client
        .post(app.url(ui::SIGN_IN))
        .header(COOKIE, format!("sfs_signin={form_cookie}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("api_key", key),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp, user: &User) -> Browser {
    let res = submit_key(app, &user.key).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "sign-in of {}",
        user.email
    );
    let session = cookie_value(&set_cookies(&res), "sfs_session").expect("session cookie");
    let mut browser = Browser {
        client: no_redirects(),
        base: app.base.clone(),
        cookie: session,
        csrf: String::new(),
    };
    let home = browser.get(ui::HOME).await;
    assert_eq!(home.status(), StatusCode::OK);
    browser.csrf = csrf_in(&home.text().await.unwrap());
    browser
}

impl Browser {
    async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("sfs_session={}", self.cookie))
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.unwrap()
    }

    /// Posts a form with this browser's token added.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("csrf_token", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("sfs_session={}", self.cookie))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

fn location(res: &Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

/// A signed-out browser is sent to sign in (and its cookie cleared).
fn assert_signed_out(res: &Response) {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        location(res).starts_with("/ui/sign-in?"),
        "{}",
        location(res)
    );
}

async fn title_of(app: &TestApp, user: &User, id: &str) -> String {
    let body = json_of(app.as_(user).get(&paths::session(id)).await, StatusCode::OK).await;
    body["title"].as_str().unwrap().to_string()
}

const ID: &str = "ses_0eb0000000000001";

#[tokio::test]
async fn sign_in_opens_a_strict_http_only_session_and_lists_sessions() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    app.as_(&alice).push_new(ID, "Refactor the parser").await;

    // `/` without a session is the sign-in form, with the stable field names.
    let res = no_redirects().get(app.url(ui::HOME)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"name="api_key""#) && html.contains(r#"name="csrf_token""#));

    let res = submit_key(&app, &alice.key).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = set_cookies(&res);
    let session = set.iter().find(|c| c.starts_with("sfs_session=")).unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain-http public URL: {session}"
    );
    let value = cookie_value(&set, "sfs_session").unwrap();
    assert_eq!(value.len(), 64, "256 random bits, hex");
    assert!(
        !value.contains(&alice.key[7..]),
        "the key is never in the browser"
    );

    let browser = sign_in(&app, &alice).await;
    let home = browser.page(ui::HOME).await;
    assert!(home.contains("Refactor the parser"));
    assert!(home.contains("<svg"), "the sessions-per-day chart");
    assert!(home.contains(&alice.email));
    // A wrong key is refused on the form, with the API's words.
    let res = submit_key(&app, "sk_sfs_00000000000000000000000000000000").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("Invalid API key"));
}

#[tokio::test]
async fn an_https_public_url_makes_the_cookie_secure() {
    let app = TestApp::spawn_with(|c| c.public_url = "https://sessions.example.org".into()).await;
    let [alice] = app.users(["alice"]).await;
    let res = submit_key(&app, &alice.key).await;
    let set = set_cookies(&res);
    let session = set.iter().find(|c| c.starts_with("sfs_session=")).unwrap();
    assert!(session.contains("; Secure"), "{session}");
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.as_(&alice).push_new(ID, "Original title").await;
    let browser = sign_in(&app, &alice).await;
    let other = sign_in(&app, &bob).await;
    let edit = ui::session_action(ID, "edit");

    let res = browser.post_raw(&edit, &[("title", "Hijacked")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = browser
        .post_raw(
            &edit,
            &[("csrf_token", other.csrf.as_str()), ("title", "Hijacked")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    let res = browser
        .post_raw(&edit, &[("csrf_token", ""), ("title", "Hijacked")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(title_of(&app, &alice, ID).await, "Original title");

    // The sign-out form and the sign-in form need their tokens too.
    let res = browser.post_raw(ui::SIGN_OUT, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = no_redirects()
        .post(app.url(ui::SIGN_IN))
        .form(&[("api_key", alice.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&res)
        .iter()
        .all(|c| !c.starts_with("sfs_session=")));

    let res = browser
        .post(
            &edit,
            &[("title", "Renamed in the browser"), ("tags", "web, ui")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(title_of(&app, &alice, ID).await, "Renamed in the browser");
    // The API's rules apply: an empty title is refused with its words.
    let res = browser.post(&edit, &[("title", "<b></b>")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Title must not be empty"));
}

#[tokio::test]
async fn another_users_session_and_handoff_are_404_on_every_page_and_form() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol] = app.users(["alice", "bob", "carol"]).await;
    app.as_(&alice).push_new(ID, "Alice's secret").await;
    let handoff = app.as_(&alice).handoff(ID, &carol.email).await;
    let hid = handoff["id"].as_str().unwrap();
    let bob_browser = sign_in(&app, &bob).await;

    let res = bob_browser.get(&ui::session(ID)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("Alice's secret"));
    assert_eq!(
        bob_browser.get(&ui::handoff(hid)).await.status(),
        StatusCode::NOT_FOUND
    );
    for (action, fields) in [
        ("edit", vec![("title", "mine now")]),
        ("alias", vec![("alias", "stolen")]),
        ("delete", vec![]),
        ("share", vec![("expires_in_hours", "24")]),
        ("handoff", vec![("recipient_email", "bob@example.com")]),
    ] {
        let res = bob_browser
            .post(&ui::session_action(ID, action), &fields)
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
    }
    // Restore answers as the API does for a session not in the caller's trash.
    let res = bob_browser
        .post(&ui::session_action(ID, "restore"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    for action in ["claim", "decline", "comment"] {
        let res = bob_browser
            .post(&ui::handoff_action(hid, action), &[("content", "hi")])
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "handoff {action}");
    }
    let res = bob_browser.get(&format!("{}?q=secret", "/ui/search")).await;
    assert!(!res.text().await.unwrap().contains("Alice's secret"));
    assert_eq!(title_of(&app, &alice, ID).await, "Alice's secret");
    // A project page of someone else's project: 404 as in the API.
    let project = app
        .as_(&alice)
        .create_project("github.com/acme/app", None)
        .await;
    let pid = project["id"].as_str().unwrap();
    let res = bob_browser.get(&format!("/ui/projects/{pid}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Admin pages need a platform admin.
    assert_eq!(
        bob_browser.get(ui::ADMIN_USERS).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn scripts_links_and_html_in_titles_and_messages_render_inert() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let hostile = r#"<script>alert(1)</script> <a href="javascript:alert(2)">click</a> <img src=x onerror=alert(3)>"#;
    let archive = session_archive(ID, &format!("Title {hostile}"), hostile, 4);
    let res = app.push(&alice, ID, archive, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let browser = sign_in(&app, &alice).await;
    let handler = Regex::new(r"<[^>]*\sonerror=").unwrap();
    for page in [ui::HOME.to_string(), ui::session(ID), ui::search("alert")] {
        let html = browser.page(&page).await;
        assert!(!html.contains("<script>alert"), "{page}: a live script");
        assert!(
            !html.contains("href=\"javascript:"),
            "{page}: a live javascript: link"
        );
        assert!(!html.contains("<img src=x"), "{page}: a live image");
        assert!(!handler.is_match(&html), "{page}: an event handler");
    }
    let html = browser.page(&ui::session(ID)).await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
    // The index commits within about half a second of the push.
    let mut search = String::new();
    for _ in 0..100 {
        search = browser.page(&ui::search("alert")).await;
        if search.contains("<mark>") {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        search.contains("<mark>"),
        "snippets keep their highlights: {search}"
    );
    assert!(!search.contains("<script>alert"));
}

#[tokio::test]
async fn a_revoked_key_or_disabled_user_is_signed_out_on_the_next_request() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let browser = sign_in(&app, &alice).await;
    let keys = json_of(
        app.as_(&alice).get(paths::MY_API_KEYS).await,
        StatusCode::OK,
    )
    .await;
    let key_id = keys.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .as_(&alice)
        .call(
            reqwest::Method::DELETE,
            &paths::my_api_key(&key_id),
            Some(json!({"reason": "lost laptop"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = browser.get(ui::KEYS).await;
    assert_signed_out(&res);
    assert!(location(&res).contains("ended=1"));
    let res = browser.get(ui::HOME).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text().await.unwrap().contains(r#"name="api_key""#),
        "the sign-in form again"
    );

    let bob_browser = sign_in(&app, &bob).await;
    app.disable(&bob).await;
    assert_signed_out(&bob_browser.get(ui::ACCOUNT).await);
}

#[tokio::test]
async fn browser_sessions_expire_are_listed_revocable_and_end_at_sign_out() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let laptop = sign_in(&app, &alice).await;
    let phone = sign_in(&app, &alice).await;

    let account = laptop.page(ui::ACCOUNT).await;
    let handles: Vec<String> = Regex::new(r"/ui/account/browser-sessions/(bs_[0-9a-f]{16})/revoke")
        .unwrap()
        .captures_iter(&account)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(handles.len(), 2, "both browsers listed");
    // The laptop's own row is marked "this browser": its handle is the first after the mark.
    let mark = account.find("(this browser)").expect("this browser marked");
    let own = handles
        .iter()
        .min_by_key(|h| account[mark..].find(h.as_str()).unwrap_or(usize::MAX))
        .unwrap();
    let phone_handle = handles.iter().find(|h| *h != own).unwrap().clone();
    let res = laptop
        .post(&ui::revoke_browser_session(&phone_handle), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(laptop.get(ui::ACCOUNT).await.status(), StatusCode::OK);
    assert_signed_out(&phone.get(ui::ACCOUNT).await);

    // Idle expiry: 12 hours without a request.
    let fresh = sign_in(&app, &alice).await;
    app.clock().advance(Duration::hours(13));
    assert_signed_out(&fresh.get(ui::ACCOUNT).await);

    // Absolute expiry: 7 days, however busy.
    let busy = sign_in(&app, &alice).await;
    for _ in 0..15 {
        app.clock().advance(Duration::hours(11));
        assert_eq!(
            busy.get(ui::ACCOUNT).await.status(),
            StatusCode::OK,
            "used within 12 h"
        );
    }
    app.clock().advance(Duration::hours(11));
    assert_signed_out(&busy.get(ui::ACCOUNT).await);

    // Sign-out.
    let last = sign_in(&app, &alice).await;
    let res = last.post(ui::SIGN_OUT, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&res)
        .iter()
        .any(|c| c.starts_with("sfs_session=;") && c.contains("Max-Age=0")));
    assert_signed_out(&last.get(ui::ACCOUNT).await);
}

#[tokio::test]
async fn a_service_key_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let org = app.as_(&alice).create_org("acme").await;
    let key = app
        .as_(&alice)
        .mint_key(&org.id, json!(["sessions:read"]), json!([]))
        .await;
    let res = submit_key(&app, &key).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookies(&res)
        .iter()
        .all(|c| !c.starts_with("sfs_session=")));
}

#[tokio::test]
async fn trash_restore_and_share_revoke_from_the_dashboard() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    app.as_(&alice).push_new(ID, "Going to the trash").await;
    let browser = sign_in(&app, &alice).await;

    let res = browser
        .post(
            &ui::session_action(ID, "share"),
            &[("expires_in_hours", "24")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let page = res.text().await.unwrap();
    let public = Regex::new(r#"id="share-url" href="([^"]+)""#)
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_string();
    // The link carries --public-url; the test server listens elsewhere.
    let url = app.url(&public[public.find("/s/").expect("a /s/ link")..]);
    assert_eq!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The API's range applies to the form too.
    let res = browser
        .post(
            &ui::session_action(ID, "share"),
            &[("expires_in_hours", "9999")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let link_id = Regex::new(r"/share/([^/]+)/revoke")
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_string();
    let res = browser
        .post(&format!("{}/share/{link_id}/revoke", ui::session(ID)), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(
        app.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK,
        "revoked"
    );

    let res = browser.post(&ui::session_action(ID, "delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.as_(&alice).get(&paths::session(ID)).await.status(),
        StatusCode::NOT_FOUND
    );
    let trash = browser.page("/?trash=1").await;
    assert!(trash.contains("Going to the trash"));
    assert!(!browser.page(ui::HOME).await.contains("Going to the trash"));
    let res = browser.post(&ui::session_action(ID, "restore"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(title_of(&app, &alice, ID).await, "Going to the trash");
}

#[tokio::test]
async fn org_pages_follow_the_api_roles() {
    let app = TestApp::spawn().await;
    let [alice, bob, carol] = app.users(["alice", "bob", "carol"]).await;
    let org = app.as_(&alice).org("acme").member(&bob).create().await;
    let owner = sign_in(&app, &alice).await;
    let member = sign_in(&app, &bob).await;

    // A member sees the members but may not invite or change roles (the API's 403).
    let page = member.page(ui::ORG).await;
    assert!(page.contains(&alice.email) && !page.contains("Send invite"));
    let res = member
        .post(
            "/ui/org/invite",
            &[("email", carol.email.as_str()), ("role", "member")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = member
        .post(
            &format!("/ui/org/members/{}/role", alice.id),
            &[("role", "member")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = owner
        .post(
            "/ui/org/invite",
            &[("email", carol.email.as_str()), ("role", "member")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let carol_browser = sign_in(&app, &carol).await;
    let page = carol_browser.page(ui::ORG).await;
    let invite = Regex::new(r"/ui/org/invites/([^/]+)/accept")
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_string();
    let res = carol_browser
        .post(&format!("/ui/org/invites/{invite}/accept"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let res = owner
        .post(
            &format!("/ui/org/members/{}/role", bob.id),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let members = json_of(
        app.as_(&alice).get(&paths::org_members(&org.id)).await,
        StatusCode::OK,
    )
    .await;
    let text = members.to_string();
    assert!(text.contains(&carol.email), "{text}");
    assert!(text.contains("\"admin\""), "{text}");
    // The owner's role cannot change (the API's rule and answer).
    let res = owner
        .post(
            &format!("/ui/org/members/{}/role", alice.id),
            &[("role", "member")],
        )
        .await;
    assert!(res.status().is_client_error());
}

// ---------------------------------------------------------------------------------------------
// Project areas: tickets board, personas, agent runs, wiki, settings; the admin users page.

/// A project of `user` (personal; test users are on a plan with every agent feature).
async fn project_of(app: &TestApp, user: &User, remote: &str) -> String {
    app.as_(user).create_project(remote, None).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `user` files a ticket through the API; returns its id.
async fn api_ticket(app: &TestApp, user: &User, project: &str, title: &str) -> String {
    json_of(
        app.as_(user)
            .post(
                &paths::tickets(project),
                json!({"title": title, "description": "d"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn api_ticket_status(app: &TestApp, user: &User, project: &str, id: &str) -> Value {
    json_of(
        app.as_(user).get(&paths::ticket(project, id)).await,
        StatusCode::OK,
    )
    .await
}

/// The count a board shows for `status`.
fn column_count(board: &str, status: &str) -> u32 {
    let re = Regex::new(&format!(r#"data-count="{status}">(\d+)<"#)).unwrap();
    re.captures(board)
        .unwrap_or_else(|| panic!("no count for {status}"))[1]
        .parse()
        .unwrap()
}

/// The moves a ticket's page offers, in order.
fn offered(page: &str) -> Vec<String> {
    Regex::new(r#"name="move" value="([a-z-]+)""#)
        .unwrap()
        .captures_iter(page)
        .map(|c| c[1].to_string())
        .collect()
}

#[tokio::test]
async fn a_ticket_is_created_on_the_board_and_moved_through_its_machine() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let browser = sign_in(&app, &alice).await;
    let board_path = ui_project::tickets(&project);

    let board = browser.page(&board_path).await;
    for status in [
        "suggested",
        "open",
        "in_progress",
        "blocked",
        "review",
        "done",
        "cancelled",
        "closed",
    ] {
        assert_eq!(column_count(&board, status), 0, "{status}");
    }
    assert!(board.contains("<svg"), "the counts as a picture");

    let res = browser
        .post(
            &board_path,
            &[
                ("title", "Ship the board"),
                ("description", "Columns per status"),
                ("priority", "high"),
                ("kind", "task"),
                ("acceptance_criteria", "columns\ncounts"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), board_path);
    let board = browser.page(&board_path).await;
    assert_eq!(column_count(&board, "open"), 1);
    let id = Regex::new(&format!(
        r#"/ui/projects/{project}/tickets/([A-Za-z0-9_]+)""#
    ))
    .unwrap()
    .captures(&board)
    .expect("a card linking to the ticket")[1]
        .to_string();
    let filed = api_ticket_status(&app, &alice, &project, &id).await;
    assert_eq!(filed["priority"], "high");
    assert_eq!(filed["acceptance_criteria"], json!(["columns", "counts"]));

    let ticket_page = ui_project::ticket(&project, &id);
    let moves = ui_project::ticket_move(&project, &id);
    assert_eq!(
        offered(&browser.page(&ticket_page).await),
        ["start", "dismiss"]
    );

    let res = browser.post(&moves, &[("move", "start")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), ticket_page);
    let page = browser.page(&ticket_page).await;
    assert_eq!(offered(&page), ["block", "complete"]);
    assert_eq!(
        api_ticket_status(&app, &alice, &project, &id).await["status"],
        "in_progress"
    );

    let res = browser
        .post(
            &moves,
            &[
                ("move", "complete"),
                ("lease_epoch", "1"),
                ("notes", "Built it"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = browser.page(&ticket_page).await;
    assert_eq!(offered(&page), ["accept", "reopen"]);
    assert!(page.contains("Built it"));

    let res = browser.post(&moves, &[("move", "accept")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(offered(&browser.page(&ticket_page).await).is_empty());
    let done = api_ticket_status(&app, &alice, &project, &id).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["completion_notes"], "Built it");

    let board = browser.page(&board_path).await;
    assert_eq!(column_count(&board, "open"), 0);
    assert_eq!(column_count(&board, "done"), 1);

    let res = browser
        .post(
            &ui_project::ticket_comment(&project, &id),
            &[("content", "Nice work")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(browser.page(&ticket_page).await.contains("Nice work"));
}

#[tokio::test]
async fn an_illegal_move_posted_by_hand_is_refused_with_the_domains_message() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let id = api_ticket(&app, &alice, &project, "Still open").await;
    let browser = sign_in(&app, &alice).await;
    let moves = ui_project::ticket_move(&project, &id);

    let res = browser.post(&moves, &[("move", "accept")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("Cannot accept ticket: current status is") && text.contains("expected"),
        "{text}"
    );
    let res = browser
        .post(&moves, &[("move", "complete"), ("notes", "x")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(text.contains("Cannot transition from"), "{text}");
    assert!(text.contains("Legal transitions from"), "{text}");
    let res = browser.post(&moves, &[("move", "teleport")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let after = api_ticket_status(&app, &alice, &project, &id).await;
    assert_eq!(after["status"], "open");
    assert_eq!(after["lease_epoch"], 0);
    assert_eq!(after["completion_notes"], Value::Null);
}

#[tokio::test]
async fn every_project_area_form_refuses_a_post_without_its_csrf_token() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    app.set_tier(&alice, "admin").await;
    app.as_(&alice).org("acme").create().await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let id = api_ticket(&app, &alice, &project, "Keep me open").await;
    json_of(
        app.as_(&alice)
            .post(
                &paths::personas(&project),
                json!({"name": "Atlas", "role": "Architect", "content": "c"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let personas = json_of(
        app.as_(&alice).get(&paths::personas(&project)).await,
        StatusCode::OK,
    )
    .await;
    let persona_id = personas[0]["id"].as_str().unwrap().to_string();
    let browser = sign_in(&app, &alice).await;

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (ui_project::tickets(&project), vec![("title", "Forged")]),
        (
            ui_project::ticket_move(&project, &id),
            vec![("move", "start")],
        ),
        (
            ui_project::ticket_comment(&project, &id),
            vec![("content", "Forged")],
        ),
        (
            ui_project::personas(&project),
            vec![("name", "Forged"), ("role", "r")],
        ),
        (
            ui_project::persona_action(&project, &persona_id, "edit"),
            vec![("role", "Forged")],
        ),
        (
            ui_project::persona_action(&project, &persona_id, "delete"),
            vec![],
        ),
        (
            ui_project::ORG_PERSONAS.to_string(),
            vec![("name", "Forged"), ("role", "r")],
        ),
        (
            ui_project::wiki_new(&project),
            vec![("slug", "forged"), ("title", "F")],
        ),
        (
            format!("{}/edit", ui_project::wiki_page(&project, "forged")),
            vec![("title", "F")],
        ),
        (
            ui_project::settings(&project),
            vec![("kb_retention_days", "3")],
        ),
        (
            ui_project::SETTINGS_JUDGE.to_string(),
            vec![("provider", "custom"), ("model", "m")],
        ),
        (ui_project::SETTINGS_JUDGE_CLEAR.to_string(), vec![]),
        (
            ui_project::SETTINGS_TRIGGERS.to_string(),
            vec![("audit", "on_sync"), ("summarize", "on_sync")],
        ),
        (
            format!("/ui/admin/users/{}/tier", bob.id),
            vec![("tier", "free")],
        ),
        (
            format!("/ui/admin/users/{}/active", bob.id),
            vec![("active", "0")],
        ),
    ];
    for (path, fields) in &forms {
        let res = browser.post_raw(path, fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing changed.
    let t = api_ticket_status(&app, &alice, &project, &id).await;
    assert_eq!(t["status"], "open");
    let list = json_of(
        app.as_(&alice).get(&paths::tickets(&project)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let personas = json_of(
        app.as_(&alice).get(&paths::personas(&project)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(personas.as_array().unwrap().len(), 1);
    assert_eq!(personas[0]["role"], "Architect");
    let detail = json_of(
        app.as_(&alice).get(&paths::admin_user(&bob.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["is_active"], true);
    assert_eq!(detail["tier"], "enterprise");
    let res = app.as_(&alice).get(&paths::page(&project, "forged")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_users_project_ticket_persona_run_and_page_are_404() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let project = project_of(&app, &alice, "github.com/acme/secret").await;
    let id = api_ticket(&app, &alice, &project, "Alice's secret ticket").await;
    let persona = json_of(
        app.as_(&alice)
            .post(
                &paths::personas(&project),
                json!({"name": "Atlas", "role": "Architect", "content": "c"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let persona_id = persona["id"].as_str().unwrap().to_string();
    let run = json_of(
        app.as_(&alice)
            .post(
                &paths::agent_runs(&project),
                json!({"persona_name": "Atlas"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    json_of(
        app.as_(&alice)
            .put(
                &paths::page(&project, "notes"),
                json!({"title": "Notes", "content": "Alice's secret page"}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let bob_project = project_of(&app, &bob, "github.com/bob/own").await;
    let bob_browser = sign_in(&app, &bob).await;

    for path in [
        ui_project::tickets(&project),
        ui_project::ticket(&project, &id),
        ui_project::personas(&project),
        ui_project::runs(&project),
        ui_project::run(&project, &run_id),
        ui_project::wiki(&project),
        ui_project::wiki_page(&project, "notes"),
        ui_project::settings(&project),
        // Alice's ticket and run under Bob's own project: not found either.
        ui_project::ticket(&bob_project, &id),
        ui_project::run(&bob_project, &run_id),
        ui_project::wiki_page(&bob_project, "notes"),
    ] {
        let res = bob_browser.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("Alice&#39;s secret") && !text.contains("Alice's secret"),
            "{path}"
        );
    }
    for (path, fields) in [
        (ui_project::tickets(&project), vec![("title", "mine")]),
        (
            ui_project::ticket_move(&project, &id),
            vec![("move", "start")],
        ),
        (
            ui_project::ticket_move(&bob_project, &id),
            vec![("move", "start")],
        ),
        (
            ui_project::ticket_comment(&project, &id),
            vec![("content", "hi")],
        ),
        (
            ui_project::personas(&project),
            vec![("name", "Mine"), ("role", "r")],
        ),
        (
            ui_project::persona_action(&project, &persona_id, "edit"),
            vec![("role", "r")],
        ),
        (
            ui_project::persona_action(&project, &persona_id, "delete"),
            vec![],
        ),
        (
            ui_project::persona_action(&bob_project, &persona_id, "delete"),
            vec![],
        ),
        (
            ui_project::wiki_new(&project),
            vec![("slug", "mine"), ("title", "M")],
        ),
        (
            format!("{}/edit", ui_project::wiki_page(&project, "notes")),
            vec![("title", "M")],
        ),
        (
            ui_project::settings(&project),
            vec![("kb_retention_days", "3")],
        ),
    ] {
        let res = bob_browser.post(&path, &fields).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        api_ticket_status(&app, &alice, &project, &id).await["status"],
        "open"
    );
    let personas = json_of(
        app.as_(&alice).get(&paths::personas(&project)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(personas[0]["is_active"], true);
}

#[tokio::test]
async fn hostile_ticket_titles_and_wiki_pages_render_inert() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let hostile = r#"<script>alert(1)</script> <a href="javascript:alert(2)">x</a>"#;
    let id = api_ticket(&app, &alice, &project, hostile).await;
    json_of(
        app.as_(&alice)
            .put(
                &paths::page(&project, "evil"),
                json!({"title": hostile, "content": format!("{hostile}\n[click](javascript:alert(3))")}),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let browser = sign_in(&app, &alice).await;
    browser
        .post(
            &ui_project::ticket_comment(&project, &id),
            &[("content", hostile)],
        )
        .await;
    for page in [
        ui_project::tickets(&project),
        ui_project::ticket(&project, &id),
        ui_project::wiki(&project),
        ui_project::wiki_page(&project, "evil"),
    ] {
        let html = browser.page(&page).await;
        assert!(!html.contains("<script>alert"), "{page}: a live script");
        assert!(!html.contains("href=\"javascript:"), "{page}: a live link");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}: shown as text"
        );
    }
}

#[tokio::test]
async fn personas_are_created_edited_and_deleted_from_the_dashboard() {
    let app = TestApp::spawn().await;
    let [alice, bob] = app.users(["alice", "bob"]).await;
    let org = app.as_(&alice).org("acme").member(&bob).create().await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let browser = sign_in(&app, &alice).await;
    let list = ui_project::personas(&project);

    let res = browser
        .post(
            &list,
            &[
                ("name", "Atlas"),
                ("role", "Architect"),
                ("content", "You design APIs."),
                ("specializations", "api, rust"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let atlas = json_of(
        app.as_(&alice)
            .get(&paths::persona(&project, "atlas"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(atlas["specializations"], json!(["api", "rust"]));
    let pid = atlas["id"].as_str().unwrap().to_string();
    // The API's rule on names, with its words.
    let res = browser
        .post(&list, &[("name", "no spaces allowed"), ("role", "r")])
        .await;
    assert!(res.status().is_client_error());

    let res = browser
        .post(
            &ui_project::persona_action(&project, &pid, "edit"),
            &[
                ("role", "Chief Architect"),
                ("content", "Design."),
                ("is_active", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let atlas = json_of(
        app.as_(&alice)
            .get(&paths::persona(&project, "atlas"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(atlas["role"], "Chief Architect");
    assert_eq!(atlas["version"], 2);
    assert!(browser.page(&list).await.contains("Chief Architect"));

    let res = browser
        .post(&ui_project::persona_action(&project, &pid, "delete"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .as_(&alice)
        .get(&paths::persona(&project, "atlas"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Org personas: the owner creates one; a member sees it but may not change it.
    let res = browser
        .post(
            ui_project::ORG_PERSONAS,
            &[
                ("name", "Scout"),
                ("role", "Reviewer"),
                ("content", "Review."),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let org_list = json_of(
        app.as_(&alice).get(&paths::org_personas(&org.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(org_list[0]["name"], "Scout");
    let scout = org_list[0]["id"].as_str().unwrap().to_string();
    let member = sign_in(&app, &bob).await;
    let page = member.page(ui_project::ORG_PERSONAS).await;
    assert!(page.contains("Scout") && !page.contains("New persona"));
    let res = member
        .post(&format!("/ui/org/personas/{scout}/delete"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = browser
        .post(&format!("/ui/org/personas/{scout}/delete"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn agent_runs_are_listed_filtered_and_shown() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    json_of(
        app.as_(&alice)
            .post(
                &paths::personas(&project),
                json!({"name": "Atlas", "role": "Architect", "content": "c"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let run = json_of(
        app.as_(&alice)
            .post(
                &paths::agent_runs(&project),
                json!({"persona_name": "Atlas", "trigger_source": "ci", "prompt": "<script>x</script>"}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let run_id = run["id"].as_str().unwrap().to_string();
    let browser = sign_in(&app, &alice).await;
    let list = browser.page(&ui_project::runs(&project)).await;
    assert!(list.contains(&run_id));
    let filtered = browser
        .page(&format!("{}?status=passed", ui_project::runs(&project)))
        .await;
    assert!(!filtered.contains(&run_id));
    let by_trigger = browser
        .page(&format!(
            "{}?trigger=ci&persona=Atlas",
            ui_project::runs(&project)
        ))
        .await;
    assert!(by_trigger.contains(&run_id));
    let page = browser.page(&ui_project::run(&project, &run_id)).await;
    assert!(page.contains("Atlas") && page.contains("queued"));
    assert!(!page.contains("<script>x"));
    let res = browser.get(&ui_project::run(&project, "run_nope")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wiki_pages_are_listed_shown_with_history_and_edited() {
    let app = TestApp::spawn().await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let browser = sign_in(&app, &alice).await;
    let res = browser
        .post(
            &ui_project::wiki_new(&project),
            &[
                ("slug", "guide"),
                ("title", "Guide"),
                ("content", "First words"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), ui_project::wiki_page(&project, "guide"));
    let res = browser
        .post(
            &format!("{}/edit", ui_project::wiki_page(&project, "guide")),
            &[("title", "Guide"), ("content", "Second words")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = browser
        .page(&ui_project::wiki_page(&project, "guide"))
        .await;
    assert!(page.contains("Second words"));
    assert!(page.contains("History"));
    let history = json_of(
        app.as_(&alice)
            .get(&paths::page_history(&project, "guide"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        history.to_string().contains("\"revision_number\":2"),
        "{history}"
    );
    assert!(browser
        .page(&ui_project::wiki(&project))
        .await
        .contains("Guide"));
    let res = browser
        .post(
            &ui_project::wiki_new(&project),
            &[("slug", "a//b"), ("title", "x")],
        )
        .await;
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn judge_key_is_set_and_cleared_but_never_shown_and_settings_save() {
    let fake = crate::common::fake_llm::FakeLlm::start("ok").await;
    let app = crate::settings::app_with(&fake, true).await;
    let [alice] = app.users(["alice"]).await;
    let project = project_of(&app, &alice, "github.com/acme/board").await;
    let browser = sign_in(&app, &alice).await;
    const KEY: &str = "sk-dashboard-secret-0123456789";

    let res = browser
        .post(
            ui_project::SETTINGS_JUDGE,
            &[
                ("provider", "custom"),
                ("model", "llama3"),
                ("base_url", &fake.base_url()),
                ("api_key", KEY),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = browser.page(ui_project::SETTINGS).await;
    assert!(!page.contains(KEY), "the key is never shown back");
    assert!(page.contains(r#"<strong id="key-state">set</strong>"#));
    assert!(page.contains("llama3"));
    let judge = json_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(judge["key_set"], true);

    let res = browser.post(ui_project::SETTINGS_JUDGE_CLEAR, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let judge = json_of(
        app.as_(&alice).get(paths::SETTINGS_JUDGE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(judge["key_set"], false);
    assert!(browser
        .page(ui_project::SETTINGS)
        .await
        .contains(r#"<strong id="key-state">not set</strong>"#));

    let res = browser
        .post(
            ui_project::SETTINGS_TRIGGERS,
            &[("audit", "on_sync"), ("summarize", "manual")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = browser
        .post(
            ui_project::SETTINGS_TRIGGERS,
            &[("audit", "sometimes"), ("summarize", "manual")],
        )
        .await;
    assert!(res.status().is_client_error());
    let page = browser.page(ui_project::SETTINGS).await;
    assert!(
        page.contains(r#"<option value="on_sync" selected>on_sync</option>"#),
        "{page}"
    );

    let res = browser
        .post(
            &ui_project::settings(&project),
            &[
                ("kb_retention_days", "30"),
                ("kb_max_context_words", "4000"),
                ("kb_section_page_limit", "5"),
                ("compile_schedule", "weekly"),
                ("compile_after_claims", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let p = json_of(
        app.as_(&alice).get(&paths::project(&project)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["kb_retention_days"], 30);
    assert_eq!(p["compile_schedule"], "weekly");
    assert_eq!(p["auto_narrative"], false);
    let res = browser
        .post(
            &ui_project::settings(&project),
            &[("kb_retention_days", "0")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_admin_page_changes_tiers_and_disables_through_the_admin_domain() {
    let app = TestApp::spawn().await;
    let [root, bob] = app.users(["root", "bob"]).await;
    app.set_tier(&root, "admin").await;
    let browser = sign_in(&app, &root).await;
    let page = browser.page(ui::ADMIN_USERS).await;
    assert!(page.contains(&bob.email));
    let res = browser
        .post(
            &format!("/ui/admin/users/{}/tier", bob.id),
            &[("tier", "pro")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = browser
        .post(
            &format!("/ui/admin/users/{}/tier", root.id),
            &[("tier", "free")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Cannot demote your own admin account"));
    let res = browser
        .post(
            &format!("/ui/admin/users/{}/active", bob.id),
            &[("active", "0")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let detail = json_of(
        app.as_(&root).get(&paths::admin_user(&bob.id)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(detail["tier"], "pro");
    assert_eq!(detail["is_active"], false);
    // Disabled users stay on the page (to be enabled again).
    let page = browser.page(&format!("{}?q=bob", ui::ADMIN_USERS)).await;
    assert!(page.contains(&bob.email) && page.contains("Enable"));
    let res = browser
        .post(
            &format!("/ui/admin/users/{}/active", "nobody"),
            &[("active", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
