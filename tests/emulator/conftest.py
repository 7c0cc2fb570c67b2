"""Fixtures for the emulator tests: a world of their own, and Graph callers over real HTTPS
through proxy mode (the real graph.microsoft.com URLs) with tokens from the emulator's real
token endpoint. The helpers they use (``GX``, ``proxied_client``, tokens) are in
graphx_support.py and mail_support.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphx_support import ALICE, BOB, GX, app_token, proxied_client
from mail_support import FULL_SCOPE, sign_in

from m365bot.emulator.runtime import Emulator
from m365bot.emulator.state import Message


@pytest.fixture(scope="module")
def private_emulator(emulator_data_dir: Path) -> Iterator[Emulator]:
    """A demo-scenario emulator private to one test module (for tests that change faults,
    throttling or settings, which the session ``emulator`` must not see)."""
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir) as e:
        yield e


@pytest.fixture(scope="module")
def http_client(emulator_info: dict[str, Any]) -> Iterator[httpx.Client]:
    """An httpx client reaching the real Graph and login host names through the session
    emulator's proxy (its CA trusted); one per test module, so no module reuses a
    connection that another module's test left to the server to close."""
    with proxied_client(emulator_info) as client:
        yield client


@pytest.fixture(scope="module")
def gx(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    """The session emulator's Graph as contoso's m365bot-demo app (app-only: Mail.ReadWrite,
    Mail.Send, Calendars.ReadWrite)."""
    return GX(client=http_client, token=app_token(http_client, emulator_info),
              info=emulator_info)


@pytest.fixture(scope="module")
def alice_delegated(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    """Alice signed in to the public client with mail scopes incl. the .Shared ones."""
    return GX(client=http_client, token=sign_in(emulator_info, "alice", FULL_SCOPE),
              info=emulator_info)


@pytest.fixture(scope="module")
def bob_delegated(http_client: httpx.Client, emulator_info: dict[str, Any]) -> GX:
    """Bob signed in to the public client with mail scopes incl. the .Shared ones."""
    return GX(client=http_client, token=sign_in(emulator_info, "bob", FULL_SCOPE),
              info=emulator_info)


@pytest.fixture
def draft(emulator: Any) -> Iterator[str]:
    """A fresh draft in Alice's mailbox (placed directly in the emulator's state); its id."""
    box = emulator.state.mailbox(ALICE)
    folder = next((f.id for f in box.folders.values() if f.well_known_name == "drafts"), "")
    mid = "AAMkAGDraft" + uuid.uuid4().hex + "AAA="
    with emulator.state.lock:
        box.messages[mid] = Message(
            id=mid, immutable_id=mid, folder_id=folder,
            props={"subject": "attachment test", "isDraft": True, "hasAttachments": False,
                   "body": {"contentType": "text", "content": "hi"}},
        )
    yield mid
    with emulator.state.lock:
        box = emulator.state.mailbox(ALICE)
        if box is not None:
            box.messages.pop(mid, None)


@pytest.fixture
def mailboxes_restored(emulator: Any) -> Iterator[None]:
    """Remove the messages and folders a test adds to Alice's and Bob's mailboxes (the session
    emulator is shared: other tests count Inbox pages)."""
    boxes = [emulator.state.mailbox(who) for who in (ALICE, BOB)]
    before = [(set(b.messages), set(b.folders)) for b in boxes]
    yield
    with emulator.state.lock:
        for box, (messages, folders) in zip(boxes, before, strict=True):
            for mid in set(box.messages) - messages:
                del box.messages[mid]
            for fid in set(box.folders) - folders:
                del box.folders[fid]


@pytest.fixture
def calendars_restored(emulator: Any) -> Iterator[None]:
    """Remove the events a test adds to Alice's and Bob's calendars (shared session emulator)."""
    before = {a: set(emulator.state.mailbox(a).events) for a in (ALICE, BOB)}
    yield
    with emulator.state.lock:
        for address, ids in before.items():
            box = emulator.state.mailbox(address)
            if box is None:
                continue
            for eid in set(box.events) - ids:
                del box.events[eid]
