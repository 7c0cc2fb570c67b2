"""``m365bot connect`` and ``m365bot demo`` in real processes against the emulator: the
connection test as text and JSON, secrets never in the output, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from m365bot.cli.actor import default_actor
from m365bot.vault import AttributeSpec, Vault, new_raw_key
from plugins.canary import register_canary, scan_output


def _demo_app(info: dict[str, Any]) -> tuple[dict[str, Any], str]:
    tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
    app = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-demo")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    secret = next(s for s in app["secrets"] if s["expires"] > now)["value"]
    return app, register_canary(secret)


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "m365bot", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)
    scan_output(proc.stdout + proc.stderr, "m365bot " + " ".join(args[:1]))
    return proc


@pytest.fixture
def cli_env(tmp_path: Path, emulator: Any) -> dict[str, str]:
    info_file = tmp_path / "emulator.json"
    info_file.write_text(json.dumps(emulator.info))
    env = {k: v for k, v in os.environ.items() if not k.startswith("M365BOT_")}
    env.update({"M365BOT_HOME": str(tmp_path / "home"), "INFO_FILE": str(info_file)})
    return env


def test_connect_json_and_text_from_a_vault_credential(cli_env: dict[str, str],
                                                       emulator: Any, tmp_path: Path) -> None:
    app, secret = _demo_app(emulator.info)
    key = new_raw_key()
    with Vault.open(tmp_path / "vault.db", actor=default_actor()) as v:
        v.initialize(key=key)
        v.create_locker("bots")
        v.set_credential("bots", "o365", {"client_secret": AttributeSpec(secret)})
    env = {**cli_env, "M365BOT_VAULT": str(tmp_path / "vault.db"), "M365BOT_VAULT_KEY": key}
    base = ["connect", "--cloud", "Azure Global", "--mode", "client-credentials",
            "--client-id", app["client_id"], "--tenant-id", app["tenant_id"],
            "--username", "ops@contoso.onmicrosoft.com",
            "--client-secret", "credential:bots/o365/client_secret",
            "--emulator", cli_env["INFO_FILE"]]
    proc = _run([*base, "--json"], env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["identity"] == "m365bot-demo" and out["identity_type"] == "app"
    assert out["cloud"] == "Azure Global" and out["mailbox"] == "ops@contoso.onmicrosoft.com"
    assert "Mail.ReadWrite" in out["permissions"] and out["expires_on"] > time.time() + 600
    proc = _run(base, env)
    assert proc.returncode == 0 and "permissions: Calendars.ReadWrite, Mail.ReadWrite" in (
        proc.stdout) and "token expires:" in proc.stdout
    assert "eyJ" not in proc.stdout  # no JWT


def test_connect_reads_the_vault_as_the_vault_cli_writes_it(cli_env: dict[str, str],
                                                            emulator: Any,
                                                            tmp_path: Path) -> None:
    """Without $USER, 'm365bot vault' and 'm365bot connect' still act as the same login name
    (LOGNAME), so a locker created by one is readable by the other; --actor overrides it."""
    app, secret = _demo_app(emulator.info)
    env = {k: v for k, v in cli_env.items() if k != "USER"}
    env.update({"LOGNAME": "robo-operator", "M365BOT_VAULT": str(tmp_path / "vault.db"),
                "M365BOT_VAULT_KEY": new_raw_key()})
    for args, stdin in ((["vault", "init"], ""), (["vault", "locker", "create", "bots"], ""),
                        (["vault", "set", "bots", "o365", "client_secret"], secret + "\n")):
        proc = _run(args, env, stdin)
        assert proc.returncode == 0, proc.stderr
    base = ["connect", "--mode", "client-credentials", "--client-id", app["client_id"],
            "--tenant-id", app["tenant_id"], "--username", "ops@contoso.onmicrosoft.com",
            "--client-secret", "credential:bots/o365/client_secret",
            "--emulator", cli_env["INFO_FILE"], "--json"]
    proc = _run(base, env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["identity"] == "m365bot-demo"
    proc = _run([*base, "--actor", "someone-else"], env)
    assert proc.returncode == 2 and "someone-else" in proc.stderr, proc.stderr
    proc = _run(["controlroom", "connection", "list", "--actor", "robo-operator"], env)
    assert proc.returncode == 0, proc.stderr


def test_connect_errors_are_one_line(cli_env: dict[str, str], emulator: Any) -> None:
    app, _ = _demo_app(emulator.info)
    wrong = register_canary("CANARY-cli-wrong-secret")
    base = ["connect", "--mode", "client-credentials", "--client-id", app["client_id"],
            "--tenant-id", app["tenant_id"], "--username", "ops@contoso.onmicrosoft.com",
            "--emulator", cli_env["INFO_FILE"]]
    cases = [
        ([*base, "--client-secret", f"insecure:{wrong}"], "use the secret's value, not its ID"),
        ([*base, "--client-secret", "variable:NOPE_SECRET"], "client_secret"),
        ([*base, "--client-secret", "credential:bots/o365"], "three parts"),
        ([*base, "--cloud", "mars", "--client-secret", "insecure:x"], "cloud"),
        ([*base[:-1], "/nonexistent.json", "--client-secret", "insecure:x"], "--emulator"),
    ]
    for args, expect in cases:
        proc = _run(args, cli_env)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = [line for line in proc.stderr.strip().splitlines()
                 if not line.startswith("Warning: ")]  # an insecure value on argv is warned
        assert len(lines) == 1 and lines[0].startswith("Error: ") and expect in lines[0], lines
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_demo_on_a_fresh_home(cli_env: dict[str, str], tmp_path: Path) -> None:
    proc = _run(["demo", "--data-dir", str(tmp_path / "demo")], cli_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "connected: m365bot-demo (app) -> ops@contoso.onmicrosoft.com" in proc.stdout
    assert "Server maintenance tonight" in proc.stdout  # newest seeded subject in ops's Inbox
    assert "credential:demo/m365bot-demo/client_secret" in proc.stdout
    # the secret sits in the vault encrypted, not in clear on disk
    raw = (tmp_path / "demo" / "vault.db").read_bytes()
    info = json.loads(Path(cli_env["INFO_FILE"]).read_text())
    _, secret = _demo_app(info)
    assert secret.encode() not in raw


def test_unattended_auth_code_without_sign_in_is_a_clear_error(cli_env: dict[str, str],
                                                               emulator: Any) -> None:
    info = emulator.info
    tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
    pkce = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")
    started = time.monotonic()
    proc = _run(["connect", "--mode", "auth-code", "--unattended", "--client-id",
                 pkce["client_id"], "--tenant-id", tid, "--username",
                 "alice@contoso.onmicrosoft.com", "--redirect-url", "http://localhost:8400",
                 "--emulator", cli_env["INFO_FILE"], "--json"], cli_env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no cached sign-in" in proc.stderr and "--interactive" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30  # never a hang waiting for a browser


def _pkce_args(info: dict[str, Any], cli_env: dict[str, str]) -> list[str]:
    tid = next(t["id"] for t in info["tenants"] if t["cloud"] == "global")
    pkce = next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == "m365bot-pkce")
    return ["connect", "--mode", "auth-code", "--interactive", "--client-id", pkce["client_id"],
            "--tenant-id", tid, "--username", "alice@contoso.onmicrosoft.com",
            "--redirect-url", "http://127.0.0.1:0", "--emulator", cli_env["INFO_FILE"]]


def test_a_browser_command_that_fails_is_an_error_at_once(cli_env: dict[str, str],
                                                          emulator: Any) -> None:
    started = time.monotonic()
    proc = _run(_pkce_args(emulator.info, cli_env),
                {**cli_env, "M365BOT_BROWSER": "false {url}"})
    assert time.monotonic() - started < 60  # not the 300 s sign-in timeout
    assert proc.returncode == 2 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]  # after the printed sign-in URL
    assert last.startswith("Error: the browser command 'false' exited with status 1")
    assert "M365BOT_BROWSER" in last and "--signin url" in last
    assert "Traceback" not in proc.stderr


def test_the_sign_in_wait_is_configurable(cli_env: dict[str, str], emulator: Any) -> None:
    started = time.monotonic()
    proc = _run([*_pkce_args(emulator.info, cli_env), "--signin", "url",
                 "--signin-timeout", "2"], cli_env)
    assert time.monotonic() - started < 60
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("To sign in as alice@contoso.onmicrosoft.com, open this URL")
    assert lines[1].startswith("https://login.microsoftonline.com/")
    assert lines[-1].startswith("Error: no sign-in arrived at http://127.0.0.1:")
    assert "within 2 s" in lines[-1] and "--signin-timeout" in lines[-1]
    proc = _run([*_pkce_args(emulator.info, cli_env), "--signin-timeout", "soon"], cli_env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("Error: --signin-timeout 'soon' is not a number of seconds")


WATCH_KEY_FILE = """
import os, stat, sys
from pathlib import Path

