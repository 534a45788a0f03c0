//! What an operator installs: `install.sh`, the systemd unit and the environment file in
//! `packaging/`, and the binary's side of `Type=notify` (readiness, watchdog, stopping).
//!
//! `install.sh` runs for real, into a temp dir given as `DESTDIR` (no root, no user creation,
//! no systemctl), twice, as an upgrade would. Where `systemd-analyze` exists the installed
//! unit is verified with it; where `shellcheck` exists the script is linted.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sessionfs-server");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `install.sh --binary BIN` with `DESTDIR=root`.
fn install_into(root: &Path) -> Output {
    let out = Command::new("sh")
        .arg(repo().join("install.sh"))
        .arg("--binary")
        .arg(BIN)
        .env("DESTDIR", root)
        .stdin(Stdio::null())
        .output()
        .expect("run install.sh");
    assert!(out.status.success(), "install.sh failed:\n{}", text(&out));
    out
}

fn has_tool(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn install_sh_installs_into_destdir_and_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bin = root.join("usr/local/bin/sessionfs-server");
    let unit = root.join("etc/systemd/system/sessionfs-server.service");
    let env = root.join("etc/sessionfs/sessionfs.env");
    let data = root.join("var/lib/sessionfs");

    let first = install_into(root);
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.contains("installed"), "{}", text(&first));

    // The binary: the same bytes, executable, and it runs.
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755, "binary mode {mode:o}");
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(version.status.success(), "{}", text(&version));
    // The unit and the example configuration, as shipped.
    let shipped_unit = std::fs::read_to_string(repo().join("packaging/sessionfs-server.service"));
    assert_eq!(
        std::fs::read_to_string(&unit).unwrap(),
        shipped_unit.unwrap()
    );
    let shipped_env = std::fs::read_to_string(repo().join("packaging/sessionfs.env")).unwrap();
    assert_eq!(std::fs::read_to_string(&env).unwrap(), shipped_env);
    let env_mode = std::fs::metadata(&env).unwrap().permissions().mode();
    assert_eq!(env_mode & 0o777, 0o640, "env file mode {env_mode:o}");
    // The data dir.
    let data_mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(data_mode & 0o777, 0o750, "data dir mode {data_mode:o}");
    assert!(root
        .join("usr/local/share/doc/sessionfs-server/sessionfs.env.example")
        .is_file());

    // The operator edits the configuration; an upgrade must keep it.
    let edited = format!("{shipped_env}SFS_SIGNUP_POLICY=closed\n");
    std::fs::write(&env, &edited).unwrap();
    std::fs::write(data.join("sessionfs.db"), b"not touched").unwrap();

    let second = install_into(root);
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(said.contains("kept your"), "{}", text(&second));
    assert_eq!(std::fs::read_to_string(&env).unwrap(), edited);
    assert_eq!(
        std::fs::read(data.join("sessionfs.db")).unwrap(),
        b"not touched"
    );
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    // No temp file is left beside the binary.
    let leftovers: Vec<_> = std::fs::read_dir(bin.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "sessionfs-server")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    verify_unit_with_systemd_analyze(&unit, &bin);
}

/// `systemd-analyze verify` on a copy of the installed unit whose ExecStart points at the
/// DESTDIR binary (verify insists that the command exists). `verify` exits 0 even for unknown
/// keys and unparsable values, so any line it prints about our unit is a failure too.
fn verify_unit_with_systemd_analyze(unit: &Path, bin: &Path) {
    if !has_tool("systemd-analyze") {
        eprintln!(
            "skipped systemd-analyze verify: systemd-analyze is not installed \
             (apt-get install systemd)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sessionfs-server.service");
    let original = std::fs::read_to_string(unit).unwrap();
    let exec = "ExecStart=/usr/local/bin/sessionfs-server ";
    assert!(original.contains(exec), "the unit runs {exec}");
    let pointed = original.replace(exec, &format!("ExecStart={} ", bin.display()));
    std::fs::write(&copy, pointed).unwrap();

    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "systemd-analyze verify:\n{all}");
    let about_us: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("sessionfs-server.service"))
        .collect();
    assert!(
        about_us.is_empty(),
        "systemd-analyze verify complains:\n{all}"
    );

    // The exposure score of `systemd-analyze security` (0 = locked down, 10 = unprotected).
    let out = Command::new("systemd-analyze")
        .args(["security", "--no-pager", "--offline=true"])
        .arg(&copy)
        .output()
        .unwrap();
    let all = text(&out);
    match all
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
    {
        Some(rest) => {
            let score: f64 = rest
                .split(": ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no score in: {rest}"));
            eprintln!("systemd-analyze security: exposure {score}");
            assert!(score <= 2.0, "the unit lost hardening:\n{all}");
        }
        // systemd older than 250 has no --offline.
        None => eprintln!("skipped systemd-analyze security --offline:\n{all}"),
    }
}

