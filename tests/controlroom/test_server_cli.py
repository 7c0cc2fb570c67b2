"""``m365bot controlroom user add`` and ``serve``: bad input is one clear error, exit 2, no
traceback, nothing created."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from m365bot.controlroom import accounts
from m365bot.controlroom.db import Database
from plugins.canary import scan_output

PASSWORD = "CANARY-cli-pass-7171"


def _cli(*args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "m365bot", "controlroom", *args],
                            input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd,
                            env={"PATH": "/usr/bin:/bin", "M365BOT_HOME": str(cwd / "home")})
    scan_output(result.stdout + result.stderr, "controlroom cli")
    return result


def test_user_add_creates_the_first_admin_from_stdin_and_refuses_bad_input(
        tmp_path: Path) -> None:
    db = str(tmp_path / "cr.db")
    ok = _cli("user", "add", "Admin", "--admin", "--password-stdin", "--db", db,
              stdin=PASSWORD + "\n", cwd=tmp_path)
    assert ok.returncode == 0 and "User Admin created (administrator)." in ok.stdout
    for args, stdin, words in (
            (("user", "add", "bob", "--password-stdin"), "short\n", "shorter than 12"),
            (("user", "add", "admin", "--password-stdin"), PASSWORD, "already exists"),
            (("user", "add", "bad name", "--password-stdin"), PASSWORD, "is not valid")):
        bad = _cli(*args, "--db", db, stdin=stdin, cwd=tmp_path)
        assert bad.returncode == 2, bad.stderr
        assert bad.stderr.startswith("Error: ") and words in bad.stderr and "Fix: " in bad.stderr
        assert "Traceback" not in bad.stderr
    database = Database.open(db)
    try:
        assert [(u.name, u.is_admin) for u in accounts.list_users(database)] == [
            ("admin", True)]
        assert accounts.authenticate(database, "admin", PASSWORD).is_admin
    finally:
        database.dispose()


def test_user_list_shows_each_user_with_admin_and_roles(tmp_path: Path) -> None:
    import json

    db = str(tmp_path / "cr.db")
    database = Database.open(db)
    try:
        accounts.create_user(database, "admin", PASSWORD, is_admin=True, by="test")
        accounts.create_user(database, "bob", PASSWORD, by="test")
        accounts.create_role(database, "ops", by="test")
        accounts.assign_role(database, "bob", "ops", by="test")
        accounts.update_user(database, "bob", by="test", disabled=True)
    finally:
        database.dispose()
    listed = _cli("user", "list", "--json", "--db", db, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"name": "admin", "admin": True, "roles": [], "disabled": False, "locked_until": None},
        {"name": "bob", "admin": False, "roles": ["ops"], "disabled": True,
         "locked_until": None}]
    table = _cli("user", "list", "--db", db, cwd=tmp_path)
    assert table.returncode == 0 and "Control Room users (2)" in table.stdout
    assert "bob" in table.stdout and "ops" in table.stdout and PASSWORD not in table.stdout
    bad = _cli("user", "list", "--db", "mysql://x@y/z", cwd=tmp_path)
    assert bad.returncode == 2 and "use SQLite or PostgreSQL" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_serve_refuses_half_a_tls_pair_and_a_bad_database_url(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    for args, words in ((("--tls-cert", str(cert)), "--tls-cert and --tls-key go together"),
                        (("--db", "mysql://x@y/z"), "use SQLite or PostgreSQL"),
                        (("--public-url", "cr.corp"), "--public-url must start with")):
        bad = _cli("serve", "--port", "1", *args, cwd=tmp_path)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
