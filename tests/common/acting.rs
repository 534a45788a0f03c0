//! What users do, named as they would say it. One style everywhere: `app.as_(&alice)` is Alice
//! at the keyboard, and the helpers hang off it:
//!
//! ```ignore
//! let alice = app.signup("alice@example.com").await;
//! let carol = app.user("carol").tier("free").create().await;
//! app.as_(&alice).push_new(ID, "Half-done refactor").await;
//! let org = app.as_(&alice).org("acme").member(&bob).admin(&carol).create().await;
//! let invite = org.invite(&dave).await;
//! app.as_(&dave).accept(&invite).await;
//! let h = app.as_(&alice).handoff(ID, &bob.email).await;
//! app.as_(&bob).claim(h["id"].as_str().unwrap()).await;
//! ```
//!
//! Helpers that set state up assert that it worked (so a test fails where the setup broke);
//! helpers that return a `Response` leave every check to the test.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::app::{json_of, TestApp, User};
use super::paths;

/// `user` acting on `app`: see [`TestApp::as_`].
#[derive(Clone, Copy)]
pub struct Acting<'a> {
    pub app: &'a TestApp,
    pub user: &'a User,
}

impl TestApp {
    /// `user` acting on this app: `app.as_(&alice).push_new(ID, "title")`.
    pub fn as_<'a>(&'a self, user: &'a User) -> Acting<'a> {
        Acting { app: self, user }
    }

    /// A user to sign up, with a builder: `app.user("carol").tier("free").create().await`.
    /// A name without `@` becomes `name@example.com`.
    pub fn user(&self, name: &str) -> UserBuilder<'_> {
        let email = if name.contains('@') {
            name.to_string()
        } else {
            format!("{name}@example.com")
        };
        UserBuilder {
            app: self,
            email,
            tier: None,
        }
    }

    /// Signs up several users at once (`name` as in [`TestApp::user`]):
    /// `let [alice, bob] = app.users(["alice", "bob"]).await;`
    pub async fn users<const N: usize>(&self, names: [&str; N]) -> [User; N] {
        let mut out = Vec::with_capacity(N);
        for name in names {
            out.push(self.user(name).create().await);
        }
        out.try_into().unwrap_or_else(|_| unreachable!())
    }

    /// Sends `method path` with `key` as bearer (if any) and `body` as JSON (if any).
    pub async fn call(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.request(method, path, key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }
}

pub struct UserBuilder<'a> {
    app: &'a TestApp,
    email: String,
    tier: Option<String>,
}

impl UserBuilder<'_> {
    /// The tier an operator sets after signup (`free`, `pro`, `team`, …).
    pub fn tier(mut self, tier: &str) -> Self {
        self.tier = Some(tier.to_string());
        self
    }

    /// Signs the user up (asserting 201) and applies the tier.
    pub async fn create(self) -> User {
        let user = self.app.signup(&self.email).await;
        if let Some(tier) = &self.tier {
            self.app.set_tier(&user, tier).await;
        }
        user
    }
}

impl<'a> Acting<'a> {
    /// `method path` with this user's key and an optional JSON body.
    pub async fn call(self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.app
            .call(Some(&self.user.key), method, path, body)
            .await
    }
    pub async fn get(self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(self, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(body)).await
    }
    /// `POST` without a body.
    pub async fn post_empty(self, path: &str) -> Response {
        self.call(Method::POST, path, None).await
    }
    pub async fn put(self, path: &str, body: Value) -> Response {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(self, path: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(self, path: &str) -> Response {
        self.call(Method::DELETE, path, None).await
    }

    /// Pushes `archive` as session `id`, optionally conditional on `if_match`.
    pub async fn push(self, id: &str, archive: Vec<u8>, if_match: Option<&str>) -> Response {
        self.app.push(self.user, id, archive, if_match).await
    }

    /// Pushes a generated session (asserting 201) and returns its etag.
    pub async fn push_new(self, id: &str, title: &str) -> String {
        self.app.push_new(self.user, id, title).await
    }

    /// Pulls session `id`, optionally conditional on `if_none_match`.
    pub async fn pull(self, id: &str, if_none_match: Option<&str>) -> Response {
        self.app.pull(self.user, id, if_none_match).await
    }

    /// Creates org `slug` (named "Acme") owned by this user, asserting 200.
    pub async fn create_org(self, slug: &str) -> Org<'a> {
        self.org(slug).create().await
    }

    /// An org to create, with a builder: `.org("acme").member(&bob).admin(&carol).create()`.
    pub fn org(self, slug: &str) -> OrgBuilder<'a> {
        OrgBuilder {
            owner: self,
            slug: slug.to_string(),
            members: Vec::new(),
        }
    }

    /// Accepts an org invite (asserting 200); returns the response body.
    pub async fn accept(self, invite_id: &str) -> Value {
        json_of(
            self.post_empty(&paths::invite_accept(invite_id)).await,
            StatusCode::OK,
        )
        .await
    }

