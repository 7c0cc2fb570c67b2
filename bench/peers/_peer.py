"""What every contender's program shares: its settings, its clock and its one line of
figures. Standard library only: it runs in each peer's own venv.

A program is started as ``python PROGRAM CONFIG.json``. The config holds the case's
parameters and the emulator's app (tenant, client id, secret); the emulator itself is reached
only through the proxy variables (``HTTPS_PROXY``, ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``)
the runner sets. The program prints one JSON line (``emit``) and exits 0.

Example::

    cfg = load()
    with timed() as t:
        n = len(list_messages(cfg))
    emit(seconds=t.seconds, items=n)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
SCOPE = "https://graph.microsoft.com/.default"
# B2's five fields, as Graph names them (m365bot's names: subject, from, received, is_read,
# has_attachments).
FIELDS = ["subject", "from", "receivedDateTime", "isRead", "hasAttachments"]


def load() -> dict[str, Any]:
    """The config file named on the command line."""
    return dict(json.loads(Path(sys.argv[1]).read_text()))


class Timer:
    seconds = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    """Wall time of the ``with`` block."""
    t = Timer()
    t0 = time.perf_counter()
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - t0


def peak_rss_mb() -> float:
    """This process's peak resident set (``VmHWM``), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def emit(**figures: Any) -> None:
    """Print the program's one line of figures (and its peak RSS)."""
    figures.setdefault("peak_rss_mb", peak_rss_mb())
    print(json.dumps(figures), flush=True)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
