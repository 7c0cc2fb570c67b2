"""The audit log page: sign-ins, failed sign-ins and configuration changes with who, when
and from where; filters; never a password."""

from __future__ import annotations

import datetime as dt
import re

from controlroom_support import ADMIN_PASSWORD, USER_PASSWORD, Server, alert_of

WRONG = "CANARY-wrong-guess-9191"


def _rows(html: str) -> list[list[str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in body.split("<tr>")[1:]]


def test_the_audit_log_shows_who_did_what_when_and_from_where(cr_server: Server) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    cr_server.client().post_form("/signin", {"name": "alice", "password": WRONG},
                                 from_page="/signin")
    cr_server.sign_in("alice", USER_PASSWORD)
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    admin.post_form("/admin/roles", {"name": "payroll-bots"}, from_page="/admin/roles")

    rows = _rows(admin.get("/admin/audit").text)
    # When, who, from, action, target, outcome, detail; newest first.
    assert [r[3] for r in rows[:4]] == ["role.create", "signin", "signin", "signin.failed"]
    assert rows[0][1:5] == ["admin", "127.0.0.1", "role.create", "payroll-bots"]
    assert rows[3][1:3] == ["alice", "127.0.0.1"] and rows[3][5] == "bad password"
    when = dt.datetime.strptime(rows[0][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    assert start - dt.timedelta(seconds=1) <= when <= dt.datetime.now(dt.UTC)

    only_alice = _rows(admin.get("/admin/audit?actor=alice&action=signin").text)
    assert {r[1] for r in only_alice} == {"alice"} and len(only_alice) == 2
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert _rows(admin.get(f"/admin/audit?since={later}").text) == []
    assert len(_rows(admin.get("/admin/audit?target=payroll").text)) == 1
    assert "/admin/audit" in admin.get("/admin/audit?limit=1").text
    assert len(_rows(admin.get("/admin/audit?limit=1").text)) == 1

    page = admin.get("/admin/audit").text
    assert WRONG not in page and USER_PASSWORD not in page and ADMIN_PASSWORD not in page
    assert cr_server.sign_in("alice", USER_PASSWORD).get("/admin/audit").status_code == 403


def test_a_bad_filter_is_a_400_that_names_it(cr_server: Server) -> None:
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    r = admin.get("/admin/audit?until=31/12/2026")
    assert r.status_code == 400 and "until" in alert_of(r.text)


def test_a_flood_of_made_up_api_keys_is_recorded_once_a_minute(cr_server: Server) -> None:
    import httpx

    for i in range(5):
        r = httpx.get(f"{cr_server.url}/api/v1/credentials/a/b/c?bot=x",
                      headers={"authorization": f"Bearer m365cr_{'A' * 12}_{str(i) * 43}"})
        assert r.status_code == 401
    admin = cr_server.sign_in("admin", ADMIN_PASSWORD)
    rows = _rows(admin.get("/admin/audit?action=apikey.refused").text)
    assert len(rows) == 1 and rows[0][1:3] == [f"key-prefix:{'A' * 12}", "127.0.0.1"]
