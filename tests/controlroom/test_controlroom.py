"""Control Room managed: the local OAuth connection store, Shared and User-specific tokens
(login through the emulator's sign-in pages), status Active / Expired / Not connected, and Connect
in "Control Room managed" mode; plus the controlroom CLI."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import m365bot
from auth_support import Browser, deliver, sign_in_location
from m365bot.cli.main import cli
from m365bot.config import Settings
from m365bot.controlroom import ConnectionStore, OAuthConnection
from m365bot.errors import AuthError, ConfigError
from m365bot.values import Secret
from plugins.canary import scan_output
from world_support import app, login_requests, secret_of, tenant, user

PROVIDER = "Microsoft Entra"


def _pkce(info: dict[str, Any]) -> dict[str, Any]:
    tid = tenant(info)["id"]
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")


def _conn(info: dict[str, Any]) -> OAuthConnection:
    tid = tenant(info)["id"]
    base = f"https://login.microsoftonline.com/{tid}/oauth2/v2.0"
    return OAuthConnection(PROVIDER, "ops", client_id=_pkce(info)["client_id"],
                           authorization_url=base + "/authorize", token_url=base + "/token",
                           scopes=["offline_access", "https://graph.microsoft.com/User.Read",
                                   "https://graph.microsoft.com/Mail.ReadWrite",
                                   "https://graph.microsoft.com/Mail.ReadWrite.Shared"])


def _browser(info: dict[str, Any], who: str) -> Any:
    u = user(info, who)

    def open_browser(url: str) -> None:
        def run() -> None:
            deliver(sign_in_location(info, url, u["upn"], u["password"]))

        threading.Thread(target=run, daemon=True).start()

    return open_browser


def test_shared_and_user_specific_tokens(clean_emulator: Any, settings: Settings,
                                         vault: Any) -> None:
    info = clean_emulator.info
    store = ConnectionStore(vault)
    store.add(_conn(info))
    assert store.status(PROVIDER, "ops") == "Not connected"
    alice, bob = user(info, "alice")["upn"], user(info, "bob")["upn"]
    assert store.login(PROVIDER, "ops", token_type="shared", settings=settings,
                       open_browser=_browser(info, "alice"), timeout=30) == "Active"
    assert store.login(PROVIDER, "ops", token_type="user", user=bob, settings=settings,
                       open_browser=_browser(info, "bob"), timeout=30) == "Active"
    assert store.status(PROVIDER, "ops", token_type="user", user=alice) == "Not connected"

    s = m365bot.connect(cloud="global", mode="Control Room managed", username=alice,
                        connection={"provider_type": PROVIDER, "connection_name": "ops",
                                    "token_type": "shared"},
                        settings=settings, connections=ConnectionStore(vault))
    assert s.identity == alice and s.identity_type == "user" and "Mail.ReadWrite" in s.permissions
    s.close()
    user_pick = {"provider_type": PROVIDER, "connection_name": "ops", "token_type": "user"}
    s = m365bot.connect(cloud="global", mode="control-room", username=bob,
                        connection=user_pick, settings=settings, connections=ConnectionStore(vault))
    assert s.identity == bob and s.mailbox == bob
    s.close()
    with pytest.raises(AuthError) as ei:
        m365bot.connect(cloud="global", mode="control-room", username=alice,
                        connection=user_pick, settings=settings, connections=ConnectionStore(vault))
    assert "Not connected" in ei.value.message and "controlroom connection login" in ei.value.advice
    with pytest.raises(ConfigError) as ce:
        m365bot.connect(cloud="global", mode="control-room", username=alice,
                        connection={"connection_name": "nope"}, settings=settings,
                        connections=store)
    assert ce.value.field == "connection"
    with pytest.raises(ConfigError) as ce:  # Connect does not reach into the vault itself
        m365bot.connect(cloud="global", mode="control-room", username=alice,
                        connection=user_pick, settings=settings, vault=vault)
    assert ce.value.field == "connections" and "ConnectionStore(vault)" in ce.value.advice


def _logged_in(info: dict[str, Any], settings: Settings,
               vault: Any) -> tuple[ConnectionStore, OAuthConnection]:
    """The store with connection "ops", its Shared token logged in by alice."""
    store = ConnectionStore(vault)
    conn = _conn(info)
    store.add(conn)
    store.login(PROVIDER, "ops", token_type="shared", settings=settings,
                open_browser=_browser(info, "alice"), timeout=30)
    return store, conn


def test_expired_shared_token_refreshes(clean_emulator: Any, settings: Settings,
                                        vault: Any) -> None:
    info = clean_emulator.info
    store, conn = _logged_in(info, settings, vault)
    _tamper(vault, conn, expires_on=1.0)
    assert store.status(PROVIDER, "ops") == "Active"  # its refresh token renews it
    clean_emulator.control.clear()
    s = m365bot.connect(cloud="global", mode="control-room", username=user(info, "alice")["upn"],
                        connection={"provider_type": PROVIDER, "connection_name": "ops"},
                        settings=settings, connections=ConnectionStore(vault))
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]  # one refresh
    assert store.status(PROVIDER, "ops") == "Active"
    s.close()


def test_cli_add_list_status(clean_emulator: Any, settings: Settings, vault: Any, vault_key: str,
                             register_canary: Any) -> None:
    info = clean_emulator.info
    secret = register_canary("CANARY-cr-client-secret")
    c = _conn(info)
    runner = CliRunner()
    env = {"M365BOT_VAULT_KEY": vault_key, "M365BOT_VAULT": str(vault.path)}
    args = ["controlroom", "connection", "add", "--name", "cli-conn", "--client-id", c.client_id,
            "--authorization-url", c.authorization_url, "--token-url", c.token_url,
            "--scope", "offline_access, https://graph.microsoft.com/Mail.Read",
            "--client-secret-stdin"]
    r = runner.invoke(cli, args, input=secret + "\n", env=env)
    assert r.exit_code == 0, r.output
    scan_output(r.output, "controlroom add")
    r = runner.invoke(cli, ["controlroom", "connection", "list", "--json"], env=env)
    scan_output(r.output, "controlroom list")
    listed = json.loads(r.output)
    assert listed[0]["name"] == "cli-conn" and listed[0]["has_client_secret"] is True
    assert listed[0]["scopes"] == ["offline_access", "https://graph.microsoft.com/Mail.Read"]
    assert ConnectionStore(vault).get(PROVIDER, "cli-conn").client_secret.reveal() == secret
    r = runner.invoke(cli, ["controlroom", "connection", "status", "--name", "cli-conn",
                            "--user", "bob@contoso.onmicrosoft.com", "--json"], env=env)
    assert json.loads(r.output) == {"connection": "cli-conn", "shared": "Not connected",
                                    "user": "bob@contoso.onmicrosoft.com",
                                    "user_specific": "Not connected"}
    r = runner.invoke(cli, ["controlroom", "connection", "status", "--name", "nope"], env=env)
    assert r.exit_code == 2 and "no Microsoft Entra OAuth connection named 'nope'" in r.output
    assert "Traceback" not in r.output


def test_missing_shared_scope_is_named_before_graph(clean_emulator: Any, settings: Settings,
                                                    vault: Any) -> None:
    """A connection whose scopes lack Mail.ReadWrite.Shared: Connect to a shared mailbox names
    the missing delegated permission from the token, without asking Graph."""
    info = clean_emulator.info
    store = ConnectionStore(vault)
    c = _conn(info)
    narrow = OAuthConnection(PROVIDER, "narrow", client_id=c.client_id,
                             authorization_url=c.authorization_url, token_url=c.token_url,
                             scopes=["offline_access",
                                     "https://graph.microsoft.com/Mail.ReadWrite"])
    store.add(narrow)
    store.login(PROVIDER, "narrow", token_type="shared", settings=settings,
                open_browser=_browser(info, "alice"), timeout=30)
    clean_emulator.control.clear()
    with pytest.raises(AuthError) as ei:
        m365bot.connect(cloud="global", mode="control-room", username=user(info, "alice")["upn"],
                        mailbox="ops@contoso.onmicrosoft.com",
                        connection={"provider_type": PROVIDER, "connection_name": "narrow"},
                        settings=settings, connections=ConnectionStore(vault))
    assert ei.value.code == "missing_permission" and "Mail.ReadWrite.Shared" in str(ei.value)
    assert [r for r in clean_emulator.control.requests() if r.get("role") == "graph"] == []


def test_cli_login_with_a_browser_command(clean_emulator: Any, vault: Any, vault_key: str,
                                          tmp_path: Path) -> None:
    """``connection login`` opens the browser command (M365BOT_BROWSER) on the sign-in page,
    receives the code on loopback and stores the User-specific token: status Active."""
    info = clean_emulator.info
    info_file = tmp_path / "emu.json"
    info_file.write_text(json.dumps(info))
    ConnectionStore(vault).add(_conn(info))
    bob = user(info, "bob")
    driver = Path(__file__).parent.parent / "browser_driver.py"
    env = {"M365BOT_VAULT_KEY": vault_key, "M365BOT_VAULT": str(vault.path),
           "M365BOT_HOME": str(tmp_path / "home"),
           "M365BOT_BROWSER": f"{sys.executable} {driver}",
           "AUTHTEST_PROXY": info["proxy_url"], "AUTHTEST_CA": info["ca_bundle"],
           "AUTHTEST_UPN": bob["upn"], "AUTHTEST_PASSWORD": bob["password"]}
    r = CliRunner().invoke(cli, ["controlroom", "connection", "login", "--name", "ops",
                                 "--token-type", "user", "--user", bob["upn"],
                                 "--emulator", str(info_file), "--json"], env=env)
    scan_output(r.output, "controlroom login")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["status"] == "Active"
    assert ConnectionStore(vault).status(PROVIDER, "ops", token_type="user",
                                         user=bob["upn"]) == "Active"


def test_user_specific_login_by_another_account_stores_nothing(
        clean_emulator: Any, settings: Settings, vault: Any) -> None:
    """The bot refuses the sign-in: the browser says so and how to fix it, never "Sign-in
    finished"; an accepted login does show "Sign-in finished"."""
    info = clean_emulator.info
    store = ConnectionStore(vault)
    store.add(_conn(info))
    bob = user(info, "bob")["upn"]
    browser = Browser(info, user(info, "alice"))
    with pytest.raises(AuthError) as ei:
        store.login(PROVIDER, "ops", token_type="user", user=bob, settings=settings,
                    open_browser=browser, timeout=30)
    assert ei.value.code == "wrong_account" and bob in ei.value.message
    assert store.status(PROVIDER, "ops", token_type="user", user=bob) == "Not connected"
    browser.join()
    assert browser.status == 400 and "Sign-in finished" not in browser.page
    assert "Sign-in failed" in browser.page and f"but the User-specific token is for {bob}" \
        in browser.page and "private window" in browser.page
    browser = Browser(info, user(info, "bob"))
    assert store.login(PROVIDER, "ops", token_type="user", user=bob, settings=settings,
                       open_browser=browser, timeout=30) == "Active"
    browser.join()
    assert browser.status == 200 and "Sign-in finished" in browser.page


