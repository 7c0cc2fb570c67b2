"""Graph's error envelope and the exact codes the emulator answers with."""

from __future__ import annotations

from typing import Any

from m365bot.emulator.errors import EmulatorError


class GraphHTTPError(EmulatorError):
    """Raise anywhere in a Graph handler; the Graph error handler renders the envelope.

    ``inner`` is False for Outlook-originated errors that carry no ``innerError``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        inner: bool = True,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner = inner

    def envelope(self, *, request_id: str, client_request_id: str, date: str) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innerError"] = {
                "date": date,
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        return {"error": error}


def item_not_found() -> GraphHTTPError:
    return GraphHTTPError(
        404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


def id_malformed() -> GraphHTTPError:
    return GraphHTTPError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def access_denied() -> GraphHTTPError:
    return GraphHTTPError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", inner=False
    )


def bad_request(message: str) -> GraphHTTPError:
    return GraphHTTPError(400, "BadRequest", message)
