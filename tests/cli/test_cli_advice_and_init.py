"""Small CLI promises: 'vault init' on bad input changes nothing (no stray key file), prints a
database URL without its password, and advice names commands that exist."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from m365bot.cli.main import cli

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("M365BOT_HOME", str(tmp_path / "home"))
    for name in ("M365BOT_VAULT_KEY", "M365BOT_VAULT", "M365BOT_PROXY", "M365BOT_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_init_of_an_initialised_vault_leaves_no_new_key_file(runner: CliRunner,
                                                             tmp_path: Path) -> None:
    db = str(tmp_path / "vault.db")
    first = runner.invoke(cli, ["vault", "init", "--vault", db,
                                "--generate-key-file", str(tmp_path / "k1")])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["vault", "init", "--vault", db,
                                "--generate-key-file", str(tmp_path / "k2")])
    assert again.exit_code == 2 and again.stderr.startswith("Error: ")
    assert "Traceback" not in again.output
    assert not (tmp_path / "k2").exists()  # bad input changed nothing
    check = runner.invoke(cli, ["vault", "unlock-test", "--vault", db,
                                "--key-file", str(tmp_path / "k1")])
    assert check.exit_code == 0, check.output


@pytest.fixture
def pg_db() -> Iterator[str]:
    name = f"m365bot_cli_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_init_on_postgresql_prints_the_url_without_password(runner: CliRunner, pg_db: str,
                                                           tmp_path: Path,
                                                           register_canary: object) -> None:
    password = "CANARY-pg-password"
    register_canary(password)  # type: ignore[operator]
    url = f"postgresql+psycopg://postgres:{password}@127.0.0.1:5432/{pg_db}"
    out = runner.invoke(cli, ["vault", "init", "--vault", url,
                              "--generate-key-file", str(tmp_path / "pg.key")])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == (
        f"Vault initialized at postgresql+psycopg://postgres@127.0.0.1:5432/{pg_db}.")
    assert password not in out.output


def test_emulator_advice_names_the_serve_command(runner: CliRunner, tmp_path: Path) -> None:
    out = runner.invoke(cli, ["connect", "--mode", "client-credentials", "--username",
                              "ops@contoso.onmicrosoft.com", "--emulator",
                              str(tmp_path / "missing.json")])
    assert out.exit_code == 2 and "--emulator" in out.stderr
    advised = out.stderr.split("'m365bot ", 1)[1].split("'", 1)[0]
    args = [a for a in shlex.split(advised) if a != "PATH"]
    assert args[:2] == ["emulator", "serve"]
    helped = runner.invoke(cli, [*args[:2], "--help"])
    assert helped.exit_code == 0 and "--info-file" in helped.stdout


def _every_help(group: click.Group, path: list[str], runner: CliRunner) -> dict[str, str]:
    helps = {" ".join(path): runner.invoke(cli, [*path[1:], "--help"]).output}
    ctx = click.Context(group, info_name=path[-1])
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            helps.update(_every_help(sub, [*path, name], runner))
        else:
            helps[" ".join([*path, name])] = runner.invoke(cli, [*path[1:], name, "--help"]).output
    return helps


def test_help_and_docs_speak_of_the_platform_not_the_seed(runner: CliRunner) -> None:
    """The Connect action's spec is 'the RPA platform's Connect action' to users: no --help
    and no user page calls it "the seed" (the emulator's pages may speak of seeding data)."""
    helps = _every_help(cli, ["m365bot"], runner)
    assert len(helps) > 20 and all("Usage:" in h for h in helps.values())
    said = [cmd for cmd, text in helps.items() if "seed" in text.lower()]
    assert said == [], f"--help mentions 'seed': {said}"
    root = Path(__file__).resolve().parents[2]
    src = root / "src" / "m365bot"
    pages = [root / "README.md", root / "docs" / "connect.md", root / "docs" / "vault.md",
             *src.glob("*.py"), *(src / "cli").glob("*.py")]
    said = [p.name for p in pages if "seed" in p.read_text().lower()]
    assert said == [], f"these user-facing files say 'seed': {said}"
    assert "Connect action's" in helps["m365bot connect"]
