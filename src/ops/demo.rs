//! `sessionfs-server demo --data-dir DIR`: a data dir to try the server with before pushing
//! anything of your own.
//!
//! Opens the data dir exactly as `serve` does ([`AppState::open`]: lock, create, migrate), creates
//! the account `demo@example.com` and pushes a few sessions from different tools through the
//! same steps as `PUT /api/v1/sessions/{id}/sync`: the archive is validated
//! ([`archive::inspect`]), stored by content address, committed with
//! [`sessions::commit_push`] and indexed for search. So they list, pull, search, summarize and
//! share like pushed sessions, because they are pushed sessions.
//!
//! Only a data dir without sessions is filled: the demo never mixes its samples into a team's
//! real data (and a second run on a demo dir is refused the same way; delete the dir to start
//! again).

use std::path::Path;

use serde_json::{json, Value};

use crate::archive::fixture::{gzip, tar_of, Member};
use crate::archive::{self, Limits};
use crate::config::Config;
use crate::db::users::ClientInfo;
use crate::domain::sessions::{self, PushConditions, StoredArchive};
use crate::domain::DomainError;
use crate::domain::{admin, search};
use crate::state::AppState;

/// The account the demo creates.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// What the demo put in place.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub email: String,
    pub api_key: String,
    /// (session id, title) of each sample.
    pub sessions: Vec<(String, String)>,
}

/// Fills `data_dir` (created when missing) with the demo account and sample sessions.
pub async fn demo(data_dir: &Path) -> Result<DemoSummary, String> {
    let config = Config::for_data_dir(data_dir.to_path_buf());
    let state = tokio::task::spawn_blocking(move || AppState::open(config))
        .await
        .map_err(|e| e.to_string())??;
    let text = |e: DomainError| e.to_string();
    let (live, _, _) = state
        .db
        .read(crate::db::sessions::storage_totals)
        .await
        .map_err(|e| e.to_string())?;
    if live > 0 {
        return Err(format!(
            "{} already holds {live} session(s); the demo fills only a new or empty data dir \
             (give another --data-dir, e.g. ./sessionfs-demo)",
            data_dir.display()
        ));
    }
    let (user_id, api_key) = admin::create_user(&state.db, &state.clock, DEMO_EMAIL, "enterprise")
        .await
        .map_err(text)?;
    let limits = Limits {
        member_bytes: state
            .config
            .member_cap(crate::domain::tiers::Tier::Enterprise),
        members: state.config.max_archive_members,
        uncompressed_bytes: state
            .config
            .uncompressed_cap(crate::domain::tiers::Tier::Enterprise),
    };
    let mut pushed = Vec::new();
    for sample in samples() {
        let bytes = sample.archive();
        let blobs = state.blobs.clone();
        let mut stored =
            tokio::task::spawn_blocking(move || -> Result<StoredArchive, DomainError> {
                let meta = archive::inspect(&bytes[..], &limits)?;
                let hash = blobs.put(&bytes)?;
                let pin = Some(blobs.pin(&hash));
                Ok(StoredArchive {
                    hash,
                    size: bytes.len() as u64,
                    meta,
                    pin,
                })
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("sample {}: {e}", sample.id))?;
        let words = std::mem::take(&mut stored.meta.messages_text);
        let (_, row) = sessions::commit_push(
            &state.db,
            &state.clock,
            &user_id,
            sample.id,
            false,
            PushConditions::default(),
            stored,
            ClientInfo::default(),
        )
        .await
        .map_err(text)?;
        state.search.upsert(search::doc(&row, words));
        tracing::info!(
            session = sample.id,
            title = sample.title,
            "demo session pushed"
        );
        pushed.push((sample.id.to_string(), sample.title.to_string()));
    }
    let index = state.search.clone();
    tokio::task::spawn_blocking(move || index.flush())
        .await
        .map_err(|e| e.to_string())?;
    Ok(DemoSummary {
        email: DEMO_EMAIL.to_string(),
        api_key,
        sessions: pushed,
    })
}

/// One sample session: its manifest facts and its messages.
struct Sample {
    id: &'static str,
    title: &'static str,
    tool: &'static str,
    tool_version: &'static str,
    model: (&'static str, &'static str),
    tags: &'static [&'static str],
    repo: &'static str,
    day: &'static str,
    messages: Vec<Value>,
}

