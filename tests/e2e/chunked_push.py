#!/usr/bin/env python3
"""A large push through the real client's chunked, resumable path, interrupted and resumed.

Drives `sessionfs.sync.client.SyncClient` (PyPI `sessionfs==0.26.0`) as the `sfs` CLI does:
`push_session(id, archive, store_dir=…)` with an archive over 8 MiB takes the chunked path
(initiate, parts, complete). The first run is cut after PARTS_BEFORE_CUT parts (a part request
that fails, as a dropped link would); the second run must resume from the client's resume file
and the server's status, sending only the parts the server lacks, and complete. The archive is
then pulled back and compared byte for byte. No request may go to the single-PUT path.

Usage: chunked_push.py URL API_KEY SESSION_ID ARCHIVE_PATH STORE_DIR PARTS_BEFORE_CUT
Prints "ok parts=N first=A resumed=B" and exits 0 when everything behaved.
"""

import asyncio
import os
import sys

os.environ.setdefault("SFS_NO_TELEMETRY", "1")
os.environ.setdefault("SFS_SKILL_USAGE_REPORTING", "0")

import sessionfs.sync.upload as upload  # noqa: E402
from sessionfs.sync.client import SyncClient, SyncError  # noqa: E402


async def main() -> int:
    url, key, session_id, archive_path, store_dir, cut = sys.argv[1:7]
    cut = int(cut)
    archive = open(archive_path, "rb").read()
    client = SyncClient(url, key)
    requests: list[tuple[str, str]] = []
    original_request = client._request_with_retry

    async def recording(method, target, **kwargs):
        requests.append((method, target.removeprefix(url)))
        return await original_request(method, target, **kwargs)

    client._request_with_retry = recording
    original_put_part = upload._put_part
    sent: list[list[int]] = [[], []]
    run = 0

    async def cut_put_part(c, upload_id, n, chunk):
        if run == 0 and len(sent[0]) >= cut:
            raise SyncError("link dropped (simulated)")
        await original_put_part(c, upload_id, n, chunk)
        sent[run].append(n)

    upload._put_part = cut_put_part
    failures = []
    try:
        try:
            await client.push_session(session_id, archive, store_dir=store_dir)
            failures.append("the interrupted push succeeded")
        except SyncError:
            pass
        state = os.path.join(store_dir, "uploads", f"{session_id}.json")
        if not os.path.exists(state):
            failures.append("no resume file after the interruption")
        run = 1
        result = await client.push_session(session_id, archive, store_dir=store_dir)
        if not result.created:
            failures.append(f"expected a 201 create, got {result}")
        if os.path.exists(state):
            failures.append("the resume file is still there after completion")
        resent = set(sent[0]) & set(sent[1])
        if resent:
            failures.append(f"parts sent twice: {sorted(resent)}")
        if any(target.endswith("/sync") and method == "PUT" for method, target in requests):
            failures.append("fell back to the single PUT")
        if not any(method == "GET" and "/uploads/" in t for method, t in requests):
            failures.append("the resumed run did not ask for the upload's status")
        pulled = await client.pull_session(session_id)
        if pulled.data != archive:
            failures.append("the pulled archive differs from the pushed one")
        if pulled.etag != result.etag:
            failures.append(f"etag {pulled.etag} != {result.etag}")
    finally:
        await client.close()
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        print(requests)
        return 1
    parts = len(sent[0]) + len(sent[1])
    print(f"ok parts={parts} first={len(sent[0])} resumed={len(sent[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
