"""The :class:`Emulator`: state, clock, settings, tokens, CA, control, and the servers.

Example::

    with Emulator.start(scenario="demo") as emu:
        print(emu.info["base_url"], emu.info["proxy_url"], emu.info["ca_bundle"])
        emu.clock.advance(3600)
        emu.control.add_fault(op="sendMail", kind="status", status=503, nth=1)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from m365bot._version import __version__
from m365bot.config import data_dir_from_env
from m365bot.emulator.app import create_app
from m365bot.emulator.appcerts import key_file_of, thumbprints
from m365bot.emulator.clock import Clock
from m365bot.emulator.control import Control, EmulatorSettings
from m365bot.emulator.persist import Persistence
from m365bot.emulator.scenario import build_state, load_spec
from m365bot.emulator.server import BackgroundServer, Timeouts
from m365bot.emulator.state import State
from m365bot.emulator.tls import LocalCA
from m365bot.emulator.tokens import Tokens

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """The ``emulator`` folder in the data folder (m365bot.config.data_dir_from_env)."""
    return data_dir_from_env(os.environ) / "emulator"


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` keeps the emulator on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _folder_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``directory`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(directory / ".lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Emulator:
    """An offline Entra ID + Graph emulator. Build with :meth:`start` (serving) or the
    constructor (not yet serving; call :meth:`serve`)."""

    def __init__(
        self,
        *,
        scenario: str | Path | dict[str, Any] = "demo",
        data_dir: str | Path | None = None,
        state_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        proxy_port: int | None = 0,
        latency_ms: float = 0.0,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir else None
        self.host = host
        self.requested_port = port
        self.requested_proxy_port = proxy_port
        self.timeouts = timeouts
        self.clock = Clock()
        self.settings = EmulatorSettings(latency_ms=float(latency_ms))
        self._initial_settings = self.settings.as_dict()
        self.spec = load_spec(scenario)
        self.persistence: Persistence | None = None
        # Two emulators sharing a data folder (parallel CLI runs, test workers) must not
        # interleave creating the CA, keys and certificates.
        with _folder_lock(self.data_dir):
            # Read a saved state before writing anything: a corrupt one must leave its folder
            # exactly as it was (no new signing key next to it).
            loaded = None
            if self.state_dir is not None:
                self.persistence = Persistence(
                    self.state_dir, lambda: self.state, lambda: self.clock.offset
                )
                loaded = self.persistence.load()
            self.ca = LocalCA.open(self.data_dir)
            self.tokens = Tokens.open(self.state_dir or self.data_dir, self.clock)
            if loaded is not None:
                self.state, offset = loaded
                self.clock.advance(offset)
            else:
                self.state = build_state(self.spec, self.data_dir, now=self.clock.now())
        self.control = Control(self)
        self._server: BackgroundServer | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def start(cls, **kwargs: Any) -> Emulator:
        """Build and serve; use as a context manager to stop it. Example in the module docs."""
        emu = cls(**kwargs)
        emu.serve()
        return emu

    def serve(self) -> None:
        """Start the HTTPS server and the proxy in a background thread."""
        self._server = BackgroundServer(
            create_app(self),
            self.ca,
            host=self.host,
            port=self.requested_port,
            proxy_port=self.requested_proxy_port,
            latency=lambda: self.settings.latency_ms,
            timeouts=self.timeouts,
        )
        self._server.start()
        if not is_loopback_host(self.host):
            log.warning(
                "the emulator listens on %s, beyond this machine: anyone who can reach it can "
                "use its test identities (the control API and its secrets still answer only "
                "on loopback); use --host 127.0.0.1 unless you mean it",
                self.host,
            )
        if self.persistence is not None:
            self.persistence.save()
        log.info(
            "emulator serving https://%s:%d (proxy %s)",
            self.host,
            self._server.https_port,
            self.info["proxy_url"],
        )

    def stop(self) -> None:
        """Stop serving and save state (with ``state_dir``). Idempotent."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.persistence is not None:
            self.persistence.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def state_changed(self) -> None:
        """Called after mutating requests: schedules a state save under ``state_dir``."""
        if self.persistence is not None:
            self.persistence.touch()

    def reset(self) -> None:
        """Back to the scenario's initial world: state, clock, settings, faults, records."""
        with self._lock:
            self.state = build_state(self.spec, self.data_dir, now=time.time())
            self.clock.reset()
            fresh = EmulatorSettings()
            fresh.update(dict(self._initial_settings))
            self.settings.latency_ms = fresh.latency_ms
            self.settings.refresh_token_policy = fresh.refresh_token_policy
            self.settings.throttling = fresh.throttling
            self.control.clear()
        self.state_changed()
        log.info("emulator reset to scenario %s", self.spec.get("name", "?"))

    # -- what a harness needs ---------------------------------------------------------------------

    @property
    def https_port(self) -> int:
        return int(self._server.https_port) if self._server is not None else 0

    @property
    def proxy_port(self) -> int | None:
        return self._server.proxy_port if self._server is not None else None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def info(self) -> dict[str, Any]:
        """Ports, URLs, CA bundle and the seeded identities (same as the info file)."""
        return build_info(self)

    def write_info(self, path: str | Path) -> None:
        """Write :attr:`info` as JSON (mode 0600: it holds dev passwords and secrets)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.info, fh, indent=2)
        os.replace(tmp, target)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def build_info(emu: Emulator) -> dict[str, Any]:
    state: State = emu.state
    with state.lock:
        tenants = [
            {"id": t.id, "cloud": t.cloud, "domain": t.domain, "name": t.display_name}
            for t in state.tenants.values()
        ]
        apps = []
        for a in state.apps.values():
            certs = []
            for c in a.certificates:
                sha1 = sha256 = ""
                if c.cert_file and Path(c.cert_file).exists():
                    from cryptography import x509

                    cert = x509.load_pem_x509_certificate(Path(c.cert_file).read_bytes())
                    sha1, sha256 = thumbprints(cert)
                certs.append(
                    {
                        "thumbprint_sha1": sha1,
                        "thumbprint_sha256": sha256,
                        "x5t": c.x5t,
                        "x5t_s256": c.x5t_s256,
                        "cert_file": c.cert_file,
                        "key_file": key_file_of(c.cert_file),
                        "pfx_file": c.pfx_file,
                        "expires": _iso(c.expires),
                    }
                )
            apps.append(
                {
                    "client_id": a.client_id,
                    "tenant_id": a.tenant_id,
                    "name": a.display_name,
                    "secrets": [
                        {"id": s.id, "value": s.value, "expires": _iso(s.expires)}
                        for s in a.secrets
                    ],
                    "certificates": certs,
                    "redirect_uris": list(a.redirect_uris),
                    "public_client": a.public_client,
                    "application_permissions": list(a.application_permissions),
                    "delegated_permissions": dict(a.delegated_permissions),
                    "access_policy": None if a.access_policy is None else list(a.access_policy),
                }
            )
        users = []
        for u in state.users.values():
            box = state.mailboxes.get(u.upn.lower())
            users.append(
                {
                    "id": u.id,
                    "tenant_id": u.tenant_id,
                    "upn": u.upn,
                    "password": u.password,
                    "display_name": u.display_name,
                    "mailbox": box.address if box is not None else None,
                }
            )
        by_id = {u.id: u.upn for u in state.users.values()}
        shared = [
            {
                "address": b.address,
                "id": b.id,
                "tenant_id": b.tenant_id,
                "display_name": b.display_name,
                "grants": [
                    {"user": by_id.get(g.user_id, g.user_id), "rights": list(g.rights)}
                    for g in b.grants
                ],
            }
            for b in state.mailboxes.values()
            if b.kind == "shared"
        ]
    port = emu.https_port
    proxy_port = emu.proxy_port
    return {
        "version": __version__,
        "https_port": port,
        "proxy_port": proxy_port,
        "base_url": f"https://{emu.host}:{port}",
        "proxy_url": f"http://{emu.host}:{proxy_port}" if proxy_port else None,
        "ca_bundle": str(emu.ca.ca_file),
        "control_url": f"https://{emu.host}:{port}/_emulator",
        "data_dir": str(emu.data_dir),
        "state_dir": str(emu.state_dir) if emu.state_dir else None,
        "scenario": emu.spec.get("name"),
        "tenants": tenants,
        "apps": apps,
        "users": users,
        "shared_mailboxes": shared,
    }
