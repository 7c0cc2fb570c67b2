"""Connect's mailbox check is remembered per cached token (issue 10, B1): a second bot process
with the same cached token makes one Graph round trip fewer, and a check so skipped still
fails fast, on the first real request, with the error Connect would have given."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import m365bot
from m365bot.config import Settings
from m365bot.errors import GraphError, NotFoundError
from m365bot.values import CredentialRef, Secret
from m365bot.vault import Vault
from world_support import app, graph_requests, login_requests, secret_of

OPS = "ops@contoso.onmicrosoft.com"
SCRIPT = str(Path(__file__).parent / "connect_bot.py")


def _bot(emu: Any, settings: Settings, vault: Vault, vault_key: str) -> dict[str, Any]:
    """One bot process: Connect with the vault's secret, then list the Inbox."""
    a = app(emu.info)
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(settings.data_dir), "M365BOT_PROXY": str(settings.proxy),
                "M365BOT_CA_BUNDLE": str(settings.ca_bundle), "M365BOT_VAULT_KEY": vault_key,
                "BOT_VAULT": str(vault.path), "BOT_CID": a["client_id"],
                "BOT_TID": a["tenant_id"], "BOT_LIST": "1"})
    proc = subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _paths(emu: Any) -> list[str]:
    return [str(r.get("path", "")).rsplit("/", 1)[-1] for r in graph_requests(emu)]


def _connect(emu: Any, settings: Settings, vault: Vault | None) -> Any:
    a = app(emu.info)
    secret: Any = (CredentialRef("bots", "o365-global", "client_secret") if vault is not None
                   else Secret(secret_of(a)))
    return m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                           tenant_id=a["tenant_id"], username=OPS, client_secret=secret,
                           settings=settings, vault=vault)


def test_second_process_with_the_cached_token_skips_the_check(
        clean_emulator: Any, settings: Settings, demo_vault: Vault, vault_key: str) -> None:
    clean_emulator.control.clear()
    first = _bot(clean_emulator, settings, demo_vault, vault_key)
    assert _paths(clean_emulator) == ["inbox", "messages"]  # the check, then the list
    clean_emulator.control.clear()
    second = _bot(clean_emulator, settings, demo_vault, vault_key)
    assert _paths(clean_emulator) == ["messages"]  # one round trip fewer
    assert login_requests(clean_emulator) == []  # the same cached token
    assert second["subjects"] == first["subjects"] and len(first["subjects"]) >= 1


def _exclude_ops(emu: Any) -> None:
    emu.state.apps[app(emu.info)["client_id"]].access_policy = ["alice@contoso.onmicrosoft.com"]


def _disable_ops(emu: Any) -> None:
    emu.state.mailboxes[OPS].enabled_for_rest = False


@pytest.mark.parametrize("take_away", [_exclude_ops, _disable_ops])
def test_a_skipped_check_fails_on_the_first_request_with_connects_error(
        fresh_emulator: Any, demo_vault: Vault, vault_key: str, tmp_path: Path,
        take_away: Any) -> None:
    """The mailbox leaves the app's access policy (403) or stops being enabled for Graph
    (404) after a check passed: the next bot fails on its first request, with the clear
    error Connect itself gives, and the bot after that fails at Connect again."""
    emu = fresh_emulator
    settings = Settings(data_dir=tmp_path / "home", proxy=emu.info["proxy_url"],
                        ca_bundle=emu.info["ca_bundle"], timeout=20)
    assert "subjects" in _bot(emu, settings, demo_vault, vault_key)
    take_away(emu)
    with pytest.raises(GraphError) as at_connect:  # what Connect says with nothing cached
        _connect(emu, Settings(data_dir=tmp_path / "other", proxy=settings.proxy,
                               ca_bundle=settings.ca_bundle, timeout=20), None)
    emu.control.clear()
    skipped = _bot(emu, settings, demo_vault, vault_key)
    assert skipped == {"error": str(at_connect.value), "step": "list"}
    assert OPS in skipped["error"] and "Fix:" in skipped["error"]
    assert _paths(emu) == ["messages", "inbox"]  # the request, then the check it skipped
    emu.control.clear()
    again = _bot(emu, settings, demo_vault, vault_key)
    assert again == {"error": str(at_connect.value), "step": "connect"}
    assert _paths(emu) == ["inbox"]


def test_a_skipped_check_leaves_other_errors_as_they_are(
        clean_emulator: Any, settings: Settings, demo_vault: Vault) -> None:
    """A 404 for an item is the item's error, not the mailbox's: the check that was skipped
    runs once, passes, and the NotFoundError stands; the next 404 costs no extra request."""
    _connect(clean_emulator, settings, demo_vault).close()
    s = _connect(clean_emulator, settings, demo_vault)
    clean_emulator.control.clear()
    try:
        for _ in range(2):
            with pytest.raises(NotFoundError) as ei:
                s.graph_get(f"/users/{OPS}/messages/AAMkAGno-such-message")
            assert ei.value.code == "ErrorItemNotFound"
    finally:
        m365bot.disconnect(s)
    assert _paths(clean_emulator) == ["AAMkAGno-such-message", "inbox",
                                      "AAMkAGno-such-message"]


def test_the_async_engine_runs_the_skipped_check_too(fresh_emulator: Any, demo_vault: Vault,
                                                     tmp_path: Path) -> None:
    emu = fresh_emulator
    settings = Settings(data_dir=tmp_path / "home", proxy=emu.info["proxy_url"],
                        ca_bundle=emu.info["ca_bundle"], timeout=20)
    _connect(emu, settings, demo_vault).close()
    s = _connect(emu, settings, demo_vault)  # the check skipped
    _exclude_ops(emu)

    async def first_request() -> None:
        try:
            await s.agraph.get(f"/users/{OPS}/mailFolders/inbox/messages")
        finally:
            await s.agraph.aclose()

    try:
        with pytest.raises(GraphError) as ei:
            asyncio.run(first_request())
    finally:
        m365bot.disconnect(s)
    assert ei.value.code == "ErrorAccessDenied"
    assert f"cannot open mailbox {OPS}" in ei.value.message
    assert "ApplicationAccessPolicy" in ei.value.advice


def test_a_batch_meets_the_skipped_check_too(fresh_emulator: Any, demo_vault: Vault,
                                             tmp_path: Path) -> None:
    """``$batch`` reports a 403 per item rather than raising it: while the check is pending,
    such an item runs it, and a mailbox out of reach raises Connect's error; an item's own
    404 after the check passed stays in the results."""
    from m365bot.graph.batching import BatchItem

    emu = fresh_emulator
    settings = Settings(data_dir=tmp_path / "home", proxy=emu.info["proxy_url"],
                        ca_bundle=emu.info["ca_bundle"], timeout=20)
    _connect(emu, settings, demo_vault).close()
    items = [BatchItem("1", "GET", f"/users/{OPS}/messages/AAMkAGno-such-message"),
             BatchItem("2", "GET", f"/users/{OPS}/mailFolders/inbox")]
    s = _connect(emu, settings, demo_vault)
    try:
        results = s.graph.batch(items)  # the mailbox is there: the 404 is the item's own
        assert [r.status for r in results] == [404, 200]
    finally:
        m365bot.disconnect(s)
    s = _connect(emu, settings, demo_vault)
    _exclude_ops(emu)
    try:
        with pytest.raises(GraphError) as ei:
            s.graph.batch(items)
    finally:
        m365bot.disconnect(s)
    assert f"cannot open mailbox {OPS}" in ei.value.message and ei.value.status == 403
