"""Manage > OAuth connections and My settings > OAuth connections (the OAuth part of
issue 9 fills this in).

Example::

    routes = [Route("/manage/oauth-connections", list_connections)]
"""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