impl Sample {
    /// The `.sfs` archive as the `sfs` client writes it.
    fn archive(&self) -> Vec<u8> {
        let tool_uses = self
            .messages
            .iter()
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .filter(|b| b["type"] == "tool_use")
            .count();
        let count = self.messages.len();
        let manifest = json!({
            "sfs_version": "0.1.0",
            "session_id": self.id,
            "title": self.title,
            "tags": self.tags,
            "created_at": format!("{}T09:00:00Z", self.day),
            "source": {"tool": self.tool, "tool_version": self.tool_version},
            "model": {"provider": self.model.0, "model_id": self.model.1},
            "stats": {"message_count": count, "turn_count": count / 2,
                      "tool_use_count": tool_uses, "total_input_tokens": 1800 * count,
                      "total_output_tokens": 600 * count, "duration_ms": 240_000 * count},
        });
        let mut lines = String::new();
        for (i, message) in self.messages.iter().enumerate() {
            let mut message = message.clone();
            message["msg_id"] = json!(format!("m{i}"));
            message["timestamp"] = json!(format!("{}T09:{:02}:00Z", self.day, i * 2));
            lines.push_str(&message.to_string());
            lines.push('\n');
        }
        let workspace = json!({
            "root_path": format!("/home/dev/{}", self.repo),
            "git": {"remote_url": format!("git@github.com:acme/{}.git", self.repo),
                    "branch": "main", "commit_sha": "5f3c2a19e0b7"},
        });
        gzip(&tar_of(&[
            Member::file("manifest.json", manifest.to_string().as_bytes()),
            Member::file("messages.jsonl", lines.as_bytes()),
            Member::file("workspace.json", workspace.to_string().as_bytes()),
        ]))
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"type": "text", "text": text}]})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}]})
}

fn call(id: &str, tool: &str, input: Value) -> Value {
    json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": id, "name": tool, "input": input}]})
}

fn output(id: &str, text: &str) -> Value {
    json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": text}]})
}

