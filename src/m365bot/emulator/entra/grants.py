"""Authorization codes and refresh tokens: issue, redeem, rotate, expire, revoke.

Both live in :class:`~m365bot.emulator.state.State` (so ``--state`` keeps them) keyed by the
SHA-256 of the opaque value: the values themselves are never stored or logged.

* Codes: single use (AADSTS54005), 10 minutes on the emulator clock (AADSTS70008), bound to
  client, redirect URI and PKCE challenge.
* Refresh tokens: every use returns a new one. Policy ``"entra"`` (default) leaves the old one
  valid, as Entra does; ``"strict"`` makes a used token fail with ``invalid_grant``. Unused
  for 90 days: AADSTS700082. Revoked: AADSTS50173.

Example::

    code = issue_code(state, now, client_id=c, user_id=u, tenant_id=t, ...)
    record = redeem_code(state, now, code)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from m365bot.emulator.entra import errors
from m365bot.emulator.state import State

CODE_LIFETIME = 600
REFRESH_INACTIVITY = 90 * 24 * 3600


def _key(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _iso(ts: float) -> str:
    return time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(ts))


def opaque(prefix: str) -> str:
    """A random opaque credential that looks like Entra's (``1.AX...``)."""
    return prefix + secrets.token_urlsafe(96)


def issue_code(state: State, now: float, **binding: Any) -> str:
    """Store a fresh authorization code bound to ``binding``; return its value."""
    code = opaque("1.AQ")
    with state.lock:
        state.auth_codes[_key(code)] = {**binding, "issued": now, "redeemed": False}
        _prune_codes(state, now)
    return code


def _prune_codes(state: State, now: float) -> None:
    # Keep redeemed/expired codes for a day so replays still get 54005/70008, then forget.
    stale = [k for k, v in state.auth_codes.items() if now - v["issued"] > 86400]
    for k in stale:
        del state.auth_codes[k]


def redeem_code(
    state: State,
    now: float,
    code: str,
    check: Callable[[dict[str, Any]], None] = lambda record: None,
) -> dict[str, Any]:
    """The binding of ``code``, marking it used. 54005 if used, 70008 if expired.

    ``check(record)`` runs first and may raise: a redemption it refuses (wrong client, redirect
    URI or PKCE verifier) leaves the code usable."""
    with state.lock:
        record = state.auth_codes.get(_key(code))
        if record is None:
            raise errors.malformed("The authorization code is not valid.")
        if record["redeemed"]:
            raise errors.code_redeemed()
        if now - record["issued"] > CODE_LIFETIME:
            raise errors.code_expired()
        check(dict(record))
        record["redeemed"] = True
        return dict(record)


def verify_pkce(record: dict[str, Any], verifier: str | None) -> None:
    """Check ``code_verifier`` against the challenge sent to /authorize (S256 or plain)."""
    challenge = record.get("code_challenge")
    if not challenge:
        return
    if not verifier:
        raise errors.verifier_missing()
    method = (record.get("code_challenge_method") or "plain").lower()
    if method == "s256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        expected = verifier
    # Bytes, not str: compare_digest refuses non-ASCII text (a 500, not Entra's answer).
    if not secrets.compare_digest(expected.encode(), str(challenge).encode()):
        raise errors.verifier_mismatch()


def issue_refresh_token(state: State, now: float, **binding: Any) -> str:
    """A new refresh token for ``binding`` (client_id, user_id, tenant_id, family...)."""
    token = opaque("1.AR")
    with state.lock:
        state.refresh_tokens[_key(token)] = {
            **binding,
            "issued": now,
            "last_used": now,
            "revoked": False,
            "used": False,
        }
    return token


def use_refresh_token(
    state: State, now: float, token: str, *, client_id: str, policy: str
) -> dict[str, Any]:
    """Validate a presented refresh token and mark it used; the binding to rotate from."""
    with state.lock:
        record = state.refresh_tokens.get(_key(token))
        if record is None:
            raise errors.malformed("The refresh token is not valid.")
        if record["client_id"] != client_id:
            raise errors.invalid_grant("The refresh token was issued to a different client.")
        if record["revoked"]:
            raise errors.refresh_revoked(
                _iso(record["issued"]), _iso(record.get("revoked_at", now))
            )
        if now - record["last_used"] > REFRESH_INACTIVITY:
            raise errors.refresh_inactive(_iso(record["issued"]))
        if record["used"] and policy == "strict":
            raise errors.invalid_grant(
                "The refresh token has already been used to get a new one (strict rotation)."
            )
        record["used"] = True
        record["last_used"] = now
        return dict(record)


def revoke_refresh_tokens(
    state: State, now: float, *, user_id: str | None = None, client_id: str | None = None
) -> int:
    """Revoke every refresh token of a user and/or client (both None: all). Returns the count.

    Example::

        revoke_refresh_tokens(emu.state, emu.clock.now(), user_id=alice.id)  # next use: 50173
    """
    n = 0
    with state.lock:
        for record in state.refresh_tokens.values():
            if user_id is not None and record.get("user_id") != user_id:
                continue
            if client_id is not None and record.get("client_id") != client_id:
                continue
            if not record["revoked"]:
                record["revoked"] = True
                record["revoked_at"] = now
                n += 1
    return n
