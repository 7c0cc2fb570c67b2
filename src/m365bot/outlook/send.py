"""Send, reply, reply all and forward, each at most once.

Every message goes out the same way: create a draft, add the attachments, send the draft.

1. **Create the draft** (``POST messages``, or ``createReply`` / ``createReplyAll`` /
   ``createForward``) carrying a unique ``internetMessageId`` (the *marker*). If the answer
   is lost (or is a 429, which Outlook can send for a create it carried out), the marker
   finds the draft, so a retried create makes no second draft (up to four creates in all,
   each after a look-up that found none).
2. **Add the attachments** (:mod:`m365bot.outlook.upload`): small ones inline, large ones
   through an upload session. Each lost answer is checked before anything is sent again.
3. **Send the draft once** (``POST messages/{id}/send``; the engine never resends it
   blindly). If the answer is lost (a timeout, a reset, a 5xx, a 404 after a resend), the
   draft is checked: gone from Drafts, or no longer a draft, means it went out; still a
   draft means it did not, and it is sent once more (Graph sends a draft only once: a
   second send of a sent draft is a 404), up to four sends in all. After the last loss it is
   deleted: deleted means not sent, already gone means sent. A check that cannot be made reports
   ``"unknown: check Sent Items"``, never a silent duplicate.

``save_to_sent_items=False`` sets the draft's PidTagDeleteAfterSubmit (MS-OXOMSG 2.2.3.8),
so Exchange deletes it once sent and keeps no copy: the check then reads "draft gone" as sent.

The planning (checking the input, building the requests) does no I/O and is shared by the
sync class :class:`MailSend` (``session.mail``) and the async :class:`AsyncMailSend`
(``session.aio.mail``).

Example::

    r = session.mail.send(to="bob@contoso.com; ann@contoso.com", subject="Report",
                          body="<b>Attached</b>", html=True, attachments=["report.pdf"])
    r.status                    # 'sent'
    session.mail.reply(mid, comment="Thanks!")
    session.mail.forward(mid, to="carol@contoso.com", comment="FYI")
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from m365bot.errors import ConfigError, M365BotError, NotFoundError
from m365bot.graph.core import error_from, mailbox_path
from m365bot.outlook.addresses import Addresses, parse_addresses, parse_mailbox
from m365bot.outlook.models import NOT_SENT, SENT, UNKNOWN, Email, EmailAddress, SendResult
from m365bot.outlook.plans import Call, Plan, arun, run
from m365bot.outlook.upload import (
    CHECKED_TRIES,
    AttachmentPlan,
    AttachmentSource,
    GuardedCall,
    add_attachments,
    ambiguous,
    attachment_plan,
    check_attachments,
)

if TYPE_CHECKING:
    from m365bot.outlook.session import OutlookSession

log = logging.getLogger(__name__)
T = TypeVar("T")

IMPORTANCE = ("low", "normal", "high")
SEND_AS = ("send_as", "send_on_behalf")
# PidTagDeleteAfterSubmit (MS-OXOMSG 2.2.3.8): "deleted after the message is sent"
DELETE_AFTER_SUBMIT = {"id": "Boolean 0x0E01", "value": "true"}
_ID = re.compile(r"^[A-Za-z0-9=_-]{1,1024}$")  # Graph ids are URL-safe base64


class SendError(M365BotError):
    """A send that did not plainly go out: ``result.status`` is ``"not sent"`` (nothing went
    out) or ``"unknown: check Sent Items"`` (the answer was lost and could not be checked).
    The cause is chained (``__cause__``).

    Example::

        try:
            session.mail.send(to="bob@contoso.com", subject="Hi", body="...")
        except SendError as exc:
            print(exc.result.status, exc.result.internet_message_id)
    """

    def __init__(self, message: str, *, result: SendResult, advice: str = "") -> None:
        super().__init__(message, advice=advice)
        self.result = result


# -- planning (no I/O) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything a send needs, checked: the mailbox the draft lives in (``box`` path and
    ``mailbox`` address), the request that creates it, its ``marker``, the attachments, and
    for replies the recipients to add or leave out once the draft exists."""

    kind: str
    box: str
    mailbox: str
    create: Call
    marker: str
    attachments: AttachmentPlan
    save: bool = True
    skipped: tuple[str, ...] = ()
    add_cc: tuple[EmailAddress, ...] = ()
    add_bcc: tuple[EmailAddress, ...] = ()
    exclude_sender_of: str | None = None  # the original's id (reply all without its sender)
    extra: dict[str, Any] = field(default_factory=dict)


