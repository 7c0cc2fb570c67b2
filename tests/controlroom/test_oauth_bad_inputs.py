"""Bad input on the OAuth connection forms, the Login and callback pages and the token
broker API: each gets a 4xx with a message saying what is wrong (and for forms the fix),
never a 500, and nothing is changed in the connections, their roles or their tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from oauth_support import ROLE, app_connection, oauth_server, outlook_connection, stock_oauth
from sqlalchemy import select

from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, alert_of
from m365bot.controlroom import apikeys
from m365bot.controlroom.db import Database
from m365bot.controlroom.oauth_tables import connection_roles, oauth_connections, oauth_tokens
from world_support import tenant


def _snapshot(db: str) -> Any:
    database = Database.open(db)
    try:
        with database.read() as c:
            return [sorted(map(tuple, c.execute(select(t)).all()), key=repr)
                    for t in (oauth_connections, connection_roles, oauth_tokens)]
    finally:
        database.dispose()


def _page_error(r: httpx.Response, status: int, words: str) -> None:
    text = alert_of(r.text)
    assert r.status_code == status, (r.status_code, text, words)
    assert words.lower() in text.lower(), (text, words)


def _api_error(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text, words)
    body = r.json()
    assert words.lower() in body["error"].lower(), (body, words)
    assert body["fix"], body


def test_bad_inputs_get_a_4xx_with_a_message_and_change_nothing(
        clean_emulator: Any, vault_key: str, tmp_path: Path) -> None:
    info = clean_emulator.info
    db = str(tmp_path / "cr.db")
    room = stock_oauth(db, vault_key, info,
                       connections=(outlook_connection(info), app_connection(info)))
    database = Database.open(db)
    _, bob_key = apikeys.create(database, "bob-runner", run_as=room.bob, bots="*", by="test")
    database.dispose()
    good = {"provider_type": "Microsoft 365 Outlook", "name": "new-conn", "cloud": "gcchigh",
            "tenant": tenant(info, "usgovhigh")["id"], "grant_type": "authorization_code",
            "client_id": "11111111-2222-3333-4444-555555555555", "scopes": "",
            "roles": ROLE, "action": "save"}
    custom = dict(good, provider_type="Custom", authorization_url="https://idp.example/auth",
                  token_url="https://idp.example/token")
    form_cases = [
        (dict(good, name=""), "name"),
        (dict(good, name="a|b"), "name"),
        (dict(good, name="x" * 201), "name"),
        (dict(good, provider_type="Bogus"), "provider type"),
        (dict(good, cloud="mars"), "cloud"),
        (dict(good, tenant=""), "tenant"),
        (dict(good, tenant="contoso/../x"), "tenant"),
        (dict(good, grant_type="password"), "grant type"),
        (dict(good, client_id=""), "client_id"),
        (dict(good, grant_type="client_credentials"), "client secret"),
        (dict(custom, token_url="http://idp.example/token"), "token_url"),
        (dict(custom, authorization_url=""), "authorization_url"),
        (dict(custom, token_url="not a url"), "token_url"),
        (dict(good, roles="nosuchrole"), "no role named"),
        (dict(good, name="ops"), "already"),
        (dict(good, scopes="s" * 2001), "scopes"),
        (dict(good, client_id="c" * 201), "client_id"),
    ]
    before = _snapshot(db)
    with oauth_server(room, tmp_path / "server") as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        for form, words in form_cases:
            r = admin.post_form("/manage/oauth-connections/new", form)
            _page_error(r, 400, words)
            assert "Fix:" in alert_of(r.text)
        listing = admin.get("/manage/oauth-connections").text
        ids = dict(re.findall(r'/manage/oauth-connections/(\d+)">([^<]+)<', listing))
        ops_id = next(i for i, n in ids.items() if n == "ops")
        app_id = next(i for i, n in ids.items() if n == "ops-app")
        edit = f"/manage/oauth-connections/{app_id}"
        _page_error(admin.post_form(edit, dict(good, name="ops")), 400, "already")
        _page_error(admin.post_form("/manage/oauth-connections/99999", good), 404, "no oauth")
        _page_error(admin.post_form("/manage/oauth-connections/99999/delete", {}), 404,
                    "no oauth")
        _page_error(admin.get("/manage/oauth-connections?provider=Bogus"), 400, "provider")
        _page_error(admin.post("/manage/oauth-connections/new", data=good), 403, "csrf")

        alice = server.sign_in(room.alice, USER_PASSWORD)
        _page_error(alice.get("/settings/oauth-connections?provider=Bogus"), 400, "provider")
        _page_error(alice.post_form("/manage/oauth-connections/new", good), 403,
                    "administrators")
        _page_error(alice.post_form(f"/settings/oauth-connections/{app_id}/login", {}), 400,
                    "client credentials")
        _page_error(alice.get("/callback?state=forged&code=x"), 400, "not started by")
        started = alice.post_form(f"/settings/oauth-connections/{ops_id}/login", {})
        assert started.status_code == 303
        state = re.search(r"[?&]state=([^&]+)", started.headers["location"]).group(1)  # type: ignore[union-attr]
        bob = server.sign_in(room.bob, USER_PASSWORD)
        _page_error(bob.post_form(f"/settings/oauth-connections/{ops_id}/login", {}), 404,
                    "shared with you")
        _page_error(bob.get(f"/callback?state={state}&code=x"), 400, "another")
        denied = alice.get(f"/callback?state={state}&error=access_denied")
        assert denied.status_code == 303 and "Login%20failed" in denied.headers["location"]

        url = server.url + "/api/v1/oauth/token"
        key = {"Authorization": f"Bearer {room.api_key.reveal()}"}
        pick = {"provider_type": "Microsoft 365 Outlook", "connection_name": "ops",
                "token_type": "Shared"}
        api_cases = [
            ({}, json.dumps(pick), 401, "needs a runner's api key"),
            ({"Authorization": "Bearer m365cr_nope_nope"}, json.dumps(pick), 401, "unknown"),
            (key, "not json", 400, "not json"),
            (key, "[1, 2]", 400, "not a json object"),
            (key, json.dumps(dict(pick, refresh_token="x")), 400, "unknown field"),
            (key, json.dumps(dict(pick, connection_name="")), 400, "connection_name is empty"),
            (key, json.dumps(dict(pick, token_type="sometimes")), 400, "token type"),
            (key, json.dumps(dict(pick, connection_name=123)), 400, "must be a string"),
            (key, json.dumps(dict(pick, connection_name="nope")), 404, "no microsoft 365"),
            (key, json.dumps(dict(pick, stale="x" * 5000)), 400, "larger than 4 kib"),
            (key, json.dumps(dict(pick, token_type="User-specific")), 409, "not connected"),
            ({"Authorization": f"Bearer {bob_key.reveal()}"}, json.dumps(pick), 403,
             "not shared"),
        ]
        for headers, body, status, words in api_cases:
            _api_error(httpx.post(url, content=body, headers=headers), status, words)
        r = httpx.post(url, json=dict(pick, token_type="User-specific"), headers=key)
        assert "My settings > OAuth connections" in r.json()["fix"]
    assert _snapshot(db) == before  # nothing was created, changed or deleted
    assert len(form_cases) + 5 + 8 + len(api_cases) >= 40
