"""Safe file names for saved attachments and emails (no I/O).

A name that comes from a message (an attachment's ``name``, a subject) is made safe to write
in the folder the caller chose, on Windows, macOS and Linux:

* no path: only the last part of ``../x``, ``C:\\x``, ``/etc/x`` is kept, and ``..`` alone
  becomes the fallback name;
* no characters Windows refuses (``<>:"/\\|?*``, control characters, NUL): each becomes ``_``;
* no leading dots or spaces (hidden files, ``..``), no trailing dots or spaces (Windows drops
  them);
* no reserved device names (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM1``..``COM9``,
  ``LPT1``..``LPT9``, with any extension): they get a leading ``_``;
* at most 200 characters, the extension kept;
* an empty result becomes the fallback (``attachment``).

:func:`unique_name` renames a colliding name ``name (2).ext``, ``name (3).ext``...
:func:`check_name` is the strict check for a name the *caller* gives: it refuses (ConfigError
naming the field) instead of repairing.

Example::

    safe_name("../../etc/passwd")          # 'passwd'
    safe_name("CON.txt")                   # '_CON.txt'
    unique_name("a.pdf", {"a.pdf"})        # 'a (2).pdf'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Container

from m365bot.errors import ConfigError

MAX_LENGTH = 200
FALLBACK = "attachment"
_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
             *(f"COM{n}" for n in "123456789¹²³"), *(f"LPT{n}" for n in "123456789¹²³")}


def _last_part(name: str) -> str:
    parts = [p for p in re.split(r"[/\\]", name) if p.strip()]
    return parts[-1] if parts else ""


def split_ext(name: str) -> tuple[str, str]:
    """``("report", ".pdf")`` of ``"report.pdf"``; a name without a dot has no extension."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


def is_reserved(name: str) -> bool:
    """True for Windows device names, with or without an extension (``nul.txt``)."""
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.upper() in _RESERVED


def safe_name(name: str | None, *, fallback: str = FALLBACK, ext: str = "") -> str:
    """``name`` made safe to create in a chosen folder (see the module's rules); ``ext``
    (``".eml"``) is added when the name does not end with it already."""
    text = unicodedata.normalize("NFC", name or "")
    text = _last_part(text.replace("\x00", "/"))  # a NUL cuts names short in C: treat it as /
    text = _BAD.sub("_", text).strip(" .")
    if ext and not text.lower().endswith(ext.lower()):
        text = f"{text}{ext}" if text else ""
    if not text or set(text) <= {"_", "."}:
        text = fallback + ext
    if is_reserved(text):
        text = "_" + text
    if len(text) > MAX_LENGTH:
        stem, suffix = split_ext(text)
        suffix = suffix[:20]
        text = stem[: MAX_LENGTH - len(suffix)].rstrip(" .") + suffix
    return text


def unique_name(name: str, taken: Container[str] | Callable[[str], bool]) -> str:
    """``name``, or ``name (2).ext``, ``name (3).ext``... the first one not ``taken`` (a set
    of names, compared without case as Windows and macOS do, or a predicate)."""
    is_taken: Callable[[str], bool]
    if callable(taken):
        is_taken = taken
    else:
        folded = {t.casefold() for t in taken} if isinstance(taken, set | frozenset) else None
        is_taken = ((lambda n: n.casefold() in folded) if folded is not None
                    else (lambda n: n in taken))
    if not is_taken(name):
        return name
    stem, ext = split_ext(name)
    n = 2
    while is_taken(candidate := f"{stem} ({n}){ext}"):
        n += 1
    return candidate


def check_name(name: str, *, field: str = "name") -> str:
    """A file name the caller gave, or ConfigError naming ``field`` if it is not a plain,
    safe file name (a path, ``..``, a reserved or empty name): nothing is repaired silently
    in what the caller typed."""
    if not isinstance(name, str) or not name or safe_name(name, fallback="") != name:
        shown = name if isinstance(name, str) and len(name) < 80 else "..."
        raise ConfigError(f"{field}: {shown!r} is not a plain file name", field=field,
                          advice="give a name without folders, '..', drive letters, the "
                          "characters <>:\"/\\|?* or a device name such as CON; choose the "
                          "folder with the folder argument")
    return name


__all__ = ["FALLBACK", "MAX_LENGTH", "check_name", "is_reserved", "safe_name", "split_ext",
           "unique_name"]
