"""Large attachments (3-150 MB): ``createUploadSession`` on Graph, then chunked ``PUT``s to
the Outlook upload host (identity-and-graph-facts.md §2.2).

* ``POST .../messages/{id}/attachments/createUploadSession`` with ``{"AttachmentItem": {...}}``
  (keys case-insensitive) → 201 ``uploadSession`` whose ``uploadUrl`` is on the cloud's upload
  host in proxy mode (``https://outlook.office.com/api/v2.0/Users('…')/Messages('…')/
  AttachmentSessions('…')?authtoken=…``) or on ``https://127.0.0.1:PORT`` in direct mode.
* ``PUT {uploadUrl}`` with ``Content-Range: bytes a-b/total`` and no ``Authorization`` header
  (the URL's authtoken authenticates; a bearer token there is answered 401, since Outlook's
  upload host does not accept Graph tokens). Chunks must be sequential and under 4 MiB.
  Intermediate chunks → 200 with PascalCase ``ExpirationDateTime``/``NextExpectedRanges``;
  the last → 201 with ``Location`` of the new attachment.
* ``DELETE {uploadUrl}`` cancels (204). An expired or unknown session is 404.

Sessions live in memory only (never persisted): an upload URL is a bearer secret.

Example::

    routes = upload_routes(emu)   # mounted by graph/routes.py
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from m365bot.emulator import hosts
from m365bot.emulator.graph import attachstore as store
from m365bot.emulator.graph import store as mailstore
from m365bot.emulator.graph.attachments import MESSAGE_PREFIXES
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.graph.mailflow import check_quota
from m365bot.emulator.graph.messages import find_in_scope
from m365bot.emulator.graph.scoped import Ctx, endpoint, json_body, json_response

log = logging.getLogger(__name__)

MIN_SIZE = 2 * 1024 * 1024  # Outlook refuses sessions below this (observed, see report)
MAX_SIZE = 150 * 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024
SESSION_LIFETIME = 6 * 3600.0
_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.IGNORECASE)
_PATH_RE = re.compile(
    r"^/api/v2\.0/Users\('([^']+)'\)/Messages\('([^']+)'\)/AttachmentSessions\('([^']+)'\)/?$",
    re.IGNORECASE,
)


@dataclass
class UploadSession:
    id: str
    token: str
    mailbox: str
    user_id: str
    message_id: str
    app_id: str | None
    name: str
    size: int
    content_type: str | None
    is_inline: bool
    expires: float
    data: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_ranges(self) -> list[str]:
        """Outlook names the next start offset only (``["2097152"]``, facts §2.2); the
        session's creation reply says ``["0-"]``."""
        return [str(len(self.data))]


class UploadSessions:
    """In-memory upload sessions of one emulator (thread-safe)."""

    def __init__(self) -> None:
        self._by_id: dict[str, UploadSession] = {}
        self._lock = threading.Lock()

    def add(self, session: UploadSession) -> None:
        with self._lock:
            self._by_id[session.id.lower()] = session

    def get(self, session_id: str, now: float) -> UploadSession | None:
        with self._lock:
            session = self._by_id.get(session_id.lower())
            if session is not None and session.expires <= now:
                del self._by_id[session_id.lower()]
                return None
            return session

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id.lower(), None)

    def __len__(self) -> int:
        return len(self._by_id)


def _not_found() -> GraphHTTPError:
    return GraphHTTPError(404, "ErrorItemNotFound",
                          "The upload session was not found or has expired.", inner=False)


