"""The built-in demo world as a client sees it through Graph: seeded mail with attachments,
a shared mailbox, nested folders and events."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from core_support import app_token, direct_client

from m365bot.emulator.runtime import Emulator


@pytest.fixture(scope="module")
def graph(private_emulator: Emulator) -> Iterator[httpx.Client]:
    with direct_client(private_emulator) as c:
        c.headers["Authorization"] = "Bearer " + app_token(private_emulator, c)
        yield c


def _inbox(graph: httpx.Client, box: str) -> dict[str, bool]:
    r = graph.get(f"/v1.0/users/{box}/mailFolders/inbox/messages",
                  params={"$select": "subject,hasAttachments", "$top": "50"})
    assert r.status_code == 200, r.text
    return {m["subject"]: m["hasAttachments"] for m in r.json()["value"]}


def test_shared_ops_mailbox_has_orders_with_attachments(graph: httpx.Client) -> None:
    inbox = _inbox(graph, "ops@contoso.onmicrosoft.com")
    assert inbox["Order 5001 received"] is True
    assert inbox["Order 5002 received"] is False
    assert len(inbox) >= 3


def test_alice_has_mail_a_nested_folder_and_a_meeting_with_bob(graph: httpx.Client) -> None:
    inbox = _inbox(graph, "alice@contoso.onmicrosoft.com")
    assert inbox["Invoice 1001"] is True
    folders = graph.get("/v1.0/users/alice@contoso.onmicrosoft.com/mailFolders/inbox/"
                        "childFolders").json()["value"]
    assert [f["displayName"] for f in folders] == ["Projects"]
    for who in ("alice", "bob"):
        events = graph.get(f"/v1.0/users/{who}@contoso.onmicrosoft.com/events",
                           params={"$select": "subject"}).json()["value"]
        assert "Weekly sync" in [e["subject"] for e in events]
