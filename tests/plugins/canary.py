"""Canary scanning across the whole test run: no secret may ever reach a log record or CLI
output.

* At session start a DEBUG handler on the root logger captures every record (msal, httpx,
  httpcore, urllib3 included; after the loggers' own redacting filters, as a real log would).
* Canaries are values registered with :func:`register_canary` (or the ``register_canary``
  fixture), plus anything matching the convention that test secrets start with ``CANARY-``.
  The emulator's well-known demo secrets are NOT canaries unless a test registers them.
* CLI tests pass their captured output to :func:`scan_output`, which fails at once and also
  keeps the text for the final scan.
* At session end every captured text is scanned; a hit prints where it was and makes the run
  fail (exit status 1), even if every test passed. Under pytest-xdist each worker hands its
  findings to the controller, which reports them and fails the run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

import pytest

_CONVENTION = re.compile(r"CANARY-[A-Za-z0-9._~+/=-]+")
_canaries: set[str] = set()
_texts: list[tuple[str, str]] = []  # (where, text)
_lock = threading.Lock()


def register_canary(value: str) -> str:
    """Treat ``value`` as a secret for the rest of the run; returns it for chaining."""
    if value and len(value) >= 6:
        with _lock:
            _canaries.add(value)
    return value


def scan_output(text: str, where: str = "cli output") -> None:
    """Assert no canary is in ``text`` now, and keep it for the session-end scan."""
    with _lock:
        _texts.append((where, text))
    hits = _hits(text)
    assert not hits, f"secret(s) leaked in {where}: {[h[:12] + '...' for h in hits]}"


def _hits(text: str) -> list[str]:
    with _lock:
        values = list(_canaries)
    found = [v for v in values if v in text]
    found += [m.group(0) for m in _CONVENTION.finditer(text)]
    return sorted(set(found))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: the template and raw args still count
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        with _lock:
            _texts.append((f"log {record.name}", text))


_handler = _Capture()


@pytest.fixture(name="register_canary")
def _register_canary_fixture() -> Callable[[str], str]:
    """``register_canary(value)``: a secret the whole run must never log or print."""
    return register_canary


@pytest.fixture(name="scan_output")
def _scan_output_fixture() -> Callable[..., None]:
    return scan_output


def pytest_sessionstart(session: pytest.Session) -> None:
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(logging.DEBUG)


def leaks() -> list[tuple[str, str]]:
    """(where, canary prefix) for every canary found in the captured texts so far."""
    with _lock:
        texts = list(_texts)
    out = []
    for where, text in texts:
        for hit in _hits(text):
            out.append((where, hit[:12] + "..."))
    return out


_worker_leaks: list[tuple[str, str]] = []
_worker_scanned: list[tuple[int, int, set[str]]] = []  # (texts, characters, canaries) each


def _scanned() -> tuple[int, int, set[str]]:
    with _lock:
        return len(_texts), sum(len(t) for _, t in _texts), set(_canaries)


def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist (controller): collect what each worker's scan found and how much it
    read (the summary line counts every worker's, not the controller's, which runs no test)."""
    output = getattr(node, "workeroutput", {}) or {}
    for where, hit in output.get("canary_leaks", []):
        _worker_leaks.append((str(where), str(hit)))
    if "canary_scanned" in output:
        n, size, canaries = output["canary_scanned"]
        _worker_scanned.append((int(n), int(size), {str(c) for c in canaries}))


def pytest_terminal_summary(terminalreporter: object) -> None:
    n, size, canaries = _scanned()
    for wn, wsize, wcanaries in _worker_scanned:
        n, size, canaries = n + wn, size + wsize, canaries | wcanaries
    write = getattr(terminalreporter, "write_line", print)
    write(f"canary scan: {n} log records and outputs captured ({size / 1e6:.1f} MB), "
          f"{len(canaries)} registered canaries")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_handler)
    found = leaks() + _worker_leaks
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports and fails the run
        n, size, canaries = _scanned()
        workeroutput["canary_leaks"] = found
        workeroutput["canary_scanned"] = (n, size, sorted(canaries))
        return
    if not found:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  {where}: {hit}" for where, hit in sorted(set(found))[:50]]
    message = "CANARY SCAN: secrets appeared in logs or CLI output:\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
