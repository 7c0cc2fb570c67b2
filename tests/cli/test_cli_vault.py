"""``m365bot vault``: values only from stdin, never echoed unless --reveal, one-line errors."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from m365bot.cli.main import cli

PASS = "CANARY-cli-pass"


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("M365BOT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("M365BOT_VAULT_KEY", raising=False)
    monkeypatch.delenv("M365BOT_VAULT", raising=False)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, ["vault", *args], input=stdin, env=env)

    return invoke


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_store_list_get_reveal_audit_rotate(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = "CANARY-cli-secret-value"
    p = ["--passphrase-stdin"]
    _ok(run("init", *p, stdin=f"{PASS}\n"))
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    _ok(run("locker", "create", "bots", *p, stdin=f"{PASS}\n"))
    out = _ok(run("set", "bots", "o365", "client_secret", *p, stdin=f"{PASS}\n{secret}\n"))
    assert secret not in out.output and "set (masked)" in out.stdout
    got = _ok(run("get", "bots", "o365", "client_secret", *p, stdin=f"{PASS}\n"))
    assert secret not in got.output and "********" in got.stdout
    shown = _ok(run("get", "bots", "o365", "client_secret", "--reveal", *p, stdin=f"{PASS}\n"))
    assert shown.stdout == secret + "\n"
    as_json = _ok(run("get", "bots", "o365", "client_secret", "--json", *p, stdin=f"{PASS}\n"))
    assert "value" not in json.loads(as_json.stdout) and secret not in as_json.output
    attrs = json.loads(_ok(run("attributes", "bots", "o365", "--json")).stdout)
    assert attrs == [{"attribute": "client_secret", "masked": True, "user_provided": False,
                      "has_value": True}]
    assert _ok(run("list", "bots")).stdout.startswith("o365\tclient_secret")
    audit = _ok(run("audit", "--json", *p, stdin=f"{PASS}\n"))
    reads = [r for r in json.loads(audit.stdout) if r["action"] == "value.read"]
    assert len(reads) == 3 and secret not in audit.output
    _ok(run("rotate-key", *p, "--new-passphrase-stdin", stdin=f"{PASS}\nCANARY-new-pass\n"))
    old = run("unlock-test", *p, stdin=f"{PASS}\n")
    assert old.exit_code == 2 and "wrong passphrase" in old.stderr
    again = run("get", "bots", "o365", "client_secret", "--reveal", *p,
                stdin="CANARY-new-pass\n")
    assert _ok(again).stdout == secret + "\n"


def test_values_on_the_command_line_are_refused_and_not_echoed(run) -> None:  # type: ignore[no-untyped-def]
    p = ["--passphrase-stdin"]
    _ok(run("init", *p, stdin=f"{PASS}\n"))
    _ok(run("locker", "create", "bots", *p, stdin=f"{PASS}\n"))
    bad = run("set", "bots", "o365", "client_secret", "CANARY-in-argv", *p, stdin=f"{PASS}\n")
    assert bad.exit_code == 2
    assert "CANARY" not in bad.output
    assert "not accepted on the command line" in bad.stderr
    assert _ok(run("list", "bots")).stdout.strip() == "(no credentials)"
    empty = run("set", "bots", "o365", "client_secret", *p, stdin=f"{PASS}\n")
    assert empty.exit_code == 2 and "the value is empty" in empty.stderr


def test_key_file_environment_and_roles(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "vault.key"
    _ok(run("init", "--generate-key-file", str(key_file), "--actor", "alice"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    k = ["--key-file", str(key_file)]
    _ok(run("locker", "create", "bots", *k, "--actor", "alice"))
    _ok(run("set", "bots", "o365", "client_secret", *k, "--actor", "alice",
            stdin="CANARY-k1\n"))
    env = {"M365BOT_VAULT_KEY": key_file.read_text().strip()}
    denied = run("get", "bots", "o365", "client_secret", "--reveal", "--actor", "bob", env=env)
    assert denied.exit_code == 2 and "may not read credentials" in denied.stderr
    assert "CANARY" not in denied.output
    _ok(run("locker", "add-member", "bots", "role:runners", "consumer", *k, "--actor", "alice"))
    bot = run("get", "bots", "o365", "client_secret", "--reveal", "--actor", "bob",
              "--role", "runners", env=env)
    assert _ok(bot).stdout == "CANARY-k1\n"
    wrong = run("unlock-test", env={"M365BOT_VAULT_KEY": base64.b64encode(os.urandom(32)).decode()})
    assert wrong.exit_code == 2 and "wrong key" in wrong.stderr
    missing = run("list", "--vault", str(tmp_path / "typo.db"))
    assert missing.exit_code == 2 and "there is no vault at" in missing.stderr
    assert not (tmp_path / "typo.db").exists()
    none = run("unlock-test", stdin="")
    assert none.exit_code == 2 and "no vault master key given" in none.stderr
    key_file.chmod(0o644)
    loose = run("unlock-test", *k)
    assert loose.exit_code == 2 and "chmod 600" in loose.stderr


def test_wrong_passphrase_in_a_real_process_gives_one_line_and_no_output(tmp_path: Path) -> None:
    env = {**os.environ, "M365BOT_HOME": str(tmp_path / "home")}
    env.pop("M365BOT_VAULT_KEY", None)

    def m365bot(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "m365bot", "vault", *args,
                               "--passphrase-stdin"], input=stdin, capture_output=True,
                              text=True, env=env, timeout=60)

    assert m365bot("init", stdin=f"{PASS}\n").returncode == 0
    assert m365bot("locker", "create", "bots", stdin=f"{PASS}\n").returncode == 0
    assert m365bot("set", "bots", "c", "a", stdin=f"{PASS}\nCANARY-proc\n").returncode == 0
    bad = m365bot("get", "bots", "c", "a", "--reveal", stdin="CANARY-wrong\n")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("Error: wrong passphrase")
    assert "Traceback" not in bad.stderr and "CANARY" not in bad.stderr


def test_attribute_flags_and_user_provided_values(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "vault.key"
    _ok(run("init", "--generate-key-file", str(key_file)))
    k = ["--key-file", str(key_file)]
    _ok(run("locker", "create", "mail", *k))
    _ok(run("set", "mail", "imap", "host", "--unmasked", *k, stdin="CANARY-host\n"))
    _ok(run("set", "mail", "imap", "password", "--user-provided", "--no-value", *k))
    _ok(run("set", "mail", "imap", "host", *k, stdin="CANARY-host2\n"))  # keeps --unmasked
    _ok(run("locker", "add-member", "mail", "carol", "consumer", *k))
    _ok(run("set", "mail", "imap", "password", "--actor", "carol", *k, stdin="CANARY-carol\n"))
    rows = {r["attribute"]: r for r in json.loads(
        _ok(run("attributes", "mail", "imap", "--json", "--actor", "carol")).stdout)}
    assert rows["host"]["masked"] is False and rows["host"]["has_value"] is True
    assert rows["password"]["user_provided"] is True and rows["password"]["has_value"] is True
    mine = run("get", "mail", "imap", "password", "--reveal", "--actor", "carol", *k)
    assert _ok(mine).stdout == "CANARY-carol\n"
    owner = run("get", "mail", "imap", "password", "--reveal", *k)
    assert owner.exit_code == 2 and "has no value for you" in owner.stderr
    denied = run("set", "mail", "imap", "host", "--actor", "carol", *k, stdin="CANARY-evil\n")
    assert denied.exit_code == 2 and "may not" in denied.stderr


def _one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and " Fix: " in lines[0], lines
    assert "Traceback" not in result.stderr and "CANARY" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_bad_locations_actors_and_members_are_one_line_errors(  # type: ignore[no-untyped-def]
        run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365BOT_VAULT_KEY", base64.b64encode(os.urandom(32)).decode())
    _one_line_error(run("list", "--vault", "bogus://x"), "--vault")
    folder = tmp_path / "work"
    folder.mkdir()
    folder.chmod(0o755)
    monkeypatch.chdir(folder)
    _one_line_error(run("init", "--vault", "."), "--vault", "is a folder")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755 and list(folder.iterdir()) == []
    _ok(run("init"))
    _ok(run("locker", "create", "outlook"))
    forged = "bot\n2026-01-01 00:00:00\tadmin\tvalue.read\toutlook/app/secret"
    _one_line_error(run("locker", "create", "x", "--actor", forged), "actor")
    _one_line_error(run("locker", "add-member", "outlook", "role:", "consumer"), "member")
    assert "2026-01-01" not in _ok(run("audit")).stdout
    assert _ok(run("list")).stdout.split() == ["outlook", "owner"]


def test_non_utf8_stdin_to_set_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "M365BOT_HOME": str(tmp_path / "home"),
           "M365BOT_VAULT_KEY": base64.b64encode(os.urandom(32)).decode()}
    for variant in ({"PYTHONUTF8": "1"}, {"PYTHONUTF8": "0", "LC_ALL": "C.UTF-8"}):
        def m365bot(*args: str, stdin: bytes = b"",
                    extra: dict[str, str] = variant) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run([sys.executable, "-m", "m365bot", "vault", *args],
                                  input=stdin, capture_output=True, env={**env, **extra},
                                  timeout=60)

        if not (tmp_path / "home" / "vault.db").exists():
            assert m365bot("init").returncode == 0
            assert m365bot("locker", "create", "bots").returncode == 0
        bad = m365bot("set", "bots", "c", "a", stdin=b"CANARY-\xff\xfe-bytes\n")
        err = bad.stderr.decode()
        assert bad.returncode == 2 and bad.stdout == b"", err
        assert err.startswith("Error: ") and "UTF-8" in err and " Fix: " in err
        assert err.count("\n") == 1 and "Traceback" not in err
        listed = m365bot("list", "bots")
        assert listed.stdout.decode().strip() == "(no credentials)"
