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


def test_serve_refuses_half_a_tls_pair_and_a_bad_database_url(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    for args, words in ((("--tls-cert", str(cert)), "--tls-cert and --tls-key go together"),
                        (("--db", "mysql://x@y/z"), "use SQLite or PostgreSQL"),
                        (("--public-url", "cr.corp"), "--public-url must start with")):
        bad = _cli("serve", "--port", "1", *args, cwd=tmp_path)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
