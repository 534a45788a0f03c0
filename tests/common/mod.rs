//! The built `sessionfs-server` binary as a child process, for tests that need the real
//! program (signals, command-line tools, a browser) rather than the in-process harness.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_sessionfs-server");

pub struct RunningServer {
    child: Child,
    pub base: String,
}

impl RunningServer {
    /// Starts `serve` on a free loopback port over `data`, with `extra` flags, and waits for
    /// `/health`.
    pub async fn start(data: &Path, extra: &[&str]) -> RunningServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let child = Command::new(BIN)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &base,
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sessionfs-server");
        let server = RunningServer { child, base };
        for _ in 0..100 {
            if reqwest::get(format!("{}/health", server.base))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sessionfs-server did not come up on {}", server.base);
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait: the server finishes in-flight requests and exits with 0.
    pub fn stop(&mut self) {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        let status = self.child.wait().expect("wait for sessionfs-server");
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
