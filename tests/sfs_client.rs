//! The real `sfs` client (PyPI `sessionfs==0.26.0`) against the built server, as a new user
//! (or a coding agent) would use it: each `tests/e2e/*.py` script drives it step by step.
//!
//! The client lives in `.venv-sfs` at the repository root; the first test creates it
//! (`python3 -m venv` + `pip install`, once, under a lock), so `cargo test` needs nothing
//! installed by hand but Python 3. Set `SFS_CLIENT=/path/to/sfs` to use another installation.
//!
//! The flows take minutes: each step's name and result go to the real stderr as it runs
//! (`[sfs e2e] …` lines), so `cargo test` shows progress without `--nocapture`.

mod common;

use std::process::{Command, Stdio};

use common::client::{repo_root, sfs_client};

/// Runs `tests/e2e/<script>` against the built server with the real client; the client's
/// telemetry is off (nothing leaves this machine).
fn run_flow(test_name: &str, script: &str, pass_python: bool) {
    let Some(client) = sfs_client(test_name) else {
        return;
    };
    let mut command = Command::new("python3");
    command
        .arg(repo_root().join("tests/e2e").join(script))
        .arg("--server-bin")
        .arg(env!("CARGO_BIN_EXE_sessionfs-server"))
        .arg("--sfs")
        .arg(&client.sfs);
    if pass_python {
        command.arg("--python").arg(&client.python);
    }
    let output = command
        .env("SFS_NO_TELEMETRY", "1")
        .env("SFS_SKILL_USAGE_REPORTING", "0")
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run tests/e2e/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed (its step log is above, on stderr):\n{stdout}"
    );
    println!("{stdout}");
}

#[test]
fn the_sfs_client_flow_works_end_to_end() {
    run_flow(
        "the_sfs_client_flow_works_end_to_end",
        "sfs_client_flow.py",
        false,
    );
}

/// Every `sfs ticket` command of the client against the server.
#[test]
fn the_sfs_ticket_commands_work_end_to_end() {
    run_flow(
        "the_sfs_ticket_commands_work_end_to_end",
        "ticket_flow.py",
        false,
    );
}

/// A coding agent on the real `sfs mcp serve` (stdio JSON-RPC): add knowledge, read the
/// project context, search, list and get entries; another user's agent finds nothing.
#[test]
fn an_agent_uses_project_knowledge_through_sfs_mcp_serve() {
    run_flow(
        "an_agent_uses_project_knowledge_through_sfs_mcp_serve",
        "mcp_knowledge.py",
        false,
    );
}

/// A coding agent writes and reads wiki pages through the real `sfs mcp serve`
/// (`update_wiki_page`, `list_wiki_pages`, `get_wiki_page`, `get_wiki_page_history`); the
/// server holds the pages and revisions; another user's agent can neither read nor write them.
#[test]
fn an_agent_writes_wiki_pages_through_sfs_mcp_serve() {
    run_flow(
        "an_agent_writes_wiki_pages_through_sfs_mcp_serve",
        "mcp_wiki.py",
        false,
    );
}

/// The LLM judge with the real client: `sfs audit` against a fake provider on loopback,
/// judge settings saved on the server, and the daemon's own code polling the audit trigger
/// (200) and triggering a server-side audit. No key in the server log.
#[test]
fn the_judge_flow_works_with_the_real_client() {
    run_flow(
        "the_judge_flow_works_with_the_real_client",
        "judge_flow.py",
        true,
    );
}
