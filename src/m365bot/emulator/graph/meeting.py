"""Meetings between emulated mailboxes: invitations land in attendees' calendars, and an
attendee's accept / tentativelyAccept / decline updates the organizer's copy and, when
``sendResponse`` is true, delivers a response message to the organizer's Inbox.

Callers hold ``state.lock``.

Example::

    propagate_invites(state, organizer_box, event)
    respond(state, bob_box, bobs_copy, "accept", {"comment": "ok", "sendResponse": True}, now)
"""

from __future__ import annotations

import copy
import importlib
import uuid
from typing import Any

from m365bot.emulator.graph import caltime, msgmodel, store
from m365bot.emulator.graph.attachstore import iso
from m365bot.emulator.graph.errors import GraphHTTPError, bad_request
from m365bot.emulator.state import Event, Folder, Mailbox, Message, State

RESPONSES = {"accept": "accepted", "tentativelyaccept": "tentativelyAccepted",
             "decline": "declined"}
PREFIX = {"accepted": "Accepted", "tentativelyAccepted": "Tentative", "declined": "Declined"}


def _new_id(prefix: str = "AAMkAGI") -> str:
    return prefix + uuid.uuid4().hex + uuid.uuid4().hex[:16] + "AAA="


def propagate_invites(state: State, organizer: Mailbox, event: Event) -> None:
    """Copy a new meeting into each emulated attendee's calendar (not responded yet)."""
    for attendee in event.props.get("attendees") or []:
        address = str(attendee["emailAddress"]["address"]).lower()
        box = state.mailbox(address)
        if box is None or box.address.lower() == organizer.address.lower():
            continue
        props = copy.deepcopy(event.props)
        props.update(isOrganizer=False,
                     responseStatus={"response": "notResponded",
                                     "time": "0001-01-01T00:00:00Z"})
        copy_id = _new_id("AAMkAGE")
        box.events[copy_id] = Event(id=copy_id, props=props)


def _parse_body(action: str, body: Any) -> tuple[str, bool, Any]:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_request(f"The body of {action} must be a JSON object: "
                          '{"comment": "...", "sendResponse": true}.')
    lowered = {str(k).lower(): v for k, v in body.items()}
    unknown = sorted(set(lowered) - {"comment", "sendresponse", "proposednewtime"})
    if unknown:
        raise bad_request(f"The parameter '{unknown[0]}' is not valid for {action}; known: "
                          "comment, sendResponse, proposedNewTime.")
    comment = lowered.get("comment") or ""
    if not isinstance(comment, str):
        raise bad_request("The parameter 'comment' must be a string.")
    send = lowered.get("sendresponse", True)
    if not isinstance(send, bool):
        raise bad_request("The parameter 'sendResponse' must be true or false.")
    proposed = lowered.get("proposednewtime")
    if proposed is not None:
        if action == "accept":
            raise bad_request("proposedNewTime is valid only for tentativelyAccept and decline.")
        if not isinstance(proposed, dict):
            raise bad_request("'proposedNewTime' must be {start, end} with dateTime/timeZone.")
        try:
            caltime.from_graph(proposed.get("start"), "proposedNewTime.start")
            caltime.from_graph(proposed.get("end"), "proposedNewTime.end")
        except caltime.TimeError as exc:
            raise bad_request(exc.message) from exc
        if not send:
            raise bad_request("proposedNewTime requires sendResponse to be true.")
    return comment, send, proposed


def respond(state: State, box: Mailbox, event: Event, action: str, body: Any,
            now: float) -> None:
    """Record the attendee's response; notify and update the organizer when asked."""
    comment, send, proposed = _parse_body(action, body)
    if event.props.get("isOrganizer"):
        raise GraphHTTPError(400, "ErrorInvalidRequest",
                             "Your request can't be completed. You can't respond to a "
                             "meeting you organized.")
    response = RESPONSES[action.lower()]
    stamp = iso(now)
    event.props["responseStatus"] = {"response": response, "time": stamp}
    event.props["showAs"] = {"accepted": "busy", "tentativelyAccepted": "tentative"}.get(
        response, "free")
    organizer_address = str(
        ((event.props.get("organizer") or {}).get("emailAddress") or {}).get("address") or ""
    )
    organizer = state.mailbox(organizer_address) if organizer_address else None
    if organizer is not None:
        _update_organizer_copy(organizer, event, box, response, stamp)
        if send:
            _deliver_response(state, organizer, box, event, response, comment, proposed, now)
    if response == "declined":
        del box.events[event.id]  # Outlook removes a declined meeting from the calendar


def _update_organizer_copy(organizer: Mailbox, event: Event, attendee: Mailbox,
                           response: str, stamp: str) -> None:
    uid = event.props.get("iCalUId")
    for ev in organizer.events.values():
        if ev.props.get("iCalUId") != uid:
            continue
        for a in ev.props.get("attendees") or []:
            if str(a["emailAddress"]["address"]).lower() == attendee.address.lower():
                a["status"] = {"response": response, "time": stamp}


def _inbox(state: State, box: Mailbox) -> Folder:
    for folder in box.folders.values():
        if folder.well_known_name == "inbox":
            return folder
    try:
        store = importlib.import_module("m365bot.emulator.graph.store")
        store.ensure_well_known_folders(box)
    except (ImportError, AttributeError, TypeError):
        pass  # the mail store is optional here: fall back to a bare Inbox below
    for folder in box.folders.values():
        if folder.well_known_name == "inbox":
            return folder
    folder = Folder(id=_new_id("AAMkAGF"), display_name="Inbox", parent_id="",
                    well_known_name="inbox")
    box.folders[folder.id] = folder
    return folder