#[test]
fn install_sh_is_valid_shell() {
    let script = repo().join("install.sh");
    for shell in ["sh", "bash"] {
        if !has_tool(shell) {
            continue;
        }
        let out = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} -n install.sh:\n{}",
            text(&out)
        );
    }
    let help = Command::new("sh")
        .arg(&script)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{}", text(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--binary PATH"));
    let bad = Command::new("sh")
        .arg(&script)
        .arg("--no-such-option")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    if has_tool("shellcheck") {
        let out = Command::new("shellcheck")
            .args(["--shell=sh", "--severity=style"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shellcheck install.sh:\n{}",
            text(&out)
        );
    } else {
        eprintln!("skipped shellcheck: not installed");
    }
}

/// Every `SFS_*` variable that `serve --help` names is documented in the example
/// environment file, so a new flag cannot be forgotten there.
#[test]
fn env_file_documents_every_serve_flag() {
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "{}", text(&help));
    let help = String::from_utf8_lossy(&help.stdout);
    let mut vars: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .collect();
    vars.sort_unstable();
    vars.dedup();
    assert!(
        vars.contains(&"SFS_DATA_DIR") && vars.contains(&"SFS_BIND"),
        "{vars:?}"
    );

    let env = std::fs::read_to_string(repo().join("packaging/sessionfs.env")).unwrap();
    let missing: Vec<&&str> = vars
        .iter()
        .filter(|v| {
            !env.lines().any(|l| {
                let l = l.trim_start_matches('#');
                l.starts_with(&format!("{v}="))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "packaging/sessionfs.env does not document {missing:?} (add a commented line for each)"
    );
    // The two settings the unit relies on are set, not just documented.
    assert!(env.lines().any(|l| l == "SFS_DATA_DIR=/var/lib/sessionfs"));
    assert!(env.lines().any(|l| l == "SFS_BIND=127.0.0.1:8000"));
    // Every line is a comment, blank, or VAR=value: what systemd's EnvironmentFile= reads.
    for line in env.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, _) = line.split_once('=').expect("VAR=value");
        assert!(
            name.starts_with("SFS_") && !name.contains(' '),
            "bad line: {line}"
        );
    }
}

/// Each setting of the unit has a comment saying what it is for.
#[test]
fn every_unit_setting_is_explained() {
    let unit = std::fs::read_to_string(repo().join("packaging/sessionfs-server.service")).unwrap();
    let mut previous = "";
    for line in unit.lines() {
        let is_setting = !line.is_empty() && !line.starts_with('#') && !line.starts_with('[');
        if is_setting {
            assert!(
                previous.starts_with('#'),
                "no comment above `{line}` in packaging/sessionfs-server.service"
            );
        }
        previous = line;
    }
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=sessionfs",
        "Group=sessionfs",
        "EnvironmentFile=/etc/sessionfs/sessionfs.env",
        "ExecStart=/usr/local/bin/sessionfs-server serve",
        "StateDirectory=sessionfs",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/sessionfs",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "AmbientCapabilities=\n",
        "SystemCallFilter=@system-service",
        "UMask=0027",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed:?}");
    }
}

/// Collects the notifications the server sends to a socket standing in for systemd's.
struct FakeSystemd {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl FakeSystemd {
    /// Waits until a datagram holding `line` arrives; panics after `within`.
    fn wait_for(&mut self, line: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(found) = self.seen.iter().position(|m| m.lines().any(|l| l == line)) {
                return self.seen.remove(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {line} within {within:?}; got {:?}",
                self.seen
            );
            self.socket.set_read_timeout(Some(left)).unwrap();
            match self.socket.recv(&mut buf) {
                Ok(n) => self
                    .seen
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }
}

#[test]
fn under_systemd_the_server_reports_ready_pings_the_watchdog_and_reports_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let mut systemd = FakeSystemd {
        socket: UnixDatagram::bind(&socket_path).unwrap(),
        seen: Vec::new(),
    };
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--bind", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &socket_path)
        // 400 ms: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ready = systemd.wait_for("READY=1", Duration::from_secs(60));
        let status = ready
            .lines()
            .find_map(|l| l.strip_prefix("STATUS="))
            .unwrap_or_else(|| panic!("no STATUS with READY: {ready:?}"));
        let addr = status
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("status {status:?}"));
        // Ready means accepting connections.
        std::net::TcpStream::connect(addr).expect("connect after READY=1");

        systemd.wait_for("WATCHDOG=1", Duration::from_secs(10));
        systemd.wait_for("WATCHDOG=1", Duration::from_secs(10));

        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        systemd.wait_for("STOPPING=1", Duration::from_secs(30));
    }));
    let exited = wait_with_timeout(&mut child, Duration::from_secs(30));
    if outcome.is_err() || !matches!(exited, Some(s) if s.success()) {
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        eprintln!("server log:\n{log}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let status = exited.expect("the server exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
