"""m365bot, sync (``session.mail``...) or async (``session.aio.mail``...), for cases B1-B5.

Written as README.md and docs/outlook.md show it: ``m365bot.connect`` once (the token comes
from m365bot's own cache under ``M365BOT_HOME`` when it is still valid); listing with
``fields=`` (``$select``) and pages of 1,000; ``move_all`` (``$batch`` of 20, Outlook's
limit of 4 requests in flight per mailbox); ``save_matching`` (downloads streamed to disk,
4 at a time); ``send`` (upload sessions for files over 3 MB). Sends run 4 at a time: in
threads (sync) or ``asyncio.gather`` under a semaphore (async), Outlook's concurrency limit.

m365bot reads only its own settings (``M365BOT_HOME``, ``M365BOT_PROXY``,
``M365BOT_CA_BUNDLE``), which the runner points at the emulator's proxy and CA.

Run: ``python bench/peers/m365bot_peer.py CONFIG.json`` (see ``_peer.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _peer import emit, load, timed

import m365bot
from m365bot.config import Settings
from m365bot.values import CredentialRef
from m365bot.vault import Vault

FIELDS = ["subject", "from", "received", "is_read", "has_attachments"]


def connect(cfg: dict[str, Any]) -> Any:
    """Connect as README.md's bot does: the secret from the Credential Vault (the runner
    stocked it), so the token comes from m365bot's shared token cache in a new process."""
    vault = Vault.open(cfg["vault"], actor="bench")
    vault.unlock(key=cfg["vault_key"])
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=cfg["client_id"], tenant_id=cfg["tenant_id"],
                           username=cfg["mailbox"],
                           client_secret=CredentialRef("bench", "o365", "client_secret"),
                           settings=Settings.from_env(), vault=vault)


def warm(session: Any) -> None:
    """One small request before the clock starts: the connection and the token are ready,
    as in a bot's session after Connect."""
    next(iter(session.mail.list("Inbox", fields=["subject"], limit=1)), None)


def sync_case(cfg: dict[str, Any]) -> None:
    case = cfg["case"]
    session = connect(cfg)
    if case == "B1":
        got = list(session.mail.list(cfg["folder"], fields=FIELDS, limit=cfg["n"]))
        emit(items=len(got))
        return
    warm(session)
    if case == "B2":
        with timed() as t:
            n = sum(1 for _ in session.mail.list(cfg["folder"], fields=FIELDS))
        emit(seconds=t.seconds, items=n)
    elif case == "B3":
        ids = [e.id for e in session.mail.list(cfg["source"], fields=["subject"])]
        session.folders.get(cfg["dest"])
        with timed() as t:
            results = session.mail.move_all(cfg["dest"], ids=ids, job=uuid.uuid4().hex)
        emit(seconds=t.seconds, items=sum(r.ok for r in results))
    elif case == "B4":
        with timed() as t:
            results = session.attachments.save_matching(
                cfg["out"], folder=cfg["folder"], subject_contains=cfg["subject"],
                job=uuid.uuid4().hex)
        emit(seconds=t.seconds, items=sum(r.ok for r in results))
    elif case == "B5":
        def one(i: int) -> bool:
            r = session.mail.send(to=cfg["to"], subject=f"bench {i}", body="x",
                                  attachments=[cfg["file"]])
            return bool(r.status == "sent")
        with timed() as t, ThreadPoolExecutor(4) as pool:
            sent = sum(pool.map(one, range(cfg["n"])))
        emit(seconds=t.seconds, items=sent)
    session.close()


async def async_case(cfg: dict[str, Any]) -> None:
    case = cfg["case"]
    session = connect(cfg)
    aio = session.aio
    if case == "B1":
        got = [e async for e in aio.mail.list(cfg["folder"], fields=FIELDS, limit=cfg["n"])]
        emit(items=len(got))
        return
    async for _ in aio.mail.list("Inbox", fields=["subject"], limit=1):
        pass
    if case == "B2":
        with timed() as t:
            n = 0
            async for _ in aio.mail.list(cfg["folder"], fields=FIELDS):
                n += 1
        emit(seconds=t.seconds, items=n)
    elif case == "B3":
        ids = [e.id async for e in aio.mail.list(cfg["source"], fields=["subject"])]
        await aio.folders.get(cfg["dest"])
        with timed() as t:
            results = await aio.mail.move_all(cfg["dest"], ids=ids, job=uuid.uuid4().hex)
        emit(seconds=t.seconds, items=sum(r.ok for r in results))
    elif case == "B4":
        with timed() as t:
            results = await aio.attachments.save_matching(
                cfg["out"], folder=cfg["folder"], subject_contains=cfg["subject"],
                job=uuid.uuid4().hex)
        emit(seconds=t.seconds, items=sum(r.ok for r in results))
    elif case == "B5":
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> bool:
            async with gate:
                r = await aio.mail.send(to=cfg["to"], subject=f"bench {i}", body="x",
                                        attachments=[cfg["file"]])
            return bool(r.status == "sent")
        with timed() as t:
            sent = sum(await asyncio.gather(*(one(i) for i in range(cfg["n"]))))
        emit(seconds=t.seconds, items=sent)
    await session.agraph.aclose()
    session.close()


def main() -> None:
    cfg = load()
    if cfg.get("variant") == "async":
        asyncio.run(async_case(cfg))
    else:
        sync_case(cfg)


if __name__ == "__main__":
    main()