def _parse_item(body: Any) -> dict[str, Any]:
    """``AttachmentItem`` with lower-cased keys, validated."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object with 'AttachmentItem'.")
    lowered = {str(k).lower(): v for k, v in body.items()}
    item = lowered.get("attachmentitem")
    if not isinstance(item, dict):
        raise bad_request("The parameter 'AttachmentItem' is missing in the request body.")
    item = {str(k).lower(): v for k, v in item.items()}
    known = {"attachmenttype", "name", "size", "contenttype", "isinline", "contentid"}
    unknown = sorted(set(item) - known)
    if unknown:
        raise bad_request(f"The property '{unknown[0]}' does not exist on type "
                          "'microsoft.graph.attachmentItem'.")
    kind = str(item.get("attachmenttype") or "file").lower()
    if kind != "file":
        raise bad_request("Upload sessions support only attachmentType 'file'.")
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        raise bad_request("The property 'name' of 'AttachmentItem' is required.")
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise bad_request("The property 'size' of 'AttachmentItem' must be a whole number of "
                          "bytes.")
    if size > MAX_SIZE:
        raise GraphHTTPError(413, "ErrorMessageSizeExceeded",
                             "The message exceeds the maximum supported size.", inner=False)
    if size < MIN_SIZE:
        raise GraphHTTPError(
            400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size should not be less than the minimum size (use POST "
            ".../attachments for attachments under 3 MB).", inner=False)
    for name in ("contenttype", "contentid"):
        if item.get(name) is not None and not isinstance(item[name], str):
            raise bad_request(f"The property '{name}' of 'AttachmentItem' must be a string.")
    if item.get("isinline") is not None and not isinstance(item["isinline"], bool):
        raise bad_request("The property 'isInline' of 'AttachmentItem' must be true or false.")
    return item


def _upload_origin(request: Request, cloud: str | None) -> str:
    meta = request.scope.get("m365bot") or {}
    if meta.get("mode") == "proxy" or hosts.lookup(request.headers.get("host", "")):
        name = cloud if cloud in hosts.UPLOAD_HOST else "global"
        return f"https://{hosts.UPLOAD_HOST[name]}"  # type: ignore[index]
    return f"https://{request.headers.get('host') or '127.0.0.1'}"


async def create_session(ctx: Ctx) -> Response:
    """``POST …/messages/{id}/attachments/createUploadSession`` → 201 ``uploadSession``."""
    item = _parse_item(await json_body(ctx.request))
    sessions: UploadSessions = ctx.emu.upload_sessions
    message = find_in_scope(ctx)
    attached = sum(int(a.props.get("size") or 0) for a in message.attachments)
    if attached + item["size"] > MAX_SIZE:  # the limit is per message, not per file
        raise GraphHTTPError(413, "ErrorMessageSizeExceeded",
                             "The message exceeds the maximum supported size.", inner=False)
    check_quota(ctx.mailbox, item["size"])
    now = ctx.emu.clock.now()
    session = UploadSession(
        id=str(uuid.uuid4()), token=secrets.token_urlsafe(32),
        mailbox=ctx.mailbox.address, user_id=ctx.mailbox.id, message_id=message.id,
        app_id=ctx.principal.app_id, name=item["name"], size=item["size"],
        content_type=item.get("contenttype"), is_inline=bool(item.get("isinline")),
        expires=now + SESSION_LIFETIME,
    )
    sessions.add(session)
    meta = ctx.request.scope.get("m365bot") or {}
    origin = _upload_origin(ctx.request, meta.get("cloud"))
    url = (f"{origin}/api/v2.0/Users('{session.user_id}')/Messages('{message.id}')"
           f"/AttachmentSessions('{session.id}')?authtoken={session.token}")
    log.info("upload session created for a message in %s (%d bytes)",
             ctx.mailbox.address, session.size)
    return json_response({
        "@odata.context": ctx.context_url("microsoft.graph.uploadSession"),
        "uploadUrl": url,
        "expirationDateTime": store.iso(session.expires),
        "nextExpectedRanges": ["0-"],
    }, status=201)


class UploadHost:
    """The upload host's session URLs (``PUT`` a chunk, ``DELETE`` to cancel): the URL's
    authtoken authenticates, so these requests skip Graph's pipeline (see module docs)."""

    def __init__(self, emu: Any, sessions: UploadSessions) -> None:
        self.emu = emu
        self.sessions = sessions

    def session_for(self, request: Request) -> UploadSession:
        match = _PATH_RE.match(request.url.path)
        if match is None:
            raise GraphHTTPError(404, "ResourceNotFound",
                                 "The resource is not an attachment upload session.", inner=False)
        if request.headers.get("authorization"):
            raise GraphHTTPError(
                401, "InvalidAudience",
                "The upload URL is pre-authenticated: send no Authorization header.",
                headers={"WWW-Authenticate": 'Bearer realm=""'}, inner=False)
        session = self.sessions.get(match.group(3), self.emu.clock.now())
        token = request.query_params.get("authtoken") or ""
        if session is None or session.message_id.lower() != match.group(2).lower():
            raise _not_found()
        if not hmac.compare_digest(token.encode(), session.token.encode()):
            raise GraphHTTPError(401, "InvalidAuthenticationToken",
                                 "The authtoken in the upload URL is not valid.", inner=False)
        return session

    async def endpoint(self, request: Request) -> Response:
        session = self.session_for(request)
        if request.method == "DELETE":
            self.sessions.remove(session.id)
            log.info("upload session cancelled for %s", session.mailbox)
            return Response(status_code=204)
        if request.method != "PUT":
            raise GraphHTTPError(405, "ErrorInvalidRequest",
                                 "Use PUT to upload a chunk or DELETE to cancel.", inner=False)
        chunk = await _read_chunk(request)

        async def call() -> Response:
            return _put_chunk(self.emu, request, self.sessions, session, chunk)

        response: Response = await self.emu.control.run(
            op="uploadSession.put", request=request, app_id=session.app_id,
            mailbox=session.mailbox, upload_bytes=len(chunk), call=call,
        )
        return response


