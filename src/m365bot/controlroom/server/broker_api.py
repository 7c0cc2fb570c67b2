"""The token broker API for runners (the OAuth part of issue 9 fills this in).

Example::

    routes = [Route("/api/v1/tokens", issue_token, methods=["POST"])]
"""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