    /// Asks for a share link to session `id` with `body` (`{}` for a public link).
    pub async fn share(self, id: &str, body: Value) -> Response {
        self.post(&paths::session_share(id), body).await
    }

    /// Hands session `session_id` off to `recipient_email` with the message "over to you",
    /// asserting 201; returns the handoff.
    pub async fn handoff(self, session_id: &str, recipient_email: &str) -> Value {
        let body = json!({
            "session_id": session_id,
            "recipient_email": recipient_email,
            "message": "over to you",
        });
        json_of(self.post(paths::HANDOFFS, body).await, StatusCode::CREATED).await
    }

    /// Claims handoff `id`.
    pub async fn claim(self, id: &str) -> Response {
        self.post_empty(&paths::handoff_claim(id)).await
    }

    /// Mints a service key named "bot" for `org_id` with `scopes` and `project_ids` (JSON,
    /// `null` for none), asserting 201; returns the raw key.
    pub async fn mint_key(self, org_id: &str, scopes: Value, project_ids: Value) -> String {
        let body = json!({"name": "bot", "scopes": scopes, "project_ids": project_ids});
        let key = self.mint_service_key(org_id, body).await;
        key["key"].as_str().unwrap().to_string()
    }

    /// Creates a project for `git_remote_normalized` (named "app"), in `org_id` if given,
    /// asserting 201; returns it.
    pub async fn create_project(self, git_remote_normalized: &str, org_id: Option<&str>) -> Value {
        let mut body = json!({"name": "app", "git_remote_normalized": git_remote_normalized});
        if let Some(org) = org_id {
            body["org_id"] = json!(org);
        }
        json_of(self.post(paths::PROJECTS, body).await, StatusCode::CREATED).await
    }

    /// Mints a service key for `org_id` with `body`, asserting 201; returns the response body.
    pub async fn mint_service_key(self, org_id: &str, body: Value) -> Value {
        json_of(
            self.post(&paths::service_keys(org_id), body).await,
            StatusCode::CREATED,
        )
        .await
    }
}

pub struct OrgBuilder<'a> {
    owner: Acting<'a>,
    slug: String,
    members: Vec<(&'a User, Option<&'static str>)>,
}

impl<'a> OrgBuilder<'a> {
    /// `user` joins with the default role, member (invited, then accepted).
    pub fn member(mut self, user: &'a User) -> Self {
        self.members.push((user, None));
        self
    }
    /// `user` joins as an admin (invited, then accepted).
    pub fn admin(mut self, user: &'a User) -> Self {
        self.members.push((user, Some("admin")));
        self
    }

    /// Creates the org (asserting 200 and its slug), then adds the members in order.
    pub async fn create(self) -> Org<'a> {
        let body = json_of(
            self.owner
                .post(paths::ORG, json!({"name": "Acme", "slug": self.slug}))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["slug"], self.slug.as_str());
        let org = Org {
            app: self.owner.app,
            owner: self.owner.user,
            id: body["org_id"].as_str().unwrap().to_string(),
        };
        for (user, role) in self.members {
            match role {
                Some(role) => org.add_as(user, role).await,
                None => org.add(user).await,
            }
        }
        org
    }
}

/// An org and its owner, who sends the invites.
pub struct Org<'a> {
    pub app: &'a TestApp,
    pub owner: &'a User,
    pub id: String,
}

impl Org<'_> {
    /// The owner invites `email` (`paths::ORG_INVITE`), with `role` if given (the server's
    /// default is `member`), asserting 200; returns the response body.
    pub async fn invite_email(&self, email: &str, role: Option<&str>) -> Value {
        let mut body = json!({ "email": email });
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        json_of(
            self.app.as_(self.owner).post(paths::ORG_INVITE, body).await,
            StatusCode::OK,
        )
        .await
    }

    /// The owner invites `user` (default role); returns the invite id.
    pub async fn invite(&self, user: &User) -> String {
        let inv = self.invite_email(&user.email, None).await;
        inv["invite_id"].as_str().unwrap().to_string()
    }

    /// The owner invites `user` with `role`; returns the invite id.
    pub async fn invite_as(&self, user: &User, role: &str) -> String {
        let inv = self.invite_email(&user.email, Some(role)).await;
        inv["invite_id"].as_str().unwrap().to_string()
    }

    /// `user` joins with the default role, member (invite, then accept).
    pub async fn add(&self, user: &User) {
        let invite = self.invite(user).await;
        self.app.as_(user).accept(&invite).await;
    }

    /// `user` joins with `role` (invite, then accept).
    pub async fn add_as(&self, user: &User, role: &str) {
        let invite = self.invite_as(user, role).await;
        self.app.as_(user).accept(&invite).await;
    }
}
