"""Running the Control Room server for tests: a real ``m365bot controlroom serve`` process
on a free port, and signed-in httpx clients that carry the CSRF token.

Example::

    with served_controlroom(db) as server:
        admin = server.sign_in("admin", ADMIN_PASSWORD)
        page = admin.get("/admin/users")
        admin.post_form("/admin/users", {"name": "bob", ...})   # csrf_token added
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from m365bot.controlroom import accounts
from m365bot.controlroom.db import Database
from plugins.canary import scan_output

ADMIN_PASSWORD = "CANARY-admin-pass-0d1e2f"
USER_PASSWORD = "CANARY-user-pass-3a4b5c"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ALERT = re.compile(r'role="alert"[^>]*>([^<]*)<')


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in a page."""
    m = _CSRF.search(html)
    assert m, "the page has no form with a csrf_token field"
    return m.group(1)


def alert_of(html: str) -> str:
    """The text of the page's error message (``role="alert"``), or ''."""
    m = _ALERT.search(html)
    return m.group(1).strip() if m else ""


class PageClient(httpx.Client):
    """An httpx client for the Control Room's pages: :meth:`post_form` adds the CSRF token
    of the page last loaded (or of ``from_page``)."""

    csrf = ""

    def get(self, url: Any, **kw: Any) -> httpx.Response:  # type: ignore[override]
        response = super().get(url, **kw)
        m = _CSRF.search(response.text)
        if m:
            self.csrf = m.group(1)
        return response

    def post_form(self, url: str, data: Mapping[str, Any], *,
                  from_page: str | None = None) -> httpx.Response:
        """POST a form as the browser would, with the CSRF token."""
        if from_page is not None:
            self.get(from_page)
        if not self.csrf:
            self.get("/signin")
        return self.post(url, data={"csrf_token": self.csrf, **data})


class Server:
    """A served Control Room process."""

    def __init__(self, url: str, db: str, process: subprocess.Popen[str], log: Path) -> None:
        self.url, self.db, self.process, self.log = url, db, process, log

    def client(self) -> PageClient:
        """A fresh (signed-out) client."""
        return PageClient(base_url=self.url, timeout=30)

    def sign_in(self, name: str, password: str) -> PageClient:
        """A client signed in as ``name`` (asserts the sign-in worked)."""
        c = self.client()
        r = c.post_form("/signin", {"name": name, "password": password}, from_page="/signin")
        assert r.status_code == 303, (r.status_code, alert_of(r.text))
        c.get("/")
        return c

    def stop(self) -> str:
        """Stop the process; returns its output (scanned for canaries)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        out = self.log.read_text(errors="replace")
        scan_output(out, "controlroom server output")
        return out


def _wait_up(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start within 60 s")


def start_server(db: str, workdir: Path, *, extra: tuple[str, ...] = (),
                 env: Mapping[str, str] | None = None) -> Server:
    """Start ``m365bot controlroom serve`` on a free port and wait until it answers."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"server-{port}.log"
    full_env = {**os.environ, "M365BOT_HOME": str(workdir / "home"), **(env or {})}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "m365bot", "controlroom", "serve", "--db", db,
             "--port", str(port), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=full_env, text=True)
    scheme = "https" if "--tls-cert" in extra else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    if scheme == "http":
        _wait_up(url, process, log)
    return Server(url, db, process, log)


@contextmanager
def served_controlroom(db: str, workdir: Path, **kw: Any) -> Iterator[Server]:
    """A served Control Room for the ``with`` block."""
    server = start_server(db, workdir, **kw)
    try:
        yield server
    finally:
        server.stop()


def stock_users(db: str) -> None:
    """An administrator ``admin`` and a user ``alice`` (passwords ADMIN_PASSWORD,
    USER_PASSWORD), created straight in the database."""
    database = Database.open(db)
    try:
        accounts.create_user(database, "admin", ADMIN_PASSWORD, is_admin=True, by="test")
        accounts.create_user(database, "alice", USER_PASSWORD, by="test")
    finally:
        database.dispose()


