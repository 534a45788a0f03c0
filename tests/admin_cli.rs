//! The operator's command line (`sessionfs-server admin …`) on a data dir that a running
//! server is serving: accounts are created, promoted, disabled and cut off without SQL; and on
//! a new data dir, before any server ran.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{printed_key, RunningServer, BIN};

fn admin(data: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .arg("admin")
        .arg(args[0])
        .arg("--data-dir")
        .arg(data)
        .args(&args[1..])
        .output()
        .expect("run sessionfs-server admin");
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn operators_manage_accounts_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = RunningServer::start(&data, &["--signup-policy", "closed"]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let me = |key: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };

    // Signup is closed: the operator creates the account and hands out the key.
    let out = admin(&data, &["create-user", "--tier", "pro", "Root@Example.com"]);
    let key = printed_key(&out);
    let res = me(key.clone()).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["email"], "root@example.com");
    assert_eq!(body["tier"], "pro");

    // Promote to platform admin: the admin API opens up.
    admin(&data, &["set-tier", "root@example.com", "admin"]);
    let body: serde_json::Value = me(key.clone()).await.json().await.unwrap();
    assert_eq!(body["tier"], "admin");
    assert_eq!(body["effective_tier"], "enterprise");
    let user_id = body["user_id"].as_str().unwrap().to_string();
    let res = client
        .post(format!("{base}/api/v1/admin/users/{user_id}/api-keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let listed = String::from_utf8_lossy(&admin(&data, &["list-users"]).stdout).to_string();
    assert!(
        listed.contains("root@example.com")
            && listed.contains("admin")
            && listed.contains("active")
    );

    admin(&data, &["disable-user", "root@example.com"]);
    assert_eq!(me(key.clone()).await.status(), 403);
    admin(&data, &["enable-user", "root@example.com"]);
    assert_eq!(me(key.clone()).await.status(), 200);
    let out = admin(&data, &["revoke-keys", "root@example.com"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 key(s) revoked"));
    assert_eq!(me(key.clone()).await.status(), 401);

    // Mistakes get a message and a non-zero exit, never a panic.
    let bad = Command::new(BIN)
        .args(["admin", "set-tier", "--data-dir"])
        .arg(&data)
        .args(["nobody@example.com", "pro"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no account with email nobody@example.com")
    );
    let bad = Command::new(BIN)
        .args(["admin", "set-tier", "--data-dir"])
        .arg(&data)
        .args(["root@example.com", "platinum"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown tier"));
}

/// A closed install is bootstrapped before the server ever ran: `create-user` creates and
/// migrates the data dir, and the key it prints works once the server starts on it.
#[tokio::test]
async fn create_user_bootstraps_a_new_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let out = admin(&data, &["create-user", "first@example.com"]);
    let key = printed_key(&out);
    assert!(data.join("sessionfs.db").is_file());

    let server = RunningServer::start(&data, &["--signup-policy", "closed"]).await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["email"], "first@example.com");
}
