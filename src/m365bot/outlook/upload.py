"""Attachments for the send actions: check them before anything is sent, then add them to a
draft the way Graph wants by size.

* under :data:`SIMPLE_LIMIT` (3 MB): the file's bytes go in a JSON ``fileAttachment``
  (several small ones ride in the request that creates the draft, up to
  :data:`INLINE_BUDGET` bytes in all; the others get one POST each);
* from 3 MB to :data:`MAX_SIZE` (150 MB): an upload session, sent in 4 MiB chunks from the file
  (memory stays at one chunk) by the engine's ``upload``, which resumes from the server's
  ``nextExpectedRanges``;
* above 150 MB (one file, or all of a message's together): ConfigError before any request.

An attachment is a path (its file name is used), ``(name, bytes)`` or ``(name, path)``. A name
must be a plain file name: no folder part, no ``..``, no control characters, at most 255
characters, since recipients save it under that name.

Example::

    specs = check_attachments(["report.pdf", ("notes.txt", b"hi")], missing="fail")
    plan = attachment_plan(specs)        # which go inline, which by POST, which by session
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from m365bot.errors import ConfigError, GraphError, M365BotError, NotFoundError, TransportError
from m365bot.outlook.plans import Call, Plan

if TYPE_CHECKING:
    from m365bot.graph.client import GraphResponse
    from m365bot.sessions import Session

T = TypeVar("T")

SIMPLE_LIMIT = 3_000_000
"""Files under this many bytes are sent inline (base64 in JSON; Graph refuses a JSON body
over 4 MB, and base64 grows the bytes by a third)."""
INLINE_BUDGET = 2_500_000
"""At most this many bytes of small files ride in the request that creates the draft."""
MAX_SIZE = 150 * 1024 * 1024
"""Graph's limit for a message's attachments (upload sessions go up to 150 MB)."""
UPLOAD_FIELD = "attachments"

AttachmentSource = str | os.PathLike[str] | tuple[str, bytes] | tuple[str, str | os.PathLike[str]]
"""A path, ``(name, bytes)`` or ``(name, path)``."""

_RESERVED = frozenset({"", ".", ".."})


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """One checked attachment: its ``name``, ``size``, and either ``path`` or ``data``."""

    name: str
    size: int
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def simple(self) -> bool:
        """True when it goes inline (JSON); False when it needs an upload session."""
        return self.size < SIMPLE_LIMIT

    def read(self) -> bytes:
        """The bytes of a small attachment (only simple ones are read whole)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def source(self) -> Path | IO[bytes]:
        """What the engine's ``upload`` reads from: the file's path (opened and closed by
        the engine), or a stream over the bytes."""
        return self.path if self.path is not None else io.BytesIO(self.data or b"")

    def to_graph(self) -> dict[str, Any]:
        """The JSON ``fileAttachment`` of a small attachment."""
        return {"@odata.type": "#microsoft.graph.fileAttachment", "name": self.name,
                "contentType": self.content_type,
                "contentBytes": base64.b64encode(self.read()).decode("ascii")}

    def session_body(self) -> dict[str, Any]:
        """The body of ``createUploadSession`` for a large attachment."""
        return {"AttachmentItem": {"attachmentType": "file", "name": self.name,
                                   "size": self.size, "contentType": self.content_type}}


def check_name(name: str, *, field: str = UPLOAD_FIELD) -> str:
    """An attachment name that is a plain file name, or ConfigError.

    Example::

        check_name("report.pdf")        # 'report.pdf'
        check_name("../../etc/passwd")  # ConfigError: not a plain file name
    """
    if not isinstance(name, str) or name.strip() in _RESERVED or name != name.strip() \
            or "/" in name or "\\" in name or any(ord(c) < 32 or c == "\x7f" for c in name) \
            or len(name) > 255:
        shown = repr(name)[:80]
        raise ConfigError(f"{field}: the attachment name {shown} is not a plain file name",
                          field=field, advice="give a name without folders, '..', control "
                          "characters or surrounding spaces, at most 255 characters "
                          "(e.g. 'report.pdf')")
    return name


def _too_big(what: str, size: int, field: str) -> ConfigError:
    return ConfigError(f"{field}: {what} is {size:,} bytes, over Graph's limit of "
                       f"{MAX_SIZE:,} bytes (150 MB) for a message's attachments",
                       field=field, advice="send a link to the file (OneDrive or SharePoint) "
                       "instead, or split it over several messages")