def new_marker(address: str) -> str:
    """A unique ``internetMessageId`` for a new message from ``address``.

    Example::

        new_marker("ops@contoso.com")   # '<m365bot.3f2a...@contoso.com>'
    """
    domain = address.rsplit("@", 1)[1] if "@" in address else "m365bot.invalid"
    return f"<m365bot.{uuid.uuid4().hex}@{domain}>"


def _body(body: str | None, html: bool, body_type: str | None, field_: str) -> dict[str, str]:
    if body is not None and not isinstance(body, str):
        raise ConfigError(f"{field_} must be text", field=field_,
                          advice="pass the body as a str (read a file with Path.read_text())")
    kind = "html" if html else "text"
    if body_type is not None:
        wanted = str(body_type).lower()
        if wanted not in ("text", "html") or (html and wanted == "text"):
            raise ConfigError(f"body_type must be 'text' or 'html', not {body_type!r}",
                              field="body_type", advice="use body_type='html' (or html=True) "
                              "for an HTML body, 'text' otherwise")
        kind = wanted
    return {"contentType": kind, "content": body or ""}


def _importance(value: str | None) -> str | None:
    if value is None:
        return None
    if str(value).lower() not in IMPORTANCE:
        raise ConfigError(f"importance must be low, normal or high, not {value!r}",
                          field="importance", advice="use 'low', 'normal' or 'high'")
    return str(value).lower()


def _recipients(addresses: Iterable[EmailAddress]) -> list[dict[str, Any]]:
    return [a.to_graph() for a in addresses]


def message_ref(message: str | Email, *, field: str = "message_id") -> str:
    """The id of a message given as an id or an :class:`Email`, checked (URL-safe base64).

    Example::

        message_ref(email)       # its id
        message_ref("a/b c")     # ConfigError: not a message id
    """
    mid = message.id if isinstance(message, Email) else message
    if not isinstance(mid, str) or not _ID.match(mid):
        shown = repr(mid)[:60]
        raise ConfigError(f"{field}: {shown} is not a message id", field=field,
                          advice="pass the id of an Email from session.mail (or the Email)")
    return mid


def _attachments(attachments: Iterable[AttachmentSource] | None,
                 missing: str) -> tuple[AttachmentPlan, tuple[str, ...]]:
    specs, skipped = check_attachments(attachments, missing=missing)
    return attachment_plan(specs), tuple(skipped)


def _draft_extras(save: bool) -> dict[str, Any]:
    return {} if save else {"singleValueExtendedProperties": [dict(DELETE_AFTER_SUBMIT)]}


def plan_send(session_mailbox: str, *, to: Addresses, cc: Addresses = None,
              bcc: Addresses = None, reply_to: Addresses = None, subject: str = "",
              body: str | None = None, html: bool = False, body_type: str | None = None,
              importance: str | None = None,
              attachments: Iterable[AttachmentSource] | None = None,
              from_mailbox: str | None = None, send_as: str = "send_as",
              save_to_sent_items: bool = True,
              missing_attachments: str = "fail") -> Outgoing:
    """Check a new message and plan its requests (no I/O); ConfigError names the field.

    Example::

        out = plan_send("a@contoso.com", to="b@contoso.com", subject="Hi", body="Hello")
        out.create.path        # '/users/a@contoso.com/messages'
    """
    recipients = {name: parse_addresses(value, field=name)
                  for name, value in (("to", to), ("cc", cc), ("bcc", bcc))}
    if not any(recipients.values()):
        raise ConfigError("to: no recipient given", field="to",
                          advice="give at least one address in to, cc or bcc")
    replies = parse_addresses(reply_to, field="reply_to")
    if subject is not None and not isinstance(subject, str):
        raise ConfigError("subject must be text", field="subject", advice="pass a str")
    if send_as not in SEND_AS:
        raise ConfigError(f"send_as must be 'send_as' or 'send_on_behalf', not {send_as!r}",
                          field="send_as", advice="'send_as' sends as the shared mailbox, "
                          "'send_on_behalf' sends on its behalf (from it, by you)")
    message: dict[str, Any] = {
        "subject": subject or "",
        "body": _body(body, html, body_type, "body"),
        "toRecipients": _recipients(recipients["to"]),
        "ccRecipients": _recipients(recipients["cc"]),
        "bccRecipients": _recipients(recipients["bcc"]),
    }
    if replies:
        message["replyTo"] = _recipients(replies)
    level = _importance(importance)
    if level:
        message["importance"] = level
    owner = session_mailbox
    if from_mailbox:
        shared = parse_mailbox(from_mailbox, field="from_mailbox")
        if shared.lower() != session_mailbox.lower():
            if send_as == "send_as":
                owner = shared  # the draft lives in the shared mailbox, sent as it
            else:
                message["from"] = EmailAddress(shared).to_graph()
    plan, skipped = _attachments(attachments, missing_attachments)
    marker = new_marker(message.get("from", {}).get("emailAddress", {}).get("address")
                        or owner)
    message["internetMessageId"] = marker
    message.update(_draft_extras(save_to_sent_items))
    if plan.inline:
        message["attachments"] = [spec.to_graph() for spec in plan.inline]
    box = mailbox_path(owner)
    return Outgoing("send", box, owner, Call("POST", f"{box}/messages", json=message), marker,
                    plan, save_to_sent_items, skipped)


