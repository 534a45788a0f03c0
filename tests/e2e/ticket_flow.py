#!/usr/bin/env python3
"""End-to-end check of the ticket commands of the real `sfs` client (0.26.0).

Alice signs up, registers a project from a git checkout (`sfs project init`) and runs every
`sfs ticket` command against it: create (task, dependent task, issue, child), list with
filters, show, update, assign, start (the local bundle, the compiled context, a second start
refused), status, comment/comments, block/unblock, complete (with the bundle's lease),
reopen, resolve (dependents told), escalate, review-state, approve and dismiss of an
agent-filed ticket, close of an issue, follow/unfollow, watch --until-closed. Bob, who is not
in the project, cannot see any of it.

Not driven: `sfs ticket inbox` / `updates` (ticket notifications are not served) and
`sfs ticket jira` (no Jira integration).

Usage:
    python3 tests/e2e/ticket_flow.py --server-bin target/debug/sessionfs-server [--sfs PATH]

The helpers (users with throw-away HOMEs, the server, step bookkeeping) are those of
`sfs_client_flow.py`. The last line printed is "N passed, M failed".
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sfs_client_flow import (  # noqa: E402
    Server,
    Steps,
    User,
    api_call,
    check,
    expect,
    parse_args,
    table_row,
)

TICKET_ID_RE = re.compile(r"^tk_[0-9a-f]{16}$")


class TicketFlow:
    def __init__(self, url: str, sfs: str, root: Path) -> None:
        self.url = url
        self.transcript: list = []
        self.alice = User("alice", root, sfs, url, self.transcript)
        self.bob = User("bob", root, sfs, url, self.transcript)
        for user in (self.alice, self.bob):
            user.env.update(SFS_NO_TELEMETRY="1", SFS_SKILL_USAGE_REPORTING="0")
        self.repo = self.alice.home / "work" / "app"
        self.bob_repo = self.bob.home / "work" / "app"
        self.ids: dict[str, str] = {}
        self.project_id = ""

    # -- helpers ----------------------------------------------------------

    def a(self, *args: str):
        return self.alice.sfs("ticket", *args, cwd=self.repo)

    def api(self, method: str, path: str, body: dict | None = None):
        return api_call(self.url, self.alice.api_key(), method, path, body)

    def ticket(self, key: str) -> dict:
        status, body = self.api("GET", f"/api/v1/projects/{self.project_id}/tickets/{self.ids[key]}")
        check(status == 200, f"GET ticket {key} answered {status} {body}")
        return body

    def create(self, key: str, *args: str) -> None:
        r = expect(self.a("create", *args, "--output-id"))
        tid = r.stdout.strip()
        check(TICKET_ID_RE.match(tid) is not None, f"--output-id printed {tid!r}", r)
        self.ids[key] = tid

    def bundle(self) -> dict:
        path = self.alice.store_dir / "active_ticket.json"
        check(path.is_file(), f"{path} was not written")
        return json.loads(path.read_text())

    # -- steps --------------------------------------------------------------

    def setup(self) -> None:
        for user in (self.alice, self.bob):
            expect(user.sfs("auth", "signup", "--url", self.url, "--email",
                            f"{user.label}@example.test"), contains=("Account created",))
        for repo in (self.repo, self.bob_repo):
            repo.mkdir(parents=True)
            for git in (["git", "init", "-q"],
                        ["git", "remote", "add", "origin", "git@github.com:acme/app.git"]):
                subprocess.run(git, cwd=repo, check=True, capture_output=True)
        expect(self.alice.sfs("project", "init", cwd=self.repo), contains=("Project created",))
        status, body = self.api("GET", "/api/v1/projects/acme/app")
        check(status == 200, f"GET project answered {status} {body}")
        self.project_id = body["id"]

    def create_tickets(self) -> None:
        self.create("lexer", "--title", "Lexer emits tabs", "--description",
                    "Tabs must survive lexing.", "--priority", "high", "--criteria",
                    "tabs lexed", "--criteria", "tests pass", "--file", "src/lex.rs")
        self.create("parser", "--title", "Parser accepts tabs", "--depends-on", self.ids["lexer"])
        self.create("issue", "--title", "Tab support", "--kind", "issue")
        self.create("child", "--title", "Docs for tabs", "--parent", self.ids["issue"],
                    "--priority", "low")
        parser = self.ticket("parser")
        check(parser["depends_on"] == [self.ids["lexer"]], f"parser depends_on {parser}")
        check(self.ticket("child")["parent_ticket_id"] == self.ids["issue"], "child's parent")
        r = expect(self.a("create", "--title", "Decorated"), contains=("Created ticket tk_",))
        check("Decorated" in r.stdout, "create without --output-id names the title", r)

    def list_and_show(self) -> None:
        r = expect(self.a("list"))
        for key in ("lexer", "parser", "issue", "child"):
            check(self.ids[key] in r.stdout, f"`sfs ticket list` lacks {key}", r)
        r = expect(self.a("list", "--status", "open", "--priority", "high"))
        check(self.ids["lexer"] in r.stdout and self.ids["parser"] not in r.stdout,
              "--status open --priority high lists the lexer only", r)
        r = expect(self.a("list", "--kind", "issue"))
        check(self.ids["issue"] in r.stdout and self.ids["lexer"] not in r.stdout,
              "--kind issue lists the issue only", r)
        expect(self.a("list", "--status", "done"), contains=("No tickets match",))
        expect(self.a("show", self.ids["lexer"]),
               contains=("Lexer emits tabs", "Acceptance criteria", "tabs lexed", "src/lex.rs"))
        expect(self.a("show", self.ids["issue"]), contains=("Child tasks (1)", self.ids["child"]))
        expect(self.a("show", "tk_0000000000000000"), rc=1, contains=("not found",))

    def update_and_assign(self) -> None:
        expect(self.a("update", self.ids["child"], "--title", "Document tabs", "--priority",
                      "medium"), contains=("Updated",))
        child = self.ticket("child")
        check(child["title"] == "Document tabs" and child["priority"] == "medium", f"{child}")
        r = expect(self.a("comments", self.ids["child"]))
        check("title" in r.stdout and "system" in r.stdout,
              "the update left one system diff comment", r)
        expect(self.a("assign", self.ids["child"], "--to", "Scribe"), contains=("Assigned",))
        check(self.ticket("child")["assigned_to"] == "Scribe", "assigned_to is Scribe")

    def start_work(self) -> None:
        r = expect(self.a("start", self.ids["lexer"], "--tool", "claude-code"),
                   contains=("Started", "Current Ticket: Lexer emits tabs"))
        b = self.bundle()
        check(b.get("ticket_id") == self.ids["lexer"] and b.get("lease_epoch") == 1,
              f"bundle {b}", r)
        check(str(b.get("retrieval_audit_id", "")).startswith("ra_"), f"bundle {b}", r)
        expect(self.alice.sfs("ticket", "status", cwd=self.repo), contains=(self.ids["lexer"],))
        expect(self.a("start", self.ids["lexer"]), rc=1, contains=("already started",))
        # A ticket assigned to a name that is no persona cannot be started.
        r = expect(self.a("start", self.ids["child"]), rc=1, contains=("API error (400)",))

    def comment_block_complete(self) -> None:
        expect(self.a("comment", self.ids["lexer"], "--content", "Halfway: tabs lexed.",
                      "--as", "atlas"), contains=("Commented",))
        expect(self.a("comments", self.ids["lexer"]), contains=("Halfway: tabs lexed.", "atlas"))
        expect(self.a("block", self.ids["lexer"]), contains=(self.ids["lexer"],))
        check(self.ticket("lexer")["status"] == "blocked", "blocked")
        expect(self.a("unblock", self.ids["lexer"]), contains=(self.ids["lexer"],))
        expect(self.a("complete", self.ids["lexer"], "--notes", "Lexer keeps TAB tokens.",
                      "--file", "src/lex.rs"), contains=("Completed",))
        t = self.ticket("lexer")
        check(t["status"] == "review" and t["completion_notes"] == "Lexer keeps TAB tokens.",
              f"{t}")
        expect(self.a("reopen", self.ids["lexer"]), contains=(self.ids["lexer"],))
        check(self.ticket("lexer")["status"] == "open", "reopened")
        expect(self.a("start", self.ids["lexer"], "--no-print-context"), contains=("Started",))
        expect(self.a("complete", self.ids["lexer"], "--notes", "Lexer keeps TAB tokens."),
               contains=("Completed",))
        expect(self.a("review-state", self.ids["lexer"]), contains=("No review state",))

    def resolve_and_escalate(self) -> None:
        expect(self.a("resolve", self.ids["lexer"]), contains=("Resolved",))
        check(self.ticket("lexer")["status"] == "done", "done")
        expect(self.a("comments", self.ids["parser"]),
               contains=(f"Dependency #{self.ids['lexer']}", "Lexer keeps TAB tokens."))
        expect(self.a("escalate", self.ids["parser"], "--reason", "release blocker"))
        check(self.ticket("parser")["priority"] == "high", "escalated medium → high")
        expect(self.a("watch", self.ids["lexer"], "--until-closed", "--interval", "5"),
               contains=("Halfway: tabs lexed.",))

    def issue_and_suggestions(self) -> None:
        expect(self.a("start", self.ids["issue"], "--no-print-context"), contains=("Started",))
        expect(self.a("close", self.ids["issue"]), contains=(self.ids["issue"],))
        check(self.ticket("issue")["status"] == "closed", "closed")
        expect(self.a("close", self.ids["parser"]), rc=1, contains=("kind='task'",))
        status, body = self.api("POST", f"/api/v1/projects/{self.project_id}/tickets", {
            "title": "Agent idea", "source": "agent", "acceptance_criteria": ["works"],
            "description": "An agent noticed the tabs are lost in the printer too."})
        check(status == 201 and body["status"] == "suggested", f"{status} {body}")
        self.ids["idea"] = body["id"]
        expect(self.a("approve", self.ids["idea"]), contains=(self.ids["idea"],))
        check(self.ticket("idea")["status"] == "open", "approved")
        expect(self.a("approve", self.ids["idea"]), rc=1, contains=("Cannot transition",))
        expect(self.a("dismiss", self.ids["idea"]), contains=(self.ids["idea"],))
        check(self.ticket("idea")["status"] == "cancelled", "dismissed")

    def follow(self) -> None:
        expect(self.a("follow", self.ids["parser"]), contains=("Now following",))
        status, body = self.api(
            "GET", f"/api/v1/projects/{self.project_id}/tickets/{self.ids['parser']}/watchers")
        check(status == 200 and len(body) == 1, f"watchers {status} {body}")
        expect(self.a("unfollow", self.ids["parser"]), contains=("No longer following",))
        status, body = self.api(
            "GET", f"/api/v1/projects/{self.project_id}/tickets/{self.ids['parser']}/watchers")
        check(status == 200 and body == [], f"watchers {status} {body}")

    def bob_sees_nothing(self) -> None:
        r = self.bob.sfs("ticket", "list", cwd=self.bob_repo)
        expect(r, rc=1, contains=("No project found",))
        status, body = api_call(self.url, self.bob.api_key(), "GET",
                                f"/api/v1/tickets/{self.ids['lexer']}")
        check(status == 404, f"bob GET ticket by id answered {status} {body}")
        for result in self.transcript:
            check("Traceback (most recent call last)" not in result.output,
                  "the client printed a traceback", result)

    def run(self, steps: Steps) -> None:
        steps.run("t1. alice and bob sign up; alice: sfs project init", self.setup)
        steps.run("t2. sfs ticket create (task, dependent, issue, child)", self.create_tickets)
        steps.run("t3. sfs ticket list (filters) / show", self.list_and_show)
        steps.run("t4. sfs ticket update / assign", self.update_and_assign)
        steps.run("t5. sfs ticket start (bundle, context, twice) / status", self.start_work)
        steps.run("t6. sfs ticket comment / comments / block / unblock / complete / reopen / "
                  "review-state", self.comment_block_complete)
        steps.run("t7. sfs ticket resolve (dependents told) / escalate / watch",
                  self.resolve_and_escalate)
        steps.run("t8. sfs ticket start + close an issue; approve / dismiss a suggestion",
                  self.issue_and_suggestions)
        steps.run("t9. sfs ticket follow / unfollow", self.follow)
        steps.run("t10. bob sees no ticket", self.bob_sees_nothing)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sfs-tickets-e2e-"))
    steps = Steps()
    server = Server(args.server_bin, workdir) if args.server_bin else None
    url = server.url if server else args.url.rstrip("/")
    try:
        if server is not None:
            steps.run("0. start the server", server.start)
        TicketFlow(url, args.sfs, workdir / "homes").run(steps)
    finally:
        if server is not None:
            server.stop()
            if steps.failed:
                print(server.log_tail())
        if steps.failed:
            print(f"temporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{steps.passed} passed, {steps.failed} failed")
    return 0 if steps.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
