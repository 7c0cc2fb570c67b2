"""Client credentials against the emulator over real HTTPS (proxy mode, real Microsoft host
names): secret and certificate in every cloud the emulator serves, the errors a user makes
and their advice, and the persisted cache (a fresh provider sends nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest

from auth_support import expire_cached_tokens
from m365bot.auth.advice import UNAVAILABLE_FIX, IdentityUnavailable
from m365bot.auth.http import MsalHttpClient
from m365bot.auth.modes import CertificateCredential, ClientCredentials, SecretCredential
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, ReauthRequired
from m365bot.values import Secret
from plugins.canary import scan_output
from world_support import CLOUD_KEY, app, login_requests, secret, tenant

GRAPH = {
    "global": "https://graph.microsoft.com",
    "usgovhigh": "https://graph.microsoft.us",
    "dod": "https://dod-graph.microsoft.us",
    "china": "https://microsoftgraph.chinacloudapi.cn",
}


def provider(info: dict[str, Any], settings: Settings, vault: Any, *, cloud: str = "global",
             cloud_setting: str | None = None, app_name: str = "m365bot-demo",
             credential: Any = None, tenant_id: str | None = None) -> ClientCredentials:
    a = app(info, app_name, cloud)
    cred = credential or SecretCredential(Secret(secret(a)["value"]))
    return ClientCredentials(cloud=cloud_setting or CLOUD_KEY[cloud],
                             tenant=tenant_id or a["tenant_id"], client_id=a["client_id"],
                             credential=cred, settings=settings, store=vault)


@pytest.mark.parametrize("cloud", ["global", "usgovhigh", "dod", "china"])
def test_secret_in_every_cloud(clean_emulator: Any, settings: Settings, vault: Any,
                               cloud: str) -> None:
    tok = provider(clean_emulator.info, settings, vault, cloud=cloud).get_token()
    assert tok.claims["aud"] == GRAPH[cloud]
    assert tok.claims["tid"] == tenant(clean_emulator.info, cloud)["id"]
    assert set(tok.roles) >= {"Mail.ReadWrite", "Mail.Send"}
    assert tok.expires_in() > 3000
    hosts = {r["host"].split(":")[0] for r in login_requests(clean_emulator)}
    assert hosts == {
        {"global": "login.microsoftonline.com", "china": "login.chinacloudapi.cn"}.get(
            cloud, "login.microsoftonline.us")
    }


@pytest.mark.parametrize("cloud", ["global", "usgovhigh"])
@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_certificate(clean_emulator: Any, settings: Settings, vault: Any, cloud: str,
                     form: str) -> None:
    cert = app(clean_emulator.info, "m365bot-demo", cloud)["certificates"][0]
    cred = (CertificateCredential.from_pem(cert["key_file"], cert["cert_file"]) if form == "pem"
            else CertificateCredential.from_pfx(cert["pfx_file"]))
    if form == "pem":
        assert cred.thumbprint.upper() == cert["thumbprint_sha1"]
    tok = provider(clean_emulator.info, settings, vault, cloud=cloud, credential=cred).get_token()
    assert tok.claims["aud"] == GRAPH[cloud]
    assert "Mail.Send" in tok.roles
    assert "BEGIN" not in repr(cred)


def test_fresh_provider_with_cached_token_sends_nothing(clean_emulator: Any, settings: Settings,
                                                        vault: Any) -> None:
    p = provider(clean_emulator.info, settings, vault)
    first = p.get_token()
    assert first.source == "identity_provider"
    written = vault.blob_version("token_cache", p.cache_key)
    http_written = vault.blob_version("http_cache", p.http_key)
    assert written == 1 and http_written == 1
    clean_emulator.control.clear()
    again = provider(clean_emulator.info, settings, vault).get_token()
    assert again.source == "cache"
    assert again.token == first.token
    assert login_requests(clean_emulator) == []
    # A cache hit writes nothing back.
    assert vault.blob_version("token_cache", p.cache_key) == written
    assert vault.blob_version("http_cache", p.http_key) == http_written


def test_a_fresh_provider_whose_token_expired_asks_only_for_a_token(
        clean_emulator: Any, settings: Settings, vault: Any) -> None:
    p = provider(clean_emulator.info, settings, vault)
    p.get_token()
    assert expire_cached_tokens(vault, p.cache_key) == 1
    clean_emulator.control.clear()
    fresh = provider(clean_emulator.info, settings, vault)
    assert fresh.get_token().source == "identity_provider"
    # discovery came from the vault
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]


def test_force_refresh_gets_a_new_token(clean_emulator: Any, settings: Settings,
                                        vault: Any) -> None:
    p = provider(clean_emulator.info, settings, vault)
    first = p.get_token()
    second = p.get_token(force_refresh=True)
    assert second.token != first.token
    assert clean_emulator.control.count("token") == 2
    # Another process that already holds the new token does not refresh again.
    other = provider(clean_emulator.info, settings, vault)
    assert other.get_token().token == second.token
    assert clean_emulator.control.count("token") == 2


def _error(call: Any) -> AuthError:
    with pytest.raises(AuthError) as info:
        call()
    return info.value


def test_wrong_secret(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    # CANARY- values are scanned for in every log record of the run (tests/plugins/canary.py).
    wrong = "CANARY-wrong-client-secret-7f3a"
    cred = SecretCredential(Secret(wrong))
    err = _error(provider(clean_emulator.info, settings, vault, credential=cred).get_token)
    assert wrong not in str(err) and wrong not in repr(err) and wrong not in repr(cred)
    assert err.code == "7000215"
    assert "value, not its ID" in err.advice
    assert not isinstance(err, ReauthRequired)


def test_secret_id_instead_of_value(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    err = _error(provider(clean_emulator.info, settings, vault,
                          credential=SecretCredential(Secret(secret(a)["id"]))).get_token)
    assert err.code == "7000215"
    assert "not its ID" in str(err)
    assert secret(a)["id"] not in str(err)


def test_expired_secret(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    err = _error(provider(clean_emulator.info, settings, vault, credential=SecretCredential(
        Secret(secret(a, expired=True)["value"]))).get_token)
    assert err.code == "7000222"
    assert "new client secret" in err.advice


def test_unknown_tenant(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    err = _error(provider(clean_emulator.info, settings, vault,
                          tenant_id="00000000-0000-4000-8000-00000000dead").get_token)
    assert err.code == "90002"
    assert "Tenant ID" in err.advice and "Azure cloud" in err.advice


def test_wrong_cloud(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    # A GCC High tenant with the cloud left at Azure Global.
    err = _error(provider(clean_emulator.info, settings, vault, cloud="usgovhigh",
                          cloud_setting="global").get_token)
    assert err.code == "90002"
    assert "login.microsoftonline.us" in err.advice


def test_missing_consent(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    err = _error(provider(clean_emulator.info, settings, vault,
                          app_name="m365bot-noconsent").get_token)
    assert "consent" in err.advice
    assert "adminconsent?client_id=" in err.advice


def test_app_not_in_tenant(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    a = app(clean_emulator.info, "m365bot-demo")
    p = ClientCredentials(cloud="global", tenant=a["tenant_id"],
                          client_id="12345678-1234-4234-8234-123456789abc",
                          credential=SecretCredential(Secret("x")), settings=settings,
                          store=vault)
    err = _error(p.get_token)
    assert err.code == "700016"
    assert "Client ID" in err.advice


def test_empty_fields_are_config_errors(settings: Settings, vault: Any) -> None:
    with pytest.raises(ConfigError) as e:
        ClientCredentials(cloud="global", tenant=" ", client_id="c",
                          credential=SecretCredential(Secret("x")), settings=settings, store=vault)
    assert e.value.field == "tenant_id"
    with pytest.raises(ConfigError) as e:
        ClientCredentials(cloud="mars", tenant="t", client_id="c",
                          credential=SecretCredential(Secret("x")), settings=settings, store=vault)
    assert e.value.field == "cloud"


def test_unreadable_certificate_files_are_config_errors(tmp_path: Path) -> None:
    key, cert = tmp_path / "app.key", tmp_path / "app.crt"
    key.write_text("not a key\n")
    cert.write_text("not a certificate\n")
    for key_file, cert_file in [(key, cert), (tmp_path / "missing.key", cert)]:
        with pytest.raises(ConfigError) as e:
            CertificateCredential.from_pem(key_file, cert_file)
        assert (e.value.field, e.value.message, e.value.advice) == (
            "certificate", "the certificate or its key could not be read as PEM",
            "give a PEM private key file and a PEM certificate file (or a PFX)")
    with pytest.raises(ConfigError) as e:
        CertificateCredential.from_pfx(tmp_path / "missing.pfx")
    assert (e.value.field, e.value.message, e.value.advice) == (
        "certificate", "the PFX file does not exist", "give the path of the .pfx file")


def test_cache_is_encrypted_in_the_vault(clean_emulator: Any, settings: Settings, vault: Any,
                                         tmp_path: Any) -> None:
    tok = provider(clean_emulator.info, settings, vault).get_token()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("vault.db*"))
    assert tok.token.reveal().encode() not in raw
    assert tok.token.reveal()[:40].encode() not in raw
    locks = list((settings.data_dir / "locks").iterdir())
    assert locks and all((p.stat().st_mode & 0o777) == 0o600 for p in locks)


# -- the identity platform unavailable (5xx) -------------------------------------------------------

def test_a_503_from_the_token_endpoint_is_retried_once(clean_emulator: Any, settings: Settings,
                                                       vault: Any) -> None:
    clean_emulator.control.add_fault(op="token", kind="status", status=503, count=1)
    started = time.monotonic()
    tok = provider(clean_emulator.info, settings, vault).get_token()
    assert tok.expires_in() > 3000 and "Mail.Send" in tok.roles
    assert clean_emulator.control.count("token") == 2
    assert time.monotonic() - started >= 0.9  # waited the answer's Retry-After (1 s)


def test_a_503_twice_is_one_auth_error_with_advice(clean_emulator: Any, settings: Settings,
                                                   vault: Any) -> None:
    clean_emulator.control.add_fault(op="token", kind="status", status=503, count=2)
    err = _error(provider(clean_emulator.info, settings, vault).get_token)
    assert err.code == "90033"  # Entra's "A transient error has occurred"
    assert "temporarily unavailable" in err.message and "HTTP 503" in err.message
    assert "try again in a minute" in err.advice and "service health" in err.advice
    assert clean_emulator.control.count("token") == 2  # one retry, no storm


def test_a_bare_5xx_without_json_is_the_same_error(settings: Settings) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    client = MsalHttpClient(settings, client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(IdentityUnavailable) as ei:
        client.post("https://login.microsoftonline.com/t/oauth2/v2.0/token", data={"a": "b"})
    assert ei.value.code == "HTTP502" and ei.value.advice == UNAVAILABLE_FIX
    assert isinstance(ei.value, AuthError)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "m365bot", *args], env=env,
                          capture_output=True, text=True, timeout=90)
    scan_output(proc.stdout + proc.stderr, "m365bot " + " ".join(args[:1]))
    return proc


def _cli_connect(info: dict[str, Any], tmp_path: Path, *network: str) -> list[str]:
    a = app(info, "m365bot-demo")
    return ["connect", "--mode", "client-credentials", "--client-id", a["client_id"],
            "--tenant-id", a["tenant_id"], "--username", "ops@contoso.onmicrosoft.com",
            "--client-secret", "variable:BOT_SECRET", *network]


def _cli_env(info: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(tmp_path / "clihome"),
                "BOT_SECRET": secret(app(info, "m365bot-demo"))["value"]})
    return env


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and " Fix: " in lines[0], lines
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    return lines[0]


def test_cli_connect_when_the_identity_platform_is_down(clean_emulator: Any,
                                                        tmp_path: Path) -> None:
    info_file = tmp_path / "emulator.json"
    info_file.write_text(json.dumps(clean_emulator.info))
    clean_emulator.control.add_fault(op="token", kind="status", status=503, count=2)
    proc = _cli(_cli_connect(clean_emulator.info, tmp_path, "--emulator", str(info_file)),
                _cli_env(clean_emulator.info, tmp_path))
    line = _one_error_line(proc)
    assert "temporarily unavailable" in line and "MsalServiceError" not in line
    assert clean_emulator.control.count("token") == 2


# -- trust and proxy settings ----------------------------------------------------------------------

def test_a_ca_bundle_without_a_certificate_is_a_config_error(clean_emulator: Any,
                                                             settings: Settings,
                                                             vault: Any,
                                                             tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("remember to buy milk\n")
    bad = Settings(data_dir=settings.data_dir, proxy=settings.proxy, ca_bundle=str(notes))
    with pytest.raises(ConfigError) as ei:
        provider(clean_emulator.info, bad, vault).get_token()
    assert ei.value.field == "ca_bundle" and "PEM" in ei.value.advice
    proc = _cli(_cli_connect(clean_emulator.info, tmp_path, "--proxy",
                             clean_emulator.info["proxy_url"],
                             "--ca-bundle", str(notes)), _cli_env(clean_emulator.info, tmp_path))
    assert "ca_bundle" in _one_error_line(proc)
    assert login_requests(clean_emulator) == []


def test_environment_ca_variables_never_override_the_ca_bundle(
        clean_emulator: Any, settings: Settings, vault: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, certifi.where())  # public CAs: would refuse the emulator
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert provider(clean_emulator.info, settings, vault).get_token().expires_in() > 3000


def test_the_proxy_password_stays_out_of_the_providers_state(clean_emulator: Any,
                                                             settings: Settings,
                                                             vault: Any,
                                                             register_canary: Any) -> None:
    password = register_canary("CANARY-proxy-password-2b9")
    proxy = clean_emulator.info["proxy_url"].replace("http://", f"http://bot:{password}@")
    with_password = Settings(data_dir=settings.data_dir, proxy=proxy,
                             ca_bundle=settings.ca_bundle)
    p = provider(clean_emulator.info, with_password, vault)
    assert p.get_token().expires_in() > 3000  # the password still reaches the proxy
    for obj in (p, p.http_client, p.http_factory):
        state = vars(obj) if hasattr(obj, "__dict__") else {}
        assert password not in repr(state) and password not in repr(obj)
    assert "127.0.0.1" in repr(p.http_factory)
