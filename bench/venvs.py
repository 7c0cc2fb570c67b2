"""One venv per peer under a cache folder (default ``.bench-venvs/``, git-ignored), with the
peer pip-installed at a pinned version. None of them is a dependency of m365bot: m365bot
runs from the interpreter that runs the suite.

A venv is rebuilt when its requirement line changes (a ``.requirements`` file inside it
records what was installed). pip's own cache makes a rebuild quick after the first.

Example::

    python = ensure(Path(".bench-venvs"), "naive")   # .bench-venvs/naive/bin/python
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# Pinned so that a rerun measures the same code; bump deliberately.
PEERS: dict[str, list[str]] = {
    "o365": ["O365==2.1.10"],
    # msgraph-core 1.5.2 imports ``deprecated`` in its $batch module but does not declare it
    "msgraph": ["msgraph-sdk==1.65.0", "azure-identity==1.27.0", "Deprecated==1.3.1"],
    "naive": ["requests==2.34.2", "msal==1.39.0"],
}


def _base_python() -> str:
    """The interpreter the project's venv was made from (every venv shares it)."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)))


def ensure(cache: Path, name: str, requirements: list[str] | None = None) -> Path:
    """The python of the venv ``cache/name`` with ``requirements`` installed."""
    reqs = requirements if requirements is not None else PEERS[name]
    venv = cache / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(reqs)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"bench: installing {' '.join(reqs)} into {venv}", file=sys.stderr, flush=True)
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    log = venv / "install.log"
    with log.open("w") as out:
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *reqs],
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: pip install {' '.join(reqs)} failed:\n"
                         + log.read_text()[-3000:])
    stamp.write_text(wanted)
    return python


def site_packages_mib(python: Path) -> float:
    """MiB of the venv's site-packages, less pip and setuptools (what every venv has)."""
    out = subprocess.run([str(python), "-c", "import sysconfig; "
                          "print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    total = 0
    for path in Path(out).rglob("*"):
        top = path.relative_to(out).parts[0].lower()
        if top.startswith(("pip", "setuptools", "_distutils_hack", "pkg_resources",
                           "distutils-precedence")):
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total / (1024 * 1024)
