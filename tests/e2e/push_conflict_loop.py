#!/usr/bin/env python3
"""Stale pushes with the real client's library: every one must be a clean 409.

Drives `sessionfs.sync.client.SyncClient` (PyPI `sessionfs==0.26.0`) the way the
`sfs` CLI does: `push_session(id, archive, etag="0"*64)` N times in one process
against a session that already exists. Each push must raise `SyncConflictError`
at the first attempt: no "Sync request failed (attempt …)" retry log, no
`ReadError`. The server answers 409 before it reads the upload; this checks the
answer reaches the client anyway (lingering close).

Usage: push_conflict_loop.py URL API_KEY SESSION_ID ARCHIVE_PATH COUNT
Prints "ok N" and exits 0 when every push behaved.
"""

import asyncio
import logging
import os
import sys

os.environ.setdefault("SFS_NO_TELEMETRY", "1")
os.environ.setdefault("SFS_SKILL_USAGE_REPORTING", "0")

from sessionfs.sync.client import SyncClient, SyncConflictError  # noqa: E402


class Retries(logging.Handler):
    """Collects the client's retry warnings."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def main() -> int:
    url, key, session_id, archive_path, count = sys.argv[1:6]
    archive = open(archive_path, "rb").read()
    retries = Retries()
    logging.getLogger("sessionfs").addHandler(retries)
    logging.getLogger("sessionfs").setLevel(logging.WARNING)
    client = SyncClient(url, key)
    failures = []
    try:
        for i in range(int(count)):
            before = len(retries.messages)
            try:
                await client.push_session(session_id, archive, etag="0" * 64)
                failures.append(f"push {i}: accepted a stale etag")
            except SyncConflictError as exc:
                if not exc.current_etag:
                    failures.append(f"push {i}: conflict without current_etag")
            except Exception as exc:  # noqa: BLE001 - any other outcome is the bug
                failures.append(f"push {i}: {type(exc).__name__}: {exc}")
            if len(retries.messages) > before:
                failures.append(f"push {i} retried: {retries.messages[before:]}")
    finally:
        await client.close()
    for failure in failures:
        print(failure)
    if failures:
        return 1
    print(f"ok {count}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
