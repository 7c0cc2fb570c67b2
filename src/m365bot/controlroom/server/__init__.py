"""The Control Room server: a Starlette app (pages rendered with Jinja2, usable without
JavaScript) and a runner API, on the database of :mod:`m365bot.controlroom.db`.

Start it with ``m365bot controlroom serve``; build it in Python with
:func:`m365bot.controlroom.server.app.create_app`.
"""
