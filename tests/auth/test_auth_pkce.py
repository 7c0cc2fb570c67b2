"""Authorization code with PKCE against the emulator: the browser is an httpx client walking
the emulator's HTML sign-in form (a real-browser test lives with the Connect tests), the
redirect lands on our loopback listener over a real socket."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from refresh_support import CapturingClient

from auth_support import Browser, browser_client, deliver
from m365bot.auth.loopback import LoopbackListener
from m365bot.auth.modes import AuthCodePkce
from m365bot.config import Settings
from m365bot.errors import AuthError, ConfigError, ReauthRequired
from signin_support import enter_device_code
from world_support import app, login_requests, user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pkce(info: dict[str, Any], settings: Settings, vault: Any, *, who: str = "alice",
         browser: Any = None, interactive: bool = True, redirect: str | None = None,
         http_client: Any = None, timeout: float = 20, cloud: str = "global") -> AuthCodePkce:
    a = app(info, "m365bot-pkce", cloud)
    return AuthCodePkce(
        cloud={"global": "global", "usgovhigh": "gcchigh"}[cloud], tenant=a["tenant_id"],
        client_id=a["client_id"], username=user(info, who, cloud)["upn"],
        redirect_url=redirect or f"http://localhost:{free_port()}/", interactive=interactive,
        open_browser=browser, settings=settings, store=vault, signin_timeout=timeout,
        http_client=http_client,
    )


@pytest.mark.parametrize("cloud", ["global", "usgovhigh"])
def test_first_run_signs_in_later_runs_are_unattended(clean_emulator: Any, settings: Settings,
                                                     vault: Any, cloud: str) -> None:
    alice = user(clean_emulator.info, "alice", cloud)
    browser = Browser(clean_emulator.info, alice)
    tok = pkce(clean_emulator.info, settings, vault, browser=browser, cloud=cloud).get_token()
    assert tok.claims["upn"] == alice["upn"]
    assert "Mail.ReadWrite" in tok.scopes
    browser.join()
    assert browser.status == 200 and "Sign-in finished" in browser.page
    # A later, unattended run: from the cache, nothing sent.
    clean_emulator.control.clear()
    again = pkce(clean_emulator.info, settings, vault, interactive=False, cloud=cloud).get_token()
    assert again.token == tok.token and login_requests(clean_emulator) == []
    # Forced refresh uses the persisted refresh token, no browser.
    refreshed = pkce(clean_emulator.info, settings, vault, interactive=False,
                     cloud=cloud).get_token(
        force_refresh=True)
    assert refreshed.token != tok.token
    assert (clean_emulator.control.count("token") == 1
            and clean_emulator.control.count("authorize") == 0)


def test_authorize_url_uses_s256_and_redirect_uri_is_byte_equal(clean_emulator: Any,
                                                                settings: Settings,
                                                                vault: Any) -> None:
    browser = Browser(clean_emulator.info, user(clean_emulator.info, "alice"))
    capture = CapturingClient(settings)
    port = free_port()
    redirect = f"http://127.0.0.1:{port}"
    pkce(clean_emulator.info, settings, vault, browser=browser, http_client=capture,
         redirect=redirect).get_token()
    q = parse_qs(urlsplit(browser.auth_uris[0]).query)
    assert q["code_challenge_method"] == ["S256"]
    assert len(q["code_challenge"][0]) == 43
    [post] = capture.token_posts
    verifier = post["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode() == q["code_challenge"][0]
    assert q["redirect_uri"] == [redirect]
    assert post["redirect_uri"] == redirect == q["redirect_uri"][0]


@pytest.mark.filterwarnings("ignore:response_mode")
def test_verifiers_and_states_are_fresh_each_time(clean_emulator: Any, settings: Settings,
                                                  vault: Any) -> None:
    p = pkce(clean_emulator.info, settings, vault)
    a = p.public_app(p.load_cache())
    flows = [a.initiate_auth_code_flow(p.scopes, redirect_uri="http://localhost:1/")
             for _ in range(200)]
    assert len({f["code_verifier"] for f in flows}) == 200
    assert len({f["state"] for f in flows}) == 200
    for f in flows:
        q = parse_qs(urlsplit(f["auth_uri"]).query)
        assert q["code_challenge_method"] == ["S256"]


@pytest.mark.parametrize("tamper", ["wrong_state", "no_state"])
def test_bad_state_never_reaches_the_token_endpoint(clean_emulator: Any, settings: Settings,
                                                    vault: Any,
                                                    tamper: str) -> None:
    browser = Browser(clean_emulator.info, user(clean_emulator.info, "alice"), tamper=tamper)
    with pytest.raises(AuthError) as e:
        pkce(clean_emulator.info, settings, vault, browser=browser).get_token()
    assert e.value.code == "state_mismatch"
    assert clean_emulator.control.count("token") == 0
    assert clean_emulator.control.count("authorize") >= 1


def test_wrong_account_is_refused_and_not_persisted(clean_emulator: Any, settings: Settings,
                                                    vault: Any) -> None:
    bob = user(clean_emulator.info, "bob")
    browser = Browser(clean_emulator.info, bob)
    with pytest.raises(AuthError) as e:
        pkce(clean_emulator.info, settings, vault, who="alice", browser=browser).get_token()
    assert e.value.code == "wrong_account"
    assert bob["upn"] in str(e.value) and "alice" in str(e.value)
    # The person at the browser is told, not "Sign-in finished".
    browser.join()
    assert browser.status == 400
    assert "Sign-in finished" not in browser.page
    assert "Sign-in failed" in browser.page and f"signed in as {bob['upn']}" in browser.page
    assert "Fix:" in browser.page and "private window" in browser.page
    with pytest.raises(ReauthRequired):
        pkce(clean_emulator.info, settings, vault, who="alice", interactive=False).get_token()


def test_unattended_run_without_sign_in_raises_reauth_at_once(clean_emulator: Any,
                                                              settings: Settings,
                                                              vault: Any) -> None:
    opened: list[str] = []
    with pytest.raises(ReauthRequired) as e:
        pkce(clean_emulator.info, settings, vault, interactive=False,
             browser=opened.append).get_token()
    assert opened == []
    assert "--interactive" in e.value.advice
    assert clean_emulator.control.count("token") == 0


def test_port_in_use_is_a_clear_config_error(clean_emulator: Any, settings: Settings,
                                             vault: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        url = f"http://localhost:{port}"
        with pytest.raises(ConfigError) as e:
            pkce(clean_emulator.info, settings, vault, redirect=url,
                 browser=lambda u: None).get_token()
    assert e.value.field == "redirect_url"
    assert url in str(e.value) and "another" in e.value.advice


def test_listener_binds_loopback_answers_once_then_closes() -> None:
    listener = LoopbackListener.open("http://localhost:0/cb")
    host, port = listener.address[:2]
    assert host == "127.0.0.1"
    assert listener.redirect_uri == f"http://localhost:{port}/cb"

    def hit() -> None:
        deliver(f"http://127.0.0.1:{port}/favicon.ico")
        deliver(f"http://127.0.0.1:{port}/cb?code=c&state=s")

    t = threading.Thread(target=hit)
    t.start()
    params = listener.wait(timeout=10)
    t.join()
    assert params == {"code": "c", "state": "s"}
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port),
                                                                         timeout=2):
        pass


def test_listener_on_ipv6_loopback() -> None:
    try:
        listener = LoopbackListener.open("http://[::1]:0")
    except ConfigError:
        pytest.skip("no IPv6 loopback here")
    port = listener.address[1]
    assert listener.address[0] == "::1"
    assert listener.redirect_uri == f"http://[::1]:{port}"
    t = threading.Thread(target=lambda: deliver(f"http://[::1]:{port}/?code=c&state=s"))
    t.start()
    assert listener.wait(timeout=10)["code"] == "c"
    t.join()


def test_duplicate_callback_parameters_are_refused() -> None:
    listener = LoopbackListener.open("http://127.0.0.1:0")
    port = listener.address[1]
    t = threading.Thread(target=lambda: deliver(
        f"http://127.0.0.1:{port}/?code=a&code=b&state=s"))
    t.start()
    with pytest.raises(AuthError) as e:
        listener.wait(timeout=10)
    t.join()
    assert e.value.code == "invalid_callback"


def test_listener_times_out(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    with pytest.raises(AuthError) as e:
        pkce(clean_emulator.info, settings, vault, browser=lambda u: None, timeout=0.5).get_token()
    assert e.value.code == "timeout"
    assert clean_emulator.control.count("token") == 0


def test_non_loopback_redirect_is_refused(settings: Settings, vault: Any) -> None:
    for bad in ("https://example.com/cb", "http://10.0.0.1:8400", "http://localhost:99999"):
        with pytest.raises(ConfigError) as e:
            LoopbackListener.open(bad)
        assert e.value.field == "redirect_url"


def test_browser_command_from_settings(clean_emulator: Any, vault: Any, tmp_path: Any,
                                       monkeypatch: Any) -> None:
    """Settings.browser runs a real command (here a script that signs in like a person)."""
    import sys
    from pathlib import Path

    alice = user(clean_emulator.info, "alice")
    monkeypatch.setenv("AUTHTEST_UPN", alice["upn"])
    monkeypatch.setenv("AUTHTEST_PASSWORD", alice["password"])
    monkeypatch.setenv("AUTHTEST_PROXY", clean_emulator.info["proxy_url"])
    monkeypatch.setenv("AUTHTEST_CA", clean_emulator.info["ca_bundle"])
    script = Path(__file__).parent.parent / "browser_driver.py"
    s = Settings(data_dir=tmp_path / "home", proxy=clean_emulator.info["proxy_url"],
                 ca_bundle=clean_emulator.info["ca_bundle"],
                 browser=f"{sys.executable} {script} {{url}}")
    tok = pkce(clean_emulator.info, s, vault).get_token()
    assert tok.claims["upn"] == alice["upn"]


def test_an_authorize_url_without_s256_is_refused() -> None:
    from m365bot.auth.signin import _check_auth_uri

    good = "https://login.microsoftonline.com/t/oauth2/v2.0/authorize?code_challenge=" + "a" * 43
    _check_auth_uri(good + "&code_challenge_method=S256")
    for bad in (good + "&code_challenge_method=plain", good,
                "https://login.microsoftonline.com/t/oauth2/v2.0/authorize?x=1"):
        with pytest.raises(AuthError) as e:
            _check_auth_uri(bad)
        assert e.value.code == "pkce"


def test_signin_uses_only_the_providers_public_interface() -> None:
    """auth/modes imports auth/signin, never the other way round (no circle), and the sign-in
    calls nothing private of the provider."""
    import ast
    from pathlib import Path

    import m365bot.auth.modes as modes
    import m365bot.auth.signin as signin

    def imported(module: Any) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        return names | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                        for a in n.names}

    assert "m365bot.auth.signin" in imported(modes)
    assert not {n for n in imported(signin) if n.startswith("m365bot.auth.modes")}
    tree = ast.parse(Path(signin.__file__).read_text())
    private = sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and n.attr.startswith("_") and not n.attr.startswith("__")})
    assert private == [], f"signin reaches into private members: {private}"


def test_a_failing_browser_command_ends_the_wait_at_once(clean_emulator: Any, vault: Any,
                                                         tmp_path: Any) -> None:
    import time

    s = Settings(data_dir=tmp_path / "home", proxy=clean_emulator.info["proxy_url"],
                 ca_bundle=clean_emulator.info["ca_bundle"], browser="false {url}")
    started = time.monotonic()
    with pytest.raises(ConfigError) as e:
        pkce(clean_emulator.info, s, vault, timeout=300).get_token()
    assert time.monotonic() - started < 60  # not the 300 s sign-in timeout
    assert e.value.field == "browser"
    assert "'false' exited with status 1" in str(e.value) and "M365BOT_BROWSER" in e.value.advice
    assert clean_emulator.control.count("token") == 0


def test_sign_in_by_printed_url(clean_emulator: Any, settings: Settings, vault: Any) -> None:
    """signin="url": nothing is opened; the URL is shown and the redirect awaited."""
    alice = user(clean_emulator.info, "alice")
    shown: list[str] = []
    browser = Browser(clean_emulator.info, alice)

    def prompt(text: str) -> None:
        shown.append(text)
        browser(text.splitlines()[-1])  # a person opening the printed URL

    a = app(clean_emulator.info, "m365bot-pkce")
    p = AuthCodePkce(cloud="global", tenant=a["tenant_id"], client_id=a["client_id"],
                     username=alice["upn"], redirect_url="http://127.0.0.1:0", settings=settings,
                     store=vault, interactive=True, signin="url", prompt=prompt,
                     signin_timeout=30)
    assert p.get_token().claims["upn"] == alice["upn"]
    [text] = shown
    assert text.startswith(f"To sign in as {alice['upn']}, open this URL")
    assert "code_challenge_method=S256" in text.splitlines()[-1]
    browser.join()
    assert browser.status == 200 and "Sign-in finished" in browser.page


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_device_code_sign_in(clean_emulator: Any, settings: Settings, vault: Any, who: str) -> None:
    alice, person = user(clean_emulator.info, "alice"), user(clean_emulator.info, who)
    pages: list[str] = []
    threads: list[threading.Thread] = []

    def prompt(text: str) -> None:
        t = threading.Thread(target=lambda: pages.append(enter_device_code(
            clean_emulator.info, text, person["upn"], person["password"])), daemon=True)
        t.start()
        threads.append(t)

    a = app(clean_emulator.info, "m365bot-pkce")

    def provider(**kw: Any) -> AuthCodePkce:
        return AuthCodePkce(cloud="global", tenant=a["tenant_id"], client_id=a["client_id"],
                            username=alice["upn"], redirect_url="http://localhost",
                            settings=settings, store=vault, **kw)

    p = provider(interactive=True, signin="device-code", prompt=prompt, signin_timeout=60)
    if who == "bob":
        with pytest.raises(AuthError) as e:
            p.get_token()
        assert e.value.code == "wrong_account" and person["upn"] in str(e.value)
        with pytest.raises(ReauthRequired):  # nothing was kept
            provider(interactive=False).get_token()
        return
    tok = p.get_token()
    threads[0].join(30)
    assert tok.claims["upn"] == alice["upn"] and "You have signed in" in pages[0]
    clean_emulator.control.clear()
    again = provider(interactive=False).get_token()  # later runs: unattended, from the cache
    assert again.token == tok.token and login_requests(clean_emulator) == []


def test_device_code_wait_is_bounded_by_the_signin_timeout(clean_emulator: Any, settings: Settings,
                                                           vault: Any) -> None:
    shown: list[str] = []
    p = pkce(clean_emulator.info, settings, vault, timeout=1)
    p.signin = type(p.signin)(method="device-code", timeout=1, prompt=shown.append)
    with pytest.raises(AuthError) as e:
        p.get_token()
    assert e.value.code == "timeout" and "within 1 s" in str(e.value)
    assert "--signin-timeout" in e.value.advice and "devicelogin" in e.value.advice
    assert len(shown) == 1 and "enter the code" in shown[0]


@pytest.mark.parametrize(("kw", "field"), [({"signin": "carrier-pigeon"}, "signin"),
                                           ({"signin_timeout": 0}, "signin_timeout"),
                                           ({"signin_timeout": "5"}, "signin_timeout")])
def test_bad_signin_options_name_the_field(clean_emulator: Any, settings: Settings, vault: Any,
                                           kw: dict[str, Any], field: str) -> None:
    a = app(clean_emulator.info, "m365bot-pkce")
    with pytest.raises(ConfigError) as e:
        AuthCodePkce(cloud="global", tenant=a["tenant_id"], client_id=a["client_id"],
                     username="alice@contoso.onmicrosoft.com", redirect_url="http://localhost",
                     settings=settings, store=vault, **kw)
    assert e.value.field == field


def documented_redirect_urls() -> list[str]:
    """The loopback redirect URLs docs/connect.md shows for the PKCE app registration."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "connect.md").read_text()
    sentence = re.search(r"\*\*loopback\*\* redirect URL such as (.*?)\.\n", text, re.S)
    assert sentence, "docs/connect.md no longer shows example redirect URLs"
    return re.findall(r"`(http://[^`]+)`", sentence.group(1))