def test_login_with_a_failing_browser_command_ends_at_once(clean_emulator: Any, settings: Settings,
                                                           vault: Any) -> None:
    """A browser command that exits non-zero will never deliver the sign-in: the login fails
    at once naming the browser setting, not after its 300 s wait."""
    import time

    store = ConnectionStore(vault)
    store.add(_conn(clean_emulator.info))
    failing = Settings(data_dir=settings.data_dir, proxy=settings.proxy,
                       ca_bundle=settings.ca_bundle, browser="false {url}")
    clean_emulator.control.clear()
    started = time.monotonic()
    with pytest.raises(ConfigError) as ei:
        store.login(PROVIDER, "ops", token_type="shared", settings=failing, timeout=300)
    assert time.monotonic() - started < 60
    assert ei.value.field == "browser" and "'false' exited with status 1" in str(ei.value)
    assert login_requests(clean_emulator) == []
    assert store.status(PROVIDER, "ops") == "Not connected"


def _tamper(vault: Any, conn: OAuthConnection, **changes: Any) -> None:
    """Change the Shared token slot's readable columns (its expiry) in the embedded database."""
    store = ConnectionStore(vault)
    store.repo.set_slot(store.repo.get(conn.provider_type, conn.name).id, "", **changes)


def _connect_shared(settings: Settings, vault: Any, name: str, who: str) -> Any:
    return m365bot.connect(cloud="global", mode="control-room", username=who,
                           connection={"provider_type": PROVIDER, "connection_name": name},
                           settings=settings, connections=ConnectionStore(vault))


