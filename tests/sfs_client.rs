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

use std::process::{Command, Stdio};

use common::client::{repo_root, sfs_client};

#[test]
fn the_sfs_client_flow_works_end_to_end() {
    let root = repo_root();
    let Some(client) = sfs_client("the_sfs_client_flow_works_end_to_end") else {
        return;
    };
    let server = env!("CARGO_BIN_EXE_sessionfs-server");
    let output = Command::new("python3")
        .arg(root.join("tests/e2e/sfs_client_flow.py"))
        .arg("--server-bin")
        .arg(server)
        .arg("--sfs")
        .arg(&client.sfs)
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

/// The LLM judge with the real client (`tests/e2e/judge_flow.py`): `sfs audit` against a fake
/// provider on loopback, judge settings saved on the server, and the daemon's own code polling
/// the audit trigger (200) and triggering a server-side audit. No key in the server log.
#[test]
fn the_judge_flow_works_with_the_real_client() {
    let root = repo_root();
    let Some(client) = sfs_client("the_judge_flow_works_with_the_real_client") else {
        return;
    };
    let server = env!("CARGO_BIN_EXE_sessionfs-server");
    let output = Command::new("python3")
        .arg(root.join("tests/e2e/judge_flow.py"))
        .arg("--server-bin")
        .arg(server)
        .arg("--sfs")
        .arg(&client.sfs)
        .arg("--python")
        .arg(&client.python)
        .env("SFS_NO_TELEMETRY", "1")
        .env("SFS_SKILL_USAGE_REPORTING", "0")
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/e2e/judge_flow.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "judge flow failed (its step log is above, on stderr):\n{stdout}"
    );
    println!("{stdout}");
}
