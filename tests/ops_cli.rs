//! The operator's safety net, run as the real binary: `backup` while the server serves and takes
//! pushes, `restore` into a new data dir that a second server then serves, and `doctor` on a
//! healthy, a damaged and a corrupted data dir.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{RunningServer, BIN};
use serde_json::Value;
use sessionfs_server::archive::fixture::{session_archive, tar_of, Member};
use sha2::{Digest, Sha256};

/// One signed-up user on a server.
#[derive(Clone)]
struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    async fn signup(base: &str, email: &str) -> Api {
        let client = reqwest::Client::new();
        let body: Value = client
            .post(format!("{base}/api/v1/auth/signup"))
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            base: base.to_string(),
            key: body["raw_key"].as_str().expect("raw_key").to_string(),
            client,
        }
    }

    /// The same user on another server (the keys travel with the database).
    fn on(&self, base: &str) -> Api {
        Api {
            base: base.to_string(),
            ..self.clone()
        }
    }

    async fn push(&self, id: &str, bytes: &[u8]) {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("s.tar.gz"),
        );
        let res = self
            .client
            .put(format!("{}/api/v1/sessions/{id}/sync", self.base))
            .bearer_auth(&self.key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "push {id}: {}",
            res.text().await.unwrap()
        );
    }

    /// `(status, body)` of a pull.
    async fn pull(&self, id: &str) -> (u16, Vec<u8>) {
        let res = self
            .client
            .get(format!("{}/api/v1/sessions/{id}/sync", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.bytes().await.unwrap().to_vec())
    }

    async fn get(&self, path: &str) -> Value {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        res.json().await.unwrap()
    }

    async fn search(&self, q: &str) -> Vec<String> {
        let res = self
            .client
            .get(format!("{}/api/v1/sessions/search", self.base))
            .query(&[("q", q), ("page_size", "50")])
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        let mut ids: Vec<String> = body["results"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| r["session_id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// Runs the binary with `args`.
fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    std::process::Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sessionfs-server")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn backup(data: &Path, out: &Path) -> Output {
    run([
        OsStr::new("backup"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
    ])
}

fn restore(from: &Path, data: &Path) -> Output {
    run([
        OsStr::new("restore"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
        OsStr::new("--from"),
        from.as_os_str(),
    ])
}

fn doctor(data: &Path) -> Output {
    run([
        OsStr::new("doctor"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ])
}

fn archive_file(data: &Path, bytes: &[u8]) -> PathBuf {
    let hash = hex::encode(Sha256::digest(bytes));
    data.join("archives").join(&hash[..2]).join(hash)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn start(data: &Path) -> RunningServer {
    RunningServer::start(data, &["--rate-limit-per-minute", "0"]).await
}

/// One push done by the background pusher: when it started and when it was acknowledged.
struct Pushed {
    id: String,
    bytes: Vec<u8>,
    started: Instant,
    acked: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_online_backup_restores_into_a_server_that_serves_and_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (data, restored, file) = (
        dir.path().join("data"),
        dir.path().join("restored"),
        dir.path().join("backups").join("sessionfs.tar"),
    );
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut first = start(&data).await;
    let alice = Api::signup(&first.base, "alice@example.com").await;

    let mut before = Vec::new();
    for i in 0..20 {
        let id = format!("ses_before{i:09}");
        let bytes = session_archive(&id, &format!("Before {i}"), "lighthouse keeper", 60);
        alice.push(&id, &bytes).await;
        before.push((id, bytes));
    }

    // Another client keeps pushing new sessions while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let pushed: Arc<Mutex<Vec<Pushed>>> = Arc::default();
    let pusher = {
        let (alice, stop, pushed) = (alice.clone(), stop.clone(), pushed.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("ses_during{n:09}");
                let bytes = session_archive(&id, &format!("During {n}"), "harbour pilot", 60);
                let started = Instant::now();
                alice.push(&id, &bytes).await;
                pushed.lock().unwrap().push(Pushed {
                    id,
                    bytes,
                    started,
                    acked: Instant::now(),
                });
                n += 1;
            }
        })
    };
    let pushes = || pushed.lock().unwrap().len();
    while pushes() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backup_started = Instant::now();
    let out = {
        let (data, file) = (data.clone(), file.clone());
        tokio::task::spawn_blocking(move || backup(&data, &file))
            .await
            .unwrap()
    };
    let backup_ended = Instant::now();
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("backup written to"), "{printed}");
    assert!(printed.contains("archives"), "{printed}");
    let after_backup = pushes();
    while pushes() < after_backup + 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    pusher.await.unwrap();
    assert!(file.is_file());
    assert!(!dir.path().join("backups/sessionfs.tar.partial").exists());
    assert_eq!(
        listing(file.parent().unwrap()),
        vec!["sessionfs.tar".to_string()],
        "no temp files are left beside the backup"
    );

    // Restore into a new data dir and serve it with a second server; the first keeps running.
    let out = restore(&file, &restored);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains("rebuilt when the server next starts"),
        "{printed}"
    );
    assert!(
        !restored.join("index").exists(),
        "the index is not restored"
    );
    let mut second = start(&restored).await;
    let alice2 = alice.on(&second.base);

    for (id, bytes) in &before {
        let (status, body) = alice2.pull(id).await;
        assert_eq!(status, 200, "{id} is in the restored server");
        assert!(body == *bytes, "{id} comes back byte for byte");
    }
    let pushed = std::mem::take(&mut *pushed.lock().unwrap());
    let (mut kept, mut dropped) = (0, 0);
    for p in &pushed {
        let (status, body) = alice2.pull(&p.id).await;
        if p.acked < backup_started {
            assert_eq!(status, 200, "{} was acknowledged before the backup", p.id);
        }
        if p.started > backup_ended {
            assert_eq!(status, 404, "{} was pushed after the backup", p.id);
        }
        match status {
            200 => {
                assert!(body == p.bytes, "{} comes back byte for byte", p.id);
                kept += 1;
            }
            404 => dropped += 1,
            other => panic!("pull {} answered {other}", p.id),
        }
    }
    assert!(kept >= 3 && dropped >= 3, "kept {kept}, dropped {dropped}");
    let overlapping = pushed
        .iter()
        .filter(|p| p.started < backup_ended && p.acked > backup_started)
        .count();
    eprintln!(
        "backup took {:?}; {overlapping} push(es) ran during it; {kept} in the backup, \
         {dropped} after it",
        backup_ended - backup_started
    );

    // The index was rebuilt at start: search finds every restored session.
    let expected: Vec<String> = before.iter().map(|(id, _)| id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = alice2.search("lighthouse keeper").await;
    while found != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        found = alice2.search("lighthouse keeper").await;
    }
    assert_eq!(found, expected, "search on the restored server");
    let harbour = alice2.search("harbour pilot").await;
    assert_eq!(harbour.len(), kept, "only the sessions in the backup");

    // The restored dir is healthy, checked while its server runs.
    let out = doctor(&restored);
    assert!(out.status.success(), "{}", text(&out));
    second.stop();
    first.stop();
}

#[tokio::test]
async fn doctor_reports_a_healthy_a_damaged_and_a_corrupted_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data).await;
    let bob = Api::signup(&server.base, "bob@example.com").await;
    let mut sessions = Vec::new();
    for i in 0..3 {
        let id = format!("ses_doctor{i:09}");
        let bytes = session_archive(&id, &format!("Doctor {i}"), "tide tables", 30);
        bob.push(&id, &bytes).await;
        sessions.push((id, bytes));
    }

    // Healthy, checked while the server runs.
    let out = doctor(&data);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("healthy"), "{report}");
    assert!(report.contains("ok    database"), "{report}");
    assert!(
        report.contains("all 3 referenced archives present"),
        "{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
    assert!(data.join("archives/tmp").is_dir(), "doctor deletes nothing");

    // An archive is lost: the session that needs it is named.
    let (lost_id, lost_bytes) = &sessions[1];
    std::fs::remove_file(archive_file(&data, lost_bytes)).unwrap();
    let out = doctor(&data);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL  archives"), "{report}");
    assert!(report.contains("missing"), "{report}");
    assert!(report.contains(lost_id.as_str()), "{report}");
    assert!(report.contains("NOT healthy"), "{report}");

    // Corrupt the database of the stopped server: reported, not a panic.
    server.stop();
    let db = data.join("sessionfs.db");
    // Fold any WAL left behind into the main file first: pages still in the WAL would shadow
    // the bytes corrupted below, and the check could pass on the WAL's copies.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(len > 16 * 4096, "a database with some pages ({len} bytes)");
    for (i, b) in bytes[len / 4..len * 3 / 4].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = doctor(&data);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("FAIL  database"), "{report}");
    assert!(report.contains("corrupt"), "{report}");
    assert!(!report.contains("panicked"), "{report}");

    // And the backup refuses to save a corrupt database.
    let out = backup(&data, &dir.path().join("b.tar"));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!dir.path().join("b.tar").exists());
    assert!(!dir.path().join("b.tar.partial").exists());
}

