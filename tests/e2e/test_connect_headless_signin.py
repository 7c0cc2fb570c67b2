"""The attended first run of "Authorization code with PKCE" on a runner without a desktop
browser, as a person does it: ``m365bot connect --interactive --signin url`` prints the sign-in
URL and waits on its loopback listener (a real headless Chromium opens the printed URL), and
``--signin device-code`` prints a code that the person enters on the emulator's device page.
The CLI runs as its own process against the emulator, through its proxy and CA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import m365bot
from browser_support import ChromiumSignIn
from m365bot.config import Settings
from plugins.canary import scan_output
from signin_support import enter_device_code, printed_line


def _who(info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")
    alice, bob = (next(u for u in info["users"]
                       if u["tenant_id"] == tid and u["upn"].startswith(n))
                  for n in ("alice", "bob"))
    return app, alice, bob


@pytest.fixture
def cli(tmp_path: Path, emulator: Any) -> tuple[list[str], dict[str, str]]:
    """The CLI's argv prefix for an auth-code Connect of the demo PKCE app, and its env."""
    info_file = tmp_path / "emulator.json"
    info_file.write_text(json.dumps(emulator.info))
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env["M365BOT_HOME"] = str(tmp_path / "home")
    app, _, _ = _who(emulator.info)
    argv = [sys.executable, "-m", "m365bot", "connect", "--mode", "auth-code", "--interactive",
            "--client-id", app["client_id"], "--tenant-id", app["tenant_id"],
            "--emulator", str(info_file), "--json"]
    return argv, env


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    scan_output(out + err, "m365bot connect")
    return proc.returncode, out, err


@pytest.mark.browser
def test_printed_url_opened_by_headless_chromium(emulator: Any,
                                                 cli: tuple[list[str], dict[str, str]]) -> None:
    argv, env = cli
    _, alice, _ = _who(emulator.info)
    proc = _start([*argv, "--signin", "url", "--signin-timeout", "90", "--username",
                   alice["upn"], "--redirect-url", "http://127.0.0.1:0"], env)
    assert proc.stderr is not None
    url = printed_line(proc.stderr, "https://login.microsoftonline.com/")
    chromium = ChromiumSignIn(emulator.info, alice["upn"], alice["password"])
    chromium(url)
    status, out, err = _finish(proc)
    assert chromium.thread is not None
    chromium.thread.join(30)
    assert chromium.error is None, chromium.error
    assert status == 0, err
    test = json.loads(out)
    assert test["identity"] == alice["upn"] and test["identity_type"] == "user"
    assert "Sign-in finished" in chromium.final_text


@pytest.mark.browser
def test_interactive_without_any_browser_prints_the_url_and_waits(
        emulator: Any, cli: tuple[list[str], dict[str, str]]) -> None:
    """Plain --interactive on a runner where no browser can be opened (no display, the
    system browser fails): the printed URL is the way in, not an error."""
    argv, env = cli
    env = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["BROWSER"] = "false"  # the system browser Python's webbrowser would use
    _, alice, _ = _who(emulator.info)
    proc = _start([*argv, "--username", alice["upn"], "--redirect-url", "http://127.0.0.1:0"],
                  env)
    assert proc.stderr is not None
    intro = printed_line(proc.stderr, "Opening the browser")
    assert alice["upn"] in intro and "open this URL" in intro
    url = printed_line(proc.stderr, "https://login.microsoftonline.com/")
    chromium = ChromiumSignIn(emulator.info, alice["upn"], alice["password"])
    chromium(url)
    status, out, err = _finish(proc)
    assert status == 0, err
    assert json.loads(out)["identity"] == alice["upn"]


@pytest.mark.browser
def test_wrong_account_shows_an_error_page_not_sign_in_finished(
        emulator: Any, cli: tuple[list[str], dict[str, str]]) -> None:
    argv, env = cli
    _, alice, bob = _who(emulator.info)
    proc = _start([*argv, "--signin", "url", "--username", bob["upn"], "--redirect-url",
                   "http://127.0.0.1:0"], env)
    assert proc.stderr is not None
    url = printed_line(proc.stderr, "https://login.microsoftonline.com/")
    chromium = ChromiumSignIn(emulator.info, alice["upn"], alice["password"])  # the wrong one
    chromium(url)
    status, out, err = _finish(proc)
    assert chromium.thread is not None
    chromium.thread.join(30)
    assert status == 2 and out == ""
    assert f"the browser signed in as {alice['upn']}, but the username is {bob['upn']}" in err
    assert "Sign-in finished" not in chromium.final_text
    assert "Sign-in failed" in chromium.final_text and alice["upn"] in chromium.final_text
    assert f"sign in as {bob['upn']}" in chromium.final_text  # the fix


def test_device_code_from_the_cli(emulator: Any, cli: tuple[list[str], dict[str, str]]) -> None:
    """No browser, no redirect URL: the person enters the printed code on another device."""
    argv, env = cli
    _, alice, _ = _who(emulator.info)
    proc = _start([*argv, "--signin", "device-code", "--username", alice["upn"]], env)
    assert proc.stderr is not None
    line = printed_line(proc.stderr, f"Sign in as {alice['upn']} on any device")
    page = enter_device_code(emulator.info, line, alice["upn"], alice["password"])
    assert "You have signed in" in page
    status, out, err = _finish(proc)
    assert status == 0, err
    assert json.loads(out)["identity"] == alice["upn"]


def test_device_code_from_python(emulator: Any, tmp_path: Path) -> None:
    info = emulator.info
    app, alice, _ = _who(info)
    done: list[str] = []

    def person(message: str) -> None:  # reads the prompt, signs in on another device
        threading.Thread(target=lambda: done.append(enter_device_code(
            info, message, alice["upn"], alice["password"])), daemon=True).start()

    settings = Settings(data_dir=tmp_path / "home", proxy=info["proxy_url"],
                        ca_bundle=info["ca_bundle"], timeout=20)
    s = m365bot.connect(cloud="global", mode="auth-code", client_id=app["client_id"],
                        tenant_id=app["tenant_id"], username=alice["upn"],
                        mailbox="ops@contoso.onmicrosoft.com", interactive=True,
                        signin="device-code", signin_timeout=60, prompt=person,
                        settings=settings)
    try:
        assert s.identity == alice["upn"] and s.mailbox == "ops@contoso.onmicrosoft.com"
        assert "Mail.ReadWrite.Shared" in s.permissions
        assert done and "You have signed in" in done[0]
    finally:
        s.close()
