//! The in-process test app: a real server on 127.0.0.1:0 with a temp data dir, and a
//! `TestApp` whose methods name what a user does. Used by `tests/api/*` and `tests/docs.rs`.

use std::path::PathBuf;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use sessionfs_server::archive::fixture;
use sessionfs_server::clock::Clock;
use sessionfs_server::config::Config;
use sessionfs_server::domain::admin;
use sessionfs_server::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

/// A signed-up account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub key: String,
    pub email: String,
}

impl User {
    /// The account a signup response (`201`, with `user_id` and `raw_key`) created for `email`.
    pub fn from_signup(email: &str, body: &Value) -> User {
        User {
            id: body["user_id"].as_str().expect("user_id").to_string(),
            key: body["raw_key"].as_str().expect("raw_key").to_string(),
            email: email.to_string(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Starts a server whose configuration `tweak` may change first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(dir.path().join("data"));
        config.signup_rate_limit_per_hour = 0;
        tweak(&mut config);
        let data_dir = config.data_dir.clone();
        let state = AppState::open(config).expect("open data dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            sessionfs_server::server::serve(serving, listener, None, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            base,
            client: Client::new(),
            state,
            data_dir,
            _dir: dir,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    pub fn get(&self, user: &User, path: &str) -> RequestBuilder {
        self.request(Method::GET, path, Some(&user.key))
    }

    pub async fn signup(&self, email: &str) -> User {
        let res = self
            .request(Method::POST, super::paths::SIGNUP, None)
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "signup of {email}");
        let body: Value = res.json().await.unwrap();
        User::from_signup(email, &body)
    }

    /// The server's clock: `app.clock().advance(Duration::days(8))` moves time for every
    /// request after it (expiry of keys, links, handoffs, invites).
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// Sets a user's tier as an operator would (`sessionfs-server admin set-tier`).
    pub async fn set_tier(&self, user: &User, tier: &str) {
        admin::set_tier(&self.state.db, &self.state.clock, &user.email, tier)
            .await
            .expect("set tier");
    }

    /// Disables a user's account as an operator would (`sessionfs-server admin disable-user`).
    pub async fn disable(&self, user: &User) {
        admin::set_active(&self.state.db, &self.state.clock, &user.email, false)
            .await
            .expect("disable user");
    }

    /// Pushes `archive` as session `id`, optionally conditional on `if_match`.
    pub async fn push(
        &self,
        user: &User,
        id: &str,
        archive: Vec<u8>,
        if_match: Option<&str>,
    ) -> Response {
        self.push_with(user, id, archive, |b| match if_match {
            Some(tag) => b.header("If-Match", format!("\"{tag}\"")),
            None => b,
        })
        .await
    }

    /// Pushes with extra headers set by `extra`.
    pub async fn push_with(
        &self,
        user: &User,
        id: &str,
        archive: Vec<u8>,
        extra: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Response {
        let part = reqwest::multipart::Part::bytes(archive)
            .file_name("session.tar.gz")
            .mime_str("application/gzip")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let req = self
            .request(
                Method::PUT,
                &super::paths::session_sync(id),
                Some(&user.key),
            )
            .multipart(form);
        extra(req).send().await.unwrap()
    }

    /// Pushes a generated session and returns its etag (asserting 201).
    pub async fn push_new(&self, user: &User, id: &str, title: &str) -> String {
        let res = self
            .push(
                user,
                id,
                fixture::session_archive(id, title, "parsers", 4),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["etag"].as_str().unwrap().to_string()
    }

    pub async fn pull(&self, user: &User, id: &str, if_none_match: Option<&str>) -> Response {
        let mut req = self.get(user, &super::paths::session_sync(id));
        if let Some(tag) = if_none_match {
            req = req.header("If-None-Match", format!("\"{tag}\""));
        }
        req.send().await.unwrap()
    }

    /// Starts a chunked upload of `archive` as session `id` (the client's first call).
    pub async fn initiate_upload(
        &self,
        user: &User,
        id: &str,
        archive: &[u8],
        if_match: Option<&str>,
    ) -> Response {
        use sha2::Digest;
        let mut req = self
            .request(
                Method::POST,
                &super::paths::session_uploads(id),
                Some(&user.key),
            )
            .json(&json!({
                "total_size": archive.len(),
                "sha256": hex::encode(sha2::Sha256::digest(archive)),
            }));
        if let Some(tag) = if_match {
            req = req.header("If-Match", format!("\"{tag}\""));
        }
        req.send().await.unwrap()
    }

    /// Sends part `n` of an upload with its SHA-256 in `X-Part-SHA256`.
    pub async fn put_part(&self, user: &User, upload_id: &str, n: u64, bytes: &[u8]) -> Response {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        self.put_part_claiming(user, upload_id, n, bytes, &sha)
            .await
    }

    /// Sends part `n` claiming `sha` as its SHA-256 (true or not).
    pub async fn put_part_claiming(
        &self,
        user: &User,
        upload_id: &str,
        n: u64,
        bytes: &[u8],
        sha: &str,
    ) -> Response {
        self.request(
            Method::PUT,
            &super::paths::upload_part(upload_id, n),
            Some(&user.key),
        )
        .header("X-Part-SHA256", sha)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
    }

    /// Completes an upload, optionally conditional on `if_match`.
    pub async fn complete_upload(
        &self,
        user: &User,
        upload_id: &str,
        if_match: Option<&str>,
    ) -> Response {
        let mut req = self.request(
            Method::POST,
            &super::paths::upload_complete(upload_id),
            Some(&user.key),
        );
        if let Some(tag) = if_match {
            req = req.header("If-Match", format!("\"{tag}\""));
        }
        req.send().await.unwrap()
    }

    /// Files in the archive store (temp files included), to check nothing was left behind.
    pub fn stored_files(&self) -> Vec<PathBuf> {
        walk(&self.data_dir.join("archives"))
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Reads a response body as JSON, asserting its status first.
pub async fn json_of(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts the error envelope and returns it.
pub async fn error_of(res: Response, status: StatusCode) -> Value {
    let body = json_of(res, status).await;
    let err = &body["error"];
    assert!(
        err["code"].is_string() && err["message"].is_string() && err["details"].is_object(),
        "{body}"
    );
    err.clone()
}

impl TestApp {
    /// Rows in `table` (to check that a refused request changed nothing).
    pub async fn count(&self, table: &'static str) -> i64 {
        self.state
            .db
            .read(move |conn| {
                Ok::<_, sessionfs_server::db::DbError>(conn.query_row(
                    &format!("SELECT COUNT(*) FROM {table}"),
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap()
    }
}
