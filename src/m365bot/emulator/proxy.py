"""Proxy mode: an HTTP CONNECT proxy that tunnels only the emulated Microsoft hosts.

``CONNECT graph.microsoft.com:443`` (any host in :data:`hosts.HOSTS`, port 443) becomes a raw
TCP tunnel to the emulator's HTTPS port, so the client does its TLS handshake with the
emulator (trusting the emulator's CA) and uses the real URLs. Everything else — other hosts,
other ports, plain-HTTP proxy requests, look-alike names such as
``graph.microsoft.com.evil.com`` — gets ``403 Forbidden`` and the connection is closed. It is
never an open proxy: it only ever connects to the emulator's own HTTPS port.

Example::

    server = await start_proxy("127.0.0.1", 0, upstream=("127.0.0.1", 8443))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from m365bot.emulator import hosts

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024  # also the stream buffer size, so keep it roomy for tunnelled uploads
HEAD_TIMEOUT = 15.0
CHUNK = 256 * 1024


def allowed_target(authority: str) -> str | None:
    """The emulated host a CONNECT target names, or None when it must be refused.

    Example: ``allowed_target("graph.microsoft.com:443") == "graph.microsoft.com"``.
    """
    host, sep, port = authority.rpartition(":")
    if not sep or port != "443" or not host or host.startswith("["):
        return None
    name = host.lower()
    return name if name in hosts.HOSTS else None


def _reply(status: str, reason: str) -> bytes:
    body = f"m365bot emulator proxy: {reason}\n".encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


class Proxy:
    """The CONNECT proxy server; :meth:`close` ends it and every open tunnel."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.refused = 0
        self.tunnels = 0

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port, limit=MAX_HEAD)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in list(self._writers):
            w.close()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _refuse(
        self, writer: asyncio.StreamWriter, status: str, reason: str, target: str
    ) -> None:
        self.refused += 1
        log.info("proxy refused %s: %s", target[:200], reason)
        with contextlib.suppress(Exception):
            writer.write(_reply(status, reason))
            await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            except (
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
                ConnectionError,
            ):
                await self._refuse(writer, "400 Bad Request", "malformed proxy request", "?")
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                await self._refuse(writer, "400 Bad Request", "malformed proxy request", line)
                return
            method, target = parts[0].upper(), parts[1]
            if method != "CONNECT":
                await self._refuse(
                    writer,
                    "403 Forbidden",
                    "only CONNECT to emulated Microsoft hosts on port 443 is allowed",
                    target,
                )
                return
            name = allowed_target(target)
            if name is None:
                await self._refuse(
                    writer,
                    "403 Forbidden",
                    f"{target} is not an emulated Microsoft host; refused",
                    target,
                )
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                await self._refuse(
                    writer, "502 Bad Gateway", "emulator HTTPS port unreachable", target
                )
                return
            self._writers.add(up_writer)
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except Exception:  # pragma: no cover - never let a tunnel error kill the server
            log.exception("proxy connection failed")
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    with contextlib.suppress(Exception):
                        w.close()


async def start_proxy(host: str, port: int, upstream: tuple[str, int]) -> Proxy:
    """Start listening; the bound port is ``proxy.port``. Example in the module docs."""
    proxy = Proxy(upstream)
    await proxy.start(host, port)
    log.info("proxy listening on %s:%d -> %s:%d", host, proxy.port, *upstream)
    return proxy
