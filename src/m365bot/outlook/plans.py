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
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from m365bot.errors import M365BotError

if TYPE_CHECKING:
    from m365bot.graph.client import GraphResponse
    from m365bot.sessions import Session

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One Graph request of a plan: ``path`` relative to ``/v1.0`` (or a full nextLink URL),
    with the engine's options: ``immutable_ids`` (``Prefer: IdType="ImmutableId"``),
    ``body_type`` ("text"/"html"), ``guarded`` (a POST the plan checks for duplicates
    itself, so the engine may resend it after a 503/504 or a dropped connection) and
    ``accept`` (error statuses the plan gets as answers, not retried or raised)."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    immutable_ids: bool = False
    body_type: str | None = None
    guarded: bool = False
    accept: frozenset[int] = frozenset()

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``session.graph_request`` for this call."""
        return {"params": self.params, "json": self.json, "headers": self.headers,
                "immutable_ids": self.immutable_ids, "body_type": self.body_type,
                "guarded": self.guarded, "accept": self.accept}


class Step(Protocol):
    """A step that is not one Graph request (an upload session's chunks, say): it runs itself
    on the session's sync or async engine and answers like a request."""

    def run(self, session: Session) -> GraphResponse: ...

    async def arun(self, session: Session) -> GraphResponse: ...


Plan = Generator["Call | Step", "GraphResponse", T]
"""A plan yields Calls (or other Steps), receives each answer, and returns its result."""


def _send(session: Session, step: Call | Step) -> GraphResponse:
    if isinstance(step, Call):
        return session.graph_request(step.method, step.path, **step.options())
    return step.run(session)


async def _asend(session: Session, step: Call | Step) -> GraphResponse:
    if isinstance(step, Call):
        return await session.agraph_request(step.method, step.path, **step.options())
    return await step.arun(session)


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
                answer = await _asend(session, call)
            except M365BotError as exc:
                call = plan.throw(exc)
            else:
                call = plan.send(answer)
    except StopIteration as stop:
        result: T = stop.value
        return result


__all__ = ["Call", "Plan", "Step", "arun", "run"]
