"""``m365bot emulator serve`` as a real subprocess: info file, --port 0, summary, clean stop,
and clear errors for bad scenarios."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    info_file = tmp_path / "emu.json"
    env = {**os.environ, "M365BOT_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", "0", "--proxy-port",
         "0", "--info-file", str(info_file), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    return proc, info_file


def _wait_for(info_file: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if info_file.exists():
            return dict(json.loads(info_file.read_text()))
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the emulator did not write its info file")


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return out, err


def test_serve_writes_info_file_and_answers_on_its_ports(tmp_path: Path) -> None:
    proc, info_file = _serve(tmp_path)
    try:
        info = _wait_for(info_file, proc)
        assert info_file.stat().st_mode & 0o077 == 0  # it holds dev passwords
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        with httpx.Client(verify=ctx, trust_env=False, timeout=10) as direct:
            live = direct.get(info["control_url"] + "/info").json()
        assert live == info  # the info file and the running emulator agree on everything
        assert live["https_port"] == info["https_port"] != 0
        assert live["proxy_port"] == info["proxy_port"] != 0
        with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False) as proxied:
            r = proxied.get("https://login.microsoftonline.com/contoso.onmicrosoft.com"
                            "/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200
        assert Path(info["ca_bundle"]).is_relative_to(tmp_path / "home")
    finally:
        out, err = _stop(proc)
    assert info["proxy_url"] in out and info["ca_bundle"] in out
    assert f"export HTTPS_PROXY={info['proxy_url']}" in out
    # m365bot ignores HTTPS_PROXY/SSL_CERT_FILE: the banner gives its own variables too.
    assert f"export M365BOT_PROXY={info['proxy_url']}" in out
    assert f"export M365BOT_CA_BUNDLE={info['ca_bundle']}" in out
    assert "alice@contoso.onmicrosoft.com" in out
    for app in info["apps"]:
        assert app["client_id"] in out
        for secret in app["secrets"]:
            assert secret["value"] not in out + err
    for user in info["users"]:
        assert user["password"] not in out + err
    assert "emulator stopped" in err


def test_bad_scenario_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants:\n  - {name: x, cloud: azure-mars, domain: x.example}\n")
    proc, info_file = _serve(tmp_path, "--scenario", str(bad))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "scenario field tenants[0].cloud" in err and "global, gcc, gcchigh, dod, china" in err
    assert "Traceback" not in err + out
    assert not info_file.exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "m365bot", "emulator", "serve", "--port", str(port),
             "--data-dir", str(tmp_path / "d")],
            capture_output=True, text=True, timeout=30, check=False,
        )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_corrupt_state_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from m365bot.emulator.persist import STATE_FILE

    state = tmp_path / "state"
    state.mkdir()
    (state / STATE_FILE).write_text("{not json")
    before = sorted(p.name for p in state.iterdir())
    proc, info_file = _serve(tmp_path, "--state", str(state))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert err.startswith("Error: ") and str(state) in err
    assert "Traceback" not in err + out
    assert sorted(p.name for p in state.iterdir()) == before  # no signing key written
    assert not info_file.exists()


def _seconds_until_closed(sock: socket.socket, trickle: bytes = b"", limit: float = 8.0) -> float:
    """Seconds until the emulator closes ``sock`` (sending ``trickle`` a byte at a time)."""
    start = time.monotonic()
    sock.settimeout(0.25)
    for i in range(10_000):
        if time.monotonic() - start > limit:
            break
        try:
            if i < len(trickle):
                sock.sendall(trickle[i:i + 1])
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - start
    raise AssertionError(f"the emulator still held the connection after {limit} s")


def test_serve_takes_its_connection_timeouts_from_flags(tmp_path: Path) -> None:
    """--handshake-timeout / --idle-timeout / --connect-head-timeout of 1 s: a silent TCP
    connection, a silent TLS connection and a trickled CONNECT head are closed within seconds
    (the defaults are 10, 30 and 15 s, as --help says)."""
    from click.testing import CliRunner

    from m365bot.cli.main import cli
    from m365bot.emulator.server import Timeouts

    helptext = " ".join(CliRunner().invoke(cli, ["emulator", "serve", "--help"]).output.split())
    d = Timeouts()
    for flag, default in (("handshake", d.handshake), ("idle", d.idle),
                          ("connect-head", d.header)):
        assert f"--{flag}-timeout" in helptext
        assert f"(default {default:g})" in helptext.split(f"--{flag}-timeout", 1)[1][:300]
    proc, info_file = _serve(tmp_path, "--handshake-timeout", "1", "--idle-timeout", "1",
                             "--connect-head-timeout", "1")
    try:
        info = _wait_for(info_file, proc)
        with socket.create_connection(("127.0.0.1", info["https_port"]), timeout=5) as sock:
            assert _seconds_until_closed(sock) < 8  # no TLS handshake
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        raw = socket.create_connection(("127.0.0.1", info["https_port"]), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert _seconds_until_closed(tls) < 8  # no request after the handshake
        with socket.create_connection(("127.0.0.1", info["proxy_port"]), timeout=5) as sock:
            slow = b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nX-Slow: " + b"a" * 200
            assert _seconds_until_closed(sock, trickle=slow) < 8
    finally:
        _stop(proc)
    bad = subprocess.run([sys.executable, "-m", "m365bot", "emulator", "serve",
                          "--idle-timeout", "0"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "M365BOT_HOME": str(tmp_path / "home")})
    assert bad.returncode == 2 and "--idle-timeout" in bad.stderr
    assert "Traceback" not in bad.stderr
