"""At most 4 requests in flight per app and mailbox, across the threads and asyncio tasks of
one process, as the emulator counts them (its per-mailbox peak), with no 429 on the way."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graph_support import INBOX, OPS, peak_in_flight

from m365bot.graph.limits import Limiter
from m365bot.sessions import Session

FOLDER = f"/users/{OPS}/mailFolders/inbox"


def _slow_server(emulator: Any) -> None:
    """Every read takes 60 ms inside the emulator's throttling slot, so requests overlap."""
    for op in ("mailFolders.get", "messages.list"):
        emulator.control.add_fault(op=op, kind="slow", delay_ms=60)


def _action(session: Session) -> int:
    """One small action: two reads of the mailbox."""
    session.graph.get(FOLDER, params={"$select": "id"})
    return len(session.graph.get(INBOX, params={"$top": 2, "$select": "id"}).body["value"])


def test_twenty_threads_never_have_more_than_four_in_flight(clean_emulator: Any,
                                                             session: Session) -> None:
    _slow_server(clean_emulator)
    with ThreadPoolExecutor(20) as pool:
        counts = list(pool.map(lambda _: _action(session), range(20)))
    assert len(counts) == 20 and all(c > 0 for c in counts)
    assert peak_in_flight(clean_emulator) == 4  # parallel, and never past Outlook's limit
    assert clean_emulator.control.requests(status=429) == []


def test_twenty_tasks_never_have_more_than_four_in_flight(clean_emulator: Any,
                                                          session: Session) -> None:
    _slow_server(clean_emulator)

    async def action() -> int:
        await session.agraph.get(FOLDER, params={"$select": "id"})
        r = await session.agraph.get(INBOX, params={"$top": 2, "$select": "id"})
        return len(r.body["value"])

    async def main() -> list[int]:
        try:
            return await asyncio.gather(*(action() for _ in range(20)))
        finally:
            await session.agraph.aclose()

    assert all(c > 0 for c in asyncio.run(main()))
    assert peak_in_flight(clean_emulator) == 4
    assert clean_emulator.control.requests(status=429) == []


def test_threads_and_tasks_together_share_the_mailboxs_four_slots(clean_emulator: Any,
                                                                  session: Session) -> None:
    _slow_server(clean_emulator)

    async def tasks() -> None:
        await asyncio.gather(*(session.agraph.get(FOLDER, params={"$select": "id"})
                               for _ in range(10)))
        await session.agraph.aclose()

    loop_thread = threading.Thread(target=asyncio.run, args=(tasks(),))
    loop_thread.start()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: _action(session), range(10)))
    loop_thread.join()
    assert clean_emulator.control.count("mailFolders.get", 200) == 20
    assert peak_in_flight(clean_emulator) == 4
    assert clean_emulator.control.requests(status=429) == []


def test_a_cancelled_waiting_task_gives_its_place_back() -> None:
    lim = Limiter(limit=1)

    async def main() -> int:
        await lim.aacquire()
        waiter = asyncio.create_task(lim.aacquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        lim.release()  # the slot may have been handed to the cancelled waiter: it returns it
        await asyncio.sleep(0.01)
        await asyncio.wait_for(lim.aacquire(), 1)
        return lim.in_flight

    assert asyncio.run(main()) == 1
