"""Refresh under pressure, with real processes: single-flight across processes, strict refresh
token rotation, a lost refresh response, invalid_grant back-off, and nothing secret in DEBUG
logs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from refresh_support import job_for, run_workers

from auth_support import expire_cached_tokens, signed_in_alice
from m365bot.auth.modes import AuthCodePkce, ClientCredentials, SecretCredential
from m365bot.config import Settings
from m365bot.errors import ReauthRequired, TransportError
from m365bot.values import Secret
from world_support import app, login_requests, secret


def pkce_job_provider(p: AuthCodePkce) -> dict[str, Any]:
    return {"cloud": "global", "tenant": p.tenant, "client_id": p.client_id,
            "username": p.username, "redirect_url": "http://localhost:0"}


@pytest.mark.slow
def test_8_processes_one_expired_app_token_one_request(clean_emulator: Any, settings: Settings,
                                                       vault: Any, vault_key: str,
                                                       tmp_path: Path) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    prov = {"cloud": "global", "tenant": a["tenant_id"], "client_id": a["client_id"],
            "secret": secret(a)["value"]}
    ClientCredentials(credential=SecretCredential(Secret(prov["secret"])), settings=settings,
                      store=vault, cloud="global", tenant=a["tenant_id"],
                      client_id=a["client_id"]).get_token()
    assert expire_cached_tokens(vault, f"global|{a['tenant_id']}|{a['client_id']}|app") == 1
    clean_emulator.control.clear()
    results = run_workers(job_for(settings, tmp_path / "vault.db", vault_key, "app", prov, 8))
    assert len(results) == 8 and all(r["ok"] for r in results), results
    assert len({r["hash"] for r in results}) == 1
    assert clean_emulator.control.count("token") == 1
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]  # no discovery either


@pytest.mark.slow
def test_50_processes_strict_rotation_one_refresh(clean_emulator: Any, settings: Settings,
                                                  vault: Any,
                                                  vault_key: str, tmp_path: Path) -> None:
    p = signed_in_alice(clean_emulator, settings, vault)
    expire_cached_tokens(vault, p.cache_key)
    clean_emulator.settings.update({"refresh_token_policy": "strict"})
    clean_emulator.control.clear()
    results = run_workers(job_for(settings, tmp_path / "vault.db", vault_key, "pkce",
                                  pkce_job_provider(p), 50))
    assert len(results) == 50 and all(r["ok"] for r in results), results[:3]
    assert len({r["hash"] for r in results}) == 1
    assert clean_emulator.control.count("token") == 1
    assert clean_emulator.control.count("token", 200) == 1


def test_lost_refresh_response_strict_rotation_reauth_bounded(clean_emulator: Any,
                                                              settings: Settings,
                                                              vault: Any) -> None:
    p = signed_in_alice(clean_emulator, settings, vault)
    expire_cached_tokens(vault, p.cache_key)
    clean_emulator.settings.update({"refresh_token_policy": "strict"})
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="token", kind="apply_then_reset", nth=1, count=1)
    fresh = AuthCodePkce(cloud="global", tenant=p.tenant, client_id=p.client_id,
                         username=p.username, redirect_url="http://localhost:0",
                         interactive=False, settings=settings, store=vault)
    with pytest.raises(ReauthRequired) as e:
        fresh.get_token()
    assert e.value.code in ("70000", "invalid_grant", "70008", "700082", "50173")
    assert clean_emulator.control.count("token") == 2  # the lost one and one retry: no storm
    with pytest.raises(ReauthRequired):  # and within a minute: no request at all
        fresh.get_token()
    assert clean_emulator.control.count("token") == 2


def test_lost_refresh_response_entra_policy_recovers(clean_emulator: Any, settings: Settings,
                                                     vault: Any) -> None:
    p = signed_in_alice(clean_emulator, settings, vault)
    expire_cached_tokens(vault, p.cache_key)
    clean_emulator.control.clear()
    clean_emulator.control.add_fault(op="token", kind="apply_then_reset", nth=1, count=1)
    fresh = AuthCodePkce(cloud="global", tenant=p.tenant, client_id=p.client_id,
                         username=p.username, redirect_url="http://localhost:0",
                         interactive=False, settings=settings, store=vault)
    tok = fresh.get_token()
    assert tok.source == "identity_provider" and tok.expires_in() > 3000
    assert clean_emulator.control.count("token") == 2


def test_two_lost_answers_raise_transport_error_not_a_storm(clean_emulator: Any, settings: Settings,
                                                            vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    clean_emulator.control.add_fault(op="token", kind="reset", count=5)
    p = ClientCredentials(credential=SecretCredential(Secret(secret(a)["value"])),
                          settings=settings, store=vault, cloud="global",
                          tenant=a["tenant_id"], client_id=a["client_id"])
    with pytest.raises(TransportError):
        p.get_token()
    assert clean_emulator.control.count("token") == 2


def test_invalid_grant_at_most_once_a_minute(clean_emulator: Any, settings: Settings,
                                             vault: Any) -> None:
    p = signed_in_alice(clean_emulator, settings, vault)
    now = [1_000_000.0]
    clean_emulator.clock.advance(91 * 86400)  # the refresh token expires through inactivity
    expire_cached_tokens(vault, p.cache_key)
    clean_emulator.control.clear()

    def attempt() -> ReauthRequired:
        q = AuthCodePkce(cloud="global", tenant=p.tenant, client_id=p.client_id,
                         username=p.username, redirect_url="http://localhost:0",
                         interactive=False, settings=settings, store=vault,
                         clock=lambda: now[0])
        with pytest.raises(ReauthRequired) as e:
            q.get_token()
        return e.value

    first = attempt()
    assert "--interactive" in first.advice
    assert clean_emulator.control.count("token") == 1
    for step in (10, 20, 29):  # 5 minutes of attempts every few seconds: all refused locally
        now[0] += step
        attempt()
    assert clean_emulator.control.count("token") == 1
    now[0] += 2  # 61 s after the failure: one more real attempt
    attempt()
    assert clean_emulator.control.count("token") == 2
    for _ in range(5):
        now[0] += 5
        attempt()
    assert clean_emulator.control.count("token") == 2


@pytest.mark.slow
def test_fresh_process_with_valid_cached_token_sends_nothing(clean_emulator: Any,
                                                             settings: Settings,
                                                             vault: Any, vault_key: str,
                                                             tmp_path: Path) -> None:
    p = signed_in_alice(clean_emulator, settings, vault)
    clean_emulator.control.clear()
    results = run_workers(job_for(settings, tmp_path / "vault.db", vault_key, "pkce",
                                  pkce_job_provider(p), 2))
    assert all(r["ok"] and r["source"] == "cache" for r in results), results
    assert login_requests(clean_emulator) == []


def test_threads_sharing_one_provider_make_one_request(clean_emulator: Any, settings: Settings,
                                                       vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    p = ClientCredentials(credential=SecretCredential(Secret(secret(a)["value"])),
                          settings=settings, store=vault, cloud="global",
                          tenant=a["tenant_id"], client_id=a["client_id"])
    p.get_token()
    expire_cached_tokens(vault, p.cache_key)
    p._mem = None
    clean_emulator.control.clear()
    barrier = threading.Barrier(8)
    got: list[str] = []

    def run() -> None:
        barrier.wait()
        got.append(p.get_token().token.reveal())

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert clean_emulator.control.count("token") == 1
