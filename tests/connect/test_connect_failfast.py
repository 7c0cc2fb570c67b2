"""Connect fails fast, at Connect time, with an error naming the cause and the fix, and with
at most one Graph request beyond the token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import m365bot
from m365bot.config import Settings
from m365bot.errors import AuthError, GraphError
from m365bot.values import Secret
from world_support import app, graph_requests, secret_of, tenant


def _connect(info: dict[str, Any], settings: Settings, **kw: Any) -> Any:
    a = app(info)
    args: dict[str, Any] = {"cloud": "global", "mode": "client-credentials",
                            "client_id": a["client_id"], "tenant_id": a["tenant_id"],
                            "username": "ops@contoso.onmicrosoft.com",
                            "client_secret": Secret(secret_of(a)), "settings": settings}
    args.update(kw)
    return m365bot.connect(**args)


def test_wrong_secret(clean_emulator: Any, settings: Settings, register_canary: Any) -> None:
    wrong = register_canary("CANARY-wrong-secret-value")
    with pytest.raises(AuthError) as ei:
        _connect(clean_emulator.info, settings, client_secret=Secret(wrong))
    assert ei.value.code == "7000215"
    assert "use the secret's value, not its ID" in str(ei.value)
    assert wrong not in str(ei.value) and graph_requests(clean_emulator) == []


def test_unknown_tenant(clean_emulator: Any, settings: Settings) -> None:
    with pytest.raises(AuthError) as ei:
        _connect(clean_emulator.info, settings, tenant_id=str(uuid.uuid4()))
    assert "Tenant ID" in ei.value.advice and graph_requests(clean_emulator) == []


def test_wrong_cloud_names_the_cloud_setting(clean_emulator: Any, settings: Settings) -> None:
    gov = app(clean_emulator.info, cloud="usgovhigh")
    with pytest.raises(AuthError) as ei:
        _connect(clean_emulator.info, settings, cloud="Azure Global", client_id=gov["client_id"],
                 tenant_id=gov["tenant_id"], client_secret=Secret(secret_of(gov)),
                 username=f"ops@{tenant(clean_emulator.info, 'usgovhigh')['domain']}")
    assert "Azure cloud" in ei.value.advice and graph_requests(clean_emulator) == []


def test_missing_consent(clean_emulator: Any, settings: Settings) -> None:
    nc = app(clean_emulator.info, "m365bot-noconsent")
    with pytest.raises(AuthError) as ei:
        _connect(clean_emulator.info, settings, client_id=nc["client_id"],
                 client_secret=Secret(secret_of(nc)))
    assert "admin consent" in ei.value.advice and graph_requests(clean_emulator) == []


def test_mailbox_outside_the_access_policy(clean_emulator: Any, settings: Settings) -> None:
    limited = app(clean_emulator.info, "m365bot-ops-only")
    with pytest.raises(GraphError) as ei:
        _connect(clean_emulator.info, settings, client_id=limited["client_id"],
                 client_secret=Secret(secret_of(limited)),
                 username="alice@contoso.onmicrosoft.com")
    assert ei.value.code == "ErrorAccessDenied" and ei.value.status == 403
    assert "alice@contoso.onmicrosoft.com" in ei.value.message
    assert "ApplicationAccessPolicy" in ei.value.advice
    assert len(graph_requests(clean_emulator)) == 1
    # the same app reaches the mailbox the policy allows
    s = _connect(clean_emulator.info, settings, client_id=limited["client_id"],
                 client_secret=Secret(secret_of(limited)))
    s.close()


def test_unknown_mailbox(clean_emulator: Any, settings: Settings) -> None:
    with pytest.raises(GraphError) as ei:
        _connect(clean_emulator.info, settings, username="nobody@contoso.onmicrosoft.com")
    assert "no mailbox nobody@contoso.onmicrosoft.com" in ei.value.message
    assert "username" in ei.value.advice and len(graph_requests(clean_emulator)) == 1


def test_app_without_mail_permission_is_named_before_graph(fresh_emulator: Any,
                                                           tmp_path: Any) -> None:
    """An app consented to Calendars.ReadWrite only: Connect reads the token's roles and names
    the missing Mail permission without asking Graph."""
    a = app(fresh_emulator.info)
    fresh_emulator.state.apps[a["client_id"]].application_permissions = ["Calendars.ReadWrite"]
    s = Settings(data_dir=tmp_path / "home", proxy=fresh_emulator.info["proxy_url"],
                 ca_bundle=fresh_emulator.info["ca_bundle"])
    with pytest.raises(AuthError) as ei:
        _connect(fresh_emulator.info, s)
    assert ei.value.code == "missing_permission"
    assert "Mail.ReadWrite" in ei.value.message and "Calendars.ReadWrite" in ei.value.message
    assert "admin consent" in ei.value.advice and graph_requests(fresh_emulator) == []


def test_mailbox_not_enabled_for_rest(fresh_emulator: Any, tmp_path: Any) -> None:
    fresh_emulator.state.mailboxes["bob@contoso.onmicrosoft.com"].enabled_for_rest = False
    s = Settings(data_dir=tmp_path / "home", proxy=fresh_emulator.info["proxy_url"],
                 ca_bundle=fresh_emulator.info["ca_bundle"])
    with pytest.raises(GraphError) as ei:
        _connect(fresh_emulator.info, s, username="bob@contoso.onmicrosoft.com")
    assert ei.value.code == "MailboxNotEnabledForRESTAPI"
    assert "bob@contoso.onmicrosoft.com" in ei.value.message
    assert "Exchange Online mailbox" in ei.value.advice and len(graph_requests(fresh_emulator)) == 1


def test_certificate_credential(clean_emulator: Any, settings: Settings) -> None:
    from m365bot.auth.modes import CertificateCredential

    a = app(clean_emulator.info, cloud="usgovhigh")
    cert = a["certificates"][0]
    cred = CertificateCredential.from_pem(cert["key_file"], cert["cert_file"])
    s = m365bot.connect(cloud="Azure US GCC High", mode="client-credentials",
                        client_id=a["client_id"], tenant_id=a["tenant_id"],
                        username=f"ops@{tenant(clean_emulator.info, 'usgovhigh')['domain']}",
                        certificate=cred, settings=settings)
    assert s.identity == "m365bot-demo" and s.cloud == "Azure US GCC High"
    s.close()
