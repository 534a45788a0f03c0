#!/usr/bin/env python3
"""End-to-end check: a coding agent uses the real `sfs mcp serve` (PyPI
`sessionfs==0.26.0`) against a sessionfs server, over its stdio JSON-RPC.

  * alice signs up (`sfs auth signup`), registers her repository
    (`sfs project init` in a git checkout) and writes its context
    (`sfs project set-context`);
  * her agent starts `sfs mcp serve`, initializes, lists the tools, and:
    adds knowledge (`add_knowledge`: a claim, and a too-short note the
    server refuses), reads the project context (`get_project_context`,
    with the new claim under "Recent Session Activity"), searches it
    (`search_project_knowledge`, a substring of the content), lists the
    entries (`list_knowledge_entries`) and reads one (`get_knowledge_entry`);
  * the server holds what the agent wrote (GET /entries);
  * bob's agent, on the same repository, finds no project (404: tenancy).

Helpers (server, users, steps) come from sfs_client_flow.py beside this file.

Usage:
    python3 tests/e2e/mcp_knowledge.py --server-bin target/debug/sessionfs-server [--sfs PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sfs_client_flow import (  # noqa: E402
    DEFAULT_SFS, Server, StepFailed, Steps, User, api_call, check, expect,
)

REMOTE = "git@github.com:Acme/Agent-KB.git"
NORMALIZED = "acme/agent-kb"
CLAIM = ("Decision: the ingest worker retries uploads with exponential backoff "
         "(see src/ingest/retry.rs); never more than 5 attempts.")
RPC_TIMEOUT_S = 60


class McpClient:
    """`sfs mcp serve` as a child process, spoken to in newline-delimited JSON-RPC."""

    def __init__(self, user: User, cwd: Path) -> None:
        print(f"    [{user.label}] $ sfs mcp serve  (cwd {cwd})", flush=True)
        self.proc = subprocess.Popen(
            [user.sfs_bin, "mcp", "serve"], cwd=cwd, env=user.env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        self.next_id = 0

    def send(self, message: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise StepFailed(f"`sfs mcp serve` closed its output during {method}:\n{err[-3000:]}")
            msg = json.loads(line)
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                check("error" not in msg, f"{method} answered an error: {msg}")
                return msg["result"]
            if "method" in msg and "id" in msg:
                # A request from the server (e.g. roots/list): no roots here.
                self.send({"jsonrpc": "2.0", "id": msg["id"],
                           "error": {"code": -32601, "message": "not supported"}})

    def initialize(self) -> dict:
        result = self.request("initialize", {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "sessionfs-server-e2e", "version": "1.0"},
        })
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call(self, tool: str, arguments: dict) -> str:
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
        text = "\n".join(texts)
        print(f"      {tool} -> {text[:160]!r}", flush=True)
        return text

    def close(self) -> None:
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Flow:
    def __init__(self, url: str, sfs: str, root: Path) -> None:
        self.url = url
        self.transcript: list = []
        self.alice = User("alice", root, sfs, url, self.transcript)
        self.bob = User("bob", root, sfs, url, self.transcript)
        self.repo = self.alice.home / "work" / "agent-kb"
        self.agent: McpClient | None = None
        self.project_id = ""
        self.entry_id = 0

    def signups_and_project(self) -> None:
        for user in (self.alice, self.bob):
            expect(user.sfs("auth", "signup", "--url", self.url,
                            "--email", f"{user.label}@example.test"),
                   contains=("Account created",))
        self.repo.mkdir(parents=True)
        for git in (["git", "init", "-q"], ["git", "remote", "add", "origin", REMOTE]):
            subprocess.run(git, cwd=self.repo, check=True, env=self.alice.env)
        expect(self.alice.sfs("project", "init", cwd=self.repo),
               contains=(f"Project created for {NORMALIZED}",))
        context = self.repo / "CONTEXT.md"
        context.write_text("# Agent KB\n\n## Conventions\nUploads are idempotent by sha256.\n")
        expect(self.alice.sfs("project", "set-context", str(context), cwd=self.repo),
               contains=("Project context updated",))
        status, body = api_call(self.url, self.alice.api_key(), "GET",
                                f"/api/v1/projects/{NORMALIZED}")
        check(status == 200, f"GET the project answered {status} {body}")
        self.project_id = body["id"]

    def agent_starts(self) -> None:
        self.agent = McpClient(self.alice, self.repo)
        init = self.agent.initialize()
        check("serverInfo" in init, f"initialize answered {init}")
        tools = {t["name"] for t in self.agent.request("tools/list", {}).get("tools", [])}
        for name in ("add_knowledge", "get_project_context", "search_project_knowledge",
                     "list_knowledge_entries", "get_knowledge_entry"):
            check(name in tools, f"tools/list has no {name}: {sorted(tools)}")

    def agent_adds_knowledge(self) -> None:
        assert self.agent is not None
        text = self.agent.call("add_knowledge", {
            "content": CLAIM, "entry_type": "decision", "confidence": 0.9,
            "git_remote": REMOTE,
        })
        check("Knowledge entry added (id: " in text and "class: claim" in text,
              f"add_knowledge answered {text!r}")
        self.entry_id = int(text.split("(id: ", 1)[1].split(",", 1)[0])
        # The server's validation reaches the agent as text, not as a crash.
        text = self.agent.call("add_knowledge", {"content": "too short", "entry_type": "bug",
                                                 "git_remote": REMOTE})
        check("too short" in text.lower() or "20 characters" in text,
              f"a 9-character entry answered {text!r}")
        # The same claim again is a near-duplicate.
        text = self.agent.call("add_knowledge", {
            "content": CLAIM, "entry_type": "decision", "git_remote": REMOTE})
        check("Similar entry already exists" in text or "409" in text,
              f"a duplicate entry answered {text!r}")

    def agent_reads_the_project(self) -> None:
        assert self.agent is not None
        text = self.agent.call("get_project_context", {"git_remote": REMOTE})
        check("Uploads are idempotent by sha256." in text,
              f"get_project_context lacks the context document: {text[:800]!r}")
        check("Recent Session Activity" in text and "exponential backoff" in text,
              f"get_project_context lacks the pending claim: {text[:1500]!r}")
        text = self.agent.call("search_project_knowledge",
                               {"query": "ponential back", "git_remote": REMOTE})
        check("exponential backoff" in text,
              f"search_project_knowledge (a substring) found nothing: {text!r}")
        text = self.agent.call("search_project_knowledge",
                               {"query": "kubernetes", "git_remote": REMOTE})
        check("No knowledge entries found" in text, f"an unrelated search answered {text!r}")
        data = json.loads(self.agent.call("list_knowledge_entries",
                                          {"entry_type": "decision", "git_remote": REMOTE}))
        check(data.get("count") == 1 and data["entries"][0]["id"] == self.entry_id,
              f"list_knowledge_entries answered {data}")
        entry = json.loads(self.agent.call("get_knowledge_entry",
                                           {"id": self.entry_id, "git_remote": REMOTE}))
        check(entry.get("content") == CLAIM and entry.get("claim_class") == "claim",
              f"get_knowledge_entry answered {entry}")
        missing = json.loads(self.agent.call("get_knowledge_entry",
                                             {"id": 999999, "git_remote": REMOTE}))
        check("not found" in str(missing.get("error", "")), f"a missing entry answered {missing}")

    def the_server_holds_it(self) -> None:
        status, body = api_call(self.url, self.alice.api_key(), "GET",
                                f"/api/v1/projects/{self.project_id}/entries")
        check(status == 200 and isinstance(body, list) and len(body) == 1,
              f"GET entries answered {status} {body}")
        e = body[0]
        check(e["content"] == CLAIM and e["entry_type"] == "decision"
              and e["author_class"] == "human" and e["confidence"] == 0.9
              and e["retrieved_count"] >= 1,
              f"the stored entry is {e}")

    def another_users_agent_finds_nothing(self) -> None:
        other = McpClient(self.bob, self.bob.home)
        try:
            other.initialize()
            text = other.call("get_project_context", {"git_remote": REMOTE})
            check(f"No project context found for {NORMALIZED}" in text,
                  f"bob's agent read alice's project: {text[:400]!r}")
            text = other.call("add_knowledge", {"content": CLAIM + " (bob)",
                                                "entry_type": "bug", "git_remote": REMOTE})
            check("No project found" in text, f"bob's agent wrote to alice's project: {text!r}")
        finally:
            other.close()

    def run(self, steps: Steps) -> None:
        steps.run("1. alice and bob sign up; alice: sfs project init + set-context",
                  self.signups_and_project)
        steps.run("2. alice's agent: sfs mcp serve, initialize, tools/list", self.agent_starts)
        steps.run("3. add_knowledge (a claim; a too-short note and a duplicate refused)",
                  self.agent_adds_knowledge)
        steps.run("4. get_project_context, search_project_knowledge, list_knowledge_entries, "
                  "get_knowledge_entry", self.agent_reads_the_project)
        steps.run("5. the server holds the agent's entry", self.the_server_holds_it)
        steps.run("6. bob's agent cannot read or write alice's project",
                  self.another_users_agent_finds_nothing)

    def cleanup(self) -> None:
        if self.agent is not None:
            self.agent.close()


def run_agent_flow(description: str, flow_class, prefix: str, argv: list[str]) -> int:
    """Starts the server, runs `flow_class(url, sfs, homes)` step by step, stops, reports.

    Shared by the MCP flows (knowledge here, wiki in mcp_wiki.py): a flow has `run(steps)`
    and `cleanup()`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--sfs", default=str(DEFAULT_SFS))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    steps = Steps()
    server = Server(args.server_bin, workdir)
    flow = None
    try:
        steps.run("0. start the server and wait for GET /health", server.start)
        flow = flow_class(server.url, args.sfs, workdir / "homes")
        flow.run(steps)
    finally:
        if flow is not None:
            flow.cleanup()
        server.stop()
        if steps.failed:
            print(f"--- server log ---\n{server.log_tail()}\n--- end of server log ---")
            print(f"temporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if steps.skipped:
        print(f"not run after the failure: {', '.join(steps.skipped)}")
    print(f"{steps.passed} passed, {steps.failed} failed")
    return 0 if steps.failed == 0 else 1


def main(argv: list[str]) -> int:
    return run_agent_flow(__doc__.split("\n")[0], Flow, "sfs-mcp-e2e-", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
