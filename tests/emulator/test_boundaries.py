"""The agreed dependency rule (team brief): the emulator imports nothing from the client side,
and client code never imports the emulator (only the CLI, the outer edge, may start one)."""

from __future__ import annotations

import ast
from pathlib import Path

import m365bot

PACKAGE = Path(m365bot.__file__).parent
# the package's own metadata, and floor 1's settings (the one data-folder rule), errors and
# extras (which packages the emulator's extra brings: its "pip install" line)
SHARED = {"m365bot", "m365bot._version", "m365bot.config", "m365bot.errors", "m365bot.extras"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_emulator_imports_nothing_from_the_client_side() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / "emulator").rglob("*.py")
        for name in _imports(path)
        if name.startswith("m365bot") and not name.startswith("m365bot.emulator")
        and name not in SHARED
    }
    assert not offenders


def test_client_code_never_imports_the_emulator() -> None:
    files = [p for p in PACKAGE.rglob("*.py")
             if p.relative_to(PACKAGE).parts[0] not in ("emulator", "cli")]
    assert len(files) > 5  # the scan sees the client package
    offenders = {f"{p.relative_to(PACKAGE)}: {name}" for p in files for name in _imports(p)
                 if name.startswith("m365bot.emulator")}
    assert not offenders


def test_the_emulator_and_m365bot_accept_the_same_cloud_names() -> None:
    # The emulator keeps its own copy of the names (it may not import the client): the two
    # lists must name the same clouds, and agree on each cloud's hosts.
    from m365bot import clouds
    from m365bot.emulator import hosts

    client_names = set(clouds._ALIASES)
    assert client_names == set(hosts.CLOUD_NAMES)
    for name in client_names | {"Azure US GCC High", "GCC-High", "usgovhigh"}:
        ours, theirs = hosts.parse_cloud(name), clouds.Cloud.parse(name)
        assert ours is not None, name
        assert hosts.LOGIN_HOST[ours] == theirs.login_host, name
        assert hosts.GRAPH_RESOURCE[ours] == theirs.graph_url, name