key = Path(sys.argv[1]) / "vault.key"
seen = []
busy = False

def watch(event, args):  # every audited step of the demo: is the key file private?
    global busy
    if busy:
        return
    busy = True
    try:
        if key.exists():
            seen.append(stat.S_IMODE(key.stat().st_mode))
    finally:
        busy = False

os.umask(0o022)  # an ordinary umask: new files are readable by others unless made 0600
sys.addaudithook(watch)
from m365bot.cli.main import cli
try:
    cli(["demo", "--data-dir", sys.argv[1]])
except SystemExit as exc:
    assert not exc.code, exc.code
print("KEY MODES", sorted(set(seen)), len(seen))
"""


def test_demo_key_file_is_private_from_its_first_moment(cli_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    """vault.key is created 0600: at no audited step of the demo is it readable by others."""
    data = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-c", WATCH_KEY_FILE, str(data)], env=cli_env,
                          capture_output=True, text=True, timeout=120)
    scan_output(proc.stdout + proc.stderr, "m365bot demo")
    assert proc.returncode == 0, proc.stderr[-2000:]
    modes, count = proc.stdout.rsplit("KEY MODES ", 1)[1].rsplit(" ", 1)
    assert modes == str([0o600]) and int(count) > 0
    assert (data / "vault.key").stat().st_mode & 0o777 == 0o600