def _from_path(name: str | None, raw: str | os.PathLike[str], missing: str,
               field: str) -> AttachmentSpec | None:
    path = Path(raw)
    try:
        st = path.stat()
    except FileNotFoundError:
        if missing == "skip":
            return None
        raise ConfigError(f"{field}: the file {str(path)!r} does not exist", field=field,
                          advice="check the path, or send without the files that are "
                          "missing (missing_attachments='skip'; on the command line "
                          "--skip-missing)") from None
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {str(path)!r}: {exc.strerror}", field=field,
                          advice="check the path and its permissions") from None
    if not path.is_file():
        raise ConfigError(f"{field}: {str(path)!r} is not a file", field=field,
                          advice="attach files, not folders")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{field}: cannot read {str(path)!r}", field=field,
                          advice="check the file's permissions")
    if st.st_size > MAX_SIZE:
        raise _too_big(repr(path.name), st.st_size, field)
    return AttachmentSpec(name=check_name(name if name is not None else path.name, field=field),
                          size=st.st_size, path=path)


def check_attachments(items: Iterable[AttachmentSource] | None, *, missing: str = "fail",
                      field: str = UPLOAD_FIELD) -> tuple[list[AttachmentSpec], list[str]]:
    """Checked attachments and the paths skipped as missing (``missing="skip"``); ConfigError
    for a missing file (``missing="fail"``), a folder, a bad name, or more than 150 MB.

    Example::

        specs, skipped = check_attachments(["a.pdf", ("b.txt", b"x")], missing="skip")
    """
    if missing not in ("fail", "skip"):
        raise ConfigError(f"missing_attachments must be 'fail' or 'skip', not {missing!r}",
                          field="missing_attachments", advice="use 'fail' or 'skip'")
    if items is None:
        return [], []
    if isinstance(items, str | os.PathLike) or (
            isinstance(items, tuple) and len(items) == 2 and isinstance(items[1], bytes)):
        items = [items]  # type: ignore[list-item]
    specs: list[AttachmentSpec] = []
    skipped: list[str] = []
    for item in items:
        spec: AttachmentSpec | None
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, content = item
            if isinstance(content, bytes | bytearray):
                if len(content) > MAX_SIZE:
                    raise _too_big(repr(name), len(content), field)
                spec = AttachmentSpec(name=check_name(name, field=field), size=len(content),
                                      data=bytes(content))
            elif isinstance(content, str | os.PathLike):
                spec = _from_path(name, content, missing, field)
                if spec is None:
                    skipped.append(str(content))
            else:
                raise ConfigError(f"{field}: ({name!r}, ...) needs bytes or a path",
                                  field=field, advice="pass (name, bytes) or (name, path)")
        elif isinstance(item, str | os.PathLike):
            spec = _from_path(None, item, missing, field)
            if spec is None:
                skipped.append(str(item))
        else:
            raise ConfigError(f"{field}: expected a path, (name, bytes) or (name, path), got "
                              f"{type(item).__name__}", field=field,
                              advice="pass file paths or (name, bytes) pairs")
        if spec is not None:
            specs.append(spec)
    total = sum(s.size for s in specs)
    if total > MAX_SIZE:
        raise _too_big("the attachments' total", total, field)
    return specs, skipped


@dataclass(frozen=True, slots=True)
class AttachmentPlan:
    """How each attachment reaches the draft: ``inline`` (in the create request), ``posted``
    (one POST each) or ``sessions`` (an upload session each)."""

    inline: tuple[AttachmentSpec, ...] = ()
    posted: tuple[AttachmentSpec, ...] = ()
    sessions: tuple[AttachmentSpec, ...] = ()

    @property
    def after_create(self) -> tuple[AttachmentSpec, ...]:
        return self.posted + self.sessions


def attachment_plan(specs: Sequence[AttachmentSpec], *,
                    inline_budget: int = INLINE_BUDGET) -> AttachmentPlan:
    """Split checked attachments by how they are sent (no I/O).

    Example::

        attachment_plan(specs).sessions     # the ones of 3 MB or more
    """
    inline: list[AttachmentSpec] = []
    posted: list[AttachmentSpec] = []
    budget = inline_budget
    for spec in specs:
        if not spec.simple:
            continue
        if spec.size <= budget:
            inline.append(spec)
            budget -= spec.size
        else:
            posted.append(spec)
    return AttachmentPlan(tuple(inline), tuple(posted),
                          tuple(s for s in specs if not s.simple))


# -- the steps that add attachments to a draft (run by outlook.send's runner) -------------------


