"""Emulated Microsoft identity platform v2.0 (Entra ID): discovery, JWKS, /authorize with
its sign-in and consent pages, /token with its grants, device code, and Entra's errors.

``entra_routes(emu)`` (in :mod:`.routes`) gives the Starlette routes for a login host.

Example::

    from m365bot.emulator.entra.routes import entra_routes
    app = Starlette(routes=entra_routes(emu))
"""
