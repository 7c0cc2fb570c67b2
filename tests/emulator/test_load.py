"""The emulator stays truthful over long runs: the mailbox's size is a running total that
follows every change, and delta tombstones are kept only while a delta token needs them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from core_support import app_token, direct_client

from m365bot.emulator.runtime import Emulator
from m365bot.emulator.state import Mailbox, message_size

ALICE = "alice@contoso.onmicrosoft.com"
BOB = "bob@contoso.onmicrosoft.com"
BOX = f"/v1.0/users/{ALICE}"


@pytest.fixture
def client(private_emulator: Emulator) -> Iterator[httpx.Client]:
    private_emulator.reset()
    with direct_client(private_emulator) as c:
        c.headers["Authorization"] = "Bearer " + app_token(private_emulator, c)
        yield c


def _box(emulator: Emulator, address: str = ALICE) -> Mailbox:
    box = emulator.state.mailbox(address)
    assert box is not None
    return box


def _walked(box: Mailbox) -> int:
    return sum(message_size(m) for m in box.messages.values())


def _send(client: httpx.Client, subject: str, size: int) -> httpx.Response:
    return client.post(f"{BOX}/sendMail", json={"message": {
        "subject": subject, "body": {"contentType": "text", "content": "x" * size},
        "toRecipients": [{"emailAddress": {"address": BOB}}]}})


def test_the_size_total_follows_every_change(private_emulator: Emulator,
                                             client: httpx.Client) -> None:
    box = _box(private_emulator)
    draft = client.post(f"{BOX}/messages", json={
        "subject": "d", "body": {"contentType": "text", "content": "y" * 3000}}).json()["id"]
    assert box.size == _walked(box)
    r = client.post(f"{BOX}/messages/{draft}/attachments", json={
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin",
        "contentBytes": base64.b64encode(b"z" * 5000).decode()})
    assert r.status_code == 201, r.text
    assert box.size == _walked(box)
    assert client.patch(f"{BOX}/messages/{draft}", json={
        "body": {"contentType": "text", "content": "short"}}).status_code == 200
    assert box.size == _walked(box)
    moved = client.post(f"{BOX}/messages/{draft}/move", json={"destinationId": "archive"})
    assert moved.status_code == 201, moved.text
    assert client.delete(f"{BOX}/messages/{moved.json()['id']}").status_code == 204
    assert _send(client, "s", 2000).status_code == 202
    assert box.size == _walked(box)
    assert _box(private_emulator, BOB).size == _walked(_box(private_emulator, BOB))


def test_quota_counts_what_the_mailbox_holds_now(private_emulator: Emulator,
                                                 client: httpx.Client) -> None:
    box = _box(private_emulator)
    box.quota_bytes = box.size + 10_000
    assert [_send(client, f"q{i}", 4000).status_code for i in range(3)] == [202, 202, 403]
    sent = client.get(f"{BOX}/mailFolders/sentitems/messages",
                      params={"$select": "subject", "$filter": "subject eq 'q0'"}).json()
    assert client.delete(f"{BOX}/messages/{sent['value'][0]['id']}").status_code == 204
    for m in [m for m in box.messages.values() if m.props.get("subject") == "q0"]:
        del box.messages[m.id]  # purge the soft-deleted copy, as retention would
    assert _send(client, "q3", 4000).status_code == 202


def _delta(client: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    """Follow a delta round to its end: (items, deltaLink)."""
    items: list[dict[str, Any]] = []
    while True:
        page = client.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def test_tombstones_are_kept_only_while_a_delta_token_needs_them(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    box = _box(private_emulator)
    inbox_delta = (f"{private_emulator.base_url}{BOX}/mailFolders/inbox/messages/delta"
                   "?$select=subject")
    _, token0 = _delta(client, inbox_delta)
    first = client.get(f"{BOX}/mailFolders/inbox/messages", params={"$top": "1"}).json()
    original = first["value"][0]["id"]
    current = original
    for i in range(61):  # inbox → archive → inbox …, ending in the archive
        dest = "archive" if i % 2 == 0 else "inbox"
        r = client.post(f"{BOX}/messages/{current}/move", json={"destinationId": dest})
        assert r.status_code == 201, r.text
        current = r.json()["id"]
    # Only the first move out of the Inbox was seen by a token (token0): one tombstone.
    assert len(box.deleted_ids) == 1, len(box.deleted_ids)

    items, token1 = _delta(client, token0)
    removed = [it["id"] for it in items if "@removed" in it]
    assert removed == [original]
    for dest in ("inbox", "archive"):  # in and out again, unseen by any token
        r = client.post(f"{BOX}/messages/{current}/move", json={"destinationId": dest})
        assert r.status_code == 201, r.text
        current = r.json()["id"]
    items, _ = _delta(client, token1)
    assert [it["id"] for it in items if "@removed" in it] == []  # token1 never saw it
    assert len(box.deleted_ids) == 1
    replay, _ = _delta(client, token0)  # an old token still hears of what it saw
    assert [it["id"] for it in replay if "@removed" in it] == [original]