@dataclass(frozen=True, slots=True)
class GuardedCall(Call):
    """A POST the engine may resend after a 503/504 or a dropped connection, because a
    duplicate is harmless (an upload session that is never used adds nothing)."""

    guarded: bool = True


@dataclass(frozen=True, slots=True)
class UploadStep:
    """Send ``spec``'s bytes to an upload session's ``url`` in chunks (the engine's
    ``upload``, which resumes from ``nextExpectedRanges``); ``mailbox`` counts the chunks
    against that mailbox's limits."""

    url: str = field(repr=False)  # the URL authenticates the upload: never shown
    spec: AttachmentSpec
    mailbox: str

    def run(self, session: Session) -> GraphResponse:
        """Upload on the session's sync engine."""
        return session.graph.upload(self.url, self.spec.source(), size=self.spec.size,
                                    mailbox=self.mailbox)

    async def arun(self, session: Session) -> GraphResponse:
        """Upload on the session's async engine."""
        return await session.agraph.upload(self.url, self.spec.source(), size=self.spec.size,
                                           mailbox=self.mailbox)




# How many times in all a write whose answer was lost is sent, each retry only after a check
# showed it was not carried out: two misses in a row are common under a 10% 503 rate, four
# are not (the engine does not retry these writes itself: it cannot check).
CHECKED_TRIES = 4


def ambiguous(exc: BaseException) -> bool:
    """True when a write may have been carried out although its answer was lost: no answer
    (timeout, reset), a 5xx, throttling past the budget, or a 404 after the engine resent
    it (the first attempt consumed the draft)."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, GraphError) and (exc.status in (0, 429, 500, 502, 503, 504)
                                            or isinstance(exc, NotFoundError))


def _arrived(base: str, name: str, needed: int) -> Plan[bool]:
    """True when the draft holds at least ``needed`` attachments named ``name``."""
    answer = yield Call("GET", base, params={"$select": "name", "$top": 999})
    found = [a for a in (answer.body or {}).get("value") or [] if a.get("name") == name]
    return len(found) >= needed


def _post(base: str, spec: AttachmentSpec, needed: int) -> Plan[None]:
    """POST one small attachment; after a lost answer it is posted again (at most
    :data:`CHECKED_TRIES` times in all) only when the draft does not hold it yet."""
    for attempt in range(1, CHECKED_TRIES + 1):
        try:
            yield Call("POST", base, json=spec.to_graph())
            return
        except M365BotError as exc:
            if not ambiguous(exc) or attempt == CHECKED_TRIES:
                raise
        if (yield from _arrived(base, spec.name, needed)):
            return


def add_attachments(box: str, draft_id: str, plan: AttachmentPlan,
                    mailbox: str) -> Plan[None]:
    """Add the attachments that did not ride in the create request to draft ``draft_id``:
    one POST per small file, an upload session per large one. A POST or an upload whose
    answer was lost is checked (is the attachment on the draft?) before it is sent again,
    so no attachment arrives twice.

    Example::

        yield from add_attachments("/users/a@b.com", draft_id, attachment_plan(specs), "a@b.com")
    """
    base = f"{box}/messages/{draft_id}/attachments"
    counts: dict[str, int] = {}
    for spec in plan.inline:
        counts[spec.name] = counts.get(spec.name, 0) + 1
    for spec in plan.posted:
        counts[spec.name] = counts.get(spec.name, 0) + 1
        yield from _post(base, spec, counts[spec.name])
    for spec in plan.sessions:
        counts[spec.name] = counts.get(spec.name, 0) + 1
        answer = yield GuardedCall("POST", base + "/createUploadSession",
                                   json=spec.session_body())
        url = str((answer.body or {}).get("uploadUrl") or "")
        if not url:
            raise GraphError("Graph gave no upload URL for the attachment", status=answer.status,
                             code="ErrorNoUploadUrl", advice="retry the send")
        try:
            yield UploadStep(url, spec, mailbox)
        except M365BotError as exc:
            # the last chunk may have arrived although its answer was lost
            if not ambiguous(exc) or not (yield from _arrived(base, spec.name,
                                                              counts[spec.name])):
                raise


__all__ = ["CHECKED_TRIES", "INLINE_BUDGET", "MAX_SIZE", "SIMPLE_LIMIT", "AttachmentPlan",
           "AttachmentSource", "AttachmentSpec", "GuardedCall", "UploadStep",
           "add_attachments", "ambiguous", "attachment_plan", "check_attachments", "check_name"]
