"""Proxy mode: the HTTP CONNECT handshake that admits only the emulated Microsoft hosts.

``CONNECT graph.microsoft.com:443`` (any host in :data:`hosts.HOSTS`, port 443) is answered
``200 Connection Established``; the server (server.py) then does the TLS handshake on that same
connection, in process, and serves HTTP/2 or HTTP/1.1 inside it — the client trusts the
emulator's CA and uses the real URLs. Everything else — other hosts, other ports, plain-HTTP
proxy requests, look-alike names such as ``graph.microsoft.com.evil.com`` — gets
``403 Forbidden`` and the connection is closed. It is never an open proxy: it never connects
anywhere.

Example::

    host = await read_connect(reader, writer, header_timeout=15)
    if host is not None:
        ...  # answer 200, then start TLS on the same connection
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from m365bot.emulator import hosts

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"


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


async def _refuse(writer: asyncio.StreamWriter, status: str, reason: str, target: str) -> None:
    log.info("proxy refused %s: %s", target[:200], reason)
    with contextlib.suppress(Exception):
        writer.write(_reply(status, reason))
        await writer.drain()


async def read_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, header_timeout: float
) -> str | None:
    """Read one proxy request head; the emulated host it may tunnel to, or None after
    answering the refusal (the caller then closes the connection)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), header_timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        await _refuse(writer, "400 Bad Request", "malformed or incomplete proxy request", "?")
        return None
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        await _refuse(writer, "400 Bad Request", "malformed proxy request", line)
        return None
    method, target = parts[0].upper(), parts[1]
    if method != "CONNECT":
        await _refuse(
            writer,
            "403 Forbidden",
            "only CONNECT to emulated Microsoft hosts on port 443 is allowed",
            target,
        )
        return None
    name = allowed_target(target)
    if name is None:
        await _refuse(
            writer, "403 Forbidden", f"{target} is not an emulated Microsoft host; refused", target
        )
        return None
    return name
