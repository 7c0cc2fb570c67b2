"""Sign-in, sessions and lockout on a served Control Room (real uvicorn process, httpx)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text, update

from controlroom_support import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    PageClient,
    Server,
    alert_of,
    served_controlroom,
    start_server,
    stock_users,
)
from m365bot.controlroom import accounts
from m365bot.controlroom.db import Database, web_sessions


def _cookie_header(response) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(v for k, v in response.headers.multi_items() if k == "set-cookie")


def test_sign_in_sets_a_new_httponly_samesite_session_and_sign_out_ends_it(
        cr_server: Server) -> None:
    c = cr_server.client()
    assert c.get("/").status_code == 303  # signed out: to the sign-in page
    c.get("/signin")
    before = c.cookies.get("cr_session")
    r = c.post_form("/signin", {"name": "alice", "password": USER_PASSWORD, "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = _cookie_header(r)
    assert "cr_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    first = c.cookies.get("cr_session")
    assert first and first != before
    home = c.get("/")
    assert home.status_code == 200 and "Signed in as <strong>alice</strong>" in home.text

    # Signing in again rotates the id; the old id no longer works.
    c.post_form("/signin", {"name": "alice", "password": USER_PASSWORD}, from_page="/signin")
    second = c.cookies.get("cr_session")
    assert second and second != first
    stale = cr_server.client()
    stale.cookies.set("cr_session", first)
    assert stale.get("/").status_code == 303

    r = c.post_form("/signout", {}, from_page="/")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    replay = cr_server.client()
    replay.cookies.set("cr_session", second)
    assert replay.get("/").status_code == 303  # the session is gone on the server too


def test_wrong_password_and_unknown_user_get_the_same_401(cr_server: Server) -> None:
    c = cr_server.client()
    wrong = c.post_form("/signin", {"name": "alice", "password": "not her password"},
                        from_page="/signin")
    unknown = c.post_form("/signin", {"name": "nobody", "password": "whatever it is"},
                          from_page="/signin")
    assert wrong.status_code == unknown.status_code == 401
    assert alert_of(wrong.text) == alert_of(unknown.text)
    assert "wrong user name or password" in alert_of(wrong.text)
    assert "cr_session" not in c.cookies


def test_lockout_with_backoff_holds_across_two_server_processes(cr_db_any: str,
                                                               tmp_path: Path) -> None:
    stock_users(cr_db_any)  # on SQLite, then on PostgreSQL
    with served_controlroom(cr_db_any, tmp_path / "a") as a, \
            served_controlroom(cr_db_any, tmp_path / "b") as b:
        for i in range(5):  # the threshold: 5 failures in a row, alternating servers
            server = a if i % 2 else b
            r = server.client().post_form("/signin", {"name": "alice", "password": f"bad {i}"},
                                          from_page="/signin")
            assert r.status_code == 401
        # Now even the right password is refused, on either process, with Retry-After.
        for server in (a, b):
            r = server.client().post_form("/signin", {"name": "alice",
                                                      "password": USER_PASSWORD},
                                          from_page="/signin")
            assert r.status_code == 429
            assert 1 <= int(r.headers["retry-after"]) <= 31
            assert "locked" in alert_of(r.text)
        # Other users are not affected.
        assert a.sign_in("admin", ADMIN_PASSWORD).get("/").status_code == 200
        # The admin audit page shows the failures and the lockout.
        log = a.sign_in("admin", ADMIN_PASSWORD).get("/admin/audit?actor=alice").text
        assert log.count("signin.failed") >= 5 and "signin.locked" in log


def test_with_tls_the_session_cookie_is_secure_and_host_bound(cr_db: str,
                                                               tmp_path: Path) -> None:
    from m365bot.emulator.tls import LocalCA

    ca = LocalCA.open(tmp_path / "ca")
    extra = ("--tls-cert", str(ca.server_cert_file), "--tls-key", str(ca.server_key_file))
    server = start_server(cr_db, tmp_path / "tls", extra=extra)
    try:
        c = PageClient(base_url=server.url, verify=str(ca.ca_file), timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                page = c.get("/signin")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, server.log.read_text()
                time.sleep(0.2)
        assert "max-age=" in page.headers["strict-transport-security"]
        assert "Secure" in _cookie_header(page)  # the pre-sign-in form token too
        r = c.post_form("/signin", {"name": "alice", "password": USER_PASSWORD})
        assert r.status_code == 303
        cookie = _cookie_header(r)
        assert "__Host-cr_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
        assert c.get("/").status_code == 200
    finally:
        server.stop()


def test_an_idle_or_ended_session_no_longer_signs_in(cr_server: Server) -> None:
    alice = cr_server.sign_in("alice", USER_PASSWORD)
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    db = Database.open(cr_server.db)
    try:
        hour_ago = accounts.now() - dt.timedelta(hours=1)
        with db.write() as conn:  # alice idle for an hour; admin's session past its end
            conn.execute(update(web_sessions).where(web_sessions.c.user_id == accounts.get_user(
                db, "alice").id).values(last_seen=hour_ago))
            conn.execute(update(web_sessions).where(web_sessions.c.user_id == accounts.get_user(
                db, "admin").id).values(expires_at=hour_ago))
    finally:
        db.dispose()
    assert alice.get("/").status_code == 303
    assert admin.get("/").status_code == 303


def test_sign_in_goes_back_only_to_a_page_of_this_server(cr_server: Server) -> None:
    for target, landing in (("/vault/requests", "/vault/requests"),
                            ("//evil.example/x", "/"), ("https://evil.example/", "/"),
                            ("/\\evil.example", "/")):
        c = cr_server.client()
        r = c.post_form("/signin", {"name": "alice", "password": USER_PASSWORD,
                                    "next": target}, from_page="/signin")
        assert r.status_code == 303 and r.headers["location"] == landing, target


def test_no_session_without_its_audit_entry(cr_server: Server) -> None:
    db = Database.open(cr_server.db)
    try:
        with db.write() as conn:  # the audit log cannot take entries any more
            conn.execute(text("CREATE TRIGGER cr_audit_full BEFORE INSERT ON cr_audit "
                              "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
        c = cr_server.client()
        r = c.post_form("/signin", {"name": "alice", "password": USER_PASSWORD},
                        from_page="/signin")
        assert r.status_code == 503 and "disk full" in alert_of(r.text)
        assert "cr_session" not in c.cookies
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 0
    finally:
        db.dispose()


def test_a_user_changes_their_password_and_is_signed_out_everywhere(
        cr_server: Server) -> None:
    new = "CANARY-alice-new-pass-8181"
    here, elsewhere = (cr_server.sign_in("alice", USER_PASSWORD) for _ in range(2))
    r = here.post_form("/settings/password", {"current_password": USER_PASSWORD,
                                              "password": new, "password2": new},
                       from_page="/settings/password")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert here.get("/").status_code == 303 and elsewhere.get("/").status_code == 303
    old = cr_server.client().post_form("/signin", {"name": "alice", "password": USER_PASSWORD},
                                       from_page="/signin")
    assert old.status_code == 401
    assert cr_server.sign_in("alice", new).get("/").status_code == 200
