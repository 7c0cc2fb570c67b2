"""Administration pages: users, roles, API keys, the audit log."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
