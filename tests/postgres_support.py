"""Throw-away PostgreSQL databases for the tests of the multi-machine stores (the Credential
Vault and the Control Room). The server is the one ``./run test`` starts (127.0.0.1:5432,
trust auth); ``M365BOT_TEST_POSTGRES`` names another admin URL.

Example::

    with postgres_database("m365bot_vault") as url:
        vault = Vault.open(url, actor="alice")
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get(
    "M365BOT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, uniquely named PostgreSQL database (dropped afterwards, even while connections
    to it are still open); yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
