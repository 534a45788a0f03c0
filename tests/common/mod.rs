//! The one test harness. [`app`]: the in-process server and a [`TestApp`] whose helpers name
//! what users do; [`paths`]: typed request paths; [`smtp_sink`]: a mail catcher. This file:
//! the built `sessionfs-server` binary as a child process, for tests that need the real program
//! (signals, command-line tools, a browser).

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

pub mod acting;
pub mod app;
pub mod client;
pub mod fake_llm;
pub mod paths;
pub mod smtp_sink;
pub mod world;

#[allow(unused_imports)] // each test binary uses part of the harness
pub use acting::{Acting, Org};
#[allow(unused_imports)]
pub use app::{error_of, json_of, TestApp, User};
#[allow(unused_imports)]
pub use world::{add_persona, assert_invalid_field, ProjectWorld};

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
        RunningServer::start_with_log(data, extra, None).await
    }

    /// [`RunningServer::start`] with the server's log (stderr) appended to `log`.
    pub async fn start_with_log(data: &Path, extra: &[&str], log: Option<&Path>) -> RunningServer {
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
            .stderr(match log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the server log"),
                ),
                None => Stdio::null(),
            })
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

    /// SIGKILL: the server dies at once, as in a crash or a power cut.
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// The API key a command printed (`sk_sfs_…`) on stdout.
pub fn printed_key(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("sk_sfs_"))
        .expect("a key is printed")
        .to_string()
}

/// Set by `.ci/run`: a test whose outside dependency is missing fails instead of skipping.
pub const REQUIRE_ALL: &str = "SFS_REQUIRE_ALL_TESTS";

/// Says why a test cannot run here (`reason`: usually an outside dependency that is missing)
/// and `how` to run it; returns `true` (skip) unless `SFS_REQUIRE_ALL_TESTS` is set, in which
/// case the test fails here.
///
/// Written straight to the process's stderr (not through `eprintln!`, which the test harness
/// captures), so `cargo test` shows the warning even when the test passes.
pub fn skip_because(test: &str, reason: &str, how: &str) -> bool {
    let message = format!(
        "`{test}` cannot run: {reason}. To run it: {how}. \
         (CI sets {REQUIRE_ALL}=1, which turns this skip into a failure.)"
    );
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{message}");
    }
    loud(&format!("WARNING: SKIPPED: {message}"));
    true
}

/// A line on the real stderr, past the test harness's capture: progress of long tests.
pub fn loud(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Runs `setup` while holding an exclusive lock named `name` (a file in the cargo target dir),
/// so shared setup (`npm ci`, the client's venv) runs once even when tests of several binaries
/// run at the same time; the others wait, then find it done.
pub fn with_setup_lock<T>(name: &str, setup: impl FnOnce() -> T) -> T {
    use fs4::fs_std::FileExt;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open the setup lock {}: {e}", path.display()));
    file.lock_exclusive()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    let result = setup();
    let _ = FileExt::unlock(&file);
    result
}