fn samples() -> Vec<Sample> {
    vec![
        Sample {
            id: "ses_demo0000000001",
            title: "Fix the flaky retry in the payment webhook handler",
            tool: "claude-code",
            tool_version: "2.1.59",
            model: ("anthropic", "claude-sonnet-4-6"),
            tags: &["bugfix", "payments"],
            repo: "billing",
            day: "2026-03-18",
            messages: vec![
                user("test_webhook_retry fails about one run in five on CI. Find out why and fix it."),
                call("t1", "Bash", json!({"command": "pytest tests/test_webhooks.py -x -q"})),
                output("t1", "..F\nFAILED tests/test_webhooks.py::test_webhook_retry - AssertionError: expected 3 attempts, got 2\n1 failed, 2 passed in 0.84s"),
                call("t2", "Read", json!({"file_path": "billing/webhooks.py"})),
                output("t2", "def deliver(event, attempts=3):\n    deadline = time.time() + 2\n    for i in range(attempts):\n        if time.time() > deadline:\n            break\n        ..."),
                assistant("The retry loop stops at a wall-clock deadline of 2 seconds, but the backoff sleeps 1s then 2s, so on a slow CI runner the third attempt is skipped. The deadline should bound the total backoff, not cut the attempts short. I'll compute the deadline from the backoff schedule and use a monotonic clock."),
                call("t3", "Edit", json!({"file_path": "billing/webhooks.py",
                    "old_string": "    deadline = time.time() + 2",
                    "new_string": "    deadline = time.monotonic() + sum(BACKOFF[:attempts]) + TIMEOUT"})),
                output("t3", "The file billing/webhooks.py has been updated."),
                call("t4", "Bash", json!({"command": "pytest tests/test_webhooks.py -q"})),
                output("t4", "...\n3 passed in 3.12s"),
                assistant("Fixed: the deadline now covers the whole backoff schedule and uses time.monotonic(), so a slow runner no longer drops the last retry. All 3 webhook tests pass."),
            ],
        },
        Sample {
            id: "ses_demo0000000002",
            title: "Add cursor pagination to GET /orders",
            tool: "codex",
            tool_version: "0.46.0",
            model: ("openai", "gpt-5-codex"),
            tags: &["api", "feature"],
            repo: "storefront",
            day: "2026-03-19",
            messages: vec![
                user("GET /orders returns every order at once and times out for big customers. Add cursor pagination (limit + cursor), keep the old response shape for clients that send neither."),
                call("c1", "shell", json!({"command": "rg -n \"router.get\\('/orders'\" src"})),
                output("c1", "src/routes/orders.ts:14:router.get('/orders', async (req, res) => {"),
                assistant("I'll encode the cursor as base64 of (created_at, id) so ties on created_at stay stable:\n\n```ts\nconst rows = await db.orders.findMany({\n  where: cursor ? { OR: [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }] } : {},\n  orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],\n  take: limit + 1,\n});\nconst next = rows.length > limit ? encodeCursor(rows[limit - 1]) : null;\n```"),
                call("c2", "apply_patch", json!({"path": "src/routes/orders.ts"})),
                output("c2", "Success. Updated src/routes/orders.ts"),
                call("c3", "shell", json!({"command": "npm test -- orders"})),
                output("c3", "PASS test/orders.test.ts\nTests: 7 passed, 7 total"),
                assistant("Done: `?limit=50&cursor=…` returns `{orders, next_cursor}`; without either the old array comes back unchanged. Seven order tests pass, including the tie on created_at."),
            ],
        },
        Sample {
            id: "ses_demo0000000003",
            title: "Move CI from Travis to GitHub Actions with a Postgres service",
            tool: "gemini-cli",
            tool_version: "0.9.0",
            model: ("google", "gemini-2.5-pro"),
            tags: &["ci", "infra"],
            repo: "inventory",
            day: "2026-03-20",
            messages: vec![
                user("Port .travis.yml to a GitHub Actions workflow. The integration tests need Postgres 16."),
                call("g1", "read_file", json!({"path": ".travis.yml"})),
                output("g1", "language: python\npython: '3.12'\nservices: [postgresql]\nscript: make test"),
                call("g2", "write_file", json!({"path": ".github/workflows/ci.yml"})),
                output("g2", "Wrote .github/workflows/ci.yml"),
                assistant("The workflow runs on ubuntu-latest with a `postgres:16` service container and a health check, sets DATABASE_URL for the job, caches pip, then runs `make test`:\n\n```yaml\nservices:\n  postgres:\n    image: postgres:16\n    env: { POSTGRES_PASSWORD: postgres }\n    options: --health-cmd pg_isready --health-interval 5s\n```"),
                call("g3", "run_shell_command", json!({"command": "pip install psycopg[binary] && make test"})),
                output("g3", "==== 42 passed, 1 skipped in 18.40s ===="),
                assistant("The suite passes locally against Postgres 16 (42 passed, 1 skipped). Delete .travis.yml once the first Actions run is green."),
            ],
        },
        Sample {
            id: "ses_demo0000000004",
            title: "Explain the tantivy segment merge policy before tuning it",
            tool: "claude-code",
            tool_version: "2.1.59",
            model: ("anthropic", "claude-opus-4-1"),
            tags: &["search", "research"],
            repo: "search-service",
            day: "2026-03-21",
            messages: vec![
                user("Our search index has 300 small segments after a bulk import and queries got slow. How does the merge policy decide what to merge?"),
                call("r1", "Grep", json!({"pattern": "LogMergePolicy", "path": "src"})),
                output("r1", "src/indexer.rs:88:    writer.set_merge_policy(Box::new(LogMergePolicy::default()));"),
                assistant("LogMergePolicy groups segments into levels by size (log scale) and merges a level once it holds `min_num_segments` (default 8) segments. A bulk import that commits every few documents makes hundreds of tiny segments, and merging lags behind. Commit in batches (every 10k documents or every second), and call `writer.wait_merging_threads()` after the import."),
                user("Make the import commit every 10,000 documents."),
                call("r2", "Edit", json!({"file_path": "src/indexer.rs",
                    "old_string": "writer.commit()?;", "new_string": "if n % 10_000 == 0 { writer.commit()?; }"})),
                output("r2", "The file src/indexer.rs has been updated."),
                call("r3", "Bash", json!({"command": "cargo test --release import"})),
                output("r3", "test import::bulk_import_makes_few_segments ... ok\ntest result: ok. 1 passed; 0 failed"),
                assistant("The import now commits every 10,000 documents; the bulk-import test ends with 4 segments instead of 300."),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_fills_a_new_data_dir_once() {
        let dir = tempfile::tempdir().unwrap();
        let summary = demo(dir.path()).await.unwrap();
        assert!(
            summary.api_key.starts_with("sk_sfs_"),
            "{}",
            summary.api_key
        );
        assert_eq!(summary.sessions.len(), samples().len());
        let again = demo(dir.path()).await.unwrap_err();
        assert!(again.contains("already holds 4 session(s)"), "{again}");
    }
}
