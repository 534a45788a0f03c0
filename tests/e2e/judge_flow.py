"""End-to-end check of the LLM judge with the real `sfs` client (sessionfs 0.26.0).

  * a fake OpenAI-compatible provider runs on 127.0.0.1 (nothing else is ever called);
  * alice signs up, captures a Claude Code session and pushes it;
  * `sfs audit <session>` (the client's judge runs locally) calls the fake provider;
  * alice saves judge settings on the server pointing at the fake (the server runs with
    --llm-allow-private-hosts) and sets the audit trigger to on_sync;
  * the daemon's own code polls GET /settings/audit-trigger (200, on_sync) and, as after a
    sync, POSTs /sessions/{id}/audit {}: the server audits the session against the fake;
  * the report is readable; the judge key is in no answer and no server log line.

Usage:
    python3 tests/e2e/judge_flow.py --server-bin target/debug/sessionfs-server \
        --sfs .venv-sfs/bin/sfs --python .venv-sfs/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sfs_client_flow import (  # noqa: E402
    HEALTH_TIMEOUT_S,
    ClaudeCodeSession,
    Result,
    Server,
    StepFailed,
    Steps,
    User,
    api_call,
    check,
    expect,
    health_status,
)

JUDGE_KEY = "sk-e2e-judge-key-4242424242"
ANSWER = json.dumps([{
    "claim_index": 1, "verdict": "verified", "confidence": 90, "category": "file_existence",
    "evidence": "the tool result shows the file", "explanation": "Confirmed.",
    "evidence_snippets": [],
}])


class FakeProvider:
    """An OpenAI-compatible endpoint on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                fake.requests.append({"method": "GET", "path": self.path,
                                      "auth": self.headers.get("Authorization")})
                if self.path.endswith("/models"):
                    body = {"object": "list", "data": [{"id": "llama3", "owned_by": "local"}]}
                    return self._send(200, json.dumps(body).encode(), "application/json")
                self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                fake.requests.append({"method": "POST", "path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, b"not found", "text/plain")
                if body.get("stream"):
                    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "ok"}}]}
                    text = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
                    return self._send(200, text.encode(), "text/event-stream")
                answer = {"id": "c", "object": "chat.completion",
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": ANSWER}}],
                          "usage": {"prompt_tokens": 10, "completion_tokens": 10}}
                self._send(200, json.dumps(answer).encode(), "application/json")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def chats(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def stop(self) -> None:
        self.httpd.shutdown()


class JudgeServer(Server):
    """The server with --llm-allow-private-hosts (the fake provider is on loopback)."""

    def start(self) -> None:
        self.data_dir.mkdir(parents=True)
        argv = [self.binary, "serve", "--data-dir", str(self.data_dir),
                "--bind", f"127.0.0.1:{self.port}", "--llm-allow-private-hosts",
                "--log", "debug"]
        print(f"    $ {' '.join(argv)}", flush=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, "NO_COLOR": "1"})
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StepFailed(f"server exited with code {self.proc.returncode}")
            if health_status(self.url) == 200:
                return
            time.sleep(0.2)
        raise StepFailed(f"GET {self.url}/health did not return 200 in {HEALTH_TIMEOUT_S}s")


# What the daemon does every 60 s and after each sync, run with the client's own code:
# DaemonSyncer._fetch_remote_settings (which GETs /settings/audit-trigger) and
# DaemonSyncer._maybe_auto_audit (which POSTs /sessions/{id}/audit {}).
DAEMON_POLL = r"""
import asyncio, json, sys, types
from pathlib import Path
from sessionfs.daemon.main import DaemonSyncer
url, key, sid, store = sys.argv[1:5]
client = types.SimpleNamespace(api_url=url, api_key=key)
syncer = DaemonSyncer.__new__(DaemonSyncer)
syncer._get_client = lambda: client
syncer.config = types.SimpleNamespace(
    sync=types.SimpleNamespace(auto="off", debounce=30), store_dir=Path(store))
syncer._observe_mode = lambda: "off"
asyncio.run(syncer._fetch_remote_settings())
print(json.dumps({"audit_trigger": getattr(syncer, "_audit_trigger", None)}))
asyncio.run(syncer._maybe_auto_audit(sid, client))
"""


