"""Bodies that stream: an upload session whose connection drops during chunk 3 resumes from
the server's ``nextExpectedRanges`` and the attachment arrives byte-identical; a download
goes to disk in chunks, without holding the body in memory; a download through a reset
restarts cleanly."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from graph_support import OPS, graph_records

from m365bot.sessions import Session

MB = 1024 * 1024


def _draft_with_upload(session: Session, size: int) -> tuple[str, str]:
    mid = session.graph.post(f"/users/{OPS}/messages", json={"subject": "upload"}).body["id"]
    s = session.graph.post(
        f"/users/{OPS}/messages/{mid}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}})
    return mid, s.body["uploadUrl"]


def _attachment(session: Session, mid: str) -> str:
    atts = session.graph.get(f"/users/{OPS}/messages/{mid}/attachments",
                             params={"$select": "id,name,size"}).body["value"]
    [att] = [a for a in atts if a["name"] == "big.bin"]
    return str(att["id"])


@pytest.mark.parametrize("kind", ["reset", "apply_then_reset"])
def test_a_reset_during_chunk_3_resumes_and_arrives_byte_identical(
        clean_emulator: Any, session: Session, tmp_path: Path, kind: str) -> None:
    data = os.urandom(5 * MB + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    mid, url = _draft_with_upload(session, len(data))
    clean_emulator.control.add_fault(op="uploadSession.put", kind=kind, nth=3)
    final = session.graph.upload(url, src, chunk_size=MB)
    assert final.status == 201 and "location" in final.headers
    puts = [r["status"] for r in graph_records(clean_emulator, op="uploadSession.put")]
    if kind == "reset":  # chunk 3 never arrived: sent again
        assert puts == [200, 200, 0, 200, 200, 200, 201]
    else:  # chunk 3 arrived, the answer was lost: the server said where to go on (416)
        assert puts == [200, 200, 0, 416, 200, 200, 201]
    out = tmp_path / "back.bin"
    n = session.graph.download(
        f"/users/{OPS}/messages/{mid}/attachments/{_attachment(session, mid)}/$value", out)
    assert n == len(data)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()


class Recording(io.BytesIO):
    """A binary stream that records the size of every read and write."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.reads: list[int] = []
        self.writes: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.reads.append(len(out))
        return out

    def write(self, b: Any) -> int:
        self.writes.append(len(b))
        return super().write(b)


def test_upload_sends_no_authorization_and_reads_one_chunk_at_a_time(
        clean_emulator: Any, session: Session) -> None:
    data = os.urandom(3 * MB)
    _mid, url = _draft_with_upload(session, len(data))
    source = Recording(data)
    final = session.graph.upload(url, source, chunk_size=MB // 2)
    assert final.status == 201  # the upload host answers 401 to a bearer token
    assert source.reads == [MB // 2] * 6  # one chunk in memory at a time
    assert len(graph_records(clean_emulator, op="uploadSession.put")) == 6


def test_upload_chunks_go_over_http11_and_graph_calls_over_http2(
        clean_emulator: Any, session: Session) -> None:
    """An upload session's chunks take HTTP/1.1 connections of their own (a large body
    through HTTP/2's flow-control windows is several times slower); Graph's calls stay on
    HTTP/2. The same in the async engine."""
    data = os.urandom(2 * MB)
    inbox = f"/users/{OPS}/mailFolders/inbox"
    seen: list[tuple[str, str]] = []

    def hook(resp: Any) -> None:
        seen.append((resp.request.method, resp.http_version))

    _mid, url = _draft_with_upload(session, len(data))
    graph = session.graph
    for client in (graph._http, graph._upload_client()):
        assert client is not None
        client.event_hooks["response"].append(hook)
    assert graph.upload(url, io.BytesIO(data), chunk_size=MB).status == 201
    assert graph.get(inbox, params={"$select": "id"}).status == 200
    assert seen == [("PUT", "HTTP/1.1"), ("PUT", "HTTP/1.1"), ("GET", "HTTP/2")]

    _mid, url = _draft_with_upload(session, len(data))
    seen.clear()

    async def ahook(resp: Any) -> None:
        hook(resp)

    async def main() -> None:
        agraph = session.agraph
        for http2 in (True, False):
            agraph._client(http2).event_hooks["response"].append(ahook)
        try:
            assert (await agraph.upload(url, io.BytesIO(data), chunk_size=MB)).status == 201
            assert (await agraph.get(inbox, params={"$select": "id"})).status == 200
        finally:
            await agraph.aclose()

    asyncio.run(main())
    assert seen == [("PUT", "HTTP/1.1"), ("PUT", "HTTP/1.1"), ("GET", "HTTP/2")]


def test_a_download_streams_to_disk_with_bounded_memory(clean_emulator: Any, session: Session,
                                                        tmp_path: Path) -> None:
    data = os.urandom(6 * MB)
    mid, url = _draft_with_upload(session, len(data))
    session.graph.upload(url, io.BytesIO(data))
    path = f"/users/{OPS}/messages/{mid}/attachments/{_attachment(session, mid)}/$value"
    sink = Recording()
    assert session.graph.download(path, sink) == len(data) and sink.getvalue() == data
    assert len(sink.writes) > 10 and max(sink.writes) <= 256 * 1024  # written as it arrives
    out = tmp_path / "att.bin"
    assert session.graph.download(path, out) == len(data) and out.read_bytes() == data
    assert not (tmp_path / "att.bin.part").exists()
    # a reset before the body: the GET is sent again, and the file holds one copy
    clean_emulator.control.add_fault(op="attachments.value", kind="reset", count=1)
    assert session.graph.download(path, out) == len(data) and out.read_bytes() == data
    assert [r["status"] for r in graph_records(clean_emulator,
                                               op="attachments.value")][-2:] == [0, 200]