def test_auth_code_connection_with_a_refused_refresh_token_is_expired(
        clean_emulator: Any, settings: Settings, vault: Any) -> None:
    """A refresh refused with invalid_grant: one error naming the connection and the login
    command (no storage key), status Expired until the next login."""
    info = clean_emulator.info
    store, conn = _logged_in(info, settings, vault)
    _tamper(vault, conn, expires_on=1.0)
    clean_emulator.clock.advance(91 * 86400)  # the refresh token unused for 90 days: 700082
    assert store.status(PROVIDER, "ops") == "Active"  # not refused yet
    with pytest.raises(AuthError) as ei:
        _connect_shared(settings, vault, "ops", user(info, "alice")["upn"])
    text = str(ei.value)
    assert "connection Microsoft Entra/ops (Shared token)" in ei.value.message
    assert "AADSTS700082" in text and "controlroom|" not in text
    assert ei.value.advice.startswith("log in again: m365bot controlroom connection login "
                                      "--provider 'Microsoft Entra' --name 'ops' --token-type "
                                      "shared")
    assert store.status(PROVIDER, "ops") == "Expired"
    clean_emulator.clock.reset()
    store.login(PROVIDER, "ops", token_type="shared", settings=settings,
                open_browser=_browser(info, "alice"), timeout=30)
    assert store.status(PROVIDER, "ops") == "Active"


