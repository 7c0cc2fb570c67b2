"""Identity state across restarts, direct mode, and secrets kept out of logs and inspection."""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from msal_support import app, get_code, http, tenant, user, valid_secret

from m365bot.emulator.runtime import Emulator

SCOPE = "openid offline_access https://graph.microsoft.com/Mail.ReadWrite"


def _redeem(info: dict[str, Any], client: httpx.Client, code: str, verifier: str) -> dict[str, Any]:
    r = client.post(
        f"https://login.microsoftonline.com/{tenant(info)['domain']}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": app(info, "m365bot-pkce")["client_id"],
            "code": code,
            "redirect_uri": "http://localhost:8400",
            "code_verifier": verifier,
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_tokens_and_refresh_tokens_survive_a_restart_with_state(
    emulator_data_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, state_dir=state) as first:
        info = first.info
        pkce = app(info, "m365bot-pkce")
        with http(info) as client:
            code, verifier = get_code(info, client, pkce["client_id"], user(info, "alice"), SCOPE)
            tokens = _redeem(info, client, code, verifier)
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, state_dir=state) as second:
        # The signing key was kept: a token from before the restart still verifies.
        claims = second.tokens.decode_access_token(tokens["access_token"])
        assert claims["upn"] == user(second.info, "alice")["upn"]
        with http(second.info) as client:
            r = client.post(
                f"https://login.microsoftonline.com/{tenant(second.info)['id']}/oauth2/v2.0/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": pkce["client_id"],
                    "refresh_token": tokens["refresh_token"],
                    "scope": SCOPE,
                },
            )
        assert r.status_code == 200, r.text


def test_direct_mode_finds_a_tenant_of_any_cloud(emulator: Any) -> None:
    info = emulator.info
    gov = tenant(info, "usgovhigh")
    demo = app(info, "m365bot-demo", "usgovhigh")
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with httpx.Client(verify=ctx, trust_env=False) as direct:
        r = direct.post(
            f"{info['base_url']}/{gov['domain']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": demo["client_id"],
                "client_secret": valid_secret(demo),
                "scope": "https://graph.microsoft.us/.default",
            },
        )
    assert r.status_code == 200, r.text
    assert emulator.tokens.decode_access_token(r.json()["access_token"])["aud"] == (
        "https://graph.microsoft.us"
    )


def test_no_secret_code_or_token_in_logs_or_inspection(
    emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    info = emulator.info
    demo = app(info, "m365bot-demo")
    alice = user(info, "alice")
    caplog.set_level(logging.DEBUG, logger="m365bot")
    secret = valid_secret(demo)
    with http(info) as client:
        cc = client.post(
            f"https://login.microsoftonline.com/{tenant(info)['id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": demo["client_id"],
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()
        code, verifier = get_code(
            info, client, app(info, "m365bot-pkce")["client_id"], alice, SCOPE
        )
        tokens = _redeem(info, client, code, verifier)
    recorded = json.dumps(emulator.control.requests(), default=str)
    # Only the emulator's own records: the test's httpx client logs its 302 Location at DEBUG
    # (the canary plugin turns the root logger to DEBUG), which is the client's business.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("m365bot"))
    assert "token grant=" in ours
    for value in (
        secret,
        alice["password"],
        code,
        verifier,
        cc["access_token"],
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert value not in ours
        assert value not in recorded


def test_sign_in_pages_are_recorded_as_authorize(emulator: Any) -> None:
    info = emulator.info
    before = emulator.control.count("authorize")
    with http(info) as client:
        get_code(info, client, app(info, "m365bot-pkce")["client_id"], user(info, "alice"), SCOPE)
    # The GET /authorize and the sign-in form POST both ran through control.run.
    assert emulator.control.count("authorize") >= before + 2
    recorded = emulator.control.requests(op="authorize")
    assert recorded[-1]["app_id"] == app(info, "m365bot-pkce")["client_id"]
