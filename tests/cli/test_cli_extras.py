"""The extras: m365bot.extras names the packages pyproject's extras install, and a command
that meets a missing package of an extra prints one ``Error: … Fix: pip install`` line
(exit 2) instead of a traceback. (A real install without extras: e2e/test_install_core.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from m365bot.extras import EXTRAS, extra_for_module

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_extras_module_matches_pyproject() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    optional = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert _names(optional[extra]) == {d.lower() for d in modules.values()}, extra
    # a bot runner's install has none of them, and the tests install all of them
    core = _names(project["dependencies"])
    assert not core & {d.lower() for m in EXTRAS.values() for d in m.values()}
    assert "m365bot[emulator,server]" in optional["test"]


def _run_without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter where ``modules`` cannot be imported (as on a bot
    runner without the extra)."""
    block = "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run([sys.executable, "-c", f"import sys\n{block}{code}"],
                          capture_output=True, text=True, timeout=60)


def test_emulator_serve_without_the_extra_names_it() -> None:
    got = _run_without(["starlette"], "from m365bot.cli.main import main\n"
                       "main(['emulator', 'serve', '--port', '0', '--proxy-port', '0'])")
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert got.stderr.strip() == (
        "Error: m365bot emulator serve needs m365bot's emulator extra, and starlette is not "
        "installed. Fix: pip install 'm365bot[emulator]'")


def test_controlroom_serve_without_the_extra_names_it_before_opening_a_database(
        tmp_path: Path) -> None:
    db = tmp_path / "cr.db"
    got = _run_without(["uvicorn", "argon2"], "from m365bot.cli.main import main\n"
                       f"main(['controlroom', 'serve', '--port', '1', '--db', {str(db)!r}])")
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert got.stderr.strip() == (
        "Error: m365bot controlroom serve needs m365bot's server extra, and uvicorn, "
        "argon2-cffi are not installed. Fix: pip install 'm365bot[server]'")
    assert not db.exists()


def test_a_command_meeting_a_missing_package_of_an_extra_names_the_extra() -> None:
    """The net under every command (the Control Room server's too): an import of an extra's
    package that fails inside a command becomes the fix line of the command's extra."""
    code = """
import click
from m365bot.cli.main import cli, main

@cli.command("late")
def late():
    import uvicorn

main(["late"])
"""
    got = _run_without(["uvicorn"], code)
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert got.stderr.strip() == (
        "Error: m365bot late needs m365bot's server extra, and uvicorn is not "
        "installed. Fix: pip install 'm365bot[server]'")
    # a missing module that no extra provides is a bug, and keeps its traceback
    got = _run_without(["uvicorn"], code.replace("import uvicorn", "import no_such_module"))
    assert got.returncode == 1 and "ModuleNotFoundError" in got.stderr


def test_a_package_two_extras_share_is_named_by_the_commands_extra() -> None:
    assert extra_for_module("starlette.routing", "server") == ("server", "starlette")
    assert extra_for_module("starlette", "emulator") == ("emulator", "starlette")
    assert extra_for_module("argon2.exceptions") == ("server", "argon2-cffi")
    assert extra_for_module("yaml") == ("emulator", "PyYAML")
    assert extra_for_module("httpx") is None
