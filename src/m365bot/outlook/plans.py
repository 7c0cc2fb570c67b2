"""One action, two shells: an action is written once as a *plan* (a generator that yields the
Graph :class:`Call` it needs next and receives the answer), then run by :func:`run` (sync, on
the session's Graph engine) or :func:`arun` (async). The plan holds the logic (paths, paging,
"create the missing level", error mapping) and does no I/O; a Graph error is thrown into the
plan at its ``yield``, so a plan may catch it (a 404 that means "absent", a 409 race).

Example::

    def get_inbox(box: str) -> Plan[MailFolder]:
        answer = yield Call("GET", f"{box}/mailFolders/inbox")
        return MailFolder.from_graph(answer.body)

    run(session, get_inbox(box))            # sync
    await arun(session, get_inbox(box))     # async
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from m365bot.errors import M365BotError

if TYPE_CHECKING:
    from m365bot.graph.client import GraphResponse
    from m365bot.sessions import Session

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One Graph request of a plan: ``path`` relative to ``/v1.0`` (or a full nextLink URL)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    guarded: bool = False  # the plan checks duplicates itself: a POST may be resent


Plan = Generator[Call, "GraphResponse", T]
"""A plan yields Calls, receives each answer, and returns its result."""


def _send(session: Session, call: Call) -> GraphResponse:
    return session.graph_request(call.method, call.path, params=call.params, json=call.json,
                                 headers=call.headers, guarded=call.guarded)


def run(session: Session, plan: Plan[T]) -> T:
    """Run ``plan`` on the session's sync Graph engine; returns what the plan returns."""
    try:
        call = next(plan)
        while True:
            try:
                answer = _send(session, call)
            except M365BotError as exc:
                call = plan.throw(exc)
            else:
                call = plan.send(answer)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def arun(session: Session, plan: Plan[T]) -> T:
    """Run ``plan`` on the session's async Graph engine (``session.agraph``)."""
    try:
        call = next(plan)
        while True:
            try:
                answer = await session.agraph_request(
                    call.method, call.path, params=call.params, json=call.json,
                    headers=call.headers, guarded=call.guarded)
            except M365BotError as exc:
                call = plan.throw(exc)
            else:
                call = plan.send(answer)
    except StopIteration as stop:
        result: T = stop.value
        return result


__all__ = ["Call", "Plan", "arun", "run"]
