"""uvicorn over HTTPS in a background thread, plus the CONNECT proxy on the same loop.

Example::

    server = BackgroundServer(app, ca, host="127.0.0.1", port=0, proxy_port=0)
    server.start()          # returns once both ports accept connections
    server.https_port, server.proxy_port
    server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

import uvicorn
from starlette.types import ASGIApp

from m365bot.emulator.proxy import Proxy, start_proxy
from m365bot.emulator.tls import LocalCA

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The emulator could not start (port in use, bad certificate, ...)."""


class BackgroundServer:
    def __init__(
        self,
        app: ASGIApp,
        ca: LocalCA,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        proxy_port: int | None = 0,
    ) -> None:
        self.app = app
        self.ca = ca
        self.host = host
        self.requested_port = port
        self.requested_proxy_port = proxy_port
        self.https_port = 0
        self.proxy_port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._proxy: Proxy | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self, timeout: float = 15.0) -> None:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when
        # the listening socket says TCP. Without it, the response body waits for a delayed
        # ACK (40 ms on Linux) behind the headers whenever the peer is the proxy.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ServerError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}; "
                "pick another --port or use --port 0"
            ) from None
        sock.listen(512)
        sock.setblocking(False)
        self.https_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(self.ca.server_cert_file),
            ssl_keyfile=str(self.ca.server_key_file),
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
            access_log=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
            server_header=False,
            date_header=True,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"m365bot-emulator-{self.https_port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            self.stop()
            raise ServerError(f"the emulator did not start: {self._error or 'timed out'}")

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._main(sock))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        assert self._server is not None
        self.loop = asyncio.get_running_loop()
        if self.requested_proxy_port is not None:
            try:
                self._proxy = await start_proxy(
                    self.host, self.requested_proxy_port, upstream=(self.host, self.https_port)
                )
            except OSError as exc:
                raise ServerError(
                    f"cannot listen on {self.host}:{self.requested_proxy_port} for the proxy: "
                    f"{exc.strerror}; pick another --proxy-port or use 0"
                ) from None
            self.proxy_port = self._proxy.port
        serve = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not serve.done():
            await asyncio.sleep(0.005)
        if serve.done():
            serve.result()  # raises why it stopped
            raise ServerError("uvicorn stopped during startup")
        self._ready.set()
        try:
            await serve
        finally:
            if self._proxy is not None:
                await self._proxy.close()

    async def _abort_lingering(self) -> None:
        """After a short grace, drop connections whose TLS close is waiting on an idle client."""
        await asyncio.sleep(0.3)
        assert self._server is not None
        for conn in list(getattr(self._server.server_state, "connections", ())):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
            loop = self.loop
            if loop is not None and loop.is_running():
                with contextlib.suppress(RuntimeError):
                    asyncio.run_coroutine_threadsafe(self._abort_lingering(), loop)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(10)
        self._thread = None
