"""The token broker API against a served Control Room: a runner with an API key gets the
Shared or its user's User-specific access token (never a refresh token), Connect in
"Control Room managed" mode works through it, every token handed out is audited, and a
refused renewal turns the slot Expired with an error that says to log in again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from oauth_support import (
    PROVIDER,
    app_connection,
    browser_for,
    oauth_server,
    outlook_connection,
    stock_oauth,
)
from sqlalchemy import select

import m365bot
from m365bot.controlroom import RemoteControlRoom
from m365bot.controlroom.db import Database, audit
from m365bot.errors import ReauthRequired
from world_support import login_requests


def _audit(db: str) -> list[tuple[str, str, str]]:
    database = Database.open(db)
    try:
        with database.read() as c:
            return [(r.action, r.actor, r.target) for r in
                    c.execute(select(audit.c.action, audit.c.actor, audit.c.target)
                              .order_by(audit.c.id))]
    finally:
        database.dispose()


def _pick(name: str, token_type: str) -> dict[str, str]:
    return {"provider_type": PROVIDER, "connection_name": name, "token_type": token_type}


def test_runner_gets_shared_and_user_specific_tokens(clean_emulator: Any, settings: Any,
                                                     vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    db = str(tmp_path / "cr.db")
    room = stock_oauth(db, vault_key, info,
                       connections=(outlook_connection(info), app_connection(info)))
    with room.store() as store:  # the Shared token by an admin sign-in; alice's own token
        assert store.login(PROVIDER, "ops", token_type="shared", settings=settings,
                           open_browser=browser_for(info, "alice"), timeout=30) == "Active"
        assert store.login(PROVIDER, "ops", token_type="user", user=room.alice,
                           settings=settings, open_browser=browser_for(info, "alice"),
                           timeout=30) == "Active"
        assert store.login(PROVIDER, "ops-app", token_type="shared",
                           settings=settings) == "Active"
    with oauth_server(room, tmp_path / "server") as server:
        raw = httpx.post(server.url + "/api/v1/oauth/token", json=_pick("ops", "Shared"),
                         headers={"Authorization": f"Bearer {room.api_key.reveal()}"})
        assert raw.status_code == 200, raw.text
        assert set(raw.json()) == {"access_token", "token_type", "expires_in", "expires_on"}
        assert raw.json()["expires_in"] > 3000 and "refresh" not in raw.text
        cr = RemoteControlRoom(url=server.url, api_key=room.api_key)
        for token_type in ("shared", "user"):
            s = m365bot.connect(cloud="global", mode="Control Room managed",
                                username=room.alice, connection=_pick("ops", token_type),
                                settings=settings, connections=cr)
            assert s.identity == room.alice and "Mail.ReadWrite" in s.permissions
            s.close()
        s = m365bot.connect(cloud="global", mode="control-room",
                            username="ops@contoso.onmicrosoft.com",
                            connection=_pick("ops-app", "shared"), settings=settings,
                            connections=cr)
        assert s.identity_type == "app"
        s.close()
        cr.close()
    issued = [a for a in _audit(db) if a[0] == "token.issued"]
    assert [t for _, _, t in issued] == [  # the Shared token was asked for twice: one entry
        "Microsoft 365 Outlook/ops Shared",
        f"Microsoft 365 Outlook/ops User-specific:{room.alice}",
        "Microsoft 365 Outlook/ops-app Shared"]
    assert {actor for _, actor, _ in issued} == {"key:runner1"}


def test_refused_refresh_is_expired_and_says_log_in_again(
        clean_emulator: Any, settings: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    room = stock_oauth(str(tmp_path / "cr.db"), vault_key, info,
                       connections=(outlook_connection(info),))
    with room.store() as store:
        store.login(PROVIDER, "ops", token_type="user", user=room.alice, settings=settings,
                    open_browser=browser_for(info, "alice"), timeout=30)
        stored = store.repo.get(PROVIDER, "ops")
        store.repo.set_slot(stored.id, room.alice, expires_on=1.0)
    clean_emulator.clock.advance(91 * 86400)  # the refresh token unused for 90 days
    clean_emulator.control.clear()
    with oauth_server(room, tmp_path / "server") as server:
        cr = RemoteControlRoom(url=server.url, api_key=room.api_key)
        for _ in range(2):
            with pytest.raises(ReauthRequired) as ei:
                m365bot.connect(cloud="global", mode="control-room", username=room.alice,
                                connection=_pick("ops", "User-specific"), settings=settings,
                                connections=cr)
            assert "My settings > OAuth connections" in ei.value.advice
            assert room.alice in ei.value.message or room.alice in ei.value.advice
        cr.close()
    # one refresh was tried and refused; the second bot was told at once, without a request
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]
    with room.store() as store:
        assert store.status(PROVIDER, "ops", token_type="user", user=room.alice) == "Expired"
