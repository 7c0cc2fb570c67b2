"""The refresh-token source (Control Room managed connections) against the emulator, and no
code, verifier or token in DEBUG logs, msal's own included."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from refresh_support import CapturingClient, job_for, run_workers

from auth_support import expire_cached_tokens, signed_in_alice
from m365bot.auth.modes import AuthCodePkce
from m365bot.auth.refresh import RefreshTokenSource, VaultTokenState
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, ReauthRequired
from m365bot.redact import install_log_filter, redact
from world_support import login_requests


def cached_refresh_token(vault: Any, key: str) -> str:
    data = json.loads(vault.get_blob("token_cache", key))
    return str(next(iter(data["RefreshToken"].values()))["secret"])


def rt_provider(p: AuthCodePkce) -> dict[str, Any]:
    return {
        "key": "controlroom|microsoft|alice", "client_id": p.client_id,
        "token_url": f"https://login.microsoftonline.com/{p.tenant}/oauth2/v2.0/token",
        "scopes": ["https://graph.microsoft.com/Mail.ReadWrite", "offline_access"],
    }


@pytest.fixture
def connection(clean_emulator: Any, settings: Settings, vault: Any) -> dict[str, Any]:
    p = signed_in_alice(clean_emulator, settings, vault)
    prov = rt_provider(p)
    VaultTokenState(vault, prov["key"]).save(
        {"refresh_token": cached_refresh_token(vault, p.cache_key)})
    clean_emulator.control.clear()
    return prov


def test_refresh_token_source_refreshes_once_then_caches(clean_emulator: Any, settings: Settings,
                                                         vault: Any,
                                                         connection: dict[str, Any]) -> None:
    state = VaultTokenState(vault, connection["key"])
    before = state.load()
    tok = RefreshTokenSource(state=state, settings=settings, **connection).get_token()
    assert tok.claims["upn"].startswith("alice@") and "Mail.ReadWrite" in tok.scopes
    after = state.load()
    assert after and before and after["refresh_token"] != before["refresh_token"]  # rotated
    clean_emulator.control.clear()
    again = RefreshTokenSource(state=state, settings=settings, **connection).get_token()
    assert again.token == tok.token and again.source == "cache"
    assert login_requests(clean_emulator) == []
    forced = RefreshTokenSource(state=state, settings=settings, **connection).get_token(
        force_refresh=True)
    assert forced.token != tok.token


@pytest.mark.slow
def test_refresh_token_source_8_processes_strict_one_refresh(
        clean_emulator: Any, settings: Settings, vault: Any, vault_key: str, tmp_path: Path,
        connection: dict[str, Any]) -> None:
    clean_emulator.settings.update({"refresh_token_policy": "strict"})
    results = run_workers(job_for(settings, tmp_path / "vault.db", vault_key, "rt",
                                  connection, 8))
    assert all(r["ok"] for r in results), results
    assert len({r["hash"] for r in results}) == 1
    assert clean_emulator.control.count("token") == 1


def test_a_token_url_that_is_not_https_is_refused(settings: Settings, vault: Any) -> None:
    with pytest.raises(ConfigError) as e:
        RefreshTokenSource(key="k", client_id="c", token_url="http://login.example/token",
                           state=VaultTokenState(vault, "k"), settings=settings)
    assert (e.value.field, e.value.message) == ("token_url", "the token URL must be https")


def test_refresh_token_source_invalid_grant_backs_off(clean_emulator: Any, settings: Settings,
                                                      vault: Any,
                                                      connection: dict[str, Any]) -> None:
    now = [2_000_000.0]
    clean_emulator.clock.advance(91 * 86400)
    state = VaultTokenState(vault, connection["key"])
    for _ in range(4):
        with pytest.raises(ReauthRequired):
            RefreshTokenSource(state=state, settings=settings, clock=lambda: now[0],
                               **connection).get_token()
        now[0] += 15
    assert clean_emulator.control.count("token") == 1
    now[0] += 16
    with pytest.raises(ReauthRequired):
        RefreshTokenSource(state=state, settings=settings, clock=lambda: now[0],
                           **connection).get_token()
    assert clean_emulator.control.count("token") == 2


@pytest.mark.parametrize("policy", ["entra", "strict"])
def test_refresh_token_source_lost_answer(clean_emulator: Any, settings: Settings, vault: Any,
                                          connection: dict[str, Any], policy: str) -> None:
    clean_emulator.settings.update({"refresh_token_policy": policy})
    clean_emulator.control.add_fault(op="token", kind="apply_then_reset", nth=1, count=1)
    state = VaultTokenState(vault, connection["key"])
    source = RefreshTokenSource(state=state, settings=settings, **connection)
    if policy == "entra":
        assert source.get_token().expires_in() > 3000  # the retry with the same token works
    else:
        with pytest.raises(ReauthRequired):  # the server rotated it away: sign in again
            source.get_token()
    assert clean_emulator.control.count("token") == 2


def test_no_code_verifier_or_token_in_debug_logs(clean_emulator: Any, settings: Settings,
                                                 vault: Any,
                                                 caplog: pytest.LogCaptureFixture,
                                                 register_canary: Any) -> None:
    caplog.set_level(logging.DEBUG)
    capture = CapturingClient(settings)
    p = signed_in_alice(clean_emulator, settings, vault, http_client=capture)
    expire_cached_tokens(vault, p.cache_key)
    fresh = AuthCodePkce(cloud="global", tenant=p.tenant, client_id=p.client_id,
                         username=p.username, redirect_url="http://localhost:0",
                         interactive=False, settings=settings, store=vault,
                         http_client=capture)
    tok = fresh.get_token()
    data = json.loads(vault.get_blob("token_cache", p.cache_key))
    secrets_seen = [capture.token_posts[0]["code"], capture.token_posts[0]["code_verifier"],
                    tok.token.reveal(), cached_refresh_token(vault, p.cache_key)]
    secrets_seen += [e["secret"] for e in data["IdToken"].values()]
    for s in secrets_seen:  # also scanned for at the end of the whole run
        register_canary(s)
    text = caplog.text
    assert "msal" in text and "token" in text  # msal's DEBUG output was captured
    for s in secrets_seen:
        assert s not in text
        assert s[:24] not in text


def test_msal_auth_response_log_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import msal.oauth2cli.authcode  # noqa: F401

    install_log_filter()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("msal.oauth2cli.authcode").debug(
        "Got auth response: %s", {"code": "0.AXcode-canary", "state": "st",
                                  "client_info": "eyJ1aWQiOiJ4In0"})
    logging.getLogger("msal.application").debug(
        "refresh failed for %s", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    assert "0.AXcode-canary" not in caplog.text and "c2lnbmF0dXJl" not in caplog.text
    assert "eyJ1aWQiOiJ4In0" not in caplog.text
    assert "Got auth response" in caplog.text and "'state': 'st'" in caplog.text


def test_redact_examples() -> None:
    assert redact("code=abc&state=x") == "code=***&state=x"
    assert redact('{"refresh_token": "1.AbC", "scope": "Mail.Read"}') == (
        '{"refresh_token": "***", "scope": "Mail.Read"}')
    assert redact("error_codes=[7000215] status_code=400") == (
        "error_codes=[7000215] status_code=400")


def test_refresh_token_source_retries_a_503_once(clean_emulator: Any, settings: Settings,
                                                 vault: Any,
                                                 connection: dict[str, Any]) -> None:
    clean_emulator.control.add_fault(op="token", kind="status", status=503, count=1)
    source = RefreshTokenSource(state=VaultTokenState(vault, connection["key"]),
                                settings=settings, **connection)
    assert source.get_token().expires_in() > 3000
    assert clean_emulator.control.count("token") == 2
    clean_emulator.control.add_fault(op="token", kind="status", status=503, count=2)
    with pytest.raises(AuthError) as ei:
        source.get_token(force_refresh=True)
    assert ei.value.code == "90033" and "try again in a minute" in ei.value.advice
    assert clean_emulator.control.count("token") == 4
