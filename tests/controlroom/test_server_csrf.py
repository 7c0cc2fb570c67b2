"""CSRF and security headers on a served Control Room."""

from __future__ import annotations

from controlroom_support import USER_PASSWORD, Server, alert_of


def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
        cr_server: Server) -> None:
    c = cr_server.client()
    c.get("/signin")
    # No token, a wrong token: 403 with a message, and nobody is signed in.
    for data in ({}, {"csrf_token": "forged-token-value-123456"}):
        r = c.post("/signin", data={"name": "alice", "password": USER_PASSWORD, **data})
        assert r.status_code == 403
        assert "CSRF" in alert_of(r.text)
        assert "cr_session" not in c.cookies
    # Signed in, the pre-sign-in token no longer counts: a form needs the session's.
    alice = cr_server.sign_in("alice", USER_PASSWORD)
    anon_token = alice.cookies.get("cr_csrf")
    r = alice.post("/signout", data={"csrf_token": anon_token or "x"})
    assert r.status_code == 403
    assert alice.get("/").status_code == 200  # still signed in


def test_a_cross_site_post_is_refused_even_with_a_token(cr_server: Server) -> None:
    alice = cr_server.sign_in("alice", USER_PASSWORD)
    r = alice.post("/signout", data={"csrf_token": alice.csrf},
                   headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert alice.get("/").status_code == 200


def test_every_answer_carries_the_security_headers(cr_server: Server) -> None:
    c = cr_server.client()
    for path in ("/signin", "/", "/no-such-page", "/api/v1/health"):
        h = c.get(path).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"], path
        assert "default-src 'none'" in h["content-security-policy"], path
        assert h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "same-origin", path


def test_a_broken_database_gives_a_503_page_with_the_headers_and_no_traceback(
        cr_server: Server) -> None:
    from pathlib import Path

    alice = cr_server.sign_in("alice", USER_PASSWORD)
    db = Path(cr_server.db)
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(b"this is no database any more" * 100)
    for path in ("/", "/signin"):
        r = alice.get(path)
        assert r.status_code == 503, path
        assert "database" in alert_of(r.text) and "Traceback" not in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    r = alice.get("/api/v1/credentials/a/b/c?bot=x",
                  headers={"authorization": "Bearer m365cr_AAAAAAAAAAAA_" + "b" * 43})
    assert r.status_code == 503 and "database" in r.json()["error"]
    assert "Traceback" not in cr_server.stop()