@pytest.mark.parametrize("url", documented_redirect_urls())
def test_documented_redirect_urls_work_with_the_demo_app(clean_emulator: Any, settings: Settings,
                                                         vault: Any, url: str) -> None:
    """The demo app accepts the doc's URL as written, and a sign-in with it (on a free port:
    Entra's loopback rule ignores the port) lands on a listener on the doc's path."""
    a = app(clean_emulator.info, "m365bot-pkce")
    authorize = (f"https://login.microsoftonline.com/{a['tenant_id']}/oauth2/v2.0/authorize?"
                 + urlencode({"client_id": a["client_id"], "response_type": "code",
                              "redirect_uri": url, "scope": "openid Mail.Read"}))
    with browser_client(clean_emulator.info) as client:
        page = client.get(authorize)
    assert page.status_code == 200 and 'id="signin"' in page.text, page.text[:300]
    parts = urlsplit(url)
    free = urlunsplit((parts.scheme, f"{parts.hostname}:{free_port()}", parts.path, "", ""))
    browser = Browser(clean_emulator.info, user(clean_emulator.info, "alice"))
    tok = pkce(clean_emulator.info, settings, vault, browser=browser, redirect=free).get_token()
    assert tok.claims["upn"].startswith("alice@")
    assert urlsplit(browser.auth_uris[0]).query.count("redirect_uri=") == 1
    assert parse_qs(urlsplit(browser.auth_uris[0]).query)["redirect_uri"] == [free]
