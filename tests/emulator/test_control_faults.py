"""Fault injection over real HTTPS: by op or path, nth call or probability; status, reset,
slow; and every fault shows up in inspection."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from m365bot.emulator.runtime import Emulator


@pytest.fixture
def client(private_emulator: Emulator) -> Iterator[httpx.Client]:
    private_emulator.control.clear()
    ctx = ssl.create_default_context(cafile=private_emulator.info["ca_bundle"])
    with httpx.Client(base_url=private_emulator.base_url, verify=ctx, trust_env=False,
                      timeout=10) as c:
        yield c
    private_emulator.control.clear_faults()


def _token_request(emulator: Emulator) -> tuple[str, dict[str, str]]:
    info = emulator.info
    tenant = next(t for t in info["tenants"] if t["domain"] == "contoso.onmicrosoft.com")
    app = next(a for a in info["apps"] if a["tenant_id"] == tenant["id"]
               and a["name"] == "m365bot-demo")
    form = {"grant_type": "client_credentials", "client_id": app["client_id"],
            "client_secret": app["secrets"][0]["value"],
            "scope": "https://graph.microsoft.com/.default"}
    return f"/{tenant['id']}/oauth2/v2.0/token", form


def _post_token(emulator: Emulator, client: httpx.Client) -> httpx.Response:
    path, form = _token_request(emulator)
    return client.post(path, data=form)


def test_nth_call_gets_503_with_retry_after_in_entra_format(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    r = client.post("/_emulator/faults", json={"op": "token", "kind": "status", "status": 503,
                                                "nth": 2, "retry_after": 7})
    assert r.status_code == 201
    rule_id = r.json()["id"]
    statuses = [_post_token(private_emulator, client) for _ in range(3)]
    assert [s.status_code for s in statuses] == [200, 503, 200]
    failed = statuses[1]
    assert failed.headers["Retry-After"] == "7"
    assert failed.json()["error"] == "temporarily_unavailable"
    assert "access_token" in statuses[2].json()
    records = client.get("/_emulator/requests", params={"op": "token"}).json()["requests"]
    assert [r["fault"]["id"] if r["fault"] else None for r in records] == [None, rule_id, None]
    counters = client.get("/_emulator/counters").json()
    assert counters["op_status"]["token 503"] == 1
    assert counters["op_status"]["token 200"] == 2
    listed = client.get("/_emulator/faults").json()["faults"][0]
    assert listed["fired"] == 1 and listed["seen"] == 3


def test_path_glob_and_count(private_emulator: Emulator, client: httpx.Client) -> None:
    private_emulator.control.add_fault(path="/*/oauth2/v2.0/token", kind="status", status=500,
                                       probability=1.0, count=2)
    codes = [_post_token(private_emulator, client).status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    assert private_emulator.control.count("token", status=500) == 2


def test_probability_zero_never_fires(private_emulator: Emulator, client: httpx.Client) -> None:
    private_emulator.control.add_fault(op="token", kind="status", status=500, probability=0.0)
    assert {_post_token(private_emulator, client).status_code for _ in range(5)} == {200}


def test_reset_drops_the_connection_and_the_next_call_works(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="token", kind="reset", nth=1)
    with pytest.raises(httpx.TransportError):
        _post_token(private_emulator, client)
    assert _post_token(private_emulator, client).status_code == 200
    dropped = private_emulator.control.requests(op="token", status=0)
    assert len(dropped) == 1 and dropped[0]["fault"]["kind"] == "reset"


def test_slow_response_trips_a_client_timeout(private_emulator: Emulator,
                                              client: httpx.Client) -> None:
    private_emulator.control.add_fault(op="token", kind="slow", delay_ms=1500, nth=1)
    path, form = _token_request(private_emulator)
    with pytest.raises(httpx.ReadTimeout):
        client.post(path, data=form, timeout=0.3)
    assert _post_token(private_emulator, client).status_code == 200


def test_apply_then_status_runs_the_operation_then_answers_504(
    private_emulator: Emulator, client: httpx.Client
) -> None:
    private_emulator.control.add_fault(op="token", kind="apply_then_status", status=504, nth=1)
    r = _post_token(private_emulator, client)
    assert r.status_code == 504
    (record,) = private_emulator.control.requests(op="token")
    assert record["applied"] is True and record["status"] == 504


def test_faults_can_be_deleted(private_emulator: Emulator, client: httpx.Client) -> None:
    added: dict[str, Any] = client.post(
        "/_emulator/faults", json=[{"op": "token", "status": 429}, {"op": "me", "status": 500}]
    ).json()
    assert len(added) == 2
    assert client.delete(f"/_emulator/faults/{added[0]['id']}").status_code == 204
    assert client.delete(f"/_emulator/faults/{added[0]['id']}").status_code == 404
    assert _post_token(private_emulator, client).status_code == 200
    assert client.delete("/_emulator/faults").json() == {"removed": 1}


def test_inspection_records_have_no_secrets(private_emulator: Emulator,
                                            client: httpx.Client) -> None:
    _, form = _token_request(private_emulator)
    _post_token(private_emulator, client)
    text = client.get("/_emulator/requests").text
    assert form["client_secret"] not in text
    assert client.get("/_emulator/requests", params={"op": "token"}).json()["count"] == 1


def test_a_batch_of_rules_with_one_bad_rule_installs_none(client: httpx.Client) -> None:
    good = {"op": "sendMail", "kind": "status", "status": 503}
    bad = {"op": "sendMail", "kind": "explode"}
    r = client.post("/_emulator/faults", json=[good, bad])
    assert r.status_code == 400 and r.json()["error"]["field"] == "[1].kind"
    assert client.get("/_emulator/faults").json() == {"faults": []}
    r = client.post("/_emulator/faults", json=[good, good])
    assert r.status_code == 201 and len(r.json()) == 2
    assert len(client.get("/_emulator/faults").json()["faults"]) == 2


def test_a_huge_control_body_is_refused_without_reading_it_whole(
    client: httpx.Client, private_emulator: Emulator
) -> None:
    chunks_read = 0

    def body() -> Iterator[bytes]:
        nonlocal chunks_read
        for _ in range(200 * 16):  # 200 MB in 64 KiB chunks, streamed without a length
            chunks_read += 1
            yield b" " * 65536

    r = client.post("/_emulator/settings", content=body(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    assert chunks_read < 200 * 16 // 2, "the server read (almost) the whole body"
    r = client.post("/_emulator/faults", content=b"[" + b" " * (70 * 1024) + b"]")
    assert r.status_code == 413  # a declared length over the limit: refused at once
    assert client.get("/_emulator/faults").json() == {"faults": []}


@pytest.mark.parametrize("since", ["%C2%B2", "-1", "1.5", "%D9%A3"])
def test_requests_since_must_be_ascii_digits(client: httpx.Client, since: str) -> None:
    r = client.get(f"/_emulator/requests?since={since}")
    assert r.status_code == 400 and r.json()["error"]["field"] == "since"
    assert "0-9" in r.json()["error"]["message"]
