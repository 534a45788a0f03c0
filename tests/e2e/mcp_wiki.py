#!/usr/bin/env python3
"""End-to-end check: a coding agent writes and reads wiki pages through the real
`sfs mcp serve` (PyPI `sessionfs==0.26.0`), over its stdio JSON-RPC.

The wiki tools `sfs mcp serve` offers in 0.26.0: `update_wiki_page` (PUT
/pages/{slug}), `list_wiki_pages` (GET /pages), `get_wiki_page` (GET
/pages/{slug}) and `get_wiki_page_history` (GET /pages/{slug}/history).

  * alice signs up (`sfs auth signup`) and registers her repository
    (`sfs project init` in a git checkout);
  * her agent starts `sfs mcp serve`, finds the four wiki tools, writes a page
    (`update_wiki_page`), rewrites it with a title, writes one whose slug holds a
    slash, lists the pages, reads both (a missing page reads as an error), and
    reads the first page's history (two revisions, newest first);
  * the server holds what the agent wrote (GET /pages/{slug}, /history): the
    content, the title, the revisions by alice;
  * bob's agent, on the same repository, can neither read nor write alice's
    pages (404: tenancy) and the server is unchanged.

Helpers (server, users, steps) come from sfs_client_flow.py and the MCP client
from mcp_knowledge.py beside this file.

Usage:
    python3 tests/e2e/mcp_wiki.py --server-bin target/debug/sessionfs-server [--sfs PATH]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_knowledge import McpClient, run_agent_flow  # noqa: E402
from sfs_client_flow import (  # noqa: E402
    Steps, User, api_call, api_get_json, check, expect,
)

REMOTE = "git@github.com:Acme/Agent-Wiki.git"
NORMALIZED = "acme/agent-wiki"
ARCH_V1 = "# Architecture\n\nOne binary: an HTTP API over SQLite and an archive store.\n"
ARCH_V2 = ("# Architecture\n\nOne binary: axum over SQLite (WAL), an on-disk archive store "
           "and a tantivy index. Writes go through one writer thread.\n")
SETUP = "# Setup\n\nRun `cargo build --release`, then `sessionfs-server serve`.\n"
WIKI_TOOLS = ("update_wiki_page", "list_wiki_pages", "get_wiki_page", "get_wiki_page_history")


class Flow:
    def __init__(self, url: str, sfs: str, root: Path) -> None:
        self.url = url
        self.transcript: list = []
        self.alice = User("alice", root, sfs, url, self.transcript)
        self.bob = User("bob", root, sfs, url, self.transcript)
        self.repo = self.alice.home / "work" / "agent-wiki"
        self.agent: McpClient | None = None
        self.project_id = ""
        self.alice_id = ""

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
        status, body = api_call(self.url, self.alice.api_key(), "GET",
                                f"/api/v1/projects/{NORMALIZED}")
        check(status == 200, f"GET the project answered {status} {body}")
        self.project_id = body["id"]
        self.alice_id = api_get_json(self.url, self.alice.api_key(), "/api/v1/auth/me")["user_id"]

    def agent_starts(self) -> None:
        self.agent = McpClient(self.alice, self.repo)
        init = self.agent.initialize()
        check("serverInfo" in init, f"initialize answered {init}")
        tools = {t["name"] for t in self.agent.request("tools/list", {}).get("tools", [])}
        for name in WIKI_TOOLS:
            check(name in tools, f"tools/list has no {name}: {sorted(tools)}")

    def agent_writes_pages(self) -> None:
        assert self.agent is not None
        text = self.agent.call("list_wiki_pages", {"git_remote": REMOTE})
        check("No wiki pages found" in text, f"a new project lists pages: {text!r}")
        text = self.agent.call("update_wiki_page", {
            "slug": "architecture", "content": ARCH_V1, "git_remote": REMOTE})
        check(text == f"Page 'architecture' updated ({len(ARCH_V1.split())} words).",
              f"update_wiki_page answered {text!r}")
        text = self.agent.call("update_wiki_page", {
            "slug": "architecture", "content": ARCH_V2, "title": "Architecture Overview",
            "git_remote": REMOTE})
        check(text == f"Page 'architecture' updated ({len(ARCH_V2.split())} words).",
              f"the second update_wiki_page answered {text!r}")
        text = self.agent.call("update_wiki_page", {
            "slug": "guides/setup", "content": SETUP, "git_remote": REMOTE})
        check("Page 'guides/setup' updated" in text, f"a slug with a slash answered {text!r}")
        # The server's validation reaches the agent as text.
        text = self.agent.call("update_wiki_page", {
            "slug": "big", "content": "x" * 200_001, "git_remote": REMOTE})
        check(text.startswith("Failed to update page: 4"), f"an oversize page answered {text[:300]!r}")

    def agent_reads_pages(self) -> None:
        assert self.agent is not None
        text = self.agent.call("list_wiki_pages", {"git_remote": REMOTE})
        check("# Wiki Pages (2)" in text
              and "**Architecture Overview** (`architecture`)" in text
              and "(`guides/setup`)" in text, f"list_wiki_pages answered {text!r}")
        page = json.loads(self.agent.call("get_wiki_page",
                                          {"slug": "architecture", "git_remote": REMOTE}))
        check(page.get("content") == ARCH_V2 and page.get("title") == "Architecture Overview"
              and page.get("auto_generated") is False and page.get("backlinks") == [],
              f"get_wiki_page answered {page}")
        page = json.loads(self.agent.call("get_wiki_page",
                                          {"slug": "guides/setup", "git_remote": REMOTE}))
        check(page.get("content") == SETUP and page.get("slug") == "guides/setup",
              f"get_wiki_page of a slug with a slash answered {page}")
        missing = json.loads(self.agent.call("get_wiki_page",
                                             {"slug": "no-such-page", "git_remote": REMOTE}))
        check(missing == {"error": "Page 'no-such-page' not found"},
              f"a missing page answered {missing}")
        history = json.loads(self.agent.call("get_wiki_page_history",
                                             {"slug": "architecture", "git_remote": REMOTE}))
        revisions = history.get("revisions", [])
        check(history.get("count") == 2 and [r["revision_number"] for r in revisions] == [2, 1],
              f"get_wiki_page_history answered {history}")
        check(revisions[0]["title"] == "Architecture Overview"
              and all(r["user_id"] == self.alice_id for r in revisions),
              f"the revisions are {revisions}")
        page1 = json.loads(self.agent.call("get_wiki_page_history", {
            "slug": "architecture", "limit": 1, "git_remote": REMOTE}))
        check(page1.get("count") == 1 and page1.get("next_cursor") is not None,
              f"a one-revision page of history answered {page1}")
        older = json.loads(self.agent.call("get_wiki_page_history", {
            "slug": "architecture", "limit": 1, "cursor": page1["next_cursor"],
            "git_remote": REMOTE}))
        check([r["revision_number"] for r in older.get("revisions", [])] == [1],
              f"the next page of history answered {older}")

    def the_server_holds_them(self) -> None:
        key = self.alice.api_key()
        base = f"/api/v1/projects/{self.project_id}/pages"
        status, body = api_call(self.url, key, "GET", f"{base}/architecture")
        check(status == 200 and body["content"] == ARCH_V2
              and body["title"] == "Architecture Overview"
              and body["word_count"] == len(ARCH_V2.split()),
              f"GET the page answered {status} {body}")
        status, body = api_call(self.url, key, "GET", f"{base}/architecture/history")
        check(status == 200 and body["count"] == 2, f"GET its history answered {status} {body}")
        status, body = api_call(self.url, key, "GET", base)
        check(status == 200 and sorted(p["slug"] for p in body) == ["architecture", "guides/setup"],
              f"GET the pages answered {status} {body}")
        status, body = api_call(self.url, key, "GET", f"{base}/big")
        check(status == 404, f"the refused oversize page exists: {status} {body}")

    def another_users_agent_cannot(self) -> None:
        other = McpClient(self.bob, self.bob.home)
        try:
            other.initialize()
            text = other.call("update_wiki_page", {"slug": "architecture", "content": "bob was here",
                                                   "git_remote": REMOTE})
            check("No project found" in text, f"bob's agent wrote alice's page: {text!r}")
            text = other.call("list_wiki_pages", {"git_remote": REMOTE})
            check("No project found" in text, f"bob's agent listed alice's pages: {text!r}")
            page = json.loads(other.call("get_wiki_page",
                                         {"slug": "architecture", "git_remote": REMOTE}))
            check("No project found" in page.get("error", ""),
                  f"bob's agent read alice's page: {page}")
        finally:
            other.close()
        status, body = api_call(self.url, self.bob.api_key(), "GET",
                                f"/api/v1/projects/{self.project_id}/pages/architecture")
        check(status == 404, f"bob's GET of alice's page answered {status} {body}")
        status, body = api_call(self.url, self.alice.api_key(), "GET",
                                f"/api/v1/projects/{self.project_id}/pages/architecture/history")
        check(status == 200 and body["count"] == 2, f"the history after bob is {status} {body}")

    def run(self, steps: Steps) -> None:
        steps.run("1. alice and bob sign up; alice: sfs project init", self.signups_and_project)
        steps.run("2. alice's agent: sfs mcp serve, initialize, the wiki tools in tools/list",
                  self.agent_starts)
        steps.run("3. update_wiki_page: create, update with a title, a slug with a slash, "
                  "an oversize page refused", self.agent_writes_pages)
        steps.run("4. list_wiki_pages, get_wiki_page, get_wiki_page_history (paged)",
                  self.agent_reads_pages)
        steps.run("5. the server holds the agent's pages and revisions", self.the_server_holds_them)
        steps.run("6. bob's agent can neither read nor write alice's pages",
                  self.another_users_agent_cannot)

    def cleanup(self) -> None:
        if self.agent is not None:
            self.agent.close()


def main(argv: list[str]) -> int:
    return run_agent_flow(__doc__.split("\n")[0], Flow, "sfs-mcp-wiki-e2e-", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
