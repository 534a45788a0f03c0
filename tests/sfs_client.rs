//! The real `sfs` client (PyPI `sessionfs==0.26.0`) against the built server, as a new user
//! would use it: `tests/e2e/sfs_client_flow.py` drives it step by step.
//!
//! The client lives in `.venv-sfs` at the repository root; this test creates it on first run
//! (`python3 -m venv` + `pip install`, once, under a lock), so `cargo test` needs nothing
//! installed by hand but Python 3. Set `SFS_CLIENT=/path/to/sfs` to use another installation.
//!
//! The flow takes minutes: each step's name and result go to the real stderr as it runs
//! (`[sfs e2e] …` lines), so `cargo test` shows progress without `--nocapture`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{loud, skip_because, with_setup_lock};

const CLIENT_VERSION: &str = "sessionfs==0.26.0";

fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(status.success(), "{what} failed with {status}");
}

/// The `sfs` executable, installing the pinned client into `.venv-sfs` when it is missing.
fn sfs_client(root: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("SFS_CLIENT") {
        return PathBuf::from(path);
    }
    let venv = root.join(".venv-sfs");
    let sfs = venv.join("bin").join("sfs");
    with_setup_lock("sfs-client-venv", || {
        if sfs.exists() {
            return;
        }
        loud(&format!(
            "sfs e2e: installing {CLIENT_VERSION} into .venv-sfs…"
        ));
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv .venv-sfs",
        );
        run(
            Command::new(venv.join("bin").join("pip")).args(["install", "--quiet", CLIENT_VERSION]),
            "pip install sessionfs",
        );
    });
    sfs
}

#[test]
fn the_sfs_client_flow_works_end_to_end() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if Command::new("python3").arg("--version").output().is_err() {
        skip_because(
            "the_sfs_client_flow_works_end_to_end",
            "python3 is missing",
            "`sudo apt-get install python3 python3-venv`",
        );
        return;
    }
    let sfs = sfs_client(&root);
    let server = env!("CARGO_BIN_EXE_sessionfs-server");
    let output = Command::new("python3")
        .arg(root.join("tests/e2e/sfs_client_flow.py"))
        .arg("--server-bin")
        .arg(server)
        .arg("--sfs")
        .arg(&sfs)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/e2e/sfs_client_flow.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sfs client flow failed (its step log is above, on stderr):\n{stdout}"
    );
    println!("{stdout}");
}
