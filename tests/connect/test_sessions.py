"""Local / Global / Variable sessions: names, duplicates, child bots in this process and in a
real child process, Disconnect, and the version rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import m365bot
from m365bot.bots.run import BotRun
from m365bot.config import Settings
from m365bot.connection import reconnect
from m365bot.errors import SessionError
from m365bot.sessions import GlobalSession, LocalSession
from m365bot.values import CredentialRef, Secret
from world_support import app, login_requests, secret_of

OPS = "ops@contoso.onmicrosoft.com"


def _connect(info: dict[str, Any], settings: Settings, vault: Any, session: Any,
             username: str = OPS) -> Any:
    a = app(info)
    return m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                           tenant_id=a["tenant_id"], username=username,
                           client_secret=CredentialRef("bots", "o365-global", "client_secret"),
                           settings=settings, vault=vault, session=session)


def test_local_and_global_names(clean_emulator: Any, settings: Settings, demo_vault: Any,
                                bot_run: BotRun) -> None:
    local = _connect(clean_emulator.info, settings, demo_vault, LocalSession("mail"))
    glob = _connect(clean_emulator.info, settings, demo_vault, GlobalSession("shared"),
                    username="alice@contoso.onmicrosoft.com")
    with pytest.raises(SessionError, match="already open"):
        _connect(clean_emulator.info, settings, demo_vault, LocalSession("mail"))
    with pytest.raises(SessionError, match="already open"):
        _connect(clean_emulator.info, settings, demo_vault, GlobalSession("shared"))
    with bot_run.child_bot():
        # a child bot sees Global names only
        assert m365bot.get_session("shared") is glob
        with pytest.raises(SessionError, match="no session named 'mail'"):
            m365bot.get_session("mail")
    assert m365bot.get_session("mail") is local
    # the registry holds no token and no secret
    text = "".join(p.read_text() for p in (bot_run.run_dir / "sessions").iterdir())
    assert (secret_of(app(clean_emulator.info)) not in text
            and glob.token().token.reveal() not in text)
    assert oct((bot_run.run_dir / "sessions").iterdir().__next__().stat().st_mode)[-3:] == "600"
    m365bot.disconnect("shared")
    with pytest.raises(SessionError, match="disconnected"):
        glob.graph_get(f"/users/{glob.mailbox}/messages")
    m365bot.disconnect(local)
    # after Disconnect both names can be used again
    again = _connect(clean_emulator.info, settings, demo_vault, GlobalSession("shared"))
    assert m365bot.get_session("shared") is again
    assert _connect(clean_emulator.info, settings, demo_vault, LocalSession("mail")).mailbox == OPS


def test_variable_session_and_version_mismatch(clean_emulator: Any, settings: Settings,
                                               demo_vault: Any) -> None:
    s = _connect(clean_emulator.info, settings, demo_vault, "variable")
    assert s.kind == "variable" and s.name is None
    d = s.descriptor()
    again = reconnect(d, settings=settings, vault=demo_vault)
    assert again.mailbox == OPS and again.identity == s.identity
    old = dict(d, version="0.0.1")
    with pytest.raises(SessionError) as ei:
        reconnect(old, settings=settings, vault=demo_vault)
    assert "0.0.1" in str(ei.value) and "same m365bot version" in ei.value.advice
    again.close()
    s.close()
    with pytest.raises(SessionError):
        s.descriptor()


def test_child_process_uses_global_and_variable_sessions(
        clean_emulator: Any, settings: Settings, demo_vault: Any, vault_key: str, bot_run: BotRun,
        tmp_path: Path) -> None:
    _connect(clean_emulator.info, settings, demo_vault, LocalSession("local-only"))
    g = _connect(clean_emulator.info, settings, demo_vault, GlobalSession("mail"))
    v = _connect(clean_emulator.info, settings, demo_vault, "variable",
                 username="alice@contoso.onmicrosoft.com")
    clean_emulator.control.clear()
    env = bot_run.child_env(settings)
    env.update({"CHILD_VAULT": str(demo_vault.path), "M365BOT_VAULT_KEY": vault_key,
                "CHILD_SESSION": json.dumps(v.descriptor())})
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "child_bot.py"), "mail"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    assert out["global"] == {"mailbox": OPS, "status": 200, "kind": "global"}
    assert out["variable"]["mailbox"] == "alice@contoso.onmicrosoft.com"
    assert out["local_error"] == "SessionError"  # the parent's Local name is not visible
    # the child used the shared encrypted token cache: nothing sent to the identity platform
    assert login_requests(clean_emulator) == []
    assert secret_of(app(clean_emulator.info)) not in proc.stdout + proc.stderr
    # after Disconnect in the parent, a child process gets a clear error
    m365bot.disconnect(g)
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "child_bot.py"), "mail"],
                          env=env, capture_output=True, text=True, timeout=60)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["error"].startswith("SessionError") and "disconnected" in out["error"]


def test_child_process_with_insecure_secret_uses_cached_token_only(
        clean_emulator: Any, settings: Settings, demo_vault: Any, vault_key: str,
        bot_run: BotRun) -> None:
    a = app(clean_emulator.info)
    m365bot.connect(cloud="global", mode="client-credentials", client_id=a["client_id"],
                    tenant_id=a["tenant_id"], username=OPS, client_secret=Secret(secret_of(a)),
                    settings=settings, vault=demo_vault, session=GlobalSession("mail"))
    data = json.loads(next((bot_run.run_dir / "sessions").iterdir()).read_text())
    assert data.get("secret_ref") is None and "secret" not in json.dumps(data).replace(
        "secret_ref", "")
    env = bot_run.child_env(settings)
    env.update({"CHILD_VAULT": str(demo_vault.path), "M365BOT_VAULT_KEY": vault_key,
                "CHILD_SESSION": json.dumps(data)})
    clean_emulator.control.clear()
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "child_bot.py"), "mail"],
                          env={**env, **os.environ, **env}, capture_output=True, text=True,
                          timeout=60)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["global"]["status"] == 200 and login_requests(clean_emulator) == []


def test_global_session_from_another_version_is_refused(clean_emulator: Any, settings: Settings,
                                                        demo_vault: Any, bot_run: BotRun) -> None:
    _connect(clean_emulator.info, settings, demo_vault, GlobalSession("mail"))
    path = next((bot_run.run_dir / "sessions").iterdir())
    data = json.loads(path.read_text())
    path.write_text(json.dumps(dict(data, version="9.9.9")))
    BotRun.set_current(BotRun(bot_run.run_dir))  # a child process joining M365BOT_RUN_DIR
    with pytest.raises(SessionError) as ei:
        m365bot.get_session("mail", settings=settings, vault=demo_vault)
    assert "m365bot 9.9.9" in ei.value.message and "same m365bot version" in ei.value.advice
    with pytest.raises(SessionError, match="no session named 'other'"):
        m365bot.get_session("other", settings=settings, vault=demo_vault)


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o730])
def test_run_dir_open_to_others_is_refused(tmp_path: Path, mode: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry directory other users may read or write is never joined: a descriptor
    planted there would be followed. The error says how to fix it."""
    run_dir = tmp_path / "shared-run"
    run_dir.mkdir()
    run_dir.chmod(mode)
    with pytest.raises(SessionError) as ei:
        BotRun(run_dir)
    assert f"chmod 700 {run_dir}" in ei.value.advice and "open to other users" in str(ei.value)
    monkeypatch.setenv("M365BOT_RUN_DIR", str(run_dir))
    BotRun.set_current(None)
    with pytest.raises(SessionError, match="open to other users"):
        m365bot.get_session("mail")
    assert not (run_dir / "sessions").exists()  # nothing was written into it


