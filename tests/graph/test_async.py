"""The async engine does what the sync one does: paging, ``$batch`` with an item redone after
its 429, a streamed download, and an upload that resumes after a reset; and a 401 refreshes
the token once."""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any

from graph_support import INBOX, OPS, graph_records

from m365bot.graph import BatchItem
from m365bot.sessions import Session

MB = 1024 * 1024


def test_async_paging_batch_download_and_upload(clean_emulator: Any, session: Session) -> None:
    data = os.urandom(3 * MB + 7)

    async def main() -> dict[str, Any]:
        g = session.agraph
        try:
            ids = [m["id"] async for m in g.paginate(INBOX, select=["id"], top=2)]
            clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{ids[0]}", kind="status",
                                             status=429, retry_after=0, count=1)
            results = await g.batch([BatchItem(str(i), "GET", f"/users/{OPS}/messages/{m}")
                                     for i, m in enumerate(ids[:3])])
            mid = (await g.post(f"/users/{OPS}/messages", json={"subject": "a"})).body["id"]
            url = (await g.post(
                f"/users/{OPS}/messages/{mid}/attachments/createUploadSession",
                json={"AttachmentItem": {"attachmentType": "file", "name": "a.bin",
                                         "size": len(data)}})).body["uploadUrl"]
            clean_emulator.control.add_fault(op="uploadSession.put", kind="apply_then_reset", nth=2)
            final = await g.upload(url, io.BytesIO(data), chunk_size=MB)
            [att] = (await g.get(f"/users/{OPS}/messages/{mid}/attachments",
                                 params={"$select": "id"})).body["value"]
            sink = io.BytesIO()
            n = await g.download(f"/users/{OPS}/messages/{mid}/attachments/{att['id']}/$value",
                                 sink)
            return {"ids": ids, "results": results, "final": final.status, "n": n,
                    "bytes": sink.getvalue()}
        finally:
            await g.aclose()

    out = asyncio.run(main())
    assert len(out["ids"]) >= 3 and len(set(out["ids"])) == len(out["ids"])
    assert [r.status for r in out["results"]] == [200, 200, 200]
    assert clean_emulator.control.count("batch") == 2  # the throttled item, redone on its own
    assert out["final"] == 201 and out["n"] == len(data) and out["bytes"] == data
    puts = [r["status"] for r in graph_records(clean_emulator, op="uploadSession.put")]
    assert puts == [200, 0, 416, 200, 201]


def test_async_401_refreshes_once(clean_emulator: Any, session: Session) -> None:
    clean_emulator.clock.advance(2 * 3600)

    async def main() -> int:
        try:
            return (await session.agraph.get(INBOX, params={"$top": 1})).status
        finally:
            await session.agraph.aclose()

    assert asyncio.run(main()) == 200
    assert [r["status"] for r in graph_records(clean_emulator)] == [401, 200]


def test_async_batch_items_refused_for_an_expired_token_get_a_fresh_one(
        clean_emulator: Any, session: Session) -> None:
    ids = [m["id"] for m in session.graph.get(INBOX, params={"$top": 2,
                                                              "$select": "id"}).body["value"]]
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(path=f"/v1.0/users/*/messages/{ids[1]}", kind="status",
                                     status=401, count=1, code="InvalidAuthenticationToken")

    async def main() -> list[int]:
        try:
            results = await session.agraph.batch(
                [BatchItem(str(i), "GET", f"/users/{OPS}/messages/{m}?$select=id")
                 for i, m in enumerate(ids)])
            return [r.status for r in results]
        finally:
            await session.agraph.aclose()

    assert asyncio.run(main()) == [200, 200]
    assert clean_emulator.control.count("token") == 1 and clean_emulator.control.count("batch") == 2
    assert [r["status"] for r in graph_records(clean_emulator, op="messages.get")].count(401) == 1
