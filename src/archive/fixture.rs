//! Builds `.sfs` archives in memory: well-formed sessions for tests and the benchmark, and
//! hostile ones (traversal, links, devices) that a real tar tool would refuse to write.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use tar::{EntryType, Header};

/// One tar member, with its name written as raw bytes (no sanitising).
pub struct Member {
    pub name: String,
    pub kind: EntryType,
    pub data: Vec<u8>,
    pub link: Option<String>,
}

impl Member {
    pub fn file(name: &str, data: &[u8]) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Regular,
            data: data.to_vec(),
            link: None,
        }
    }
    pub fn symlink(name: &str, target: &str) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Symlink,
            data: vec![],
            link: Some(target.into()),
        }
    }
    pub fn hardlink(name: &str, target: &str) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Link,
            data: vec![],
            link: Some(target.into()),
        }
    }
    pub fn device(name: &str) -> Member {
        Member {
            name: name.into(),
            kind: EntryType::Char,
            data: vec![],
            link: None,
        }
    }
}

/// A tar stream of `members`, names copied verbatim into the headers.
pub fn tar_of(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = Header::new_ustar();
        header.set_entry_type(member.kind);
        header.set_size(member.data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        {
            let raw = header.as_old_mut();
            let name = member.name.as_bytes();
            raw.name[..name.len()].copy_from_slice(name);
            if let Some(link) = &member.link {
                raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
        }
        header.set_cksum();
        builder
            .append(&header, &member.data[..])
            .expect("append to an in-memory tar");
    }
    builder.into_inner().expect("finish an in-memory tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// A realistic session: manifest, `messages` user/assistant turns about `topic`, workspace.
pub fn session_archive(session_id: &str, title: &str, topic: &str, messages: usize) -> Vec<u8> {
    let manifest = json!({
        "sfs_version": "0.1.0",
        "session_id": session_id,
        "title": title,
        "tags": ["generated"],
        "created_at": "2026-03-20T10:00:00Z",
        "source": {"tool": "claude-code", "tool_version": "2.1.59"},
        "model": {"provider": "anthropic", "model_id": "claude-sonnet-4-6"},
        "stats": {"message_count": messages, "turn_count": messages / 2, "tool_use_count": 0,
                  "total_input_tokens": 100 * messages, "total_output_tokens": 50 * messages},
    });
    let mut lines = String::new();
    for i in 0..messages {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        let message: Value = json!({
            "msg_id": format!("m{i}"),
            "role": role,
            "content": [{"type": "text", "text": format!("message {i} about {topic}")}],
            "timestamp": format!("2026-03-20T10:{:02}:00Z", i % 60),
        });
        lines.push_str(&message.to_string());
        lines.push('\n');
    }
    let workspace = json!({"root_path": "/home/dev/app",
                           "git": {"remote_url": "git@github.com:acme/app.git", "branch": "main",
                                   "commit_sha": "a1b2c3d4"}});
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", lines.as_bytes()),
        Member::file("workspace.json", workspace.to_string().as_bytes()),
    ]))
}

/// A valid session archive of about `bytes` bytes that does not compress (random noise in a
/// workspace file): for large pushes.
pub fn incompressible_archive(session_id: &str, bytes: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut noise = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut noise);
    let manifest = json!({"sfs_version": "0.1.0", "session_id": session_id});
    gzip(&tar_of(&[
        Member::file("manifest.json", manifest.to_string().as_bytes()),
        Member::file("messages.jsonl", b""),
        Member::file("workspace/noise.bin", &noise),
    ]))
}
