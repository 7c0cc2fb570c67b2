"""Helpers the vault tests share (a module name of its own: ``conftest`` is ambiguous when
several test folders run together)."""

from __future__ import annotations

import base64
import os


def canary(tag: str) -> str:
    """A unique value that must never show up in clear anywhere."""
    return f"CANARY-{tag}-{base64.b32encode(os.urandom(10)).decode().lower()}"