_CREATE = {"reply": "createReply", "replyAll": "createReplyAll", "forward": "createForward"}


def plan_reply(session_mailbox: str, message: str | Email, kind: str, *,
               comment: str | None = None, body: str | None = None, html: bool = False,
               to: Addresses = None, cc: Addresses = None, bcc: Addresses = None,
               attachments: Iterable[AttachmentSource] | None = None,
               exclude_sender: bool = False, save_to_sent_items: bool = True,
               missing_attachments: str = "fail") -> Outgoing:
    """Check a reply (``kind`` "reply" or "replyAll") or a forward ("forward") and plan its
    requests (no I/O). ``comment`` goes above the quoted original; ``body`` replaces the
    whole body (give one of them at most).

    Example::

        plan_reply("a@contoso.com", mid, "forward", to="c@contoso.com", comment="FYI")
    """
    mid = message_ref(message)
    if comment is not None and body is not None:
        raise ConfigError("give comment or body, not both", field="body",
                          advice="comment goes above the quoted original; body replaces "
                          "the whole message body")
    if comment is not None and not isinstance(comment, str):
        raise ConfigError("comment must be text", field="comment", advice="pass a str")
    recipients = parse_addresses(to, field="to")
    if kind == "forward" and not recipients:
        raise ConfigError("to: no recipient to forward to", field="to",
                          advice="give at least one address in to")
    extra_cc = parse_addresses(cc, field="cc")
    extra_bcc = parse_addresses(bcc, field="bcc")
    plan, skipped = _attachments(attachments, missing_attachments)
    marker = new_marker(session_mailbox)
    draft: dict[str, Any] = {"internetMessageId": marker, **_draft_extras(save_to_sent_items)}
    if body is not None:
        draft["body"] = _body(body, html, None, "body")
    # the create actions' message parameter is not documented to take attachments: each
    # small file gets its own POST once the draft exists
    plan = AttachmentPlan((), plan.inline + plan.posted, plan.sessions)
    args: dict[str, Any] = {"message": draft}
    if comment:
        args["comment"] = comment
    if recipients:
        args["toRecipients"] = _recipients(recipients)
    box = mailbox_path(session_mailbox)
    create = Call("POST", f"{box}/messages/{mid}/{_CREATE[kind]}", json=args)
    return Outgoing(kind, box, session_mailbox, create, marker, plan, save_to_sent_items,
                    skipped, add_cc=extra_cc, add_bcc=extra_bcc,
                    exclude_sender_of=mid if exclude_sender else None)


# -- the delivery (a plan: yields requests, no I/O of its own) --------------------------------


_THROTTLED = frozenset({429})


def _find(out: Outgoing) -> Plan[list[dict[str, Any]]]:
    """The messages of the mailbox that carry the marker (the draft, or the sent copy)."""
    answer = yield Call("GET", f"{out.box}/messages", params={
        "$filter": f"internetMessageId eq '{out.marker}'", "$select": "id,isDraft"})
    return list((answer.body or {}).get("value") or [])