def _deliver_response(state: State, organizer: Mailbox, attendee: Mailbox, event: Event,
                      response: str, comment: str, proposed: Any, now: float) -> None:
    extra: dict[str, Any] = {
        "meetingMessageType": {"accepted": "meetingAccepted",
                               "tentativelyAccepted": "meetingTenativelyAccepted",
                               "declined": "meetingDeclined"}[response],
        "responseType": response,
    }
    if proposed is not None:
        extra["proposedNewTime"] = proposed
    _deliver(state, organizer, attendee, f"{PREFIX[response]}: {event.props.get('subject') or ''}",
             comment, "#microsoft.graph.eventMessageResponse", extra, now)


def _deliver(state: State, to: Mailbox, sender: Mailbox, subject: str, comment: str,
             odata_type: str, extra: dict[str, Any], now: float) -> None:
    """Put a meeting message from ``sender`` into ``to``'s Inbox."""
    inbox = _inbox(state, to)
    stamp = iso(now)
    who = {"emailAddress": {"name": sender.display_name, "address": sender.address}}
    mid = _new_id("AAMkAGM")
    props: dict[str, Any] = {
        "@odata.type": odata_type,
        "createdDateTime": stamp, "lastModifiedDateTime": stamp,
        "changeKey": store.new_change_key(), "categories": [],
        "receivedDateTime": stamp, "sentDateTime": stamp, "hasAttachments": False,
        "internetMessageId": f"<{uuid.uuid4().hex}@emulator.m365bot>",
        "subject": subject, "bodyPreview": comment[:255], "importance": "normal",
        **msgmodel.new_conversation(to, now), "isDeliveryReceiptRequested": None,
        "isReadReceiptRequested": False, "isRead": False, "isDraft": False,
        "inferenceClassification": "focused", "webLink": "",
        "body": {"contentType": "text", "content": comment},
        "sender": who, "from": who,
        "toRecipients": [{"emailAddress": {"name": to.display_name, "address": to.address}}],
        "ccRecipients": [], "bccRecipients": [], "replyTo": [],
        "flag": {"flagStatus": "notFlagged"}, **extra,
    }
    to.messages[mid] = Message(id=mid, immutable_id=mid, folder_id=inbox.id, props=props,
                               seq=state.next_seq())


def cancel(state: State, box: Mailbox, event: Event, body: Any, now: float) -> None:
    """The organizer cancels a meeting: it leaves their calendar, attendees' copies are marked
    cancelled ("Canceled: …") and each emulated attendee gets a cancellation message.

    Example::

        cancel(state, alice_box, meeting, {"comment": "Moved to next week"}, now)
    """
    if body is None:
        body = {}
    if not isinstance(body, dict) or set(map(str.lower, map(str, body))) - {"comment"}:
        raise bad_request("The body of cancel must be {\"comment\": \"...\"}.")
    comment = next((v for k, v in body.items() if str(k).lower() == "comment"), "") or ""
    if not isinstance(comment, str):
        raise bad_request("The parameter 'comment' must be a string.")
    if not event.props.get("isOrganizer"):
        raise GraphHTTPError(400, "ErrorInvalidRequest",
                             "Your request can't be completed. Only the meeting organizer can "
                             "cancel the meeting.")
    uid = event.props.get("iCalUId")
    subject = str(event.props.get("subject") or "")
    for attendee in event.props.get("attendees") or []:
        other = state.mailbox(str(attendee["emailAddress"]["address"]))
        if other is None or other.address.lower() == box.address.lower():
            continue
        for copy_event in other.events.values():
            if copy_event.props.get("iCalUId") == uid:
                copy_event.props.update(isCancelled=True, subject=f"Canceled: {subject}")
        _deliver(state, other, box, f"Canceled: {subject}", comment,
                 "#microsoft.graph.eventMessageRequest",
                 {"meetingMessageType": "meetingCancelled"}, now)
    del box.events[event.id]


def seed_event(state: State, box: Mailbox, spec: dict[str, Any], now: float) -> Event:
    """Add an event from a scenario's mailbox spec (``subject``, ``start``, ``end``,
    ``time_zone``, ``location``, ``attendees`` [addresses], ``body``, ``recurrence``,
    ``is_all_day``, ``show_as``), inviting emulated attendees. Callers hold ``state.lock``.

    Example::

        seed_event(state, box, {"subject": "Sync", "start": "2026-11-30T09:00:00",
                                "end": "2026-11-30T09:30:00", "time_zone": "UTC"}, now)
    """
    from m365bot.emulator.graph.eventstore import new_event, new_event_id

    zone = str(spec.get("time_zone") or "UTC")
    body: dict[str, Any] = {
        "subject": str(spec.get("subject") or ""),
        "start": {"dateTime": str(spec["start"]), "timeZone": zone},
        "end": {"dateTime": str(spec["end"]), "timeZone": zone},
        "attendees": [{"emailAddress": {"address": str(a)}, "type": "required"}
                      for a in spec.get("attendees") or []],
    }
    if spec.get("location"):
        body["location"] = {"displayName": str(spec["location"])}
    if spec.get("body"):
        body["body"] = {"contentType": "text", "content": str(spec["body"])}
    if spec.get("recurrence"):
        body["recurrence"] = spec["recurrence"]
    if spec.get("is_all_day") is not None:
        body["isAllDay"] = bool(spec["is_all_day"])
    if spec.get("show_as"):
        body["showAs"] = str(spec["show_as"])
    props = new_event(body, box, now)
    event = Event(id=new_event_id(), props=props)
    box.events[event.id] = event
    propagate_invites(state, box, event)
    return event
