"""Silent or slow clients do not hold connections forever, inside tunnels as outside, and at the
file descriptor limit new clients are refused at once with one log line."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from m365bot.emulator.runtime import Emulator
from m365bot.emulator.server import Timeouts

SHORT = Timeouts(handshake=1.0, idle=1.0, header=1.0)
CLOSED_WITHIN = 6.0  # the timeout is 1 s; a loaded machine gets a generous margin


@pytest.fixture(scope="module")
def impatient(emulator_data_dir: Path) -> Iterator[Emulator]:
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, timeouts=SHORT) as emu:
        yield emu


def _closed_by_server(sock: socket.socket | ssl.SSLSocket, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` (sending ``trickle`` one byte at a time)."""
    start = time.monotonic()
    sock.settimeout(0.25)
    sent = 0
    while time.monotonic() - start < CLOSED_WITHIN:
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent:sent + 1])
                sent += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - start
    raise AssertionError(f"the server still held the connection after {CLOSED_WITHIN} s")


def _tls(sock: socket.socket, emulator: Emulator, host: str, alpn: str) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    ctx.set_alpn_protocols([alpn])
    tls = ctx.wrap_socket(sock, server_hostname=host)
    assert tls.selected_alpn_protocol() == alpn
    return tls


def _tunnel(emulator: Emulator, host: str = "graph.microsoft.com") -> socket.socket:
    assert emulator.proxy_port
    sock = socket.create_connection(("127.0.0.1", emulator.proxy_port), timeout=5)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


def test_a_tcp_connection_that_never_starts_tls_is_closed(impatient: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", impatient.https_port), timeout=5) as sock:
        assert _closed_by_server(sock) < CLOSED_WITHIN


@pytest.mark.parametrize("alpn", ["http/1.1", "h2"])
def test_a_silent_connection_after_tls_is_closed(impatient: Emulator, alpn: str) -> None:
    sock = socket.create_connection(("127.0.0.1", impatient.https_port), timeout=5)
    with _tls(sock, impatient, "localhost", alpn) as tls:
        assert _closed_by_server(tls) < CLOSED_WITHIN


@pytest.mark.parametrize("alpn", ["http/1.1", "h2"])
def test_a_silent_tunnel_is_closed(impatient: Emulator, alpn: str) -> None:
    with _tls(_tunnel(impatient), impatient, "graph.microsoft.com", alpn) as tls:
        assert _closed_by_server(tls) < CLOSED_WITHIN


def test_headers_trickled_inside_a_tunnel_are_cut_off(impatient: Emulator) -> None:
    head = b"GET /v1.0/me HTTP/1.1\r\nHost: graph.microsoft.com\r\nX-Slow: " + b"a" * 200
    with _tls(_tunnel(impatient), impatient, "graph.microsoft.com", "http/1.1") as tls:
        assert _closed_by_server(tls, trickle=head) < CLOSED_WITHIN


def test_a_trickled_connect_head_is_cut_off(impatient: Emulator) -> None:
    assert impatient.proxy_port
    with socket.create_connection(("127.0.0.1", impatient.proxy_port), timeout=5) as sock:
        slow = b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nX-Slow: " + b"a" * 200
        assert _closed_by_server(sock, trickle=slow) < CLOSED_WITHIN


def test_a_kept_alive_connection_within_the_timeout_keeps_working(impatient: Emulator) -> None:
    ctx = ssl.create_default_context(cafile=impatient.info["ca_bundle"])
    with httpx.Client(proxy=impatient.info["proxy_url"], verify=ctx, trust_env=False,
                      timeout=10) as client:
        for _ in range(3):
            r = client.get("https://login.microsoftonline.com/common/discovery/v2.0/keys")
            assert r.status_code == 200
            time.sleep(0.3)


SERVE = textwrap.dedent("""
    import json, logging, os, resource, sys
    from m365bot.emulator.runtime import Emulator
    from m365bot.emulator.server import Timeouts

    logging.basicConfig(level=logging.WARNING)
    emu = Emulator.start(scenario="demo", data_dir=sys.argv[1],
                         timeouts=Timeouts(handshake=60, idle=60, header=60))
    open_now = len(os.listdir("/proc/self/fd"))
    limit = open_now + 40
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    print(json.dumps({"proxy_url": emu.info["proxy_url"], "proxy_port": emu.proxy_port,
                      "ca_bundle": emu.info["ca_bundle"], "limit": limit}), flush=True)
    sys.stdin.read()
    emu.stop()
""")


@pytest.mark.slow
def test_at_the_descriptor_limit_new_clients_are_refused_with_one_log_line(
    emulator_data_dir: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(emulator_data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    held: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        # Fill the emulator's descriptor table with tunnels that never finish their head.
        for _ in range(60):
            held.append(socket.create_connection(("127.0.0.1", info["proxy_port"]), timeout=5))
        time.sleep(0.5)
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        url = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
        with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False,
                          timeout=10) as client:
            start = time.monotonic()
            with pytest.raises(httpx.TransportError) as refused:
                client.get(url)
            assert time.monotonic() - start < 5, "the client waited instead of being refused"
            assert not isinstance(refused.value, httpx.TimeoutException)
        for sock in held:
            sock.close()
        held.clear()
        time.sleep(0.5)
        with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False,
                          timeout=10) as client:
            assert client.get(url).status_code == 200  # it recovers once descriptors free up
    finally:
        for sock in held:
            sock.close()
        _, stderr = proc.communicate(timeout=30)
    lines = stderr.splitlines()
    assert sum("out of file descriptors" in line for line in lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr and "out of system resource" not in stderr, stderr[-2000:]