/// The byte offset inside `tar` of the data of the first member whose name starts `prefix`,
/// and its size.
fn member_data(tar: &[u8], prefix: &str) -> (usize, usize) {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy().starts_with(prefix) {
            return (entry.raw_file_position() as usize, entry.size() as usize);
        }
    }
    panic!("no member {prefix}* in the backup");
}

#[tokio::test]
async fn restore_refuses_a_used_dir_and_a_tampered_or_hostile_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data).await;
    let carol = Api::signup(&server.base, "carol@example.com").await;
    for i in 0..3 {
        let id = format!("ses_restore{i:09}");
        carol
            .push(&id, &session_archive(&id, "Restore", "saltmarsh", 20))
            .await;
    }
    let good = dir.path().join("good.tar");
    let out = backup(&data, &good);
    assert!(out.status.success(), "{}", text(&out));
    server.stop();
    let backup_bytes = std::fs::read(&good).unwrap();

    // A data dir that holds anything is refused and left alone.
    let used = dir.path().join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("keep.txt"), b"mine").unwrap();
    let out = restore(&good, &used);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(listing(&used), vec!["keep.txt".to_string()]);

    // One flipped byte in an archive: checksum failure, nothing left behind.
    let mut tampered = backup_bytes.clone();
    let (at, size) = member_data(&tampered, "archives/");
    tampered[at + size / 2] ^= 0x01;
    let tampered_file = dir.path().join("tampered.tar");
    std::fs::write(&tampered_file, &tampered).unwrap();
    let fresh = dir.path().join("fresh");
    let out = restore(&tampered_file, &fresh);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    assert!(!fresh.exists(), "a restore that created the dir removes it");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = restore(&tampered_file, &empty);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(listing(&empty).is_empty(), "an empty dir is left empty");

    // A flipped byte in the database too.
    let mut tampered = backup_bytes.clone();
    let (at, size) = member_data(&tampered, "sessionfs.db");
    tampered[at + size / 2] ^= 0x80;
    std::fs::write(&tampered_file, &tampered).unwrap();
    let out = restore(&tampered_file, &fresh);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("checksum mismatch"), "{}", text(&out));
    assert!(!fresh.exists());

    // Hostile members (traversal, absolute, links) after a genuine manifest.
    let (at, size) = member_data(&backup_bytes, "MANIFEST.json");
    let manifest = backup_bytes[at..at + size].to_vec();
    let escape = dir.path().join("escape");
    for (hostile, why) in [
        (Member::file("../escape", b"x"), "unexpected member"),
        (
            Member::file(&escape.to_string_lossy(), b"x"),
            "unexpected member",
        ),
        (Member::symlink("sessionfs.db", "/etc/passwd"), "links"),
        (Member::hardlink("sessionfs.db", "/etc/passwd"), "links"),
    ] {
        let file = dir.path().join("hostile.tar");
        std::fs::write(
            &file,
            tar_of(&[Member::file("MANIFEST.json", &manifest), hostile]),
        )
        .unwrap();
        let out = restore(&file, &fresh);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
        assert!(!fresh.exists());
        assert!(!escape.exists());
    }

    // A manifest that lists files the tar does not hold: incomplete.
    let (at, _) = member_data(&backup_bytes, "archives/");
    let truncated = dir.path().join("truncated.tar");
    std::fs::write(&truncated, &backup_bytes[..at - 512]).unwrap();
    let out = restore(&truncated, &fresh);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!fresh.exists());

    // The genuine backup restores, and the result is healthy.
    let out = restore(&good, &empty);
    assert!(out.status.success(), "{}", text(&out));
    let out = doctor(&empty);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Runs the binary with `args`, giving up (and failing) after `secs` seconds: a command that
