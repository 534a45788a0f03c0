#!/usr/bin/env python3
"""The real client's `sfs persona` and `sfs agent` commands against the server.

Runs `sfs` (PyPI `sessionfs==0.26.0`) in a git checkout whose origin is the project's remote,
authenticated through SESSIONFS_API_URL / SESSIONFS_API_KEY, and checks what each command
prints and what the server then holds:

  sfs persona list / create / show / pull / edit / assume / forget / delete (and --force)
  sfs persona create / list / represent --org (org personas)
  sfs agent run / run --output-id / run --run-id / status / complete / list

Usage: personas_agents.py SFS URL API_KEY CHECKOUT ORG_ID MEMBER_EMAIL
Prints "ok steps=N" and exits 0 when everything behaved; otherwise prints the failing command
and its output and exits 1.
"""

import json
import os
import subprocess
import sys
import urllib.request

SFS, URL, KEY, CHECKOUT, ORG, MEMBER = sys.argv[1:7]
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.path.join(CHECKOUT, ".home"),
    "SESSIONFS_API_URL": URL,
    "SESSIONFS_API_KEY": KEY,
    "SFS_NO_TELEMETRY": "1",
    "SFS_SKILL_USAGE_REPORTING": "0",
    "NO_COLOR": "1",
    "COLUMNS": "200",
    "TERM": "dumb",
}
os.makedirs(ENV["HOME"], exist_ok=True)
steps = 0


class Failed(Exception):
    pass


