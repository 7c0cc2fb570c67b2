"""Memory of a large attachment's upload: each 4 MiB chunk is freed as soon as it has been
sent, without waiting for Python's cyclic garbage collector (httpx keeps a streamed response
and its request in a reference cycle; the engine cuts it). Measured with tracemalloc on the
allocations the upload makes, with the collector off, so the test does not depend on when it
would run. The peak-RSS figure itself is measured by bench/bench_send.py."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from send_support import ALICE, attachment_bytes, received

MiB = 1024 * 1024


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
        gc.enable()


def _chunks_alive() -> int:
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, "*m365bot/graph/transfer.py")])
    return sum(stat.size for stat in snap.statistics("filename"))


@pytest.mark.parametrize("run", [
    lambda s, p: s.mail.send(to=ALICE, subject="16 MiB", body="x", attachments=[p]),
    lambda s, p: asyncio.run(s.aio.mail.send(to=ALICE, subject="16 MiB", body="x",
                                             attachments=[p])),
], ids=["sync", "async"])
def test_upload_chunks_are_freed_at_once(outlook_emulator: Any, hans: Any, tmp_path: Path,
                                         no_cyclic_gc: None,
                                         run: Callable[[Any, Path], Any]) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\x5a" * (16 * MiB))
    r = run(hans, path)
    assert attachment_bytes(received(outlook_emulator, ALICE, r.internet_message_id)[0]) == {
        "big.bin": path.read_bytes()}
    assert _chunks_alive() < MiB, "the 4 MiB chunks were kept after they were sent"
