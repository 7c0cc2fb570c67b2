"""``m365bot folder ...`` and ``m365bot profile ...`` in real processes against the emulator:
the connect options or a saved profile (references only: the canary secret never reaches the
profile file or the output), tables and --json, exit codes, and one-line errors that send
nothing."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from typing import Any

import pytest
from outlook_support import HANS, graph_calls, last_seq, run_cli

from plugins.canary import scan_output


def _one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and " Fix: " in lines[0], lines
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_profile_holds_references_and_runs_folder_commands(cli: dict[str, Any],
                                                           outlook_emulator: Any) -> None:
    env = cli["env"]
    saved = run_cli(["profile", "save", "hans", *cli["connect"]], env)
    assert saved.returncode == 0, saved.stderr
    text = (cli["home"] / "profiles" / "hans.json").read_text()
    assert cli["secret"] not in text and "credential:bots/o365/client_secret" in text
    scan_output(text, "profile file")
    assert oct((cli["home"] / "profiles" / "hans.json").stat().st_mode)[-3:] == "600"

    made = run_cli(["folder", "create", "Inbox/Sales/2026", "--profile", "hans", "--json"], env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["path"] == "Posteingang/Sales/2026"
    assert run_cli(["folder", "exists", "INBOX/sales", "--profile", "hans"], env).returncode == 0
    missing = run_cli(["folder", "exists", "Inbox/Einkauf", "--profile", "hans"], env)
    assert missing.returncode == 1 and "does not exist" in missing.stdout

    listed = run_cli(["folder", "list", "Inbox", "--profile", "hans"], env)
    assert listed.returncode == 0, listed.stderr
    assert "Posteingang/Sales/2026" in listed.stdout and "Unread" in listed.stdout
    as_json = json.loads(run_cli(["folder", "list", "--profile", "hans", "--json"], env).stdout)
    paths = {f["path"] for f in as_json}
    assert {"Posteingang", "Posteingang/Vertrieb/2026", "Projekte"} <= paths
    assert all({"id", "unread_count", "total_count"} <= set(f) for f in as_json)

    renamed = run_cli(["folder", "rename", "Inbox/Sales", "Verkauf", "--profile", "hans",
                    "--json"], env)
    assert json.loads(renamed.stdout)["path"] == "Posteingang/Verkauf", renamed.stderr
    moved = run_cli(["folder", "move", "Inbox/Verkauf", "archive", "--profile", "hans"], env)
    assert moved.returncode == 0 and "Archiv/Verkauf" in moved.stdout, moved.stderr
    gone = run_cli(["folder", "delete", "Archive/Verkauf", "--profile", "hans"], env)
    assert gone.returncode == 0 and "Deleted" in gone.stdout
    assert outlook_emulator.control.count("mailFolders.delete", 204) == 1

    # the connect options work without a profile too, and override it when both are given
    direct = run_cli(["folder", "exists", "Inbox", *cli["connect"]], env)
    assert direct.returncode == 0, direct.stderr
    ops = run_cli(["folder", "list", "Inbox", "--profile", "hans", "--username",
                "ops@contoso.onmicrosoft.com", "--json"], env)
    assert "Posteingang" not in ops.stdout and ops.returncode == 0, ops.stderr


@pytest.mark.parametrize(("extra", "words"), [
    (["--client-secret", "insecure:CANARY-plain-in-profile"], ("--client-secret", "references")),
    (["--client-secret", "CANARY-plain-in-profile"], ("--client-secret", "plain value")),
    (["--client-id", "insecure:abc"], ("--client-id", "insecure")),
    (["--proxy", "http://user:CANARY-proxy-pw@proxy.example:3128"], ("--proxy", "password")),
])
def test_profile_refuses_secrets(cli: dict[str, Any], extra: list[str],
                                 words: tuple[str, ...]) -> None:
    args = [a for a in cli["connect"]]
    for i in range(0, len(extra), 2):  # replace the option if present, else add it
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    proc = run_cli(["profile", "save", "leaky", *args], cli["env"])
    _one_line_error(proc, *words)
    assert not (cli["home"] / "profiles" / "leaky.json").exists()


@pytest.mark.parametrize(("args", "words"), [
    (["folder", "create", "Inbox//Sales"], ("PATH", "segment 2")),
    (["folder", "move", "Inbox/Vertrieb", "../x"], ("DESTINATION", "relative")),
    (["folder", "exists", ""], ("PATH", "empty")),
])
def test_bad_paths_fail_before_anything_is_sent(cli: dict[str, Any], outlook_emulator: Any,
                                                args: list[str], words: tuple[str, ...]) -> None:
    since = last_seq(outlook_emulator)
    proc = run_cli([*args, *cli["connect"]], cli["env"])
    _one_line_error(proc, *words)
    # not even sign-in
    assert outlook_emulator.control.requests()[-1:] == [] or last_seq(outlook_emulator) == since
    assert graph_calls(outlook_emulator, since) == []


def test_errors_are_one_line(cli: dict[str, Any], outlook_emulator: Any) -> None:
    env = cli["env"]
    _one_line_error(run_cli(["folder", "list", "--username", HANS], env), "--mode")
    _one_line_error(run_cli(["folder", "list", "--profile", "nobody"], env), "nobody",
                    "profile list")
    _one_line_error(run_cli(["folder", "rename", "inbox", "Eingang", *cli["connect"]], env),
                    "PATH", "well-known")
    _one_line_error(run_cli(["folder", "list", "Inbox/Nirgendwo", *cli["connect"]], env),
                    "PATH", "Nirgendwo")
    _one_line_error(run_cli(["profile", "save", "bad/name", *cli["connect"]], env), "profile name")


def _stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "m365bot", *args], env=env, stdin=slave,
                          stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    scan_output(proc.stdout + err, "m365bot folder list (terminal)")
    return proc.returncode, proc.stdout, err


def test_progress_bar_on_a_terminal_only(cli: dict[str, Any]) -> None:
    env = {**cli["env"], "TERM": "xterm-256color"}
    code, out, err = _stderr_on_a_terminal(["folder", "list", *cli["connect"], "--json"], env)
    assert code == 0 and "Listing folders" in err   # drawn on the terminal (stderr)
    assert json.loads(out)                           # stdout stays clean JSON
    piped = run_cli(["folder", "list", *cli["connect"]], cli["env"])
    assert piped.returncode == 0 and "Listing folders" not in piped.stdout + piped.stderr
