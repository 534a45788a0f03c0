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

/// A coding agent on the real `sfs mcp serve` (stdio JSON-RPC): add knowledge, read the
/// project context, search, list and get entries; another user's agent finds nothing
/// (`tests/e2e/mcp_knowledge.py`).
#[test]
fn an_agent_uses_project_knowledge_through_sfs_mcp_serve() {
    let root = repo_root();
    let Some(client) = sfs_client("an_agent_uses_project_knowledge_through_sfs_mcp_serve") else {
        return;
    };
    let server = env!("CARGO_BIN_EXE_sessionfs-server");
    let output = Command::new("python3")
        .arg(root.join("tests/e2e/mcp_knowledge.py"))
        .arg("--server-bin")
        .arg(server)
        .arg("--sfs")
        .arg(&client.sfs)
        .env("SFS_NO_TELEMETRY", "1")
        .env("SFS_SKILL_USAGE_REPORTING", "0")
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/e2e/mcp_knowledge.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "sfs mcp flow failed (its step log is above, on stderr):\n{stdout}"
    );
    println!("{stdout}");
}