def _create(out: Outgoing) -> Plan[dict[str, Any]]:
    """The draft (Graph's JSON); a lost answer is looked up by the marker before the
    create is sent once more. A 429 counts as lost: Outlook can answer 429 to a create it
    carried out, so the engine hands it back instead of sending a second create (which
    would leave the first draft behind, unsent)."""
    for attempt in range(1, CHECKED_TRIES + 1):
        try:
            answer = yield replace(out.create, accept=_THROTTLED)
            if answer.status != 429:
                return dict(answer.body or {})
            if attempt == CHECKED_TRIES:
                raise error_from(429, answer.body, answer.headers)
            log.info("the create answered 429; looking for the draft before creating it again")
        except M365BotError as exc:
            if not ambiguous(exc) or isinstance(exc, NotFoundError) or attempt == CHECKED_TRIES:
                raise
        found = [m for m in (yield from _find(out)) if m.get("isDraft")]
        if found:
            log.info("the draft was created although the answer was lost; using it")
            answer = yield Call("GET", f"{out.box}/messages/{found[0]['id']}", params={
                "$select": "id,toRecipients,ccRecipients,bccRecipients"})
            return dict(answer.body or {})
        log.info("the draft was not created; creating it once more")
    raise AssertionError("unreachable: the last attempt returns or raises")


def _senders(out: Outgoing) -> Plan[set[str]]:
    if out.exclude_sender_of is None:
        return set()
    answer = yield Call("GET", f"{out.box}/messages/{out.exclude_sender_of}",
                        params={"$select": "from,sender,replyTo"})
    original = Email.from_graph(answer.body or {})
    people = [original.from_, original.sender, *original.reply_to]
    return {p.address.lower() for p in people if p is not None and p.address}


def _fix_recipients(out: Outgoing, draft: dict[str, Any], drop: set[str]) -> Plan[None]:
    """Add cc/bcc and leave out the sender (reply all), on the created draft."""
    if not (out.add_cc or out.add_bcc or drop):
        return
    current = Email.from_graph(draft)
    lists = {"toRecipients": [a for a in current.to if a.address.lower() not in drop],
             "ccRecipients": [a for a in (*current.cc, *out.add_cc)
                              if a.address.lower() not in drop],
             "bccRecipients": [*current.bcc, *out.add_bcc]}
    if not any(lists.values()):
        raise ConfigError("exclude_sender: without the sender nobody is left to reply to",
                          field="exclude_sender", advice="use reply (to the sender) instead, "
                          "or add recipients with cc")
    yield GuardedCall("PATCH", f"{out.box}/messages/{draft['id']}",
                      json={k: _recipients(v) for k, v in lists.items()})


def _discard(out: Outgoing, draft_id: str) -> Plan[bool | None]:
    """Delete the draft: True when it was deleted (so it was never sent and never will be),
    False when it was already gone (it went out), None when that cannot be told."""
    try:
        yield Call("DELETE", f"{out.box}/messages/{draft_id}")
    except NotFoundError:
        return False
    except M365BotError:
        return None
    return True


def _state(out: Outgoing, draft_id: str) -> Plan[str]:
    """After a lost answer to a send: ``SENT``, ``"draft"`` (not sent) or ``UNKNOWN``."""
    try:
        answer = yield Call("GET", f"{out.box}/messages/{draft_id}",
                            params={"$select": "id,isDraft"})
    except NotFoundError:
        pass  # left Drafts: Graph moves a draft out when it sends it
    except M365BotError:
        return UNKNOWN
    else:
        return "draft" if (answer.body or {}).get("isDraft", True) else SENT
    try:
        found = yield from _find(out)
    except M365BotError:
        found = []
    if any(not m.get("isDraft") for m in found) or not out.save:
        return SENT  # the sent copy is there; or, with no copy kept, the draft's end is it
    return UNKNOWN   # gone, yet not in the mailbox: deleted by someone, or not filed yet