def test_auth_code_connection_without_a_refresh_token(clean_emulator: Any, settings: Settings,
                                                      vault: Any) -> None:
    """Scopes without offline_access: no refresh token. Active until the access token expires,
    then Expired, and Connect names the connection and the login command."""
    info = clean_emulator.info
    store = ConnectionStore(vault)
    c = _conn(info)
    conn = OAuthConnection(PROVIDER, "no-rt", client_id=c.client_id, token_url=c.token_url,
                           authorization_url=c.authorization_url,
                           scopes=[s for s in c.scopes if s != "offline_access"])
    store.add(conn)
    assert store.login(PROVIDER, "no-rt", token_type="shared", settings=settings,
                       open_browser=_browser(info, "alice"), timeout=30) == "Active"
    _tamper(vault, conn, expires_on=1.0)
    assert store.status(PROVIDER, "no-rt") == "Expired"
    with pytest.raises(AuthError) as ei:
        _connect_shared(settings, vault, "no-rt", user(info, "alice")["upn"])
    text = str(ei.value)
    assert "connection Microsoft Entra/no-rt (Shared token) has no refresh token" in text
    assert "controlroom|" not in text and "--interactive" not in text
    assert "m365bot controlroom connection login --provider 'Microsoft Entra' --name 'no-rt'" \
        in ei.value.advice


def _app_conn(info: dict[str, Any], secret: str, name: str = "app-ops") -> OAuthConnection:
    a = app(info)
    return OAuthConnection(PROVIDER, name, client_id=a["client_id"],
                           grant_type="client_credentials", client_secret=Secret(secret),
                           token_url=f"https://login.microsoftonline.com/{a['tenant_id']}"
                           "/oauth2/v2.0/token", scopes=["https://graph.microsoft.com/.default"])


def _connect_app(settings: Settings, vault: Any, name: str = "app-ops") -> Any:
    return m365bot.connect(cloud="global", mode="control-room",
                           username="ops@contoso.onmicrosoft.com",
                           connection={"provider_type": PROVIDER, "connection_name": name},
                           settings=settings, connections=ConnectionStore(vault))


def test_client_credentials_connection_renews_past_the_emulator_clock(
        clean_emulator: Any, settings: Settings, vault: Any) -> None:
    """An hour after ``connection login``, the emulator refuses the stored token (its clock
    moved past the expiry): Connect gets a new one with the connection's secret, once."""
    store = ConnectionStore(vault)
    store.add(_app_conn(clean_emulator.info, secret_of(app(clean_emulator.info))))
    assert store.login(PROVIDER, "app-ops", token_type="shared", settings=settings) == "Active"
    clean_emulator.clock.advance(2 * 3600)
    clean_emulator.control.clear()
    s = _connect_app(settings, vault)
    assert s.identity_type == "app" and s.mailbox == "ops@contoso.onmicrosoft.com"
    # one renewal, with the secret
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]
    graph = [r["status"] for r in clean_emulator.control.requests() if r.get("role") == "graph"]
    assert graph == [401, 200]  # the expired token was refused, the renewed one accepted
    assert store.status(PROVIDER, "app-ops") == "Active"
    s.close()


def test_client_credentials_connection_past_its_local_expiry(
        clean_emulator: Any, settings: Settings, vault: Any) -> None:
    """A stored token past its expiry: status stays Active (the secret can get another) and
    Connect renews it before asking Graph, instead of asking for an interactive login."""
    store = ConnectionStore(vault)
    conn = _app_conn(clean_emulator.info, secret_of(app(clean_emulator.info)))
    store.add(conn)
    store.login(PROVIDER, "app-ops", token_type="shared", settings=settings)
    _tamper(vault, conn, expires_on=1.0)
    assert store.status(PROVIDER, "app-ops") == "Active"
    clean_emulator.control.clear()
    s = _connect_app(settings, vault)
    assert [r["op"] for r in login_requests(clean_emulator)] == ["token"]
    assert [r["status"] for r in clean_emulator.control.requests()
            if r.get("role") == "graph"] == [200]
    s.close()