def test_run_dir_is_created_private(tmp_path: Path) -> None:
    run = BotRun(tmp_path / "new" / "run")
    assert oct(run.run_dir.stat().st_mode)[-3:] == "700"
    assert oct((run.run_dir / "sessions").stat().st_mode)[-3:] == "700"
    (tmp_path / "link").symlink_to(tmp_path / "new" / "run")
    with pytest.raises(SessionError, match="not a directory"):
        BotRun(tmp_path / "link")


class _FakeProxy:
    """A loopback listener that records every connection (and answers nothing)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.received.append(conn.recv(65536))
            except OSError:
                self.received.append(b"")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_planted_descriptor_cannot_route_the_child_through_its_proxy(
        clean_emulator: Any, settings: Settings, demo_vault: Any, bot_run: BotRun,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A descriptor naming a proxy and a CA bundle: the child takes its network settings
    from its own Settings (here its environment, as child_env passes them), so the planted
    proxy receives nothing, and no bearer token."""
    _connect(clean_emulator.info, settings, demo_vault, GlobalSession("mail"))
    fake = _FakeProxy()
    try:
        path = next((bot_run.run_dir / "sessions").iterdir())
        data = json.loads(path.read_text())
        data["network"] = {"proxy": fake.url, "ca_bundle": settings.ca_bundle,
                           "data_dir": str(tmp_path / "planted"), "timeout": 5}
        path.write_text(json.dumps(data))
        for name, value in bot_run.child_env(settings, base={}).items():
            monkeypatch.setenv(name, value)
        BotRun.set_current(BotRun(bot_run.run_dir))  # the child joining the registry
        s = m365bot.get_session("mail", vault=demo_vault)
        r = s.graph_get(f"/users/{s.mailbox}/mailFolders/inbox/messages", params={"$top": 1})
        assert r.status == 200
        s.close()
    finally:
        fake.close()
    assert fake.received == []
    assert not (tmp_path / "planted").exists()


