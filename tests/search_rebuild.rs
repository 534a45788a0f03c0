//! The search index is derived data: `sessionfs-server reindex` rebuilds it from the archives
//! with the same results, and a server that finds its index missing rebuilds it at start.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{RunningServer, BIN};

use serde_json::Value;
use sessionfs_server::archive::fixture::session_archive;

struct Server(RunningServer);

impl Server {
    async fn start(data: &Path) -> Server {
        Server(RunningServer::start(data, &["--rate-limit-per-minute", "0"]).await)
    }

    fn stop(&mut self) {
        self.0.stop();
    }

    async fn search(&self, key: &str, q: &str) -> Vec<String> {
        let url = format!("{}/api/v1/sessions/search?q={q}&page_size=50", self.0.base);
        let body: Value = reqwest::Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["session_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Searches until `done(results)` or 30 s pass (a rebuild runs in the background).
    async fn search_until(
        &self,
        key: &str,
        q: &str,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.search(key, q).await;
            if done(&got) || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn reindex_and_rebuild_at_start_give_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let client = reqwest::Client::new();
    let signup: Value = client
        .post(format!("{}/api/v1/auth/signup", server.0.base))
        .json(&serde_json::json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = signup["raw_key"].as_str().unwrap().to_string();
    for i in 0..12 {
        let id = format!("ses_rebuild{i:09}");
        let topic = if i % 3 == 0 {
            "vector clocks"
        } else {
            "garbage collection"
        };
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(session_archive(&id, &format!("Notes {i}"), topic, 4))
                .file_name("s.tar.gz"),
        );
        let res = client
            .put(format!("{}/api/v1/sessions/{id}/sync", server.0.base))
            .bearer_auth(&key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let mut expected: Vec<String> = (0..12)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("ses_rebuild{i:09}"))
        .collect();
    expected.sort();
    let before = server
        .search_until(&key, "vector%20clocks", |got| got.len() == expected.len())
        .await;
    let mut sorted = before.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    server.stop();

    // reindex on the stopped server's data dir.
    let out = Command::new(BIN)
        .args(["reindex", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("indexed 12 sessions"));
    let mut server = Server::start(&data).await;
    assert_eq!(
        server
            .search_until(&key, "vector%20clocks", |got| got == before)
            .await,
        before
    );
    server.stop();

    // A missing index is rebuilt at start.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let mut server = Server::start(&data).await;
    assert_eq!(
        server
            .search_until(&key, "vector%20clocks", |got| got == before)
            .await,
        before
    );
    server.stop();
}
