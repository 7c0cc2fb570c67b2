"""The optional parts of m365bot and the packages each needs (pyproject's extras).

A bot runner installs ``m365bot`` alone: Connect, the Credential Vault, the Graph engine,
the Outlook actions and the CLI. Two parts bring their own web stack:

* ``m365bot[emulator]``: the offline Entra ID + Graph emulator (``m365bot emulator serve``,
  ``m365bot demo``, the pytest fixtures);
* ``m365bot[server]``: the Control Room server (``m365bot controlroom serve``, its accounts).

:func:`require_extra` checks, without importing anything, that an extra's packages are
there, and otherwise raises one :class:`~m365bot.errors.ConfigError` whose fix is the
``pip install`` line.

Example::

    from m365bot.extras import require_extra
    require_extra("emulator", "m365bot emulator serve")   # ConfigError if starlette is missing
"""

from __future__ import annotations

import importlib.util

from m365bot.errors import ConfigError

# extra -> {the module it is imported as: the distribution pyproject names}; a test checks
# this against pyproject.toml's [project.optional-dependencies]
EXTRAS: dict[str, dict[str, str]] = {
    "emulator": {"starlette": "starlette", "hypercorn": "hypercorn", "jinja2": "Jinja2",
                 "yaml": "PyYAML", "jwt": "PyJWT",
                 "orjson": "orjson"},
    "server": {"starlette": "starlette", "uvicorn": "uvicorn", "jinja2": "Jinja2",
               "argon2": "argon2-cffi"},
}


def missing(extra: str) -> list[str]:
    """The distributions of ``extra`` that are not installed (``[]`` when it is complete).

    Example::

        missing("server")   # ['uvicorn', 'argon2-cffi'] on a bot runner
    """
    return [dist for module, dist in EXTRAS[extra].items()
            if importlib.util.find_spec(module) is None]


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install 'm365bot[emulator]'``."""
    return f"pip install 'm365bot[{extra}]'"


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`ConfigError` (its fix: the ``pip install`` line) if ``what`` cannot run
    because a package of ``extra`` is not installed.

    Example::

        require_extra("server", "m365bot controlroom serve")
    """
    absent = missing(extra)
    if absent:
        raise extra_error(extra, what, absent)


def extra_error(extra: str, what: str, absent: list[str]) -> ConfigError:
    """The error for ``what``, which needs ``extra``, whose ``absent`` packages are missing.

    Example::

        str(extra_error("emulator", "m365bot demo", ["starlette"]))
        # "m365bot demo needs m365bot's emulator extra, and starlette is not installed.
        #  Fix: pip install 'm365bot[emulator]'"
    """
    return ConfigError(f"{what} needs m365bot's {extra} extra, and {', '.join(absent)} "
                       f"{'is' if len(absent) == 1 else 'are'} not installed.",
                       field="extras", advice=install_hint(extra))


def extra_for_module(module: str, preferred: str | None = None) -> tuple[str, str] | None:
    """The extra that provides the top-level package of ``module`` and that package's
    distribution name (``preferred`` first, for a package two extras share), or None if no
    extra does.

    Example::

        extra_for_module("uvicorn.config")   # ('server', 'uvicorn')
    """
    top = module.split(".", 1)[0]
    order = ([preferred] if preferred in EXTRAS else []) + list(EXTRAS)
    return next(((e, EXTRAS[e][top]) for e in order if e is not None and top in EXTRAS[e]),
                None)


__all__ = ["EXTRAS", "extra_error", "extra_for_module", "install_hint", "missing", "require_extra"]
