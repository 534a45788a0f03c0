#!/usr/bin/env python3
"""End-to-end check: drive the real `sfs` CLI against a sessionfs server.

The script plays a new user, step by step, with the published client
(PyPI `sessionfs==0.26.0`):

  * alice signs up, captures a Claude Code session, pushes it;
  * alice's second machine logs in with the same key and pulls it;
  * alice continues the session, pushes the change, the second machine
    pulls it again;
  * alice deletes it from the cloud, finds it in the trash, restores it;
  * bob signs up and cannot pull alice's session;
  * alice hands the session off to bob (`sfs handoff`); both see it in
    `sfs handoffs sent|inbox`; bob claims it with `sfs pull-handoff` (twice:
    the second claim is refused and tolerated), they comment on it, and a
    second and third handoff are declined by bob and revoked by alice;
  * alice turns on selective autosync, watches the session, checks the
    watchlist and `sfs sync status`, unwatches it and turns autosync off;
  * bob runs `sfs summary` (local-only in the client) on the pulled copy;
  * `sfs search --cloud` finds the session for alice and bob's copy for bob;
  * alice creates an org (`sfs org create`), checks `sfs org info|members`,
    invites bob (`sfs org invite`); bob accepts over the API (the client has
    no accept command); alice makes him admin and member again
    (`sfs org set-role`) and removes him (`sfs org remove`);
  * alice mints an org service key with scope handoffs:write (`sfs admin
    service-keys create`), lists it (prefix only), and the raw key passes the
    scope check on POST /api/v1/handoffs but is refused on a user route; she
    rotates it (the old secret stops working) and revokes it;
  * alice creates, lists and revokes a personal key (`sfs auth keys`);
  * no successful command printed a client fallback warning.

The session is created the way a Claude Code user gets one: a native
transcript under ~/.claude/projects/ is captured with `sfs import --from
claude-code`; after the transcript grows, `sfs daemon start` re-captures it
(import never updates a session it already has).

Every user gets a throw-away HOME, so the real ~/.sessionfs and ~/.claude
of whoever runs this are never read or written.

Usage:
    python3 tests/e2e/sfs_client_flow.py --server-bin target/debug/sessionfs-server
    python3 tests/e2e/sfs_client_flow.py --url http://127.0.0.1:8000   # existing server

Exit status is 0 only when every step passed. The last line printed is
"N passed, M failed".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SFS = REPO_ROOT / ".venv-sfs" / "bin" / "sfs"

# Distinctive words we look for after each transfer.
FIRST_WORD = "zephyrquokka"
SECOND_WORD = "marmaladeotter"
HANDOFF_MESSAGE = f"Please finish the {FIRST_WORD} eviction tests."
BOB_COMMENT = f"Picked it up; the {FIRST_WORD} tests are next."
ALICE_COMMENT = "Thanks! Ping me when they pass."
MODEL = "claude-sonnet-4-5-20250929"
ORG_NAME = "Acme Robotics"
SERVICE_KEY_NAME = "ci-bot"

SESSION_ID_RE = re.compile(r"^ses_[a-z0-9]{8,40}$")
API_KEY_RE = re.compile(r"^sk_sfs_[0-9a-f]{32}$")
ETAG_RE = re.compile(r"^[0-9a-f]{64}$")
HANDOFF_CREATED_RE = re.compile(r"Handoff created: (hnd_[0-9a-f]{16,32})\b")
HANDOFF_PULLED_RE = re.compile(r"Pulled handoff session (ses_[0-9a-z]+)")
COMMENT_POSTED_RE = re.compile(r"Comment (hcm_[0-9a-f]{16}) posted on (hnd_[0-9a-f]{16,32})")
ORG_ID_RE = re.compile(r"Org ID: (org_[0-9a-f]{16})\b")
INVITE_ID_RE = re.compile(r"Invite ID: (inv_[0-9a-f]{16})\b")
# `sfs admin service-keys create` / `sfs auth keys create`
KEY_CREATED_RE = re.compile(r"key created: id=(\S+) name=(\S+) prefix=(\S+)")
KEY_ROTATED_RE = re.compile(r"Rotated: new id=(\S+) prefix=(\S+) \(old key revoked\)")
RAW_KEY_RE = re.compile(r"Raw key: (\S+)")
KEY_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Things the client prints while still exiting 0. Any of them in the output
# of a successful command fails the last step (after the whole flow ran).
CLIENT_WARNINGS = {
    "Could not discover sync member-size cap from server":
        "push/pull got no max_member_bytes from GET /api/v1/sync/settings",
    "Sync request failed (attempt":
        "the client retried a request (429/502/503/504 or connection error)",
    "Traceback (most recent call last)": "the client printed a traceback",
}

COMMAND_TIMEOUT_S = 120
HEALTH_TIMEOUT_S = 30
DAEMON_CAPTURE_TIMEOUT_S = 45


# --------------------------------------------------------------------------
# Step bookkeeping
# --------------------------------------------------------------------------


class StepFailed(Exception):
    """A check inside a step did not hold. The message says what and why."""


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"  command : {' '.join(self.argv)}\n"
            f"  exit    : {self.returncode}\n"
            f"  stdout  :\n{_indent(self.stdout)}\n"
            f"  stderr  :\n{_indent(self.stderr)}"
        )

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _indent(text: str, prefix: str = "    | ") -> str:
    text = text.rstrip("\n")
    if not text:
        return prefix + "(empty)"
    return "\n".join(prefix + line for line in text.splitlines())


def expect(
    result: Result,
    *,
    rc: int = 0,
    contains: tuple[str, ...] = (),
    absent: tuple[str, ...] = (),
) -> Result:
    """Fail the step unless the command exited with `rc` and its combined
    stdout+stderr contains every string in `contains` and none in `absent`."""
    problems = []
    if result.returncode != rc:
        problems.append(f"expected exit code {rc}, got {result.returncode}")
    for text in contains:
        if text not in result.output:
            problems.append(f"expected output to contain {text!r}")
    for text in absent:
        if text in result.output:
            problems.append(f"expected output NOT to contain {text!r}")
    if problems:
        raise StepFailed("; ".join(problems) + "\n" + result.describe())
    return result


def check(condition: bool, message: str, result: Result | None = None) -> None:
    if not condition:
        raise StepFailed(message + ("\n" + result.describe() if result else ""))


class Steps:
    """Runs steps in order; stops at the first failure (later steps build on
    earlier ones) and keeps the pass/fail count."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped: list[str] = []
        self._stopped = False

    def run(self, name: str, fn: Callable[[], None], *, stop_on_failure: bool = True) -> None:
        """`stop_on_failure=False` is for a step nothing later builds on: its
        failure is counted but the steps after it still run."""
        if self._stopped:
            self.skipped.append(name)
            return
        print(f"--> {name}", flush=True)
        # Progress for `cargo test`, which shows this (stderr) live and captures stdout.
        print(f"[sfs e2e] {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            fn()
        except StepFailed as exc:
            self._fail(name, str(exc), stop_on_failure)
        except Exception:  # a bug or an unexpected client crash
            self._fail(name, "unexpected exception:\n" + traceback.format_exc(), stop_on_failure)
        else:
            self.passed += 1
            took = time.monotonic() - started
            print(f"    PASS ({took:.1f}s)", flush=True)
            print(f"[sfs e2e]     ok ({took:.1f}s)", file=sys.stderr, flush=True)

    def _fail(self, name: str, detail: str, stop: bool = True) -> None:
        self.failed += 1
        self._stopped = self._stopped or stop
        print(f"    FAIL: step '{name}'", flush=True)
        print(_indent(detail, "    "), flush=True)
        print(f"[sfs e2e]     FAILED: {name} (details in the test's failure message)",
              file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# A user = one HOME with its own ~/.sessionfs and ~/.claude
# --------------------------------------------------------------------------

# Only these variables reach the client; everything else (SFS_*,
# SESSIONFS_API_KEY/PROFILE/URL, XDG_*, CODEX_HOME, COPILOT_HOME, ...) would
# let the real user's config leak in or our runs leak out.
_PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")


class User:
    def __init__(self, label: str, root: Path, sfs: str, url: str,
                 transcript: list[Result]) -> None:
        self.label = label
        self.transcript = transcript  # every command run, for the warning scan
        self.sfs_bin = sfs
        self.url = url
        self.home = root / label
        self.home.mkdir(parents=True)
        self.env = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        self.env.update(
            HOME=str(self.home),
            USER=label,
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            # rich: very wide, plain output, so tables don't wrap and
            # `sfs list --json` (printed through rich) stays valid JSON
            COLUMNS="1000",
            NO_COLOR="1",
            TERM="dumb",
            PYTHONIOENCODING="utf-8",
        )

    # -- running the CLI -------------------------------------------------

    def sfs(self, *args: str, stdin: str | None = None, cwd: Path | None = None) -> Result:
        argv = [self.sfs_bin, *args]
        print(f"    [{self.label}] $ sfs {' '.join(args)}", flush=True)
        try:
            proc = subprocess.run(
                argv,
                env=self.env,
                cwd=cwd or self.home,
                input=stdin,
                # No stdin by default: an unexpected prompt must fail, not hang.
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(
                f"command timed out after {COMMAND_TIMEOUT_S}s: {' '.join(argv)}\n"
                f"  stdout:\n{_indent(_text(exc.stdout))}\n"
                f"  stderr:\n{_indent(_text(exc.stderr))}"
            ) from None
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        self.transcript.append(result)
        return result

    # -- the client's files ----------------------------------------------

    @property
    def store_dir(self) -> Path:
        return self.home / ".sessionfs"

    def config(self) -> dict:
        path = self.store_dir / "config.toml"
        check(path.is_file(), f"{path} does not exist")
        with open(path, "rb") as f:
            return tomllib.load(f)

    def api_key(self) -> str:
        return self.config().get("sync", {}).get("api_key", "")

    def session_dir(self, session_id: str) -> Path:
        return self.store_dir / "sessions" / f"{session_id}.sfs"

    def local_messages(self, session_id: str) -> str:
        path = self.session_dir(session_id) / "messages.jsonl"
        check(path.is_file(), f"{path} does not exist in {self.label}'s store")
        return path.read_text()

    def local_manifest(self, session_id: str) -> dict:
        path = self.session_dir(session_id) / "manifest.json"
        check(path.is_file(), f"{path} does not exist in {self.label}'s store")
        return json.loads(path.read_text())

    def local_sessions(self) -> dict[str, dict]:
        """`sfs list --json`, keyed by session id."""
        result = expect(self.sfs("list", "--json", "--all"))
        if "No sessions found" in result.stdout:
            return {}
        try:
            rows = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise StepFailed(f"`sfs list --json` is not JSON: {exc}\n" + result.describe())
        return {row["session_id"]: row for row in rows}


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def table_row(output: str, key: str) -> list[str]:
    """The cells of the rich-table row that contains `key` ([] if none)."""
    for line in output.splitlines():
        if key in line:
            return [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
    return []


# --------------------------------------------------------------------------
# A native Claude Code session on disk
# --------------------------------------------------------------------------


class ClaudeCodeSession:
    """A small Claude Code transcript under ~/.claude/projects/<project>/,
    written the way Claude Code writes it (one JSON event per line)."""

    def __init__(self, user: User) -> None:
        self.native_id = str(uuid.uuid4())
        self.project = user.home / "code" / "demo"
        self.project.mkdir(parents=True)
        encoded = str(self.project).replace("/", "-")
        self.path = user.home / ".claude" / "projects" / encoded / f"{self.native_id}.jsonl"
        self.path.parent.mkdir(parents=True)
        self._last_uuid: str | None = None
        self._clock = 0

    @property
    def sfs_id(self) -> str:
        # What the client derives from the native UUID (session_id.py).
        return "ses_" + self.native_id.replace("-", "")[:16]

    def say(self, user_text: str, assistant_text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(self._event("user", user_text)) + "\n")
            f.write(json.dumps(self._event("assistant", assistant_text)) + "\n")

    def _event(self, role: str, text: str) -> dict:
        self._clock += 7
        event_uuid = str(uuid.uuid4())
        event = {
            "parentUuid": self._last_uuid,
            "isSidechain": False,
            "userType": "external",
            "cwd": str(self.project),
            "sessionId": self.native_id,
            "version": "2.0.14",
            "gitBranch": "",
            "type": role,
            "uuid": event_uuid,
            "timestamp": f"2026-01-15T10:{self._clock // 60:02d}:{self._clock % 60:02d}.000Z",
        }
        if role == "user":
            event["message"] = {"role": "user", "content": text}
        else:
            event["requestId"] = "req_" + uuid.uuid4().hex[:24]
            event["message"] = {
                "id": "msg_" + uuid.uuid4().hex[:24],
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 120, "output_tokens": 45},
            }
        self._last_uuid = event_uuid
        return event


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# No proxy: a CI runner's HTTP(S)_PROXY must not swallow 127.0.0.1 traffic.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api_get_json(url: str, api_key: str, path: str) -> dict:
    """GET `path` with a user's key, for numbers the CLI does not print."""
    req = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"Bearer {api_key}"})
    try:
        with _NO_PROXY_OPENER.open(req, timeout=15) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise StepFailed(f"GET {path} answered {exc.code}: {exc.read()[:500]!r}") from None


def api_call(url: str, api_key: str, method: str, path: str,
             body: dict | None = None) -> tuple[int, object]:
    """Any request with a bearer key, for what the 0.26.0 CLI has no command
    for (accepting an invite) and for trying a raw service key. Returns
    (status, JSON body or text) and never raises on an HTTP error."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {api_key}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(f"{url}{path}", data=data, headers=headers, method=method)
    try:
        with _NO_PROXY_OPENER.open(req, timeout=15) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else ""
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def error_of(body: object) -> tuple[str, str, dict]:
    """(error.code, error.message, error.details) of an error envelope."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", {}
    return str(error.get("code", "")), str(error.get("message", "")), error.get("details") or {}


def health_status(url: str) -> int | None:
    try:
        with _NO_PROXY_OPENER.open(f"{url}/health", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


class Server:
    """Starts `<server-bin> serve --data-dir DIR --bind 127.0.0.1:PORT`."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.data_dir = workdir / "server-data"
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True)
        argv = [
            self.binary, "serve",
            "--data-dir", str(self.data_dir),
            "--bind", f"127.0.0.1:{self.port}",
        ]
        print(f"    $ {' '.join(argv)}", flush=True)
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "NO_COLOR": "1"},  # plain log, no ANSI codes
            )
        finally:
            log.close()
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StepFailed(
                    f"server exited with code {self.proc.returncode} before becoming healthy"
                )
            if health_status(self.url) == 200:
                return
            time.sleep(0.2)
        raise StepFailed(f"GET {self.url}/health did not return 200 within {HEALTH_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# The flow: one function per user action
# --------------------------------------------------------------------------


class Flow:
    def __init__(self, url: str, sfs: str, root: Path, email_tag: str) -> None:
        self.url = url
        self.alice_email = f"alice{email_tag}@example.test"
        self.bob_email = f"bob{email_tag}@example.test"
        self.transcript: list[Result] = []
        self.alice = User("alice", root, sfs, url, self.transcript)          # first machine
        self.laptop = User("alice-laptop", root, sfs, url, self.transcript)  # second machine
        self.bob = User("bob", root, sfs, url, self.transcript)
        self.carol_email = f"carol{email_tag}@example.test"
        self.carol = User("carol", root, sfs, url, self.transcript)        # not a party
        self.native: ClaudeCodeSession | None = None
        self.session_id = ""
        self.handoff_id = ""      # alice -> bob, claimed
        self.bob_session_id = ""  # bob's copy, made by the claim
        self.bob_copy_bytes = 0   # its archive size, as pull-handoff reports it
        # The team layer (steps 17-19). A slug is unique server-wide, so an
        # existing server (--url) gets one of its own.
        self.org_slug = "acme-robotics" + email_tag.replace("+", "-")
        self.org_id = ""
        self.org_seats = 0        # seats_limit of the new org
        self.invite_id = ""
        self.service_key_id = ""  # the current ci-bot key: id, raw key, prefix
        self.service_key = ""
        self.service_key_prefix = ""
        self.old_service_keys: list[tuple[str, str]] = []  # (id, raw) of revoked ones

    # 1 ------------------------------------------------------------------
    def alice_signs_up(self) -> None:
        # `--email` is a typer option with prompt="Email": given on the
        # command line it does not prompt.
        r = self.alice.sfs("auth", "signup", "--url", self.url, "--email", self.alice_email)
        expect(r, contains=(f"Account created for {self.alice_email}", "sk_sfs_"))
        sync = self.alice.config().get("sync", {})
        check(API_KEY_RE.match(sync.get("api_key", "")) is not None,
              f"config.toml [sync] api_key is not an sk_sfs_ key: {sync!r}", r)
        check(sync.get("api_url") == self.url,
              f"config.toml [sync] api_url is {sync.get('api_url')!r}, expected {self.url!r}", r)
        check(sync.get("api_key", "") in r.stdout,
              "the key printed by signup differs from the one saved in config.toml", r)

    def alice_checks_whoami(self) -> None:
        r = self.alice.sfs("auth", "whoami")
        expect(r, contains=(f"Identity:  {self.alice_email}", f"Server:    {self.url}"))
        tier = re.search(r"Tier:\s+(\S+)", r.stdout)
        check(tier is not None, "`sfs auth whoami` printed no tier", r)
        # A tier that cannot push (free) would make every later step fail
        # with "Authentication failed: 403"; say so right here.
        check(tier.group(1) != "free",
              "new account has tier 'free', which cannot push (cloud_sync needs starter+)", r)

    # 2 ------------------------------------------------------------------
    def alice_captures_a_session(self) -> None:
        self.native = ClaudeCodeSession(self.alice)
        self.native.say(
            f"Please explain the {FIRST_WORD} cache layer in this repo.",
            f"The {FIRST_WORD} cache layer keeps hot rows in memory and evicts them by age.",
        )
        self.native.say(
            f"Add a test for {FIRST_WORD} eviction.",
            f"Done: test_{FIRST_WORD}_eviction covers the age-based eviction.",
        )
        self.session_id = self.native.sfs_id
        check(SESSION_ID_RE.match(self.session_id) is not None,
              f"derived session id {self.session_id!r} is not a valid ses_ id")
        r = expect(self.alice.sfs("import", "--from", "claude-code"),
                   contains=("Found 1 Claude Code session(s).", "Imported 1 new session(s)."))
        sessions = self.alice.local_sessions()
        check(self.session_id in sessions,
              f"{self.session_id} is not in `sfs list --json` after import: {sorted(sessions)}", r)
        row = sessions[self.session_id]
        check(row.get("message_count") == 4,
              f"expected 4 messages locally, index says {row.get('message_count')!r}")
        check(row.get("source_tool") == "claude-code",
              f"expected source_tool 'claude-code', index says {row.get('source_tool')!r}")
        check(FIRST_WORD in self.alice.local_messages(self.session_id),
              f"{FIRST_WORD!r} is not in the captured messages.jsonl")

    # 3 ------------------------------------------------------------------
    def alice_pushes(self) -> None:
        r = self.alice.sfs("push", self.session_id)
        expect(r, contains=(f"Created remote session {self.session_id}",))
        etag = self.alice.local_manifest(self.session_id).get("sync", {}).get("etag", "")
        check(ETAG_RE.match(etag or "") is not None,
              f"after push the local manifest sync.etag is {etag!r}, expected 64 hex chars", r)
        check(etag[:16] in r.stdout, "the ETag printed by push differs from the saved one", r)

    # 4 ------------------------------------------------------------------
    def alice_lists_remote(self, messages: int = 4) -> None:
        r = expect(self.alice.sfs("list-remote"), contains=("Remote Sessions (1 total)",))
        row = table_row(r.stdout, self.session_id[:16])  # the table shows 16 chars
        check(bool(row), f"{self.session_id[:16]} is not listed by `sfs list-remote`", r)
        check("claude-code" in row, f"row does not show tool claude-code: {row}", r)
        check(MODEL in row, f"row does not show model {MODEL}: {row}", r)
        check(str(messages) in row, f"row does not show {messages} messages: {row}", r)
        # The server derives the title from the first user message; the
        # table cuts it to 30 characters.
        check(any(c.startswith("Please explain the") for c in row),
              f"row does not show the title 'Please explain the {FIRST_WORD} ...': {row}", r)

    # 5 ------------------------------------------------------------------
    def laptop_logs_in(self) -> None:
        key = self.alice.api_key()
        r = self.laptop.sfs("auth", "login", "--url", self.url, "--key", key)
        expect(r, contains=(f"Authenticated with {self.url}", "Server status: healthy"))
        check(self.laptop.api_key() == key, "login did not save the key in config.toml", r)
        expect(self.laptop.sfs("auth", "whoami"), contains=(f"Identity:  {self.alice_email}",))

    def laptop_pulls(self) -> None:
        r = self.laptop.sfs("pull", self.session_id)
        expect(r, contains=(f"Pulled session {self.session_id}",))
        check(FIRST_WORD in self.laptop.local_messages(self.session_id),
              f"{FIRST_WORD!r} is not in the pulled messages.jsonl", r)
        etag = self.laptop.local_manifest(self.session_id).get("sync", {}).get("etag")
        alice_etag = self.alice.local_manifest(self.session_id).get("sync", {}).get("etag")
        check(etag == alice_etag, f"pulled etag {etag!r} differs from pushed etag {alice_etag!r}", r)
        sessions = self.laptop.local_sessions()
        check(self.session_id in sessions,
              f"{self.session_id} is not in the laptop's `sfs list --json`: {sorted(sessions)}")
        check(sessions[self.session_id].get("message_count") == 4,
              f"laptop index shows {sessions[self.session_id].get('message_count')!r} messages, expected 4")
        r = expect(self.laptop.sfs("list-remote"), contains=("Remote Sessions (1 total)",))
        row = table_row(r.stdout, self.session_id[:16])
        check("yes" in row, f"list-remote does not mark the session as local on the laptop: {row}", r)

    # 6 ------------------------------------------------------------------
    def laptop_pulls_again_up_to_date(self) -> None:
        expect(self.laptop.sfs("pull", self.session_id),
               contains=("Session is up to date (304 Not Modified)",))

    # 7 ------------------------------------------------------------------
    def alice_continues_the_session(self) -> None:
        """Alice keeps chatting in Claude Code; the sfs daemon (as set up by
        `sfs init`) notices the transcript grew and re-captures it.
        `sfs import` only imports sessions it has not seen, and `sfs
        recapture` only knows sessions the daemon tracked, so the daemon
        is the client's way to pick up the change."""
        assert self.native is not None
        self.native.say(
            f"Now document the {SECOND_WORD} flag.",
            f"Documented {SECOND_WORD} in README.md under Configuration.",
        )
        expect(self.alice.sfs("daemon", "start"), contains=("Daemon started",))
        pid_file = self.alice.store_dir / "sfsd.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
        try:
            deadline = time.monotonic() + DAEMON_CAPTURE_TIMEOUT_S
            while True:
                try:
                    if SECOND_WORD in self.alice.local_messages(self.session_id):
                        break
                except StepFailed:
                    pass  # directory being swapped by the capture
                if time.monotonic() > deadline:
                    raise StepFailed(
                        f"the daemon did not re-capture the session within "
                        f"{DAEMON_CAPTURE_TIMEOUT_S}s; daemon.log tail:\n"
                        + _indent(_tail(self.alice.store_dir / "daemon.log"))
                    )
                time.sleep(0.5)
        finally:
            self.stop_daemon(self.alice, pid)
        count = self.alice.local_manifest(self.session_id).get("stats", {}).get("message_count")
        check(count == 6, f"after re-capture the manifest says {count!r} messages, expected 6")

    def stop_daemon(self, user: User, pid: int | None) -> None:
        user.sfs("daemon", "stop")
        if pid is None:
            return
        deadline = time.monotonic() + 15
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):  # the daemon we started ignored SIGTERM
            os.kill(pid, signal.SIGKILL)

    def alice_pushes_the_change(self) -> None:
        r = self.alice.sfs("push", self.session_id)
        expect(r, contains=(f"Updated remote session {self.session_id}",))
        self.alice_lists_remote(messages=6)

    def laptop_pulls_the_change(self) -> None:
        # The laptop has an older copy, so pull asks "Overwrite local?";
        # --force is the client's non-interactive answer.
        r = self.laptop.sfs("pull", self.session_id, "--force")
        expect(r, contains=(f"Pulled session {self.session_id}",))
        messages = self.laptop.local_messages(self.session_id)
        check(SECOND_WORD in messages, f"{SECOND_WORD!r} is not in the re-pulled messages.jsonl", r)
        alice_etag = self.alice.local_manifest(self.session_id).get("sync", {}).get("etag")
        etag = self.laptop.local_manifest(self.session_id).get("sync", {}).get("etag")
        check(etag == alice_etag, f"re-pulled etag {etag!r} differs from pushed etag {alice_etag!r}", r)

    # 8 ------------------------------------------------------------------
    def alice_deletes_from_cloud(self) -> None:
        r = self.alice.sfs("delete", self.session_id, "--cloud", "--force")
        expect(r, contains=("Deleted from cloud.", "Purge after: 20"))
        check(self.alice.session_dir(self.session_id).is_dir(),
              "`sfs delete --cloud` removed the local copy", r)
        expect(self.alice.sfs("list-remote"), contains=("No remote sessions found.",),
               absent=(self.session_id[:16],))
        expect(self.laptop.sfs("pull", self.session_id, "--force"), rc=1,
               contains=("not found on server",))

    # 9 ------------------------------------------------------------------
    def trash_lists_it(self) -> None:
        # On the laptop nothing was deleted locally, so the row can only
        # come from the server (`GET /sessions?deleted=true`).
        for user in (self.laptop, self.alice):
            # The title counts server rows + local tombstones, so alice (who
            # has a local tombstone for the same id) sees "2 entries" and one row.
            r = expect(user.sfs("trash"), contains=("Trash (",))
            row = table_row(r.stdout, self.session_id)
            check(bool(row), f"{self.session_id} is not in {user.label}'s `sfs trash`", r)
            check(r.stdout.count(self.session_id) == 1,
                  f"{self.session_id} is listed more than once in the trash", r)
            check("cloud" in row, f"trash row does not show scope 'cloud': {row}", r)
            check("local only" not in r.stdout, "trash shows the session as local-only", r)
            check(any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", c) for c in row),
                  f"trash row shows no deleted/purge dates: {row}", r)

    # 10 -----------------------------------------------------------------
    def alice_restores(self) -> None:
        r = self.alice.sfs("restore", self.session_id)
        expect(r, contains=(f"Restored session {self.session_id} on server.",))
        expect(self.alice.sfs("trash"), contains=("Trash is empty.",))

    # 11 -----------------------------------------------------------------
    def list_remote_shows_it_again(self) -> None:
        self.alice_lists_remote(messages=6)
        expect(self.laptop.sfs("pull", self.session_id),
               contains=("Session is up to date (304 Not Modified)",))

    # 12 -----------------------------------------------------------------
    def bob_cannot_see_alices_session(self) -> None:
        r = self.bob.sfs("auth", "signup", "--url", self.url, "--email", self.bob_email)
        expect(r, contains=(f"Account created for {self.bob_email}",))
        check(self.bob.api_key() != self.alice.api_key(), "bob got alice's API key", r)
        expect(self.bob.sfs("pull", self.session_id), rc=1,
               contains=(f"Session {self.session_id} not found on server",))
        check(not self.bob.session_dir(self.session_id).exists(),
              "a failed pull left alice's session in bob's store")
        expect(self.bob.sfs("list-remote"), contains=("No remote sessions found.",))
        expect(self.bob.sfs("delete", self.session_id, "--cloud", "--force"), rc=1,
               contains=("Session not found on server.",))
        # ... and alice's copy is untouched by bob's attempt.
        self.alice_lists_remote(messages=6)

    # 13 -----------------------------------------------------------------
    def alice_hands_off_to_bob(self) -> None:
        self.handoff_id = self.send_handoff(message=HANDOFF_MESSAGE)
        # The push `sfs handoff` does first leaves one remote session.
        self.alice_lists_remote(messages=6)

    def send_handoff(self, message: str = "") -> str:
        """alice: `sfs handoff <session> --to bob` (pushes, then POST /handoffs)."""
        args = ["handoff", self.session_id, "--to", self.bob_email]
        if message:
            args += ["--message", message]
        r = self.alice.sfs(*args)
        expect(r, contains=(f"Ensuring session {self.session_id[:12]} is synced...",
                            f"Recipient: {self.bob_email}", "Expires: ",
                            "Recipient can pull with:"))
        m = HANDOFF_CREATED_RE.search(r.stdout)
        check(m is not None, "`sfs handoff` printed no 'Handoff created: hnd_<16–32 hex>'", r)
        handoff_id = m.group(1)
        check(f"sfs pull-handoff {handoff_id}" in r.stdout,
              "`sfs handoff` does not tell the recipient how to pull it", r)
        expires = re.search(r"Expires: (\S+)", r.stdout)
        check(expires is not None and re.match(r"\d{4}-\d{2}-\d{2}T", expires.group(1)) is not None,
              "`sfs handoff` printed no RFC 3339 expiry", r)
        return handoff_id

    def handoff_row(self, user: User, box: str, handoff_id: str, title: str,
                    cells: tuple[str, ...]) -> list[str]:
        """`sfs handoffs inbox|sent` has `title` and a row for `handoff_id`
        showing every cell in `cells`, the session title and a date."""
        r = expect(user.sfs("handoffs", box), contains=(title,))
        row = table_row(r.stdout, handoff_id)
        check(bool(row), f"{handoff_id} is not in {user.label}'s `sfs handoffs {box}`", r)
        for cell in cells:
            check(cell in row, f"`sfs handoffs {box}` row does not show {cell!r}: {row}", r)
        check(any(c.startswith("Please explain the") for c in row),
              f"`sfs handoffs {box}` row does not show the session title: {row}", r)
        check(any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", c) for c in row),
              f"`sfs handoffs {box}` row shows no created date: {row}", r)
        return row

    def both_see_the_handoff(self) -> None:
        self.handoff_row(self.alice, "sent", self.handoff_id, "Sent (1 handoffs)",
                         (self.bob_email, "pending"))
        # `sfs handoffs inbox` calls GET /api/v1/handoffs/inbox/ (trailing
        # slash, redirects not followed).
        self.handoff_row(self.bob, "inbox", self.handoff_id, "Inbox (1 handoffs)",
                         (self.alice_email, "claude-code", "pending"))
        r = self.bob.sfs("handoffs", "get", self.handoff_id)
        expect(r, contains=(f"{self.handoff_id} (individual)", "Status: pending",
                            f"From: {self.alice_email}", f"To: {self.bob_email}",
                            f"({self.session_id[:16]})", "Session: Please explain the",
                            "Created: ", "Expires: ", "Events (", "created"))
        # The sender is not a recipient.
        expect(self.alice.sfs("handoffs", "inbox"), contains=("No incoming handoffs.",))
        expect(self.bob.sfs("handoffs", "sent"), contains=("No sent handoffs.",))

    def bob_pulls_the_handoff(self) -> None:
        r = self.bob.sfs("pull-handoff", self.handoff_id)
        expect(r, contains=(f"Fetching handoff {self.handoff_id}...",
                            "Session: Please explain the", f"From: {self.alice_email}",
                            f"Message: {HANDOFF_MESSAGE}"),
               absent=("could not claim", "already claimed"))
        m = HANDOFF_PULLED_RE.search(r.stdout)
        check(m is not None, "`sfs pull-handoff` printed no 'Pulled handoff session ses_...'", r)
        self.bob_session_id = m.group(1)
        check(SESSION_ID_RE.match(self.bob_session_id) is not None,
              f"the claimed copy's id {self.bob_session_id!r} is not a valid ses_ id", r)
        check(self.bob_session_id != self.session_id,
              "the claim returned alice's session id instead of a copy for bob", r)
        check(f"sfs resume {self.bob_session_id} --in claude-code" in r.stdout,
              "`sfs pull-handoff` does not say how to resume", r)
        size = re.search(r"Size: ([\d,]+) bytes", r.stdout)
        check(size is not None, "`sfs pull-handoff` printed no 'Size: N bytes'", r)
        self.bob_copy_bytes = int(size.group(1).replace(",", ""))
        # The copy (alice's latest push, 6 messages) is in bob's store.
        messages = self.bob.local_messages(self.bob_session_id)
        for word in (FIRST_WORD, SECOND_WORD):
            check(word in messages, f"{word!r} is not in bob's pulled messages.jsonl", r)
        check(not self.bob.session_dir(self.session_id).exists(),
              "alice's own session id appeared in bob's store", r)
        etag = self.bob.local_manifest(self.bob_session_id).get("sync", {}).get("etag", "")
        check(ETAG_RE.match(etag or "") is not None,
              f"bob's pulled manifest sync.etag is {etag!r}, expected 64 hex chars", r)
        sessions = self.bob.local_sessions()
        check(self.bob_session_id in sessions,
              f"{self.bob_session_id} is not in bob's `sfs list --json`: {sorted(sessions)}")
        check(sessions[self.bob_session_id].get("message_count") == 6,
              f"bob's index shows {sessions[self.bob_session_id].get('message_count')!r} messages, expected 6")
        # The copy is a remote session of bob's own ...
        r = expect(self.bob.sfs("list-remote"), contains=("Remote Sessions (1 total)",))
        row = table_row(r.stdout, self.bob_session_id[:16])
        check(bool(row), f"{self.bob_session_id[:16]} is not in bob's `sfs list-remote`", r)
        for cell in ("claude-code", MODEL, "6", "yes"):
            check(cell in row, f"bob's list-remote row does not show {cell!r}: {row}", r)
        check(any(c.startswith("Please explain the") for c in row),
              f"bob's copy lost the title: {row}", r)
        # ... and alice keeps hers; her sent box says claimed.
        self.alice_lists_remote(messages=6)
        self.handoff_row(self.alice, "sent", self.handoff_id, "Sent (1 handoffs)",
                         (self.bob_email, "claimed"))
        self.handoff_row(self.bob, "inbox", self.handoff_id, "Inbox (1 handoffs)",
                         (self.alice_email, "claimed"))

    def bob_pulls_the_handoff_again(self) -> None:
        # The claim answers 409 "Handoff already claimed"; the client goes on
        # and pulls the same copy. Bob's copy exists locally now, so pull
        # asks "Overwrite?"; --force is the non-interactive answer.
        r = self.bob.sfs("pull-handoff", self.handoff_id, "--force")
        expect(r, contains=("Handoff already claimed — continuing with pull.",
                            f"Pulled handoff session {self.bob_session_id}"),
               absent=("could not claim",))
        check(FIRST_WORD in self.bob.local_messages(self.bob_session_id),
              f"{FIRST_WORD!r} is not in bob's re-pulled messages.jsonl", r)
        # No second copy was made.
        expect(self.bob.sfs("list-remote"), contains=("Remote Sessions (1 total)",))

    def they_comment_on_the_handoff(self) -> None:
        r = expect(self.bob.sfs("handoffs", "comment", self.handoff_id, "--message", BOB_COMMENT))
        m = COMMENT_POSTED_RE.search(r.stdout)
        check(m is not None and m.group(2) == self.handoff_id,
              "`sfs handoffs comment` printed no 'Comment hcm_<16 hex> posted on <handoff>'", r)
        expect(self.alice.sfs("handoffs", "comment", self.handoff_id, "-m", ALICE_COMMENT),
               contains=(f"posted on {self.handoff_id}.",))
        for user in (self.alice, self.bob):
            r = expect(user.sfs("handoffs", "comments", self.handoff_id),
                       contains=(BOB_COMMENT, ALICE_COMMENT))
            check(r.stdout.index(BOB_COMMENT) < r.stdout.index(ALICE_COMMENT),
                  "`sfs handoffs comments` is not oldest first", r)
        r = expect(self.alice.sfs("handoffs", "events", self.handoff_id))
        events = re.findall(r"^\[[^\]]+\] (\w+)", r.stdout, re.M)
        check(events == ["created", "viewed", "claimed", "commented", "commented"],
              f"handoff events are {events}, expected created, viewed (bob's first GET), "
              f"claimed, commented x2", r)
        # Someone who is neither sender nor recipient sees nothing (404).
        r = self.carol.sfs("auth", "signup", "--url", self.url, "--email", self.carol_email)
        expect(r, contains=(f"Account created for {self.carol_email}",))
        expect(self.carol.sfs("handoffs", "inbox"), contains=("No incoming handoffs.",))
        expect(self.carol.sfs("handoffs", "comments", self.handoff_id), rc=1,
               contains=("Failed: 404",))
        expect(self.carol.sfs("handoffs", "comment", self.handoff_id, "-m", "hi"), rc=1,
               contains=("Comment failed: 404",))
        expect(self.carol.sfs("pull-handoff", self.handoff_id), rc=1,
               contains=("Failed to get handoff", "Handoff not found"))

    def bob_declines_a_second_handoff(self) -> None:
        declined = self.send_handoff()
        self.handoff_row(self.bob, "inbox", declined, "Inbox (2 handoffs)",
                         (self.alice_email, "pending"))
        expect(self.bob.sfs("handoffs", "decline", declined, "--reason", "busy this week"),
               contains=(f"Handoff {declined} declined.",))
        self.handoff_row(self.bob, "inbox", declined, "Inbox (2 handoffs)",
                         (self.alice_email, "declined"))
        self.handoff_row(self.alice, "sent", declined, "Sent (2 handoffs)",
                         (self.bob_email, "declined"))
        # Declined is final.
        expect(self.bob.sfs("handoffs", "decline", declined), rc=1,
               contains=("Decline failed: 409", "Cannot decline a declined handoff"))
        expect(self.alice.sfs("handoffs", "revoke", declined, "--reason", "too late"), rc=1,
               contains=("Revoke failed: 409", "Cannot revoke a declined handoff"))
        # pull-handoff: the claim is refused (409), so the client falls back
        # to alice's own session id, which bob cannot read.
        r = self.bob.sfs("pull-handoff", declined)
        expect(r, rc=1, contains=(f"Session {self.session_id} not found on server",))
        check(not self.bob.session_dir(self.session_id).exists(),
              "pulling a declined handoff put alice's session in bob's store", r)
        expect(self.bob.sfs("list-remote"), contains=("Remote Sessions (1 total)",))
        r = expect(self.alice.sfs("handoffs", "events", declined))
        events = re.findall(r"^\[[^\]]+\] (\w+)", r.stdout, re.M)
        # bob's first GET (by pull-handoff, after declining) records `viewed`.
        check(events == ["created", "declined", "viewed"],
              f"events are {events}, expected created, declined, viewed", r)
        check("busy this week" in r.stdout, "the decline reason is not in the declined event", r)

    def alice_revokes_a_third_handoff(self) -> None:
        revoked = self.send_handoff(message="Take this one too.")
        # Only the sender may revoke; bob gets 404.
        expect(self.bob.sfs("handoffs", "revoke", revoked, "--reason", "not mine"), rc=1,
               contains=("Revoke failed: 404",))
        expect(self.alice.sfs("handoffs", "revoke", revoked, "--reason", "sent by mistake"),
               contains=(f"Handoff {revoked} revoked.",))
        self.handoff_row(self.alice, "sent", revoked, "Sent (3 handoffs)",
                         (self.bob_email, "revoked"))
        self.handoff_row(self.bob, "inbox", revoked, "Inbox (3 handoffs)",
                         (self.alice_email, "revoked"))
        expect(self.bob.sfs("handoffs", "get", revoked),
               contains=("Status: revoked", "Revoked: ", "sent by mistake"))
        expect(self.bob.sfs("handoffs", "decline", revoked), rc=1,
               contains=("Decline failed: 409", "Cannot decline a revoked handoff"))
        expect(self.alice.sfs("handoffs", "revoke", revoked, "--reason", "again"), rc=1,
               contains=("Revoke failed: 409", "Cannot revoke a revoked handoff"))
        # The three handoffs keep their own states.
        self.handoff_row(self.alice, "sent", self.handoff_id, "Sent (3 handoffs)",
                         (self.bob_email, "claimed"))

    # 14 -----------------------------------------------------------------
    def alice_turns_on_selective_autosync(self) -> None:
        expect(self.alice.sfs("sync", "status"),
               contains=("Autosync: off", "Run 'sfs sync auto --mode all' to enable."))
        expect(self.alice.sfs("sync", "auto", "--mode", "selective"),
               contains=("Autosync enabled: selective mode.",), absent=("Failed",))
        # `sfs sync watch` exits 0 even when the server refuses: read the text.
        for _ in range(2):  # watching twice is harmless
            expect(self.alice.sfs("sync", "watch", self.session_id),
                   contains=(f"Session {self.session_id} added to autosync watchlist.",),
                   absent=("Failed to watch",))
        # bob cannot watch alice's session.
        expect(self.bob.sfs("sync", "watch", self.session_id),
               contains=(f"Failed to watch {self.session_id} (404)",),
               absent=("added to autosync watchlist",))

    def alice_checks_watchlist_and_status(self) -> None:
        r = expect(self.alice.sfs("sync", "watchlist"),
                   contains=("Autosync Watchlist (1 sessions)",))
        row = table_row(r.stdout, self.session_id)
        check(row == [self.session_id, "claude-code", "6", "pending", "never"],
              f"watchlist row is {row}, expected [id, claude-code, 6, pending, never]", r)
        expect(self.bob.sfs("sync", "watchlist"), contains=("Watchlist is empty.",))
        r = expect(self.alice.sfs("sync", "status"),
                   contains=("Autosync: selective", "Watched:  1 sessions", "Total:    1 sessions"),
                   absent=("Queued:", "Failed:"))
        # The CLI prints storage only when the tier has a limit; check the
        # numbers behind it directly.
        alice = api_get_json(self.url, self.alice.api_key(), "/api/v1/sync/status")
        check(alice.get("total_sessions") == 1 and alice.get("synced_sessions") == 1,
              f"alice's /sync/status counts are wrong: {alice}", r)
        used, limit = alice.get("storage_used_bytes"), alice.get("storage_limit_bytes")
        check(isinstance(used, int) and used > 0,
              f"alice's storage_used_bytes is {used!r} with one pushed session: {alice}", r)
        check(isinstance(limit, int) and limit >= 0, f"storage_limit_bytes is {limit!r}", r)
        if limit > 0:
            check(re.search(r"Storage:\s+\d+ MB / \d+ MB \(\d+%\)", r.stdout) is not None,
                  "`sfs sync status` shows no 'Storage: N MB / M MB (P%)' line", r)
        else:
            check("Storage:" not in r.stdout, "unlimited storage printed as a limit", r)
        # bob owns exactly the copy the claim made, counted at the size of
        # the archive he pulled (alice has re-pushed since, so hers differs).
        expect(self.bob.sfs("sync", "status"), contains=("Autosync: off",))
        bob = api_get_json(self.url, self.bob.api_key(), "/api/v1/sync/status")
        check(bob.get("total_sessions") == 1 and bob.get("watched_sessions") == 0,
              f"bob's /sync/status counts are wrong (one claimed copy, nothing watched): {bob}", r)
        check(bob.get("storage_used_bytes") == self.bob_copy_bytes,
              f"bob's storage_used_bytes is {bob.get('storage_used_bytes')}, but the copy "
              f"he pulled is {self.bob_copy_bytes} bytes", r)

    def alice_unwatches_and_turns_autosync_off(self) -> None:
        expect(self.alice.sfs("sync", "unwatch", self.session_id),
               contains=(f"Session {self.session_id} removed from autosync watchlist.",),
               absent=("Failed to unwatch",))
        expect(self.alice.sfs("sync", "watchlist"), contains=("Watchlist is empty.",))
        expect(self.alice.sfs("sync", "auto", "--mode", "off"),
               contains=("Autosync disabled. Sessions will not sync automatically.",))
        expect(self.alice.sfs("sync", "status"), contains=("Autosync: off",),
               absent=("Watched:",))
        status = api_get_json(self.url, self.alice.api_key(), "/api/v1/sync/status")
        check(status.get("mode") == "off" and status.get("watched_sessions") == 0,
              f"after unwatch + off, /sync/status is {status}")

    # 15 -----------------------------------------------------------------
    def bob_summarizes_the_pulled_session(self) -> None:
        """`sfs summary` is local-only in the client (no command calls
        /sessions/{id}/summary): it reads the pulled archive, which shows
        the copy bob got is complete and usable."""
        r = expect(self.bob.sfs("summary", self.bob_session_id))
        lines = r.stdout.splitlines()
        check(bool(lines) and lines[0].startswith("Please explain the"),
              "`sfs summary` does not start with the session title", r)
        # The tool shows as "unknown": the client's summarizer reads
        # manifest["source_tool"], a key .sfs manifests do not have (they
        # have source.tool), for every local session, pulled or not.
        check(re.search(r"\| 6 msgs \| 0 tool calls \|", r.stdout) is not None,
              "`sfs summary` does not show '6 msgs | 0 tool calls'", r)
        check("Commands: 0" in r.stdout, "`sfs summary` shows no command count", r)
        # `summary` is a command group: its options go before the id.
        r = expect(self.bob.sfs("summary", "--format", "md", self.bob_session_id),
                   contains=("**Messages:** 6", "## Activity", "- Commands executed: 0"))
        check(r.stdout.startswith("# Please explain the"),
              "`sfs summary --format md` does not start with '# <title>'", r)

    # 16 -----------------------------------------------------------------
    def search(self, user: User, *args: str) -> Result:
        r = user.sfs("search", *args, "--cloud")
        if r.returncode != 0 and "Search failed (404)" in r.output:
            raise StepFailed("GET /api/v1/sessions/search answered 404: the server has no "
                             "search route yet (01 §5.11)\n" + r.describe())
        return r

    def cloud_search_finds_the_session(self) -> None:
        r = expect(self.search(self.alice, FIRST_WORD, "--json"))
        try:
            results = json.loads(r.stdout)
        except json.JSONDecodeError as exc:
            raise StepFailed(f"`sfs search --json` is not JSON: {exc}\n" + r.describe())
        ids = [x.get("session_id") for x in results]
        check(ids == [self.session_id], f"alice's search found {ids}, expected [{self.session_id}]", r)
        hit = results[0]
        check(hit.get("source_tool") == "claude-code", f"result tool is {hit.get('source_tool')!r}", r)
        check((hit.get("title") or "").startswith("Please explain the"),
              f"result title is {hit.get('title')!r}", r)
        snippet = (hit.get("matches") or [{}])[0].get("snippet", "")
        check(FIRST_WORD in re.sub(r"</?mark>", "", snippet).lower(),
              f"the first match's snippet does not contain {FIRST_WORD!r}: {snippet!r}", r)
        # The table form, for the word alice added later.
        r = expect(self.search(self.alice, SECOND_WORD),
                   contains=(f"Cloud Search: {SECOND_WORD} (1 total)",))
        check(bool(table_row(r.stdout, self.session_id)),
              f"{self.session_id} is not in the `sfs search {SECOND_WORD} --cloud` table", r)
        # bob finds his claimed copy, never alice's session.
        r = expect(self.search(self.bob, FIRST_WORD, "--json"))
        ids = [x.get("session_id") for x in json.loads(r.stdout)]
        check(ids == [self.bob_session_id],
              f"bob's search found {ids}, expected only his copy [{self.bob_session_id}]", r)
        expect(self.search(self.carol, FIRST_WORD), contains=(f"No cloud results for '{FIRST_WORD}'",))
        expect(self.search(self.alice, "nosuchwordanywhere"),
               contains=("No cloud results for 'nosuchwordanywhere'",))

    # 17 -----------------------------------------------------------------
    # The team layer: alice creates an org, invites bob, changes his role
    # and removes him. `sfs org info` and `sfs org members` both read
    # GET /api/v1/org.
    def org_row(self, user: User, command: str, email: str) -> list[str]:
        """The row for `email` in `sfs org <command>` ([] if absent)."""
        r = expect(user.sfs("org", command))
        return table_row(r.stdout, email)

    def alice_creates_an_org(self) -> None:
        expect(self.alice.sfs("org", "info"),
               contains=("You are not part of an organization.",
                         "Create one with: sfs org create <name> <slug>"))
        r = expect(self.alice.sfs("org", "create", ORG_NAME, self.org_slug),
                   contains=(f"Organization created: {ORG_NAME} ({self.org_slug})",))
        m = ORG_ID_RE.search(r.stdout)
        check(m is not None, "`sfs org create` printed no 'Org ID: org_<16 hex>'", r)
        self.org_id = m.group(1)
        org = api_get_json(self.url, self.alice.api_key(), "/api/v1/org")
        check((org.get("org") or {}).get("id") == self.org_id,
              f"GET /api/v1/org has org.id {(org.get('org') or {}).get('id')!r}, but create "
              f"printed {self.org_id}: {org}", r)
        check(org.get("current_user_role") == "owner",
              f"the creator's role is {org.get('current_user_role')!r}, expected owner: {org}", r)
        # One org per user; a slug is taken once.
        expect(self.alice.sfs("org", "create", "Second Org", self.org_slug + "-2"), rc=1,
               contains=("API error (409)", "You are already a member of an organization"))
        expect(self.carol.sfs("org", "create", "Copycat", self.org_slug), rc=1,
               contains=("API error (409)", f"Organization slug '{self.org_slug}' is already taken"))
        expect(self.carol.sfs("org", "info"), contains=("You are not part of an organization.",))

    def alice_sees_her_org(self) -> None:
        # The org takes the creator's tier when it is team or enterprise (else
        # team), and 25 seats for enterprise, 5 otherwise (03 §2.1).
        tier = api_get_json(self.url, self.alice.api_key(), "/api/v1/auth/me").get("tier")
        org_tier = tier if tier in ("team", "enterprise") else "team"
        self.org_seats = 25 if org_tier == "enterprise" else 5
        r = expect(self.alice.sfs("org", "info"),
                   contains=(f"{ORG_NAME} ({self.org_slug})", f"Tier: {org_tier}",
                             f"Seats: 1 / {self.org_seats}", "Your role: owner", "Members"))
        row = table_row(r.stdout, self.alice_email)
        check(len(row) == 3 and row[:2] == [self.alice_email, "owner"]
              and DATE_RE.fullmatch(row[2]) is not None,
              f"`sfs org info` member row is {row}, expected [{self.alice_email}, owner, <date>]", r)
        r = expect(self.alice.sfs("org", "members"),
                   contains=(f"{ORG_NAME} — Members (1/{self.org_seats})",))
        row = table_row(r.stdout, self.alice_email)
        check(bool(row) and row[0] == self.alice_email and row[-2] == "owner"
              and DATE_RE.fullmatch(row[-1]) is not None,
              f"`sfs org members` row is {row}, expected [{self.alice_email}, (name,) owner, <date>]", r)

    def alice_invites_bob(self) -> None:
        r = expect(self.alice.sfs("org", "invite", self.bob_email),
                   contains=(f"Invite sent to {self.bob_email} as member",
                             "The invite expires in 7 days."))
        m = INVITE_ID_RE.search(r.stdout)
        check(m is not None, "`sfs org invite` printed no 'Invite ID: inv_<16 hex>'", r)
        self.invite_id = m.group(1)
        # While it is pending a second invite is refused; bob is not in yet.
        expect(self.alice.sfs("org", "invite", self.bob_email, "--role", "admin"), rc=1,
               contains=("API error (409)", "An active invite already exists for this email"))
        expect(self.bob.sfs("org", "info"), contains=("You are not part of an organization.",))
        pending = api_get_json(self.url, self.alice.api_key(), "/api/v1/org/invites")
        ids = [i.get("id") for i in pending.get("invites", [])]
        check(ids == [self.invite_id], f"alice's pending invites are {ids}, expected [{self.invite_id}]")

    def bob_accepts_the_invite(self) -> None:
        """The 0.26.0 client has no accept command (only the dashboard
        accepts), so bob finds his invite and accepts it over the API."""
        mine = api_get_json(self.url, self.bob.api_key(), "/api/v1/org/invites/me")
        invites = mine.get("invites")
        check(isinstance(invites, list) and len(invites) == 1,
              f"GET /api/v1/org/invites/me for bob is {mine}, expected one invite")
        invite = invites[0]
        expected = {"invite_id": self.invite_id, "org_id": self.org_id, "org_name": ORG_NAME,
                    "role": "member", "invited_by_email": self.alice_email}
        wrong = {k: invite.get(k) for k, v in expected.items() if invite.get(k) != v}
        check(not wrong, f"bob's invite differs from {expected} in {wrong}: {invite}")
        # carol has none, and cannot take bob's.
        carol = api_get_json(self.url, self.carol.api_key(), "/api/v1/org/invites/me")
        check(carol.get("invites") == [], f"carol's /org/invites/me is {carol}, expected no invites")
        accept = f"/api/v1/org/invite/{self.invite_id}/accept"
        status, body = api_call(self.url, self.carol.api_key(), "POST", accept)
        check(status == 403 and error_of(body)[1] == "This invite is for a different email address",
              f"carol's POST {accept} answered {status} {body}, expected 403 'This invite is "
              f"for a different email address'")
        status, body = api_call(self.url, self.bob.api_key(), "POST", accept)
        check(status == 200 and body == {"org_id": self.org_id, "role": "member"},
              f"bob's POST {accept} answered {status} {body}, expected 200 "
              f"{{org_id: {self.org_id}, role: member}}")
        status, body = api_call(self.url, self.bob.api_key(), "POST", accept)
        check(status == 400 and error_of(body)[1] == "Invite already accepted",
              f"accepting twice answered {status} {body}, expected 400 'Invite already accepted'")
        mine = api_get_json(self.url, self.bob.api_key(), "/api/v1/org/invites/me")
        check(mine.get("invites") == [], f"an accepted invite is still listed for bob: {mine}")

    def both_see_bob_in_the_org(self) -> None:
        r = expect(self.alice.sfs("org", "members"),
                   contains=(f"{ORG_NAME} — Members (2/{self.org_seats})",))
        for email, role in ((self.alice_email, "owner"), (self.bob_email, "member")):
            row = table_row(r.stdout, email)
            check(bool(row) and row[0] == email and row[-2] == role
                  and DATE_RE.fullmatch(row[-1]) is not None,
                  f"`sfs org members` row for {email} is {row}, expected role {role} and a date", r)
        # Any member reads the org; only admins invite.
        r = expect(self.bob.sfs("org", "info"),
                   contains=(f"{ORG_NAME} ({self.org_slug})", f"Seats: 2 / {self.org_seats}",
                             "Your role: member"))
        check(table_row(r.stdout, self.alice_email)[:2] == [self.alice_email, "owner"],
              "bob's `sfs org info` does not list alice as owner", r)
        expect(self.bob.sfs("org", "invite", self.carol_email), rc=1,
               contains=("API error (403)", "This action requires the admin role."))

    def alice_changes_bobs_role(self) -> None:
        for role in ("admin", "member"):
            # An email is resolved through GET /api/v1/org, then PUT .../role.
            expect(self.alice.sfs("org", "set-role", self.bob_email, role),
                   contains=(f"Role for {self.bob_email} changed to {role}.",))
            row = self.org_row(self.alice, "members", self.bob_email)
            check(bool(row) and row[-2] == role, f"after set-role {role}, bob's row is {row}")
            expect(self.bob.sfs("org", "info"), contains=(f"Your role: {role}",))
        # The client refuses other roles before any request ...
        expect(self.alice.sfs("org", "set-role", self.bob_email, "owner"), rc=2,
               contains=("Role must be 'admin' or 'member'.",))
        # ... and the server refuses a member changing roles.
        expect(self.bob.sfs("org", "set-role", self.alice_email, "member"), rc=1,
               contains=("API error (403)", "This action requires the admin role."))
        row = self.org_row(self.alice, "members", self.alice_email)
        check(bool(row) and row[-2] == "owner", f"alice's row after bob's attempt is {row}")

    def alice_removes_bob(self) -> None:
        expect(self.alice.sfs("org", "remove", self.bob_email),
               contains=(f"Member {self.bob_email} removed.",))
        expect(self.alice.sfs("org", "members"),
               contains=(f"{ORG_NAME} — Members (1/{self.org_seats})", self.alice_email),
               absent=(self.bob_email,))
        org = api_get_json(self.url, self.bob.api_key(), "/api/v1/org")
        check(org == {"org": None, "members": [], "current_user_role": None},
              f"bob's GET /api/v1/org after removal is {org}, expected "
              f"{{org: null, members: [], current_user_role: null}}")
        expect(self.bob.sfs("org", "info"), contains=("You are not part of an organization.",))
        expect(self.bob.sfs("org", "members"), contains=("You are not part of an organization.",))
        # He is no longer a member to remove; his own data stays.
        expect(self.alice.sfs("org", "remove", self.bob_email), rc=1,
               contains=(f"no member with email '{self.bob_email}'",))
        expect(self.bob.sfs("list-remote"), contains=("Remote Sessions (1 total)",))

    # 18 -----------------------------------------------------------------
    # Service keys: `sfs admin service-keys` (org admin). The raw key is
    # tried directly over HTTP, the way a CI job would use it.
    def service_keys(self, *args: str) -> Result:
        return self.alice.sfs("admin", "service-keys", *args, "--org", self.org_id)

    def service_key_rows(self) -> dict[str, list[str]]:
        """`sfs admin service-keys list`, as table rows keyed by key id."""
        r = expect(self.service_keys("list"), contains=(f"Service keys — org {self.org_id}",))
        rows = {}
        for line in r.stdout.splitlines():
            cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
            if cells and KEY_ID_RE.match(cells[0]):
                rows[cells[0]] = cells
        for _, raw in self.old_service_keys + [("", self.service_key)]:
            check(not raw or raw not in r.output, "`sfs admin service-keys list` shows a raw key", r)
        return rows

    def try_handoff_with(self, raw_key: str) -> tuple[int, object]:
        """POST /api/v1/handoffs (scope handoffs:write) with `raw_key`."""
        return api_call(self.url, raw_key, "POST", "/api/v1/handoffs",
                        {"session_id": self.session_id, "recipient_email": self.bob_email})

    def check_key_revoked(self, raw_key: str, what: str) -> None:
        status, body = self.try_handoff_with(raw_key)
        check(status == 401 and error_of(body)[2].get("error") == "api_key_revoked",
              f"{what} on POST /api/v1/handoffs answered {status} {body}, expected 401 "
              f"details.error api_key_revoked")

    def check_key_reaches_the_handoff_route(self, raw_key: str, what: str) -> None:
        """The scope check passes; the handoff boundary check then refuses,
        because alice's session belongs to no project (03 §0.2 step 11)."""
        status, body = self.try_handoff_with(raw_key)
        details = error_of(body)[2]
        check(status == 403 and details.get("error") == "service_key_project_not_registered",
              f"{what} on POST /api/v1/handoffs answered {status} {body}, expected 403 "
              f"details.error service_key_project_not_registered (and not insufficient_scope)")

    def parse_new_key(self, r: Result, regex: re.Pattern) -> tuple[str, str, str]:
        """(id, prefix, raw key) from `... create` / `... rotate` output."""
        m, raw = regex.search(r.stdout), RAW_KEY_RE.search(r.stdout)
        check(m is not None, f"no '{regex.pattern}' line in the output", r)
        check(raw is not None and API_KEY_RE.match(raw.group(1)) is not None,
              "no 'Raw key: sk_sfs_<32 hex>' line in the output", r)
        key_id, prefix = m.group(1), m.group(m.lastindex)
        check(KEY_ID_RE.match(key_id) is not None, f"key id {key_id!r} is not a UUID", r)
        check(prefix == raw.group(1)[:12],
              f"prefix {prefix!r} is not the first 12 characters of the raw key", r)
        check("Save this key now — it will not be shown again." in r.stderr,
              "no 'Save this key now' warning on stderr", r)
        return key_id, prefix, raw.group(1)

    def alice_creates_a_service_key(self) -> None:
        # The client checks scopes before any request.
        expect(self.service_keys("create", "--name", SERVICE_KEY_NAME, "--scope", "*"), rc=2,
               contains=("service keys cannot use the '*' wildcard scope",))
        expect(self.service_keys("create", "--name", SERVICE_KEY_NAME, "--scope", "handoffs:fly"),
               rc=2, contains=("unknown scopes ['handoffs:fly']",))
        r = expect(self.service_keys("create", "--name", SERVICE_KEY_NAME, "--scope", "handoffs:write"),
                   contains=("Service key created: id=", f"name={SERVICE_KEY_NAME} "))
        self.service_key_id, self.service_key_prefix, self.service_key = \
            self.parse_new_key(r, KEY_CREATED_RE)
        check(self.service_key != self.alice.api_key(), "the service key is alice's own key", r)

    def alice_lists_service_keys(self) -> None:
        rows = self.service_key_rows()
        row = rows.get(self.service_key_id)
        expected = [self.service_key_id, SERVICE_KEY_NAME, self.service_key_prefix,
                    "handoffs:write", "all", "never", "yes"]
        check(row == expected, f"`sfs admin service-keys list` row is {row}, expected {expected}")
        check(list(rows) == [self.service_key_id], f"the org has keys {list(rows)}, expected one")
        keys = api_call(self.url, self.alice.api_key(), "GET",
                        f"/api/v1/orgs/{self.org_id}/service-keys")[1]
        check(isinstance(keys, list) and len(keys) == 1 and "key" not in keys[0]
              and keys[0].get("key_prefix") == self.service_key_prefix,
              f"GET .../service-keys returns {keys}: expected one key by prefix, no raw key")
        # bob left the org: he may not list its keys (the reference says 403
        # insufficient_role, a server listing to any member may say 404 for a
        # non-member; 03 §9 leaves that open). Neither are they personal keys.
        expect(self.bob.sfs("admin", "service-keys", "list", "--org", self.org_id), rc=1,
               contains=("Error: ",), absent=(self.service_key_prefix, "Service keys — org"))
        expect(self.alice.sfs("auth", "keys", "list"), absent=(self.service_key_prefix,))

    def the_service_key_is_scoped(self) -> None:
        self.check_key_reaches_the_handoff_route(self.service_key, "the handoffs:write key")
        expect(self.alice.sfs("handoffs", "sent"), contains=("Sent (3 handoffs)",))
        # A user route refuses any service key.
        status, body = api_call(self.url, self.service_key, "GET", "/api/v1/sessions")
        code, _, details = error_of(body)
        check(status == 403 and code == "service_key_not_allowed"
              and details.get("error") == "service_key_not_allowed"
              and details.get("service_key_name") == SERVICE_KEY_NAME,
              f"GET /api/v1/sessions with the service key answered {status} {body}, expected "
              f"403 code/details.error service_key_not_allowed, service_key_name {SERVICE_KEY_NAME}")
        # A key without handoffs:write stops at the scope check. `--output-key`
        # prints the raw key alone, for KEY=$(...) in CI.
        r = expect(self.service_keys("create", "--name", "ticket-reader", "--scope", "tickets:read",
                                     "--output-key"))
        reader = r.stdout.strip()
        check(API_KEY_RE.match(reader) is not None,
              "`create --output-key` did not print only the raw key on stdout", r)
        status, body = self.try_handoff_with(reader)
        details = error_of(body)[2]
        check(status == 403 and details.get("error") == "insufficient_scope"
              and details.get("required") == ["handoffs:write"]
              and details.get("current") == ["tickets:read"],
              f"the tickets:read key on POST /api/v1/handoffs answered {status} {body}, expected "
              f"403 insufficient_scope, required [handoffs:write], current [tickets:read]")
        reader_id = next((k for k, row in self.service_key_rows().items()
                          if row[1] == "ticket-reader"), "")
        check(bool(reader_id), "the ticket-reader key is not in `sfs admin service-keys list`")
        expect(self.service_keys("revoke", reader_id, "--reason", "only a scope check"),
               contains=(f"Revoked service key {reader_id}.",))
        self.old_service_keys.append((reader_id, reader))
        self.check_key_revoked(reader, "the revoked tickets:read key")

    def alice_rotates_the_service_key(self) -> None:
        old_id, old_key = self.service_key_id, self.service_key
        r = expect(self.service_keys("rotate", old_id), contains=("(old key revoked)",))
        self.service_key_id, self.service_key_prefix, self.service_key = \
            self.parse_new_key(r, KEY_ROTATED_RE)
        self.old_service_keys.append((old_id, old_key))
        check(self.service_key_id != old_id and self.service_key != old_key,
              "rotate returned the old key id or secret", r)
        self.check_key_revoked(old_key, "the key rotated away")
        self.check_key_reaches_the_handoff_route(self.service_key, "the rotated key")
        rows = self.service_key_rows()
        old_row, new_row = rows.get(old_id, []), rows.get(self.service_key_id, [])
        check(old_row[1:4] == [SERVICE_KEY_NAME, old_key[:12], "handoffs:write"]
              and old_row[-1] == "revoked", f"the rotated-away key's row is {old_row}")
        check(new_row == [self.service_key_id, SERVICE_KEY_NAME, self.service_key_prefix,
                          "handoffs:write", "all", "never", "yes"],
              f"the rotated key's row is {new_row}")
        keys = api_call(self.url, self.alice.api_key(), "GET",
                        f"/api/v1/orgs/{self.org_id}/service-keys")[1]
        old = next((k for k in keys if k.get("id") == old_id), {})
        check((old.get("revoke_reason") or "").startswith("rotated by "),
              f"the rotated-away key's revoke_reason is {old.get('revoke_reason')!r}, "
              f"expected 'rotated by <alice>'")
        expect(self.service_keys("rotate", old_id), rc=1,
               contains=(f"cannot rotate revoked key {old_id}",))

    def alice_revokes_the_service_key(self) -> None:
        key_id = self.service_key_id
        expect(self.service_keys("revoke", key_id, "--reason", "ci-bot retired"),
               contains=(f"Revoked service key {key_id}.",))
        self.old_service_keys.append((key_id, self.service_key))
        self.check_key_revoked(self.service_key, "the revoked key")
        rows = self.service_key_rows()
        check(len(rows) == 3 and all(row[-1] == "revoked" for row in rows.values()),
              f"after revoking, the org's keys are {list(rows.values())}: expected 3, all revoked")
        keys = api_call(self.url, self.alice.api_key(), "GET",
                        f"/api/v1/orgs/{self.org_id}/service-keys")[1]
        reason = next((k.get("revoke_reason") for k in keys if k.get("id") == key_id), None)
        check(reason == "ci-bot retired", f"revoke_reason is {reason!r}, expected 'ci-bot retired'")
        # Revoking again changes nothing; an unknown id has its own message.
        expect(self.service_keys("revoke", key_id, "--reason", "again"),
               contains=(f"Revoked service key {key_id}.",))
        unknown = str(uuid.uuid4())
        expect(self.service_keys("revoke", unknown, "--reason", "typo"), rc=1,
               contains=(f"service key {unknown} not found in org {self.org_id}.",))

    # 19 -----------------------------------------------------------------
    def signup_key_row(self, r: Result) -> list[str]:
        """The row of the key `sfs auth signup` made: named "default" and,
        as in the reference (signup stores no prefix), shown as sk_sfs_legacy."""
        rows = [row for row in (table_row(line, "│") for line in r.stdout.splitlines())
                if len(row) > 1 and row[1] == "default"]
        check(len(rows) == 1, f"`sfs auth keys list` has {len(rows)} rows named 'default', "
              f"expected alice's signup key", r)
        check(rows[0][2] in ("sk_sfs_legacy", self.alice.api_key()[:12]),
              f"the signup key's prefix is {rows[0][2]!r}", r)
        return rows[0]

    def alice_keeps_a_project_context(self) -> None:
        repo = self.alice.home / "work" / "app"
        repo.mkdir(parents=True)
        for git in (["git", "init", "-q"],
                    ["git", "remote", "add", "origin", "git@github.com:Acme/App.git"]):
            subprocess.run(git, cwd=repo, check=True, env=self.alice.env)
        expect(self.alice.sfs("project", "init", cwd=repo),
               contains=("Project created for acme/app (personal)",))
        r = expect(self.alice.sfs("project", "list", cwd=repo))
        row = table_row(r.stdout, "acme/app")
        check(row[:1] != [] and row[0].startswith("proj_") and row[1:3] == ["app", "acme/app"],
              f"`sfs project list` row for acme/app is {row}", r)
        context = repo / "CONTEXT.md"
        context.write_text("# App\n\nKeys never contain tabs; the parser rejects them.\n")
        expect(self.alice.sfs("project", "set-context", str(context), cwd=repo),
               contains=("Project context updated",))
        expect(self.alice.sfs("project", "get-context", cwd=repo),
               contains=("Keys never contain tabs",))
        expect(self.alice.sfs("project", "entries", cwd=repo),
               contains=("No knowledge entries found.",))
        # The server holds it under the normalized remote, and only alice reads it.
        status, body = api_call(self.url, self.alice.api_key(), "GET", "/api/v1/projects/acme/app")
        check(status == 200 and "never contain tabs" in str(body.get("context_document")),
              f"GET /api/v1/projects/acme/app as alice answered {status} {body}")
        status, body = api_call(self.url, self.bob.api_key(), "GET", "/api/v1/projects/acme/app")
        check(status == 404, f"bob reading alice's personal project answered {status} {body}")

    def alice_compiles_her_project(self) -> None:
        """Knowledge added as an agent would (POST entries/add), then the
        client's compile, health, pages, page, regenerate, compile-schedule,
        set --auto-narrative and rebuild commands; bob still gets 404."""
        repo = self.alice.home / "work" / "app"
        key = self.alice.api_key()
        status, project = api_call(self.url, key, "GET", "/api/v1/projects/acme/app")
        check(status == 200, f"GET /api/v1/projects/acme/app answered {status} {project}")
        pid = project["id"]
        claims = [
            ("decision", "Archives are content-addressed under data/blobs by their sha256 digest"),
            ("bug", "The tar reader at src/archive/inspect.rs must reject hard links and devices"),
        ]
        for i, (entry_type, content) in enumerate(claims):
            status, body = api_call(self.url, key, "POST", f"/api/v1/projects/{pid}/entries/add",
                                    {"content": content, "entry_type": entry_type,
                                     "confidence": 0.9, "session_id": f"ses_e2e{i}"})
            check(status == 201 and body.get("claim_class") == "claim",
                  f"adding a claim answered {status} {body}")
        expect(self.alice.sfs("project", "health", cwd=repo),
               contains=("2 knowledge entries (0 compiled, 0 dismissed)",
                         "2 entries pending compilation"))
        expect(self.alice.sfs("project", "compile", cwd=repo),
               contains=("Project context updated.", "2", "entries compiled."))
        expect(self.alice.sfs("project", "get-context", cwd=repo),
               contains=("## Key Decisions", "content-addressed under data/blobs",
                         "## Known Issues & Workarounds", "## Recent Changes"))
        expect(self.alice.sfs("project", "compile", cwd=repo),
               contains=("No pending entries to compile.",))
        expect(self.alice.sfs("project", "health", cwd=repo),
               contains=("2 knowledge entries (2 compiled, 0 dismissed)", "All entries compiled",
                         "Last compiled: "))
        r = expect(self.alice.sfs("project", "pages", cwd=repo),
                   contains=("key-decisions", "known-issues", "2 pages"))
        expect(self.alice.sfs("project", "page", "key-decisions", cwd=repo),
               contains=("Key Decisions", "content-addressed", "(auto-generated)"))
        expect(self.alice.sfs("project", "page", "no-such-page", cwd=repo), rc=1,
               contains=("Page not found: no-such-page",))
        # A user page whose slug holds a slash (the client percent-encodes it).
        status, body = api_call(self.url, key, "PUT", f"/api/v1/projects/{pid}/pages/guides/setup",
                                {"content": "# Setup\n\nRun cargo build."})
        check(status == 200, f"PUT a page answered {status} {body}")
        expect(self.alice.sfs("project", "page", "guides/setup", cwd=repo),
               contains=("Run cargo build.",))
        expect(self.alice.sfs("project", "regenerate", "key-decisions", cwd=repo),
               contains=("Article regenerated (",))
        expect(self.alice.sfs("project", "compile-schedule", "weekly", "--after-claims", "5",
                              cwd=repo),
               contains=("Compile schedule set to weekly", "5 pending-claim threshold"))
        expect(self.alice.sfs("project", "set", "--auto-narrative", cwd=repo),
               contains=("auto_narrative = True",))
        status, project = api_call(self.url, key, "GET", "/api/v1/projects/acme/app")
        check((project.get("compile_schedule"), project.get("compile_after_claims"),
               project.get("auto_narrative")) == ("weekly", 5, True),
              f"settings after the CLI: {project}")
        expect(self.alice.sfs("project", "compile-schedule", "off", "--no-after-claims", cwd=repo),
               contains=("Compile schedule set to off", "pending-claim threshold cleared"))
        # Section pages count every page of type section: the two compiled ones and
        # alice's guides/setup (a user page is a section page too, 02 §4).
        expect(self.alice.sfs("project", "rebuild", cwd=repo),
               contains=("Rebuild complete:", "Entries compiled: 2", "Section pages: 3"))
        for path in ("compile-status", "health", "pages", "compilations"):
            status, body = api_call(self.url, self.bob.api_key(), "GET",
                                    f"/api/v1/projects/{pid}/{path}")
            check(status == 404, f"bob reading {path} of alice's project answered {status} {body}")

    def alice_manages_personal_keys(self) -> None:
        r = expect(self.alice.sfs("auth", "keys", "list"), contains=("Personal API keys",))
        check(self.signup_key_row(r)[-1] == "yes", "alice's signup key is not active", r)
        r = expect(self.alice.sfs("auth", "keys", "create", "--name", "e2e-laptop"),
                   contains=("Personal API key created: id=", "name=e2e-laptop "))
        key_id, prefix, raw = self.parse_new_key(r, KEY_CREATED_RE)
        # A personal key is alice on every route.
        me = api_get_json(self.url, raw, "/api/v1/auth/me")
        check(me.get("email") == self.alice_email, f"/auth/me with the new key is {me}", r)
        status, body = api_call(self.url, raw, "GET", "/api/v1/sessions")
        check(status == 200, f"GET /api/v1/sessions with the new personal key answered {status} {body}")
        r = expect(self.alice.sfs("auth", "keys", "list"), absent=(raw,))
        row = table_row(r.stdout, key_id)
        check(row[:4] == [key_id, "e2e-laptop", prefix, "never"] and row[-1] == "yes"
              and row[4] != "never",
              f"`sfs auth keys list` row is {row}, expected [id, e2e-laptop, prefix, never, "
              f"<last used>, yes]", r)
        # Nobody else can revoke it.
        expect(self.bob.sfs("auth", "keys", "revoke", key_id, "--reason", "not mine"), rc=1,
               contains=(f"personal key {key_id} not found.",))
        expect(self.alice.sfs("auth", "keys", "revoke", key_id, "--reason", "laptop lost"),
               contains=(f"Revoked personal key {key_id}.",))
        status, body = api_call(self.url, raw, "GET", "/api/v1/auth/me")
        check(status == 401 and error_of(body)[2].get("error") == "api_key_revoked",
              f"the revoked personal key answered {status} {body}, expected 401 api_key_revoked")
        r = expect(self.alice.sfs("auth", "keys", "list"))
        check(table_row(r.stdout, key_id)[-1:] == ["revoked"],
              f"the revoked key's row is {table_row(r.stdout, key_id)}", r)
        check(self.signup_key_row(r)[-1] == "yes", "alice's signup key is no longer active", r)
        expect(self.alice.sfs("auth", "whoami"), contains=(f"Identity:  {self.alice_email}",))

    # 20 -----------------------------------------------------------------
    def no_client_warnings(self) -> None:
        """Commands above may pass while the client quietly fell back or
        retried; a user would still see the warning on every push/pull."""
        problems = []
        for result in self.transcript:
            if result.returncode != 0:
                continue  # expected failures were checked by their step
            for text, meaning in CLIENT_WARNINGS.items():
                if text in result.output:
                    problems.append(f"{meaning}:\n{result.describe()}")
        check(not problems, "the client printed warnings:\n" + "\n".join(problems))

    def run(self, steps: Steps) -> None:
        steps.run("1. alice: sfs auth signup", self.alice_signs_up)
        steps.run("1b. alice: sfs auth whoami", self.alice_checks_whoami)
        steps.run("2. alice: capture a Claude Code session (sfs import)", self.alice_captures_a_session)
        steps.run("3. alice: sfs push", self.alice_pushes)
        steps.run("4. alice: sfs list-remote shows it", self.alice_lists_remote)
        steps.run("5a. laptop: sfs auth login with alice's key", self.laptop_logs_in)
        steps.run("5b. laptop: sfs pull", self.laptop_pulls)
        steps.run("6. laptop: sfs pull again -> up to date", self.laptop_pulls_again_up_to_date)
        steps.run("7a. alice: continue the session, daemon re-captures it", self.alice_continues_the_session)
        steps.run("7b. alice: sfs push the change", self.alice_pushes_the_change)
        steps.run("7c. laptop: sfs pull --force sees the change", self.laptop_pulls_the_change)
        steps.run("8. alice: sfs delete --cloud", self.alice_deletes_from_cloud)
        steps.run("9. sfs trash lists it", self.trash_lists_it)
        steps.run("10. alice: sfs restore", self.alice_restores)
        steps.run("11. sfs list-remote shows it again", self.list_remote_shows_it_again)
        steps.run("12. bob: sign up, cannot pull alice's session", self.bob_cannot_see_alices_session)
        steps.run("13a. alice: sfs handoff --to bob", self.alice_hands_off_to_bob)
        steps.run("13b. alice: sfs handoffs sent; bob: sfs handoffs inbox / get", self.both_see_the_handoff)
        steps.run("13c. bob: sfs pull-handoff", self.bob_pulls_the_handoff)
        steps.run("13d. bob: sfs pull-handoff again -> already claimed, tolerated", self.bob_pulls_the_handoff_again)
        steps.run("13e. sfs handoffs comment / comments / events; carol sees nothing", self.they_comment_on_the_handoff)
        steps.run("13f. bob: sfs handoffs decline a second handoff", self.bob_declines_a_second_handoff)
        steps.run("13g. alice: sfs handoffs revoke a third handoff", self.alice_revokes_a_third_handoff)
        steps.run("14a. alice: sfs sync auto --mode selective, sfs sync watch", self.alice_turns_on_selective_autosync)
        steps.run("14b. alice: sfs sync watchlist / status", self.alice_checks_watchlist_and_status)
        steps.run("14c. alice: sfs sync unwatch, sfs sync auto --mode off", self.alice_unwatches_and_turns_autosync_off)
        steps.run("15. bob: sfs summary on the pulled copy (local)", self.bob_summarizes_the_pulled_session)
        # Nothing later builds on search: a failure here does not hide step 17.
        steps.run("16. sfs search --cloud", self.cloud_search_finds_the_session, stop_on_failure=False)
        steps.run("17a. alice: sfs org create", self.alice_creates_an_org)
        steps.run("17b. alice: sfs org info / members", self.alice_sees_her_org)
        steps.run("17c. alice: sfs org invite bob", self.alice_invites_bob)
        steps.run("17d. bob: accept the invite (API; the client has no accept command)",
                  self.bob_accepts_the_invite)
        steps.run("17e. sfs org members shows bob; bob cannot invite", self.both_see_bob_in_the_org)
        steps.run("17f. alice: sfs org set-role bob admin, then member", self.alice_changes_bobs_role)
        steps.run("17g. alice: sfs org remove bob; bob has no org", self.alice_removes_bob)
        steps.run("18a. alice: sfs admin service-keys create --scope handoffs:write",
                  self.alice_creates_a_service_key)
        steps.run("18b. alice: sfs admin service-keys list shows the prefix only",
                  self.alice_lists_service_keys)
        steps.run("18c. the raw service key: scoped route yes, user route no",
                  self.the_service_key_is_scoped)
        steps.run("18d. alice: sfs admin service-keys rotate", self.alice_rotates_the_service_key)
        steps.run("18e. alice: sfs admin service-keys revoke", self.alice_revokes_the_service_key)
        steps.run("19. alice: sfs auth keys create / list / revoke", self.alice_manages_personal_keys)
        steps.run("19b. alice: sfs project init / list / set-context / get-context / entries "
                  "in a git checkout; bob cannot read it", self.alice_keeps_a_project_context)
        steps.run("19c. alice: sfs project compile / health / pages / page / regenerate / "
                  "compile-schedule / set / rebuild; bob cannot read them",
                  self.alice_compiles_her_project)
        steps.run("20. no client warnings in any command's output", self.no_client_warnings)

    def cleanup(self) -> None:
        """Stop a daemon a failed step may have left running (by its pid)."""
        for user in (self.alice, self.laptop, self.bob, self.carol):
            pid_file = user.store_dir / "sfsd.pid"
            if pid_file.is_file():
                try:
                    pid = int(pid_file.read_text().strip())
                except ValueError:
                    continue
                if _pid_alive(pid):
                    os.kill(pid, signal.SIGTERM)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped) still answers kill(0): check its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not found)"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--server-bin", help="sessionfs-server binary to start (serve --data-dir --bind)")
    target.add_argument("--url", help="use an already running server instead of starting one")
    p.add_argument("--sfs", default=str(DEFAULT_SFS) if DEFAULT_SFS.exists() else shutil.which("sfs"),
                   help=f"the sfs CLI (default: {DEFAULT_SFS})")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if not args.sfs or not Path(args.sfs).exists():
        p.error("sfs CLI not found; pass --sfs PATH")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sfs-e2e-"))
    steps = Steps()
    server: Server | None = None
    flow: Flow | None = None
    try:
        if args.server_bin:
            server = Server(args.server_bin, workdir)
            url = server.url
            email_tag = ""
        else:
            url = args.url.rstrip("/")
            # An existing server may already know alice@example.test.
            email_tag = "+" + uuid.uuid4().hex[:8]
        print(f"server: {url}\nsfs: {args.sfs}\nworkdir: {workdir}", flush=True)
        if server is not None:
            steps.run("0. start the server and wait for GET /health", server.start)
        else:
            steps.run("0. GET /health on the given server",
                      lambda: check(health_status(url) == 200, f"GET {url}/health is not 200"))
        flow = Flow(url, args.sfs, workdir / "homes", email_tag)
        flow.run(steps)
    finally:
        if flow is not None:
            flow.cleanup()
        if server is not None:
            server.stop()
            if steps.failed:
                print(f"--- server log (last lines of {server.log_path}) ---")
                print(server.log_tail())
                print("--- end of server log ---")
        if args.keep or steps.failed:
            print(f"temporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if steps.skipped:
        print(f"not run after the failure: {', '.join(steps.skipped)}")
    print(f"{steps.passed} passed, {steps.failed} failed")
    return 0 if steps.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
