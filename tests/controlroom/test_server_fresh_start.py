"""``m365bot controlroom serve`` with a vault key on a fresh folder, as docs/controlroom.md's
"Start it" shows: the Control Room's tables and the Credential Vault's share one SQLite
file, whichever of the two was created first, and the server answers its sign-in page with
the vault unlocked."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controlroom_support import ADMIN_PASSWORD, served_controlroom
from m365bot.controlroom.db import head_revision
from plugins.canary import scan_output

DOCS = Path(__file__).parents[2] / "docs" / "controlroom.md"


def _m365bot(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "m365bot", *args], input=stdin,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "M365BOT_HOME": str(home)})
    scan_output(result.stdout + result.stderr, "m365bot cli")
    assert result.returncode == 0, result.stderr
    return result


def _key_file(folder: Path) -> Path:
    path = folder / "vault.key"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(base64.b64encode(os.urandom(32)) + b"\n")
    return path


@pytest.mark.parametrize("first", ["controlroom", "vault"])
def test_serve_with_a_vault_key_starts_on_a_fresh_file_in_either_order(
        first: str, tmp_path: Path) -> None:
    home, db = tmp_path / "home", str(tmp_path / "srv" / "controlroom.db")
    key = _key_file(tmp_path)
    if first == "controlroom":
        # The documented order: migrate, the first administrator, then serve with the key.
        migrated = _m365bot("controlroom", "migrate", "--db", db, home=home)
        printed = migrated.stdout.strip()
        assert printed == ("The Control Room database was upgraded from empty to revision "
                           f"{head_revision()}.")
        # docs/controlroom.md's "Start it" transcript shows what the command prints.
        assert f"\n{printed}\n" in DOCS.read_text()
    else:
        _m365bot("vault", "init", "--vault", db, "--key-file", str(key), home=home)
    _m365bot("controlroom", "user", "add", "admin", "--admin", "--password-stdin", "--db", db,
             stdin=ADMIN_PASSWORD, home=home)
    with served_controlroom(db, tmp_path / "server",
                            extra=("--vault-key-file", str(key))) as server:
        signin = server.client().get("/signin")
        assert signin.status_code == 200 and 'name="password"' in signin.text
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        created = admin.post_form("/vault/lockers", {"name": "finance"},
                                  from_page="/vault/lockers")
        assert created.status_code in (200, 303), created.text
        assert "finance" in admin.get("/vault/lockers").text


def test_serve_with_the_key_in_the_environment_starts_on_a_fresh_file_and_again(
        tmp_path: Path) -> None:
    # No migrate: serve itself creates both schemas, then starts again on them.
    key = base64.b64encode(os.urandom(32)).decode()
    home = tmp_path / "home"
    db = str(home / "controlroom.db")
    with served_controlroom(db, tmp_path / "server",
                            env={"M365BOT_VAULT_KEY": key}) as server:
        assert server.client().get("/signin").status_code == 200
    _m365bot("controlroom", "user", "add", "admin", "--admin", "--password-stdin", "--db", db,
             stdin=ADMIN_PASSWORD, home=home)
    with served_controlroom(db, tmp_path / "server2",
                            env={"M365BOT_VAULT_KEY": key}) as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        assert admin.get("/vault/lockers").status_code == 200
