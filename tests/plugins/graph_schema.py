"""Every Graph answer in every test is checked against Graph v1.0's schema.

Sets ``M365BOT_EMULATOR_SCHEMA_LOG`` before any emulator starts, so in-process emulators and
served ones (subprocesses inherit the environment) record each JSON answer they send. After
each test, the records it caused are read back; any violation fails the test, listing them.
The terminal summary prints how many answers were validated in the run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from m365bot.emulator.graph.schemacheck import ENV_VAR

_FOLDER_VAR = "M365BOT_TEST_SCHEMA_FOLDER"


def pytest_configure(config: pytest.Config) -> None:
    folder = os.environ.get(_FOLDER_VAR) or tempfile.mkdtemp(prefix="m365bot-schema-")
    os.environ[_FOLDER_VAR] = folder  # xdist workers inherit it and write files of their own
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    log = Path(folder) / f"{worker}.jsonl"
    log.touch()
    os.environ[ENV_VAR] = str(log)


def _records(log: Path, start: int) -> tuple[list[dict[str, object]], int]:
    with log.open("rb") as fh:
        fh.seek(start)
        data = fh.read()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()], \
        start + len(complete)


def _check_phase(phase: str) -> Iterator[None]:
    """Fail the phase (setup, call or teardown) whose requests broke the schema."""
    log = Path(os.environ[ENV_VAR])
    start = log.stat().st_size
    yield
    records, _ = _records(log, start)
    bad = [r for r in records if r.get("violations")]
    if bad:
        lines = [f"{r['path']} ({r['status']}, {r['type']}): {v}"
                 for r in bad for v in r["violations"]]  # type: ignore[attr-defined]
        pytest.fail(f"Graph v1.0 schema violations in the emulator's answers ({phase}):\n  "
                    + "\n  ".join(lines[:40]), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _check_phase("setup")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _check_phase("call")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    yield from _check_phase("teardown")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    folder = os.environ.get(_FOLDER_VAR)
    if not folder or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    checked = violating = 0
    for log in Path(folder).glob("*.jsonl"):
        records, _ = _records(log, 0)
        checked += len(records)
        violating += sum(1 for r in records if r.get("violations"))
    terminalreporter.write_line(
        f"Graph schema: {checked} emulator answers validated against Graph v1.0, "
        f"{violating} with violations (records in {folder})")