/// should be refused at once must not hang the test.
fn run_for(args: &[&OsStr], secs: u64) -> Output {
    let child = std::process::Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sessionfs-server");
    let id = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("wait for sessionfs-server"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .arg(id.to_string())
                .status();
            panic!("sessionfs-server {args:?} was still running after {secs}s");
        }
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// (length, modification time) of each database file: what a second opener would change.
fn db_files(data: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    ["sessionfs.db", "sessionfs.db-wal", "sessionfs.db-shm"]
        .iter()
        .filter_map(|name| {
            let meta = std::fs::metadata(data.join(name)).ok()?;
            Some((name.to_string(), meta.len(), meta.modified().unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_served_data_dir_is_refused_before_it_touches_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start(&data).await;
    let alice = Api::signup(&first.base, "alice@example.com").await;
    let bytes = session_archive("ses_10c4ed00000001", "Locked dir", "the lock", 4);
    alice.push("ses_10c4ed00000001", &bytes).await;
    // An upload in progress, as the first server would have it.
    let upload = data.join("archives").join("tmp").join(".tmpUPLOAD");
    std::fs::write(&upload, b"half an upload").unwrap();
    let before = db_files(&data);
    let holder = format!(
        "another sessionfs-server (pid {}) is using {}",
        first.pid(),
        std::fs::canonicalize(&data).unwrap().display()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let restored_from = dir.path().join("none.tar");
    std::fs::write(&restored_from, b"not read").unwrap();
    let attempts: Vec<Vec<&OsStr>> = vec![
        vec![os("serve"), os("--bind"), os(&bind)],
        vec![os("reindex")],
        vec![os("demo")],
        vec![os("restore"), os("--from"), restored_from.as_os_str()],
    ];
    for mut args in attempts {
        args.extend([os("--data-dir"), data.as_os_str()]);
        let out = run_for(&args, 30);
        let report = text(&out);
        assert!(!out.status.success(), "{args:?}: {report}");
        assert!(report.contains(&holder), "{args:?}: {report}");
    }

    assert!(
        upload.exists(),
        "the first server's upload in progress is still there"
    );
    assert_eq!(
        db_files(&data),
        before,
        "the database files were not touched"
    );
    let (status, pulled) = alice.pull("ses_10c4ed00000001").await;
    assert_eq!(
        (status, pulled),
        (200, bytes),
        "the first server still serves"
    );
}

#[test]
fn backup_refuses_to_overwrite_unless_forced_and_paths_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run([
        os("admin"),
        os("create-user"),
        os("--data-dir"),
        data.as_os_str(),
        os("ops@example.com"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let file = dir.path().join("b.tar");
    let out = backup(&data, &file);
    assert!(out.status.success(), "{}", text(&out));
    let first = std::fs::read(&file).unwrap();

    let out = backup(&data, &file);
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("already exists"), "{report}");
    assert!(report.contains("--force"), "{report}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        first,
        "the old backup is kept"
    );

    let out = run([
        os("backup"),
        os("--data-dir"),
        data.as_os_str(),
        os("--out"),
        file.as_os_str(),
        os("--force"),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // A file where a data dir belongs: every command says so.
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let backup_out = dir.path().join("c.tar");
    for args in [
        vec![os("serve"), os("--bind"), os("127.0.0.1:0")],
        vec![os("backup"), os("--out"), backup_out.as_os_str()],
        vec![os("admin"), os("list-users")],
        vec![os("restore"), os("--from"), file.as_os_str()],
        vec![os("demo")],
    ] {
        let mut args = args;
        args.extend([os("--data-dir"), not_a_dir.as_os_str()]);
        let out = run_for(&args, 30);
        let report = text(&out);
        assert!(!out.status.success(), "{args:?}: {report}");
        assert!(
            report.contains("is a file, not a directory"),
            "{args:?}: {report}"
        );
    }
}

#[test]
fn bind_without_a_port_says_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_for(
        &[
            os("serve"),
            os("--bind"),
            os("0.0.0.0"),
            os("--data-dir"),
            dir.path().as_os_str(),
        ],
        30,
    );
    let report = text(&out);
    assert!(!out.status.success(), "{report}");
    assert!(
        report.contains("--bind expects HOST:PORT, e.g. 127.0.0.1:8000"),
        "{report}"
    );
    assert!(report.contains("0.0.0.0:8000"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_data_dir_lists_searches_and_shares() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = run_for(&[os("demo"), os("--data-dir"), data.as_os_str()], 60);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let key = common::printed_key(&out);

    let server = start(&data).await;
    let demo = Api {
        base: server.base.clone(),
        key,
        client: reqwest::Client::new(),
    };
    let list = demo.get("/api/v1/sessions").await;
    let sessions = list["sessions"].as_array().expect("a session list");
    assert_eq!(sessions.len(), 4, "{list}");
    let tools: std::collections::BTreeSet<&str> = sessions
        .iter()
        .filter_map(|s| s["source_tool"].as_str())
        .collect();
    assert!(tools.len() >= 3, "samples from several tools: {list}");
    assert_eq!(demo.search("pagination").await, ["ses_demo0000000002"]);
    assert_eq!(demo.search("monotonic").await, ["ses_demo0000000001"]);

    // A sample can be shared like any pushed session.
    let res = demo
        .client
        .post(format!(
            "{}/api/v1/sessions/ses_demo0000000003/share",
            demo.base
        ))
        .bearer_auth(&demo.key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let share: Value = res.json().await.unwrap();
    let page = reqwest::get(share["public_url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Move CI from Travis to GitHub Actions"),
        "{page}"
    );
}

#[tokio::test]
async fn doctor_fix_removes_only_old_archives_no_session_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data).await;
    let bob = Api::signup(&server.base, "bob@example.com").await;
    let live = session_archive("ses_fixlive000001", "Live", "tide tables", 5);
    bob.push("ses_fixlive000001", &live).await;
    // Two archives no row names, as a push that failed after storing its archive leaves them:
    // one from two hours ago, one from just now (it may belong to a push still in flight).
    let old = archive_file(&data, b"old orphan");
    let young = archive_file(&data, b"young orphan");
    for (path, bytes) in [(&old, &b"old orphan"[..]), (&young, &b"young orphan"[..])] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
        .unwrap();

    // Without --fix, doctor only reports.
    let out = doctor(&data);
    assert!(
        text(&out).contains("2 archive(s) no session references"),
        "{}",
        text(&out)
    );
    assert!(old.exists());

    let out = run([
        OsStr::new("doctor"),
        OsStr::new("--fix"),
        OsStr::new("--gc-grace-seconds"),
        OsStr::new("60"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ]);
    let report = text(&out);
    assert!(report.contains("fix: removed 1 archive(s)"), "{report}");
    assert!(!old.exists(), "the old orphan is gone");
    assert!(young.exists(), "an orphan inside the grace period stays");
    assert!(archive_file(&data, &live).exists());
    assert_eq!(bob.pull("ses_fixlive000001").await, (200, live));
    server.stop();
}

/// The install secret: `admin rotate-secret` re-encrypts a stored judge key, a backup carries
/// `secret.key`, and the restored server still opens the key (it sends it to the saved
/// endpoint, a fake provider on loopback). The key is never printed.
#[tokio::test]
async fn rotate_secret_and_backup_keep_stored_keys_usable() {
    const JUDGE_KEY: &str = "sk-ops-judge-key-1234567890";
    let fake = common::fake_llm::FakeLlm::start("ok").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let flags = ["--llm-allow-private-hosts", "--rate-limit-per-minute", "0"];
    let mut server = RunningServer::start(&data, &flags).await;
    let alice = Api::signup(&server.base, "alice@example.com").await;
    let saved = alice
        .client
        .put(format!("{}/api/v1/settings/judge", server.base))
        .bearer_auth(&alice.key)
        .json(&serde_json::json!({"provider": "custom", "model": "llama3",
            "api_key": JUDGE_KEY, "base_url": fake.base_url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    server.stop();

    let secret_file = data.join("secret.key");
    let before = std::fs::read_to_string(&secret_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = run([
        OsStr::new("admin"),
        OsStr::new("rotate-secret"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("1 stored secret(s) re-encrypted"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(JUDGE_KEY));
    assert_ne!(std::fs::read_to_string(&secret_file).unwrap(), before);

    let tar = dir.path().join("b.tar");
    let out = backup(&data, &tar);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("secret.key"), "{}", text(&out));
    let restored = dir.path().join("restored");
    let out = restore(&tar, &restored);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(restored.join("secret.key")).unwrap(),
        std::fs::read_to_string(&secret_file).unwrap()
    );

    let server = RunningServer::start(&restored, &flags).await;
    let alice = alice.on(&server.base);
    let q: String = form_urlencoded::byte_serialize(fake.base_url().as_bytes()).collect();
    let models = alice
        .get(&format!("/api/v1/settings/judge/models?base_url={q}"))
        .await;
    assert_eq!(models["models"][0]["id"], "llama3", "{models}");
    let sent = fake.requests().last().unwrap().authorization.clone();
    assert_eq!(sent.as_deref(), Some(&*format!("Bearer {JUDGE_KEY}")));
}
