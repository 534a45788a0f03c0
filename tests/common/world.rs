//! The project world most area tests start from, built once here instead of in every file:
//!
//! ```ignore
//! let w = app.world().await;                         // the cast below, project `acme/app`
//! let w = app.world_with().reader().persona("Atlas", "You design APIs.").create().await;
//! let key = w.key(json!(["tickets:read"])).await;   // a service key of `acme`
//! let foreign = w.foreign_key(json!(["tickets:read"])).await; // Eve's org's key
//! ```
//!
//! The cast (users are signed up as `<name>@example.com`, so comments may say "Alice"):
//! - `alice` owns org `acme` and its project `acme/app`;
//! - `bob` is a member of `acme`, `carol` an admin;
//! - `dave` is signed up; with [`WorldBuilder::reader`] he pushed a session of the project's
//!   repository and reads it through that captured session (read standing without edit);
//! - `eve` is an outsider (no org, no session of the repository).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::{error_of, json_of, TestApp, User};
use super::paths;

/// A session of `acme/app` that [`ProjectWorld::capture_session`] pushes.
pub const CAPTURED_SESSION: &str = "ses_0123456789abcdef";

pub struct ProjectWorld<'a> {
    pub app: &'a TestApp,
    /// Owner of org `acme` and of its project `acme/app`.
    pub alice: User,
    /// Member of `acme`.
    pub bob: User,
    /// Admin of `acme`.
    pub carol: User,
    /// A reader through a captured session when built with [`WorldBuilder::reader`].
    pub dave: User,
    /// An outsider.
    pub eve: User,
    /// The id of org `acme`.
    pub org: String,
    /// The id of project `acme/app`.
    pub project: String,
}

/// What to add to the world: see [`TestApp::world_with`].
pub struct WorldBuilder<'a> {
    app: &'a TestApp,
    reader: bool,
    personas: Vec<(&'a str, &'a str)>,
}

impl TestApp {
    /// The usual world: see the module docs.
    pub async fn world(&self) -> ProjectWorld<'_> {
        self.world_with().create().await
    }

    /// The usual world with extras: `app.world_with().reader().persona(..).create().await`.
    pub fn world_with(&self) -> WorldBuilder<'_> {
        WorldBuilder {
            app: self,
            reader: false,
            personas: Vec::new(),
        }
    }

    /// `key` sends `method path` with `body`, expecting `status`; returns the error envelope.
    pub async fn refused(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        error_of(self.call(Some(key), method, path, body).await, status).await
    }
}

impl<'a> WorldBuilder<'a> {
    /// Dave pushes a session of the project's repository: he reads it, without edit.
    pub fn reader(mut self) -> Self {
        self.reader = true;
        self
    }

    /// Alice creates the project persona `name` (role "Backend Architect") with `content`.
    pub fn persona(mut self, name: &'a str, content: &'a str) -> Self {
        self.personas.push((name, content));
        self
    }

    pub async fn create(self) -> ProjectWorld<'a> {
        let app = self.app;
        let [alice, bob, carol, dave, eve] =
            app.users(["alice", "bob", "carol", "dave", "eve"]).await;
        let org = app
            .as_(&alice)
            .org("acme")
            .member(&bob)
            .admin(&carol)
            .create()
            .await
            .id;
        let project = app.as_(&alice).create_project("acme/app", Some(&org)).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let w = ProjectWorld {
            app,
            alice,
            bob,
            carol,
            dave,
            eve,
            org,
            project,
        };
        if self.reader {
            w.capture_session(&w.dave).await;
        }
        for (name, content) in self.personas {
            w.persona(&w.alice, name, content).await;
        }
        w
    }
}

impl ProjectWorld<'_> {
    /// `user` pushes a session of `acme/app`'s repository: from then on they read the project
    /// through that captured session (read standing without edit).
    pub async fn capture_session(&self, user: &User) {
        self.app
            .push_new(user, CAPTURED_SESSION, "work on app")
            .await;
    }

    /// A service key of `acme` (minted by Alice) with `scopes`, for every project.
    pub async fn key(&self, scopes: Value) -> String {
        self.key_for(scopes, Value::Null).await
    }

    /// A service key of `acme` with `scopes`, bound to `projects` (a JSON list of ids).
    pub async fn key_for(&self, scopes: Value, projects: Value) -> String {
        self.app
            .as_(&self.alice)
            .mint_key(&self.org, scopes, projects)
            .await
    }

    /// A service key of `acme` with `scopes` bound to another project of the org
    /// (`acme/other`, created here): refused `project_not_in_allowlist` on `acme/app`.
    pub async fn key_of_another_project(&self, scopes: Value) -> String {
        let other = self.other_project().await;
        self.key_for(scopes, json!([other])).await
    }

    /// Creates a second project of `acme`, `acme/other`; returns its id.
    pub async fn other_project(&self) -> String {
        self.app
            .as_(&self.alice)
            .create_project("acme/other", Some(&self.org))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A service key with `scopes` of an org Eve owns (`other`, created here): refused
    /// `cross_org_denied` on `acme`'s projects.
    pub async fn foreign_key(&self, scopes: Value) -> String {
        let other = self.app.as_(&self.eve).create_org("other").await.id;
        self.app
            .as_(&self.eve)
            .mint_key(&other, scopes, Value::Null)
            .await
    }

    /// `user` creates the persona `name` in the project: see [`add_persona`].
    pub async fn persona(&self, user: &User, name: &str, content: &str) -> Value {
        add_persona(self.app, user, &self.project, name, content).await
    }
}

/// `user` creates the persona `name` (role "Backend Architect") with `content` in `project`,
/// asserting 201; returns it.
pub async fn add_persona(
    app: &TestApp,
    user: &User,
    project: &str,
    name: &str,
    content: &str,
) -> Value {
    json_of(
        app.as_(user)
            .post(
                &paths::personas(project),
                json!({"name": name, "role": "Backend Architect", "content": content}),
            )
            .await,
        StatusCode::CREATED,
    )
    .await
}

/// Asserts a 422 envelope of the body validation that names `field` first.
pub fn assert_invalid_field(err: &Value, field: &str, context: &impl std::fmt::Display) {
    assert_eq!(err["message"], "Validation error", "{context}");
    assert_eq!(
        err["details"]["errors"][0]["loc"],
        json!(["body", field]),
        "{context}"
    );
}
