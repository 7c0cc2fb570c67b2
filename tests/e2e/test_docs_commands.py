"""The command lines shown in docs/ and README.md are ones the ``m365bot`` CLI accepts, and the
Credential Vault and Connect pages show every vault, connect and controlroom command.

A user copies these lines; a renamed option or subcommand must fail here, not in their shell.
Parsing only (click's own parser), no command runs, so this is fast.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from m365bot.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _segments(line: str) -> list[list[str]]:
    """A shell line split into simple commands at ``|``, ``&&``, ``;`` and ``&``."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    out: list[list[str]] = [[]]
    for tok in lex:
        if tok in ("|", "||", "&&", ";", "&"):
            out.append([])
        else:
            out[-1].append(tok)
    return out


def _commands(text: str) -> list[str]:
    """Every ``m365bot ...`` invocation in the console (``$ `` lines) and bash blocks."""
    found = []
    for kind, block in re.findall(r"```(console|bash)\n(.*?)```", text, re.S):
        block = block.replace("\\\n", " ")  # line continuations
        for line in block.splitlines():
            if kind == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if "m365bot" not in line or line.lstrip().startswith("#"):
                continue
            for words in _segments(line):
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words.pop(0)  # VAR=value prefixes
                if words and words[0] == "m365bot":
                    found.append(shlex.join(words[1:]))
    return found


def _leaf(args: list[str]) -> tuple[click.Command, list[str], str]:
    cmd: click.Command = cli
    path = "m365bot"
    ctx = click.Context(cli, info_name="m365bot")
    while isinstance(cmd, click.Group) and args and not args[0].startswith("-"):
        sub = cmd.get_command(ctx, args[0])
        assert sub is not None, f"{path} has no subcommand {args[0]!r}"
        path, cmd, args = f"{path} {args[0]}", sub, args[1:]
        ctx = click.Context(cmd, info_name=path, parent=ctx)
    return cmd, args, path


def _all_examples() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        out += [(page.name, c) for c in _commands(page.read_text())]
    return out


@pytest.mark.parametrize(("page", "line"), _all_examples())
def test_documented_command_parses(page: str, line: str) -> None:
    cmd, args, path = _leaf(shlex.split(line))
    try:
        cmd.make_context(path, list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        pass  # --help / --version
    except click.UsageError as exc:
        pytest.fail(f"{page}: 'm365bot {line}' is refused by the CLI: {exc.format_message()}")


def _leaves(group: click.Group, prefix: str) -> list[str]:
    ctx = click.Context(group, info_name=prefix)
    names = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        if isinstance(sub, click.Group):
            names += _leaves(sub, f"{prefix} {name}")
        else:
            names.append(f"{prefix} {name}")
    return names


@pytest.mark.parametrize(("pages", "group"), [(("vault.md",), "vault"),
                                               (("connect.md", "controlroom.md"), "controlroom")])
def test_every_command_of_a_group_is_documented(pages: tuple[str, ...], group: str) -> None:
    ctx = click.Context(cli, info_name="m365bot")
    top = cli.get_command(ctx, group)
    assert isinstance(top, click.Group)
    shown = {" ".join(shlex.split(c)[:3]) for page in pages
             for c in _commands((ROOT / "docs" / page).read_text())}
    shown_paths = {f"m365bot {s}" for s in shown}
    missing = [leaf for leaf in _leaves(top, f"m365bot {group}")
               if not any(p == leaf or p.startswith(leaf + " ") for p in shown_paths)]
    assert not missing, f"docs/{' or '.join(pages)} shows no example of: {', '.join(missing)}"


def test_connect_page_shows_every_mode_and_cloud_with_the_cli() -> None:
    lines = _commands((ROOT / "docs" / "connect.md").read_text())
    connects = [shlex.split(c) for c in lines if c.startswith("connect ")]
    modes = {w[w.index("--mode") + 1] for w in connects if "--mode" in w}
    assert {"client-credentials", "auth-code", "control-room"} <= modes
    clouds = {w[w.index("--cloud") + 1].lower() for w in connects if "--cloud" in w}
    assert {"azure us gcc high", "dod", "china"} <= clouds
    assert any("--json" in w for w in connects)


def test_readme_example_stays_short() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A bot in 20 lines", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    assert len(block.group(1).splitlines()) <= 22
