"""Fixtures for the Control Room tests: every test is its own bot run. The clean emulator,
vault, vault key and settings come from tests/conftest.py. The server fixtures (``cr_db``,
``cr_db_any``, ``cr_server``) run ``m365bot controlroom serve`` as a real process
(tests/controlroom_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlroom_support import Server, served_controlroom, stock_users
from m365bot.bots.run import BotRun
from postgres_support import postgres_database


@pytest.fixture(autouse=True)
def bot_run(bot_run: BotRun) -> BotRun:
    """Every test here is its own bot run (tests/conftest.py's bot_run, used automatically)."""
    return bot_run


@pytest.fixture(params=["sqlite", "postgresql"])
def cr_db_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty Control Room database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "controlroom.db")
    else:
        with postgres_database("m365bot_cr") as url:
            yield url


@pytest.fixture
def cr_db(tmp_path: Path) -> str:
    """A Control Room database file (SQLite) with an administrator ``admin`` and a user
    ``alice`` (controlroom_support.ADMIN_PASSWORD / USER_PASSWORD)."""
    db = str(tmp_path / "controlroom.db")
    stock_users(db)
    return db


@pytest.fixture
def cr_server(cr_db: str, tmp_path: Path) -> Iterator[Server]:
    """A served Control Room process on ``cr_db``."""
    with served_controlroom(cr_db, tmp_path / "server") as server:
        yield server