def upload_routes(emu: Any) -> list[BaseRoute]:
    """Routes for createUploadSession (Graph) and the upload host's session URLs.

    Example::

        app = Starlette(routes=upload_routes(emu))   # also sets emu.upload_sessions
    """
    sessions = UploadSessions()
    emu.upload_sessions = sessions  # for inspection by tests and the control API
    create = endpoint(emu, "uploadSession.create", "mail.write", create_session)
    routes: list[BaseRoute] = [
        Route(prefix + "/attachments/createUploadSession", create, methods=["POST"])
        for prefix in MESSAGE_PREFIXES
    ]
    routes.append(Route("/api/v2.0/{rest:path}", UploadHost(emu, sessions).endpoint,
                        methods=["PUT", "DELETE", "GET", "POST", "PATCH"]))
    return routes


async def _read_chunk(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    valid = declared is None or (declared.isascii() and declared.isdigit())
    if not valid or (declared is not None and int(declared) > MAX_CHUNK):
        raise GraphHTTPError(413, "ErrorRequestEntityTooLarge",
                             f"Each chunk must be at most {MAX_CHUNK} bytes (4 MiB).",
                             inner=False)
    buf = bytearray()
    async for part in request.stream():
        buf += part
        if len(buf) > MAX_CHUNK:
            raise GraphHTTPError(413, "ErrorRequestEntityTooLarge",
                                 f"Each chunk must be at most {MAX_CHUNK} bytes (4 MiB).",
                                 inner=False)
    return bytes(buf)


def _range_error(session: UploadSession, status: int, message: str) -> Response:
    return json_response({
        "error": {"code": "ErrorInvalidRange" if status == 416 else "ErrorInvalidRequest",
                  "message": message},
        "NextExpectedRanges": session.next_ranges(),
    }, status=status)


def _put_chunk(emu: Any, request: Request, sessions: UploadSessions, session: UploadSession,
               chunk: bytes) -> Response:
    header = request.headers.get("content-range")
    m = _RANGE_RE.match(header or "")
    if m is None:
        return _range_error(session, 400, "The Content-Range header is missing or malformed; "
                            "send 'Content-Range: bytes {start}-{end}/{total}'.")
    start, end, total = (int(g) for g in m.groups())
    if total != session.size:
        return _range_error(session, 400, f"The total in Content-Range ({total}) does not "
                            f"match the session's declared size ({session.size}).")
    if end < start or end >= total:
        return _range_error(session, 400, "The Content-Range end is before its start or "
                            "beyond the declared size.")
    if end - start + 1 != len(chunk):
        return _range_error(session, 400, f"The body has {len(chunk)} bytes but Content-Range "
                            f"names {end - start + 1}.")
    with session.lock:
        if start != len(session.data):
            return _range_error(session, 416, f"The chunk starts at byte {start}; the next "
                                f"expected start is byte {len(session.data)}. Upload chunks in "
                                "order.")
        session.data += chunk
        now = emu.clock.now()
        session.expires = now + SESSION_LIFETIME
        if len(session.data) < session.size:
            origin = f"https://{request.headers.get('host') or 'outlook.office.com'}"
            return json_response({
                "@odata.context": f"{origin}/api/v2.0/$metadata#Users('{session.user_id}')"
                                  f"/Messages('{session.message_id}')/AttachmentSessions/$entity",
                "ExpirationDateTime": store.iso(session.expires),
                "NextExpectedRanges": session.next_ranges(),
            })
        return _finish(emu, request, sessions, session, now)


def _finish(emu: Any, request: Request, sessions: UploadSessions, session: UploadSession,
            now: float) -> Response:
    sessions.remove(session.id)
    with emu.state.lock:
        box = emu.state.mailbox(session.mailbox)
        if box is None:
            raise _not_found()
        message = mailstore.find_message(box, session.message_id)
        check_quota(box, session.size)
        att = store.new_file_attachment(session.name, bytes(session.data), session.content_type,
                                        session.is_inline, now)
        message.attachments.append(att)
        store.sync_has_attachments(message)
        mailstore.touch(message, now, emu.state.next_seq())
    origin = f"https://{request.headers.get('host') or '127.0.0.1'}"
    location = (f"{origin}/api/v2.0/Users('{session.user_id}')/Messages('{message.id}')"
                f"/Attachments('{att.id}')")
    log.info("upload session completed: %d bytes attached in %s", session.size, session.mailbox)
    return Response(status_code=201, headers={"Location": location})
