//! The real `sfs` client (PyPI `sessionfs==0.26.0`) in `.venv-sfs` at the repository root,
//! installed on first use (`python3 -m venv` + `pip install`, once, under a lock shared by every
//! test binary). `SFS_CLIENT=/path/to/sfs` uses another installation.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{loud, skip_because, with_setup_lock};

pub const CLIENT_VERSION: &str = "sessionfs==0.26.0";

/// The repository root, where `.venv-sfs` lives.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(status.success(), "{what} failed with {status}");
}

/// The installed client: its `sfs` executable and the venv's `python` (which imports the
/// client's library). `None` (after a loud skip, or a failure under `SFS_REQUIRE_ALL_TESTS`)
/// when there is no `python3` to install it with.
pub struct Client {
    pub sfs: PathBuf,
    pub python: PathBuf,
}

pub fn sfs_client(test: &str) -> Option<Client> {
    if let Some(path) = std::env::var_os("SFS_CLIENT") {
        let sfs = PathBuf::from(path);
        let python = sfs.with_file_name("python");
        return Some(Client { sfs, python });
    }
    if Command::new("python3").arg("--version").output().is_err() {
        skip_because(
            test,
            "python3 is missing",
            "`sudo apt-get install python3 python3-venv`",
        );
        return None;
    }
    let venv = repo_root().join(".venv-sfs");
    let bin = venv.join("bin");
    let client = Client {
        sfs: bin.join("sfs"),
        python: bin.join("python"),
    };
    with_setup_lock("sfs-client-venv", || install(&venv, &client.sfs));
    Some(client)
}

fn install(venv: &Path, sfs: &Path) {
    if sfs.exists() {
        return;
    }
    loud(&format!("installing {CLIENT_VERSION} into .venv-sfs…"));
    run(
        Command::new("python3").args(["-m", "venv"]).arg(venv),
        "python3 -m venv .venv-sfs",
    );
    run(
        Command::new(venv.join("bin").join("pip")).args(["install", "--quiet", CLIENT_VERSION]),
        "pip install sessionfs",
    );
}
