"""A cached app token is used only with the credential that obtained it: a wrong secret after
a good connect still fails fast (AADSTS7000215), a rotated secret connects with one new token
request, and the same secret keeps using the cache."""

from __future__ import annotations

import time
from typing import Any

import pytest

import m365bot
from m365bot.config import Settings
from m365bot.errors import AuthError
from m365bot.values import Secret
from m365bot.vault import Vault
from world_support import app, login_requests, secret_of


def _connect(info: dict[str, Any], settings: Settings, secret: str, vault: Vault) -> Any:
    a = app(info)
    return m365bot.connect(cloud="global", mode="client-credentials",
                           client_id=a["client_id"], tenant_id=a["tenant_id"],
                           username="ops@contoso.onmicrosoft.com",
                           client_secret=Secret(secret), settings=settings, vault=vault)


def _token_requests(emulator: Any) -> int:
    return sum(1 for r in login_requests(emulator) if r.get("op") == "token")


def test_wrong_secret_fails_even_with_a_cached_token(clean_emulator: Any, settings: Settings,
                                                     demo_vault: Vault,
                                                     register_canary: Any) -> None:
    _connect(clean_emulator.info, settings, secret_of(app(clean_emulator.info)), demo_vault).close()
    wrong = register_canary("CANARY-definitely-wrong")
    before = _token_requests(clean_emulator)
    with pytest.raises(AuthError) as ei:
        _connect(clean_emulator.info, settings, wrong, demo_vault)
    assert ei.value.code == "7000215" and _token_requests(clean_emulator) == before + 1
    assert "use the secret's value, not its ID" in str(ei.value)
    # the good credential's cached token survived the failed attempt
    before = _token_requests(clean_emulator)
    _connect(clean_emulator.info, settings, secret_of(app(clean_emulator.info)), demo_vault).close()
    assert _token_requests(clean_emulator) == before


def test_rotated_secret_connects_with_one_new_token_request(fresh_emulator: Any, demo_vault: Vault,
                                                            tmp_path: Any) -> None:
    from m365bot.emulator.state import AppSecret

    s = Settings(data_dir=tmp_path / "home", proxy=fresh_emulator.info["proxy_url"],
                 ca_bundle=fresh_emulator.info["ca_bundle"], timeout=20)
    _connect(fresh_emulator.info, s, secret_of(app(fresh_emulator.info)), demo_vault).close()
    a = app(fresh_emulator.info)
    fresh_emulator.state.apps[a["client_id"]].secrets.append(AppSecret(
        id="7d0c5b0e-0000-4000-8000-00000000f00d", value="rotated-Q8~new-secret-value",
        expires=time.time() + 86400))
    before = _token_requests(fresh_emulator)
    sess = _connect(fresh_emulator.info, s, "rotated-Q8~new-secret-value", demo_vault)
    assert sess.identity == "m365bot-demo" and _token_requests(fresh_emulator) == before + 1
    sess.close()
    before = _token_requests(fresh_emulator)
    _connect(fresh_emulator.info, s, "rotated-Q8~new-secret-value", demo_vault).close()
    assert _token_requests(fresh_emulator) == before


def test_certificate_is_checked_too(clean_emulator: Any, settings: Settings,
                                    demo_vault: Vault) -> None:
    """A token cached with the secret does not let a certificate of another app connect;
    the app's own certificate connects (its own token request), then reuses its token."""
    from m365bot.auth.modes import CertificateCredential

    a = app(clean_emulator.info)
    _connect(clean_emulator.info, settings, secret_of(a), demo_vault).close()

    def with_cert(cert: dict[str, Any]) -> Any:
        return m365bot.connect(
            cloud="global", mode="client-credentials", client_id=a["client_id"],
            tenant_id=a["tenant_id"], username="ops@contoso.onmicrosoft.com",
            certificate=CertificateCredential.from_pem(cert["key_file"], cert["cert_file"]),
            settings=settings, vault=demo_vault)

    other = app(clean_emulator.info, cloud="usgovhigh")["certificates"][0]
    before = _token_requests(clean_emulator)
    with pytest.raises(AuthError):
        with_cert(other)
    assert _token_requests(clean_emulator) == before + 1
    own = a["certificates"][0]
    with_cert(own).close()
    assert _token_requests(clean_emulator) == before + 2
    with_cert(own).close()
    assert _token_requests(clean_emulator) == before + 2
