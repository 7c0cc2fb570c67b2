"""Settings over the control API: latency applies to Graph and login requests, bad values are
clear 400s that change nothing."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from m365bot.emulator.runtime import Emulator


@pytest.fixture
def client(fresh_emulator: Emulator) -> Iterator[httpx.Client]:
    ctx = ssl.create_default_context(cafile=fresh_emulator.info["ca_bundle"])
    with httpx.Client(base_url=fresh_emulator.base_url, verify=ctx, trust_env=False,
                      timeout=10) as c:
        yield c


KEYS = "/contoso.onmicrosoft.com/discovery/v2.0/keys"


def test_latency_delays_login_and_graph_but_not_control(client: httpx.Client) -> None:
    r = client.post("/_emulator/settings", json={"latency_ms": 800})
    assert r.status_code == 200 and r.json()["latency_ms"] == 800
    with pytest.raises(httpx.ReadTimeout):
        client.get(KEYS, timeout=0.25)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1.0/me", timeout=0.25)
    # The control API answers at once, so a test can always turn latency off again.
    assert client.get("/_emulator/settings", timeout=0.25).json()["latency_ms"] == 800
    client.post("/_emulator/settings", json={"latency_ms": 0})
    assert client.get(KEYS, timeout=2).status_code == 200


def test_latency_does_not_block_other_requests(fresh_emulator: Emulator) -> None:
    import concurrent.futures

    fresh_emulator.settings.update({"latency_ms": 600})
    ctx = ssl.create_default_context(cafile=fresh_emulator.info["ca_bundle"])

    def one(_: int) -> int:
        with httpx.Client(base_url=fresh_emulator.base_url, verify=ctx, trust_env=False,
                          timeout=1.5) as c:
            return c.get(KEYS).status_code

    # Eight requests in parallel all finish within one timeout of 1.5 s: the delay is an
    # asyncio sleep, not a blocked event loop (blocking would take 8 x 0.6 s).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(8))) == [200] * 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latency_ms": -5}, "latency_ms"),
        ({"latency_ms": "fast"}, "latency_ms"),
        ({"refresh_token_policy": "sometimes"}, "refresh_token_policy"),
        ({"throttling": {"concurrency": "four"}}, "throttling.concurrency"),
        ({"throttling": {"scope": "tenant"}}, "throttling.scope"),
        ({"throttling": {"burst": 3}}, "throttling.burst"),
        ({"throttling": "off"}, "throttling"),
        ([1, 2], "settings"),
    ],
)
def test_bad_settings_name_the_field_and_change_nothing(
    emulator: Emulator, body: object, field: str
) -> None:
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    client = httpx.Client(base_url=emulator.base_url, verify=ctx, trust_env=False)
    before = client.get("/_emulator/settings").json()
    r = client.post("/_emulator/settings", json={"latency_ms": 1, **body}
                    if isinstance(body, dict) else body)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field
    assert client.get("/_emulator/settings").json() == before


def test_throttling_settings_round_trip(client: httpx.Client) -> None:
    r = client.post("/_emulator/settings",
                    json={"throttling": {"concurrency": 2, "scope": "app"},
                          "refresh_token_policy": "strict"})
    assert r.status_code == 200
    data = r.json()
    assert data["throttling"]["concurrency"] == 2 and data["throttling"]["scope"] == "app"
    assert data["throttling"]["requests"] == 10_000
    assert data["refresh_token_policy"] == "strict"
    assert client.post("/_emulator/settings", json={"throttling": False}).json()[
        "throttling"]["enabled"] is False


def test_python_api_matches_the_rest_api(fresh_emulator: Emulator, client: httpx.Client) -> None:
    from m365bot.emulator.control import SettingsError

    data = fresh_emulator.control.configure(latency_ms=0, throttling={"concurrency": 2})
    assert data == client.get("/_emulator/settings").json()
    assert data["throttling"]["concurrency"] == 2
    with pytest.raises(SettingsError) as err:
        fresh_emulator.control.configure(throttling={"scope": "galaxy"})
    assert err.value.field == "throttling.scope"


def test_defaults_are_outlooks_documented_limits(client: httpx.Client) -> None:
    """Out of the box: Outlook's per app + mailbox limits and Entra's refresh-token policy."""
    data = client.get("/_emulator/settings").json()
    assert data["throttling"] | {"retry_after": None} == {
        "enabled": True, "concurrency": 4, "requests": 10_000, "requests_window": 600.0,
        "upload_bytes": 150 * 1024 * 1024, "upload_window": 300.0, "scope": "app+mailbox",
        "retry_after": None,
    }
    assert data["refresh_token_policy"] == "entra" and data["latency_ms"] == 0
