"""Reading docs/outlook.md for the tests that run its examples: a section by its title, the
code blocks of a kind in it, a block's command lines as words, and those words made to reach
the Outlook tests' emulator; a message delivered to a mailbox and the page's "ops" profile
saved, as the command-line examples expect."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from outlook_support import run_cli

PAGE = Path(__file__).resolve().parents[2] / "docs" / "outlook.md"


def section(title: str) -> str:
    return PAGE.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(section: str, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


def lines(block: str) -> list[list[str]]:
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()
            if line.strip()]


def with_emulator(words: list[str], cli: dict[str, Any]) -> list[str]:
    app = cli["app"]
    words = [{"CID": app["client_id"], "TID": app["tenant_id"]}.get(w, w) for w in words]
    if words[1:3] == ["profile", "save"]:
        words += ["--emulator", cli["info_file"]]
    return words[1:]  # without "m365bot"


def deliver(emulator: Any, mailbox: str, subject: str, folder: str = "inbox") -> None:
    from m365bot.emulator.graph.seed import seed_message

    with emulator.state.lock:
        seed_message(emulator.state, emulator.state.mailbox(mailbox), {
            "folder": folder, "subject": subject, "from": "vertrieb@kunde.example",
            "to": [mailbox], "body": f"Text of {subject}"})


def save_profile(cli: dict[str, Any]) -> None:
    """Save the page's "ops" profile (the first line of its profile section)."""
    line = lines(blocks(section("The command line: connection options and profiles"),
                        "bash")[0])[0]
    assert run_cli(with_emulator(line, cli), cli["env"]).returncode == 0