class JudgeFlow:
    def __init__(self, url: str, sfs: str, python: str, root: Path, fake: FakeProvider,
                 server: JudgeServer) -> None:
        self.url = url
        self.python = python
        self.fake = fake
        self.server = server
        self.transcript: list[Result] = []
        self.alice = User("alice", root, sfs, url, self.transcript)
        self.session_id = ""

    def key(self) -> str:
        return self.alice.config().get("sync", {}).get("api_key", "")

    def alice_signs_up_and_pushes(self) -> None:
        expect(self.alice.sfs("auth", "signup", "--url", self.url, "--email", "alice@example.test"),
               contains=("Account created",))
        native = ClaudeCodeSession(self.alice)
        native.say("Create the config file for the cache.",
                   "I created the file config/cache.toml and all tests passed.")
        self.session_id = native.sfs_id
        expect(self.alice.sfs("import", "--from", "claude-code"), contains=("Imported 1",))
        expect(self.alice.sfs("push", self.session_id), contains=("Created remote session",))

    def sfs_audit_runs_against_the_fake(self) -> None:
        before = len(self.fake.chats())
        r = self.alice.sfs("audit", self.session_id, "--base-url", self.fake.base_url,
                           "--model", "llama3", "--api-key", JUDGE_KEY, "--json")
        expect(r)
        check(len(self.fake.chats()) > before,
              "`sfs audit` made no request to the configured base URL", r)
        last = self.fake.chats()[-1]
        check(last["auth"] == f"Bearer {JUDGE_KEY}", f"unexpected auth header {last['auth']!r}", r)

    def alice_saves_judge_settings(self) -> None:
        status, body = api_call(self.url, self.key(), "PUT", "/api/v1/settings/judge", {
            "provider": "custom", "model": "llama3", "api_key": JUDGE_KEY,
            "base_url": self.fake.base_url})
        check(status == 200, f"PUT /settings/judge: {status} {body}")
        check(body.get("key_set") is True and body.get("warnings") == [], f"{body}")
        check(JUDGE_KEY not in json.dumps(body), "the judge key came back")
        status, body = api_call(self.url, self.key(), "PUT", "/api/v1/settings/audit-trigger",
                                {"trigger": "on_sync"})
        check(status == 200 and body == {"trigger": "on_sync"}, f"{status} {body}")
        # A key pasted into a query string is refused, and must not reach the log either (step 5).
        status, body = api_call(self.url, self.key(), "GET",
                                "/api/v1/settings/judge/models?base_url=http%3A%2F%2F127.0.0.1%3A9%2Fv1"
                                f"&api_key={JUDGE_KEY}")
        check(status == 400 and JUDGE_KEY not in json.dumps(body), f"{status} {body}")

    def the_daemon_polls_and_triggers_an_audit(self) -> None:
        before = len(self.fake.chats())
        proc = subprocess.run(
            [self.python, "-c", DAEMON_POLL, self.url, self.key(), self.session_id,
             str(self.alice.store_dir)],
            capture_output=True, text=True, timeout=120, env=self.alice.env)
        result = Result(["python", "-c", "<daemon poll>"], proc.returncode, proc.stdout, proc.stderr)
        expect(result, contains=('"audit_trigger": "on_sync"',))
        check(len(self.fake.chats()) > before, "the daemon's audit request reached no model", result)
        status, report = api_call(self.url, self.key(), "GET",
                                  f"/api/v1/sessions/{self.session_id}/audit")
        check(status == 200, f"GET /audit after the daemon's trigger: {status} {report}")
        check(report.get("session_id") == self.session_id and "summary" in report, f"{report}")

    def no_key_in_the_server_log(self) -> None:
        log = self.server.log_path.read_text(errors="replace")
        check(JUDGE_KEY not in log, "the judge key is in the server log")
        check(self.key() not in log, "the API key is in the server log")

    def run(self, steps: Steps) -> None:
        steps.run("1. alice: signup, import, push", self.alice_signs_up_and_pushes)
        steps.run("2. alice: sfs audit <session> against the fake provider", self.sfs_audit_runs_against_the_fake)
        steps.run("3. alice: PUT /settings/judge and audit-trigger on_sync", self.alice_saves_judge_settings)
        steps.run("4. daemon: polls the audit trigger (200) and triggers an audit",
                  self.the_daemon_polls_and_triggers_an_audit)
        steps.run("5. no secret in the server log", self.no_key_in_the_server_log)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--server-bin", required=True)
    p.add_argument("--sfs", required=True)
    p.add_argument("--python", required=True)
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sfs-judge-e2e-"))
    steps = Steps()
    server = JudgeServer(args.server_bin, workdir)
    fake = FakeProvider()
    try:
        steps.run("0. start the server and the fake provider", server.start)
        JudgeFlow(server.url, args.sfs, args.python, workdir / "homes", fake, server).run(steps)
    finally:
        server.stop()
        fake.stop()
        if steps.failed:
            print("--- server log ---")
            print(server.log_tail())
            print(f"temporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{steps.passed} passed, {steps.failed} failed")
    return 0 if steps.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