def test_proxy_password_is_kept_out_of_registry_repr_and_descriptor(
        clean_emulator: Any, demo_vault: Any, bot_run: BotRun, tmp_path: Path,
        register_canary: Any) -> None:
    password = register_canary("CANARY-proxy-password")
    proxy = clean_emulator.info["proxy_url"].replace("http://", f"http://bot:{password}@")
    settings = Settings(data_dir=tmp_path / "home", proxy=proxy,
                        ca_bundle=clean_emulator.info["ca_bundle"], timeout=20)
    s = _connect(clean_emulator.info, settings, demo_vault, GlobalSession("mail"))
    registry = "".join(p.read_text() for p in (bot_run.run_dir / "sessions").iterdir())
    shown = {"registry file": registry, "repr(Settings)": repr(settings),
             "str(Settings)": str(settings), "descriptor()": json.dumps(s.descriptor()),
             "repr(Session)": repr(s), "info()": json.dumps(s.info())}
    for where, text in shown.items():
        assert password not in text, where
    assert "bot:****@" in repr(settings)  # the proxy stays recognisable
    assert settings.proxy == proxy  # ...and usable
    m365bot.disconnect(s)


def test_disconnect_of_a_corrupt_registry_entry_is_one_clear_error(
        clean_emulator: Any, settings: Settings, demo_vault: Any, bot_run: BotRun) -> None:
    _connect(clean_emulator.info, settings, demo_vault, GlobalSession("mail"))
    path = next((bot_run.run_dir / "sessions").iterdir())
    BotRun.set_current(BotRun(bot_run.run_dir))  # another process of the same run
    for garbage in ("{not json", "[1, 2]"):
        path.write_text(garbage)
        with pytest.raises(SessionError) as ei:
            m365bot.disconnect("mail")
        assert str(path) in ei.value.advice
        assert path.read_text() == garbage  # nothing was changed
        with pytest.raises(SessionError, match="unreadable"):
            m365bot.get_session("mail", settings=settings, vault=demo_vault)


def test_connect_layers_import_downwards_only() -> None:
    """sessions <- bots.run <- connection, and Connect reaches the Control Room through the
    ConnectionTokens protocol: no module imports one that imports it back."""
    import ast

    package = Path(m365bot.__file__).parent

    def imports(rel: str) -> set[str]:
        tree = ast.parse((package / rel).read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                } | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    assert not {"m365bot.connection", "m365bot.bots.run", "m365bot.controlroom"} & imports(
        "sessions.py")
    assert not {"m365bot.connection", "m365bot.controlroom"} & imports("bots/run.py")
    assert not {m for m in imports("connection.py") if m.startswith("m365bot.controlroom")}
    for floor1 in ("config.py", "values.py", "protocols.py"):
        assert not {m for m in imports(floor1) if m.startswith("m365bot.")} - {
            "m365bot.errors", "m365bot.values", "m365bot.config"}, floor1