def _send_draft(out: Outgoing, draft_id: str) -> Plan[SendResult]:
    result = SendResult(status=SENT, mailbox=out.mailbox, internet_message_id=out.marker,
                        draft_id=draft_id, skipped=out.skipped)
    path = f"{out.box}/messages/{draft_id}/send"
    for attempt in range(1, CHECKED_TRIES + 1):
        result = replace(result, attempts=attempt)
        try:
            yield Call("POST", path)
            return result
        except M365BotError as exc:
            if not ambiguous(exc):
                yield from _discard(out, draft_id)
                raise SendError(f"not sent: {exc.message}", result=replace(
                    result, status=NOT_SENT, reason=exc.message),
                    advice=exc.advice or "fix the cause and send again") from exc
            state = yield from _state(out, draft_id)
            if state == SENT:
                return replace(result, reason="the answer was lost; the draft had been sent")
            if state == UNKNOWN:
                raise SendError(
                    f"{UNKNOWN}: the answer to the send was lost and the draft could not be "
                    f"checked ({exc.message})",
                    result=replace(result, status=UNKNOWN, reason=exc.message),
                    advice=f"look in Sent Items for internetMessageId {out.marker} before "
                    "sending again") from exc
            log.info("the send did not happen (still a draft); sending it once more")
    deleted = yield from _discard(out, draft_id)
    if deleted is False:
        return replace(result, reason="the answers were lost; the draft had been sent")
    status = NOT_SENT if deleted else UNKNOWN
    raise SendError(f"{status}: {CHECKED_TRIES} sends of the draft got no answer",
                    result=replace(result, status=status, reason="no answer to the send"),
                    advice="check the network and Graph's health, then send again"
                    if deleted else f"look in Sent Items for {out.marker} before sending again")


def deliver(out: Outgoing) -> Plan[SendResult]:
    """Create the draft, fix its recipients (replies), add the attachments, send it at most
    once. Errors before the send raise as they are (nothing was sent; the draft is removed).

    Example::

        result = run(session, deliver(plan_send(session.mailbox, to=..., ...)))
    """
    drop = yield from _senders(out)
    draft = yield from _create(out)
    draft_id = str(draft.get("id") or "")
    try:
        yield from _fix_recipients(out, draft, drop)
        yield from add_attachments(out.box, draft_id, out.attachments, out.mailbox)
    except M365BotError:
        yield from _discard(out, draft_id)
        raise
    result = yield from _send_draft(out, draft_id)
    log.info("%s %s from %s: %s after %d send request(s)", out.kind, out.marker, out.mailbox,
             result.status, result.attempts)
    return result


