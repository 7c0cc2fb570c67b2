"""The emulator's HTTPS app over real sockets: info, routing, error formats, request ids."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from m365bot.emulator.runtime import Emulator


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    with httpx.Client(base_url=emulator.base_url, verify=ctx, trust_env=False) as c:
        yield c


def _app(info: dict[str, Any], tenant_domain: str, name: str) -> dict[str, Any]:
    tid = next(t["id"] for t in info["tenants"] if t["domain"] == tenant_domain)
    return next(a for a in info["apps"] if a["tenant_id"] == tid and a["name"] == name)


def test_info_describes_ports_ca_and_demo_world(emulator_info: dict[str, Any]) -> None:
    info = emulator_info
    assert info["base_url"] == f"https://127.0.0.1:{info['https_port']}"
    assert info["proxy_url"] == f"http://127.0.0.1:{info['proxy_port']}"
    assert info["https_port"] > 0 and info["proxy_port"] > 0
    assert Path(info["ca_bundle"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    clouds = {t["domain"]: t["cloud"] for t in info["tenants"]}
    assert clouds["contoso.onmicrosoft.com"] == "global"
    assert clouds["fabrikamgov.onmicrosoft.us"] == "usgovhigh"
    assert set(clouds.values()) == {"global", "usgovhigh", "dod", "china"}
    demo = _app(info, "contoso.onmicrosoft.com", "m365bot-demo")
    assert {"Mail.ReadWrite", "Mail.Send"} <= set(demo["application_permissions"])
    cert = demo["certificates"][0]
    assert len(cert["thumbprint_sha1"]) == 40
    for key in ("cert_file", "key_file", "pfx_file"):
        assert Path(cert[key]).is_file()
    assert "PRIVATE KEY" in Path(cert["key_file"]).read_text()
    pkce = _app(info, "contoso.onmicrosoft.com", "m365bot-pkce")
    assert pkce["public_client"] is True and "http://localhost" in pkce["redirect_uris"]
    upns = {u["upn"] for u in info["users"]}
    assert {"alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com"} <= upns
    ops = next(s for s in info["shared_mailboxes"] if s["address"] == "ops@contoso.onmicrosoft.com")
    alice = next(g for g in ops["grants"] if g["user"] == "alice@contoso.onmicrosoft.com")
    assert set(alice["rights"]) == {"FullAccess", "SendAs"}


def test_ids_are_deterministic_across_emulators(
    emulator_info: dict[str, Any], fresh_emulator: Emulator
) -> None:
    again = fresh_emulator.info
    assert [t["id"] for t in again["tenants"]] == [t["id"] for t in emulator_info["tenants"]]
    assert [a["client_id"] for a in again["apps"]] == [
        a["client_id"] for a in emulator_info["apps"]
    ]
    assert again["https_port"] != emulator_info["https_port"]


def test_unknown_graph_path_gets_graph_envelope_with_request_ids(client: httpx.Client) -> None:
    r = client.get("/v1.0/nosuchthing", headers={"client-request-id": "abc-123"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "BadRequest"
    assert "nosuchthing" in err["message"]
    assert r.headers["client-request-id"] == "abc-123"
    assert r.headers["request-id"] == err["innerError"]["request-id"]
    # Graph's errors carry its diagnostics headers like its successes do.
    assert "ServerInfo" in r.headers["x-ms-ags-diagnostic"]
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_unknown_login_path_gets_entra_json(client: httpx.Client) -> None:
    r = client.get("/contoso.onmicrosoft.com/oauth2/v2.0/nonsense")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("AADSTS9002313")
    assert "traceback" not in r.text.lower()


def test_control_api_rejects_bad_json_and_unknown_fields(client: httpx.Client) -> None:
    r = client.post("/_emulator/faults", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = client.post("/_emulator/faults", json={"op": "token", "kind": "explode"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "kind"
    r = client.post("/_emulator/settings", json={"latency": 5})
    assert r.status_code == 400 and r.json()["error"]["field"] == "latency"
    r = client.post("/_emulator/clock/advance", json={"seconds": "soon"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "seconds"
    r = client.get("/_emulator/requests?colour=blue")
    assert r.status_code == 400 and r.json()["error"]["field"] == "colour"
    r = client.get("/_emulator/nothing-here")
    assert r.status_code == 404
    assert client.get("/_emulator/faults").json() == {"faults": []}


def test_control_api_is_not_reachable_on_emulated_hosts(client: httpx.Client) -> None:
    r = client.get("/_emulator/info", headers={"host": "graph.microsoft.com"})
    assert r.status_code in (400, 404)
    assert "error" in r.json() and "https_port" not in r.text


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2"])
def test_control_api_is_not_reachable_through_a_tunnel(emulator: Emulator, http2: bool) -> None:
    # CONNECT graph.microsoft.com:443, then ask for the control API with a loopback Host.
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    with httpx.Client(proxy=emulator.info["proxy_url"], verify=ctx, trust_env=False,
                      http2=http2) as tunnelled:
        r = tunnelled.get("https://graph.microsoft.com/_emulator/info",
                          headers={"host": "127.0.0.1"})
    assert r.status_code == 403
    assert "loopback" in r.text or "this machine" in r.text
    secret = emulator.info["apps"][0]["client_id"]
    assert "https_port" not in r.text and secret not in r.text


def _non_loopback_address() -> str:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing address
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this machine has no address beyond loopback")
    return address


def test_control_api_answers_only_loopback_peers_and_binding_wide_warns(
    emulator_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = _non_loopback_address()
    caplog.set_level("WARNING", logger="m365bot.emulator")
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, host="0.0.0.0") as emu:
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len([w for w in warnings if "0.0.0.0" in w]) == 1, warnings
        ctx = ssl.create_default_context(cafile=emu.info["ca_bundle"])
        ctx.check_hostname = False  # the certificate names loopback, not this address
        with httpx.Client(verify=ctx, trust_env=False) as remote:
            far = remote.get(f"https://{address}:{emu.https_port}/_emulator/info")
            keys = remote.get(f"https://{address}:{emu.https_port}/common/discovery/v2.0/keys")
        with httpx.Client(verify=ctx, trust_env=False) as local:
            near = local.get(f"https://127.0.0.1:{emu.https_port}/_emulator/info")
        port = emu.https_port
    assert far.status_code == 403 and "https_port" not in far.text
    assert keys.status_code == 200  # the emulated services still answer everyone
    assert near.status_code == 200 and near.json()["https_port"] == port


def test_loopback_binding_does_not_warn(
    emulator_data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="m365bot.emulator")
    with Emulator.start(scenario="demo", data_dir=emulator_data_dir, host="127.0.0.1"):
        pass
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_clock_advance_moves_emulated_time(fresh_emulator: Emulator) -> None:
    emulator = fresh_emulator
    ctx = ssl.create_default_context(cafile=emulator.info["ca_bundle"])
    client = httpx.Client(base_url=emulator.base_url, verify=ctx, trust_env=False)
    before = client.get("/_emulator/clock").json()
    r = client.post("/_emulator/clock/advance", json={"seconds": 3600})
    assert r.status_code == 200
    assert r.json()["offset"] == pytest.approx(before["offset"] + 3600)
    assert emulator.clock.now() - before["now"] >= 3600


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/v1.0/users/x/messages", "graph"), ("/contoso.onmicrosoft.com/oauth2/v2.0/token", "entra")],
)
def test_an_unexpected_crash_is_a_shaped_500_without_traceback(
    emulator: Emulator, path: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The last-resort handler, driven in-process (a crashing handler is not a real part)."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Route

    from m365bot.emulator.app import EmulatorApp, _graph_app, _login_app

    async def boom(request: Any) -> Any:
        raise RuntimeError("secret-looking internal detail")

    routes = [Route(path, boom, methods=["GET"])]
    graph, login = _graph_app(emulator, routes), _login_app(emulator, routes)
    app = EmulatorApp(emulator, {"login": login, "graph": graph, "upload": graph,
                                 "control": Starlette()})

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as c:
            return await c.get(path)

    r = asyncio.run(call())
    assert r.status_code == 500
    assert "secret-looking" not in r.text and "Traceback" not in r.text
    if shape == "graph":
        assert r.json()["error"]["code"] == "InternalServerError"
        assert r.headers["request-id"]
    else:
        assert r.json()["error"] == "server_error"
    assert any("unexpected error" in rec.getMessage() for rec in caplog.records)


def test_emulators_racing_on_a_new_data_folder_agree_on_one_ca(tmp_path: Path) -> None:
    import concurrent.futures

    data = tmp_path / "shared"

    def build(_: int) -> str:
        return Emulator(data_dir=data, proxy_port=None).info["ca_bundle"]

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        bundles = set(pool.map(build, range(3)))
    assert bundles == {str(data / "ca.pem")}
    with Emulator.start(data_dir=data, proxy_port=None) as emu:
        ctx = ssl.create_default_context(cafile=emu.info["ca_bundle"])
        with httpx.Client(verify=ctx, trust_env=False) as c:
            assert c.get(emu.base_url + "/_emulator/info").status_code == 200


def test_outlook_errors_keep_their_shape_without_inner_error(emulator: Emulator) -> None:
    """A raised GraphHTTPError(inner=False) is rendered as Outlook sends it."""
    from core_support import app_token, direct_client

    with direct_client(emulator) as c:
        c.headers["Authorization"] = "Bearer " + app_token(emulator, c, name="m365bot-ops-only")
        denied = c.get("/v1.0/users/alice@contoso.onmicrosoft.com/messages")
        allowed = c.get("/v1.0/users/ops@contoso.onmicrosoft.com/messages",
                        params={"$top": "1"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert "innerError" not in denied.json()["error"]
    assert denied.headers["request-id"]
    assert allowed.status_code == 200


def test_a_broken_route_module_fails_the_start_loudly(tmp_path: Path) -> None:
    import subprocess
    import sys

    # sys.modules[name] = None makes importing that module fail, as a broken module would.
    script = (
        "import sys\n"
        "sys.modules['m365bot.emulator.graph.users'] = None\n"
        "from m365bot.emulator.runtime import Emulator\n"
        f"Emulator.start(scenario='demo', data_dir={str(tmp_path)!r}).stop()\n"
        "print('served without the users routes')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0
    assert "served without" not in proc.stdout
    assert "m365bot.emulator.graph.users" in proc.stderr


def test_every_deliberate_emulator_error_shares_one_root(emulator_data_dir: Path,
                                                        tmp_path: Path) -> None:
    from m365bot.emulator.clock import Clock
    from m365bot.emulator.control.faults import FaultError
    from m365bot.emulator.control.settings import SettingsError
    from m365bot.emulator.entra.errors import EntraError
    from m365bot.emulator.errors import EmulatorError
    from m365bot.emulator.graph.errors import GraphHTTPError
    from m365bot.emulator.persist import STATE_FILE, PersistError
    from m365bot.emulator.scenario import ScenarioError
    from m365bot.emulator.server import ServerError
    from m365bot.emulator.tokens import TokenError, Tokens

    for cls in (FaultError, SettingsError, EntraError, ScenarioError, ServerError,
                PersistError, TokenError, GraphHTTPError):
        assert issubclass(cls, EmulatorError), cls
    with pytest.raises(EmulatorError, match="tenants"):
        Emulator(scenario={"tenants": "none"}, data_dir=emulator_data_dir)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / STATE_FILE).write_text("not a database")
    with pytest.raises(EmulatorError, match="delete it to start from the scenario again"):
        Emulator(data_dir=emulator_data_dir, state_dir=state_dir)
    with pytest.raises(EmulatorError, match="token rejected"):
        Tokens.open(None, Clock()).decode_access_token("not.a.token")
    assert isinstance(PersistError("x"), RuntimeError)  # what callers caught before still works
