"""Latency is charged per network round trip: the CONNECT answer, the TLS handshake and each
request, so a client that opens new connections pays for them as it would against Graph."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from m365bot.emulator.runtime import Emulator

LATENCY = 0.2  # seconds
KEYS = "/contoso.onmicrosoft.com/discovery/v2.0/keys"


@pytest.fixture(scope="module")
def slow_emu(emulator_data_dir: Path) -> Iterator[Emulator]:
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir,
                        latency_ms=LATENCY * 1000) as emu:
        yield emu


def _timed_get(client: httpx.Client, url: str) -> float:
    start = time.perf_counter()
    client.get(url).raise_for_status()
    return time.perf_counter() - start


def test_a_new_proxied_connection_costs_three_round_trips(slow_emu: Emulator) -> None:
    ctx = ssl.create_default_context(cafile=slow_emu.info["ca_bundle"])
    url = "https://login.microsoftonline.com" + KEYS
    with httpx.Client(proxy=slow_emu.info["proxy_url"], verify=ctx, trust_env=False,
                      timeout=20) as client:
        cold = _timed_get(client, url)  # CONNECT answer + TLS handshake + request
        warm = _timed_get(client, url)  # the request only, on the kept-alive connection
    assert cold >= 3 * LATENCY, f"new connection via the proxy took {cold:.3f} s"
    assert warm < 2 * LATENCY, f"kept-alive request took {warm:.3f} s"


def test_a_new_direct_connection_costs_two_round_trips(slow_emu: Emulator) -> None:
    ctx = ssl.create_default_context(cafile=slow_emu.info["ca_bundle"])
    with httpx.Client(base_url=slow_emu.base_url, verify=ctx, trust_env=False,
                      timeout=20) as client:
        cold = _timed_get(client, KEYS)  # TLS handshake + request
        warm = _timed_get(client, KEYS)
    assert cold >= 2 * LATENCY, f"new direct connection took {cold:.3f} s"
    assert warm < 2 * LATENCY, f"kept-alive request took {warm:.3f} s"


def test_the_control_api_is_never_delayed(slow_emu: Emulator) -> None:
    ctx = ssl.create_default_context(cafile=slow_emu.info["ca_bundle"])
    with httpx.Client(base_url=slow_emu.base_url, verify=ctx, trust_env=False,
                      timeout=20) as client:
        took = _timed_get(client, "/_emulator/settings")  # even on a new connection
    assert took < LATENCY