class MailSend:
    """Send, reply, reply all and forward on ``session.mail`` (mixed into its class).

    Example::

        session.mail.send(to="bob@contoso.com", subject="Hi", body="Hello")
    """

    _session: OutlookSession

    def __init__(self, session: OutlookSession) -> None:
        self._session = session

    def send(self, *, to: Addresses = None, cc: Addresses = None, bcc: Addresses = None,
             reply_to: Addresses = None, subject: str = "", body: str | None = None,
             html: bool = False, body_type: str | None = None, importance: str | None = None,
             attachments: Iterable[AttachmentSource] | None = None,
             from_mailbox: str | None = None, send_as: str = "send_as",
             save_to_sent_items: bool = True, missing_attachments: str = "fail") -> SendResult:
        """Send a new message at most once; see the module's docstring. ConfigError (before
        any request) for bad input; SendError when it is not plainly sent.

        ``from_mailbox`` sends from a shared mailbox: ``send_as="send_as"`` as the mailbox
        itself (the draft is made there, and its Sent Items keep the copy), or
        ``"send_on_behalf"`` on its behalf (``from`` is the mailbox, ``sender`` is you).
        """
        out = plan_send(self._session.mailbox, to=to, cc=cc, bcc=bcc, reply_to=reply_to,
                        subject=subject, body=body, html=html, body_type=body_type,
                        importance=importance, attachments=attachments,
                        from_mailbox=from_mailbox, send_as=send_as,
                        save_to_sent_items=save_to_sent_items,
                        missing_attachments=missing_attachments)
        return run(self._session, deliver(out))

    def reply(self, message: str | Email, *, comment: str | None = None,
              body: str | None = None, html: bool = False, cc: Addresses = None,
              bcc: Addresses = None, attachments: Iterable[AttachmentSource] | None = None,
              save_to_sent_items: bool = True,
              missing_attachments: str = "fail") -> SendResult:
        """Reply to the sender of ``message`` (an id or an Email), at most once."""
        out = plan_reply(self._session.mailbox, message, "reply", comment=comment, body=body,
                         html=html, cc=cc, bcc=bcc, attachments=attachments,
                         save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return run(self._session, deliver(out))

    def reply_all(self, message: str | Email, *, comment: str | None = None,
                  body: str | None = None, html: bool = False, cc: Addresses = None,
                  bcc: Addresses = None,
                  attachments: Iterable[AttachmentSource] | None = None,
                  exclude_sender: bool = False, save_to_sent_items: bool = True,
                  missing_attachments: str = "fail") -> SendResult:
        """Reply to the sender and every recipient of ``message`` (``exclude_sender``: to the
        recipients only), at most once."""
        out = plan_reply(self._session.mailbox, message, "replyAll", comment=comment,
                         body=body, html=html, cc=cc, bcc=bcc, attachments=attachments,
                         exclude_sender=exclude_sender, save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return run(self._session, deliver(out))

    def forward(self, message: str | Email, *, to: Addresses, comment: str | None = None,
                body: str | None = None, html: bool = False, cc: Addresses = None,
                bcc: Addresses = None, attachments: Iterable[AttachmentSource] | None = None,
                save_to_sent_items: bool = True,
                missing_attachments: str = "fail") -> SendResult:
        """Forward ``message`` (with its attachments) to ``to``, at most once."""
        out = plan_reply(self._session.mailbox, message, "forward", comment=comment,
                         body=body, html=html, to=to, cc=cc, bcc=bcc, attachments=attachments,
                         save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return run(self._session, deliver(out))


class AsyncMailSend:
    """The async twins on ``session.aio.mail``: same names and arguments, same planning.

    Example::

        await session.aio.mail.send(to="bob@contoso.com", subject="Hi", body="Hello")
    """

    _session: OutlookSession

    def __init__(self, session: OutlookSession, twin: Any = None) -> None:
        self._session = session

    async def send(self, *, to: Addresses = None, cc: Addresses = None,
                   bcc: Addresses = None, reply_to: Addresses = None, subject: str = "",
                   body: str | None = None, html: bool = False, body_type: str | None = None,
                   importance: str | None = None,
                   attachments: Iterable[AttachmentSource] | None = None,
                   from_mailbox: str | None = None, send_as: str = "send_as",
                   save_to_sent_items: bool = True,
                   missing_attachments: str = "fail") -> SendResult:
        out = plan_send(self._session.mailbox, to=to, cc=cc, bcc=bcc, reply_to=reply_to,
                        subject=subject, body=body, html=html, body_type=body_type,
                        importance=importance, attachments=attachments,
                        from_mailbox=from_mailbox, send_as=send_as,
                        save_to_sent_items=save_to_sent_items,
                        missing_attachments=missing_attachments)
        return await arun(self._session, deliver(out))

    async def reply(self, message: str | Email, *, comment: str | None = None,
                    body: str | None = None, html: bool = False, cc: Addresses = None,
                    bcc: Addresses = None,
                    attachments: Iterable[AttachmentSource] | None = None,
                    save_to_sent_items: bool = True,
                    missing_attachments: str = "fail") -> SendResult:
        out = plan_reply(self._session.mailbox, message, "reply", comment=comment, body=body,
                         html=html, cc=cc, bcc=bcc, attachments=attachments,
                         save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return await arun(self._session, deliver(out))

    async def reply_all(self, message: str | Email, *, comment: str | None = None,
                        body: str | None = None, html: bool = False, cc: Addresses = None,
                        bcc: Addresses = None,
                        attachments: Iterable[AttachmentSource] | None = None,
                        exclude_sender: bool = False, save_to_sent_items: bool = True,
                        missing_attachments: str = "fail") -> SendResult:
        out = plan_reply(self._session.mailbox, message, "replyAll", comment=comment,
                         body=body, html=html, cc=cc, bcc=bcc, attachments=attachments,
                         exclude_sender=exclude_sender, save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return await arun(self._session, deliver(out))

    async def forward(self, message: str | Email, *, to: Addresses,
                      comment: str | None = None, body: str | None = None,
                      html: bool = False, cc: Addresses = None, bcc: Addresses = None,
                      attachments: Iterable[AttachmentSource] | None = None,
                      save_to_sent_items: bool = True,
                      missing_attachments: str = "fail") -> SendResult:
        out = plan_reply(self._session.mailbox, message, "forward", comment=comment,
                         body=body, html=html, to=to, cc=cc, bcc=bcc, attachments=attachments,
                         save_to_sent_items=save_to_sent_items,
                         missing_attachments=missing_attachments)
        return await arun(self._session, deliver(out))


__all__ = ["DELETE_AFTER_SUBMIT", "AsyncMailSend", "MailSend", "Outgoing", "SendError",
           "deliver", "message_ref", "new_marker", "plan_reply", "plan_send"]
