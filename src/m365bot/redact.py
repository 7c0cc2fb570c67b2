"""Log redaction: codes, verifiers, secrets and tokens never reach a log record.

msal logs the authorization response at DEBUG in some paths, httpx logs URLs at INFO and
httpcore logs response headers (a redirect's ``Location`` carries the code). The filter here
rewrites every record of those loggers through :func:`redact`; m365bot's own modules never log
a token, a secret or a body in the first place.

Example::

    from m365bot.redact import install_log_filter, redact
    install_log_filter()                      # after importing msal / httpx
    redact("code=abc&state=x")                # 'code=***&state=x'
"""

from __future__ import annotations

import logging
import re

_SECRET_KEYS = (
    "code|refresh_token|access_token|id_token|code_verifier|client_secret|client_assertion"
    "|secret|password|passwd|client_info|assertion|session_state|device_code|user_code"
    "|authtoken|tempauth|sig|ESTSAUTH|ESTSAUTHPERSISTENT"
)
_KEY_VALUE = re.compile(
    rf"""(?P<k>['"]?\b(?:{_SECRET_KEYS})\b['"]?\s*(?:[:=]|%3D)\s*['"]?)(?P<v>[^'"&\s,}}\]]+)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")

# the third-party loggers that may see a code, a token or a secret
FILTERED = ("msal", "httpx", "httpcore")


def redact(text: str) -> str:
    """Replace token-like values and ``code=...``-style secrets with ``***``.

    Example::

        redact("{'code': 'abc', 'state': 'x'}")   # "{'code': '***', 'state': 'x'}"
    """
    text = _JWT.sub("***", text)
    return _KEY_VALUE.sub(lambda m: m.group("k") + "***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and traceback) through
    :func:`redact`.

    Example::

        logging.getLogger("msal").addFilter(RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: drop the args, keep the template
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Attach the redacting filter to every ``msal``, ``httpx`` and ``httpcore`` logger that
    exists (a filter on a parent logger does not see its children's records, so call it again
    after importing their modules; it is idempotent).

    Example::

        import msal; install_log_filter()
    """
    names = [
        n for n in logging.Logger.manager.loggerDict
        if any(n == root or n.startswith(root + ".") for root in FILTERED)
    ]
    for name in [*FILTERED, *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


__all__ = ["FILTERED", "RedactingFilter", "install_log_filter", "redact"]
