"""Helpers for the headless sign-in tests: a person completing a device code on the emulator's
pages, and reading the sign-in URL ``m365bot connect`` prints.

Example::

    page = enter_device_code(emulator.info, message, "alice@contoso.onmicrosoft.com", pw)
"""

from __future__ import annotations

import re
import ssl
from typing import IO, Any

import httpx


def enter_device_code(info: dict[str, Any], message: str, upn: str, password: str) -> str:
    """A person on another device: open the page in ``message``, type the code, sign in.
    Returns the last page's text."""
    found = re.search(r"(https://\S+/devicelogin)\S* and enter the code (\w+)", message)
    assert found, message
    page_url, code = found.groups()
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    with httpx.Client(proxy=info["proxy_url"], verify=ctx, trust_env=False, timeout=20) as client:
        page = client.post(page_url, data={"otc": code}).text
        found_ctx = re.search(r'name="ctx" value="([^"]+)"', page)
        action = re.search(r'action="([^"]+)" id="signin"', page)
        assert found_ctx and action, page[:300]
        base = page_url.rsplit("/", 1)[0]
        return client.post(base + action.group(1).replace("&amp;", "&"),
                           data={"ctx": found_ctx.group(1), "login": upn, "passwd": password}).text


def printed_line(stream: IO[str], prefix: str, *, limit: int = 20) -> str:
    """The first line of ``stream`` that starts with ``prefix`` (within ``limit`` lines)."""
    for _ in range(limit):
        line = stream.readline()
        assert line, "the process ended before printing " + prefix
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting with {prefix!r}")