def test_client_credentials_connection_with_a_refused_secret_is_expired(
        clean_emulator: Any, settings: Settings, vault: Any, register_canary: Any) -> None:
    """The app's secret changed after login: renewal fails with one clear error naming the
    connection (no internal key, no 'log in interactively'), and status says Expired."""
    store = ConnectionStore(vault)
    store.add(_app_conn(clean_emulator.info, secret_of(app(clean_emulator.info))))
    store.login(PROVIDER, "app-ops", token_type="shared", settings=settings)
    store.add(_app_conn(clean_emulator.info, register_canary("CANARY-rotated-away-secret")))
    clean_emulator.clock.advance(2 * 3600)
    with pytest.raises(AuthError) as ei:
        _connect_app(settings, vault)
    text = str(ei.value)
    assert "Microsoft Entra/app-ops" in text and "client secret" in ei.value.advice
    assert "refresh token" not in text and "controlroom|" not in text
    assert store.status(PROVIDER, "app-ops") == "Expired"
    store.add(_app_conn(clean_emulator.info,
                        secret_of(app(clean_emulator.info))))  # the admin fixes the secret
    assert store.login(PROVIDER, "app-ops", token_type="shared", settings=settings) == "Active"


def test_cli_add_with_empty_stdin_saves_nothing(clean_emulator: Any, vault: Any,
                                                vault_key: str) -> None:
    c = _conn(clean_emulator.info)
    env = {"M365BOT_VAULT_KEY": vault_key, "M365BOT_VAULT": str(vault.path)}
    for grant in ("authorization_code", "client_credentials"):
        r = CliRunner().invoke(cli, ["controlroom", "connection", "add", "--name", "empty",
                                     "--client-id", c.client_id, "--grant-type", grant,
                                     "--authorization-url", c.authorization_url,
                                     "--token-url", c.token_url, "--client-secret-stdin"],
                               input="", env=env)
        assert r.exit_code == 2, r.output
        assert r.output.startswith("Error: ") and "Fix: " in r.output
        assert "Traceback" not in r.output
    assert ConnectionStore(vault).list() == []


def _texts_reachable(obj: Any, depth: int = 3) -> list[str]:
    """Every string in ``obj``'s state, a few attributes deep (``vars()`` and ``__slots__``),
    except inside a :class:`Secret` (which is how a password is meant to be held)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, Secret) or depth == 0 or obj is None:
        return []
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, list | tuple | set):
        items = list(obj)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        slots = [s for k in type(obj).__mro__ for s in getattr(k, "__slots__", ())]
        items = [*getattr(obj, "__dict__", {}).values(),
                 *(getattr(obj, s, None) for s in slots)]
    else:
        return [repr(obj)]
    return [repr(obj)] + [t for i in items for t in _texts_reachable(i, depth - 1)]


def test_no_control_room_token_provider_holds_the_proxy_password(
        clean_emulator: Any, settings: Settings, vault: Any, register_canary: Any) -> None:
    """Both kinds of provider the Control Room creates (refresh token, client secret) keep the
    proxy password out of their state and repr: they hold the masked HTTP factory."""
    info = clean_emulator.info
    password = register_canary("CANARY-cr-proxy-password")
    proxied = Settings(data_dir=settings.data_dir, proxy=info["proxy_url"].replace(
        "http://", f"http://bot:{password}@"), ca_bundle=settings.ca_bundle, timeout=20)
    store = ConnectionStore(vault)
    store.add(_conn(info))
    store.add(_app_conn(info, secret_of(app(info))))
    store.login(PROVIDER, "ops", token_type="shared", settings=proxied,
                open_browser=_browser(info, "alice"), timeout=30)
    store.login(PROVIDER, "app-ops", token_type="shared", settings=proxied)
    providers = [store.token_source(PROVIDER, name, token_type="shared", user="",
                                    settings=proxied) for name in ("ops", "app-ops")]
    assert {type(p).__name__ for p in providers} == {"BrokerTokenSource"}  # both grant types
    for p in providers:
        texts = _texts_reachable({k: v for k, v in vars(p).items() if k != "_store"})
        assert not [t for t in texts if password in t], type(p).__name__
        assert password not in repr(p)
        assert "127.0.0.1" in repr(p.http_factory)  # the proxy is there, masked
    clean_emulator.clock.advance(2 * 3600)
    assert providers[1].get_token().expires_in() > 3000  # the password still reaches the proxy