def sfs(*args, rc=0, contains=(), absent=(), env=None):
    """Runs `sfs args` in the checkout; checks its exit code and output."""
    global steps
    steps += 1
    proc = subprocess.run([SFS, *args], cwd=CHECKOUT, env={**ENV, **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    problems = []
    if proc.returncode != rc:
        problems.append(f"exit code {proc.returncode}, expected {rc}")
    problems += [f"missing {t!r}" for t in contains if t not in out]
    problems += [f"unexpected {t!r}" for t in absent if t in out]
    if problems:
        raise Failed(f"$ sfs {' '.join(args)}: {'; '.join(problems)}\n{out}")
    return proc


def api(method, path, body=None):
    req = urllib.request.Request(URL + path, method=method,
                                 headers={"Authorization": f"Bearer {KEY}",
                                          "Content-Type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req) as res:
            raw = res.read()
            return res.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def check(cond, message):
    if not cond:
        raise Failed(message)


def project_id():
    status, body = api("GET", "/api/v1/projects/acme/app")
    check(status == 200, f"GET the project answered {status} {body}")
    return body["id"]


def main():
    pid = project_id()
    personas = f"/api/v1/projects/{pid}/personas"

    # Personas of the project.
    sfs("persona", "list", contains=("No personas in this project.",))
    sfs("persona", "create", "atlas", "--role", "Backend Architect",
        "--content", "# Atlas\n\nYou design APIs.", "--spec", "rust", "--spec", "sql",
        contains=("Created persona 'atlas'.",))
    sfs("persona", "create", "ATLAS", "--role", "again", "--content", "x", rc=1,
        contains=("Persona 'ATLAS' already exists.",))
    out = sfs("persona", "list", contains=("atlas", "Project", "Backend Architect", "rust, sql"))
    sfs("persona", "show", "Atlas", contains=("atlas — Backend Architect", "Specializations: rust, sql",
                                              "You design APIs."))
    sfs("persona", "show", "atlas", "--raw", contains=("# Atlas",))
    sfs("persona", "show", "nobody", rc=1)
    sfs("persona", "pull", "atlas", "--dir", "agents",
        contains=("wrote agents/atlas-backend.md",))
    pulled = open(os.path.join(CHECKOUT, "agents", "atlas-backend.md")).read()
    check("Server version: 1" in pulled and "You design APIs." in pulled, f"pulled file: {pulled}")
    editor = os.path.join(CHECKOUT, "editor.sh")
    with open(editor, "w") as f:
        f.write("#!/bin/sh\nprintf '\\nAlways write tests.\\n' >> \"$1\"\n")
    os.chmod(editor, 0o755)
    sfs("persona", "edit", "atlas", env={"EDITOR": editor, "VISUAL": editor},
        contains=("Updated persona 'atlas'.",))
    status, body = api("GET", f"{personas}/atlas")
    check(status == 200 and body["version"] == 2 and "Always write tests." in body["content"],
          f"after edit: {status} {body}")
    sfs("persona", "assume", "ATLAS", contains=("Now acting as 'atlas'.",))
    sfs("persona", "forget")

    # Org personas, and a project sees its org's only if it belongs to the org (this one is
    # personal).
    sfs("persona", "create", "reviewer", "--org", ORG, "--role", "Code reviewer",
        "--content", "Review diffs.", contains=(f"Created org persona in {ORG} 'reviewer'.",))
    sfs("persona", "list", "--org", ORG, contains=("reviewer", "Org", "Code reviewer"))
    sfs("persona", "represent", "reviewer", "--org", ORG, "--user", MEMBER,
        contains=("'reviewer' now represents",))
    sfs("persona", "show", "reviewer", "--org", ORG, contains=("Represents:",))
    sfs("persona", "list", absent=("reviewer",))

    # Agent runs: create + start prints the compiled context.
    sfs("agent", "run", "atlas", "--tool", "cursor", "--trigger-source", "ci",
        "--ci-provider", "github", "--fail-on", "high", "--context-ref", "docs/a.md",
        contains=("Started run_", "You are atlas — Backend Architect", "Always write tests."))
    proc = sfs("agent", "run", "Atlas", "--output-id", "--context-file", "ctx.md")
    run_id = proc.stdout.strip()
    check(run_id.startswith("run_") and len(run_id) == 20, f"--output-id printed {proc.stdout!r}")
    ctx = open(os.path.join(CHECKOUT, "ctx.md")).read()
    check(ctx.startswith("# You are atlas — Backend Architect"), f"context file: {ctx[:200]}")
    sfs("agent", "status", run_id, contains=(run_id, "persona=atlas", "status=running"))
    proc = sfs("agent", "status", run_id, "--format", "json")
    row = json.loads(proc.stdout)
    check(row["status"] == "running" and row["persona_name"] == "atlas", f"status json: {row}")
    sfs("agent", "status", run_id, "--format", "markdown",
        contains=(f"### AgentRun `{run_id}`", "- **Status:** `running`"))

    # A queued run of a persona keeps it from being deleted unless forced.
    status, queued = api("POST", f"/api/v1/projects/{pid}/agent-runs",
                         {"persona_name": "atlas", "trigger_source": "api"})
    check(status == 201, f"queue a run: {status} {queued}")

    findings = os.path.join(CHECKOUT, "findings.json")
    with open(findings, "w") as f:
        json.dump([{"file": "src/a.rs", "severity": "high", "title": "unchecked input"}], f)
    status, created = api("POST", f"/api/v1/projects/{pid}/agent-runs",
                          {"persona_name": "atlas", "fail_on": "high"})
    check(status == 201, f"create a gated run: {status} {created}")
    sfs("agent", "run", "--run-id", created["id"], contains=(f"Started {created['id']}.",))
    sfs("agent", "complete", created["id"], "--summary", "one high finding",
        "--severity", "high", "--findings-file", findings, "--enforce", rc=1,
        contains=("status=failed", "policy=fail", "exit_code=1"))
    sfs("agent", "complete", created["id"], "--summary", "again", rc=1,
        contains=("is already in a terminal state",))
    sfs("agent", "complete", run_id, "--summary", "clean", "--severity", "low",
        contains=("status=passed", "policy=pass", "exit_code=0"))
    status, body = api("GET", f"/api/v1/projects/{pid}/agent-runs/{created['id']}")
    check(status == 200 and body["findings_count"] == 1 and body["exit_code"] == 1,
          f"the gated run: {status} {body}")

    sfs("agent", "list", contains=(run_id, created["id"], queued["id"]))
    sfs("agent", "list", "--status", "failed", contains=(created["id"],), absent=(run_id,))
    sfs("agent", "list", "--persona", "atlas", "--trigger-source", "api", "--limit", "5",
        contains=(queued["id"],), absent=(run_id,))
    sfs("agent", "list", "--persona", "nobody", contains=("No runs match.",))

    sfs("persona", "delete", "atlas", "-y", rc=1,
        contains=("still assigned to 0 non-terminal ticket(s), 2 queued/running agent run(s)",
                  "re-run with --force"))
    sfs("persona", "delete", "atlas", "-y", "--force", contains=("Deleted persona 'atlas'.",))
    sfs("persona", "list", contains=("No personas in this project.",))
    sfs("persona", "create", "atlas", "--role", "r", "--content", "c", rc=1,
        contains=("Persona 'atlas' already exists.",))
    sfs("agent", "run", "--run-id", queued["id"], rc=1, contains=("Start failed (422)",))
    sfs("persona", "delete", "atlas", "-y", rc=1)


if __name__ == "__main__":
    try:
        main()
    except Failed as err:
        print(f"FAILED after {steps} commands: {err}")
        sys.exit(1)
    print(f"ok steps={steps}")
