"""m365bot: Microsoft 365 Outlook automation for bots.

Importing the package is cheap: heavy dependencies (msal, httpx, cryptography,
SQLAlchemy) load only when the feature that needs them is first used.

Example::

    import m365bot
    print(m365bot.__version__)
"""

from __future__ import annotations

from m365bot._version import __version__

__all__ = ["__version__"]
